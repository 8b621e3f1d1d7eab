/* pre_ready.c — readiness of a governed socket whose handshake runs in the
 * background (issue 10 finding 14c): poll ppoll select pselect epoll_ctl
 * (and glibc's fortified __poll_chk, __ppoll_chk).
 *
 * A non-blocking connect under `require` returns EINPROGRESS and handshakes
 * in the background (pre_connect.c).  The kernel reports the socket
 * writable as soon as TCP is up; a program that waits for POLLOUT and then
 * reads SO_ERROR = 0 (connect(2): "select(2) or poll(2) for completion ...
 * then getsockopt SO_ERROR") would believe a connection established that
 * may still be refused.  So, while the handshake runs, a connecting socket
 * is not reported writable by any readiness call of ours: it becomes
 * writable when the handshake finished (SO_ERROR 0), or when it failed (the
 * socket is reset, and SO_ERROR says why, pre_io_so_error).
 *  - poll/ppoll/select/pselect: such an entry is asked of the kernel for
 *    input only (the server's flight), in slices of at most SLICE_MS; when
 *    its input comes, or a slice ends, the handshake is driven from here
 *    (pre_connect_bg_step, as the program's own reads drive it) and the
 *    entry is reported only once it is over.  Nothing is spent on a call
 *    with no such socket but one fd-table look per entry.
 *  - epoll: readiness lives in the kernel's epoll set, so the registration
 *    itself is masked.  epoll_ctl remembers each registration of a socket
 *    that may connect (PRE_NEW or PRE_CONNECTING) on the connection; while
 *    the handshake runs the kernel sees its events without EPOLLOUT, and
 *    when it ends (pre_ready_bg_done) each one is modified back to what the
 *    program asked: EPOLL_CTL_MOD re-polls the socket and queues the event
 *    if it is ready (an edge for EPOLLET, eventpoll.c ep_modify), so every
 *    epoll_wait flavour sees it without being wrapped.
 * The server side (issue 11 item 6): an accepted connection not yet decided
 * (UNDECIDED or HANDSHAKE) has the client's ClientHello, then its Finished,
 * in its queue; those bytes are secsock's and must never make the socket
 * readable to the program (a server that looks for early input with a
 * zero timeout before its banner would read, and block for a request the
 * client will only send after the banner).  poll/select ask the kernel as
 * the program did, plus input; an entry that comes back is driven one step
 * (pre_accept_progress, never waiting) and reported only as what is left
 * once the handshake has taken its bytes: input only when the connection
 * is decided and the kernel still says so.  epoll registrations lose
 * their input events while it is undecided; the engine, armed then, drives
 * the handshake (pre_accept.c) and the decision gives them back
 * (pre_ready_bg_done).
 * Limits (docs/design.md): a registration with EPOLLEXCLUSIVE cannot be
 * modified and is left alone; an EPOLLONESHOT one is re-armed at the end of
 * the handshake.
 */
#undef _FORTIFY_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include "pre_accept.h"
#include "pre_connect.h"
#include "pre_engine.h"
#include "pre_io.h"
#include "pre_ready.h"
#include "pre_sock.h"
#include "pre_sym.h"

#define SHIM __attribute__((visibility("default")))

extern void __chk_fail(void) __attribute__((noreturn));

enum {
	SLICE_MS = 50,          /* longest wait between two looks at a handshake */
	STACK_FDS = 64,
	WR_EVENTS = POLLOUT | POLLWRNORM | POLLWRBAND
};

/* One epoll registration of a governed socket (c->epregs, under tx_lock). */
struct pre_epreg {
	struct pre_epreg *next;
	int epfd, fd;
	struct epoll_event ev;    /* as the program asked */
	int masked;               /* the kernel has it without EPOLLOUT */
};

static int inbound_hidden(struct pre_conn *c)
{
	int st = atomic_load(&c->state);
	return c->dir == POL_DIR_INBOUND && (st == PRE_UNDECIDED || st == PRE_HANDSHAKE);
}

static int hidden(struct pre_conn *c)
{
	/* bg_open: a first contact under request ends in a connection either
	 * way (secured, or clear on the same socket), so the kernel's readiness
	 * stands (pre_connect.c "First contact"). */
	return (atomic_load(&c->state) == PRE_CONNECTING && c->bg && !c->bg_open) || inbound_hidden(c);
}

/* A first contact under request still being decided: output is the
 * kernel's (what the program writes is held), input is not yet — the
 * server's handshake flight the engine is about to take would make a
 * blocking reader read nothing and block (a relay such as socat, waiting
 * in read() on one socket while its other one needs it).  poll/select
 * drive it and report input once it is decided; epoll registrations keep
 * the kernel's readiness (event loops read non-blocking: EAGAIN). */
