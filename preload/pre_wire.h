/* pre_wire.h — socket helpers below the stream engine, the handshakes and
 * connect/accept (pre_wire.c).  No connection state: each takes a
 * descriptor.
 */
#ifndef PRE_WIRE_H
#define PRE_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* Wait for fd readiness with no lock held; timeout_ms < 0 = forever.
 * Returns 1 ready, 0 timeout, -1 error (errno). */
int pre_wire_wait(int fd, short events, int64_t timeout_ms);
/* 1 when the peer has sent FIN (or RST): bytes queued now are all there
 * will ever be.  Non-blocking (poll POLLRDHUP, timeout 0). */
int pre_wire_truncated(int fd);
/* pre_wire_truncated() for a caller that peeked `seen` bytes (still queued)
 * before asking: 1 only when FIN/RST is in AND no byte came in since that
 * peek.  A FIN that arrives together with the rest of a record (or flight)
 * after the peek is not truncation: the caller must look again. */
int pre_wire_fin_after(int fd, size_t seen);
/* Send all of buf (handshake flights, alerts) before deadline_ms (0 = none). */
int pre_wire_send_all(int fd, const uint8_t *buf, size_t len, int64_t deadline_ms);

/* The program's SO_RCVTIMEO or SO_SNDTIMEO (name) as the deadline of a
 * blocking call starting now (CLOCK_MONOTONIC ms), or -1 when none is set
 * (socket(7): a zero timeout never expires). */
int64_t pre_wire_timeo(int fd, int name);

/* Send all of buf, waiting for room until deadline_ms (0: no limit): 0 all
 * sent, 1 the deadline passed first, -1 error; *done: bytes sent. */
int pre_wire_send_until(int fd, const uint8_t *buf, size_t len, int64_t deadline_ms, size_t *done);

#endif
