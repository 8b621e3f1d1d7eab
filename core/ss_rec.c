/* ss_rec.c — TLS 1.3 record protection (RFC 8446 §5) and the post-handshake
 * messages a record reader must understand (§4.6.1, §4.6.3, §6).
 *
 * Design notes
 * - ss_rec_state (ss_rec.h) is the truth: secrets, keys, IVs, sequence
 *   numbers, flags.  It may sit in MAP_SHARED memory that several processes
 *   use in turn (callers serialise).  ss_rec is this process's cache of two
 *   AEAD contexts, keyed once per epoch; before every record we compare the
 *   cached epoch with the state's, so a KeyUpdate done by another process
 *   re-keys our context here.  Per record only the nonce is set, which is what
 *   keeps the overhead over the bare AEAD small.
 * - The contexts are the provider's own AEAD contexts, driven through the
 *   cipher's provider functions (OSSL_FUNC_cipher_*, found once per suite and
 *   provider: aead_ops), not EVP_CIPHER_CTX.  OpenSSL 3.0's EVP layer costs
 *   more per record than the AEAD itself on small records: every
 *   EVP_CipherInit_ex2 that sets a nonce asks the provider for the IV length
 *   through OSSL_PARAM (~630 of its ~820 instructions), and every EVP update
 *   or final adds its own checks.  The provider functions are the public
 *   provider ABI (openssl/core_dispatch.h) that EVP itself calls, with the
 *   same arguments EVP passes (output size = input size: all three AEADs have
 *   a block size of 1); the AEAD arithmetic is OpenSSL's, unchanged.
 * - The contexts are made on a direction's first record and freed by
 *   ss_rec_trim (idle connections, ss_rec.h); a missing context is just one
 *   more reason for cache_sync to key, like an epoch change.  The AEAD's
 *   functions are found once in ss_rec_new, not in cache_sync: the two
 *   directions run under different locks and must not both write r->ops.
 * - Opening decrypts straight into the caller's buffer (no extra copy on the
 *   hot path), and the tag is checked before any length is reported; on any
 *   failure every byte written is wiped, so no partial plaintext escapes.
 * - Sequence numbers: seq 2^64-1 is never used.  A data record may not take
 *   seq 2^64-2 either, so that a KeyUpdate (or an alert) always has a number
 *   left to be sealed under (§5.3: "rekey or terminate", never wrap).
 * - ChangeCipherSpec (§5): our handshakes run in OpenSSL, which consumes the
 *   middlebox-compatibility CCS itself, so none is expected here.  We still
 *   drop a well-formed one (type 20, the single byte 0x01) as long as no
 *   protected record has been received under the application keys (rx seq 0,
 *   epoch 0) — the window §5 describes; afterwards it is unexpected_message.
 * - After close_notify was received, reading returns SS_CLOSED without
 *   consuming anything: §6.1 says data after closure is to be ignored, and a
 *   caller that keeps reading should keep seeing end-of-stream.  After
 *   close_notify was sent, nothing more may be sealed (SS_CLOSED).
 * - SS_REC_F_FAILED makes every later seal/open/read/key_update fail with
 *   SS_INVALID_HANDLE; only ss_rec_alert still works, so the caller can tell
 *   the peer why the connection dies.
 */
#include "ss_rec_int.h"
#include "ss_mem.h"

#include <endian.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pthread.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <sodium.h>

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
};

/* ss_rec_set_ctx_hook; hook_gen counts its calls, so that a rec holding
 * contexts made before the latest call (a fork child's inherited ones)
 * reports them at its next record. */
static void (*_Atomic ctx_hook)(void);
static atomic_uint hook_gen;

/* ------------------------------------------------------------- AEAD */

/* Every (suite, provider) resolved so far; entries are immutable once
 * published and never freed, so readers walk the list without a lock. */
static _Atomic(ss_aead_ops *) ops_list;
static pthread_mutex_t ops_lock = PTHREAD_MUTEX_INITIALIZER;

/* Does the ':'-separated name list of an OSSL_ALGORITHM contain name? */
static int names_have(const char *names, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = names; p && *p;) {
		const char *e = strchr(p, ':');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n == len && strncasecmp(p, name, len) == 0)
			return 1;
		p = e ? e + 1 : NULL;
	}
	return 0;
}

/* Fill o's functions from the provider's cipher implementation named
 * si->cipher (the one EVP_CIPHER_fetch took from the same provider). */
