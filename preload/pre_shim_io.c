/* pre_shim_io.c — exported libc-named data calls (layer one).
 *
 * Every shim starts with one relaxed load of the fd slot: descriptors that
 * are not ours (files, pipes, bypassed or clear sockets) go straight to the
 * real function with no lock and no allocation.  Secured descriptors go to
 * the stream engine (pre_io.c) with a reference held for the call, so a
 * close() from another thread cannot free the state underneath.
 */
/* This file defines the fortified entry points (__read_chk …) itself; the
 * fortify wrappers from glibc's headers would declare them first. */
#undef _FORTIFY_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/sendfile.h>
#include <sodium.h>
#include "pre_handoff.h"
#include "pre_io.h"
#include "pre_setup.h"
#include "pre_sock.h"
#include "pre_shim.h"
#include "pre_sym.h"

extern void __chk_fail(void) __attribute__((noreturn));
SHIM int connect(int fd, const struct sockaddr *addr, socklen_t len);

enum { SPLICE_CHUNK = 64 * 1024 };

/* do_recv/do_send: the call failed on a stale slot (pre_shim_stale); the
 * shim redoes it as a plain call. */
#define STALE ((ssize_t)-2)

/* A governed descriptor whose bytes the engine owns, with a ref; else NULL
 * (pre_shim.h: governed() inlines only the peek). */
__attribute__((noinline)) struct pre_conn *pre_governed_slow(int fd)
{
	struct pre_conn *c;
	int st;

	c = pre_fd_get(fd);
	if (!c)
		return NULL;
	st = atomic_load(&c->state);
	if (st == PRE_NEW || st == PRE_CLEAR) {
		pre_conn_put(c);
		return NULL;
	}
	return c;
}

int pre_shim_stale(struct pre_conn *c, int fd, ssize_t r)
{
	if (r >= 0 || pre_fd_holds(fd, c))
		return 0;
	pre_fd_stale(fd);
	return 1;
}

__attribute__((noinline)) static ssize_t do_recv(struct pre_conn *c, int fd, void *buf, size_t len, int flags)
{
	struct iovec v = { buf, len };
	ssize_t r = pre_setup_recv(c, fd, &v, 1, flags);
	if (pre_shim_stale(c, fd, r))
		r = STALE;
	return put_keep(c, r);
}

__attribute__((noinline)) static ssize_t do_send(struct pre_conn *c, int fd, const void *buf, size_t len, int flags)
{
	struct iovec v = { (void *)buf, len };
	ssize_t r = pre_setup_send(c, fd, &v, 1, flags);
	if (pre_shim_stale(c, fd, r))
		r = STALE;
	return put_keep(c, r);
}

static void peer_name(int fd, struct sockaddr *addr, socklen_t *alen)
{
	if (addr && alen && getpeername(fd, addr, alen) < 0)
		*alen = 0;
}

SHIM ssize_t read(int fd, void *buf, size_t len)
{
	struct pre_conn *c = governed(fd);
	if (!c)
		return REAL(read)(fd, buf, len);
	ssize_t r = do_recv(c, fd, buf, len, 0);
	return r == STALE ? REAL(read)(fd, buf, len) : r;
}

SHIM ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	if (len > buflen)
		__chk_fail();
	return read(fd, buf, len);
}

SHIM ssize_t write(int fd, const void *buf, size_t len)
{
	struct pre_conn *c = governed(fd);
	if (!c)
		return REAL(write)(fd, buf, len);
	ssize_t r = do_send(c, fd, buf, len, 0);
	return r == STALE ? REAL(write)(fd, buf, len) : r;
}

SHIM ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	struct pre_conn *c = governed(fd);
	if (!c)
		return REAL(recv)(fd, buf, len, flags);
	ssize_t r = do_recv(c, fd, buf, len, flags);
	return r == STALE ? REAL(recv)(fd, buf, len, flags) : r;
}

SHIM ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	if (len > buflen)
		__chk_fail();
	return recv(fd, buf, len, flags);
}

