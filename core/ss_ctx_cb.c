/* ss_ctx_cb.c — the callbacks OpenSSL calls during a handshake of ss_ctx.c:
 * the keylog callback that hands us the traffic secrets (RFC 8446 §7.1),
 * the secsock/1 ALPN check (RFC 7301), PSK offer and selection (RFC 8446
 * §4.2.11) and the certificate checks, plus the small parsers of ClientHello
 * extensions they need.  They record why they refused in ctx->fail, since
 * OpenSSL only learns that a callback said no.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include "ss_ctx_int.h"
#include "ss_cursor.h"
#include "ss_mem.h"
#include "ss_rec.h"

/* ------------------------------------------------------------ small parsers */

/* Does an ALPN ProtocolNameList (RFC 7301 §3.1) contain secsock/1?  A
 * malformed list counts as "no". */
static int alpn_list_has_secsock(const uint8_t *d, size_t n)
{
	ss_cur c = ss_cur_make(d, n), list, name;

	if (!ss_cur_vec(&c, 2, &list) || ss_cur_left(&c) != 0)
		return 0;
	while (ss_cur_left(&list) > 0) {
		if (!ss_cur_vec(&list, 1, &name))
			return 0;
		if (ss_cur_equals(&name, SS_ALPN, sizeof SS_ALPN - 1))
			return 1;
	}
	return 0;
}

/* Is an offered identity ours: the credential's psk identity exactly, or
 * a group identity this group accepts now (ss_group.h)? */
static int psk_identity_ours(const ss_cred *c, int64_t now, const uint8_t *id, size_t len)
{
	if (c->allow_group)
		return ss_group_accepts(c->group, now, id, len, NULL);
	return c->allow_psk && len == c->psk_identity_len && memcmp(id, c->psk_identity, len) == 0;
}

/* RFC 8446 §4.2.11 OfferedPsks: find our identity; *binder_len is the length
 * of its binder (= Hash.length of the hash the client bound the PSK to).
 * Returns 1 when found. */
