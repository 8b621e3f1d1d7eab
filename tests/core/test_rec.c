/* test_rec.c — the TLS 1.3 record layer (core/ss_rec.c) against RFC 8448 §3
 * known answers, round trips for every suite, and hostile input.
 *
 * An independent sealer (raw_seal, straight OpenSSL EVP one-shot over a
 * hand-built TLSInnerPlaintext) makes the records ss_rec itself would never
 * produce: padded, all-zero, oversized, odd inner types, malformed
 * post-handshake messages.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "ss_rec.h"
#include "core/vectors.h"

static const uint16_t all_suites[] = {
	SS_SUITE_AES_128_GCM_SHA256,
	SS_SUITE_AES_256_GCM_SHA384,
	SS_SUITE_CHACHA20_POLY1305_SHA256,
};
#define NSUITES (sizeof all_suites / sizeof all_suites[0])

/* ------------------------------------------------------------ helpers */

/* A client and a server record state wired to each other. */
typedef struct pair {
	ss_rec_state cs, ss;
	ss_rec *c, *s;
} pair;

static size_t secret_len_of(uint16_t suite)
{
	return suite == SS_SUITE_AES_256_GCM_SHA384 ? 48 : 32;
}

static void pair_init(pair *p, uint16_t suite)
{
	uint8_t a[48], b[48];
	size_t sl = secret_len_of(suite);

	memset(p, 0, sizeof *p);
	randombytes_buf(a, sizeof a);
	randombytes_buf(b, sizeof b);
	cr_assert_eq(ss_rec_state_init(&p->cs, suite, a, b, sl), SS_OK);
	cr_assert_eq(ss_rec_state_init(&p->ss, suite, b, a, sl), SS_OK);
	cr_assert_eq(ss_rec_new(&p->cs, &p->c), SS_OK);
	cr_assert_eq(ss_rec_new(&p->ss, &p->s), SS_OK);
	sodium_memzero(a, sizeof a);
	sodium_memzero(b, sizeof b);
}

static void pair_free(pair *p)
{
	ss_rec_free(p->c);
	ss_rec_free(p->s);
	ss_rec_state_wipe(&p->cs);
	ss_rec_state_wipe(&p->ss);
}

static const char *cipher_of(uint16_t suite)
{
	switch (suite) {
	case SS_SUITE_AES_128_GCM_SHA256: return "AES-128-GCM";
	case SS_SUITE_AES_256_GCM_SHA384: return "AES-256-GCM";
	default: return "ChaCha20-Poly1305";
	}
}

/* Independent TLS 1.3 sealer: TLSCiphertext for an arbitrary inner
 * plaintext under dir's key at dir->seq (dir->seq is then incremented). */
static size_t raw_seal(uint16_t suite, ss_rec_dir *dir, const uint8_t *inner, size_t inner_len,
                       uint8_t *out)
{
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, cipher_of(suite), NULL);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t nonce[12];
	size_t body = inner_len + 16;
	int n;

	cr_assert(c && ctx);
	memcpy(nonce, dir->iv, 12);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] ^= (uint8_t)(dir->seq >> (56 - 8 * i));
	out[0] = 23;
	out[1] = 3;
	out[2] = 3;
	out[3] = (uint8_t)(body >> 8);
	out[4] = (uint8_t)body;
	cr_assert_eq(EVP_EncryptInit_ex2(ctx, c, dir->key, nonce, NULL), 1);
	cr_assert_eq(EVP_EncryptUpdate(ctx, NULL, &n, out, 5), 1);
	if (inner_len)
		cr_assert_eq(EVP_EncryptUpdate(ctx, out + 5, &n, inner, (int)inner_len), 1);
	cr_assert_eq(EVP_EncryptFinal_ex(ctx, out + 5 + inner_len, &n), 1);
	cr_assert_eq(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out + 5 + inner_len), 1);
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(c);
	dir->seq++;
	return 5 + body;
}

/* True when buf[0..n) holds nothing but the fill byte or zeros: no
 * plaintext leaked into the caller's buffer. */
static int only_fill(const uint8_t *buf, size_t n, uint8_t fill)
{
	for (size_t i = 0; i < n; i++)
		if (buf[i] != fill && buf[i] != 0)
			return 0;
	return 1;
}

static uint8_t bigbuf_pt[SS_REC_MAX_PLAINTEXT + 64];
static uint8_t bigbuf_rec[SS_REC_MAX_RECORD + 64];

/* Read one record expecting DATA equal to (exp, exp_len). */
static void expect_data(ss_rec *r, const uint8_t *rec, size_t rec_len,
                        const uint8_t *exp, size_t exp_len)
{
	size_t used = 0, n = 0;
	ss_rec_event ev = 0;
	uint8_t alert = 0xff;
	ss_status st = ss_rec_read(r, rec, rec_len, &used, &ev, bigbuf_pt, sizeof bigbuf_pt, &n, &alert);

	cr_assert_eq(st, SS_OK, "read: %s", ss_status_name(st));
	cr_assert_eq(ev, SS_REC_EV_DATA);
	cr_assert_eq(used, rec_len);
	cr_assert_eq(n, exp_len);
	cr_assert(exp_len == 0 || memcmp(bigbuf_pt, exp, exp_len) == 0);
}

static ss_status read_one(ss_rec *r, const uint8_t *rec, size_t rec_len, ss_rec_event *ev,
                          size_t *used, uint8_t *alert)
{
	size_t n = 0;
	return ss_rec_read(r, rec, rec_len, used, ev, bigbuf_pt, sizeof bigbuf_pt, &n, alert);
}

/* ------------------------------------------------------------ RFC 8448 §3 */

typedef struct kat {
	vec_file vf;
} kat;

static uint8_t *need_hex(vec_file *vf, const char *key, size_t *len)
{
	uint8_t *v = vec_hex(vf, key, len);
	cr_assert_not_null(v, "vector %s missing", key);
	return v;
}

static void kat_load(vec_file *vf)
{
	cr_assert_eq(vec_load(vf, "rfc8448-simple-1rtt.json"), 0,
	             "cannot read rfc8448-simple-1rtt.json (SECSOCK_VECTORS?)");
}

/* A state for one end: which=0 client (tx = client secret), 1 server. */
static void kat_state(vec_file *vf, int server, int handshake, ss_rec_state *st)
{
	size_t l1, l2;
	uint8_t *c = need_hex(vf, handshake ? "client_handshake_traffic_secret"
	                                     : "client_application_traffic_secret_0", &l1);
	uint8_t *s = need_hex(vf, handshake ? "server_handshake_traffic_secret"
	                                     : "server_application_traffic_secret_0", &l2);
	cr_assert_eq(l1, 32);
	cr_assert_eq(l2, 32);
	cr_assert_eq(ss_rec_state_init(st, SS_SUITE_AES_128_GCM_SHA256,
	                               server ? s : c, server ? c : s, 32), SS_OK);
	free(c);
	free(s);
}

static void check_hex(vec_file *vf, const char *key, const uint8_t *got, size_t got_len)
{
	size_t l;
	uint8_t *v = need_hex(vf, key, &l);
	cr_assert_eq(l, got_len, "%s length", key);
	cr_assert(memcmp(v, got, l) == 0, "%s differs", key);
	free(v);
}

Test(rec_kat, traffic_keys)
{
	vec_file vf;
	ss_rec_state st;

	kat_load(&vf);
	kat_state(&vf, 0, 0, &st);
	cr_assert_eq(st.key_len, 16);
	cr_assert_eq(st.secret_len, 32);
	check_hex(&vf, "client_application_write_key", st.tx.key, 16);
	check_hex(&vf, "client_application_write_iv", st.tx.iv, 12);
	check_hex(&vf, "server_application_write_key", st.rx.key, 16);
	check_hex(&vf, "server_application_write_iv", st.rx.iv, 12);
	kat_state(&vf, 1, 1, &st);
	check_hex(&vf, "server_handshake_write_key", st.tx.key, 16);
	check_hex(&vf, "server_handshake_write_iv", st.tx.iv, 12);
	check_hex(&vf, "client_handshake_write_key", st.rx.key, 16);
	check_hex(&vf, "client_handshake_write_iv", st.rx.iv, 12);
	ss_rec_state_wipe(&st);
	for (size_t i = 0; i < sizeof st; i++)
		cr_assert_eq(((uint8_t *)&st)[i], 0, "wipe left byte %zu", i);
	vec_free(&vf);
}

/* Seal `payload` of type ct at the vector's sequence number, compare. */
static void kat_seal(vec_file *vf, ss_rec *r, ss_rec_state *st, uint8_t ct,
                     const char *payload_key, const char *record_key)
{
	size_t pl, rl, out_len = 0;
	uint8_t *p = need_hex(vf, payload_key, &pl);
	uint8_t *rec = need_hex(vf, record_key, &rl);
	long seq = vec_int(vf, "sequence_numbers", record_key);

	cr_assert_geq(seq, 0, "sequence number of %s", record_key);
	st->tx.seq = (uint64_t)seq;
	cr_assert_eq(ss_rec_seal(r, ct, p, pl, bigbuf_rec, sizeof bigbuf_rec, &out_len), SS_OK);
	cr_assert_eq(out_len, rl, "%s length", record_key);
	cr_assert_eq(ss_rec_sealed_len(pl), rl);
	cr_assert(memcmp(bigbuf_rec, rec, rl) == 0, "%s differs", record_key);
	cr_assert_eq(st->tx.seq, (uint64_t)seq + 1);
	free(p);
	free(rec);
}