SHIM ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	struct pre_conn *c = governed(fd);
	if (!c)
		return REAL(send)(fd, buf, len, flags);
	ssize_t r = do_send(c, fd, buf, len, flags);
	return r == STALE ? REAL(send)(fd, buf, len, flags) : r;
}

SHIM ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr, socklen_t *alen)
{
	struct pre_conn *c = governed(fd);
	if (!c)
		return REAL(recvfrom)(fd, buf, len, flags, addr, alen);
	ssize_t r = do_recv(c, fd, buf, len, flags);
	if (r == STALE)
		return REAL(recvfrom)(fd, buf, len, flags, addr, alen);
	if (r >= 0) {
		int e = errno;
		peer_name(fd, addr, alen);
		errno = e;
	}
	return r;
}

SHIM ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                            struct sockaddr *addr, socklen_t *alen)
{
	if (len > buflen)
		__chk_fail();
	return recvfrom(fd, buf, len, flags, addr, alen);
}

/* TCP Fast Open connects implicitly (tcp(7) MSG_FASTOPEN: sendto, sendmsg
 * and sendmmsg with a destination on an unconnected socket), bypassing
 * connect().  Every such call first connects through our connect() — the
 * policy decides, and the handshake replaces the TFO data — and then sends
 * without the flag.  1: connected (or already was), send the data; 0: not an
 * implicit connect of ours (no destination, not an IPv4/IPv6 one), the
 * kernel answers as it would; -1: refused or failed, errno set. */
static int tfo_connect(int fd, const void *name, socklen_t namelen, int flags)
{
	const struct sockaddr *a = name;

	if (!(flags & MSG_FASTOPEN) || !a || namelen < sizeof(sa_family_t) ||
	    (a->sa_family != AF_INET && a->sa_family != AF_INET6))
		return 0;
	if (connect(fd, a, namelen) < 0 && errno != EISCONN)
		return -1;
	return 1;
}

SHIM ssize_t sendto(int fd, const void *buf, size_t len, int flags,
                    const struct sockaddr *addr, socklen_t alen)
{
	struct pre_conn *c;
	int t = tfo_connect(fd, addr, alen, flags);

	if (t < 0)
		return -1;
	if (t > 0)
		return send(fd, buf, len, flags & ~MSG_FASTOPEN);
	c = governed(fd);
	if (!c)
		return REAL(sendto)(fd, buf, len, flags, addr, alen);
	ssize_t r = do_send(c, fd, buf, len, flags);
	return r == STALE ? REAL(sendto)(fd, buf, len, flags, addr, alen) : r;
}

SHIM ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	struct pre_conn *c = governed(fd);
	if (!c)
		return REAL(readv)(fd, iov, cnt);
	if (cnt < 0 || cnt > IOV_MAX) {
		pre_conn_put(c);
		errno = EINVAL;
		return -1;
	}
	ssize_t r = pre_setup_recv(c, fd, iov, cnt, 0);
	if (pre_shim_stale(c, fd, r)) {
		pre_conn_put(c);
		return REAL(readv)(fd, iov, cnt);
	}
	return put_keep(c, r);
}

SHIM ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	struct pre_conn *c = governed(fd);
	if (!c)
		return REAL(writev)(fd, iov, cnt);
	if (cnt < 0 || cnt > IOV_MAX) {
		pre_conn_put(c);
		errno = EINVAL;
		return -1;
	}
	ssize_t r = pre_setup_send(c, fd, iov, cnt, 0);
	if (pre_shim_stale(c, fd, r)) {
		pre_conn_put(c);
		return REAL(writev)(fd, iov, cnt);
	}
	return put_keep(c, r);
}

