/* ss_ctx.c — security contexts: the SSPI token loop (seed 001,
 * InitializeSecurityContext / AcceptSecurityContext) over an OpenSSL TLS 1.3
 * handshake on memory BIOs.
 *
 * Each call feeds the peer's bytes to OpenSSL one whole TLS record at a time
 * (RFC 8446 §5.1 framing parsed here, bounds-checked) and returns what
 * OpenSSL wrote as the output token.  Feeding stops the moment the handshake
 * completes, so *in_used ends on a record boundary and whatever follows
 * (application records) stays with the caller for the record layer.
 *
 * The application traffic secrets reach us through the keylog callback (the
 * only public way OpenSSL hands them out, RFC 8446 §7.1); they go straight
 * into locked (sodium_malloc'd) memory and are never logged.  ss_ctx_export() turns
 * them into an ss_rec_state and frees the SSL object.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include "ss_ctx.h"
#include "ss_cred_int.h"
#include "ss_cursor.h"
#include "ss_mem.h"
#include "ss_rec.h"

#include "ss_ctx_int.h"

/* ------------------------------------------------------------ locked slots
 * Handshake secrets live in locked memory, but sodium_malloc costs several
 * system calls per call (guard pages, mprotect, mlock: tens of µs, as much
 * as a tenth of a whole handshake).  So contexts take fixed-size slots from
 * per-process chunks that are sodium_malloc'd once and kept: slots are wiped
 * on release.  The lock is taken for a few instructions; fork handlers keep
 * it consistent in the child. */
enum { POOL_SLOTS = 64 };

typedef struct pool_chunk {
	struct pool_chunk *next;
	uint64_t used;              /* bit i: slots[i] taken */
	ctx_secrets *slots;         /* sodium_malloc'd, POOL_SLOTS entries */
} pool_chunk;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static pool_chunk *pool_head;

static void pool_lock_fn(void) { pthread_mutex_lock(&pool_lock); }
static void pool_unlock_fn(void) { pthread_mutex_unlock(&pool_lock); }
static void pool_init(void) { pthread_atfork(pool_lock_fn, pool_unlock_fn, pool_unlock_fn); }

static ctx_secrets *secrets_get(void)
{
	ctx_secrets *s = NULL;
	pool_chunk *c;

	pthread_once(&pool_once, pool_init);
	pthread_mutex_lock(&pool_lock);
	for (c = pool_head; c != NULL && c->used == UINT64_MAX; c = c->next)
		;
	if (c == NULL) {
		c = calloc(1, sizeof *c);
		if (c != NULL && (c->slots = sodium_malloc(POOL_SLOTS * sizeof *c->slots)) == NULL) {
			free(c);
			c = NULL;
		}
		if (c != NULL) {
			c->next = pool_head;
			pool_head = c;
		}
	}
	if (c != NULL) {
		int i = __builtin_ctzll(~c->used);
		c->used |= (uint64_t)1 << i;
		s = &c->slots[i];
	}
	pthread_mutex_unlock(&pool_lock);
	if (s != NULL)
		sodium_memzero(s, sizeof *s);
	return s;
}

static void secrets_put(ctx_secrets *s)
{
	uintptr_t a = (uintptr_t)s;

	if (s == NULL)
		return;
	sodium_memzero(s, sizeof *s);
	pthread_mutex_lock(&pool_lock);
	for (pool_chunk *c = pool_head; c != NULL; c = c->next) {
		uintptr_t lo = (uintptr_t)c->slots, hi = lo + POOL_SLOTS * sizeof *c->slots;
		if (a >= lo && a < hi) {
			c->used &= ~((uint64_t)1 << ((a - lo) / sizeof *c->slots));
			break;
		}
	}
	pthread_mutex_unlock(&pool_lock);
}


