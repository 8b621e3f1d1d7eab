/* pre_rx.c — the receive half of the stream engine (pre_io.h for the
 * invariants, pre_io.c's header for the read path in brief).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sodium.h>
#include "pre_handshake.h"
#include "pre_engine.h"
#include "pre_io.h"
#include "pre_io_int.h"
#include "pre_log.h"
#include "pre_sym.h"
#include "pre_tail.h"

/* A reader that finds the stream bad answers ECONNRESET (preload contract:
 * tampered or truncated secured stream), whatever errno an earlier
 * MSG_DONTWAIT peek left: pre_io_fail_conn() keeps errno, and a blocking read()
 * must never report EAGAIN for a tampered record that came in pieces. */
static void rx_fail(struct pre_conn *c, int fd, const char *why, ss_status st)
{
	pre_io_fail_conn(c, fd, why, st);
	errno = ECONNRESET;
}

/* ------------------------------------------------------------ receive */

enum rx_end { RX_MORE = 0, RX_AGAIN, RX_EOF };
enum rx_rec { REC_DONE = 0, REC_CACHED = 1, REC_STOP = 2, REC_FAIL = -1 };

/* Open one whole record (rec, rl bytes) and deliver its plaintext.
 * REC_DONE: the caller may drop the record from the kernel; REC_CACHED: the
 * plaintext did not fit (or MSG_PEEK) and waits in c->cache — the record's
 * last `queued` bytes stay in the kernel until it drains; REC_STOP:
 * close_notify; REC_FAIL: the connection failed. */
static int rx_record(struct pre_conn *c, int fd, struct cursor *k, int peek, const uint8_t *rec,
                     size_t rl, size_t queued, size_t *delivered)
{
	struct scratch *s = pre_io_tls_scratch;
	size_t used = 0, ptl = 0, room;
	uint8_t *dst, *p = NULL, alert = 0;
	ss_rec_event ev = 0;
	ss_status st;

	room = cur_room(k, &p);
	/* Open in place when the caller's segment holds any plaintext this
	 * record can carry (its length bounds the content). */
	if (!peek && rl >= REC_MIN_LEN && room >= rl - REC_MIN_LEN) {
		dst = p;
		if (room > rl - REC_MIN_LEN + 1)
			room = rl - REC_MIN_LEN + 1;
	} else {
		dst = s->pt;
		room = sizeof s->pt;
	}
	st = ss_rec_read(c->rec, rec, rl, &used, &ev, dst, room, &ptl, &alert);
	if (st != SS_OK) {
		if (st == SS_PEER_ALERT)
			pre_log(PRE_LOG_INFO, "fd %d: peer sent fatal alert %u", fd, alert);
		rx_fail(c, fd, "record rejected:", st);
		return REC_FAIL;
	}
	if (ev == SS_REC_EV_DATA) {
		if (dst != s->pt) {
			k->off += ptl;
			*delivered += ptl;
			return REC_DONE;
		}
		size_t m = cur_put(k, s->pt, ptl);
		*delivered += m;
		if (peek || m < ptl) {
			/* Keep the rest; the record (or its tail) stays queued so
			 * poll/epoll keep reporting readable until it is delivered. */
			size_t keep = peek ? ptl : ptl - m;
			if (keep && queued) {
				c->cache = malloc(keep);
				if (!c->cache) {
					sodium_memzero(s->pt, ptl);
					rx_fail(c, fd, "out of memory", 0);
					return REC_FAIL;
				}
				memcpy(c->cache, s->pt + (peek ? 0 : m), keep);
				c->cache_off = 0;
				c->cache_len = (uint32_t)keep;
				c->cache_rec = (uint32_t)queued;
				sodium_memzero(s->pt, ptl);
				return REC_CACHED;
			}
			if (keep) {
				/* Taken out of the kernel (rx_take) yet not delivered:
				 * rx_take's read bound makes this impossible; never drop
				 * authenticated plaintext silently. */
				sodium_memzero(s->pt, ptl);
				rx_fail(c, fd, "plaintext larger than the read (internal)", 0);
				return REC_FAIL;
			}
		}
		sodium_memzero(s->pt, ptl);
		return REC_DONE;
	}
	if (ev == SS_REC_EV_CLOSE) {
		pre_log(PRE_LOG_DEBUG, "fd %d: close_notify received", fd);
		return REC_STOP;
	}
	/* SS_REC_EV_HANDLED: KeyUpdate / ticket / user_canceled.  The answer
	 * is a record too: behind records still in a tail (ours or another
	 * holder's, pre_tail.h) it stays owed, and the next write sends it
	 * after them — RFC 8446 §4.6.3 asks for it before our next
	 * application data, which that write is. */
	if (c->rs->flags & SS_REC_F_UPDATE_OWED) {
		pthread_mutex_lock(&c->tx_lock);
		if ((c->rs->flags & SS_REC_F_UPDATE_OWED) && !c->tail_len &&
		    pre_arena_tail_state(c) == PRE_TAIL_NONE && pre_io_send_key_update(c, fd, 0, 0) < 0) {
			pthread_mutex_unlock(&c->tx_lock);
			rx_fail(c, fd, "KeyUpdate answer failed", 0);
			return REC_FAIL;
		}
		pthread_mutex_unlock(&c->tx_lock);
	}
	return REC_DONE;
}



