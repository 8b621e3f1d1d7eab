/* pre_connect.h — the client side: connect() under policy, its handshake
 * (in connect, or in the background) and the clear fallback (pre_connect.c). */
#ifndef PRE_CONNECT_H
#define PRE_CONNECT_H

#include <stdint.h>
#include <sys/socket.h>
#include "pre_sock.h"

/* connect() of a governed socket: decide, connect, drive, fall back.
 * Returns as connect(2) does. */
int pre_connect(struct pre_conn *c, int fd, const struct sockaddr *addr, socklen_t len);
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
/* Deadline (CLOCK_MONOTONIC ms) of a background handshake, or 0: the
 * engine's timer for it (pre_setup.c hands it over). */
int64_t pre_connect_bg_deadline(struct pre_conn *c);

#endif