void ss_buf_free(ss_buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static int buf_reserve(ss_buf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *p;

	if (b->cap - b->len >= extra)
		return 1;
	if (extra > SIZE_MAX / 2 - b->len)
		return 0;
	need = b->len + extra;
	cap = b->cap < 512 ? 512 : b->cap;
	while (cap < need)
		cap *= 2;
	p = realloc(b->data, cap);
	if (p == NULL)
		return 0;
	b->data = p;
	b->cap = cap;
	return 1;
}

/* Move everything OpenSSL wrote into the output token. */
static ss_status drain_wbio(ss_ctx *ctx, ss_buf *out)
{
	size_t n = BIO_ctrl_pending(ctx->wbio);

	if (n == 0)
		return SS_OK;
	if (n > INT_MAX || !buf_reserve(out, n))
		return SS_INSUFFICIENT_MEMORY;
	if (BIO_read(ctx->wbio, out->data + out->len, (int)n) != (int)n)
		return SS_INTERNAL_ERROR;
	out->len += n;
	return SS_OK;
}

/* ------------------------------------------------------------ status mapping */

/* A fatal alert the peer sent (RFC 8446 §6.2), by description. */
static ss_status map_alert(int desc)
{
	switch (desc) {
	case SSL_AD_CLOSE_NOTIFY:
		return SS_CLOSED;
	case SSL_AD_NO_APPLICATION_PROTOCOL:
		return SS_NOT_SECSOCK;
	case SSL_AD_HANDSHAKE_FAILURE:
	case SSL_AD_INSUFFICIENT_SECURITY:
	case SSL_AD_PROTOCOL_VERSION:
		return SS_ALGORITHM_MISMATCH;
	case SSL_AD_DECRYPT_ERROR:
	case SSL_AD_UNKNOWN_PSK_IDENTITY:
	case SSL_AD_BAD_CERTIFICATE:
	case SSL_AD_UNSUPPORTED_CERTIFICATE:
	case SSL_AD_CERTIFICATE_REVOKED:
	case SSL_AD_CERTIFICATE_EXPIRED:
	case SSL_AD_CERTIFICATE_UNKNOWN:
	case SSL_AD_ACCESS_DENIED:
		return SS_LOGON_DENIED;
	case TLS13_AD_CERTIFICATE_REQUIRED:   /* RFC 8446 §4.4.2.4: we sent none */
		return SS_NO_CREDENTIALS;
	case SSL_AD_UNKNOWN_CA:
		return SS_NO_AUTHENTICATING_AUTHORITY;
	case SSL_AD_UNRECOGNIZED_NAME:
		return SS_WRONG_PRINCIPAL;
	case SSL_AD_UNEXPECTED_MESSAGE:
	case SSL_AD_BAD_RECORD_MAC:
	case SSL_AD_RECORD_OVERFLOW:
	case SSL_AD_DECODE_ERROR:
	case SSL_AD_ILLEGAL_PARAMETER:
	case TLS13_AD_MISSING_EXTENSION:
	case SSL_AD_UNSUPPORTED_EXTENSION:
		return SS_INVALID_TOKEN;
	default:
		return SS_PEER_ALERT;
	}
}

static ss_status map_verify_error(int err)
{
	switch (err) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
	case X509_V_ERR_EMAIL_MISMATCH:
		return SS_WRONG_PRINCIPAL;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return SS_NO_AUTHENTICATING_AUTHORITY;
	default:
		return SS_LOGON_DENIED;
	}
}

/* Why did SSL_do_handshake fail?  Our callbacks' reasons first, then the
 * OpenSSL error queue (this thread's), then the SSL_get_error class. */