/* Move the head of the kernel queue (n bytes, already known to be there)
 * into the partial-record buffer.  Why: an incomplete record left queued
 * pins the memory of the skb it arrived in; with loopback's 64 KiB MSS that
 * can close the receive window (free space < one MSS) while we wait for the
 * rest of the record — a deadlock.  Out of the kernel, the window reopens,
 * and SO_RCVLOWAT (the bytes still missing) keeps poll truthful. */
static int partial_take(struct pre_conn *c, int fd, size_t n)
{
	ssize_t r;

	if (!c->partial && !(c->partial = malloc(SS_REC_MAX_RECORD)))
		return -1;
	if (c->partial_len + n > SS_REC_MAX_RECORD) {
		errno = EPROTO;
		return -1;
	}
	do
		r = REAL(recv)(fd, c->partial + c->partial_len, n, MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r != (ssize_t)n) {
		if (r >= 0)
			errno = ECONNRESET;
		return -1;
	}
	c->partial_len += (uint32_t)n;
	return 0;
}

static void partial_drop(struct pre_conn *c)
{
	if (c->partial) {
		sodium_memzero(c->partial, c->partial_len);
		free(c->partial);
	}
	c->partial = NULL;
	c->partial_len = 0;
}

/* Complete the record begun in c->partial.  Returns 1 when it was
 * processed (*stop set if no further records should be read now), 0 when
 * still incomplete (lowat set), -1 failure. */
