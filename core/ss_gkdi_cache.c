/* ss_gkdi_cache.c — the GKDI client key cache of MS-GKDI 3.2.4.1 (seed
 * 002), rule by rule, as a pure data structure: the caller passes the time
 * and does the talking to the server.
 *
 * An entry is what one envelope delivered for a (domain, security
 * descriptor, root key): the envelope's GKID, its L1 and/or L2 seed key (or
 * its public key), and the "current" mark.  Keys live in sodium_malloc'd
 * memory (sodium_free wipes them).
 */
#include "ss_gkdi_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

ss_gkdi_cache *ss_gkdi_cache_new(void)
{
	if (sodium_init() < 0)
		return NULL;
	return calloc(1, sizeof(ss_gkdi_cache));
}

void ss_gkdi_entry_free(entry *e)
{
	if (!e)
		return;
	free(e->domain);
	free(e->sd);
	if (e->l1)
		sodium_free(e->l1);
	if (e->l2)
		sodium_free(e->l2);
	free(e);
}

void ss_gkdi_cache_free(ss_gkdi_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		ss_gkdi_entry_free(c->e[i]);
	free(c);
}

size_t ss_gkdi_cache_count(const ss_gkdi_cache *c)
{
	return c ? c->n : 0;
}

int ss_gkdi_cache_info_at(const ss_gkdi_cache *c, size_t i, ss_gkdi_cache_info *info)
{
	if (!c || i >= c->n)
		return -1;
	info->gkid = c->e[i]->gkid;
	info->rkid = c->e[i]->rkid;
	info->is_public = c->e[i]->is_public;
	info->current = c->e[i]->current;
	info->has_l1 = c->e[i]->l1 != NULL;
	info->has_l2 = c->e[i]->l2 != NULL && !c->e[i]->is_public;
	return 0;
}

/* Domain names compare as DNS names do, without regard to ASCII case; a
 * security descriptor by its exact bytes (every key below L0 hashes them). */
static int same_group(const entry *e, const ss_gkdi_req *r)
{
	return strcasecmp(e->domain, r->domain) == 0 && e->sd_len == r->sd_len &&
	       (r->sd_len == 0 || memcmp(e->sd, r->sd, r->sd_len) == 0);
}

static int same_rkid(const entry *e, const ss_guid *rkid)
{
	return rkid && memcmp(e->rkid.b, rkid->b, 16) == 0;
}

/* An envelope view of an entry, so 3.2.4.3 runs on one code path. */
static void entry_env(const entry *e, ss_gkdi_env *env)
{
	memset(env, 0, sizeof *env);
	env->gkid = e->gkid;
	env->rkid = e->rkid;
	env->hash = e->hash;
	env->flags = e->is_public ? SS_GKDI_FLAG_PUBLIC : 0;
	if (e->l1)
		env->l1_key = (ss_gkdi_bytes){ e->l1, SS_GKDI_KEY_LEN };
	if (e->l2)
		env->l2_key = (ss_gkdi_bytes){ e->l2, e->l2_len };
}

static ss_status entry_key(const entry *e, int rkid_given, ss_gkid want, ss_gkdi_key *out)
{
	ss_gkdi_env env;
	entry_env(e, &env);
	return ss_gkdi_client_key(&env, rkid_given, want, out);
}

static int is_none(ss_gkid g)
{
	return g.l0 == -1 && g.l1 == -1 && g.l2 == -1;
}

static int req_ok(const ss_gkdi_req *r)
{
	return r && r->domain && r->domain[0] && (r->sd || r->sd_len == 0) &&
	       r->sd_len <= SS_GKDI_SD_MAX && ss_gkid_valid(r->gkid) &&
	       (is_none(r->gkid) || (r->gkid.l0 >= 0 && r->gkid.l1 >= 0 && r->gkid.l2 >= 0));
}

