/* pre_tx.c — the send half of the stream engine: sealed batches, the tail
 * of a non-blocking write, the writes held during a background handshake
 * (pre_io.h for the invariants, pre_io.c's header for the send path in
 * brief, pre_tail.h for the tail's rules).
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

/* The program's SO_SNDTIMEO as a send_until deadline (0: none), asked once
 * per call (*until: 0 not yet asked, -1 none). */
static int64_t snd_deadline(int fd, int64_t *until)
{
	if (!*until)
		*until = pre_wire_timeo(fd, SO_SNDTIMEO);
	return *until > 0 ? *until : 0;
}

/* ------------------------------------------------------------ send */

static int rekey_due(struct pre_conn *c)
{
	const pol_settings *s = c->set;
	if (!s)
		return 0;
	if (s->rekey_after_bytes && c->tx_bytes >= s->rekey_after_bytes)
		return 1;
	if (s->rekey_after_ms && pre_now_ms() - c->tx_epoch_ms >= (int64_t)s->rekey_after_ms)
		return 1;
	return 0;
}

/* A batch ends where the volume limit falls, so that the KeyUpdate comes
 * after exactly rekey-after bytes, not up to a batch later. */
static size_t rekey_cap(const struct pre_conn *c, size_t batch)
{
	const pol_settings *s = c->set;
	if (s && s->rekey_after_bytes && c->tx_bytes < s->rekey_after_bytes &&
	    s->rekey_after_bytes - c->tx_bytes < batch)
		return (size_t)(s->rekey_after_bytes - c->tx_bytes);
	return batch;
}

enum tx_mode { TX_AS_SOCKET = 0, TX_BLOCK, TX_NOWAIT };

/* A tail left by an earlier call goes before anything of this one (the
 * stream's order).  0 when it is gone; -1 with errno (EAGAIN: the engine
 * finishes it, nothing of this call taken); -2 the connection broke. */
static int tx_tail_first(struct pre_conn *c, int fd, int flags, int mode, int64_t *until)
{
	int t = pre_tail_flush(c, fd);

	if (t < 0)
		return -2;
	if (t > 0)
		return 0;
	if (mode == TX_AS_SOCKET && pre_io_would_block(c, fd, flags) &&
	    pre_engine_arm(c, fd, EPOLLOUT) == 0) {
		errno = EAGAIN;
		return -1;
	}
	/* blocking socket (or no engine): finish the tail first; SO_SNDTIMEO
	 * bounds the wait (socket(7): EAGAIN, nothing of this call taken; the
	 * rest of the tail stays queued). */
	size_t more = 0;
	int w = pre_wire_send_until(fd, c->tail + c->tail_off, c->tail_len - c->tail_off,
	                            mode == TX_AS_SOCKET ? snd_deadline(fd, until) : 0, &more);
	c->tail_off += (uint32_t)more;
	if (w < 0)
		return -2;
	if (w > 0) {
		pre_engine_arm(c, fd, EPOLLOUT);
		errno = EAGAIN;
		return -1;
	}
	pre_tail_drop(c);
	return 0;
}

/* The next batch bytes of the program's buffers, in one piece: in place
 * when one buffer holds them, else gathered into s->gather. */
static const uint8_t *tx_gather(struct cursor *k, struct scratch *s, size_t batch)
{
	uint8_t *p = NULL;
	size_t m = 0;

	if (cur_room(k, &p) >= batch) {
		k->off += batch;
		return p;
	}
	while (m < batch) {
		uint8_t *q = NULL;
		size_t room = cur_room(k, &q), t = batch - m < room ? batch - m : room;
		memcpy(s->gather + m, q, t);
		k->off += t;
		m += t;
	}
	return s->gather;
}

/* Nothing of the batch's records left the process: take the sequence
 * numbers back (same key epoch, never observed); EAGAIN, or what was
 * written before. */
static ssize_t tx_unsend(struct pre_conn *c, struct scratch *s, size_t olen, uint64_t saved_seq,
                         size_t total)
{
	c->rs->tx.seq = saved_seq;
	sodium_memzero(s->tx, olen);
	if (total)
		return (ssize_t)total;
	errno = EAGAIN;
	return -1;
}