static int offered_psk_find(const uint8_t *d, size_t n, const ss_cred *cr, int64_t now,
                            size_t *binder_len)
{
	ss_cur c = ss_cur_make(d, n), ids, binders, ident, binder;
	size_t index = 0, match = SIZE_MAX;
	uint32_t age;

	if (!ss_cur_vec(&c, 2, &ids) || !ss_cur_vec(&c, 2, &binders))
		return 0;
	while (ss_cur_left(&ids) > 0) {
		if (!ss_cur_vec(&ids, 2, &ident) || !ss_cur_uint(&ids, 4, &age))
			return 0;
		if (match == SIZE_MAX && psk_identity_ours(cr, now, ident.buf + ident.off, ss_cur_left(&ident)))
			match = index;
		index++;
	}
	if (match == SIZE_MAX)
		return 0;
	for (index = 0; ss_cur_left(&binders) > 0; index++) {
		if (!ss_cur_vec(&binders, 1, &binder))
			return 0;
		if (index == match) {
			*binder_len = ss_cur_left(&binder);
			return 1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ client names
 * An inbound rule's peer-name is a list of patterns the client's
 * certificate must match one of (ss_cred.h peer_names), each DNS name by
 * ss_name_matches (core/base/ss_peers.h).  A certificate's own wildcard
 * ("*.example.com" in its SAN) is matched literally: a client proves its
 * own name, it has no business claiming a whole domain (RFC 6125 §6.4.3
 * wildcards are for server names). */

/* The pattern as an IP address, when it is one: 4 or 16 bytes, else 0. */
static size_t ip_pattern(const char *pat, size_t plen, unsigned char ip[16])
{
	char tmp[INET6_ADDRSTRLEN];

	if (plen == 0 || plen >= sizeof tmp)
		return 0;
	memcpy(tmp, pat, plen);
	tmp[plen] = '\0';
	if (inet_pton(AF_INET, tmp, ip) == 1)
		return 4;
	if (inet_pton(AF_INET6, tmp, ip) == 1)
		return 16;
	return 0;
}

/* One pattern against the certificate's names: SAN DNS and IP entries;
 * the subject CNs only when there is no SAN DNS entry (RFC 6125 §6.4.4).
 * Names with an embedded NUL never match. */
static int cert_has_name(X509 *x, const char *pat, size_t plen)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	unsigned char ip[16];
	size_t iplen = ip_pattern(pat, plen, ip);
	int san_dns = 0, hit = 0;

	for (int i = 0; i < sk_GENERAL_NAME_num(gens) && !hit; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const ASN1_STRING *v;
		if (g->type == GEN_DNS) {
			san_dns = 1;
			v = g->d.dNSName;
			hit = iplen == 0 && memchr(ASN1_STRING_get0_data(v), 0, (size_t)ASN1_STRING_length(v)) == NULL &&
			      ss_name_matches(pat, plen, (const char *)ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v));
		} else if (g->type == GEN_IPADD) {
			v = g->d.iPAddress;
			hit = iplen != 0 && (size_t)ASN1_STRING_length(v) == iplen &&
			      memcmp(ASN1_STRING_get0_data(v), ip, iplen) == 0;
		}
	}
	GENERAL_NAMES_free(gens);
	if (hit || san_dns || iplen != 0)
		return hit;
	const X509_NAME *subj = X509_get_subject_name(x);
	for (int i = -1; (i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0 && !hit;) {
		const ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
		unsigned char *utf8 = NULL;
		int n = ASN1_STRING_to_UTF8(&utf8, v);
		hit = n > 0 && memchr(utf8, 0, (size_t)n) == NULL && ss_name_matches(pat, plen, (const char *)utf8, (size_t)n);
		OPENSSL_free(utf8);
	}
	return hit;
}

int ss_cert_names_match_(X509 *x, const char *list)
{
	if (x == NULL || list == NULL)
		return 0;
	while (*list != '\0') {
		size_t n;
		list += strspn(list, ", \t");
		n = strcspn(list, ", \t");
		if (n > 0 && cert_has_name(x, list, n))
			return 1;
		list += n;
	}
	return 0;
}

/* ------------------------------------------------------------ callbacks */

static ss_ctx *ctx_of(const SSL *ssl)
{
	return SSL_get_app_data(ssl);
}

/* NSS key log line (what OpenSSL passes): "LABEL <client_random hex> <secret hex>". */
static void keylog_cb(const SSL *ssl, const char *line)
{
	static const struct { const char *label; unsigned bit; } want[] = {
		{ "CLIENT_TRAFFIC_SECRET_0", HAVE_CLIENT_APP },
		{ "SERVER_TRAFFIC_SECRET_0", HAVE_SERVER_APP },
		{ "CLIENT_HANDSHAKE_TRAFFIC_SECRET", HAVE_CLIENT_HS },
	};
	ss_ctx *ctx = ctx_of(ssl);
	const char *sp1, *sp2;
	uint8_t *dst = NULL;
	unsigned bit = 0;
	size_t got = 0;

	if (ctx == NULL || ctx->sec == NULL || line == NULL)
		return;
	if (ctx->cred->keylog != NULL)
		ctx->cred->keylog(line);
	sp1 = strchr(line, ' ');
	if (sp1 == NULL)
		return;
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		if ((size_t)(sp1 - line) == strlen(want[i].label) &&
		    memcmp(line, want[i].label, (size_t)(sp1 - line)) == 0)
			bit = want[i].bit;
	}
	if (bit == 0)
		return;
	sp2 = strchr(sp1 + 1, ' ');
	if (sp2 == NULL)
		return;
	dst = bit == HAVE_CLIENT_APP ? ctx->sec->client_app
	    : bit == HAVE_SERVER_APP ? ctx->sec->server_app : ctx->sec->client_hs;
	if (sodium_hex2bin(dst, SECRET_MAX, sp2 + 1, strlen(sp2 + 1), NULL, &got, NULL) != 0 ||
	    (got != 32 && got != 48)) {
		sodium_memzero(dst, SECRET_MAX);
		return;
	}
	ctx->sec->len = got;
	ctx->sec->have |= bit;
}

/* Server: the first look at a ClientHello (before OpenSSL decides
 * anything).  In secsock mode the client must offer ALPN secsock/1, else the
 * peer is not a secsock client: RFC 7301 §3.2 no_application_protocol.  A
 * PSK-only server that is offered no identity it knows answers
 * unknown_psk_identity (RFC 4279 §2, kept by RFC 8446 §6.2). */
static int client_hello_cb(SSL *ssl, int *al, void *arg)
{
	ss_ctx *ctx = ctx_of(ssl);
	const ss_cred *c;
	const unsigned char *d;
	size_t n;

	(void)arg;
	if (ctx == NULL)
		return SSL_CLIENT_HELLO_ERROR;
	c = ctx->cred;
	if (c->mode == SS_MODE_SECSOCK &&
	    (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &d, &n) != 1 ||
	     !alpn_list_has_secsock(d, n))) {
		ctx->fail |= F_NOT_SECSOCK;
		*al = SSL_AD_NO_APPLICATION_PROTOCOL;
		return SSL_CLIENT_HELLO_ERROR;
	}
	ss_ctx_res_no_dhe_(ctx, ssl);   /* pfs = no only; it checks */
	if (c->allow_psk || c->allow_group) {
		int found = SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_psk, &d, &n) == 1 &&
		            offered_psk_find(d, n, c, ss_clock_now(), &ctx->psk_binder_len);
		if (!found && !c->present_cert) {
			ctx->fail |= F_PSK_UNKNOWN;
			*al = SSL_AD_UNKNOWN_PSK_IDENTITY;
			return SSL_CLIENT_HELLO_ERROR;
		}
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

/* Server, secsock mode: select secsock/1 (the client hello callback has
 * already made sure it was offered). */
static int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	/* ProtocolNameList without its 2-byte length, as OpenSSL passes it */
	ss_cur c = ss_cur_make(in, inlen), name;
	while (ss_cur_left(&c) > 0) {
		if (!ss_cur_vec(&c, 1, &name))
			break;
		if (ss_cur_equals(&name, SS_ALPN, sizeof SS_ALPN - 1)) {
			*out = alpn_wire + 1;
			*outlen = (unsigned char)(sizeof SS_ALPN - 1);
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;   /* no_application_protocol */
}

/* Client: offer our PSK bound to the hash of our most preferred suite (the
 * server picks by client preference, so that is the suite it will choose
 * when it supports it).  After a HelloRetryRequest md is the negotiated
 * hash and we must match it. */
static int psk_use_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
                      SSL_SESSION **sess)
{
	ss_ctx *ctx = ctx_of(ssl);
	const SSL_CIPHER *cipher = NULL;
	const ss_cred *c;

	*sess = NULL;
	if (ctx == NULL)
		return 0;
	if (ctx->res_offered)   /* an association is offered instead (ss_ctx_set_resume) */
		return ss_ctx_res_use_(ctx, ssl, md, id, idlen, sess);
	c = ctx->cred;
	if (!c->allow_psk && !c->allow_group)
		return 1;
	/* group: the identity and key of now's GKID (ss_group.h), made once
	 * per handshake (a HelloRetryRequest offers the same again) */
	if (c->allow_group && !ctx->grp_used) {
		if (ss_group_offer(c->group, ss_clock_now(), ctx->grp_id, sizeof ctx->grp_id, &ctx->grp_id_len,
		                   ctx->sec->grp_psk, &ctx->grp_gkid) != SS_OK)
			return 0;
		ctx->grp_used = 1;
	}
	for (size_t i = 0; i < c->n_suites && cipher == NULL; i++) {
		const unsigned char code[2] = { (unsigned char)(c->suites[i] >> 8),
		                                (unsigned char)(c->suites[i] & 0xff) };
		const SSL_CIPHER *x = SSL_CIPHER_find(ssl, code);
		if (x != NULL && (md == NULL ||
		                  EVP_MD_get_type(SSL_CIPHER_get_handshake_digest(x)) == EVP_MD_get_type(md)))
			cipher = x;
	}
	if (cipher == NULL)
		return 1;   /* no PSK fits this hash: continue without */
	if (c->allow_group) {
		*sess = ss_ctx_psk_session_(ctx->sec->grp_psk, SS_GROUP_PSK_LEN, cipher);
		*id = ctx->grp_id;
		*idlen = ctx->grp_id_len;
	} else {
		*sess = ss_ctx_psk_session_(c->psk, c->psk_len, cipher);
		*id = (const unsigned char *)c->psk_identity;
		*idlen = c->psk_identity_len;
	}
	return *sess != NULL;
}

/* Server: the client named identity; if it is ours, hand OpenSSL the PSK
 * bound to the hash of the suite already chosen (SSL_get_pending_cipher),
 * provided the client bound it to the same hash (binder length). */
static int psk_find_cb(SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess)
{
	ss_ctx *ctx = ctx_of(ssl);
	const SSL_CIPHER *cipher;
	const ss_cred *c;
	int hlen;

	*sess = NULL;
	if (ctx == NULL)
		return 0;
	if (!ss_ctx_res_find_(ctx, ssl, id, idlen, sess))
		return 0;
	if (*sess != NULL)
		return 1;   /* one of our tickets: resumed */
	c = ctx->cred;
	int64_t now = ss_clock_now();
	if (!psk_identity_ours(c, now, id, idlen))
		return 1;   /* not ours: certificate path (or the hello callback refused already) */
	cipher = SSL_get_pending_cipher(ssl);
	if (cipher == NULL)
		return 0;
	hlen = EVP_MD_get_size(SSL_CIPHER_get_handshake_digest(cipher));
	if (hlen <= 0)
		return 0;
	if (ctx->psk_binder_len != 0 && (size_t)hlen != ctx->psk_binder_len) {
		ctx->fail |= F_PSK_HASH;
		return 1;
	}
	if (c->allow_group) {
		if (idlen > sizeof ctx->grp_id ||
		    ss_group_key(c->group, now, id, idlen, ctx->sec->grp_psk) != SS_OK)
			return 0;
		ss_group_accepts(c->group, now, id, idlen, &ctx->grp_gkid);
		memcpy(ctx->grp_id, id, idlen);
		ctx->grp_id_len = idlen;
		ctx->grp_used = 1;
		*sess = ss_ctx_psk_session_(ctx->sec->grp_psk, SS_GROUP_PSK_LEN, cipher);
	} else {
		*sess = ss_ctx_psk_session_(c->psk, c->psk_len, cipher);
	}
	return *sess != NULL;
}

/* Decide about the peer's certificate (the server's, on a client; a
 * client's, on a server that asked for one).  certificate method → the
 * chain must verify against ca_file (and on a client the name, via
 * SSL_set1_host); anonymous → accepted unverified (that is what anonymous
 * means; finish() then counts the peer as anonymous); neither (PSK only) →
 * a certificate is refused: the server did not accept our PSK. */
static int verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	ss_ctx *ctx = ssl ? ctx_of(ssl) : NULL;
	const ss_cred *c;

	if (ctx == NULL)
		return 0;
	c = ctx->cred;
	if (c->allow_cert) {
		if (ok)
			return 1;
		if (ctx->verify_err == 0)
			ctx->verify_err = X509_STORE_CTX_get_error(xs);
		return c->allow_anon;
	}
	if (c->allow_anon)
		return 1;
	ctx->fail |= F_CERT_REFUSED;
	X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);   /* → bad_certificate alert */
	return 0;
}

