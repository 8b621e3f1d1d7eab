/* test_gkdi_cache.c — the client key cache of MS-GKDI 3.2.4.1 (seed 002),
 * one test per rule: the three lookup cases, retrieval when nothing
 * matches, the 32-L2-period fallback (and the error in every other case),
 * the three envelope cases, the three update rules and the current mark.
 * Time is an argument, so the tests walk periods.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "ss_gkdi.h"

static const uint8_t rk_a[64] = { 0xa1, 0xa2, 0xa3 };
static const uint8_t rk_b[64] = { 0xb1, 0xb2, 0xb3 };
static const uint8_t sd[] = { 1, 0, 4, 0x80, 0x14, 0, 0, 0 };
static const uint8_t sd2[] = { 1, 0, 4, 0x80, 0x15, 0, 0, 0 };
static const uint8_t pub_blob[20] = { 'D', 'H', 'P', 'B', 4, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
                                      9, 10, 11, 12 };
#define DOM "example.test"

static ss_gkdi_root root(int which)
{
	ss_gkdi_root r = { .hash = SS_GKDI_SHA512, .key = which ? rk_b : rk_a };
	cr_assert_eq(ss_guid_parse(which ? "9d922231-af27-b73b-1056-aeb18eeca71a"
	                                 : "0170e972-a035-af4c-993b-e052d5bd1216", &r.id), 0);
	return r;
}

/* A time inside period g. */
static uint64_t at(ss_gkid g)
{
	uint64_t t;
	cr_assert_eq(ss_gkid_start_time(g, &t), 0);
	return t + 12345;
}

/* The envelope the server sends for GKID g (requested as is). */
struct env_hold {
	ss_gkdi_answer a;
	ss_gkdi_env e;
	uint8_t scratch[SS_GKDI_SCRATCH];
};

static void server_env(struct env_hold *h, int which, ss_gkid g)
{
	ss_gkdi_root r = root(which);
	cr_assert_eq(ss_gkdi_get_key(&r, sd, sizeof sd, 0, g, g, &h->a), SS_OK);
	cr_assert_eq(ss_gkdi_env_from_answer(&h->a, &r, DOM, DOM, &h->e, h->scratch,
	                                     sizeof h->scratch), SS_OK);
}

static void public_env(ss_gkdi_env *e, int which, ss_gkid g)
{
	memset(e, 0, sizeof *e);
	e->version = 1;
	e->flags = SS_GKDI_FLAG_PUBLIC | SS_GKDI_FLAG_ENCRYPT;
	e->gkid = g;
	e->rkid = root(which).id;
	e->hash = SS_GKDI_SHA512;
	e->l2_key = (ss_gkdi_bytes){ pub_blob, sizeof pub_blob };
}

static ss_gkdi_req req(const ss_guid *rkid, ss_gkid g)
{
	ss_gkdi_req r = { .domain = DOM, .sd = sd, .sd_len = sizeof sd, .rkid = rkid, .gkid = g };
	return r;
}

/* Store what the server sent for g in answer to request rq. */
static void store(ss_gkdi_cache *c, const ss_gkdi_req *rq, const ss_gkdi_env *e)
{
	ss_gkdi_key k;
	cr_assert_eq(ss_gkdi_cache_update(c, rq, e, &k), SS_OK);
	ss_gkdi_key_clear(&k);
}

static void store_latest(ss_gkdi_cache *c, int which, ss_gkid g)
{
	struct env_hold h;
	ss_gkdi_req rq = req(NULL, SS_GKID_NONE);
	server_env(&h, which, g);
	store(c, &rq, &h.e);
	ss_gkdi_answer_clear(&h.a);
}

static void assert_seed(const ss_gkdi_key *k, int which, ss_gkid g)
{
	ss_gkdi_root r = root(which);
	uint8_t want[64];
	cr_assert_eq(ss_gkdi_seed_key(&r, sd, sizeof sd, g, want), SS_OK);
	cr_assert(!k->is_public && k->len == 64 && memcmp(k->key, want, 64) == 0,
	          "key of %d,%d,%d", g.l0, g.l1, g.l2);
	cr_assert_eq(ss_gkid_cmp(k->gkid, g), 0);
}