/* Client and server application-traffic states from the vectors, with a rec each. */
static void kat_open_pair(vec_file *vf, ss_rec_state *cst, ss_rec_state *sst, ss_rec **c, ss_rec **s)
{
	kat_load(vf);
	kat_state(vf, 0, 0, cst);
	kat_state(vf, 1, 0, sst);
	cr_assert_eq(ss_rec_new(cst, c), SS_OK);
	cr_assert_eq(ss_rec_new(sst, s), SS_OK);
}

static void kat_close_pair(vec_file *vf, ss_rec_state *cst, ss_rec_state *sst, ss_rec *c, ss_rec *s)
{
	ss_rec_free(c);
	ss_rec_free(s);
	ss_rec_state_wipe(cst);
	ss_rec_state_wipe(sst);
	vec_free(vf);
}

Test(rec_kat, seal_gives_published_records)
{
	vec_file vf;
	ss_rec_state cst, sst;
	ss_rec *c, *s;
	size_t rl, out_len;
	uint8_t *rec;

	kat_open_pair(&vf, &cst, &sst, &c, &s);

	kat_seal(&vf, c, &cst, SS_CT_APPLICATION_DATA,
	         "client_application_data_payload", "client_application_data_record");
	kat_seal(&vf, s, &sst, SS_CT_HANDSHAKE,
	         "new_session_ticket_message", "new_session_ticket_record");
	kat_seal(&vf, s, &sst, SS_CT_APPLICATION_DATA,
	         "server_application_data_payload", "server_application_data_record");

	/* close_notify through the alert call at the published sequence numbers */
	rec = need_hex(&vf, "client_close_notify_record", &rl);
	cst.tx.seq = (uint64_t)vec_int(&vf, "sequence_numbers", "client_close_notify_record");
	cr_assert_eq(ss_rec_alert(c, 1, 0, bigbuf_rec, sizeof bigbuf_rec, &out_len), SS_OK);
	cr_assert_eq(out_len, rl);
	cr_assert(memcmp(bigbuf_rec, rec, rl) == 0);
	cr_assert(cst.flags & SS_REC_F_CLOSE_SENT);
	free(rec);
	rec = need_hex(&vf, "server_close_notify_record", &rl);
	sst.tx.seq = (uint64_t)vec_int(&vf, "sequence_numbers", "server_close_notify_record");
	cr_assert_eq(ss_rec_alert(s, 1, 0, bigbuf_rec, sizeof bigbuf_rec, &out_len), SS_OK);
	cr_assert_eq(out_len, rl);
	cr_assert(memcmp(bigbuf_rec, rec, rl) == 0);
	free(rec);

	kat_close_pair(&vf, &cst, &sst, c, s);
}

Test(rec_kat, client_reads_server_stream)
{
	vec_file vf;
	ss_rec_state cst;
	ss_rec *c;
	size_t l, pl, used, n;
	uint8_t *rec, *payload, ct, alert;
	ss_rec_event ev;

	kat_load(&vf);
	kat_state(&vf, 0, 0, &cst);
	cr_assert_eq(ss_rec_new(&cst, &c), SS_OK);

	/* Low level first: the ticket record opens to the published message. */
	rec = need_hex(&vf, "new_session_ticket_record", &l);
	payload = need_hex(&vf, "new_session_ticket_message", &pl);
	cr_assert_eq(ss_rec_open(c, rec, l, &used, &ct, bigbuf_pt, sizeof bigbuf_pt, &n), SS_OK);
	cr_assert_eq(ct, SS_CT_HANDSHAKE);
	cr_assert_eq(n, pl);
	cr_assert(memcmp(bigbuf_pt, payload, pl) == 0);
	free(payload);

	/* Stream level from the start: ticket skipped, data, close_notify. */
	cst.rx.seq = 0;
	cr_assert_eq(ss_rec_read(c, rec, l, &used, &ev, bigbuf_pt, sizeof bigbuf_pt, &n, &alert),
	             SS_OK);
	cr_assert_eq(ev, SS_REC_EV_HANDLED);
	cr_assert_eq(used, l);
	cr_assert_eq(n, 0);
	cr_assert_eq(cst.flags & SS_REC_F_UPDATE_OWED, 0);
	free(rec);

	rec = need_hex(&vf, "server_application_data_record", &l);
	payload = need_hex(&vf, "server_application_data_payload", &pl);
	cr_assert_eq(cst.rx.seq, (uint64_t)vec_int(&vf, "sequence_numbers",
	                                           "server_application_data_record"));
	expect_data(c, rec, l, payload, pl);
	free(rec);
	free(payload);

	rec = need_hex(&vf, "server_close_notify_record", &l);
	cr_assert_eq(ss_rec_read(c, rec, l, &used, &ev, bigbuf_pt, sizeof bigbuf_pt, &n, &alert),
	             SS_OK);
	cr_assert_eq(ev, SS_REC_EV_CLOSE);
	cr_assert(cst.flags & SS_REC_F_CLOSE_RECEIVED);
	free(rec);

	ss_rec_free(c);
	ss_rec_state_wipe(&cst);
	vec_free(&vf);
}

Test(rec_kat, server_reads_client_stream)
{
	vec_file vf;
	ss_rec_state sst;
	ss_rec *s;
	size_t l, pl, used;
	uint8_t *rec, *payload, alert;
	ss_rec_event ev;

	kat_load(&vf);
	kat_state(&vf, 1, 0, &sst);
	cr_assert_eq(ss_rec_new(&sst, &s), SS_OK);
	rec = need_hex(&vf, "client_application_data_record", &l);
	payload = need_hex(&vf, "client_application_data_payload", &pl);
	expect_data(s, rec, l, payload, pl);
	free(rec);
	free(payload);
	rec = need_hex(&vf, "client_close_notify_record", &l);
	cr_assert_eq(read_one(s, rec, l, &ev, &used, &alert), SS_OK);
	cr_assert_eq(ev, SS_REC_EV_CLOSE);
	free(rec);
	ss_rec_free(s);
	ss_rec_state_wipe(&sst);
	vec_free(&vf);
}

Test(rec_kat, handshake_key_records)
{
	vec_file vf;
	ss_rec_state st;
	ss_rec *r;
	size_t l, ml, used, n, out_len;
	uint8_t *rec, *msg, ct, alert;
	ss_rec_event ev;

	kat_load(&vf);
	/* Server view under handshake keys: rx = client handshake secret. */
	kat_state(&vf, 1, 1, &st);
	cr_assert_eq(ss_rec_new(&st, &r), SS_OK);
	rec = need_hex(&vf, "client_finished_record", &l);
	msg = need_hex(&vf, "client_finished_message", &ml);
	cr_assert_eq(ss_rec_open(r, rec, l, &used, &ct, bigbuf_pt, sizeof bigbuf_pt, &n), SS_OK);
	cr_assert_eq(used, l);
	cr_assert_eq(ct, SS_CT_HANDSHAKE);
	cr_assert_eq(n, ml);
	cr_assert(memcmp(bigbuf_pt, msg, ml) == 0);
	/* A Finished after the handshake is not a post-handshake message. */
	st.rx.seq = 0;
	cr_assert_eq(ss_rec_read(r, rec, l, &used, &ev, bigbuf_pt, sizeof bigbuf_pt, &n, &alert),
	             SS_UNEXPECTED_MESSAGE);
	cr_assert(st.flags & SS_REC_F_FAILED);
	ss_rec_free(r);

	/* Client view: sealing the Finished gives the published record, and the
	 * server's whole encrypted flight opens (EncryptedExtensions first). */
	kat_state(&vf, 0, 1, &st);
	cr_assert_eq(ss_rec_new(&st, &r), SS_OK);
	cr_assert_eq(ss_rec_seal(r, SS_CT_HANDSHAKE, msg, ml, bigbuf_rec, sizeof bigbuf_rec,
	                         &out_len), SS_OK);
	cr_assert_eq(out_len, l);
	cr_assert(memcmp(bigbuf_rec, rec, l) == 0);
	free(rec);
	free(msg);
	rec = need_hex(&vf, "server_handshake_flight_record", &l);
	cr_assert_eq(ss_rec_open(r, rec, l, &used, &ct, bigbuf_pt, sizeof bigbuf_pt, &n), SS_OK);
	cr_assert_eq(ct, SS_CT_HANDSHAKE);
	cr_assert_eq(n, l - 5 - 16 - 1);
	cr_assert_eq(bigbuf_pt[0], 8, "EncryptedExtensions first");
	cr_assert_eq(bigbuf_pt[n - 36], 20, "server Finished last");
	free(rec);
	ss_rec_free(r);
	ss_rec_state_wipe(&st);
	vec_free(&vf);
}