enum { TXB_SENT, TXB_QUEUED, TXB_QUEUED_END, TXB_RETURN, TXB_BROKEN };

/* The kernel took `sent` of the batch's olen record bytes.  Non-blocking
 * (nb): the rest becomes the tail, the program has written all of it (the
 * engine sends the tail) — TXB_QUEUED.  Blocking: wait for room, no longer
 * than SO_SNDTIMEO — TXB_SENT when it all went; on the timeout TXB_RETURN
 * (*ret) when none of the batch was taken, else TXB_QUEUED_END: a batch
 * must not stay half-sent, the engine finishes it and the count says it was
 * taken (socket(7): the partial count). */
static int tx_rest(struct pre_conn *c, int fd, struct scratch *s, size_t sent, size_t olen,
                   uint64_t saved_seq, int nb, int mode, int64_t *until, size_t total, ssize_t *ret)
{
	size_t more = 0;
	int w;

	if (nb && pre_tail_keep(c, s->tx + sent, olen - sent) == 0) {
		if (pre_engine_arm(c, fd, EPOLLOUT) == 0)
			return TXB_QUEUED;
		pre_tail_drop(c);
	}
	w = pre_wire_send_until(fd, s->tx + sent, olen - sent,
	                        mode == TX_AS_SOCKET ? snd_deadline(fd, until) : 0, &more);
	if (w < 0)
		return TXB_BROKEN;
	sent += more;
	if (w > 0 && !sent) {
		*ret = tx_unsend(c, s, olen, saved_seq, total);
		return TXB_RETURN;
	}
	if (w > 0) {
		if (pre_tail_keep(c, s->tx + sent, olen - sent) == 0 && pre_engine_arm(c, fd, EPOLLOUT) == 0)
			return TXB_QUEUED_END;
		pre_tail_drop(c);
		if (pre_wire_send_all(fd, s->tx + sent, olen - sent, 0) < 0)
			return TXB_BROKEN;
	}
	return TXB_SENT;
}

/* tx_lock held.  Returns plaintext bytes committed, or -1.  TX_NOWAIT (the
 * held data of a background handshake): never wait and never refuse —
 * whatever the kernel does not take goes to the tail. */