static ss_gkdi_cache_info info(const ss_gkdi_cache *c, size_t i)
{
	ss_gkdi_cache_info in;
	cr_assert_eq(ss_gkdi_cache_info_at(c, i, &in), 0);
	return in;
}

static const ss_gkid G = { 400, 6, 9 };

/* Lookup 1: "If the caller specified a group key identifier but did not
 * specify a root key identifier, then do not attempt to locate a key in
 * the cache." */
Test(gkdi_cache, lookup_gkid_without_rkid_skips_cache)
{
	ss_gkdi_cache *c = ss_gkdi_cache_new();
	ss_gkdi_req rq = req(NULL, G);
	ss_gkdi_key k;
	store_latest(c, 0, G);
	cr_assert_eq(ss_gkdi_cache_lookup(c, &rq, at(G), &k), SS_CONTINUE_NEEDED);
	ss_gkdi_cache_free(c);
}

/* Lookup 2, no GKID given: the current time's GKID is the request. */
Test(gkdi_cache, lookup_rkid_without_gkid_uses_now)
{
	ss_gkdi_cache *c = ss_gkdi_cache_new();
	ss_gkdi_root r = root(0);
	ss_gkdi_req rq = req(&r.id, SS_GKID_NONE);
	ss_gkdi_key k;
	store_latest(c, 0, G);
	cr_assert_eq(ss_gkdi_cache_lookup(c, &rq, at(G), &k), SS_OK);
	assert_seed(&k, 0, G);
	ss_gkdi_key_clear(&k);
	/* one period later the cached key is older than the request */
	cr_assert_eq(ss_gkdi_cache_lookup(c, &rq, at((ss_gkid){ 400, 6, 10 }), &k), SS_CONTINUE_NEEDED);
	ss_gkdi_cache_free(c);
}

/* Lookup 2: a seed key with the same GKID, or a newer one with the same
 * L0, derives the request; another root key, another SD, another L0 or an
 * older key does not. */
Test(gkdi_cache, lookup_rkid_same_or_newer_same_l0)
{
	ss_gkdi_cache *c = ss_gkdi_cache_new();
	ss_gkdi_root r = root(0), rb = root(1);
	ss_gkdi_req rq = req(&r.id, (ss_gkid){ 400, 2, 30 });
	ss_gkdi_key k;
	store_latest(c, 0, G);
	cr_assert_eq(ss_gkdi_cache_lookup(c, &rq, at(G), &k), SS_OK);
	assert_seed(&k, 0, rq.gkid);
	ss_gkdi_key_clear(&k);
	rq.gkid = G;
	cr_assert_eq(ss_gkdi_cache_lookup(c, &rq, at(G), &k), SS_OK);
	assert_seed(&k, 0, G);
	ss_gkdi_key_clear(&k);
	rq.gkid = (ss_gkid){ 400, 6, 10 };
	cr_assert_eq(ss_gkdi_cache_lookup(c, &rq, at(G), &k), SS_CONTINUE_NEEDED);
	rq.gkid = (ss_gkid){ 399, 31, 31 };
	cr_assert_eq(ss_gkdi_cache_lookup(c, &rq, at(G), &k), SS_CONTINUE_NEEDED);
	rq = req(&rb.id, (ss_gkid){ 400, 2, 30 });
	cr_assert_eq(ss_gkdi_cache_lookup(c, &rq, at(G), &k), SS_CONTINUE_NEEDED);
	rq = req(&r.id, (ss_gkid){ 400, 2, 30 });
	rq.sd = sd2;
	cr_assert_eq(ss_gkdi_cache_lookup(c, &rq, at(G), &k), SS_CONTINUE_NEEDED);
	ss_gkdi_cache_free(c);
}

/* Lookup 3: neither given — a key marked current whose GKID is no older
 * than GKID(now). */