static int ops_resolve(ss_aead_ops *o, const ss_suite_info *si)
{
	int no_cache = 0, found = 0;
	const OSSL_ALGORITHM *algs = OSSL_PROVIDER_query_operation(o->prov, OSSL_OP_CIPHER, &no_cache);

	for (const OSSL_ALGORITHM *a = algs; a && a->algorithm_names && !found; a++) {
		if (!names_have(a->algorithm_names, si->cipher))
			continue;
		found = 1;
		for (const OSSL_DISPATCH *f = a->implementation; f->function_id; f++) {
			switch (f->function_id) {
			case OSSL_FUNC_CIPHER_NEWCTX: o->newctx = OSSL_FUNC_cipher_newctx(f); break;
			case OSSL_FUNC_CIPHER_FREECTX: o->freectx = OSSL_FUNC_cipher_freectx(f); break;
			case OSSL_FUNC_CIPHER_ENCRYPT_INIT: o->einit = OSSL_FUNC_cipher_encrypt_init(f); break;
			case OSSL_FUNC_CIPHER_DECRYPT_INIT: o->dinit = OSSL_FUNC_cipher_decrypt_init(f); break;
			case OSSL_FUNC_CIPHER_UPDATE: o->update = OSSL_FUNC_cipher_update(f); break;
			case OSSL_FUNC_CIPHER_FINAL: o->final = OSSL_FUNC_cipher_final(f); break;
			case OSSL_FUNC_CIPHER_GET_CTX_PARAMS:
				o->get_ctx_params = OSSL_FUNC_cipher_get_ctx_params(f);
				break;
			default: break;
			}
		}
	}
	if (algs)
		OSSL_PROVIDER_unquery_operation(o->prov, OSSL_OP_CIPHER, algs);
	return found && o->newctx && o->freectx && o->einit && o->dinit && o->update &&
	       o->final && o->get_ctx_params;
}

static const ss_aead_ops *ops_find(uint16_t suite, const OSSL_PROVIDER *prov)
{
	for (const ss_aead_ops *o = atomic_load_explicit(&ops_list, memory_order_acquire); o;
	     o = o->next)
		if (o->suite == suite && o->prov == prov)
			return o;
	return NULL;
}

/* The AEAD functions for cipher (fetched for si) — resolved on the first
 * connection of a suite, then a short list walk per ss_rec_new. */
static const ss_aead_ops *aead_ops(const ss_suite_info *si, EVP_CIPHER *cipher)
{
	const OSSL_PROVIDER *prov = EVP_CIPHER_get0_provider(cipher);
	const ss_aead_ops *found;
	ss_aead_ops *o;

	if (!prov)
		return NULL;
	found = ops_find(si->suite, prov);
	if (found)
		return found;
	pthread_mutex_lock(&ops_lock);
	found = ops_find(si->suite, prov);
	if (found || !(o = calloc(1, sizeof *o)))
		goto out;
	o->suite = si->suite;
	o->prov = prov;
	o->provctx = OSSL_PROVIDER_get0_provider_ctx(prov);
	if (!ops_resolve(o, si) || !EVP_CIPHER_up_ref(cipher)) {
		free(o);
		goto out;
	}
	o->cipher = cipher;
	o->next = atomic_load_explicit(&ops_list, memory_order_relaxed);
	atomic_store_explicit(&ops_list, o, memory_order_release);
	found = o;
out:
	pthread_mutex_unlock(&ops_lock);
	return found;
}

/* ------------------------------------------------------------- object */

ss_status ss_rec_new(ss_rec_state *st, ss_rec **out)
{
	const ss_suite_info *si;
	ss_rec *r;

	if (!st || !out)
		return SS_INVALID_HANDLE;
	*out = NULL;
	si = ss_suite_lookup(st->suite);
	if (!si || si->key_len != st->key_len)
		return SS_INVALID_HANDLE;
	/* sodium_malloc (the rare large scratch in ss_rec_open) needs it;
	 * idempotent and thread-safe. */
	if (sodium_init() < 0)
		return SS_INTERNAL_ERROR;
	r = calloc(1, sizeof *r);
	if (!r)
		return SS_INSUFFICIENT_MEMORY;
	r->st = st;
	atomic_init(&r->held, 0);
	atomic_init(&r->hook_seen, atomic_load(&hook_gen));
	/* No contexts yet (a connection that stays idle never needs one).  The
	 * fetch picks the provider as EVP would (configuration, properties);
	 * its reference is dropped again at once, aead_ops keeps its own. */
	{
		EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, si->cipher, NULL);

		r->ops = cipher ? aead_ops(si, cipher) : NULL;
		EVP_CIPHER_free(cipher);
	}
	if (!r->ops) {
		free(r);
		return SS_INTERNAL_ERROR;
	}
	r->cipher_suite = st->suite;
	*out = r;
	return SS_OK;
}

/* Free one cached context.  The providers' freectx (aes_gcm_freectx,
 * chacha20_poly1305_freectx in OpenSSL 3.0) release the whole context, key
 * schedule included, with OPENSSL_clear_free. */
static void cache_drop(const ss_aead_ops *ops, ss_rec_cache *c)
{
	if (c->ctx) {
		ops->freectx(c->ctx);
		ss_mem_unhide(c->ctx, c->hidden);   /* after the wipe */
	}
	c->ctx = NULL;
	c->hidden = 0;
	c->keyed = 0;
}

void ss_rec_free(ss_rec *r)
{
	if (!r)
		return;
	cache_drop(r->ops, &r->tx);
	cache_drop(r->ops, &r->rx);
	free(r);
}

