/* pre_shim_raw.c — syscall(2), the libc function that makes any system call.
 *
 * A program (or a library: systemd's NSS modules, Python's ctypes users,
 * code written before glibc had a wrapper) that calls syscall(SYS_write,
 * fd, …) on a secured socket put its bytes on the wire in clear: none of
 * our shims ran (kit finding 06).  syscall() is interposed: every number
 * that acts on a descriptor we may govern, makes a connection, makes or
 * ends a descriptor, or replaces the program goes to the shim of the same
 * name, so it gets exactly what the libc call would get; every other number
 * goes to libc's syscall() with the six arguments as given.
 *
 *  - data calls (read write readv writev recvfrom preadv2 pwritev2 ioctl
 *    fcntl get/setsockopt shutdown bind listen sendfile splice close): the
 *    shim only when the descriptor has a slot — one relaxed load otherwise;
 *  - calls that may connect or hand over descriptors (connect, sendto,
 *    sendmsg, sendmmsg with MSG_FASTOPEN or SCM_RIGHTS; recvmsg/recvmmsg
 *    receiving SCM_RIGHTS), and socket, accept, accept4, dup, dup2, dup3,
 *    close_range, fork, vfork, execve, execveat: always the shim;
 *  - calls that only create a descriptor (open, openat, openat2, creat,
 *    pipe, pipe2, socketpair, eventfd, eventfd2, timerfd_create, signalfd,
 *    signalfd4, epoll_create, epoll_create1, memfd_create, inotify_init,
 *    inotify_init1, fanotify_init, pidfd_open, pidfd_getfd, userfaultfd,
 *    perf_event_open, open_by_handle_at, open_tree, fsopen, fsmount,
 *    fspick, mq_open, io_uring_setup): the kernel's answer, and any stale
 *    slot under the new number forgotten (pre_shim_fd.c);
 *  - pread64 pwrite64 preadv pwritev, tee, vmsplice, copy_file_range: the
 *    kernel refuses a socket for them (ESPIPE, EINVAL) — passed through.
 *
 * Not covered (docs/design.md "Where bytes can leave"): a system call made
 * with the instruction itself (Go, static code, liburing's io_uring_enter),
 * clone/clone3 (raw, like _Fork: no fork handlers), and io_uring, whose
 * requests the kernel performs with no call of ours at all.
 *
 * Arguments: six longs are read whatever the number, as glibc's own
 * syscall() does (extra ones are whatever the caller's registers and stack
 * held, and the kernel ignores them).
 */
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include "pre_shim.h"
#include "pre_sym.h"

SHIM int close_range(unsigned first, unsigned last, int flags);

#define FD(i) ((int)a[i])
#define P(i) ((void *)a[i])

/* The kernel's answer, forgetting a stale slot under a new number. */
static long fresh_fd(long r)
{
	if (r >= 0)
		pre_fd_fresh((int)r);
	return r;
}

static long fresh_pair(long r, const int *fds)
{
	if (r == 0 && fds) {
		pre_fd_fresh(fds[0]);
		pre_fd_fresh(fds[1]);
	}
	return r;
}

/* Numbers that go to a shim whatever the descriptor.  1 and *out set when
 * n is one of them. */
static int always_ours(long n, const long *a, long *out)
{
	switch (n) {
	case SYS_connect:
		*out = connect(FD(0), P(1), (socklen_t)a[2]);
		return 1;
	case SYS_sendto:
		*out = sendto(FD(0), P(1), (size_t)a[2], (int)a[3], P(4), (socklen_t)a[5]);
		return 1;
	case SYS_sendmsg:
		*out = sendmsg(FD(0), P(1), (int)a[2]);
		return 1;
	case SYS_sendmmsg:
		*out = sendmmsg(FD(0), P(1), (unsigned)a[2], (int)a[3]);
		return 1;
	case SYS_recvmsg:
		*out = recvmsg(FD(0), P(1), (int)a[2]);
		return 1;
	case SYS_recvmmsg:
		*out = recvmmsg(FD(0), P(1), (unsigned)a[2], (int)a[3], P(4));
		return 1;
	case SYS_socket:
		*out = socket((int)a[0], (int)a[1], (int)a[2]);
		return 1;
	case SYS_accept:
		*out = accept(FD(0), P(1), P(2));
		return 1;
	case SYS_accept4:
		*out = accept4(FD(0), P(1), P(2), (int)a[3]);
		return 1;
	case SYS_dup:
		*out = dup(FD(0));
		return 1;
	case SYS_dup2:
		*out = dup2(FD(0), FD(1));
		return 1;
	case SYS_dup3:
		*out = dup3(FD(0), FD(1), (int)a[2]);
		return 1;
	case SYS_close_range:
		*out = close_range((unsigned)a[0], (unsigned)a[1], (int)a[2]);
		return 1;
	case SYS_fork:
	case SYS_vfork:   /* served by fork, as the vfork shim is (pre_fork.c) */
		*out = fork();
		return 1;
	case SYS_execve:
		*out = execve(P(0), P(1), P(2));
		return 1;
	case SYS_execveat:
		*out = execveat(FD(0), P(1), P(2), P(3), (int)a[4]);
		return 1;
	}
	return 0;
}