static ss_status map_failure(ss_ctx *ctx, int ssl_err)
{
	unsigned long e;
	int reason;

	if (ctx->fail & F_NOT_SECSOCK)
		return SS_NOT_SECSOCK;
	if (ctx->fail & (F_PSK_UNKNOWN | F_CERT_REFUSED | F_NOT_PROVEN))
		return SS_LOGON_DENIED;
	if (ctx->fail & F_PSK_HASH)
		return SS_ALGORITHM_MISMATCH;
	if (ssl_err == SSL_ERROR_ZERO_RETURN)
		return SS_CLOSED;
	e = ERR_peek_error();
	if (e == 0)
		return ssl_err == SSL_ERROR_SYSCALL ? SS_INVALID_TOKEN : SS_INTERNAL_ERROR;
	reason = ERR_GET_REASON(e);
	if (reason == ERR_R_MALLOC_FAILURE)
		return SS_INSUFFICIENT_MEMORY;
	if (ERR_GET_LIB(e) != ERR_LIB_SSL)
		return SS_INTERNAL_ERROR;
	if (reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256)
		return map_alert(reason - SSL_AD_REASON_OFFSET);   /* received alert */
	switch (reason) {
	case SSL_R_NO_SHARED_CIPHER:
	case SSL_R_NO_SUITABLE_KEY_SHARE:
	case SSL_R_NO_SHARED_GROUPS:
	case SSL_R_NO_CIPHERS_AVAILABLE:
	case SSL_R_NO_PROTOCOLS_AVAILABLE:
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
	case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
		return SS_ALGORITHM_MISMATCH;
	case SSL_R_BINDER_DOES_NOT_VERIFY:
		ctx->binder_failed = 1;
		return SS_LOGON_DENIED;
	case SSL_R_BAD_SIGNATURE:
	case SSL_R_DIGEST_CHECK_FAILED:
		return SS_LOGON_DENIED;
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:   /* we required one (certificate method) */
		return SS_NO_CREDENTIALS;
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
		return map_verify_error(ctx->verify_err ? ctx->verify_err
		                                        : (int)SSL_get_verify_result(ctx->ssl));
	case SSL_R_NO_APPLICATION_PROTOCOL:
		return SS_NOT_SECSOCK;
	case ERR_R_INTERNAL_ERROR:
		return SS_INTERNAL_ERROR;
	default:
		return SS_INVALID_TOKEN;   /* the peer's bytes did not parse or made no sense */
	}
}

/* ------------------------------------------------------------ the loop */

static int is_ip_literal(const char *s)
{
	unsigned char tmp[16];
	return inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1;
}

ss_status ss_ctx_new_(ss_cred *cred, int server, const char *target, ss_ctx **out)
{
	ss_ctx *ctx;
	ss_status st = SS_INSUFFICIENT_MEMORY;

	ctx = calloc(1, sizeof *ctx);
	if (ctx == NULL)
		return SS_INSUFFICIENT_MEMORY;
	ctx->state = CTX_RUNNING;
	ctx->server = server;
	ctx->cred = ss_cred_ref(cred);
	clock_gettime(CLOCK_MONOTONIC, &ctx->t0);
	ctx->sec = secrets_get();
	ctx->ssl = SSL_new(cred->ssl);
	ctx->rbio = BIO_new(BIO_s_mem());
	ctx->wbio = BIO_new(BIO_s_mem());
	if (ctx->sec == NULL || ctx->ssl == NULL || ctx->rbio == NULL || ctx->wbio == NULL) {
		BIO_free(ctx->rbio);
		BIO_free(ctx->wbio);
		ctx->rbio = ctx->wbio = NULL;
		goto out;
	}
	SSL_set_bio(ctx->ssl, ctx->rbio, ctx->wbio);
	SSL_set_app_data(ctx->ssl, ctx);
	if (server) {
		SSL_set_accept_state(ctx->ssl);
	} else {
		SSL_set_connect_state(ctx->ssl);
		/* SSL_set_alpn_protos returns 0 on success */
		if (cred->mode == SS_MODE_SECSOCK &&
		    SSL_set_alpn_protos(ctx->ssl, alpn_wire, sizeof alpn_wire - 1) != 0)
			goto out;
		ctx->want_name = target != NULL && *target != '\0';
		if (cred->verify_name) {
			st = SS_TARGET_UNKNOWN;
			if (target == NULL || *target == '\0')
				goto out;
			if (is_ip_literal(target)) {
				if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ctx->ssl), target))
					goto out;
			} else if (!SSL_set1_host(ctx->ssl, target)) {
				goto out;
			}
		}
		/* SNI (RFC 6066 §3) for ordinary TLS servers that host several names */
		if (cred->mode == SS_MODE_STANDARD_TLS && target != NULL && *target != '\0' &&
		    !is_ip_literal(target) && !SSL_set_tlsext_host_name(ctx->ssl, target)) {
			st = SS_TARGET_UNKNOWN;
			goto out;
		}
	}
	st = SS_OK;
out:
	if (st != SS_OK) {
		ss_ctx_free(ctx);
		return st;
	}
	*out = ctx;
	return SS_OK;
}

/* Frame a record header (RFC 8446 §5.1) from what has arrived so far.
 * SS_INCOMPLETE_MESSAGE when fewer than 5 bytes but consistent so far.
 * first: this is the first record from the peer, which must be a handshake
 * or alert record; not_tls: what a record that is not TLS at all gets. */
