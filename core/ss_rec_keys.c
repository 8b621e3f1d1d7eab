/* ss_rec_keys.c — the slice of the TLS 1.3 key schedule the record layer
 * needs: HKDF-Expand-Label (RFC 8446 §7.1), traffic key and IV (§7.3) and the
 * next-generation application traffic secret for KeyUpdate (§7.2).
 *
 * HKDF itself is OpenSSL's (EVP_KDF "HKDF" in EXPAND_ONLY mode: the traffic
 * secrets already are pseudorandom keys, so only the Expand half applies).
 * Every intermediate secret lives on the stack only until the single `out:`
 * label, where it is wiped whatever happened.
 */
#include "ss_rec_int.h"
#include "ss_mem.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sodium.h>

/* RFC 8446 §B.4.  ChaCha20-Poly1305 and AES-128-GCM pair with SHA-256,
 * AES-256-GCM with SHA-384. */
static const ss_suite_info suites[] = {
	{ SS_SUITE_AES_128_GCM_SHA256, 16, 32, "SHA256", "AES-128-GCM" },
	{ SS_SUITE_AES_256_GCM_SHA384, 32, 48, "SHA384", "AES-256-GCM" },
	{ SS_SUITE_CHACHA20_POLY1305_SHA256, 32, 32, "SHA256", "ChaCha20-Poly1305" },
};

const ss_suite_info *ss_suite_lookup(uint16_t suite)
{
	for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
		if (suites[i].suite == suite)
			return &suites[i];
	return NULL;
}

/* One OpenSSL KDF (name, params) into out.  The KDF context copies the
 * key: it is made in the DONTDUMP pool (ss_mem.h) and its free clears the
 * copy; out is wiped when the derivation fails. */
ss_status ss_kdf_run(const char *name, const OSSL_PARAM *params, uint8_t *out, size_t out_len)
{
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	ss_status st = SS_INTERNAL_ERROR;

	ss_mem_enter();
	kdf = EVP_KDF_fetch(NULL, name, NULL);
	if (!kdf)
		goto out;
	kctx = EVP_KDF_CTX_new(kdf);
	if (!kctx) {
		st = SS_INSUFFICIENT_MEMORY;
		goto out;
	}
	if (EVP_KDF_derive(kctx, out, out_len, params) != 1)
		goto out;
	st = SS_OK;
out:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	ss_mem_leave();
	if (st != SS_OK)
		sodium_memzero(out, out_len);
	return st;
}

/* §7.1:
 *   struct {
 *       uint16 length = Length;
 *       opaque label<7..255> = "tls13 " + Label;
 *       opaque context<0..255> = Context;
 *   } HkdfLabel;
 *   HKDF-Expand-Label(Secret, Label, Context, Length) =
 *        HKDF-Expand(Secret, HkdfLabel, Length)
 */
ss_status ss_hkdf_expand_label(const char *digest, const uint8_t *secret, size_t secret_len,
                               const char *label, const uint8_t *context, size_t context_len,
                               uint8_t *out, size_t out_len)
{
	static const char prefix[] = "tls13 ";
	uint8_t info[2 + 1 + 255 + 1 + 255];
	size_t label_len = label ? strlen(label) : 0;
	size_t full_label = sizeof prefix - 1 + label_len;
	if (!digest || !secret || !out || out_len == 0 || out_len > 0xffff ||
	    full_label > 255 || context_len > 255 || (context_len && !context))
		return SS_INVALID_HANDLE;

	size_t n = 0;
	info[n++] = (uint8_t)(out_len >> 8);
	info[n++] = (uint8_t)out_len;
	info[n++] = (uint8_t)full_label;
	memcpy(info + n, prefix, sizeof prefix - 1);
	n += sizeof prefix - 1;
	if (label_len)
		memcpy(info + n, label, label_len);
	n += label_len;
	info[n++] = (uint8_t)context_len;
	if (context_len)
		memcpy(info + n, context, context_len);
	n += context_len;

	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)digest, 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, secret_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n),
		OSSL_PARAM_construct_end(),
	};

	return ss_kdf_run("HKDF", params, out, out_len);
}

#ifdef SECSOCK_TEST_HOOKS
#include <stdlib.h>
#include <unistd.h>
/* Test builds only ($(BUILD)/testhooks/, see the Makefile; never the release
 * engine): each traffic secret, key and IV this process takes into use, one
 * "DIR secret|key|iv HEX" line each on the descriptor named by
 * SECSOCK_TEST_SECRETS_FD, so tests/security/s50-core-dump.sh knows what to
 * look for in a core dump. */
