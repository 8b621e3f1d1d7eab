/* ss_resume.c — tickets and client associations (see ss_resume.h).
 * The ticket is ours to define (RFC 8446 §4.6.1: "opaque ticket"); the
 * NewSessionTicket around it is the RFC's, so the record layer can carry
 * it as the handshake message it is. */
#include <string.h>
#include <sodium.h>
#include "ss_cursor.h"
#include "ss_rec_int.h"
#include "ss_resume.h"

enum {
	HS_NST = 4,                    /* HandshakeType new_session_ticket */
	NONCE_LEN = 16,                /* ticket_nonce: unique per ticket */
	TK_VERSION = 1,
	TK_HEAD = 4 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,   /* key id, AEAD nonce */
	TK_PLAIN_MAX = 1 + 8 + 8 + 2 + 1 + 1 + SS_RESUME_SCOPE_LEN + 1 + SS_RESUME_PEER_MAX + 1 +
	               SS_RESUME_SECRET_MAX
};

/* The key of period index `period` (ss_resume.h); the caller wipes it. */
static void period_key(const ss_ticket_keys *k, uint32_t period, uint8_t key[SS_TICKET_KEY_LEN])
{
	crypto_kdf_derive_from_key(key, SS_TICKET_KEY_LEN, period, "sstkt v1", k->master);
}

static int64_t period_of(int64_t t)
{
	return t < 0 ? -1 : t / SS_TICKET_PERIOD;
}

void ss_ticket_keys_from_seed(const uint8_t seed[32], ss_ticket_keys *out)
{
	static const char label[] = "secsock ticket master v1";
	crypto_generichash(out->master, sizeof out->master, (const unsigned char *)label, sizeof label - 1,
	                   seed, 32);
}

static void put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}
static void put_i64(uint8_t *p, int64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
}
static int64_t get_i64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return (int64_t)v;
}

/* RFC 8446 §4.6.1: the PSK of a ticket. */
static ss_status derive_psk(uint16_t suite, const uint8_t *secret, size_t secret_len,
                            const uint8_t *nonce, size_t nonce_len, uint8_t *psk, size_t *psk_len)
{
	const ss_suite_info *si = ss_suite_lookup(suite);
	if (!si || secret_len != si->secret_len)
		return SS_INVALID_HANDLE;
	*psk_len = si->secret_len;
	return ss_hkdf_expand_label(si->digest, secret, secret_len, "resumption", nonce, nonce_len,
	                            psk, si->secret_len);
}

int ss_resume_fresh(const ss_resume_id *id, int64_t now, uint32_t lifetime_s, uint32_t idle_s)
{
	if (lifetime_s == 0 || id->created <= 0 || now < id->created)
		return 0;
	if (now - id->created >= (int64_t)lifetime_s)
		return 0;   /* session-lifetime: a full handshake again */
	return idle_s == 0 || now - id->last_used < (int64_t)idle_s;   /* idle-timeout */
}

