/* exec_share.c — a connection shared across exec by processes that go on
 * using it (issue 11 item 2).  Plain POSIX sockets: the preload secures them.
 *
 *   exec_share echo PORT          accept one; echo to EOF; prints
 *                                 "server bytes N end eof|err ERRNO"
 *   exec_share client PORT ROUNDS connect; rounds of 16 KiB written and read
 *                                 back checked: 2, an exec that fails (ENOENT;
 *                                 prints the memfds left inheritable), 1, then
 *                                 fork a child that
 *                                 execs "helper FD 2" (which execs "helper FD
 *                                 1": a double exec) inheriting the socket (no
 *                                 CLOEXEC) and exits without touching it; one
 *                                 round a millisecond while it lives, ROUNDS
 *                                 after; prints "client helper_status S during
 *                                 D", then "client ok TOTAL" / "client bad ..."
 *   exec_share daemon PORT        accept one; fork; child: socket on 0 and 1,
 *                                 exec "handler 2"; parent closes its copy, reaps,
 *                                 prints "daemon handler_status S"
 *   exec_share handler 2|3|1      2: read a line on 0, answer "hello 2\n" on 1,
 *                                 exec "handler 3"; 3: fork a child that execs
 *                                 "handler 1", reap it, write "bye\n" (a shell
 *                                 script's pattern); 1: echo 0 → 1 to EOF
 *   exec_share probe PORT PROG    connect; a checked round; system(PROG); a
 *                                 checked round; fork a child that execs PROG
 *                                 with the socket inherited; reap; prints
 *                                 "probe rounds ok" (PROG: a program that
 *                                 cannot load the preload, listing its fds)
 *   exec_share scm PORT           connect; a checked round; pass the arena's memfd
 *                                 and a pipe with SCM_RIGHTS; a checked round;
 *                                 prints "scm arena RC WHY", "scm pipe RC WHY"
 *   exec_share talk PORT ROUNDS   connect; "hi\n", expect "hello 2\n"; ROUNDS
 *                                 checked 16 KiB echo rounds; SHUT_WR; "bye\n",
 *                                 then EOF; prints "talk ok N end eof" or "talk bad ..."
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>

enum { CHUNK = 16384 };

static const char *self;

static void die(const char *what)
{
	fprintf(stderr, "exec_share: %s: %s\n", what, strerror(errno));
	exit(2);
}

static int listen_accept(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0), s;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0)
		die("socket");
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 4) < 0)
		die("listen");
	s = accept(l, NULL, NULL);
	if (s < 0)
		die("accept");
	close(l);
	return s;
}

static int dial(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int s = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0)
		die("connect");
	return s;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *q = p;
	while (n) {
		ssize_t w = write(fd, q, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		q += w;
		n -= (size_t)w;
	}
	return 0;
}

/* 0 ok, -1 error (errno), 1 EOF early */
static int read_all(int fd, void *p, size_t n)
{
	char *q = p;
	while (n) {
		ssize_t r = read(fd, q, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 1;
		q += r;
		n -= (size_t)r;
	}
	return 0;
}

static void fill(uint8_t *b, size_t n, unsigned round)
{
	uint32_t x = 2463534242u ^ (round * 2654435761u);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (uint8_t)x;
	}
}

/* One checked round: CHUNK bytes out, the same CHUNK bytes back. */
static int round_trip(int fd, unsigned round, const char *who)
{
	static uint8_t out[CHUNK], in[CHUNK];
	int r;

	fill(out, sizeof out, round);
	if (write_all(fd, out, sizeof out) < 0) {
		printf("%s bad write round %u errno %d\n", who, round, errno);
		return -1;
	}
	if ((r = read_all(fd, in, sizeof in)) != 0) {
		printf("%s bad read round %u %s %d\n", who, round, r > 0 ? "eof" : "errno", r > 0 ? 0 : errno);
		return -1;
	}
	if (memcmp(in, out, sizeof in)) {
		printf("%s bad data round %u\n", who, round);
		return -1;
	}
	return 0;
}

static int do_echo(int port)
{
	int s = listen_accept(port);
	char buf[8192];
	long long total = 0;

	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));   /* see do_handler */
	for (;;) {
		ssize_t r = read(s, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			printf("server bytes %lld end %s %d\n", total, r == 0 ? "eof" : "err", r == 0 ? 0 : errno);
			break;
		}
		total += r;
		if (write_all(s, buf, (size_t)r) < 0) {
			printf("server bytes %lld end err %d\n", total, errno);
			break;
		}
	}
	close(s);
	return 0;
}

