/* pre_connect.c — the client side: connect() under policy, the handshake
 * before connect returns, and negotiation discovery's clear fallback
 * (ARCHITECTURE.md "Negotiation discovery").
 *
 * A non-blocking connect whose outcome cannot change the descriptor — a
 * `require` rule, or a peer the discovery cache knows speaks secsock —
 * returns EINPROGRESS like a plain one and handshakes in the background
 * (issue 5 "Connect without stalling"): the engine thread (pre_engine.c) and
 * the program's own reads drive pre_connect_bg_step(); writes made before it
 * completes are held (pre_io.c) and sealed in order once it does; a failure
 * is reported by getsockopt(SO_ERROR) as ECONNREFUSED (ETIMEDOUT on timeout)
 * and by later reads and writes.  A first contact under `request` still
 * completes the handshake here and returns 0, which POSIX allows ("connect
 * may complete immediately"): a clear fallback may have to replace the
 * socket, which cannot happen behind the program's back.  The clear
 * fallback replaces the probe socket with a fresh one carrying the
 * program's recorded options, bind address and flags (dup3 onto its fd
 * number), so the program never sees the probe.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "pre_api.h"
#include "pre_connect.h"
#include "pre_creds.h"
#include "pre_discovery.h"
#include "pre_engine.h"
#include "pre_handshake.h"
#include "pre_io.h"
#include "pre_log.h"
#include "pre_ready.h"
#include "pre_sock.h"
#include "pre_status.h"
#include "pre_sym.h"

/* The log's reason when the server closed or reset mid-handshake. */
#define PEER_GONE "connection closed or reset by peer"

int pre_is_tcp(int fd, int *domain)
{
	int v = 0;
	socklen_t l = sizeof v;

	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_PROTOCOL, &v, &l) < 0 || v == 0 ||
	    !pre_proto_is_tcp(v))
		return 0;
	l = sizeof v;
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) < 0 || (v != AF_INET && v != AF_INET6))
		return 0;
	*domain = v;
	return 1;
}

static void addrs(int fd, const struct sockaddr *remote, socklen_t rlen, char *l, char *r)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;

	memset(&ss, 0, sizeof ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		ss.ss_family = AF_UNSPEC;
	pre_log_addr(&ss, l, 80);
	memset(&ss, 0, sizeof ss);
	memcpy(&ss, remote, rlen < sizeof ss ? rlen : sizeof ss);
	pre_log_addr(&ss, r, 80);
}

