/* pre_tail.c — the tail of a non-blocking write and what must follow it
 * (see pre_tail.h for the rule and the list of second writers).
 *
 * close() with a tail: the kernel's own close returns at once and sends
 * queued data afterwards (no SO_LINGER); our queued data is the tail, in
 * this process's memory, so the engine thread (which holds a duplicate of
 * the socket while it has work) sends it, then close_notify when this was
 * the last holder, then closes the duplicate (FIN).  Such connections wait
 * on the closing list (a reference each) so that exit() can finish them:
 * the engine thread dies with the process.  exit() waits at most
 * EXIT_WAIT_MS in all; what is still unsent then is lost, and the peer
 * sees a truncation, never records out of order.  _exit and fatal signals
 * run no handler: the other holders find the owner dead
 * (pre_arena_tail_state) and fail the connection.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include "pre_engine.h"
#include "pre_io.h"
#include "pre_log.h"
#include "pre_sym.h"
#include "pre_tail.h"

enum {
	AFTER_NOTIFY = 1,     /* close_notify after the tail */
	AFTER_SHUT_WR = 2,    /* then shutdown(SHUT_WR): FIN */
	AFTER_DETACH = 4,     /* then close the engine's duplicate (the program closed) */
	CLOSE_WAIT_MS = 1000, /* a close or shutdown that must send now waits no longer */
	EXIT_WAIT_MS = 2000   /* exit() waits no longer, all connections together */
};

static pthread_mutex_t closing_lk = PTHREAD_MUTEX_INITIALIZER;
static struct pre_conn *closing;   /* closing_lk; each entry holds a reference */

/* ------------------------------------------------------------ the tail */

void pre_tail_drop(struct pre_conn *c)
{
	free(c->tail);
	c->tail = NULL;
	c->tail_off = c->tail_len = 0;
	pre_arena_tail_set(c, 0);
}

/* Sealed bytes are ciphertext: no wipe needed. */
int pre_tail_keep(struct pre_conn *c, const uint8_t *p, size_t n)
{
	size_t have = c->tail_len - c->tail_off;
	uint8_t *t = malloc(have + n);

	if (!t || have + n > UINT32_MAX) {
		free(t);
		return -1;
	}
	if (have)
		memcpy(t, c->tail + c->tail_off, have);
	memcpy(t + have, p, n);
	free(c->tail);
	c->tail = t;
	c->tail_off = 0;
	c->tail_len = (uint32_t)(have + n);
	pre_arena_tail_set(c, 1);
	return 0;
}