static void test_hook_dir(const char *name, const ss_rec_dir *dir, size_t secret_len,
                          size_t key_len)
{
	const char *e = getenv("SECSOCK_TEST_SECRETS_FD");
	const struct { const char *what; const uint8_t *v; size_t n; } f[] = {
		{ "secret", dir->secret, secret_len }, { "key", dir->key, key_len },
		{ "iv", dir->iv, SS_REC_IV_LEN },
	};
	char line[160], hex[2 * SS_REC_MAX_SECRET + 1];

	if (e == NULL || *e == '\0')
		return;
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		sodium_bin2hex(hex, sizeof hex, f[i].v, f[i].n);
		int n = snprintf(line, sizeof line, "%s %s %s\n", name, f[i].what, hex);
		if (n > 0 && write(atoi(e), line, (size_t)n) < 0)
			return;
	}
}
#define TEST_HOOK_DIR(name, dir, sl, kl) test_hook_dir(name, dir, sl, kl)
#else
#define TEST_HOOK_DIR(name, dir, sl, kl) ((void)0)
#endif

/* §7.3:
 *   [sender]_write_key = HKDF-Expand-Label(Secret, "key", "", key_length)
 *   [sender]_write_iv  = HKDF-Expand-Label(Secret, "iv", "", iv_length)
 */
ss_status ss_rec_dir_derive(const ss_suite_info *si, ss_rec_dir *dir)
{
	uint8_t key[SS_REC_MAX_KEY], iv[SS_REC_IV_LEN];
	ss_status st;

	st = ss_hkdf_expand_label(si->digest, dir->secret, si->secret_len, "key",
	                          NULL, 0, key, si->key_len);
	if (st != SS_OK)
		goto out;
	st = ss_hkdf_expand_label(si->digest, dir->secret, si->secret_len, "iv",
	                          NULL, 0, iv, sizeof iv);
	if (st != SS_OK)
		goto out;
	memset(dir->key, 0, sizeof dir->key);
	memcpy(dir->key, key, si->key_len);
	memcpy(dir->iv, iv, sizeof iv);
out:
	sodium_memzero(key, sizeof key);
	sodium_memzero(iv, sizeof iv);
	return st;
}

/* §7.2:
 *   application_traffic_secret_N+1 =
 *       HKDF-Expand-Label(application_traffic_secret_N, "traffic upd", "", Hash.length)
 * Built in a scratch copy so that a failure leaves *dir as it was. */
ss_status ss_rec_dir_next(const ss_suite_info *si, ss_rec_dir *dir)
{
	ss_rec_dir next;
	ss_status st;

	memset(&next, 0, sizeof next);
	st = ss_hkdf_expand_label(si->digest, dir->secret, si->secret_len, "traffic upd",
	                          NULL, 0, next.secret, si->secret_len);
	if (st != SS_OK)
		goto out;
	st = ss_rec_dir_derive(si, &next);
	if (st != SS_OK)
		goto out;
	next.seq = 0;
	next.epoch = dir->epoch + 1;
	TEST_HOOK_DIR("next", &next, si->secret_len, si->key_len);
	/* The old generation must not survive anywhere (§7.2: "Once ... computed,
	 * the old traffic secret SHOULD be deleted"). */
	sodium_memzero(dir, sizeof *dir);
	*dir = next;
out:
	sodium_memzero(&next, sizeof next);
	return st;
}

ss_status ss_rec_state_init(ss_rec_state *st, uint16_t suite,
                            const uint8_t *tx_secret, const uint8_t *rx_secret,
                            size_t secret_len)
{
	const ss_suite_info *si = ss_suite_lookup(suite);
	ss_rec_state tmp;
	ss_status rc;

	if (!st || !tx_secret || !rx_secret)
		return SS_INVALID_HANDLE;
	if (!si)
		return SS_ALGORITHM_MISMATCH;
	if (secret_len != si->secret_len)
		return SS_INVALID_HANDLE;

	memset(&tmp, 0, sizeof tmp);
	tmp.suite = suite;
	tmp.secret_len = si->secret_len;
	tmp.key_len = si->key_len;
	memcpy(tmp.tx.secret, tx_secret, secret_len);
	memcpy(tmp.rx.secret, rx_secret, secret_len);
	rc = ss_rec_dir_derive(si, &tmp.tx);
	if (rc != SS_OK)
		goto out;
	rc = ss_rec_dir_derive(si, &tmp.rx);
	if (rc != SS_OK)
		goto out;
	TEST_HOOK_DIR("tx", &tmp.tx, si->secret_len, si->key_len);
	TEST_HOOK_DIR("rx", &tmp.rx, si->secret_len, si->key_len);
	*st = tmp;
out:
	sodium_memzero(&tmp, sizeof tmp);
	return rc;
}

void ss_rec_state_wipe(ss_rec_state *st)
{
	if (st)
		sodium_memzero(st, sizeof *st);
}
