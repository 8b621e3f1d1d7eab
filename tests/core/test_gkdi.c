/* test_gkdi.c — MS-GKDI known answers from tests/vectors/gkdi.json (issue
 * 15 must-show 1): the SP800-108 KDF, L0 seed keys, time -> GKID and back,
 * the client-side derivation of a requested key (3.2.4.3), envelope
 * decode/encode round trips; plus the server's GetKey answer (3.1.4.1)
 * checked against the chain, and one negative test per envelope field the
 * parser refuses.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ss_gkdi.h"
#include "vectors.h"

static vec_file vf;

static void load(void)
{
	cr_assert_eq(vec_load(&vf, "gkdi.json"), 0, "tests/vectors/gkdi.json");
}

static void unload(void)
{
	vec_free(&vf);
}

/* The string value of a key (numbers are stored as strings). */
static const char *vstr(const char *key, char *buf, size_t cap)
{
	const char *p = vec_value(vf.text, key), *end;
	cr_assert(p && *p == '"', "vector %s", key);
	end = strchr(p + 1, '"');
	cr_assert(end && (size_t)(end - p) < cap);
	memcpy(buf, p + 1, (size_t)(end - p - 1));
	buf[end - p - 1] = '\0';
	return buf;
}

static uint8_t *vhex(const char *key, size_t *n)
{
	uint8_t *b = vec_hex(&vf, key, n);
	cr_assert(b, "vector %s", key);
	return b;
}

static int vcount(const char *what)
{
	char k[64], v[32];
	snprintf(k, sizeof k, "%s_count", what);
	return atoi(vstr(k, v, sizeof v));
}

static void assert_hex(const uint8_t *got, const uint8_t *want, size_t n, const char *what)
{
	char g[2 * 128 + 1] = "", w[2 * 128 + 1] = "";
	if (memcmp(got, want, n) == 0)
		return;
	for (size_t i = 0; i < n && i < 128; i++) {
		sprintf(g + 2 * i, "%02x", got[i]);
		sprintf(w + 2 * i, "%02x", want[i]);
	}
	cr_assert_fail("%s:\n got  %s\n want %s", what, g, w);
}

TestSuite(gkdi, .init = load, .fini = unload);

Test(gkdi, kdf_known_answers)
{
	int n = vcount("kdf");
	size_t llen;
	uint8_t *label = vhex("kds_label", &llen);
	cr_assert_eq(llen, 24);
	cr_assert_geq(n, 6);
	for (int i = 0; i < n; i++) {
		char k[64], prf[16];
		size_t kl, cl, el;
		ss_gkdi_hash h;
		uint8_t *key, *ctx, *exp, out[64];
		snprintf(k, sizeof k, "kdf_%d_prf", i);
		cr_assert_eq(ss_gkdi_hash_parse(vstr(k, prf, sizeof prf), &h), 0);
		snprintf(k, sizeof k, "kdf_%d_key", i);
		key = vhex(k, &kl);
		snprintf(k, sizeof k, "kdf_%d_context", i);
		ctx = vhex(k, &cl);
		snprintf(k, sizeof k, "kdf_%d_expected", i);
		exp = vhex(k, &el);
		cr_assert_leq(el, sizeof out);
		cr_assert_eq(ss_gkdi_kdf(h, key, kl, label, llen, ctx, cl, out, el), SS_OK);
		assert_hex(out, exp, el, k);
		free(key);
		free(ctx);
		free(exp);
	}
	free(label);
}

