/* ss_ctx_resume.c — the context's side of resumption (ss_resume.h): the
 * association a client offers, the ticket a server opens, the secret both
 * export after a full handshake and the ticket a server issues. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/ssl.h>
#include <sodium.h>
#include "ss_ctx_int.h"
#include "ss_group.h"
#include "ss_rec_int.h"

static const char export_label[] = "EXPORTER-secsock-resumption";

enum { PSK_KE = 0 };   /* RFC 8446 §4.2.9 PskKeyExchangeMode psk_ke */

/* A method the credential lists, able to carry over: PSK and group
 * sessions are not resumed (their handshake is already an external-PSK
 * one, and a group key's period rules then hold for every connection), nor certificate sessions at a
 * server that admits only some client names (the names are not kept). */
int ss_ctx_res_allowed_(const ss_cred *c, unsigned auth)
{
	switch (auth) {
	case SS_AUTH_ANONYMOUS: return c->allow_anon;
	case SS_AUTH_HOST_KEY: return c->allow_hostkey;
	case SS_AUTH_CERTIFICATE: return c->allow_cert && c->peer_names == NULL;
	default: return 0;
	}
}

/* finish() of a resumed handshake: the binder proved both ends hold the
 * association's PSK, so the identity its full handshake proved carries
 * over — if this credential still accepts that method.  -1: it does not. */
int ss_ctx_res_finish_(ss_ctx *ctx, ss_ctx_info *in)
{
	if (!ss_ctx_res_allowed_(ctx->cred, ctx->res_id.auth)) {
		ctx->fail |= F_NOT_PROVEN;
		return -1;
	}
	ctx->resumed = 1;
	in->auth = (ss_auth)ctx->res_id.auth;
	in->mutual = ctx->res_id.mutual;
	in->resumed = 1;
	in->created = ctx->res_id.created;
	snprintf(in->peer, sizeof in->peer, "%s", ctx->res_id.peer);
	return 0;
}

SSL_SESSION *ss_ctx_psk_session_(const uint8_t *psk, size_t len, const SSL_CIPHER *cipher)
{
	SSL_SESSION *s = SSL_SESSION_new();
	if (s && (!SSL_SESSION_set1_master_key(s, psk, len) || !SSL_SESSION_set_cipher(s, cipher) ||
	          !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION))) {
		SSL_SESSION_free(s);
		s = NULL;
	}
	return s;
}

/* Client (psk_use_cb): the association's ticket as PSK identity, bound to
 * the hash of the suite it was made under; none after a HelloRetryRequest
 * chose another hash (md).  1 with *sess NULL: offer nothing. */
int ss_ctx_res_use_(ss_ctx *ctx, SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
                    SSL_SESSION **sess)
{
	const unsigned char code[2] = { (unsigned char)(ctx->res_id.suite >> 8),
	                                (unsigned char)(ctx->res_id.suite & 0xff) };
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, code);

	if (cipher == NULL ||
	    (md != NULL && EVP_MD_get_type(SSL_CIPHER_get_handshake_digest(cipher)) != EVP_MD_get_type(md)))
		return 1;
	*sess = ss_ctx_psk_session_(ctx->sec->res_psk, ctx->sec->res_psk_len, cipher);
	if (*sess == NULL)
		return 0;
	*id = ctx->res_ticket;
	*idlen = ctx->res_ticket_len;
	return 1;
}

/* Server: does identity open as one of our tickets, fresh, under this
 * rule's scope, for a method we still accept?  1 with *rid, psk and *plen
 * (the caller wipes them); 0 otherwise. */