static int open_contact(struct pre_conn *c)
{
	return atomic_load(&c->state) == PRE_CONNECTING && c->bg && c->bg_open;
}

enum { K_NONE, K_CONNECT, K_INBOUND, K_INBOUND_HS, K_OPEN };

/* What readiness of fd hides: nothing, a background connect's handshake
 * (no output until it ends), or an accepted connection's undecided first
 * bytes (no input until decided; K_INBOUND_HS: its handshake has a
 * deadline, look in slices). */
static int fd_kind(int fd)
{
	struct pre_conn *c;
	int k = K_NONE;

	if (fd < 0 || !pre_fd_peek(fd) || !(c = pre_fd_get(fd)))
		return K_NONE;
	if (inbound_hidden(c))
		k = atomic_load(&c->state) == PRE_HANDSHAKE || c->deadline_ms ? K_INBOUND_HS : K_INBOUND;
	else if (hidden(c))
		k = K_CONNECT;
	else if (open_contact(c))
		k = K_OPEN;
	pre_conn_put(c);
	return k;
}

/* Is fd a socket whose handshake runs in the background? */
static int fd_hidden(int fd)
{
	return fd_kind(fd) != K_NONE;
}

/* Drive the handshake one step from here; 1 while it still runs. */
static int drive(int fd)
{
	struct pre_conn *c = pre_fd_get(fd);
	int h;

	if (!c)
		return 0;
	/* The locks first, then the look: the engine may be finishing this
	 * handshake right now, and it sets the state before it has dropped
	 * the flight's bytes from the kernel queue (both under these locks).
	 * Looking first could see "over" while those bytes are still queued,
	 * and the kernel's POLLIN for them would tell the program a read will
	 * not block — a single-threaded relay (socat) then blocked in read()
	 * on the one socket while its other one waited for it. */
	int e = errno;
	pthread_mutex_lock(&c->rx_lock);
	if (inbound_hidden(c)) {
		pre_accept_progress(c, fd, 0);
	} else {
		pthread_mutex_lock(&c->tx_lock);
		if (hidden(c) || open_contact(c))
			pre_connect_bg_step(c, fd);
		pthread_mutex_unlock(&c->tx_lock);
	}
	pthread_mutex_unlock(&c->rx_lock);
	errno = e;
	h = hidden(c) || open_contact(c);
	pre_conn_put(c);
	return h;
}

static int64_t ts_ms(const struct timespec *t)
{
	if (!t)
		return -1;
	if (t->tv_sec < 0 || t->tv_nsec < 0)
		return 0;
	if (t->tv_sec > INT32_MAX / 1000)
		return INT32_MAX;
	return (int64_t)t->tv_sec * 1000 + (t->tv_nsec + 999999) / 1000000;
}

static int real_wait(struct pollfd *fds, nfds_t n, int64_t ms, const sigset_t *mask, int use_ppoll)
{
	if (!use_ppoll)
		return REAL(poll)(fds, n, ms < 0 ? -1 : (int)ms);
	if (ms < 0)
		return REAL(ppoll)(fds, n, NULL, mask);
	struct timespec t = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	return REAL(ppoll)(fds, n, &t, mask);
}

/* poll/ppoll with background handshakes among the entries (see the top). */
static int ready_poll(struct pollfd *fds, nfds_t n, int64_t timeout_ms, const sigset_t *mask, int use_ppoll)
{
	short stack[STACK_FDS], *orig = n <= STACK_FDS ? stack : malloc(n * sizeof(short));
	unsigned char kstack[STACK_FDS], *kind = n <= STACK_FDS ? kstack : malloc(n);
	int64_t deadline = timeout_ms < 0 ? -1 : pre_now_ms() + timeout_ms;
	int r;

	if (!orig || !kind) {
		if (orig != stack)
			free(orig);
		if (kind != kstack)
			free(kind);
		return real_wait(fds, n, timeout_ms, mask, use_ppoll);
	}
	for (;;) {
		int64_t left = deadline < 0 ? -1 : deadline - pre_now_ms();
		int any = 0, slice = 0, count = 0;

		if (left < -1)
			left = 0;
		for (nfds_t i = 0; i < n; i++) {
			orig[i] = -1;
			kind[i] = (unsigned char)fd_kind(fds[i].fd);
			if (kind[i] != K_NONE) {
				short keep = kind[i] == K_CONNECT ? (short)(fds[i].events & ~WR_EVENTS) : fds[i].events;
				orig[i] = fds[i].events;
				fds[i].events = (short)(keep | POLLIN | POLLRDHUP);
				any = 1;
				slice |= kind[i] != K_INBOUND;
			}
		}
		if (!any) {
			r = real_wait(fds, n, left, mask, use_ppoll);
			break;
		}
		r = real_wait(fds, n, slice && (left < 0 || left > SLICE_MS) ? SLICE_MS : left, mask, use_ppoll);
		for (nfds_t i = 0; i < n; i++)
			if (orig[i] != -1)
				fds[i].events = orig[i];
		if (r < 0)
			break;
		for (nfds_t i = 0; i < n; i++) {
			if (orig[i] != -1) {
				/* an undecided accepted connection: output as the kernel
				 * says (a write decides it, pre_accept_before_write),
				 * never its handshake's input */
				short wr = kind[i] == K_CONNECT ? 0 : (short)(fds[i].revents & orig[i] & WR_EVENTS);
				if (kind[i] == K_INBOUND && !fds[i].revents)
					continue;
				fds[i].revents = wr;
				if (!drive(fds[i].fd)) {
					/* over: what the kernel says of it now */
					struct pollfd one = { fds[i].fd, fds[i].events, 0 };
					if (REAL(poll)(&one, 1, 0) > 0)
						fds[i].revents = one.revents;
				}
			}
			count += fds[i].revents != 0;
		}
		r = count;
		if (count || (deadline >= 0 && pre_now_ms() >= deadline))
			break;
	}
	if (orig != stack)
		free(orig);
	if (kind != kstack)
		free(kind);
	return r;
}