/* memfds of this process without FD_CLOEXEC (only a hand-off in flight
 * may have one) */
static int inheritable_memfds(void)
{
	char p[64], l[256];
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
		ssize_t k = readlink(p, l, sizeof l - 1);
		if (k <= 0)
			continue;
		l[k] = '\0';
		if (strstr(l, "/memfd:") && !(fcntl(fd, F_GETFD) & FD_CLOEXEC))
			n++;
	}
	return n;
}

static int do_client(int port, unsigned rounds)
{
	int s = dial(port), st = 0;
	unsigned i = 0, during = 0;
	struct timespec ms = { 0, 1000 * 1000 };
	pid_t kid;
	char fdarg[16];

	snprintf(fdarg, sizeof fdarg, "%d", s);
	for (; i < 2; i++)
		if (round_trip(s, i, "client") < 0)
			return 1;
	/* an exec that fails must leave everything as it was */
	execl("/nonexistent/exec_share", "exec_share", (char *)NULL);
	printf("client failed_exec errno %d inheritable_memfds %d\n", errno, inheritable_memfds());
	if (round_trip(s, i++, "client") < 0)
		return 1;
	kid = fork();
	if (kid < 0)
		die("fork");
	if (kid == 0) {
		execl(self, self, "helper", fdarg, "2", (char *)NULL);
		_exit(127);
	}
	/* rounds while the helper (and its second image) holds the socket */
	for (;;) {
		pid_t w = waitpid(kid, &st, WNOHANG);
		if (w == kid)
			break;
		if (w < 0)
			die("waitpid");
		if (round_trip(s, i++, "client") < 0)
			return 1;
		during++;
		nanosleep(&ms, NULL);
	}
	printf("client helper_status %d during %u\n", st, during);
	/* and after its exit */
	for (unsigned k = 0; k < rounds; k++)
		if (round_trip(s, i++, "client") < 0)
			return 1;
	if (close(s) < 0)
		die("close");
	printf("client ok %u\n", i);
	return 0;
}

static int do_helper(const char *fdarg, int depth)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };

	/* holds the socket for a while, never uses it */
	nanosleep(&ts, NULL);
	if (depth > 1) {
		execl(self, self, "helper", fdarg, "1", (char *)NULL);
		return 127;
	}
	return 0;
}

static int do_daemon(int port)
{
	int s = listen_accept(port), st = 0, keep = getenv("ES_KEEP") != NULL;
	pid_t kid = fork();

	if (kid < 0)
		die("fork");
	if (kid == 0) {
		if (dup2(s, 0) < 0 || dup2(s, 1) < 0)
			_exit(126);
		if (s > 1)
			close(s);
		execl(self, self, "handler", "2", (char *)NULL);
		_exit(127);
	}
	if (!keep)
		close(s);
	if (waitpid(kid, &st, 0) != kid)
		die("waitpid");
	if (keep)
		close(s);
	printf("daemon handler_status %d\n", st);
	return 0;
}

static int do_handler(int depth)
{
	char buf[8192], c;
	size_t n = 0;
	int st = 0;
	pid_t kid;

	if (depth == 2) {
		/* one line, byte by byte (nothing read past it), then the answer */
		while (n < sizeof buf - 1 && read(0, &c, 1) == 1 && c != '\n')
			buf[n++] = c;
		if (write_all(1, "hello 2\n", 8) < 0) {
			fprintf(stderr, "handler 2: write: %s\n", strerror(errno));
			return 3;
		}
		execl(self, self, "handler", "3", (char *)NULL);
		return 127;
	}
	if (depth == 3) {
		/* a shell's way: run the echo as a child, then say goodbye */
		kid = fork();
		if (kid < 0)
			return 5;
		if (kid == 0) {
			execl(self, self, "handler", "1", (char *)NULL);
			_exit(127);
		}
		if (waitpid(kid, &st, 0) != kid || st != 0) {
			fprintf(stderr, "handler 3: echo child status %d\n", st);
			return 6;
		}
		if (write_all(1, "bye\n", 4) < 0) {
			fprintf(stderr, "handler 3: write: %s\n", strerror(errno));
			return 3;
		}
		return 0;
	}
	/* echo chunks are written as they come: Nagle against the peer's
	 * delayed ACK would cost 40 ms a round */
	setsockopt(1, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	for (;;) {
		ssize_t r = read(0, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "handler 1: read: %s\n", strerror(errno));
			return 4;
		}
		if (r == 0)
			return 0;
		if (write_all(1, buf, (size_t)r) < 0) {
			fprintf(stderr, "handler 1: write: %s\n", strerror(errno));
			return 3;
		}
	}
}

