/* ss_cred.c — credentials (seed 001: AcquireCredentialsHandle, phCredential).
 *
 * A credential turns ss_cred_params into an immutable, reference-counted
 * OpenSSL SSL_CTX for one direction plus the key material its methods need.
 * Everything the caller passed is copied; the PSK lives in sodium_malloc'd
 * (locked, guarded) memory and is wiped when the last reference goes.
 */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/err.h>
#include <sodium.h>
#include "ss_cred_int.h"
#include "ss_group.h"
#include "ss_ctx.h"
#include "ss_hostkey.h"
#include "ss_rec.h"
#include "ss_resume.h"

/* ------------------------------------------------------------ anonymous key
 * One ephemeral Ed25519 key and a self-signed certificate per process, made
 * on first need (ARCHITECTURE.md "Authentication methods": anonymous =
 * encryption against passive listeners; nobody verifies this certificate, it
 * only exists because a TLS 1.3 server must sign the handshake, §4.4.3).
 * Never freed: it lives as long as the process. */
static pthread_once_t anon_once = PTHREAD_ONCE_INIT;
static EVP_PKEY *anon_key;
static X509 *anon_cert;

enum { ANON_NOT_BEFORE_SKEW = 3600, ANON_LIFETIME = 7 * 86400, HOSTKEY_CERT_LIFETIME = 365 * 86400 };

/* A self-signed certificate over k with subject CN cn: TLS 1.3 carries
 * keys in certificates (RFC 8446 §4.4.2); for anonymous and host-key nobody
 * checks a chain, the CertificateVerify signature (§4.4.3) proves the key. */
static X509 *self_signed(EVP_PKEY *k, const char *cn, long lifetime)
{
	X509 *x = X509_new();
	X509_NAME *nm;
	int ok;

	if (x == NULL)
		return NULL;
	nm = X509_get_subject_name(x);
	ok = X509_set_version(x, X509_VERSION_3) &&
	     ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(randombytes_random() >> 1)) &&
	     X509_gmtime_adj(X509_getm_notBefore(x), -ANON_NOT_BEFORE_SKEW) != NULL &&
	     X509_gmtime_adj(X509_getm_notAfter(x), lifetime) != NULL &&
	     X509_set_pubkey(x, k) &&
	     X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) &&
	     X509_set_issuer_name(x, nm) &&
	     X509_sign(x, k, NULL) > 0;   /* Ed25519 signs without a separate digest */
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static void anon_make(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	X509 *x = k ? self_signed(k, "secsock anonymous", ANON_LIFETIME) : NULL;

	if (x != NULL) {
		anon_key = k;
		anon_cert = x;
	} else {
		EVP_PKEY_free(k);
	}
	ERR_clear_error();
}

/* ------------------------------------------------------------ host key
 * The persistent key of host-key (ss_hostkey.h): the named file, else the
 * user's default, else (root) the system key.  0 when loaded. */
