/* sec_h3_calls.c — every write-like and read-like libc call, syscall(), and
 * closes the preload does not see, on a secured connection (issue 10,
 * tests/security/s30-write-paths.sh, s31-read-paths.sh, s32-unseen-close.sh).
 * Run under the preload; one connection to 127.0.0.1:PORT per run, one
 * line of output:
 *
 *   sec_h3_calls PORT w MODE MARKER   send MARKER with MODE:
 *                                     "w MODE ret=N errno=NAME"
 *   sec_h3_calls PORT r MODE          send "R\n" with write(), read the
 *                                     server's answer with MODE:
 *                                     "r MODE ret=N errno=NAME data=TEXT"
 *   sec_h3_calls PORT c MODE FILE MARKER
 *                                     the secured socket on fd 3 (and a dup
 *                                     on fd 5), closed by MODE, then FILE
 *                                     opened (or a pipe made) on fd 3 and
 *                                     written; MARKER then goes on fd 5:
 *                                     "c MODE fd=N file=ok|bad dup=RET"
 */
/* The plain names are the subject (the _chk forms are called by name). */
#undef _FORTIFY_SOURCE
#include <aio.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* Not in glibc's public headers: the names glibc exports for them. */
extern ssize_t __write(int, const void *, size_t);
extern ssize_t __read(int, void *, size_t);
extern ssize_t __send(int, const void *, size_t, int);
extern ssize_t __recv(int, void *, size_t, int);
extern int __sendmmsg(int, struct mmsghdr *, unsigned, int);
extern int __dprintf_chk(int, int, const char *, ...);
extern int __vdprintf_chk(int, int, const char *, va_list);

static const char *ename(long r, int e)
{
	if (r >= 0)
		return "0";
	switch (e) {
	case EINVAL: return "EINVAL";
	case ESPIPE: return "ESPIPE";
	case EBADF: return "EBADF";
	case EPIPE: return "EPIPE";
	case ECONNRESET: return "ECONNRESET";
	case ENOTSOCK: return "ENOTSOCK";
	case EAGAIN: return "EAGAIN";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ENOSYS: return "ENOSYS";
	default: return strerror(e);
	}
}

static int connect_to(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		printf("connect failed: %s\n", strerror(errno));
		exit(3);
	}
	return fd;
}

/* The raw instruction: no libc function, so no shim sees this close. */
static long raw_close(int fd)
{
#if defined(__x86_64__)
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"((long)SYS_close), "D"((long)fd) : "rcx", "r11", "memory");
	return r;
#else
	return syscall(SYS_close, fd);
#endif
}

__attribute__((format(printf, 3, 4))) static int vdp(int fd, int chk, const char *fmt, ...)
{
	va_list ap;
	int r;
	va_start(ap, fmt);
	r = chk ? __vdprintf_chk(fd, 1, fmt, ap) : vdprintf(fd, fmt, ap);
	va_end(ap);
	return r;
}

/* aio on fd: submit, wait, result (or the submission's -1). */
static long aio_run(int fd, void *buf, size_t n, int wr, int how)
{
	struct aiocb cb;
	long r;

	memset(&cb, 0, sizeof cb);
	cb.aio_fildes = fd;
	cb.aio_buf = buf;
	cb.aio_nbytes = n;
	cb.aio_lio_opcode = wr ? LIO_WRITE : LIO_READ;
	if (how == 2) {
		struct aiocb *l[1] = { &cb };
		r = lio_listio(LIO_WAIT, l, 1, NULL);
	} else if (how == 1) {
		r = wr ? aio_write64((struct aiocb64 *)&cb) : aio_read64((struct aiocb64 *)&cb);
	} else {
		r = wr ? aio_write(&cb) : aio_read(&cb);
	}
	if (r < 0)
		return r;
	const struct aiocb *w[1] = { &cb };
	while (aio_error(&cb) == EINPROGRESS)
		aio_suspend(w, 1, NULL);
	errno = aio_error(&cb);
	return aio_return(&cb);
}

/* A pipe holding m (the source of splice and vmsplice). */
static int pipe_with(const char *m, size_t n, int p[2])
{
	if (pipe(p) < 0 || write(p[1], m, n) != (ssize_t)n)
		return -1;
	return 0;
}