static ss_status frame_header(const uint8_t *h, size_t avail, int first, ss_status not_tls,
                              size_t *rec_len)
{
	ss_cur c = ss_cur_make(h, avail);
	uint32_t type, major, minor, len;

	if (!ss_cur_uint(&c, 1, &type))
		return SS_INCOMPLETE_MESSAGE;
	if (first && type != SS_CT_HANDSHAKE && type != SS_CT_ALERT)
		return not_tls;
	if (type < SS_CT_CHANGE_CIPHER_SPEC || type > SS_CT_APPLICATION_DATA)
		return SS_INVALID_TOKEN;
	if (!ss_cur_uint(&c, 1, &major))
		return SS_INCOMPLETE_MESSAGE;
	if (major != 3)
		return not_tls;
	if (!ss_cur_uint(&c, 1, &minor))
		return SS_INCOMPLETE_MESSAGE;
	if (minor > 4)
		return not_tls;
	if (!ss_cur_uint(&c, 2, &len))
		return SS_INCOMPLETE_MESSAGE;
	if (len == 0 || len > SS_REC_MAX_CIPHERTEXT)
		return SS_INVALID_TOKEN;
	*rec_len = SS_REC_HEADER_LEN + len;
	return SS_OK;
}

/* The very first record a client gets decides whether the peer speaks TLS
 * at all: anything but a handshake or alert record of a 3.x version is not
 * TLS (negotiation discovery: the peer is a clear server → SS_NOT_SECSOCK). */
static ss_status check_header(const ss_ctx *ctx, const uint8_t *h, size_t avail, size_t *rec_len)
{
	int discovery = !ctx->server && !ctx->seen_record;

	return frame_header(h, avail, !ctx->seen_record,
	                    discovery ? SS_NOT_SECSOCK : SS_INVALID_TOKEN, rec_len);
}

ss_status ss_hs_frame_len(const uint8_t *in, size_t n, size_t *rec_len)
{
	if (!rec_len || (n && !in))
		return SS_INVALID_HANDLE;
	*rec_len = 0;
	return frame_header(in, n, 0, SS_INVALID_TOKEN, rec_len);
}

/* Both ends proved the group's key of that GKID (binder, Finished). */
static void group_info(const ss_ctx *ctx, ss_ctx_info *in)
{
	in->auth = SS_AUTH_GROUP;
	in->mutual = 1;
	snprintf(in->auth_group, sizeof in->auth_group, "%s", ss_grp_name(ctx->cred->group));
	snprintf(in->peer, sizeof in->peer, "group:%s", ss_grp_name(ctx->cred->group));
	in->gkid[0] = ctx->grp_gkid.l0;
	in->gkid[1] = ctx->grp_gkid.l1;
	in->gkid[2] = ctx->grp_gkid.l2;
}

/* The handshake is complete: check what only the end can check, and record
 * the attributes (seed 001: QueryContextAttributes). */