static int ticket_ok(const ss_cred *c, const unsigned char *id, size_t idlen, ss_resume_id *rid,
                     uint8_t psk[SS_RESUME_SECRET_MAX], size_t *plen)
{
	const int64_t now = ss_clock_now();
	/* a ticket can be fresh for the smaller of the two lifetimes after it
	 * was issued: its key's rotation window (ss_resume.h) */
	const uint32_t window = c->idle_timeout && c->idle_timeout < c->session_lifetime ? c->idle_timeout
	                                                                                 : c->session_lifetime;

	return c->tickets != NULL &&
	       ss_resume_ticket_open(c->tickets, id, idlen, now, window, rid, psk, plen) == SS_OK &&
	       sodium_memcmp(rid->scope, c->ticket_scope, sizeof rid->scope) == 0 &&
	       ss_resume_fresh(rid, now, c->session_lifetime, c->idle_timeout) &&
	       ss_ctx_res_allowed_(c, rid->auth);
}

/* Server (psk_find_cb): is the identity one of our tickets (ticket_ok),
 * for the suite's hash?  1 with *sess set when resumed, 1 with *sess NULL
 * to go on (a full handshake), 0 on failure. */
int ss_ctx_res_find_(ss_ctx *ctx, SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess)
{
	const SSL_CIPHER *cipher = SSL_get_pending_cipher(ssl);
	uint8_t psk[SS_RESUME_SECRET_MAX];
	size_t plen = 0;
	ss_resume_id rid;

	if (cipher != NULL && ticket_ok(ctx->cred, id, idlen, &rid, psk, &plen) &&
	    (size_t)EVP_MD_get_size(SSL_CIPHER_get_handshake_digest(cipher)) == plen &&
	    (*sess = ss_ctx_psk_session_(psk, plen, cipher)) != NULL) {
		ctx->resumed = 1;
		ctx->res_id = rid;
	}
	sodium_memzero(psk, sizeof psk);
	sodium_memzero(&rid, sizeof rid);
	return 1;
}

/* Does the list of big-endian 16-bit items p[0..n) hold v? */
static int u16_list_has(const unsigned char *p, size_t n, unsigned v)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		if (((unsigned)p[i] << 8 | p[i + 1]) == v)
			return 1;
	return 0;
}

/* Does ClientHello extension `type` — a list with a len_bytes (1 or 2)
 * length, of 1-byte items (psk_key_exchange_modes, RFC 8446 §4.2.9) or
 * 2-byte ones (supported_groups, §4.2.7) — hold v? */
static int ext_list_has(SSL *ssl, int type, size_t len_bytes, size_t item, unsigned v)
{
	const unsigned char *d;
	size_t n, l;

	if (SSL_client_hello_get0_ext(ssl, (unsigned)type, &d, &n) != 1 || n < len_bytes)
		return 0;
	l = len_bytes == 1 ? d[0] : (size_t)d[0] << 8 | d[1];
	if (l > n - len_bytes || l % item)
		return 0;
	return item == 1 ? v <= 0xff && memchr(d + len_bytes, (int)v, l) != NULL
	                 : u16_list_has(d + len_bytes, l, v);
}

/* The suite this handshake will use: the client's first that the server
 * allows, or with SSL_OP_CIPHER_SERVER_PREFERENCE the server's first that
 * the client offers (SSL_CTX_set_options(3)); NULL when none. */
static const SSL_CIPHER *suite_chosen(const ss_cred *c, SSL *ssl)
{
	const unsigned char *cs;
	size_t ncs = SSL_client_hello_get0_ciphers(ssl, &cs);

	if (SSL_get_options(ssl) & SSL_OP_CIPHER_SERVER_PREFERENCE) {
		for (size_t j = 0; j < c->n_suites; j++)
			if (u16_list_has(cs, ncs, c->suites[j])) {
				const unsigned char code[2] = { (unsigned char)(c->suites[j] >> 8),
				                                (unsigned char)(c->suites[j] & 0xff) };
				return SSL_CIPHER_find(ssl, code);
			}
		return NULL;
	}
	for (size_t i = 0; i + 1 < ncs; i += 2)
		for (size_t j = 0; j < c->n_suites; j++)
			if (c->suites[j] == ((unsigned)cs[i] << 8 | cs[i + 1]))
				return SSL_CIPHER_find(ssl, cs + i);
	return NULL;
}

