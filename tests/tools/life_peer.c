/* life_peer.c — programs for the process-life tests (issue 5 items 5-7):
 * forking servers, an inetd-style handoff, a threaded server and client,
 * close-during-read and exit-without-close.  Plain POSIX sockets: the
 * preload (LD_PRELOAD) is what secures them.
 *
 *   life_peer forksrv PORT N            accept N connections; fork after accept,
 *                                       parent closes, child answers "GET k" with
 *                                       k checked lines, then exits
 *   life_peer bothsrv PORT LINES alt|conc
 *                                       accept one; read "GO"; fork; parent ('P')
 *                                       and child ('C') both write LINES lines:
 *                                       alt = strictly alternating (pipe token),
 *                                       conc = concurrently
 *   life_peer reader PORT [REQ]         connect, send REQ (default "GO"), read to
 *                                       EOF, check every line; prints per-writer counts
 *   life_peer inetd PORT N PROG ARGS..  accept N; fork; child: socket on 0 and 1,
 *                                       exec PROG; parent closes and reaps
 *                                       (LIFE_READ_FIRST=1: echo one line first, so
 *                                       the connection is secured before the exec)
 *   life_peer thrsrv PORT               thread per connection: echo lines to EOF
 *   life_peer thrcli PORT THREADS CONNS each thread makes CONNS connections, one
 *                                       checked line each; prints ok/bad counts
 *   life_peer closerace PORT ROUNDS     a thread blocks in read while main closes
 *                                       the fd; reader must see EBADF/0/error
 *   life_peer exitnoclose PORT          connect, echo one line, exit(0), no close
 *   life_peer eofsrv PORT               accept one, echo lines; report how the
 *                                       stream ended: "END eof" or "END err <errno>"
 * Output goes to stdout, one "key value" per line. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>

static int port_arg;

static void die(const char *what)
{
	fprintf(stderr, "life_peer: %s: %s\n", what, strerror(errno));
	exit(2);
}

static int listener(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 128) < 0)
		die("bind/listen");
	return fd;
}

static int dial(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t r = write(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Read one line (up to cap-1 bytes) byte by byte: simple and exact. */
static ssize_t read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	while (n + 1 < cap) {
		ssize_t r = read(fd, buf + n, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

/* A line whose content can be checked: "W i <payload> <sum>\n". */
static uint32_t mix(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352dU;
	x ^= x >> 15;
	x *= 0x846ca68bU;
	return x ^ (x >> 16);
}

static int make_line(char *buf, size_t cap, char w, unsigned i)
{
	char pay[81];
	uint32_t s = mix((uint32_t)w * 1000003u + i);
	unsigned len = 20 + s % 60;
	for (unsigned k = 0; k < len; k++)
		pay[k] = (char)('a' + mix(s + k) % 26);
	pay[len] = '\0';
	return snprintf(buf, cap, "%c %u %s %08x\n", w, i, pay, mix(s ^ len));
}

static int check_line(const char *line, char *w, unsigned *i)
{
	char want[160];
	if (sscanf(line, "%c %u", w, i) != 2)
		return 0;
	make_line(want, sizeof want, *w, *i);
	return strcmp(want, line) == 0;
}

/* ------------------------------------------------------------ servers */

static void serve_get(int fd)
{
	char line[200];
	unsigned k = 0;
	if (read_line(fd, line, sizeof line) <= 0 || sscanf(line, "GET %u", &k) != 1)
		_exit(3);
	for (unsigned i = 0; i < k; i++) {
		int n = make_line(line, sizeof line, 'S', i);
		if (write_all(fd, line, (size_t)n) < 0)
			_exit(4);
	}
}

static int forksrv(int port, int n)
{
	int lfd = listener(port), kids = 0, bad = 0;
	printf("listening %d\n", port);
	fflush(stdout);
	for (int c = 0; c < n; c++) {
		int fd = accept(lfd, NULL, NULL);
		pid_t pid;
		if (fd < 0)
			die("accept");
		pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			close(lfd);
			serve_get(fd);
			close(fd);
			exit(0);
		}
		close(fd);   /* the parent lets go at once: the child serves */
		kids++;
	}
	while (kids--) {
		int st;
		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			bad++;
	}
	printf("children_failed %d\n", bad);
	return bad ? 1 : 0;
}

static int bothsrv(int port, unsigned lines, int conc)
{
	int lfd = listener(port), fd, p2c[2], c2p[2], st;
	char line[200], tok = 't';
	pid_t pid;

	printf("listening %d\n", port);
	fflush(stdout);
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		die("accept");
	close(lfd);
	/* The first read drives the server handshake: the connection is
	 * secured before the fork, so both sides share a live record state. */
	if (read_line(fd, line, sizeof line) <= 0)
		die("read GO");
	if (pipe(p2c) < 0 || pipe(c2p) < 0)
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	char me = pid == 0 ? 'C' : 'P';
	int in = pid == 0 ? p2c[0] : c2p[0], out = pid == 0 ? c2p[1] : p2c[1];
	for (unsigned i = 0; i < lines; i++) {
		if (!conc && (me == 'C' || i > 0) && read(in, &tok, 1) != 1)
			die("token");
		int n = make_line(line, sizeof line, me, i);
		if (write_all(fd, line, (size_t)n) < 0)
			die("write");
		if (!conc && write(out, &tok, 1) != 1)
			die("token");
	}
	if (pid == 0) {
		close(fd);
		exit(0);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		die("child");
	close(fd);   /* the last holder: close_notify now */
	printf("done\n");
	return 0;
}

static int inetd(int port, int n, char **argv)
{
	int lfd = listener(port), bad = 0;
	printf("listening %d\n", port);
	fflush(stdout);
	for (int c = 0; c < n; c++) {
		int fd = accept(lfd, NULL, NULL), st;
		pid_t pid;
		if (fd < 0)
			die("accept");
		if (getenv("LIFE_READ_FIRST")) {
			/* secure the connection before the handoff: the exec'd image
			 * must continue the record state (sequence numbers) */
			char l[256];
			ssize_t got = read_line(fd, l, sizeof l);
			if (got <= 0 || write_all(fd, l, (size_t)got) < 0)
				die("first line");
		}
		pid = fork();
		if (pid == 0) {
			close(lfd);
			dup2(fd, 0);
			dup2(fd, 1);
			close(fd);
			execv(argv[0], argv);
			_exit(127);
		}
		close(fd);
		if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			bad++;
	}
	printf("handlers_failed %d\n", bad);
	return bad ? 1 : 0;
}

static void *echo_thread(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096];
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || write_all(fd, buf, (size_t)r) < 0)
			break;
	}
	close(fd);
	return NULL;
}

