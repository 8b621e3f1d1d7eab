/* ss_gkdi.h — MS-GKDI group key derivation, the Group Key Envelope and the
 * client key cache (seed 002, MS-GKDI 2.2.4, 3.1.4.1, 3.2.4.1, 3.2.4.3).
 *
 * Sans-I/O: no sockets, no files and no clock, except the cache file at the
 * end (ss_gkdi_store.c), whose callers choose when to save and load.  Every
 * call that depends on the time takes it as an argument (an NTTIME, 100 ns
 * ticks since 1601-01-01 UTC, or a GKID computed from one), so tests can
 * walk periods.
 * Seed keys are 64 bytes; the library keeps its own copies in
 * sodium_malloc'd memory and wipes every temporary with sodium_memzero.
 */
#ifndef SS_GKDI_H
#define SS_GKDI_H

#include <stddef.h>
#include <stdint.h>

#include "ss_status.h"

enum {
	SS_GKDI_KEY_LEN = 64,          /* seed and root keys (3.1.4.1.2: L = 512 bits) */
	SS_GKDI_ENV_HDR = 80,          /* fixed part of a Group Key Envelope (2.2.4) */
	SS_GKDI_ENV_MAX = 16384,       /* bound on the envelopes we parse or build */
	SS_GKDI_SD_MAX = 65535,        /* a self-relative SD is at most 64 KiB */
	SS_GKDI_PUB_MAX = 4096,        /* bound on a group public key blob (2.2.3) */
};

/* One key cycle (one L2 period) is 3.6e11 ticks = 10 h (3.1.4.1). */
#define SS_GKDI_CYCLE 360000000000ULL

/* Envelope dwFlags (2.2.4): the SPEC numbers bits MSB first, so its "bit 31"
 * is the least significant bit. */
#define SS_GKDI_FLAG_PUBLIC   0x1u  /* the L2 key field is a group public key */
#define SS_GKDI_FLAG_ENCRYPT  0x2u  /* the key may be used to encrypt new data */

/* A group key identifier; -1 = not specified.  (L0,-1,-1) names an L0
 * seed key, (L0,L1,-1) an L1 seed key, all three >= 0 an L2 seed key and
 * (-1,-1,-1) "the latest key". */
typedef struct ss_gkid {
	int32_t l0, l1, l2;
} ss_gkid;

#define SS_GKID_NONE ((ss_gkid){ -1, -1, -1 })

/* A root key id in MS-DTYP 2.3.4.2 binary form (Data1..3 little-endian). */
typedef struct ss_guid {
	uint8_t b[16];
} ss_guid;

typedef enum ss_gkdi_hash {
	SS_GKDI_SHA1 = 0,
	SS_GKDI_SHA256,
	SS_GKDI_SHA384,
	SS_GKDI_SHA512,
} ss_gkdi_hash;

/* ---- identifiers and time (3.1.4.1 step 2) */

/* L0 >= -1, L1 and L2 in -1..31, no index given below an unspecified one. */
int ss_gkid_valid(ss_gkid g);
/* Lexical order of the SPEC: <0, 0, >0 as a is older, equal, newer. */
int ss_gkid_cmp(ss_gkid a, ss_gkid b);
ss_gkid ss_gkid_from_time(uint64_t nttime);
/* Start time of an L2 GKID; -1 if g is not an L2 GKID or overflows 64 bits. */
int ss_gkid_start_time(ss_gkid g, uint64_t *nttime);
/* "L0,L1,L2" (each >= -1, no spaces) -> 0, or -1 when malformed. */
int ss_gkid_parse(const char *s, ss_gkid *g);

/* Canonical "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" <-> binary form. */
int ss_guid_parse(const char *s, ss_guid *g);
void ss_guid_format(const ss_guid *g, char out[37]);

/* "SHA1", "SHA256", "SHA384", "SHA512" (case-sensitive, as Windows). */
int ss_gkdi_hash_parse(const char *name, ss_gkdi_hash *h);
const char *ss_gkdi_hash_name(ss_gkdi_hash h);

/* ---- derivation (3.1.4.1.2) */

/* SP800-108 counter-mode KDF, HMAC-<hash> PRF, through OpenSSL's KBKDF:
 * PRF input = [i]32 || label || 0x00 || context || [8*out_len]32. */
ss_status ss_gkdi_kdf(ss_gkdi_hash h, const uint8_t *key, size_t key_len,
                      const uint8_t *label, size_t label_len,
                      const uint8_t *context, size_t context_len,
                      uint8_t *out, size_t out_len);

typedef struct ss_gkdi_root {
	ss_guid id;
	ss_gkdi_hash hash;
	const uint8_t *key;    /* SS_GKDI_KEY_LEN bytes, the caller's */
} ss_gkdi_root;