Test(gkdi, l0_seed_keys)
{
	for (int i = 0; i < 2; i++) {
		char k[64], s[64];
		size_t n, en;
		ss_gkdi_root root;
		uint8_t *rk, *exp, out[SS_GKDI_KEY_LEN];
		snprintf(k, sizeof k, "l0_%d_root_key_id", i);
		cr_assert_eq(ss_guid_parse(vstr(k, s, sizeof s), &root.id), 0);
		snprintf(k, sizeof k, "l0_%d_hash", i);
		cr_assert_eq(ss_gkdi_hash_parse(vstr(k, s, sizeof s), &root.hash), 0);
		snprintf(k, sizeof k, "l0_%d_root_key", i);
		rk = vhex(k, &n);
		cr_assert_eq(n, SS_GKDI_KEY_LEN);
		root.key = rk;
		snprintf(k, sizeof k, "l0_%d_l0", i);
		vstr(k, s, sizeof s);
		snprintf(k, sizeof k, "l0_%d_expected", i);
		exp = vhex(k, &en);
		/* the SD does not enter an L0 key: any SD gives the same */
		cr_assert_eq(ss_gkdi_seed_key(&root, (const uint8_t *)"x", 1,
		                              (ss_gkid){ atoi(s), -1, -1 }, out), SS_OK);
		assert_hex(out, exp, SS_GKDI_KEY_LEN, k);
		free(rk);
		free(exp);
	}
}

/* Root key -> L0 -> L1 (the SD in the (L0,31,-1) step) -> L2, end to end:
 * a Windows-made root key (dpapi-ng test data) and the seed keys the
 * dpapi-ng vectors carry for that root key and SD. */
Test(gkdi, seed_key_chain_with_sd)
{
	char k[64], s[96];
	size_t n, sdn, en;
	ss_gkdi_root root = { .hash = SS_GKDI_SHA512 };
	uint8_t *rk, *sdb, *exp, out[SS_GKDI_KEY_LEN];
	int count = vcount("chain");

	cr_assert_eq(count, 4);
	cr_assert_eq(ss_guid_parse(vstr("chain_root_key_id", s, sizeof s), &root.id), 0);
	rk = vhex("chain_root_key", &n);
	cr_assert_eq(n, SS_GKDI_KEY_LEN);
	root.key = rk;
	sdb = vhex("chain_sd", &sdn);
	for (int i = 0; i < count; i++) {
		ss_gkid g;
		snprintf(k, sizeof k, "chain_%d", i);
		cr_assert_eq(ss_gkid_parse(vstr(k, s, sizeof s), &g), 0);
		snprintf(k, sizeof k, "chain_%d_expected", i);
		exp = vhex(k, &en);
		cr_assert_eq(ss_gkdi_seed_key(&root, sdb, sdn, g, out), SS_OK);
		assert_hex(out, exp, SS_GKDI_KEY_LEN, k);
		free(exp);
	}
	/* one byte of the SD changes every key below L0 */
	sdb[sdn - 1] ^= 1;
	cr_assert_eq(ss_gkdi_seed_key(&root, sdb, sdn, (ss_gkid){ 361, 31, -1 }, out), SS_OK);
	exp = vhex("chain_0_expected", &en);
	cr_assert_neq(memcmp(out, exp, SS_GKDI_KEY_LEN), 0);
	free(exp);
	free(sdb);
	free(rk);
}

/* Samba's root -> L1/L2 seed key vectors (gMSA SD), SHA1/256/384/512. */
Test(gkdi, seed_key_samba_vectors)
{
	int count = vcount("samba");
	size_t sdn;
	uint8_t *sdb = vhex("sd_gmsa", &sdn);

	cr_assert_eq(count, 12);
	for (int i = 0; i < count; i++) {
		char k[64], s[96];
		size_t n, en;
		ss_gkdi_root root;
		ss_gkid g;
		uint8_t *rk, *exp, out[SS_GKDI_KEY_LEN];
		snprintf(k, sizeof k, "samba_%d_root_key_id", i);
		cr_assert_eq(ss_guid_parse(vstr(k, s, sizeof s), &root.id), 0);
		snprintf(k, sizeof k, "samba_%d_hash", i);
		cr_assert_eq(ss_gkdi_hash_parse(vstr(k, s, sizeof s), &root.hash), 0);
		snprintf(k, sizeof k, "samba_%d_gkid", i);
		cr_assert_eq(ss_gkid_parse(vstr(k, s, sizeof s), &g), 0);
		snprintf(k, sizeof k, "samba_%d_root_key", i);
		rk = vhex(k, &n);
		cr_assert_eq(n, SS_GKDI_KEY_LEN);
		root.key = rk;
		snprintf(k, sizeof k, "samba_%d_expected", i);
		exp = vhex(k, &en);
		cr_assert_eq(ss_gkdi_seed_key(&root, sdb, sdn, g, out), SS_OK);
		snprintf(k, sizeof k, "samba_%d_name", i);
		assert_hex(out, exp, SS_GKDI_KEY_LEN, vstr(k, s, sizeof s));
		free(rk);
		free(exp);
	}
	free(sdb);
}