static ssize_t tx_locked(struct pre_conn *c, int fd, const struct iovec *iov, int iovcnt,
                         int flags, int mode)
{
	struct scratch *s = pre_io_scratch();
	struct cursor k = { iov, iovcnt, 0, 0 };
	size_t want = iov_total(iov, iovcnt), total = 0;
	int sflags = (flags & MSG_NOSIGNAL) | MSG_DONTWAIT;
	int nb = -1;
	int64_t until = 0;   /* SO_SNDTIMEO deadline (snd_deadline) */

	if (!s) {
		errno = ENOMEM;
		return -1;
	}
	if (c->wr_shut) {
		errno = EPIPE;
		return -1;
	}
	if (c->tail_len && mode != TX_NOWAIT) {
		int t = tx_tail_first(c, fd, flags, mode, &until);
		if (t == -2)
			goto broken;
		if (t < 0)
			return -1;
	}
	if (c->rs->flags & SS_REC_F_UPDATE_OWED && pre_io_send_key_update(c, fd, 0, 1) < 0)
		goto broken;
	if (c->ticket_msg && pre_io_send_ticket(c, fd) < 0)
		goto broken;
	while (total < want) {
		if (rekey_due(c) && pre_io_send_key_update(c, fd, 1, 1) < 0)
			goto broken;
		size_t batch = rekey_cap(c, want - total < TX_BATCH ? want - total : TX_BATCH), olen = 0;
		const uint8_t *src = tx_gather(&k, s, batch);
		uint64_t saved_seq;
		ss_status st;
		ssize_t r;

		saved_seq = c->rs->tx.seq;
		st = ss_rec_seal_stream(c->rec, src, batch, 0, s->tx, sizeof s->tx, &olen);
		if (src == s->gather)
			sodium_memzero(s->gather, batch);
		if (st == SS_SEQUENCE_EXHAUSTED) {
			if (pre_io_send_key_update(c, fd, 1, 1) < 0)
				goto broken;
			st = ss_rec_seal_stream(c->rec, src, batch, 0, s->tx, sizeof s->tx, &olen);
		}
		if (st != SS_OK) {
			pre_io_fail_conn(c, fd, "seal failed:", st);
			goto broken;
		}
		if (c->tail_len) {
			/* TX_NOWAIT behind a tail: keep the order, queue behind it. */
			if (pre_tail_keep(c, s->tx, olen) < 0)
				goto broken;
			total += batch;
			c->tx_bytes += batch;
			continue;
		}
		r = REAL(send)(fd, s->tx, olen, sflags);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			if (nb < 0)
				nb = mode == TX_NOWAIT || (mode == TX_AS_SOCKET && pre_io_would_block(c, fd, flags));
			if (nb && errno != EINTR && mode != TX_NOWAIT)
				return tx_unsend(c, s, olen, saved_seq, total);
			r = 0;
		}
		if (r < 0)
			goto broken;
		if ((size_t)r < olen) {
			ssize_t ret = -1;
			if (nb < 0)
				nb = mode == TX_NOWAIT || (mode == TX_AS_SOCKET && pre_io_would_block(c, fd, flags));
			int b = tx_rest(c, fd, s, (size_t)r, olen, saved_seq, nb, mode, &until, total, &ret);
			if (b == TXB_BROKEN)
				goto broken;
			if (b == TXB_RETURN)
				return ret;
			if (b != TXB_SENT) {
				total += batch;
				c->tx_bytes += batch;
				if (b == TXB_QUEUED && mode == TX_NOWAIT)
					continue;
				return (ssize_t)total;
			}
		}
		total += batch;
		c->tx_bytes += batch;
	}
	if (mode == TX_NOWAIT && c->tail_len && pre_engine_arm(c, fd, EPOLLOUT) < 0) {
		if (pre_wire_send_all(fd, c->tail + c->tail_off, c->tail_len - c->tail_off, 0) < 0)
			goto broken;
		pre_tail_drop(c);
	}
	return (ssize_t)total;
broken:
	if (errno != EPIPE)
		pre_io_fail_conn(c, fd, "send failed", 0);
	if (total)
		return (ssize_t)total;
	if (errno != EPIPE && errno != ECONNRESET)
		errno = ECONNRESET;
	return -1;
}

int pre_io_hold(struct pre_conn *c, int fd, const struct iovec *iov, int iovcnt, ssize_t *r)
{
	size_t n = iov_total(iov, iovcnt);

	pthread_mutex_lock(&c->tx_lock);
	if (atomic_load(&c->state) != PRE_CONNECTING || !c->bg) {
		pthread_mutex_unlock(&c->tx_lock);
		return 0;
	}
	if (c->held_len + n > HOLD_MAX && n != 0) {
		pthread_mutex_unlock(&c->tx_lock);
		return PRE_IO_HOLD_FULL;
	}
	if (n) {
		uint8_t *h = malloc(c->held_len + n);
		if (!h) {
			pthread_mutex_unlock(&c->tx_lock);
			errno = ENOBUFS;
			return -1;
		}
		if (c->held_len) {
			memcpy(h, c->held, c->held_len);
			sodium_memzero(c->held, c->held_len);
			free(c->held);
		}
		struct cursor k = { iov, iovcnt, 0, 0 };
		size_t m = 0;
		while (m < n) {
			uint8_t *q = NULL;
			size_t room = cur_room(&k, &q), t = n - m < room ? n - m : room;
			memcpy(h + c->held_len + m, q, t);
			k.off += t;
			m += t;
		}
		c->held = h;
		c->held_len += (uint32_t)n;
	}
	pthread_mutex_unlock(&c->tx_lock);
	*r = (ssize_t)n;
	return PRE_IO_HELD;
}

void pre_io_drop_held(struct pre_conn *c)
{
	if (c->held) {
		sodium_memzero(c->held, c->held_len);
		free(c->held);
	}
	c->held = NULL;
	c->held_len = 0;
}

