/* pre_creds.h — credentials per (policy settings, direction), built on first
 * need and kept for the life of the process (they are immutable and
 * reference counted, ss_cred.h). */
#ifndef PRE_CREDS_H
#define PRE_CREDS_H

#include "pol.h"
#include <sys/socket.h>
#include "ss_cred.h"

/* A new reference, or NULL (logged) when the settings name no usable
 * method or a key file cannot be read.  use: SS_CRED_OUTBOUND/INBOUND. */
ss_cred *pre_creds_get(const pol_settings *s, unsigned use, char *why, size_t why_len);

/* Parse a psk-file: "IDENTITY:HEXKEY" or "HEXKEY" on the first line that is
 * not blank or a '#' comment (identity "secsock" then).  key is written into
 * key (cap bytes, >= 16 required); 0 ok, -1 error.  Exposed for tests. */
int pre_creds_parse_psk(const char *text, char *identity, size_t id_cap,
                        unsigned char *key, size_t cap, size_t *key_len);

/* After a handshake, before the connection counts as secured: when the
 * rule lists host-key, a host-key peer's fingerprint against known-peers
 * (pinned on first contact unless known-peers = strict; a mismatch is a
 * loud warn), and an anonymous peer that is pinned is refused.  name: the
 * name a host-key peer must prove (core's name_by_pin), or NULL; only a
 * line with names= binding it to fp proves it.  Logs its notice/warn line;
 * 0 accept, -1 refuse (why says it). */
int pre_creds_check_peer(const pol_settings *s, int inbound, const struct sockaddr_storage *peer,
                         ss_auth auth, const char *fp, const char *name, char *why, size_t why_len);
/* The same for a connection whose handshake just finished (c->ctx alive). */
struct pre_conn;
int pre_creds_check_conn(struct pre_conn *c, int fd, char *why, size_t why_len);

#endif
