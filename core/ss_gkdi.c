/* ss_gkdi.c — MS-GKDI identifiers, the SP800-108 KDF and the seed key
 * chain (3.1.4.1, 3.1.4.1.2), the server's GetKey answer and the client's
 * derivation of the requested key (3.2.4.3).  No clock: time is an argument.
 *
 * Every intermediate key is on the stack and wiped with sodium_memzero
 * before return, on every path; keys handed to a caller that outlive the
 * call are in sodium_malloc'd memory (ss_gkdi_key).
 */
#include "ss_gkdi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sodium.h>

#include "ss_mem.h"
#include "ss_rec_int.h"

/* "KDS service" as UTF-16LE with its NUL (3.1.4.1.2: the label of every
 * step); KBKDF adds the 0x00 separator after it. */
static const uint8_t kds_label[24] = {
	'K', 0, 'D', 0, 'S', 0, ' ', 0, 's', 0, 'e', 0, 'r', 0, 'v', 0, 'i', 0, 'c', 0, 'e', 0, 0, 0,
};

enum { L1_TOP = 31, L2_TOP = 31, CTX_LEN = 28 };

int ss_gkid_valid(ss_gkid g)
{
	if (g.l0 < -1 || g.l1 < -1 || g.l1 > 31 || g.l2 < -1 || g.l2 > 31)
		return 0;
	if (g.l0 == -1 && g.l1 != -1)
		return 0;
	if (g.l1 == -1 && g.l2 != -1)
		return 0;
	return 1;
}

int ss_gkid_cmp(ss_gkid a, ss_gkid b)
{
	if (a.l0 != b.l0)
		return a.l0 < b.l0 ? -1 : 1;
	if (a.l1 != b.l1)
		return a.l1 < b.l1 ? -1 : 1;
	if (a.l2 != b.l2)
		return a.l2 < b.l2 ? -1 : 1;
	return 0;
}

/* 3.1.4.1 step 2: L0 = T / (32*32*cycle), L1 = (T / (32*cycle)) mod 32,
 * L2 = (T / cycle) mod 32 (integer division). */
ss_gkid ss_gkid_from_time(uint64_t t)
{
	uint64_t n = t / SS_GKDI_CYCLE;
	ss_gkid g = { (int32_t)(n / 1024), (int32_t)((n / 32) % 32), (int32_t)(n % 32) };
	return g;
}

int ss_gkid_start_time(ss_gkid g, uint64_t *t)
{
	uint64_t n;
	if (!ss_gkid_valid(g) || g.l0 < 0 || g.l1 < 0 || g.l2 < 0)
		return -1;
	n = ((uint64_t)g.l0 * 32 + (uint64_t)g.l1) * 32 + (uint64_t)g.l2;
	if (n > UINT64_MAX / SS_GKDI_CYCLE)
		return -1;
	*t = n * SS_GKDI_CYCLE;
	return 0;
}

static int parse_index(const char **s, int32_t *v)
{
	const char *p = *s;
	int neg = 0;
	int64_t x = 0;
	if (*p == '-') {
		neg = 1;
		p++;
	}
	if (*p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		x = x * 10 + (*p - '0');
		if (x > INT32_MAX)
			return -1;
		p++;
	}
	*v = (int32_t)(neg ? -x : x);
	*s = p;
	return 0;
}

int ss_gkid_parse(const char *s, ss_gkid *g)
{
	ss_gkid r;
	if (!s || parse_index(&s, &r.l0) || *s++ != ',' || parse_index(&s, &r.l1) ||
	    *s++ != ',' || parse_index(&s, &r.l2) || *s != '\0' || !ss_gkid_valid(r))
		return -1;
	*g = r;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* MS-DTYP 2.3.4.2: Data1 (4 bytes), Data2 and Data3 (2 each) little-endian,
 * Data4 (8 bytes) as written. */
int ss_guid_parse(const char *s, ss_guid *g)
{
	static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
	uint8_t raw[16];
	size_t k = 0;

	if (!s || strlen(s) != 36)
		return -1;
	for (size_t i = 0; i < 36;) {
		int hi, lo;
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i++] != '-')
				return -1;
			continue;
		}
		hi = hexval(s[i]);
		lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		raw[k++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	for (size_t i = 0; i < 16; i++)
		g->b[order[i]] = raw[i];
	return 0;
}

void ss_guid_format(const ss_guid *g, char out[37])
{
	const uint8_t *b = g->b;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12],
	         b[13], b[14], b[15]);
}

static const char *const hash_names[] = { "SHA1", "SHA256", "SHA384", "SHA512" };

