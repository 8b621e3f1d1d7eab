/* ss_rec.h — TLS 1.3 record protection (RFC 8446 §5), done by secsock itself.
 *
 * After the handshake, core/ keeps only this: per-direction traffic secret,
 * key, IV and sequence number.  The state is a plain struct with no pointers
 * (ss_rec_state) so it can live in locked memory, or in a MAP_SHARED arena so
 * that a parent and a forked child share one sequence number per direction
 * (ARCHITECTURE.md "Preload semantics").  The AEAD contexts (OpenSSL
 * provider contexts, core/ss_rec.c) are a per-process cache (ss_rec) re-keyed whenever the state's epoch moves on,
 * made on first use and droppable at any time (ss_rec_trim): the key in the
 * state is all that is needed to make them again.
 *
 * Nothing here does I/O or locking: callers serialise access per connection.
 * (The one exception: ss_rec_new takes a process-wide mutex the first time a
 * suite is used, to look up its AEAD functions once.)
 */
#ifndef SS_REC_H
#define SS_REC_H

#include <stddef.h>
#include <stdint.h>
#include "ss_status.h"

/* RFC 8446 §5.1 ContentType */
enum ss_content_type {
	SS_CT_INVALID = 0,
	SS_CT_CHANGE_CIPHER_SPEC = 20,
	SS_CT_ALERT = 21,
	SS_CT_HANDSHAKE = 22,
	SS_CT_APPLICATION_DATA = 23
};

/* RFC 8446 §B.4 cipher suites, by their IANA code points */
enum ss_suite {
	SS_SUITE_AES_128_GCM_SHA256 = 0x1301,
	SS_SUITE_AES_256_GCM_SHA384 = 0x1302,
	SS_SUITE_CHACHA20_POLY1305_SHA256 = 0x1303
};

/* RFC 8446 §5 limits, as named constants */
enum ss_rec_limits {
	SS_REC_HEADER_LEN = 5,
	SS_REC_TAG_LEN = 16,
	SS_REC_MAX_PLAINTEXT = 16384,                      /* 2^14, §5.1 */
	SS_REC_MAX_CIPHERTEXT = 16384 + 256,               /* 2^14 + 256, §5.2 */
	SS_REC_MAX_RECORD = 5 + 16384 + 256,               /* header + ciphertext */
	SS_REC_OVERHEAD = 5 + 1 + 16                       /* header + inner type + tag */
};

typedef struct ss_rec_dir {
	uint8_t secret[48];   /* current application traffic secret (§7.1) */
	uint8_t key[32];
	uint8_t iv[12];
	uint64_t seq;         /* next sequence number, §5.3 */
	uint32_t epoch;       /* bumped by each KeyUpdate; lets caches re-key */
} ss_rec_dir;

/* Flags in ss_rec_state.flags */
enum ss_rec_flag {
	SS_REC_F_CLOSE_SENT = 1u << 0,
	SS_REC_F_CLOSE_RECEIVED = 1u << 1,
	SS_REC_F_FAILED = 1u << 2,         /* a fatal error happened: every later call fails */
	SS_REC_F_UPDATE_OWED = 1u << 3     /* peer asked update_requested: we owe a KeyUpdate */
};

typedef struct ss_rec_state {
	uint16_t suite;        /* enum ss_suite */
	uint8_t secret_len;    /* 32 or 48 */
	uint8_t key_len;       /* 16 or 32 */
	uint32_t flags;        /* enum ss_rec_flag */
	ss_rec_dir tx, rx;
} ss_rec_state;

/* Fill *st from the two application traffic secrets (RFC 8446 §7.3
 * HKDF-Expand-Label "key"/"iv"), sequence numbers 0.  tx is what this end
 * writes with (client: client_application_traffic_secret_0). */
ss_status ss_rec_state_init(ss_rec_state *st, uint16_t suite,
                            const uint8_t *tx_secret, const uint8_t *rx_secret,
                            size_t secret_len);
