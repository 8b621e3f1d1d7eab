/* test_ctx.c — security contexts (core/ss_ctx.c, ss_cred.c): two cores
 * handshake in one process over buffers, then move to the record layer.
 *
 * The pump below plays the network: what one side outputs becomes the other
 * side's input, delivered all at once or a few bytes at a time.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>

#include <openssl/ssl.h>
#include <sodium.h>

#include "ss_ctx.h"
#include "ss_rec.h"
#include "ss_hostkey.h"

static const uint16_t all_suites[] = {
	SS_SUITE_AES_128_GCM_SHA256, SS_SUITE_AES_256_GCM_SHA384, SS_SUITE_CHACHA20_POLY1305_SHA256
};
static const uint16_t all_groups[] = { SS_GROUP_X25519, SS_GROUP_P256, SS_GROUP_P384 };

enum { INBOX_CAP = 1 << 16 };

static uint8_t psk_a[32], psk_b[32];

static void init_keys(void)
{
	cr_assert(sodium_init() >= 0);
	randombytes_buf(psk_a, sizeof psk_a);
	memcpy(psk_b, psk_a, sizeof psk_b);
	psk_b[7] ^= 0x01;   /* one bit off */
}

/* ------------------------------------------------------------ credentials */

typedef struct cred_opts {
	ss_peer_mode mode;
	ss_auth method;        /* one method, or NONE for the default */
	uint16_t suite;        /* 0 = default list */
	uint16_t group;        /* 0 = default list */
	const char *identity;
	const uint8_t *psk;
} cred_opts;

static ss_cred *mk_cred(unsigned use, const cred_opts *o)
{
	ss_cred_params p = { 0 };
	ss_cred *c = NULL;

	p.use = use;
	p.mode = o->mode;
	p.methods[0] = o->method;
	p.suites[0] = o->suite;
	p.groups[0] = o->group;
	p.psk_identity = o->identity ? o->identity : "client-7";
	p.psk = o->psk ? o->psk : psk_a;
	p.psk_len = 32;
	cr_assert_eq(ss_cred_acquire(&p, &c), SS_OK, "acquire failed");
	cr_assert_not_null(c);
	return c;
}

/* ------------------------------------------------------------ the pump */

typedef struct side {
	ss_cred *cred;
	ss_ctx *ctx;
	int server;
	unsigned req;
	const char *target;
	ss_status st;
	int done;
	int calls;
	unsigned attrs;
	int64_t expiry;
	uint8_t *inbox;        /* bytes the peer sent that we have not consumed */
	size_t in_len;
	size_t arrived;        /* how much of inbox has "arrived" (chunked delivery) */
	ss_buf last_out;       /* the last output token (an alert on failure) */
} side;

static void side_init(side *s, ss_cred *cred, int server, unsigned req)
{
	memset(s, 0, sizeof *s);
	s->cred = cred;
	s->server = server;
	s->req = req;
	s->st = SS_CONTINUE_NEEDED;
	s->inbox = malloc(INBOX_CAP);
	cr_assert_not_null(s->inbox);
}

static void side_fini(side *s)
{
	ss_ctx_free(s->ctx);
	ss_cred_free(s->cred);
	ss_buf_free(&s->last_out);
	free(s->inbox);
}

static void deliver(side *to, const uint8_t *d, size_t n)
{
	cr_assert(to->in_len + n <= INBOX_CAP);
	if (n > 0)
		memcpy(to->inbox + to->in_len, d, n);
	to->in_len += n;
}

/* One call on side s with the bytes that have arrived; what it outputs goes
 * to peer. */
static void side_call(side *s, side *peer)
{
	size_t used = 12345;
	ss_buf *out = &s->last_out;

	if (s->server)
		s->st = ss_ctx_accept(s->cred, &s->ctx, s->req, s->inbox, s->arrived, &used, out,
		                      &s->attrs, &s->expiry);
	else
		s->st = ss_ctx_initialize(s->cred, &s->ctx, s->target, s->req, s->inbox, s->arrived,
		                          &used, out, &s->attrs, &s->expiry);
	s->calls++;
	cr_assert(used <= s->arrived, "in_used %zu beyond input %zu", used, s->arrived);
	if (s->st == SS_INCOMPLETE_MESSAGE)
		cr_assert_eq(out->len, 0, "INCOMPLETE_MESSAGE with output");
	memmove(s->inbox, s->inbox + used, s->in_len - used);
	s->in_len -= used;
	s->arrived -= used;
	if (s->st != SS_CONTINUE_NEEDED && s->st != SS_INCOMPLETE_MESSAGE)
		s->done = 1;
	deliver(peer, out->data, out->len);
}

/* Run the token loop until both sides stop (success or failure).  chunk = 0
 * delivers everything at once, otherwise chunk bytes per call. */
static void pump(side *c, side *s, size_t chunk)
{
	side_call(c, s);   /* the ClientHello */
	for (int round = 0; round < 200000; round++) {
		int progress = 0;
		side *order[2] = { s, c };
		for (int i = 0; i < 2; i++) {
			side *x = order[i], *peer = x == s ? c : s;
			if (x->done || x->arrived == x->in_len)
				continue;
			x->arrived = chunk == 0 || x->in_len - x->arrived < chunk ? x->in_len
			                                                         : x->arrived + chunk;
			side_call(x, peer);
			progress = 1;
		}
		if (!progress)
			break;
	}
}

/* ------------------------------------------------------------ record check */

/* Export both ends and send one record each way through ss_rec. */
static void exchange_records(side *c, side *s)
{
	ss_rec_state cst, sst;
	ss_rec *cr = NULL, *sr = NULL;
	uint8_t rec[256], pt[SS_REC_MAX_PLAINTEXT], ct = 0;
	size_t n = 0, used = 0, pt_len = 0;
	static const char ping[] = "ping from the client", pong[] = "pong from the server";

	cr_assert_eq(ss_ctx_export(c->ctx, &cst), SS_OK);
	cr_assert_eq(ss_ctx_export(s->ctx, &sst), SS_OK);
	cr_assert_eq(ss_rec_new(&cst, &cr), SS_OK);
	cr_assert_eq(ss_rec_new(&sst, &sr), SS_OK);

	cr_assert_eq(ss_rec_seal(cr, SS_CT_APPLICATION_DATA, (const uint8_t *)ping, sizeof ping,
	                         rec, sizeof rec, &n), SS_OK);
	cr_assert_eq(ss_rec_open(sr, rec, n, &used, &ct, pt, sizeof pt, &pt_len), SS_OK);
	cr_assert_eq(used, n);
	cr_assert_eq(ct, SS_CT_APPLICATION_DATA);
	cr_assert_eq(pt_len, sizeof ping);
	cr_assert_arr_eq(pt, ping, sizeof ping);

	cr_assert_eq(ss_rec_seal(sr, SS_CT_APPLICATION_DATA, (const uint8_t *)pong, sizeof pong,
	                         rec, sizeof rec, &n), SS_OK);
	cr_assert_eq(ss_rec_open(cr, rec, n, &used, &ct, pt, sizeof pt, &pt_len), SS_OK);
	cr_assert_eq(pt_len, sizeof pong);
	cr_assert_arr_eq(pt, pong, sizeof pong);

	/* a record sealed by the client does not open as the client's own rx */
	cr_assert_eq(ss_rec_seal(cr, SS_CT_APPLICATION_DATA, (const uint8_t *)ping, sizeof ping,
	                         rec, sizeof rec, &n), SS_OK);
	cr_assert_neq(ss_rec_open(cr, rec, n, &used, &ct, pt, sizeof pt, &pt_len), SS_OK);

	ss_rec_free(cr);
	ss_rec_free(sr);
	ss_rec_state_wipe(&cst);
	ss_rec_state_wipe(&sst);
}