void ss_rec_trim(ss_rec *r)
{
	if (!r)
		return;
	cache_drop(r->ops, &r->tx);
	cache_drop(r->ops, &r->rx);
	atomic_store(&r->held, 0);
}

unsigned ss_rec_ctx_count(const ss_rec *r)
{
	unsigned h;

	if (!r)
		return 0;
	h = atomic_load_explicit(&r->held, memory_order_relaxed);
	return (h & HELD_TX ? 1u : 0u) + (h & HELD_RX ? 1u : 0u);
}

void ss_rec_set_ctx_hook(void (*fn)(void))
{
	atomic_store(&ctx_hook, fn);
	atomic_fetch_add(&hook_gen, 1);
}

/* Tell the hook that r holds a context (made now, or before the hook was
 * last set).  Either lock of r may be held, not both: hook_seen is atomic
 * and a second call is harmless. */
static void call_hook(ss_rec *r)
{
	void (*hook)(void) = atomic_load(&ctx_hook);

	atomic_store_explicit(&r->hook_seen, atomic_load(&hook_gen), memory_order_relaxed);
	if (hook)
		hook();
}

ss_rec_state *ss_rec_get_state(ss_rec *r)
{
	return r ? r->st : NULL;
}

size_t ss_rec_sealed_len(size_t pt_len)
{
	return pt_len + SS_REC_OVERHEAD;
}

/* ------------------------------------------------------------- keys */

/* Make c->ctx exist and hold dir's key for encryption (enc=1) or decryption
 * (enc=0), re-keying only when the state moved on (epoch) or the context was
 * trimmed since last time.  The one key-setting path for a fresh, a trimmed
 * and a KeyUpdated direction. */
static ss_status cache_sync(ss_rec *r, ss_rec_cache *c, const ss_rec_dir *dir, int enc)
{
	const ss_rec_state *st = r->st;
	const ss_aead_ops *ops = r->ops;
	size_t ivlen = 0;
	OSSL_PARAM ivp[] = { OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_IVLEN, &ivlen), OSSL_PARAM_END };

	if (c->keyed && c->epoch == dir->epoch) {
		/* one relaxed load per record: the hook was set again since
		 * this rec last reported (ss_rec_set_ctx_hook) */
		if (__builtin_expect(atomic_load_explicit(&r->hook_seen, memory_order_relaxed) !=
		                     atomic_load_explicit(&hook_gen, memory_order_relaxed), 0))
			call_hook(r);
		return SS_OK;
	}
	/* The suite is fixed for a state's life; a different one means the
	 * state was wiped or re-used under us. */
	if (r->cipher_suite != st->suite)
		return SS_INVALID_HANDLE;
	c->keyed = 0;
	if (!c->ctx) {
		/* The context will hold the key schedule and the nonce: made in
		 * the engine's DONTDUMP pool, or where the program's OpenSSL puts
		 * it with its pages hidden from core dumps (ss_mem.h). */
		ss_mem_enter();
		c->ctx = ops->newctx(ops->provctx);
		ss_mem_leave();
		if (!c->ctx)
			return SS_INSUFFICIENT_MEMORY;
		if (ss_mem_mode_get() == SS_MEM_SHARED) {
			size_t h = ss_mem_hide(c->ctx);
			c->hidden = h <= UINT32_MAX ? (uint32_t)h : 0;
		}
		/* seq_cst, paired with the trimmer clearing its "armed" flag before
		 * it looks at ss_rec_ctx_count: either it sees this context or the
		 * hook sees it disarmed (pre_engine.c).  A context that lives for
		 * one record only (transient_drop) is nothing to trim. */
		if (ss_mem_mode_get() != SS_MEM_SHARED || c->hidden != 0) {
			atomic_fetch_or(&r->held, c == &r->tx ? HELD_TX : HELD_RX);
			call_hook(r);
		}
	}
	/* All three AEADs default to a 12-byte IV (= iv_length, §5.3); the
	 * per-record calls below pass only the nonce. */
	if ((enc ? ops->einit : ops->dinit)(c->ctx, dir->key, st->key_len, NULL, 0, NULL) != 1)
		return SS_INTERNAL_ERROR;
	if (ops->get_ctx_params(c->ctx, ivp) != 1 || ivlen != SS_REC_IV_LEN)
		return SS_INTERNAL_ERROR;
	c->epoch = dir->epoch;
	c->keyed = 1;
	if (atomic_load_explicit(&r->hook_seen, memory_order_relaxed) !=
	    atomic_load_explicit(&hook_gen, memory_order_relaxed))
		call_hook(r);   /* re-keyed an inherited context (see the fast path) */
	return SS_OK;
}

/* When OpenSSL's allocator is not ours (SS_MEM_SHARED, ss_mem.h) and the
 * pages under a context could not be hidden from core dumps (the program's
 * own allocator, or madvise failed), the context would keep the key
 * schedule in dumpable memory for as long as it lives: then it lives for one
 * record (freectx wipes it, see cache_drop) and the next record makes and
 * keys a new one, as after a trim.  Costs a newctx + key setup per record
 * (for AES-GCM the key expansion and GHASH table). */
