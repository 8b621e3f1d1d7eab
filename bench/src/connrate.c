/* connrate — connections per second for connect → 1-byte echo → close.
 *
 *   connrate server PORTFILE        accept, read 1 byte, echo it, close; forever
 *   connrate client PORT SECONDS    prints "conns wall_s user_s sys_s errors"
 *   connrate client-procs PORT SECONDS   the same, each connection made by a
 *                                   new process (fork + exec of `connrate
 *                                   once PORT`): what a shell loop of short
 *                                   clients costs, and, under the preload, what
 *                                   the per-user resumption store gives them
 *   connrate once PORT              one connection; exit status 0 when echoed
 *
 * One connection at a time on each side, so the figure is the latency of a
 * whole connection life, handshake included when the preload secures it.
 * The client's CPU comes from getrusage; the harness reads the server's
 * from /proc/PID/stat before and after.
 */
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
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

/* One connection: 0 when the byte came back. */
static int one(int port)
{
	int s = bn_connect(port);
	char b = 'x', r = 0;
	int bad = s < 0 || bn_write_full(s, &b, 1) < 0 || bn_read_full(s, &r, 1) < 0 || r != b;
	if (s >= 0)
		close(s);
	return bad;
}

/* A connection by a new process: exec, not just fork, so the preload
 * starts afresh with nothing of this process's (its per-process
 * associations): what it reuses comes from the per-user store. */
static int one_proc(const char *port)
{
	pid_t pid = fork();
	int st = 0;
	if (pid < 0)
		return 1;
	if (pid == 0) {
		execl("/proc/self/exe", "connrate", "once", port, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 1;
	return !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static double tv(struct timeval t)
{
	return (double)t.tv_sec + (double)t.tv_usec * 1e-6;
}

static int client(const char *port, double seconds, int procs)
{
	signal(SIGPIPE, SIG_IGN);
	long conns = 0, errors = 0;
	double t0 = bn_now(), t1 = t0;
	while (t1 - t0 < seconds) {
		if (procs ? one_proc(port) : one(atoi(port)))
			errors++;
		else
			conns++;
		t1 = bn_now();
		/* a dead server must not spin us for the whole run */
		if (errors > 100 && conns == 0)
			break;
	}
	struct rusage ru, ch;
	getrusage(RUSAGE_SELF, &ru);
	getrusage(RUSAGE_CHILDREN, &ch);   /* the connecting processes, all reaped */
	printf("%ld %.6f %.6f %.6f %ld\n", conns, t1 - t0, tv(ru.ru_utime) + tv(ch.ru_utime),
	       tv(ru.ru_stime) + tv(ch.ru_stime), errors);
	return conns > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "server") == 0)
		return server(argv[2]);
	if (argc == 4 && strcmp(argv[1], "client") == 0)
		return client(argv[2], atof(argv[3]), 0);
	if (argc == 4 && strcmp(argv[1], "client-procs") == 0)
		return client(argv[2], atof(argv[3]), 1);
	if (argc == 3 && strcmp(argv[1], "once") == 0)
		return one(atoi(argv[2]));
	fprintf(stderr, "usage: connrate server PORTFILE | client PORT SECONDS | client-procs PORT SECONDS | once PORT\n");
	return 2;
}
