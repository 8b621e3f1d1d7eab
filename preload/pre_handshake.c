/* pre_handshake.c — the handshake driver (pre_handshake.h). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include "pre_creds.h"
#include "pre_handshake.h"
#include "pre_resume.h"
#include "pre_io.h"
#include "pre_log.h"
#include "pre_sym.h"

enum { HS_PEEK = 64 * 1024 };   /* a handshake flight with a certificate chain fits */

/* Nagle (RFC 896) meets delayed ACK (RFC 1122 §4.2.3.2) at the end of every
 * handshake: the client's Finished is its last unacknowledged segment, so the
 * program's first write right behind it is held by Nagle until the server
 * ACKs the Finished — and the server, with nothing to say yet, delays that
 * ACK (40 ms on Linux).  Measured before this: 23 connect→echo→close per
 * second.  So a client sends with TCP_NODELAY until its first data write has
 * gone out (then the program's own setting is back, pre_conn_nagle_restore),
 * and a server pushes the pending ACK at once (TCP_QUICKACK), which also
 * helps a client that is not secsock's. */
static void hs_done_nagle(struct pre_conn *c, int fd, int server)
{
	int one = 1, on = 0;
	socklen_t len = sizeof on;
	int e = errno;

	if (server) {
		(void)REAL(setsockopt)(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
	} else if (REAL(getsockopt)(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) == 0 && !on &&
	           REAL(setsockopt)(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0) {
		c->nagle_off = 1;
	}
	errno = e;
}

/* buf: HS_PEEK bytes to name as the destination (MSG_TRUNC copies nothing;
 * a real buffer keeps memory checkers quiet). */
static int hs_discard(int fd, size_t n, uint8_t *buf)
{
	uint8_t one;

	while (n > 0) {
		size_t m = buf ? (n < HS_PEEK ? n : HS_PEEK) : 1;
		ssize_t r = REAL(recv)(fd, buf ? buf : &one, m, MSG_TRUNC | MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		n -= (size_t)r;
	}
	return 0;
}

/* One round of the token loop (seed 001 "Remarks": call again with the
 * peer's next token until SEC_E_OK): feeds every complete record queued,
 * sends the output token.  I/O failures are SS_IO_ERROR, errno kept. */
static enum pre_hs_result hs_step(struct pre_conn *c, int fd, int server, const char *target,
                                  int64_t deadline_ms, ss_status *st, int *eof)
{
	uint8_t *buf = NULL;
	size_t n = 0, off = 0, used;
	ss_buf out = { 0 };
	int first = !server && c->ctx == NULL, rc = PRE_HS_FAIL, need = SS_REC_HEADER_LEN;
	unsigned attrs = 0;

	*st = SS_OK;
	*eof = 0;
	if (first)
		pre_resume_offer(c, fd, target);   /* may make c->ctx, offering an association */
	if (!first) {
		ssize_t r;
		buf = malloc(HS_PEEK);
		if (!buf) {
			*st = SS_INSUFFICIENT_MEMORY;
			return PRE_HS_FAIL;
		}
		do
			r = REAL(recv)(fd, buf, HS_PEEK, MSG_PEEK | MSG_DONTWAIT);
		while (r < 0 && errno == EINTR);
		if (r == 0 || (r < 0 && (errno == ECONNRESET || errno == EPIPE))) {
			*eof = 1;
			*st = SS_IO_ERROR;
			errno = ECONNRESET;
			goto out;
		}
		if (r < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				*st = SS_IO_ERROR;
				goto out;
			}
			r = 0;
		}
		n = (size_t)r;
		if (n == 0) {
			/* Nothing yet: wake on the first byte, whatever it is, so a
			 * short non-TLS answer ("hi\n") is seen at once. */
			rc = PRE_HS_MORE;
			pre_set_lowat(c, fd, 1);
			goto out;
		}
	}
	for (;;) {
		used = 0;
		if (server)
			*st = ss_ctx_accept(c->cred, &c->ctx, PRE_HS_REQ, buf + off, n - off, &used,
			                    &out, &attrs, &c->expiry);
		else
			*st = ss_ctx_initialize(c->cred, &c->ctx, target, PRE_HS_REQ,
			                        buf ? buf + off : NULL, n - off, &used, &out, &attrs, &c->expiry);
		off += used;
		if (out.len && pre_wire_send_all(fd, out.data, out.len, deadline_ms) < 0) {
			int e = errno;
			if (*st == SS_OK || *st == SS_CONTINUE_NEEDED || *st == SS_INCOMPLETE_MESSAGE)
				*st = SS_IO_ERROR;   /* errno says which */
			*eof = e == EPIPE || e == ECONNRESET;
			errno = e;
			goto out;
		}
		out.len = 0;
		if (*st == SS_OK) {
			if (off && hs_discard(fd, off, buf) < 0) {
				*st = SS_IO_ERROR;
				goto out;
			}
			hs_done_nagle(c, fd, server);
			rc = PRE_HS_DONE;
			goto out;
		}
		if (*st != SS_CONTINUE_NEEDED && *st != SS_INCOMPLETE_MESSAGE)
			goto out;
		/* More complete records already queued?  Feed them now. */
		size_t rl = 0;
		if (off < n && ss_hs_frame_len(buf + off, n - off, &rl) == SS_OK && rl <= n - off &&
		    used > 0)
			continue;
		if (rl && off < n)
			need = (int)rl;
		break;
	}
	if (off && hs_discard(fd, off, buf) < 0) {
		*st = SS_IO_ERROR;
		goto out;
	}
	pre_set_lowat(c, fd, first || off == n ? 1 : need);
	*st = SS_OK;
	rc = PRE_HS_MORE;
out:
	if (out.data) {
		sodium_memzero(out.data, out.cap);
		ss_buf_free(&out);
	}
	if (buf) {
		sodium_memzero(buf, n);
		free(buf);
	}
	return rc;
}

/* The handshake is over (SEC_E_OK): the peer's identity is checked against
 * what the rule asks for (pre_creds.h), the record layer takes the keys,
 * and the one "secured" line is written. */
static enum pre_hs_result hs_established(struct pre_conn *c, int fd, struct pre_hs_end *end)
{
	int in = c->dir == POL_DIR_INBOUND;
	char l[80], r[80];
	uint8_t ticket[SS_REC_TICKET_MAX];
	size_t tlen = 0;

	if (pre_creds_check_conn(c, fd, end->why, sizeof end->why) < 0) {
		end->st = SS_LOGON_DENIED;   /* authentication failed: never a clear retry */
		return PRE_HS_FAIL;
	}
	pre_resume_established(c, fd, ticket, sizeof ticket, &tlen);
	if (pre_conn_secure(c) < 0) {
		end->st = SS_INTERNAL_ERROR;
		snprintf(end->why, sizeof end->why, "cannot set up record protection");
		pre_resume_drop(c);
		return PRE_HS_FAIL;
	}
	/* A server's ticket goes right before its first application data
	 * (pre_tx.c): alone on the wire it would make the client's socket
	 * readable with nothing for the program to read, and a relay that
	 * polls, then reads, would block (socat). */
	if (tlen && (c->ticket_msg = malloc(tlen)) != NULL) {
		memcpy(c->ticket_msg, ticket, tlen);
		c->ticket_len = tlen;
	} else if (c->res) {
		ss_rec_keep_tickets(c->rec, 1);
	}
	pre_set_lowat(c, fd, SS_REC_HEADER_LEN);
	pre_conn_free_setup(c);
	pre_log_names(fd, &c->peer_addr, l, r, NULL);
	char auth[128];
	if (c->auth == SS_AUTH_GROUP)   /* peer is "group:NAME" */
		snprintf(auth, sizeof auth, "%s gkid=%d,%d,%d", c->peer ? c->peer : "group:?",
		         (int)c->gkid[0], (int)c->gkid[1], (int)c->gkid[2]);
	else
		snprintf(auth, sizeof auth, "%s", ss_auth_name((ss_auth)c->auth));
	struct pre_event ev = { .name = PRE_EV_SECURED, .dir = in ? "inbound" : "outbound", .peer = r,
	                        .rule = c->rule ? c->rule : "defaults", .method = ss_auth_name((ss_auth)c->auth),
	                        .cipher = ss_suite_name(c->suite), .identity = c->peer };
	pre_event(PRE_LOG_INFO, &ev, "secured %s %s %s %s rule=%s cipher=%s group=%s auth=%s peer=%s%s handshake=%.2fms",
	        in ? "inbound" : "outbound", l, in ? "<-" : "->", r, c->rule ? c->rule : "defaults",
	        ss_suite_name(c->suite), c->group ? ss_group_name(c->group) : "none",
	        auth, c->peer ? c->peer : "anonymous",
	        c->resumed ? " resumed=yes" : "", (double)c->hs_usec / 1000.0);
	return PRE_HS_DONE;
}

/* The log's reason: the context's status, or for a socket that failed the
 * peer's going away / errno's text. */
static void hs_failed(struct pre_hs_end *end, int in, ss_status st, int eof)
{
	end->st = st;
	end->eof = eof;
	end->err = st == SS_IO_ERROR ? errno : 0;
	if (st != SS_IO_ERROR)
		snprintf(end->why, sizeof end->why, "handshake: %s", ss_status_name(st));
	else if (eof)
		snprintf(end->why, sizeof end->why, "%s",
		         in ? "handshake: client went away" : "connection closed or reset by peer");
	else
		snprintf(end->why, sizeof end->why, "%s%s", in ? "handshake: " : "", strerror(end->err));
}

enum pre_hs_result pre_hs_drive(struct pre_conn *c, int fd, int64_t deadline_ms,
                                struct pre_hs_end *end)
{
	int in = c->dir == POL_DIR_INBOUND;
	const char *target = in ? NULL : pre_conn_target(c);

	memset(end, 0, sizeof *end);
	for (int fin_seen = 0;;) {
		ss_status st = SS_OK;
		int eof = 0;
		enum pre_hs_result r = hs_step(c, fd, in, target, deadline_ms, &st, &eof);

		if (r == PRE_HS_DONE)
			return hs_established(c, fd, end);
		if (r == PRE_HS_FAIL) {
			hs_failed(end, in, st, eof);
			return PRE_HS_FAIL;
		}
		if (!pre_wire_truncated(fd))
			return PRE_HS_MORE;
		/* FIN (or RST) with the flight still incomplete — unless the
		 * rest of it landed with the FIN after hs_step peeked: a fast
		 * peer sends its last flight, its data and FIN (socat at stdin
		 * EOF) right behind ours, and calling that "went away" would
		 * reset a handshake the peer has completed.  One more step,
		 * peeking after the FIN was seen, sees all there will ever be;
		 * only if that one needs more did the peer go away. */
		if (fin_seen++) {
			errno = ECONNRESET;
			hs_failed(end, in, SS_IO_ERROR, 1);
			return PRE_HS_FAIL;
		}
	}
}

void pre_hs_abandon(struct pre_conn *c, int fd, int err)
{
	ss_ctx_free(c->ctx);
	c->ctx = NULL;
	ss_cred_free(c->cred);
	c->cred = NULL;
	pre_io_drop_held(c);
	if (fd >= 0)
		pre_reset(fd);
	if (err)
		c->so_error = err;
	pre_conn_set_state(c, PRE_FAILED);
}
