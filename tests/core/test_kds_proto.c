/* test_kds_proto.c — the KDS framed protocol (core/ss_kds_proto.c, issue 15
 * kds/): round trips, and one negative test per field the parsers refuse
 * (docs/group-keys.md, "Protocol"). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "ss_gkdi.h"
#include "ss_kds_proto.h"

static size_t make_req(uint8_t *buf, const char *group, ss_gkid g, int rkid)
{
	ss_kds_req r = { .gkid = g, .has_rkid = rkid };
	size_t n;
	snprintf(r.group, sizeof r.group, "%s", group);
	for (int i = 0; i < 16; i++)
		r.rkid.b[i] = (uint8_t)(0xa0 + i);
	cr_assert_eq(ss_kds_req_encode(&r, buf, SS_KDS_REQ_MAX, &n), SS_OK);
	return n;
}

static ss_status parse(const uint8_t *buf, size_t n, ss_kds_req *r)
{
	char why[128] = "";
	ss_status st = ss_kds_req_parse(buf, n, r, why, sizeof why);
	if (st != SS_OK)
		cr_assert(why[0] != '\0', "every refusal says why");
	return st;
}

Test(kds_proto, request_round_trip)
{
	uint8_t buf[SS_KDS_REQ_MAX];
	ss_kds_req r;
	size_t n = make_req(buf, "db-servers", (ss_gkid){ 361, 26, 24 }, 1);

	cr_assert_eq(n, SS_KDS_HDR + 1 + 10 + 12 + 1 + 16);
	cr_assert_eq(memcmp(buf, "SKDS\x01\x01", 6), 0);
	cr_assert_eq(parse(buf, n, &r), SS_OK);
	cr_assert_str_eq(r.group, "db-servers");
	cr_assert_eq(r.gkid.l0, 361);
	cr_assert_eq(r.gkid.l1, 26);
	cr_assert_eq(r.gkid.l2, 24);
	cr_assert_eq(r.has_rkid, 1);
	cr_assert_eq(r.rkid.b[15], 0xaf);
	n = make_req(buf, "g", SS_GKID_NONE, 0);
	cr_assert_eq(parse(buf, n, &r), SS_OK);
	cr_assert_eq(r.has_rkid, 0);
	cr_assert_eq(r.gkid.l0, -1);
}

Test(kds_proto, frame_prefixes_are_incomplete)
{
	uint8_t buf[SS_KDS_REQ_MAX];
	size_t n = make_req(buf, "db", (ss_gkid){ 1, 2, 3 }, 0), bl, fl;
	ss_kds_type t;
	const uint8_t *b;

	for (size_t i = 0; i < n; i++)
		cr_assert_eq(ss_kds_frame(buf, i, &t, &b, &bl, &fl, NULL, 0), SS_INCOMPLETE_MESSAGE,
		             "prefix %zu", i);
	cr_assert_eq(ss_kds_frame(buf, n, &t, &b, &bl, &fl, NULL, 0), SS_OK);
	cr_assert_eq(fl, n);
	cr_assert_eq(t, SS_KDS_T_GET_KEY);
	/* a pipelined second frame does not change the first */
	cr_assert_eq(ss_kds_frame(buf, n + 1, &t, &b, &bl, &fl, NULL, 0), SS_OK);
	cr_assert_eq(fl, n);
}

Test(kds_proto, bad_magic)
{
	uint8_t buf[SS_KDS_REQ_MAX];
	ss_kds_req r;
	size_t n = make_req(buf, "db", SS_GKID_NONE, 0), bl, fl;
	ss_kds_type t;
	const uint8_t *b;
	buf[0] = 'G';   /* "GET /" is refused at its first byte */
	cr_assert_eq(ss_kds_frame(buf, 1, &t, &b, &bl, &fl, NULL, 0), SS_DECODE_ERROR);
	cr_assert_eq(parse(buf, n, &r), SS_DECODE_ERROR);
	buf[0] = 'S';
	buf[3] = 'X';
	cr_assert_eq(parse(buf, n, &r), SS_DECODE_ERROR);
}

