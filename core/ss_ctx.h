/* ss_ctx.h — security contexts as an SSPI-style token loop over TLS 1.3.
 *
 * Shape of seed 001 (InitializeSecurityContext (Negotiate)): the caller owns
 * all I/O.  Each call takes the peer's bytes (the input token), returns bytes
 * to send (the output token), and a status:
 *   SS_CONTINUE_NEEDED    send *out (it may be empty), then call again with
 *                         the peer's next bytes;
 *   SS_INCOMPLETE_MESSAGE input ended inside a record; nothing consumed beyond
 *                         *in_used; call again with more bytes;
 *   SS_OK                 the context is established; send *out if non-empty
 *                         (the client's Finished); bytes after *in_used are
 *                         application records for the record layer;
 *   anything else         failure; with SS_REQ_EXTENDED_ERROR *out holds an
 *                         alert for the peer (seed 001: ISC_REQ_EXTENDED_ERROR).
 * OpenSSL runs the handshake over memory BIOs; input is fed one whole TLS
 * record at a time so that *in_used always ends on a record boundary (the
 * preload depends on this to keep the kernel queue at record boundaries).
 */
#ifndef SS_CTX_H
#define SS_CTX_H

#include <stddef.h>
#include <stdint.h>
#include "ss_status.h"
#include "ss_cred.h"
#include "ss_rec.h"

/* Requirement flags (seed 001: ISC_REQ_* / ASC_REQ_*), returned as the
 * ISC_RET_* equivalents in *attrs. */
enum ss_req {
	SS_REQ_CONFIDENTIALITY = 1u << 0,
	SS_REQ_INTEGRITY = 1u << 1,
	SS_REQ_MUTUAL_AUTH = 1u << 2,
	SS_REQ_REPLAY_DETECT = 1u << 3,
	SS_REQ_SEQUENCE_DETECT = 1u << 4,
	SS_REQ_EXTENDED_ERROR = 1u << 5,
	SS_REQ_STREAM = 1u << 6,
	SS_REQ_DELEGATE = 1u << 7,       /* not supported: SS_UNSUPPORTED_FUNCTION */
	/* Client: a host key may satisfy the target name, and the caller
	 * then proves the name itself through its pin (a known-peers line
	 * whose names= binds the name to that key; ss_ctx_info.name_by_pin).
	 * Without it only a certificate satisfies a target. */
	SS_REQ_NAME_BY_PIN = 1u << 8
};

/* Growable output token owned by the caller; free with ss_buf_free. */
typedef struct ss_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
} ss_buf;
void ss_buf_free(ss_buf *b);

typedef struct ss_ctx ss_ctx;

/* Client side.  *ctx is NULL on the first call (a new context is created and
 * stored there), the same pointer afterwards.  target may be NULL (anonymous)
 * and is checked against the peer's identity for certificate auth (→
 * SS_WRONG_PRINCIPAL).  expiry: absolute CLOCK_REALTIME seconds; may be NULL. */
ss_status ss_ctx_initialize(ss_cred *cred, ss_ctx **ctx, const char *target,
                            unsigned req, const uint8_t *in, size_t in_len,
                            size_t *in_used, ss_buf *out, unsigned *attrs,
                            int64_t *expiry);

/* Server side, same contract. */
ss_status ss_ctx_accept(ss_cred *cred, ss_ctx **ctx, unsigned req,
                        const uint8_t *in, size_t in_len, size_t *in_used,
                        ss_buf *out, unsigned *attrs, int64_t *expiry);

/* Resumption (ss_resume.h).  Client: a context made before its first
 * ss_ctx_initialize call, so that an association can be offered
 * (ss_ctx_set_resume; refused for a credential that lists psk or no longer
 * lists the association's method), then ss_ctx_initialize as usual.  After
 * SS_OK and before export: the client's exported secret and the identity
 * the session carries (ss_ctx_resume_secret, for ss_resume_entry_make when
 * the server's ticket arrives); the server's NewSessionTicket message
 * (ss_ctx_ticket; SS_UNSUPPORTED_FUNCTION when the credential issues none). */
struct ss_resume_entry;
struct ss_resume_id;
ss_status ss_ctx_client_new(ss_cred *cred, const char *target, ss_ctx **ctx);
ss_status ss_ctx_set_resume(ss_ctx *ctx, const struct ss_resume_entry *e);
ss_status ss_ctx_resume_secret(ss_ctx *ctx, uint8_t *out, size_t cap, size_t *len, struct ss_resume_id *id);
ss_status ss_ctx_ticket(ss_ctx *ctx, uint8_t *msg, size_t cap, size_t *len);

/* Query attributes (seed 001: QueryContextAttributes) after SS_OK. */
typedef struct ss_ctx_info {
	uint16_t suite;            /* enum ss_suite */
	uint16_t group;            /* enum ss_group, 0 for psk_ke */
	ss_auth auth;              /* method that authenticated the session */
	ss_peer_mode mode;
	unsigned attrs;            /* granted ss_req bits */
	int mutual;                /* both ends authenticated */
	char peer[256];            /* peer identity: psk identity, cert subject, key fingerprint, "anonymous" */
	int resumed;               /* resumed from an earlier full handshake (ss_resume.h) */
	int64_t created;           /* unix seconds of the full handshake behind this session */
	int name_by_pin;           /* SS_REQ_NAME_BY_PIN was used: the target is proven only when
	                            * the caller's pin binds it to this host key (peer) */
	uint64_t handshake_usec;   /* wall time from first call to SS_OK */
	char auth_group[64];       /* auth group: the group's name ("" otherwise) */
	int32_t gkid[3];           /* auth group: the L2 GKID of the key (L0, L1, L2) */
} ss_ctx_info;
ss_status ss_ctx_query(const ss_ctx *ctx, ss_ctx_info *info);

/* Move the established session's application traffic secrets into a record
 * state (ss_rec_state_init) and drop the OpenSSL SSL object: afterwards the
 * context only answers ss_ctx_query.  Call once, after SS_OK. */
ss_status ss_ctx_export(ss_ctx *ctx, ss_rec_state *st);

void ss_ctx_free(ss_ctx *ctx);  /* wipes, NULL is fine (seed: DeleteSecurityContext) */

/* Server side of negotiation discovery (ARCHITECTURE.md): from a peeked
 * prefix of what a client sent, without side effects. */
typedef enum ss_hello_verdict {
	SS_HELLO_NEED_MORE = 0,    /* prefix is consistent with a ClientHello; need more bytes */
	SS_HELLO_SECSOCK,          /* a TLS 1.3 ClientHello offering ALPN "secsock/1" */
	SS_HELLO_TLS,              /* a TLS ClientHello without secsock/1 (a standard TLS client) */
	SS_HELLO_OTHER             /* not TLS at all */
} ss_hello_verdict;
ss_hello_verdict ss_hello_classify(const uint8_t *in, size_t n);

/* Framing during the handshake, without side effects: the total length of
 * the first TLS record in a prefix (any content type, legacy version 3.x,
 * RFC 8446 §5.1) — e.g. a ClientHello (0x0301) or a server flight.
 * SS_INCOMPLETE_MESSAGE below 5 bytes; SS_INVALID_TOKEN for a header no TLS
 * peer sends.  ss_rec_frame_len is the stricter form for protected records. */
ss_status ss_hs_frame_len(const uint8_t *in, size_t n, size_t *rec_len);

#define SS_ALPN "secsock/1"

#endif