/* ------------------------------------------------------------ round trips */

Test(rec_rt, sizes_all_suites)
{
	static const size_t sizes[] = { 0, 1, 16383, 16384 };
	static uint8_t pt[SS_REC_MAX_PLAINTEXT];

	for (size_t si = 0; si < NSUITES; si++) {
		pair p;
		pair_init(&p, all_suites[si]);
		for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
			size_t n = sizes[k], out_len = 0, used, got;
			uint8_t ct;
			randombytes_buf(pt, n);
			cr_assert_eq(ss_rec_seal(p.c, SS_CT_APPLICATION_DATA, pt, n, bigbuf_rec,
			                         sizeof bigbuf_rec, &out_len), SS_OK);
			cr_assert_eq(out_len, n + SS_REC_OVERHEAD);
			expect_data(p.s, bigbuf_rec, out_len, pt, n);
			/* server → client, opened with pt_cap exactly the size */
			cr_assert_eq(ss_rec_seal(p.s, SS_CT_APPLICATION_DATA, pt, n, bigbuf_rec,
			                         sizeof bigbuf_rec, &out_len), SS_OK);
			cr_assert_eq(ss_rec_open(p.c, bigbuf_rec, out_len, &used, &ct, bigbuf_pt, n,
			                         &got), SS_OK);
			cr_assert_eq(got, n);
			cr_assert_eq(ct, SS_CT_APPLICATION_DATA);
			cr_assert(n == 0 || memcmp(bigbuf_pt, pt, n) == 0);
		}
		cr_assert_eq(p.cs.tx.seq, 4);
		cr_assert_eq(p.ss.rx.seq, 4);
		/* §5.1: more than 2^14 bytes is not a record */
		size_t out_len = 0;
		cr_assert_eq(ss_rec_seal(p.c, SS_CT_APPLICATION_DATA, pt, SS_REC_MAX_PLAINTEXT + 1,
		                         bigbuf_rec, sizeof bigbuf_rec, &out_len), SS_RECORD_OVERFLOW);
		cr_assert_eq(ss_rec_seal(p.c, SS_CT_APPLICATION_DATA, pt, 10, bigbuf_rec, 10 + 21,
		                         &out_len), SS_BUFFER_TOO_SMALL);
		cr_assert_eq(ss_rec_seal(p.c, SS_CT_CHANGE_CIPHER_SPEC, pt, 1, bigbuf_rec,
		                         sizeof bigbuf_rec, &out_len), SS_UNSUPPORTED_FUNCTION);
		cr_assert_eq(p.cs.tx.seq, 4, "refused seals consume no sequence number");
		pair_free(&p);
	}
}

/* seal_one copies small contents next to the type byte and encrypts in
 * place, larger ones in two updates (ss_rec.c MERGE_MAX): both forms, and
 * the sizes at the edge, must give exactly the record the independent
 * sealer makes for content || type, for every suite and inner type. */
Test(rec_rt, seal_matches_independent_sealer_across_merge_edge)
{
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 30, 2047, 2048, 2049, 4096, 16384 };
	static const uint8_t types[] = { SS_CT_APPLICATION_DATA, SS_CT_HANDSHAKE, SS_CT_ALERT };
	static uint8_t pt[SS_REC_MAX_PLAINTEXT + 1], want[SS_REC_MAX_RECORD];

	for (size_t si = 0; si < NSUITES; si++) {
		pair p;
		pair_init(&p, all_suites[si]);
		ss_rec_dir mirror = p.cs.tx;
		for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
			for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
				size_t n = sizes[k], out_len = 0, want_len;
				randombytes_buf(pt, n);
				memset(bigbuf_rec, 0xa5, SS_REC_MAX_RECORD);
				cr_assert_eq(ss_rec_seal(p.c, types[t], pt, n, bigbuf_rec,
				                         n + SS_REC_OVERHEAD, &out_len), SS_OK);
				pt[n] = types[t];
				want_len = raw_seal(all_suites[si], &mirror, pt, n + 1, want);
				cr_assert_eq(out_len, want_len);
				cr_assert(memcmp(bigbuf_rec, want, want_len) == 0,
				          "suite %04x size %zu type %u differs", all_suites[si], n,
				          types[t]);
				cr_assert_eq(bigbuf_rec[want_len], 0xa5, "wrote past the record");
			}
		}
		cr_assert_eq(p.cs.tx.seq, mirror.seq);
		pair_free(&p);
	}
}

/* Walk a buffer of records with ss_rec_frame_len + ss_rec_read. */
static size_t drain(ss_rec *r, const uint8_t *buf, size_t len, uint8_t *out, size_t max_frag,
                    size_t *nrec)
{
	size_t off = 0, w = 0;

	*nrec = 0;
	while (off < len) {
		size_t rl = 0, used = 0, n = 0;
		ss_rec_event ev;
		uint8_t alert;
		cr_assert_eq(ss_rec_frame_len(buf + off, len - off, &rl), SS_OK);
		cr_assert_leq(rl, max_frag + SS_REC_OVERHEAD);
		cr_assert_eq(ss_rec_read(r, buf + off, len - off, &used, &ev, out + w,
		                         SS_REC_MAX_PLAINTEXT, &n, &alert), SS_OK);
		cr_assert_eq(used, rl);
		cr_assert_eq(ev, SS_REC_EV_DATA);
		off += used;
		w += n;
		(*nrec)++;
	}
	return w;
}

Test(rec_rt, seal_stream_1mb)
{
	const size_t len = 1u << 20;
	const size_t frags[] = { 0, 1000 };
	uint8_t *pt = malloc(len), *back = malloc(len + SS_REC_MAX_PLAINTEXT);

	cr_assert(pt && back);
	randombytes_buf(pt, len);
	for (size_t si = 0; si < NSUITES; si++) {
		for (size_t f = 0; f < 2; f++) {
			size_t mf = frags[f] ? frags[f] : SS_REC_MAX_PLAINTEXT;
			size_t nexp = (len + mf - 1) / mf, cap = len + nexp * SS_REC_OVERHEAD;
			uint8_t *rec = malloc(cap);
			size_t out_len = 0, nrec = 0;
			pair p;
			cr_assert(rec);
			pair_init(&p, all_suites[si]);
			/* one byte short: refused, nothing sealed */
			cr_assert_eq(ss_rec_seal_stream(p.c, pt, len, frags[f], rec, cap - 1, &out_len),
			             SS_BUFFER_TOO_SMALL);
			cr_assert_eq(p.cs.tx.seq, 0);
			cr_assert_eq(ss_rec_seal_stream(p.c, pt, len, frags[f], rec, cap, &out_len), SS_OK);
			cr_assert_eq(out_len, cap);
			cr_assert_eq(p.cs.tx.seq, nexp);
			cr_assert_eq(drain(p.s, rec, out_len, back, mf, &nrec), len);
			cr_assert_eq(nrec, nexp);
			cr_assert(memcmp(pt, back, len) == 0);
			cr_assert_eq(ss_rec_seal_stream(p.c, pt, 0, 0, rec, cap, &out_len), SS_OK);
			cr_assert_eq(out_len, 0);
			cr_assert_eq(ss_rec_seal_stream(p.c, pt, 10, SS_REC_MAX_PLAINTEXT + 1, rec, cap,
			                                &out_len), SS_RECORD_OVERFLOW);
			pair_free(&p);
			free(rec);
		}
	}
	free(pt);
	free(back);
}

static void send_data(ss_rec *from, ss_rec *to, const char *msg)
{
	size_t out_len = 0;
	cr_assert_eq(ss_rec_seal(from, SS_CT_APPLICATION_DATA, (const uint8_t *)msg, strlen(msg),
	                         bigbuf_rec, sizeof bigbuf_rec, &out_len), SS_OK);
	expect_data(to, bigbuf_rec, out_len, (const uint8_t *)msg, strlen(msg));
}