static _Noreturn void thrsrv(int port)
{
	int lfd = listener(port);
	printf("listening %d\n", port);
	fflush(stdout);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		pthread_t t;
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept");
		}
		if (pthread_create(&t, NULL, echo_thread, (void *)(intptr_t)fd) != 0)
			close(fd);
		else
			pthread_detach(t);
	}
}

static int eofsrv(int port)
{
	int lfd = listener(port), fd;
	char buf[4096];
	printf("listening %d\n", port);
	fflush(stdout);
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		die("accept");
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			printf("END eof\n");
			break;
		}
		if (r < 0) {
			printf("END err %s\n", strerror(errno));
			break;
		}
		write_all(fd, buf, (size_t)r);
	}
	close(fd);
	return 0;
}

/* ------------------------------------------------------------ clients */

static int reader(int port, const char *req)
{
	unsigned counts[256] = { 0 }, next[256] = { 0 }, bad = 0, order = 0;
	char line[256], w;
	unsigned i;
	ssize_t n;
	int fd = dial(port);

	if (fd < 0)
		die("connect");
	snprintf(line, sizeof line, "%s\n", req);
	if (write_all(fd, line, strlen(line)) < 0)
		die("write");
	while ((n = read_line(fd, line, sizeof line)) > 0) {
		if (!check_line(line, &w, &i)) {
			bad++;
			continue;
		}
		if (i != next[(unsigned char)w])
			order++;   /* each writer's own lines must arrive in order */
		next[(unsigned char)w] = i + 1;
		counts[(unsigned char)w]++;
	}
	for (int k = 'A'; k <= 'Z'; k++)
		if (counts[k])
			printf("lines_%c %u\n", k, counts[k]);
	printf("bad %u\norder %u\nend %s\n", bad, order, n == 0 ? "eof" : strerror(errno));
	close(fd);
	return 0;
}

static int cli_conns, cli_threads;
static atomic_int cli_ok, cli_bad;