Test(gkdi, time_to_gkid)
{
	int n = vcount("time");
	cr_assert_geq(n, 12);
	for (int i = 0; i < n; i++) {
		char k[32], s[96];
		uint64_t t;
		ss_gkid g, w;
		snprintf(k, sizeof k, "time_%d", i);
		cr_assert_eq(sscanf(vstr(k, s, sizeof s), "%" SCNu64 ",%d,%d,%d", &t, &w.l0, &w.l1, &w.l2), 4);
		g = ss_gkid_from_time(t);
		cr_assert(g.l0 == w.l0 && g.l1 == w.l1 && g.l2 == w.l2, "%s: %d,%d,%d", s, g.l0, g.l1, g.l2);
	}
}

Test(gkdi, gkid_to_start_time)
{
	int n = vcount("start");
	cr_assert_geq(n, 9);
	for (int i = 0; i < n; i++) {
		char k[32], s[96], res[32];
		uint64_t t, want;
		ss_gkid g;
		snprintf(k, sizeof k, "start_%d", i);
		cr_assert_eq(sscanf(vstr(k, s, sizeof s), "%d,%d,%d,%31s", &g.l0, &g.l1, &g.l2, res), 4);
		if (strcmp(res, "invalid") == 0) {
			cr_assert_eq(ss_gkid_start_time(g, &t), -1, "%s", s);
			continue;
		}
		want = strtoull(res, NULL, 10);
		cr_assert_eq(ss_gkid_start_time(g, &t), 0, "%s", s);
		cr_assert_eq(t, want, "%s: %" PRIu64, s, t);
		/* and back: the start time is in its own period */
		ss_gkid b = ss_gkid_from_time(t);
		cr_assert_eq(ss_gkid_cmp(b, g), 0, "%s", s);
	}
}

/* 3.2.4.3 from the dpapi-ng vectors: the requested L2 key from an envelope
 * carrying an L2 key, an L1 key at L2 index 31, the top L1 key, or the
 * next older L1 key. */
Test(gkdi, client_derivation)
{
	int n = vcount("client");
	cr_assert_eq(n, 4);
	for (int i = 0; i < n; i++) {
		char k[64], s[96];
		size_t l1n, l2n, en;
		ss_gkdi_env env = { .hash = SS_GKDI_SHA512 };
		ss_gkdi_key out;
		ss_gkid req;
		uint8_t *l1, *l2, *exp;
		snprintf(k, sizeof k, "client_%d_root_key_id", i);
		cr_assert_eq(ss_guid_parse(vstr(k, s, sizeof s), &env.rkid), 0);
		snprintf(k, sizeof k, "client_%d_gkid", i);
		cr_assert_eq(ss_gkid_parse(vstr(k, s, sizeof s), &env.gkid), 0);
		snprintf(k, sizeof k, "client_%d_requested", i);
		cr_assert_eq(ss_gkid_parse(vstr(k, s, sizeof s), &req), 0);
		snprintf(k, sizeof k, "client_%d_l1_key", i);
		l1 = vhex(k, &l1n);
		snprintf(k, sizeof k, "client_%d_l2_key", i);
		l2 = vhex(k, &l2n);
		snprintf(k, sizeof k, "client_%d_expected", i);
		exp = vhex(k, &en);
		env.l1_key = (ss_gkdi_bytes){ l1, l1n };
		env.l2_key = (ss_gkdi_bytes){ l2, l2n };
		cr_assert_eq(ss_gkdi_client_key(&env, 1, req, &out), SS_OK, "%s", k);
		cr_assert_eq(out.len, SS_GKDI_KEY_LEN);
		assert_hex(out.key, exp, SS_GKDI_KEY_LEN, k);
		ss_gkdi_key_clear(&out);
		free(l1);
		free(l2);
		free(exp);
	}
}

