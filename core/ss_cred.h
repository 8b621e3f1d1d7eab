/* ss_cred.h — credentials (seed 001: AcquireCredentialsHandle → phCredential).
 *
 * A credential is immutable once acquired and may be shared by many contexts
 * (and threads); it is reference counted.  It holds the OpenSSL SSL_CTX for
 * its direction, the methods it may use in preference order, and their key
 * material (PSK in locked memory).
 */
#ifndef SS_CRED_H
#define SS_CRED_H

#include <stddef.h>
#include <stdint.h>
#include "ss_status.h"

enum ss_cred_use { SS_CRED_OUTBOUND = 1, SS_CRED_INBOUND = 2 };

/* Authentication methods (ARCHITECTURE.md "Authentication methods"). */
typedef enum ss_auth {
	SS_AUTH_NONE = 0,
	SS_AUTH_ANONYMOUS,   /* ephemeral Ed25519 key, self-signed cert, made once per process */
	SS_AUTH_HOST_KEY,    /* persistent Ed25519 host key; the caller pins it (TOFU) */
	SS_AUTH_PSK,         /* TLS 1.3 external PSK (RFC 8446 §2.2, §4.2.11) */
	SS_AUTH_CERTIFICATE, /* X.509 chain to ca_file; the name: target (client), peer_names (server) */
	SS_AUTH_GROUP        /* GKDI group key as external PSK (ss_group.h) */
} ss_auth;

/* Peer kind: a secsock peer (ALPN secsock/1 required both ends), or any
 * standard TLS 1.3 peer (no ALPN requirement; certificate auth). */
typedef enum ss_peer_mode { SS_MODE_SECSOCK = 0, SS_MODE_STANDARD_TLS = 1 } ss_peer_mode;

/* Bit masks for the allowed algorithms; order of preference is the order of
 * the arrays below (first = most preferred). */
enum { SS_MAX_METHODS = 6, SS_MAX_SUITES = 3, SS_MAX_GROUPS = 4 };

/* Named groups by IANA code (RFC 8446 §4.2.7) */
enum ss_group { SS_GROUP_P256 = 23, SS_GROUP_P384 = 24, SS_GROUP_X25519 = 29 };

