/* connrate — connections per second for connect → 1-byte echo → close.
 *
 *   connrate server PORTFILE        accept, read 1 byte, echo it, close; forever
 *   connrate client PORT SECONDS    prints "conns wall_s user_s sys_s errors"
 *
 * One connection at a time on each side, so the figure is the latency of a
 * whole connection life, handshake included when the preload secures it.
 * The client's CPU comes from getrusage; the harness reads the server's
 * from /proc/PID/stat before and after.
 */
#include <signal.h>
#include <sys/resource.h>
#include "bench_net.h"

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
		char b;
		if (bn_read_full(c, &b, 1) == 0)
			(void)bn_write_full(c, &b, 1);
		close(c);
	}
	return 0;   /* not reached: the harness stops the server */
}

static double tv(struct timeval t)
{
	return (double)t.tv_sec + (double)t.tv_usec * 1e-6;
}

static int client(int port, double seconds)
{
	signal(SIGPIPE, SIG_IGN);
	long conns = 0, errors = 0;
	double t0 = bn_now(), t1 = t0;
	while (t1 - t0 < seconds) {
		int s = bn_connect(port);
		char b = 'x', r = 0;
		if (s < 0 || bn_write_full(s, &b, 1) < 0 || bn_read_full(s, &r, 1) < 0 || r != b)
			errors++;
		else
			conns++;
		if (s >= 0)
			close(s);
		t1 = bn_now();
		/* a dead server must not spin us for the whole run */
		if (errors > 100 && conns == 0)
			break;
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("%ld %.6f %.6f %.6f %ld\n", conns, t1 - t0, tv(ru.ru_utime), tv(ru.ru_stime), errors);
	return conns > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "server") == 0)
		return server(argv[2]);
	if (argc == 4 && strcmp(argv[1], "client") == 0)
		return client(atoi(argv[2]), atof(argv[3]));
	fprintf(stderr, "usage: connrate server PORTFILE | client PORT SECONDS\n");
	return 2;
}
