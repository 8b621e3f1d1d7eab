/* burst_client.c — many concurrent short-lived connections from one process
 * (issue 11 item 4): an epoll loop keeps CONC non-blocking connects in flight
 * until TOTAL connections have been made; each sends one request line, reads
 * the echoed line back, checks it byte for byte and closes at once.
 *
 *   burst_client PORT CONC TOTAL [SECS [steal]]
 *
 * Prints "ok N", "failed M" and, on a stall, "stalled K" (connections still
 * open after SECS seconds without progress, default 20).  Exit 0 only when
 * all TOTAL connections were answered correctly.  Plain POSIX sockets: the
 * preload is what secures them.
 *
 * steal: right after each connect, close every other descriptor of the same
 * socket (the preload's own duplicate), as a program's close_range or dup2
 * over a number it does not know to be taken would: each connection must
 * still end, answered or failed with an error, never hang. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>

enum { REQ_MAX = 128 };

struct conn {
	int fd;
	int id;
	int sent;                 /* request written */
	size_t got, len;
	char req[REQ_MAX], buf[REQ_MAX];
};

static int port, conc, total, started, ok, failed, open_now;
static int ep, steal;

/* Close the other descriptors of c's socket (not ours: the preload's). */
static void steal_dups(int fd)
{
	struct stat me, st;

	if (fstat(fd, &me) < 0)
		return;
	for (int d = 3; d < 1024; d++)
		if (d != fd && d != ep && fstat(d, &st) == 0 && st.st_ino == me.st_ino &&
		    st.st_dev == me.st_dev)
			close(d);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void done(struct conn *c, int good, const char *why)
{
	if (good) {
		ok++;
	} else {
		failed++;
		fprintf(stderr, "burst_client: connection %d: %s: %s\n", c->id, why, strerror(errno));
	}
	close(c->fd);   /* closing removes it from our epoll set */
	free(c);
	open_now--;
}

static void start_one(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct epoll_event ev = { .events = EPOLLOUT };
	struct conn *c = calloc(1, sizeof *c);

	if (!c) {
		perror("calloc");
		exit(2);
	}
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->id = started++;
	c->len = (size_t)snprintf(c->req, sizeof c->req, "burst request %d of %d %08x\n",
	                          c->id, total, (unsigned)(c->id * 2654435761u));
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	open_now++;
	if (c->fd < 0) {
		failed++;
		open_now--;
		fprintf(stderr, "burst_client: socket: %s\n", strerror(errno));
		free(c);
		return;
	}
	if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
		done(c, 0, "connect");
		return;
	}
	if (steal)
		steal_dups(c->fd);
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		done(c, 0, "epoll_ctl");
}

static void serve(struct conn *c, uint32_t events)
{
	if (!c->sent) {
		int err = 0;
		socklen_t l = sizeof err;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		ssize_t w;

		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err) {
			errno = err ? err : errno;
			done(c, 0, "connect (SO_ERROR)");
			return;
		}
		w = write(c->fd, c->req, c->len);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w != (ssize_t)c->len) {
			done(c, 0, w < 0 ? "write" : "short write");
			return;
		}
		c->sent = 1;
		if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
			done(c, 0, "epoll_ctl MOD");
		return;
	}
	for (;;) {
		ssize_t r = read(c->fd, c->buf + c->got, c->len - c->got);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ECONNRESET;
			done(c, 0, r == 0 ? "EOF before the response" : "read");
			return;
		}
		c->got += (size_t)r;
		if (c->got == c->len) {
			errno = 0;
			done(c, memcmp(c->buf, c->req, c->len) == 0, "response differs from the request");
			return;
		}
	}
}

int main(int argc, char **argv)
{
	struct epoll_event evs[64];
	long stall_ms, last;

	if (argc < 4) {
		fprintf(stderr, "usage: burst_client PORT CONC TOTAL [SECS [steal]]\n");
		return 2;
	}
	port = atoi(argv[1]);
	conc = atoi(argv[2]);
	total = atoi(argv[3]);
	stall_ms = (argc > 4 ? atol(argv[4]) : 20) * 1000L;
	steal = argc > 5 && !strcmp(argv[5], "steal");
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || conc < 1 || total < 1)
		return 2;
	last = now_ms();
	while (ok + failed < total) {
		int before = ok + failed, n;
		while (open_now < conc && started < total)
			start_one();
		if (open_now == 0)
			continue;
		n = epoll_wait(ep, evs, 64, 200);
		if (n < 0 && errno != EINTR) {
			perror("epoll_wait");
			return 2;
		}
		for (int i = 0; i < n; i++)
			serve(evs[i].data.ptr, evs[i].events);
		if (ok + failed != before) {
			last = now_ms();
		} else if (now_ms() - last > stall_ms) {
			printf("stalled %d\n", open_now);
			break;
		}
	}
	printf("ok %d\nfailed %d\n", ok, failed);
	fflush(stdout);
	return ok == total ? 0 : 1;
}
