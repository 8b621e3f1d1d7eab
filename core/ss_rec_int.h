/* ss_rec_int.h — internals of the record layer shared between ss_rec.c and
 * ss_rec_keys.c (the TLS 1.3 key schedule pieces it needs).  Not part of any
 * public API; other core/ files may use ss_hkdf_expand_label.
 */
#ifndef SS_REC_INT_H
#define SS_REC_INT_H

#include <stddef.h>
#include <stdint.h>
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

/* §7.3: dir->key and dir->iv from dir->secret. */
ss_status ss_rec_dir_derive(const ss_suite_info *si, ss_rec_dir *dir);

/* §7.2: application_traffic_secret_N+1 = HKDF-Expand-Label(secret_N,
 * "traffic upd", "", Hash.length); new key and iv; seq 0; epoch + 1.
 * *dir is left unchanged on failure. */
ss_status ss_rec_dir_next(const ss_suite_info *si, ss_rec_dir *dir);

#endif