static long do_write(const char *mode, int fd, const char *m)
{
	size_t n = strlen(m);
	struct iovec v = { (void *)m, n };
	struct msghdr h = { .msg_iov = &v, .msg_iovlen = 1 };
	struct mmsghdr mm = { .msg_hdr = h };
	int p[2];

	if (!strcmp(mode, "write")) return write(fd, m, n);
	if (!strcmp(mode, "__write")) return __write(fd, m, n);
	if (!strcmp(mode, "send")) return send(fd, m, n, 0);
	if (!strcmp(mode, "__send")) return __send(fd, m, n, 0);
	if (!strcmp(mode, "sendto")) return sendto(fd, m, n, 0, NULL, 0);
	if (!strcmp(mode, "sendmsg")) return sendmsg(fd, &h, 0);
	if (!strcmp(mode, "sendmmsg")) return sendmmsg(fd, &mm, 1, 0);
	if (!strcmp(mode, "__sendmmsg")) return __sendmmsg(fd, &mm, 1, 0);
	if (!strcmp(mode, "writev")) return writev(fd, &v, 1);
	if (!strcmp(mode, "dprintf")) return dprintf(fd, "%s", m);
	if (!strcmp(mode, "vdprintf")) return vdp(fd, 0, "%s", m);
	if (!strcmp(mode, "__dprintf_chk")) return __dprintf_chk(fd, 1, "%s", m);
	if (!strcmp(mode, "__vdprintf_chk")) return vdp(fd, 1, "%s", m);
	if (!strcmp(mode, "pwritev2")) return pwritev2(fd, &v, 1, -1, 0);
	if (!strcmp(mode, "pwritev2-nowait")) return pwritev2(fd, &v, 1, -1, RWF_NOWAIT);
	if (!strcmp(mode, "pwritev2-dsync")) return pwritev2(fd, &v, 1, -1, RWF_DSYNC);
	if (!strcmp(mode, "pwritev64v2")) return pwritev64v2(fd, &v, 1, -1, 0);
	if (!strcmp(mode, "pwritev2-off0")) return pwritev2(fd, &v, 1, 0, 0);
	if (!strcmp(mode, "pwrite")) return pwrite(fd, m, n, 0);
	if (!strcmp(mode, "pwrite64")) return pwrite64(fd, m, n, 0);
	if (!strcmp(mode, "pwritev")) return pwritev(fd, &v, 1, 0);
	if (!strcmp(mode, "pwritev64")) return pwritev64(fd, &v, 1, 0);
	if (!strcmp(mode, "eventfd_write")) {
		eventfd_t x;
		memcpy(&x, m, sizeof x);   /* the marker's first 8 bytes */
		return eventfd_write(fd, x);
	}
	if (!strcmp(mode, "aio_write")) return aio_run(fd, (void *)m, n, 1, 0);
	if (!strcmp(mode, "aio_write64")) return aio_run(fd, (void *)m, n, 1, 1);
	if (!strcmp(mode, "lio_listio")) return aio_run(fd, (void *)m, n, 1, 2);
	if (!strcmp(mode, "sendfile") || !strcmp(mode, "syscall-sendfile")) {
		char path[] = "/tmp/sec_h3_sfXXXXXX";
		int f = mkstemp(path);
		if (f < 0 || write(f, m, n) != (ssize_t)n)
			return -1;
		unlink(path);
		off_t off = 0;
		return mode[0] == 's' && mode[1] == 'y' ? syscall(SYS_sendfile, fd, f, &off, n)
		                                        : sendfile(fd, f, &off, n);
	}
	if (!strcmp(mode, "splice") || !strcmp(mode, "syscall-splice")) {
		if (pipe_with(m, n, p) < 0)
			return -1;
		return mode[0] == 's' && mode[1] == 'y' ? syscall(SYS_splice, p[0], NULL, fd, NULL, n, 0)
		                                        : splice(p[0], NULL, fd, NULL, n, 0);
	}
	if (!strcmp(mode, "vmsplice")) return vmsplice(fd, &v, 1, 0);
	if (!strcmp(mode, "tee")) {
		if (pipe_with(m, n, p) < 0)
			return -1;
		return tee(p[0], fd, n, 0);
	}
	if (!strcmp(mode, "copy_file_range")) {
		char path[] = "/tmp/sec_h3_cfXXXXXX";
		int f = mkstemp(path);
		if (f < 0 || write(f, m, n) != (ssize_t)n)
			return -1;
		unlink(path);
		off_t off = 0;
		return copy_file_range(f, &off, fd, NULL, n, 0);
	}
	if (!strcmp(mode, "syscall-write")) return syscall(SYS_write, fd, m, n);
	if (!strcmp(mode, "syscall-writev")) return syscall(SYS_writev, fd, &v, 1);
	if (!strcmp(mode, "syscall-sendto")) return syscall(SYS_sendto, fd, m, n, 0, NULL, 0);
	if (!strcmp(mode, "syscall-sendmsg")) return syscall(SYS_sendmsg, fd, &h, 0);
	if (!strcmp(mode, "syscall-sendmmsg")) return syscall(SYS_sendmmsg, fd, &mm, 1, 0);
	if (!strcmp(mode, "syscall-pwritev2")) return syscall(SYS_pwritev2, fd, &v, 1, -1L, 0L, 0L);
	if (!strcmp(mode, "syscall-pwrite64")) return syscall(SYS_pwrite64, fd, m, n, 0L);
	fprintf(stderr, "unknown write mode %s\n", mode);
	exit(2);
}

