/* sec_h1_probe.c — the client (and one server) side of tests/security
 * s10..s19: connect decisions, implicit connects, readiness and timeouts
 * (issue 10 findings 01, 02, 11, 14).  Each mode prints one line saying
 * what the calls returned; the scripts grep it.
 *
 *   conn HOST PORT LEN MARKER        connect with address length LEN (the
 *                                    bytes past LEN are garbage), write MARKER
 *   tfo CALL HOST PORT MARKER [LEN]  MSG_FASTOPEN implicit connect: sendto,
 *                                    sendmsg, sendmmsg (one message), sendmmsg2
 *                                    (two, each with the destination)
 *   tfoc HOST PORT MARKER            TCP_FASTOPEN_CONNECT, connect, write
 *   unspec PORT1 PORT2 MARKER [nb] [dup]
 *                                    connect to PORT1, write, connect(AF_UNSPEC),
 *                                    connect to PORT2, write MARKER (nb: a
 *                                    non-blocking socket, POLLOUT awaited; dup:
 *                                    MARKER goes through a dup made before)
 *   refail PORT1 PORT2 MARKER        non-blocking connect that fails (PORT1),
 *                                    then connect the same socket to PORT2,
 *                                    write MARKER
 *   nbwait PORT HOW MS               non-blocking connect, then wait up to MS
 *                                    for writability with HOW (poll ppoll select
 *                                    pselect epoll epollet epollpre: registered
 *                                    before connect), SO_ERROR; when writable
 *                                    and 0, one echo round
 *   rcvtimeo PORT CALL               connect, write "hello", SO_RCVTIMEO 1 s,
 *                                    read twice with CALL (read recv readv
 *                                    recvmsg waitall)
 *   partial PORT                     connect, write "go", SO_RCVTIMEO 1 s, read
 *                                    (the peer's record arrives in pieces),
 *                                    then read without timeout all 20000 bytes
 *   sndtimeo PORT                    connect, SO_SNDTIMEO 1 s, write the
 *                                    pattern until a call is cut short, then
 *                                    the rest of one last chunk without timeout,
 *                                    shut down; prints the bytes taken
 *   accept-rcvtimeo PORTFILE         listen, accept one, SO_RCVTIMEO 1 s, read
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static const char *err(long r)
{
	return r < 0 ? strerror(errno) : "ok";
}

/* ss filled for HOST:PORT, the bytes after the address proper set to 0xa5. */
static socklen_t make_addr(const char *host, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0xa5, sizeof *ss);
	if (strchr(host, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		a->sin6_flowinfo = 0;
		a->sin6_scope_id = 0;
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			exit(2);
		return sizeof *a;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	memset(a->sin_zero, 0, sizeof a->sin_zero);
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
		exit(2);
	return sizeof *a;
}

static void linger_a_little(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	poll(&p, 1, 300);
}

static int connect_to(int port)
{
	struct sockaddr_storage ss;
	socklen_t l = make_addr("127.0.0.1", port, &ss);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&ss, l) < 0) {
		printf("connect: %s\n", strerror(errno));
		exit(3);
	}
	return fd;
}

static int mode_conn(char **a)
{
	struct sockaddr_storage ss;
	socklen_t l;
	long r;

	l = make_addr(a[0], atoi(a[1]), &ss);
	l = (socklen_t)atoi(a[2]);
	int fd = socket(ss.ss_family, SOCK_STREAM, 0);
	r = connect(fd, (struct sockaddr *)&ss, l);
	printf("connect(len=%u): %ld (%s)", l, r, err(r));
	if (r == 0) {
		r = write(fd, a[3], strlen(a[3]));
		printf(", write: %ld (%s)", r, err(r));
		linger_a_little(fd);
	}
	printf("\n");
	return 0;
}

static int mode_tfo(int argc, char **a)
{
	struct sockaddr_storage ss;
	socklen_t l = make_addr(a[1], atoi(a[2]), &ss);
	const char *msg = a[3];
	long r;

	if (argc > 4)
		l = (socklen_t)atoi(a[4]);
	int fd = socket(ss.ss_family, SOCK_STREAM, 0);
	struct iovec v = { (void *)msg, strlen(msg) };
	struct msghdr h;
	memset(&h, 0, sizeof h);
	h.msg_name = &ss;
	h.msg_namelen = l;
	h.msg_iov = &v;
	h.msg_iovlen = 1;
	if (!strcmp(a[0], "sendto")) {
		r = sendto(fd, msg, strlen(msg), MSG_FASTOPEN, (struct sockaddr *)&ss, l);
	} else if (!strcmp(a[0], "sendmsg")) {
		r = sendmsg(fd, &h, MSG_FASTOPEN);
	} else {
		struct mmsghdr mm[2];
		memset(mm, 0, sizeof mm);
		mm[0].msg_hdr = h;
		mm[1].msg_hdr = h;
		r = sendmmsg(fd, mm, strcmp(a[0], "sendmmsg2") ? 1 : 2, MSG_FASTOPEN);
	}
	printf("tfo %s: %ld (%s)\n", a[0], r, err(r));
	if (r >= 0)
		linger_a_little(fd);
	return 0;
}