static int hostkey_load(const char *file, ss_cred *c)
{
	char def[PATH_MAX];
	const char *path = file;
	EVP_PKEY *k = NULL;
	FILE *f;
	int fd;

	if (path == NULL) {
		if (ss_hostkey_default_path(def, sizeof def) == 0 && access(def, F_OK) == 0)
			path = def;
		else if (geteuid() == 0)
			path = SS_HOSTKEY_SYSTEM_PATH;
		else
			return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	f = fd >= 0 ? fdopen(fd, "r") : NULL;
	if (f == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (k == NULL || EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(k);
		return -1;
	}
	/* A host key is long-lived; its certificate only wraps it (the peer
	 * pins the key, never looks at the validity dates). */
	c->hk_cert = self_signed(k, SS_HOSTKEY_CN, HOSTKEY_CERT_LIFETIME);
	if (c->hk_cert == NULL) {
		EVP_PKEY_free(k);
		return -1;
	}
	c->hk_key = k;
	return 0;
}

/* A server with a host key seals its tickets under a master derived from
 * that key (ss_ticket_keys_from_seed) rather than the caller's random one:
 * every process started with the same host key — a restarted server, a
 * second instance — opens the others' tickets.  Only when the caller gave
 * keys at all (resumption on for this rule). */
static ss_status hostkey_tickets(ss_cred *c)
{
	uint8_t seed[32];
	size_t n = sizeof seed;
	ss_status st = SS_OK;

	if (c->tickets == NULL || c->hk_key == NULL || c->use != SS_CRED_INBOUND)
		return SS_OK;
	if (EVP_PKEY_get_raw_private_key(c->hk_key, seed, &n) != 1 || n != sizeof seed)
		st = SS_INTERNAL_ERROR;
	else if ((c->hk_tickets = sodium_malloc(sizeof *c->hk_tickets)) == NULL)
		st = SS_INSUFFICIENT_MEMORY;
	else {
		ss_ticket_keys_from_seed(seed, c->hk_tickets);
		c->tickets = c->hk_tickets;
	}
	sodium_memzero(seed, sizeof seed);
	return st;
}

/* ------------------------------------------------------------ name tables */
static const struct { uint16_t group; int nid; } group_nids[] = {
	{ SS_GROUP_X25519, NID_X25519 },
	{ SS_GROUP_P256, NID_X9_62_prime256v1 },
	{ SS_GROUP_P384, NID_secp384r1 },
};

int ss_group_to_nid_(uint16_t group)
{
	for (size_t i = 0; i < sizeof group_nids / sizeof group_nids[0]; i++)
		if (group_nids[i].group == group)
			return group_nids[i].nid;
	return 0;
}

uint16_t ss_group_from_nid_(int nid)
{
	for (size_t i = 0; i < sizeof group_nids / sizeof group_nids[0]; i++)
		if (group_nids[i].nid == nid)
			return group_nids[i].group;
	return 0;
}

/* OpenSSL's names for the RFC 8446 §B.4 suites (SSL_CTX_set_ciphersuites). */
static const char *suite_openssl_name(uint16_t suite)
{
	switch (suite) {
	case SS_SUITE_AES_128_GCM_SHA256: return "TLS_AES_128_GCM_SHA256";
	case SS_SUITE_AES_256_GCM_SHA384: return "TLS_AES_256_GCM_SHA384";
	case SS_SUITE_CHACHA20_POLY1305_SHA256: return "TLS_CHACHA20_POLY1305_SHA256";
	default: return NULL;
	}
}

/* Library defaults when the params leave a list all-zero (the policy engine
 * normally passes its own; ARCHITECTURE.md "Policy" embedded default). */
static const uint16_t default_suites[] = {
	SS_SUITE_AES_128_GCM_SHA256, SS_SUITE_CHACHA20_POLY1305_SHA256, SS_SUITE_AES_256_GCM_SHA384
};
static const uint16_t default_groups[] = { SS_GROUP_X25519, SS_GROUP_P256, SS_GROUP_P384 };

/* ------------------------------------------------------------ methods */
static int psk_identity_ok(const char *id, size_t *len)
{
	size_t n = id ? strnlen(id, SS_PSK_IDENTITY_MAX + 1) : 0;
	if (n == 0 || n > SS_PSK_IDENTITY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (id[i] < 0x21 || id[i] > 0x7e)   /* printable, no spaces */
			return 0;
	*len = n;
	return 1;
}

/* Decide which methods this credential can use: exactly those listed
 * (ARCHITECTURE.md "Authentication methods": a server accepts exactly the
 * methods its rule lists; ss_ctx.c checks after the handshake that the peer
 * proved one of them).  A configured certificate never adds a method.
 * host-key without a host key is unavailable (skipped: "host-key,
 * anonymous" still works without one); group is a later issue and skipped;
 * a credential left with no usable method is SS_NO_CREDENTIALS.  No list at
 * all means anonymous. */
static ss_status choose_methods(const ss_cred_params *p, ss_cred *c)
{
	int server = p->use == SS_CRED_INBOUND;
	int any = 0;

	for (size_t i = 0; i < SS_MAX_METHODS && p->methods[i] != SS_AUTH_NONE; i++) {
		any = 1;
		switch (p->methods[i]) {
		case SS_AUTH_ANONYMOUS:
			c->allow_anon = 1;
			break;
		case SS_AUTH_PSK:
			if (c->allow_group)
				return SS_UNSUPPORTED_FUNCTION;
			if (!psk_identity_ok(p->psk_identity, &c->psk_identity_len) ||
			    p->psk == NULL || p->psk_len < SS_PSK_MIN || p->psk_len > SS_PSK_MAX)
				return SS_NO_CREDENTIALS;
			c->allow_psk = 1;
			break;
		case SS_AUTH_CERTIFICATE:
			c->allow_cert = 1;
			break;
		case SS_AUTH_HOST_KEY:
			/* A listed method without its key is a refusal, never
			 * skipped into the rest of the list (promise 3). */
			if (c->hk_key == NULL && hostkey_load(p->host_key_file, c) != 0)
				return SS_NO_CREDENTIALS;
			c->allow_hostkey = 1;
			c->hostkey_first = !c->allow_cert;
			break;
		case SS_AUTH_GROUP:
			/* one external PSK per handshake; a group without its
			 * key is a refusal, never skipped (promise 3) */
			if (c->allow_psk || c->allow_group)
				return SS_UNSUPPORTED_FUNCTION;
			if ((p->group_fetch
			     ? ss_group_new_kds(p->group_name, p->group_sd, p->group_sd_len, p->group_fetch,
			                        p->group_kds_src, p->group_cache_file, &c->group)
			     : ss_group_load(p->group_name, p->group_root_key_file, p->group_sd, p->group_sd_len,
			                     &c->group)) != SS_OK)
				return SS_NO_CREDENTIALS;
			c->allow_group = 1;
			break;
		default:
			return SS_UNSUPPORTED_FUNCTION;
		}
	}
	if (!any)
		c->allow_anon = 1;
	if (!c->allow_psk && !c->allow_group && !c->allow_anon && !c->allow_cert && !c->allow_hostkey)
		return SS_NO_CREDENTIALS;
	if ((p->cert_file == NULL) != (p->key_file == NULL))
		return SS_NO_CREDENTIALS;

	if (c->allow_cert) {
		/* The peer proves a certificate only against a trust anchor we
		 * were given: a client always checks the server; a secsock
		 * server checks the client; a standard-tls server only when it
		 * has a CA for client certificates (cred.h). */
		if (server && p->cert_file == NULL)
			return SS_NO_CREDENTIALS;   /* a certificate server proves itself with one */
		c->verify_peer = !server || p->mode == SS_MODE_SECSOCK || p->ca_file != NULL;
		if (c->verify_peer && p->ca_file == NULL)
			return SS_NO_AUTHENTICATING_AUTHORITY;
		c->verify_name = !server;
		c->own_cert = p->cert_file != NULL;
	}
	/* Allowed client names are proven by a verified chain only: without
	 * the certificate method and a CA every client would be refused. */
	if (server && p->peer_names != NULL && p->peer_names[0] != '\0' && !c->verify_peer)
		return SS_NO_AUTHENTICATING_AUTHORITY;
	c->present_cert = server && (c->allow_cert || c->allow_anon || c->allow_hostkey);
	if (c->present_cert)
		c->own_cert = p->cert_file != NULL;
	/* One certificate per end: the host key when the rule lists host-key
	 * before certificate (or has no certificate of ours), else the chain. */
	if (c->allow_hostkey && (c->hostkey_first || !c->own_cert))
		c->own_cert = 0;
	else if (c->allow_hostkey && !server)
		c->hostkey_first = 0;   /* the client presents its chain, not the key */
	return SS_OK;
}

static ss_status setup_ssl_ctx(const ss_cred_params *p, ss_cred *c)
{
	int server = c->use == SS_CRED_INBOUND;
	char suites[128] = "";
	int nids[SS_MAX_GROUPS];
	size_t n_groups = 0;
	SSL_CTX *s;

	s = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (s == NULL)
		return SS_INSUFFICIENT_MEMORY;
	c->ssl = s;

	/* TLS 1.3 only (ARCHITECTURE.md "Wire protocol"). */
	if (!SSL_CTX_set_min_proto_version(s, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(s, TLS1_3_VERSION))
		return SS_INTERNAL_ERROR;

	for (size_t i = 0; i < c->n_suites; i++) {
		if (i > 0)
			strcat(suites, ":");
		strcat(suites, suite_openssl_name(c->suites[i]));
	}
	if (!SSL_CTX_set_ciphersuites(s, suites))
		return SS_INTERNAL_ERROR;

	for (size_t i = 0; i < SS_MAX_GROUPS && p->groups[i] != 0; i++) {
		int nid = ss_group_to_nid_(p->groups[i]);
		if (nid == 0)
			return SS_UNSUPPORTED_FUNCTION;
		nids[n_groups++] = nid;
	}
	if (n_groups == 0)
		for (size_t i = 0; i < sizeof default_groups / sizeof default_groups[0]; i++)
			nids[n_groups++] = ss_group_to_nid_(default_groups[i]);
	if (!SSL_CTX_set1_groups(s, nids, (int)n_groups))
		return SS_INTERNAL_ERROR;

	/* No session tickets (ARCHITECTURE.md: secsock servers send none; the
	 * client never resumes, the record layer skips tickets it gets). */
	SSL_CTX_set_options(s, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
	if (server && !SSL_CTX_set_num_tickets(s, 0))
		return SS_INTERNAL_ERROR;
	/* pfs = no: a server takes psk_ke when it is offered (the client
	 * offers it only on a resumption, ss_ctx_set_resume) */
	if (server && c->no_pfs)
		SSL_CTX_set_options(s, SSL_OP_ALLOW_NO_DHE_KEX);
	/* RFC 8446 §D.4 middlebox compatibility costs a CCS record and a fake
	 * session id; secsock peers do without it, ordinary TLS keeps it. */
	if (c->mode == SS_MODE_SECSOCK)
		SSL_CTX_clear_options(s, SSL_OP_ENABLE_MIDDLEBOX_COMPAT);

	if (c->own_cert) {
		if (SSL_CTX_use_certificate_chain_file(s, p->cert_file) != 1 ||
		    SSL_CTX_use_PrivateKey_file(s, p->key_file, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(s) != 1)
			return SS_NO_CREDENTIALS;
	} else if (server && c->allow_hostkey) {
		if (SSL_CTX_use_certificate(s, c->hk_cert) != 1 ||
		    SSL_CTX_use_PrivateKey(s, c->hk_key) != 1)
			return SS_INTERNAL_ERROR;
	} else if (c->present_cert) {
		pthread_once(&anon_once, anon_make);
		if (anon_cert == NULL)
			return SS_INTERNAL_ERROR;
		if (SSL_CTX_use_certificate(s, anon_cert) != 1 ||
		    SSL_CTX_use_PrivateKey(s, anon_key) != 1)
			return SS_INTERNAL_ERROR;
	}
	/* Only the given CA file: never the system store, which would let any
	 * publicly certified name in where the rule meant its own CA. */
	if (c->verify_peer && SSL_CTX_load_verify_locations(s, p->ca_file, NULL) != 1)
		return SS_NO_AUTHENTICATING_AUTHORITY;
	/* A server that verifies peers must name a session id context, or
	 * OpenSSL refuses every PSK handshake ("session id context
	 * uninitialized"); the external PSK is then bound to it (psk_find_cb). */
	if (server && (c->verify_peer || c->allow_hostkey) &&
	    !SSL_CTX_set_session_id_context(s, (const unsigned char *)SS_ALPN, sizeof SS_ALPN - 1))
		return SS_INTERNAL_ERROR;
	ss_ctx_install_callbacks_(s, c);
	return SS_OK;
}

ss_status ss_cred_acquire(const ss_cred_params *p, ss_cred **out)
{
	ss_cred *c = NULL;
	ss_status st;

	if (out != NULL)
		*out = NULL;
	if (p == NULL || out == NULL)
		return SS_INVALID_HANDLE;
	if (p->use != SS_CRED_OUTBOUND && p->use != SS_CRED_INBOUND)
		return SS_UNSUPPORTED_FUNCTION;
	if (p->mode != SS_MODE_SECSOCK && p->mode != SS_MODE_STANDARD_TLS)
		return SS_UNSUPPORTED_FUNCTION;
	if (sodium_init() < 0)
		return SS_INTERNAL_ERROR;

	c = calloc(1, sizeof *c);
	if (c == NULL)
		return SS_INSUFFICIENT_MEMORY;
	atomic_init(&c->refs, 1);
	c->use = p->use;
	c->keylog = p->keylog;
	c->tickets = p->tickets;
	c->session_lifetime = p->session_lifetime;
	c->no_pfs = p->no_pfs != 0;
	c->idle_timeout = p->idle_timeout;
	memcpy(c->ticket_scope, p->ticket_scope, sizeof c->ticket_scope);
	c->mode = p->mode;

	for (size_t i = 0; i < SS_MAX_SUITES && p->suites[i] != 0; i++) {
		if (suite_openssl_name(p->suites[i]) == NULL) {
			st = SS_UNSUPPORTED_FUNCTION;
			goto out;
		}
		c->suites[c->n_suites++] = p->suites[i];
	}
	if (c->n_suites == 0)
		for (size_t i = 0; i < sizeof default_suites / sizeof default_suites[0]; i++)
			c->suites[c->n_suites++] = default_suites[i];

	st = choose_methods(p, c);
	if (st != SS_OK)
		goto out;
	if (c->use == SS_CRED_INBOUND && p->peer_names != NULL && p->peer_names[0] != '\0' &&
	    (c->peer_names = strdup(p->peer_names)) == NULL) {
		st = SS_INSUFFICIENT_MEMORY;
		goto out;
	}
	st = hostkey_tickets(c);
	if (st != SS_OK)
		goto out;
	if (c->allow_psk) {
		memcpy(c->psk_identity, p->psk_identity, c->psk_identity_len);
		c->psk = sodium_malloc(p->psk_len);
		if (c->psk == NULL) {
			st = SS_INSUFFICIENT_MEMORY;
			goto out;
		}
		memcpy(c->psk, p->psk, p->psk_len);
		c->psk_len = p->psk_len;
	}
	st = setup_ssl_ctx(p, c);
out:
	ERR_clear_error();
	if (st != SS_OK) {
		ss_cred_free(c);
		return st;
	}
	*out = c;
	return SS_OK;
}

ss_cred *ss_cred_ref(ss_cred *c)
{
	if (c != NULL)
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void ss_cred_free(ss_cred *c)
{
	if (c == NULL || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	SSL_CTX_free(c->ssl);
	X509_free(c->hk_cert);
	EVP_PKEY_free(c->hk_key);
	free(c->peer_names);
	ss_group_free(c->group);
	if (c->hk_tickets != NULL)
		sodium_free(c->hk_tickets);   /* wipes before unmapping */
	if (c->psk != NULL)
		sodium_free(c->psk);   /* wipes before unmapping */
	sodium_memzero(c, sizeof *c);
	free(c);
}
