/* pre_resume_store.h — the client associations shared by one user's
 * processes (issue 14 "Clients"; docs/design.md "Quick reconnects"), behind
 * the per-process table of pre_resume.c, so that a shell loop of short-lived
 * clients resumes too.
 *
 * In $XDG_RUNTIME_DIR/secsock/resume/ only (no /tmp fallback: a runtime
 * dir is the user's own and goes away at logout): the directory is checked
 * as the discovery store's is (pre_disc_store_dir_open: ours, no group or
 * other bits, no symlink) on every use, and anything else is refused and
 * leaves the cache per process.  A per-user key file (32 random bytes,
 * 0600) seals each entry with XChaCha20-Poly1305; the file's name is a
 * keyed BLAKE2b of the peer address and port, rule and target, which are
 * also the additional data, so a name says nothing and an entry moved to
 * another name does not open.  At most PRE_RESUME_STORE_MAX entries, the
 * oldest evicted; an entry that is expired, short, torn or does not open
 * is ignored and removed. */
#ifndef PRE_RESUME_STORE_H
#define PRE_RESUME_STORE_H

#include <sys/socket.h>
#include "ss_resume.h"

enum { PRE_RESUME_STORE_MAX = 64 };

/* 1 and *e filled when a stored association for this tuple is fresh under
 * these lifetimes (pre_resume_usable); 0 otherwise. */
int pre_resume_store_get(const struct sockaddr_storage *peer, const char *rule, const char *target,
                         uint64_t lifetime_ms, uint64_t idle_ms, ss_resume_entry *e);
/* Store (or replace) the association for this tuple. */
void pre_resume_store_put(const struct sockaddr_storage *peer, const char *rule, const char *target,
                          const ss_resume_entry *e);

#endif
