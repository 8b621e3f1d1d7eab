/* pre_shim_more.c — the other libc calls that write or read a descriptor.
 *
 * glibc writes and reads inside its own functions through internal aliases
 * (__write, __writev, __read, __libc_write…) that no preload can interpose:
 * dprintf formats into a stack FILE flushed with __write; pwritev2/preadv2
 * with offset -1 are writev/readv in the kernel (and glibc's fallback calls
 * them internally); eventfd_write/read are an 8-byte __write/__read; POSIX
 * aio runs its requests in helper threads with __pwrite/__write.  On a
 * secured socket each of those put plaintext on the wire, or handed the
 * program ciphertext as data (kit finding 06).  Every such call glibc 2.36
 * exports (nm -D --defined-only libc.so.6) is listed here with what it does
 * on a governed descriptor:
 *
 *   __write __read __send __recv __sendmmsg __close __dup2   the same call
 *   dprintf vdprintf __dprintf_chk __vdprintf_chk   formatted, then write()
 *   pwritev2 pwritev64v2 preadv2 preadv64v2 (offset -1)   writev/readv
 *   eventfd_write eventfd_read                       write()/read() of 8 bytes
 *   aio_write aio_read aio_write64 aio_read64 lio_listio lio_listio64
 *                                                     refused (below)
 *
 * and what needs no shim because the kernel refuses a socket itself:
 * pwrite pwrite64 __pwrite64 pread pread64 __pread64 __pread_chk pwritev
 * pwritev64 preadv preadv64 and the v2 forms with an offset (ESPIPE), tee
 * and vmsplice (a pipe is required: EINVAL/EBADF), copy_file_range
 * (regular files only: EINVAL), aio_fsync (fsync on a socket: EINVAL).
 * Every shim costs a descriptor that is not ours one relaxed load.
 */
#undef _FORTIFY_SOURCE
#include <aio.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <sodium.h>
#include "pre_io.h"
#include "pre_setup.h"
#include "pre_shim.h"
#include "pre_sym.h"

extern int __vasprintf_chk(char **, int, const char *, va_list);

/* ------------------------------------------------------------ aliases
 * glibc exports these for the few programs that call them by name; they
 * are the same functions as the plain names (our shims). */

SHIM ssize_t __write(int fd, const void *buf, size_t len)
{
	return write(fd, buf, len);
}

SHIM ssize_t __read(int fd, void *buf, size_t len)
{
	return read(fd, buf, len);
}

SHIM ssize_t __send(int fd, const void *buf, size_t len, int flags)
{
	return send(fd, buf, len, flags);
}

SHIM ssize_t __recv(int fd, void *buf, size_t len, int flags)
{
	return recv(fd, buf, len, flags);
}

SHIM int __sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
	return sendmmsg(fd, v, n, flags);
}

SHIM int __close(int fd)
{
	return close(fd);
}

SHIM int __dup2(int oldfd, int newfd)
{
	return dup2(oldfd, newfd);
}

/* ------------------------------------------------------------ dprintf */

/* Format, then write all of it through our write() (which seals).  As
 * glibc's vdprintf: the byte count, or -1 when the output could not be
 * written (its flush failed); a partial write is an error too. */