static void transient_drop(ss_rec *r, ss_rec_cache *c)
{
	if (ss_mem_mode_get() == SS_MEM_SHARED && c->hidden == 0)
		cache_drop(r->ops, c);
}

/* §5.3: the 64-bit record sequence number in network byte order, left-padded
 * with zeros to iv_length, XORed with the static IV. */
static void make_nonce(const ss_rec_dir *dir, uint8_t nonce[SS_REC_IV_LEN])
{
	uint64_t low;

	memcpy(nonce, dir->iv, SS_REC_IV_LEN);
	memcpy(&low, nonce + SS_REC_IV_LEN - 8, 8);
	low ^= htobe64(dir->seq);
	memcpy(nonce + SS_REC_IV_LEN - 8, &low, 8);
}

/* The AEAD tag as an OSSL_PARAM, laid out directly (no construct call): read
 * with the provider's get_ctx_params after sealing, passed with the nonce to
 * the decrypt init when opening (what EVP_CIPHER_CTX_ctrl AEAD_GET_TAG and
 * SET_TAG translate to, without the translation). */
#define TAG_PARAMS(buf) \
	{ { OSSL_CIPHER_PARAM_AEAD_TAG, OSSL_PARAM_OCTET_STRING, (buf), SS_REC_TAG_LEN, \
	    OSSL_PARAM_UNMODIFIED }, OSSL_PARAM_END }

/* ------------------------------------------------------------- seal */

/* §5.2: one TLSCiphertext from content || ct (no padding), header as AAD.
 * The caller has checked out_cap, pt_len and the sequence number.
 *
 * Up to MERGE_MAX plaintext bytes are first copied to their place in out,
 * the content type appended, and encrypted in place in one EVP update (in
 * place is what EVP allows; only partial overlap is not).  Each update costs
 * ~400 instructions of EVP and provider dispatch, more than copying 2 KiB;
 * above that the copy would cost more than the second update saves. */
static ss_status seal_one(ss_rec *r, uint8_t ct, const uint8_t *pt, size_t pt_len, uint8_t *out)
{
	ss_rec_dir *dir = &r->st->tx;
	const ss_aead_ops *ops = r->ops;
	void *ctx;
	size_t body = pt_len + 1 + SS_REC_TAG_LEN;
	uint8_t nonce[SS_REC_IV_LEN];
	uint8_t *p = out + SS_REC_HEADER_LEN;
	size_t n;
	ss_status st;

	st = cache_sync(r, &r->tx, dir, 1);
	if (st != SS_OK)
		return st;
	ctx = r->tx.ctx;

	/* opaque_type = application_data, legacy_record_version = 0x0303 */
	out[0] = SS_CT_APPLICATION_DATA;
	out[1] = LEGACY_VERSION >> 8;
	out[2] = LEGACY_VERSION & 0xff;
	out[3] = (uint8_t)(body >> 8);
	out[4] = (uint8_t)body;

	make_nonce(dir, nonce);
	st = SS_INTERNAL_ERROR;
	/* key NULL: only the nonce changes (gcm_init, chacha20_poly1305_einit) */
	if (ops->einit(ctx, NULL, 0, nonce, SS_REC_IV_LEN, NULL) != 1)
		goto out;
	if (ops->update(ctx, NULL, &n, SS_REC_HEADER_LEN, out, SS_REC_HEADER_LEN) != 1)
		goto out;
	if (pt_len <= MERGE_MAX) {
		/* TLSInnerPlaintext = content || type, then encrypted in place */
		if (pt_len)
			memcpy(p, pt, pt_len);
		p[pt_len] = ct;
		if (ops->update(ctx, p, &n, pt_len + 1, p, pt_len + 1) != 1 || n != pt_len + 1)
			goto out;
		p += pt_len + 1;
	} else {
		if (ops->update(ctx, p, &n, pt_len, pt, pt_len) != 1 || n != pt_len)
			goto out;
		p += pt_len;
		if (ops->update(ctx, p, &n, 1, &ct, 1) != 1 || n != 1)
			goto out;
		p += 1;
	}
	if (ops->final(ctx, p, &n, 0) != 1 || n != 0)
		goto out;
	{
		/* (chacha20_poly1305_get_ctx_params copies the tag without
		 * setting return_size: success is the return value alone) */
		OSSL_PARAM tagp[] = TAG_PARAMS(p);

		if (ops->get_ctx_params(ctx, tagp) != 1)
			goto out;
	}
	dir->seq++;
	st = SS_OK;
out:
	if (st != SS_OK) {
		/* Never leave a half-built record (or the plaintext copied into it)
		 * that a caller could send, and make the context re-key from
		 * scratch next time. */
		sodium_memzero(out, SS_REC_HEADER_LEN + body);
		r->tx.keyed = 0;
	}
	/* the nonce is the IV itself at seq 0, and gives it away at any seq */
	sodium_memzero(nonce, sizeof nonce);
	transient_drop(r, &r->tx);
	return st;
}