SHIM ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct pre_conn *c = governed(fd);
	if (!c) {
		ssize_t n = REAL(recvmsg)(fd, msg, flags);
		if (n >= 0 && msg->msg_controllen)
			pre_fd_fresh_rights(msg);   /* SCM_RIGHTS: new numbers */
		return n;
	}
	ssize_t r = pre_setup_recv(c, fd, msg->msg_iov, (int)msg->msg_iovlen, flags);
	int e = errno;
	pre_conn_put(c);
	if (r >= 0) {
		/* No ancillary data travels inside records. */
		peer_name(fd, msg->msg_name, &msg->msg_namelen);
		msg->msg_controllen = 0;
		msg->msg_flags = 0;
	}
	errno = e;
	return r;
}

SHIM ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if (pre_handoff_refuse(msg))
		return -1;
	int t = msg ? tfo_connect(fd, msg->msg_name, msg->msg_namelen, flags) : 0;
	if (t < 0)
		return -1;
	if (t > 0) {
		struct msghdr m = *msg;
		m.msg_name = NULL;
		m.msg_namelen = 0;
		return sendmsg(fd, &m, flags & ~MSG_FASTOPEN);
	}
	struct pre_conn *c = governed(fd);
	if (!c)
		return REAL(sendmsg)(fd, msg, flags);
	ssize_t r = pre_setup_send(c, fd, msg->msg_iov, (int)msg->msg_iovlen, flags);
	int e = errno;
	pre_conn_put(c);
	errno = e;
	return r;
}

SHIM int recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags, struct timespec *timeout)
{
	struct pre_conn *c = governed(fd);
	unsigned i;

	if (!c) {
		int k = REAL(recvmmsg)(fd, v, n, flags, timeout);
		for (i = 0; k > 0 && i < (unsigned)k; i++)
			if (v[i].msg_hdr.msg_controllen)
				pre_fd_fresh_rights(&v[i].msg_hdr);   /* SCM_RIGHTS: new numbers */
		return k;
	}
	pre_conn_put(c);
	/* A byte stream: one message per call carries everything available. */
	for (i = 0; i < n; i++) {
		ssize_t r = recvmsg(fd, &v[i].msg_hdr, i ? (flags | MSG_DONTWAIT) & ~MSG_WAITFORONE
		                                         : flags & ~MSG_WAITFORONE);
		if (r < 0)
			return i ? (int)i : -1;
		v[i].msg_len = (unsigned)r;
		if (r == 0)
			return (int)i + 1;
	}
	return (int)i;
}

SHIM int sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
	if (pre_handoff_refuse_mmsg(v, &n))
		return -1;
	struct pre_conn *c = governed(fd);
	unsigned i;

	/* MSG_FASTOPEN: each message may connect implicitly; sendmsg decides. */
	if (!c && !(flags & MSG_FASTOPEN))
		return REAL(sendmmsg)(fd, v, n, flags);
	pre_conn_put(c);
	for (i = 0; i < n; i++) {
		ssize_t r = sendmsg(fd, &v[i].msg_hdr, flags);
		if (r < 0)
			return i ? (int)i : -1;
		v[i].msg_len = (unsigned)r;
	}
	return (int)i;
}

/* sendfile to a secured socket: the file's bytes have to be sealed, so they
 * pass through user space.  pread + explicit position keeps the file offset
 * exact when the socket takes fewer bytes than were read. */
static ssize_t sendfile_secured(struct pre_conn *c, int out, int in, off_t *offset, size_t count)
{
	uint8_t *buf = malloc(SPLICE_CHUNK);
	size_t total = 0;
	off_t pos;
	ssize_t r = 0;
	int e = 0;

	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	pos = offset ? *offset : lseek(in, 0, SEEK_CUR);
	if (pos < 0) {
		free(buf);
		return -1;
	}
	while (total < count) {
		size_t want = count - total < SPLICE_CHUNK ? count - total : SPLICE_CHUNK;
		ssize_t n = pread(in, buf, want, pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n;
			e = errno;
			break;
		}
		struct iovec v = { buf, (size_t)n };
		r = pre_setup_send(c, out, &v, 1, MSG_NOSIGNAL);
		if (r < 0) {
			e = errno;
			break;
		}
		pos += r;
		total += (size_t)r;
		if (r < n)
			break;
	}
	sodium_memzero(buf, SPLICE_CHUNK);
	free(buf);
	if (offset)
		*offset = pos;
	else
		lseek(in, pos, SEEK_SET);
	if (total)
		return (ssize_t)total;
	errno = e;
	return r < 0 ? -1 : 0;
}