/* The seed key `want` from a root key: (L0,-1,-1) an L0 key, (L0,L1,-1) an
 * L1 key, (L0,L1,L2) an L2 key.  sd is the target security descriptor's
 * exact bytes (it enters the (L0,31,-1) step only). */
ss_status ss_gkdi_seed_key(const ss_gkdi_root *root, const uint8_t *sd, size_t sd_len,
                           ss_gkid want, uint8_t out[SS_GKDI_KEY_LEN]);

/* Walk down from a seed key `have` (an L1 or L2 key) to `want` in the same
 * L0: an L1 key (L0,i,-1) reaches (L0,j<=i,·), an L2 key (L0,i,k) reaches
 * (L0,i,m<=k).  SS_NO_CREDENTIALS when `want` cannot be reached. */
ss_status ss_gkdi_derive_down(ss_gkdi_hash h, const ss_guid *rkid,
                              const uint8_t have_key[SS_GKDI_KEY_LEN], ss_gkid have,
                              ss_gkid want, uint8_t out[SS_GKDI_KEY_LEN]);

/* What the server sends for a GetKey request (3.1.4.1).  rkid_given says
 * whether the request named the root key; requested is (-1,-1,-1) or an L2
 * GKID; now is GKID(server time).  SS_LOGON_DENIED for a GKID newer than
 * now (the server never hands out a future key), SS_INVALID_TOKEN for a
 * malformed request. */
typedef struct ss_gkdi_answer {
	ss_gkid gkid;                   /* the envelope's L0, L1, L2 */
	int has_l1, has_l2;
	ss_gkid l1_gkid;                /* (L0,L1,-1) or (L0,L1-1,-1) */
	uint8_t l1_key[SS_GKDI_KEY_LEN];
	uint8_t l2_key[SS_GKDI_KEY_LEN];
} ss_gkdi_answer;

ss_status ss_gkdi_get_key(const ss_gkdi_root *root, const uint8_t *sd, size_t sd_len,
                          int rkid_given, ss_gkid requested, ss_gkid now,
                          ss_gkdi_answer *ans);
/* Wipe an answer (the caller owns its storage). */
void ss_gkdi_answer_clear(ss_gkdi_answer *ans);

/* ---- the Group Key Envelope (2.2.4) */

/* A byte string inside a parsed envelope (points into the caller's buffer). */
typedef struct ss_gkdi_bytes {
	const uint8_t *p;
	size_t len;
} ss_gkdi_bytes;

typedef struct ss_gkdi_env {
	uint32_t version, flags;
	ss_gkid gkid;
	ss_guid rkid;
	uint32_t priv_bits, pub_bits;
	/* UTF-16LE strings include their NUL; absent fields have len 0 */
	ss_gkdi_bytes kdf_alg, kdf_params, sa_alg, sa_params, domain, forest;
	ss_gkdi_bytes l1_key, l2_key;
	ss_gkdi_hash hash;              /* from kdf_params (SHA256 when absent) */
} ss_gkdi_env;

/* Parse buf[0..len) exactly (no trailing bytes).  SS_OK, or SS_DECODE_ERROR
 * with a one-line reason in why (may be NULL). */
ss_status ss_gkdi_env_parse(const uint8_t *buf, size_t len, ss_gkdi_env *env,
                            char *why, size_t why_len);
/* Build an envelope; the result is checked by ss_gkdi_env_parse, so the
 * builder never produces what the parser refuses.  *out_len is the size
 * written; SS_BUFFER_TOO_SMALL when cap is short. */
ss_status ss_gkdi_env_encode(const ss_gkdi_env *env, uint8_t *out, size_t cap, size_t *out_len,
                             char *why, size_t why_len);
/* Fill env for a server answer: SP800_108_CTR_HMAC with explicit hash
 * parameters, no secret agreement algorithm (secsock serves seed keys
 * only), flag "may encrypt", domain and forest (ASCII DNS names), keys
 * pointing into ans.  UTF-16 strings are written to scratch (at least
 * SS_GKDI_SCRATCH bytes), which must outlive env. */
enum { SS_GKDI_SCRATCH = 2048 };
ss_status ss_gkdi_env_from_answer(const ss_gkdi_answer *ans, const ss_gkdi_root *root,
                                  const char *domain, const char *forest,
                                  ss_gkdi_env *env, uint8_t *scratch, size_t scratch_len);

/* ASCII view of a UTF-16LE NUL-terminated field (non-ASCII units -> '?'). */
void ss_gkdi_utf16_ascii(ss_gkdi_bytes b, char *out, size_t cap);

/* ---- the requested key (3.2.4.3) */

