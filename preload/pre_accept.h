/* pre_accept.h — the server side: accept()/accept4() under policy and the
 * decision and handshake of an accepted connection (pre_accept.c). */
#ifndef PRE_ACCEPT_H
#define PRE_ACCEPT_H

#include <stdint.h>
#include "pre_sock.h"

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

#endif