int ss_gkdi_hash_parse(const char *name, ss_gkdi_hash *h)
{
	for (size_t i = 0; i < sizeof hash_names / sizeof hash_names[0]; i++)
		if (name && strcmp(name, hash_names[i]) == 0) {
			*h = (ss_gkdi_hash)i;
			return 0;
		}
	return -1;
}

const char *ss_gkdi_hash_name(ss_gkdi_hash h)
{
	return (unsigned)h < 4 ? hash_names[h] : "?";
}

/* SP800-108 counter mode is OpenSSL's KBKDF default: a 32-bit big-endian
 * counter from 1 before the fixed data, then label || 0x00 || context ||
 * [L]32 with L in bits — exactly the 3.1.4.1.2 layout (reference gkdi.md §3). */
ss_status ss_gkdi_kdf(ss_gkdi_hash h, const uint8_t *key, size_t key_len,
                      const uint8_t *label, size_t label_len,
                      const uint8_t *context, size_t context_len,
                      uint8_t *out, size_t out_len)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, (char *)"HMAC", 0),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)ss_gkdi_hash_name(h), 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)label, label_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)context, context_len),
		OSSL_PARAM_construct_end(),
	};

	if ((unsigned)h > SS_GKDI_SHA512 || !key || !key_len || !out || !out_len)
		return SS_INVALID_HANDLE;
	return ss_kdf_run(OSSL_KDF_NAME_KBKDF, params, out, out_len);
}

static void put_le32(uint8_t *p, int32_t v)
{
	uint32_t u = (uint32_t)v;
	p[0] = (uint8_t)u;
	p[1] = (uint8_t)(u >> 8);
	p[2] = (uint8_t)(u >> 16);
	p[3] = (uint8_t)(u >> 24);
}

/* 3.1.4.1.2 context: RKID || L0 || L1 || L2, indices as LE int32. */
static void make_ctx(uint8_t ctx[CTX_LEN], const ss_guid *rkid, int32_t l0, int32_t l1, int32_t l2)
{
	memcpy(ctx, rkid->b, 16);
	put_le32(ctx + 16, l0);
	put_le32(ctx + 20, l1);
	put_le32(ctx + 24, l2);
}

/* One chain step: out = KDF(key, ctx(l0,l1,l2)).  key and out may be the
 * same buffer. */
static ss_status step(ss_gkdi_hash h, const ss_guid *rkid, const uint8_t *key,
                      int32_t l0, int32_t l1, int32_t l2, uint8_t out[SS_GKDI_KEY_LEN])
{
	uint8_t ctx[CTX_LEN], tmp[SS_GKDI_KEY_LEN];
	ss_status st;

	make_ctx(ctx, rkid, l0, l1, l2);
	st = ss_gkdi_kdf(h, key, SS_GKDI_KEY_LEN, kds_label, sizeof kds_label, ctx, CTX_LEN,
	                 tmp, sizeof tmp);
	if (st == SS_OK)
		memcpy(out, tmp, SS_GKDI_KEY_LEN);
	sodium_memzero(tmp, sizeof tmp);
	return st;
}

ss_status ss_gkdi_derive_down(ss_gkdi_hash h, const ss_guid *rkid,
                              const uint8_t have_key[SS_GKDI_KEY_LEN], ss_gkid have,
                              ss_gkid want, uint8_t out[SS_GKDI_KEY_LEN])
{
	uint8_t k[SS_GKDI_KEY_LEN];
	ss_status st = SS_OK;

	if (!ss_gkid_valid(have) || !ss_gkid_valid(want) || have.l1 < 0 || want.l1 < 0)
		return SS_INVALID_HANDLE;
	if (want.l0 != have.l0)
		return SS_NO_CREDENTIALS;
	if (have.l2 >= 0 && (want.l1 != have.l1 || want.l2 < 0 || want.l2 > have.l2))
		return SS_NO_CREDENTIALS;
	if (have.l2 < 0 && want.l1 > have.l1)
		return SS_NO_CREDENTIALS;
	memcpy(k, have_key, sizeof k);
	if (have.l2 < 0) {
		/* L1 chain: K(L0,n,-1) = KDF(K(L0,n+1,-1), ctx(L0,n,-1)) */
		for (int32_t n = have.l1 - 1; st == SS_OK && n >= want.l1; n--)
			st = step(h, rkid, k, want.l0, n, -1, k);
		/* K(L0,L1,31) from K(L0,L1,-1): the SPEC's Key(L0,L1,32) */
		if (st == SS_OK && want.l2 >= 0)
			st = step(h, rkid, k, want.l0, want.l1, L2_TOP, k);
		have.l2 = L2_TOP;
	}
	/* L2 chain: K(L0,L1,n) = KDF(K(L0,L1,n+1), ctx(L0,L1,n)) */
	for (int32_t n = have.l2 - 1; st == SS_OK && want.l2 >= 0 && n >= want.l2; n--)
		st = step(h, rkid, k, want.l0, want.l1, n, k);
	if (st == SS_OK)
		memcpy(out, k, sizeof k);
	sodium_memzero(k, sizeof k);
	return st;
}