int pre_tail_flush(struct pre_conn *c, int fd)
{
	while (c->tail_off < c->tail_len) {
		ssize_t r = REAL(send)(fd, c->tail + c->tail_off, c->tail_len - c->tail_off,
		                       MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r > 0) {
			c->tail_off += (uint32_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return -1;
	}
	pre_tail_drop(c);
	return 1;
}

/* ------------------------------------------------------------ finishing */

static void nap_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	nanosleep(&ts, NULL);
}

static int lock_until(struct pre_conn *c, int64_t deadline_ms)
{
	struct timespec until;
	int64_t left = deadline_ms - pre_now_ms();

	clock_gettime(CLOCK_REALTIME, &until);
	if (left < 0)
		left = 0;
	until.tv_sec += left / 1000;
	until.tv_nsec += (left % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	return pthread_mutex_timedlock(&c->tx_lock, &until);
}

/* close_notify must follow every record sealed before it, another holder's
 * tail included.  tx_lock held (released while waiting).  1: nothing of
 * anyone's is pending; 0: it was lost, or is still pending at the deadline. */
static int others_out(struct pre_conn *c, int64_t deadline_ms)
{
	for (;;) {
		int t = pre_arena_tail_state(c);
		if (t == PRE_TAIL_NONE || t == PRE_TAIL_MINE)
			return 1;
		if (t == PRE_TAIL_LOST || pre_now_ms() >= deadline_ms)
			return 0;
		pthread_mutex_unlock(&c->tx_lock);
		nap_ms(2);
		pthread_mutex_lock(&c->tx_lock);
	}
}

/* The tail, then what `what` asks for, before deadline_ms.  tx_lock held.
 * A tail that cannot be sent in time is lost: the stream is broken for
 * every holder, so the connection is failed (no close_notify after half a
 * record, and no other holder seals after the gap). */
static void finish(struct pre_conn *c, int fd, unsigned what, int64_t deadline_ms)
{
	uint8_t buf[64];
	size_t n = 0;
	int ok = atomic_load(&c->state) == PRE_SECURED && c->rs && !(c->rs->flags & SS_REC_F_FAILED);

	if (c->tail_len) {
		if (ok && pre_wire_send_all(fd, c->tail + c->tail_off, c->tail_len - c->tail_off, deadline_ms) < 0) {
			pre_io_fail(c, fd, "records written before close were not taken by the peer in time");
			ok = 0;
		}
		pre_tail_drop(c);
	}
	if (what & (AFTER_NOTIFY | AFTER_SHUT_WR))
		c->wr_shut = 1;
	if ((what & AFTER_NOTIFY) && ok && others_out(c, deadline_ms) && c->rec &&
	    !(c->rs->flags & SS_REC_F_FAILED) && ss_rec_alert(c->rec, 1, 0, buf, sizeof buf, &n) == SS_OK) {
		pre_wire_send_all(fd, buf, n, deadline_ms);
		pre_log(PRE_LOG_DEBUG, "fd %d: close_notify sent", fd);
	}
	if (what & AFTER_SHUT_WR)
		REAL(shutdown)(fd, SHUT_WR);
	if (what & AFTER_DETACH)
		pre_engine_detach(c);
	c->after_tail = 0;
}

/* Leave `what` to the engine, which sends the tail when the socket drains
 * (it is armed for EPOLLOUT whenever a tail is kept).  tx_lock held. */
static int defer(struct pre_conn *c, unsigned what)
{
	if (!c->tail_len || pre_engine_fd(c) < 0)
		return 0;
	c->after_tail |= (uint8_t)what;
	pthread_mutex_lock(&closing_lk);
	if (!c->closing_listed) {
		c->closing_next = closing;
		closing = pre_conn_ref(c);
		c->closing_listed = 1;
	}
	pthread_mutex_unlock(&closing_lk);
	return 1;
}

/* Off the closing list (tx_lock held): 1 when the caller must drop its ref. */
static int unlist(struct pre_conn *c)
{
	int put = 0;

	pthread_mutex_lock(&closing_lk);
	if (c->closing_listed) {
		for (struct pre_conn **pp = &closing; *pp; pp = &(*pp)->closing_next)
			if (*pp == c) {
				*pp = c->closing_next;
				break;
			}
		c->closing_next = NULL;
		c->closing_listed = 0;
		put = 1;
	}
	pthread_mutex_unlock(&closing_lk);
	return put;
}

int pre_tail_service(struct pre_conn *c, int efd)
{
	if (efd < 0) {
		/* The program closed our duplicate (closefrom, close_range by raw
		 * system call) or put another file under its number: the tail can
		 * no longer be sent, so nothing may follow it. */
		if (c->tail_len && pre_conn_state_fail(c) == PRE_SECURED) {
			if (c->rs)
				c->rs->flags |= SS_REC_F_FAILED;
			pre_log(PRE_LOG_WARN, "secured connection torn down: its pending records lost their descriptor");
		}
		pre_tail_drop(c);
		c->after_tail = 0;
		return unlist(c);
	}
	if (c->tail_len) {
		int t = atomic_load(&c->state) == PRE_SECURED ? pre_tail_flush(c, efd) : -1;
		if (t == 0 && pre_engine_arm(c, efd, EPOLLOUT) == 0)
			return 0;
		if (t < 0) {
			if (atomic_load(&c->state) == PRE_SECURED)
				pre_io_fail(c, efd, "send failed (tail)");
			pre_tail_drop(c);
			c->after_tail = 0;
		}
	}
	/* drained (or cannot be armed again: finish it here, bounded) */
	if (c->after_tail || c->tail_len)
		finish(c, efd, c->after_tail, pre_now_ms() + CLOSE_WAIT_MS);
	pre_engine_detach(c);
	return unlist(c);
}

/* ------------------------------------------------------------ close, shutdown, exit */

void pre_tail_last_close(struct pre_conn *c, int fd, int notify)
{
	unsigned what;

	/* A writer stuck on a full send buffer must not make close() hang. */
	if (lock_until(c, pre_now_ms() + CLOSE_WAIT_MS) != 0)
		return;
	what = AFTER_DETACH | (notify && !c->wr_shut ? AFTER_NOTIFY : 0);
	if (c->tail_len)
		pre_log(PRE_LOG_DEBUG, "fd %d: closed with %u bytes of records unsent", fd, c->tail_len - c->tail_off);
	if ((c->tail_len || notify) && !defer(c, what))
		finish(c, fd, what | c->after_tail, pre_now_ms() + CLOSE_WAIT_MS);
	pthread_mutex_unlock(&c->tx_lock);
}

int pre_tail_shut_wr(struct pre_conn *c, int fd)
{
	unsigned what = AFTER_SHUT_WR;
	int later;

	if (lock_until(c, pre_now_ms() + CLOSE_WAIT_MS) != 0)
		return 0;
	if (!c->wr_shut)
		what |= AFTER_NOTIFY;
	later = defer(c, what);
	if (later)
		c->wr_shut = 1;   /* writes answer EPIPE from now on, as after the kernel's */
	else
		finish(c, fd, (what & ~(unsigned)AFTER_SHUT_WR) | c->after_tail, pre_now_ms() + CLOSE_WAIT_MS);
	pthread_mutex_unlock(&c->tx_lock);
	return later;
}

static void exit_one(struct pre_conn *c, int fd, int notify, int64_t deadline_ms)
{
	unsigned what = notify && !c->wr_shut ? AFTER_NOTIFY | AFTER_DETACH : 0;

	if (!what && !c->tail_len && !c->after_tail)
		return;
	if (lock_until(c, deadline_ms) != 0)
		return;
	finish(c, fd, what | c->after_tail, deadline_ms);
	pthread_mutex_unlock(&c->tx_lock);
}

static void exit_closing(int64_t deadline_ms)
{
	for (;;) {
		struct pre_conn *c;

		pthread_mutex_lock(&closing_lk);
		c = closing;
		if (c) {
			closing = c->closing_next;
			c->closing_next = NULL;
			c->closing_listed = 0;
		}
		pthread_mutex_unlock(&closing_lk);
		if (!c)
			return;
		if (lock_until(c, deadline_ms) == 0) {
			int efd = pre_engine_fd(c);
			if (c->tail_len || c->after_tail) {
				if (efd >= 0)
					finish(c, efd, c->after_tail, deadline_ms);
				else
					pre_tail_service(c, -1);
			}
			pthread_mutex_unlock(&c->tx_lock);
		}
		pre_conn_put(c);
	}
}

void pre_tail_exit_all(void)
{
	int64_t deadline = pre_now_ms() + EXIT_WAIT_MS;
	unsigned hi = atomic_load(&pre_fdtab_hi);

	exit_closing(deadline);
	for (unsigned fd = 0; fd < hi && fd < pre_fdtab_size; fd++) {
		struct pre_conn *c;
		if (!pre_fd_peek((int)fd) || !(c = pre_fd_get((int)fd)))
			continue;
		if (atomic_load(&c->state) == PRE_SECURED) {
			int sole = pre_arena_sole_holder(c);
			if (sole)
				pre_io_drop_eof(c, (int)fd);
			exit_one(c, (int)fd, sole, deadline);
		}
		pre_arena_exit(c);
		pre_conn_put(c);
	}
}

/* ------------------------------------------------------------ exec, fork */

void pre_tail_before_exec(void)
{
	exit_closing(pre_now_ms() + EXIT_WAIT_MS);
}

int pre_tail_adopt(struct pre_conn *c, int fd, uint8_t *buf, size_t n)
{
	int t;

	pthread_mutex_lock(&c->tx_lock);
	c->tail = buf;
	c->tail_off = 0;
	c->tail_len = (uint32_t)n;
	pre_arena_tail_set(c, 1);
	t = pre_tail_flush(c, fd);
	if (t == 0 && pre_engine_arm(c, fd, EPOLLOUT) < 0)
		t = pre_wire_send_all(fd, c->tail + c->tail_off, c->tail_len - c->tail_off,
		                    pre_now_ms() + CLOSE_WAIT_MS) == 0 ? 1 : -1;
	if (t != 0)
		pre_tail_drop(c);
	pthread_mutex_unlock(&c->tx_lock);
	return t < 0 ? -1 : 0;
}

void pre_tail_atfork_prepare(void)
{
	pthread_mutex_lock(&closing_lk);
}

void pre_tail_atfork_parent(void)
{
	pthread_mutex_unlock(&closing_lk);
}

void pre_tail_atfork_child(void)
{
	/* The parent's closes are the parent's: its engine finishes them.  The
	 * child keeps its copies referenced (never freed here): freeing one
	 * would leave its shared slot with a holder count the parent's fork
	 * never raised for it. */
	for (struct pre_conn *c = closing, *next; c; c = next) {
		next = c->closing_next;
		c->closing_next = NULL;
		c->closing_listed = 0;
		c->after_tail = 0;
	}
	closing = NULL;
	pthread_mutex_init(&closing_lk, NULL);
}
