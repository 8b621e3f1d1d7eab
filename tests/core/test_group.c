/* test_group.c — auth = group:NAME (core/ss_group.h): the identity
 * encoding and the PSK derivation against known answers computed outside
 * the C code (Python's hmac/hashlib HKDF, RFC 5869, and the byte layout by
 * hand), every truncation and bad field of an identity refused, the
 * period window, the root-key file rules, and both ends agreeing through
 * the 3.2.4.1 cache with the direct derivation (3.1.4.1.2).
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ss_group.h"

static void unhex(const char *h, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		cr_assert_eq(sscanf(h + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/* "db", root key id bytes 0x10..0x1f, GKID (361,0,31) */
static const char ident_hex[] = "534701026462101112131415161718191a1b1c1d1e1f00000169001f";
static const char psk_hex[] = "45a11a140bf943004dfadd0f4b4bec09e68f1fb1b1c774cecbe3d65ab01c5230";

static ss_group_id sample(void)
{
	ss_group_id id;
	memset(&id, 0, sizeof id);
	snprintf(id.name, sizeof id.name, "db");
	for (int i = 0; i < 16; i++)
		id.rkid.b[i] = (uint8_t)(0x10 + i);
	id.gkid = (ss_gkid){ 361, 0, 31 };
	return id;
}

Test(group, identity_known_answer_and_round_trip)
{
	ss_group_id id = sample(), back;
	uint8_t buf[SS_GROUP_ID_MAX], want[28];
	size_t n = 0;

	unhex(ident_hex, want, sizeof want);
	cr_assert_eq(ss_group_id_encode(&id, buf, sizeof buf, &n), SS_OK);
	cr_assert_eq(n, sizeof want);
	cr_assert_arr_eq(buf, want, n);
	cr_assert_eq(ss_group_id_parse(buf, n, &back), SS_OK);
	cr_assert_str_eq(back.name, "db");
	cr_assert_arr_eq(back.rkid.b, id.rkid.b, 16);
	cr_assert_eq(ss_gkid_cmp(back.gkid, id.gkid), 0);
	cr_assert_eq(ss_group_id_encode(&id, buf, n - 1, &n), SS_BUFFER_TOO_SMALL);
}

Test(group, identity_every_truncation_and_bad_field_refused)
{
	uint8_t good[28], b[40];
	ss_group_id out;

	unhex(ident_hex, good, sizeof good);
	for (size_t n = 0; n < sizeof good; n++)
		cr_assert_eq(ss_group_id_parse(good, n, &out), SS_INVALID_TOKEN, "length %zu", n);
	memcpy(b, good, sizeof good);
	b[sizeof good] = 0;
	cr_assert_eq(ss_group_id_parse(b, sizeof good + 1, &out), SS_INVALID_TOKEN, "trailing byte");
	const struct { size_t at; uint8_t v; } bad[] = {
		{ 0, 'X' }, { 1, 'X' }, { 2, 2 }, { 2, 0 },      /* magic, version */
		{ 3, 3 }, { 3, 1 }, { 3, 0 },                    /* name length != the rest */
		{ 4, ' ' }, { 5, 0 },                            /* name characters */
		{ 22, 0x80 },                                    /* L0 > INT32_MAX */
		{ 26, 32 }, { 27, 32 }, { 27, 0xff },            /* L1, L2 > 31 */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memcpy(b, good, sizeof good);
		b[bad[i].at] = bad[i].v;
		cr_assert_eq(ss_group_id_parse(b, sizeof good, &out), SS_INVALID_TOKEN, "byte %zu = %u", bad[i].at,
		             bad[i].v);
	}
	ss_group_id id = sample();
	size_t n;
	id.gkid.l2 = -1;
	cr_assert_neq(ss_group_id_encode(&id, b, sizeof b, &n), SS_OK, "an L1 GKID is no identity");
}

Test(group, psk_known_answer)
{
	uint8_t l2[64], ident[28], want[32], got[32];

	for (int i = 0; i < 64; i++)
		l2[i] = (uint8_t)i;
	unhex(ident_hex, ident, sizeof ident);
	unhex(psk_hex, want, sizeof want);
	cr_assert_eq(ss_group_psk(l2, ident, sizeof ident, got), SS_OK);
	cr_assert_arr_eq(got, want, 32);
	ident[27] ^= 1;   /* another GKID in the identity: another key */
	cr_assert_eq(ss_group_psk(l2, ident, sizeof ident, got), SS_OK);
	cr_assert_arr_neq(got, want, 32);
}

Test(group, period_window_current_and_previous_only)
{
	ss_gkid now = { 361, 0, 0 };
	cr_assert(ss_group_gkid_ok((ss_gkid){ 361, 0, 0 }, now));
	cr_assert(ss_group_gkid_ok((ss_gkid){ 360, 31, 31 }, now), "previous across an L0 boundary");
	cr_assert(!ss_group_gkid_ok((ss_gkid){ 360, 31, 30 }, now), "two periods old");
	cr_assert(!ss_group_gkid_ok((ss_gkid){ 361, 0, 1 }, now), "a future key");
	cr_assert(ss_group_gkid_ok((ss_gkid){ 361, 4, 6 }, (ss_gkid){ 361, 4, 7 }));
	cr_assert(ss_group_gkid_ok((ss_gkid){ 361, 3, 31 }, (ss_gkid){ 361, 4, 0 }), "across an L1 boundary");
}