/* Wipe (sodium_memzero) the whole state. */
void ss_rec_state_wipe(ss_rec_state *st);

/* The per-process working object: a pointer to the state plus EVP caches. */
typedef struct ss_rec ss_rec;
ss_status ss_rec_new(ss_rec_state *st, ss_rec **out);  /* st is borrowed, not owned */
void ss_rec_free(ss_rec *r);                            /* NULL is fine */
ss_rec_state *ss_rec_get_state(ss_rec *r);

/* Idle connections (issue 6: <= 1 KiB heap each).  An AEAD context is
 * ~0.96 KiB of OpenSSL heap for AES-GCM, and an idle connection does
 * not need one: ss_rec_new makes none, the first seal/open of a direction
 * makes that direction's, and ss_rec_trim frees both (OpenSSL's providers
 * free their key schedule with OPENSSL_clear_free, so no key material is
 * left in freed heap).  The secrets, keys and IVs stay in ss_rec_state, so
 * the next record re-creates and re-keys the context through the same path
 * a KeyUpdate's epoch change takes; nothing else about the connection
 * changes.  The caller must hold whatever serialises both directions (in the
 * preload: rx_lock and tx_lock).  NULL is fine. */
void ss_rec_trim(ss_rec *r);
/* How many AEAD contexts r holds now (0, 1 or 2); 0 after ss_rec_trim and
 * for a fresh ss_rec.  Safe to call without the caller's locks (an atomic
 * read): the answer is then a hint that may already be stale. */
unsigned ss_rec_ctx_count(const ss_rec *r);
/* fn is called (by the thread sealing or opening, with the caller's locks
 * held) each time an ss_rec makes an AEAD context, i.e. a fresh or trimmed
 * connection becomes something that could be trimmed again.  Whoever trims
 * idle connections uses it to wake up only when there is something to
 * watch.  fn must be cheap and must not call into this ss_rec.  One hook per
 * process; NULL removes it.  Each call also makes every existing ss_rec
 * that already holds a context call fn once at its next record: a fork
 * child sets the hook again to learn about the contexts it inherited,
 * which made no call in the child. */
void ss_rec_set_ctx_hook(void (*fn)(void));

/* Size of the record that seal() produces for pt_len plaintext bytes
 * (pt_len <= SS_REC_MAX_PLAINTEXT), no padding. */
size_t ss_rec_sealed_len(size_t pt_len);

/* Seal one record of inner type ct (RFC 8446 §5.2): header, AEAD over
 * plaintext||ct, nonce = iv XOR seq (§5.3); seq++.  out may not overlap pt. */
ss_status ss_rec_seal(ss_rec *r, uint8_t ct, const uint8_t *pt, size_t pt_len,
                      uint8_t *out, size_t out_cap, size_t *out_len);

/* Seal as many full records as needed for pt (each <= max_frag plaintext
 * bytes; max_frag 0 = SS_REC_MAX_PLAINTEXT) into out: the batch form used for
 * writev/sendfile so that one sendmsg carries many records. */
ss_status ss_rec_seal_stream(ss_rec *r, const uint8_t *pt, size_t pt_len, size_t max_frag,
                             uint8_t *out, size_t out_cap, size_t *out_len);

/* Framing without decryption: from a prefix of the byte stream, the total
 * length of the first record (header included).  SS_INCOMPLETE_MESSAGE when
 * fewer than 5 bytes; SS_RECORD_OVERFLOW / SS_UNEXPECTED_MESSAGE for a
 * header no TLS 1.3 peer may send (§5.1, §5.2): outer type other than 23 or
 * 20 (ChangeCipherSpec); SS_DECODE_ERROR for legacy_record_version other
 * than 0x0303. Never reads beyond n. */
ss_status ss_rec_frame_len(const uint8_t *in, size_t n, size_t *rec_len);