ss_status ss_resume_ticket_make(const ss_ticket_keys *k, const uint8_t *secret, size_t secret_len,
                                const ss_resume_id *id, uint32_t lifetime_s,
                                uint8_t *msg, size_t cap, size_t *msg_len)
{
	uint8_t plain[TK_PLAIN_MAX], nonce[NONCE_LEN], psk[SS_RESUME_SECRET_MAX], key[SS_TICKET_KEY_LEN];
	size_t psk_len = 0, n = 0, peer_len = id ? strnlen(id->peer, SS_RESUME_PEER_MAX - 1) : 0;
	const int64_t period = id ? period_of(id->last_used) : -1;
	ss_status st;

	if (!k || !id || period < 1 || period > UINT32_MAX || !msg || !msg_len)
		return SS_INVALID_HANDLE;
	*msg_len = 0;
	randombytes_buf(nonce, sizeof nonce);
	st = derive_psk(id->suite, secret, secret_len, nonce, sizeof nonce, psk, &psk_len);
	if (st != SS_OK)
		return st;
	plain[n++] = TK_VERSION;
	put_i64(plain + n, id->created), n += 8;
	put_i64(plain + n, id->last_used), n += 8;
	put_u16(plain + n, id->suite), n += 2;
	plain[n++] = id->auth;
	plain[n++] = id->mutual;
	memcpy(plain + n, id->scope, sizeof id->scope), n += sizeof id->scope;
	plain[n++] = (uint8_t)peer_len;
	memcpy(plain + n, id->peer, peer_len), n += peer_len;
	plain[n++] = (uint8_t)psk_len;
	memcpy(plain + n, psk, psk_len), n += psk_len;

	size_t tlen = TK_HEAD + n + crypto_aead_xchacha20poly1305_ietf_ABYTES;
	size_t body = 4 + 4 + 1 + sizeof nonce + 2 + tlen + 2;
	if (cap < 4 + body || tlen > SS_TICKET_MAX) {
		st = SS_BUFFER_TOO_SMALL;
		goto out;
	}
	/* struct NewSessionTicket (§4.6.1), after the handshake header */
	uint8_t *p = msg;
	p[0] = HS_NST, p[1] = (uint8_t)(body >> 16), p[2] = (uint8_t)(body >> 8), p[3] = (uint8_t)body;
	p += 4;
	put_u32(p, lifetime_s), p += 4;
	randombytes_buf(p, 4), p += 4;             /* ticket_age_add: unused (no 0-RTT) */
	*p++ = sizeof nonce;
	memcpy(p, nonce, sizeof nonce), p += sizeof nonce;
	put_u16(p, (uint16_t)tlen), p += 2;
	put_u32(p, (uint32_t)period);              /* the ticket: key id, AEAD nonce, sealed */
	randombytes_buf(p + 4, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	period_key(k, (uint32_t)period, key);
	crypto_aead_xchacha20poly1305_ietf_encrypt(p + TK_HEAD, NULL, plain, n, p, 4, NULL, p + 4, key);
	p += tlen;
	put_u16(p, 0);                             /* extensions: none */
	*msg_len = 4 + body;
	st = SS_OK;
out:
	sodium_memzero(plain, sizeof plain);
	sodium_memzero(psk, sizeof psk);
	sodium_memzero(key, sizeof key);
	return st;
}

/* n bytes at the cursor into *p (moving past them); 0 when short. */
static int take(ss_cur *c, size_t n, const uint8_t **p)
{
	ss_cur sub;
	if (!ss_cur_sub(c, n, &sub))
		return 0;
	*p = sub.buf;
	return 1;
}

/* The ticket's plaintext into *id and the PSK; 0 when well formed. */
static int plain_parse(const uint8_t *b, size_t n, ss_resume_id *id, uint8_t *psk, size_t *psk_len)
{
	ss_cur c = ss_cur_make(b, n), peer, key;
	uint32_t v = 0, suite = 0, auth = 0, mutual = 0;
	const uint8_t *t = NULL;

	memset(id, 0, sizeof *id);
	if (!ss_cur_uint(&c, 1, &v) || v != TK_VERSION || !take(&c, 8, &t))
		return -1;
	id->created = get_i64(t);
	if (!take(&c, 8, &t))
		return -1;
	id->last_used = get_i64(t);
	if (!ss_cur_uint(&c, 2, &suite) || !ss_cur_uint(&c, 1, &auth) || !ss_cur_uint(&c, 1, &mutual) ||
	    !take(&c, sizeof id->scope, &t))
		return -1;
	memcpy(id->scope, t, sizeof id->scope);
	if (!ss_cur_vec(&c, 1, &peer) || peer.len >= SS_RESUME_PEER_MAX || !ss_cur_vec(&c, 1, &key) ||
	    key.len == 0 || key.len > SS_RESUME_SECRET_MAX || ss_cur_left(&c) != 0)
		return -1;
	id->suite = (uint16_t)suite;
	id->auth = (uint8_t)auth;
	id->mutual = (uint8_t)mutual;
	memcpy(id->peer, peer.buf, peer.len);
	memcpy(psk, key.buf, key.len);
	*psk_len = key.len;
	return 0;
}

ss_status ss_resume_ticket_open(const ss_ticket_keys *k, const uint8_t *ticket, size_t len,
                                int64_t now, uint32_t window_s,
                                ss_resume_id *id, uint8_t psk[SS_RESUME_SECRET_MAX], size_t *psk_len)
{
	uint8_t plain[TK_PLAIN_MAX], key[SS_TICKET_KEY_LEN];
	unsigned long long plen = 0;
	ss_status st = SS_BAD_RECORD_MAC;
	int64_t cur = period_of(now), oldest;
	uint32_t kid;

	if (!k || !ticket || !id || !psk || !psk_len)
		return SS_INVALID_HANDLE;
	if (len < TK_HEAD + crypto_aead_xchacha20poly1305_ietf_ABYTES ||
	    len - TK_HEAD - crypto_aead_xchacha20poly1305_ietf_ABYTES > sizeof plain)
		return SS_DECODE_ERROR;
	kid = (uint32_t)ticket[0] << 24 | (uint32_t)ticket[1] << 16 | (uint32_t)ticket[2] << 8 | ticket[3];
	/* the rotation window (ss_resume.h): the previous period always,
	 * older ones while a ticket of theirs may still be fresh */
	oldest = period_of(now - (int64_t)window_s);
	if (oldest > cur - 1)
		oldest = cur - 1;
	if (kid == 0 || (int64_t)kid > cur || (int64_t)kid < oldest)
		return SS_BAD_RECORD_MAC;
	period_key(k, kid, key);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &plen, NULL, ticket + TK_HEAD, len - TK_HEAD,
	                                               ticket, 4, ticket + 4, key) != 0)
		goto out;
	st = plain_parse(plain, (size_t)plen, id, psk, psk_len) == 0 ? SS_OK : SS_DECODE_ERROR;
