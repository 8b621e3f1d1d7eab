/* ss_gkdi_env.c — the Group Key Envelope of MS-GKDI 2.2.4: parsed with the
 * bounds-checked cursor (ss_cursor.h), every length and flag checked, and
 * built so that the builder's output always passes the parser.
 *
 * Layout (all integers little-endian u32): Version, Magic "KDSK", dwFlags,
 * L0, L1, L2, root key id (16), cbKDFAlgorithm, cbKDFParameters,
 * cbSecretAgreementAlgorithm, cbSecretAgreementParameters, private and
 * public key length (bits), cbL1Key, cbL2Key, cbDomainName, cbForestName
 * (80 bytes), then KDF algorithm, KDF parameters, secret agreement
 * algorithm and parameters, domain, forest, L1 key, L2 key — the body puts
 * domain and forest before the keys, unlike the header.  No padding.
 */
#include "ss_gkdi.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ss_cursor.h"

enum {
	ENV_VERSION = 1,       /* the root key's msKds-Version */
	NAME_MAX16 = 512,      /* a DNS name: 255 characters and a NUL, UTF-16 */
	ALG_MAX16 = 128,       /* algorithm names */
	KDFP_HDR = 16,         /* 2.2.1: u32 0, u32 1, u32 cbName, u32 0 */
	DHPM_HDR = 12,         /* 2.2.2: u32 length, "DHPM", u32 key length */
	PUB_HDR = 8,           /* 2.2.3: magic, u32 key or coordinate length */
	BITS_MAX = 16384,
};

static const uint8_t magic_kdsk[4] = { 'K', 'D', 'S', 'K' };
static const char kdf_sp800_108[] = "SP800_108_CTR_HMAC";
static const char *const sa_names[] = { "DH", "ECDH_P256", "ECDH_P384", "ECDH_P521" };

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A little-endian u32 through the cursor (ss_cur_uint is big-endian). */
static int cur_le32(ss_cur *c, uint32_t *v)
{
	ss_cur s;
	if (!ss_cur_sub(c, 4, &s))
		return 0;
	*v = le32(s.buf);
	return 1;
}

static int cur_bytes(ss_cur *c, size_t n, ss_gkdi_bytes *b)
{
	ss_cur s;
	if (!ss_cur_sub(c, n, &s))
		return 0;
	b->p = n ? s.buf : NULL;
	b->len = n;
	return 1;
}

/* A UTF-16LE string with exactly one NUL, at its end, and no more than max
 * bytes; len 0 (absent) is accepted only when may_be_absent. */
static int utf16_ok(ss_gkdi_bytes b, size_t max, int may_be_absent)
{
	if (b.len == 0)
		return may_be_absent;
	if (b.len % 2 || b.len < 4 || b.len > max)
		return 0;
	for (size_t i = 0; i + 2 < b.len; i += 2)
		if (b.p[i] == 0 && b.p[i + 1] == 0)
			return 0;
	return b.p[b.len - 2] == 0 && b.p[b.len - 1] == 0;
}

static int utf16_is(ss_gkdi_bytes b, const char *ascii)
{
	size_t n = strlen(ascii);
	if (b.len != 2 * (n + 1))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (b.p[2 * i] != (uint8_t)ascii[i] || b.p[2 * i + 1] != 0)
			return 0;
	return 1;
}

void ss_gkdi_utf16_ascii(ss_gkdi_bytes b, char *out, size_t cap)
{
	size_t k = 0;
	if (!cap)
		return;
	for (size_t i = 0; i + 1 < b.len && k + 1 < cap; i += 2) {
		unsigned u = b.p[i] | (unsigned)b.p[i + 1] << 8;
		if (u == 0)
			break;
		out[k++] = (u >= 0x20 && u < 0x7f) ? (char)u : '?';
	}
	out[k] = '\0';
}

/* 2.2.1 KDF parameters: u32 0, u32 1, u32 cbName, u32 0, hash name (UTF-16LE
 * with NUL).  Absent means SHA256, as Windows does (reference gkdi.md §3). */
static int kdf_params_hash(ss_gkdi_bytes b, ss_gkdi_hash *h)
{
	char name[16];
	if (b.len == 0) {
		*h = SS_GKDI_SHA256;
		return 1;
	}
	if (b.len < KDFP_HDR + 4 || le32(b.p) != 0 || le32(b.p + 4) != 1 ||
	    le32(b.p + 8) != b.len - KDFP_HDR || le32(b.p + 12) != 0)
		return 0;
	b.p += KDFP_HDR;
	b.len -= KDFP_HDR;
	if (!utf16_ok(b, 32, 0))
		return 0;
	ss_gkdi_utf16_ascii(b, name, sizeof name);
	return ss_gkdi_hash_parse(name, h) == 0 && utf16_is(b, name);
}