static int mode_tfoc(char **a)
{
	struct sockaddr_storage ss;
	socklen_t l = make_addr(a[0], atoi(a[1]), &ss);
	int fd = socket(ss.ss_family, SOCK_STREAM, 0), one = 1;
	long r = setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof one);

	printf("TCP_FASTOPEN_CONNECT: %ld (%s)", r, err(r));
	r = connect(fd, (struct sockaddr *)&ss, l);
	printf(", connect: %ld (%s)", r, err(r));
	if (r == 0) {
		r = write(fd, a[2], strlen(a[2]));
		printf(", write: %ld (%s)", r, err(r));
		linger_a_little(fd);
	}
	printf("\n");
	return 0;
}

/* Wait for a non-blocking connect: 0 and SO_ERROR in *e, or -1 (timeout). */
static int await_connect(int fd, int ms, int *e)
{
	struct pollfd p = { fd, POLLOUT, 0 };
	socklen_t el = sizeof *e;

	*e = 0;
	if (poll(&p, 1, ms) != 1)
		return -1;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, e, &el);
	return 0;
}

/* connect to 127.0.0.1:PORT and, when it is non-blocking, wait up to 5 s
 * for the result: 0, or -1 with errno the connect's error. */
static long connect_loopback(int fd, int port)
{
	struct sockaddr_storage ss;
	socklen_t l = make_addr("127.0.0.1", port, &ss);
	long r = connect(fd, (struct sockaddr *)&ss, l);
	int e = 0;

	if (r < 0 && errno == EINPROGRESS) {
		if (await_connect(fd, 5000, &e) == 0 && !e)
			r = 0;
		else
			errno = e ? e : ETIMEDOUT;
	}
	return r;
}

/* The last step of a reconnect case: write MSG on WFD, report, linger. */
static int write_and_report(int wfd, int fd, const char *msg)
{
	long r = write(wfd, msg, strlen(msg));

	printf(", write: %ld (%s)", r, err(r));
	linger_a_little(fd);
	printf("\n");
	return 0;
}

static int mode_unspec(int argc, char **a)
{
	struct sockaddr_storage ss;
	struct sockaddr un;
	int nb = 0, dupit = 0, fd, wfd, e = 0;
	socklen_t l;
	long r;

	for (int i = 3; i < argc; i++) {
		nb |= !strcmp(a[i], "nb");
		dupit |= !strcmp(a[i], "dup");
	}
	l = make_addr("127.0.0.1", atoi(a[0]), &ss);
	fd = socket(AF_INET, SOCK_STREAM | (nb ? SOCK_NONBLOCK : 0), 0);
	r = connect(fd, (struct sockaddr *)&ss, l);
	if (r < 0 && errno == EINPROGRESS && await_connect(fd, 5000, &e) == 0 && !e)
		r = 0;
	printf("first connect: %ld (%s)", r, r < 0 ? strerror(e ? e : errno) : "ok");
	if (r < 0) {
		printf("\n");
		return 0;
	}
	/* one round on the first connection, so it is really in use */
	{
		char buf[16];
		struct pollfd p = { fd, POLLIN, 0 };
		r = write(fd, "first", 5);
		poll(&p, 1, 3000);
		long k = read(fd, buf, sizeof buf);
		printf(", first round: %ld/%ld", r, k);
	}
	wfd = dupit ? dup(fd) : fd;
	memset(&un, 0, sizeof un);
	un.sa_family = AF_UNSPEC;
	r = connect(fd, &un, sizeof un);
	printf(", disconnect: %ld (%s)", r, err(r));
	r = connect_loopback(fd, atoi(a[1]));
	printf(", reconnect: %ld (%s)", r, err(r));
	return write_and_report(wfd, fd, a[2]);
}

/* A non-blocking connect that fails (require, plain peer), then a second
 * connect on the same socket to PORT2 and a write. */