ss_status ss_gkdi_seed_key(const ss_gkdi_root *root, const uint8_t *sd, size_t sd_len,
                           ss_gkid want, uint8_t out[SS_GKDI_KEY_LEN])
{
	uint8_t k[SS_GKDI_KEY_LEN], top[SS_GKDI_KEY_LEN], *ctx;
	ss_status st;

	if (!root || !root->key || !ss_gkid_valid(want) || want.l0 < 0 || sd_len > SS_GKDI_SD_MAX ||
	    (sd_len && !sd))
		return SS_INVALID_HANDLE;
	/* L0 seed key: KDF(root key, ctx(L0,-1,-1)), no SD */
	st = step(root->hash, &root->id, root->key, want.l0, -1, -1, k);
	if (st != SS_OK || want.l1 < 0)
		goto out;
	/* K(L0,31,-1) = KDF(K(L0,-1,-1), ctx(L0,31,-1) || SD): the only step
	 * the security descriptor enters (3.1.4.1.2) */
	ctx = malloc(CTX_LEN + sd_len);
	if (!ctx) {
		st = SS_INSUFFICIENT_MEMORY;
		goto out;
	}
	make_ctx(ctx, &root->id, want.l0, L1_TOP, -1);
	if (sd_len)
		memcpy(ctx + CTX_LEN, sd, sd_len);
	st = ss_gkdi_kdf(root->hash, k, sizeof k, kds_label, sizeof kds_label, ctx,
	                 CTX_LEN + sd_len, top, sizeof top);
	free(ctx);
	if (st == SS_OK)
		st = ss_gkdi_derive_down(root->hash, &root->id, top,
		                         (ss_gkid){ want.l0, L1_TOP, -1 }, want, k);
out:
	if (st == SS_OK)
		memcpy(out, k, sizeof k);
	sodium_memzero(k, sizeof k);
	sodium_memzero(top, sizeof top);
	return st;
}

void ss_gkdi_answer_clear(ss_gkdi_answer *ans)
{
	if (ans)
		sodium_memzero(ans, sizeof *ans);
}

/* 3.1.4.1: which GKID the server answers with.  A request that names the
 * root key and an earlier L0 gets that L0's last key (L0,31,31); one that
 * names no root key gets the requested GKID as is; everything else gets
 * the current key, from which the client derives older ones (3.2.4.3). */
static ss_gkid answer_gkid(int rkid_given, ss_gkid req, ss_gkid now)
{
	if (!rkid_given && req.l0 >= 0)
		return req;
	if (rkid_given && req.l0 >= 0 && req.l0 < now.l0)
		return (ss_gkid){ req.l0, L1_TOP, L2_TOP };
	return now;
}

ss_status ss_gkdi_get_key(const ss_gkdi_root *root, const uint8_t *sd, size_t sd_len,
                          int rkid_given, ss_gkid requested, ss_gkid now,
                          ss_gkdi_answer *ans)
{
	uint8_t l1[SS_GKDI_KEY_LEN];
	ss_gkid g;
	ss_status st;
	int latest = requested.l0 == -1 && requested.l1 == -1 && requested.l2 == -1;

	memset(ans, 0, sizeof *ans);
	/* the request's indices are all -1 or all >= 0 (3.1.4.1) */
	if (!latest && (requested.l0 < 0 || requested.l1 < 0 || requested.l2 < 0 ||
	                !ss_gkid_valid(requested)))
		return SS_INVALID_TOKEN;
	if (now.l0 < 0 || now.l1 < 0 || now.l2 < 0 || !ss_gkid_valid(now))
		return SS_INVALID_TOKEN;
	/* never a key newer than the server's current time */
	if (!latest && ss_gkid_cmp(requested, now) > 0)
		return SS_LOGON_DENIED;
	g = answer_gkid(rkid_given, requested, now);
	ans->gkid = g;
	st = ss_gkdi_seed_key(root, sd, sd_len, (ss_gkid){ g.l0, g.l1, -1 }, l1);
	if (st != SS_OK)
		goto out;
	if (g.l2 == L2_TOP) {
		/* L2 index 31: only the L1 key (L0,L1,-1) */
		memcpy(ans->l1_key, l1, sizeof l1);
		ans->has_l1 = 1;
		ans->l1_gkid = (ss_gkid){ g.l0, g.l1, -1 };
		goto out;
	}
	st = ss_gkdi_derive_down(root->hash, &root->id, l1, (ss_gkid){ g.l0, g.l1, -1 }, g,
	                         ans->l2_key);
	if (st != SS_OK)
		goto out;
	ans->has_l2 = 1;
	if (g.l1 > 0) {
		/* and the next older L1 key (L0,L1-1,-1), which reaches every
		 * earlier L1 period of this L0 */
		ans->l1_gkid = (ss_gkid){ g.l0, g.l1 - 1, -1 };
		st = ss_gkdi_derive_down(root->hash, &root->id, l1, (ss_gkid){ g.l0, g.l1, -1 },
		                         ans->l1_gkid, ans->l1_key);
		ans->has_l1 = st == SS_OK;
	}
out:
	sodium_memzero(l1, sizeof l1);
	if (st != SS_OK)
		ss_gkdi_answer_clear(ans);
	return st;
}

