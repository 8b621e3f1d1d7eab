/* load_client.c — the soak tier's load generator (issue 11, "Load"): N
 * concurrent TCP connections to an echo server from one epoll loop, each
 * sending a pseudo-random stream seeded by its connection id and checking the
 * echo byte for byte.  Plain POSIX sockets: the preload is what secures them.
 *
 *   load_client [-c CONNS] [-t SECS] [-p PENDING] [-w WINDOW] [-m MAXCHUNK]
 *               [-g GRACE] [-s SEED] [-r READYFILE] HOST PORT
 *
 *   -c  connections (default 1000)          -t  seconds of traffic (default 30)
 *   -p  connects in progress at once (64)   -w  bytes in flight per connection
 *   -m  largest write (16384)                   before it waits for the echo (65536)
 *   -g  seconds after -t for the last echo and EOF (30)
 *   -s  seed mixed into every stream (1)    -r  file written once all are connected
 *
 * Each connection: non-blocking connect; then writes chunks of 1..MAXCHUNK
 * bytes (sizes from the same seeded generator) while fewer than WINDOW bytes
 * are unechoed, for SECS seconds; then, once every byte came back, shutdown
 * (SHUT_WR) and expects EOF.  An error is a failed connect, a read/write
 * error, a byte that differs (offset reported), EOF or bytes where none are
 * due, or a connection not finished GRACE seconds after the traffic stopped.
 * Output: "key: value" lines on stdout (conns, connected, ok, errors,
 * mismatches, bytes_sent, bytes_recv, secs, mbps, connect_ms_max); one line
 * per failed connection on stderr (the first 20).  Exit 0 only when every
 * connection ended ok. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

enum cstate { C_IDLE, C_CONNECTING, C_RUN, C_DRAIN, C_DONE, C_FAILED };

struct gen {                    /* splitmix64 byte stream */
	uint64_t s;
	uint8_t buf[8];
	unsigned pos;
};

struct conn {
	int fd;
	enum cstate st;
	uint32_t ev;            /* epoll interest now registered */
	struct gen tx, rx, sz;  /* bytes sent, bytes expected back, chunk sizes */
	uint8_t *pend;          /* chunk not yet (fully) taken by the kernel */
	size_t pend_off, pend_len;
	uint64_t sent, recv;
	double t_connect;
};

static struct {
	long conns, secs, pending, window, maxchunk, grace;
	uint64_t seed;
	const char *ready;
} opt = { 1000, 30, 64, 65536, 16384, 30, 1, NULL };

static int g_ep;
static long g_failed, g_mismatch, g_reported, g_connected, g_inprogress;
static double g_connect_max;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void gen_init(struct gen *g, uint64_t seed)
{
	g->s = seed;
	g->pos = 8;
}

static uint8_t gen_byte(struct gen *g)
{
	if (g->pos == 8) {
		uint64_t v = splitmix(&g->s);
		memcpy(g->buf, &v, 8);
		g->pos = 0;
	}
	return g->buf[g->pos++];
}

static void fail_conn(struct conn *c, long id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail_conn(struct conn *c, long id, const char *fmt, ...)
{
	if (g_reported < 20) {
		va_list ap;
		fprintf(stderr, "conn %ld: ", id);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fprintf(stderr, " (sent %llu, echoed %llu)\n", (unsigned long long)c->sent,
			(unsigned long long)c->recv);
		g_reported++;
	}
	if (c->st == C_CONNECTING)
		g_inprogress--;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->st = C_FAILED;
	g_failed++;
}

static void set_interest(struct conn *c, long id, uint32_t ev)
{
	if (c->ev == ev || c->fd < 0)
		return;
	struct epoll_event e = { .events = ev, .data.u64 = (uint64_t)id };
	if (epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &e) != 0)
		fail_conn(c, id, "epoll_ctl: %s", strerror(errno));
	else
		c->ev = ev;
}