static int rx_partial(struct pre_conn *c, int fd, struct cursor *k, int peek, size_t *delivered,
                      int *end, int *stop)
{
	size_t rl = 0, have = c->partial_len, need;
	ssize_t n;
	ss_status st;

	*stop = 0;
	for (;;) {
		st = ss_rec_frame_len(c->partial, have, &rl);
		if (st != SS_OK && st != SS_INCOMPLETE_MESSAGE) {
			rx_fail(c, fd, "bad record header", st);
			return -1;
		}
		need = st == SS_OK ? rl - have : SS_REC_HEADER_LEN - have;
		/* Peek (not consume) the rest: if the plaintext must be cached,
		 * the record's tail stays queued and keeps poll readable. */
		do
			n = REAL(recv)(fd, c->partial + have, need, MSG_PEEK | MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
			pre_io_fail_conn(c, fd, n == 0 ? "peer closed inside a record (truncation)" : strerror(errno), 0);
			errno = ECONNRESET;
			return -1;
		}
		if (n < 0)
			n = 0;
		if ((size_t)n < need || st != SS_OK) {
			if ((size_t)n == need && st != SS_OK) {
				/* header complete now: take it, then size the record */
				if (partial_take(c, fd, (size_t)n) < 0)
					goto fail;
				have = c->partial_len;
				continue;
			}
			if (n > 0 && partial_take(c, fd, (size_t)n) < 0)
				goto fail;
			if (n == 0 && pre_wire_fin_after(fd, 0)) {
				rx_fail(c, fd, "peer closed inside a record (truncation)", 0);
				errno = ECONNRESET;
				return -1;
			}
			pre_set_lowat(c, fd, (int)(need - (size_t)n));
			*end = RX_AGAIN;
			return 0;
		}
		break;
	}
	int rc = rx_record(c, fd, k, peek, c->partial, rl, need, delivered);
	partial_drop(c);
	if (rc == REC_FAIL)
		return -1;
	if (rc == REC_CACHED) {
		pre_set_lowat(c, fd, 1);
		*stop = 1;
		return 1;
	}
	if (rc == REC_STOP) {
		/* the close_notify's tail stays queued (see rx_pass) */
		c->eof_queued = (uint32_t)need;
		*end = RX_EOF;
		*stop = 1;
		return 1;
	}
	if (pre_io_discard(fd, need) < 0)
		goto fail;
	/* The record SO_RCVLOWAT was raised for is done: back to a header's
	 * worth, or a short record arriving next would not wake poll/epoll
	 * (the read that got here may return before rx_pass sets it again). */
	pre_set_lowat(c, fd, SS_REC_HEADER_LEN);
	return 1;
fail:
	rx_fail(c, fd, "receive queue changed under us", 0);
	return -1;
}

/* A pass whose look at the queue (peek or read, n <= 0, not EINTR) found
 * nothing: EAGAIN, FIN or an error.  Returns what the pass returns. */
static ssize_t rx_nothing(struct pre_conn *c, int fd, ssize_t n, size_t delivered, int *end)
{
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		*end = RX_AGAIN;
		pre_set_lowat(c, fd, SS_REC_HEADER_LEN);
		return (ssize_t)delivered;
	}
	if (delivered)
		return (ssize_t)delivered;
	if (n < 0)
		pre_io_fail_conn(c, fd, strerror(errno), 0);
	else   /* FIN with no close_notify: truncation (RFC 8446 §6.1), an error. */
		rx_fail(c, fd, "peer closed without close_notify (truncation)", 0);
	return -1;
}

/* How many bytes a taking read may consume for a caller with `room` bytes.
 * A record carries at most min(rl - REC_MIN_LEN, 2^14) bytes of content
 * (header, content type and tag around it; ss_rec_read enforces 2^14,
 * RFC 8446 §5.1, §5.4).  With m = room / 2^14 + 1 and n ≤ room + m *
 * REC_MIN_LEN bytes read, k complete records carry at most
 * n - k * REC_MIN_LEN ≤ room when k ≥ m, and at most k * 2^14 ≤ room when
 * k < m: all of it fits.  Rounded down to whole maximum-size records when
 * that leaves at least one, so that a bulk sender's full records are read
 * whole (iperf3's 128 KiB reads: 8 records exactly, not 8 and the first
 * bytes of a ninth, which would cost a peek and a discard to finish). */
static size_t take_len(size_t room)
{
	size_t want = room + (room / SS_REC_MAX_PLAINTEXT + 1) * REC_MIN_LEN;
	size_t full = SS_REC_MAX_PLAINTEXT + REC_MIN_LEN;

	if (want >= full)
		want -= want % full;
	return want < RX_SCRATCH ? want : RX_SCRATCH;
}