static const unsigned REQ = SS_REQ_CONFIDENTIALITY | SS_REQ_INTEGRITY | SS_REQ_REPLAY_DETECT |
                            SS_REQ_SEQUENCE_DETECT | SS_REQ_STREAM | SS_REQ_EXTENDED_ERROR;

static void pair_up(side *c, side *s, const cred_opts *co, const cred_opts *so,
                    unsigned creq, unsigned sreq)
{
	side_init(c, mk_cred(SS_CRED_OUTBOUND, co), 0, creq);
	side_init(s, mk_cred(SS_CRED_INBOUND, so), 1, sreq);
}

/* ------------------------------------------------------------ matrix */

typedef struct hs_param {
	uint16_t suite;
	uint16_t group;
	ss_auth auth;
} hs_param;

ParameterizedTestParameters(ctx, matrix)
{
	static hs_param params[3 * 3 * 2];
	size_t n = 0;
	for (size_t i = 0; i < 3; i++)
		for (size_t j = 0; j < 3; j++)
			for (int a = 0; a < 2; a++)
				params[n++] = (hs_param){ all_suites[i], all_groups[j],
				                          a ? SS_AUTH_PSK : SS_AUTH_ANONYMOUS };
	return cr_make_param_array(hs_param, params, n);
}

ParameterizedTest(hs_param *p, ctx, matrix, .init = init_keys)
{
	cred_opts o = { .mode = SS_MODE_SECSOCK, .method = p->auth, .suite = p->suite, .group = p->group };
	side c, s;
	ss_ctx_info ci, si;
	int64_t now = (int64_t)time(NULL);

	pair_up(&c, &s, &o, &o, REQ, REQ);
	pump(&c, &s, 0);
	int64_t later = (int64_t)time(NULL);
	cr_assert_eq(c.st, SS_OK, "client %s", ss_status_name(c.st));
	cr_assert_eq(s.st, SS_OK, "server %s", ss_status_name(s.st));
	cr_assert_eq(c.in_len, 0);
	cr_assert_eq(s.in_len, 0);
	/* 1-RTT: ClientHello / server flight / client Finished */
	cr_assert_eq(c.calls, 2);
	cr_assert_eq(s.calls, 2);

	cr_assert_eq(ss_ctx_query(c.ctx, &ci), SS_OK);
	cr_assert_eq(ss_ctx_query(s.ctx, &si), SS_OK);
	for (int k = 0; k < 2; k++) {
		ss_ctx_info *in = k ? &si : &ci;
		side *x = k ? &s : &c;
		cr_assert_eq(in->suite, p->suite, "suite %#x", in->suite);
		cr_assert_eq(in->group, p->group, "group %u", in->group);
		cr_assert_eq(in->auth, p->auth);
		cr_assert_eq(in->mode, SS_MODE_SECSOCK);
		cr_assert_eq(in->attrs, x->attrs);
		cr_assert(in->attrs & SS_REQ_CONFIDENTIALITY);
		cr_assert(in->attrs & SS_REQ_INTEGRITY);
		cr_assert(in->attrs & SS_REQ_REPLAY_DETECT);
		cr_assert(in->attrs & SS_REQ_SEQUENCE_DETECT);
		cr_assert(in->attrs & SS_REQ_EXTENDED_ERROR);
		cr_assert_eq(in->mutual, p->auth == SS_AUTH_PSK);
		cr_assert_eq(!!(in->attrs & SS_REQ_MUTUAL_AUTH), p->auth == SS_AUTH_PSK);
		cr_assert_str_eq(in->peer, p->auth == SS_AUTH_PSK ? "client-7" : "anonymous");
		cr_assert_gt(in->handshake_usec, 0);
		cr_assert(x->expiry >= now + 7200 && x->expiry <= later + 7200, "expiry: now + 2 h");
	}
	exchange_records(&c, &s);
	/* after export: only query works */
	cr_assert_eq(ss_ctx_query(c.ctx, &ci), SS_OK);
	cr_assert_eq(ci.suite, p->suite);
	side_fini(&c);
	side_fini(&s);
}

/* The default credential lists agree with each other. */
Test(ctx, defaults, .init = init_keys)
{
	cred_opts o = { .mode = SS_MODE_SECSOCK };
	side c, s;
	ss_ctx_info ci;

	pair_up(&c, &s, &o, &o, 0, 0);
	pump(&c, &s, 0);
	cr_assert_eq(c.st, SS_OK);
	cr_assert_eq(s.st, SS_OK);
	cr_assert_eq(ss_ctx_query(c.ctx, &ci), SS_OK);
	cr_assert_eq(ci.suite, SS_SUITE_AES_128_GCM_SHA256);
	cr_assert_eq(ci.group, SS_GROUP_X25519);
	cr_assert_eq(ci.auth, SS_AUTH_ANONYMOUS);
	cr_assert_eq(ci.attrs & SS_REQ_EXTENDED_ERROR, 0, "not requested, not granted");
	exchange_records(&c, &s);
	side_fini(&c);
	side_fini(&s);
}

/* A target name is a requirement (seed 001 pszTargetName): a handshake that
 * ends anonymous or with a PSK proves no name, so the client fails with
 * SS_TARGET_UNKNOWN instead of succeeding with the name unchecked. */
Test(ctx, target_name_needs_a_method_that_proves_names, .init = init_keys)
{
	cred_opts anon = { .mode = SS_MODE_SECSOCK };
	cred_opts psk = { .mode = SS_MODE_SECSOCK, .method = SS_AUTH_PSK, .identity = "id", .psk = psk_a };
	const cred_opts *cases[] = { &anon, &psk };
	side c, s;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		pair_up(&c, &s, cases[i], cases[i], REQ, REQ);
		c.target = "srv.test";
		pump(&c, &s, 0);
		cr_assert_eq(c.st, SS_TARGET_UNKNOWN, "case %zu: client %s", i, ss_status_name(c.st));
		side_fini(&c);
		side_fini(&s);
		/* the same pair without a name: secured */
		pair_up(&c, &s, cases[i], cases[i], REQ, REQ);
		pump(&c, &s, 0);
		cr_assert_eq(c.st, SS_OK, "case %zu without a name: client %s", i, ss_status_name(c.st));
		side_fini(&c);
		side_fini(&s);
	}
}