ss_status ss_gkdi_cache_lookup(ss_gkdi_cache *c, const ss_gkdi_req *req, uint64_t now,
                               ss_gkdi_key *out)
{
	ss_gkid want = req ? req->gkid : SS_GKID_NONE, g_now = ss_gkid_from_time(now);

	memset(out, 0, sizeof *out);
	if (!c || !req_ok(req))
		return SS_INVALID_HANDLE;
	/* "If the caller specified a group key identifier but did not specify
	 * a root key identifier, then do not attempt to locate a key in the
	 * cache." */
	if (!req->rkid && !is_none(want))
		return SS_CONTINUE_NEEDED;
	if (req->rkid) {
		/* "If the caller did not specify a group key identifier, the client
		 * converts the current time to the group key identifier ... The
		 * client then attempts to find a group seed key in the cache that
		 * has the same domain and security descriptor, and whose group key
		 * identifier is the same as the requested group key identifier, or
		 * whose group key identifier is newer than the requested group key
		 * identifier but has the same L0 index field value."  The root key
		 * must be the requested one too: a seed key of another root key
		 * derives other keys (its id is in every KDF context, 3.1.4.1.2). */
		if (is_none(want))
			want = g_now;
		for (size_t i = c->n; i-- > 0;) {
			const entry *e = c->e[i];
			if (e->is_public || !same_group(e, req) || !same_rkid(e, req->rkid) ||
			    e->gkid.l0 != want.l0 || ss_gkid_cmp(e->gkid, want) < 0)
				continue;
			if (entry_key(e, 1, want, out) == SS_OK)
				return SS_OK;
		}
		return SS_CONTINUE_NEEDED;
	}
	/* "If the caller specified neither a root key identifier nor a group
	 * key identifier ... find a group key in the cache that has the same
	 * domain and security descriptor, which is marked as current, and
	 * whose group key identifier is no older than the group key identifier
	 * just computed." */
	for (size_t i = c->n; i-- > 0;) {
		const entry *e = c->e[i];
		if (!e->current || !same_group(e, req) || ss_gkid_cmp(e->gkid, g_now) < 0)
			continue;
		if (entry_key(e, 0, SS_GKID_NONE, out) == SS_OK)
			return SS_OK;
	}
	/* "If no key is found in the cache, the client MUST attempt to connect
	 * to a server and retrieve a key as specified in section 3.2.4.2." */
	return SS_CONTINUE_NEEDED;
}

/* L2 periods since 1601 of an L2 GKID (the cycle number). */
static uint64_t cycle_no(ss_gkid g)
{
	return ((uint64_t)g.l0 * 32 + (uint64_t)g.l1) * 32 + (uint64_t)g.l2;
}

ss_status ss_gkdi_cache_unreachable(ss_gkdi_cache *c, const ss_gkdi_req *req, uint64_t now,
                                    ss_gkdi_key *out)
{
	uint64_t n_now = now / SS_GKDI_CYCLE;

	memset(out, 0, sizeof *out);
	if (!c || !req_ok(req))
		return SS_INVALID_HANDLE;
	/* "In all other cases, if the client fails to retrieve a key from the
	 * server, the client MUST return an error to the caller." */
	if (req->rkid)
		return SS_NO_AUTHENTICATING_AUTHORITY;
	/* "If the client fails to retrieve a key from the server, and if the
	 * caller had not specified a root key identifier, the client SHOULD
	 * attempt to find a cached group key with the same domain and security
	 * descriptor that is marked as current and whose group key identifier
	 * is no more than 32 L2 periods older than the current time."  Read as
	 * cycle numbers: N(now) - N(key) <= 32 (a key from the future counts
	 * as current). */
	for (size_t i = c->n; i-- > 0;) {
		const entry *e = c->e[i];
		uint64_t n = cycle_no(e->gkid);
		if (!e->current || !same_group(e, req) || (n < n_now && n_now - n > 32))
			continue;
		/* "If such a key is found, the client SHOULD return it to the
		 * caller." */
		if (entry_key(e, 0, SS_GKID_NONE, out) == SS_OK)
			return SS_OK;
	}
	return SS_NO_AUTHENTICATING_AUTHORITY;
}

uint8_t *ss_gkdi_secure_copy(const uint8_t *p, size_t n)
{
	uint8_t *k = sodium_malloc(n);
	if (k)
		memcpy(k, p, n);
	return k;
}

static entry *entry_from(const ss_gkdi_req *r, const ss_gkdi_env *env)
{
	entry *e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	e->domain = strdup(r->domain);
	e->sd = malloc(r->sd_len ? r->sd_len : 1);
	e->sd_len = r->sd_len;
	e->rkid = env->rkid;
	e->gkid = env->gkid;
	e->hash = env->hash;
	e->is_public = (env->flags & SS_GKDI_FLAG_PUBLIC) != 0;
	if (env->l1_key.len == SS_GKDI_KEY_LEN)
		e->l1 = ss_gkdi_secure_copy(env->l1_key.p, SS_GKDI_KEY_LEN);
	if (env->l2_key.len) {
		e->l2 = ss_gkdi_secure_copy(env->l2_key.p, env->l2_key.len);
		e->l2_len = env->l2_key.len;
	}
	if (!e->domain || !e->sd || (env->l1_key.len && !e->l1) || (env->l2_key.len && !e->l2)) {
		ss_gkdi_entry_free(e);
		return NULL;
	}
	if (r->sd_len)
		memcpy(e->sd, r->sd, r->sd_len);
	return e;
}

static void remove_at(ss_gkdi_cache *c, size_t i)
{
	ss_gkdi_entry_free(c->e[i]);
	memmove(&c->e[i], &c->e[i + 1], (c->n - i - 1) * sizeof c->e[0]);
	c->n--;
}

/* Add at the end (the newest); the oldest entry makes room when full. */
void ss_gkdi_cache_add(ss_gkdi_cache *c, entry *e)
{
	if (c->n == SS_GKDI_CACHE_MAX)
		remove_at(c, 0);
	c->e[c->n++] = e;
}