static void *cli_thread(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	char line[200], back[200];
	for (int c = 0; c < cli_conns; c++) {
		int fd = dial(port_arg), n;
		if (fd < 0) {
			atomic_fetch_add(&cli_bad, 1);
			continue;
		}
		n = make_line(line, sizeof line, (char)('A' + t % 26), t * 1000u + (unsigned)c);
		if (write_all(fd, line, (size_t)n) == 0 && read_line(fd, back, sizeof back) == n &&
		    !strcmp(line, back))
			atomic_fetch_add(&cli_ok, 1);
		else
			atomic_fetch_add(&cli_bad, 1);
		close(fd);
	}
	return NULL;
}

static int thrcli(int port, int threads, int conns)
{
	pthread_t t[256];
	port_arg = port;
	cli_conns = conns;
	cli_threads = threads;
	if (threads > 256)
		threads = 256;
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, cli_thread, (void *)(uintptr_t)i);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	printf("ok %d\nbad %d\n", atomic_load(&cli_ok), atomic_load(&cli_bad));
	return atomic_load(&cli_bad) ? 1 : 0;
}

struct race { int fd; ssize_t r; int err; char buf[256]; };

static void *race_reader(void *arg)
{
	struct race *x = arg;
	x->r = read(x->fd, x->buf, sizeof x->buf);
	x->err = errno;
	return NULL;
}

static int closerace(int port, int rounds)
{
	int garbage = 0, fine = 0;
	for (int k = 0; k < rounds; k++) {
		struct race x = { .fd = dial(port) };
		pthread_t t;
		char l[200];
		int n;
		if (x.fd < 0)
			die("connect");
		/* one echo first: the connection is secured on both ends */
		n = make_line(l, sizeof l, 'R', (unsigned)k);
		if (write_all(x.fd, l, (size_t)n) < 0 || read_line(x.fd, l, sizeof l) != n)
			die("echo");
		pthread_create(&t, NULL, race_reader, &x);
		usleep(20000 + (k % 5) * 5000);
		/* shutdown wakes the blocked reader (close alone does not on
		 * Linux); close right after, while the reader may still be
		 * inside the library with the connection in hand. */
		if (k % 2)
			shutdown(x.fd, SHUT_RDWR);
		close(x.fd);
		if (!(k % 2)) {
			/* the reader is blocked in the kernel on a descriptor that is
			 * gone: a peer-side close would wake it; use a signal */
			pthread_kill(t, SIGUSR1);
		}
		pthread_join(t, NULL);
		if (x.r > 0)
			garbage++;   /* the server sent nothing: any byte is garbage */
		else
			fine++;
	}
	printf("rounds %d\nfine %d\ngarbage %d\n", rounds, fine, garbage);
	return garbage ? 1 : 0;
}

static void on_usr1(int s)
{
	(void)s;
}

static int exitnoclose(int port)
{
	char l[200], back[200];
	int fd = dial(port), n;
	if (fd < 0)
		die("connect");
	n = make_line(l, sizeof l, 'X', 1);
	if (write_all(fd, l, (size_t)n) < 0 || read_line(fd, back, sizeof back) != n || strcmp(l, back))
		die("echo");
	printf("echo ok\n");
	exit(0);   /* no close(): the library's exit handler says close_notify */
}

int main(int argc, char **argv)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;   /* no SA_RESTART: interrupts a blocked read */
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3)
		goto usage;
	int port = atoi(argv[2]);
	if (!strcmp(argv[1], "forksrv") && argc == 4)
		return forksrv(port, atoi(argv[3]));
	if (!strcmp(argv[1], "bothsrv") && argc == 5)
		return bothsrv(port, (unsigned)atoi(argv[3]), !strcmp(argv[4], "conc"));
	if (!strcmp(argv[1], "reader"))
		return reader(port, argc > 3 ? argv[3] : "GO");
	if (!strcmp(argv[1], "inetd") && argc >= 5)
		return inetd(port, atoi(argv[3]), argv + 4);
	if (!strcmp(argv[1], "thrsrv"))
		thrsrv(port);
	if (!strcmp(argv[1], "thrcli") && argc == 5)
		return thrcli(port, atoi(argv[3]), atoi(argv[4]));
	if (!strcmp(argv[1], "closerace") && argc == 4)
		return closerace(port, atoi(argv[3]));
	if (!strcmp(argv[1], "exitnoclose"))
		return exitnoclose(port);
	if (!strcmp(argv[1], "eofsrv"))
		return eofsrv(port);
usage:
	fprintf(stderr, "usage: see the comment at the top of life_peer.c\n");
	return 2;
}