/* psk preferred, anonymous allowed: psk is used when both know it; a server
 * that does not know the identity falls back to its anonymous certificate. */
Test(ctx, psk_then_anonymous_fallback, .init = init_keys)
{
	ss_cred_params cp = { .use = SS_CRED_OUTBOUND, .mode = SS_MODE_SECSOCK,
	                      .methods = { SS_AUTH_PSK, SS_AUTH_ANONYMOUS },
	                      .psk_identity = "someone-else", .psk = psk_a, .psk_len = 32 };
	cred_opts so = { .mode = SS_MODE_SECSOCK, .method = SS_AUTH_ANONYMOUS };
	ss_cred *cc = NULL;
	side c, s;
	ss_ctx_info ci, si;

	cr_assert_eq(ss_cred_acquire(&cp, &cc), SS_OK);
	side_init(&c, cc, 0, REQ);
	side_init(&s, mk_cred(SS_CRED_INBOUND, &so), 1, REQ);
	pump(&c, &s, 0);
	cr_assert_eq(c.st, SS_OK);
	cr_assert_eq(s.st, SS_OK);
	cr_assert_eq(ss_ctx_query(c.ctx, &ci), SS_OK);
	cr_assert_eq(ss_ctx_query(s.ctx, &si), SS_OK);
	cr_assert_eq(ci.auth, SS_AUTH_ANONYMOUS);
	cr_assert_eq(si.auth, SS_AUTH_ANONYMOUS);
	cr_assert_eq(ci.mutual, 0);
	side_fini(&c);
	side_fini(&s);
}

/* HelloRetryRequest: the client's first key share is for a group the server
 * does not take; the PSK must be re-offered with the negotiated hash. */
Test(ctx, hello_retry_psk_sha384, .init = init_keys)
{
	ss_cred_params cp = { .use = SS_CRED_OUTBOUND, .mode = SS_MODE_SECSOCK,
	                      .methods = { SS_AUTH_PSK },
	                      .suites = { SS_SUITE_AES_256_GCM_SHA384 },
	                      .groups = { SS_GROUP_X25519, SS_GROUP_P384 },
	                      .psk_identity = "client-7", .psk = psk_a, .psk_len = 32 };
	cred_opts so = { .mode = SS_MODE_SECSOCK, .method = SS_AUTH_PSK,
	                 .suite = SS_SUITE_AES_256_GCM_SHA384, .group = SS_GROUP_P384 };
	ss_cred *cc = NULL;
	side c, s;
	ss_ctx_info si;

	cr_assert_eq(ss_cred_acquire(&cp, &cc), SS_OK);
	side_init(&c, cc, 0, REQ);
	side_init(&s, mk_cred(SS_CRED_INBOUND, &so), 1, REQ);
	pump(&c, &s, 0);
	cr_assert_eq(c.st, SS_OK, "%s", ss_status_name(c.st));
	cr_assert_eq(s.st, SS_OK, "%s", ss_status_name(s.st));
	cr_assert_eq(c.calls, 3, "HRR costs the client one more call");
	cr_assert_eq(ss_ctx_query(s.ctx, &si), SS_OK);
	cr_assert_eq(si.group, SS_GROUP_P384);
	cr_assert_eq(si.suite, SS_SUITE_AES_256_GCM_SHA384);
	cr_assert_eq(si.auth, SS_AUTH_PSK);
	exchange_records(&c, &s);
	side_fini(&c);
	side_fini(&s);
}

/* ------------------------------------------------------------ failures */

static void expect_fail(const cred_opts *co, const cred_opts *so, ss_status cst, ss_status sst)
{
	side c, s;

	pair_up(&c, &s, co, so, REQ, REQ);
	pump(&c, &s, 0);
	cr_assert_eq(s.st, sst, "server %s, want %s", ss_status_name(s.st), ss_status_name(sst));
	cr_assert_eq(c.st, cst, "client %s, want %s", ss_status_name(c.st), ss_status_name(cst));
	side_fini(&c);
	side_fini(&s);
}

Test(ctx, wrong_psk, .init = init_keys)
{
	cred_opts co = { .mode = SS_MODE_SECSOCK, .method = SS_AUTH_PSK, .psk = psk_b };
	cred_opts so = { .mode = SS_MODE_SECSOCK, .method = SS_AUTH_PSK, .psk = psk_a };
	side c, s;

	expect_fail(&co, &so, SS_LOGON_DENIED, SS_LOGON_DENIED);
	cr_assert_eq(ss_status_category_of(SS_LOGON_DENIED), SS_CAT_AUTH);

	/* EXTENDED_ERROR: the server's token is its alert, decrypt_error (51) */
	pair_up(&c, &s, &co, &so, REQ, REQ);
	pump(&c, &s, 0);
	cr_assert_eq(s.st, SS_LOGON_DENIED);
	cr_assert_geq(s.last_out.len, 7);
	cr_assert_eq(s.last_out.data[0], SS_CT_ALERT);
	cr_assert_eq(s.last_out.data[5], 2);
	cr_assert_eq(s.last_out.data[6], 51);
	side_fini(&c);
	side_fini(&s);

	/* without EXTENDED_ERROR the server says nothing: the client stays waiting */
	pair_up(&c, &s, &co, &so, REQ, REQ & ~SS_REQ_EXTENDED_ERROR);
	pump(&c, &s, 0);
	cr_assert_eq(s.st, SS_LOGON_DENIED);
	cr_assert_eq(s.last_out.len, 0);
	cr_assert_eq(c.st, SS_CONTINUE_NEEDED);
	side_fini(&c);
	side_fini(&s);
}

Test(ctx, wrong_psk_sha384, .init = init_keys)
{
	cred_opts co = { .mode = SS_MODE_SECSOCK, .method = SS_AUTH_PSK, .psk = psk_b,
	                 .suite = SS_SUITE_AES_256_GCM_SHA384 };
	cred_opts so = { .mode = SS_MODE_SECSOCK, .method = SS_AUTH_PSK, .psk = psk_a,
	                 .suite = SS_SUITE_AES_256_GCM_SHA384 };
	expect_fail(&co, &so, SS_LOGON_DENIED, SS_LOGON_DENIED);
}

Test(ctx, unknown_psk_identity, .init = init_keys)
{
	cred_opts co = { .mode = SS_MODE_SECSOCK, .method = SS_AUTH_PSK, .identity = "stranger" };
	cred_opts so = { .mode = SS_MODE_SECSOCK, .method = SS_AUTH_PSK };
	expect_fail(&co, &so, SS_LOGON_DENIED, SS_LOGON_DENIED);
}

