/* pre_life.c — exported calls that create, configure, duplicate and end
 * sockets (layer one): socket bind listen connect close shutdown dup dup2
 * dup3 fcntl fcntl64 close_range closefrom ioctl getsockopt setsockopt.
 *
 * Lessons written down (pitfalls list):
 *  - the fd slot is cleared *before* the real close, so a socket that
 *    reuses the number never sees stale state;
 *  - a dup shares one connection (one record state, one sequence number);
 *    close_notify goes out only when the last descriptor closes;
 *  - close_range must not bypass us (OpenSSH + glibc did to proxychains);
 *  - errno is what the real call left, never something from our side work.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <linux/close_range.h>
#include "pre_api.h"
#include "pre_connect.h"
#include "pre_engine.h"
#include "pre_handshake.h"
#include "pre_io.h"
#include "pre_log.h"
#include "pre_ready.h"
#include "pre_sock.h"
#include "pre_sym.h"
#include "pre_tail.h"

#define SHIM __attribute__((visibility("default")))

extern atomic_int pre_ready;

SHIM int socket(int domain, int type, int protocol)
{
	int fd = REAL(socket)(domain, type, protocol), saved = errno;
	struct pre_conn *c;

	if (fd >= 0)
		pre_fd_fresh(fd);
	if (fd < 0 || (domain != AF_INET && domain != AF_INET6) ||
	    (type & 0xf) != SOCK_STREAM || !pre_proto_is_tcp(protocol))
		return fd;
	/* Nothing is allocated before the constructor ran; connect() will
	 * recognise such a socket by SO_PROTOCOL instead. */
	if (!atomic_load_explicit(&pre_ready, memory_order_acquire))
		return fd;
	/* Nothing to record for a connection the policy bypasses anyway. */
	if (pre_quiet_bypass(POL_DIR_OUTBOUND)) {
		errno = saved;
		return fd;
	}
	c = pre_conn_new(domain, SOCK_STREAM, IPPROTO_TCP);
	if (c) {
		c->nonblock = (type & SOCK_NONBLOCK) != 0;
		pre_fd_install(fd, c);
		pre_conn_put(c);
	}
	errno = saved;
	return fd;
}

SHIM int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	int r = REAL(bind)(fd, addr, len), saved = errno;
	struct pre_conn *c;

	if (r == 0 && pre_fd_peek(fd) && (c = pre_fd_get(fd))) {
		if (atomic_load(&c->state) == PRE_NEW)
			pre_conn_record_bind(c, addr, len);
		pre_conn_put(c);
	}
	errno = saved;
	return r;
}

SHIM int listen(int fd, int backlog)
{
	/* A listener is not a connection: its accepted sockets are decided
	 * in accept(), with the settings the program gave it (pre_api.h). */
	if (pre_fd_peek(fd)) {
		struct pre_conn *c = pre_fd_get(fd);
		int kept = pre_api_listen(fd, c);
		pre_conn_put(c);
		if (kept < 0)
			return -1;
		pre_fd_forget(fd);
	}
	return REAL(listen)(fd, backlog);
}

/* The smallest address the kernel's connect takes for a family:
 * tcp_v4_connect wants a whole sockaddr_in, tcp_v6_connect SIN6_LEN_RFC2133
 * (24 bytes: sin6_scope_id is read only from a full sockaddr_in6, 0 else).
 * Anything shorter, or longer than a sockaddr_storage (move_addr_to_kernel),
 * the kernel refuses with EINVAL itself. */
static socklen_t addr_min_len(sa_family_t family)
{
	if (family == AF_INET)
		return (socklen_t)sizeof(struct sockaddr_in);
	if (family == AF_INET6)
		return 24;   /* SIN6_LEN_RFC2133 */
	return 0;
}

/* The socket was dissolved (connect(AF_UNSPEC): tcp_disconnect, the program's
 * own or our pre_reset on a failed connection) and the kernel will connect
 * it again: the old connection's state is void.  Every descriptor of the
 * socket in this process gets one fresh PRE_NEW state, so the next connect
 * is decided by the policy like the first; the old state is failed for a
 * call still in flight on it (and, through the shared record state, for a
 * fork relative that still holds it).  Returns the new state (a ref), or
 * NULL when none could be had (the caller refuses). */
