/* pre_io.c — the stream engine (see pre_io.h for the invariants).
 *
 * Receive: read at most as many bytes as can carry no more plaintext than
 * the caller has room for (rx_take, take_len: one recv per read), walk the complete
 * records (ss_rec_frame_len) and open each straight into the caller's
 * buffer when it has room, else into a per-thread bounce buffer; the start
 * of an incomplete record goes to the partial buffer.  For MSG_PEEK and
 * small buffers: peek what is queued into a per-thread scratch buffer
 * instead; plaintext that does not fit goes to c->cache (exact size, freed
 * when drained) and its record stays queued; consumed records are then
 * discarded with recv(MSG_TRUNC), which drops bytes without copying them
 * (tcp(7)).
 *
 * Send: seal batches of records from the caller's buffer (ss_rec_seal_stream)
 * and hand them to the kernel whole.  A non-blocking send the kernel refuses
 * outright rolls the sequence number back: those records never left the
 * process, so no (key, nonce) pair is ever observed twice.  A batch the
 * kernel took only part of must never be left half-sent (ARCHITECTURE.md):
 * on a blocking socket it is flushed before returning; on a non-blocking one
 * the rest goes to c->tail, the whole plaintext is reported written, and the
 * engine thread (pre_engine.c) sends the tail when the socket drains.  While
 * a tail is pending, a write first tries to push it out and answers EAGAIN
 * when the kernel still will not take it — after a real send that hit the
 * full buffer, so the kernel owes the program an EPOLLOUT edge.
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
#include "pre_log.h"
#include "pre_sym.h"
#include "pre_tail.h"

enum {
	RX_SCRATCH = 8 * SS_REC_MAX_RECORD,           /* records peeked per read */
	TX_BATCH = 8 * SS_REC_MAX_PLAINTEXT,          /* plaintext sealed per send */
	TX_SCRATCH = TX_BATCH + 8 * (SS_REC_OVERHEAD + 256) + 512,
	PT_BOUNCE = SS_REC_MAX_PLAINTEXT + 256,
	HOLD_MAX = 1024 * 1024,                       /* plaintext held during a background handshake */
	TAIL_WAIT_MS = 250,                           /* a non-blocking write behind another holder's tail */
	REC_MIN_LEN = SS_REC_HEADER_LEN + 1 + SS_REC_TAG_LEN,
	/* Reads with less room than this peek first (rx_take): a record
	 * bigger than the buffer would otherwise go through the partial
	 * buffer and cost a system call more than the peek path. */
	TAKE_MIN = 256
};

/* ------------------------------------------------------------ scratch */

struct scratch {
	uint8_t rx[RX_SCRATCH];
	uint8_t tx[TX_SCRATCH];
	uint8_t pt[PT_BOUNCE];
	uint8_t gather[TX_BATCH];
};
static __thread struct scratch *tls_scratch __attribute__((tls_model("initial-exec")));
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
	struct scratch *s = p;
	/* Plaintext passed through pt and gather: wipe before release. */
	sodium_memzero(s->pt, sizeof s->pt);
	sodium_memzero(s->gather, sizeof s->gather);
	free(s);
}

static void scratch_key_init(void)
{
	pthread_key_create(&scratch_key, scratch_free);
}

static struct scratch *scratch(void)
{
	if (__builtin_expect(tls_scratch != NULL, 1))
		return tls_scratch;
	pthread_once(&scratch_once, scratch_key_init);
	tls_scratch = malloc(sizeof *tls_scratch);
	if (tls_scratch)
		pthread_setspecific(scratch_key, tls_scratch);
	return tls_scratch;
}

/* ------------------------------------------------------------ cursor */

struct cursor {
	const struct iovec *iov;
	int cnt, i;
	size_t off;       /* within iov[i] */
};

static void cur_skip_empty(struct cursor *k)
{
	while (k->i < k->cnt && k->off >= k->iov[k->i].iov_len) {
		k->i++;
		k->off = 0;
	}
}

static int cur_full(struct cursor *k)
{
	cur_skip_empty(k);
	return k->i >= k->cnt;
}

static size_t cur_room(struct cursor *k, uint8_t **p)
{
	cur_skip_empty(k);
	if (k->i >= k->cnt)
		return 0;
	*p = (uint8_t *)k->iov[k->i].iov_base + k->off;
	return k->iov[k->i].iov_len - k->off;
}

