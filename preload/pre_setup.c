/* pre_setup.c — make a connection ready before the stream engine moves its
 * bytes (pre_setup.h has the layering). */
#include <errno.h>
#include <poll.h>
#include "pre_accept.h"
#include "pre_connect.h"
#include "pre_engine.h"
#include "pre_handshake.h"
#include "pre_io.h"
#include "pre_log.h"
#include "pre_ready.h"
#include "pre_resume.h"
#include "pre_setup.h"
#include "pre_sym.h"
#include "pre_wire.h"

static int undecided_inbound(const struct pre_conn *c)
{
	int st = atomic_load(&c->state);
	return c->dir == POL_DIR_INBOUND && (st == PRE_UNDECIDED || st == PRE_HANDSHAKE);
}

static int bg_connecting(const struct pre_conn *c)
{
	return atomic_load(&c->state) == PRE_CONNECTING && c->bg;
}

/* A background handshake whose engine duplicate the program closed (or put
 * another file under its number): nothing drives it any more, and waiting
 * for the program to would hang it — its readiness has no EPOLLOUT until the
 * handshake ends.  It ends failed, as a background failure ends
 * (pre_connect.c): the socket is reset through a descriptor of the
 * program's that still holds it, SO_ERROR says ECONNRESET, EPOLLOUT comes
 * back.  rx_lock, tx_lock held. */
static void bg_lost(struct pre_conn *c)
{
	unsigned hi = atomic_load(&pre_fdtab_hi);
	int held = -1;

	for (unsigned fd = 0; fd < hi && fd < pre_fdtab_size; fd++)
		if (pre_fd_peek((int)fd) == c && pre_fd_holds((int)fd, c)) {
			held = (int)fd;
			break;
		}
	pre_hs_abandon(c, held, ECONNRESET);
	pre_ready_bg_done(c);
	pre_log(PRE_LOG_WARN, "background handshake failed: the engine's descriptor of the socket was closed by the program");
}

/* The engine thread's event (or timer) on c: 1 when it was setup work,
 * done here; 0 when c is ready and the engine's own work (the tail) is
 * next. */
static int engine_setup(struct pre_conn *c)
{
	int bg;

	if (undecided_inbound(c)) {
		pre_accept_service(c);
		return 1;
	}
	/* Which work it is, decided under tx_lock (connect() sets the state
	 * and bg holding both locks): the tail path ends by closing the
	 * duplicate, which a background handshake still needs. */
	pthread_mutex_lock(&c->tx_lock);
	bg = bg_connecting(c);
	pthread_mutex_unlock(&c->tx_lock);
	if (!bg)
		return 0;
	pthread_mutex_lock(&c->rx_lock);
	pthread_mutex_lock(&c->tx_lock);
	bg = bg_connecting(c);
	if (bg) {
		int efd = pre_engine_fd(c);
		if (efd >= 0)
			pre_connect_bg_step(c, efd);
		else
			bg_lost(c);
	}
	pthread_mutex_unlock(&c->tx_lock);
	pthread_mutex_unlock(&c->rx_lock);
	return bg;
}

static const struct pre_engine_setup hooks = {
	.service = engine_setup,
	.deadline = pre_connect_bg_deadline,
};

void pre_setup_init(void)
{
	pre_engine_set_setup(&hooks);
}

/* Before a read: 0 when the engine may try again, -1 with errno when the
 * read ends here.  *until: the SO_RCVTIMEO deadline, asked once. */
static int recv_setup(struct pre_conn *c, int fd, int flags, int64_t *until)
{
	int nb = pre_io_would_block(c, fd, flags), st, r = 0;

	if (!*until && !nb)
		*until = pre_wire_timeo(fd, SO_RCVTIMEO);
	pthread_mutex_lock(&c->rx_lock);
	st = atomic_load(&c->state);
	if (st == PRE_UNDECIDED || st == PRE_HANDSHAKE) {
		r = pre_accept_progress(c, fd, nb ? 0 : *until);
	} else if (bg_connecting(c)) {
		/* Drive it from here too: the readiness the program saw may be
		 * the server's flight. */
		pthread_mutex_lock(&c->tx_lock);
		int b = pre_connect_bg_step(c, fd);
		pthread_mutex_unlock(&c->tx_lock);
		if (b == 0) {
			if (nb || (*until > 0 && pre_now_ms() >= *until)) {
				errno = EAGAIN;
				r = -1;
			} else {
				int64_t left = c->deadline_ms - pre_now_ms();
				pthread_mutex_unlock(&c->rx_lock);
				pre_wire_wait(fd, POLLIN | POLLRDHUP, left < 0 ? 0 : left < 100 ? left : 100);
				return 0;
			}
		}
	}
	pthread_mutex_unlock(&c->rx_lock);
	return r;
}

