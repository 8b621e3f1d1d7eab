/* kds.h — the secsock key distribution service (issue 15, "kds/";
 * docs/group-keys.md, secsock-kds(8)).  One file per concern:
 * kds_config.c (the INI file), kds_store.c (root keys on disk),
 * kds_answer.c (membership, then the MS-GKDI 3.1.4.1 answer),
 * kds_serve.c (the poll loop). */
#ifndef KDS_H
#define KDS_H

#include <stddef.h>
#include <stdint.h>

#include "ss_gkdi.h"
#include "ss_kds_proto.h"

enum {
	KDS_LISTEN_MAX = 8,
	KDS_MEMBERS_MAX = 1024,     /* per group */
	KDS_GROUPS_MAX = 256,
	KDS_ID_MAX = 256,           /* a member identity, as secsock_info.peer */
	KDS_ROOTS_MAX = 1024,
};

struct kds_group {
	char name[SS_KDS_GROUP_MAX + 1];
	uint8_t *sd;                /* the security descriptor's exact bytes */
	size_t sd_len;
	char **members;             /* "SHA256:..." fingerprints or certificate subjects */
	size_t n_members;
};

struct kds_config {
	char *listen[KDS_LISTEN_MAX];   /* "HOST:PORT", "[::1]:PORT" */
	size_t n_listen;
	char *store;
	char *domain;                   /* the envelope's domain and forest names */
	int timeout_ms;                 /* a client that sends no whole request by then is closed */
	int max_clients;
	struct kds_group *groups;
	size_t n_groups;
};

/* kds_config.c: 0, or -1 with a one-line reason (FILE:LINE: ...) in why. */
int kds_config_load(const char *path, struct kds_config *c, char *why, size_t why_len);
void kds_config_free(struct kds_config *c);
const struct kds_group *kds_config_group(const struct kds_config *c, const char *name);
int kds_group_has(const struct kds_group *g, const char *identity);

/* kds_store.c: root keys, one file per key in a directory. */
struct kds_root {
	ss_guid id;
	ss_gkdi_hash hash;
	uint64_t effective;             /* NTTIME from which the key may be used */
	uint8_t *key;                   /* SS_GKDI_KEY_LEN bytes, sodium_malloc'd */
};

struct kds_store {
	struct kds_root *roots;
	size_t n;
};

int kds_store_load(const char *dir, struct kds_store *s, char *why, size_t why_len);
void kds_store_free(struct kds_store *s);
/* A new random root key effective from `effective` (NTTIME); its id in *id. */
int kds_store_create(const char *dir, uint64_t effective, ss_guid *id, char *why, size_t why_len);
/* The root key a request gets at time now: the named one, or the most
 * recently effective one; NULL when there is none (or not yet effective). */
const struct kds_root *kds_store_pick(const struct kds_store *s, const ss_guid *id, uint64_t now);

/* kds_answer.c: the answer frame to one request frame from the peer
 * `identity` (secsock_info.peer) at NTTIME now.  Always builds a frame
 * (errors are status codes); *code says which. */
ss_status kds_answer(const struct kds_config *c, const struct kds_store *s, const char *identity,
                     const uint8_t *req, size_t req_len, uint64_t now,
                     uint8_t *out, size_t cap, size_t *out_len, ss_kds_code *code);

/* kds_serve.c: serve until SIGINT/SIGTERM; 0 on a clean stop, 1 on error. */
int kds_serve(const struct kds_config *c, const struct kds_store *s);

/* The current time as NTTIME. */
uint64_t kds_nttime_now(void);

#endif
