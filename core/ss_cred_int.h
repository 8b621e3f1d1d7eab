/* ss_cred_int.h — what ss_ctx.c needs to see of a credential.  Private to
 * core/ (ss_cred.c and ss_ctx.c); not part of any public API.
 */
#ifndef SS_CRED_INT_H
#define SS_CRED_INT_H

#include <stdatomic.h>
#include <openssl/ssl.h>
#include "ss_cred.h"

enum { SS_PSK_IDENTITY_MAX = 128, SS_PSK_MIN = 16, SS_PSK_MAX = 48 /* SSL_MAX_MASTER_KEY_LENGTH */ };

struct ss_cred {
	atomic_uint refs;
	unsigned use;                    /* SS_CRED_OUTBOUND or SS_CRED_INBOUND */
	ss_peer_mode mode;
	uint16_t suites[SS_MAX_SUITES];  /* resolved, never all-zero */
	size_t n_suites;
	/* Which methods this credential may use (ARCHITECTURE.md order of
	 * preference is expressed in TLS itself: a PSK, when offered and known,
	 * wins over a certificate, RFC 8446 §4.2.11). */
	int allow_psk;
	int allow_group;                 /* group:NAME: group holds its key source */
	struct ss_grp *group;
	int allow_anon;
	int allow_cert;                  /* the peer may prove a certificate that verifies */
	int allow_hostkey;               /* host-key: our key loaded, the peer may prove its own */
	int hostkey_first;               /* host-key comes before certificate in the rule */
	int verify_peer;                 /* ask for and verify the peer's chain (ca_file loaded) */
	int verify_name;                 /* client: check target against the certificate */
	int present_cert;                /* server: has a certificate to present */
	int own_cert;                    /* cert_file/key_file loaded (a server's, or a client's for servers that ask) */
	char psk_identity[SS_PSK_IDENTITY_MAX + 1];
	size_t psk_identity_len;
	uint8_t *psk;                    /* sodium_malloc'd, psk_len bytes */
	size_t psk_len;
	char *peer_names;                /* inbound: allowed client names (ss_cred_params), NULL = any */
	EVP_PKEY *hk_key;                /* host-key: our key and its self-signed certificate */
	X509 *hk_cert;
	SSL_CTX *ssl;                    /* configured for this direction, shared by contexts */
	void (*keylog)(const char *line);   /* NULL, or the caller's key log (ss_cred_params) */
	const struct ss_ticket_keys *tickets;   /* server: ticket keys (ss_cred_params, or hk_tickets), NULL none */
	struct ss_ticket_keys *hk_tickets;      /* server: derived from the host key (sodium_malloc'd), or NULL */
	uint32_t session_lifetime, idle_timeout;   /* seconds (ss_cred_params) */
	int no_pfs;                                /* ss_cred_params: resumptions may use psk_ke */
	uint8_t ticket_scope[16];                  /* ss_cred_params */
};

/* Implemented in ss_ctx.c: the callbacks an SSL_CTX needs (they find the
 * ss_ctx through SSL_get_app_data). */
void ss_ctx_install_callbacks_(SSL_CTX *sctx, const struct ss_cred *c);

/* IANA named group (RFC 8446 §4.2.7) <-> OpenSSL NID; 0 when unknown. */
int ss_group_to_nid_(uint16_t group);
uint16_t ss_group_from_nid_(int nid);

/* Does certificate x carry a name from the comma-separated pattern list
 * (ss_cred_params.peer_names)?  1 yes, 0 no (ss_ctx_cb.c). */
int ss_cert_names_match_(X509 *x, const char *list);

#endif