static struct pre_conn *renew(int fd, struct pre_conn *old)
{
	struct pre_conn *n = pre_conn_new(old->domain, SOCK_STREAM, old->protocol);
	unsigned hi;

	if (!n)
		return NULL;
	n->app_sec = old->app_sec;   /* once per socket (secsock_set_security), across a dissolve too */
	pthread_mutex_lock(&old->rx_lock);
	pthread_mutex_lock(&old->tx_lock);
	if (pre_conn_state_fail(old) == PRE_FAILED) {
		/* pre_reset's SO_LINGER {1, 0} is not the program's: a new
		 * connection must end with FIN, not RST (socket(7) default). */
		struct linger lg = { 0, 0 };
		REAL(setsockopt)(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	}
	if (old->rs)
		old->rs->flags |= SS_REC_F_FAILED;
	pre_io_drop_held(old);
	pre_engine_detach(old);
	pre_ready_bg_done(old);
	n->epregs = old->epregs;   /* the program's epoll registrations stay the socket's */
	old->epregs = NULL;
	/* What we set on the socket for the record layer is not the program's. */
	if (old->k_lowat != old->user_lowat)
		REAL(setsockopt)(fd, SOL_SOCKET, SO_RCVLOWAT, &old->user_lowat, sizeof(int));
	pre_conn_nagle_restore(old, fd);
	pthread_mutex_unlock(&old->tx_lock);
	pthread_mutex_unlock(&old->rx_lock);
	hi = atomic_load(&pre_fdtab_hi);
	for (unsigned i = 0; i < hi && i < pre_fdtab_size; i++)
		if (pre_fd_peek((int)i) == old && pre_fd_install((int)i, n) < 0)
			break;
	if (pre_fd_peek(fd) != n && pre_fd_install(fd, n) < 0) {
		pre_conn_put(n);
		return NULL;
	}
	pre_log(PRE_LOG_DEBUG, "fd %d: socket dissolved (connect AF_UNSPEC): connection state dropped", fd);
	return n;
}

/* Is the socket unconnected in the kernel (getpeername: ENOTCONN)? */
static int unconnected(int fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;
	int saved = errno, r = getpeername(fd, (struct sockaddr *)&ss, &l) < 0 && errno == ENOTCONN;

	errno = saved;
	return r;
}

/* connect(AF_UNSPEC) on a descriptor of ours: the kernel dissolves the
 * association (connect(2): "connectionless sockets may dissolve the
 * association by connecting to an address with sa_family AF_UNSPEC"; TCP
 * does it too) and the socket may connect again. */
static int disconnect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct pre_conn *c, *n;
	int r = REAL(connect)(fd, addr, len), saved = errno;

	if (r == 0 && (c = pre_fd_get(fd))) {
		if (atomic_load(&c->state) != PRE_NEW && (n = renew(fd, c)))
			pre_conn_put(n);
		pre_conn_put(c);
	}
	errno = saved;
	return r;
}