static long do_read(const char *mode, int fd, char *b, size_t n)
{
	struct iovec v = { b, n };
	struct msghdr h = { .msg_iov = &v, .msg_iovlen = 1 };
	struct mmsghdr mm = { .msg_hdr = h };
	int p[2];
	long r;

	if (!strcmp(mode, "read")) return read(fd, b, n);
	if (!strcmp(mode, "__read")) return __read(fd, b, n);
	if (!strcmp(mode, "recv")) return recv(fd, b, n, 0);
	if (!strcmp(mode, "__recv")) return __recv(fd, b, n, 0);
	if (!strcmp(mode, "recvfrom")) return recvfrom(fd, b, n, 0, NULL, NULL);
	if (!strcmp(mode, "recvmsg")) return recvmsg(fd, &h, 0);
	if (!strcmp(mode, "recvmmsg")) return recvmmsg(fd, &mm, 1, 0, NULL) == 1 ? (long)mm.msg_len : -1;
	if (!strcmp(mode, "readv")) return readv(fd, &v, 1);
	if (!strcmp(mode, "preadv2")) return preadv2(fd, &v, 1, -1, 0);
	if (!strcmp(mode, "preadv2-nowait")) return preadv2(fd, &v, 1, -1, RWF_NOWAIT);
	if (!strcmp(mode, "preadv64v2")) return preadv64v2(fd, &v, 1, -1, 0);
	if (!strcmp(mode, "pread")) return pread(fd, b, n, 0);
	if (!strcmp(mode, "preadv")) return preadv(fd, &v, 1, 0);
	if (!strcmp(mode, "eventfd_read")) {
		eventfd_t x;
		r = eventfd_read(fd, &x);
		if (r == 0) {
			memcpy(b, &x, sizeof x);
			r = sizeof x;
		}
		return r;
	}
	if (!strcmp(mode, "aio_read")) return aio_run(fd, b, n, 0, 0);
	if (!strcmp(mode, "aio_read64")) return aio_run(fd, b, n, 0, 1);
	if (!strcmp(mode, "lio_listio")) return aio_run(fd, b, n, 0, 2);
	if (!strcmp(mode, "sendfile") || !strcmp(mode, "splice") || !strcmp(mode, "syscall-sendfile") ||
	    !strcmp(mode, "syscall-splice")) {
		int sy = mode[0] == 's' && mode[1] == 'y';
		const char *m = sy ? mode + 8 : mode;
		if (pipe(p) < 0)
			return -1;
		if (!strcmp(m, "sendfile"))
			r = sy ? syscall(SYS_sendfile, p[1], fd, NULL, n) : sendfile(p[1], fd, NULL, n);
		else
			r = sy ? syscall(SYS_splice, fd, NULL, p[1], NULL, n, 0) : splice(fd, NULL, p[1], NULL, n, 0);
		return r > 0 ? read(p[0], b, (size_t)r) : r;
	}
	if (!strcmp(mode, "syscall-read")) return syscall(SYS_read, fd, b, n);
	if (!strcmp(mode, "syscall-readv")) return syscall(SYS_readv, fd, &v, 1);
	if (!strcmp(mode, "syscall-recvfrom")) return syscall(SYS_recvfrom, fd, b, n, 0, NULL, NULL);
	if (!strcmp(mode, "syscall-recvmsg")) return syscall(SYS_recvmsg, fd, &h, 0);
	if (!strcmp(mode, "syscall-preadv2")) return syscall(SYS_preadv2, fd, &v, 1, -1L, 0L, 0L);
	fprintf(stderr, "unknown read mode %s\n", mode);
	exit(2);
}

