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

/* Server (psk_find_cb): is the identity one of our tickets, fresh, for a
 * method we still accept and for the suite's hash?  1 with *sess set when
 * resumed, 1 with *sess NULL to go on (a full handshake), 0 on failure. */
int ss_ctx_res_find_(ss_ctx *ctx, SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess)
{
	const ss_cred *c = ctx->cred;
	const SSL_CIPHER *cipher = SSL_get_pending_cipher(ssl);
	uint8_t psk[SS_RESUME_SECRET_MAX];
	size_t plen = 0;
	ss_resume_id rid;

	const int64_t now = ss_clock_now();
	/* a ticket can be fresh for the smaller of the two lifetimes after it
	 * was issued: its key's rotation window (ss_resume.h) */
	const uint32_t window = c->idle_timeout && c->idle_timeout < c->session_lifetime ? c->idle_timeout
	                                                                                 : c->session_lifetime;

	if (c->tickets == NULL || cipher == NULL ||
	    ss_resume_ticket_open(c->tickets, id, idlen, now, window, &rid, psk, &plen) != SS_OK)
		return 1;
	if (sodium_memcmp(rid.scope, c->ticket_scope, sizeof rid.scope) == 0 &&
	    ss_resume_fresh(&rid, now, c->session_lifetime, c->idle_timeout) &&
	    ss_ctx_res_allowed_(c, rid.auth) &&
	    (size_t)EVP_MD_get_size(SSL_CIPHER_get_handshake_digest(cipher)) == plen &&
	    (*sess = ss_ctx_psk_session_(psk, plen, cipher)) != NULL) {
		ctx->resumed = 1;
		ctx->res_id = rid;
	}
	sodium_memzero(psk, sizeof psk);
	sodium_memzero(&rid, sizeof rid);
	return 1;
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
