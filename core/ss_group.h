/* ss_group.h — auth = group:NAME: a GKDI group key as a TLS 1.3 external
 * PSK (RFC 8446 §2.2, psk_dhe_ke), from a key distribution service or the
 * standalone key source (issue 15).
 *
 * Standalone, every member holds the group's root key (a root-key file); both ends
 * derive the L2 seed key of a GKID (MS-GKDI 3.1.4.1.2) through the client
 * cache of 3.2.4.1 (ss_gkdi_cache.c) — this host answers the cache's
 * "ask the server" itself, as a KDS would (3.1.4.1) — and the PSK from it:
 *   PSK = HKDF-SHA256(salt = "secsock group psk v1", IKM = L2 seed key,
 *                     info = the identity below, L = 32)      (RFC 5869)
 * so a key is bound to the exact identity it is offered under.
 *
 * Identity, version 1 (all lengths checked on parse, no trailing bytes):
 *   "SG" 0x01 | name length (1..63) | name | root key id (16, MS-DTYP
 *   binary) | L0 (4, big-endian, >= 0) | L1 (1, 0..31) | L2 (1, 0..31)
 *
 * Time is an argument (unix seconds): the caller reads the clock.  A client
 * offers the GKID of (now - SS_GROUP_SKEW); a server accepts the GKID of
 * its now and the one before (ss_group_gkid_ok), nothing newer, nothing
 * older.  Private to core/.
 */
#ifndef SS_GROUP_H
#define SS_GROUP_H

#include <stddef.h>
#include <stdint.h>
#include "ss_gkdi.h"
#include "ss_status.h"

enum {
	SS_GROUP_NAME_MAX = 63,
	SS_GROUP_ID_MAX = 4 + SS_GROUP_NAME_MAX + 16 + 6,
	SS_GROUP_PSK_LEN = 32,
	SS_GROUP_SKEW = 300,        /* seconds a client's clock may run ahead */
	SS_GROUP_FILE_MAX = 4096,
};

typedef struct ss_group_id {
	char name[SS_GROUP_NAME_MAX + 1];
	ss_guid rkid;
	ss_gkid gkid;               /* an L2 GKID */
} ss_group_id;

ss_status ss_group_id_encode(const ss_group_id *id, uint8_t *out, size_t cap, size_t *len);
/* SS_INVALID_TOKEN for anything but a well-formed version 1 identity. */
ss_status ss_group_id_parse(const uint8_t *in, size_t len, ss_group_id *id);
ss_status ss_group_psk(const uint8_t l2[SS_GKDI_KEY_LEN], const uint8_t *ident, size_t ident_len,
                       uint8_t out[SS_GROUP_PSK_LEN]);
/* unix seconds -> NTTIME (100 ns since 1601); 0 before 1601 can't happen */
uint64_t ss_group_nttime(int64_t unix_now);
/* 1 when got is the L2 GKID of now or the one before it. */
int ss_group_gkid_ok(ss_gkid got, ss_gkid now);

/* A group's key source: name, root key, SD and the 3.2.4.1 cache. */
typedef struct ss_grp ss_grp;

/* The root-key file: one line "GUID HASH HEX" (HASH SHA1..SHA512, HEX
 * the 64-byte root key), '#' comments; a regular file owned by the
 * effective user and not readable by group or others, else
 * SS_NO_CREDENTIALS.  sd NULL: SS_GROUP_SD_DEFAULT. */
ss_status ss_group_load(const char *name, const char *root_file, const uint8_t *sd, size_t sd_len,
                        ss_grp **out);

/* The KDS key source: keys come from a key distribution service
 * (docs/group-keys.md "Protocol"), never from a root key on this host.
 * fetch carries one GetKey request frame to a KDS and returns 0 with its
 * whole answer frame in ans, or -1 when no KDS could be reached; src is
 * passed back to it unchanged (the caller's list of services).  It is
 * called without the group's lock (it may take seconds; threads may ask
 * at the same time) and, after a -1, not again for SS_GROUP_KDS_RETRY
 * seconds: the cache answers,
 * or its 32-period fallback (MS-GKDI 3.2.4.1), or the key is refused.
 * After the KDS refused a request naming a root key (an identity with an
 * unknown root key, say), requests naming one are refused here for
 * SS_GROUP_KDS_RETRY seconds, so a peer cannot turn each handshake into
 * a KDS request.
 * cache_file (NULL: none) keeps the seed keys across processes
 * (ss_gkdi_cache_save/load): loaded here, saved after each answer. */
typedef int (*ss_group_fetch_fn)(const char *src, const uint8_t *req, size_t req_len, uint8_t *ans,
                                 size_t cap, size_t *ans_len);
enum { SS_GROUP_KDS_RETRY = 10, SS_GROUP_FALLBACK_PERIODS = 32 };
ss_status ss_group_new_kds(const char *name, const uint8_t *sd, size_t sd_len, ss_group_fetch_fn fetch,
                           const char *src, const char *cache_file, ss_grp **out);
void ss_group_free(ss_grp *g);
const char *ss_grp_name(const ss_grp *g);

/* Client: the identity and PSK to offer at unix time now: the key of the
 * GKID of (now - SS_GROUP_SKEW), or, with a KDS that cannot be reached,
 * the cached current key up to SS_GROUP_FALLBACK_PERIODS L2 periods older
 * (3.2.4.1); *gkid says which. */
ss_status ss_group_offer(ss_grp *g, int64_t now, uint8_t *ident, size_t cap, size_t *ident_len,
                         uint8_t psk[SS_GROUP_PSK_LEN], ss_gkid *gkid);
/* Server: is ident one this group accepts at now (name, root key, GKID
 * window)?  1 yes.  With a KDS, an older GKID is accepted only while this
 * host cannot reach the KDS either and its own fallback key is that one
 * (both ends in the same outage, MS-GKDI 3.2.4.1). */
int ss_group_accepts(ss_grp *g, int64_t now, const uint8_t *ident, size_t ident_len, ss_gkid *gkid);
/* Server: the PSK of an accepted identity. */
ss_status ss_group_key(ss_grp *g, int64_t now, const uint8_t *ident, size_t ident_len,
                       uint8_t psk[SS_GROUP_PSK_LEN]);

/* The clock the group and resumption code read: time(NULL); the test-hooks
 * build (Makefile) adds SECSOCK_TEST_CLOCK_OFFSET seconds. */
int64_t ss_clock_now(void);

/* The built-in security descriptor (docs/policy.md "group:NAME"): the
 * gMSA one, O:SYD:(A;;FRFW;;;S-1-5-9), 60 bytes (reference gkdi.md). */
extern const uint8_t SS_GROUP_SD_DEFAULT[60];

#endif
