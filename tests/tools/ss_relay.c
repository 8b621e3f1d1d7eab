/* ss_relay.c — a recording, fault-injecting TCP relay for the integration tests.
 *
 *   ss_relay [options] LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT
 *
 * Accepts connections on LISTEN_HOST:LISTEN_PORT (port 0 = pick one; the
 * chosen port is printed as "listening PORT" on stdout and written to
 * --port-file), connects each to TARGET, and copies bytes both ways.  It is
 * plain libc sockets on purpose: the tests run it without the preload so it
 * sees the wire exactly as the kernel carries it.
 *
 * Options (faults apply to every connection unless --fault-conn K is given):
 *   --record DIR        write DIR/conn-N.c2s and DIR/conn-N.s2c (N from 1):
 *                       the bytes as received from each side, before any fault
 *   --port-file FILE    write the listening port to FILE (atomically, via rename)
 *   --flip-c2s OFF      XOR byte OFF (0-based) of the client->server stream with 0x01
 *   --flip-s2c OFF      same for server->client
 *   --truncate-c2s N    after N bytes client->server: send FIN to the server, drop the rest
 *   --truncate-s2c N    same for server->client (FIN to the client)
 *   --stall-c2s N       after N bytes client->server: stop forwarding (read and drop the rest)
 *   --stall-s2c N       same for server->client
 *   --freeze-c2s N      after N bytes client->server: stop reading from the
 *                       client at all (its sends back up, as with a peer that
 *                       stopped reading), until the client closes or resets;
 *                       then what got through, and FIN, go on
 *   --freeze-s2c N      same for server->client (still until the client goes)
 *   --reset-c2s N       after N bytes client->server: reset both connections
 *                       (RST to the client and to the server, nothing else)
 *   --reset-s2c N       same, counted server->client
 *   --fin-c2s-chunk K   after forwarding the K-th chunk client->server, send
 *                       FIN to the server at once and drop the rest of that
 *                       direction; server->client keeps flowing
 *   --fin-s2c-chunk K   same for server->client (FIN to the client)
 *   --hold-c2s-from-chunk K
 *                       from the K-th chunk client->server on, collect the
 *                       bytes instead of forwarding them; when the client
 *                       sends FIN, forward all of them in one send with the
 *                       FIN right behind (the server then finds the whole
 *                       tail and the FIN queued together); a reset from the
 *                       client drops what was held
 *   --hold-s2c-from-chunk K
 *                       same for server->client (until the server's FIN)
 *   --delay-c2s-ms MS   hold the first chunk client->server for MS ms
 *                       before forwarding it (a slow network or a slow
 *                       client: the server's handshake finishes late)
 *   --delay-s2c-ms MS   same for the first chunk server->client
 *   --delay-c2s-chunk K the chunk --delay-c2s-ms holds (default 1): K = 2
 *                       holds a client's last handshake flight, so a test
 *                       can act while the server waits for it
 *   --delay-s2c-chunk K same for --delay-s2c-ms
 *   --log-chunks        log every chunk: "conn N DIR chunk K: B bytes"
 *   --fault-conn K      apply the faults only to connection K (1-based)
 *
 * A chunk is what one recv() returned (up to 64 KiB), counted from 1 per
 * direction.  On loopback one send() of up to 64 KiB is one chunk as long as
 * the relay was waiting in recv() before it landed: a secsock handshake
 * flight is one send, so chunk 1 client->server is the ClientHello and chunk
 * 1 server->client the server's whole flight (ServerHello .. Finished); two
 * sends in a row may come as one chunk or two.  Seen with --log-chunks,
 * anonymous credentials: c2s 187 (ClientHello), s2c 560 (the flight), c2s 58
 * (the client's Finished), then the client's data record and close_notify
 * as one chunk or two.  Where the relay sends a FIN behind forwarded bytes
 * (--fin-*-chunk, the release of --hold-*), the last bytes go with MSG_MORE,
 * so the kernel queues them and shutdown() sets FIN on that same segment
 * (up to one MSS: 64 KiB on loopback): the receiver never sees those bytes
 * without the FIN behind them, while after --truncate-* the FIN is a
 * segment of its own that a fast reader wakes up before.
 *
 * A thread per direction with blocking I/O, so a full-duplex bulk transfer
 * cannot deadlock the relay.  Events go to stderr, one line each.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

enum { DIR_C2S = 0, DIR_S2C = 1 };
static const char *const dir_name[2] = { "c2s", "s2c" };

struct fault {
	long long flip;      /* -1 = none */
	long long truncate;  /* -1 = none */
	long long stall;     /* -1 = none */
	long long freeze;    /* -1 = none */
	long long reset;     /* -1 = none */
	long long fin_chunk; /* -1 = none: FIN after forwarding this chunk */
	long long hold_from; /* -1 = none: hold from this chunk until the source's FIN */
	long long delay_ms;  /* -1 = none: wait this long before forwarding chunk delay_chunk */
	long long delay_chunk;
};

