/* fuzz_rec_open.c — the record reader (ss_rec_frame_len + ss_rec_read) on
 * hostile bytes, and seal/open agreement on arbitrary plaintext.
 *
 * The first input byte picks the mode:
 *   0  the rest is a byte stream from the peer: frame and read records with
 *      a fixed key until something stops the loop.  Checked: no crash or
 *      out-of-bounds access (ASan/UBSan), consumed never exceeds the input,
 *      no plaintext is reported on failure, a failed state stays failed.
 *   1  the rest is plaintext: seal it with ss_rec_seal_stream (fragment size
 *      from the next two bytes), read it back, require equality.
 *   2  the rest is one record's content of a chosen inner type: seal it and
 *      read it, which drives the post-handshake parsers (alerts, KeyUpdate,
 *      NewSessionTicket) with authenticated but arbitrary content.
 * Fixed key for mode 0: the reader's rx secret is 32 bytes of 0x22 under
 * TLS_AES_128_GCM_SHA256, so seed records can be made outside this file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ss_rec.h"

static const uint16_t suites[] = {
	SS_SUITE_AES_128_GCM_SHA256,
	SS_SUITE_AES_256_GCM_SHA384,
	SS_SUITE_CHACHA20_POLY1305_SHA256,
};

static ss_rec_state tmpl_w[3], tmpl_r[3];  /* writer / reader templates */
static ss_rec_state st_w, st_r;
static ss_rec *rec_w[3], *rec_r[3];
static uint8_t pt[SS_REC_MAX_PLAINTEXT + 1];
static uint8_t *sealed;
static size_t sealed_cap;

static void setup(void)
{
	uint8_t a[48], b[48];

	memset(a, 0x11, sizeof a);
	memset(b, 0x22, sizeof b);
	for (int i = 0; i < 3; i++) {
		size_t sl = suites[i] == SS_SUITE_AES_256_GCM_SHA384 ? 48 : 32;
		if (ss_rec_state_init(&tmpl_w[i], suites[i], b, a, sl) != SS_OK ||
		    ss_rec_state_init(&tmpl_r[i], suites[i], a, b, sl) != SS_OK)
			abort();
		/* Both objects of a suite point at the shared working states; the
		 * per-input reset copies a template in, and the epoch check makes
		 * the cached EVP contexts follow. */
		st_w = tmpl_w[i];
		st_r = tmpl_r[i];
		if (ss_rec_new(&st_w, &rec_w[i]) != SS_OK || ss_rec_new(&st_r, &rec_r[i]) != SS_OK)
			abort();
	}
}

static void read_stream(ss_rec *r, const uint8_t *in, size_t n)
{
	while (n > 0) {
		size_t rl = 0, used = 0, got = 12345;
		ss_rec_event ev = 0;
		uint8_t alert = 0;
		ss_status fs = ss_rec_frame_len(in, n, &rl);
		ss_status st = ss_rec_read(r, in, n, &used, &ev, pt, sizeof pt, &got, &alert);

		if (used > n || got > sizeof pt)
			abort();
		if (st != SS_OK) {
			if (used != 0 || got != 0)
				abort();
			/* framing verdicts agree with the reader's */
			if (fs == SS_INCOMPLETE_MESSAGE && st != SS_INCOMPLETE_MESSAGE &&
			    st != SS_CLOSED && st != SS_INVALID_HANDLE)
				abort();
			if (st != SS_INCOMPLETE_MESSAGE && st != SS_CLOSED &&
			    !(st_r.flags & SS_REC_F_FAILED))
				abort();
			if (st_r.flags & SS_REC_F_FAILED) {
				/* sticky */
				if (ss_rec_read(r, in, n, &used, &ev, pt, sizeof pt, &got, &alert) !=
				    SS_INVALID_HANDLE)
					abort();
			}
			return;
		}
		if (fs != SS_OK || used != rl || used == 0)
			abort();
		if (ev != SS_REC_EV_DATA && got != 0)
			abort();
		in += used;
		n -= used;
	}
}

static int ensure_sealed(size_t cap)
{
	if (cap <= sealed_cap)
		return 1;
	free(sealed);
	sealed = malloc(cap);
	sealed_cap = sealed ? cap : 0;
	return sealed != NULL;
}