SHIM int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct pre_conn *c, *n;
	int dom, r, saved, st;

	if (addr && len >= sizeof(sa_family_t) && addr->sa_family == AF_UNSPEC && pre_fd_peek(fd))
		return disconnect(fd, addr, len);
	/* Every length the kernel accepts is decided (pre_connect copies the
	 * address into a zeroed sockaddr_storage: a short AF_INET6 one has
	 * scope id 0, as the kernel reads it); the others go to the kernel,
	 * which refuses them. */
	if (!addr || len < sizeof(sa_family_t) || !addr_min_len(addr->sa_family) ||
	    len < addr_min_len(addr->sa_family) || len > sizeof(struct sockaddr_storage))
		return REAL(connect)(fd, addr, len);
	saved = errno;
	c = pre_fd_get(fd);
	if (!c) {
		/* A descriptor we did not see created (inherited, made before the
		 * constructor, or forgotten after an earlier connect failed). */
		if (pre_quiet_bypass(POL_DIR_OUTBOUND) || !pre_is_tcp(fd, &dom)) {
			errno = saved;
			return REAL(connect)(fd, addr, len);
		}
		c = pre_conn_new(dom, SOCK_STREAM, IPPROTO_TCP);
		if (!c || pre_fd_install(fd, c) < 0) {
			/* Cannot track it, so cannot secure it: ask the policy's
			 * question by refusing (fail closed). */
			pre_conn_put(c);
			pre_log(PRE_LOG_ERROR, "fd %d: cannot track socket; connection refused", fd);
			errno = ECONNREFUSED;
			return -1;
		}
	}
	st = atomic_load(&c->state);
	if (st == PRE_FAILED && unconnected(fd)) {
		/* A failed connection was reset (pre_reset dissolves it): a new
		 * connect on the socket is a new connection, decided anew. */
		n = renew(fd, c);
		pre_conn_put(c);
		if (!n) {
			pre_log(PRE_LOG_ERROR, "fd %d: cannot track socket; connection refused", fd);
			errno = ECONNREFUSED;
			return -1;
		}
		c = n;
		st = PRE_NEW;
	}
	if (st != PRE_NEW) {
		/* Already connected or connecting: the kernel answers EISCONN /
		 * EALREADY as it would without us. */
		pre_conn_put(c);
		errno = saved;
		return REAL(connect)(fd, addr, len);
	}
	errno = saved;
	r = pre_connect(c, fd, addr, len);
	saved = errno;
	pre_conn_put(c);
	errno = saved;
	return r;
}

/* The last close of a first contact still being decided (pre_connect.c,
 * c->bg_open): what the program wrote is held, so it is decided first and
 * the held bytes go out (the kernel's close does not drop queued data
 * either); nothing written and no ClientHello sent: it was a clear socket
 * all along, closed with a FIN. */
static void close_first_contact(int fd)
{
	struct pre_conn *c = pre_fd_get(fd);

	if (!c)
		return;
	if (atomic_load(&c->state) == PRE_CONNECTING && c->bg && c->bg_open && atomic_load(&c->fd_refs) == 1) {
		pthread_mutex_lock(&c->rx_lock);
		pthread_mutex_lock(&c->tx_lock);
		int quiet = c->bg_lazy && !c->held_len;
		if (quiet) {
			pre_conn_set_state(c, PRE_CLEAR);
			pre_engine_detach(c);
		}
		pthread_mutex_unlock(&c->tx_lock);
		pthread_mutex_unlock(&c->rx_lock);
		if (quiet)
			pre_log(PRE_LOG_INFO, "fd %d: outbound first contact closed unused (nothing sent, FIN)", fd);
		else
			pre_connect_bg_finish(c, fd);
	}
	pre_conn_put(c);
}

SHIM int close(int fd)
{
	if (pre_fd_peek(fd)) {
		close_first_contact(fd);
		pre_fd_forget(fd);
	}
	return REAL(close)(fd);
}

/* Forget every governed descriptor in [first, last] before the kernel
 * closes them (close_notify from the last holder, as close() does). */
static void forget_range(unsigned first, unsigned last)
{
	unsigned hi = atomic_load_explicit(&pre_fdtab_hi, memory_order_acquire);

	if (!pre_fdtab || hi == 0)
		return;
	if (last > hi - 1)
		last = hi - 1;
	for (unsigned fd = first; fd <= last && fd >= first; fd++)
		if (pre_fd_peek((int)fd))
			pre_fd_forget((int)fd);
}

/* Does the kernel have close_range (Linux 5.9)?  Asked once, on a number no
 * process can have open (RLIMIT_NOFILE is below 2^31): 0 = yes. */
static int close_range_missing(void)
{
	static atomic_int known;   /* 0 not asked, 1 present, 2 missing */
	int k = atomic_load_explicit(&known, memory_order_relaxed), saved = errno;

	if (!k) {
		k = REAL(close_range)(~0U, ~0U, 0) < 0 && errno == ENOSYS ? 2 : 1;
		atomic_store_explicit(&known, k, memory_order_relaxed);
		errno = saved;
	}
	return k == 2;
}