Test(gkdi_cache, lookup_latest_current_not_older)
{
	ss_gkdi_cache *c = ss_gkdi_cache_new();
	ss_gkdi_root r = root(0);
	ss_gkdi_req latest = req(NULL, SS_GKID_NONE), named = req(&r.id, SS_GKID_NONE);
	struct env_hold h;
	ss_gkdi_key k;

	store_latest(c, 0, G);
	cr_assert_eq(ss_gkdi_cache_lookup(c, &latest, at(G), &k), SS_OK);
	assert_seed(&k, 0, G);
	ss_gkdi_key_clear(&k);
	/* a key from a server a little ahead is not older: found */
	cr_assert_eq(ss_gkdi_cache_lookup(c, &latest, at((ss_gkid){ 400, 6, 8 }), &k), SS_OK);
	ss_gkdi_key_clear(&k);
	cr_assert_eq(ss_gkdi_cache_lookup(c, &latest, at((ss_gkid){ 400, 6, 10 }), &k),
	             SS_CONTINUE_NEEDED);
	/* a key not marked current is not used for "latest" */
	ss_gkdi_cache_free(c);
	c = ss_gkdi_cache_new();
	server_env(&h, 0, G);
	store(c, &named, &h.e);
	ss_gkdi_answer_clear(&h.a);
	cr_assert_eq(ss_gkdi_cache_lookup(c, &latest, at(G), &k), SS_CONTINUE_NEEDED);
	ss_gkdi_cache_free(c);
}

/* "If no key is found in the cache, the client MUST attempt to connect to
 * a server": the lookup says so, and the answer then serves the caller. */
Test(gkdi_cache, nothing_found_asks_server)
{
	ss_gkdi_cache *c = ss_gkdi_cache_new();
	ss_gkdi_req latest = req(NULL, SS_GKID_NONE);
	struct env_hold h;
	ss_gkdi_key k;
	cr_assert_eq(ss_gkdi_cache_lookup(c, &latest, at(G), &k), SS_CONTINUE_NEEDED);
	server_env(&h, 0, G);
	cr_assert_eq(ss_gkdi_cache_update(c, &latest, &h.e, &k), SS_OK);
	assert_seed(&k, 0, G);
	ss_gkdi_key_clear(&k);
	ss_gkdi_answer_clear(&h.a);
	cr_assert_eq(ss_gkdi_cache_count(c), 1);
	cr_assert_eq(ss_gkdi_cache_lookup(c, &latest, at(G), &k), SS_OK);
	ss_gkdi_key_clear(&k);
	ss_gkdi_cache_free(c);
}

/* The server cannot be reached, no root key id: a current key at most 32
 * L2 periods older than now is returned; 33 is too old. */
Test(gkdi_cache, unreachable_fallback_32_periods)
{
	ss_gkdi_cache *c = ss_gkdi_cache_new();
	ss_gkdi_req latest = req(NULL, SS_GKID_NONE), given = req(NULL, (ss_gkid){ 400, 7, 9 });
	ss_gkdi_key k;
	ss_gkid p32 = { 400, 7, 9 }, p33 = { 400, 7, 10 };   /* 32 and 33 periods after G */
	store_latest(c, 0, G);
	cr_assert_eq(ss_gkdi_cache_unreachable(c, &latest, at(p32), &k), SS_OK);
	assert_seed(&k, 0, G);
	ss_gkdi_key_clear(&k);
	cr_assert_eq(ss_gkdi_cache_unreachable(c, &given, at(p32), &k), SS_OK);
	ss_gkdi_key_clear(&k);
	cr_assert_eq(ss_gkdi_cache_unreachable(c, &latest, at(p33), &k),
	             SS_NO_AUTHENTICATING_AUTHORITY);
	ss_gkdi_cache_free(c);
}

/* "In all other cases ... the client MUST return an error": a root key id
 * was given, or the cached key is not marked current. */
Test(gkdi_cache, unreachable_otherwise_error)
{
	ss_gkdi_cache *c = ss_gkdi_cache_new();
	ss_gkdi_root r = root(0);
	ss_gkdi_req named = req(&r.id, SS_GKID_NONE), latest = req(NULL, SS_GKID_NONE);
	struct env_hold h;
	ss_gkdi_key k;
	store_latest(c, 0, G);
	cr_assert_eq(ss_gkdi_cache_unreachable(c, &named, at(G), &k), SS_NO_AUTHENTICATING_AUTHORITY);
	ss_gkdi_cache_free(c);
	c = ss_gkdi_cache_new();
	server_env(&h, 0, G);
	store(c, &named, &h.e);
	ss_gkdi_answer_clear(&h.a);
	cr_assert_eq(ss_gkdi_cache_unreachable(c, &latest, at(G), &k), SS_NO_AUTHENTICATING_AUTHORITY);
	ss_gkdi_cache_free(c);
}