static ss_status finish(ss_ctx *ctx, unsigned req)
{
	const ss_cred *c = ctx->cred;
	const unsigned char *alpn = NULL;
	unsigned alpn_len = 0;
	const SSL_CIPHER *cipher = SSL_get_current_cipher(ctx->ssl);
	ss_ctx_info *in = &ctx->info;
	struct timespec t1;
	X509 *peer;
	int psk, cert_ok;

	/* secsock mode: a server flight that does not select secsock/1 (RFC 7301
	 * §3.2, in EncryptedExtensions) is not a secsock server. */
	if (c->mode == SS_MODE_SECSOCK) {
		SSL_get0_alpn_selected(ctx->ssl, &alpn, &alpn_len);
		if (alpn_len != sizeof SS_ALPN - 1 || memcmp(alpn, SS_ALPN, alpn_len) != 0) {
			ctx->fail |= F_NOT_SECSOCK;
			return SS_NOT_SECSOCK;
		}
	}
	if (cipher == NULL || (ctx->sec->have & (HAVE_CLIENT_APP | HAVE_SERVER_APP)) !=
	                          (HAVE_CLIENT_APP | HAVE_SERVER_APP))
		return SS_INTERNAL_ERROR;
	if ((size_t)EVP_MD_get_size(SSL_CIPHER_get_handshake_digest(cipher)) != ctx->sec->len)
		return SS_INTERNAL_ERROR;

	memset(in, 0, sizeof *in);
	in->created = (int64_t)time(NULL);   /* a resumed session keeps its full handshake's (below) */
	in->suite = SSL_CIPHER_get_protocol_id(cipher);
	in->group = ss_group_from_nid_(SSL_get_negotiated_group(ctx->ssl));
	in->mode = c->mode;
	/* What the peer proved, on either end: the auth reported is that, never
	 * what we presented ourselves. */
	psk = SSL_session_reused(ctx->ssl);   /* an external PSK counts as "reused" */
	peer = SSL_get0_peer_certificate(ctx->ssl);
	cert_ok = c->verify_peer && !ctx->hk_seen && peer != NULL && ctx->verify_err == 0 &&
	          SSL_get_verify_result(ctx->ssl) == X509_V_OK;
	if (psk && (ctx->resumed || ctx->res_offered)) {
		if (ss_ctx_res_finish_(ctx, in) < 0)
			return SS_LOGON_DENIED;
	} else if (psk && c->allow_group && ctx->grp_used) {
		group_info(ctx, in);
	} else if (psk) {
		in->auth = SS_AUTH_PSK;
		in->mutual = 1;   /* both ends proved the PSK (binder, Finished) */
		snprintf(in->peer, sizeof in->peer, "%s", c->psk_identity);
	} else if (cert_ok) {
		in->auth = SS_AUTH_CERTIFICATE;
		/* Mutual: this end proved itself too.  A server with its own
		 * chain (or host key), not the anonymous certificate; a client
		 * that was asked for a certificate and had its chain to send
		 * (whether the server then accepted it, only the server knows:
		 * if it did not, it ends the connection with an alert). */
		in->mutual = ctx->server ? c->own_cert || c->allow_hostkey : ctx->cert_asked && c->own_cert;
		if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName,
		                              in->peer, sizeof in->peer) < 0)
			snprintf(in->peer, sizeof in->peer, "(no common name)");
	} else if (ctx->hk_seen && peer != NULL && c->allow_hostkey) {
		/* The peer's host key; whether it is the right one is the
		 * caller's pin (known-peers), keyed by this fingerprint. */
		in->auth = SS_AUTH_HOST_KEY;
		in->mutual = ctx->server ? c->hostkey_first || !c->own_cert : ctx->hk_sent;
		snprintf(in->peer, sizeof in->peer, "%s", ctx->hk_fp);
	} else {
		in->auth = SS_AUTH_ANONYMOUS;
		snprintf(in->peer, sizeof in->peer, "anonymous");
	}
	/* An inbound peer-name: the client must prove one of the allowed
	 * names with a verified chain (ss_cred.h peer_names).  verify_chain in
	 * ss_ctx_cb.c refuses a wrong name on the wire already; this is the
	 * check that does not depend on the callback, and the one that sees
	 * a client that proved no name at all. */
	if (ctx->server && c->peer_names != NULL &&
	    (in->auth != SS_AUTH_CERTIFICATE || !ss_cert_names_match_(peer, c->peer_names))) {
		ctx->fail |= F_NOT_PROVEN;
		if (in->auth == SS_AUTH_CERTIFICATE)
			return SS_WRONG_PRINCIPAL;
		if (ctx->verify_err != 0)
			return map_verify_error(ctx->verify_err);   /* a chain that did not verify */
		return peer == NULL ? SS_NO_CREDENTIALS : SS_TARGET_UNKNOWN;
	}
	/* A peer gets in only by proving a method the credential lists
	 * (ARCHITECTURE.md "Authentication methods").  The callbacks refuse
	 * earlier on the wire (unknown PSK identity, certificate required or
	 * not verified); this is the check that does not depend on them.  An
	 * anonymous peer passes when anonymous is listed, or at a standard-tls
	 * server that has no CA for client certificates (ordinary TLS clients
	 * do not authenticate themselves; ss_cred.h). */
	if (in->auth == SS_AUTH_ANONYMOUS && !c->allow_anon &&
	    !(ctx->server && c->mode == SS_MODE_STANDARD_TLS && !c->verify_peer)) {
		ctx->fail |= F_NOT_PROVEN;
		return SS_LOGON_DENIED;
	}
	/* A target name is a requirement, not a hint (seed 001: pszTargetName
	 * names the principal to authenticate; SEC_E_TARGET_UNKNOWN when it
	 * cannot be).  Of the methods built, only a certificate proves a name
	 * (its chain to ca-file, the name checked by SSL_set1_host in ctx_new);
	 * a PSK or no proof at all say nothing about it, so the handshake fails
	 * rather than securing the connection with the name unchecked.  A host
	 * key proves a name only through the caller's pin, so it passes only
	 * when the caller said it will check (SS_REQ_NAME_BY_PIN), and the
	 * attributes say it must. */
	if (!ctx->server && ctx->want_name && in->auth != SS_AUTH_CERTIFICATE) {
		if (in->auth == SS_AUTH_HOST_KEY && (req & SS_REQ_NAME_BY_PIN)) {
			in->name_by_pin = 1;
		} else {
			ctx->fail |= F_NOT_PROVEN;
			return SS_TARGET_UNKNOWN;
		}
	}
	in->attrs = SS_ATTRS_ALWAYS | (in->mutual ? SS_REQ_MUTUAL_AUTH : 0) |
	            (req & SS_REQ_EXTENDED_ERROR);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	in->handshake_usec = (uint64_t)(t1.tv_sec - ctx->t0.tv_sec) * 1000000u +
	                     (uint64_t)((t1.tv_nsec - ctx->t0.tv_nsec) / 1000);
	return SS_OK;
}