Test(kds_proto, bad_version)
{
	uint8_t buf[SS_KDS_REQ_MAX];
	ss_kds_req r;
	size_t n = make_req(buf, "db", SS_GKID_NONE, 0);
	buf[4] = 2;
	cr_assert_eq(parse(buf, n, &r), SS_DECODE_ERROR);
	buf[4] = 0;
	cr_assert_eq(parse(buf, n, &r), SS_DECODE_ERROR);
}

Test(kds_proto, bad_type)
{
	uint8_t buf[SS_KDS_REQ_MAX];
	ss_kds_req r;
	size_t n = make_req(buf, "db", SS_GKID_NONE, 0);
	buf[5] = 0;
	cr_assert_eq(parse(buf, n, &r), SS_DECODE_ERROR);
	buf[5] = 3;
	cr_assert_eq(parse(buf, n, &r), SS_DECODE_ERROR);
	buf[5] = SS_KDS_T_ANSWER;   /* a known type, but not a request */
	cr_assert_eq(parse(buf, n, &r), SS_DECODE_ERROR);
}

Test(kds_proto, body_length_bounds)
{
	uint8_t buf[SS_KDS_REQ_MAX + 4];
	ss_kds_req r;
	size_t n = make_req(buf, "db", SS_GKID_NONE, 0), bl, fl;
	ss_kds_type t;
	const uint8_t *b;
	/* over 64 KiB: refused from the header alone */
	buf[6] = 0; buf[7] = 1; buf[8] = 0; buf[9] = 1;
	cr_assert_eq(ss_kds_frame(buf, SS_KDS_HDR, &t, &b, &bl, &fl, NULL, 0), SS_DECODE_ERROR);
	buf[6] = 0xff;
	cr_assert_eq(ss_kds_frame(buf, SS_KDS_HDR, &t, &b, &bl, &fl, NULL, 0), SS_DECODE_ERROR);
	/* longer than the bytes given: a truncated whole frame */
	n = make_req(buf, "db", SS_GKID_NONE, 0);
	buf[9] += 1;
	cr_assert_eq(parse(buf, n, &r), SS_DECODE_ERROR);
	/* shorter: trailing bytes after the frame */
	buf[9] -= 2;
	cr_assert_eq(parse(buf, n, &r), SS_DECODE_ERROR);
	/* bytes after the body inside the length */
	n = make_req(buf, "db", SS_GKID_NONE, 0);
	buf[9] += 1;
	buf[n] = 0;
	cr_assert_eq(parse(buf, n + 1, &r), SS_DECODE_ERROR);
}

Test(kds_proto, group_name)
{
	uint8_t buf[SS_KDS_REQ_MAX];
	ss_kds_req r;
	size_t n = make_req(buf, "db", SS_GKID_NONE, 0);
	buf[SS_KDS_HDR + 1] = '/';          /* not in [A-Za-z0-9._-] */
	cr_assert_eq(parse(buf, n, &r), SS_DECODE_ERROR);
	buf[SS_KDS_HDR + 1] = 0;            /* NUL inside the name */
	cr_assert_eq(parse(buf, n, &r), SS_DECODE_ERROR);
	n = make_req(buf, "db", SS_GKID_NONE, 0);
	buf[SS_KDS_HDR] = 200;              /* runs past the body */
	cr_assert_eq(parse(buf, n, &r), SS_DECODE_ERROR);
	buf[SS_KDS_HDR] = 0;                /* empty */
	cr_assert_eq(parse(buf, n, &r), SS_DECODE_ERROR);
	/* 65 bytes: over the bound even when the frame is consistent */
	{
		uint8_t big[SS_KDS_HDR + 1 + 65 + 13];
		memcpy(big, buf, SS_KDS_HDR);
		big[9] = 1 + 65 + 13;
		big[SS_KDS_HDR] = 65;
		memset(big + SS_KDS_HDR + 1, 'a', 65);
		memset(big + SS_KDS_HDR + 66, 0xff, 12);
		big[sizeof big - 1] = 0;
		cr_assert_eq(parse(big, sizeof big, &r), SS_DECODE_ERROR);
	}
	{
		ss_kds_req e = { .gkid = SS_GKID_NONE };
		size_t m;
		memset(e.group, 'a', SS_KDS_GROUP_MAX);
		cr_assert_eq(ss_kds_req_encode(&e, buf, sizeof buf, &m), SS_OK);
		cr_assert_eq(parse(buf, m, &r), SS_OK);
		cr_assert_eq(strlen(r.group), SS_KDS_GROUP_MAX);
		e.group[0] = ' ';
		cr_assert_eq(ss_kds_req_encode(&e, buf, sizeof buf, &m), SS_INVALID_TOKEN);
	}
}