Test(gkdi, envelope_decode_encode_round_trip)
{
	int n = vcount("env");
	cr_assert_eq(n, 2);
	for (int i = 0; i < n; i++) {
		char k[64], s[96], ascii[64];
		size_t len, pl, l1n, l2n, outlen;
		unsigned ver, flags, bits[2];
		ss_gkdi_env e;
		ss_guid id;
		int l0, l1i, l2i;
		uint8_t *buf, *kp, *l1, *l2, out[2048];
		snprintf(k, sizeof k, "env_%d_hex", i);
		buf = vhex(k, &len);
		cr_assert_eq(ss_gkdi_env_parse(buf, len, &e, s, sizeof s), SS_OK, "%s: %s", k, s);
		snprintf(k, sizeof k, "env_%d_fields", i);
		cr_assert_eq(sscanf(vstr(k, s, sizeof s), "%u,%u,%d,%d,%d", &ver, &flags, &l0, &l1i, &l2i), 5);
		cr_assert(e.version == ver && e.flags == flags && e.gkid.l0 == l0 && e.gkid.l1 == l1i &&
		          e.gkid.l2 == l2i);
		snprintf(k, sizeof k, "env_%d_root_key_id", i);
		cr_assert_eq(ss_guid_parse(vstr(k, s, sizeof s), &id), 0);
		cr_assert_eq(memcmp(id.b, e.rkid.b, 16), 0);
		ss_gkdi_utf16_ascii(e.kdf_alg, ascii, sizeof ascii);
		cr_assert_str_eq(ascii, "SP800_108_CTR_HMAC");
		ss_gkdi_utf16_ascii(e.sa_alg, ascii, sizeof ascii);
		cr_assert_str_eq(ascii, "DH");
		cr_assert_eq(e.sa_params.len, 524);
		cr_assert_eq(e.hash, SS_GKDI_SHA512);
		snprintf(k, sizeof k, "env_%d_domain", i);
		ss_gkdi_utf16_ascii(e.domain, ascii, sizeof ascii);
		cr_assert_str_eq(ascii, vstr(k, s, sizeof s));
		snprintf(k, sizeof k, "env_%d_forest", i);
		ss_gkdi_utf16_ascii(e.forest, ascii, sizeof ascii);
		cr_assert_str_eq(ascii, vstr(k, s, sizeof s));
		snprintf(k, sizeof k, "env_%d_bits", i);
		cr_assert_eq(sscanf(vstr(k, s, sizeof s), "%u,%u", &bits[0], &bits[1]), 2);
		cr_assert(e.priv_bits == bits[0] && e.pub_bits == bits[1]);
		snprintf(k, sizeof k, "env_%d_kdf_parameters", i);
		kp = vhex(k, &pl);
		cr_assert(e.kdf_params.len == pl && memcmp(e.kdf_params.p, kp, pl) == 0);
		snprintf(k, sizeof k, "env_%d_l1_key", i);
		l1 = vhex(k, &l1n);
		snprintf(k, sizeof k, "env_%d_l2_key", i);
		l2 = vhex(k, &l2n);
		cr_assert(e.l1_key.len == 64 && memcmp(e.l1_key.p, l1, 64) == 0);
		cr_assert(e.l2_key.len == 64 && memcmp(e.l2_key.p, l2, 64) == 0);
		/* encode gives back the same bytes */
		cr_assert_eq(ss_gkdi_env_encode(&e, out, sizeof out, &outlen, s, sizeof s), SS_OK, "%s", s);
		cr_assert_eq(outlen, len);
		cr_assert_eq(memcmp(out, buf, len), 0);
		cr_assert_eq(ss_gkdi_env_encode(&e, out, len - 1, &outlen, NULL, 0), SS_BUFFER_TOO_SMALL);
		free(buf);
		free(kp);
		free(l1);
		free(l2);
	}
}

