/* pre_ready.h — readiness of a governed socket not yet decided: poll,
 * select and epoll_ctl (pre_ready.c says how). */
#ifndef PRE_READY_H
#define PRE_READY_H

#include "pre_sock.h"

/* A background handshake began (mask the program's epoll registrations: no
 * EPOLLOUT until it ends) / ended (give them back, re-polled by the
 * kernel); free the records.  tx_lock held. */
void pre_ready_bg_start(struct pre_conn *c);
void pre_ready_bg_done(struct pre_conn *c);
void pre_ready_free(struct pre_conn *c);

#endif