__attribute__((noinline, format(printf, 3, 0))) static int dprintf_sealed(int fd, int flag, const char *fmt, va_list ap)
{
	char *buf = NULL;
	int n = flag < 0 ? vasprintf(&buf, fmt, ap) : __vasprintf_chk(&buf, flag, fmt, ap);
	size_t off = 0;
	int r;

	if (n < 0)
		return -1;
	while (off < (size_t)n) {
		ssize_t w = write(fd, buf + off, (size_t)n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	r = off == (size_t)n ? n : -1;
	int e = errno;
	sodium_memzero(buf, (size_t)n);
	free(buf);
	errno = e;
	return r;
}

SHIM int vdprintf(int fd, const char *fmt, va_list ap)
{
	if (__builtin_expect(pre_fd_peek(fd) == NULL, 1))
		return REAL(vdprintf)(fd, fmt, ap);
	return dprintf_sealed(fd, -1, fmt, ap);
}

__attribute__((format(printf, 3, 0))) SHIM int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap)
{
	if (__builtin_expect(pre_fd_peek(fd) == NULL, 1))
		return REAL(vdprintf_chk)(fd, flag, fmt, ap);
	return dprintf_sealed(fd, flag, fmt, ap);
}

SHIM int dprintf(int fd, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = pre_fd_peek(fd) ? dprintf_sealed(fd, -1, fmt, ap) : REAL(vdprintf)(fd, fmt, ap);
	va_end(ap);
	return r;
}

__attribute__((format(printf, 3, 4))) SHIM int __dprintf_chk(int fd, int flag, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = pre_fd_peek(fd) ? dprintf_sealed(fd, flag, fmt, ap) : REAL(vdprintf_chk)(fd, flag, fmt, ap);
	va_end(ap);
	return r;
}

/* ------------------------------------------------------------ preadv2/pwritev2 */

/* preadv2(2)/pwritev2(2): offset -1 means the current position, i.e.
 * readv/writev — the only form that reaches a socket (any other offset is
 * ESPIPE there, and goes to the kernel to say so).  Flags as the kernel
 * takes them for a socket (fs/read_write.c, net/socket.c sock_*_iter):
 * RWF_NOWAIT is MSG_DONTWAIT; RWF_HIPRI, RWF_DSYNC, RWF_SYNC, RWF_APPEND
 * change nothing on a socket; anything else is EOPNOTSUPP. */
#define RWF_KNOWN (RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND)

__attribute__((noinline)) static ssize_t rw2_sealed(struct pre_conn *c, int fd, const struct iovec *iov,
                                                    int cnt, int flags, int wr)
{
	ssize_t r;

	if (flags & ~RWF_KNOWN) {
		errno = EOPNOTSUPP;
		r = -1;
	} else if (cnt < 0 || cnt > IOV_MAX) {
		errno = EINVAL;
		r = -1;
	} else {
		int mf = (flags & RWF_NOWAIT) ? MSG_DONTWAIT : 0;
		r = wr ? pre_setup_send(c, fd, iov, cnt, mf) : pre_setup_recv(c, fd, iov, cnt, mf);
	}
	return put_keep(c, r);
}

#define RW2_SHIM(name, wr) \
	SHIM ssize_t name(int fd, const struct iovec *iov, int cnt, off_t off, int flags) \
	{ \
		struct pre_conn *c; \
		if (off != -1 || !(c = governed(fd))) \
			return REAL(name)(fd, iov, cnt, off, flags); \
		return rw2_sealed(c, fd, iov, cnt, flags, wr); \
	}

RW2_SHIM(pwritev2, 1)
RW2_SHIM(pwritev64v2, 1)
RW2_SHIM(preadv2, 0)
RW2_SHIM(preadv64v2, 0)

/* ------------------------------------------------------------ eventfd_* */

/* eventfd_write(3)/eventfd_read(3): 0 when all 8 bytes went, else -1 —
 * glibc's own test on its internal write/read. */
SHIM int eventfd_write(int fd, eventfd_t value)
{
	if (__builtin_expect(pre_fd_peek(fd) == NULL, 1))
		return REAL(eventfd_write)(fd, value);
	return write(fd, &value, sizeof value) == sizeof value ? 0 : -1;
}

SHIM int eventfd_read(int fd, eventfd_t *value)
{
	if (__builtin_expect(pre_fd_peek(fd) == NULL, 1))
		return REAL(eventfd_read)(fd, value);
	return read(fd, value, sizeof *value) == sizeof *value ? 0 : -1;
}

/* ------------------------------------------------------------ POSIX aio
 * glibc runs a request in a helper thread that calls its internal
 * __write/__read; nothing of ours would see the bytes.  A request on a
 * governed socket is refused when it is made — EINVAL, which aio_write(3)
 * and lio_listio(3) may answer, and nothing is queued, so aio_error/
 * aio_return/aio_suspend never see such a request.  (Doing the I/O through
 * our shims would need our own request threads, completion, aio_suspend,
 * aio_cancel and sigevent delivery next to glibc's: docs/design.md.)  The
 * socket is left as it was: a program that falls back to write() works. */

__attribute__((noinline)) static int aio_refused(struct pre_conn *c)
{
	pre_conn_put(c);
	errno = EINVAL;
	return -1;
}

/* struct aiocb64 is struct aiocb on 64-bit glibc (one layout, one table). */
#define AIO_SHIM(name, type, i) \
	SHIM int name(type *cb) \
	{ \
		struct pre_conn *c; \
		if ((c = governed(cb->aio_fildes))) \
			return aio_refused(c); \
		return REAL(aio_rw[i])((struct aiocb *)cb); \
	}

AIO_SHIM(aio_read, struct aiocb, 0)
AIO_SHIM(aio_write, struct aiocb, 1)
AIO_SHIM(aio_read64, struct aiocb64, 2)
AIO_SHIM(aio_write64, struct aiocb64, 3)

/* lio_listio: none of the list is started when one entry is refused
 * (EINVAL is a whole-call error, lio_listio(3)). */
static int lio_common(int which, int mode, struct aiocb *const list[], int n, struct sigevent *sev)
{
	for (int i = 0; list && i < n; i++) {
		struct pre_conn *c;
		if (list[i] && list[i]->aio_lio_opcode != LIO_NOP && (c = governed(list[i]->aio_fildes)))
			return aio_refused(c);
	}
	return REAL(lio_listio[which])(mode, list, n, sev);
}

SHIM int lio_listio(int mode, struct aiocb *const list[], int n, struct sigevent *sev)
{
	return lio_common(0, mode, list, n, sev);
}

SHIM int lio_listio64(int mode, struct aiocb64 *const list[], int n, struct sigevent *sev)
{
	return lio_common(1, mode, (struct aiocb *const *)list, n, sev);
}
