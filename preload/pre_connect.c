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
#include "pre_creds.h"
#include "pre_discovery.h"
#include "pre_engine.h"
#include "pre_handshake.h"
#include "pre_io.h"
#include "pre_log.h"
#include "pre_sock.h"
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

void pre_log_secured(struct pre_conn *c, const char *dir, const char *arrow,
                     const char *local, const char *remote)
{
	pre_log(PRE_LOG_INFO, "secured %s %s %s %s rule=%s cipher=%s group=%s auth=%s peer=%s handshake=%.2fms",
	        dir, local, arrow, remote, c->rule ? c->rule : "defaults", ss_suite_name(c->suite),
	        c->group ? ss_group_name(c->group) : "none", ss_auth_name((ss_auth)c->auth),
	        c->peer ? c->peer : "anonymous", (double)c->hs_usec / 1000.0);
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
	pre_log(PRE_LOG_WARN, "refused outbound %s -> %s rule=%s reason=\"%s\"", l, r, rule, why);
	pre_fd_forget(fd);
	errno = err;
	return -1;
}

int pre_connect(struct pre_conn *c, int fd, const struct sockaddr *addr, socklen_t len)
{
	const pol_policy *pol;
	pol_query q;
	pol_decision d;
	char l[80], r[80], why[160] = "";
	int action, rc, eof = 0, saw_reply = 0, bg = 0, fin_seen = 0, open = 0, known = 0;
	int64_t t0, deadline, first_deadline;
	ss_status st = SS_OK;
	struct sockaddr_storage peer;

	memset(&peer, 0, sizeof peer);
	memcpy(&peer, addr, len < sizeof peer ? len : sizeof peer);
	pol = pre_policy();
	if (!pol) {
		addrs(fd, addr, len, l, r);
		return refuse(fd, l, r, "none", "policy failed to load (fail closed)", ECONNREFUSED);
	}
	memset(&q, 0, sizeof q);
	q.protocol = POL_PROTO_TCP;
	q.direction = POL_DIR_OUTBOUND;
	q.remote = peer;
	q.port = ntohs(addr->sa_family == AF_INET ? ((const struct sockaddr_in *)addr)->sin_port
	                                          : ((const struct sockaddr_in6 *)addr)->sin6_port);
	q.program = pre_program();
	pol_decide(pol, &q, &d);
	action = d.action;
	if (action == POL_REQUEST && c->app_require)
		action = POL_REQUIRE;   /* a program may strengthen policy, never weaken it */

	if (action == POL_BLOCK) {
		addrs(fd, addr, len, l, r);
		pre_log(PRE_LOG_WARN, "blocked outbound %s -> %s rule=%s", l, r, d.rule_name);
		errno = EACCES;
		return -1;
	}
	if (action == POL_BYPASS || action == POL_RESPOND) {
		/* respond: initiate in clear (ARCHITECTURE.md policy actions). */
		pre_fd_forget(fd);
		rc = REAL(connect)(fd, addr, len);
		if (pre_log_level >= PRE_LOG_INFO) {
			int e = errno;
			addrs(fd, addr, len, l, r);
			pre_log(PRE_LOG_INFO, "bypass outbound %s -> %s rule=%s", l, r, d.rule_name);
			errno = e;
		}
		return rc;
	}
	if (action == POL_REQUEST && pre_discovery_is_clear(&peer, true)) {
		pre_fd_forget(fd);
		rc = REAL(connect)(fd, addr, len);
		int e = errno;
		addrs(fd, addr, len, l, r);
		pre_discovery_clear(&peer, true, d.settings, PRE_DISC_CACHED, true,
		                    "clear outbound %s -> %s rule=%s reason=\"discovery cache: known clear peer\"",
		                    l, r, d.rule_name);
		errno = e;
		return rc;
	}

	/* request / require: secure before connect returns */
	if (pre_crypto_init() < 0) {
		addrs(fd, addr, len, l, r);
		return refuse(fd, l, r, d.rule_name, "crypto library failed to initialise", ECONNREFUSED);
	}
	c->cred = pre_creds_get(d.settings, SS_CRED_OUTBOUND, why, sizeof why);
	if (!c->cred) {
		addrs(fd, addr, len, l, r);
		return refuse(fd, l, r, d.rule_name, why, ECONNREFUSED);
	}
	c->set = d.settings;
	c->rule = d.rule_name;
	c->dir = POL_DIR_OUTBOUND;
	c->action = (uint8_t)action;
	{
		int fl = REAL(fcntl)(fd, F_GETFL), nb = fl >= 0 && (fl & O_NONBLOCK);
		known = pre_discovery_is_secsock(&peer);
		bg = nb && (action == POL_REQUIRE || known);
		/* First contact under request ("First contact" in docs/design.md):
		 * never held in connect — the peer may be waiting for the program
		 * (an FTP data connection) — but decided in the background, the
		 * ClientHello held back until the program's first write or a third
		 * of server-first-wait, whichever comes first. */
		if (!bg && action == POL_REQUEST)
			bg = open = 1;
	}

	pthread_mutex_lock(&c->rx_lock);
	pthread_mutex_lock(&c->tx_lock);
	pre_conn_set_state(c, PRE_CONNECTING);
	t0 = pre_now_ms();
	deadline = t0 + (int64_t)d.settings->handshake_timeout_ms;   /* at least 1 ms: pol_keys.h */
	first_deadline = deadline;
	if (action == POL_REQUEST && d.settings->allow_clear_after_ms &&
	    t0 + (int64_t)d.settings->allow_clear_after_ms < deadline)
		first_deadline = t0 + (int64_t)d.settings->allow_clear_after_ms;

	rc = REAL(connect)(fd, addr, len);
	if (bg && (rc == 0 || errno == EINPROGRESS)) {
		/* The handshake goes on without the program: EINPROGRESS (or 0,
		 * a blocking connect whose TCP connection is up). */
		int was = rc;
		c->bg = 1;
		c->bg_open = (uint8_t)open;
		c->bg_lazy = (uint8_t)(open && !known);
		c->bg_reply = 0;
		c->bg_lazy_ms = t0 + (int64_t)(d.settings->server_first_wait_ms / 3);
		c->bg_clear_ms = action == POL_REQUEST && d.settings->allow_clear_after_ms ? first_deadline : 0;
		c->deadline_ms = deadline;
		c->bg_peer = peer;
		if (pre_engine_arm(c, fd, EPOLLOUT) == 0) {
			if (!open)
				pre_ready_bg_start(c);   /* not writable to the program until it ends */
			pthread_mutex_unlock(&c->tx_lock);
			pthread_mutex_unlock(&c->rx_lock);
			pre_log(PRE_LOG_DEBUG, "fd %d: %s continues in the background", fd,
			        c->bg_lazy ? "first contact" : "handshake");
			if (was == 0)
				return 0;
			errno = EINPROGRESS;
			return -1;
		}
		c->bg = c->bg_open = c->bg_lazy = 0;   /* no engine: handshake here */
		if (was < 0)
			errno = EINPROGRESS;
	}
	if (rc < 0 && (errno == EINPROGRESS || errno == EINTR))
		rc = finish_tcp_connect(fd, deadline);
	if (rc < 0) {
		/* No TCP connection at all: the program gets the kernel's answer. */
		int e = errno;
		pre_conn_set_state(c, PRE_NEW);
		ss_cred_free(c->cred);
		c->cred = NULL;
		pthread_mutex_unlock(&c->tx_lock);
		pthread_mutex_unlock(&c->rx_lock);
		errno = e;
		return -1;
	}
	addrs(fd, addr, len, l, r);

	for (;;) {
		const char *target = c->target ? c->target
		                     : (d.settings->peer_name[0] ? d.settings->peer_name : NULL);
		int hs = pre_hs_step(c, fd, 0, target, deadline, &st, &eof);
		if (hs == PRE_HS_DONE)
			break;
		if (hs == PRE_HS_FAIL) {
			pre_hs_why(why, sizeof why, st, eof, "", PEER_GONE);
			goto failed;
		}
		if (pre_wire_truncated(fd)) {
			/* FIN/RST with the server's flight incomplete (or absent) —
			 * unless the rest of the flight landed with the FIN after
			 * pre_hs_step peeked (the same rule as on the accept side):
			 * one more step, peeking after the FIN, sees all
			 * there will ever be. */
			if (!fin_seen) {
				fin_seen = 1;
				continue;
			}
			eof = 1;
			st = SS_OK;
			snprintf(why, sizeof why, "%s", PEER_GONE);
			goto failed;
		}
		int64_t until = saw_reply ? deadline : first_deadline;
		int64_t left = until - pre_now_ms();
		int w = left > 0 ? pre_wire_wait(fd, POLLIN | POLLRDHUP, left) : 0;
		if (w == 0) {
			st = SS_TIMEOUT;
			snprintf(why, sizeof why, "no secsock reply within %lldms",
			         (long long)(until - t0));
			goto failed;
		}
		if (w < 0 && errno != EINTR) {
			snprintf(why, sizeof why, "%s", strerror(errno));
			goto failed;
		}
		saw_reply = 1;
	}

	if (pre_creds_check_conn(c, fd, why, sizeof why) < 0) {
		st = SS_LOGON_DENIED;   /* authentication failed: never a clear retry */
		goto failed;
	}
	if (pre_conn_secure(c) < 0) {
		snprintf(why, sizeof why, "cannot set up record protection");
		st = SS_INTERNAL_ERROR;
		goto failed;
	}
	pre_set_lowat(c, fd, SS_REC_HEADER_LEN);
	pre_conn_free_setup(c);
	pthread_mutex_unlock(&c->tx_lock);
	pthread_mutex_unlock(&c->rx_lock);
	pre_discovery_note_secsock(&peer);
	pre_log_secured(c, "outbound", "->", l, r);
	return 0;

failed:;
	/* The peer "does not speak secsock" when it answered with something
	 * else, an alert, a reset or EOF, or nothing within allow-clear-after.
	 * A peer that did speak secsock and then failed authentication is not
	 * retried in clear, and require never falls back. */
	ss_status_category cat = ss_status_category_of(st);
	int not_secsock = st == SS_OK || st == SS_NOT_SECSOCK ||
	                  (st == SS_TIMEOUT && !saw_reply) ||
	                  cat == SS_CAT_PROTOCOL || cat == SS_CAT_ALERT || cat == SS_CAT_CLOSED;
	ss_ctx_free(c->ctx);
	c->ctx = NULL;
	ss_cred_free(c->cred);
	c->cred = NULL;
	if (action == POL_REQUEST && not_secsock) {
		rc = clear_fallback(c, fd, addr, len);
		int e = errno;
		pre_conn_set_state(c, PRE_CLEAR);
		pthread_mutex_unlock(&c->tx_lock);
		pthread_mutex_unlock(&c->rx_lock);
		/* Only an answer in clear is evidence; a reset, EOF or silence
		 * can come from anyone on the path (pre_discovery.h). */
		pre_discovery_clear(&peer, true, d.settings, st == SS_NOT_SECSOCK ? PRE_DISC_PROVEN : PRE_DISC_UNPROVEN,
		                    true, "clear outbound %s -> %s rule=%s reason=\"peer does not speak secsock: %s\"",
		                    l, r, d.rule_name, why);
		pre_fd_forget(fd);
		errno = e;
		return rc;
	}
	pre_reset(fd);
	pre_conn_set_state(c, PRE_FAILED);
	pthread_mutex_unlock(&c->tx_lock);
	pthread_mutex_unlock(&c->rx_lock);
	{
		char msg[200];
		snprintf(msg, sizeof msg, "%s: %s", action == POL_REQUIRE ? "require" : "request", why);
		return refuse(fd, l, r, d.rule_name, msg,
		              st == SS_TIMEOUT ? ETIMEDOUT : ECONNREFUSED);
	}
}

