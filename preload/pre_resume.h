/* pre_resume.h — quick reconnects (issue 14; core/ss_resume.h): the
 * server's ticket keys and the client's associations.
 *
 * The ticket master key is made when the library starts, before the
 * program can fork, so that every process of a forking or prefork server
 * opens the tickets of every other; it lives in locked memory for the
 * process's life, and the keys derived from it rotate every
 * SS_TICKET_PERIOD (core/ss_resume.h).  A rule with a host key uses a
 * master derived from that key instead (core ss_cred).  Client associations are kept per process, keyed by the peer's
 * address and port, the rule and the target name, in locked memory; a
 * fork child inherits them.  Behind the table, the user's processes share
 * them through pre_resume_store.h. */
#ifndef PRE_RESUME_H
#define PRE_RESUME_H

#include <sys/socket.h>
#include "pol.h"
#include "ss_resume.h"

struct pre_conn;

void pre_resume_init(void);                    /* from the constructor */
const ss_ticket_keys *pre_resume_keys(void);   /* NULL when none could be made */

/* Client, before the ClientHello: offer an association for c when the rule
 * allows reuse and one is fresh (c->ctx made then, via ss_ctx_client_new). */
void pre_resume_offer(struct pre_conn *c, int fd, const char *target);
/* After the handshake, before export: a client keeps what the server's
 * ticket will need; a server makes its ticket message (*len 0: none). */
void pre_resume_established(struct pre_conn *c, int fd, uint8_t *ticket, size_t cap, size_t *len);
/* Client, after a record that carried a NewSessionTicket. */
void pre_resume_ticket(struct pre_conn *c);
/* Is the association usable now under these lifetimes and the server's
 * ticket_lifetime (the per-process table and pre_resume_store.h)? */
int pre_resume_usable(const ss_resume_entry *e, uint64_t lifetime_ms, uint64_t idle_ms, int64_t now);
/* Forget what c kept (teardown). */
void pre_resume_drop(struct pre_conn *c);

#endif
