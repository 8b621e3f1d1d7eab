/* rec_speed.c — seal/open throughput of the record layer for 16 KiB records,
 * next to the bare EVP AEAD doing the same work (one nonce per 16 KiB, 5-byte
 * AAD, tag), so the overhead of the record layer shows as a ratio.  Also
 * prints the memory a record state and a keyed ss_rec cost.
 *
 * The machines this runs on are shared, so every figure is the best of many
 * short slices, with seal, open and bare EVP interleaved: interference then
 * hits all three alike instead of skewing the ratio.
 *
 * usage: rec_speed [rounds, default 20]   (each round ~0.3 s per suite)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "ss_rec.h"

enum { LEN = 16384 };

/* Live bytes allocated through OpenSSL, via CRYPTO_set_mem_functions. */
static size_t ossl_live;

static void *count_malloc(size_t n, const char *file, int line)
{
	size_t *p = malloc(n + 16);
	(void)file;
	(void)line;
	if (!p)
		return NULL;
	*p = n;
	ossl_live += n;
	return (char *)p + 16;
}

static void count_free(void *q, const char *file, int line)
{
	(void)file;
	(void)line;
	if (!q)
		return;
	size_t *p = (size_t *)((char *)q - 16);
	ossl_live -= *p;
	free(p);
}

static void *count_realloc(void *q, size_t n, const char *file, int line)
{
	void *r = count_malloc(n, file, line);
	if (r && q) {
		size_t old = *(size_t *)((char *)q - 16);
		memcpy(r, q, old < n ? old : n);
		count_free(q, file, line);
	}
	return r;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *cipher_of(uint16_t suite)
{
	switch (suite) {
	case SS_SUITE_AES_128_GCM_SHA256: return "AES-128-GCM";
	case SS_SUITE_AES_256_GCM_SHA384: return "AES-256-GCM";
	default: return "ChaCha20-Poly1305";
	}
}

/* Bare AEAD: the floor the record layer is measured against. */
static double evp_rate(EVP_CIPHER_CTX *ctx, double secs, const uint8_t *pt, uint8_t *out)
{
	uint8_t iv[12] = { 2 }, aad[5] = { 23, 3, 3, 0x40, 0x11 };
	double t0 = now(), t;
	long n = 0;
	int l;

	do {
		for (int i = 0; i < 64; i++, n++) {
			iv[11] = (uint8_t)n;
			EVP_EncryptInit_ex2(ctx, NULL, NULL, iv, NULL);
			EVP_EncryptUpdate(ctx, NULL, &l, aad, 5);
			EVP_EncryptUpdate(ctx, out, &l, pt, LEN);
			EVP_EncryptFinal_ex(ctx, out + LEN, &l);
			EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out + LEN);
		}
		t = now() - t0;
	} while (t < secs);
	return (double)n * LEN / t / 1e6;
}

static double seal_rate(ss_rec *w, double secs, const uint8_t *pt, uint8_t *rec)
{
	double t0 = now(), t;
	size_t out_len;
	long n = 0;

	do {
		for (int k = 0; k < 64; k++, n++)
			if (ss_rec_seal(w, SS_CT_APPLICATION_DATA, pt, LEN, rec, LEN + 64, &out_len) != SS_OK)
				exit(1);
		t = now() - t0;
	} while (t < secs);
	return (double)n * LEN / t / 1e6;
}

/* The same record opened again and again, rewinding rx.seq each time. */
static double open_rate(ss_rec *r, uint64_t seq, double secs, const uint8_t *rec, size_t len,
                        uint8_t *back)
{
	ss_rec_state *st = ss_rec_get_state(r);
	double t0 = now(), t;
	size_t used, got;
	uint8_t ct;
	long n = 0;

	do {
		for (int k = 0; k < 64; k++, n++) {
			st->rx.seq = seq;
			if (ss_rec_open(r, rec, len, &used, &ct, back, LEN + 1, &got) != SS_OK)
				exit(1);
		}
		t = now() - t0;
	} while (t < secs);
	return (double)n * LEN / t / 1e6;
}

static double maxd(double a, double b)
{
	return a > b ? a : b;
}

int main(int argc, char **argv)
{
	static const uint16_t suites[] = { SS_SUITE_AES_128_GCM_SHA256, SS_SUITE_AES_256_GCM_SHA384,
	                                   SS_SUITE_CHACHA20_POLY1305_SHA256 };
	int rounds = argc > 1 ? atoi(argv[1]) : 20;
	static uint8_t pt[LEN], rec[LEN + 64], back[LEN + 1], scratch[LEN + 64];
	uint8_t secret[48], key[32] = { 1 };

	if (!CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free))
		return 1;
	if (sodium_init() < 0)
		return 1;
	randombytes_buf(pt, sizeof pt);
	randombytes_buf(secret, sizeof secret);
	printf("sizeof(ss_rec_state) = %zu bytes\n", sizeof(ss_rec_state));
	for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
		uint16_t s = suites[i];
		size_t sl = s == SS_SUITE_AES_256_GCM_SHA384 ? 48 : 32, out_len;
		EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, cipher_of(s), NULL);
		EVP_CIPHER_CTX *bare = EVP_CIPHER_CTX_new();
		ss_rec_state tx, rx;
		ss_rec *w, *r;
		double bs = 0, bo = 0, be = 0;
		size_t live0, used, got;
		uint8_t ct;

		EVP_EncryptInit_ex2(bare, c, key, NULL, NULL);
		ss_rec_state_init(&tx, s, secret, secret, sl);
		ss_rec_state_init(&rx, s, secret, secret, sl);
		/* heap of one ss_rec with both directions keyed (tx and rx share the
		 * secret here, so one object can seal and then open its own record) */
		live0 = ossl_live;
		if (ss_rec_new(&tx, &w) != SS_OK)
			return 1;
		ss_rec_seal(w, SS_CT_APPLICATION_DATA, pt, 1, rec, sizeof rec, &out_len);
		tx.rx.seq = 0;
		if (ss_rec_open(w, rec, out_len, &used, &ct, back, sizeof back, &got) != SS_OK)
			return 1;
		printf("%-18s OpenSSL heap of a keyed ss_rec (both directions): %zu bytes\n",
		       cipher_of(s), ossl_live - live0);
		if (ss_rec_new(&rx, &r) != SS_OK)
			return 1;
		uint64_t rec_seq = tx.tx.seq;
		if (ss_rec_seal(w, SS_CT_APPLICATION_DATA, pt, LEN, rec, sizeof rec, &out_len) != SS_OK)
			return 1;
		for (int k = 0; k < rounds; k++) {
			bs = maxd(bs, seal_rate(w, 0.1, pt, scratch));
			be = maxd(be, evp_rate(bare, 0.1, pt, scratch));
			bo = maxd(bo, open_rate(r, rec_seq, 0.1, rec, out_len, back));
		}
		printf("%-18s seal %7.0f MB/s  open %7.0f MB/s  bare EVP seal %7.0f MB/s  "
		       "seal/EVP %5.1f%%  open/EVP %5.1f%%\n",
		       cipher_of(s), bs, bo, be, 100.0 * bs / be, 100.0 * bo / be);
		ss_rec_free(w);
		ss_rec_free(r);
		EVP_CIPHER_CTX_free(bare);
		EVP_CIPHER_free(c);
		ss_rec_state_wipe(&tx);
		ss_rec_state_wipe(&rx);
	}
	return 0;
}