/* Open exactly one record.  in must hold at least the whole record (use
 * ss_rec_frame_len); *consumed is its length.  On success *ct is the inner
 * content type and pt holds pt_len plaintext bytes (padding stripped).
 * A failed open leaves seq unchanged and marks the state FAILED; no partial
 * plaintext is ever returned. pt_cap >= SS_REC_MAX_PLAINTEXT always suffices.
 * Not failures (nothing consumed, state unchanged): SS_INCOMPLETE_MESSAGE,
 * SS_BUFFER_TOO_SMALL (retry with a larger pt), SS_CLOSED (close_notify was
 * received earlier: the peer's stream is over).  Once FAILED, every call but
 * ss_rec_alert returns SS_INVALID_HANDLE.  A plaintext ChangeCipherSpec
 * (20, 0x01) is dropped (*ct = 20, pt_len 0) only before the first protected
 * record under the application keys; later it is SS_UNEXPECTED_MESSAGE. */
ss_status ss_rec_open(ss_rec *r, const uint8_t *in, size_t in_len, size_t *consumed,
                      uint8_t *ct, uint8_t *pt, size_t pt_cap, size_t *pt_len);

/* Outcome of ss_rec_read (the stream-level reader). */
typedef enum ss_rec_event {
	SS_REC_EV_DATA = 1,      /* pt holds application data (may be 0 bytes) */
	SS_REC_EV_HANDLED,       /* a post-handshake message was consumed (KeyUpdate,
	                            NewSessionTicket, warning alert); if the state now
	                            has SS_REC_F_UPDATE_OWED call ss_rec_key_update()  */
	SS_REC_EV_CLOSE          /* close_notify: the peer's stream ended cleanly */
} ss_rec_event;

/* Open one record and interpret it per RFC 8446: application data →
 * SS_REC_EV_DATA; handshake KeyUpdate (§4.6.3) → rx re-keyed, HANDLED;
 * NewSessionTicket (§4.6.1) → ignored, HANDLED; close_notify (§6.1) →
 * SS_REC_EV_CLOSE; a fatal alert → SS_PEER_ALERT with *alert set; anything
 * else → an error status.  Handshake messages must fit in one record here
 * (secsock peers send nothing bigger; a NewSessionTicket split across
 * records is rejected with SS_DECODE_ERROR). */
ss_status ss_rec_read(ss_rec *r, const uint8_t *in, size_t in_len, size_t *consumed,
                      ss_rec_event *ev, uint8_t *pt, size_t pt_cap, size_t *pt_len,
                      uint8_t *alert);

/* Resumption (ss_resume.h): keep the latest NewSessionTicket message read
 * (at most SS_REC_TICKET_MAX bytes), and take it: its length (copied to
 * out, then forgotten), or 0 when none arrived or cap is too small. */
enum { SS_REC_TICKET_MAX = 4096 };
void ss_rec_keep_tickets(ss_rec *r, int on);
size_t ss_rec_take_ticket(ss_rec *r, uint8_t *out, size_t cap);

/* Seal a KeyUpdate (§4.6.3) with the current tx key, then move tx to the next
 * generation (§7.2).  request_peer sets update_requested.  Clears UPDATE_OWED.
 * Sequence numbers: a data record may use seq up to 2^64-3; SS_SEQUENCE_EXHAUSTED
 * then, and the KeyUpdate (or an alert) may still use 2^64-2. */
ss_status ss_rec_key_update(ss_rec *r, int request_peer,
                            uint8_t *out, size_t out_cap, size_t *out_len);

/* Seal an alert record (§6): close_notify is (1, 0); fatal alerts (2, desc)
 * also mark the state FAILED.  close_notify sets CLOSE_SENT. */
ss_status ss_rec_alert(ss_rec *r, uint8_t level, uint8_t desc,
                       uint8_t *out, size_t out_cap, size_t *out_len);

#endif
