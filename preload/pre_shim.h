/* pre_shim.h — what the exported data shims share (pre_shim_io.c,
 * pre_shim_more.c, pre_shim_raw.c).
 *
 * governed(): the descriptor's connection, with a reference, when its bytes
 * belong to the stream engine; NULL for everything that is not ours.  Split
 * so that only the slot peek is inlined into the shims: with the rest (and
 * the iovec of the callers' slow paths, which would pull in a stack canary)
 * out of line, a descriptor that is not ours costs the peek and a tail call
 * to libc — no frame, no canary (callgrind on redis-server: 39 → 20
 * instructions per read/write of a bypassed socket).
 */
#ifndef PRE_SHIM_H
#define PRE_SHIM_H

#include <errno.h>
#include <sys/socket.h>
#include "pre_sock.h"

#define SHIM __attribute__((visibility("default")))

struct pre_conn *pre_governed_slow(int fd);

static inline __attribute__((always_inline)) struct pre_conn *governed(int fd)
{
	if (__builtin_expect(pre_fd_peek(fd) == NULL, 1))
		return NULL;
	return pre_governed_slow(fd);
}

/* Drop the call's reference, keeping the errno of the call. */
static inline ssize_t put_keep(struct pre_conn *c, ssize_t r)
{
	int e = errno;
	pre_conn_put(c);
	errno = e;
	return r;
}

/* A governed read or write failed: if fd no longer is the connection's
 * socket (closed behind our back and the number reused by a file, pipe or
 * eventfd that no shim saw being made), the slot is stale — forget it and
 * return 1: the caller redoes the call as a plain one.  c: still ref'd. */
int pre_shim_stale(struct pre_conn *c, int fd, ssize_t r);

/* recvmsg/recvmmsg gave the program descriptors (SCM_RIGHTS): new numbers,
 * stale slots under them are forgotten (pre_shim_fd.c). */
void pre_fd_fresh_rights(const struct msghdr *m);

#endif