/* Envelope case 1: bit 31 (0x1) set — the L2 field is a public key for
 * (L0, L1, L2). */
Test(gkdi_cache, envelope_public_key)
{
	ss_gkdi_cache *c = ss_gkdi_cache_new();
	ss_gkdi_req latest = req(NULL, SS_GKID_NONE);
	ss_gkdi_env e;
	ss_gkdi_key k;
	public_env(&e, 0, G);
	cr_assert_eq(ss_gkdi_cache_update(c, &latest, &e, &k), SS_OK);
	cr_assert(k.is_public && k.len == sizeof pub_blob && memcmp(k.key, pub_blob, k.len) == 0);
	cr_assert_eq(ss_gkid_cmp(k.gkid, G), 0);
	ss_gkdi_key_clear(&k);
	cr_assert(info(c, 0).is_public);
	ss_gkdi_cache_free(c);
}

/* Envelope case 2: bit 31 clear and an L2 key — the L2 seed key
 * (L0, L1, L2). */
Test(gkdi_cache, envelope_l2_key)
{
	struct env_hold h;
	ss_gkdi_key k;
	server_env(&h, 0, (ss_gkid){ 400, 0, 9 });   /* L1 = 0: the L2 key alone */
	cr_assert(h.e.l2_key.len == 64 && h.e.l1_key.len == 0);
	cr_assert_eq(ss_gkdi_client_key(&h.e, 0, SS_GKID_NONE, &k), SS_OK);
	assert_seed(&k, 0, (ss_gkid){ 400, 0, 9 });
	cr_assert_eq(memcmp(k.key, h.e.l2_key.p, 64), 0);
	ss_gkdi_key_clear(&k);
	ss_gkdi_answer_clear(&h.a);
}

/* Envelope case 3: the L1 field is (L0, L1, -1) at L2 index 31, else
 * (L0, L1 - 1, -1). */
Test(gkdi_cache, envelope_l1_key_index_31_or_not)
{
	struct env_hold h;
	ss_gkdi_root r = root(0);
	uint8_t want[64];
	ss_gkdi_key k;

	server_env(&h, 0, (ss_gkid){ 400, 6, 31 });
	cr_assert(h.e.l1_key.len == 64 && h.e.l2_key.len == 0);
	cr_assert_eq(ss_gkdi_seed_key(&r, sd, sizeof sd, (ss_gkid){ 400, 6, -1 }, want), SS_OK);
	cr_assert_eq(memcmp(h.e.l1_key.p, want, 64), 0);
	cr_assert_eq(ss_gkdi_client_key(&h.e, 1, (ss_gkid){ 400, 6, 0 }, &k), SS_OK);
	assert_seed(&k, 0, (ss_gkid){ 400, 6, 0 });
	ss_gkdi_key_clear(&k);
	ss_gkdi_answer_clear(&h.a);

	server_env(&h, 0, G);
	cr_assert_eq(ss_gkdi_seed_key(&r, sd, sizeof sd, (ss_gkid){ 400, 5, -1 }, want), SS_OK);
	cr_assert_eq(memcmp(h.e.l1_key.p, want, 64), 0);
	/* (400,5,20) is reached only through the L1 key (400,5,-1) */
	cr_assert_eq(ss_gkdi_client_key(&h.e, 1, (ss_gkid){ 400, 5, 20 }, &k), SS_OK);
	assert_seed(&k, 0, (ss_gkid){ 400, 5, 20 });
	ss_gkdi_key_clear(&k);
	ss_gkdi_answer_clear(&h.a);
}

/* Update 1: a public key is not stored when a seed key of the same root
 * key is the same or newer; it replaces an older public key or one of
 * another root key; otherwise it is added. */