static const uint8_t test_root_key[64] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };

static ss_gkdi_root test_root(void)
{
	ss_gkdi_root r = { .hash = SS_GKDI_SHA512, .key = test_root_key };
	cr_assert_eq(ss_guid_parse("0170e972-a035-af4c-993b-e052d5bd1216", &r.id), 0);
	return r;
}

/* 3.1.4.1: what comes back for each GKID shape, every key equal to the
 * one the chain gives, and never a key newer than now. */
Test(gkdi, server_get_key)
{
	ss_gkdi_root r = test_root();
	const uint8_t sd[] = { 1, 0, 4, 0x80 };
	uint8_t want[SS_GKDI_KEY_LEN];
	ss_gkdi_answer a;
	ss_gkid now = { 362, 5, 7 };

	/* current GKID, L1 > 0: the L2 key and the next older L1 key */
	cr_assert_eq(ss_gkdi_get_key(&r, sd, sizeof sd, 1, SS_GKID_NONE, now, &a), SS_OK);
	cr_assert(a.has_l1 && a.has_l2 && ss_gkid_cmp(a.gkid, now) == 0);
	cr_assert(a.l1_gkid.l0 == 362 && a.l1_gkid.l1 == 4 && a.l1_gkid.l2 == -1);
	cr_assert_eq(ss_gkdi_seed_key(&r, sd, sizeof sd, now, want), SS_OK);
	cr_assert_eq(memcmp(a.l2_key, want, 64), 0);
	cr_assert_eq(ss_gkdi_seed_key(&r, sd, sizeof sd, (ss_gkid){ 362, 4, -1 }, want), SS_OK);
	cr_assert_eq(memcmp(a.l1_key, want, 64), 0);
	/* an older key of the current L0: still the current GKID */
	cr_assert_eq(ss_gkdi_get_key(&r, sd, sizeof sd, 1, (ss_gkid){ 362, 1, 3 }, now, &a), SS_OK);
	cr_assert_eq(ss_gkid_cmp(a.gkid, now), 0);
	/* an earlier L0 with the root key named: (L0,31,31), the L1 key only */
	cr_assert_eq(ss_gkdi_get_key(&r, sd, sizeof sd, 1, (ss_gkid){ 361, 2, 3 }, now, &a), SS_OK);
	cr_assert(a.gkid.l0 == 361 && a.gkid.l1 == 31 && a.gkid.l2 == 31 && a.has_l1 && !a.has_l2);
	cr_assert(a.l1_gkid.l1 == 31 && a.l1_gkid.l2 == -1);
	/* no root key named: the requested GKID as is; L1 = 0: the L2 key only */
	cr_assert_eq(ss_gkdi_get_key(&r, sd, sizeof sd, 0, (ss_gkid){ 362, 0, 3 }, now, &a), SS_OK);
	cr_assert(a.gkid.l1 == 0 && a.gkid.l2 == 3 && !a.has_l1 && a.has_l2);
	/* newer than now: refused; malformed: refused */
	cr_assert_eq(ss_gkdi_get_key(&r, sd, sizeof sd, 1, (ss_gkid){ 362, 5, 8 }, now, &a),
	             SS_LOGON_DENIED);
	cr_assert_eq(ss_gkdi_get_key(&r, sd, sizeof sd, 1, (ss_gkid){ 362, -1, -1 }, now, &a),
	             SS_INVALID_TOKEN);
	ss_gkdi_answer_clear(&a);
}