/* Common admission checks for everything that seals. */
static ss_status tx_check(ss_rec *r, int control)
{
	if (!r || !r->st)
		return SS_INVALID_HANDLE;
	if ((r->st->flags & SS_REC_F_FAILED) && !control)
		return SS_INVALID_HANDLE;
	if (r->st->flags & SS_REC_F_CLOSE_SENT)
		return SS_CLOSED;
	return SS_OK;
}

ss_status ss_rec_seal(ss_rec *r, uint8_t ct, const uint8_t *pt, size_t pt_len,
                      uint8_t *out, size_t out_cap, size_t *out_len)
{
	ss_status st = tx_check(r, 0);

	if (st != SS_OK)
		return st;
	if (!out || !out_len || (pt_len && !pt))
		return SS_INVALID_HANDLE;
	*out_len = 0;
	/* Only the three content types a TLS 1.3 endpoint protects. */
	if (ct != SS_CT_APPLICATION_DATA && ct != SS_CT_ALERT && ct != SS_CT_HANDSHAKE)
		return SS_UNSUPPORTED_FUNCTION;
	if (pt_len > SS_REC_MAX_PLAINTEXT)
		return SS_RECORD_OVERFLOW;          /* §5.1: 2^14 */
	if (out_cap < ss_rec_sealed_len(pt_len))
		return SS_BUFFER_TOO_SMALL;
	if (r->st->tx.seq > SEQ_LAST_DATA)
		return SS_SEQUENCE_EXHAUSTED;
	st = seal_one(r, ct, pt, pt_len, out);
	if (st == SS_OK)
		*out_len = ss_rec_sealed_len(pt_len);
	return st;
}

ss_status ss_rec_seal_stream(ss_rec *r, const uint8_t *pt, size_t pt_len, size_t max_frag,
                             uint8_t *out, size_t out_cap, size_t *out_len)
{
	ss_status st = tx_check(r, 0);
	size_t nrec, total, done = 0, w = 0;

	if (st != SS_OK)
		return st;
	if (!out_len || (pt_len && (!pt || !out)))
		return SS_INVALID_HANDLE;
	*out_len = 0;
	if (max_frag == 0)
		max_frag = SS_REC_MAX_PLAINTEXT;
	if (max_frag > SS_REC_MAX_PLAINTEXT)
		return SS_RECORD_OVERFLOW;
	if (pt_len == 0)
		return SS_OK;
	/* Check room and sequence numbers for the whole batch first, so that a
	 * refusal never leaves some records sealed and others not. */
	nrec = pt_len / max_frag + (pt_len % max_frag != 0);
	if (nrec > (SIZE_MAX - pt_len) / SS_REC_OVERHEAD)
		return SS_BUFFER_TOO_SMALL;
	total = pt_len + nrec * SS_REC_OVERHEAD;
	if (out_cap < total)
		return SS_BUFFER_TOO_SMALL;
	if (r->st->tx.seq > SEQ_LAST_DATA || (uint64_t)(nrec - 1) > SEQ_LAST_DATA - r->st->tx.seq)
		return SS_SEQUENCE_EXHAUSTED;
	while (done < pt_len) {
		size_t n = pt_len - done < max_frag ? pt_len - done : max_frag;
		st = seal_one(r, SS_CT_APPLICATION_DATA, pt + done, n, out + w);
		if (st != SS_OK) {
			sodium_memzero(out, w);
			return st;
		}
		done += n;
		w += ss_rec_sealed_len(n);
	}
	*out_len = w;
	return SS_OK;
}

/* ------------------------------------------------------------- framing */

ss_status ss_rec_frame_len(const uint8_t *in, size_t n, size_t *rec_len)
{
	size_t len;

	if (!rec_len || (n && !in))
		return SS_INVALID_HANDLE;
	*rec_len = 0;
	if (n < SS_REC_HEADER_LEN)
		return SS_INCOMPLETE_MESSAGE;
	/* §5.1: after the handshake only protected records (opaque_type 23) and
	 * the compatibility ChangeCipherSpec may appear; a plaintext alert or
	 * handshake record, or anything else, is unexpected_message. */
	if (in[0] != SS_CT_APPLICATION_DATA && in[0] != SS_CT_CHANGE_CIPHER_SPEC)
		return SS_UNEXPECTED_MESSAGE;
	/* §5.1: legacy_record_version is 0x0303 for every record a TLS 1.3
	 * endpoint sends after the ClientHello. */
	if (((size_t)in[1] << 8 | in[2]) != LEGACY_VERSION)
		return SS_DECODE_ERROR;
	len = (size_t)in[3] << 8 | in[4];
	/* §5.2: TLSCiphertext.length <= 2^14 + 256 → record_overflow. */
	if (len > SS_REC_MAX_CIPHERTEXT)
		return SS_RECORD_OVERFLOW;
	*rec_len = SS_REC_HEADER_LEN + len;
	return SS_OK;
}

/* ------------------------------------------------------------- open */