SHIM int close_range(unsigned first, unsigned last, int flags)
{
	/* Forget only what the kernel is going to close: not for
	 * CLOSE_RANGE_CLOEXEC (it only marks them), nor for arguments it
	 * refuses (EINVAL: unknown flags, first > last; ENOSYS before 5.9) —
	 * a slot forgotten while its socket stays open would let the next
	 * write go out in clear.  CLOSE_RANGE_UNSHARE closes them in the
	 * calling thread's own copy of the table; the preload's table is the
	 * process's (docs/design.md, "Where bytes can leave"). */
	if (!(flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)) && !(flags & CLOSE_RANGE_CLOEXEC) &&
	    first <= last && pre_fdtab && !close_range_missing())
		forget_range(first, last);
	return REAL(close_range)(first, last, flags);
}

/* glibc's closefrom() calls the close_range system call itself (or, on an
 * old kernel, closes what /proc/self/fd lists with its internal close), so
 * close_range above never sees it (kit finding 13).  closefrom cannot fail
 * (glibc aborts when it could not close a descriptor). */
SHIM void closefrom(int lowfd)
{
	forget_range(lowfd < 0 ? 0 : (unsigned)lowfd, ~0U);
	REAL(closefrom)(lowfd);
}

SHIM int shutdown(int fd, int how)
{
	struct pre_conn *c;

	if (pre_fd_peek(fd) && (how == SHUT_WR || how == SHUT_RDWR) && (c = pre_fd_get(fd))) {
		/* A background handshake is finished first: a FIN now would follow
		 * the ClientHello and cut off what the program wrote before it. */
		if (atomic_load(&c->state) == PRE_CONNECTING && c->bg)
			pre_connect_bg_finish(c, fd);
		/* RFC 8446 §6.1: a half-close is a close_notify on our side, after
		 * every record written before it; with a tail pending the engine
		 * sends close_notify and FIN after it (pre_tail.c), as the kernel
		 * queues its FIN behind unsent data. */
		int later = atomic_load(&c->state) == PRE_SECURED && pre_tail_shut_wr(c, fd);
		pre_conn_put(c);
		if (later) {
			if (how == SHUT_WR)
				return 0;
			how = SHUT_RD;
		}
	}
	return REAL(shutdown)(fd, how);
}

/* Point newfd at oldfd's connection (after a successful dup). */
static void share(int oldfd, int newfd)
{
	struct pre_conn *c;
	int saved = errno;

	if (newfd < 0)
		return;
	if (!pre_fd_peek(oldfd)) {
		pre_fd_fresh(newfd);   /* a new number: nothing of ours on it */
		return;
	}
	if ((c = pre_fd_get(oldfd))) {
		pre_fd_install(newfd, c);
		pre_conn_put(c);
	}
	errno = saved;
}

SHIM int dup(int fd)
{
	int n = REAL(dup)(fd);
	share(fd, n);
	return n;
}

/* dup2/dup3 close newfd first: its connection must say close_notify on its
 * own socket before the number points elsewhere. */
static void before_replace(int oldfd, int newfd)
{
	if (oldfd != newfd && pre_fd_peek(newfd) && fcntl(oldfd, F_GETFD) >= 0)
		pre_fd_forget(newfd);
}

SHIM int dup2(int oldfd, int newfd)
{
	int n;
	before_replace(oldfd, newfd);
	n = REAL(dup2)(oldfd, newfd);
	if (oldfd != newfd)
		share(oldfd, n);
	return n;
}

SHIM int dup3(int oldfd, int newfd, int flags)
{
	int n;
	before_replace(oldfd, newfd);
	n = REAL(dup3)(oldfd, newfd, flags);
	share(oldfd, n);
	return n;
}

static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
	int r = real(fd, cmd, arg);
	struct pre_conn *c;

	if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		share(fd, r);
	if (r < 0 || !pre_fd_peek(fd))
		return r;
	if (cmd == F_SETFL && (c = pre_fd_get(fd))) {
		c->nonblock = ((long)arg & O_NONBLOCK) != 0;
		pre_conn_put(c);
	}
	return r;
}

