/* pre_creds.h — credentials per (policy settings, direction), built on first
 * need and kept for the life of the process (they are immutable and
 * reference counted, ss_cred.h). */
#ifndef PRE_CREDS_H
#define PRE_CREDS_H

#include "pol.h"
#include "ss_cred.h"

/* A new reference, or NULL (logged) when the settings name no usable
 * method or a key file cannot be read.  use: SS_CRED_OUTBOUND/INBOUND. */
ss_cred *pre_creds_get(const pol_settings *s, unsigned use, char *why, size_t why_len);

/* Parse a psk-file: "IDENTITY:HEXKEY" or "HEXKEY" on the first line that is
 * not blank or a '#' comment (identity "secsock" then).  key is written into
 * key (cap bytes, >= 16 required); 0 ok, -1 error.  Exposed for tests. */
int pre_creds_parse_psk(const char *text, char *identity, size_t id_cap,
                        unsigned char *key, size_t cap, size_t *key_len);

#endif