static int mode_refail(char **a)
{
	struct sockaddr_storage ss;
	socklen_t l = make_addr("127.0.0.1", atoi(a[0]), &ss);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), e = 0;
	long r = connect(fd, (struct sockaddr *)&ss, l);

	if (r < 0 && errno == EINPROGRESS)
		await_connect(fd, 5000, &e);
	/* the failure shows on I/O once the handshake is over */
	for (int i = 0; i < 50 && !e; i++) {
		char b;
		if (read(fd, &b, 1) < 0 && errno != EAGAIN)
			e = errno;
		else
			usleep(100000);
	}
	printf("first: %ld, failure: %s", r, e ? strerror(e) : "none");
	r = connect_loopback(fd, atoi(a[1]));
	printf(", second connect: %ld (%s)", r, err(r));
	return write_and_report(fd, fd, a[2]);
}

static int wait_writable(int fd, const char *how, int ms, int ep)
{
	if (!strcmp(how, "poll") || !strcmp(how, "ppoll")) {
		struct pollfd p = { fd, POLLOUT, 0 };
		struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
		int r = how[0] == 'p' && how[1] == 'p' ? ppoll(&p, 1, &t, NULL) : poll(&p, 1, ms);
		return r > 0 && (p.revents & POLLOUT);
	}
	if (!strcmp(how, "select") || !strcmp(how, "pselect")) {
		fd_set w;
		FD_ZERO(&w);
		FD_SET(fd, &w);
		struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
		struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
		int r = how[0] == 's' ? select(fd + 1, NULL, &w, NULL, &tv) : pselect(fd + 1, NULL, &w, NULL, &t, NULL);
		return r > 0 && FD_ISSET(fd, &w);
	}
	/* epoll, epollet, epollpre */
	struct epoll_event ev[4];
	double until = now_s() + ms / 1000.0;
	for (;;) {
		int left = (int)((until - now_s()) * 1000);
		if (left < 0)
			left = 0;
		int n = epoll_wait(ep, ev, 4, left);
		for (int i = 0; i < n; i++)
			if (ev[i].data.fd == fd && (ev[i].events & EPOLLOUT))
				return 1;
		if (n <= 0)
			return 0;
	}
}

static int mode_nbwait(char **a)
{
	struct sockaddr_storage ss;
	socklen_t l = make_addr("127.0.0.1", atoi(a[0]), &ss);
	const char *how = a[1];
	int ms = atoi(a[2]), fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), e = 0, ep = -1;
	socklen_t el = sizeof e;
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.fd = fd };
	long r;

	if (!strncmp(how, "epoll", 5)) {
		ep = epoll_create1(0);
		if (!strcmp(how, "epollet"))
			ev.events |= EPOLLET;
		if (!strcmp(how, "epollpre"))
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	}
	double t0 = now_s();
	r = connect(fd, (struct sockaddr *)&ss, l);
	printf("connect: %ld (%s)", r, err(r));
	if (ep >= 0 && strcmp(how, "epollpre"))
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	int w = wait_writable(fd, how, ms, ep);
	double dt = now_s() - t0;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
	printf(", %s: writable=%d after %.2f s, SO_ERROR=%d (%s)", how, w, dt, e, e ? strerror(e) : "none");
	if (w && !e) {
		char buf[16] = "";
		struct pollfd p = { fd, POLLIN, 0 };
		r = write(fd, "PING", 4);
		poll(&p, 1, 3000);
		long k = read(fd, buf, sizeof buf - 1);
		printf(", echo: %ld/%ld '%s'", r, k, k > 0 ? buf : "");
	}
	printf("\n");
	return 0;
}

static long do_read(int fd, const char *call, char *buf, size_t n)
{
	struct iovec v[2] = { { buf, 2 }, { buf + 2, n - 2 } };
	struct msghdr h;

	if (!strcmp(call, "read"))
		return read(fd, buf, n);
	if (!strcmp(call, "recv"))
		return recv(fd, buf, n, 0);
	if (!strcmp(call, "readv"))
		return readv(fd, v, 2);
	if (!strcmp(call, "waitall"))
		return recv(fd, buf, n, MSG_WAITALL);
	memset(&h, 0, sizeof h);
	h.msg_iov = v;
	h.msg_iovlen = 2;
	return recvmsg(fd, &h, 0);
}

static int mode_rcvtimeo(char **a)
{
	int fd = connect_to(atoi(a[0]));
	struct timeval tv = { 1, 0 };
	char buf[64];
	long r;

	r = write(fd, "hello", 5);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	for (int i = 1; i <= 2; i++) {
		double t0 = now_s();
		r = do_read(fd, a[1], buf, sizeof buf);
		int e = errno;
		printf("%s%s %d: %ld (%s) after %.2f s", i > 1 ? ", " : "", a[1], i, r,
		       r < 0 ? strerror(e) : "ok", now_s() - t0);
		if (!strcmp(a[1], "waitall"))
			break;
	}
	printf("\n");
	return 0;
}

