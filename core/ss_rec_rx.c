/* ss_rec_rx.c — the reading half of the record layer (RFC 8446 §5): framing,
 * opening a TLSCiphertext into the caller's buffer (tag checked before any
 * length is reported, every written byte wiped on failure), and the
 * post-handshake messages a reader must act on (§4.6.1 NewSessionTicket,
 * §4.6.3 KeyUpdate, §6 alerts).  The design notes at the top of ss_rec.c
 * apply here too.
 */
#include "ss_rec_int.h"
#include "ss_mem.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* ------------------------------------------------------------- framing */

ss_status ss_rec_frame_len(const uint8_t *in, size_t n, size_t *rec_len)
{
	size_t len;

	if (!rec_len || (n && !in))
		return SS_INVALID_HANDLE;
	*rec_len = 0;
	if (n < SS_REC_HEADER_LEN)
		return SS_INCOMPLETE_MESSAGE;
	/* §5.1: after the handshake only protected records (opaque_type 23) and
	 * the compatibility ChangeCipherSpec may appear; a plaintext alert or
	 * handshake record, or anything else, is unexpected_message. */
	if (in[0] != SS_CT_APPLICATION_DATA && in[0] != SS_CT_CHANGE_CIPHER_SPEC)
		return SS_UNEXPECTED_MESSAGE;
	/* §5.1: legacy_record_version is 0x0303 for every record a TLS 1.3
	 * endpoint sends after the ClientHello. */
	if (((size_t)in[1] << 8 | in[2]) != LEGACY_VERSION)
		return SS_DECODE_ERROR;
	len = (size_t)in[3] << 8 | in[4];
	/* §5.2: TLSCiphertext.length <= 2^14 + 256 → record_overflow. */
	if (len > SS_REC_MAX_CIPHERTEXT)
		return SS_RECORD_OVERFLOW;
	*rec_len = SS_REC_HEADER_LEN + len;
	return SS_OK;
}

/* ------------------------------------------------------------- open */

static ss_status rx_fail(ss_rec *r, ss_status st)
{
	r->st->flags |= SS_REC_F_FAILED;
	return st;
}

/* Decrypt and authenticate one protected record whose header was checked.
 * The inner plaintext goes to pt[0..head) and tail[0..inner-head); nothing is
 * reported before the tag verified. */
static ss_status aead_open(ss_rec *r, const uint8_t *rec, size_t inner,
                           uint8_t *pt, size_t head, uint8_t *tail)
{
	ss_rec_dir *dir = &r->st->rx;
	const ss_aead_ops *ops = r->ops;
	void *ctx = r->rx.ctx;   /* keyed by the caller (ss_rec_cache_sync_) */
	const uint8_t *c = rec + SS_REC_HEADER_LEN;
	uint8_t nonce[SS_REC_IV_LEN];
	uint8_t tag[SS_REC_TAG_LEN];
	OSSL_PARAM tagp[] = TAG_PARAMS(tag);
	size_t n;
	ss_status st;

	ss_rec_make_nonce_(dir, nonce);
	memcpy(tag, c + inner, SS_REC_TAG_LEN);
	st = SS_INTERNAL_ERROR;
	/* The expected tag goes with the nonce: both providers' decrypt init
	 * applies its params after the IV (gcm_init, chacha20_poly1305_dinit). */
	if (ops->dinit(ctx, NULL, 0, nonce, SS_REC_IV_LEN, tagp) != 1)
		goto out;
	if (ops->update(ctx, NULL, &n, SS_REC_HEADER_LEN, rec, SS_REC_HEADER_LEN) != 1)
		goto out;
	if (head && (ops->update(ctx, pt, &n, head, c, head) != 1 || n != head))
		goto out;
	if (inner > head &&
	    (ops->update(ctx, tail, &n, inner - head, c + head, inner - head) != 1 ||
	     n != inner - head))
		goto out;
	/* §5.2: decryption failure → bad_record_mac. */
	st = SS_BAD_RECORD_MAC;
	if (ops->final(ctx, tail + (inner - head), &n, 0) != 1)
		goto out;
	st = SS_OK;
out:
	if (st == SS_INTERNAL_ERROR)
		r->rx.keyed = 0;
	sodium_memzero(nonce, sizeof nonce);
	ss_rec_transient_drop_(r, &r->rx);
	if (r->cipher_suite == SS_SUITE_CHACHA20_POLY1305_SHA256)
		ss_mem_burn_stack();   /* the cipher's own copies of the key (ss_mem.h) */
	return st;
}