/* 2.2.2 FFC DH parameters: u32 length (= 12 + 2*keylen), "DHPM", u32
 * keylen, p, g. */
static int dh_params_ok(ss_gkdi_bytes b)
{
	uint32_t kl;
	if (b.len < DHPM_HDR || le32(b.p) != b.len || memcmp(b.p + 4, "DHPM", 4) != 0)
		return 0;
	kl = le32(b.p + 8);
	return kl > 0 && kl <= SS_GKDI_PUB_MAX && DHPM_HDR + 2 * (size_t)kl == b.len;
}

/* 2.2.3 public key: "DHPB", u32 keylen, p, g, y (3 * keylen); or ECDH
 * magic "ECK1/3/5", u32 coordinate length, X, Y (2 * length). */
static int public_key_ok(ss_gkdi_bytes b)
{
	uint32_t n;
	if (b.len < PUB_HDR || b.len > SS_GKDI_PUB_MAX)
		return 0;
	n = le32(b.p + 4);
	if (n == 0 || n > SS_GKDI_PUB_MAX)
		return 0;
	if (memcmp(b.p, "DHPB", 4) == 0)
		return PUB_HDR + 3 * (size_t)n == b.len;
	if (memcmp(b.p, "ECK1", 4) == 0 || memcmp(b.p, "ECK3", 4) == 0 ||
	    memcmp(b.p, "ECK5", 4) == 0)
		return PUB_HDR + 2 * (size_t)n == b.len;
	return 0;
}

static ss_status check_algorithms(ss_gkdi_env *e, char *why, size_t wl)
{
	int dh = 0, known = 0;

	if (!utf16_is(e->kdf_alg, kdf_sp800_108))
		return ss_cur_fail(why, wl, "KDF algorithm is not SP800_108_CTR_HMAC");
	if (!kdf_params_hash(e->kdf_params, &e->hash))
		return ss_cur_fail(why, wl, "bad KDF parameters (%zu bytes)", e->kdf_params.len);
	if (!utf16_ok(e->sa_alg, ALG_MAX16, 1))
		return ss_cur_fail(why, wl, "bad secret agreement algorithm string");
	for (size_t i = 0; i < sizeof sa_names / sizeof sa_names[0]; i++)
		if (utf16_is(e->sa_alg, sa_names[i])) {
			known = 1;
			dh = i == 0;
		}
	if (e->sa_alg.len && !known)
		return ss_cur_fail(why, wl, "unknown secret agreement algorithm");
	if (e->sa_params.len && !dh)
		return ss_cur_fail(why, wl, "secret agreement parameters without DH");
	if (e->sa_params.len && !dh_params_ok(e->sa_params))
		return ss_cur_fail(why, wl, "bad DH parameters (%zu bytes)", e->sa_params.len);
	if (e->priv_bits > BITS_MAX || e->pub_bits > BITS_MAX)
		return ss_cur_fail(why, wl, "key length out of range");
	return SS_OK;
}

/* Which key fields may be present (2.2.4, 3.1.4.1). */
static ss_status check_keys(const ss_gkdi_env *e, char *why, size_t wl)
{
	int pub = (e->flags & SS_GKDI_FLAG_PUBLIC) != 0;

	if (e->l1_key.len != 0 && e->l1_key.len != SS_GKDI_KEY_LEN)
		return ss_cur_fail(why, wl, "cbL1Key %zu (0 or 64)", e->l1_key.len);
	if (pub && e->l1_key.len)
		return ss_cur_fail(why, wl, "an L1 key beside a public key");
	if (e->l1_key.len && e->gkid.l1 == 0 && e->gkid.l2 != 31)
		return ss_cur_fail(why, wl, "an L1 key at L1 index 0 with L2 index below 31");
	if (pub) {
		if (!public_key_ok(e->l2_key))
			return ss_cur_fail(why, wl, "bad public key (%zu bytes)", e->l2_key.len);
		return SS_OK;
	}
	if (e->l2_key.len != 0 && e->l2_key.len != SS_GKDI_KEY_LEN)
		return ss_cur_fail(why, wl, "cbL2Key %zu (0 or 64)", e->l2_key.len);
	if (e->l2_key.len && e->gkid.l2 == 31)
		return ss_cur_fail(why, wl, "an L2 key at L2 index 31");
	if (!e->l1_key.len && !e->l2_key.len)
		return ss_cur_fail(why, wl, "no key");
	return SS_OK;
}