Test(rec_rt, key_update_both_ways)
{
	for (size_t si = 0; si < NSUITES; si++) {
		pair p;
		uint8_t ku[64], old_secret[48], alert;
		size_t kl = 0, used;
		ss_rec_event ev;

		pair_init(&p, all_suites[si]);
		send_data(p.c, p.s, "before");
		memcpy(old_secret, p.cs.tx.secret, sizeof old_secret);

		/* client updates and asks the server to update too */
		cr_assert_eq(ss_rec_key_update(p.c, 1, ku, sizeof ku, &kl), SS_OK);
		cr_assert_eq(kl, ss_rec_sealed_len(5));
		cr_assert_eq(p.cs.tx.epoch, 1);
		cr_assert_eq(p.cs.tx.seq, 0);
		cr_assert(memcmp(old_secret, p.cs.tx.secret, p.cs.secret_len) != 0);
		cr_assert_eq(read_one(p.s, ku, kl, &ev, &used, &alert), SS_OK);
		cr_assert_eq(ev, SS_REC_EV_HANDLED);
		cr_assert_eq(p.ss.rx.epoch, 1);
		cr_assert(memcmp(p.ss.rx.key, p.cs.tx.key, sizeof p.cs.tx.key) == 0);
		cr_assert(p.ss.flags & SS_REC_F_UPDATE_OWED);
		send_data(p.c, p.s, "after client update");
		send_data(p.s, p.c, "server still on epoch 0");

		/* server pays its debt, without asking back */
		cr_assert_eq(ss_rec_key_update(p.s, 0, ku, sizeof ku, &kl), SS_OK);
		cr_assert_eq(p.ss.flags & SS_REC_F_UPDATE_OWED, 0);
		cr_assert_eq(read_one(p.c, ku, kl, &ev, &used, &alert), SS_OK);
		cr_assert_eq(ev, SS_REC_EV_HANDLED);
		cr_assert_eq(p.cs.flags & SS_REC_F_UPDATE_OWED, 0, "update_not_requested owes nothing");
		send_data(p.s, p.c, "after server update");

		/* many generations in a row */
		for (int i = 0; i < 5; i++) {
			cr_assert_eq(ss_rec_key_update(p.c, 0, ku, sizeof ku, &kl), SS_OK);
			cr_assert_eq(read_one(p.s, ku, kl, &ev, &used, &alert), SS_OK);
			send_data(p.c, p.s, "x");
		}
		cr_assert_eq(p.cs.tx.epoch, 6);
		cr_assert_eq(p.ss.rx.epoch, 6);
		cr_assert_eq(ss_rec_key_update(p.c, 0, ku, 10, &kl), SS_BUFFER_TOO_SMALL);
		cr_assert_eq(p.cs.tx.epoch, 6);
		pair_free(&p);
	}
}

/* Two ss_rec objects over one state stand for two processes sharing it: a
 * KeyUpdate by one must re-key the other's cached contexts. */
Test(rec_rt, shared_state_epoch_change)
{
	pair p;
	ss_rec *c2, *s2;
	uint8_t ku[64], alert;
	size_t kl, used;
	ss_rec_event ev;

	pair_init(&p, SS_SUITE_AES_128_GCM_SHA256);
	cr_assert_eq(ss_rec_new(&p.cs, &c2), SS_OK);
	cr_assert_eq(ss_rec_new(&p.ss, &s2), SS_OK);
	send_data(c2, p.s, "warm c2 cache");
	send_data(p.c, s2, "warm s2 cache");
	cr_assert_eq(ss_rec_key_update(p.c, 0, ku, sizeof ku, &kl), SS_OK);
	cr_assert_eq(read_one(p.s, ku, kl, &ev, &used, &alert), SS_OK);
	send_data(c2, s2, "both stale caches follow the epoch");
	send_data(p.c, p.s, "and the originals too");
	ss_rec_free(c2);
	ss_rec_free(s2);
	pair_free(&p);
}

/* The same across a real fork with the state in MAP_SHARED memory. */
Test(rec_rt, fork_shared_state)
{
	ss_rec_state *shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE,
	                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int fds[2];
	pair p;
	pid_t pid;
	static uint8_t buf[4096];
	size_t got = 0;
	int wst;

	cr_assert_neq(shared, MAP_FAILED);
	pair_init(&p, SS_SUITE_CHACHA20_POLY1305_SHA256);
	*shared = p.cs;
	ss_rec_free(p.c);
	cr_assert_eq(ss_rec_new(shared, &p.c), SS_OK);
	send_data(p.c, p.s, "cache keyed before fork");
	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		/* child: KeyUpdate, then one record, through the inherited cache */
		size_t l1 = 0, l2 = 0;
		int ok = ss_rec_key_update(p.c, 0, buf, sizeof buf, &l1) == SS_OK &&
		         ss_rec_seal(p.c, SS_CT_APPLICATION_DATA, (const uint8_t *)"child", 5,
		                     buf + l1, sizeof buf - l1, &l2) == SS_OK &&
		         write(fds[1], buf, l1 + l2) == (ssize_t)(l1 + l2);
		/* Leave through exec: the Criterion runner's buffers in this copy
		 * of the process would otherwise show as leaks under valgrind
		 * --trace-children.  true/false carry the verdict. */
		execl(ok ? "/bin/true" : "/bin/false", ok ? "true" : "false", (char *)NULL);
		_exit(2);
	}
	close(fds[1]);
	cr_assert_eq(waitpid(pid, &wst, 0), pid);
	cr_assert(WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "child failed");
	for (ssize_t n; (n = read(fds[0], buf + got, sizeof buf - got)) > 0;)
		got += (size_t)n;
	close(fds[0]);
	cr_assert_eq(shared->tx.epoch, 1, "child's KeyUpdate visible in the shared state");
	/* parent: read what the child sent, then write with its stale cache */
	{
		size_t used;
		uint8_t alert;
		ss_rec_event ev;
		cr_assert_eq(read_one(p.s, buf, got, &ev, &used, &alert), SS_OK);
		cr_assert_eq(ev, SS_REC_EV_HANDLED);
		expect_data(p.s, buf + used, got - used, (const uint8_t *)"child", 5);
	}
	send_data(p.c, p.s, "parent after child's KeyUpdate");
	ss_rec_free(p.c);
	ss_rec_state_wipe(shared);
	munmap(shared, sizeof *shared);
	ss_rec_free(p.s);
	ss_rec_state_wipe(&p.ss);
}

Test(rec_rt, close_notify_and_half_close)
{
	pair p;
	uint8_t rec[64], alert;
	size_t l, used;
	ss_rec_event ev;

	pair_init(&p, SS_SUITE_AES_256_GCM_SHA384);
	cr_assert_eq(ss_rec_alert(p.c, 1, 0, rec, sizeof rec, &l), SS_OK);
	cr_assert(p.cs.flags & SS_REC_F_CLOSE_SENT);
	cr_assert_eq(ss_rec_seal(p.c, SS_CT_APPLICATION_DATA, (const uint8_t *)"x", 1, bigbuf_rec,
	                         sizeof bigbuf_rec, &used), SS_CLOSED);
	cr_assert_eq(ss_rec_key_update(p.c, 0, bigbuf_rec, sizeof bigbuf_rec, &used), SS_CLOSED);
	cr_assert_eq(read_one(p.s, rec, l, &ev, &used, &alert), SS_OK);
	cr_assert_eq(ev, SS_REC_EV_CLOSE);
	cr_assert(p.ss.flags & SS_REC_F_CLOSE_RECEIVED);
	/* half-close: the server still writes, the client still reads */
	send_data(p.s, p.c, "still talking");
	cr_assert_eq(ss_rec_alert(p.s, 1, 0, rec, sizeof rec, &l), SS_OK);
	cr_assert_eq(read_one(p.c, rec, l, &ev, &used, &alert), SS_OK);
	cr_assert_eq(ev, SS_REC_EV_CLOSE);
	cr_assert_eq(p.cs.flags & SS_REC_F_FAILED, 0);
	pair_free(&p);
}

Test(rec_rt, alerts_and_tickets)
{
	pair p;
	uint8_t rec[512], alert = 0, nst[40];
	size_t l, used;
	ss_rec_event ev;

	pair_init(&p, SS_SUITE_AES_128_GCM_SHA256);
	/* user_canceled (§6.1) is not fatal */
	cr_assert_eq(ss_rec_alert(p.s, 1, 90, rec, sizeof rec, &l), SS_OK);
	cr_assert_eq(read_one(p.c, rec, l, &ev, &used, &alert), SS_OK);
	cr_assert_eq(ev, SS_REC_EV_HANDLED);
	/* two coalesced NewSessionTickets (§4.6.1) are both skipped */
	memset(nst, 0, sizeof nst);
	nst[0] = 4;
	nst[3] = 16;
	nst[20] = 4;
	nst[23] = 16;
	cr_assert_eq(ss_rec_seal(p.s, SS_CT_HANDSHAKE, nst, sizeof nst, rec, sizeof rec, &l), SS_OK);
	cr_assert_eq(read_one(p.c, rec, l, &ev, &used, &alert), SS_OK);
	cr_assert_eq(ev, SS_REC_EV_HANDLED);
	send_data(p.s, p.c, "data after tickets");
	/* a fatal alert: reported with its description, then everything fails */
	cr_assert_eq(ss_rec_alert(p.s, 2, 40, rec, sizeof rec, &l), SS_OK);
	cr_assert(p.ss.flags & SS_REC_F_FAILED, "sending a fatal alert fails the sender");
	cr_assert_eq(read_one(p.c, rec, l, &ev, &used, &alert), SS_PEER_ALERT);
	cr_assert_eq(alert, 40);
	cr_assert_eq(used, 0);
	cr_assert(p.cs.flags & SS_REC_F_FAILED);
	pair_free(&p);
}