/* The client derives from the server's answer exactly what the chain
 * gives, for every L2 index of a period and across an L1 step. */
Test(gkdi, answer_then_client_key)
{
	ss_gkdi_root r = test_root();
	const uint8_t sd[] = { 9, 9, 9 };
	uint8_t buf[1024], scratch[SS_GKDI_SCRATCH], want[64];
	ss_gkdi_answer a;
	ss_gkdi_env e, p;
	ss_gkdi_key k;
	size_t n;
	ss_gkid now = { 100, 3, 31 };

	cr_assert_eq(ss_gkdi_get_key(&r, sd, sizeof sd, 1, SS_GKID_NONE, now, &a), SS_OK);
	cr_assert_eq(ss_gkdi_env_from_answer(&a, &r, "example.test", "example.test", &e, scratch,
	                                     sizeof scratch), SS_OK);
	cr_assert_eq(ss_gkdi_env_encode(&e, buf, sizeof buf, &n, NULL, 0), SS_OK);
	cr_assert_eq(ss_gkdi_env_parse(buf, n, &p, NULL, 0), SS_OK);
	for (int l1 = 0; l1 <= 3; l1++)
		for (int l2 = 0; l2 < 32; l2 += 5) {
			ss_gkid g = { 100, l1, l2 };
			cr_assert_eq(ss_gkdi_client_key(&p, 1, g, &k), SS_OK);
			cr_assert_eq(ss_gkdi_seed_key(&r, sd, sizeof sd, g, want), SS_OK);
			cr_assert_eq(memcmp(k.key, want, 64), 0, "%d,%d", l1, l2);
			ss_gkdi_key_clear(&k);
		}
	/* "latest" from an L1 key at L2 index 31: the key (L0,L1,31) */
	cr_assert_eq(ss_gkdi_client_key(&p, 0, SS_GKID_NONE, &k), SS_OK);
	cr_assert_eq(ss_gkid_cmp(k.gkid, now), 0);
	ss_gkdi_key_clear(&k);
	/* newer or another L0: not derivable */
	cr_assert_eq(ss_gkdi_client_key(&p, 1, (ss_gkid){ 100, 4, 0 }, &k), SS_NO_CREDENTIALS);
	cr_assert_eq(ss_gkdi_client_key(&p, 1, (ss_gkid){ 99, 3, 0 }, &k), SS_NO_CREDENTIALS);
	ss_gkdi_answer_clear(&a);
}

/* ---- negative envelope tests: one per refused field */

static uint8_t env_buf[1024];
static size_t env_len;

static void base_env(void)
{
	ss_gkdi_root r = test_root();
	static uint8_t scratch[SS_GKDI_SCRATCH];
	ss_gkdi_answer a;
	ss_gkdi_env e;
	cr_assert_eq(ss_gkdi_get_key(&r, NULL, 0, 1, SS_GKID_NONE, (ss_gkid){ 7, 3, 4 }, &a), SS_OK);
	cr_assert_eq(ss_gkdi_env_from_answer(&a, &r, "a.test", "a.test", &e, scratch, sizeof scratch),
	             SS_OK);
	cr_assert_eq(ss_gkdi_env_encode(&e, env_buf, sizeof env_buf, &env_len, NULL, 0), SS_OK);
	ss_gkdi_answer_clear(&a);
}

static void put32(size_t off, uint32_t v)
{
	env_buf[off] = (uint8_t)v;
	env_buf[off + 1] = (uint8_t)(v >> 8);
	env_buf[off + 2] = (uint8_t)(v >> 16);
	env_buf[off + 3] = (uint8_t)(v >> 24);
}

