/* pre_wire.c — socket helpers below the stream engine, the handshakes and
 * connect/accept: waiting for readiness (with a select fallback), sending
 * whole buffers under a deadline, the program's timeouts, and whether the
 * peer's FIN is in.  No connection state here.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include "pre_io.h"
#include "pre_io_int.h"
#include "pre_sym.h"

/* poll(2) fails EINVAL when nfds exceeds RLIMIT_NOFILE: a program that
 * set its limit to 0 (a restricted child, issue 11 item 5) still has its
 * descriptors, and select(2) bounds nfds by the descriptor table, not the
 * limit.  The set is sized for fd (select takes any size on Linux).
 * POLLRDHUP has no select form: a FIN makes the socket readable anyway. */
static int wait_select(int fd, short events, int64_t timeout_ms)
{
	size_t words = (size_t)fd / (8 * sizeof(long)) + 1;
	unsigned long *rd = calloc(2 * words, sizeof(long)), *wr = rd ? rd + words : NULL;
	unsigned long bit = 1UL << ((unsigned)fd % (8 * sizeof(long)));
	struct timeval tv = { (time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000 };
	int r;

	if (!rd) {
		errno = ENOMEM;
		return -1;
	}
	if (events & (POLLIN | POLLRDHUP | POLLPRI))
		rd[fd / (8 * sizeof(long))] |= bit;
	if (events & POLLOUT)
		wr[fd / (8 * sizeof(long))] |= bit;
	r = REAL(select)(fd + 1, (fd_set *)rd, (fd_set *)wr, NULL, timeout_ms < 0 ? NULL : &tv);
	free(rd);
	return r < 0 ? -1 : r > 0;
}

int pre_wire_wait(int fd, short events, int64_t timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	if (timeout_ms > INT32_MAX)
		timeout_ms = INT32_MAX;
	r = REAL(poll)(&p, 1, timeout_ms < 0 ? -1 : (int)timeout_ms);
	if (r < 0 && errno == EINVAL)
		return wait_select(fd, events, timeout_ms);
	if (r < 0)
		return -1;
	if (r == 0)
		return 0;
	if (p.revents & POLLNVAL) {
		errno = EBADF;
		return -1;
	}
	return 1;
}

int64_t pre_wire_timeo(int fd, int name)
{
	struct timeval tv = { 0, 0 };
	socklen_t l = sizeof tv;
	int saved = errno;

	if (REAL(getsockopt)(fd, SOL_SOCKET, name, &tv, &l) < 0 || (tv.tv_sec <= 0 && tv.tv_usec <= 0)) {
		errno = saved;
		return -1;
	}
	return pre_now_ms() + (int64_t)tv.tv_sec * 1000 + ((int64_t)tv.tv_usec + 999) / 1000;
}

/* Send all of buf, waiting for room until deadline_ms (0 = no limit).
 * 0 all sent, 1 the deadline passed first, -1 error; *done: bytes sent. */
int pre_wire_send_until(int fd, const uint8_t *buf, size_t len, int64_t deadline_ms, size_t *done)
{
	size_t off = 0;
	int rc = 0;

	while (off < len) {
		ssize_t r = REAL(send)(fd, buf + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r > 0) {
			off += (size_t)r;
			continue;
		}
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			rc = -1;
			break;
		}
		int64_t left = -1;
		if (deadline_ms) {
			left = deadline_ms - pre_now_ms();
			if (left <= 0) {
				rc = 1;
				break;
			}
		}
		if (pre_wire_wait(fd, POLLOUT, left) < 0 && errno != EINTR) {
			rc = -1;
			break;
		}
	}
	*done = off;
	return rc;
}

int pre_wire_send_all(int fd, const uint8_t *buf, size_t len, int64_t deadline_ms)
{
	size_t done;
	int r = pre_wire_send_until(fd, buf, len, deadline_ms, &done);

	if (r > 0)
		errno = ETIMEDOUT;
	return r ? -1 : 0;
}

/* FIN or RST behind an incomplete record is truncation (RFC 8446 §6.1). */
int pre_wire_truncated(int fd)
{
	struct pollfd pf = { .fd = fd, .events = POLLRDHUP };
	return REAL(poll)(&pf, 1, 0) == 1 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Why not pre_wire_truncated() alone after a peek: peek and poll are two
 * looks at a moving queue.  A fast peer's last bytes and its FIN can land
 * between them (socat sending a whole file then SHUT_WR; the client's
 * Finished + data + FIN right behind our flight), and the poll then reports
 * RDHUP for a queue that is complete.  Order matters here: FIN first, then
 * the queue length — after a FIN no byte can arrive, so a queue longer than
 * the caller's peek means data came in meanwhile: look again. */
int pre_wire_fin_after(int fd, size_t seen)
{
	int q = 0;

	if (!pre_wire_truncated(fd))
		return 0;
	if (REAL(ioctl)(fd, FIONREAD, &q) < 0)   /* TCP: bytes queued (SIOCINQ) */
		return 1;
	return (size_t)q <= seen;
}