void ss_gkdi_key_clear(ss_gkdi_key *k)
{
	if (!k)
		return;
	if (k->key)
		sodium_free(k->key);   /* wipes */
	memset(k, 0, sizeof *k);
}

static ss_status key_out(ss_gkdi_key *out, const ss_gkdi_env *env, ss_gkid g, int pub,
                         const uint8_t *key, size_t len)
{
	if (sodium_init() < 0)
		return SS_INTERNAL_ERROR;
	out->key = sodium_malloc(len);
	if (!out->key)
		return SS_INSUFFICIENT_MEMORY;
	memcpy(out->key, key, len);
	out->len = len;
	out->gkid = g;
	out->rkid = env->rkid;
	out->is_public = pub;
	return SS_OK;
}

ss_status ss_gkdi_client_key(const ss_gkdi_env *env, int rkid_given, ss_gkid requested,
                             ss_gkdi_key *out)
{
	uint8_t k[SS_GKDI_KEY_LEN];
	ss_gkid want = env->gkid, l1g;
	ss_status st = SS_NO_CREDENTIALS;
	int latest = requested.l0 < 0;

	memset(out, 0, sizeof *out);
	/* 3.2.4.1: "If bit 31 of the dwFlags field of the returned Group Key
	 * Envelope is set to 1, the value in the L2 key field is a public key
	 * with group key identifier (L0 field, L1 field, L2 field)."  3.2.4.3
	 * returns it when no root key id was given. */
	if (env->flags & SS_GKDI_FLAG_PUBLIC) {
		if (rkid_given || env->l2_key.len == 0)
			return SS_NO_CREDENTIALS;
		return key_out(out, env, env->gkid, 1, env->l2_key.p, env->l2_key.len);
	}
	/* "latest": the L2 key of the envelope's GKID, or the one derived from
	 * the L1 key at L2 index 31; otherwise the requested L2 key */
	if (!latest)
		want = requested;
	if (want.l0 < 0 || want.l1 < 0 || want.l2 < 0 || !ss_gkid_valid(want))
		return SS_INVALID_TOKEN;
	/* "If bit 31 of the dwFlags field ... is set to 0 and the L2 Key field
	 * is present, the value in the L2 key field is an L2 seed key with
	 * group key identifier (L0 field, L1 field, L2 field)." */
	if (env->l2_key.len == SS_GKDI_KEY_LEN)
		st = ss_gkdi_derive_down(env->hash, &env->rkid, env->l2_key.p, env->gkid, want, k);
	if (st == SS_NO_CREDENTIALS && env->l1_key.len == SS_GKDI_KEY_LEN) {
		/* "If the value in the L2 index field is 31, the value in the L1 Key
		 * field is an L1 seed key with group key identifier (L0 field, L1
		 * field, -1).  If the value in the L2 index field is not 31, the
		 * value in the L1 Key field is an L1 seed key with group key
		 * identifier (L0 field, L1 field - 1, -1)." */
		l1g = (ss_gkid){ env->gkid.l0, env->gkid.l1 - (env->gkid.l2 != L2_TOP), -1 };
		if (l1g.l1 >= 0)
			st = ss_gkdi_derive_down(env->hash, &env->rkid, env->l1_key.p, l1g, want, k);
	}
	if (st == SS_OK)
		st = key_out(out, env, want, 0, k, sizeof k);
	sodium_memzero(k, sizeof k);
	return st;
}