ss_status ss_rec_open(ss_rec *r, const uint8_t *in, size_t in_len, size_t *consumed,
                      uint8_t *ct, uint8_t *pt, size_t pt_cap, size_t *pt_len)
{
	uint8_t tail_stack[TAIL_STACK + 1];
	uint8_t *tail = tail_stack, *tail_heap = NULL;
	size_t rec_len = 0, inner, head = 0, tail_len = 0, i;
	uint8_t type = 0;
	ss_status st;

	if (!r || !r->st || !consumed || !ct || !pt_len || (in_len && !in) || (pt_cap && !pt))
		return SS_INVALID_HANDLE;
	*consumed = 0;
	*ct = SS_CT_INVALID;
	*pt_len = 0;
	if (r->st->flags & SS_REC_F_FAILED)
		return SS_INVALID_HANDLE;
	if (r->st->flags & SS_REC_F_CLOSE_RECEIVED)
		return SS_CLOSED;

	st = ss_rec_frame_len(in, in_len, &rec_len);
	if (st == SS_INCOMPLETE_MESSAGE)
		return st;
	if (st != SS_OK)
		return rx_fail(r, st);
	if (in_len < rec_len)
		return SS_INCOMPLETE_MESSAGE;

	if (in[0] == SS_CT_CHANGE_CIPHER_SPEC) {
		/* §5: a single 0x01 byte, dropped; see the design note for the window. */
		if (rec_len != SS_REC_HEADER_LEN + 1 || in[5] != 0x01 ||
		    r->st->rx.seq != 0 || r->st->rx.epoch != 0)
			return rx_fail(r, SS_UNEXPECTED_MESSAGE);
		*consumed = rec_len;
		*ct = SS_CT_CHANGE_CIPHER_SPEC;
		return SS_OK;
	}

	/* A record shorter than the tag plus the inner type byte cannot
	 * authenticate (OpenSSL treats it the same: bad_record_mac). */
	if (rec_len < SS_REC_HEADER_LEN + 1 + SS_REC_TAG_LEN)
		return rx_fail(r, SS_BAD_RECORD_MAC);
	inner = rec_len - SS_REC_HEADER_LEN - SS_REC_TAG_LEN;
	/* §5.4: TLSInnerPlaintext never exceeds 2^14 + 1; the AEADs here are
	 * length-preserving, so this is known before decrypting. */
	if (inner > SS_REC_MAX_INNER)
		return rx_fail(r, SS_RECORD_OVERFLOW);
	/* §5.3: never wrap; the peer had to rekey before this. */
	if (r->st->rx.seq > SEQ_LAST_CTRL)
		return rx_fail(r, SS_SEQUENCE_EXHAUSTED);

	/* Key (or re-create after a trim) before anything is decrypted: running
	 * out of memory here is not the peer's fault, so it consumes nothing and
	 * does not mark the record layer failed; what it costs the connection
	 * is the caller's call (the preload, which may already have taken the
	 * record out of the kernel, fails it). */
	st = ss_rec_cache_sync_(r, &r->rx, &r->st->rx, 0);
	if (st == SS_INSUFFICIENT_MEMORY)
		return st;
	if (st != SS_OK)
		return rx_fail(r, st);

	head = inner < pt_cap ? inner : pt_cap;
	tail_len = inner - head;
	if (tail_len > TAIL_STACK) {
		tail_heap = sodium_malloc(tail_len + 1);
		if (!tail_heap) {
			ss_rec_transient_drop_(r, &r->rx);
			return SS_INSUFFICIENT_MEMORY;
		}
		tail = tail_heap;
	}

	st = aead_open(r, in, inner, pt, head, tail);
	if (st != SS_OK) {
		st = rx_fail(r, st);
		goto out;
	}

	/* §5.4: the content type is the last non-zero byte; zeros after it are
	 * padding.  No non-zero byte at all → unexpected_message. */
	for (i = inner; i > 0; i--) {
		uint8_t b = i > head ? tail[i - 1 - head] : pt[i - 1];
		if (b != 0) {
			type = b;
			break;
		}
	}
	/* §5: no non-zero byte at all, or a protected ChangeCipherSpec, is
	 * unexpected_message. */
	if (type == 0 || type == SS_CT_CHANGE_CIPHER_SPEC) {
		st = rx_fail(r, SS_UNEXPECTED_MESSAGE);
		goto out;
	}
	if (i - 1 > pt_cap) {
		/* Authentic, but the caller's buffer is too small: leave seq and
		 * input alone so the call can be repeated with a larger buffer. */
		st = SS_BUFFER_TOO_SMALL;
		goto out;
	}
	*pt_len = i - 1;
	*ct = type;
	*consumed = rec_len;
	r->st->rx.seq++;
	st = SS_OK;
out:
	if (st != SS_OK) {
		if (head)
			sodium_memzero(pt, head);
	} else if (head > *pt_len)
		memset(pt + *pt_len, 0, head - *pt_len);   /* type byte and padding */
	sodium_memzero(tail, tail_len + 1);
	if (tail_heap)
		sodium_free(tail_heap);
	return st;
}

/* ------------------------------------------------------------- read */

/* §4.6.3 KeyUpdate received: the peer's next-generation secret. */
static ss_status rx_key_update(ss_rec *r, uint8_t request)
{
	const ss_suite_info *si = ss_suite_lookup(r->st->suite);
	ss_status st;

	if (!si)
		return SS_INTERNAL_ERROR;
	st = ss_rec_dir_next(si, &r->st->rx);
	if (st != SS_OK)
		return st;
	if (request == KU_REQUESTED)
		r->st->flags |= SS_REC_F_UPDATE_OWED;
	return SS_OK;
}