/* A psk-only client meets an anonymous server: the certificate is refused. */
Test(ctx, psk_client_refuses_certificate, .init = init_keys)
{
	cred_opts co = { .mode = SS_MODE_SECSOCK, .method = SS_AUTH_PSK };
	cred_opts so = { .mode = SS_MODE_SECSOCK, .method = SS_AUTH_ANONYMOUS };
	expect_fail(&co, &so, SS_LOGON_DENIED, SS_LOGON_DENIED);
}

/* psk bound to SHA-384 by the client, server can only do SHA-256 suites. */
Test(ctx, psk_hash_mismatch, .init = init_keys)
{
	ss_cred_params cp = { .use = SS_CRED_OUTBOUND, .mode = SS_MODE_SECSOCK,
	                      .methods = { SS_AUTH_PSK },
	                      .suites = { SS_SUITE_AES_256_GCM_SHA384, SS_SUITE_AES_128_GCM_SHA256 },
	                      .psk_identity = "client-7", .psk = psk_a, .psk_len = 32 };
	cred_opts so = { .mode = SS_MODE_SECSOCK, .method = SS_AUTH_PSK,
	                 .suite = SS_SUITE_AES_128_GCM_SHA256 };
	ss_cred *cc = NULL;
	side c, s;

	cr_assert_eq(ss_cred_acquire(&cp, &cc), SS_OK);
	side_init(&c, cc, 0, REQ);
	side_init(&s, mk_cred(SS_CRED_INBOUND, &so), 1, REQ);
	pump(&c, &s, 0);
	cr_assert_eq(s.st, SS_ALGORITHM_MISMATCH, "%s", ss_status_name(s.st));
	cr_assert_eq(c.st, SS_ALGORITHM_MISMATCH, "%s", ss_status_name(c.st));
	side_fini(&c);
	side_fini(&s);
}

Test(ctx, cipher_mismatch, .init = init_keys)
{
	for (int a = 0; a < 2; a++) {
		ss_auth m = a ? SS_AUTH_PSK : SS_AUTH_ANONYMOUS;
		cred_opts co = { .mode = SS_MODE_SECSOCK, .method = m, .suite = SS_SUITE_AES_128_GCM_SHA256 };
		cred_opts so = { .mode = SS_MODE_SECSOCK, .method = m, .suite = SS_SUITE_CHACHA20_POLY1305_SHA256 };
		expect_fail(&co, &so, SS_ALGORITHM_MISMATCH, SS_ALGORITHM_MISMATCH);
	}
}

Test(ctx, group_mismatch, .init = init_keys)
{
	for (int a = 0; a < 2; a++) {
		ss_auth m = a ? SS_AUTH_PSK : SS_AUTH_ANONYMOUS;
		cred_opts co = { .mode = SS_MODE_SECSOCK, .method = m, .group = SS_GROUP_X25519 };
		cred_opts so = { .mode = SS_MODE_SECSOCK, .method = m, .group = SS_GROUP_P256 };
		expect_fail(&co, &so, SS_ALGORITHM_MISMATCH, SS_ALGORITHM_MISMATCH);
	}
}

/* A client without ALPN (standard-TLS mode) at a secsock server. */
Test(ctx, no_alpn, .init = init_keys)
{
	cred_opts co = { .mode = SS_MODE_STANDARD_TLS };
	cred_opts so = { .mode = SS_MODE_SECSOCK };
	side c, s;

	pair_up(&c, &s, &co, &so, REQ, REQ);
	pump(&c, &s, 0);
	cr_assert_eq(s.st, SS_NOT_SECSOCK);
	cr_assert_eq(c.st, SS_NOT_SECSOCK, "no_application_protocol alert → %s", ss_status_name(c.st));
	cr_assert_eq(s.last_out.len, 7);
	cr_assert_eq(s.last_out.data[0], SS_CT_ALERT);
	cr_assert_eq(s.last_out.data[6], 120);
	side_fini(&c);
	side_fini(&s);
}

/* A secsock client at a server that answers without selecting secsock/1. */
Test(ctx, server_without_alpn, .init = init_keys)
{
	for (int ext = 0; ext < 2; ext++) {
		cred_opts co = { .mode = SS_MODE_SECSOCK };
		cred_opts so = { .mode = SS_MODE_STANDARD_TLS };
		side c, s;

		pair_up(&c, &s, &co, &so, ext ? REQ : 0, REQ);
		pump(&c, &s, 0);
		cr_assert_eq(c.st, SS_NOT_SECSOCK, "%s", ss_status_name(c.st));
		if (ext) {
			/* the client's alert, sealed under its handshake key, reaches the
			 * server as no_application_protocol */
			cr_assert_eq(c.last_out.len, SS_REC_OVERHEAD + 2);
			cr_assert_eq(c.last_out.data[0], SS_CT_APPLICATION_DATA);
			cr_assert_eq(s.st, SS_NOT_SECSOCK, "%s", ss_status_name(s.st));
		} else {
			cr_assert_eq(c.last_out.len, 0, "no Finished may go out");
			cr_assert_eq(s.st, SS_CONTINUE_NEEDED);
		}
		side_fini(&c);
		side_fini(&s);
	}
}

/* Drive a raw OpenSSL client (independent of ss_ctx) to get a ClientHello
 * offering the given ALPN list. */
static size_t openssl_client_hello(const unsigned char *alpn, unsigned alpn_len,
                                   uint8_t *buf, size_t cap)
{
	SSL_CTX *sc = SSL_CTX_new(TLS_client_method());
	SSL *ssl = SSL_new(sc);
	BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
	int n;

	SSL_set_bio(ssl, r, w);
	SSL_set_connect_state(ssl);
	if (alpn)
		cr_assert_eq(SSL_set_alpn_protos(ssl, alpn, alpn_len), 0);
	cr_assert_leq(SSL_do_handshake(ssl), 0);
	n = BIO_read(w, buf, (int)cap);
	cr_assert_gt(n, 0);
	SSL_free(ssl);
	SSL_CTX_free(sc);
	return (size_t)n;
}

Test(ctx, wrong_alpn, .init = init_keys)
{
	static const unsigned char h2[] = "\x02h2\x08http/1.1";
	cred_opts so = { .mode = SS_MODE_SECSOCK };
	ss_cred *sc = mk_cred(SS_CRED_INBOUND, &so);
	ss_ctx *ctx = NULL;
	ss_buf out = { 0 };
	uint8_t hello[4096];
	size_t n = openssl_client_hello(h2, sizeof h2 - 1, hello, sizeof hello), used = 0;

	cr_assert_eq(ss_hello_classify(hello, n), SS_HELLO_TLS);
	cr_assert_eq(ss_ctx_accept(sc, &ctx, SS_REQ_EXTENDED_ERROR, hello, n, &used, &out, NULL, NULL),
	             SS_NOT_SECSOCK);
	cr_assert_eq(used, n);
	cr_assert_eq(out.len, 7);
	cr_assert_eq(out.data[6], 120);
	ss_ctx_free(ctx);
	ss_buf_free(&out);
	ss_cred_free(sc);
}