typedef struct ss_cred_params {
	unsigned use;                        /* enum ss_cred_use (one of) */
	ss_peer_mode mode;
	ss_auth methods[SS_MAX_METHODS];     /* preference order; 0-terminated if short */
	uint16_t suites[SS_MAX_SUITES];      /* enum ss_suite; 0-terminated; all-zero = default */
	uint16_t groups[SS_MAX_GROUPS];      /* enum ss_group; 0-terminated; all-zero = default */
	/* psk: identity (printable, <= 128 bytes) and key (>= 16 bytes) */
	const char *psk_identity;
	const uint8_t *psk;
	size_t psk_len;
	/* certificate: PEM files (NULL when unused).  The certificate method
	 * verifies the peer's chain against ca_file and nothing else (no system
	 * store): without it nothing can authenticate the peer, and acquiring
	 * is SS_NO_AUTHENTICATING_AUTHORITY.  A client verifies the server (and
	 * its name, the target); a secsock server verifies the client; a
	 * standard-tls server presents cert_file and asks clients for a
	 * certificate only when ca_file is given (ordinary TLS clients do not
	 * authenticate themselves).  A client presents cert_file when a server
	 * asks. */
	const char *cert_file;               /* our chain */
	const char *key_file;                /* our private key */
	const char *ca_file;                 /* trust anchors for the peer's chain */
	/* host-key: the Ed25519 host key (ss_hostkey.h); NULL means the
	 * user's default, and for root the system key when that is missing.
	 * Both ends present it (a self-signed certificate with CN
	 * SS_HOSTKEY_CN); a peer's host-key certificate is accepted unverified
	 * and its key fingerprint reported (ss_ctx_info.peer): the trust
	 * decision is the caller's pin.  No readable Ed25519 key →
	 * SS_NO_CREDENTIALS, whatever else the list holds. */
	const char *host_key_file;
	/* inbound, certificate: the client names a server admits (policy
	 * peer-name on an inbound rule), a comma-separated list of DNS names
	 * and IP literals; a label that is exactly '*' matches any one label
	 * ("*.example.com", "build-*" is no glob), case-insensitive.  A client
	 * gets in only with a verified chain naming one of them: its SAN DNS
	 * and IP entries, its subject CN only when it has no SAN DNS entry
	 * (RFC 6125 §6.4.4).  NULL or "": any verified client.  Needs the
	 * certificate method and a ca_file (acquire otherwise fails with
	 * SS_NO_AUTHENTICATING_AUTHORITY: nothing could prove the names). */
	const char *peer_names;
	/* Opt-in key log (an admin decrypting a capture): when set, called
	 * with every NSS key log line OpenSSL produces (the SSLKEYLOGFILE
	 * format: label, client random, secret; RFC 8446 §7.1), without the
	 * newline.  Where the line goes, and whether at all, is the caller's. */
	void (*keylog)(const char *line);
	/* Resumption (ss_resume.h): a server seals tickets with, and opens
	 * them with, the caller's keys (NULL: no tickets) — or, when it has a
	 * host key, keys derived from that key in their place; both ends reuse an
	 * association for session_lifetime seconds after its full handshake
	 * and idle_timeout seconds after its latest use (0: lifetime off /
	 * no idle limit).  session_lifetime is also the context expiry. */
	const struct ss_ticket_keys *tickets;
	/* pfs = no (seed 000 quick mode "No PFS"): a resumed connection may
	 * skip the (EC)DHE — psk_ke, RFC 8446 §4.2.9 — when both ends set
	 * this; 0 (the default) keeps psk_dhe_ke for every resumption. */
	int no_pfs;
	uint32_t session_lifetime;
	uint32_t idle_timeout;
	/* server: what a ticket is bound to — the settings its identity was
	 * proved under (the caller's digest of its rule); a ticket opens only
	 * under the same scope, so one rule's proof (another CA, another
	 * method list) never resumes under another rule's credential. */
	uint8_t ticket_scope[16];
	/* group:NAME (core/ss_group.h), standalone key source: the group's
	 * name, its root-key file (0600, the effective user's) and security
	 * descriptor (NULL: the built-in one).  A group listed whose root key
	 * does not load is SS_NO_CREDENTIALS, whatever else the list holds;
	 * psk and group together are SS_UNSUPPORTED_FUNCTION (one external
	 * PSK per handshake). */
	const char *group_name;
	const char *group_root_key_file;
	const uint8_t *group_sd;
	size_t group_sd_len;
	/* ... or the KDS key source (ss_group_new_kds), when group_fetch is
	 * set: the caller's fetch, the string it gets back (which services),
	 * and the persistent cache file (NULL: none). */
	int (*group_fetch)(const char *src, const uint8_t *req, size_t req_len, uint8_t *ans, size_t cap,
	                   size_t *ans_len);
	const char *group_kds_src;
	const char *group_cache_file;
} ss_cred_params;

/* The subject CN of a host-key certificate: what tells a peer's persistent
 * host key from the ephemeral key of anonymous ("secsock anonymous"). */
#define SS_HOSTKEY_CN "secsock host-key"

typedef struct ss_cred ss_cred;

/* Copies everything it needs out of *p (strings, key bytes). */
ss_status ss_cred_acquire(const ss_cred_params *p, ss_cred **out);
ss_cred *ss_cred_ref(ss_cred *c);
void ss_cred_free(ss_cred *c);   /* drops a reference; NULL is fine */

/* Parse "aes-128-gcm" / "x25519" / "psk" … names used by policy files and the
 * CLI; 0 when unknown. */
uint16_t ss_suite_from_name(const char *name);
const char *ss_suite_name(uint16_t suite);       /* "aes-128-gcm" */
uint16_t ss_group_from_name(const char *name);
const char *ss_group_name(uint16_t group);       /* "x25519" */
const char *ss_auth_name(ss_auth a);             /* "anonymous" */

#endif