Test(rec_rt, sequence_exhaustion)
{
	pair p;
	uint8_t rec[128], alert;
	size_t l, used, n;
	ss_rec_event ev;
	uint8_t ct;

	pair_init(&p, SS_SUITE_AES_128_GCM_SHA256);
	p.cs.tx.seq = p.ss.rx.seq = UINT64_MAX - 2;
	send_data(p.c, p.s, "last data record under this key");
	cr_assert_eq(ss_rec_seal(p.c, SS_CT_APPLICATION_DATA, (const uint8_t *)"x", 1, rec,
	                         sizeof rec, &l), SS_SEQUENCE_EXHAUSTED);
	cr_assert_eq(ss_rec_seal_stream(p.c, (const uint8_t *)"x", 1, 0, rec, sizeof rec, &l),
	             SS_SEQUENCE_EXHAUSTED);
	cr_assert_eq(p.cs.flags & SS_REC_F_FAILED, 0, "exhaustion on send is recoverable");
	/* the one sequence number left is for the KeyUpdate */
	cr_assert_eq(ss_rec_key_update(p.c, 0, rec, sizeof rec, &l), SS_OK);
	cr_assert_eq(read_one(p.s, rec, l, &ev, &used, &alert), SS_OK);
	send_data(p.c, p.s, "new key, seq 0");
	cr_assert_eq(p.cs.tx.seq, 1);

	/* a peer that would make us wrap */
	p.ss.tx.seq = UINT64_MAX - 1;
	cr_assert_eq(ss_rec_alert(p.s, 1, 90, rec, sizeof rec, &l), SS_OK);
	p.cs.rx.seq = UINT64_MAX;
	cr_assert_eq(ss_rec_open(p.c, rec, l, &used, &ct, bigbuf_pt, sizeof bigbuf_pt, &n),
	             SS_SEQUENCE_EXHAUSTED);
	cr_assert(p.cs.flags & SS_REC_F_FAILED);
	pair_free(&p);
}

/* ------------------------------------------------------------ bad input */

/* Seal a distinctive payload client → server; returns the record length. */
static size_t one_record(pair *p, uint8_t *rec, size_t cap, size_t len)
{
	uint8_t pt[256];
	size_t l = 0;

	cr_assert_leq(len, sizeof pt);
	memset(pt, 0x5c, len);
	cr_assert_eq(ss_rec_seal(p->c, SS_CT_APPLICATION_DATA, pt, len, rec, cap, &l), SS_OK);
	return l;
}

Test(rec_bad, truncated_every_prefix)
{
	for (size_t si = 0; si < NSUITES; si++) {
		pair p;
		uint8_t rec[256];
		size_t l, used, n, rl;
		uint8_t ct;

		pair_init(&p, all_suites[si]);
		l = one_record(&p, rec, sizeof rec, 100);
		for (size_t k = 0; k < l; k++) {
			memset(bigbuf_pt, 0xee, 256);
			cr_assert_eq(ss_rec_open(p.s, rec, k, &used, &ct, bigbuf_pt, sizeof bigbuf_pt, &n),
			             SS_INCOMPLETE_MESSAGE, "prefix %zu", k);
			cr_assert_eq(used, 0);
			cr_assert_eq(n, 0);
			cr_assert(only_fill(bigbuf_pt, 256, 0xee));
			cr_assert_eq(ss_rec_frame_len(rec, k, &rl),
			             k < 5 ? SS_INCOMPLETE_MESSAGE : SS_OK);
		}
		cr_assert_eq(p.ss.flags & SS_REC_F_FAILED, 0, "short input is not an error");
		cr_assert_eq(p.ss.rx.seq, 0);
		/* the whole record, followed by bytes of the next one, opens */
		memset(rec + l, 0x17, 7);
		cr_assert_eq(ss_rec_open(p.s, rec, l + 7, &used, &ct, bigbuf_pt, sizeof bigbuf_pt, &n),
		             SS_OK);
		cr_assert_eq(used, l);
		cr_assert_eq(n, 100);
		cr_assert(only_fill(bigbuf_pt, 100, 0x5c) && bigbuf_pt[0] == 0x5c);
		pair_free(&p);
	}
}

Test(rec_bad, every_bit_flipped)
{
	for (size_t si = 0; si < NSUITES; si++) {
		pair p;
		uint8_t rec[256], bad[256], alert;
		size_t l, used, n;
		ss_rec_state saved;
		ss_rec_event ev;
		ss_status st;

		pair_init(&p, all_suites[si]);
		l = one_record(&p, rec, sizeof rec, 64);
		saved = p.ss;
		for (size_t bit = 0; bit < l * 8; bit++) {
			memcpy(bad, rec, l);
			bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			p.ss = saved;
			memset(bigbuf_pt, 0xee, 128);
			n = 99;
			st = ss_rec_read(p.s, bad, l, &used, &ev, bigbuf_pt, sizeof bigbuf_pt, &n, &alert);
			cr_assert_neq(st, SS_OK, "suite %04x bit %zu accepted", all_suites[si], bit);
			cr_assert_eq(n, 0);
			cr_assert_eq(used, 0);
			cr_assert(only_fill(bigbuf_pt, 128, 0xee), "plaintext leaked, bit %zu", bit);
			cr_assert_eq(p.ss.rx.seq, 0);
			if (bit >= 5 * 8) {
				/* ciphertext or tag: an authentication failure */
				cr_assert_eq(st, SS_BAD_RECORD_MAC, "bit %zu: %s", bit, ss_status_name(st));
				cr_assert(p.ss.flags & SS_REC_F_FAILED);
			} else if (bit < 8) {
				cr_assert_eq(st, SS_UNEXPECTED_MESSAGE, "type bit %zu", bit);
			} else if (bit < 24) {
				cr_assert_eq(st, SS_DECODE_ERROR, "version bit %zu", bit);
			} else {
				/* length: longer waits for bytes that will never authenticate,
				 * shorter fails the tag (or exceeds §5.2) */
				cr_assert(st == SS_INCOMPLETE_MESSAGE || st == SS_BAD_RECORD_MAC ||
				          st == SS_RECORD_OVERFLOW, "length bit %zu: %s", bit,
				          ss_status_name(st));
			}
		}
		p.ss = saved;
		memset(bad, 0x5c, 64);
		expect_data(p.s, rec, l, bad, 64);
		pair_free(&p);
	}
}

Test(rec_bad, oversized)
{
	pair p;
	static uint8_t inner[SS_REC_MAX_PLAINTEXT + 300];
	size_t l, rl, used, n;
	uint8_t ct;

	pair_init(&p, SS_SUITE_AES_128_GCM_SHA256);
	/* header announcing 2^14 + 257 bytes: record_overflow from framing alone */
	uint8_t hdr[5] = { 23, 3, 3, (SS_REC_MAX_CIPHERTEXT + 1) >> 8,
	                   (SS_REC_MAX_CIPHERTEXT + 1) & 0xff };
	cr_assert_eq(ss_rec_frame_len(hdr, 5, &rl), SS_RECORD_OVERFLOW);
	cr_assert_eq(ss_rec_open(p.s, hdr, 5, &used, &ct, bigbuf_pt, sizeof bigbuf_pt, &n),
	             SS_RECORD_OVERFLOW);
	cr_assert(p.ss.flags & SS_REC_F_FAILED);
	pair_free(&p);

	/* authentic record whose TLSInnerPlaintext is 2^14 + 2 bytes (§5.4) */
	pair_init(&p, SS_SUITE_AES_128_GCM_SHA256);
	memset(inner, 0x41, sizeof inner);
	l = raw_seal(SS_SUITE_AES_128_GCM_SHA256, &p.cs.tx, inner, SS_REC_MAX_PLAINTEXT + 2,
	             bigbuf_rec);
	cr_assert_eq(ss_rec_frame_len(bigbuf_rec, l, &rl), SS_OK);
	cr_assert_eq(ss_rec_open(p.s, bigbuf_rec, l, &used, &ct, bigbuf_pt, sizeof bigbuf_pt, &n),
	             SS_RECORD_OVERFLOW);
	pair_free(&p);

	/* 2^14 + 1 with the type byte is the largest legal one; padding too */
	pair_init(&p, SS_SUITE_AES_128_GCM_SHA256);
	inner[SS_REC_MAX_PLAINTEXT] = 23;
	l = raw_seal(SS_SUITE_AES_128_GCM_SHA256, &p.cs.tx, inner, SS_REC_MAX_PLAINTEXT + 1,
	             bigbuf_rec);
	expect_data(p.s, bigbuf_rec, l, inner, SS_REC_MAX_PLAINTEXT);
	memset(inner, 0, sizeof inner);
	memcpy(inner, "pad", 3);
	inner[3] = 23;
	l = raw_seal(SS_SUITE_AES_128_GCM_SHA256, &p.cs.tx, inner, SS_REC_MAX_PLAINTEXT + 1,
	             bigbuf_rec);
	expect_data(p.s, bigbuf_rec, l, (const uint8_t *)"pad", 3);
	pair_free(&p);
}