static void refused(size_t len, const char *why_has)
{
	ss_gkdi_env e;
	char why[160] = "";
	cr_assert_eq(ss_gkdi_env_parse(env_buf, len, &e, why, sizeof why), SS_DECODE_ERROR,
	             "accepted, expected '%s'", why_has);
	cr_assert(strstr(why, why_has), "why '%s', expected '%s'", why, why_has);
}

Test(gkdi_env_neg, base_is_valid)
{
	ss_gkdi_env e;
	base_env();
	cr_assert_eq(ss_gkdi_env_parse(env_buf, env_len, &e, NULL, 0), SS_OK);
	cr_assert(e.l1_key.len == 64 && e.l2_key.len == 64 && e.sa_alg.len == 0);
}
Test(gkdi_env_neg, short_header) { base_env(); refused(79, "shorter than the 80-byte header"); }
Test(gkdi_env_neg, version) { base_env(); put32(0, 2); refused(env_len, "version"); }
Test(gkdi_env_neg, magic) { base_env(); env_buf[4] = 'k'; refused(env_len, "magic"); }
Test(gkdi_env_neg, unknown_flag) { base_env(); put32(8, 0x6); refused(env_len, "unknown flags"); }
Test(gkdi_env_neg, negative_l0) { base_env(); put32(12, 0xffffffff); refused(env_len, "L0"); }
Test(gkdi_env_neg, l1_index) { base_env(); put32(16, 32); refused(env_len, "L1/L2 index"); }
Test(gkdi_env_neg, l2_index) { base_env(); put32(20, 32); refused(env_len, "L1/L2 index"); }
Test(gkdi_env_neg, trailing) { base_env(); refused(env_len + 1, "trailing"); }
Test(gkdi_env_neg, truncated) { base_env(); refused(env_len - 1, "runs past the end"); }
Test(gkdi_env_neg, huge_length) { base_env(); put32(40, 0xffffffff); refused(env_len, "runs past"); }
Test(gkdi_env_neg, kdf_algorithm_name) { base_env(); env_buf[80] = 'X'; refused(env_len, "KDF algorithm"); }
Test(gkdi_env_neg, kdf_algorithm_odd)
{
	base_env();
	put32(40, 37);
	put32(44, 31);   /* the byte moves to the parameters: total unchanged */
	refused(env_len, "KDF algorithm");
}
Test(gkdi_env_neg, kdf_parameters)
{
	base_env();
	env_buf[80 + 38 + 4] = 2;   /* parameter count 2 */
	refused(env_len, "KDF parameters");
}
Test(gkdi_env_neg, kdf_hash_name)
{
	base_env();
	env_buf[80 + 38 + 16] = 'M';   /* "MHA512" */
	refused(env_len, "KDF parameters");
}
Test(gkdi_env_neg, l1_key_length)
{
	base_env();
	put32(64, 63);
	put32(68, 65);
	refused(env_len, "cbL1Key");
}
Test(gkdi_env_neg, l2_key_length)
{
	base_env();
	put32(64, 0);
	put32(68, 128);
	refused(env_len, "cbL2Key");
}
Test(gkdi_env_neg, no_key)
{
	base_env();
	put32(64, 0);
	put32(68, 0);
	refused(env_len - 128, "no key");
}
Test(gkdi_env_neg, l2_key_at_index_31) { base_env(); put32(20, 31); refused(env_len, "L2 index 31"); }
Test(gkdi_env_neg, l1_key_at_l1_zero) { base_env(); put32(16, 0); refused(env_len, "L1 index 0"); }
Test(gkdi_env_neg, public_flag_with_l1) { base_env(); put32(8, 3); refused(env_len, "beside a public key"); }
Test(gkdi_env_neg, public_key_blob)
{
	base_env();
	put32(8, 3);
	put32(64, 0);
	memmove(env_buf + env_len - 128, env_buf + env_len - 64, 64);
	refused(env_len - 64, "bad public key");
}
Test(gkdi_env_neg, domain_name)
{
	base_env();
	/* "a.test\0" is 14 bytes after 38 + 30 of KDF fields; break its NUL */
	env_buf[80 + 38 + 30 + 12] = 'x';
	refused(env_len, "domain or forest");
}
Test(gkdi_env_neg, secret_agreement_parameters_without_dh)
{
	base_env();
	put32(52, 4);
	put32(72, 10);   /* the 4 bytes come out of the domain name's length */
	refused(env_len, "without DH");
}

