/* pre_io.c — the stream engine (see pre_io.h for the invariants): the parts
 * in pre_rx.c (receive), pre_tx.c (send) and pre_wire.c (socket helpers);
 * here the per-thread buffers, the helpers they share and the engine's
 * service of a connection.
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
#include "pre_engine.h"
#include "pre_io.h"
#include "pre_io_int.h"
#include "pre_log.h"
#include "pre_status.h"
#include "pre_sym.h"
#include "pre_tail.h"

__thread struct scratch *pre_io_tls_scratch __attribute__((tls_model("initial-exec")));
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

struct scratch *pre_io_scratch(void)
{
	if (__builtin_expect(pre_io_tls_scratch != NULL, 1))
		return pre_io_tls_scratch;
	pthread_once(&scratch_once, scratch_key_init);
	pre_io_tls_scratch = malloc(sizeof *pre_io_tls_scratch);
	if (pre_io_tls_scratch)
		pthread_setspecific(scratch_key, pre_io_tls_scratch);
	return pre_io_tls_scratch;
}

/* ------------------------------------------------------------ helpers */







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

int pre_io_conn_nonblock(struct pre_conn *c, int fd)
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
int pre_io_would_block(struct pre_conn *c, int fd, int flags)
{
	return (flags & MSG_DONTWAIT) || pre_io_conn_nonblock(c, fd);
}

/* Drop n bytes the engine already peeked and processed.  MSG_TRUNC makes
 * TCP drop them without copying (tcp(7)); the buffer is a real one anyway,
 * so memory checkers (valgrind) see an addressable destination. */
int pre_io_discard(int fd, size_t n)
{
	struct scratch *s = pre_io_scratch();

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

void pre_io_fail_conn(struct pre_conn *c, int fd, const char *why, ss_status st)
{
	if (pre_conn_state_fail(c) != PRE_FAILED && PRE_LOG_WARN <= pre_log_level) {
		char l[PRE_LOG_ADDR_LEN], r[PRE_LOG_ADDR_LEN], reason[200];
		pre_log_names(fd, &c->peer_addr, l, r, NULL);
		snprintf(reason, sizeof reason, "%s%s%s", why, st ? " " : "", st ? ss_status_name(st) : "");
		struct pre_event ev = { .name = PRE_EV_TORN_DOWN, .dir = c->dir == POL_DIR_INBOUND ? "inbound" : "outbound",
		                        .peer = r[0] != '?' ? r : NULL, .rule = c->rule ? c->rule : "defaults",
		                        .reason = reason };
		pre_event(PRE_LOG_WARN, &ev, "fd %d: secured connection torn down: %s", fd, reason);
	}
	if (c->rs)
		c->rs->flags |= SS_REC_F_FAILED;
	/* Tear the TCP connection down too: the peer must not keep talking
	 * to a reader that will only ever answer ECONNRESET. */
	pre_reset(fd);
}

void pre_io_fail(struct pre_conn *c, int fd, const char *why)
{
	pre_io_fail_conn(c, fd, why, 0);
}


int pre_io_failed_errno(struct pre_conn *c)
{
	return c->bg && c->so_error ? c->so_error : ECONNRESET;
}

/* A control record (KeyUpdate, NewSessionTicket) all out.  more: data
 * follows at once, so the record waits for it and both go in one segment
 * (MSG_MORE).  Sent alone, Nagle would hold the data back behind the
 * control record's ACK, and a program that closes right after writing,
 * with its peer's close_notify still queued (which makes the kernel reset
 * the connection), would lose that data. */
static int send_control(int fd, const uint8_t *rec, size_t n, int more)
{
	ssize_t w = more ? REAL(send)(fd, rec, n, MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL) : 0;
	size_t off = w > 0 ? (size_t)w : 0;
	return off == n ? 0 : pre_wire_send_all(fd, rec + off, n - off, 0);
}

/* Seal and send a KeyUpdate (RFC 8446 §4.6.3).  tx_lock held. */
int pre_io_send_key_update(struct pre_conn *c, int fd, int request_peer, int more)
{
	uint8_t buf[64];
	size_t n = 0;

	if (ss_rec_key_update(c->rec, request_peer, buf, sizeof buf, &n) != SS_OK)
		return -1;
	c->tx_bytes = 0;
	c->tx_epoch_ms = pre_now_ms();
	pre_status_rekey(c);
	pre_log(PRE_LOG_DEBUG, "fd %d: KeyUpdate sent (request_peer=%d)", fd, request_peer);
	return send_control(fd, buf, n, more);
}

/* A server's NewSessionTicket (pre_resume.h), sealed as the handshake
 * message it is, once, before the data of its first write.  tx_lock held. */
int pre_io_send_ticket(struct pre_conn *c, int fd)
{
	uint8_t rec[SS_REC_TICKET_MAX + SS_REC_OVERHEAD];
	size_t n = 0;
	ss_status st = ss_rec_seal(c->rec, SS_CT_HANDSHAKE, c->ticket_msg, c->ticket_len, rec, sizeof rec, &n);

	free(c->ticket_msg);
	c->ticket_msg = NULL;
	c->ticket_len = 0;
	if (st != SS_OK)
		return 0;   /* no ticket: the next connection is a full handshake */
	return send_control(fd, rec, n, 1);   /* the first data follows */
}

void pre_io_drop_eof(struct pre_conn *c, int fd)
{
	/* The peer's close_notify, left queued for poll's sake: read it now,
	 * or closing with unread bytes would make the kernel reset the
	 * connection and destroy data still in flight to the peer. */
	if (c->eof_queued && pthread_mutex_trylock(&c->rx_lock) == 0) {
		if (c->eof_queued && pre_io_discard(fd, c->eof_queued) == 0)
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

void pre_io_service(struct pre_conn *c)
{
	int efd, put;

	if (pre_engine_setup_service(c))
		return;
	/* The tail path takes no rx_lock: the engine never waits behind a
	 * reader. */
	pthread_mutex_lock(&c->tx_lock);
	efd = pre_engine_fd(c);
	put = pre_tail_service(c, efd);
	pthread_mutex_unlock(&c->tx_lock);
	if (put)
		pre_conn_put(c);
}