/* Will this ClientHello resume?  Its first PSK identity (RFC 8446
 * §4.2.11; a secsock client offers one) is a ticket of ours, bound to the
 * hash of the suite this handshake will use.  Not the binder: a wrong one
 * fails the handshake anyway. */
static int will_resume(const ss_cred *c, SSL *ssl)
{
	const unsigned char *d;
	const SSL_CIPHER *x = suite_chosen(c, ssl);
	size_t n, plen = 0, idlen;
	uint8_t psk[SS_RESUME_SECRET_MAX];
	ss_resume_id rid;
	int ok;

	if (x == NULL || SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_psk, &d, &n) != 1 || n < 4 ||
	    (idlen = (size_t)d[2] << 8 | d[3]) > n - 4)
		return 0;
	ok = ticket_ok(c, d + 4, idlen, &rid, psk, &plen) &&
	     (size_t)EVP_MD_get_size(SSL_CIPHER_get_handshake_digest(x)) == plen;
	sodium_memzero(psk, sizeof psk);
	sodium_memzero(&rid, sizeof rid);
	return ok;
}

/* pfs = no at a server (RFC 8446 §4.2.9 psk_ke).  OpenSSL 3.0 uses the
 * client's key share whenever it supports the share's group, even when
 * psk_ke is offered and allowed (SSL_OP_PREFER_NO_DHE_KEX, the switch for
 * that, is 3.3's).  So when this ClientHello will resume and offers
 * psk_ke, this handshake's group list becomes one group the client did not
 * list: no usable share, no shared group for a HelloRetryRequest, and with
 * the PSK accepted and SSL_OP_ALLOW_NO_DHE_KEX (ss_cred.c) the handshake
 * goes on without (EC)DHE.  Only when resumption is sure (will_resume): a
 * full handshake with no shared group could not complete.  When the client
 * lists every candidate group, nothing changes (psk_dhe_ke). */
void ss_ctx_res_no_dhe_(ss_ctx *ctx, SSL *ssl)
{
	static const struct { unsigned code; const char *name; } spare[] = {
		{ 0x0104, "ffdhe8192" }, { 0x0103, "ffdhe6144" }, { 0x0102, "ffdhe4096" },
		{ 0x001e, "X448" }, { 0x0019, "P-521" }, { 0x0018, "P-384" },
	};

	if (!ctx->cred->no_pfs || !ctx->cred->tickets ||
	    !ext_list_has(ssl, TLSEXT_TYPE_psk_kex_modes, 1, 1, PSK_KE) ||
	    !will_resume(ctx->cred, ssl))
		return;
	for (size_t i = 0; i < sizeof spare / sizeof spare[0]; i++)
		if (!ext_list_has(ssl, TLSEXT_TYPE_supported_groups, 2, 2, spare[i].code)) {
			(void)SSL_set1_groups_list(ssl, spare[i].name);
			return;
		}
}

ss_status ss_ctx_client_new(ss_cred *cred, const char *target, ss_ctx **out)
{
	ss_ctx *ctx = NULL;
	ss_status st;

	if (out == NULL || cred == NULL)
		return SS_INVALID_HANDLE;
	if (cred->use != SS_CRED_OUTBOUND)
		return SS_NO_CREDENTIALS;
	st = ss_ctx_new_(cred, 0, target, &ctx);
	if (st == SS_OK)
		*out = ctx;
	return st;
}