static ss_status parse_header(ss_cur *c, ss_gkdi_env *e, uint32_t cb[10], char *why, size_t wl)
{
	uint32_t v, magic, idx[3];
	ss_gkdi_bytes rk;

	if (ss_cur_left(c) < SS_GKDI_ENV_HDR)
		return ss_cur_fail(why, wl, "%zu bytes, shorter than the 80-byte header", ss_cur_left(c));
	if (!cur_le32(c, &v) || v != ENV_VERSION)
		return ss_cur_fail(why, wl, "version %u (only 1)", v);
	if (!cur_le32(c, &magic) || memcmp(c->buf + c->off - 4, magic_kdsk, 4) != 0)
		return ss_cur_fail(why, wl, "magic is not KDSK");
	e->version = v;
	if (!cur_le32(c, &e->flags) || (e->flags & ~(SS_GKDI_FLAG_PUBLIC | SS_GKDI_FLAG_ENCRYPT)))
		return ss_cur_fail(why, wl, "unknown flags 0x%x", e->flags);
	for (int i = 0; i < 3; i++)
		if (!cur_le32(c, &idx[i]))
			return ss_cur_fail(why, wl, "short header");
	if (idx[0] > INT32_MAX)
		return ss_cur_fail(why, wl, "L0 index %d is negative", (int32_t)idx[0]);
	if (idx[1] > 31 || idx[2] > 31)
		return ss_cur_fail(why, wl, "L1/L2 index out of 0..31");
	e->gkid = (ss_gkid){ (int32_t)idx[0], (int32_t)idx[1], (int32_t)idx[2] };
	if (!cur_bytes(c, 16, &rk))
		return ss_cur_fail(why, wl, "short header");
	memcpy(e->rkid.b, rk.p, 16);
	for (int i = 0; i < 10; i++)
		if (!cur_le32(c, &cb[i]))
			return ss_cur_fail(why, wl, "short header");
	return SS_OK;
}

