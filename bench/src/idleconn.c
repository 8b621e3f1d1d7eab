/* idleconn — memory held per idle connection, on each end.
 *
 *   idleconn server PORTFILE N REPORT   accept N+1 connections, echo one byte
 *                                       on each, keep them open, report
 *   idleconn client PORT N REPORT       open N+1 connections, 1-byte echo
 *                                       on each, keep them open, report
 *
 * The first connection is a warm-up: it pays for one-time set-up (OpenSSL
 * and policy loading, the per-process key, thread stacks), which is not a
 * per-connection cost.  The baseline is taken after it, the final figure
 * after the other N, so (final - baseline) / N is the cost of one more
 * established, idle connection.  The echo makes sure the handshake has
 * finished on both sides before anything is counted.
 *
 * REPORT gets one line: "n rss_before_kib rss_after_kib heap_before heap_after"
 * where heap is malloc's bytes in use (mallinfo2: uordblks + hblkhd) — the
 * preloaded library allocates from the same malloc.  Memory a library maps
 * itself (e.g. sodium_malloc's guarded pages) shows only in RSS.
 */
#include <malloc.h>
#include <signal.h>
#include "bench_net.h"

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

static size_t heap_bytes(void)
{
	struct mallinfo2 m = mallinfo2();
	return m.uordblks + m.hblkhd;
}

struct snap {
	long rss;
	size_t heap;
};

static struct snap snap_take(void)
{
	struct snap s = { rss_kib(), heap_bytes() };
	return s;
}

static void report(const char *path, long n, struct snap a, struct snap b)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		bn_die(tmp);
	fprintf(f, "%ld %ld %ld %zu %zu\n", n, a.rss, b.rss, a.heap, b.heap);
	fclose(f);
	if (rename(tmp, path) < 0)
		bn_die("rename");
}

static int server(const char *port_file, long n, const char *out)
{
	signal(SIGPIPE, SIG_IGN);
	int l = bn_listen(port_file);
	struct snap before = { 0, 0 };
	for (long i = 0; i <= n; i++) {
		int c = accept(l, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED) {
				i--;
				continue;
			}
			bn_die("accept");
		}
		char b;
		if (bn_read_full(c, &b, 1) < 0 || bn_write_full(c, &b, 1) < 0)
			bn_die("echo");
		if (i == 0)
			before = snap_take();
	}
	report(out, n, before, snap_take());
	for (;;)
		pause();   /* keep every connection open until the harness stops us */
	return 0;
}

static int client(int port, long n, const char *out)
{
	signal(SIGPIPE, SIG_IGN);
	struct snap before = { 0, 0 };
	for (long i = 0; i <= n; i++) {
		int s = bn_connect(port);
		char b = 'i', r = 0;
		if (s < 0)
			bn_die("connect");
		if (bn_write_full(s, &b, 1) < 0 || bn_read_full(s, &r, 1) < 0 || r != b)
			bn_die("echo");
		if (i == 0)
			before = snap_take();
	}
	report(out, n, before, snap_take());
	return 0;   /* exit closes them all */
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "server") == 0)
		return server(argv[2], atol(argv[3]), argv[4]);
	if (argc == 5 && strcmp(argv[1], "client") == 0)
		return client(atoi(argv[2]), atol(argv[3]), argv[4]);
	fprintf(stderr, "usage: idleconn server PORTFILE N REPORT | client PORT N REPORT\n");
	return 2;
}