/* Take mode: a plain read (recv without MSG_PEEK) of at most take_len(room)
 * bytes, instead of a peek followed by recv(MSG_TRUNC) — one system call
 * per read instead of two (issue 6: redis, where every request is one
 * small record, made two recvfrom per read on both sides).
 *
 * Why this keeps the receive invariants (pre_io.h, docs/design.md):
 * - Plaintext is never taken out of the kernel without being delivered:
 *   take_len() bounds the read so that the complete records in it carry no
 *   more plaintext than the caller has room for, and c->cache is never
 *   needed (rx_record fails loudly if it would be).
 * - An incomplete record at the end is exactly what the partial buffer is
 *   for (partial_take says why it must leave the kernel anyway): its bytes
 *   go to c->partial, SO_RCVLOWAT waits for the rest, and rx_partial peeks
 *   that rest, so a record too big for the caller still keeps its tail
 *   queued while its plaintext is cached.
 * - close_notify no longer stays queued to keep EOF visible: the read side
 *   is shut down instead (shutdown(SHUT_RD) sends nothing to the peer, and
 *   tcp_poll reports a RCV_SHUTDOWN socket readable — EPOLLIN|EPOLLRDHUP —
 *   with a wake-up for edge-triggered epoll).  Records behind a
 *   close_notify are ignored, as RFC 8446 §6.1 requires, and nothing is
 *   left queued for close() to turn into a RST.
 * - *end = RX_AGAIN (EAGAIN when nothing was delivered) only when the
 *   read came back short: the kernel queue is then empty or holds the
 *   start of the next record, whose completion is a new kernel event.  A
 *   read that came back full leaves RX_MORE, and pre_io_recv runs another
 *   pass while the caller has room (a short read means "drained").
 * Program MSG_PEEK and small buffers (< TAKE_MIN) keep the peek path.
 * rx_lock held; `delivered` is what this pass delivered before. */