/* The certificate method's check: the chain to ca_file (verify_cb sees
 * each step), then on a server with allowed client names (an inbound
 * peer-name) the name.  A name that does not match refuses the client even
 * when anonymous is listed too: a name was asked for, and an anonymous
 * client proves none (issue 13 "Names are enforced").  The error chosen
 * makes OpenSSL answer with a bad_certificate alert (RFC 8446 §6.2). */
static int verify_chain(ss_ctx *ctx, X509_STORE_CTX *xs)
{
	X509 *leaf = X509_STORE_CTX_get0_cert(xs);
	int ok = X509_verify_cert(xs);

	if (ok != 1 || !ctx->server || ctx->cred->peer_names == NULL || ctx->verify_err != 0)
		return ok;
	if (ss_cert_names_match_(leaf, ctx->cred->peer_names))
		return 1;
	ctx->verify_err = X509_V_ERR_HOSTNAME_MISMATCH;
	X509_STORE_CTX_set_error(xs, X509_V_ERR_HOSTNAME_MISMATCH);
	return 0;
}

/* Is x a host-key certificate (subject CN SS_HOSTKEY_CN over an Ed25519
 * key)?  Then fp gets the key's fingerprint (ss_peers.h).  Anyone can make
 * such a certificate: it only names the key, the caller's pin decides. */
