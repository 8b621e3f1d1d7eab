/* pre_shim_fd.c — calls that hand the program a new descriptor number.
 *
 * A descriptor can be closed where no shim sees it: glibc's own closes
 * (closefrom's fallback, a raw FILE's __close_nocancel), a raw system call
 * instruction, io_uring, another library's inline syscall.  The fd table
 * would then keep the old connection under that number, and the next file
 * the kernel puts there would be read and written as the old secured
 * socket (kit finding 13: ECONNRESET on a plain file's write; worse, a
 * close_notify written into it).  But the kernel only hands out a number
 * that is free: every call below returns a NEW descriptor, so whatever slot
 * is left for it is stale and is forgotten (pre_fd_fresh: one relaxed load
 * when there is none, no system call — tests/integration/53-bypass-quiet).
 *
 * The set: everything a program gets a number from by calling a libc
 * function — open/openat/creat and their 64 and fortified (_2) names, pipe,
 * pipe2, socketpair, eventfd, timerfd_create, signalfd (a new one: fd -1),
 * epoll_create(1), memfd_create, inotify_init(1), pidfd_getfd.  socket,
 * accept(4), dup*, F_DUPFD (pre_life.c, pre_accept.c), recvmsg's
 * SCM_RIGHTS (pre_shim_io.c) and their syscall() forms (pre_shim_raw.c)
 * do the same.  Numbers made inside glibc (fopen, opendir, mkstemp, the
 * resolver) are not seen here; a stale slot under such a number is caught
 * when it is used: the failed read or write finds the number is no longer
 * the connection's socket and goes to the kernel as a plain call
 * (pre_shim_io.c), and a last close sends nothing on it (pre_fdtab.c).
 */
#undef _FORTIFY_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <string.h>
#include <unistd.h>
#include "pre_shim.h"
#include "pre_sym.h"

static inline int fresh(int fd)
{
	if (fd >= 0)
		pre_fd_fresh(fd);
	return fd;
}

static inline void fresh2(int r, const int fds[2])
{
	if (r == 0) {
		pre_fd_fresh(fds[0]);
		pre_fd_fresh(fds[1]);
	}
}

/* open(2): the mode is read only with O_CREAT or O_TMPFILE, and passing it
 * always is what glibc's own wrapper does with whatever is there. */
static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

#define OPEN_SHIM(name, i) \
	SHIM int name(const char *path, int flags, ...) \
	{ \
		va_list ap; \
		mode_t m; \
		va_start(ap, flags); \
		m = mode_arg(flags, ap); \
		va_end(ap); \
		return fresh(REAL(open[i])(path, flags, m)); \
	}
#define OPENAT_SHIM(name, i) \
	SHIM int name(int dfd, const char *path, int flags, ...) \
	{ \
		va_list ap; \
		mode_t m; \
		va_start(ap, flags); \
		m = mode_arg(flags, ap); \
		va_end(ap); \
		return fresh(REAL(openat[i])(dfd, path, flags, m)); \
	}

OPEN_SHIM(open, 0)
OPEN_SHIM(open64, 1)
OPENAT_SHIM(openat, 0)
OPENAT_SHIM(openat64, 1)

/* The fortified forms take no mode (they abort on O_CREAT without one). */
SHIM int __open_2(const char *path, int flags)
{
	return fresh(REAL(open[2])(path, flags));
}

SHIM int __open64_2(const char *path, int flags)
{
	return fresh(REAL(open[3])(path, flags));
}

SHIM int __openat_2(int dfd, const char *path, int flags)
{
	return fresh(REAL(openat[2])(dfd, path, flags));
}

SHIM int __openat64_2(int dfd, const char *path, int flags)
{
	return fresh(REAL(openat[3])(dfd, path, flags));
}

SHIM int creat(const char *path, mode_t mode)
{
	return fresh(REAL(creat[0])(path, mode));
}

SHIM int creat64(const char *path, mode_t mode)
{
	return fresh(REAL(creat[1])(path, mode));
}

SHIM int pipe(int fds[2])
{
	int r = REAL(pipe)(fds);
	fresh2(r, fds);
	return r;
}

SHIM int pipe2(int fds[2], int flags)
{
	int r = REAL(pipe2)(fds, flags);
	fresh2(r, fds);
	return r;
}

/* AF_UNIX only on Linux: never governed, but the numbers are new. */
SHIM int socketpair(int domain, int type, int protocol, int sv[2])
{
	int r = REAL(socketpair)(domain, type, protocol, sv);
	fresh2(r, sv);
	return r;
}

SHIM int eventfd(unsigned initval, int flags)
{
	return fresh(REAL(eventfd)(initval, flags));
}

SHIM int timerfd_create(int clockid, int flags)
{
	return fresh(REAL(timerfd_create)(clockid, flags));
}

/* signalfd(-1, ...) makes a new descriptor; on an existing one it returns
 * that same number, which is no connection of ours either. */
SHIM int signalfd(int fd, const sigset_t *mask, int flags)
{
	return fresh(REAL(signalfd)(fd, mask, flags));
}

SHIM int epoll_create(int size)
{
	return fresh(REAL(epoll_create)(size));
}

SHIM int epoll_create1(int flags)
{
	return fresh(REAL(epoll_create1)(flags));
}

SHIM int memfd_create(const char *name, unsigned flags)
{
	return fresh(REAL(memfd_create)(name, flags));
}

SHIM int inotify_init(void)
{
	return fresh(REAL(inotify_init)());
}

SHIM int inotify_init1(int flags)
{
	return fresh(REAL(inotify_init1)(flags));
}

/* A copy of another process's descriptor: a new number here.  (Whether a
 * secured socket may be taken this way is the hand-off question of
 * SCM_RIGHTS; the copy has no connection state in this process.) */
SHIM int pidfd_getfd(int pidfd, int targetfd, unsigned flags)
{
	return fresh(REAL(pidfd_getfd)(pidfd, targetfd, flags));
}

/* Descriptors received with SCM_RIGHTS are new numbers in this process. */
void pre_fd_fresh_rights(const struct msghdr *m)
{
	for (const struct cmsghdr *h = CMSG_FIRSTHDR(m); h; h = CMSG_NXTHDR((struct msghdr *)m, (struct cmsghdr *)h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS || h->cmsg_len < CMSG_LEN(0))
			continue;
		size_t n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const unsigned char *p = CMSG_DATA(h);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, p + i * sizeof fd, sizeof fd);
			pre_fd_fresh(fd);
		}
	}
}
