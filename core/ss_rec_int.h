/* ss_rec_int.h — internals of the record layer shared between ss_rec.c and
 * ss_rec_rx.c (opening and reading records) and ss_rec_keys.c (the TLS 1.3
 * key schedule pieces it needs).  Not part of any
 * public API; other core/ files may use ss_hkdf_expand_label.
 */
#ifndef SS_REC_INT_H
#define SS_REC_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include "ss_rec.h"
#include "ss_status.h"

enum ss_rec_int_limits {
	SS_REC_IV_LEN = 12,          /* all three AEADs: iv_length = 12, RFC 8446 §5.3 */
	SS_REC_MAX_SECRET = 48,      /* SHA-384 */
	SS_REC_MAX_KEY = 32
};

/* Static facts about a cipher suite (RFC 8446 §B.4). */
typedef struct ss_suite_info {
	uint16_t suite;
	uint8_t key_len;        /* AEAD key length */
	uint8_t secret_len;     /* Hash.length */
	const char *digest;     /* OpenSSL digest name for HKDF */
	const char *cipher;     /* OpenSSL AEAD name */
} ss_suite_info;

/* NULL for an unknown suite. */
const ss_suite_info *ss_suite_lookup(uint16_t suite);

/* RFC 8446 §7.1 HKDF-Expand-Label(Secret, Label, Context, Length) with
 * Label given without the "tls13 " prefix. */
ss_status ss_hkdf_expand_label(const char *digest, const uint8_t *secret, size_t secret_len,
                               const char *label, const uint8_t *context, size_t context_len,
                               uint8_t *out, size_t out_len);

/* One OpenSSL KDF by name (EVP_KDF "HKDF", "KBKDF", ...) with params into
 * out, its key copy kept out of core dumps; out wiped on failure. */
ss_status ss_kdf_run(const char *name, const OSSL_PARAM *params, uint8_t *out, size_t out_len);

/* §7.3: dir->key and dir->iv from dir->secret. */
ss_status ss_rec_dir_derive(const ss_suite_info *si, ss_rec_dir *dir);

/* §7.2: application_traffic_secret_N+1 = HKDF-Expand-Label(secret_N,
 * "traffic upd", "", Hash.length); new key and iv; seq 0; epoch + 1.
 * *dir is left unchanged on failure. */
ss_status ss_rec_dir_next(const ss_suite_info *si, ss_rec_dir *dir);

/* ------------------------------------------------------------ ss_rec.c and ss_rec_rx.c
 * The record state shared by the two halves of the record layer: sealing
 * and control records (ss_rec.c), opening and reading (ss_rec_rx.c). */

enum {
	/* §5.4: TLSInnerPlaintext (content + type + padding) <= 2^14 + 1 */
	SS_REC_MAX_INNER = SS_REC_MAX_PLAINTEXT + 1,
	/* seal_one: largest content copied next to its type byte and sealed in
	 * one update (see there) */
	MERGE_MAX = 2048,
	/* Bytes of inner plaintext that may exceed pt_cap and still go to a stack
	 * buffer; beyond that (a caller with a small pt buffer) a locked heap
	 * buffer is used. */
	TAIL_STACK = 512,
	/* §4 handshake message header: msg_type(1) + uint24 length */
	HS_HEADER_LEN = 4,
	HS_NEW_SESSION_TICKET = 4,
	HS_KEY_UPDATE = 24,
	/* §6 */
	ALERT_LEVEL_WARNING = 1,
	ALERT_LEVEL_FATAL = 2,
	ALERT_CLOSE_NOTIFY = 0,
	ALERT_USER_CANCELED = 90,
	/* §4.6.3 KeyUpdateRequest */
	KU_NOT_REQUESTED = 0,
	KU_REQUESTED = 1,
	/* §5.1 legacy_record_version */
	LEGACY_VERSION = 0x0303,
};

/* Highest sequence number a data record may use; KeyUpdate/alerts may use
 * one more (see the design note above). */
#define SEQ_LAST_DATA (UINT64_MAX - 2)
#define SEQ_LAST_CTRL (UINT64_MAX - 1)

/* One suite's AEAD as implemented by one provider: the functions EVP would
 * call.  Made once per (suite, provider) by aead_ops() and never freed; the
 * cipher reference it holds keeps the provider loaded, so the functions and
 * provctx stay valid (and the provider address cannot be reused by another). */
typedef struct ss_aead_ops {
	struct ss_aead_ops *next;
	uint16_t suite;
	const OSSL_PROVIDER *prov;
	EVP_CIPHER *cipher;
	void *provctx;
	OSSL_FUNC_cipher_newctx_fn *newctx;
	OSSL_FUNC_cipher_freectx_fn *freectx;
	OSSL_FUNC_cipher_encrypt_init_fn *einit;
	OSSL_FUNC_cipher_decrypt_init_fn *dinit;
	OSSL_FUNC_cipher_update_fn *update;
	OSSL_FUNC_cipher_final_fn *final;
	OSSL_FUNC_cipher_get_ctx_params_fn *get_ctx_params;
} ss_aead_ops;

typedef struct ss_rec_cache {
	void *ctx;            /* provider AEAD context; NULL until first use and after ss_rec_trim */
	uint32_t epoch;       /* epoch of the key the ctx holds */
	uint32_t hidden;      /* SS_MEM_SHARED: bytes under ctx kept out of core dumps (ss_mem_hide) */
	uint8_t keyed;        /* 0 until a key was set (again after a trim) */
} ss_rec_cache;

enum {
	HELD_TX = 1u << 0,
	HELD_RX = 1u << 1
};

struct ss_rec {
	ss_rec_state *st;     /* borrowed */
	const ss_aead_ops *ops; /* cipher_suite's AEAD, found in ss_rec_new */
	uint16_t cipher_suite;
	atomic_uint held;     /* HELD_TX/HELD_RX: which contexts exist (ss_rec_ctx_count) */
	atomic_uint hook_seen;/* hook_gen when this rec last called the hook */
	ss_rec_cache tx, rx;
	uint8_t keep_tickets; /* client resuming: keep the latest NewSessionTicket */
	uint8_t *ticket;      /* malloc'd whole message (opaque ticket: no secret in it) */
	size_t ticket_len;
};

/* The AEAD tag as an OSSL_PARAM, laid out directly (no construct call): read
 * with the provider's get_ctx_params after sealing, passed with the nonce to
 * the decrypt init when opening (what EVP_CIPHER_CTX_ctrl AEAD_GET_TAG and
 * SET_TAG translate to, without the translation). */
#define TAG_PARAMS(buf) \
	{ { OSSL_CIPHER_PARAM_AEAD_TAG, OSSL_PARAM_OCTET_STRING, (buf), SS_REC_TAG_LEN, \
	    OSSL_PARAM_UNMODIFIED }, OSSL_PARAM_END }

/* Key c's context for dir's current epoch when it is not (ss_rec.c). */
ss_status ss_rec_cache_sync_(ss_rec *r, ss_rec_cache *c, const ss_rec_dir *dir, int enc);
/* Drop c's context after one record when it cannot be kept out of core dumps. */
void ss_rec_transient_drop_(ss_rec *r, ss_rec_cache *c);
/* §5.3 per-record nonce from dir's static IV and sequence number. */
void ss_rec_make_nonce_(const ss_rec_dir *dir, uint8_t nonce[SS_REC_IV_LEN]);

#endif
