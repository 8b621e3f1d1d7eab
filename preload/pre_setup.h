/* pre_setup.h — the connection-level step above the stream engine.
 *
 * A connection is "ready" for the stream engine (pre_rx.c, pre_tx.c) once
 * it is decided: secured, clear or failed.  Until then a read, a write or
 * the engine thread's event has setup work to do first — an accepted
 * connection's first bytes to classify and its handshake (pre_accept.c), a
 * background connect's handshake and first contact (pre_connect.c).  This
 * layer does that work and then hands the call to the engine, which never
 * calls up into connect or accept: the engine reports PRE_IO_NOT_READY
 * (pre_io.h) and, on its own thread, runs the hooks registered here
 * (pre_engine_set_setup).
 *
 *   shim (pre_shim_*.c) → pre_setup → pre_accept / pre_connect → pre_handshake
 *                            ↓
 *                 stream engine (pre_rx, pre_tx, pre_tail, pre_io, pre_engine)
 *                            ↓
 *                      pre_wire (socket helpers)
 */
#ifndef PRE_SETUP_H
#define PRE_SETUP_H

#include <sys/types.h>
#include <sys/uio.h>
#include "pre_sock.h"

/* The program's read, write and blocking write (sendfile/splice) of a
 * governed connection: set up first, then the engine.  Same results as
 * pre_io_recv / pre_io_send / pre_io_send_blocking (pre_io.h). */
ssize_t pre_setup_recv(struct pre_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags);
ssize_t pre_setup_send(struct pre_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags);
ssize_t pre_setup_send_blocking(struct pre_conn *c, int fd, const void *buf, size_t len);

/* Give the engine its setup hooks; from the constructor (pre_main.c),
 * before any connection exists. */
void pre_setup_init(void);

#endif
