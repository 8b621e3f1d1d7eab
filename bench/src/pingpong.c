/* pingpong — round-trip latency of a 64-byte message on one connection.
 *
 *   pingpong server PORTFILE          echo 64-byte messages, one connection at a time
 *   pingpong client PORT ITERATIONS   prints "p50_us p99_us mean_us iterations"
 *
 * TCP_NODELAY on both ends so the figure is the stack's, not Nagle's.
 * The first 10% of iterations warm up and are not counted.
 */
#include <signal.h>
#include "bench_net.h"

enum { MSG = 64 };

static int server(const char *port_file)
{
	signal(SIGPIPE, SIG_IGN);
	int l = bn_listen(port_file);
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			bn_die("accept");
		}
		bn_nodelay(c);
		char m[MSG];
		while (bn_read_full(c, m, MSG) == 0 && bn_write_full(c, m, MSG) == 0)
			;
		close(c);
	}
	return 0;   /* not reached: the harness stops the server */
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int client(int port, long n)
{
	if (n < 10)
		n = 10;
	long warm = n / 10;
	double *rtt = calloc((size_t)n, sizeof *rtt);
	if (rtt == NULL)
		bn_die("calloc");
	int s = bn_connect(port);
	if (s < 0)
		bn_die("connect");
	bn_nodelay(s);
	char m[MSG];
	memset(m, 'p', sizeof m);
	for (long i = 0; i < warm + n; i++) {
		double t0 = bn_now();
		if (bn_write_full(s, m, MSG) < 0 || bn_read_full(s, m, MSG) < 0)
			bn_die("ping-pong");
		if (i >= warm)
			rtt[i - warm] = (bn_now() - t0) * 1e6;
	}
	close(s);
	qsort(rtt, (size_t)n, sizeof *rtt, cmp);
	double sum = 0;
	for (long i = 0; i < n; i++)
		sum += rtt[i];
	printf("%.3f %.3f %.3f %ld\n", rtt[n / 2], rtt[(n * 99) / 100], sum / (double)n, n);
	free(rtt);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "server") == 0)
		return server(argv[2]);
	if (argc == 4 && strcmp(argv[1], "client") == 0)
		return client(atoi(argv[2]), atol(argv[3]));
	fprintf(stderr, "usage: pingpong server PORTFILE | client PORT ITERATIONS\n");
	return 2;
}