static int start_connect(struct conn *c, long id, const struct sockaddr *sa, socklen_t salen)
{
	c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fail_conn(c, id, "socket: %s", strerror(errno));
		return -1;
	}
	uint64_t base = opt.seed * 0x100000001b3ULL + (uint64_t)id;
	gen_init(&c->tx, base * 3 + 1);
	gen_init(&c->rx, base * 3 + 1);
	gen_init(&c->sz, base * 3 + 2);
	c->t_connect = now_s();
	c->st = C_CONNECTING;
	g_inprogress++;
	struct epoll_event e = { .events = EPOLLOUT, .data.u64 = (uint64_t)id };
	c->ev = EPOLLOUT;
	if (epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &e) != 0) {
		fail_conn(c, id, "epoll_ctl add: %s", strerror(errno));
		return -1;
	}
	if (connect(c->fd, sa, salen) != 0 && errno != EINPROGRESS) {
		fail_conn(c, id, "connect: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void connected(struct conn *c, long id)
{
	int err = 0;
	socklen_t l = sizeof err;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0)
		err = errno;
	if (err) {
		fail_conn(c, id, "connect: %s", strerror(err));
		return;
	}
	double dt = now_s() - c->t_connect;
	if (dt > g_connect_max)
		g_connect_max = dt;
	g_inprogress--;
	g_connected++;
	c->st = C_RUN;
}

/* Writes what the window allows; returns 0, or -1 when the connection failed. */
static int pump_out(struct conn *c, long id, int sending)
{
	for (;;) {
		if (c->pend_off == c->pend_len) {
			uint64_t inflight = c->sent - c->recv;
			if (!sending || inflight >= (uint64_t)opt.window)
				return 0;
			size_t n = 1 + (size_t)(splitmix(&c->sz.s) % (uint64_t)opt.maxchunk);
			if (n > (uint64_t)opt.window - inflight)
				n = (size_t)((uint64_t)opt.window - inflight);
			for (size_t i = 0; i < n; i++)
				c->pend[i] = gen_byte(&c->tx);
			c->pend_off = 0;
			c->pend_len = n;
		}
		ssize_t w = write(c->fd, c->pend + c->pend_off, c->pend_len - c->pend_off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			fail_conn(c, id, "write: %s", strerror(errno));
			return -1;
		}
		c->pend_off += (size_t)w;
		c->sent += (uint64_t)w;
	}
}

static int pump_in(struct conn *c, long id, uint8_t *buf, size_t cap)
{
	for (int rounds = 0; rounds < 8; rounds++) {
		ssize_t r = read(c->fd, buf, cap);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			fail_conn(c, id, "read: %s", strerror(errno));
			return -1;
		}
		if (r == 0) {
			if (c->st == C_DRAIN && c->recv == c->sent) {
				close(c->fd);
				c->fd = -1;
				c->st = C_DONE;
				return 0;
			}
			fail_conn(c, id, "EOF before the echo was complete");
			return -1;
		}
		if (c->recv + (uint64_t)r > c->sent) {
			fail_conn(c, id, "%zd bytes echoed beyond what was sent", r);
			return -1;
		}
		for (ssize_t i = 0; i < r; i++) {
			uint8_t want = gen_byte(&c->rx);
			if (buf[i] != want) {
				g_mismatch++;
				fail_conn(c, id, "byte %llu differs (got 0x%02x, want 0x%02x)",
					(unsigned long long)(c->recv + (uint64_t)i), buf[i], want);
				return -1;
			}
		}
		c->recv += (uint64_t)r;
	}
	return 0;
}

/* After the traffic phase: once every byte is back, half-close and wait for EOF. */
static void maybe_drain(struct conn *c, long id)
{
	if (c->st != C_RUN || c->pend_off != c->pend_len || c->recv != c->sent)
		return;
	if (shutdown(c->fd, SHUT_WR) != 0) {
		fail_conn(c, id, "shutdown: %s", strerror(errno));
		return;
	}
	c->st = C_DRAIN;
}

static int resolve(const char *host, const char *port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST }, *ai;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "load_client: %s: %s\n", host, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static void handle(struct conn *c, long id, uint32_t events, int sending, uint8_t *buf, size_t cap)
{
	if (c->st == C_CONNECTING) {
		connected(c, id);
		if (c->st != C_RUN)
			return;
	}
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && pump_in(c, id, buf, cap) != 0)
		return;
	if (c->st == C_DONE || c->st == C_FAILED)
		return;
	if (c->st == C_RUN && pump_out(c, id, sending) != 0)
		return;
	if (!sending)
		maybe_drain(c, id);
	if (c->st == C_FAILED)
		return;
	int want_out = c->st == C_RUN && (c->pend_off != c->pend_len ||
		(sending && c->sent - c->recv < (uint64_t)opt.window));
	set_interest(c, id, EPOLLIN | (want_out ? EPOLLOUT : 0));
}

static void report(double secs, struct conn *cs)
{
	uint64_t sent = 0, recv = 0;
	long ok = 0;
	for (long i = 0; i < opt.conns; i++) {
		sent += cs[i].sent;
		recv += cs[i].recv;
		ok += cs[i].st == C_DONE;
	}
	printf("conns: %ld\nconnected: %ld\nok: %ld\nerrors: %ld\nmismatches: %ld\n", opt.conns,
		g_connected, ok, opt.conns - ok, g_mismatch);
	printf("bytes_sent: %llu\nbytes_recv: %llu\nsecs: %.1f\nmbps: %.1f\nconnect_ms_max: %.0f\n",
		(unsigned long long)sent, (unsigned long long)recv, secs,
		secs > 0 ? (double)(sent + recv) * 8 / 1e6 / secs : 0.0, g_connect_max * 1000);
}

