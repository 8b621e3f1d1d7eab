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

/* flags: MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT (others ignored on secured). */
ssize_t pre_io_recv(struct pre_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags);
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
/* Drive the server side of an accepted connection (UNDECIDED/HANDSHAKE)
 * until it is SECURED, CLEAR or FAILED.  until: 0 = never wait (EAGAIN),
 * -1 = wait (bounded by the handshake deadline), else also no longer than
 * this CLOCK_MONOTONIC deadline (the program's SO_RCVTIMEO: EAGAIN then,
 * the handshake resumes on the next call).  0 = decided, -1 errno.
 * Called with rx_lock held. */
int pre_accept_progress(struct pre_conn *c, int fd, int64_t until);
/* A write on an undecided accepted connection: wait up to
 * server-first-wait for the client's first bytes, then decide.  rx_lock held. */
int pre_accept_before_write(struct pre_conn *c, int fd);
/* The engine's step for an accepted connection not yet decided (no lock
 * held; pre_accept.c "Readiness"). */
void pre_accept_service(struct pre_conn *c);

/* Event loops (issue 5). */
/* pre_ready.c (finding 14c): a background handshake began (mask the
 * program's epoll registrations: no EPOLLOUT until it ends) / ended (give
 * them back, re-polled by the kernel); free the records.  tx_lock held. */
void pre_ready_bg_start(struct pre_conn *c);
void pre_ready_bg_done(struct pre_conn *c);
void pre_ready_free(struct pre_conn *c);
/* Seal and send the plaintext held during a background handshake (never
 * waits: the rest becomes the tail).  rx_lock and tx_lock held. */
int pre_io_flush_held(struct pre_conn *c, int fd);
void pre_io_drop_held(struct pre_conn *c);      /* tx_lock held; wipes */
/* getsockopt(SO_ERROR): 1 and *out when a background handshake failure is
 * to be reported (once), else 0 (ask the kernel). */
int pre_io_so_error(struct pre_conn *c, int *out);
/* The engine thread's work for c (pre_engine.c). */
void pre_io_service(struct pre_conn *c);
/* One step of a background client handshake on fd (pre_connect.c).  rx_lock
 * and tx_lock held.  1 secured, 0 in progress (the engine is armed), -1
 * failed (state FAILED, c->so_error set). */
int pre_connect_bg_step(struct pre_conn *c, int fd);
/* A first contact under request still undecided (c->bg_open): decide it
 * now, waiting (bounded by its timers) — before an exec, which cannot carry
 * a handshake in progress.  Takes rx_lock and tx_lock. */
void pre_connect_bg_finish(struct pre_conn *c, int fd);
/* Every such first contact of the process, before a fork: the child's copy
 * of a background handshake cannot follow it (pre_engine_atfork_child). */
void pre_connect_finish_all(void);

#endif