/* The client found out only at the end that the server is no secsock
 * server (no ALPN secsock/1).  OpenSSL has no call to send an alert of our
 * choosing, and after ServerHello alerts travel under the client handshake
 * traffic key (RFC 8446 §6), so seal no_application_protocol ourselves with
 * the record layer at sequence 0: the Finished that would have used it is
 * discarded.  Best effort: on any failure the token stays empty. */
static void handshake_alert(ss_ctx *ctx, uint8_t desc, ss_buf *out)
{
	const SSL_CIPHER *cipher = SSL_get_current_cipher(ctx->ssl);
	ss_rec_state *st = NULL;
	ss_rec *r = NULL;
	size_t n = 0;

	out->len = 0;
	if (cipher == NULL || !(ctx->sec->have & HAVE_CLIENT_HS))
		goto out;
	st = sodium_malloc(sizeof *st);
	if (st == NULL || !buf_reserve(out, SS_REC_OVERHEAD + 2))
		goto out;
	if (ss_rec_state_init(st, SSL_CIPHER_get_protocol_id(cipher), ctx->sec->client_hs,
	                      ctx->sec->client_hs, ctx->sec->len) != SS_OK ||
	    ss_rec_new(st, &r) != SS_OK ||
	    ss_rec_alert(r, 2, desc, out->data, out->cap, &n) != SS_OK)
		goto out;
	out->len = n;
out:
	ss_rec_free(r);
	if (st != NULL) {
		ss_rec_state_wipe(st);
		sodium_free(st);
	}
}

/* The step failed: the context is dead, and the token is empty or, with
 * seed 001 ISC_REQ_EXTENDED_ERROR ("the remote party will be notified"),
 * the alert OpenSSL produced. */
static void ctx_failed(ss_ctx *ctx, int server, unsigned req, ss_buf *out)
{
	ctx->state = CTX_FAILED;
	out->len = 0;
	if (req & SS_REQ_EXTENDED_ERROR) {
		if ((ctx->fail & F_NOT_SECSOCK) && !server && ctx->seen_record) {
			BIO_reset(ctx->wbio);   /* our Finished must not go out */
			handshake_alert(ctx, SSL_AD_NO_APPLICATION_PROTOCOL, out);
		} else if (drain_wbio(ctx, out) != SS_OK) {
			out->len = 0;
		} else if (ctx->binder_failed && out->len == 7 && out->data[0] == SS_CT_ALERT) {
			/* OpenSSL 3.0 answers a bad binder with illegal_parameter;
			 * RFC 8446 §6.2 says decrypt_error ("unable to ... validate
			 * ... a PSK binder"), which lets the client tell a wrong key
			 * from a malformed message.  The alert is still plaintext
			 * here (no ServerHello yet): fix its description byte. */
			out->data[6] = SSL_AD_DECRYPT_ERROR;
		}
	}
	ERR_clear_error();
}