static int parse_args(int argc, char **argv)
{
	int ch;
	while ((ch = getopt(argc, argv, "c:t:p:w:m:g:s:r:")) != -1) {
		switch (ch) {
		case 'c': opt.conns = atol(optarg); break;
		case 't': opt.secs = atol(optarg); break;
		case 'p': opt.pending = atol(optarg); break;
		case 'w': opt.window = atol(optarg); break;
		case 'm': opt.maxchunk = atol(optarg); break;
		case 'g': opt.grace = atol(optarg); break;
		case 's': opt.seed = strtoull(optarg, NULL, 0); break;
		case 'r': opt.ready = optarg; break;
		default: return -1;
		}
	}
	if (argc - optind != 2 || opt.conns < 1 || opt.secs < 0 || opt.pending < 1 ||
	    opt.window < 1 || opt.maxchunk < 1 || opt.grace < 1)
		return -1;
	if (opt.maxchunk > opt.window)
		opt.maxchunk = opt.window;
	return 0;
}

static void write_ready(void)
{
	if (!opt.ready)
		return;
	FILE *f = fopen(opt.ready, "w");
	if (f) {
		fprintf(f, "connected %ld\n", g_connected);
		fclose(f);
	}
	opt.ready = NULL;
}

int main(int argc, char **argv)
{
	if (parse_args(argc, argv) != 0) {
		fprintf(stderr, "usage: load_client [-c CONNS] [-t SECS] [-p PENDING] [-w WINDOW] "
			"[-m MAXCHUNK] [-g GRACE] [-s SEED] [-r READYFILE] HOST PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct sockaddr_storage ss;
	socklen_t salen;
	if (resolve(argv[optind], argv[optind + 1], &ss, &salen) != 0)
		return 2;
	struct conn *cs = calloc((size_t)opt.conns, sizeof *cs);
	uint8_t *pend = malloc((size_t)opt.conns * (size_t)opt.maxchunk);
	size_t cap = 65536;
	uint8_t *buf = malloc(cap);
	g_ep = epoll_create1(EPOLL_CLOEXEC);
	if (!cs || !pend || !buf || g_ep < 0) {
		perror("load_client: setup");
		return 2;
	}
	for (long i = 0; i < opt.conns; i++) {
		cs[i].fd = -1;
		cs[i].pend = pend + (size_t)i * (size_t)opt.maxchunk;
	}
	double t0 = now_s(), t_traffic_end = -1, t_give_up = -1;
	long next = 0, finished = 0;
	struct epoll_event evs[256];
	while (finished < opt.conns) {
		while (next < opt.conns && g_inprogress < opt.pending)
			start_connect(&cs[next], next, (struct sockaddr *)&ss, salen), next++;
		if (t_traffic_end < 0 && next == opt.conns && g_inprogress == 0) {
			/* the traffic time counts from the moment all are connected */
			t_traffic_end = now_s() + (double)opt.secs;
			t_give_up = t_traffic_end + (double)opt.grace;
			write_ready();
		}
		double t = now_s();
		int sending = t_traffic_end < 0 || t < t_traffic_end;
		int n = epoll_wait(g_ep, evs, 256, 100);
		if (n < 0 && errno != EINTR) {
			perror("load_client: epoll_wait");
			return 2;
		}
		for (int k = 0; k < n; k++) {
			long id = (long)evs[k].data.u64;
			handle(&cs[id], id, evs[k].events, sending, buf, cap);
		}
		if (!sending) {
			/* connections with nothing to read are moved on here */
			for (long i = 0; i < opt.conns; i++)
				if (cs[i].st == C_RUN)
					handle(&cs[i], i, 0, 0, buf, cap);
		}
		if (t_give_up > 0 && now_s() > t_give_up) {
			for (long i = 0; i < opt.conns; i++)
				if (cs[i].st != C_DONE && cs[i].st != C_FAILED)
					fail_conn(&cs[i], i, "not finished %lds after the traffic stopped (state %d)",
						opt.grace, (int)cs[i].st);
		}
		for (long i = 0; i < next; i++)
			if (cs[i].st == C_CONNECTING && t - cs[i].t_connect > (double)opt.grace)
				fail_conn(&cs[i], i, "connect not done after %lds", opt.grace);
		finished = 0;
		for (long i = 0; i < opt.conns; i++)
			finished += cs[i].st == C_DONE || cs[i].st == C_FAILED;
	}
	report(t_traffic_end > 0 ? now_s() - (t_traffic_end - (double)opt.secs) : now_s() - t0, cs);
	return g_failed == 0 ? 0 : 1;
}