int pre_io_flush_held(struct pre_conn *c, int fd)
{
	ssize_t r = 0;

	if (c->held_len) {
		struct iovec v = { c->held, c->held_len };
		r = tx_locked(c, fd, &v, 1, MSG_NOSIGNAL, TX_NOWAIT);
	}
	pre_io_drop_held(c);
	return r < 0 ? -1 : 0;
}

/* Records another holder (a fork parent or child) sealed before ours are
 * still in its private tail (pre_tail.h): ours must go after them.  tx_lock
 * held, released while waiting.  A blocking write waits; a non-blocking one
 * answers EAGAIN when the kernel is full (poll's look sets SOCK_NOSPACE, so
 * the kernel owes the next EPOLLOUT edge), else gives the owner's engine,
 * woken by the same drain, TAIL_WAIT_MS to send them.  An owner that died
 * with them (_exit, a signal) took them along: the stream is broken and is
 * failed, never continued with a gap.  0 go on, -1 errno. */
static int tx_gate(struct pre_conn *c, int fd, int flags, int block)
{
	int64_t since = 0;
	long nap = 1;

	for (;;) {
		int t = pre_arena_tail_state(c);
		if (__builtin_expect(t == PRE_TAIL_NONE || t == PRE_TAIL_MINE, 1))
			return 0;
		if (t == PRE_TAIL_LOST) {
			pre_io_fail_conn(c, fd, "records sealed by another process were never sent", 0);
			errno = ECONNRESET;
			return -1;
		}
		if (atomic_load(&c->state) != PRE_SECURED) {
			errno = pre_io_failed_errno(c);
			return -1;
		}
		if (c->rs->flags & SS_REC_F_FAILED)
			return 0;   /* (e.g. the state moved to an exec'd image) the seal fails */
		if (!block && pre_io_would_block(c, fd, flags)) {
			int64_t now = pre_now_ms();
			if (!since)
				since = now;
			if (pre_wire_wait(fd, POLLOUT, 0) == 0 || now - since >= TAIL_WAIT_MS) {
				errno = EAGAIN;
				return -1;
			}
		}
		pthread_mutex_unlock(&c->tx_lock);
		struct timespec ts = { 0, nap * 1000000L };
		nanosleep(&ts, NULL);
		if (nap < 16)
			nap *= 2;
		pthread_mutex_lock(&c->tx_lock);
	}
}

static ssize_t tx_write(struct pre_conn *c, int fd, const struct iovec *iov, int iovcnt,
                        int flags, int force_block)
{
	ssize_t r;
	int st = atomic_load(&c->state);

	if (st == PRE_UNDECIDED || st == PRE_HANDSHAKE || (st == PRE_CONNECTING && c->bg))
		return PRE_IO_NOT_READY;   /* the setup layer's work first (pre_setup.h) */
	if (st == PRE_FAILED) {
		errno = pre_io_failed_errno(c);
		return -1;
	}
	if (st == PRE_CONNECTING) {
		/* another thread is inside a synchronous connect */
		errno = pre_io_conn_nonblock(c, fd) ? EAGAIN : ENOTCONN;
		return -1;
	}
	if (st != PRE_SECURED) {
		if (iovcnt == 1)
			return REAL(send)(fd, iov[0].iov_base, iov[0].iov_len, flags);
		struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
		return REAL(sendmsg)(fd, &mh, flags);
	}
	if (iov_total(iov, iovcnt) == 0)
		return 0;
	pthread_mutex_lock(&c->tx_lock);
	r = tx_gate(c, fd, flags, force_block);
	if (r == 0)
		r = tx_locked(c, fd, iov, iovcnt, flags, force_block ? TX_BLOCK : TX_AS_SOCKET);
	if (r > 0 && c->nagle_off)
		pre_conn_nagle_restore(c, fd);
	pthread_mutex_unlock(&c->tx_lock);
	return r;
}

ssize_t pre_io_send(struct pre_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags)
{
	return tx_write(c, fd, iov, iovcnt, flags, 0);
}

ssize_t pre_io_send_blocking(struct pre_conn *c, int fd, const void *buf, size_t len)
{
	struct iovec v = { (void *)buf, len };
	return tx_write(c, fd, &v, 1, MSG_NOSIGNAL, 1);
}