Test(kds_proto, gkid_validity)
{
	static const ss_gkid bad[] = {
		{ -2, -1, -1 }, { 1, 32, 0 }, { 1, 0, 32 }, { 1, -2, -1 }, { -1, 0, -1 }, { 1, -1, 0 },
		{ INT32_MIN, 0, 0 }, { 1, 0, -5 },
	};
	uint8_t buf[SS_KDS_REQ_MAX];
	ss_kds_req r;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t n = make_req(buf, "db", (ss_gkid){ 1, 2, 3 }, 0);
		uint32_t v[3] = { (uint32_t)bad[i].l0, (uint32_t)bad[i].l1, (uint32_t)bad[i].l2 };
		for (int j = 0; j < 3; j++)
			for (int k = 0; k < 4; k++)
				buf[SS_KDS_HDR + 3 + 4 * j + k] = (uint8_t)(v[j] >> (24 - 8 * k));
		cr_assert_eq(parse(buf, n, &r), SS_DECODE_ERROR, "gkid %zu", i);
	}
	/* truncated GKID */
	size_t n = make_req(buf, "db", (ss_gkid){ 1, 2, 3 }, 0);
	buf[9] = 1 + 2 + 11;
	cr_assert_eq(parse(buf, SS_KDS_HDR + 14, &r), SS_DECODE_ERROR);
	(void)n;
}

Test(kds_proto, flags_and_root_key_id)
{
	uint8_t buf[SS_KDS_REQ_MAX];
	ss_kds_req r;
	size_t n = make_req(buf, "db", SS_GKID_NONE, 0);
	size_t fo = SS_KDS_HDR + 1 + 2 + 12;
	buf[fo] = 0x02;                     /* unknown flag */
	cr_assert_eq(parse(buf, n, &r), SS_DECODE_ERROR);
	buf[fo] = 0x80;
	cr_assert_eq(parse(buf, n, &r), SS_DECODE_ERROR);
	buf[fo] = SS_KDS_FLAG_RKID;         /* flag set, id missing */
	cr_assert_eq(parse(buf, n, &r), SS_DECODE_ERROR);
	/* flags missing altogether */
	buf[fo] = 0;
	buf[9] -= 1;
	cr_assert_eq(parse(buf, n - 1, &r), SS_DECODE_ERROR);
	/* id present but flag clear: trailing bytes */
	n = make_req(buf, "db", SS_GKID_NONE, 1);
	buf[fo] = 0;
	cr_assert_eq(parse(buf, n, &r), SS_DECODE_ERROR);
	/* id cut short */
	n = make_req(buf, "db", SS_GKID_NONE, 1);
	buf[9] -= 1;
	cr_assert_eq(parse(buf, n - 1, &r), SS_DECODE_ERROR);
}

static size_t make_env(uint8_t *out, size_t cap)
{
	static uint8_t key[SS_GKDI_KEY_LEN] = { 1 };
	ss_gkdi_root root = { .hash = SS_GKDI_SHA512, .key = key };
	ss_gkdi_answer ans;
	ss_gkdi_env env;
	uint8_t scratch[SS_GKDI_SCRATCH];
	size_t n;
	cr_assert_eq(ss_gkdi_get_key(&root, (const uint8_t *)"sd", 2, 0, SS_GKID_NONE,
	                             (ss_gkid){ 361, 26, 24 }, &ans), SS_OK);
	cr_assert_eq(ss_gkdi_env_from_answer(&ans, &root, "example.org", "example.org", &env,
	                                     scratch, sizeof scratch), SS_OK);
	cr_assert_eq(ss_gkdi_env_encode(&env, out, cap, &n, NULL, 0), SS_OK);
	ss_gkdi_answer_clear(&ans);
	return n;
}

