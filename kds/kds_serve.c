/* kds_serve.c — the service's poll loop: non-blocking listeners and
 * clients, one bounded request buffer and one answer buffer per client,
 * an idle timeout, requests answered one at a time per connection (a
 * client may send many on one connection).
 *
 * Every client must arrive on a connection the preload secured with mutual
 * authentication (issue 15: "the KDS listens only on secured, mutually
 * authenticated connections"): the identity the answer depends on is what
 * secsock_query(fd) says the peer proved.  A connection that is not
 * secured, or not mutual, is closed without an answer. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kds.h"
#include "secsock.h"

#pragma weak secsock_query

struct conn {
	int fd;
	size_t in_len, out_len, out_off;
	int64_t deadline;               /* ms, monotonic */
	uint8_t in[SS_KDS_REQ_MAX];
	uint8_t out[SS_KDS_HDR + 5 + SS_GKDI_ENV_MAX];
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int listen_on(const char *addr)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	size_t hl = colon ? (size_t)(colon - addr) : 0;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
	int fd = -1, one = 1;

	if (!colon || hl >= sizeof host)
		return -1;
	if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']')
		memcpy(host, addr + 1, hl - 2), host[hl - 2] = '\0';
	else
		memcpy(host, addr, hl), host[hl] = '\0';
	if (getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai) != 0)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	                bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0)) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static void drop(struct conn *c, const char *why)
{
	if (why)
		fprintf(stderr, "secsock kds: fd %d closed: %s\n", c->fd, why);
	close(c->fd);
	c->fd = -1;
}

/* The peer's proved identity, or NULL when the connection may not ask. */
static const char *peer_identity(int fd, struct secsock_info *info)
{
	if (secsock_query(fd, info) != 0 || !(info->flags & SECSOCK_INFO_SECURED) ||
	    !(info->flags & SECSOCK_INFO_MUTUAL))
		return NULL;
	return info->peer_fingerprint[0] ? info->peer_fingerprint : info->peer;
}

/* A whole frame is in c->in: answer it into c->out. */
static void answer(const struct kds_config *cfg, const struct kds_store *st, struct conn *c,
                   size_t frame_len)
{
	struct secsock_info info;
	const char *id = peer_identity(c->fd, &info);
	ss_kds_code code;
	ss_kds_req r;

	if (!id) {
		drop(c, "not a secured, mutually authenticated connection: no answer");
		return;
	}
	if (kds_answer(cfg, st, id, c->in, frame_len, kds_nttime_now(), c->out, sizeof c->out,
	               &c->out_len, &code) != SS_OK) {
		drop(c, "answer failed");
		return;
	}
	if (ss_kds_req_parse(c->in, frame_len, &r, NULL, 0) == SS_OK)
		fprintf(stderr, "secsock kds: peer=%s auth=%s group=%s gkid=%d,%d,%d status=%s\n", id,
		        info.auth, r.group, (int)r.gkid.l0, (int)r.gkid.l1, (int)r.gkid.l2,
		        ss_kds_code_name(code));
	c->out_off = 0;
	memmove(c->in, c->in + frame_len, c->in_len - frame_len);
	c->in_len -= frame_len;
}

/* Answer the frame at the start of c->in, if a whole one is there. */
static void process(const struct kds_config *cfg, const struct kds_store *st, struct conn *c)
{
	ss_kds_type t;
	const uint8_t *body;
	size_t bl, fl;
	ss_status s = ss_kds_frame(c->in, c->in_len, &t, &body, &bl, &fl, NULL, 0);
	if (s == SS_DECODE_ERROR || (s == SS_INCOMPLETE_MESSAGE && c->in_len == sizeof c->in) ||
	    (s == SS_OK && (t != SS_KDS_T_GET_KEY || fl > sizeof c->in))) {
		drop(c, "not a KDS request");
		return;
	}
	if (s == SS_OK)
		answer(cfg, st, c, fl);
}