Test(rec_bad, wrong_outer_type_and_ccs)
{
	pair p;
	uint8_t rec[256], alert;
	size_t l, used, rl;
	ss_rec_event ev;
	static const uint8_t ccs[6] = { 20, 3, 3, 0, 1, 1 };

	/* a compatibility CCS before any protected record is dropped (§5) */
	pair_init(&p, SS_SUITE_AES_128_GCM_SHA256);
	cr_assert_eq(read_one(p.s, ccs, sizeof ccs, &ev, &used, &alert), SS_OK);
	cr_assert_eq(ev, SS_REC_EV_HANDLED);
	cr_assert_eq(used, 6);
	l = one_record(&p, rec, sizeof rec, 10);
	cr_assert_eq(read_one(p.s, rec, l, &ev, &used, &alert), SS_OK);
	/* ... but not once application data flowed */
	cr_assert_eq(read_one(p.s, ccs, sizeof ccs, &ev, &used, &alert), SS_UNEXPECTED_MESSAGE);
	cr_assert(p.ss.flags & SS_REC_F_FAILED);
	pair_free(&p);

	/* a CCS with any other body */
	pair_init(&p, SS_SUITE_AES_128_GCM_SHA256);
	static const uint8_t ccs2[7] = { 20, 3, 3, 0, 2, 1, 1 };
	cr_assert_eq(read_one(p.s, ccs2, sizeof ccs2, &ev, &used, &alert), SS_UNEXPECTED_MESSAGE);
	pair_free(&p);

	/* plaintext handshake / alert / unknown outer types */
	static const uint8_t types[] = { 0, 21, 22, 24, 255 };
	for (size_t i = 0; i < sizeof types; i++) {
		pair_init(&p, SS_SUITE_AES_128_GCM_SHA256);
		l = one_record(&p, rec, sizeof rec, 10);
		rec[0] = types[i];
		cr_assert_eq(ss_rec_frame_len(rec, l, &rl), SS_UNEXPECTED_MESSAGE);
		cr_assert_eq(read_one(p.s, rec, l, &ev, &used, &alert), SS_UNEXPECTED_MESSAGE);
		cr_assert(p.ss.flags & SS_REC_F_FAILED);
		pair_free(&p);
	}
	/* legacy_record_version other than 0x0303 */
	pair_init(&p, SS_SUITE_AES_128_GCM_SHA256);
	l = one_record(&p, rec, sizeof rec, 10);
	rec[2] = 1;
	cr_assert_eq(read_one(p.s, rec, l, &ev, &used, &alert), SS_DECODE_ERROR);
	pair_free(&p);
	/* too short to carry a tag */
	pair_init(&p, SS_SUITE_AES_128_GCM_SHA256);
	static const uint8_t tiny[5 + 16] = { 23, 3, 3, 0, 16 };
	cr_assert_eq(read_one(p.s, tiny, sizeof tiny, &ev, &used, &alert), SS_BAD_RECORD_MAC);
	pair_free(&p);
}

Test(rec_bad, reordered_and_replayed)
{
	pair p;
	uint8_t r0[256], r1[256], alert;
	size_t l0, l1, used;
	ss_rec_event ev;
	ss_rec_state saved;

	pair_init(&p, SS_SUITE_AES_256_GCM_SHA384);
	l0 = one_record(&p, r0, sizeof r0, 30);
	l1 = one_record(&p, r1, sizeof r1, 31);
	saved = p.ss;
	/* §5.3: the nonce carries the expected sequence number */
	cr_assert_eq(read_one(p.s, r1, l1, &ev, &used, &alert), SS_BAD_RECORD_MAC);
	cr_assert(p.ss.flags & SS_REC_F_FAILED);
	p.ss = saved;
	cr_assert_eq(read_one(p.s, r0, l0, &ev, &used, &alert), SS_OK);
	cr_assert_eq(read_one(p.s, r0, l0, &ev, &used, &alert), SS_BAD_RECORD_MAC, "replay");
	cr_assert_eq(p.ss.rx.seq, 1, "a failed open leaves seq unchanged");
	pair_free(&p);
}

/* Inner plaintexts only a broken or hostile peer would produce. */
Test(rec_bad, malformed_inner)
{
	static const struct {
		const char *what;
		uint8_t inner[16];
		size_t len;
		ss_status want;
	} cases[] = {
		{ "all-zero inner plaintext (§5.4)", { 0 }, 16, SS_UNEXPECTED_MESSAGE },
		{ "inner ChangeCipherSpec", { 1, 20 }, 2, SS_UNEXPECTED_MESSAGE },
		{ "unknown inner type", { 1, 2, 99 }, 3, SS_UNEXPECTED_MESSAGE },
		{ "alert of 1 byte", { 2, 21 }, 2, SS_DECODE_ERROR },
		{ "two alerts coalesced", { 1, 0, 1, 0, 21 }, 5, SS_DECODE_ERROR },
		{ "empty handshake record", { 22 }, 1, SS_DECODE_ERROR },
		{ "handshake header cut", { 4, 0, 0, 22 }, 4, SS_DECODE_ERROR },
		{ "handshake body beyond record", { 4, 0, 0, 9, 1, 2, 22 }, 7, SS_DECODE_ERROR },
		{ "Finished after handshake", { 20, 0, 0, 1, 0, 22 }, 6, SS_UNEXPECTED_MESSAGE },
		{ "KeyUpdate value 2", { 24, 0, 0, 1, 2, 22 }, 6, SS_DECODE_ERROR },
		{ "KeyUpdate of 2 bytes", { 24, 0, 0, 2, 0, 0, 22 }, 7, SS_DECODE_ERROR },
		{ "KeyUpdate not last (§5.1)", { 24, 0, 0, 1, 0, 4, 0, 0, 0, 22 }, 10,
		  SS_UNEXPECTED_MESSAGE },
		{ "bad_record_mac alert", { 2, 20, 21 }, 3, SS_PEER_ALERT },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		pair p;
		uint8_t rec[128], alert = 0;
		size_t l, used = 7, n = 7;
		ss_rec_event ev;
		ss_status st;

		pair_init(&p, SS_SUITE_CHACHA20_POLY1305_SHA256);
		l = raw_seal(SS_SUITE_CHACHA20_POLY1305_SHA256, &p.cs.tx, cases[i].inner,
		             cases[i].len, rec);
		st = ss_rec_read(p.s, rec, l, &used, &ev, bigbuf_pt, sizeof bigbuf_pt, &n, &alert);
		cr_assert_eq(st, cases[i].want, "%s: got %s", cases[i].what, ss_status_name(st));
		cr_assert_eq(n, 0, "%s", cases[i].what);
		cr_assert_eq(used, 0, "%s", cases[i].what);
		cr_assert(p.ss.flags & SS_REC_F_FAILED, "%s", cases[i].what);
		if (st == SS_PEER_ALERT)
			cr_assert_eq(alert, 20);
		pair_free(&p);
	}
}

Test(rec_bad, data_after_close_notify)
{
	pair p;
	uint8_t rec[256], alert;
	size_t l1, l2, used;
	ss_rec_event ev;

	pair_init(&p, SS_SUITE_AES_128_GCM_SHA256);
	/* a peer that keeps writing after its close_notify */
	cr_assert_eq(ss_rec_seal(p.c, SS_CT_ALERT, (const uint8_t *)"\x01\x00", 2, rec, sizeof rec,
	                         &l1), SS_OK);
	cr_assert_eq(ss_rec_seal(p.c, SS_CT_APPLICATION_DATA, (const uint8_t *)"late", 4, rec + l1,
	                         sizeof rec - l1, &l2), SS_OK);
	cr_assert_eq(read_one(p.s, rec, l1 + l2, &ev, &used, &alert), SS_OK);
	cr_assert_eq(ev, SS_REC_EV_CLOSE);
	cr_assert_eq(used, l1);
	memset(bigbuf_pt, 0xee, 16);
	cr_assert_eq(read_one(p.s, rec + l1, l2, &ev, &used, &alert), SS_CLOSED);
	cr_assert_eq(used, 0);
	cr_assert(only_fill(bigbuf_pt, 16, 0xee));
	pair_free(&p);
}

Test(rec_bad, calls_after_failed)
{
	pair p;
	uint8_t rec[256], bad[256], alert, ct;
	size_t l, used, n;
	ss_rec_event ev;

	pair_init(&p, SS_SUITE_AES_128_GCM_SHA256);
	l = one_record(&p, rec, sizeof rec, 20);
	memcpy(bad, rec, l);
	bad[l - 1] ^= 1;
	cr_assert_eq(read_one(p.s, bad, l, &ev, &used, &alert), SS_BAD_RECORD_MAC);
	/* the genuine record is refused now, and so is sending data */
	cr_assert_eq(read_one(p.s, rec, l, &ev, &used, &alert), SS_INVALID_HANDLE);
	cr_assert_eq(ss_rec_open(p.s, rec, l, &used, &ct, bigbuf_pt, sizeof bigbuf_pt, &n),
	             SS_INVALID_HANDLE);
	cr_assert_eq(ss_rec_seal(p.s, SS_CT_APPLICATION_DATA, rec, 1, bad, sizeof bad, &n),
	             SS_INVALID_HANDLE);
	cr_assert_eq(ss_rec_seal_stream(p.s, rec, 1, 0, bad, sizeof bad, &n), SS_INVALID_HANDLE);
	cr_assert_eq(ss_rec_key_update(p.s, 0, bad, sizeof bad, &n), SS_INVALID_HANDLE);
	/* but the fatal alert telling the peer why still goes out */
	cr_assert_eq(ss_rec_alert(p.s, 2, 20, bad, sizeof bad, &n), SS_OK);
	cr_assert_eq(read_one(p.c, bad, n, &ev, &used, &alert), SS_PEER_ALERT);
	cr_assert_eq(alert, 20);
	pair_free(&p);
}