static const char rkid_s[] = "2e1b932a-4e21-ced3-0b7b-8815aff8335d";
static char key_path[64];

static void write_key(mode_t mode)
{
	snprintf(key_path, sizeof key_path, "/tmp/test_group.%d.key", (int)getpid());
	FILE *f = fopen(key_path, "w");
	cr_assert_not_null(f);
	fprintf(f, "# comment\n\n%s SHA512 ", rkid_s);
	for (int i = 0; i < 64; i++)
		fprintf(f, "%02x", (unsigned)(0xa0 ^ i));
	fprintf(f, "\n");
	fclose(f);
	cr_assert_eq(chmod(key_path, mode), 0);
}

Test(group, root_key_file_rules)
{
	ss_grp *g = NULL;

	write_key(0644);
	cr_assert_eq(ss_group_load("db", key_path, NULL, 0, &g), SS_NO_CREDENTIALS, "readable by others");
	write_key(0640);
	cr_assert_eq(ss_group_load("db", key_path, NULL, 0, &g), SS_NO_CREDENTIALS, "readable by the group");
	write_key(0600);
	cr_assert_eq(ss_group_load("db", key_path, NULL, 0, &g), SS_OK);
	ss_group_free(g);
	{   /* one character of the key that is not hex: refused */
		FILE *f = fopen(key_path, "r+");
		cr_assert_not_null(f);
		cr_assert_eq(fseek(f, (long)(strlen("# comment\n\n") + strlen(rkid_s) + strlen(" SHA512 ") + 10), SEEK_SET), 0);
		fputc('z', f);
		fclose(f);
		cr_assert_eq(ss_group_load("db", key_path, NULL, 0, &g), SS_NO_CREDENTIALS, "a key with a non-hex character");
	}
	cr_assert_eq(ss_group_load("db", "/nonexistent/x.key", NULL, 0, &g), SS_NO_CREDENTIALS);
	cr_assert_eq(ss_group_load("bad name", key_path, NULL, 0, &g), SS_NO_CREDENTIALS);
	unlink(key_path);
}

/* Both ends through their own caches: the client's offer, the server's key
 * for it, and the PSK made directly from ss_gkdi_seed_key agree; the
 * previous period too; a stale or foreign identity is refused. */
Test(group, both_ends_agree_with_direct_derivation)
{
	ss_grp *cli = NULL, *srv = NULL;
	uint8_t id[SS_GROUP_ID_MAX], pc[32], ps[32], pd[32], l2[64], rk[64];
	size_t n = 0;
	ss_gkid gk;
	int64_t now = 1764763200;   /* 2025-12-03 12:00 UTC */

	write_key(0600);
	cr_assert_eq(ss_group_load("db", key_path, NULL, 0, &cli), SS_OK);
	cr_assert_eq(ss_group_load("db", key_path, NULL, 0, &srv), SS_OK);
	unlink(key_path);
	cr_assert_eq(ss_group_offer(cli, now, id, sizeof id, &n, pc, &gk), SS_OK);
	cr_assert_eq(ss_gkid_cmp(gk, ss_gkid_from_time(ss_group_nttime(now - SS_GROUP_SKEW))), 0);
	cr_assert(ss_group_accepts(srv, now, id, n, NULL));
	cr_assert_eq(ss_group_key(srv, now, id, n, ps), SS_OK);
	cr_assert_arr_eq(pc, ps, 32);

	ss_gkdi_root r = { .hash = SS_GKDI_SHA512, .key = rk };
	for (int i = 0; i < 64; i++)
		rk[i] = (uint8_t)(0xa0 ^ i);
	cr_assert_eq(ss_guid_parse(rkid_s, &r.id), 0);
	cr_assert_eq(ss_gkdi_seed_key(&r, SS_GROUP_SD_DEFAULT, sizeof SS_GROUP_SD_DEFAULT, gk, l2), SS_OK);
	cr_assert_eq(ss_group_psk(l2, id, n, pd), SS_OK);
	cr_assert_arr_eq(pc, pd, 32, "the cache derives what the chain gives");

	/* one period later the server still accepts it, two periods not */
	cr_assert_eq(ss_group_key(srv, now + 36000, id, n, ps), SS_OK);
	cr_assert_arr_eq(pc, ps, 32);
	cr_assert(!ss_group_accepts(srv, now + 72000, id, n, NULL));
	cr_assert_eq(ss_group_key(srv, now + 72000, id, n, ps), SS_LOGON_DENIED);
	/* a client one period ahead offers a key the server will not derive */
	cr_assert_eq(ss_group_offer(cli, now + 36000, id, sizeof id, &n, pc, &gk), SS_OK);
	cr_assert(!ss_group_accepts(srv, now, id, n, NULL));
	ss_group_free(cli);
	ss_group_free(srv);
}