ss_status ss_ctx_set_resume(ss_ctx *ctx, const ss_resume_entry *e)
{
	if (ctx == NULL || e == NULL || ctx->server || ctx->started || ctx->state != CTX_RUNNING ||
	    e->psk_len == 0 || e->psk_len > SECRET_MAX || e->ticket_len == 0)
		return SS_INVALID_HANDLE;
	if (!ss_ctx_res_allowed_(ctx->cred, e->id.auth) || ctx->cred->allow_psk || ctx->cred->allow_group)
		return SS_UNSUPPORTED_FUNCTION;   /* a PSK or group rule offers its PSK, not a ticket */
	free(ctx->res_ticket);
	ctx->res_ticket = malloc(e->ticket_len);
	if (ctx->res_ticket == NULL)
		return SS_INSUFFICIENT_MEMORY;
	memcpy(ctx->res_ticket, e->ticket, e->ticket_len);
	ctx->res_ticket_len = e->ticket_len;
	memcpy(ctx->sec->res_psk, e->psk, e->psk_len);
	ctx->sec->res_psk_len = e->psk_len;
	ctx->res_id = e->id;
	ctx->res_offered = 1;
	/* pfs = no: offer psk_ke beside psk_dhe_ke (RFC 8446 §4.2.9); the
	 * key share still goes out, so a server that does not resume (or
	 * wants (EC)DHE) makes a full handshake as usual */
	if (ctx->cred->no_pfs)
		SSL_set_options(ctx->ssl, SSL_OP_ALLOW_NO_DHE_KEX);
	return SS_OK;
}

/* RFC 8446 §7.5: the association's secret, Hash.length bytes. */
static ss_status export_secret(ss_ctx *ctx, uint8_t *out, size_t cap, size_t *len)
{
	if (ctx == NULL || out == NULL || len == NULL || ctx->state != CTX_ESTABLISHED ||
	    ctx->sec->len > cap)
		return SS_INVALID_HANDLE;
	if (SSL_export_keying_material(ctx->ssl, out, ctx->sec->len, export_label, sizeof export_label - 1,
	                               NULL, 0, 0) != 1)
		return SS_INTERNAL_ERROR;
	*len = ctx->sec->len;
	return SS_OK;
}

/* What this session carries into later ones: the identity of the full
 * handshake behind it (kept through resumptions), used now. */
static void resume_id(const ss_ctx *ctx, ss_resume_id *id)
{
	int64_t now = ss_clock_now();
	memset(id, 0, sizeof *id);
	id->created = ctx->resumed ? ctx->res_id.created : now;
	id->last_used = now;
	id->suite = ctx->info.suite;
	id->auth = (uint8_t)ctx->info.auth;
	id->mutual = (uint8_t)(ctx->info.mutual != 0);
	snprintf(id->peer, sizeof id->peer, "%s", ctx->info.peer);
	if (ctx->server)
		memcpy(id->scope, ctx->cred->ticket_scope, sizeof id->scope);
}

ss_status ss_ctx_resume_secret(ss_ctx *ctx, uint8_t *out, size_t cap, size_t *len, ss_resume_id *id)
{
	ss_status st;
	if (ctx == NULL || ctx->server || id == NULL)
		return SS_INVALID_HANDLE;
	st = export_secret(ctx, out, cap, len);
	if (st == SS_OK)
		resume_id(ctx, id);
	return st;
}

ss_status ss_ctx_ticket(ss_ctx *ctx, uint8_t *msg, size_t cap, size_t *len)
{
	uint8_t secret[SECRET_MAX];
	size_t slen = 0;
	ss_resume_id id;
	ss_status st;

	if (ctx == NULL || !ctx->server || ctx->cred == NULL || ctx->cred->tickets == NULL ||
	    ctx->cred->session_lifetime == 0 || !ss_ctx_res_allowed_(ctx->cred, ctx->info.auth))
		return SS_UNSUPPORTED_FUNCTION;
	st = export_secret(ctx, secret, sizeof secret, &slen);
	if (st == SS_OK) {
		resume_id(ctx, &id);
		uint32_t left = (uint32_t)(ctx->cred->session_lifetime - (uint32_t)(id.last_used - id.created));
		st = ss_resume_ticket_make(ctx->cred->tickets, secret, slen, &id, left, msg, cap, len);
		sodium_memzero(&id, sizeof id);
	}
	sodium_memzero(secret, sizeof secret);
	return st;
}
