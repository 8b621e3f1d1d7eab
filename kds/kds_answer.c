/* kds_answer.c — one GetKey request to one answer frame: the request is
 * parsed, the group looked up, the authenticated peer checked against its
 * members, the root key picked, and then the core answers as MS-GKDI
 * 3.1.4.1 says (ss_gkdi_get_key: never a key newer than now) in a 2.2.4
 * envelope.  Deterministic in (config, store, identity, request, now), so
 * two instances on the same store answer byte-identically. */
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "kds.h"
#include "ss_group.h"

/* Seconds from 1601-01-01 (NTTIME's epoch) to 1970-01-01. */
#define NT_UNIX_EPOCH 11644473600ULL

/* The one wall clock of the group code (core/ss_clock.c), so the
 * test-hooks `secsock` can walk L2 periods with its members. */
uint64_t kds_nttime_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ss_clock_now() + NT_UNIX_EPOCH) * 10000000ULL + (uint64_t)ts.tv_nsec / 100;
}

static ss_kds_code build(const struct kds_config *c, const struct kds_store *s,
                         const char *identity, const ss_kds_req *req, uint64_t now,
                         uint8_t *env_buf, size_t cap, size_t *env_len)
{
	const struct kds_group *g = kds_config_group(c, req->group);
	const struct kds_root *r;
	ss_gkdi_root root;
	ss_gkdi_answer ans;
	ss_gkdi_env env;
	uint8_t scratch[SS_GKDI_SCRATCH];
	ss_status st;

	if (!g)
		return SS_KDS_UNKNOWN_GROUP;
	/* membership before anything about keys, so a non-member learns
	 * nothing about the group's root keys or periods */
	if (!kds_group_has(g, identity))
		return SS_KDS_NOT_MEMBER;
	r = kds_store_pick(s, req->has_rkid ? &req->rkid : NULL, now);
	if (!r)
		return SS_KDS_UNKNOWN_ROOT_KEY;
	root = (ss_gkdi_root){ .id = r->id, .hash = r->hash, .key = r->key };
	st = ss_gkdi_get_key(&root, g->sd, g->sd_len, req->has_rkid, req->gkid,
	                     ss_gkid_from_time(now), &ans);
	if (st == SS_LOGON_DENIED)
		return SS_KDS_TOO_NEW;
	if (st == SS_INVALID_TOKEN)
		return SS_KDS_MALFORMED;
	if (st != SS_OK)
		return SS_KDS_INTERNAL;
	st = ss_gkdi_env_from_answer(&ans, &root, c->domain, c->domain, &env, scratch,
	                             sizeof scratch);
	if (st == SS_OK)
		st = ss_gkdi_env_encode(&env, env_buf, cap, env_len, NULL, 0);
	ss_gkdi_answer_clear(&ans);
	return st == SS_OK ? SS_KDS_OK : SS_KDS_INTERNAL;
}

ss_status kds_answer(const struct kds_config *c, const struct kds_store *s, const char *identity,
                     const uint8_t *req, size_t req_len, uint64_t now,
                     uint8_t *out, size_t cap, size_t *out_len, ss_kds_code *code)
{
	uint8_t env[SS_GKDI_ENV_MAX];
	size_t env_len = 0;
	ss_kds_req r;
	ss_status st;

	if (ss_kds_req_parse(req, req_len, &r, NULL, 0) != SS_OK)
		*code = SS_KDS_MALFORMED;
	else
		*code = build(c, s, identity, &r, now, env, sizeof env, &env_len);
	st = ss_kds_answer_encode(*code, *code == SS_KDS_OK ? env : NULL, env_len, out, cap, out_len);
	sodium_memzero(env, sizeof env);
	return st;
}
