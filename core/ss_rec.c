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
 *   more reason for ss_rec_cache_sync_ to key, like an epoch change.  The AEAD's
 *   functions are found once in ss_rec_new, not in ss_rec_cache_sync_: the two
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
	free(r->ticket);
	free(r);
}

void ss_rec_keep_tickets(ss_rec *r, int on)
{
	if (r)
		r->keep_tickets = on != 0;
}

size_t ss_rec_take_ticket(ss_rec *r, uint8_t *out, size_t cap)
{
	size_t n = r && r->ticket ? r->ticket_len : 0;
	if (n == 0 || n > cap)
		return 0;
	memcpy(out, r->ticket, n);
	sodium_memzero(r->ticket, n);
	free(r->ticket);
	r->ticket = NULL;
	r->ticket_len = 0;
	return n;
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
ss_status ss_rec_cache_sync_(ss_rec *r, ss_rec_cache *c, const ss_rec_dir *dir, int enc)
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
		 * one record only (ss_rec_transient_drop_) is nothing to trim. */
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
void ss_rec_transient_drop_(ss_rec *r, ss_rec_cache *c)
{
	if (ss_mem_mode_get() == SS_MEM_SHARED && c->hidden == 0)
		cache_drop(r->ops, c);
}

/* §5.3: the 64-bit record sequence number in network byte order, left-padded
 * with zeros to iv_length, XORed with the static IV. */
void ss_rec_make_nonce_(const ss_rec_dir *dir, uint8_t nonce[SS_REC_IV_LEN])
{
	uint64_t low;

	memcpy(nonce, dir->iv, SS_REC_IV_LEN);
	memcpy(&low, nonce + SS_REC_IV_LEN - 8, 8);
	low ^= htobe64(dir->seq);
	memcpy(nonce + SS_REC_IV_LEN - 8, &low, 8);
}

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

	st = ss_rec_cache_sync_(r, &r->tx, dir, 1);
	if (st != SS_OK)
		return st;
	ctx = r->tx.ctx;

	/* opaque_type = application_data, legacy_record_version = 0x0303 */
	out[0] = SS_CT_APPLICATION_DATA;
	out[1] = LEGACY_VERSION >> 8;
	out[2] = LEGACY_VERSION & 0xff;
	out[3] = (uint8_t)(body >> 8);
	out[4] = (uint8_t)body;

	ss_rec_make_nonce_(dir, nonce);
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
	ss_rec_transient_drop_(r, &r->tx);
	if (r->cipher_suite == SS_SUITE_CHACHA20_POLY1305_SHA256)
		ss_mem_burn_stack();   /* the cipher's own copies of the key (ss_mem.h) */
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
