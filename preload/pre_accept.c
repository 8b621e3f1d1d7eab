/* pre_accept.c — the server side (ARCHITECTURE.md "Negotiation discovery").
 *
 * accept()/accept4() never block on security: the policy decides, and a
 * governed connection is handed to the program UNDECIDED.  The program's
 * first read peeks the client's first bytes (MSG_PEEK, nothing consumed) and
 * ss_hello_classify() decides: a ClientHello offering secsock/1 → server
 * handshake, driven by the program's reads; anything else → clear
 * pass-through (request) or reset (require).  A program that writes first
 * waits at most server-first-wait for the client to speak.
 *
 * Readiness (issue 11 item 6): the bytes of a handshake are secsock's, never
 * input to the program.  Until the connection is decided, pre_ready.c
 * keeps them from making it readable (poll/select drive the handshake and
 * report only what is left; epoll registrations are masked and the
 * engine then drives the handshake in the background, pre_accept_service),
 * so that a program waiting in epoll for input, or
 * looking for early input before it speaks (an SMTP server's pipelining
 * check), never takes a ClientHello for the client's request.  When the
 * connection is decided (settle), the masks go and the engine lets go of a
 * connection that went clear.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "pre_api.h"
#include "pre_core.h"
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

enum {
	HELLO_PEEK = 16 * 1024 + 5,
	ENGINE_SLICE_MS = 20   /* wait_unlocked while the engine drives the handshake too */
};

static int hs_deadline(const struct pre_conn *c)
{
	return (int)pre_conn_settings(c)->handshake_timeout_ms;
}

/* Give up on an accepted connection: RST, FAILED, ECONNRESET. */
static int inbound_fail(struct pre_conn *c, int fd, const char *verb, const char *why)
{
	char l[80], r[80];

	pre_log_names(fd, &c->peer_addr, l, r, NULL);
	struct pre_event ev = { .name = PRE_EV_REFUSED, .dir = "inbound", .peer = r,
	                        .rule = c->rule ? c->rule : "defaults", .reason = why };
	pre_event(PRE_LOG_WARN, &ev, "%s inbound %s <- %s rule=%s reason=\"%s\"", verb, l, r, ev.rule, why);
	pre_status_refused(c, l, r);
	pre_hs_abandon(c, fd, 0);
	errno = ECONNRESET;
	return -1;
}

/* evidence: enum pre_disc_evidence (what the client's behaviour proves). */
static int inbound_clear(struct pre_conn *c, int fd, int evidence, const char *why)
{
	char l[80], r[80];
	struct sockaddr_storage peer;

	if (c->action == POL_REQUIRE)
		return inbound_fail(c, fd, "refused", why);
	pre_log_names(fd, &c->peer_addr, l, r, &peer);
	pre_conn_set_state(c, PRE_CLEAR);
	pre_set_lowat(c, fd, c->user_lowat);
	struct pre_event ev = { .name = PRE_EV_CLEAR, .dir = "inbound", .peer = r,
	                        .rule = c->rule ? c->rule : "defaults", .reason = why };
	pre_discovery_clear(&peer, false, c->set, evidence, c->action == POL_REQUEST, &ev, l);
	/* Clear connections are not ours any more: one lookup from now on
	 * (unless fd is the engine's duplicate: the program's number is not
	 * known there, and the slot stays, a CLEAR pass-through). */
	if (pre_fd_peek(fd) == c)
		pre_fd_forget(fd);
	return 0;
}

/* Wait for input with rx_lock released (a writer on another thread may need
 * it to decide the connection); timeout_ms < 0 = forever. */
static int wait_unlocked(struct pre_conn *c, int fd, int64_t timeout_ms)
{
	int r;
	/* While the engine also drives this handshake (the program put the
	 * socket in an epoll set, pre_ready.c), it may take the client's next
	 * flight and finish while we wait here for input that is then gone:
	 * a program that writes its banner right after epoll_ctl would wait
	 * for the client, which waits for the banner.  So wait in slices and
	 * look at the state again after each. */
	if (c->eng_inbound && (timeout_ms < 0 || timeout_ms > ENGINE_SLICE_MS))
		timeout_ms = ENGINE_SLICE_MS;
	pthread_mutex_unlock(&c->rx_lock);
	r = pre_wire_wait(fd, POLLIN | POLLRDHUP, timeout_ms);
	pthread_mutex_lock(&c->rx_lock);
	return r;
}