static int any_hidden(const struct pollfd *fds, nfds_t n)
{
	for (nfds_t i = 0; i < n; i++)
		if (fd_hidden(fds[i].fd))
			return 1;
	return 0;
}

SHIM int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (__builtin_expect(!any_hidden(fds, n), 1))
		return REAL(poll)(fds, n, timeout);
	return ready_poll(fds, n, timeout < 0 ? -1 : timeout, NULL, 0);
}

SHIM int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	return poll(fds, n, timeout);
}

SHIM int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask)
{
	if (__builtin_expect(!any_hidden(fds, n), 1))
		return REAL(ppoll)(fds, n, t, mask);
	return ready_poll(fds, n, ts_ms(t), mask, 1);
}

SHIM int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask,
                     size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	return ppoll(fds, n, t, mask);
}

/* ------------------------------------------------------------ select */

static int in_sets(int fd, fd_set *r, fd_set *w, fd_set *e)
{
	return (r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (e && FD_ISSET(fd, e));
}

static int sets_hidden(int nfds, fd_set *r, fd_set *w, fd_set *e)
{
	for (int fd = 0; fd < nfds; fd++)
		if (pre_fd_peek(fd) && in_sets(fd, r, w, e) && fd_hidden(fd))
			return 1;
	return 0;
}

/* select as poll (the kernel's own mapping, fs/select.c POLLIN_SET,
 * POLLOUT_SET, POLLEX_SET), so that ready_poll handles the handshakes. */
static int select_as_poll(int nfds, fd_set *r, fd_set *w, fd_set *e, int64_t ms, const sigset_t *mask,
                          int use_ppoll)
{
	struct pollfd *p = calloc((size_t)nfds, sizeof *p);
	int n = 0, count = 0, res;

	if (!p) {
		errno = ENOMEM;
		return -1;
	}
	for (int fd = 0; fd < nfds; fd++) {
		if (!in_sets(fd, r, w, e))
			continue;
		p[n].fd = fd;
		p[n].events = (short)((r && FD_ISSET(fd, r) ? POLLIN : 0) | (w && FD_ISSET(fd, w) ? POLLOUT : 0) |
		                      (e && FD_ISSET(fd, e) ? POLLPRI : 0));
		n++;
	}
	res = ready_poll(p, (nfds_t)n, ms, mask, use_ppoll);
	if (res < 0) {
		free(p);
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (p[i].revents & POLLNVAL) {
			free(p);
			errno = EBADF;
			return -1;
		}
	for (int i = 0; i < n; i++) {
		int fd = p[i].fd;
		short v = p[i].revents;
		if (r && FD_ISSET(fd, r) && !(v & (POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR)))
			FD_CLR(fd, r);
		if (w && FD_ISSET(fd, w) && !(v & (POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR)))
			FD_CLR(fd, w);
		if (e && FD_ISSET(fd, e) && !(v & POLLPRI))
			FD_CLR(fd, e);
		count += (r && FD_ISSET(fd, r)) + (w && FD_ISSET(fd, w)) + (e && FD_ISSET(fd, e));
	}
	free(p);
	return count;
}

SHIM int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
	if (__builtin_expect(nfds <= 0 || !sets_hidden(nfds, r, w, e), 1))
		return REAL(select)(nfds, r, w, e, tv);
	int64_t ms = tv ? (int64_t)tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000 : -1;
	int64_t t0 = pre_now_ms();
	int res = select_as_poll(nfds, r, w, e, ms, NULL, 0);
	if (tv) {
		/* Linux select(2) leaves the time not slept in *timeout. */
		int64_t left = ms - (pre_now_ms() - t0);
		if (left < 0)
			left = 0;
		tv->tv_sec = (time_t)(left / 1000);
		tv->tv_usec = (suseconds_t)(left % 1000) * 1000;
	}
	return res;
}

SHIM int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t, const sigset_t *mask)
{
	if (__builtin_expect(nfds <= 0 || !sets_hidden(nfds, r, w, e), 1))
		return REAL(pselect)(nfds, r, w, e, t, mask);
	return select_as_poll(nfds, r, w, e, ts_ms(t), mask, 1);
}