/* Up to len bytes from in to out when one end or both are secured: read
 * once from in (through the engine when ci), then write all of it to out
 * (through the engine when co): the plain end (a pipe for splice, a pipe or
 * file for sendfile) cannot take bytes back, so the socket side is written
 * in full.  off_in/off_out: positions on a plain end, as splice(2) has them. */
static ssize_t relay(struct pre_conn *ci, int in, off_t *off_in, struct pre_conn *co, int out,
                     off_t *off_out, size_t len, int nonblock)
{
	uint8_t *buf = malloc(SPLICE_CHUNK);
	ssize_t n, r;
	int e;

	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	if (len > SPLICE_CHUNK)
		len = SPLICE_CHUNK;
	if (ci) {
		struct iovec v = { buf, len };
		n = pre_setup_recv(ci, in, &v, 1, nonblock ? MSG_DONTWAIT : 0);
	} else {
		n = off_in ? pread(in, buf, len, *off_in) : REAL(read)(in, buf, len);
		if (n > 0 && off_in)
			*off_in += n;
	}
	r = n;
	if (n > 0) {
		if (co) {
			r = pre_setup_send_blocking(co, out, buf, (size_t)n);
		} else {
			size_t done = 0;
			while (done < (size_t)n) {
				ssize_t w = off_out ? pwrite(out, buf + done, (size_t)n - done, *off_out)
				                    : REAL(write)(out, buf + done, (size_t)n - done);
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0)
					break;
				if (off_out)
					*off_out += w;
				done += (size_t)w;
			}
			r = done ? (ssize_t)done : -1;
		}
	}
	e = errno;
	sodium_memzero(buf, SPLICE_CHUNK);
	free(buf);
	errno = e;
	return r;
}

/* sendfile(2) FROM a secured socket (the kernel splices a socket into a
 * pipe: the program would get ciphertext as data): the plaintext goes
 * through relay().  A socket has no position: an offset is ESPIPE, as the
 * kernel answers for it. */
static ssize_t sendfile_common(ssize_t (*real)(int, int, off_t *, size_t), int out, int in,
                               off_t *offset, size_t count)
{
	struct pre_conn *ci = governed(in), *co = governed(out);
	ssize_t r;

	if (!ci && !co)
		return real(out, in, offset, count);
	if (ci && offset) {
		errno = ESPIPE;
		r = -1;
	} else if (ci) {
		r = relay(ci, in, NULL, co, out, NULL, count, 0);
	} else {
		r = sendfile_secured(co, out, in, offset, count);
	}
	int e = errno;
	pre_conn_put(ci);
	pre_conn_put(co);
	errno = e;
	return r;
}

SHIM ssize_t sendfile(int out, int in, off_t *offset, size_t count)
{
	return sendfile_common(REAL(sendfile), out, in, offset, count);
}

SHIM ssize_t sendfile64(int out, int in, off_t *offset, size_t count)
{
	return sendfile_common(REAL(sendfile64), out, in, offset, count);
}

SHIM ssize_t splice(int in, off_t *off_in, int out, off_t *off_out, size_t len, unsigned flags)
{
	struct pre_conn *ci = governed(in), *co = governed(out);
	ssize_t r;

	if (!ci && !co)
		return REAL(splice)(in, off_in, out, off_out, len, flags);
	r = relay(ci, in, off_in, co, out, off_out, len, (flags & SPLICE_F_NONBLOCK) != 0);
	int e = errno;
	pre_conn_put(ci);
	pre_conn_put(co);
	errno = e;
	return r;
}