typedef struct ss_gkdi_key {
	ss_gkid gkid;
	ss_guid rkid;
	int is_public;                  /* key is a group public key blob */
	uint8_t *key;                   /* sodium_malloc'd; ss_gkdi_key_clear frees */
	size_t len;
} ss_gkdi_key;

void ss_gkdi_key_clear(ss_gkdi_key *k);

/* The key a caller asked for, from an envelope: requested = (-1,-1,-1) for
 * "the latest", else an L2 GKID; rkid_given as in the request. */
ss_status ss_gkdi_client_key(const ss_gkdi_env *env, int rkid_given, ss_gkid requested,
                             ss_gkdi_key *out);

/* ---- the client key cache (3.2.4.1), ss_gkdi_cache.c */

typedef struct ss_gkdi_cache ss_gkdi_cache;

/* A caller's request: domain and SD are required, rkid may be NULL and
 * gkid SS_GKID_NONE ("not specified"). */
typedef struct ss_gkdi_req {
	const char *domain;
	const uint8_t *sd;
	size_t sd_len;
	const ss_guid *rkid;
	ss_gkid gkid;
} ss_gkdi_req;

enum { SS_GKDI_CACHE_MAX = 256 };   /* entries; the oldest is dropped beyond it */

ss_gkdi_cache *ss_gkdi_cache_new(void);
void ss_gkdi_cache_free(ss_gkdi_cache *c);
size_t ss_gkdi_cache_count(const ss_gkdi_cache *c);

/* Look the request up at time now.  SS_OK with *out filled when the cache
 * answers; SS_CONTINUE_NEEDED when the caller must ask the server. */
ss_status ss_gkdi_cache_lookup(ss_gkdi_cache *c, const ss_gkdi_req *req, uint64_t now,
                               ss_gkdi_key *out);
/* The server answered with envelope env: update the cache by the rules of
 * 3.2.4.1 and compute the requested key into *out. */
ss_status ss_gkdi_cache_update(ss_gkdi_cache *c, const ss_gkdi_req *req, const ss_gkdi_env *env,
                               ss_gkdi_key *out);
/* The server could not be reached: the 32-L2-period fallback, or
 * SS_NO_AUTHENTICATING_AUTHORITY. */
ss_status ss_gkdi_cache_unreachable(ss_gkdi_cache *c, const ss_gkdi_req *req, uint64_t now,
                                    ss_gkdi_key *out);

/* Inspection for tests and `secsock status`: entry i's kind and marks. */
typedef struct ss_gkdi_cache_info {
	ss_gkid gkid;
	ss_guid rkid;
	int is_public, current, has_l1, has_l2;
} ss_gkdi_cache_info;
int ss_gkdi_cache_info_at(const ss_gkdi_cache *c, size_t i, ss_gkdi_cache_info *info);

/* ---- the cache as a file (ss_gkdi_store.c) */

/* The cache's entries as bytes, so the group keys a process learnt outlive
 * it.  Big-endian: "SSGC", version 1, a 2-byte entry count, then per entry
 * the domain (1-byte length), SD (2-byte length), root key id, L0 L1 L2
 * (int32 each), hash, flags (bit0 public, bit1 current, bit2 L1 key, bit3
 * L2 key), the L1 key (64 bytes) and the L2 key (2-byte length).
 * *out holds seed keys: sodium_malloc'd, the caller sodium_frees it.
 * SS_DECODE_ERROR for an entry the decoder would refuse (an empty SD, a
 * domain that is not printable ASCII): nothing is written that cannot be
 * read back. */
ss_status ss_gkdi_cache_encode(const ss_gkdi_cache *c, uint8_t **out, size_t *len);
/* Append the entries of buf[0..len) to c, oldest first.  All or nothing:
 * SS_DECODE_ERROR for any malformed field, trailing bytes, or more entries
 * than c has room for (SS_GKDI_CACHE_MAX), and c is then unchanged. */
ss_status ss_gkdi_cache_decode(ss_gkdi_cache *c, const uint8_t *buf, size_t len);
/* Write the encoding to path, mode 0600, through "path.tmp.<pid>" and a
 * rename, so a reader sees the old file or the new one.  SS_NO_CREDENTIALS
 * (nothing written) unless path's directory is ours and not group- or
 * other-writable, or when a write fails; SS_BUFFER_TOO_SMALL when the
 * encoding is over the 1 MiB that ss_gkdi_cache_load reads. */
ss_status ss_gkdi_cache_save(const ss_gkdi_cache *c, const char *path);
/* Decode path into c.  SS_NO_CREDENTIALS when it does not exist (an empty
 * cache to the caller) or is not a regular file of ours, unreadable by
 * others, of at most 1 MiB; otherwise as ss_gkdi_cache_decode. */
ss_status ss_gkdi_cache_load(ss_gkdi_cache *c, const char *path);

#endif