Test(ctx, garbage_token_to_server, .init = init_keys)
{
	static const struct { const char *name; const uint8_t *d; size_t n; } cases[] = {
		{ "handshake record, junk body", (const uint8_t *)"\x16\x03\x01\x00\x05hello", 10 },
		{ "not a ClientHello", (const uint8_t *)"\x16\x03\x03\x00\x04\x02\x00\x00\x00", 9 },
		{ "application data first", (const uint8_t *)"\x17\x03\x03\x00\x01x", 6 },
		{ "oversized record", (const uint8_t *)"\x16\x03\x03\xff\xff", 5 },
		{ "zero-length record", (const uint8_t *)"\x16\x03\x03\x00\x00", 5 },
		{ "HTTP request", (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18 },
	};
	cred_opts so = { .mode = SS_MODE_SECSOCK };
	ss_cred *sc = mk_cred(SS_CRED_INBOUND, &so);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ss_ctx *ctx = NULL;
		ss_buf out = { 0 };
		size_t used = 0;
		ss_status st = ss_ctx_accept(sc, &ctx, 0, cases[i].d, cases[i].n, &used, &out, NULL, NULL);
		cr_assert_eq(st, SS_INVALID_TOKEN, "%s: %s", cases[i].name, ss_status_name(st));
		cr_assert_eq(ss_status_category_of(st), SS_CAT_PROTOCOL);
		/* the failed context refuses further use */
		cr_assert_eq(ss_ctx_accept(sc, &ctx, 0, cases[i].d, cases[i].n, &used, &out, NULL, NULL),
		             SS_INVALID_HANDLE);
		ss_ctx_free(ctx);
		ss_buf_free(&out);
	}
	ss_cred_free(sc);
}

/* The client's second input is not a ServerHello. */
Test(ctx, garbage_token_to_client, .init = init_keys)
{
	static const struct { const char *name; const uint8_t *d; size_t n; ss_status want; } cases[] = {
		{ "HTTP response", (const uint8_t *)"HTTP/1.0 200 OK\r\n\r\n", 19, SS_NOT_SECSOCK },
		{ "SSH banner", (const uint8_t *)"SSH-2.0-OpenSSH_9.2\r\n", 21, SS_NOT_SECSOCK },
		{ "one clear byte", (const uint8_t *)"H", 1, SS_NOT_SECSOCK },
		{ "handshake type, bad version", (const uint8_t *)"\x16\x09\x03\x00\x01x", 6, SS_NOT_SECSOCK },
		{ "bogus ServerHello", (const uint8_t *)"\x16\x03\x03\x00\x04\x02\x00\x00\x00", 9, SS_INVALID_TOKEN },
		{ "oversized record", (const uint8_t *)"\x16\x03\x03\x48\x01", 5, SS_INVALID_TOKEN },
		{ "junk handshake body", (const uint8_t *)"\x16\x03\x03\x00\x06\x02\x00\x00\x02\xff\xff", 11, SS_INVALID_TOKEN },
	};
	cred_opts co = { .mode = SS_MODE_SECSOCK };
	ss_cred *cc = mk_cred(SS_CRED_OUTBOUND, &co);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ss_ctx *ctx = NULL;
		ss_buf out = { 0 };
		size_t used = 0;
		ss_status st;

		cr_assert_eq(ss_ctx_initialize(cc, &ctx, NULL, 0, NULL, 0, &used, &out, NULL, NULL),
		             SS_CONTINUE_NEEDED);
		cr_assert_gt(out.len, 0);
		cr_assert_eq(ss_hello_classify(out.data, out.len), SS_HELLO_SECSOCK);
		st = ss_ctx_initialize(cc, &ctx, NULL, 0, cases[i].d, cases[i].n, &used, &out, NULL, NULL);
		cr_assert_eq(st, cases[i].want, "%s: %s", cases[i].name, ss_status_name(st));
		cr_assert_eq(ss_ctx_initialize(cc, &ctx, NULL, 0, cases[i].d, cases[i].n, &used, &out,
		                               NULL, NULL), SS_INVALID_HANDLE);
		ss_ctx_free(ctx);
		ss_buf_free(&out);
	}
	ss_cred_free(cc);
}

/* ------------------------------------------------------------ delivery */

Test(ctx, one_byte_at_a_time, .init = init_keys)
{
	for (int a = 0; a < 2; a++) {
		cred_opts o = { .mode = SS_MODE_SECSOCK, .method = a ? SS_AUTH_PSK : SS_AUTH_ANONYMOUS };
		side c, s;

		pair_up(&c, &s, &o, &o, REQ, REQ);
		pump(&c, &s, 1);
		cr_assert_eq(c.st, SS_OK, "%s", ss_status_name(c.st));
		cr_assert_eq(s.st, SS_OK, "%s", ss_status_name(s.st));
		cr_assert_gt(c.calls, 100, "the server flight arrived byte by byte");
		exchange_records(&c, &s);
		side_fini(&c);
		side_fini(&s);
	}
}

Test(ctx, odd_chunks, .init = init_keys)
{
	for (size_t chunk = 2; chunk < 700; chunk = chunk * 3 + 1) {
		cred_opts o = { .mode = SS_MODE_SECSOCK, .method = SS_AUTH_PSK, .suite = SS_SUITE_AES_256_GCM_SHA384 };
		side c, s;
		pair_up(&c, &s, &o, &o, REQ, REQ);
		pump(&c, &s, chunk);
		cr_assert_eq(c.st, SS_OK, "chunk %zu: %s", chunk, ss_status_name(c.st));
		cr_assert_eq(s.st, SS_OK, "chunk %zu: %s", chunk, ss_status_name(s.st));
		exchange_records(&c, &s);
		side_fini(&c);
		side_fini(&s);
	}
}

/* A truncated server flight: INCOMPLETE_MESSAGE with in_used at the last
 * record boundary, then success once the rest arrives. */