static ss_status ctx_step(ss_cred *cred, ss_ctx **pctx, int server, const char *target,
                          unsigned req, const uint8_t *in, size_t in_len, size_t *in_used,
                          ss_buf *out, unsigned *attrs, int64_t *expiry)
{
	ss_ctx *ctx;
	size_t used = 0, rec_len = 0;
	int done = 0, r, ssl_err = SSL_ERROR_NONE;
	ss_status st;

	if (in_used != NULL)
		*in_used = 0;
	if (attrs != NULL)
		*attrs = 0;
	if (pctx == NULL || out == NULL || (in == NULL && in_len != 0))
		return SS_INVALID_HANDLE;
	out->len = 0;
	if (req & SS_REQ_DELEGATE)
		return SS_UNSUPPORTED_FUNCTION;   /* seed 001: ISC_REQ_DELEGATE is not offered */
	ctx = *pctx;
	if (ctx == NULL) {
		if (cred == NULL)
			return SS_INVALID_HANDLE;
		if (cred->use != (server ? SS_CRED_INBOUND : SS_CRED_OUTBOUND))
			return SS_NO_CREDENTIALS;   /* seed 001: an OUTBOUND credential for ISC */
		st = ss_ctx_new_(cred, server, target, &ctx);
		if (st != SS_OK)
			return st;
		*pctx = ctx;
	} else if (ctx->server != server || ctx->state != CTX_RUNNING) {
		return SS_INVALID_HANDLE;
	}

	ERR_clear_error();
	if (!ctx->started) {
		ctx->started = 1;
		if (!server) {   /* first client call: the ClientHello, input ignored */
			r = SSL_do_handshake(ctx->ssl);
			ssl_err = SSL_get_error(ctx->ssl, r);
			if (r != 1 && ssl_err != SSL_ERROR_WANT_READ) {
				st = map_failure(ctx, ssl_err);
				goto fail;
			}
			in_len = 0;
		}
	}
	while (!done && used < in_len) {
		st = check_header(ctx, in + used, in_len - used, &rec_len);
		if (st == SS_INCOMPLETE_MESSAGE)
			break;
		if (st != SS_OK)
			goto fail;
		if (in_len - used < rec_len)
			break;
		if (BIO_write(ctx->rbio, in + used, (int)rec_len) != (int)rec_len) {
			st = SS_INSUFFICIENT_MEMORY;
			goto fail;
		}
		used += rec_len;
		ctx->seen_record = 1;
		r = SSL_do_handshake(ctx->ssl);
		if (r == 1) {
			done = 1;
			break;
		}
		ssl_err = SSL_get_error(ctx->ssl, r);
		if (ssl_err != SSL_ERROR_WANT_READ) {
			st = map_failure(ctx, ssl_err);
			goto fail;
		}
	}
	if (in_used != NULL)
		*in_used = used;

	if (done) {
		st = finish(ctx, req);
		if (st != SS_OK)
			goto fail;
	}
	st = drain_wbio(ctx, out);
	if (st != SS_OK)
		goto fail;
	if (done) {
		ctx->state = CTX_ESTABLISHED;
		if (attrs != NULL)
			*attrs = ctx->info.attrs;
		if (expiry != NULL)
			*expiry = ctx->info.created + (ctx->cred->session_lifetime ? (int64_t)ctx->cred->session_lifetime
			                                                          : SS_CTX_LIFETIME_DEFAULT);
		ERR_clear_error();
		return SS_OK;
	}
	ERR_clear_error();
	/* Nothing to send and the input stopped inside a record (or there was
	 * none): the caller must bring more bytes.  With something to send, the
	 * caller sends it first and then comes back with the rest. */
	if (out->len == 0 && used < in_len)
		return SS_INCOMPLETE_MESSAGE;
	if (out->len == 0 && in_len == 0)
		return SS_INCOMPLETE_MESSAGE;
	return SS_CONTINUE_NEEDED;

fail:
	if (in_used != NULL)
		*in_used = used;
	ctx_failed(ctx, server, req, out);
	return st;
}

/* The whole handshake step is a secret scope (ss_mem.h): what OpenSSL
 * allocates for the SSL object (its copies of every secret, the record
 * layer's handshake keys, the key log lines) comes from the DONTDUMP pool. */