/* Wait for a non-blocking connect to finish: 0 connected, -1 errno. */
static int finish_tcp_connect(int fd, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - pre_now_ms();
		int r, err = 0;
		socklen_t l = sizeof err;

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = pre_wire_wait(fd, POLLOUT, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			continue;
		if (REAL(getsockopt)(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
			return -1;
		if (err) {
			errno = err;
			return -1;
		}
		return 0;
	}
}

/* Replace the probe with a fresh clear connection on the same fd number. */
static int clear_fallback(struct pre_conn *c, int fd, const struct sockaddr *addr, socklen_t len)
{
	int fl = REAL(fcntl)(fd, F_GETFL), fdfl = REAL(fcntl)(fd, F_GETFD), nfd, saved;
	struct pre_opt *o;

	nfd = REAL(socket)(c->domain, SOCK_STREAM | (fl >= 0 && (fl & O_NONBLOCK) ? SOCK_NONBLOCK : 0),
	                   c->protocol);
	if (nfd < 0)
		return -1;
	for (o = c->opts; o; o = o->next)
		REAL(setsockopt)(nfd, o->level, o->name, o->len ? o->val : NULL, o->len);
	/* RST the probe (SO_LINGER 0) so its port is free for a recorded bind
	 * and the plain server sees a reset, not a FIN after garbage. */
	pre_reset(fd);
	if (REAL(dup3)(nfd, fd, fdfl >= 0 && (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
		saved = errno;
		REAL(close)(nfd);
		errno = saved;
		return -1;
	}
	REAL(close)(nfd);
	if (c->bound && REAL(bind)(fd, (const struct sockaddr *)c->bound, c->bound_len) < 0)
		return -1;
	return REAL(connect)(fd, addr, len);
}

/* errno for a refusal; logs the line tests grep for. */
static int refuse(int fd, const char *l, const char *r, const char *rule, const char *why, int err)
{
	struct pre_event ev = { .name = PRE_EV_REFUSED, .dir = "outbound", .peer = r, .rule = rule, .reason = why };
	pre_event(PRE_LOG_WARN, &ev, "refused outbound %s -> %s rule=%s reason=\"%s\"", l, r, rule, why);
	if (pre_fd_peek(fd))
		pre_status_refused(pre_fd_peek(fd), l, r);
	pre_fd_forget(fd);
	errno = err;
	return -1;
}

/* The peer "does not speak secsock" when it answered with something else,
 * an alert, a reset or EOF (SS_IO_ERROR), or (the caller's test) nothing
 * within allow-clear-after.  A peer that did speak secsock and then failed
 * authentication is not retried in clear, and require never falls back. */
static int not_secsock(ss_status st)
{
	ss_status_category cat = ss_status_category_of(st);
	return st == SS_NOT_SECSOCK || cat == SS_CAT_PROTOCOL || cat == SS_CAT_ALERT ||
	       cat == SS_CAT_CLOSED;
}

/* One connect() of a governed socket, as it goes through the four steps. */
struct attempt {
	const struct sockaddr *addr;
	socklen_t len;
	pol_decision d;
	int action, saw_reply;
	int64_t t0, deadline, first_deadline;
	struct sockaddr_storage peer;
	char l[80], r[80];
	struct pre_hs_end end;
};

/* Decide: the policy's action for this peer.  1 when connect() ends here
 * (*rc its result: blocked, bypassed, a known clear peer, no credential);
 * 0 when the connection is to be secured, c set up for it. */
static int decide(struct pre_conn *c, int fd, struct attempt *a, int *rc)
{
	const pol_policy *pol = pre_policy();
	pol_query q;
	char why[160] = "";

	if (!pol) {
		addrs(fd, a->addr, a->len, a->l, a->r);
		*rc = refuse(fd, a->l, a->r, "none", "policy failed to load (fail closed)", ECONNREFUSED);
		return 1;
	}
	memset(&q, 0, sizeof q);
	q.protocol = POL_PROTO_TCP;
	q.direction = POL_DIR_OUTBOUND;
	q.remote = a->peer;
	q.port = ntohs(a->addr->sa_family == AF_INET ? ((const struct sockaddr_in *)a->addr)->sin_port
	                                             : ((const struct sockaddr_in6 *)a->addr)->sin6_port);
	q.program = pre_program();
	pol_decide(pol, &q, &a->d);
	a->action = a->d.action;
	/* secsock_set_security without ALLOW_INSECURE: nothing of this socket
	 * goes clear, so a fall back (request, respond) or a bypass becomes
	 * require; block still wins.  A program may strengthen the policy,
	 * never weaken it (docs/api.md). */
	if (pre_app_strict(c->app_sec) && a->action != POL_BLOCK)
		a->action = POL_REQUIRE;

	if (a->action == POL_BLOCK) {
		addrs(fd, a->addr, a->len, a->l, a->r);
		struct pre_event ev = { .name = PRE_EV_BLOCKED, .dir = "outbound", .peer = a->r, .rule = a->d.rule_name };
		pre_event(PRE_LOG_WARN, &ev, "blocked outbound %s -> %s rule=%s", a->l, a->r, a->d.rule_name);
		pre_status_decided(fd, 1, a->d.rule_name, POL_BLOCK, 1);
		errno = EACCES;
		*rc = -1;
		return 1;
	}
	if (a->action == POL_BYPASS || a->action == POL_RESPOND) {
		/* respond: initiate in clear (ARCHITECTURE.md policy actions). */
		pre_fd_forget(fd);
		*rc = REAL(connect)(fd, a->addr, a->len);
		if (*rc == 0 || errno == EINPROGRESS) {
			int e = errno;
			pre_status_decided(fd, 1, a->d.rule_name, a->action, 0);
			errno = e;
		}
		if (pre_log_level >= PRE_LOG_DEBUG) {
			int e = errno;
			addrs(fd, a->addr, a->len, a->l, a->r);
			struct pre_event ev = { .name = PRE_EV_BYPASS, .dir = "outbound", .peer = a->r,
			                        .rule = a->d.rule_name };
			pre_event(PRE_LOG_DEBUG, &ev, "bypass outbound %s -> %s rule=%s", a->l, a->r, a->d.rule_name);
			errno = e;
		}
		return 1;
	}
	if (a->action == POL_REQUEST && pre_discovery_is_clear(&a->peer, true)) {
		pre_fd_forget(fd);
		*rc = REAL(connect)(fd, a->addr, a->len);
		int e = errno;
		addrs(fd, a->addr, a->len, a->l, a->r);
		struct pre_event ev = { .name = PRE_EV_CLEAR, .dir = "outbound", .peer = a->r, .rule = a->d.rule_name,
		                        .reason = "discovery cache: known clear peer" };
		pre_discovery_clear(&a->peer, true, a->d.settings, PRE_DISC_CACHED, true, &ev, a->l);
			pre_status_decided(fd, 1, a->d.rule_name, a->action, 0);
		errno = e;
		return 1;
	}

	/* request / require: secure before connect returns */
	if (pre_crypto_init() < 0) {
		addrs(fd, a->addr, a->len, a->l, a->r);
		*rc = refuse(fd, a->l, a->r, a->d.rule_name, "crypto library failed to initialise", ECONNREFUSED);
		return 1;
	}
	c->cred = pre_creds_get(a->d.settings, SS_CRED_OUTBOUND, why, sizeof why);
	if (!c->cred) {
		addrs(fd, a->addr, a->len, a->l, a->r);
		*rc = refuse(fd, a->l, a->r, a->d.rule_name, why, ECONNREFUSED);
		return 1;
	}
	c->set = a->d.settings;
	c->rule = a->d.rule_name;
	c->dir = POL_DIR_OUTBOUND;
	c->action = (uint8_t)a->action;
	return 0;
}

/* Connect: the TCP connection, with rx_lock and tx_lock held from here on.
 * A non-blocking connect whose outcome cannot change the descriptor (see
 * the top of this file) hands the handshake to the background and ends
 * connect() (1, *rc); so does a TCP connection that failed (the kernel's
 * answer, the state NEW again).  0: connected, the handshake is driven here. */
static int connect_tcp(struct pre_conn *c, int fd, struct attempt *a, int *rc)
{
	const pol_settings *s = a->d.settings;
	int fl = REAL(fcntl)(fd, F_GETFL), nb = fl >= 0 && (fl & O_NONBLOCK);
	int known = pre_discovery_is_secsock(&a->peer), open = 0;
	int bg = nb && (a->action == POL_REQUIRE || known);

	c->peer_addr = a->peer;

	/* First contact under request ("First contact" in docs/design.md):
	 * never held in connect — the peer may be waiting for the program (an
	 * FTP data connection) — but decided in the background, the
	 * ClientHello held back until the program's first write or
	 * first-contact-wait, whichever comes first. */
	if (!bg && a->action == POL_REQUEST)
		bg = open = 1;

	pthread_mutex_lock(&c->rx_lock);
	pthread_mutex_lock(&c->tx_lock);
	pre_conn_set_state(c, PRE_CONNECTING);
	a->t0 = pre_now_ms();
	a->deadline = a->t0 + (int64_t)s->handshake_timeout_ms;   /* at least 1 ms: pol_keys.h */
	a->first_deadline = a->deadline;
	if (a->action == POL_REQUEST && s->allow_clear_after_ms &&
	    a->t0 + (int64_t)s->allow_clear_after_ms < a->deadline)
		a->first_deadline = a->t0 + (int64_t)s->allow_clear_after_ms;

	*rc = REAL(connect)(fd, a->addr, a->len);
	if (bg && (*rc == 0 || errno == EINPROGRESS)) {
		/* The handshake goes on without the program: EINPROGRESS (or 0,
		 * a blocking connect whose TCP connection is up). */
		int was = *rc;
		c->bg = 1;
		c->bg_open = (uint8_t)open;
		c->bg_lazy = (uint8_t)(open && !known);
		c->bg_reply = 0;
		c->bg_lazy_ms = a->t0 + (int64_t)s->first_contact_wait_ms;
		c->bg_clear_ms = a->action == POL_REQUEST && s->allow_clear_after_ms ? a->first_deadline : 0;
		c->deadline_ms = a->deadline;
		if (pre_engine_arm(c, fd, EPOLLOUT) == 0) {
			if (!open)
				pre_ready_bg_start(c);   /* not writable to the program until it ends */
			pthread_mutex_unlock(&c->tx_lock);
			pthread_mutex_unlock(&c->rx_lock);
			pre_log(PRE_LOG_DEBUG, "fd %d: %s continues in the background", fd,
			        c->bg_lazy ? "first contact" : "handshake");
			*rc = was;
			if (was < 0)
				errno = EINPROGRESS;
			return 1;
		}
		c->bg = c->bg_open = c->bg_lazy = 0;   /* no engine: handshake here */
		if (was < 0)
			errno = EINPROGRESS;
	}
	if (*rc < 0 && (errno == EINPROGRESS || errno == EINTR))
		*rc = finish_tcp_connect(fd, a->deadline);
	if (*rc < 0) {
		/* No TCP connection at all: the program gets the kernel's answer. */
		int e = errno;
		pre_conn_set_state(c, PRE_NEW);
		ss_cred_free(c->cred);
		c->cred = NULL;
		pthread_mutex_unlock(&c->tx_lock);
		pthread_mutex_unlock(&c->rx_lock);
		errno = e;
		return 1;
	}
	addrs(fd, a->addr, a->len, a->l, a->r);
	return 0;
}

/* Drive: the handshake, waiting here for the server's flights (the first
 * no longer than allow-clear-after under request).  0 secured, -1 not
 * (a->end says why). */
static int drive(struct pre_conn *c, int fd, struct attempt *a)
{
	for (;;) {
		int hs = pre_hs_drive(c, fd, a->deadline, &a->end);
		if (hs == PRE_HS_DONE)
			return 0;
		if (hs == PRE_HS_FAIL)
			return -1;
		int64_t until = a->saw_reply ? a->deadline : a->first_deadline;
		int64_t left = until - pre_now_ms();
		int w = left > 0 ? pre_wire_wait(fd, POLLIN | POLLRDHUP, left) : 0;
		if (w == 0) {
			a->end.st = SS_TIMEOUT;
			snprintf(a->end.why, sizeof a->end.why, "no secsock reply within %lldms",
			         (long long)(until - a->t0));
			return -1;
		}
		if (w < 0 && errno != EINTR) {
			a->end.st = SS_IO_ERROR;
			a->end.err = errno;
			snprintf(a->end.why, sizeof a->end.why, "%s", strerror(errno));
			return -1;
		}
		a->saw_reply = 1;
	}
}

/* Fall back: a request to a peer that does not speak secsock (silence
 * within allow-clear-after counts) goes clear on a fresh socket; anything
 * else is refused.  Releases the locks. */
static int fall_back(struct pre_conn *c, int fd, struct attempt *a)
{
	const struct pre_hs_end *end = &a->end;
	char msg[240];
	int rc;

	if (a->action == POL_REQUEST && (not_secsock(end->st) || (end->st == SS_TIMEOUT && !a->saw_reply))) {
		ss_ctx_free(c->ctx);
		c->ctx = NULL;
		ss_cred_free(c->cred);
		c->cred = NULL;
		rc = clear_fallback(c, fd, a->addr, a->len);
		int e = errno;
		pre_conn_set_state(c, PRE_CLEAR);
		pthread_mutex_unlock(&c->tx_lock);
		pthread_mutex_unlock(&c->rx_lock);
		/* Only an answer in clear is evidence; a reset, EOF or silence
		 * can come from anyone on the path (pre_discovery.h). */
		snprintf(msg, sizeof msg, "peer does not speak secsock: %s", end->why);
		struct pre_event ev = { .name = PRE_EV_CLEAR, .dir = "outbound", .peer = a->r, .rule = a->d.rule_name,
		                        .reason = msg };
		pre_discovery_clear(&a->peer, true, a->d.settings,
		                    end->st == SS_NOT_SECSOCK ? PRE_DISC_PROVEN : PRE_DISC_UNPROVEN, true, &ev, a->l);
		pre_fd_forget(fd);
		errno = e;
		return rc;
	}
	pre_hs_abandon(c, fd, 0);
	pthread_mutex_unlock(&c->tx_lock);
	pthread_mutex_unlock(&c->rx_lock);
	snprintf(msg, sizeof msg, "%s: %s", a->action == POL_REQUIRE ? "require" : "request", end->why);
	return refuse(fd, a->l, a->r, a->d.rule_name, msg,
	              end->st == SS_TIMEOUT ? ETIMEDOUT : ECONNREFUSED);
}

int pre_connect(struct pre_conn *c, int fd, const struct sockaddr *addr, socklen_t len)
{
	struct attempt a;
	int rc;

	memset(&a, 0, sizeof a);
	a.addr = addr;
	a.len = len;
	memcpy(&a.peer, addr, len < sizeof a.peer ? len : sizeof a.peer);
	if (decide(c, fd, &a, &rc) || connect_tcp(c, fd, &a, &rc))
		return rc;
	if (drive(c, fd, &a) < 0)
		return fall_back(c, fd, &a);
	pthread_mutex_unlock(&c->tx_lock);
	pthread_mutex_unlock(&c->rx_lock);
	pre_discovery_note_secsock(&a.peer);
	return 0;
}

/* ------------------------------------------------------------ background */

/* The background handshake failed: the program learns it from SO_ERROR
 * (and from its next read or write), never by talking in clear. */
static int bg_fail(struct pre_conn *c, int fd, int err, const char *why)
{
	char l[80], r[80], msg[240];
	struct sockaddr_storage peer;

	pre_log_names(fd, &c->peer_addr, l, r, &peer);
	pre_status_refused(c, l, r);
	pre_hs_abandon(c, fd, err);
	pre_engine_detach(c);
	if (peer.ss_family != AF_UNSPEC)
		pre_discovery_forget_secsock(&peer);   /* not known secsock any more: probe next time */
	snprintf(msg, sizeof msg, "%s: %s", c->action == POL_REQUIRE ? "require" : "request", why);
	struct pre_event ev = { .name = PRE_EV_REFUSED, .dir = "outbound", .peer = r,
	                        .rule = c->rule ? c->rule : "defaults", .reason = msg };
	pre_event(PRE_LOG_WARN, &ev, "refused outbound %s -> %s rule=%s reason=\"%s\"", l, r, ev.rule, msg);
	return -1;
}

/* Decided clear on this socket: what the program wrote while it was being
 * decided goes out first, in order (within the handshake's time, at least
 * 1 s), then the state is CLEAR.  reconnected: the clear retry's TCP
 * connect is waited for first, and a failure resets it.  0, or -1 (FAILED,
 * c->so_error set). */
static int clear_with_held(struct pre_conn *c, int fd, int reconnected)
{
	if (c->held_len) {
		int64_t left = c->deadline_ms - pre_now_ms(), until = pre_now_ms() + (left > 1000 ? left : 1000);
		if ((reconnected && finish_tcp_connect(fd, until) < 0) ||
		    pre_wire_send_all(fd, c->held, c->held_len, until) < 0) {
			c->so_error = errno ? errno : ECONNRESET;
			pre_io_drop_held(c);
			if (reconnected)
				pre_reset(fd);
			pre_conn_set_state(c, PRE_FAILED);
			pre_engine_detach(c);
			return -1;
		}
		pre_io_drop_held(c);
	}
	pre_conn_set_state(c, PRE_CLEAR);
	pre_engine_detach(c);
	return 0;
}

/* Under `request`, a background handshake with a peer that turns out not
 * to speak secsock (the "speaks secsock" entry that sent us here is stale:
 * the peer restarted without it) gets the clear connection the foreground
 * path would give it, not a refusal.  The probe is reset with
 * connect(AF_UNSPEC) (pre_reset: tcp_disconnect) and the same socket
 * connects again, so the program's descriptor, its duplicates and its
 * epoll registrations stay what they were — nothing is replaced behind
 * its back.  The program has seen nothing of the connection yet (not
 * writable, reads EAGAIN); what it wrote meanwhile is sent in clear, in
 * order, once TCP is up.  0 done (clear), -1 failed (SO_ERROR set). */
static int bg_clear(struct pre_conn *c, int fd, ss_status st, const char *why)
{
	char l[80], r[80];
	struct sockaddr_storage peer;
	struct linger lg = { 0, 0 };
	struct pre_opt *o;
	socklen_t plen;
	int rc;

	pre_log_names(fd, &c->peer_addr, l, r, &peer);
	if (peer.ss_family != AF_INET && peer.ss_family != AF_INET6) {
		peer = c->peer_addr;
		pre_log_addr(&peer, r, 80);
	}
	if (peer.ss_family != AF_INET && peer.ss_family != AF_INET6)
		return bg_fail(c, fd, ECONNREFUSED, why);
	plen = peer.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	ss_ctx_free(c->ctx);
	c->ctx = NULL;
	ss_cred_free(c->cred);
	c->cred = NULL;
	pre_reset(fd);
	/* pre_reset set SO_LINGER {1,0}; the program's own options come back. */
	REAL(setsockopt)(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	for (o = c->opts; o; o = o->next)
		REAL(setsockopt)(fd, o->level, o->name, o->len ? o->val : NULL, o->len);
	pre_set_lowat(c, fd, 1);
	/* Never a blocking connect here (this may be the engine thread): the
	 * kernel completes it; a blocking program's next call waits for it. */
	int fl = REAL(fcntl)(fd, F_GETFL);
	if (fl >= 0 && !(fl & O_NONBLOCK))
		REAL(fcntl)(fd, F_SETFL, fl | O_NONBLOCK);
	rc = REAL(connect)(fd, (const struct sockaddr *)&peer, plen);
	int ce = errno;
	if (fl >= 0 && !(fl & O_NONBLOCK))
		REAL(fcntl)(fd, F_SETFL, fl);
	errno = ce;
	if (rc < 0 && errno != EINPROGRESS) {
		c->so_error = errno;
		pre_io_drop_held(c);
		pre_conn_set_state(c, PRE_FAILED);
		pre_engine_detach(c);
		char msg[160];
		snprintf(msg, sizeof msg, "clear retry: %s", strerror(errno));
		struct pre_event ev = { .name = PRE_EV_REFUSED, .dir = "outbound", .peer = r,
		                        .rule = c->rule ? c->rule : "defaults", .reason = msg };
		pre_event(PRE_LOG_WARN, &ev, "refused outbound %s -> %s rule=%s reason=\"%s\"", l, r, ev.rule, msg);
		return -1;
	}
	if (clear_with_held(c, fd, 1) < 0)
		return -1;
	/* Corrects the entry at once: forgets "speaks secsock" (an answer in
	 * clear right after a secsock handshake counts as unproven). */
	char msg[240];
	snprintf(msg, sizeof msg, "peer does not speak secsock: %s", why);
	struct pre_event ev = { .name = PRE_EV_CLEAR, .dir = "outbound", .peer = r,
	                        .rule = c->rule ? c->rule : "defaults", .reason = msg };
	pre_discovery_clear(&peer, true, c->set, st == SS_NOT_SECSOCK ? PRE_DISC_PROVEN : PRE_DISC_UNPROVEN,
	                    true, &ev, l);
	return 0;
}

/* Has the peer sent anything (data or FIN) since our ClientHello? */
static int peer_said_something(struct pre_conn *c, int fd)
{
	char b;
	int e = errno;
	ssize_t n = REAL(recv)(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
		c->bg_reply = 1;
	errno = e;
	return c->bg_reply;
}

/* First contact under request, nothing sent yet: the peer spoke first (or
 * closed, or reset): it is not waiting for a ClientHello, so the
 * connection is clear as it stands — no probe, no second connection, not a
 * byte of ours in its stream.  What the program wrote meanwhile goes out
 * now, in order. */
static int lazy_clear(struct pre_conn *c, int fd, int spoke)
{
	char l[80], r[80];
	struct sockaddr_storage peer;

	pre_log_names(fd, &c->peer_addr, l, r, &peer);
	ss_ctx_free(c->ctx);
	c->ctx = NULL;
	ss_cred_free(c->cred);
	c->cred = NULL;
	if (clear_with_held(c, fd, 0) < 0)
		return -1;
	struct pre_event ev = { .name = PRE_EV_CLEAR, .dir = "outbound", .peer = r,
	                        .rule = c->rule ? c->rule : "defaults",
	                        .reason = spoke ? "peer does not speak secsock: it spoke first, in clear"
	                                        : "peer does not speak secsock: closed before our ClientHello" };
	pre_discovery_clear(&peer, true, c->set, spoke ? PRE_DISC_PROVEN : PRE_DISC_UNPROVEN, true, &ev, l);
	return 0;
}

/* 1: send the ClientHello now; 0: still waiting (or went clear); -1 failed. */
static int lazy_step(struct pre_conn *c, int fd)
{
	char b;
	int e = errno;
	ssize_t n = REAL(recv)(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
		errno = e;
		return lazy_clear(c, fd, n > 0);
	}
	errno = e;
	if (!c->held_len && pre_now_ms() < c->bg_lazy_ms) {
		pre_engine_arm(c, fd, EPOLLIN | EPOLLRDHUP);
		return 0;
	}
	c->bg_lazy = 0;
	if (c->bg_clear_ms && c->set && c->set->allow_clear_after_ms)
		c->bg_clear_ms = pre_now_ms() + (int64_t)c->set->allow_clear_after_ms;
	return 1;
}

static int bg_step(struct pre_conn *c, int fd);

/* Whoever drives the step (engine, read, write, readiness call): when the
 * handshake is over, the program's epoll registrations get their EPOLLOUT
 * back (pre_ready.c) — the socket is writable now, or failed. */
int pre_connect_bg_step(struct pre_conn *c, int fd)
{
	int r = bg_step(c, fd);

	if (atomic_load(&c->state) != PRE_CONNECTING)
		pre_ready_bg_done(c);
	return r;
}

static int bg_step(struct pre_conn *c, int fd)
{
	int st = atomic_load(&c->state);
	struct pre_hs_end end;

	if (st != PRE_CONNECTING || !c->bg)
		return st == PRE_FAILED ? -1 : 1;
	if (atomic_load(&c->fd_refs) == 0) {
		/* The program closed it mid-handshake: nothing was delivered, a
		 * reset is the honest ending. */
		pre_hs_abandon(c, fd, 0);
		pre_engine_detach(c);
		pre_log(PRE_LOG_INFO, "outbound handshake abandoned: the program closed the connection before it ended (the peer gets a reset)");
		return -1;
	}
	if (c->action == POL_REQUEST && !c->bg_lazy && !c->bg_reply && c->bg_clear_ms &&
	    pre_now_ms() >= c->bg_clear_ms && !peer_said_something(c, fd)) {
		char why[80];
		snprintf(why, sizeof why, "no secsock reply within %lldms",
		         (long long)(c->set ? c->set->allow_clear_after_ms : 0));
		return bg_clear(c, fd, SS_TIMEOUT, why);
	}
	if (pre_now_ms() >= c->deadline_ms)
		return bg_fail(c, fd, ETIMEDOUT, "handshake timeout");
	if (!c->ctx) {
		/* TCP connect still in flight? */
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int err = 0;
		socklen_t el = sizeof err;
		if (REAL(poll)(&p, 1, 0) == 0) {
			pre_engine_arm(c, fd, EPOLLOUT);
			return 0;
		}
		if (REAL(getsockopt)(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			err = errno;
		if (err) {
			/* the kernel's own answer (ECONNREFUSED, ETIMEDOUT, ...) */
			char why[120];
			snprintf(why, sizeof why, "connect: %s", strerror(err));
			return bg_fail(c, fd, err, why);
		}
	}
	if (c->bg_lazy) {
		int z = lazy_step(c, fd);
		if (z <= 0)
			return z < 0 ? -1 : atomic_load(&c->state) == PRE_CONNECTING ? 0 : 1;
	} else if (!c->bg_reply) {
		peer_said_something(c, fd);
	}
	int hs = pre_hs_drive(c, fd, c->deadline_ms, &end);
	if (hs == PRE_HS_FAIL) {
		if (c->action == POL_REQUEST && not_secsock(end.st))
			return bg_clear(c, fd, end.st, end.why);
		return bg_fail(c, fd, end.st == SS_TIMEOUT ? ETIMEDOUT : ECONNREFUSED, end.why);
	}
	if (hs == PRE_HS_MORE) {
		if (pre_engine_arm(c, fd, EPOLLIN | EPOLLRDHUP) < 0)
			return bg_fail(c, fd, ECONNREFUSED, "engine unavailable");
		return 0;
	}
	pre_discovery_note_secsock(&c->peer_addr);   /* where it connected, as connect() notes it */
	/* What the program wrote meanwhile, in order, before anything else. */
	if (pre_io_flush_held(c, fd) < 0)
		return -1;
	if (!c->tail_len)
		pre_engine_detach(c);
	return 1;
}

void pre_connect_bg_finish(struct pre_conn *c, int fd)
{
	pthread_mutex_lock(&c->rx_lock);
	pthread_mutex_lock(&c->tx_lock);
	c->bg_lazy_ms = 0;   /* the ClientHello goes now */
	while (atomic_load(&c->state) == PRE_CONNECTING && c->bg && pre_connect_bg_step(c, fd) == 0) {
		pthread_mutex_unlock(&c->tx_lock);
		pthread_mutex_unlock(&c->rx_lock);
		pre_wire_wait(fd, POLLIN | POLLRDHUP, 50);
		pthread_mutex_lock(&c->rx_lock);
		pthread_mutex_lock(&c->tx_lock);
	}
	pthread_mutex_unlock(&c->tx_lock);
	pthread_mutex_unlock(&c->rx_lock);
}

void pre_connect_finish_all(void)
{
	unsigned hi = atomic_load_explicit(&pre_fdtab_hi, memory_order_acquire);

	for (unsigned fd = 0; pre_fdtab && fd < hi; fd++) {
		struct pre_conn *c;
		if (!pre_fd_peek((int)fd) || !(c = pre_fd_get((int)fd)))
			continue;
		if (atomic_load(&c->state) == PRE_CONNECTING && c->bg && c->bg_open)
			pre_connect_bg_finish(c, (int)fd);
		pre_conn_put(c);
	}
}

int64_t pre_connect_bg_deadline(struct pre_conn *c)
{
	int64_t d;

	if (!c->bg || atomic_load(&c->state) != PRE_CONNECTING)
		return 0;
	d = c->deadline_ms ? c->deadline_ms : 1;
	/* first contact under request (pre_connect.c): its own, earlier timers */
	if (c->bg_lazy && c->bg_lazy_ms && c->bg_lazy_ms < d)
		d = c->bg_lazy_ms;
	if (!c->bg_lazy && !c->bg_reply && c->bg_clear_ms && c->bg_clear_ms < d)
		d = c->bg_clear_ms;
	return d;
}