static int start_handshake(struct pre_conn *c, int fd)
{
	char why[160] = "";

	if (pre_crypto_init() < 0)
		return inbound_fail(c, fd, "refused", "crypto library failed to initialise");
	if (!c->cred)
		c->cred = pre_creds_get(c->set, SS_CRED_INBOUND, why, sizeof why);
	if (!c->cred)
		return inbound_fail(c, fd, "refused", why);
	c->deadline_ms = pre_now_ms() + hs_deadline(c);
	pre_conn_set_state(c, PRE_HANDSHAKE);
	return 0;
}

/* UNDECIDED: look at the client's first bytes. 1 decided, 0 need more, -1 failed. */
static int classify(struct pre_conn *c, int fd, int *need, ssize_t *peeked)
{
	uint8_t *buf = malloc(HELLO_PEEK);
	ssize_t n;
	ss_hello_verdict v;
	int rc;

	if (!buf)
		return inbound_fail(c, fd, "refused", "out of memory");
	do
		n = REAL(recv)(fd, buf, HELLO_PEEK, MSG_PEEK | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
		/* Closed (or reset) before saying anything: nothing to secure,
		 * the kernel reports it to the program as it is. */
		free(buf);
		pre_conn_set_state(c, PRE_CLEAR);
		if (pre_fd_peek(fd) == c)
			pre_fd_forget(fd);
		return 1;
	}
	if (n < 0) {
		free(buf);
		*need = 1;
		*peeked = 0;
		return 0;
	}
	*peeked = n;
	v = ss_hello_classify(buf, (size_t)n);
	if (v == SS_HELLO_NEED_MORE) {
		size_t rl = 0;
		*need = (int)n + 1;
		if (ss_hs_frame_len(buf, (size_t)n, &rl) == SS_OK && rl > (size_t)n)
			*need = (int)rl;
		rc = 0;
	} else if (v == SS_HELLO_SECSOCK ||
	           (v == SS_HELLO_TLS && c->set && c->set->peer == POL_PEER_STANDARD_TLS)) {
		rc = start_handshake(c, fd) < 0 ? -1 : 1;
	} else {
		rc = inbound_clear(c, fd, PRE_DISC_PROVEN, v == SS_HELLO_TLS ? "client sent TLS without secsock"
		                                           : "client sent no secsock ClientHello") < 0 ? -1 : 1;
	}
	sodium_memzero(buf, (size_t)n);
	free(buf);
	return rc;
}

/* wait_unlocked() for at most `left` ms of the handshake, and no longer
 * than the caller's deadline (pre_accept_progress's `until`): 0 and EAGAIN
 * when that has passed. */
static int wait_until(struct pre_conn *c, int fd, int64_t left, int64_t until)
{
	if (until > 0) {
		int64_t app = until - pre_now_ms();
		if (app <= 0) {
			errno = EAGAIN;
			return 0;
		}
		if (left < 0 || app < left)
			left = app;
	}
	return wait_unlocked(c, fd, left);
}

/* The client's next bytes, for at most `left` ms (< 0: the handshake has
 * not started, no limit of its own), blocking as a plain read would
 * (SO_RCVTIMEO included): until 0 is a non-blocking read, which gets EAGAIN
 * at once, as does one whose `until` has passed. */
static int await_client(struct pre_conn *c, int fd, int64_t left, int64_t until)
{
	int w;

	if (!until) {
		errno = EAGAIN;
		return -1;
	}
	w = wait_until(c, fd, left, until);
	if (w < 0 && errno != EINTR)
		return -1;
	if (w == 0 && until > 0 && pre_now_ms() >= until) {
		errno = EAGAIN;
		return -1;
	}
	return 0;
}