ss_status ss_ctx_initialize(ss_cred *cred, ss_ctx **ctx, const char *target,
                            unsigned req, const uint8_t *in, size_t in_len,
                            size_t *in_used, ss_buf *out, unsigned *attrs,
                            int64_t *expiry)
{
	ss_status st;

	ss_mem_enter();
	st = ctx_step(cred, ctx, 0, target, req, in, in_len, in_used, out, attrs, expiry);
	ss_mem_leave();
	return st;
}

ss_status ss_ctx_accept(ss_cred *cred, ss_ctx **ctx, unsigned req,
                        const uint8_t *in, size_t in_len, size_t *in_used,
                        ss_buf *out, unsigned *attrs, int64_t *expiry)
{
	ss_status st;

	ss_mem_enter();
	st = ctx_step(cred, ctx, 1, NULL, req, in, in_len, in_used, out, attrs, expiry);
	ss_mem_leave();
	return st;
}

ss_status ss_ctx_query(const ss_ctx *ctx, ss_ctx_info *info)
{
	if (ctx == NULL || info == NULL ||
	    (ctx->state != CTX_ESTABLISHED && ctx->state != CTX_EXPORTED))
		return SS_INVALID_HANDLE;
	*info = ctx->info;
	return SS_OK;
}

/* SS_MEM_SHARED (ss_mem.h: the program's OpenSSL heap, which SSL_free
 * does not wipe): wipe the SSL object's own copies of the traffic secrets,
 * and of the keys and IVs derived from them (st, when exported), before it
 * is freed.  In OpenSSL 3.0 they are arrays inside the SSL object itself
 * (client/server_app_traffic_secret, read_iv, write_iv); the keys sit in
 * the provider cipher contexts, which SSL_free frees with
 * OPENSSL_clear_free.  Found by value, so no layout is assumed. */
static void scrub_ssl(ss_ctx *ctx, const ss_rec_state *st)
{
	const void *v[9] = { 0 };
	size_t len[9] = { 0 }, n = 0;

	if (ctx->ssl == NULL || ctx->sec == NULL || ss_mem_mode_get() != SS_MEM_SHARED)
		return;
	v[n] = ctx->sec->client_app, len[n++] = ctx->sec->len;
	v[n] = ctx->sec->server_app, len[n++] = ctx->sec->len;
	v[n] = ctx->sec->client_hs, len[n++] = ctx->sec->len;
	if (st != NULL) {
		const ss_rec_dir *d[2] = { &st->tx, &st->rx };
		for (int i = 0; i < 2; i++) {
			v[n] = d[i]->key, len[n++] = st->key_len;
			v[n] = d[i]->iv, len[n++] = sizeof d[i]->iv;
			v[n] = d[i]->secret, len[n++] = st->secret_len;
		}
	}
	(void)ss_mem_scrub_block(ctx->ssl, v, len, n);
}

/* Free the OpenSSL object and the secrets: nothing of the handshake is kept. */
static void drop_handshake(ss_ctx *ctx, const ss_rec_state *st)
{
	scrub_ssl(ctx, st);
	SSL_free(ctx->ssl);   /* frees the BIOs too */
	ctx->ssl = NULL;
	ctx->rbio = ctx->wbio = NULL;
	secrets_put(ctx->sec);   /* wipes */
	ctx->sec = NULL;
	ss_cred_free(ctx->cred);
	ctx->cred = NULL;
}

ss_status ss_ctx_export(ss_ctx *ctx, ss_rec_state *st)
{
	const uint8_t *tx, *rx;
	ss_status s;

	if (ctx == NULL || st == NULL || ctx->state != CTX_ESTABLISHED)
		return SS_INVALID_HANDLE;
	/* tx is what this end writes with (RFC 8446 §7.1: the client writes with
	 * client_application_traffic_secret_0). */
	tx = ctx->server ? ctx->sec->server_app : ctx->sec->client_app;
	rx = ctx->server ? ctx->sec->client_app : ctx->sec->server_app;
	s = ss_rec_state_init(st, ctx->info.suite, tx, rx, ctx->sec->len);
	drop_handshake(ctx, s == SS_OK ? st : NULL);
	ctx->state = s == SS_OK ? CTX_EXPORTED : CTX_FAILED;
	return s;
}

void ss_ctx_free(ss_ctx *ctx)
{
	if (ctx == NULL)
		return;
	drop_handshake(ctx, NULL);
	free(ctx->res_ticket);
	sodium_memzero(ctx, sizeof *ctx);
	free(ctx);
}