Test(ctx, truncated_then_completed, .init = init_keys)
{
	cred_opts o = { .mode = SS_MODE_SECSOCK };
	ss_cred *cc = mk_cred(SS_CRED_OUTBOUND, &o), *sc = mk_cred(SS_CRED_INBOUND, &o);
	ss_ctx *c = NULL, *s = NULL;
	ss_buf co = { 0 }, so = { 0 }, fin = { 0 };
	size_t used = 0, rec1;

	cr_assert_eq(ss_ctx_initialize(cc, &c, NULL, REQ, NULL, 0, &used, &co, NULL, NULL), SS_CONTINUE_NEEDED);
	/* the ClientHello minus its last byte, then whole */
	cr_assert_eq(ss_ctx_accept(sc, &s, REQ, co.data, co.len - 1, &used, &so, NULL, NULL),
	             SS_INCOMPLETE_MESSAGE);
	cr_assert_eq(used, 0);
	cr_assert_eq(so.len, 0);
	cr_assert_eq(ss_ctx_accept(sc, &s, REQ, co.data, co.len, &used, &so, NULL, NULL),
	             SS_CONTINUE_NEEDED);
	cr_assert_eq(used, co.len);
	cr_assert_gt(so.len, 100);

	/* the server flight is several records; cut inside the second */
	rec1 = 5 + ((size_t)so.data[3] << 8 | so.data[4]);
	cr_assert_lt(rec1 + 10, so.len);
	cr_assert_eq(ss_ctx_initialize(cc, &c, NULL, REQ, so.data, rec1 + 7, &used, &fin, NULL, NULL),
	             SS_INCOMPLETE_MESSAGE);
	cr_assert_eq(used, rec1, "consumed exactly the whole first record");
	cr_assert_eq(fin.len, 0);
	cr_assert_eq(ss_ctx_initialize(cc, &c, NULL, REQ, so.data + used, 3, &used, &fin, NULL, NULL),
	             SS_INCOMPLETE_MESSAGE);
	cr_assert_eq(used, 0);
	cr_assert_eq(ss_ctx_initialize(cc, &c, NULL, REQ, so.data + rec1, so.len - rec1, &used, &fin,
	                               NULL, NULL), SS_OK);
	cr_assert_eq(used, so.len - rec1);
	cr_assert_gt(fin.len, 0);
	cr_assert_eq(ss_ctx_accept(sc, &s, REQ, fin.data, fin.len, &used, &so, NULL, NULL), SS_OK);
	cr_assert_eq(so.len, 0, "no session tickets from a secsock server");

	ss_ctx_free(c);
	ss_ctx_free(s);
	ss_buf_free(&co);
	ss_buf_free(&so);
	ss_buf_free(&fin);
	ss_cred_free(cc);
	ss_cred_free(sc);
}

/* Application data right behind the client's Finished stays with the caller. */
Test(ctx, in_used_stops_at_finished, .init = init_keys)
{
	cred_opts o = { .mode = SS_MODE_SECSOCK, .method = SS_AUTH_PSK };
	ss_cred *cc = mk_cred(SS_CRED_OUTBOUND, &o), *sc = mk_cred(SS_CRED_INBOUND, &o);
	ss_ctx *c = NULL, *s = NULL;
	ss_buf co = { 0 }, so = { 0 };
	ss_rec_state cst, sst;
	ss_rec *cr = NULL, *sr = NULL;
	uint8_t wire[4096], pt[SS_REC_MAX_PLAINTEXT], ct;
	size_t used = 0, fin_len, n, pt_len;
	static const char msg[] = "first application bytes";

	cr_assert_eq(ss_ctx_initialize(cc, &c, NULL, REQ, NULL, 0, &used, &co, NULL, NULL), SS_CONTINUE_NEEDED);
	cr_assert_eq(ss_ctx_accept(sc, &s, REQ, co.data, co.len, &used, &so, NULL, NULL), SS_CONTINUE_NEEDED);
	/* the server's flight with application data glued behind it */
	cr_assert_eq(ss_ctx_initialize(cc, &c, NULL, REQ, so.data, so.len, &used, &co, NULL, NULL), SS_OK);
	fin_len = co.len;
	memcpy(wire, co.data, fin_len);
	cr_assert_eq(ss_ctx_export(c, &cst), SS_OK);
	cr_assert_eq(ss_rec_new(&cst, &cr), SS_OK);
	cr_assert_eq(ss_rec_seal(cr, SS_CT_APPLICATION_DATA, (const uint8_t *)msg, sizeof msg,
	                         wire + fin_len, sizeof wire - fin_len, &n), SS_OK);
	cr_assert_eq(ss_ctx_accept(sc, &s, REQ, wire, fin_len + n, &used, &so, NULL, NULL), SS_OK);
	cr_assert_eq(used, fin_len, "in_used %zu, Finished %zu", used, fin_len);
	cr_assert_eq(ss_ctx_export(s, &sst), SS_OK);
	cr_assert_eq(ss_rec_new(&sst, &sr), SS_OK);
	cr_assert_eq(ss_rec_open(sr, wire + used, n, &n, &ct, pt, sizeof pt, &pt_len), SS_OK);
	cr_assert_eq(pt_len, sizeof msg);
	cr_assert_arr_eq(pt, msg, sizeof msg);

	/* after export the context only answers queries */
	cr_assert_eq(ss_ctx_accept(sc, &s, REQ, wire, 5, &used, &so, NULL, NULL), SS_INVALID_HANDLE);
	cr_assert_eq(ss_ctx_export(s, &sst), SS_INVALID_HANDLE);

	ss_rec_free(cr);
	ss_rec_free(sr);
	ss_rec_state_wipe(&cst);
	ss_rec_state_wipe(&sst);
	ss_ctx_free(c);
	ss_ctx_free(s);
	ss_buf_free(&co);
	ss_buf_free(&so);
	ss_cred_free(cc);
	ss_cred_free(sc);
}

/* ------------------------------------------------------------ usage errors */

Test(ctx, usage_errors, .init = init_keys)
{
	cred_opts o = { .mode = SS_MODE_SECSOCK };
	ss_cred *cc = mk_cred(SS_CRED_OUTBOUND, &o), *sc = mk_cred(SS_CRED_INBOUND, &o);
	ss_ctx *c = NULL, *s = NULL;
	ss_buf out = { 0 };
	ss_ctx_info info;
	ss_rec_state st;
	size_t used;

	cr_assert_eq(ss_ctx_initialize(cc, &c, NULL, SS_REQ_DELEGATE, NULL, 0, &used, &out, NULL, NULL),
	             SS_UNSUPPORTED_FUNCTION);
	cr_assert_null(c);
	cr_assert_eq(ss_ctx_initialize(NULL, &c, NULL, 0, NULL, 0, &used, &out, NULL, NULL), SS_INVALID_HANDLE);
	cr_assert_eq(ss_ctx_initialize(cc, NULL, NULL, 0, NULL, 0, &used, &out, NULL, NULL), SS_INVALID_HANDLE);
	cr_assert_eq(ss_ctx_initialize(cc, &c, NULL, 0, NULL, 0, &used, NULL, NULL, NULL), SS_INVALID_HANDLE);
	/* seed 001: ISC needs an OUTBOUND credential, ASC an INBOUND one */
	cr_assert_eq(ss_ctx_initialize(sc, &c, NULL, 0, NULL, 0, &used, &out, NULL, NULL), SS_NO_CREDENTIALS);
	cr_assert_eq(ss_ctx_accept(cc, &s, 0, NULL, 0, &used, &out, NULL, NULL), SS_NO_CREDENTIALS);
	cr_assert_null(s);

	cr_assert_eq(ss_ctx_initialize(cc, &c, NULL, 0, NULL, 0, &used, &out, NULL, NULL), SS_CONTINUE_NEEDED);
	/* wrong role, not yet established */
	cr_assert_eq(ss_ctx_accept(sc, &c, 0, out.data, out.len, &used, &out, NULL, NULL), SS_INVALID_HANDLE);
	cr_assert_eq(ss_ctx_query(c, &info), SS_INVALID_HANDLE);
	cr_assert_eq(ss_ctx_export(c, &st), SS_INVALID_HANDLE);
	cr_assert_eq(ss_ctx_query(NULL, &info), SS_INVALID_HANDLE);
	cr_assert_eq(ss_ctx_export(NULL, &st), SS_INVALID_HANDLE);
	/* the server waits for bytes */
	cr_assert_eq(ss_ctx_accept(sc, &s, 0, NULL, 0, &used, &out, NULL, NULL), SS_INCOMPLETE_MESSAGE);
	ss_ctx_free(c);
	ss_ctx_free(s);
	ss_ctx_free(NULL);
	ss_buf_free(&out);
	ss_buf_free(NULL);
	ss_cred_free(cc);
	ss_cred_free(sc);
	ss_cred_free(NULL);
}

