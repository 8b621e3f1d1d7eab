/* pre_handoff.c — a governed descriptor never leaves by SCM_RIGHTS (issue 10).
 *
 * A descriptor passed over an AF_UNIX socket (unix(7), SCM_RIGHTS) reaches
 * another process with the socket but none of our state: the record keys,
 * sequence numbers and delivery bookkeeping live in this process, and a
 * receiver (preloaded or not) sees an unknown connected socket and writes
 * in clear.  The state cannot go along: the receiver is any process, with
 * no memory shared with us, and two processes sealing with one record state
 * would reuse nonces.  So the hand-off is refused: sendmsg fails with EPERM
 * (the operation is not permitted by policy; a program passing descriptors
 * handles a failed sendmsg) and nothing is sent, not even the data bytes of
 * that message.  sendmmsg sends the messages before the first refused one
 * and reports that count, as the kernel does for a message that fails;
 * called again, it fails on that message.
 *
 * Refused: every connection state the receiver could put clear bytes on —
 * SECURED, a handshake that could not be decided, and FAILED (dead here,
 * but the kernel socket may still carry bytes).  One still being decided
 * (accepted and not classified, a first contact under request) is decided
 * first (decide_first), and goes if it ended clear.
 * Passed: a socket not connected yet (NEW; the receiver's connect is its
 * own, decided by its own policy if it is preloaded), and everything that
 * is not ours (files, pipes, listening, bypassed and clear sockets).
 *
 * The memfds of the connection arena (pre_arena.c: every connection's
 * record state, keys included) are refused the same way: a program passing
 * descriptors it did not open must not hand them to another process.
 *
 * The control buffer is walked the way the kernel walks it (net/core/scm.c
 * __scm_send with for_each_cmsghdr; include/linux/socket.h __cmsg_nxthdr),
 * not with glibc's CMSG_NXTHDR, which stops early when the last header's
 * aligned length runs past msg_controllen — a header the kernel still
 * takes.  A header the kernel would reject (CMSG_OK fails) ends the walk:
 * the kernel then fails the whole call with EINVAL and passes nothing.
 */
#include <errno.h>
#include <string.h>
#include "pre_connect.h"
#include "pre_accept.h"
#include "pre_handoff.h"
#include "pre_io.h"
#include "pre_log.h"
#include "pre_sock.h"

/* A connection still being decided is decided now, as a write would decide
 * it (bounded by the rule's timers): an accepted one waits
 * server-first-wait for a ClientHello (pre_accept_before_write), a first
 * contact under request finishes its discovery (pre_connect_bg_finish).
 * One that ends clear may then go, like any clear socket; one that ends
 * secured is refused.  Privilege-separated servers (vsftpd) pass the data
 * connections they accept to another of their processes right away. */
static void decide_first(struct pre_conn *c, int fd)
{
	int st = atomic_load(&c->state);

	if (st == PRE_UNDECIDED || st == PRE_HANDSHAKE) {
		pthread_mutex_lock(&c->rx_lock);
		(void)pre_accept_before_write(c, fd);
		pthread_mutex_unlock(&c->rx_lock);
	} else if (st == PRE_CONNECTING && c->bg && c->bg_open) {
		pre_connect_bg_finish(c, fd);
	}
}

int pre_handoff_governed(int fd)
{
	struct pre_conn *c;
	int st;

	if (!pre_fd_peek(fd) || !(c = pre_fd_get(fd)))
		return 0;
	decide_first(c, fd);
	st = atomic_load(&c->state);
	pre_conn_put(c);
	return st != PRE_NEW && st != PRE_CLEAR;
}

/* The first governed descriptor in SCM_RIGHTS of msg, or -1. */
static int governed_in(const struct msghdr *msg)
{
	const char *ctl = msg->msg_control;
	size_t len = msg->msg_controllen, off = 0;

	if (!ctl)
		return -1;   /* with a length: EFAULT from the kernel */
	while (off + sizeof(struct cmsghdr) <= len) {
		struct cmsghdr h;
		memcpy(&h, ctl + off, sizeof h);   /* the program's buffer need not be aligned */
		if (h.cmsg_len < sizeof h || h.cmsg_len > len - off)
			return -1;   /* !CMSG_OK: the kernel fails the call (EINVAL) */
		if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_RIGHTS) {
			size_t n = (h.cmsg_len - sizeof h) / sizeof(int);
			for (size_t i = 0; i < n; i++) {
				int fd;
				memcpy(&fd, ctl + off + sizeof h + i * sizeof fd, sizeof fd);
				if (pre_handoff_governed(fd) || pre_arena_owns_fd(fd))
					return fd;
			}
		}
		off += CMSG_ALIGN(h.cmsg_len);
	}
	return -1;
}

int pre_handoff_refuse(const struct msghdr *msg)
{
	int fd;

	if (!msg || !msg->msg_controllen || (fd = governed_in(msg)) < 0)
		return 0;
	if (pre_arena_owns_fd(fd))
		pre_log(PRE_LOG_WARN, "fd %d: SCM_RIGHTS hand-off of secsock's connection arena refused", fd);
	else
		pre_log(PRE_LOG_WARN, "fd %d: SCM_RIGHTS hand-off of a governed connection refused "
		        "(the receiving process would have the socket without its security state)", fd);
	errno = EPERM;
	return 1;
}

int pre_handoff_refuse_mmsg(const struct mmsghdr *v, unsigned *n)
{
	if (!v)
		return 0;
	for (unsigned i = 0; i < *n; i++)
		if (pre_handoff_refuse(&v[i].msg_hdr)) {
			*n = i;
			return i == 0;
		}
	return 0;
}