static void replace_at(ss_gkdi_cache *c, size_t i, entry *e)
{
	ss_gkdi_entry_free(c->e[i]);
	c->e[i] = e;
}

/* "If the server returned a public key" — returns the stored entry, or
 * NULL when the cache keeps what it has. */
static entry *update_public(ss_gkdi_cache *c, const ss_gkdi_req *r, entry *e)
{
	/* "Check the cache for a group seed key for the same domain, the same
	 * security descriptor, the same root key identifier, and the same or
	 * newer group key identifier. If such a key is found, do not update
	 * the cache." */
	for (size_t i = 0; i < c->n; i++)
		if (!c->e[i]->is_public && same_group(c->e[i], r) && same_rkid(c->e[i], &e->rkid) &&
		    ss_gkid_cmp(c->e[i]->gkid, e->gkid) >= 0)
			return NULL;
	/* "Check the cache for a group public key with the same domain, the
	 * same security descriptor, and an older group key identifier or
	 * different root key identifier. If such a key exists, replace it with
	 * the retrieved group public key."  The cache holds at most one public
	 * key per domain and SD (3.2.1), so one of the same root key and the
	 * same GKID is replaced too (it is the same key) and a newer one kept. */
	for (size_t i = 0; i < c->n; i++) {
		entry *o = c->e[i];
		if (!o->is_public || !same_group(o, r))
			continue;
		if (ss_gkid_cmp(o->gkid, e->gkid) <= 0 || !same_rkid(o, &e->rkid)) {
			replace_at(c, i, e);
			return e;
		}
		return NULL;
	}
	/* "If neither of the preceding cases apply, add the retrieved group
	 * public key to the cache." */
	ss_gkdi_cache_add(c, e);
	return e;
}

/* "If the server returned a seed key" */
static entry *update_seed(ss_gkdi_cache *c, const ss_gkdi_req *r, entry *e)
{
	/* "Check the cache for a group public key with the same domain, the
	 * same security descriptor, the same root key identifier, and same or
	 * older group key identifier. If such a key exists, remove it from the
	 * cache and add the retrieved seed key to the cache." */
	for (size_t i = c->n; i-- > 0;)
		if (c->e[i]->is_public && same_group(c->e[i], r) && same_rkid(c->e[i], &e->rkid) &&
		    ss_gkid_cmp(c->e[i]->gkid, e->gkid) <= 0)
			remove_at(c, i);
	/* "Check the cache for a seed key with the same domain, the same
	 * security descriptor, and the same root key identifier. If such a key
	 * is found and it has an older group key identifier than the retrieved
	 * key, replace it with the retrieved key. If such a key is found but it
	 * has a newer group key identifier than the retrieved key, do not
	 * update the cache."  The same GKID is the same key: replaced, so the
	 * current mark below lands on the stored entry. */
	for (size_t i = 0; i < c->n; i++) {
		entry *o = c->e[i];
		if (o->is_public || !same_group(o, r) || !same_rkid(o, &e->rkid))
			continue;
		if (ss_gkid_cmp(o->gkid, e->gkid) > 0)
			return NULL;
		replace_at(c, i, e);
		return e;
	}
	/* "If neither of the preceding cases apply, add the retrieved seed key
	 * to the cache." */
	ss_gkdi_cache_add(c, e);
	return e;
}

ss_status ss_gkdi_cache_update(ss_gkdi_cache *c, const ss_gkdi_req *req, const ss_gkdi_env *env,
                               ss_gkdi_key *out)
{
	entry *e, *kept;

	memset(out, 0, sizeof *out);
	if (!c || !req_ok(req) || !env)
		return SS_INVALID_HANDLE;
	/* An answer under another root key than the one asked for derives
	 * nothing the caller wants: refused, and not cached. */
	if (req->rkid && memcmp(req->rkid->b, env->rkid.b, 16) != 0)
		return SS_INVALID_TOKEN;
	/* The three cases of parsing the envelope (bit 31 = public key; an L2
	 * seed key (L0,L1,L2); an L1 seed key (L0,L1,-1) at L2 index 31, else
	 * (L0,L1-1,-1)) are ss_gkdi_client_key's, which every stored entry is
	 * read back through. */
	e = entry_from(req, env);
	if (!e)
		return SS_INSUFFICIENT_MEMORY;
	kept = e->is_public ? update_public(c, req, e) : update_seed(c, req, e);
	if (!kept)
		ss_gkdi_entry_free(e);
	/* "If the caller for this request specified neither a root key
	 * identifier nor a group key identifier, then mark the above key with
	 * the current attribute." */
	else if (!req->rkid && is_none(req->gkid))
		kept->current = 1;
	/* "Lastly, the client MUST compute the requested key, as specified in
	 * section 3.2.4.3, and return the result to the caller." */
	return ss_gkdi_client_key(env, req->rkid != NULL, req->gkid, out);
}