static struct fault faults[2] = { { -1, -1, -1, -1, -1, -1, -1, -1, 1 }, { -1, -1, -1, -1, -1, -1, -1, -1, 1 } };
static bool log_chunks;
static long fault_conn = 0;      /* 0 = every connection */
static const char *record_dir;
static const char *target_host, *target_port;

struct conn;
struct pipe_half {
	struct conn *c;
	int dir;
	int src, dst;
	FILE *rec;
};

struct conn {
	long id;
	int cfd, sfd;
	atomic_int live;              /* halves still running */
	atomic_bool reset;            /* a reset was injected: close both with RST, no FIN */
	struct pipe_half half[2];
};

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ss_relay: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* more: MSG_MORE, for bytes a FIN follows at once (the FIN then rides on
 * the same segment, see the header). */
static int write_all(int fd, const unsigned char *p, size_t n, bool more)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void conn_release(struct conn *c)
{
	if (atomic_fetch_sub(&c->live, 1) != 1)
		return;
	if (atomic_load(&c->reset)) {
		/* close() with a zero linger time sends RST instead of FIN */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(c->cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		setsockopt(c->sfd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	}
	close(c->cfd);
	close(c->sfd);
	for (int d = 0; d < 2; d++)
		if (c->half[d].rec)
			fclose(c->half[d].rec);
	logf_("conn %ld closed", c->id);
	free(c);
}

/* A frozen half: read nothing more from src (its sender's data backs up in
 * the kernel's buffers) until the client gives up: its FIN or RST on cfd
 * (POLLRDHUP sees the FIN without taking data), or the other half ended.
 * Never the server's FIN: a server that finished its answer and closed is
 * still a stalled reader's peer, its FIN queued behind the unread data. */
static void freeze(struct pipe_half *h)
{
	struct pollfd p = { .fd = h->c->cfd, .events = POLLRDHUP };

	while (atomic_load(&h->c->live) == 2 && !atomic_load(&h->c->reset)) {
		int r = poll(&p, 1, 50);
		if (r > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			break;
	}
}

/* Inject a reset: both ends get RST at conn_release; SHUT_RD wakes the other
 * half's recv (it returns 0, sends nothing) so both halves end now. */
static void inject_reset(struct conn *c)
{
	atomic_store(&c->reset, true);
	shutdown(c->cfd, SHUT_RD);
	shutdown(c->sfd, SHUT_RD);
}

/* Bytes --hold-*-from-chunk collects until the source's FIN. */
struct held {
	unsigned char *p;
	size_t len, cap;
	long long from;   /* stream offset of p[0] */
};

static void held_add(struct held *k, const unsigned char *p, size_t n)
{
	if (k->len + n > k->cap) {
		size_t cap = k->cap ? k->cap : 65536;
		while (cap < k->len + n)
			cap *= 2;
		unsigned char *q = realloc(k->p, cap);
		if (!q)
			abort();
		k->p = q;
		k->cap = cap;
	}
	memcpy(k->p + k->len, p, n);
	k->len += n;
}

/* The first stream offset where a byte-count fault stops forwarding, -1 = none. */
static long long fault_limit(const struct fault *f)
{
	const long long v[] = { f->truncate, f->stall, f->freeze, f->reset };
	long long limit = -1;

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		if (v[i] >= 0 && (limit < 0 || v[i] < limit))
			limit = v[i];
	return limit;
}

/* The source's EOF: what was held goes on in one send, the FIN on its segment. */
static void release_held(struct pipe_half *h, struct held *k)
{
	if (write_all(h->dst, k->p, k->len, true) < 0)
		logf_("conn %ld %s write: %s", h->c->id, dir_name[h->dir], strerrorname_np(errno));
	shutdown(h->dst, SHUT_WR);
	logf_("conn %ld %s released %zu held bytes (from offset %lld) with FIN behind", h->c->id,
	      dir_name[h->dir], k->len, k->from);
}

static void *pump(void *arg)
{
	struct pipe_half *h = arg;
	const struct fault *f = &faults[h->dir];
	bool faulty = fault_conn == 0 || fault_conn == h->c->id;
	unsigned char buf[65536];
	long long off = 0;           /* stream offset of buf[0] */
	long long chunk = 0;         /* recv() calls that returned data */
	struct held held = { NULL, 0, 0, -1 };
	bool stopped = false;        /* truncated, stalled or FIN sent: drop the rest */
	bool frozen = false, reset = false;
	const char *why = "EOF";

	for (;;) {
		ssize_t r = recv(h->src, buf, sizeof buf, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			why = strerrorname_np(errno);
			break;
		}
		if (r == 0)
			break;
		chunk++;
		if (log_chunks)
			logf_("conn %ld %s chunk %lld: %zd bytes", h->c->id, dir_name[h->dir], chunk, r);
		if (h->rec) {
			fwrite(buf, 1, (size_t)r, h->rec);
			fflush(h->rec);
		}
		if (stopped) {
			off += r;
			continue;
		}
		size_t n = (size_t)r;
		if (faulty && f->flip >= off && f->flip < off + r) {
			buf[f->flip - off] ^= 0x01;
			logf_("conn %ld %s flipped byte at %lld", h->c->id, dir_name[h->dir], f->flip);
		}
		if (faulty && f->hold_from >= 0 && chunk >= f->hold_from) {
			if (held.from < 0) {
				held.from = off;
				logf_("conn %ld %s holding from chunk %lld (offset %lld)", h->c->id,
				      dir_name[h->dir], chunk, off);
			}
			held_add(&held, buf, n);
			off += r;
			continue;
		}
		if (faulty && f->delay_ms > 0 && chunk == f->delay_chunk) {
			logf_("conn %ld %s delaying chunk %lld by %lld ms", h->c->id, dir_name[h->dir], chunk, f->delay_ms);
			struct timespec ts = { f->delay_ms / 1000, (f->delay_ms % 1000) * 1000000L };
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
		}
		bool fin_now = faulty && f->fin_chunk == chunk;
		long long limit = faulty ? fault_limit(f) : -1;
		if (limit >= 0 && off + r > limit) {
			n = (size_t)(limit > off ? limit - off : 0);
			stopped = true;
		}
		if (n > 0 && write_all(h->dst, buf, n, fin_now) < 0) {
			why = "write error";
			logf_("conn %ld %s write: %s", h->c->id, dir_name[h->dir], strerrorname_np(errno));
			break;
		}
		off += r;
		if (fin_now) {
			shutdown(h->dst, SHUT_WR);
			stopped = true;
			logf_("conn %ld %s FIN after chunk %lld (%lld bytes)", h->c->id, dir_name[h->dir],
			      chunk, off);
			continue;
		}
		if (stopped && faulty && f->reset == limit) {
			logf_("conn %ld %s reset (RST both ways) after %lld bytes", h->c->id, dir_name[h->dir], limit);
			inject_reset(h->c);
			reset = true;
			why = "reset injected";
			break;
		}
		if (stopped && faulty && f->freeze == limit) {
			logf_("conn %ld %s frozen after %lld bytes (%lld read)", h->c->id, dir_name[h->dir], limit, off);
			freeze(h);
			frozen = true;
			why = "frozen";
			break;
		}
		if (stopped) {
			if (faulty && f->truncate >= 0 && f->truncate == limit) {
				shutdown(h->dst, SHUT_WR);
				logf_("conn %ld %s truncated (FIN) after %lld bytes", h->c->id,
				      dir_name[h->dir], limit);
			} else {
				logf_("conn %ld %s stalled after %lld bytes", h->c->id,
				      dir_name[h->dir], limit);
			}
		}
	}
	logf_("conn %ld %s end (%s) after %lld bytes", h->c->id, dir_name[h->dir], why, off);
	if (reset || atomic_load(&h->c->reset)) {
		;   /* conn_release sends the RSTs */
	} else if (frozen) {
		shutdown(h->dst, SHUT_WR);   /* what got through, then FIN: no close_notify */
	} else if (!strcmp(why, "EOF")) {
		if (held.from >= 0)
			release_held(h, &held);
		else if (!stopped)
			shutdown(h->dst, SHUT_WR);
	} else {
		/* The source reset: pass the reset on so the other end sees it too. */
		if (held.from >= 0)
			logf_("conn %ld %s dropped %zu held bytes", h->c->id, dir_name[h->dir], held.len);
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(h->dst, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		shutdown(h->dst, SHUT_RDWR);
		shutdown(h->src, SHUT_RDWR);
	}
	free(held.p);
	conn_release(h->c);
	return NULL;
}

static int connect_target(void)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(target_host, target_port, &hints, &ai);
	if (rc != 0) {
		logf_("target %s:%s: %s", target_host, target_port, gai_strerror(rc));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		logf_("connect target: %s", strerrorname_np(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static FILE *open_record(long id, const char *dir)
{
	if (!record_dir)
		return NULL;
	char path[4096];
	snprintf(path, sizeof path, "%s/conn-%ld.%s", record_dir, id, dir);
	FILE *f = fopen(path, "wb");
	if (!f)
		logf_("%s: %s", path, strerror(errno));
	return f;
}

static long long num_arg(const char *s)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 0);
	if (errno || *end || v < 0) {
		fprintf(stderr, "ss_relay: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

/* A chunk number: 1 is the first recv() of a direction. */
static long long chunk_arg(const char *s)
{
	long long v = num_arg(s);
	if (v < 1) {
		fprintf(stderr, "ss_relay: chunks count from 1 ('%s')\n", s);
		exit(2);
	}
	return v;
}

static void usage(void)
{
	fprintf(stderr, "usage: ss_relay [--record DIR] [--port-file F] [--flip-c2s|--flip-s2c OFF]\n"
	                "       [--truncate-c2s|--truncate-s2c N] [--stall-c2s|--stall-s2c N]\n"
	                "       [--freeze-c2s|--freeze-s2c N] [--reset-c2s|--reset-s2c N]\n"
	                "       [--fin-c2s-chunk|--fin-s2c-chunk K]\n"
	                "       [--hold-c2s-from-chunk|--hold-s2c-from-chunk K] [--log-chunks]\n"
	                "       [--delay-c2s-ms|--delay-s2c-ms MS] [--delay-c2s-chunk|--delay-s2c-chunk K]\n"
	                "       [--fault-conn K] LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT\n");
	exit(2);
}

/* The options into the globals (and *port_file); returns the index of
 * LISTEN_HOST. */
static int parse_opts(int argc, char **argv, const char **port_file)
{
	int i = 1;
	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		const char *o = argv[i];
		if (!strcmp(o, "--")) {
			i++;
			break;
		}
		if (!strcmp(o, "--log-chunks")) {
			log_chunks = true;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (!strcmp(o, "--record"))
			record_dir = v;
		else if (!strcmp(o, "--port-file"))
			*port_file = v;
		else if (!strcmp(o, "--flip-c2s"))
			faults[DIR_C2S].flip = num_arg(v);
		else if (!strcmp(o, "--flip-s2c"))
			faults[DIR_S2C].flip = num_arg(v);
		else if (!strcmp(o, "--truncate-c2s"))
			faults[DIR_C2S].truncate = num_arg(v);
		else if (!strcmp(o, "--truncate-s2c"))
			faults[DIR_S2C].truncate = num_arg(v);
		else if (!strcmp(o, "--stall-c2s"))
			faults[DIR_C2S].stall = num_arg(v);
		else if (!strcmp(o, "--stall-s2c"))
			faults[DIR_S2C].stall = num_arg(v);
		else if (!strcmp(o, "--freeze-c2s"))
			faults[DIR_C2S].freeze = num_arg(v);
		else if (!strcmp(o, "--freeze-s2c"))
			faults[DIR_S2C].freeze = num_arg(v);
		else if (!strcmp(o, "--reset-c2s"))
			faults[DIR_C2S].reset = num_arg(v);
		else if (!strcmp(o, "--reset-s2c"))
			faults[DIR_S2C].reset = num_arg(v);
		else if (!strcmp(o, "--fin-c2s-chunk"))
			faults[DIR_C2S].fin_chunk = chunk_arg(v);
		else if (!strcmp(o, "--fin-s2c-chunk"))
			faults[DIR_S2C].fin_chunk = chunk_arg(v);
		else if (!strcmp(o, "--delay-c2s-ms"))
			faults[DIR_C2S].delay_ms = chunk_arg(v);
		else if (!strcmp(o, "--delay-s2c-ms"))
			faults[DIR_S2C].delay_ms = chunk_arg(v);
		else if (!strcmp(o, "--delay-c2s-chunk"))
			faults[DIR_C2S].delay_chunk = chunk_arg(v);
		else if (!strcmp(o, "--delay-s2c-chunk"))
			faults[DIR_S2C].delay_chunk = chunk_arg(v);
		else if (!strcmp(o, "--hold-c2s-from-chunk"))
			faults[DIR_C2S].hold_from = chunk_arg(v);
		else if (!strcmp(o, "--hold-s2c-from-chunk"))
			faults[DIR_S2C].hold_from = chunk_arg(v);
		else if (!strcmp(o, "--fault-conn"))
			fault_conn = (long)num_arg(v);
		else
			usage();
	}
	for (int d = 0; d < 2; d++)
		if ((faults[d].fin_chunk >= 0 || faults[d].hold_from >= 0) &&
		    (fault_limit(&faults[d]) >= 0 || (faults[d].fin_chunk >= 0 && faults[d].hold_from >= 0))) {
			/* which would win would be an accident of pump's order */
			fprintf(stderr, "ss_relay: --fin-%s-chunk / --hold-%s-from-chunk combine with no other "
			        "fault of that direction but --flip\n", dir_name[d], dir_name[d]);
			exit(2);
		}
	return i;
}

int main(int argc, char **argv)
{
	const char *port_file = NULL;
	int i = parse_opts(argc, argv, &port_file);
	if (argc - i != 4)
		usage();
	const char *lhost = argv[i], *lport = argv[i + 1];
	target_host = argv[i + 2];
	target_port = argv[i + 3];
	signal(SIGPIPE, SIG_IGN);

	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	                          .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(lhost, lport, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "ss_relay: %s:%s: %s\n", lhost, lport, gai_strerror(rc));
		return 1;
	}
	int lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(lfd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(lfd, 64) < 0) {
		fprintf(stderr, "ss_relay: listen %s:%s: %s\n", lhost, lport, strerror(errno));
		return 1;
	}
	freeaddrinfo(ai);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	getsockname(lfd, (struct sockaddr *)&ss, &sl);
	unsigned port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                               : ((struct sockaddr_in *)&ss)->sin_port);
	if (port_file) {
		char tmp[4096];
		snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
		FILE *pf = fopen(tmp, "w");
		if (!pf || fprintf(pf, "%u\n", port) < 0 || fclose(pf) != 0 || rename(tmp, port_file) < 0) {
			fprintf(stderr, "ss_relay: %s: %s\n", port_file, strerror(errno));
			return 1;
		}
	}
	printf("listening %u\n", port);
	fflush(stdout);

	for (long id = 1;; id++) {
		int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED) {
				id--;
				continue;
			}
			fprintf(stderr, "ss_relay: accept: %s\n", strerror(errno));
			return 1;
		}
		int sfd = connect_target();
		if (sfd < 0) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };
			setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
			close(cfd);
			continue;
		}
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct conn *c = calloc(1, sizeof *c);
		if (!c)
			abort();
		c->id = id;
		c->cfd = cfd;
		c->sfd = sfd;
		atomic_init(&c->live, 2);
		atomic_init(&c->reset, false);
		c->half[DIR_C2S] = (struct pipe_half){ c, DIR_C2S, cfd, sfd, open_record(id, "c2s") };
		c->half[DIR_S2C] = (struct pipe_half){ c, DIR_S2C, sfd, cfd, open_record(id, "s2c") };
		logf_("conn %ld accepted", id);
		for (int d = 0; d < 2; d++) {
			pthread_t t;
			pthread_attr_t at;
			pthread_attr_init(&at);
			pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
			if (pthread_create(&t, &at, pump, &c->half[d]) != 0)
				abort();
			pthread_attr_destroy(&at);
		}
	}
}