Test(ctx, cred_params, .init = init_keys)
{
	ss_cred *c = NULL;
	ss_cred_params p = { .use = SS_CRED_OUTBOUND, .methods = { SS_AUTH_PSK } };

	cr_assert_eq(ss_cred_acquire(NULL, &c), SS_INVALID_HANDLE);
	cr_assert_eq(ss_cred_acquire(&p, &c), SS_NO_CREDENTIALS, "psk without key");
	p.psk_identity = "x";
	p.psk = psk_a;
	p.psk_len = 8;
	cr_assert_eq(ss_cred_acquire(&p, &c), SS_NO_CREDENTIALS, "psk too short");
	p.psk_len = 32;
	p.psk_identity = "has space";
	cr_assert_eq(ss_cred_acquire(&p, &c), SS_NO_CREDENTIALS, "identity not printable-token");
	p.psk_identity = "ok";
	p.suites[0] = 0x1304;   /* TLS_AES_128_CCM_SHA256: not offered */
	cr_assert_eq(ss_cred_acquire(&p, &c), SS_UNSUPPORTED_FUNCTION);
	p.suites[0] = 0;
	p.groups[0] = 30;       /* x448 */
	cr_assert_eq(ss_cred_acquire(&p, &c), SS_UNSUPPORTED_FUNCTION);
	p.groups[0] = 0;
	p.use = 3;
	cr_assert_eq(ss_cred_acquire(&p, &c), SS_UNSUPPORTED_FUNCTION);
	p.use = SS_CRED_INBOUND;
	p.methods[0] = SS_AUTH_HOST_KEY;    /* no key: nothing can prove host-key */
	p.host_key_file = "/nonexistent/host.key";
	cr_assert_eq(ss_cred_acquire(&p, &c), SS_NO_CREDENTIALS);
	p.methods[1] = SS_AUTH_ANONYMOUS;   /* "host-key, anonymous": still refused, never */
	cr_assert_eq(ss_cred_acquire(&p, &c), SS_NO_CREDENTIALS);   /* skipped into anonymous */
	p.host_key_file = NULL;
	p.methods[0] = SS_AUTH_ANONYMOUS;
	p.methods[1] = 0;
	cr_assert_eq(ss_cred_acquire(&p, &c), SS_OK);
	cr_assert_eq(ss_cred_ref(c), c);
	ss_cred_free(c);
	ss_cred_free(c);
	c = NULL;
	p.methods[0] = SS_AUTH_CERTIFICATE;   /* server certificate without files */
	p.methods[1] = 0;
	cr_assert_eq(ss_cred_acquire(&p, &c), SS_NO_CREDENTIALS);
	cr_assert_null(c);
}

/* The certificate method with no trust anchor would verify nothing: it is
 * refused in every direction that checks the peer (issue 10 finding 7),
 * with the system store never used in its place; the one exception is a
 * standard-tls server, whose ordinary TLS clients send no certificate. */
Test(ctx, certificate_needs_ca, .init = init_keys)
{
	static const struct { unsigned use; ss_peer_mode mode; int with_cert; ss_status want; } cases[] = {
		{ SS_CRED_OUTBOUND, SS_MODE_SECSOCK, 0, SS_NO_AUTHENTICATING_AUTHORITY },
		{ SS_CRED_OUTBOUND, SS_MODE_SECSOCK, 1, SS_NO_AUTHENTICATING_AUTHORITY },
		{ SS_CRED_OUTBOUND, SS_MODE_STANDARD_TLS, 0, SS_NO_AUTHENTICATING_AUTHORITY },
		{ SS_CRED_OUTBOUND, SS_MODE_STANDARD_TLS, 1, SS_NO_AUTHENTICATING_AUTHORITY },
		{ SS_CRED_INBOUND, SS_MODE_SECSOCK, 1, SS_NO_AUTHENTICATING_AUTHORITY },
		{ SS_CRED_INBOUND, SS_MODE_STANDARD_TLS, 0, SS_NO_CREDENTIALS },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ss_cred_params p = { .use = cases[i].use, .mode = cases[i].mode };
		ss_cred *c = NULL;
		p.methods[0] = SS_AUTH_CERTIFICATE;
		p.methods[1] = SS_AUTH_ANONYMOUS;   /* another method does not excuse it */
		if (cases[i].with_cert) {
			p.cert_file = "/nonexistent/c.pem";
			p.key_file = "/nonexistent/k.pem";
		}
		cr_expect_eq(ss_cred_acquire(&p, &c), cases[i].want, "case %zu", i);
		cr_expect_null(c);
	}
}

/* A server accepts exactly the methods it lists, whatever the client did
 * (issue 10 finding 5): anonymous, right PSK, wrong PSK, against psk,
 * anonymous and both; and the auth reported on each end is what the peer
 * proved. */