static int accept_progress(struct pre_conn *c, int fd, int64_t until)
{
	for (;;) {
		int st = atomic_load(&c->state), need = 1;
		struct pre_hs_end end;

		if (st == PRE_UNDECIDED) {
			ssize_t peeked = 0;
			int r = classify(c, fd, &need, &peeked);
			if (r < 0)
				return -1;
			if (r > 0)
				continue;
			int64_t left = -1;
			if (peeked > 0) {
				/* Part of a ClientHello: the client has started, so the
				 * handshake timeout runs; a FIN now means it never will. */
				if (!c->deadline_ms)
					c->deadline_ms = pre_now_ms() + hs_deadline(c);
				if (pre_wire_fin_after(fd, (size_t)peeked))
					return inbound_fail(c, fd, "refused", "client closed inside its ClientHello");
				left = c->deadline_ms - pre_now_ms();
				if (left <= 0)
					return inbound_fail(c, fd, "refused", "handshake timeout (incomplete ClientHello)");
			}
			pre_set_lowat(c, fd, need);
			if (await_client(c, fd, left, until) < 0)
				return -1;
			continue;
		}
		if (st != PRE_HANDSHAKE)
			return 0;
		int hs = pre_hs_drive(c, fd, c->deadline_ms, &end);
		if (hs == PRE_HS_DONE)
			return 0;
		if (hs == PRE_HS_FAIL)
			return inbound_fail(c, fd, "refused", end.why);
		int64_t left = c->deadline_ms - pre_now_ms();
		if (left <= 0)
			return inbound_fail(c, fd, "refused", "handshake timeout");
		if (await_client(c, fd, left, until) < 0)
			return -1;
	}
}

static int undecided(const struct pre_conn *c)
{
	int st = atomic_load(&c->state);
	return st == PRE_UNDECIDED || st == PRE_HANDSHAKE;
}

/* Decided (secured, clear or failed): the program's epoll registrations get
 * their input events back (re-polled by the kernel), and the engine lets go
 * of the connection unless records wait in its tail: its duplicate would
 * keep a clear socket open after the program's close, and would cost a
 * secured one a second descriptor for its whole life (an epoll server would
 * meet EMFILE at half the connections it serves without us; a tail arms the
 * engine again with a fresh duplicate).  rx_lock held. */
static void settle(struct pre_conn *c)
{
	if (undecided(c))
		return;
	pthread_mutex_lock(&c->tx_lock);
	pre_ready_bg_done(c);
	if (atomic_load(&c->state) != PRE_SECURED || !c->tail_len)
		pre_engine_detach(c);
	pthread_mutex_unlock(&c->tx_lock);
}

int pre_accept_progress(struct pre_conn *c, int fd, int64_t until)
{
	int r = accept_progress(c, fd, until), e = errno;

	settle(c);
	errno = e;
	return r;
}

/* The engine: an accepted connection's socket (its duplicate) has input,
 * or a deadline is due.  One step without waiting; armed again while the
 * client has more to send. */
void pre_accept_service(struct pre_conn *c)
{
	int efd, e = errno;

	pthread_mutex_lock(&c->rx_lock);
	pthread_mutex_lock(&c->tx_lock);
	efd = pre_engine_fd(c);
	pthread_mutex_unlock(&c->tx_lock);
	if (efd >= 0 && c->eng_inbound && undecided(c)) {
		pre_accept_progress(c, efd, 0);
		if (undecided(c)) {
			pthread_mutex_lock(&c->tx_lock);
			pre_engine_arm(c, efd, EPOLLIN | EPOLLRDHUP);
			pthread_mutex_unlock(&c->tx_lock);
		}
	}
	pthread_mutex_unlock(&c->rx_lock);
	errno = e;
}

static int before_write(struct pre_conn *c, int fd)
{
	int st = atomic_load(&c->state);

	if (st == PRE_UNDECIDED) {
		struct sockaddr_storage peer;
		int64_t wait_ms = (int64_t)pre_conn_settings(c)->server_first_wait_ms;
		int need = 1;

		pre_conn_peer(c, fd, &peer);
		/* A client the discovery cache knows as clear is not waited for. */
		if (c->action != POL_REQUIRE && pre_discovery_is_clear(&peer, false))
			return inbound_clear(c, fd, PRE_DISC_CACHED, "discovery cache: known clear peer");
		int64_t until = pre_now_ms() + wait_ms;
		for (;;) {
			ssize_t peeked = 0;
			int r = classify(c, fd, &need, &peeked);
			if (r < 0)
				return -1;
			if (r > 0)
				break;
			int64_t left = until - pre_now_ms();
			if (left <= 0)
				return inbound_clear(c, fd, PRE_DISC_UNPROVEN, "client sent nothing within server-first-wait");
			pre_set_lowat(c, fd, need);
			/* A wait of ours that fails is not the program's error
			 * (poll under RLIMIT_NOFILE 0 is EINVAL; pre_wire_wait falls
			 * back to select): the connection fails closed. */
			if (wait_unlocked(c, fd, left) < 0 && errno != EINTR)
				return inbound_fail(c, fd, "refused", "cannot wait for the client's first bytes");
			if (atomic_load(&c->state) != PRE_UNDECIDED)
				break;
		}
	}
	if (atomic_load(&c->state) == PRE_HANDSHAKE)
		return accept_progress(c, fd, pre_wire_timeo(fd, SO_SNDTIMEO));
	return 0;
}