Test(rec_bad, buffer_too_small)
{
	pair p;
	uint8_t rec[256], ct, alert;
	size_t l, used, n;
	ss_rec_event ev;

	pair_init(&p, SS_SUITE_AES_128_GCM_SHA256);
	l = one_record(&p, rec, sizeof rec, 100);
	memset(bigbuf_pt, 0xee, 128);
	cr_assert_eq(ss_rec_open(p.s, rec, l, &used, &ct, bigbuf_pt, 99, &n), SS_BUFFER_TOO_SMALL);
	cr_assert_eq(used, 0);
	cr_assert_eq(n, 0);
	cr_assert(only_fill(bigbuf_pt, 128, 0xee), "authentic but undelivered plaintext wiped");
	cr_assert_eq(p.ss.rx.seq, 0);
	cr_assert_eq(p.ss.flags & SS_REC_F_FAILED, 0);
	cr_assert_eq(ss_rec_read(p.s, rec, l, &used, &ev, NULL, 0, &n, &alert), SS_BUFFER_TOO_SMALL);
	cr_assert_eq(ss_rec_read(p.s, rec, l, &used, &ev, bigbuf_pt, 100, &n, &alert), SS_OK);
	cr_assert_eq(n, 100);
	cr_assert_eq(used, l);
	/* a full-size record into a small buffer (tail beyond the stack scratch) */
	static uint8_t big[SS_REC_MAX_PLAINTEXT];
	memset(big, 0x33, sizeof big);
	cr_assert_eq(ss_rec_seal(p.c, SS_CT_APPLICATION_DATA, big, sizeof big, bigbuf_rec,
	                         sizeof bigbuf_rec, &l), SS_OK);
	memset(bigbuf_pt, 0xee, 64);
	cr_assert_eq(ss_rec_open(p.s, bigbuf_rec, l, &used, &ct, bigbuf_pt, 64, &n),
	             SS_BUFFER_TOO_SMALL);
	cr_assert(only_fill(bigbuf_pt, 64, 0xee));
	expect_data(p.s, bigbuf_rec, l, big, sizeof big);
	pair_free(&p);
}

Test(rec_api, arguments_and_init)
{
	uint8_t s[48] = { 1 };
	ss_rec_state st;
	ss_rec *r = NULL;
	size_t rl;

	cr_assert_eq(ss_rec_state_init(&st, 0x1304, s, s, 32), SS_ALGORITHM_MISMATCH);
	cr_assert_eq(ss_rec_state_init(&st, SS_SUITE_AES_256_GCM_SHA384, s, s, 32), SS_INVALID_HANDLE);
	cr_assert_eq(ss_rec_state_init(NULL, SS_SUITE_AES_128_GCM_SHA256, s, s, 32), SS_INVALID_HANDLE);
	cr_assert_eq(ss_rec_state_init(&st, SS_SUITE_AES_256_GCM_SHA384, s, s, 48), SS_OK);
	cr_assert_eq(st.key_len, 32);
	cr_assert_eq(st.secret_len, 48);
	cr_assert_eq(st.tx.seq, 0);
	cr_assert_eq(st.flags, 0);
	cr_assert_eq(ss_rec_new(NULL, &r), SS_INVALID_HANDLE);
	cr_assert_eq(ss_rec_new(&st, &r), SS_OK);
	cr_assert_eq(ss_rec_get_state(r), &st);
	cr_assert_null(ss_rec_get_state(NULL));
	ss_rec_free(r);
	ss_rec_free(NULL);
	ss_rec_state_wipe(NULL);
	ss_rec_state_wipe(&st);
	cr_assert_eq(ss_rec_new(&st, &r), SS_INVALID_HANDLE, "a wiped state has no suite");
	cr_assert_eq(ss_rec_frame_len(NULL, 0, &rl), SS_INCOMPLETE_MESSAGE);
	cr_assert_eq(ss_rec_sealed_len(0), 22);
	cr_assert_eq(ss_rec_sealed_len(SS_REC_MAX_PLAINTEXT), SS_REC_MAX_PLAINTEXT + SS_REC_OVERHEAD);
}

/* ss_rec_new looks a suite's AEAD functions up on the process's first use
 * (ss_rec.c aead_ops, under a mutex, published to lock-free readers): many
 * threads making their first connections at once, over all suites, must
 * each get working contexts.  Each criterion test runs in a fresh process,
 * so this is the first use here.  No cr_assert off the main thread: each
 * thread returns what failed. */
enum { FIRST_USE_THREADS = 12 };
static atomic_int first_use_go;

static void *first_use_thread(void *arg)
{
	uint16_t suite = all_suites[(uintptr_t)arg % NSUITES];
	size_t sl = secret_len_of(suite), used, got, l;
	uint8_t secret[48], msg[100], rec[100 + SS_REC_OVERHEAD], back[100], ct;
	ss_rec_state a, b;
	ss_rec *w = NULL, *r = NULL;
	const char *fail = NULL;

	randombytes_buf(secret, sizeof secret);
	randombytes_buf(msg, sizeof msg);
	while (!atomic_load(&first_use_go))
		;
	if (ss_rec_state_init(&a, suite, secret, secret, sl) != SS_OK ||
	    ss_rec_state_init(&b, suite, secret, secret, sl) != SS_OK)
		return (void *)"state_init";
	if (ss_rec_new(&a, &w) != SS_OK || ss_rec_new(&b, &r) != SS_OK)
		fail = "ss_rec_new";
	for (int i = 0; !fail && i < 50; i++) {
		if (ss_rec_seal(w, SS_CT_APPLICATION_DATA, msg, sizeof msg, rec, sizeof rec, &l) != SS_OK)
			fail = "seal";
		else if (ss_rec_open(r, rec, l, &used, &ct, back, sizeof back, &got) != SS_OK ||
		         got != sizeof msg || memcmp(back, msg, got) != 0)
			fail = "open";
	}
	ss_rec_free(w);
	ss_rec_free(r);
	ss_rec_state_wipe(&a);
	ss_rec_state_wipe(&b);
	return (void *)fail;
}

Test(rec_api, first_use_from_many_threads_all_suites)
{
	pthread_t t[FIRST_USE_THREADS];

	for (uintptr_t i = 0; i < FIRST_USE_THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, first_use_thread, (void *)i), 0);
	atomic_store(&first_use_go, 1);
	for (int i = 0; i < FIRST_USE_THREADS; i++) {
		void *fail = NULL;
		cr_assert_eq(pthread_join(t[i], &fail), 0);
		cr_assert_null(fail, "thread %d: %s", i, fail ? (const char *)fail : "");
	}
}

/* ------------------------------------------------------------ trim (idle connections)
 *
 * ss_rec_trim frees the AEAD contexts; the next record re-creates them from
 * the keys in ss_rec_state (ss_rec.h).  Nothing observable on the wire may
 * change: the RFC 8448 records stay byte-exact and round trips, KeyUpdates
 * and shared states behave as without a trim. */

Test(rec_trim, fresh_rec_holds_nothing_and_trim_is_idempotent)
{
	pair p;

	pair_init(&p, SS_SUITE_AES_128_GCM_SHA256);
	cr_assert_eq(ss_rec_ctx_count(p.c), 0, "a fresh rec makes no context");
	ss_rec_trim(p.c);                       /* trim a fresh rec */
	ss_rec_trim(p.c);                       /* and again */
	cr_assert_eq(ss_rec_ctx_count(p.c), 0);
	ss_rec_trim(NULL);
	cr_assert_eq(ss_rec_ctx_count(NULL), 0);
	send_data(p.c, p.s, "after trimming a fresh rec");
	cr_assert_eq(ss_rec_ctx_count(p.c), 1, "sealing makes the tx context only");
	cr_assert_eq(ss_rec_ctx_count(p.s), 1, "opening makes the rx context only");
	send_data(p.s, p.c, "reply");
	cr_assert_eq(ss_rec_ctx_count(p.c), 2);
	cr_assert_eq(ss_rec_ctx_count(p.s), 2);
	ss_rec_trim(p.c);
	cr_assert_eq(ss_rec_ctx_count(p.c), 0, "a trimmed rec holds no EVP context");
	ss_rec_trim(p.c);                       /* trim twice */
	cr_assert_eq(ss_rec_ctx_count(p.c), 0);
	send_data(p.c, p.s, "after a double trim");
	send_data(p.s, p.c, "both ways");
	pair_free(&p);
}