static size_t cur_put(struct cursor *k, const uint8_t *src, size_t n)
{
	size_t done = 0;
	uint8_t *p;

	while (done < n) {
		size_t room = cur_room(k, &p), m = n - done < room ? n - done : room;
		if (!room)
			break;
		memcpy(p, src + done, m);
		k->off += m;
		done += m;
	}
	return done;
}

static size_t iov_total(const struct iovec *iov, int cnt)
{
	size_t t = 0;
	for (int i = 0; i < cnt; i++)
		t += iov[i].iov_len;
	return t;
}

/* ------------------------------------------------------------ helpers */

/* poll(2) fails EINVAL when nfds exceeds RLIMIT_NOFILE: a program that
 * set its limit to 0 (a restricted child, issue 11 item 5) still has its
 * descriptors, and select(2) bounds nfds by the descriptor table, not the
 * limit.  The set is sized for fd (select takes any size on Linux).
 * POLLRDHUP has no select form: a FIN makes the socket readable anyway. */
static int wait_select(int fd, short events, int64_t timeout_ms)
{
	size_t words = (size_t)fd / (8 * sizeof(long)) + 1;
	unsigned long *rd = calloc(2 * words, sizeof(long)), *wr = rd ? rd + words : NULL;
	unsigned long bit = 1UL << ((unsigned)fd % (8 * sizeof(long)));
	struct timeval tv = { (time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000 };
	int r;

	if (!rd) {
		errno = ENOMEM;
		return -1;
	}
	if (events & (POLLIN | POLLRDHUP | POLLPRI))
		rd[fd / (8 * sizeof(long))] |= bit;
	if (events & POLLOUT)
		wr[fd / (8 * sizeof(long))] |= bit;
	r = REAL(select)(fd + 1, (fd_set *)rd, (fd_set *)wr, NULL, timeout_ms < 0 ? NULL : &tv);
	free(rd);
	return r < 0 ? -1 : r > 0;
}

int pre_io_wait(int fd, short events, int64_t timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	if (timeout_ms > INT32_MAX)
		timeout_ms = INT32_MAX;
	r = REAL(poll)(&p, 1, timeout_ms < 0 ? -1 : (int)timeout_ms);
	if (r < 0 && errno == EINVAL)
		return wait_select(fd, events, timeout_ms);
	if (r < 0)
		return -1;
	if (r == 0)
		return 0;
	if (p.revents & POLLNVAL) {
		errno = EBADF;
		return -1;
	}
	return 1;
}

int64_t pre_io_timeo(int fd, int name)
{
	struct timeval tv = { 0, 0 };
	socklen_t l = sizeof tv;
	int saved = errno;

	if (REAL(getsockopt)(fd, SOL_SOCKET, name, &tv, &l) < 0 || (tv.tv_sec <= 0 && tv.tv_usec <= 0)) {
		errno = saved;
		return -1;
	}
	return pre_now_ms() + (int64_t)tv.tv_sec * 1000 + ((int64_t)tv.tv_usec + 999) / 1000;
}

/* Send all of buf, waiting for room until deadline_ms (0 = no limit).
 * 0 all sent, 1 the deadline passed first, -1 error; *done: bytes sent. */
static int send_until(int fd, const uint8_t *buf, size_t len, int64_t deadline_ms, size_t *done)
{
	size_t off = 0;
	int rc = 0;

	while (off < len) {
		ssize_t r = REAL(send)(fd, buf + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r > 0) {
			off += (size_t)r;
			continue;
		}
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			rc = -1;
			break;
		}
		int64_t left = -1;
		if (deadline_ms) {
			left = deadline_ms - pre_now_ms();
			if (left <= 0) {
				rc = 1;
				break;
			}
		}
		if (pre_io_wait(fd, POLLOUT, left) < 0 && errno != EINTR) {
			rc = -1;
			break;
		}
	}
	*done = off;
	return rc;
}

int pre_io_send_all(int fd, const uint8_t *buf, size_t len, int64_t deadline_ms)
{
	size_t done;
	int r = send_until(fd, buf, len, deadline_ms, &done);

	if (r > 0)
		errno = ETIMEDOUT;
	return r ? -1 : 0;
}

/* The program's SO_SNDTIMEO as a send_until deadline (0: none), asked once
 * per call (*until: 0 not yet asked, -1 none). */