int pre_accept_before_write(struct pre_conn *c, int fd)
{
	int r = before_write(c, fd), e = errno;

	settle(c);
	errno = e;
	return r;
}

/* A governed connection just accepted: what its handshake will need is
 * made now, in the process and at the moment the program accepts — before
 * a fork child of the program can restrict itself (issue 11 item 5): the
 * crypto library, the credentials (cached per settings), the engine
 * thread with its epoll and eventfd, which also watches the client's
 * first bytes of a connection the program waits for in epoll (item 6,
 * pre_ready.c).  Failures are not the program's: each is retried
 * where it is needed, and refuses the handshake there. */
static void prepare_inbound(struct pre_conn *c, int fd)
{
	char why[160];

	if (pre_crypto_init() == 0 && !c->cred)
		c->cred = pre_creds_get(c->set, SS_CRED_INBOUND, why, sizeof why);
	(void)pre_engine_prepare();
}

/* After the kernel's accept: decide.  peer is the address accept returned
 * (no getpeername); lsec the listener's settings (pre_api.h).  Returns fd,
 * or -1 with *retry set when the connection was refused and the caller
 * should accept the next one. */
static int decide_inbound(int fd, const struct sockaddr_storage *peer, unsigned lsec, int *retry)
{
	const pol_policy *pol;
	pol_query q;
	pol_decision d;
	struct sockaddr_storage local;
	socklen_t ll = sizeof local;
	struct pre_conn *c;
	char l[80], r[80];
	int dom = 0;

	*retry = 0;
	/* Bypassed whatever the address (and not logged): the kernel's socket
	 * is the program's, with no further system call (issue 6). */
	if (!pre_app_strict(lsec) && pre_quiet_bypass(POL_DIR_INBOUND))
		return fd;
	if (!pre_is_tcp(fd, &dom))
		return fd;
	memset(&q, 0, sizeof q);
	memset(&local, 0, sizeof local);
	getsockname(fd, (struct sockaddr *)&local, &ll);
	q.remote = *peer;
	pol = pre_policy();
	if (!pol) {
		pre_log_addr(&local, l, sizeof l);
		pre_log_addr(&q.remote, r, sizeof r);
		struct pre_event ev = { .name = PRE_EV_REFUSED, .dir = "inbound", .peer = r, .rule = "none",
		                        .reason = "policy failed to load (fail closed)" };
		pre_event(PRE_LOG_WARN, &ev, "refused inbound %s <- %s rule=none reason=\"%s\"", l, r, ev.reason);
		goto drop;
	}
	q.protocol = POL_PROTO_TCP;
	q.direction = POL_DIR_INBOUND;
	q.port = ntohs(local.ss_family == AF_INET ? ((struct sockaddr_in *)&local)->sin_port
	                                          : ((struct sockaddr_in6 *)&local)->sin6_port);
	q.program = pre_program();
	pol_decide(pol, &q, &d);
	/* A listener the program secured without ALLOW_INSECURE serves no
	 * clear client, whatever the rule (block still wins; docs/api.md). */
	if (pre_app_strict(lsec) && d.action != POL_BLOCK)
		d.action = POL_REQUIRE;
	if (d.action == POL_BLOCK) {
		pre_log_addr(&local, l, sizeof l);
		pre_log_addr(&q.remote, r, sizeof r);
		struct pre_event ev = { .name = PRE_EV_BLOCKED, .dir = "inbound", .peer = r, .rule = d.rule_name };
		pre_event(PRE_LOG_WARN, &ev, "blocked inbound %s <- %s rule=%s", l, r, d.rule_name);
		pre_status_decided(fd, 0, d.rule_name, POL_BLOCK, 1);
		goto drop;
	}
	if (d.action == POL_BYPASS) {
		if (pre_log_level >= PRE_LOG_DEBUG) {
			pre_log_addr(&local, l, sizeof l);
			pre_log_addr(&q.remote, r, sizeof r);
			struct pre_event ev = { .name = PRE_EV_BYPASS, .dir = "inbound", .peer = r, .rule = d.rule_name };
			pre_event(PRE_LOG_DEBUG, &ev, "bypass inbound %s <- %s rule=%s", l, r, d.rule_name);
		}
		pre_status_decided(fd, 0, d.rule_name, POL_BYPASS, 0);
		return fd;
	}
	/* request, require, respond (= accept security when offered).  The
	 * engine is loaded here, with no lock of ours held (pre_core.h), not in
	 * the first read that finds a ClientHello: that runs under rx_lock.  A
	 * server whose clients all stay in clear pays the load once anyway;
	 * failure is logged by pre_core and refuses the handshake later
	 * (pre_creds_get), never turns it into clear. */
	(void)pre_core_load();
	c = pre_conn_new(dom, SOCK_STREAM, IPPROTO_TCP);
	if (!c) {
		if (d.action != POL_REQUIRE)
			return fd;
		goto drop;
	}
	c->dir = POL_DIR_INBOUND;
	c->peer_addr = *peer;
	c->action = (uint8_t)(d.action == POL_RESPOND ? POL_REQUEST : d.action);
	c->set = d.settings;
	c->rule = d.rule_name;
	pre_conn_set_state(c, PRE_UNDECIDED);
	if (pre_fd_install(fd, c) < 0) {
		pre_conn_put(c);
		if (d.action != POL_REQUIRE)
			return fd;
		goto drop;
	}
	prepare_inbound(c, fd);
	pre_conn_put(c);   /* the slot holds it now */
	return fd;
drop:
	pre_reset(fd);
	REAL(close)(fd);
	*retry = 1;
	return -1;
}