static void on_readable(const struct kds_config *cfg, const struct kds_store *st, struct conn *c)
{
	ssize_t n = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		drop(c, NULL);
		return;
	}
	if (n > 0)
		c->in_len += (size_t)n;
	process(cfg, st, c);
}

static void on_writable(const struct kds_config *cfg, const struct kds_store *st, struct conn *c)
{
	ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		drop(c, NULL);
		return;
	}
	if (n > 0)
		c->out_off += (size_t)n;
	if (c->out_off == c->out_len) {
		c->out_len = c->out_off = 0;
		c->deadline = now_ms() + cfg->timeout_ms;
		/* a pipelined request may already be buffered */
		if (c->in_len)
			process(cfg, st, c);
	}
}

static void accept_all(int lfd, struct conn *conns, int max, int timeout_ms)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), i;
		if (fd < 0)
			return;
		for (i = 0; i < max && conns[i].fd >= 0; i++)
			;
		if (i == max) {
			fprintf(stderr, "secsock kds: %d clients already: refusing one\n", max);
			close(fd);
			continue;
		}
		conns[i].fd = fd;
		conns[i].in_len = conns[i].out_len = conns[i].out_off = 0;
		conns[i].deadline = now_ms() + timeout_ms;
	}
}

static int open_listeners(const struct kds_config *cfg, struct pollfd *pf)
{
	for (size_t i = 0; i < cfg->n_listen; i++) {
		pf[i].fd = listen_on(cfg->listen[i]);
		pf[i].events = POLLIN;
		if (pf[i].fd < 0) {
			fprintf(stderr, "secsock kds: cannot listen on %s: %s\n", cfg->listen[i],
			        strerror(errno));
			while (i--)
				close(pf[i].fd);
			return -1;
		}
		fprintf(stderr, "secsock kds: listening on %s\n", cfg->listen[i]);
	}
	return 0;
}

int kds_serve(const struct kds_config *cfg, const struct kds_store *st)
{
	size_t nl = cfg->n_listen, max = (size_t)cfg->max_clients;
	struct pollfd *pf = calloc(nl + max, sizeof *pf);
	struct conn *conns = calloc(max, sizeof *conns);
	struct sigaction sa = { .sa_handler = on_signal };

	if (!pf || !conns || open_listeners(cfg, pf) != 0) {
		free(pf);
		free(conns);
		return 1;
	}
	for (size_t i = 0; i < max; i++)
		conns[i].fd = -1;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	while (!stop) {
		int64_t t = now_ms();
		for (size_t i = 0; i < max; i++) {
			struct conn *c = &conns[i];
			if (c->fd >= 0 && !c->out_len && t > c->deadline)
				drop(c, "idle timeout");
			pf[nl + i].fd = c->fd;
			pf[nl + i].events = c->out_len ? POLLOUT : POLLIN;
			pf[nl + i].revents = 0;
		}
		if (poll(pf, nl + max, 500) < 0 && errno != EINTR)
			break;
		for (size_t i = 0; i < nl; i++)
			if (pf[i].revents & POLLIN)
				accept_all(pf[i].fd, conns, (int)max, cfg->timeout_ms);
		for (size_t i = 0; i < max; i++) {
			short ev = pf[nl + i].revents;
			if (conns[i].fd < 0 || pf[nl + i].fd < 0 || !ev)
				continue;
			if (conns[i].out_len && (ev & (POLLOUT | POLLERR | POLLHUP)))
				on_writable(cfg, st, &conns[i]);
			else if (!conns[i].out_len && (ev & (POLLIN | POLLERR | POLLHUP)))
				on_readable(cfg, st, &conns[i]);
		}
	}
	for (size_t i = 0; i < max; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	for (size_t i = 0; i < nl; i++)
		close(pf[i].fd);
	free(pf);
	free(conns);
	fprintf(stderr, "secsock kds: stopped\n");
	return 0;
}