static int do_probe(int port, const char *prog)
{
	int s = dial(port), st = 0;
	pid_t kid;

	if (round_trip(s, 0, "probe") < 0)
		return 1;
	printf("probe system %d\n", system(prog));
	if (round_trip(s, 1, "probe") < 0)
		return 1;
	printf("probe rounds ok\n");
	kid = fork();
	if (kid < 0)
		die("fork");
	if (kid == 0) {
		execl(prog, prog, (char *)NULL);
		_exit(127);
	}
	waitpid(kid, &st, 0);
	printf("probe exec %d\n", st);
	close(s);
	return 0;
}

/* Pass fd over a socketpair with SCM_RIGHTS: sendmsg's result, errno. */
static int pass_fd(int fd, int *err)
{
	int sv[2], r;
	char byte = 'x', ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
	struct cmsghdr *h;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair");
	memset(ctl, 0, sizeof ctl);
	h = CMSG_FIRSTHDR(&m);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &fd, sizeof fd);
	r = (int)sendmsg(sv[0], &m, 0);
	*err = r < 0 ? errno : 0;
	close(sv[0]);
	close(sv[1]);
	return r;
}

static int do_scm(int port)
{
	int s = dial(port), arena = -1, p[2], err, r;
	char path[64], l[256];

	if (round_trip(s, 0, "scm") < 0)
		return 1;
	for (int fd = 0; fd < 1024 && arena < 0; fd++) {
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		ssize_t k = readlink(path, l, sizeof l - 1);
		if (k > 0 && (l[k] = '\0', strstr(l, "/memfd:secsock-arena")))
			arena = fd;
	}
	if (arena < 0) {
		printf("scm arena none\n");
	} else {
		r = pass_fd(arena, &err);
		printf("scm arena %d %s\n", r, r < 0 ? strerror(err) : "sent");
	}
	if (pipe(p) < 0)
		die("pipe");
	r = pass_fd(p[0], &err);
	printf("scm pipe %d %s\n", r, r < 0 ? strerror(err) : "sent");
	if (round_trip(s, 1, "scm") < 0)
		return 1;
	printf("scm rounds ok\n");
	close(s);
	return 0;
}

static int do_talk(int port, unsigned rounds)
{
	int s = dial(port), r;
	char hello[8];
	uint8_t b;
	const char *d = getenv("ES_DELAY_MS");
	struct timespec ts = { 0, 0 };

	if (d) {
		ts.tv_sec = atoi(d) / 1000;
		ts.tv_nsec = (atoi(d) % 1000) * 1000000L;
		nanosleep(&ts, NULL);
	}
	if (write_all(s, "hi\n", 3) < 0 || read_all(s, hello, 8) != 0 || memcmp(hello, "hello 2\n", 8)) {
		printf("talk bad hello\n");
		return 1;
	}
	for (unsigned i = 0; i < rounds; i++)
		if (round_trip(s, i, "talk") < 0)
			return 1;
	shutdown(s, SHUT_WR);
	if (read_all(s, hello, 4) != 0 || memcmp(hello, "bye\n", 4)) {
		printf("talk bad bye errno %d\n", errno);
		return 1;
	}
	r = (int)read(s, &b, 1);
	printf("talk ok %u end %s %d\n", rounds, r == 0 ? "eof" : "err", r == 0 ? 0 : errno);
	close(s);
	return r != 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	self = argv[0];
	if (argc == 3 && !strcmp(argv[1], "echo"))
		return do_echo(atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "client"))
		return do_client(atoi(argv[2]), (unsigned)atoi(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "helper"))
		return do_helper(argv[2], atoi(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "daemon"))
		return do_daemon(atoi(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "handler"))
		return do_handler(atoi(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "scm"))
		return do_scm(atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "probe"))
		return do_probe(atoi(argv[2]), argv[3]);
	if (argc == 4 && !strcmp(argv[1], "talk"))
		return do_talk(atoi(argv[2]), (unsigned)atoi(argv[3]));
	fprintf(stderr, "usage: see tests/tools/exec_share.c\n");
	return 2;
}