/* The dpapi-ng envelope (DH, with 2.2.2 parameters) as the base: offsets
 * 148 secret agreement algorithm "DH", 154 its 524-byte parameters. */
static void vector_env(void)
{
	size_t n;
	uint8_t *b;
	load();
	b = vhex("env_0_hex", &n);
	cr_assert_leq(n, sizeof env_buf);
	memcpy(env_buf, b, n);
	env_len = n;
	free(b);
	unload();
}

Test(gkdi_env_neg, secret_agreement_unknown)
{
	vector_env();
	env_buf[148 + 2] = 'X';   /* "DX" */
	refused(env_len, "unknown secret agreement algorithm");
}
Test(gkdi_env_neg, secret_agreement_string)
{
	vector_env();
	env_buf[148 + 4] = 'Z';   /* no final NUL */
	refused(env_len, "bad secret agreement algorithm string");
}
Test(gkdi_env_neg, dh_parameters_magic)
{
	vector_env();
	env_buf[154 + 4] = 'X';   /* "XHPM" */
	refused(env_len, "bad DH parameters");
}
Test(gkdi_env_neg, dh_parameters_length)
{
	vector_env();
	put32(154, 523);
	refused(env_len, "bad DH parameters");
}
Test(gkdi_env_neg, key_length_bits)
{
	vector_env();
	put32(56, 20000);
	refused(env_len, "key length out of range");
}

/* KDF parameters absent: SHA256, as Windows does. */
Test(gkdi_env_neg, kdf_parameters_absent_is_sha256)
{
	ss_gkdi_env e;
	vector_env();
	put32(44, 0);
	memmove(env_buf + 118, env_buf + 148, env_len - 148);
	cr_assert_eq(ss_gkdi_env_parse(env_buf, env_len - 30, &e, NULL, 0), SS_OK);
	cr_assert_eq(e.hash, SS_GKDI_SHA256);
}

/* A public-key envelope (flag 0x1, the L2 field a 2.2.3 DH public key) is
 * accepted and round-trips. */
Test(gkdi_env_neg, public_key_envelope_accepted)
{
	uint8_t pub[8 + 3 * 4] = { 'D', 'H', 'P', 'B', 4, 0, 0, 0 }, out[1024];
	ss_gkdi_env e, p;
	size_t n;
	base_env();
	cr_assert_eq(ss_gkdi_env_parse(env_buf, env_len, &e, NULL, 0), SS_OK);
	e.flags = SS_GKDI_FLAG_PUBLIC | SS_GKDI_FLAG_ENCRYPT;
	e.l1_key = (ss_gkdi_bytes){ NULL, 0 };
	e.l2_key = (ss_gkdi_bytes){ pub, sizeof pub };
	cr_assert_eq(ss_gkdi_env_encode(&e, out, sizeof out, &n, NULL, 0), SS_OK);
	cr_assert_eq(ss_gkdi_env_parse(out, n, &p, NULL, 0), SS_OK);
	cr_assert(p.flags == 3 && p.l2_key.len == sizeof pub && p.l1_key.len == 0);
	pub[4] = 5;   /* key length no longer matches the blob */
	cr_assert_eq(ss_gkdi_env_encode(&e, out, sizeof out, &n, NULL, 0), SS_DECODE_ERROR);
}
