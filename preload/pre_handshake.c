/* pre_handshake.c — see pre_handshake.h. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include "pre_handshake.h"
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
 * gone out (then the program's own setting is back, pre_hs_nagle_restore),
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

void pre_hs_nagle_restore(struct pre_conn *c, int fd)
{
	int zero = 0;
	int e = errno;

	if (!c->nagle_off)
		return;
	c->nagle_off = 0;
	(void)REAL(setsockopt)(fd, IPPROTO_TCP, TCP_NODELAY, &zero, sizeof zero);
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

int pre_hs_step(struct pre_conn *c, int fd, int server, const char *target,
                int64_t deadline_ms, ss_status *st, int *eof)
{
	uint8_t *buf = NULL;
	size_t n = 0, off = 0, used;
	ss_buf out = { 0 };
	int first = !server && c->ctx == NULL, rc = PRE_HS_FAIL, need = SS_REC_HEADER_LEN;
	unsigned attrs = 0;

	*st = SS_OK;
	*eof = 0;
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
			errno = ECONNRESET;
			goto out;
		}
		if (r < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				goto out;
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
			                    &out, &attrs, NULL);
		else
			*st = ss_ctx_initialize(c->cred, &c->ctx, target, PRE_HS_REQ,
			                        buf ? buf + off : NULL, n - off, &used, &out, &attrs, NULL);
		off += used;
		if (out.len && pre_wire_send_all(fd, out.data, out.len, deadline_ms) < 0) {
			int e = errno;
			if (*st == SS_OK || *st == SS_CONTINUE_NEEDED || *st == SS_INCOMPLETE_MESSAGE)
				*st = SS_OK;   /* an I/O failure: errno says which */
			*eof = e == EPIPE || e == ECONNRESET;
			errno = e;
			goto out;
		}
		out.len = 0;
		if (*st == SS_OK) {
			if (off && hs_discard(fd, off, buf) < 0)
				goto out;
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
	if (off && hs_discard(fd, off, buf) < 0)
		goto out;
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

void pre_hs_why(char *why, size_t len, ss_status st, int eof, const char *io_prefix,
                const char *gone)
{
	if (st == SS_OK)
		snprintf(why, len, "%s%s", io_prefix, eof ? gone : strerror(errno));
	else
		snprintf(why, len, "handshake: %s", ss_status_name(st));
}