/* Close fd 3 (the secured socket) the way MODE says; 0 when it is closed. */
static long do_close(const char *mode)
{
	if (!strcmp(mode, "closefrom")) {
		/* fd 5 must survive: move it above, closefrom(3), put it back */
		int k = fcntl(5, F_DUPFD, 100);
		closefrom(3);
		dup2(k, 5);
		close(k);
		return 0;
	}
	if (!strcmp(mode, "close_range")) return close_range(3, 3, 0);
	if (!strcmp(mode, "close_range-unshare")) return close_range(3, 4, CLOSE_RANGE_UNSHARE);
	if (!strcmp(mode, "syscall-close")) return syscall(SYS_close, 3);
	if (!strcmp(mode, "syscall-close_range")) return syscall(SYS_close_range, 3, 4, 0);
	if (!strcmp(mode, "raw-close") || !strncmp(mode, "raw-close-", 10)) return raw_close(3);
	fprintf(stderr, "unknown close mode %s\n", mode);
	exit(2);
}

/* After the close: a new descriptor on number 3 made by HOW (the suffix of
 * raw-close-HOW; plain open otherwise), written and read back. */
static int reuse(const char *mode, const char *file)
{
	const char *how = !strncmp(mode, "raw-close-", 10) ? mode + 10 : "open";
	const char *s = "plain file content\n";
	size_t n = strlen(s);
	char back[64] = "";
	int fd = -1, p[2], ok = 0;

	if (!strcmp(how, "open") || !strcmp(how, "openat") || !strcmp(how, "creat") ||
	    !strcmp(how, "syscall-openat")) {
		if (!strcmp(how, "open"))
			fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);
		else if (!strcmp(how, "openat"))
			fd = openat(AT_FDCWD, file, O_RDWR | O_CREAT | O_TRUNC, 0600);
		else if (!strcmp(how, "creat"))
			fd = creat(file, 0600);
		else
			fd = (int)syscall(SYS_openat, AT_FDCWD, file, O_RDWR | O_CREAT | O_TRUNC, 0600);
		ok = fd == 3 && write(fd, s, n) == (ssize_t)n;
		close(fd);
	} else if (!strcmp(how, "fopen")) {
		/* glibc opens inside fopen: no shim sees the new number */
		FILE *f = fopen(file, "w");
		fd = f ? fileno(f) : -1;
		ok = fd == 3 && fputs(s, f) >= 0 && write(fd, "", 0) == 0;
		ok = fclose(f) == 0 && ok;
	} else if (!strcmp(how, "fopen-write")) {
		/* the same, written with write(fileno(f)) instead of stdio */
		FILE *f = fopen(file, "w");
		fd = f ? fileno(f) : -1;
		ok = fd == 3 && write(fd, s, n) == (ssize_t)n;
		ok = fclose(f) == 0 && ok;
	} else if (!strcmp(how, "pipe") || !strcmp(how, "socketpair")) {
		int r = !strcmp(how, "pipe") ? pipe(p) : socketpair(AF_UNIX, SOCK_STREAM, 0, p);
		fd = r == 0 ? p[0] : -1;
		ok = fd == 3 && write(p[1], s, n) == (ssize_t)n && read(p[0], back, sizeof back) == (ssize_t)n;
		close(p[0]);
		close(p[1]);
	} else if (!strcmp(how, "eventfd")) {
		eventfd_t x = 0;
		fd = eventfd(0, 0);
		ok = fd == 3 && eventfd_write(fd, 42) == 0 && eventfd_read(fd, &x) == 0 && x == 42;
		close(fd);
	} else if (!strcmp(how, "memfd")) {
		fd = memfd_create("sec_h3", 0);
		ok = fd == 3 && write(fd, s, n) == (ssize_t)n && pread(fd, back, sizeof back, 0) == (ssize_t)n;
		close(fd);
	} else if (!strcmp(how, "dup")) {
		/* the lowest free number: 3; a copy of stdout (the test's log) */
		fd = dup(1);
		ok = fd == 3 && write(fd, "[dup] ", 6) == 6;
		close(fd);
	} else {
		fprintf(stderr, "unknown reuse %s\n", how);
		exit(2);
	}
	/* The file must hold exactly what was written (no record, no alert). */
	if (ok && (!strcmp(how, "open") || !strcmp(how, "openat") || !strcmp(how, "creat") ||
	           !strcmp(how, "syscall-openat") || !strncmp(how, "fopen", 5))) {
		FILE *f = fopen(file, "r");
		size_t k = f ? fread(back, 1, sizeof back - 1, f) : 0;
		if (f)
			fclose(f);
		back[k] = '\0';
		ok = !strcmp(back, s);
	}
	printf("fd=%d file=%s", fd, ok ? "ok" : "bad");
	return ok;
}