static ss_status rx_fail(ss_rec *r, ss_status st)
{
	r->st->flags |= SS_REC_F_FAILED;
	return st;
}

/* Decrypt and authenticate one protected record whose header was checked.
 * The inner plaintext goes to pt[0..head) and tail[0..inner-head); nothing is
 * reported before the tag verified. */
static ss_status aead_open(ss_rec *r, const uint8_t *rec, size_t inner,
                           uint8_t *pt, size_t head, uint8_t *tail)
{
	ss_rec_dir *dir = &r->st->rx;
	const ss_aead_ops *ops = r->ops;
	void *ctx = r->rx.ctx;   /* keyed by the caller (cache_sync) */
	const uint8_t *c = rec + SS_REC_HEADER_LEN;
	uint8_t nonce[SS_REC_IV_LEN];
	uint8_t tag[SS_REC_TAG_LEN];
	OSSL_PARAM tagp[] = TAG_PARAMS(tag);
	size_t n;
	ss_status st;

	make_nonce(dir, nonce);
	memcpy(tag, c + inner, SS_REC_TAG_LEN);
	st = SS_INTERNAL_ERROR;
	/* The expected tag goes with the nonce: both providers' decrypt init
	 * applies its params after the IV (gcm_init, chacha20_poly1305_dinit). */
	if (ops->dinit(ctx, NULL, 0, nonce, SS_REC_IV_LEN, tagp) != 1)
		goto out;
	if (ops->update(ctx, NULL, &n, SS_REC_HEADER_LEN, rec, SS_REC_HEADER_LEN) != 1)
		goto out;
	if (head && (ops->update(ctx, pt, &n, head, c, head) != 1 || n != head))
		goto out;
	if (inner > head &&
	    (ops->update(ctx, tail, &n, inner - head, c + head, inner - head) != 1 ||
	     n != inner - head))
		goto out;
	/* §5.2: decryption failure → bad_record_mac. */
	st = SS_BAD_RECORD_MAC;
	if (ops->final(ctx, tail + (inner - head), &n, 0) != 1)
		goto out;
	st = SS_OK;
out:
	if (st == SS_INTERNAL_ERROR)
		r->rx.keyed = 0;
	sodium_memzero(nonce, sizeof nonce);
	transient_drop(r, &r->rx);
	return st;
}

ss_status ss_rec_open(ss_rec *r, const uint8_t *in, size_t in_len, size_t *consumed,
                      uint8_t *ct, uint8_t *pt, size_t pt_cap, size_t *pt_len)
{
	uint8_t tail_stack[TAIL_STACK + 1];
	uint8_t *tail = tail_stack, *tail_heap = NULL;
	size_t rec_len = 0, inner, head = 0, tail_len = 0, i;
	uint8_t type = 0;
	ss_status st;

	if (!r || !r->st || !consumed || !ct || !pt_len || (in_len && !in) || (pt_cap && !pt))
		return SS_INVALID_HANDLE;
	*consumed = 0;
	*ct = SS_CT_INVALID;
	*pt_len = 0;
	if (r->st->flags & SS_REC_F_FAILED)
		return SS_INVALID_HANDLE;
	if (r->st->flags & SS_REC_F_CLOSE_RECEIVED)
		return SS_CLOSED;

	st = ss_rec_frame_len(in, in_len, &rec_len);
	if (st == SS_INCOMPLETE_MESSAGE)
		return st;
	if (st != SS_OK)
		return rx_fail(r, st);
	if (in_len < rec_len)
		return SS_INCOMPLETE_MESSAGE;

	if (in[0] == SS_CT_CHANGE_CIPHER_SPEC) {
		/* §5: a single 0x01 byte, dropped; see the design note for the window. */
		if (rec_len != SS_REC_HEADER_LEN + 1 || in[5] != 0x01 ||
		    r->st->rx.seq != 0 || r->st->rx.epoch != 0)
			return rx_fail(r, SS_UNEXPECTED_MESSAGE);
		*consumed = rec_len;
		*ct = SS_CT_CHANGE_CIPHER_SPEC;
		return SS_OK;
	}

	/* A record shorter than the tag plus the inner type byte cannot
	 * authenticate (OpenSSL treats it the same: bad_record_mac). */
	if (rec_len < SS_REC_HEADER_LEN + 1 + SS_REC_TAG_LEN)
		return rx_fail(r, SS_BAD_RECORD_MAC);
	inner = rec_len - SS_REC_HEADER_LEN - SS_REC_TAG_LEN;
	/* §5.4: TLSInnerPlaintext never exceeds 2^14 + 1; the AEADs here are
	 * length-preserving, so this is known before decrypting. */
	if (inner > SS_REC_MAX_INNER)
		return rx_fail(r, SS_RECORD_OVERFLOW);
	/* §5.3: never wrap; the peer had to rekey before this. */
	if (r->st->rx.seq > SEQ_LAST_CTRL)
		return rx_fail(r, SS_SEQUENCE_EXHAUSTED);

	/* Key (or re-create after a trim) before anything is decrypted: running
	 * out of memory here is not the peer's fault, so it consumes nothing and
	 * does not mark the record layer failed; what it costs the connection
	 * is the caller's call (the preload, which may already have taken the
	 * record out of the kernel, fails it). */
	st = cache_sync(r, &r->rx, &r->st->rx, 0);
	if (st == SS_INSUFFICIENT_MEMORY)
		return st;
	if (st != SS_OK)
		return rx_fail(r, st);

	head = inner < pt_cap ? inner : pt_cap;
	tail_len = inner - head;
	if (tail_len > TAIL_STACK) {
		tail_heap = sodium_malloc(tail_len + 1);
		if (!tail_heap) {
			transient_drop(r, &r->rx);
			return SS_INSUFFICIENT_MEMORY;
		}
		tail = tail_heap;
	}

	st = aead_open(r, in, inner, pt, head, tail);
	if (st != SS_OK) {
		st = rx_fail(r, st);
		goto out;
	}

	/* §5.4: the content type is the last non-zero byte; zeros after it are
	 * padding.  No non-zero byte at all → unexpected_message. */
	for (i = inner; i > 0; i--) {
		uint8_t b = i > head ? tail[i - 1 - head] : pt[i - 1];
		if (b != 0) {
			type = b;
			break;
		}
	}
	/* §5: no non-zero byte at all, or a protected ChangeCipherSpec, is
	 * unexpected_message. */
	if (type == 0 || type == SS_CT_CHANGE_CIPHER_SPEC) {
		st = rx_fail(r, SS_UNEXPECTED_MESSAGE);
		goto out;
	}
	if (i - 1 > pt_cap) {
		/* Authentic, but the caller's buffer is too small: leave seq and
		 * input alone so the call can be repeated with a larger buffer. */
		st = SS_BUFFER_TOO_SMALL;
		goto out;
	}
	*pt_len = i - 1;
	*ct = type;
	*consumed = rec_len;
	r->st->rx.seq++;
	st = SS_OK;
out:
	if (st != SS_OK) {
		if (head)
			sodium_memzero(pt, head);
	} else if (head > *pt_len)
		memset(pt + *pt_len, 0, head - *pt_len);   /* type byte and padding */
	sodium_memzero(tail, tail_len + 1);
	if (tail_heap)
		sodium_free(tail_heap);
	return st;
}