static int64_t snd_deadline(int fd, int64_t *until)
{
	if (!*until)
		*until = pre_io_timeo(fd, SO_SNDTIMEO);
	return *until > 0 ? *until : 0;
}

/* Does a call on c wait, or answer EAGAIN?  O_NONBLOCK lives on the open
 * file description, which every descriptor of the connection in this
 * process shares (dup, dup2, dup3, F_DUPFD) — and so does c.  The shims see
 * every way this process sets it through libc: socket(SOCK_NONBLOCK),
 * fcntl(F_SETFL), ioctl(FIONBIO) (pre_life.c), and the exec handoff carries
 * it; so a non-blocking answer is kept in c->nonblock instead of asking the
 * kernel (fcntl(F_GETFL)) on every read that finds nothing queued and every
 * send the kernel refuses — one system call per event-loop round for a
 * program that reads until EAGAIN.
 * Values: NB_ASK (0: not known yet — an accepted socket, a socket made
 * before our constructor), NB_YES (1), NB_NO (2).  Anything but NB_YES is
 * confirmed with the kernel: the callers ask just before they wait (or
 * pick an errno), where one fcntl costs nothing next to the wait, and a
 * mode the shims cannot see — set by a raw syscall(SYS_fcntl, ...), or by
 * another process sharing the description (a fork child or parent, a
 * descriptor passed with SCM_RIGHTS, a posix_spawn child) — must not turn
 * an EAGAIN the kernel would give into a sleep that stalls an event loop.
 * The answer is installed with a compare-and-swap from the value seen, so
 * an F_SETFL racing with our look from another thread (fcntl_common stores
 * after its system call) wins.
 * The one direction not followed: a cached NB_YES that another process
 * cleared.  We keep answering EAGAIN, as the program asked for — the safe
 * side for code written for non-blocking I/O; flipping the mode of a
 * shared socket under another process is already a bug in plain TCP
 * programs. */
enum { NB_ASK = 0, NB_YES = 1, NB_NO = 2 };

static int conn_nonblock(struct pre_conn *c, int fd)
{
	uint8_t seen = __atomic_load_n(&c->nonblock, __ATOMIC_RELAXED), v;
	int fl;

	if (__builtin_expect(seen == NB_YES, 1))
		return 1;
	fl = REAL(fcntl)(fd, F_GETFL);
	if (fl < 0)
		return 0;   /* EBADF and the like: the call itself will say so */
	v = (fl & O_NONBLOCK) ? NB_YES : NB_NO;
	if (!__atomic_compare_exchange_n(&c->nonblock, &seen, v, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		v = seen;   /* the program set it meanwhile: its value wins */
	return v == NB_YES;
}

/* Called only where the answer decides between EAGAIN and a wait. */
static int would_block(struct pre_conn *c, int fd, int flags)
{
	return (flags & MSG_DONTWAIT) || conn_nonblock(c, fd);
}

/* Drop n bytes the engine already peeked and processed.  MSG_TRUNC makes
 * TCP drop them without copying (tcp(7)); the buffer is a real one anyway,
 * so memory checkers (valgrind) see an addressable destination. */
static int discard(int fd, size_t n)
{
	struct scratch *s = scratch();

	if (!s) {
		errno = ENOMEM;
		return -1;
	}
	while (n > 0) {
		size_t m = n < sizeof s->rx ? n : sizeof s->rx;
		ssize_t r = REAL(recv)(fd, s->rx, m, MSG_TRUNC | MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			/* The bytes were queued a moment ago under rx_lock: anything
			 * else means another process reads this socket behind us. */
			if (r == 0 || errno == EAGAIN)
				errno = ECONNRESET;
			return -1;
		}
		n -= (size_t)r;
	}
	return 0;
}

static void fail_conn(struct pre_conn *c, int fd, const char *why, ss_status st)
{
	if (atomic_exchange(&c->state, PRE_FAILED) != PRE_FAILED)
		pre_log(PRE_LOG_WARN, "fd %d: secured connection torn down: %s%s%s", fd, why,
		        st ? " " : "", st ? ss_status_name(st) : "");
	if (c->rs)
		c->rs->flags |= SS_REC_F_FAILED;
	/* Tear the TCP connection down too: the peer must not keep talking
	 * to a reader that will only ever answer ECONNRESET. */
	pre_reset(fd);
}

void pre_io_fail(struct pre_conn *c, int fd, const char *why)
{
	fail_conn(c, fd, why, 0);
}

/* A reader that finds the stream bad answers ECONNRESET (preload contract:
 * tampered or truncated secured stream).  fail_conn() keeps errno, and some
 * paths returned -1 with whatever an earlier MSG_DONTWAIT peek left there:
 * a blocking read() on a tampered record reported EAGAIN when the record
 * had come in pieces (through the partial buffer) — 33-faults, 1 run in 3. */
static void rx_fail(struct pre_conn *c, int fd, const char *why, ss_status st)
{
	fail_conn(c, fd, why, st);
	errno = ECONNRESET;
}

static int failed_errno(struct pre_conn *c)
{
	return c->bg && c->so_error ? c->so_error : ECONNRESET;
}

/* Seal and send a KeyUpdate (RFC 8446 §4.6.3).  tx_lock held. */
static int send_key_update(struct pre_conn *c, int fd, int request_peer)
{
	uint8_t buf[64];
	size_t n = 0;

	if (ss_rec_key_update(c->rec, request_peer, buf, sizeof buf, &n) != SS_OK)
		return -1;
	c->tx_bytes = 0;
	c->tx_epoch_ms = pre_now_ms();
	pre_log(PRE_LOG_DEBUG, "fd %d: KeyUpdate sent (request_peer=%d)", fd, request_peer);
	return pre_io_send_all(fd, buf, n, 0);
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
	struct scratch *s = tls_scratch;
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
		    pre_arena_tail_state(c) == PRE_TAIL_NONE && send_key_update(c, fd, 0) < 0) {
			pthread_mutex_unlock(&c->tx_lock);
			rx_fail(c, fd, "KeyUpdate answer failed", 0);
			return REC_FAIL;
		}
		pthread_mutex_unlock(&c->tx_lock);
	}
	return REC_DONE;
}