static int mode_partial(char **a)
{
	int fd = connect_to(atoi(a[0]));
	struct timeval tv = { 1, 0 }, none = { 0, 0 };
	static char buf[32768];
	size_t got = 0, bad = 0;
	long r;

	r = write(fd, "go", 2);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	double t0 = now_s();
	r = read(fd, buf, sizeof buf);
	int e = errno;
	printf("timed read: %ld (%s) after %.2f s", r, r < 0 ? strerror(e) : "ok", now_s() - t0);
	if (r > 0)
		got = (size_t)r;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
	while (got < 20000) {
		r = read(fd, buf + got, sizeof buf - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	for (size_t i = 0; i < got; i++)
		bad += (unsigned char)buf[i] != (unsigned char)('A' + i % 26);
	printf(", then: %zu bytes, %zu wrong\n", got, bad);
	return 0;
}

static int mode_sndtimeo(char **a)
{
	int fd = connect_to(atoi(a[0]));
	struct timeval tv = { 1, 0 }, none = { 0, 0 };
	static unsigned char chunk[65536];
	size_t total = 0;
	long r = 0;
	double t0 = now_s(), t1;

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	for (;;) {
		for (size_t i = 0; i < sizeof chunk; i++)
			chunk[i] = (unsigned char)((total + i) * 7 % 251);
		t1 = now_s();
		r = write(fd, chunk, sizeof chunk);
		/* cut: EAGAIN, a short count, or a call that returned only when
		 * the timeout ran out (the preload may have taken the whole chunk:
		 * its sealed rest is queued like bytes in a kernel buffer) */
		if (r < 0 || (size_t)r < sizeof chunk || now_s() - t1 >= 0.9 || now_s() - t0 > 20)
			break;
		total += (size_t)r;
	}
	int e = errno;
	double took = now_s() - t1;
	printf("cut: %ld (%s) after %.2f s, taken before: %zu", r, r < 0 ? strerror(e) : "count", took, total);
	size_t off = r > 0 ? (size_t)r : 0;
	total += off;
	/* the rest of that chunk, then end: every byte reported taken plus these */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
	while (off < sizeof chunk) {
		r = write(fd, chunk + off, sizeof chunk - off);
		if (r <= 0)
			break;
		off += (size_t)r;
		total += (size_t)r;
	}
	printf(", total: %zu\n", total);
	shutdown(fd, SHUT_WR);
	char b;
	struct pollfd p = { fd, POLLIN, 0 };
	poll(&p, 1, 15000);
	(void)!read(fd, &b, 1);
	close(fd);
	return 0;
}

static int mode_accept_rcvtimeo(char **a)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof sa;
	struct timeval tv = { 1, 0 };
	char buf[64];
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 4) < 0)
		return 2;
	getsockname(ls, (struct sockaddr *)&sa, &sl);
	FILE *f = fopen(a[0], "w");
	fprintf(f, "%d\n", ntohs(sa.sin_port));
	fclose(f);
	int fd = accept(ls, NULL, NULL);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	double t0 = now_s();
	long r = read(fd, buf, sizeof buf);
	int e = errno;
	printf("accepted read: %ld (%s) after %.2f s\n", r, r < 0 ? strerror(e) : "ok", now_s() - t0);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc < 3) {
		fprintf(stderr, "usage: see the comment at the top of sec_h1_probe.c\n");
		return 2;
	}
	const char *m = argv[1];
	char **a = argv + 2;
	int n = argc - 2;
	if (!strcmp(m, "conn") && n >= 4)
		return mode_conn(a);
	if (!strcmp(m, "tfo") && n >= 4)
		return mode_tfo(n, a);
	if (!strcmp(m, "tfoc") && n >= 3)
		return mode_tfoc(a);
	if (!strcmp(m, "unspec") && n >= 3)
		return mode_unspec(n, a);
	if (!strcmp(m, "refail") && n >= 3)
		return mode_refail(a);
	if (!strcmp(m, "nbwait") && n >= 3)
		return mode_nbwait(a);
	if (!strcmp(m, "rcvtimeo") && n >= 2)
		return mode_rcvtimeo(a);
	if (!strcmp(m, "partial") && n >= 1)
		return mode_partial(a);
	if (!strcmp(m, "sndtimeo") && n >= 1)
		return mode_sndtimeo(a);
	if (!strcmp(m, "accept-rcvtimeo") && n >= 1)
		return mode_accept_rcvtimeo(a);
	fprintf(stderr, "unknown mode or missing arguments: %s\n", m);
	return 2;
}
