/* pre_disc_store.h — the discovery verdicts shared by one user's processes
 * (docs/design.md "First contact"): one small file per peer in a per-user
 * directory, $XDG_RUNTIME_DIR/secsock or /tmp/secsock-EUID, used only when
 * it is a real directory (no symlink) owned by the effective user with no
 * group or other permission bits, so no other user can read the verdicts
 * or plant one.  Entries are parsed defensively (pre_disc_entry_parse,
 * tests/fuzz/fuzz_disc_entry.c): anything else is ignored and removed.
 * Every failure of the store leaves discovery per process, as before. */
#ifndef PRE_DISC_STORE_H
#define PRE_DISC_STORE_H

#include <stddef.h>
#include <stdint.h>

enum { PRE_DISC_KIND_CLEAR = 0, PRE_DISC_KIND_SECSOCK = 1 };
/* An entry: "secsock-discovery 1 clear|secsock EXPIRES_UNIX_MS\n". */
enum { PRE_DISC_ENTRY_MAX = 63 };
/* No verdict is trusted for longer than this, whatever the file says. */
enum { PRE_DISC_STORE_MAX_TTL_MS = 24 * 60 * 60 * 1000 };

/* 0 and *kind, *expires_ms set when buf[0..len) is exactly one entry. */
int pre_disc_entry_parse(const char *buf, size_t len, int *kind, int64_t *expires_ms);
/* The entry's text in buf (at least PRE_DISC_ENTRY_MAX + 1 bytes): its length. */
int pre_disc_entry_format(char *buf, size_t n, int kind, int64_t expires_ms);

/* Wall-clock milliseconds (entries outlive processes). */
int64_t pre_disc_real_ms(void);
/* name: [a-z0-9]{1,64}.  1 and *expires_ms (wall clock) when a valid,
 * unexpired entry of that kind is stored; 0 otherwise. */
int pre_disc_store_get(const char *name, int kind, int64_t *expires_ms);
void pre_disc_store_put(const char *name, int kind, int64_t expires_ms);
void pre_disc_store_del(const char *name);

struct stat;
/* A directory only the effective user can reach: ours, no group or other bits. */
int pre_disc_private_dir(const struct stat *st);
/* The store's directory, opened (O_DIRECTORY|O_NOFOLLOW, close-on-exec)
 * and checked again through its descriptor, for other per-user stores
 * (pre_resume_store.h); xdg_only: -1 unless it is under $XDG_RUNTIME_DIR
 * (not the /tmp fallback).  -1 when refused; errno kept. */
int pre_disc_store_dir_open(int xdg_only);

#endif