/* ------------------------------------------------------------ background */

static void bg_names(int fd, char *l, char *r, struct sockaddr_storage *peer)
{
	struct sockaddr_storage a;
	socklen_t la = sizeof a, lp = sizeof *peer;

	memset(&a, 0, sizeof a);
	memset(peer, 0, sizeof *peer);
	getsockname(fd, (struct sockaddr *)&a, &la);
	getpeername(fd, (struct sockaddr *)peer, &lp);
	pre_log_addr(&a, l, 80);
	pre_log_addr(peer, r, 80);
}

/* The background handshake failed: the program learns it from SO_ERROR
 * (and from its next read or write), never by talking in clear. */
static int bg_fail(struct pre_conn *c, int fd, int err, const char *why)
{
	char l[80], r[80];
	struct sockaddr_storage peer;

	bg_names(fd, l, r, &peer);
	ss_ctx_free(c->ctx);
	c->ctx = NULL;
	ss_cred_free(c->cred);
	c->cred = NULL;
	pre_io_drop_held(c);
	pre_reset(fd);
	c->so_error = err;
	pre_conn_set_state(c, PRE_FAILED);
	pre_engine_detach(c);
	if (peer.ss_family != AF_UNSPEC)
		pre_discovery_forget_secsock(&peer);   /* not known secsock any more: probe next time */
	pre_log(PRE_LOG_WARN, "refused outbound %s -> %s rule=%s reason=\"%s: %s\"", l, r,
	        c->rule ? c->rule : "defaults", c->action == POL_REQUIRE ? "require" : "request", why);
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

	bg_names(fd, l, r, &peer);
	if (peer.ss_family != AF_INET && peer.ss_family != AF_INET6) {
		peer = c->bg_peer;   /* reset by the peer: getpeername has nothing any more */
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
		pre_log(PRE_LOG_WARN, "refused outbound %s -> %s rule=%s reason=\"clear retry: %s\"", l, r,
		        c->rule ? c->rule : "defaults", strerror(errno));
		return -1;
	}
	if (clear_with_held(c, fd, 1) < 0)
		return -1;
	/* Corrects the entry at once: forgets "speaks secsock" (an answer in
	 * clear right after a secsock handshake counts as unproven). */
	pre_discovery_clear(&peer, true, c->set, st == SS_NOT_SECSOCK ? PRE_DISC_PROVEN : PRE_DISC_UNPROVEN,
	                    true, "clear outbound %s -> %s rule=%s reason=\"peer does not speak secsock: %s\"",
	                    l, r, c->rule ? c->rule : "defaults", why);
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

	bg_names(fd, l, r, &peer);
	ss_ctx_free(c->ctx);
	c->ctx = NULL;
	ss_cred_free(c->cred);
	c->cred = NULL;
	if (clear_with_held(c, fd, 0) < 0)
		return -1;
	pre_discovery_clear(&peer, true, c->set, spoke ? PRE_DISC_PROVEN : PRE_DISC_UNPROVEN, true,
	                    "clear outbound %s -> %s rule=%s reason=\"peer does not speak secsock: %s\"",
	                    l, r, c->rule ? c->rule : "defaults",
	                    spoke ? "it spoke first, in clear" : "closed before our ClientHello");
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

/* The foreground path's test (pre_connect, label failed). */
static int not_secsock(ss_status st)
{
	ss_status_category cat = ss_status_category_of(st);
	return st == SS_OK || st == SS_NOT_SECSOCK || cat == SS_CAT_PROTOCOL || cat == SS_CAT_ALERT ||
	       cat == SS_CAT_CLOSED;
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
	ss_status s = SS_OK;
	int eof = 0;

	if (st != PRE_CONNECTING || !c->bg)
		return st == PRE_FAILED ? -1 : 1;
	if (atomic_load(&c->fd_refs) == 0) {
		/* The program closed it mid-handshake: nothing was delivered, a
		 * reset is the honest ending. */
		ss_ctx_free(c->ctx);
		c->ctx = NULL;
		pre_io_drop_held(c);
		pre_reset(fd);
		pre_conn_set_state(c, PRE_FAILED);
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
	const char *target = c->target ? c->target
	                     : (c->set && c->set->peer_name[0] ? c->set->peer_name : NULL);
	int hs = pre_hs_step(c, fd, 0, target, c->deadline_ms, &s, &eof);
	/* Truncated only if a step that peeked after the FIN still needs more
	 * (see the blocking path above). */
	if (hs == PRE_HS_MORE && pre_wire_truncated(fd)) {
		hs = pre_hs_step(c, fd, 0, target, c->deadline_ms, &s, &eof);
		if (hs == PRE_HS_MORE)
			return c->action == POL_REQUEST ? bg_clear(c, fd, SS_OK, PEER_GONE)
			                                : bg_fail(c, fd, ECONNREFUSED, PEER_GONE);
	}
	if (hs == PRE_HS_FAIL) {
		char why[160];
		pre_hs_why(why, sizeof why, s, eof, "", PEER_GONE);
		if (c->action == POL_REQUEST && not_secsock(s))
			return bg_clear(c, fd, s, why);
		return bg_fail(c, fd, s == SS_TIMEOUT ? ETIMEDOUT : ECONNREFUSED, why);
	}
	if (hs == PRE_HS_MORE) {
		if (pre_engine_arm(c, fd, EPOLLIN | EPOLLRDHUP) < 0)
			return bg_fail(c, fd, ECONNREFUSED, "engine unavailable");
		return 0;
	}
	{
		char pin[200];
		if (pre_creds_check_conn(c, fd, pin, sizeof pin) < 0)
			return bg_fail(c, fd, ECONNREFUSED, pin);
	}
	if (pre_conn_secure(c) < 0)
		return bg_fail(c, fd, ECONNREFUSED, "cannot set up record protection");
	pre_set_lowat(c, fd, SS_REC_HEADER_LEN);
	pre_conn_free_setup(c);
	{
		char l[80], r[80];
		struct sockaddr_storage peer;
		bg_names(fd, l, r, &peer);
		pre_discovery_note_secsock(&peer);
		pre_log_secured(c, "outbound", "->", l, r);
	}
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