Test(ctx, server_accepts_listed_methods_only, .init = init_keys)
{
	static const struct {
		ss_auth srv[2];
		ss_auth cli;
		int wrong_key;
		int ok;
	} cases[] = {
		{ { SS_AUTH_PSK }, SS_AUTH_ANONYMOUS, 0, 0 },
		{ { SS_AUTH_PSK }, SS_AUTH_PSK, 1, 0 },
		{ { SS_AUTH_PSK }, SS_AUTH_PSK, 0, 1 },
		{ { SS_AUTH_ANONYMOUS }, SS_AUTH_PSK, 0, 0 },   /* client insists on its PSK */
		{ { SS_AUTH_ANONYMOUS }, SS_AUTH_ANONYMOUS, 0, 1 },
		{ { SS_AUTH_PSK, SS_AUTH_ANONYMOUS }, SS_AUTH_ANONYMOUS, 0, 1 },
		{ { SS_AUTH_PSK, SS_AUTH_ANONYMOUS }, SS_AUTH_PSK, 0, 1 },
		{ { SS_AUTH_PSK, SS_AUTH_ANONYMOUS }, SS_AUTH_PSK, 1, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ss_cred_params sp = { .use = SS_CRED_INBOUND, .psk_identity = "client-7", .psk = psk_a, .psk_len = 32 };
		cred_opts co = { .mode = SS_MODE_SECSOCK, .method = cases[i].cli,
		                 .psk = cases[i].wrong_key ? psk_b : NULL };
		ss_ctx_info ci, si;
		side c, s;

		sp.methods[0] = cases[i].srv[0];
		sp.methods[1] = cases[i].srv[1];
		ss_cred *sc = NULL;
		cr_assert_eq(ss_cred_acquire(&sp, &sc), SS_OK);
		side_init(&c, mk_cred(SS_CRED_OUTBOUND, &co), 0, REQ);
		side_init(&s, sc, 1, REQ);
		pump(&c, &s, 0);
		if (cases[i].ok) {
			cr_expect_eq(c.st, SS_OK, "case %zu: client %s", i, ss_status_name(c.st));
			cr_expect_eq(s.st, SS_OK, "case %zu: server %s", i, ss_status_name(s.st));
			if (c.st == SS_OK && s.st == SS_OK) {
				cr_assert_eq(ss_ctx_query(c.ctx, &ci), SS_OK);
				cr_assert_eq(ss_ctx_query(s.ctx, &si), SS_OK);
				cr_expect_eq(si.auth, cases[i].cli, "case %zu: server reports %s", i, ss_auth_name(si.auth));
				cr_expect_eq(ci.auth, cases[i].cli, "case %zu: client reports %s", i, ss_auth_name(ci.auth));
			}
		} else {
			cr_expect_neq(s.st, SS_OK, "case %zu: the server let the client in", i);
			cr_expect_neq(c.st == SS_OK && s.st == SS_OK, 1, "case %zu", i);
		}
		side_fini(&c);
		side_fini(&s);
	}
}

/* host-key both ways: each end presents its persistent key, the other
 * reports it as host-key with the key's fingerprint (the pin is the
 * caller's); a client that lists only host-key refuses an anonymous server. */
static ss_cred *hk_cred(unsigned use, const char *key, ss_auth second)
{
	ss_cred_params p = { 0 };
	ss_cred *c = NULL;
	p.use = use;
	p.methods[0] = SS_AUTH_HOST_KEY;
	p.methods[1] = second;
	p.host_key_file = key;
	cr_assert_eq(ss_cred_acquire(&p, &c), SS_OK);
	return c;
}

Test(ctx, host_key_mutual, .init = init_keys)
{
	char dir[] = "/tmp/hk-test-XXXXXX", ka[64], kb[64], fa[SS_FP_LEN], fb[SS_FP_LEN], err[256];
	ss_ctx_info ci, si;
	ss_cred_params p = { 0 };
	ss_cred *none = NULL;
	side c, s;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(ka, sizeof ka, "%s/a.key", dir);
	snprintf(kb, sizeof kb, "%s/b.key", dir);
	cr_assert_eq(ss_hostkey_generate(ka, 0, fa, err, sizeof err), SS_OK, "%s", err);
	cr_assert_eq(ss_hostkey_generate(kb, 0, fb, err, sizeof err), SS_OK, "%s", err);
	side_init(&c, hk_cred(SS_CRED_OUTBOUND, ka, SS_AUTH_NONE), 0, REQ);
	side_init(&s, hk_cred(SS_CRED_INBOUND, kb, SS_AUTH_NONE), 1, REQ);
	pump(&c, &s, 0);
	cr_assert_eq(c.st, SS_OK, "client %s", ss_status_name(c.st));
	cr_assert_eq(s.st, SS_OK, "server %s", ss_status_name(s.st));
	cr_assert_eq(ss_ctx_query(c.ctx, &ci), SS_OK);
	cr_assert_eq(ss_ctx_query(s.ctx, &si), SS_OK);
	cr_assert_eq(ci.auth, SS_AUTH_HOST_KEY);
	cr_assert_eq(si.auth, SS_AUTH_HOST_KEY);
	cr_assert_str_eq(ci.peer, fb);
	cr_assert_str_eq(si.peer, fa);
	cr_assert(ci.mutual && si.mutual);
	exchange_records(&c, &s);
	side_fini(&c);
	side_fini(&s);

	/* A target name: a host key never satisfies it on its own (SS_TARGET_UNKNOWN);
	 * with SS_REQ_NAME_BY_PIN it passes and says the caller's pin must prove it. */
	for (int by_pin = 0; by_pin < 2; by_pin++) {
		side_init(&c, hk_cred(SS_CRED_OUTBOUND, ka, SS_AUTH_NONE), 0, REQ | (by_pin ? SS_REQ_NAME_BY_PIN : 0));
		side_init(&s, hk_cred(SS_CRED_INBOUND, kb, SS_AUTH_NONE), 1, REQ);
		c.target = "srv.test";
		pump(&c, &s, 0);
		cr_assert_eq(c.st, by_pin ? SS_OK : SS_TARGET_UNKNOWN, "by_pin %d: client %s", by_pin, ss_status_name(c.st));
		if (by_pin) {
			cr_assert_eq(ss_ctx_query(c.ctx, &ci), SS_OK);
			cr_assert_eq(ci.name_by_pin, 1);
			cr_assert_str_eq(ci.peer, fb);
		}
		side_fini(&c);
		side_fini(&s);
	}
	cr_assert_eq(ci.name_by_pin, 1);
	side_init(&c, hk_cred(SS_CRED_OUTBOUND, ka, SS_AUTH_NONE), 0, REQ | SS_REQ_NAME_BY_PIN);
	side_init(&s, hk_cred(SS_CRED_INBOUND, kb, SS_AUTH_NONE), 1, REQ);
	pump(&c, &s, 0);
	cr_assert_eq(ss_ctx_query(c.ctx, &ci), SS_OK);
	cr_assert_eq(ci.name_by_pin, 0, "no target: nothing for the pin to prove");
	side_fini(&c);
	side_fini(&s);

	/* host-key only, anonymous server: refused (never counted as host-key) */
	cred_opts anon = { .mode = SS_MODE_SECSOCK, .method = SS_AUTH_ANONYMOUS };
	side_init(&c, hk_cred(SS_CRED_OUTBOUND, ka, SS_AUTH_NONE), 0, REQ);
	side_init(&s, mk_cred(SS_CRED_INBOUND, &anon), 1, REQ);
	pump(&c, &s, 0);
	cr_assert_neq(c.st, SS_OK, "an anonymous certificate is no host key");
	side_fini(&c);
	side_fini(&s);

	/* no key: host-key alone is no credential */
	p.use = SS_CRED_OUTBOUND;
	p.methods[0] = SS_AUTH_HOST_KEY;
	p.host_key_file = "/nonexistent/host.key";
	cr_assert_eq(ss_cred_acquire(&p, &none), SS_NO_CREDENTIALS);
	unlink(ka);
	unlink(kb);
	rmdir(dir);
}