/* Numbers that act on a descriptor: the shim when fd a[0] has a slot. */
static int on_governed(long n, const long *a, long *out)
{
	switch (n) {
	case SYS_read:
		*out = read(FD(0), P(1), (size_t)a[2]);
		return 1;
	case SYS_write:
		*out = write(FD(0), P(1), (size_t)a[2]);
		return 1;
	case SYS_readv:
		*out = readv(FD(0), P(1), (int)a[2]);
		return 1;
	case SYS_writev:
		*out = writev(FD(0), P(1), (int)a[2]);
		return 1;
	case SYS_recvfrom:
		*out = recvfrom(FD(0), P(1), (size_t)a[2], (int)a[3], P(4), P(5));
		return 1;
	/* (fd, iov, cnt, offset, offset high word — 0 on 64-bit, flags) */
	case SYS_preadv2:
		*out = preadv2(FD(0), P(1), (int)a[2], (off_t)a[3], (int)a[5]);
		return 1;
	case SYS_pwritev2:
		*out = pwritev2(FD(0), P(1), (int)a[2], (off_t)a[3], (int)a[5]);
		return 1;
	case SYS_ioctl:
		*out = ioctl(FD(0), (unsigned long)a[1], P(2));
		return 1;
	case SYS_fcntl:
		*out = fcntl(FD(0), (int)a[1], P(2));
		return 1;
	case SYS_setsockopt:
		*out = setsockopt(FD(0), (int)a[1], (int)a[2], P(3), (socklen_t)a[4]);
		return 1;
	case SYS_getsockopt:
		*out = getsockopt(FD(0), (int)a[1], (int)a[2], P(3), P(4));
		return 1;
	case SYS_shutdown:
		*out = shutdown(FD(0), (int)a[1]);
		return 1;
	case SYS_bind:
		*out = bind(FD(0), P(1), (socklen_t)a[2]);
		return 1;
	case SYS_listen:
		*out = listen(FD(0), (int)a[1]);
		return 1;
	case SYS_close:
		*out = close(FD(0));
		return 1;
	}
	return 0;
}

/* The call creates descriptors and nothing else. */
static int creates_fd(long n)
{
	switch (n) {
	case SYS_open: case SYS_openat: case SYS_openat2: case SYS_creat:
	case SYS_eventfd: case SYS_eventfd2: case SYS_timerfd_create:
	case SYS_signalfd: case SYS_signalfd4: case SYS_epoll_create: case SYS_epoll_create1:
	case SYS_memfd_create: case SYS_inotify_init: case SYS_inotify_init1:
	case SYS_fanotify_init: case SYS_pidfd_open: case SYS_pidfd_getfd: case SYS_userfaultfd:
	case SYS_perf_event_open: case SYS_open_by_handle_at: case SYS_open_tree:
	case SYS_fsopen: case SYS_fsmount: case SYS_fspick: case SYS_mq_open:
	case SYS_io_uring_setup:
		return 1;
	}
	return 0;
}

SHIM long syscall(long n, ...)
{
	va_list ap;
	long a[6], r;

	va_start(ap, n);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);

	if (always_ours(n, a, &r))
		return r;
	switch (n) {
	case SYS_sendfile:   /* (out, in, offset, count) */
		if (pre_fd_peek(FD(0)) || pre_fd_peek(FD(1)))
			return sendfile(FD(0), FD(1), P(2), (size_t)a[3]);
		break;
	case SYS_splice:     /* (in, off_in, out, off_out, len, flags) */
		if (pre_fd_peek(FD(0)) || pre_fd_peek(FD(2)))
			return splice(FD(0), P(1), FD(2), P(3), (size_t)a[4], (unsigned)a[5]);
		break;
	case SYS_fcntl:      /* F_DUPFD makes a new number on any descriptor */
		if ((a[1] == F_DUPFD || a[1] == F_DUPFD_CLOEXEC) && !pre_fd_peek(FD(0)))
			return fresh_fd(REAL(syscall)(n, a[0], a[1], a[2], a[3], a[4], a[5]));
		break;
	case SYS_pipe:
	case SYS_pipe2:
		return fresh_pair(REAL(syscall)(n, a[0], a[1], a[2], a[3], a[4], a[5]), P(0));
	case SYS_socketpair:
		return fresh_pair(REAL(syscall)(n, a[0], a[1], a[2], a[3], a[4], a[5]), P(3));
	}
	if (pre_fd_peek(FD(0)) && on_governed(n, a, &r))
		return r;
	r = REAL(syscall)(n, a[0], a[1], a[2], a[3], a[4], a[5]);
	return creates_fd(n) ? fresh_fd(r) : r;
}