static int hostkey_cert_fp(X509 *x, char fp[SS_FP_LEN])
{
	char cn[64];
	uint8_t pub[32];
	size_t n = sizeof pub;
	EVP_PKEY *k = x ? X509_get0_pubkey(x) : NULL;

	if (k == NULL || EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519 ||
	    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn) < 0 ||
	    strcmp(cn, SS_HOSTKEY_CN) != 0 ||
	    EVP_PKEY_get_raw_public_key(k, pub, &n) != 1 || n != 32)
		return 0;
	ss_fingerprint(pub, fp);
	return 1;
}

/* Replaces OpenSSL's chain check, on a client and on a server that asks
 * for client certificates.  A host-key certificate, when host-key is
 * listed, is accepted here and its fingerprint recorded (the pin is the
 * caller's decision; the handshake's CertificateVerify, RFC 8446 §4.4.3,
 * proves the peer holds the key).  Otherwise only the certificate method
 * builds and verifies a chain (verify_cb above sees each step); an
 * anonymous-only end has nothing to verify and skips the work (the peer
 * still proves possession of the key, which is all anonymous needs); a
 * PSK-only client refuses. */
static int cert_verify_cb(X509_STORE_CTX *xs, void *arg)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	ss_ctx *ctx = ssl ? ctx_of(ssl) : NULL;

	(void)arg;
	if (ctx == NULL)
		return 0;
	if (ctx->cred->allow_hostkey && hostkey_cert_fp(X509_STORE_CTX_get0_cert(xs), ctx->hk_fp)) {
		ctx->hk_seen = 1;
		return 1;
	}
	if (ctx->cred->allow_cert)
		return verify_chain(ctx, xs);
	if (ctx->cred->allow_anon)
		return 1;
	ctx->fail |= F_CERT_REFUSED;
	X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);   /* → bad_certificate alert */
	return 0;
}

