/* pre_io.h — the stream engine: records in, plaintext out, and back.
 *
 * Readiness stays true without wrapping poll/epoll (ARCHITECTURE.md
 * "Preload semantics"): no plaintext is ever taken out of the kernel
 * without being delivered — reads consume only as many bytes as the
 * caller's buffer can take the plaintext of, or peek; partly delivered
 * plaintext waits in c->cache while its record (or the record's tail) stays
 * queued.  The start of an incomplete record waits in c->partial with
 * SO_RCVLOWAT raised to the bytes still missing; a close_notify read
 * together with data shuts the read side (SHUT_RD) so the EOF stays
 * readable.  The program's O_NONBLOCK is tracked, not asked for per call.
 *
 * Return values follow libc: >= 0 bytes, or -1 with errno set.
 */
#ifndef PRE_IO_H
#define PRE_IO_H

#include <sys/types.h>
#include <sys/uio.h>
#include "pre_sock.h"
#include "pre_wire.h"

/* The connection is not decided yet (accepted and undecided, in its
 * handshake, or a background connect): nothing was done; the setup layer
 * (pre_setup.h) makes it ready and calls again.  Never seen by a program. */
#define PRE_IO_NOT_READY ((ssize_t)-2)

/* flags: MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT (others ignored on secured).
 * The three may return PRE_IO_NOT_READY.  *until: the call's SO_RCVTIMEO
 * deadline (0: not asked yet, -1: none), shared with the setup layer. */
ssize_t pre_io_recv(struct pre_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags,
                    int64_t *until);
ssize_t pre_io_send(struct pre_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags);
/* A write that must not return EAGAIN (sendfile/splice from a source that
 * cannot be put back): flushes everything, non-blocking socket or not. */
ssize_t pre_io_send_blocking(struct pre_conn *c, int fd, const void *buf, size_t len);
/* FIONREAD: plaintext a read can return now (upper bound for queued records). */
int pre_io_pending(struct pre_conn *c, int fd, int *out);
/* Last close: read the peer's close_notify the engine left queued. */
void pre_io_drop_eof(struct pre_conn *c, int fd);
/* Fail c (state and shared record state) and reset the TCP connection;
 * logs why.  close_notify, shutdown and exit: pre_tail.h. */
void pre_io_fail(struct pre_conn *c, int fd, const char *why);
/* Seal and send the plaintext held during a background handshake (never
 * waits: the rest becomes the tail).  rx_lock and tx_lock held. */
int pre_io_flush_held(struct pre_conn *c, int fd);
void pre_io_drop_held(struct pre_conn *c);      /* tx_lock held; wipes */
/* A write while the client handshake runs in the background: hold the
 * plaintext (bounded), sealed and sent in order when the handshake
 * completes.  PRE_IO_HELD (*r set), PRE_IO_HOLD_FULL (over the bound:
 * nothing held, wait for the handshake), 0 not in the background any more,
 * -1 error.  No lock held. */
enum { PRE_IO_HELD = 1, PRE_IO_HOLD_FULL = 2 };
int pre_io_hold(struct pre_conn *c, int fd, const struct iovec *iov, int iovcnt, ssize_t *r);
/* Would a read or write with these flags block (MSG_DONTWAIT, O_NONBLOCK)? */
int pre_io_would_block(struct pre_conn *c, int fd, int flags);
/* getsockopt(SO_ERROR): 1 and *out when a background handshake failure is
 * to be reported (once), else 0 (ask the kernel). */
int pre_io_so_error(struct pre_conn *c, int *out);
/* The engine thread's work for c (pre_engine.c): the setup hook, then the
 * tail. */
void pre_io_service(struct pre_conn *c);
#endif