Test(gkdi_cache, update_public_key)
{
	ss_gkdi_cache *c = ss_gkdi_cache_new();
	ss_gkdi_req latest = req(NULL, SS_GKID_NONE);
	ss_gkdi_env e;
	ss_gkdi_key k;

	store_latest(c, 0, G);
	public_env(&e, 0, (ss_gkid){ 400, 6, 8 });
	cr_assert_eq(ss_gkdi_cache_update(c, &latest, &e, &k), SS_OK);   /* still answers */
	ss_gkdi_key_clear(&k);
	cr_assert_eq(ss_gkdi_cache_count(c), 1, "a seed key as new: no update");
	cr_assert(!info(c, 0).is_public);
	ss_gkdi_cache_free(c);

	c = ss_gkdi_cache_new();
	public_env(&e, 0, G);
	store(c, &latest, &e);
	cr_assert_eq(ss_gkdi_cache_count(c), 1, "neither case: added");
	public_env(&e, 0, (ss_gkid){ 400, 6, 10 });
	store(c, &latest, &e);
	cr_assert_eq(ss_gkdi_cache_count(c), 1, "an older public key is replaced");
	cr_assert_eq(info(c, 0).gkid.l2, 10);
	public_env(&e, 1, (ss_gkid){ 400, 6, 3 });
	store(c, &latest, &e);
	cr_assert_eq(ss_gkdi_cache_count(c), 1, "one of another root key is replaced");
	cr_assert_eq(memcmp(info(c, 0).rkid.b, root(1).id.b, 16), 0);
	ss_gkdi_cache_free(c);
}

/* Update 2: a seed key removes public keys of the same root key that are
 * the same or older and is added; it replaces an older seed key of the
 * same root key and does not displace a newer one; otherwise it is added. */
Test(gkdi_cache, update_seed_key)
{
	ss_gkdi_cache *c = ss_gkdi_cache_new();
	ss_gkdi_req latest = req(NULL, SS_GKID_NONE);
	ss_gkdi_env e;

	public_env(&e, 0, (ss_gkid){ 400, 6, 8 });
	store(c, &latest, &e);
	store_latest(c, 0, G);
	cr_assert_eq(ss_gkdi_cache_count(c), 1, "the older public key is gone");
	cr_assert(!info(c, 0).is_public && ss_gkid_cmp(info(c, 0).gkid, G) == 0);
	store_latest(c, 0, (ss_gkid){ 400, 7, 1 });
	cr_assert_eq(ss_gkdi_cache_count(c), 1, "an older seed key is replaced");
	cr_assert_eq(info(c, 0).gkid.l1, 7);
	store_latest(c, 0, G);
	cr_assert_eq(ss_gkdi_cache_count(c), 1, "a newer seed key stays");
	cr_assert_eq(info(c, 0).gkid.l1, 7);
	store_latest(c, 1, G);
	cr_assert_eq(ss_gkdi_cache_count(c), 2, "another root key: added");
	ss_gkdi_cache_free(c);
}

/* Update 3: only a request naming neither root key nor GKID marks the
 * stored key current. */
Test(gkdi_cache, current_mark)
{
	ss_gkdi_cache *c = ss_gkdi_cache_new();
	ss_gkdi_root r = root(0);
	ss_gkdi_req named = req(&r.id, SS_GKID_NONE), given = req(NULL, G);
	struct env_hold h;

	server_env(&h, 0, G);
	store(c, &named, &h.e);
	cr_assert_not(info(c, 0).current, "root key id given");
	ss_gkdi_cache_free(c);
	c = ss_gkdi_cache_new();
	store(c, &given, &h.e);
	cr_assert_not(info(c, 0).current, "GKID given");
	ss_gkdi_answer_clear(&h.a);
	store_latest(c, 0, G);
	cr_assert(info(c, 0).current, "neither given");
	ss_gkdi_cache_free(c);
}

/* An answer under another root key than the request named is refused and
 * not cached. */
Test(gkdi_cache, answer_of_another_root_key_refused)
{
	ss_gkdi_cache *c = ss_gkdi_cache_new();
	ss_gkdi_root ra = root(0);
	ss_gkdi_req named = req(&ra.id, SS_GKID_NONE);
	struct env_hold h;
	ss_gkdi_key k;
	server_env(&h, 1, G);
	cr_assert_eq(ss_gkdi_cache_update(c, &named, &h.e, &k), SS_INVALID_TOKEN);
	cr_assert_eq(ss_gkdi_cache_count(c), 0);
	ss_gkdi_answer_clear(&h.a);
	ss_gkdi_cache_free(c);
}