out:
	sodium_memzero(plain, sizeof plain);
	sodium_memzero(key, sizeof key);
	return st;
}

ss_status ss_resume_entry_make(const uint8_t *secret, size_t secret_len, const uint8_t *msg,
                               size_t msg_len, const ss_resume_id *id, ss_resume_entry *e)
{
	ss_cur c = ss_cur_make(msg, msg_len), nonce, t, ext;
	uint32_t type = 0, len = 0, lifetime = 0, age_add = 0;

	if (!secret || !msg || !id || !e)
		return SS_INVALID_HANDLE;
	/* §4.6.1 NewSessionTicket, every length checked against what is left */
	if (!ss_cur_uint(&c, 1, &type) || type != HS_NST || !ss_cur_uint(&c, 3, &len) || len != ss_cur_left(&c) ||
	    !ss_cur_uint(&c, 4, &lifetime) || !ss_cur_uint(&c, 4, &age_add) || !ss_cur_vec(&c, 1, &nonce) ||
	    !ss_cur_vec(&c, 2, &t) || t.len == 0 || t.len > SS_TICKET_MAX || !ss_cur_vec(&c, 2, &ext) ||
	    ss_cur_left(&c) != 0)
		return SS_DECODE_ERROR;
	memset(e, 0, sizeof *e);
	e->id = *id;
	e->lifetime = lifetime;
	memcpy(e->ticket, t.buf, t.len);
	e->ticket_len = t.len;
	if (derive_psk(id->suite, secret, secret_len, nonce.buf, nonce.len, e->psk, &e->psk_len) != SS_OK) {
		sodium_memzero(e, sizeof *e);
		return SS_INTERNAL_ERROR;
	}
	return SS_OK;
}