/* FIN or RST behind an incomplete record is truncation (RFC 8446 §6.1). */
int pre_io_truncated(int fd)
{
	struct pollfd pf = { .fd = fd, .events = POLLRDHUP };
	return REAL(poll)(&pf, 1, 0) == 1 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Why not pre_io_truncated() alone after a peek: peek and poll are two
 * looks at a moving queue.  A fast peer's last bytes and its FIN can land
 * between them (socat sending a whole file then SHUT_WR; the client's
 * Finished + data + FIN right behind our flight), and the poll then reports
 * RDHUP for a queue that is complete.  Order matters here: FIN first, then
 * the queue length — after a FIN no byte can arrive, so a queue longer than
 * the caller's peek means data came in meanwhile: look again. */
int pre_io_fin_after(int fd, size_t seen)
{
	int q = 0;

	if (!pre_io_truncated(fd))
		return 0;
	if (REAL(ioctl)(fd, FIONREAD, &q) < 0)   /* TCP: bytes queued (SIOCINQ) */
		return 1;
	return (size_t)q <= seen;
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
			fail_conn(c, fd, n == 0 ? "peer closed inside a record (truncation)" : strerror(errno), 0);
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
			if (n == 0 && pre_io_fin_after(fd, 0)) {
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
	if (discard(fd, need) < 0)
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
		fail_conn(c, fd, strerror(errno), 0);
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
 * - EAGAIN (no plaintext, *end = RX_AGAIN) only when the read came back
 *   short: the kernel queue is then empty or holds the start of the next
 *   record, whose completion is a new kernel event.
 * Program MSG_PEEK and small buffers (< TAKE_MIN) keep the peek path.
 * rx_lock held; `delivered` is what this pass delivered before. */
static ssize_t rx_take(struct pre_conn *c, int fd, struct cursor *k, size_t room, size_t delivered,
                       int *end)
{
	struct scratch *s = tls_scratch;
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
		if (!delivered) {
			if ((size_t)n == want)
				goto again;   /* only control records so far; more are queued */
			*end = RX_AGAIN;
		}
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
	/* Plaintext delivered: the next read completes the record (rx_pass
	 * step 2).  Wake poll/epoll only once all of it can be there. */
	st = ss_rec_frame_len(c->partial, inc, &rl);
	need = st == SS_OK ? rl - inc : SS_REC_HEADER_LEN - inc;
	pre_set_lowat(c, fd, (int)need);
	return (ssize_t)delivered;
}

/* One non-blocking pass over what is queued.  Returns bytes delivered, or -1
 * (errno).  *end: RX_AGAIN when nothing more can be had without waiting,
 * RX_EOF after close_notify.  rx_lock held. */
static ssize_t rx_pass(struct pre_conn *c, int fd, struct cursor *k, int peek, int *end)
{
	struct scratch *s = scratch();
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
		size_t m = cur_put(k, c->cache + c->cache_off, c->cache_len - c->cache_off);
		delivered += m;
		if (peek)
			return (ssize_t)delivered;
		c->cache_off += (uint32_t)m;
		if (c->cache_off < c->cache_len)
			return (ssize_t)delivered;
		if (discard(fd, c->cache_rec) < 0) {
			rx_fail(c, fd, "receive queue changed under us", 0);
			return -1;
		}
		sodium_memzero(c->cache, c->cache_len);
		free(c->cache);
		c->cache = NULL;
		c->cache_off = c->cache_len = c->cache_rec = 0;
	}
	if (c->rs->flags & SS_REC_F_CLOSE_RECEIVED) {
		*end = RX_EOF;
		if (!delivered && !peek && c->eof_queued && discard(fd, c->eof_queued) == 0)
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
	total = 0;
	for (int i = k->i; i < k->cnt; i++)
		total += k->iov[i].iov_len;
	total -= k->off;
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
	if (consume && discard(fd, consume) < 0) {
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
	if (inc) {
		/* An incomplete record at the head: take it out of the kernel
		 * (partial_take says why) and wait for the bytes still missing. */
		if (pre_io_fin_after(fd, inc)) {
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
	pre_set_lowat(c, fd, need);
	if (!delivered && off == (size_t)n)
		*end = RX_AGAIN;   /* only control records were queued */
	return (ssize_t)delivered;
}

ssize_t pre_io_recv(struct pre_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags)
{
	struct cursor k = { iov, iovcnt, 0, 0 };
	int peek = (flags & MSG_PEEK) != 0, end = RX_MORE, st;
	size_t total = 0;
	ssize_t r;
	int64_t until = 0;   /* SO_RCVTIMEO deadline, asked at the first wait; -1 none */

	if (iov_total(iov, iovcnt) == 0)
		return 0;
	pthread_mutex_lock(&c->rx_lock);
	for (;;) {
		st = atomic_load(&c->state);
		if (st == PRE_UNDECIDED || st == PRE_HANDSHAKE) {
			if (!until && !would_block(c, fd, flags))
				until = pre_io_timeo(fd, SO_RCVTIMEO);
			if (pre_accept_progress(c, fd, would_block(c, fd, flags) ? 0 : until) < 0) {
				r = -1;
				goto out;
			}
			continue;
		}
		if (st == PRE_CONNECTING && c->bg) {
			/* Background client handshake: drive it from here too (the
			 * readiness the program saw may be the server's flight). */
			pthread_mutex_lock(&c->tx_lock);
			int b = pre_connect_bg_step(c, fd);
			pthread_mutex_unlock(&c->tx_lock);
			if (b != 0)
				continue;
			if (!until && !would_block(c, fd, flags))
				until = pre_io_timeo(fd, SO_RCVTIMEO);
			if (would_block(c, fd, flags) || (until > 0 && pre_now_ms() >= until)) {
				errno = EAGAIN;
				r = -1;
				goto out;
			}
			int64_t left = c->deadline_ms - pre_now_ms();
			pthread_mutex_unlock(&c->rx_lock);
			pre_io_wait(fd, POLLIN | POLLRDHUP, left < 0 ? 0 : left < 100 ? left : 100);
			pthread_mutex_lock(&c->rx_lock);
			continue;
		}
		if (st == PRE_FAILED) {
			errno = failed_errno(c);
			r = -1;
			goto out;
		}
		if (st == PRE_CONNECTING) {
			errno = conn_nonblock(c, fd) ? EAGAIN : ENOTCONN;
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
		if (total && (peek || !(flags & MSG_WAITALL)))
			break;
		if (end == RX_MORE && r > 0)
			continue;
		if (would_block(c, fd, flags)) {
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
		if (!until)
			until = pre_io_timeo(fd, SO_RCVTIMEO);
		if (until > 0 && pre_now_ms() >= until) {
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
		struct scratch *s = scratch();
		pthread_mutex_unlock(&c->rx_lock);
		if (need > 1 && s && until < 0) {
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
			 * nothing, bounded by `until`. */
			int64_t left = until > 0 ? until - pre_now_ms() : -1;
			int w = pre_io_wait(fd, POLLIN | POLLRDHUP, left < -1 ? 0 : left);
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
	struct scratch *s = scratch();
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

enum tx_mode { TX_AS_SOCKET = 0, TX_BLOCK, TX_NOWAIT };

/* tx_lock held.  Returns plaintext bytes committed, or -1.  TX_NOWAIT (the
 * held data of a background handshake): never wait and never refuse —
 * whatever the kernel does not take goes to the tail. */
static ssize_t tx_locked(struct pre_conn *c, int fd, const struct iovec *iov, int iovcnt,
                         int flags, int mode)
{
	struct scratch *s = scratch();
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
		int t = pre_tail_flush(c, fd);
		if (t < 0)
			goto broken;
		if (t == 0) {
			if (mode == TX_AS_SOCKET && would_block(c, fd, flags)) {
				if (pre_engine_arm(c, fd, EPOLLOUT) == 0) {
					errno = EAGAIN;
					return -1;
				}
			}
			/* blocking socket (or no engine): finish the tail first;
			 * SO_SNDTIMEO bounds the wait (socket(7): EAGAIN, nothing of
			 * this call taken; the rest of the tail stays queued). */
			size_t more = 0;
			int w = send_until(fd, c->tail + c->tail_off, c->tail_len - c->tail_off,
			                   mode == TX_AS_SOCKET ? snd_deadline(fd, &until) : 0, &more);
			c->tail_off += (uint32_t)more;
			if (w < 0)
				goto broken;
			if (w > 0) {
				pre_engine_arm(c, fd, EPOLLOUT);
				errno = EAGAIN;
				return -1;
			}
			pre_tail_drop(c);
		}
	}
	if (c->rs->flags & SS_REC_F_UPDATE_OWED && send_key_update(c, fd, 0) < 0)
		goto broken;
	while (total < want) {
		size_t batch = want - total, olen = 0, sent = 0;
		const uint8_t *src;
		uint8_t *p = NULL;
		uint64_t saved_seq;
		ss_status st;
		ssize_t r;

		if (batch > TX_BATCH)
			batch = TX_BATCH;
		if (cur_room(&k, &p) >= batch) {
			src = p;
			k.off += batch;
		} else {
			size_t m = 0;
			while (m < batch) {
				uint8_t *q = NULL;
				size_t room = cur_room(&k, &q), t = batch - m < room ? batch - m : room;
				memcpy(s->gather + m, q, t);
				k.off += t;
				m += t;
			}
			src = s->gather;
		}
		if (rekey_due(c) && send_key_update(c, fd, 1) < 0)
			goto broken;
		saved_seq = c->rs->tx.seq;
		st = ss_rec_seal_stream(c->rec, src, batch, 0, s->tx, sizeof s->tx, &olen);
		if (src == s->gather)
			sodium_memzero(s->gather, batch);
		if (st == SS_SEQUENCE_EXHAUSTED) {
			if (send_key_update(c, fd, 1) < 0)
				goto broken;
			st = ss_rec_seal_stream(c->rec, src, batch, 0, s->tx, sizeof s->tx, &olen);
		}
		if (st != SS_OK) {
			fail_conn(c, fd, "seal failed:", st);
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
				nb = mode == TX_NOWAIT || (mode == TX_AS_SOCKET && would_block(c, fd, flags));
			if (nb && errno != EINTR && mode != TX_NOWAIT) {
				/* Nothing of these records left the process: take the
				 * sequence numbers back (same key epoch, never observed). */
				c->rs->tx.seq = saved_seq;
				sodium_memzero(s->tx, olen);
				if (total)
					return (ssize_t)total;
				errno = EAGAIN;
				return -1;
			}
			r = 0;
		}
		if (r < 0)
			goto broken;
		sent = (size_t)r;
		if (sent < olen) {
			if (nb < 0)
				nb = mode == TX_NOWAIT || (mode == TX_AS_SOCKET && would_block(c, fd, flags));
			/* Non-blocking: the rest of this batch becomes the tail; the
			 * program has written all of it (the engine sends the tail). */
			if (nb && pre_tail_keep(c, s->tx + sent, olen - sent) == 0) {
				if (pre_engine_arm(c, fd, EPOLLOUT) == 0) {
					total += batch;
					c->tx_bytes += batch;
					if (mode == TX_NOWAIT)
						continue;
					return (ssize_t)total;
				}
				pre_tail_drop(c);
			}
			/* Blocking: wait for room, no longer than SO_SNDTIMEO. */
			size_t more = 0;
			int w = send_until(fd, s->tx + sent, olen - sent,
			                   mode == TX_AS_SOCKET ? snd_deadline(fd, &until) : 0, &more);
			if (w < 0)
				goto broken;
			sent += more;
			if (w > 0 && !sent) {
				/* Timed out with none of the batch taken: as above, the
				 * records never left (EAGAIN, or what was written so far). */
				c->rs->tx.seq = saved_seq;
				sodium_memzero(s->tx, olen);
				if (total)
					return (ssize_t)total;
				errno = EAGAIN;
				return -1;
			}
			if (w > 0) {
				/* Timed out inside the batch: it must not stay half-sent;
				 * the engine finishes it and the count says it was taken
				 * (socket(7): the partial count). */
				if (pre_tail_keep(c, s->tx + sent, olen - sent) == 0 && pre_engine_arm(c, fd, EPOLLOUT) == 0) {
					total += batch;
					c->tx_bytes += batch;
					return (ssize_t)total;
				}
				pre_tail_drop(c);
				if (pre_io_send_all(fd, s->tx + sent, olen - sent, 0) < 0)
					goto broken;
			}
		}
		total += batch;
		c->tx_bytes += batch;
	}
	if (mode == TX_NOWAIT && c->tail_len && pre_engine_arm(c, fd, EPOLLOUT) < 0) {
		if (pre_io_send_all(fd, c->tail + c->tail_off, c->tail_len - c->tail_off, 0) < 0)
			goto broken;
		pre_tail_drop(c);
	}
	return (ssize_t)total;
broken:
	if (errno != EPIPE)
		fail_conn(c, fd, "send failed", 0);
	if (total)
		return (ssize_t)total;
	if (errno != EPIPE && errno != ECONNRESET)
		errno = ECONNRESET;
	return -1;
}

/* A write while the client handshake runs in the background: hold the
 * plaintext (bounded), sealed and sent in order when the handshake
 * completes.  1 held (*r set), 0 not in the background any more, -1 error. */
static int hold_write(struct pre_conn *c, int fd, const struct iovec *iov, int iovcnt, ssize_t *r)
{
	size_t n = iov_total(iov, iovcnt);

	for (;;) {
		pthread_mutex_lock(&c->tx_lock);
		if (atomic_load(&c->state) != PRE_CONNECTING || !c->bg) {
			pthread_mutex_unlock(&c->tx_lock);
			return 0;
		}
		if (c->held_len + n <= HOLD_MAX || n == 0)
			break;
		pthread_mutex_unlock(&c->tx_lock);
		/* Over the bound: wait for the handshake (bounded by its
		 * timeout).  A refusal here would need an EPOLLOUT edge the
		 * kernel never owes us (the socket is writable all along). */
		if (pre_io_wait(fd, POLLIN | POLLRDHUP, 10) < 0 && errno != EINTR)
			return -1;
		pthread_mutex_lock(&c->rx_lock);
		if (atomic_load(&c->state) == PRE_CONNECTING && c->bg) {
			pthread_mutex_lock(&c->tx_lock);
			pre_connect_bg_step(c, fd);
			pthread_mutex_unlock(&c->tx_lock);
		}
		pthread_mutex_unlock(&c->rx_lock);
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
	return 1;
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
			fail_conn(c, fd, "records sealed by another process were never sent", 0);
			errno = ECONNRESET;
			return -1;
		}
		if (atomic_load(&c->state) != PRE_SECURED) {
			errno = failed_errno(c);
			return -1;
		}
		if (c->rs->flags & SS_REC_F_FAILED)
			return 0;   /* (e.g. the state moved to an exec'd image) the seal fails */
		if (!block && would_block(c, fd, flags)) {
			int64_t now = pre_now_ms();
			if (!since)
				since = now;
			if (pre_io_wait(fd, POLLOUT, 0) == 0 || now - since >= TAIL_WAIT_MS) {
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

	if (st == PRE_CONNECTING && c->bg) {
		int h = hold_write(c, fd, iov, iovcnt, &r);
		if (h < 0)
			return -1;
		if (h > 0)
			return r;
		st = atomic_load(&c->state);
	}

	if (st == PRE_UNDECIDED || st == PRE_HANDSHAKE) {
		pthread_mutex_lock(&c->rx_lock);
		r = pre_accept_before_write(c, fd);
		pthread_mutex_unlock(&c->rx_lock);
		if (r < 0)
			return -1;
		st = atomic_load(&c->state);
	}
	if (st == PRE_FAILED) {
		errno = failed_errno(c);
		return -1;
	}
	if (st == PRE_CONNECTING) {
		/* another thread is inside a synchronous connect */
		errno = conn_nonblock(c, fd) ? EAGAIN : ENOTCONN;
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
		pre_hs_nagle_restore(c, fd);
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

void pre_io_drop_eof(struct pre_conn *c, int fd)
{
	/* The peer's close_notify, left queued for poll's sake: read it now,
	 * or closing with unread bytes would make the kernel reset the
	 * connection and destroy data still in flight to the peer. */
	if (c->eof_queued && pthread_mutex_trylock(&c->rx_lock) == 0) {
		if (c->eof_queued && discard(fd, c->eof_queued) == 0)
			c->eof_queued = 0;
		pthread_mutex_unlock(&c->rx_lock);
	}
}

int pre_io_so_error(struct pre_conn *c, int *out)
{
	int e = 0;

	if (!c->bg)
		return 0;
	pthread_mutex_lock(&c->tx_lock);
	if (c->so_error) {
		e = c->so_error;
		c->so_error = 0;   /* SO_ERROR reads and clears, as the kernel's does */
	}
	pthread_mutex_unlock(&c->tx_lock);
	if (!e)
		return 0;
	*out = e;
	return 1;
}

/* A background handshake whose engine duplicate the program closed (or put
 * another file under its number): nothing drives it any more, and waiting
 * for the program to would hang it — its readiness has no EPOLLOUT until the
 * handshake ends.  It ends failed, as bg_fail ends it (pre_connect.c): the
 * socket is reset through a descriptor of the program's that still holds
 * it, SO_ERROR says ECONNRESET, EPOLLOUT comes back.  rx_lock, tx_lock held. */
static void bg_lost(struct pre_conn *c)
{
	unsigned hi = atomic_load(&pre_fdtab_hi);

	ss_ctx_free(c->ctx);
	c->ctx = NULL;
	ss_cred_free(c->cred);
	c->cred = NULL;
	pre_io_drop_held(c);
	for (unsigned fd = 0; fd < hi && fd < pre_fdtab_size; fd++)
		if (pre_fd_peek((int)fd) == c && pre_fd_holds((int)fd, c)) {
			pre_reset((int)fd);
			break;
		}
	c->so_error = ECONNRESET;
	atomic_store(&c->state, PRE_FAILED);
	pre_ready_bg_done(c);
	pre_log(PRE_LOG_WARN, "background handshake failed: the engine's descriptor of the socket was closed by the program");
}

void pre_io_service(struct pre_conn *c)
{
	int efd, put;

	if (c->dir == POL_DIR_INBOUND && (atomic_load(&c->state) == PRE_UNDECIDED ||
	                                  atomic_load(&c->state) == PRE_HANDSHAKE)) {
		pre_accept_service(c);
		return;
	}

	/* Which work it is, decided under tx_lock (connect() sets the state and
	 * bg holding both locks): the tail path ends by closing the duplicate,
	 * which a background handshake still needs.  The tail path takes no
	 * rx_lock: the engine never waits behind a reader. */
	pthread_mutex_lock(&c->tx_lock);
	if (atomic_load(&c->state) == PRE_CONNECTING && c->bg) {
		pthread_mutex_unlock(&c->tx_lock);
		pthread_mutex_lock(&c->rx_lock);
		pthread_mutex_lock(&c->tx_lock);
		if (atomic_load(&c->state) == PRE_CONNECTING && c->bg) {
			efd = pre_engine_fd(c);
			if (efd >= 0)
				pre_connect_bg_step(c, efd);
			else
				bg_lost(c);
			pthread_mutex_unlock(&c->tx_lock);
			pthread_mutex_unlock(&c->rx_lock);
			return;
		}
		pthread_mutex_unlock(&c->rx_lock);
	}
	efd = pre_engine_fd(c);
	put = pre_tail_service(c, efd);
	pthread_mutex_unlock(&c->tx_lock);
	if (put)
		pre_conn_put(c);
}