ss_status ss_gkdi_env_parse(const uint8_t *buf, size_t len, ss_gkdi_env *e, char *why, size_t wl)
{
	ss_cur c = ss_cur_make(buf, len);
	uint32_t cb[10];
	ss_gkdi_bytes *body[8];
	/* header order of the lengths -> body order of the fields */
	static const int body_cb[8] = { 0, 1, 2, 3, 8, 9, 6, 7 };
	static const char *const names[8] = { "KDF algorithm", "KDF parameters",
		"secret agreement algorithm", "secret agreement parameters", "domain name",
		"forest name", "L1 key", "L2 key" };
	ss_status st;

	memset(e, 0, sizeof *e);
	if (len > SS_GKDI_ENV_MAX)
		return ss_cur_fail(why, wl, "%zu bytes, longer than %d", len, SS_GKDI_ENV_MAX);
	st = parse_header(&c, e, cb, why, wl);
	if (st != SS_OK)
		return st;
	e->priv_bits = cb[4];
	e->pub_bits = cb[5];
	body[0] = &e->kdf_alg;
	body[1] = &e->kdf_params;
	body[2] = &e->sa_alg;
	body[3] = &e->sa_params;
	body[4] = &e->domain;
	body[5] = &e->forest;
	body[6] = &e->l1_key;
	body[7] = &e->l2_key;
	for (int i = 0; i < 8; i++)
		if (!cur_bytes(&c, cb[body_cb[i]], body[i]))
			return ss_cur_fail(why, wl, "%s (%u bytes) runs past the end", names[i], cb[body_cb[i]]);
	if (ss_cur_left(&c))
		return ss_cur_fail(why, wl, "%zu trailing bytes", ss_cur_left(&c));
	if (!utf16_ok(e->kdf_alg, ALG_MAX16, 0))
		return ss_cur_fail(why, wl, "bad KDF algorithm string");
	if (!utf16_ok(e->domain, NAME_MAX16, 0) || !utf16_ok(e->forest, NAME_MAX16, 0))
		return ss_cur_fail(why, wl, "bad domain or forest name");
	st = check_algorithms(e, why, wl);
	if (st == SS_OK)
		st = check_keys(e, why, wl);
	return st;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

ss_status ss_gkdi_env_encode(const ss_gkdi_env *e, uint8_t *out, size_t cap, size_t *out_len,
                             char *why, size_t wl)
{
	const ss_gkdi_bytes *body[8] = { &e->kdf_alg, &e->kdf_params, &e->sa_alg, &e->sa_params,
		&e->domain, &e->forest, &e->l1_key, &e->l2_key };
	size_t n = SS_GKDI_ENV_HDR, off;
	ss_gkdi_env check;

	for (int i = 0; i < 8; i++) {
		if (body[i]->len > SS_GKDI_ENV_MAX || (body[i]->len && !body[i]->p))
			return ss_cur_fail(why, wl, "field %d too long", i);
		n += body[i]->len;
	}
	if (n > SS_GKDI_ENV_MAX)
		return ss_cur_fail(why, wl, "envelope of %zu bytes, longer than %d", n, SS_GKDI_ENV_MAX);
	*out_len = n;
	if (cap < n)
		return SS_BUFFER_TOO_SMALL;
	put32(out, e->version);
	memcpy(out + 4, magic_kdsk, 4);
	put32(out + 8, e->flags);
	put32(out + 12, (uint32_t)e->gkid.l0);
	put32(out + 16, (uint32_t)e->gkid.l1);
	put32(out + 20, (uint32_t)e->gkid.l2);
	memcpy(out + 24, e->rkid.b, 16);
	put32(out + 40, (uint32_t)e->kdf_alg.len);
	put32(out + 44, (uint32_t)e->kdf_params.len);
	put32(out + 48, (uint32_t)e->sa_alg.len);
	put32(out + 52, (uint32_t)e->sa_params.len);
	put32(out + 56, e->priv_bits);
	put32(out + 60, e->pub_bits);
	put32(out + 64, (uint32_t)e->l1_key.len);
	put32(out + 68, (uint32_t)e->l2_key.len);
	put32(out + 72, (uint32_t)e->domain.len);
	put32(out + 76, (uint32_t)e->forest.len);
	off = SS_GKDI_ENV_HDR;
	for (int i = 0; i < 8; i++) {
		if (body[i]->len)
			memcpy(out + off, body[i]->p, body[i]->len);
		off += body[i]->len;
	}
	return ss_gkdi_env_parse(out, n, &check, why, wl);
}

/* ASCII -> UTF-16LE with NUL into scratch; 0 when it does not fit. */
static int put_utf16(const char *s, uint8_t *scratch, size_t cap, size_t *used, ss_gkdi_bytes *b)
{
	size_t n = strlen(s), need = 2 * (n + 1);
	if (*used + need > cap)
		return 0;
	b->p = scratch + *used;
	b->len = need;
	for (size_t i = 0; i <= n; i++) {
		scratch[*used + 2 * i] = (uint8_t)s[i];
		scratch[*used + 2 * i + 1] = 0;
	}
	*used += need;
	return 1;
}

ss_status ss_gkdi_env_from_answer(const ss_gkdi_answer *ans, const ss_gkdi_root *root,
                                  const char *domain, const char *forest,
                                  ss_gkdi_env *e, uint8_t *scratch, size_t cap)
{
	size_t used = 0;
	ss_gkdi_bytes name;
	uint8_t *kp;

	memset(e, 0, sizeof *e);
	e->version = ENV_VERSION;
	e->flags = SS_GKDI_FLAG_ENCRYPT;
	e->gkid = ans->gkid;
	e->rkid = root->id;
	e->hash = root->hash;
	if (!put_utf16(kdf_sp800_108, scratch, cap, &used, &e->kdf_alg) || used + KDFP_HDR > cap)
		return SS_BUFFER_TOO_SMALL;
	/* 2.2.1 parameters naming the hash explicitly (3.1.4.1.1) */
	kp = scratch + used;
	used += KDFP_HDR;
	if (!put_utf16(ss_gkdi_hash_name(root->hash), scratch, cap, &used, &name))
		return SS_BUFFER_TOO_SMALL;
	put32(kp, 0);
	put32(kp + 4, 1);
	put32(kp + 8, (uint32_t)name.len);
	put32(kp + 12, 0);
	e->kdf_params = (ss_gkdi_bytes){ kp, KDFP_HDR + name.len };
	if (!put_utf16(domain, scratch, cap, &used, &e->domain) ||
	    !put_utf16(forest, scratch, cap, &used, &e->forest))
		return SS_BUFFER_TOO_SMALL;
	if (ans->has_l1)
		e->l1_key = (ss_gkdi_bytes){ ans->l1_key, SS_GKDI_KEY_LEN };
	if (ans->has_l2)
		e->l2_key = (ss_gkdi_bytes){ ans->l2_key, SS_GKDI_KEY_LEN };
	return SS_OK;
}