Test(kds_proto, answer_round_trip_and_refusals)
{
	uint8_t env[SS_GKDI_ENV_MAX], buf[SS_GKDI_ENV_MAX + 64];
	size_t el = make_env(env, sizeof env), n;
	ss_kds_answer a;
	char why[128];

	cr_assert_eq(ss_kds_answer_encode(SS_KDS_OK, env, el, buf, sizeof buf, &n), SS_OK);
	cr_assert_eq(ss_kds_answer_parse(buf, n, &a, why, sizeof why), SS_OK);
	cr_assert_eq(a.code, SS_KDS_OK);
	cr_assert_eq(a.env_len, el);
	cr_assert_eq(memcmp(a.env, env, el), 0);
	/* a corrupted envelope (bad magic "KDSK") is refused */
	buf[SS_KDS_HDR + 5 + 4] ^= 1;
	cr_assert_eq(ss_kds_answer_parse(buf, n, &a, why, sizeof why), SS_DECODE_ERROR);
	buf[SS_KDS_HDR + 5 + 4] ^= 1;
	/* envelope length past the body, and below the 80-byte header */
	buf[SS_KDS_HDR + 4] += 1;
	cr_assert_eq(ss_kds_answer_parse(buf, n, &a, why, sizeof why), SS_DECODE_ERROR);
	buf[SS_KDS_HDR + 4] -= 1;
	cr_assert_eq(ss_kds_answer_encode(SS_KDS_OK, env, 79, buf, sizeof buf, &n), SS_INVALID_TOKEN);
	/* every error code round-trips with no envelope */
	for (int c = 1; c < SS_KDS_CODE_COUNT_; c++) {
		cr_assert_eq(ss_kds_answer_encode((ss_kds_code)c, NULL, 0, buf, sizeof buf, &n), SS_OK);
		cr_assert_eq(n, SS_KDS_HDR + 1);
		cr_assert_eq(ss_kds_answer_parse(buf, n, &a, why, sizeof why), SS_OK);
		cr_assert_eq((int)a.code, c);
		cr_assert_not_null(ss_kds_code_name(a.code));
		cr_assert_null(a.env);
	}
	/* an unknown status, a status with an envelope after it, a missing status */
	buf[SS_KDS_HDR] = SS_KDS_CODE_COUNT_;
	cr_assert_eq(ss_kds_answer_parse(buf, n, &a, why, sizeof why), SS_DECODE_ERROR);
	cr_assert_eq(ss_kds_answer_encode(SS_KDS_NOT_MEMBER, env, el, buf, sizeof buf, &n),
	             SS_INVALID_TOKEN);
	cr_assert_eq(ss_kds_answer_encode(SS_KDS_OK, NULL, 0, buf, sizeof buf, &n), SS_INVALID_TOKEN);
	cr_assert_eq(ss_kds_answer_encode(SS_KDS_NOT_MEMBER, NULL, 0, buf, sizeof buf, &n), SS_OK);
	buf[9] = 2;
	buf[SS_KDS_HDR + 1] = 0;
	cr_assert_eq(ss_kds_answer_parse(buf, n + 1, &a, why, sizeof why), SS_DECODE_ERROR);
	buf[9] = 0;
	cr_assert_eq(ss_kds_answer_parse(buf, SS_KDS_HDR, &a, why, sizeof why), SS_DECODE_ERROR);
	/* a request frame is not an answer */
	n = make_req(buf, "db", SS_GKID_NONE, 0);
	cr_assert_eq(ss_kds_answer_parse(buf, n, &a, why, sizeof why), SS_DECODE_ERROR);
	/* small output buffers */
	cr_assert_eq(ss_kds_answer_encode(SS_KDS_OK, env, el, buf, el, &n), SS_BUFFER_TOO_SMALL);
	cr_assert_null(ss_kds_code_name(SS_KDS_CODE_COUNT_));
}