/* seal_stream then read back: the plaintext must survive exactly. */
static void round_trip(int s, const uint8_t *data, size_t size)
{
	size_t frag, nrec, cap, out_len = 0, off = 0, w = 0;
	uint8_t *back;

	if (size < 2)
		return;
	frag = ((size_t)data[0] << 8 | data[1]) % SS_REC_MAX_PLAINTEXT + 1;
	data += 2;
	size -= 2;
	nrec = (size + frag - 1) / frag;
	cap = size + nrec * SS_REC_OVERHEAD;
	if (!ensure_sealed(cap ? cap : 1))
		return;
	if (ss_rec_seal_stream(rec_w[s], data, size, frag, sealed, cap, &out_len) != SS_OK ||
	    out_len != cap)
		abort();
	back = malloc(size + 1);
	if (!back)
		return;
	while (off < out_len) {
		size_t used = 0, got = 0;
		ss_rec_event ev;
		uint8_t alert;
		if (ss_rec_read(rec_r[s], sealed + off, out_len - off, &used, &ev, back + w,
		                SS_REC_MAX_PLAINTEXT, &got, &alert) != SS_OK || ev != SS_REC_EV_DATA ||
		    got > frag)
			abort();
		off += used;
		w += got;
	}
	if (w != size || (size && memcmp(back, data, size) != 0))
		abort();
	free(back);
}

/* One record of an arbitrary inner type and content, sealed and read. */
static void one_record(int s, const uint8_t *data, size_t size)
{
	static const uint8_t types[] = { SS_CT_APPLICATION_DATA, SS_CT_ALERT, SS_CT_HANDSHAKE };
	uint8_t ct;
	size_t out_len = 0, used = 0, got = 0;
	ss_rec_event ev = 0;
	uint8_t alert = 0;
	ss_status st;

	if (size < 1)
		return;
	ct = types[data[0] % 3];
	data++;
	size--;
	if (size > SS_REC_MAX_PLAINTEXT)
		size = SS_REC_MAX_PLAINTEXT;
	if (!ensure_sealed(SS_REC_MAX_RECORD))
		return;
	if (ss_rec_seal(rec_w[s], ct, data, size, sealed, sealed_cap, &out_len) != SS_OK)
		abort();
	st = ss_rec_read(rec_r[s], sealed, out_len, &used, &ev, pt, sizeof pt, &got, &alert);
	if (ct == SS_CT_APPLICATION_DATA &&
	    (st != SS_OK || ev != SS_REC_EV_DATA || got != size || (size && memcmp(pt, data, size))))
		abort();
	if (st == SS_OK && used != out_len)
		abort();
	if (st != SS_OK && (used != 0 || got != 0 || !(st_r.flags & SS_REC_F_FAILED)))
		abort();
	if (st == SS_OK && ev == SS_REC_EV_HANDLED && ct == SS_CT_HANDSHAKE &&
	    st_r.rx.epoch == 1) {
		/* a KeyUpdate was accepted: the writer follows, data still flows */
		uint8_t ku[64];
		size_t kl;
		if (ss_rec_key_update(rec_w[s], 0, ku, sizeof ku, &kl) != SS_OK)
			abort();
		if (ss_rec_seal(rec_w[s], SS_CT_APPLICATION_DATA, (const uint8_t *)"k", 1, sealed,
		                sealed_cap, &out_len) != SS_OK)
			abort();
		/* The reader already moved to generation 1 on the fuzzer's
		 * KeyUpdate; the writer's own KeyUpdate record is dropped, and its
		 * next record must open under the reader's independently derived
		 * key. */
		if (ss_rec_read(rec_r[s], sealed, out_len, &used, &ev, pt, sizeof pt, &got, &alert) !=
		        SS_OK || ev != SS_REC_EV_DATA || got != 1 || pt[0] != 'k')
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	int mode, s;

	if (!ready) {
		setup();
		ready = 1;
	}
	if (size < 1)
		return 0;
	mode = data[0] % 3;
	s = (data[0] / 3) % 3;
	data++;
	size--;
	switch (mode) {
	case 0:
		st_r = tmpl_r[0];
		read_stream(rec_r[0], data, size);
		break;
	case 1:
		st_w = tmpl_w[s];
		st_r = tmpl_r[s];
		round_trip(s, data, size);
		break;
	default:
		st_w = tmpl_w[s];
		st_r = tmpl_r[s];
		one_record(s, data, size);
		break;
	}
	return 0;
}