/* The third argument is an int or a pointer depending on cmd; on the ABIs
 * glibc supports both travel the same way, so it is forwarded as void *. */
SHIM int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;
	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(REAL(fcntl), fd, cmd, arg);
}

SHIM int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;
	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(REAL(fcntl64), fd, cmd, arg);
}

SHIM int ioctl(int fd, unsigned long req, ...)
{
	struct pre_conn *c;
	va_list ap;
	void *arg;
	int r;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!pre_fd_peek(fd) || !(c = pre_fd_get(fd)))
		return REAL(ioctl)(fd, req, arg);
	if (req == FIONREAD && atomic_load(&c->state) == PRE_SECURED) {
		/* Plaintext a read can return, not ciphertext bytes queued. */
		r = pre_io_pending(c, fd, arg);
	} else {
		r = REAL(ioctl)(fd, req, arg);
		if (r == 0 && req == FIONBIO && arg)
			c->nonblock = *(int *)arg != 0;
	}
	int e = errno;
	pre_conn_put(c);
	errno = e;
	return r;
}

/* SO_REUSEPORT on a socket with settings (secsock_set_security): another
 * socket could then bind the same port and take its connections; refused
 * with EACCES, the errno of the seed's SO_EXCLUSIVEADDRUSE conflict
 * (docs/api.md "Exclusive port"). */
static int reuseport_refused(int fd, const void *val, socklen_t len)
{
	struct pre_conn *c = pre_fd_peek(fd) ? pre_fd_get(fd) : NULL;
	int r = pre_api_reuseport_refused(fd, c, val, len);

	pre_conn_put(c);
	return r;
}

SHIM int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct pre_conn *c;
	int r, st, e;

	if (__builtin_expect(level == SOL_SOCKET && name == SO_REUSEPORT, 0) &&
	    reuseport_refused(fd, val, len)) {
		errno = EACCES;
		return -1;
	}
	if (!pre_fd_peek(fd) || !(c = pre_fd_get(fd)))
		return REAL(setsockopt)(fd, level, name, val, len);
	st = atomic_load(&c->state);
	if (level == SOL_SOCKET && name == SO_RCVLOWAT && st != PRE_NEW && st != PRE_CLEAR) {
		/* The kernel's SO_RCVLOWAT belongs to the engine (record framing);
		 * the program's value is kept and reported back. */
		if (!val || len < sizeof(int)) {
			pre_conn_put(c);
			errno = EINVAL;
			return -1;
		}
		memcpy(&c->user_lowat, val, sizeof(int));
		pre_conn_put(c);
		return 0;
	}
	r = REAL(setsockopt)(fd, level, name, val, len);
	e = errno;
	if (r == 0 && level == IPPROTO_TCP && name == TCP_NODELAY)
		c->nagle_off = 0;   /* the program's own choice now stands (pre_handshake.c) */
	if (r == 0 && st == PRE_NEW) {
		pthread_mutex_lock(&c->rx_lock);
		pre_conn_record_opt(c, level, name, val, len);
		pthread_mutex_unlock(&c->rx_lock);
	}
	pre_conn_put(c);
	errno = e;
	return r;
}

SHIM int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct pre_conn *c;
	int st;

	if (!pre_fd_peek(fd) || !(c = pre_fd_get(fd)))
		return REAL(getsockopt)(fd, level, name, val, len);
	st = atomic_load(&c->state);
	if (level == SOL_SOCKET && name == SO_RCVLOWAT && st != PRE_NEW && st != PRE_CLEAR &&
	    val && len && *len >= sizeof(int)) {
		memcpy(val, &c->user_lowat, sizeof(int));
		*len = sizeof(int);
		pre_conn_put(c);
		return 0;
	}
	/* issue 5: a background handshake's failure (pre_io.c) */
	if (level == SOL_SOCKET && name == SO_ERROR && val && len && *len >= sizeof(int) &&
	    pre_io_so_error(c, val)) {
		*len = sizeof(int);
		pre_conn_put(c);
		return 0;
	}
	pre_conn_put(c);
	return REAL(getsockopt)(fd, level, name, val, len);
}