/* Interpret the handshake messages of one record (§4.6).  Messages must be
 * complete within the record; KeyUpdate must be the record's last message
 * (§5.1: "Handshake messages MUST NOT span key changes"). */
static ss_status read_handshake(ss_rec *r, const uint8_t *p, size_t n)
{
	size_t off = 0;

	/* §5.1: zero-length handshake fragments are forbidden. */
	if (n == 0)
		return SS_DECODE_ERROR;
	while (off < n) {
		uint8_t type;
		size_t len;

		if (n - off < HS_HEADER_LEN)
			return SS_DECODE_ERROR;
		type = p[off];
		len = (size_t)p[off + 1] << 16 | (size_t)p[off + 2] << 8 | p[off + 3];
		off += HS_HEADER_LEN;
		if (len > n - off)
			return SS_DECODE_ERROR;   /* split across records: see ss_rec.h */
		switch (type) {
		case HS_NEW_SESSION_TICKET:
			/* §4.6.1: kept whole (the latest wins) when the caller resumes
			 * (ss_resume.h parses it); else dropped unread, as a standard
			 * TLS server's may be. */
			if (r->keep_tickets && len + HS_HEADER_LEN <= SS_REC_TICKET_MAX) {
				uint8_t *t = malloc(len + HS_HEADER_LEN);
				if (t == NULL)
					break;   /* no resumption next time; nothing else lost */
				memcpy(t, p + off - HS_HEADER_LEN, len + HS_HEADER_LEN);
				free(r->ticket);
				r->ticket = t;
				r->ticket_len = len + HS_HEADER_LEN;
			}
			break;
		case HS_KEY_UPDATE:
			/* struct { KeyUpdateRequest request_update; } KeyUpdate; */
			if (len != 1)
				return SS_DECODE_ERROR;
			if (p[off] != KU_NOT_REQUESTED && p[off] != KU_REQUESTED)
				return SS_DECODE_ERROR;   /* §4.6.3: illegal_parameter */
			if (off + len != n)
				return SS_UNEXPECTED_MESSAGE;
			return rx_key_update(r, p[off]);
		default:
			/* Anything else after the handshake (a second Finished, a
			 * CertificateRequest we never asked to handle, ...) */
			return SS_UNEXPECTED_MESSAGE;
		}
		off += len;
	}
	return SS_OK;
}

ss_status ss_rec_read(ss_rec *r, const uint8_t *in, size_t in_len, size_t *consumed,
                      ss_rec_event *ev, uint8_t *pt, size_t pt_cap, size_t *pt_len,
                      uint8_t *alert)
{
	uint8_t ct = 0;
	size_t used = 0, n = 0;
	ss_status st;

	if (!ev || !alert || !consumed || !pt_len)
		return SS_INVALID_HANDLE;
	*ev = 0;
	*alert = 0;
	st = ss_rec_open(r, in, in_len, &used, &ct, pt, pt_cap, &n);
	if (st != SS_OK) {
		*consumed = 0;
		*pt_len = 0;
		return st;
	}
	*consumed = used;
	*pt_len = 0;

	switch (ct) {
	case SS_CT_APPLICATION_DATA:
		*pt_len = n;
		*ev = SS_REC_EV_DATA;
		return SS_OK;
	case SS_CT_CHANGE_CIPHER_SPEC:
		*ev = SS_REC_EV_HANDLED;
		return SS_OK;
	case SS_CT_ALERT:
		/* §5.1: exactly one alert per record.  §6: the level is legacy; the
		 * description alone says closure alert or error alert. */
		if (n != 2) {
			st = SS_DECODE_ERROR;
			break;
		}
		if (pt[1] == ALERT_CLOSE_NOTIFY) {
			r->st->flags |= SS_REC_F_CLOSE_RECEIVED;
			*ev = SS_REC_EV_CLOSE;
			st = SS_OK;
		} else if (pt[1] == ALERT_USER_CANCELED) {
			/* §6.1: a close_notify is expected to follow. */
			*ev = SS_REC_EV_HANDLED;
			st = SS_OK;
		} else {
			*alert = pt[1];
			st = SS_PEER_ALERT;
		}
		break;
	case SS_CT_HANDSHAKE:
		st = read_handshake(r, pt, n);
		if (st == SS_OK)
			*ev = SS_REC_EV_HANDLED;
		break;
	default:
		/* §5: an unknown or (inside protection) ChangeCipherSpec inner type */
		st = SS_UNEXPECTED_MESSAGE;
		break;
	}
	/* pt carries application data only; control payloads are wiped. */
	if (n)
		sodium_memzero(pt, n);
	if (st != SS_OK) {
		r->st->flags |= SS_REC_F_FAILED;
		*consumed = 0;
	}
	return st;
}
