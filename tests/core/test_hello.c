/* test_hello.c — ss_hello_classify on real ClientHellos (ss_ctx_initialize in
 * secsock and standard-TLS mode, plain OpenSSL clients), every prefix of
 * them, the same hellos fragmented over several records, and non-TLS bytes.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "ss_ctx.h"

static size_t core_hello(ss_peer_mode mode, uint8_t *buf, size_t cap)
{
	ss_cred_params p = { .use = SS_CRED_OUTBOUND, .mode = mode };
	ss_cred *c = NULL;
	ss_ctx *ctx = NULL;
	ss_buf out = { 0 };
	size_t used, n;

	cr_assert_eq(ss_cred_acquire(&p, &c), SS_OK);
	cr_assert_eq(ss_ctx_initialize(c, &ctx, NULL, 0, NULL, 0, &used, &out, NULL, NULL),
	             SS_CONTINUE_NEEDED);
	cr_assert_leq(out.len, cap);
	memcpy(buf, out.data, out.len);
	n = out.len;
	ss_buf_free(&out);
	ss_ctx_free(ctx);
	ss_cred_free(c);
	return n;
}

/* A ClientHello from OpenSSL itself, independent of ss_ctx. */
static size_t openssl_hello(int max_version, const unsigned char *alpn, unsigned alpn_len,
                            uint8_t *buf, size_t cap)
{
	SSL_CTX *sc = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
	int n;

	cr_assert(SSL_CTX_set_max_proto_version(sc, max_version));
	ssl = SSL_new(sc);
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

/* Every proper prefix is NEED_MORE, the whole is want; bytes after the
 * hello do not change the verdict. */
static void check_all_prefixes(const uint8_t *h, size_t n, ss_hello_verdict want)
{
	uint8_t *ext = malloc(n + 16);

	for (size_t i = 0; i < n; i++)
		cr_assert_eq(ss_hello_classify(h, i), SS_HELLO_NEED_MORE, "prefix %zu of %zu", i, n);
	cr_assert_eq(ss_hello_classify(h, n), want);
	memcpy(ext, h, n);
	memset(ext + n, 0xee, 16);
	cr_assert_eq(ss_hello_classify(ext, n + 16), want);
	free(ext);
}

/* Re-frame a single-record hello as records of at most frag bytes each. */
static size_t refragment(const uint8_t *h, size_t n, size_t frag, uint8_t *out, size_t cap)
{
	size_t body = n - 5, o = 0;

	for (size_t off = 0; off < body; off += frag) {
		size_t k = body - off < frag ? body - off : frag;
		cr_assert_leq(o + 5 + k, cap);
		out[o++] = 22;
		out[o++] = 3;
		out[o++] = 1;
		out[o++] = (uint8_t)(k >> 8);
		out[o++] = (uint8_t)k;
		memcpy(out + o, h + 5 + off, k);
		o += k;
	}
	return o;
}

Test(hello, core_secsock_client)
{
	uint8_t h[4096];
	size_t n = core_hello(SS_MODE_SECSOCK, h, sizeof h);
	check_all_prefixes(h, n, SS_HELLO_SECSOCK);
}

Test(hello, core_standard_tls_client)
{
	uint8_t h[4096];
	size_t n = core_hello(SS_MODE_STANDARD_TLS, h, sizeof h);
	check_all_prefixes(h, n, SS_HELLO_TLS);
}

Test(hello, openssl_clients)
{
	static const unsigned char secsock[] = "\x02h2\x09secsock/1";
	static const unsigned char h2[] = "\x02h2\x08http/1.1";
	static const unsigned char near[] = "\x09secsock/2\x08secsock/";
	uint8_t h[4096];
	size_t n;

	n = openssl_hello(TLS1_3_VERSION, secsock, sizeof secsock - 1, h, sizeof h);
	check_all_prefixes(h, n, SS_HELLO_SECSOCK);   /* secsock/1 need not be first */
	n = openssl_hello(TLS1_3_VERSION, h2, sizeof h2 - 1, h, sizeof h);
	check_all_prefixes(h, n, SS_HELLO_TLS);
	n = openssl_hello(TLS1_3_VERSION, near, sizeof near - 1, h, sizeof h);
	check_all_prefixes(h, n, SS_HELLO_TLS);
	n = openssl_hello(TLS1_3_VERSION, NULL, 0, h, sizeof h);
	check_all_prefixes(h, n, SS_HELLO_TLS);
	/* secsock/1 offered, but no TLS 1.3: not a secsock client */
	n = openssl_hello(TLS1_2_VERSION, secsock, sizeof secsock - 1, h, sizeof h);
	check_all_prefixes(h, n, SS_HELLO_TLS);
}

Test(hello, fragmented_over_records)
{
	uint8_t h[4096], f[8192];
	size_t n = core_hello(SS_MODE_SECSOCK, h, sizeof h);
	static const size_t frags[] = { 1, 2, 3, 7, 38, 100, 250 };

	for (size_t i = 0; i < sizeof frags / sizeof frags[0]; i++) {
		size_t m = refragment(h, n, frags[i], f, sizeof f);
		cr_assert_geq(m, n);
		check_all_prefixes(f, m, SS_HELLO_SECSOCK);
	}
	/* a non-handshake record in the middle of the hello is not TLS */
	{
		size_t m = refragment(h, n, 50, f, sizeof f);
		f[55] = 23;
		cr_assert_eq(ss_hello_classify(f, m), SS_HELLO_OTHER);
		f[55] = 22;
		f[58] = 0;   /* zero-length fragment */
		f[59] = 0;
		cr_assert_eq(ss_hello_classify(f, m), SS_HELLO_OTHER);
	}
}

Test(hello, not_tls)
{
	static const struct { const char *name; const char *d; size_t n; } cases[] = {
		{ "HTTP", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27 },
		{ "SSH", "SSH-2.0-OpenSSH_9.2p1\r\n", 23 },
		{ "SMTP-ish", "EHLO x\r\n", 8 },
		{ "NUL", "\0", 1 },
		{ "handshake, SSL 2 major", "\x16\x02", 2 },
		{ "version 3.5", "\x16\x03\x05", 3 },
		{ "zero-length record", "\x16\x03\x01\x00\x00", 5 },
		{ "oversized record", "\x16\x03\x01\x40\x01", 5 },
		{ "alert record", "\x15\x03\x03\x00\x02\x02\x28", 7 },
		{ "ServerHello", "\x16\x03\x03\x00\x30\x02", 6 },
		{ "short hello length", "\x16\x03\x01\x00\x30\x01\x00\x00\x05", 9 },
		{ "hello version 2.0", "\x16\x03\x01\x00\x30\x01\x00\x00\x2c\x02\x00", 11 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_assert_eq(ss_hello_classify((const uint8_t *)cases[i].d, cases[i].n), SS_HELLO_OTHER,
		             "%s", cases[i].name);
	cr_assert_eq(ss_hello_classify(NULL, 0), SS_HELLO_NEED_MORE);
	cr_assert_eq(ss_hello_classify((const uint8_t *)"\x16", 1), SS_HELLO_NEED_MORE);
	cr_assert_eq(ss_hello_classify((const uint8_t *)"\x16\x03\x01\x02", 4), SS_HELLO_NEED_MORE);
}

/* A minimal hand-built hello without extensions (an old TLS client). */
Test(hello, no_extensions)
{
	uint8_t h[5 + 4 + 41];
	size_t o = 0;

	memset(h, 0, sizeof h);
	h[o++] = 22; h[o++] = 3; h[o++] = 1; h[o++] = 0; h[o++] = 4 + 41;
	h[o++] = 1; h[o++] = 0; h[o++] = 0; h[o++] = 41;
	h[o++] = 3; h[o++] = 3;            /* legacy_version */
	o += 32;                           /* random */
	h[o++] = 0;                        /* session id */
	h[o++] = 0; h[o++] = 2; h[o++] = 0x00; h[o++] = 0x2f;
	h[o++] = 1; h[o++] = 0;            /* null compression */
	cr_assert_eq(o, sizeof h);
	check_all_prefixes(h, o, SS_HELLO_TLS);
	h[8] = 42;                         /* length beyond the content: incomplete */
	cr_assert_eq(ss_hello_classify(h, o), SS_HELLO_NEED_MORE);
	h[8] = 41;
	h[45] = 3;                         /* odd cipher_suites length */
	cr_assert_eq(ss_hello_classify(h, o), SS_HELLO_OTHER);
}

/* Mangled extension lengths in a real hello. */
Test(hello, broken_extensions)
{
	uint8_t h[4096], m[4096];
	size_t n = core_hello(SS_MODE_SECSOCK, h, sizeof h);
	/* the extensions block starts after the fixed part: find it from the top */
	size_t o = 5 + 4 + 2 + 32;
	o += 1 + h[o];                               /* session id */
	o += 2 + ((size_t)h[o] << 8 | h[o + 1]);     /* cipher suites */
	o += 1 + h[o];                               /* compression */

	memcpy(m, h, n);
	m[o + 1] ^= 0x01;                            /* extensions length off by one */
	cr_assert_eq(ss_hello_classify(m, n), SS_HELLO_OTHER);
	memcpy(m, h, n);
	m[o + 2 + 2] = 0xff;                         /* first extension claims too much */
	cr_assert_eq(ss_hello_classify(m, n), SS_HELLO_OTHER);
	/* flip one byte of "secsock/1" inside the ALPN extension */
	memcpy(m, h, n);
	for (size_t i = o; i + 9 <= n; i++)
		if (memcmp(m + i, SS_ALPN, 9) == 0)
			m[i + 8] = '2';
	cr_assert_eq(ss_hello_classify(m, n), SS_HELLO_TLS);
}

/* Handshake-phase framing (ss_hs_frame_len): a real ClientHello record
 * (legacy version 0x0301, which the protected-record framer refuses) frames
 * to its full length from any prefix of 5 bytes or more; shorter prefixes
 * are incomplete; non-TLS bytes and impossible lengths are refused. */
Test(hello, hs_frame_len)
{
	uint8_t buf[4096];
	size_t n = core_hello(SS_MODE_SECSOCK, buf, sizeof buf), rl = 0;

	cr_assert_gt(n, 5);
	size_t want = 5 + ((size_t)buf[3] << 8 | buf[4]);
	cr_assert_eq(ss_rec_frame_len(buf, n, &rl), SS_UNEXPECTED_MESSAGE,
	             "the protected-record framer is not for handshake records");
	for (size_t k = 0; k < 5; k++)
		cr_assert_eq(ss_hs_frame_len(buf, k, &rl), SS_INCOMPLETE_MESSAGE, "prefix %zu", k);
	for (size_t k = 5; k <= n; k++) {
		rl = 0;
		cr_assert_eq(ss_hs_frame_len(buf, k, &rl), SS_OK, "prefix %zu", k);
		cr_assert_eq(rl, want, "prefix %zu: %zu != %zu", k, rl, want);
	}
	static const uint8_t http[] = "GET / HTTP/1.1\r\n";
	cr_assert_eq(ss_hs_frame_len(http, sizeof http - 1, &rl), SS_INVALID_TOKEN);
	const uint8_t zero_len[] = { 22, 3, 3, 0, 0 };
	cr_assert_eq(ss_hs_frame_len(zero_len, sizeof zero_len, &rl), SS_INVALID_TOKEN);
	const uint8_t too_long[] = { 22, 3, 3, 0x41, 0x01 };   /* 2^14 + 257 */
	cr_assert_eq(ss_hs_frame_len(too_long, sizeof too_long, &rl), SS_INVALID_TOKEN);
	cr_assert_eq(ss_hs_frame_len(NULL, 0, NULL), SS_INVALID_HANDLE);
}
