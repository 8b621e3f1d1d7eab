/* idleconn — memory held per idle connection, on each end.
 *
 *   idleconn server PORTFILE N REPORT [SETTLE_S]   accept 16+N connections, echo
 *                                       one byte on each, keep them open, report
 *   idleconn client PORT N REPORT [SETTLE_S]       open 16+N connections, 1-byte
 *                                       echo on each, keep them open, report
 *
 * The first 16 connections (one per worker thread) are a warm-up: they pay
 * for one-time set-up (OpenSSL and policy loading, the per-process key,
 * per-thread state), which is not a per-connection cost.  The baseline is
 * taken after them, the final figure after the other N, so
 * (final - baseline) / N is the cost of one more established, idle
 * connection.  The echo makes sure the handshake has
 * finished on both sides before anything is counted.
 *
 * SETTLE_S (default 0): seconds to sit idle before each snapshot, so that
 * what the preload does to connections that stay idle (it frees their
 * cipher contexts after SECSOCK_IDLE_TRIM_MS, 1 s by default) is over when
 * memory is counted — "idle" is then measured, not "just finished its
 * echo".  Both snapshots wait, so the warm-up connections are settled in
 * the baseline too.  The wait is printed on stderr.
 *
 * REPORT gets one line: "n rss_before_kib rss_after_kib heap_before heap_after"
 * where heap is malloc's bytes in use (mallinfo2: uordblks + hblkhd) — the
 * preloaded library allocates from the same malloc.  Memory a library maps
 * itself (e.g. sodium_malloc's guarded pages) shows only in RSS.
 */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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

/* Connections are opened by THREADS workers at once: a handshake that
 * waits on the network (or on a timer) must not make 10,000 of them take
 * minutes.  Each worker first makes one warm-up connection of its own, so
 * one-time costs per thread (stacks, OpenSSL's per-thread state) land before
 * the baseline; M_ARENA_MAX = 1 keeps every thread's allocations in the one
 * arena mallinfo2 reports.  The server runs the same number of workers, each
 * accepting one warm-up connection, then the N measured ones between them. */
enum { THREADS = 16 };

struct work {
	int listen_fd;        /* server */
	int port;             /* client */
	long n;               /* connections to open after the warm-up */
	atomic_long next;     /* next connection index to take */
	pthread_barrier_t warm, go, done;
	int is_server;
};

static void one_conn(struct work *w)
{
	char b = 'i', r = 0;
	if (w->is_server) {
		int c;
		do
			c = accept(w->listen_fd, NULL, NULL);
		while (c < 0 && (errno == EINTR || errno == ECONNABORTED));
		if (c < 0)
			bn_die("accept");
		if (bn_read_full(c, &b, 1) < 0 || bn_write_full(c, &b, 1) < 0)
			bn_die("echo (server)");
	} else {
		int s = bn_connect(w->port);
		if (s < 0)
			bn_die("connect");
		if (bn_write_full(s, &b, 1) < 0 || bn_read_full(s, &r, 1) < 0 || r != b)
			bn_die("echo (client)");
	}
	/* the fd stays open: that is the idle connection being measured */
}

static void *worker(void *arg)
{
	struct work *w = arg;
	one_conn(w);
	pthread_barrier_wait(&w->warm);
	pthread_barrier_wait(&w->go);
	while (atomic_fetch_add(&w->next, 1) < w->n)
		one_conn(w);
	pthread_barrier_wait(&w->done);
	for (;;)
		pause();   /* stay alive: an exiting thread would give back its stack */
	return NULL;
}

static unsigned settle_s;

static void settle(const char *what)
{
	if (settle_s == 0)
		return;
	fprintf(stderr, "idleconn: %s: waiting %u s idle before the snapshot\n", what, settle_s);
	for (unsigned left = settle_s; left;)
		left = sleep(left);
}

static int run(struct work *w, const char *out)
{
	pthread_t t[THREADS];
	signal(SIGPIPE, SIG_IGN);
	mallopt(M_ARENA_MAX, 1);
	atomic_init(&w->next, 0);
	pthread_barrier_init(&w->warm, NULL, THREADS + 1);
	pthread_barrier_init(&w->go, NULL, THREADS + 1);
	pthread_barrier_init(&w->done, NULL, THREADS + 1);
	for (int i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, worker, w) != 0)
			bn_die("pthread_create");
	pthread_barrier_wait(&w->warm);
	settle(w->is_server ? "server baseline" : "client baseline");
	struct snap before = snap_take();
	pthread_barrier_wait(&w->go);
	pthread_barrier_wait(&w->done);
	settle(w->is_server ? "server final" : "client final");
	report(out, w->n, before, snap_take());
	if (w->is_server)
		for (;;)
			pause();   /* keep every connection open until the harness stops us */
	return 0;          /* client: exit closes them all */
}

int main(int argc, char **argv)
{
	static struct work w;
	if (argc == 6) {
		settle_s = (unsigned)atoi(argv[5]);
		argc = 5;
	}
	if (argc == 5 && strcmp(argv[1], "server") == 0) {
		w.is_server = 1;
		w.n = atol(argv[3]);
		w.listen_fd = bn_listen(argv[2]);
		return run(&w, argv[4]);
	}
	if (argc == 5 && strcmp(argv[1], "client") == 0) {
		w.port = atoi(argv[2]);
		w.n = atol(argv[3]);
		return run(&w, argv[4]);
	}
	fprintf(stderr, "usage: idleconn server PORTFILE N REPORT [SETTLE_S] | client PORT N REPORT [SETTLE_S]\n");
	return 2;
}