static ssize_t rx_take(struct pre_conn *c, int fd, struct cursor *k, size_t room, size_t delivered,
                       int *end)
{
	struct scratch *s = pre_io_tls_scratch;
	size_t want = take_len(room), off, rl, inc, need;
	ssize_t n;
	ss_status st;

again:
	do
		n = REAL(recv)(fd, s->rx, want, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return rx_nothing(c, fd, n, delivered, end);
	for (off = 0; off < (size_t)n; off += rl) {
		st = ss_rec_frame_len(s->rx + off, (size_t)n - off, &rl);
		if (st == SS_INCOMPLETE_MESSAGE || (st == SS_OK && rl > (size_t)n - off))
			break;
		if (st != SS_OK) {
			rx_fail(c, fd, "bad record header", st);
			return delivered ? (ssize_t)delivered : -1;
		}
		int rc = rx_record(c, fd, k, 0, s->rx + off, rl, 0, &delivered);
		if (rc == REC_FAIL)
			return delivered ? (ssize_t)delivered : -1;
		if (rc == REC_STOP) {
			/* EOF stays visible without a queued record: see above. */
			REAL(shutdown)(fd, SHUT_RD);
			*end = RX_EOF;
			return (ssize_t)delivered;
		}
	}
	inc = (size_t)n - off;
	if (!inc) {
		pre_set_lowat(c, fd, SS_REC_HEADER_LEN);
		if ((size_t)n < want)
			*end = RX_AGAIN;   /* the kernel queue is empty */
		else if (!delivered)
			goto again;   /* only control records so far; more are queued */
		return (ssize_t)delivered;
	}
	/* The start of a record: into the partial buffer (empty: rx_pass
	 * finished any earlier one before coming here). */
	if (!c->partial && !(c->partial = malloc(SS_REC_MAX_RECORD))) {
		rx_fail(c, fd, "out of memory", 0);
		return delivered ? (ssize_t)delivered : -1;
	}
	memcpy(c->partial, s->rx + off, inc);
	c->partial_len = (uint32_t)inc;
	if (!delivered) {
		/* Nothing to give yet; the rest may already be queued (a record
		 * bigger than the read, or one cut by the read's bound). */
		int stop, r = rx_partial(c, fd, k, 0, &delivered, end, &stop);
		if (r < 0)
			return delivered ? (ssize_t)delivered : -1;
		if (r > 0 && !stop && !delivered)
			goto again;   /* it was a control record: look behind it */
		return (ssize_t)delivered;
	}
	/* Plaintext delivered: the next pass completes the record (rx_pass
	 * step 2) — in this same read when the rest may already be queued
	 * (the read was cut by its bound: RX_MORE).  Wake poll/epoll only once
	 * all of it can be there. */
	st = ss_rec_frame_len(c->partial, inc, &rl);
	need = st == SS_OK ? rl - inc : SS_REC_HEADER_LEN - inc;
	pre_set_lowat(c, fd, (int)need);
	if ((size_t)n < want)
		*end = RX_AGAIN;
	return (ssize_t)delivered;
}

/* Plaintext left over from the head record (c->cache) into k: 1 when the
 * call ends with it (a peek, or the record's plaintext is not all taken),
 * 0 when the record is done and removed from the kernel, -1 failed. */
static int rx_leftover(struct pre_conn *c, int fd, struct cursor *k, int peek, size_t *delivered)
{
	size_t m = cur_put(k, c->cache + c->cache_off, c->cache_len - c->cache_off);

	*delivered += m;
	if (peek)
		return 1;
	c->cache_off += (uint32_t)m;
	if (c->cache_off < c->cache_len)
		return 1;
	if (pre_io_discard(fd, c->cache_rec) < 0) {
		rx_fail(c, fd, "receive queue changed under us", 0);
		return -1;
	}
	sodium_memzero(c->cache, c->cache_len);
	free(c->cache);
	c->cache = NULL;
	c->cache_off = c->cache_len = c->cache_rec = 0;
	return 0;
}

/* An incomplete record at the head (inc bytes of it queued, need in all):
 * take it out of the kernel (partial_take says why) and wait for the bytes
 * still missing.  Returns what rx_pass returns. */
static ssize_t rx_incomplete(struct pre_conn *c, int fd, size_t inc, int need, size_t delivered, int *end)
{
	if (pre_wire_fin_after(fd, inc)) {
		if (delivered)
			return (ssize_t)delivered;
		rx_fail(c, fd, "peer closed inside a record (truncation)", 0);
		errno = ECONNRESET;
		return -1;
	}
	if (partial_take(c, fd, inc) < 0) {
		rx_fail(c, fd, "receive queue changed under us", 0);
		return delivered ? (ssize_t)delivered : -1;
	}
	need -= (int)inc;
	if (need < 1)
		need = 1;
	pre_set_lowat(c, fd, need);
	if (!delivered)
		*end = RX_AGAIN;
	return (ssize_t)delivered;
}

/* One non-blocking pass over what is queued.  Returns bytes delivered, or -1
 * (errno).  *end: RX_AGAIN when nothing more can be had without waiting,
 * RX_EOF after close_notify.  rx_lock held. */
static ssize_t rx_pass(struct pre_conn *c, int fd, struct cursor *k, int peek, int *end)
{
	struct scratch *s = pre_io_scratch();
	size_t delivered = 0, off = 0, want, total, consume = 0;
	ssize_t n;
	int need = SS_REC_HEADER_LEN, stop = 0;

	*end = RX_MORE;
	if (!s) {
		errno = ENOMEM;
		return -1;
	}
	/* 1. plaintext left over from the head record */
	if (c->cache) {
		int r = rx_leftover(c, fd, k, peek, &delivered);
		if (r < 0)
			return -1;
		if (r > 0)
			return (ssize_t)delivered;
	}
	if (c->rs->flags & SS_REC_F_CLOSE_RECEIVED) {
		*end = RX_EOF;
		if (!delivered && !peek && c->eof_queued && pre_io_discard(fd, c->eof_queued) == 0)
			c->eof_queued = 0;   /* EOF reported: the record has done its job */
		return (ssize_t)delivered;
	}
	if (cur_full(k)) {
		pre_set_lowat(c, fd, SS_REC_HEADER_LEN);
		return (ssize_t)delivered;
	}
	/* 2. a record begun earlier */
	if (c->partial_len) {
		int r = rx_partial(c, fd, k, peek, &delivered, end, &stop);
		if (r < 0)
			return delivered ? (ssize_t)delivered : -1;
		if (r == 0 || stop || cur_full(k) || (peek && delivered))
			return (ssize_t)delivered;
	}

	/* 3. peek: enough for the caller's room in whole records, at least one */
	total = cur_left(k);
	if (!peek && total >= TAKE_MIN)
		return rx_take(c, fd, k, total, delivered, end);
	want = total + (total / SS_REC_MAX_PLAINTEXT + 1) * SS_REC_OVERHEAD + SS_REC_HEADER_LEN;
	if (want > RX_SCRATCH)
		want = RX_SCRATCH;
repeek:
	n = REAL(recv)(fd, s->rx, want, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && errno == EINTR)
		goto repeek;
	if (n <= 0)
		return rx_nothing(c, fd, n, delivered, end);

	/* 4. the complete records */
	size_t inc = 0;   /* bytes of an incomplete head record */
	while (off < (size_t)n) {
		size_t rl = 0;
		ss_status st = ss_rec_frame_len(s->rx + off, (size_t)n - off, &rl);

		if (st == SS_INCOMPLETE_MESSAGE || (st == SS_OK && rl > (size_t)n - off)) {
			if (st == SS_OK && off == 0 && (size_t)n == want && rl > want && rl <= RX_SCRATCH) {
				want = rl;          /* the head record is bigger than we asked for */
				goto repeek;
			}
			need = st == SS_OK ? (int)rl : SS_REC_HEADER_LEN;
			if ((size_t)n < want)
				inc = (size_t)n - off;   /* all that is queued of it */
			break;
		}
		if (st != SS_OK) {
			rx_fail(c, fd, "bad record header", st);
			break;
		}
		if (cur_full(k)) {
			need = (int)rl;
			break;
		}
		int rc = rx_record(c, fd, k, peek, s->rx + off, rl, rl, &delivered);
		if (rc == REC_FAIL)
			break;
		if (rc == REC_CACHED) {
			need = 1;
			break;
		}
		if (rc == REC_STOP) {
			/* close_notify stays queued: like a FIN it keeps the socket
			 * readable, so a program that got data in this same call
			 * still sees poll/epoll report the EOF it has to read.
			 * pre_io_drop_eof() drops it before the real close (unread
			 * bytes at close would make the kernel send RST). */
			c->eof_queued = (uint32_t)rl;
			*end = RX_EOF;
			break;
		}
		off += rl;
		consume += rl;
		if (peek && delivered)
			break;
	}
	if (consume && pre_io_discard(fd, consume) < 0) {
		rx_fail(c, fd, "receive queue changed under us", 0);
		return delivered ? (ssize_t)delivered : -1;
	}
	if (atomic_load(&c->state) == PRE_FAILED) {
		/* Whatever authenticated plaintext came before the bad record is
		 * delivered first; the next call reports the error. */
		if (delivered)
			return (ssize_t)delivered;
		errno = ECONNRESET;
		return -1;
	}
	if (*end == RX_EOF)
		return (ssize_t)delivered;
	if (inc)
		return rx_incomplete(c, fd, inc, need, delivered, end);
	pre_set_lowat(c, fd, need);
	/* only control records from a full window: more may be queued behind */
	if (off == (size_t)n && ((size_t)n < want || (!delivered && !consume)))
		*end = RX_AGAIN;
	return (ssize_t)delivered;
}

ssize_t pre_io_recv(struct pre_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags,
                    int64_t *until)
{
	struct cursor k = { iov, iovcnt, 0, 0 };
	int peek = (flags & MSG_PEEK) != 0, end = RX_MORE, st, control_passes = 0;
	size_t total = 0;
	ssize_t r;

	if (iov_total(iov, iovcnt) == 0)
		return 0;
	pthread_mutex_lock(&c->rx_lock);
	for (;;) {
		st = atomic_load(&c->state);
		if (st == PRE_UNDECIDED || st == PRE_HANDSHAKE || (st == PRE_CONNECTING && c->bg)) {
			/* Not decided: the setup layer's work first (pre_setup.h).
			 * Nothing was read yet: a decided connection never goes back. */
			r = PRE_IO_NOT_READY;
			goto out;
		}
		if (st == PRE_FAILED) {
			errno = pre_io_failed_errno(c);
			r = -1;
			goto out;
		}
		if (st == PRE_CONNECTING) {
			errno = pre_io_conn_nonblock(c, fd) ? EAGAIN : ENOTCONN;
			r = -1;
			goto out;
		}
		if (st != PRE_SECURED) {
			/* Decided clear (or never connected): the kernel answers. */
			pthread_mutex_unlock(&c->rx_lock);
			if (iovcnt == 1)
				return REAL(recv)(fd, iov[0].iov_base, iov[0].iov_len, flags);
			struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
			return REAL(recvmsg)(fd, &mh, flags);
		}
		r = rx_pass(c, fd, &k, peek, &end);
		if (r < 0) {
			if (total)
				break;
			goto out;
		}
		total += (size_t)r;
		if (end == RX_EOF || cur_full(&k))
			break;
		/* Short only when no complete record is left queued: event loops
		 * take a short read for "drained" (docs/design.md, Receive path).
		 * A pass that consumed only control records (a NewSessionTicket
		 * wider than the caller's buffer, a KeyUpdate) with more queued
		 * behind them is no "would block" either: pass again (bounded, in
		 * case a pass makes no progress). */
		if (end == RX_MORE && !peek && (r > 0 || ++control_passes < 16))
			continue;
		if (total && (peek || !(flags & MSG_WAITALL)))
			break;
		if (pre_io_would_block(c, fd, flags)) {
			if (!total) {
				errno = EAGAIN;
				r = -1;
				goto out;
			}
			break;
		}
		/* SO_RCVTIMEO (socket(7)): a blocking read that got nothing by
		 * then fails with EAGAIN, one that got some returns it (MSG_WAITALL
		 * too); a record begun stays in c->partial for the next read. */
		if (!*until)
			*until = pre_wire_timeo(fd, SO_RCVTIMEO);
		if (*until > 0 && pre_now_ms() >= *until) {
			if (total)
				break;
			errno = EAGAIN;
			r = -1;
			goto out;
		}
		/* Wait with no lock held.  SO_RCVLOWAT alone is not enough here:
		 * tcp_epollin_ready() also reports readable when the receive
		 * window is below one MSS, which on loopback (MSS ~64 KiB) is
		 * common, and a poll loop would spin.  A blocking peek with
		 * MSG_WAITALL makes the kernel wait for the whole record (or
		 * FIN/RST); with SO_RCVTIMEO set, poll for the time left (below). */
		int need = c->k_lowat;
		struct scratch *s = pre_io_scratch();
		pthread_mutex_unlock(&c->rx_lock);
		if (need > 1 && s && *until < 0) {
			ssize_t w = REAL(recv)(fd, s->rx, (size_t)need < sizeof s->rx ? (size_t)need : sizeof s->rx,
			                       MSG_PEEK | MSG_WAITALL);
			if (w < 0 && errno != EINTR)
				w = 0;   /* the next pass reports the error itself */
			if (w < 0)
				return total ? (ssize_t)total : -1;
		} else {
			/* With SO_RCVTIMEO, poll for the time left: the peek would
			 * wait a whole timeout again after each piece of a record.
			 * Our SO_RCVLOWAT (the bytes still missing) keeps it from
			 * waking early; an early wake-up is a pass that finds
			 * nothing, bounded by the deadline. */
			int64_t left = *until > 0 ? *until - pre_now_ms() : -1;
			int w = pre_wire_wait(fd, POLLIN | POLLRDHUP, left < -1 ? 0 : left);
			if (w == 0)
				errno = EAGAIN;   /* SO_RCVTIMEO ran out */
			if (w <= 0)
				return total ? (ssize_t)total : -1;
		}
		pthread_mutex_lock(&c->rx_lock);
	}
	r = (ssize_t)total;
out:
	pthread_mutex_unlock(&c->rx_lock);
	return r;
}

/* FIONREAD's view of the record whose head sits in c->partial: how many of
 * the peeked bytes q[0..n) belong to it (its rest; n+1 when that has not
 * all arrived, so the caller counts nothing more), adding its plaintext to
 * *sum once it is complete.  The header may itself be split between the
 * two. */
static size_t partial_rest(const struct pre_conn *c, const uint8_t *q, size_t n, size_t *sum)
{
	uint8_t h[SS_REC_HEADER_LEN];
	size_t have = c->partial_len < sizeof h ? c->partial_len : sizeof h, rl = 0;

	memcpy(h, c->partial, have);
	if (have < sizeof h) {
		if (n < sizeof h - have)
			return n + 1;
		memcpy(h + have, q, sizeof h - have);
	}
	if (ss_rec_frame_len(h, sizeof h, &rl) != SS_OK || rl < REC_MIN_LEN ||
	    rl < c->partial_len || rl - c->partial_len > n)
		return n + 1;
	*sum += rl - REC_MIN_LEN;
	return rl - c->partial_len;
}

int pre_io_pending(struct pre_conn *c, int fd, int *out)
{
	struct scratch *s = pre_io_scratch();
	size_t off = 0, sum = 0;
	ssize_t n;

	*out = 0;
	if (!s)
		return -1;
	pthread_mutex_lock(&c->rx_lock);
	if (atomic_load(&c->state) != PRE_SECURED) {
		pthread_mutex_unlock(&c->rx_lock);
		return REAL(ioctl)(fd, FIONREAD, out);
	}
	if (!c->cache && !c->partial_len) {
		/* Control records at the head of the queue (a NewSessionTicket,
		 * a KeyUpdate) are no bytes the program can read: a peek of one
		 * byte handles them and keeps the first data record's plaintext,
		 * so the count below is exact for it. */
		uint8_t one;
		struct iovec v = { &one, 1 };
		struct cursor k1 = { &v, 1, 0, 0 };
		int end;
		(void)rx_pass(c, fd, &k1, 1, &end);
		sodium_memzero(&one, 1);
	}
	if (c->cache) {
		sum = c->cache_len - c->cache_off;
	} else {
		n = REAL(recv)(fd, s->rx, RX_SCRATCH, MSG_PEEK | MSG_DONTWAIT);
		/* A record begun in c->partial: the queue starts in its middle,
		 * with the rest of it (rx_take and partial_take leave it so). */
		if (n > 0 && c->partial_len)
			off = partial_rest(c, s->rx, (size_t)n, &sum);
		while (n > 0 && off < (size_t)n) {
			size_t rl;
			if (ss_rec_frame_len(s->rx + off, (size_t)n - off, &rl) != SS_OK ||
			    rl > (size_t)n - off || rl < REC_MIN_LEN)
				break;
			/* upper bound: secsock peers send no padding */
			sum += rl - REC_MIN_LEN;
			off += rl;
		}
	}
	pthread_mutex_unlock(&c->rx_lock);
	*out = sum > INT32_MAX ? INT32_MAX : (int)sum;
	return 0;
}