/* A client waiting for its server's ticket (pre_resume.h): the record
 * layer keeps the NewSessionTicket it read; the association is made here,
 * above the stream engine. */
static void take_ticket(struct pre_conn *c)
{
	int e = errno;
	pthread_mutex_lock(&c->rx_lock);
	pre_resume_ticket(c);
	pthread_mutex_unlock(&c->rx_lock);
	errno = e;
}

ssize_t pre_setup_recv(struct pre_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags)
{
	int64_t until = 0;

	for (;;) {
		/* One SO_RCVTIMEO deadline for the whole call: a read that first
		 * finishes a handshake waits at most the timeout, not twice it. */
		ssize_t r = pre_io_recv(c, fd, iov, iovcnt, flags, &until);
		if (r != PRE_IO_NOT_READY) {
			if (c->res)
				take_ticket(c);
			return r;
		}
		if (recv_setup(c, fd, flags, &until) < 0)
			return -1;
	}
}

/* Drive a background handshake one step from a writer's thread. */
static void bg_kick(struct pre_conn *c, int fd)
{
	pthread_mutex_lock(&c->rx_lock);
	pthread_mutex_lock(&c->tx_lock);
	if (bg_connecting(c))
		pre_connect_bg_step(c, fd);
	pthread_mutex_unlock(&c->tx_lock);
	pthread_mutex_unlock(&c->rx_lock);
}

/* Before a write: 1 when the write is done here (*r its result), 0 when the
 * engine may try again, -1 with errno. */
static int send_setup(struct pre_conn *c, int fd, const struct iovec *iov, int iovcnt, ssize_t *r)
{
	while (bg_connecting(c)) {
		int h = pre_io_hold(c, fd, iov, iovcnt, r);
		if (h < 0)
			return -1;
		if (h == PRE_IO_HELD) {
			/* A first contact waiting for the program's first write
			 * (pre_connect.c): the ClientHello goes now. */
			if (c->bg_lazy)
				bg_kick(c, fd);
			return 1;
		}
		if (h != PRE_IO_HOLD_FULL)
			break;
		/* Over the bound: wait for the handshake (bounded by its
		 * timeout).  A refusal here would need an EPOLLOUT edge the
		 * kernel never owes us (the socket is writable all along). */
		if (pre_wire_wait(fd, POLLIN | POLLRDHUP, 10) < 0 && errno != EINTR)
			return -1;
		bg_kick(c, fd);
	}
	int st = atomic_load(&c->state);
	if (st == PRE_UNDECIDED || st == PRE_HANDSHAKE) {
		pthread_mutex_lock(&c->rx_lock);
		int a = pre_accept_before_write(c, fd);
		pthread_mutex_unlock(&c->rx_lock);
		if (a < 0)
			return -1;
	}
	return 0;
}

static ssize_t send_any(struct pre_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags,
                        int blocking)
{
	for (;;) {
		ssize_t r = blocking ? pre_io_send_blocking(c, fd, iov[0].iov_base, iov[0].iov_len)
		                     : pre_io_send(c, fd, iov, iovcnt, flags);
		if (r != PRE_IO_NOT_READY)
			return r;
		int k = send_setup(c, fd, iov, iovcnt, &r);
		if (k < 0)
			return -1;
		if (k > 0)
			return r;
	}
}

ssize_t pre_setup_send(struct pre_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags)
{
	return send_any(c, fd, iov, iovcnt, flags, 0);
}

ssize_t pre_setup_send_blocking(struct pre_conn *c, int fd, const void *buf, size_t len)
{
	struct iovec v = { (void *)buf, len };
	return send_any(c, fd, &v, 1, MSG_NOSIGNAL, 1);
}