Test(rec_trim, between_records_both_directions_all_suites)
{
	for (size_t si = 0; si < NSUITES; si++) {
		pair p;
		char msg[64];

		pair_init(&p, all_suites[si]);
		for (int i = 0; i < 6; i++) {
			snprintf(msg, sizeof msg, "record %d, suite %04x", i, all_suites[si]);
			/* every combination of who was trimmed before the record */
			if (i & 1)
				ss_rec_trim(p.c);
			if (i & 2)
				ss_rec_trim(p.s);
			send_data(p.c, p.s, msg);
			if (i & 4) {
				ss_rec_trim(p.c);
				ss_rec_trim(p.s);
				cr_assert_eq(ss_rec_ctx_count(p.c) + ss_rec_ctx_count(p.s), 0);
			}
			send_data(p.s, p.c, msg);
		}
		cr_assert_eq(p.cs.tx.seq, 6);
		cr_assert_eq(p.cs.rx.seq, 6);
		/* a big batch after a trim: every record under the re-created key */
		ss_rec_trim(p.c);
		ss_rec_trim(p.s);
		{
			static uint8_t pt[3 * SS_REC_MAX_PLAINTEXT + 7];
			static uint8_t out[sizeof pt + 4 * SS_REC_OVERHEAD];
			size_t olen = 0, off = 0, used, n;
			ss_rec_event ev;
			uint8_t alert;

			randombytes_buf(pt, sizeof pt);
			cr_assert_eq(ss_rec_seal_stream(p.c, pt, sizeof pt, 0, out, sizeof out, &olen), SS_OK);
			for (size_t got = 0; got < sizeof pt; off += used, got += n) {
				cr_assert_eq(ss_rec_read(p.s, out + off, olen - off, &used, &ev,
				                         bigbuf_pt, sizeof bigbuf_pt, &n, &alert), SS_OK);
				cr_assert_eq(ev, SS_REC_EV_DATA);
				cr_assert(memcmp(bigbuf_pt, pt + got, n) == 0);
				ss_rec_trim(p.s);   /* between every record of the stream */
			}
			cr_assert_eq(off, olen);
		}
		pair_free(&p);
	}
}

Test(rec_trim, across_key_update)
{
	for (size_t si = 0; si < NSUITES; si++) {
		pair p;
		uint8_t ku[64], alert;
		size_t kl = 0, used;
		ss_rec_event ev;

		pair_init(&p, all_suites[si]);
		send_data(p.c, p.s, "epoch 0");
		send_data(p.s, p.c, "epoch 0 back");
		/* KeyUpdate sealed by a trimmed rec, opened by a trimmed rec */
		ss_rec_trim(p.c);
		ss_rec_trim(p.s);
		cr_assert_eq(ss_rec_key_update(p.c, 1, ku, sizeof ku, &kl), SS_OK);
		cr_assert_eq(p.cs.tx.epoch, 1);
		ss_rec_trim(p.c);   /* between the KeyUpdate and the first record under the new key */
		cr_assert_eq(read_one(p.s, ku, kl, &ev, &used, &alert), SS_OK);
		cr_assert_eq(ev, SS_REC_EV_HANDLED);
		cr_assert(p.ss.flags & SS_REC_F_UPDATE_OWED);
		ss_rec_trim(p.s);
		send_data(p.c, p.s, "epoch 1 after two trims");
		/* the owed update, trimmed on both ends in between */
		cr_assert_eq(ss_rec_key_update(p.s, 0, ku, sizeof ku, &kl), SS_OK);
		ss_rec_trim(p.s);
		ss_rec_trim(p.c);
		cr_assert_eq(read_one(p.c, ku, kl, &ev, &used, &alert), SS_OK);
		ss_rec_trim(p.c);
		send_data(p.s, p.c, "server epoch 1");
		send_data(p.c, p.s, "client epoch 1");
		cr_assert_eq(p.cs.rx.epoch, 1);
		cr_assert_eq(p.ss.rx.epoch, 1);
		pair_free(&p);
	}
}

/* Two recs over one state (two processes after fork): one trims, the other
 * KeyUpdates; the trimmed one re-creates its context at the new epoch. */
Test(rec_trim, shared_state_trim_then_epoch_change)
{
	pair p;
	ss_rec *c2;
	uint8_t ku[64], alert;
	size_t kl, used;
	ss_rec_event ev;

	pair_init(&p, SS_SUITE_CHACHA20_POLY1305_SHA256);
	cr_assert_eq(ss_rec_new(&p.cs, &c2), SS_OK);
	send_data(c2, p.s, "c2 warm");
	send_data(p.c, p.s, "c warm");
	ss_rec_trim(c2);
	cr_assert_eq(ss_rec_key_update(p.c, 0, ku, sizeof ku, &kl), SS_OK);
	cr_assert_eq(read_one(p.s, ku, kl, &ev, &used, &alert), SS_OK);
	send_data(c2, p.s, "trimmed c2 seals under epoch 1");
	cr_assert_eq(p.cs.tx.epoch, 1);
	ss_rec_free(c2);
	pair_free(&p);
}

Test(rec_trim, rfc8448_records_byte_exact_after_trim)
{
	vec_file vf;
	ss_rec_state cst, sst;
	ss_rec *c, *s;
	size_t l, pl;
	uint8_t *rec, *payload;

	kat_open_pair(&vf, &cst, &sst, &c, &s);

	/* seal, trim, seal the same record again: identical bytes */
	kat_seal(&vf, c, &cst, SS_CT_APPLICATION_DATA,
	         "client_application_data_payload", "client_application_data_record");
	ss_rec_trim(c);
	cr_assert_eq(ss_rec_ctx_count(c), 0);
	kat_seal(&vf, c, &cst, SS_CT_APPLICATION_DATA,
	         "client_application_data_payload", "client_application_data_record");
	kat_seal(&vf, s, &sst, SS_CT_HANDSHAKE,
	         "new_session_ticket_message", "new_session_ticket_record");
	ss_rec_trim(s);
	kat_seal(&vf, s, &sst, SS_CT_APPLICATION_DATA,
	         "server_application_data_payload", "server_application_data_record");

	/* open the published server record with a trimmed client rec */
	rec = need_hex(&vf, "server_application_data_record", &l);
	payload = need_hex(&vf, "server_application_data_payload", &pl);
	cst.rx.seq = (uint64_t)vec_int(&vf, "sequence_numbers", "server_application_data_record");
	expect_data(c, rec, l, payload, pl);
	ss_rec_trim(c);
	cst.rx.seq--;
	expect_data(c, rec, l, payload, pl);
	free(rec);
	free(payload);

	kat_close_pair(&vf, &cst, &sst, c, s);
}

static atomic_int hook_calls;
static void count_hook(void)
{
	atomic_fetch_add(&hook_calls, 1);
}

Test(rec_trim, ctx_hook_fires_once_per_context_made)
{
	pair p;

	atomic_store(&hook_calls, 0);
	ss_rec_set_ctx_hook(count_hook);
	pair_init(&p, SS_SUITE_AES_256_GCM_SHA384);
	cr_assert_eq(atomic_load(&hook_calls), 0, "ss_rec_new makes no context");
	send_data(p.c, p.s, "one");
	cr_assert_eq(atomic_load(&hook_calls), 2, "c's tx and s's rx");
	send_data(p.c, p.s, "two");
	cr_assert_eq(atomic_load(&hook_calls), 2, "no new context, no call");
	ss_rec_trim(p.s);
	send_data(p.c, p.s, "three");
	cr_assert_eq(atomic_load(&hook_calls), 3, "s's rx re-created");
	/* Setting the hook again (a fork child does) makes each rec that holds
	 * a context call it once more at its next record, made or not. */
	ss_rec_set_ctx_hook(count_hook);
	send_data(p.c, p.s, "four");
	cr_assert_eq(atomic_load(&hook_calls), 5, "c and s report their inherited contexts");
	send_data(p.c, p.s, "five");
	cr_assert_eq(atomic_load(&hook_calls), 5, "once only");
	ss_rec_set_ctx_hook(count_hook);
	{
		uint8_t ku[64], alert;
		size_t kl, used;
		ss_rec_event ev;
		/* the KeyUpdate is sealed under the existing context and reports
		 * it; s re-keys its rx context on reading it, and reports too */
		cr_assert_eq(ss_rec_key_update(p.c, 0, ku, sizeof ku, &kl), SS_OK);
		cr_assert_eq(atomic_load(&hook_calls), 6);
		cr_assert_eq(read_one(p.s, ku, kl, &ev, &used, &alert), SS_OK);
		cr_assert_eq(atomic_load(&hook_calls), 7);
	}
	ss_rec_set_ctx_hook(NULL);
	ss_rec_trim(p.s);
	send_data(p.c, p.s, "six");
	cr_assert_eq(atomic_load(&hook_calls), 7, "hook removed");
	pair_free(&p);
}
