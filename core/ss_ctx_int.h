/* ss_ctx_int.h — what ss_ctx.c (the token loop) and ss_ctx_cb.c (the
 * callbacks OpenSSL calls during it) share: the context itself.  Private to
 * core/.
 */
#ifndef SS_CTX_INT_H
#define SS_CTX_INT_H

#include <time.h>
#include <openssl/ssl.h>
#include "ss_ctx.h"
#include "ss_cred_int.h"
#include "ss_peers.h"
#include "ss_resume.h"
#include "ss_group.h"

/* ss_ctx_resume.c: the resumption side of the callbacks and of finish(). */
int ss_ctx_res_use_(ss_ctx *ctx, SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
                    SSL_SESSION **sess);
int ss_ctx_res_find_(ss_ctx *ctx, SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess);
int ss_ctx_res_allowed_(const ss_cred *c, unsigned auth);
int ss_ctx_res_finish_(ss_ctx *ctx, ss_ctx_info *in);
/* Server, client hello callback: pfs = no on a ClientHello that will
 * resume and offers psk_ke makes the handshake skip the (EC)DHE. */
void ss_ctx_res_no_dhe_(ss_ctx *ctx, SSL *ssl);
/* An external PSK as OpenSSL wants it (RFC 8446 §4.2.11: bound to one
 * hash, fixed by the cipher): resumption, psk and group alike. */
SSL_SESSION *ss_ctx_psk_session_(const uint8_t *psk, size_t len, const SSL_CIPHER *cipher);
/* ss_ctx.c: a fresh context, nothing sent yet. */
ss_status ss_ctx_new_(ss_cred *cred, int server, const char *target, ss_ctx **out);

/* Context lifetime reported through *expiry when the credential gives no
 * session-lifetime (ss_cred_params): the policy's built-in 2 h. */
enum { SS_CTX_LIFETIME_DEFAULT = 2 * 3600 };

enum { SECRET_MAX = 48 };

/* Granted on every established context: TLS 1.3 records are always
 * encrypted, authenticated, and sequence-numbered (RFC 8446 §5.2, §5.3). */
enum {
	SS_ATTRS_ALWAYS = SS_REQ_CONFIDENTIALITY | SS_REQ_INTEGRITY | SS_REQ_REPLAY_DETECT |
	                  SS_REQ_SEQUENCE_DETECT | SS_REQ_STREAM
};

typedef enum ctx_state {
	CTX_RUNNING = 1,
	CTX_ESTABLISHED,     /* SS_OK returned, SSL alive, secrets held */
	CTX_EXPORTED,        /* secrets moved to an ss_rec_state; query only */
	CTX_FAILED
} ctx_state;

/* Why we failed, when our own callbacks decided (OpenSSL only knows that a
 * callback said no). */
enum ctx_fail {
	F_NOT_SECSOCK = 1u << 0,
	F_PSK_UNKNOWN = 1u << 1,
	F_PSK_HASH = 1u << 2,
	F_CERT_REFUSED = 1u << 3,
	F_NOT_PROVEN = 1u << 4    /* finished, but the peer proved no method we accept */
};

enum secret_have { HAVE_CLIENT_APP = 1u << 0, HAVE_SERVER_APP = 1u << 1, HAVE_CLIENT_HS = 1u << 2 };

/* Locked memory (a slot from the pool below), wiped on release. */
typedef struct ctx_secrets {
	uint8_t client_app[SECRET_MAX];   /* client_application_traffic_secret_0 */
	uint8_t server_app[SECRET_MAX];   /* server_application_traffic_secret_0 */
	uint8_t client_hs[SECRET_MAX];    /* client_handshake_traffic_secret */
	size_t len;                       /* Hash.length: 32 or 48 */
	uint8_t grp_psk[SECRET_MAX];      /* group: this handshake's PSK (ss_group.h) */
	uint8_t res_psk[SECRET_MAX];      /* client: the resumption PSK offered (ss_resume.h) */
	size_t res_psk_len;
	unsigned have;                    /* enum secret_have */
} ctx_secrets;

struct ss_ctx {
	ctx_state state;
	int server;
	int started;
	int seen_record;          /* the first record from the peer has been checked */
	unsigned fail;            /* enum ctx_fail */
	int verify_err;           /* first X509_V_ERR_* from the chain check */
	size_t psk_binder_len;    /* server: binder length of the client's matching PSK */
	int binder_failed;        /* server: the PSK binder did not verify (wrong key) */
	int hk_seen;              /* the peer presented a host-key certificate (fingerprint in hk_fp) */
	int hk_sent;              /* client: the server asked and we presented our host key */
	int cert_asked;           /* client: the server sent a CertificateRequest */
	int want_name;            /* client: a target name was given; only a method that
	                             proves names may end this handshake (finish) */
	char hk_fp[SS_FP_LEN];
	int grp_used;             /* the group PSK was offered (client) / selected (server) */
	uint8_t grp_id[SS_GROUP_ID_MAX];   /* its identity */
	size_t grp_id_len;
	ss_gkid grp_gkid;
	int res_offered;          /* client: an association was offered (res_id, res_ticket) */
	int resumed;              /* the handshake resumed it (server: a ticket opened) */
	ss_resume_id res_id;      /* what the association carries over */
	uint8_t *res_ticket;      /* client: the ticket offered as PSK identity (malloc'd) */
	size_t res_ticket_len;
	ss_cred *cred;            /* reference; dropped at export */
	SSL *ssl;
	BIO *rbio, *wbio;         /* owned by ssl */
	ctx_secrets *sec;
	struct timespec t0;
	ss_ctx_info info;
};

static const unsigned char alpn_wire[] = "\x09" SS_ALPN;   /* RFC 7301 §3.1 ProtocolNameList entry */

#endif