/* The kernel writes the peer's address into our buffer (the policy needs it;
 * asking again with getpeername would cost a system call per connection);
 * the program gets it as accept(2) gives it: at most *alen bytes, *alen set
 * to the full length.  A NULL alen with an address, or a negative length,
 * goes to the kernel as given so the program sees its EFAULT/EINVAL. */
static int accept_common(int lfd, struct sockaddr *addr, socklen_t *alen, int flags, int is4)
{
	if (addr && (!alen || (int)*alen < 0)) {
		int fd = is4 ? REAL(accept4)(lfd, addr, alen, flags) : REAL(accept)(lfd, addr, alen);
		if (fd >= 0)
			REAL(close)(fd);   /* unreachable: the kernel refused the arguments */
		return fd < 0 ? fd : -1;
	}
	unsigned lsec = pre_api_listener(lfd);

	for (;;) {
		struct sockaddr_storage peer;
		socklen_t pl = sizeof peer;
		int fd, retry, saved;

		memset(&peer, 0, sizeof peer);
		fd = is4 ? REAL(accept4)(lfd, (struct sockaddr *)&peer, &pl, flags)
		         : REAL(accept)(lfd, (struct sockaddr *)&peer, &pl);
		if (fd < 0)
			return fd;
		saved = errno;
		pre_fd_fresh(fd);
		fd = decide_inbound(fd, &peer, lsec, &retry);
		if (fd >= 0) {
			if (addr) {
				memcpy(addr, &peer, pl < *alen ? pl : *alen);
				*alen = pl;
			}
			errno = saved;
			return fd;
		}
		if (!retry)
			return -1;
		/* Refused: take the next connection, as if this one never came
		 * (a non-blocking listener answers EAGAIN by itself). */
	}
}

__attribute__((visibility("default"))) int accept(int fd, struct sockaddr *addr, socklen_t *alen)
{
	return accept_common(fd, addr, alen, 0, 0);
}

__attribute__((visibility("default"))) int accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
	return accept_common(fd, addr, alen, flags, 1);
}
