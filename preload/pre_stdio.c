/* pre_stdio.c — stdio streams over governed sockets.
 *
 * glibc's stdio does its I/O through internal aliases (__read, __write,
 * __close_nocancel) that no preload can interpose.  A FILE over a secured
 * socket would therefore put its buffered output on the wire in clear and
 * hand the program raw ciphertext on input — the one thing secsock must never
 * do ("a secured socket never carries plaintext", ARCHITECTURE.md).  So no
 * FILE over a governed socket is left to glibc's own file functions:
 *
 *  - fdopen() of a governed socket returns an fopencookie() stream whose
 *    read/write/close call our exported shims (and so the stream engine);
 *  - when fd 0, 1 or 2 is a governed socket — inherited across exec
 *    (pre_exec.c) or dup2'd there — stdin/stdout/stderr are replaced by such
 *    streams (pre_stdio_adopt);
 *  - fclose() and exit() write what a stream still buffers through our shims
 *    before glibc would flush it itself (after our destructor has already
 *    said close_notify, or through __write in clear).
 *
 * The cookie stream's _fileno is set to the descriptor, so fileno() keeps
 * working for programs that select()/poll() on it: glibc routes every I/O of
 * a cookie stream through its cookie jump table, never through _fileno (the
 * field is only tested for "is open"), see libio/iofopncook.c.
 */
#include <errno.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <fcntl.h>
#include "pre_log.h"
#include "pre_sock.h"
#include "pre_stdio.h"
#include "pre_sym.h"

#define SHIM __attribute__((visibility("default")))

static int (*real_fclose)(FILE *);
static FILE *(*real_fdopen)(int, const char *);

/* The cookie is the descriptor itself (no allocation to leak). */
static ssize_t ck_read(void *cookie, char *buf, size_t n)
{
	return read((int)(intptr_t)cookie, buf, n);   /* our shim */
}

/* fopencookie(3): return the bytes taken, 0 on error (never negative). */
static ssize_t ck_write(void *cookie, const char *buf, size_t n)
{
	int fd = (int)(intptr_t)cookie;
	size_t off = 0;

	while (off < n) {
		ssize_t r = write(fd, buf + off, n - off);   /* our shim */
		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)r;
	}
	return (ssize_t)off;
}

static int ck_close(void *cookie)
{
	return close((int)(intptr_t)cookie);   /* our shim: close_notify, state */
}

static FILE *cookie_stream(int fd, const char *mode)
{
	cookie_io_functions_t io = { .read = ck_read, .write = ck_write, .seek = NULL,
	                             .close = ck_close };
	FILE *f = fopencookie((void *)(intptr_t)fd, mode, io);

	if (f)
		f->_fileno = fd;   /* fileno() works; see the header comment */
	return f;
}

/* Write what f still buffers for output through our shims, then drop it
 * from the buffer, so glibc never writes it with its internal __write. */
static void drain(FILE *f, int fd)
{
	size_t n = __fpending(f);

	if (n && f->_IO_write_base)
		(void)ck_write((void *)(intptr_t)fd, f->_IO_write_base, n);
	__fpurge(f);
}

/* fd has a slot but is no longer its socket: fopen() (glibc opens inside
 * it, no shim sees the number) put a file on a number whose socket was
 * closed behind our back.  Forget the slot before anything is written
 * through it: a governed write would fail on the file and take the
 * connection's other descriptors down with it (pre_shim_fd.c). */
static int stale(int fd)
{
	struct pre_conn *c = pre_fd_get(fd);
	int r = c && !pre_fd_holds(fd, c);

	pre_conn_put(c);
	if (r)
		pre_fd_stale(fd);
	return r;
}

SHIM FILE *fdopen(int fd, const char *mode)
{
	if (!real_fdopen)
		*(void **)&real_fdopen = dlsym(RTLD_NEXT, "fdopen");
	if (fd >= 0 && pre_fd_peek(fd) && REAL(fcntl)(fd, F_GETFD) >= 0) {
		if (!stale(fd))
			return cookie_stream(fd, mode);
	}
	return real_fdopen(fd, mode);
}

SHIM int fclose(FILE *f)
{
	int fd;

	if (!real_fclose)
		*(void **)&real_fclose = dlsym(RTLD_NEXT, "fclose");
	fd = f ? fileno(f) : -1;
	if (fd >= 0 && pre_fd_peek(fd) && !stale(fd)) {
		int saved = errno;
		drain(f, fd);
		/* A raw glibc FILE closes with __close_nocancel, out of our
		 * reach: forget the descriptor first (close_notify from the
		 * last holder, as close() does).  A cookie stream closes through
		 * ck_close → close(), which then finds nothing left to do. */
		pre_fd_forget(fd);
		errno = saved;
	}
	return real_fclose(f);
}

void pre_stdio_adopt(int fd)
{
	FILE **slot, *old, *f;
	int saved = errno;

	if (fd == 0)
		slot = &stdin;
	else if (fd == 1)
		slot = &stdout;
	else if (fd == 2)
		slot = &stderr;
	else
		return;
	old = *slot;
	if (old && fileno(old) == fd && !pre_stdio_is_raw(old)) {
		errno = saved;
		return;   /* already one of ours */
	}
	f = cookie_stream(fd, fd == 0 ? "r" : "w");
	if (!f) {
		/* No memory for a safe stream.  The raw one would write in
		 * clear: cut the connection instead (never plaintext). */
		pre_log(PRE_LOG_ERROR, "fd %d: no memory for a secured stdio stream; shut down", fd);
		(void)REAL(shutdown)(fd, SHUT_RDWR);
		errno = saved;
		return;
	}
	if (old)
		drain(old, fd);   /* bytes it holds would have gone to this fd */
	if (fd == 2)
		setvbuf(f, NULL, _IONBF, 0);   /* stderr stays unbuffered */
	*slot = f;
	errno = saved;
}

void pre_stdio_flush_all(void)
{
	/* Cookie streams flush through our shims; raw streams over our
	 * sockets were replaced or drained already. */
	fflush(NULL);
}

/* The only raw glibc streams that can sit on one of our descriptors are the
 * three standard streams glibc made at start-up (every later fdopen of a
 * governed socket is ours), so "raw" is "one of those three". */
int pre_stdio_is_raw(FILE *f)
{
	extern FILE _IO_2_1_stdin_, _IO_2_1_stdout_, _IO_2_1_stderr_;
	return f == &_IO_2_1_stdin_ || f == &_IO_2_1_stdout_ || f == &_IO_2_1_stderr_;
}