/* ------------------------------------------------------------ epoll */

static uint32_t masked_events(const struct pre_conn *c, uint32_t ev)
{
	if (c->dir == POL_DIR_INBOUND)
		return ev & ~(uint32_t)(EPOLLIN | EPOLLRDNORM | EPOLLRDBAND);
	return ev & ~(uint32_t)(EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND);
}

/* tx_lock held.  An undecided accepted connection is masked only once the
 * engine watches it (it then decides it in the background); the engine
 * only does so for connections a program waits for in epoll, so that one
 * the program forks or execs before using is still undecided, not in the
 * middle of a handshake no other image can carry (pre_exec.c). */
static int ep_record(struct pre_conn *c, int epfd, int op, int fd, const struct epoll_event *ev)
{
	struct pre_epreg **pp, *g;

	for (pp = &c->epregs; *pp; pp = &(*pp)->next)
		if ((*pp)->epfd == epfd && (*pp)->fd == fd)
			break;
	if (op == EPOLL_CTL_DEL || !ev || (ev->events & EPOLLEXCLUSIVE)) {
		if ((g = *pp)) {
			*pp = g->next;
			free(g);
		}
		return REAL(epoll_ctl)(epfd, op, fd, (struct epoll_event *)ev);
	}
	struct epoll_event e = *ev;
	/* an undecided accepted connection only while the engine drives its
	 * handshake: masked input with no one to decide would never come */
	int mask = hidden(c);
	if (inbound_hidden(c) && !c->eng_inbound)
		mask = c->eng_inbound = pre_engine_arm(c, fd, EPOLLIN | EPOLLRDHUP) == 0;
	if (mask)
		e.events = masked_events(c, e.events);
	int r = REAL(epoll_ctl)(epfd, op, fd, &e);
	if (r < 0)
		return r;
	g = *pp;
	if (!g && !(g = calloc(1, sizeof *g)))
		return r;   /* not followed: the program keeps the kernel's readiness */
	if (!*pp)
		*pp = g;
	g->epfd = epfd;
	g->fd = fd;
	g->ev = *ev;
	g->masked = mask;
	return r;
}

SHIM int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct pre_conn *c;
	int r, st, e;

	if (__builtin_expect(!pre_fd_peek(fd), 1) || !(c = pre_fd_get(fd)))
		return REAL(epoll_ctl)(epfd, op, fd, ev);
	st = atomic_load(&c->state);
	if (st != PRE_NEW && st != PRE_CONNECTING && st != PRE_UNDECIDED && st != PRE_HANDSHAKE && !c->epregs) {
		pre_conn_put(c);
		return REAL(epoll_ctl)(epfd, op, fd, ev);
	}
	pthread_mutex_lock(&c->tx_lock);
	r = ep_record(c, epfd, op, fd, ev);
	e = errno;
	pthread_mutex_unlock(&c->tx_lock);
	pre_conn_put(c);
	errno = e;
	return r;
}

void pre_ready_bg_start(struct pre_conn *c)
{
	int e = errno;

	for (struct pre_epreg *g = c->epregs; g; g = g->next) {
		struct epoll_event ev = g->ev;
		ev.events = masked_events(c, ev.events);
		if (REAL(epoll_ctl)(g->epfd, EPOLL_CTL_MOD, g->fd, &ev) == 0)
			g->masked = 1;
	}
	errno = e;
}

void pre_ready_bg_done(struct pre_conn *c)
{
	int e = errno;

	for (struct pre_epreg *g = c->epregs; g; g = g->next) {
		if (!g->masked)
			continue;
		g->masked = 0;
		REAL(epoll_ctl)(g->epfd, EPOLL_CTL_MOD, g->fd, &g->ev);
	}
	errno = e;
}

void pre_ready_free(struct pre_conn *c)
{
	struct pre_epreg *g = c->epregs, *n;

	for (; g; g = n) {
		n = g->next;
		free(g);
	}
	c->epregs = NULL;
}