/* ------------------------------------------------------------- read */

/* §4.6.3 KeyUpdate received: the peer's next-generation secret. */
static ss_status rx_key_update(ss_rec *r, uint8_t request)
{
	const ss_suite_info *si = ss_suite_lookup(r->st->suite);
	ss_status st;

	if (!si)
		return SS_INTERNAL_ERROR;
	st = ss_rec_dir_next(si, &r->st->rx);
	if (st != SS_OK)
		return st;
	if (request == KU_REQUESTED)
		r->st->flags |= SS_REC_F_UPDATE_OWED;
	return SS_OK;
}

/* Interpret the handshake messages of one record (§4.6).  Messages must be
 * complete within the record; KeyUpdate must be the record's last message
 * (§5.1: "Handshake messages MUST NOT span key changes"). */
static ss_status read_handshake(ss_rec *r, const uint8_t *p, size_t n)
{
	size_t off = 0;

	/* §5.1: zero-length handshake fragments are forbidden. */
	if (n == 0)
		return SS_DECODE_ERROR;
	while (off < n) {
		uint8_t type;
		size_t len;

		if (n - off < HS_HEADER_LEN)
			return SS_DECODE_ERROR;
		type = p[off];
		len = (size_t)p[off + 1] << 16 | (size_t)p[off + 2] << 8 | p[off + 3];
		off += HS_HEADER_LEN;
		if (len > n - off)
			return SS_DECODE_ERROR;   /* split across records: see ss_rec.h */
		switch (type) {
		case HS_NEW_SESSION_TICKET:
			/* §4.6.1: a standard TLS server may send tickets; secsock never
			 * resumes, so the ticket is dropped unread. */
			break;
		case HS_KEY_UPDATE:
			/* struct { KeyUpdateRequest request_update; } KeyUpdate; */
			if (len != 1)
				return SS_DECODE_ERROR;
			if (p[off] != KU_NOT_REQUESTED && p[off] != KU_REQUESTED)
				return SS_DECODE_ERROR;   /* §4.6.3: illegal_parameter */
			if (off + len != n)
				return SS_UNEXPECTED_MESSAGE;
			return rx_key_update(r, p[off]);
		default:
			/* Anything else after the handshake (a second Finished, a
			 * CertificateRequest we never asked to handle, ...) */
			return SS_UNEXPECTED_MESSAGE;
		}
		off += len;
	}
	return SS_OK;
}