int main(int argc, char **argv)
{
	char buf[256];
	long r;
	int e;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 4) {
		fprintf(stderr, "usage: see the comment at the top of sec_h3_calls.c\n");
		return 2;
	}
	int fd = connect_to(atoi(argv[1]));
	const char *mode = argv[3];

	if (argv[2][0] == 'w' && argc >= 5) {
		r = do_write(mode, fd, argv[4]);
		e = errno;
		printf("w %s ret=%ld errno=%s\n", mode, r, ename(r, e));
	} else if (argv[2][0] == 'r') {
		struct pollfd pf = { fd, POLLIN, 0 };
		if (write(fd, "R\n", 2) != 2 || poll(&pf, 1, 5000) != 1) {
			printf("r %s: no answer\n", mode);
			return 1;
		}
		usleep(100000);   /* the whole answer queued */
		memset(buf, 0, sizeof buf);
		r = do_read(mode, fd, buf, 64);
		e = errno;
		for (int i = 0; i < 64 && buf[i]; i++)
			if (buf[i] < 0x20 || buf[i] > 0x7e)
				buf[i] = '?';
		printf("r %s ret=%ld errno=%s data=%s\n", mode, r, ename(r, e), r > 0 ? buf : "");
	} else if (argv[2][0] == 'c' && argc >= 6) {
		if (fd != 3) {
			dup2(fd, 3);
			close(fd);
		}
		dup2(3, 5);   /* the connection's other descriptor */
		if (!strcmp(mode, "bad-flags")) {
			/* refused by the kernel: nothing is closed, fd 3 stays secured */
			r = close_range(3, 3, 0x40000000);
			e = errno;
			long w = write(3, argv[5], strlen(argv[5]));
			printf("c %s close_range=%ld errno=%s write=%ld\n", mode, r, ename(r, e), w);
			return 0;
		}
		r = do_close(mode);
		printf("c %s close=%ld ", mode, r);
		reuse(mode, argv[4]);
		long w = write(5, argv[5], strlen(argv[5]));
		struct pollfd pf = { 5, POLLIN, 0 };
		long k = -1;
		while (w > 0 && k < w && poll(&pf, 1, 3000) == 1) {
			ssize_t g = read(5, buf, sizeof buf - 1);   /* all of the echo */
			if (g <= 0)
				break;
			k = (k < 0 ? 0 : k) + g;
		}
		printf(" dup-write=%ld echo=%ld\n", w, k);
		close(5);
	} else {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	struct pollfd pf = { fd, POLLIN, 0 };
	poll(&pf, 1, 200);   /* let the bytes leave before the close */
	close(fd);
	return 0;
}