/* Client: the server asked for a certificate (RFC 8446 §4.3.2) and none is
 * set: present the host key (OpenSSL takes the references). */
static int client_cert_cb(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
	ss_ctx *ctx = ctx_of(ssl);
	const ss_cred *c = ctx ? ctx->cred : NULL;

	if (c == NULL || !c->allow_hostkey || !c->hostkey_first || c->hk_cert == NULL)
		return 0;   /* an empty Certificate: the server decides */
	if (!X509_up_ref(c->hk_cert))
		return 0;
	if (!EVP_PKEY_up_ref(c->hk_key)) {
		X509_free(c->hk_cert);
		return 0;
	}
	*x509 = c->hk_cert;
	*pkey = c->hk_key;
	ctx->hk_sent = 1;
	return 1;
}

/* Client: OpenSSL calls this when the server's CertificateRequest
 * (RFC 8446 §4.3.2) is processed, before it picks what to send: finish()
 * then knows the server asked, for `mutual`. */
static int cert_asked_cb(SSL *ssl, void *arg)
{
	ss_ctx *ctx = ctx_of(ssl);

	(void)arg;
	if (ctx != NULL)
		ctx->cert_asked = 1;
	return 1;
}

void ss_ctx_install_callbacks_(SSL_CTX *sctx, const struct ss_cred *c)
{
	SSL_CTX_set_keylog_callback(sctx, keylog_cb);
	if (c->use == SS_CRED_INBOUND) {
		SSL_CTX_set_client_hello_cb(sctx, client_hello_cb, NULL);
		if (c->mode == SS_MODE_SECSOCK)
			SSL_CTX_set_alpn_select_cb(sctx, alpn_select_cb, NULL);
		SSL_CTX_set_psk_find_session_callback(sctx, psk_find_cb);
		/* A client certificate is asked for only when the certificate
		 * method has a CA to check it; it must come unless the client may
		 * also get in without one (anonymous; a PSK client is never asked,
		 * RFC 8446 §4.3.2). */
		/* host-key asks every client for its key (mutual, ARCHITECTURE.md
		 * "Authentication methods"). */
		if (c->verify_peer || c->allow_hostkey) {
			int may_skip = c->allow_anon && c->peer_names == NULL;   /* names: a certificate must come */
			SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER | (may_skip ? 0 : SSL_VERIFY_FAIL_IF_NO_PEER_CERT),
			                   verify_cb);
			SSL_CTX_set_cert_verify_callback(sctx, cert_verify_cb, NULL);
		} else {
			SSL_CTX_set_verify(sctx, SSL_VERIFY_NONE, NULL);
		}
	} else {
		SSL_CTX_set_psk_use_session_callback(sctx, psk_use_cb);
		SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER, verify_cb);
		SSL_CTX_set_cert_verify_callback(sctx, cert_verify_cb, NULL);
		SSL_CTX_set_cert_cb(sctx, cert_asked_cb, NULL);
		if (c->allow_hostkey)
			SSL_CTX_set_client_cert_cb(sctx, client_cert_cb);
	}
}