ss_status ss_rec_read(ss_rec *r, const uint8_t *in, size_t in_len, size_t *consumed,
                      ss_rec_event *ev, uint8_t *pt, size_t pt_cap, size_t *pt_len,
                      uint8_t *alert)
{
	uint8_t ct = 0;
	size_t used = 0, n = 0;
	ss_status st;

	if (!ev || !alert || !consumed || !pt_len)
		return SS_INVALID_HANDLE;
	*ev = 0;
	*alert = 0;
	st = ss_rec_open(r, in, in_len, &used, &ct, pt, pt_cap, &n);
	if (st != SS_OK) {
		*consumed = 0;
		*pt_len = 0;
		return st;
	}
	*consumed = used;
	*pt_len = 0;

	switch (ct) {
	case SS_CT_APPLICATION_DATA:
		*pt_len = n;
		*ev = SS_REC_EV_DATA;
		return SS_OK;
	case SS_CT_CHANGE_CIPHER_SPEC:
		*ev = SS_REC_EV_HANDLED;
		return SS_OK;
	case SS_CT_ALERT:
		/* §5.1: exactly one alert per record.  §6: the level is legacy; the
		 * description alone says closure alert or error alert. */
		if (n != 2) {
			st = SS_DECODE_ERROR;
			break;
		}
		if (pt[1] == ALERT_CLOSE_NOTIFY) {
			r->st->flags |= SS_REC_F_CLOSE_RECEIVED;
			*ev = SS_REC_EV_CLOSE;
			st = SS_OK;
		} else if (pt[1] == ALERT_USER_CANCELED) {
			/* §6.1: a close_notify is expected to follow. */
			*ev = SS_REC_EV_HANDLED;
			st = SS_OK;
		} else {
			*alert = pt[1];
			st = SS_PEER_ALERT;
		}
		break;
	case SS_CT_HANDSHAKE:
		st = read_handshake(r, pt, n);
		if (st == SS_OK)
			*ev = SS_REC_EV_HANDLED;
		break;
	default:
		/* §5: an unknown or (inside protection) ChangeCipherSpec inner type */
		st = SS_UNEXPECTED_MESSAGE;
		break;
	}
	/* pt carries application data only; control payloads are wiped. */
	if (n)
		sodium_memzero(pt, n);
	if (st != SS_OK) {
		r->st->flags |= SS_REC_F_FAILED;
		*consumed = 0;
	}
	return st;
}

/* ------------------------------------------------------------- control */

ss_status ss_rec_key_update(ss_rec *r, int request_peer,
                            uint8_t *out, size_t out_cap, size_t *out_len)
{
	/* §4.6.3: KeyUpdate { request_update }, a 4-byte handshake header + 1 */
	uint8_t msg[HS_HEADER_LEN + 1] = { HS_KEY_UPDATE, 0, 0, 1,
	                                   request_peer ? KU_REQUESTED : KU_NOT_REQUESTED };
	const ss_suite_info *si;
	ss_status st = tx_check(r, 0);

	if (st != SS_OK)
		return st;
	if (!out || !out_len)
		return SS_INVALID_HANDLE;
	*out_len = 0;
	si = ss_suite_lookup(r->st->suite);
	if (!si)
		return SS_INVALID_HANDLE;
	if (out_cap < ss_rec_sealed_len(sizeof msg))
		return SS_BUFFER_TOO_SMALL;
	if (r->st->tx.seq > SEQ_LAST_CTRL)
		return SS_SEQUENCE_EXHAUSTED;
	st = seal_one(r, SS_CT_HANDSHAKE, msg, sizeof msg, out);
	if (st != SS_OK)
		return st;
	/* §4.6.3: the sender switches keys right after sending KeyUpdate. */
	st = ss_rec_dir_next(si, &r->st->tx);
	if (st != SS_OK) {
		/* The KeyUpdate is sealed but we could not follow it: the stream
		 * cannot continue consistently. */
		sodium_memzero(out, ss_rec_sealed_len(sizeof msg));
		r->st->flags |= SS_REC_F_FAILED;
		return st;
	}
	r->st->flags &= ~(uint32_t)SS_REC_F_UPDATE_OWED;
	*out_len = ss_rec_sealed_len(sizeof msg);
	return SS_OK;
}

ss_status ss_rec_alert(ss_rec *r, uint8_t level, uint8_t desc,
                       uint8_t *out, size_t out_cap, size_t *out_len)
{
	uint8_t msg[2] = { level, desc };
	ss_status st = tx_check(r, 1);

	if (st != SS_OK)
		return st;
	if (!out || !out_len)
		return SS_INVALID_HANDLE;
	*out_len = 0;
	if (out_cap < ss_rec_sealed_len(sizeof msg))
		return SS_BUFFER_TOO_SMALL;
	if (r->st->tx.seq > SEQ_LAST_CTRL)
		return SS_SEQUENCE_EXHAUSTED;
	st = seal_one(r, SS_CT_ALERT, msg, sizeof msg, out);
	if (st != SS_OK)
		return st;
	if (desc == ALERT_CLOSE_NOTIFY)
		r->st->flags |= SS_REC_F_CLOSE_SENT;
	if (level == ALERT_LEVEL_FATAL)
		r->st->flags |= SS_REC_F_FAILED;
	*out_len = ss_rec_sealed_len(sizeof msg);
	return SS_OK;
}
