/* pre_core.c — trampolines into libsecsock-engine.so (see pre_core.h).
 *
 * Loading: the first trampoline that needs the engine dlopens
 * "libsecsock-engine.so" from the directory libsecsock.so itself was
 * loaded from (dladdr on a local symbol), once, under engine_lock, with
 * RTLD_NOW | RTLD_LOCAL: its OpenSSL stays out of the program's global
 * symbol scope (a program with its own OpenSSL keeps binding to the copy it
 * linked), and every relocation is resolved before a connection depends on
 * it.  Never a search path or an environment variable: a preloaded library
 * must not let the environment choose which code gets the keys.
 *
 * Failure (missing file, dlopen error, no secsock_engine_v1, or a table of
 * another abi/size/version) is logged once and is permanent for the
 * process; every trampoline that needs the engine then returns
 * SS_INTERNAL_ERROR, so credentials cannot be acquired and every governed
 * connection is refused (request and require alike: a broken installation
 * must not silently turn 'request' into plaintext), and an inherited
 * secured socket cannot be imported and is shut down (pre_exec.c).
 *
 * Freeing and wiping never force a load: an object to free can only exist
 * if the engine was loaded, and a record state imported from exec (which
 * may never have reached the engine) is wiped here with sodium_memzero.
 *
 * The table pointer is published with release/acquire so a thread that
 * sees it also sees the table; after the first load the cost per call is
 * one load and an indirect call.
 *
 * fork: a mutex, not pthread_once, because a fork while another thread is
 * inside dlopen would leave the child's once-control "in progress" forever.
 * Atfork handlers, registered by a constructor, hold engine_lock across
 * fork, so a child never starts in the middle of a load.  A child that inherited a loaded
 * engine keeps it (same mappings); one that did not loads it itself, which
 * is safe after fork since no lock of ours is held then.  OpenSSL's
 * initialisers run inside dlopen under the loader's lock, so the first call
 * should not come with a lock held that they could need: connect loads
 * (pre_creds_get) before it takes the connection's locks and the creds
 * cache lock, accept loads as soon as the policy lets the connection be
 * secured, before the first read takes rx_lock.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "ss_engine.h"
#include "pre_core.h"
#include "pre_log.h"

static _Atomic(const ss_engine *) engine;
/* ss_rec_set_ctx_hook before the engine is loaded: handed over by engine_load. */
static void (*_Atomic rec_ctx_hook)(void);
static pthread_mutex_t engine_lock = PTHREAD_MUTEX_INITIALIZER;
static int engine_tried;   /* under engine_lock: loaded, or failed for good */
static char engine_error[PATH_MAX + 160];

/* libsecsock.so's path when the loader knows it only relative to the
 * start-up directory (LD_PRELOAD=./libsecsock.so): made absolute before
 * main, because programs chdir (daemons to /) before their first
 * connection.  Absolute paths, the usual case, cost nothing here. */
static char self_abs[PATH_MAX];

__attribute__((constructor)) static void pre_core_self_path(void)
{
	Dl_info di;

	if (dladdr((const void *)&pre_core_self_path, &di) && di.dli_fname &&
	    di.dli_fname[0] != '/' && !realpath(di.dli_fname, self_abs))
		self_abs[0] = '\0';
}

/* "<dir of libsecsock.so>/libsecsock-engine.so" into buf; -1 if unknown. */
static int engine_path(char *buf, size_t len)
{
	Dl_info di;
	const char *self = self_abs, *slash;
	size_t dir;

	if (!self[0]) {
		if (!dladdr((const void *)&engine_path, &di) || !di.dli_fname)
			return -1;
		self = di.dli_fname;
	}
	slash = strrchr(self, '/');
	dir = slash ? (size_t)(slash - self) + 1 : 0;
	if (dir + sizeof SS_ENGINE_FILE > len)
		return -1;
	memcpy(buf, self, dir);
	memcpy(buf + dir, SS_ENGINE_FILE, sizeof SS_ENGINE_FILE);
	return 0;
}

static void engine_fail(const char *path, const char *why)
{
	snprintf(engine_error, sizeof engine_error, "engine %s: %s", path, why);
	pre_log(PRE_LOG_ERROR, "%s; governed connections are refused", engine_error);
}

static void engine_load(void)
{
	char path[PATH_MAX], why[128];
	const ss_engine *t;
	ss_engine_fn fn;
	void *h;

	if (engine_path(path, sizeof path) < 0) {
		engine_fail(SS_ENGINE_FILE, "cannot locate libsecsock.so (dladdr)");
		return;
	}
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		engine_fail(path, e ? e : "dlopen failed");
		return;
	}
	*(void **)&fn = dlsym(h, SS_ENGINE_SYMBOL);
	t = fn ? fn() : NULL;
	if (!t) {
		engine_fail(path, "no " SS_ENGINE_SYMBOL " table");
		dlclose(h);
		return;
	}
	if (t->abi != SS_ENGINE_ABI || t->size != sizeof(ss_engine) || !t->version ||
	    strcmp(t->version, SECSOCK_VERSION) != 0) {
		snprintf(why, sizeof why, "mismatched build (engine abi %u size %u version %.20s, "
		         "preload abi %u size %zu version %s)", t->abi, t->size,
		         t->version ? t->version : "?", (unsigned)SS_ENGINE_ABI, sizeof(ss_engine),
		         SECSOCK_VERSION);
		engine_fail(path, why);
		dlclose(h);
		return;
	}
	pre_log(PRE_LOG_DEBUG, "engine %s loaded", path);
	/* before publishing: no ss_rec exists until a caller sees the table */
	t->rec_set_ctx_hook(atomic_load(&rec_ctx_hook));
	atomic_store_explicit(&engine, t, memory_order_release);
}

/* The table if loaded, without loading. */
static const ss_engine *loaded(void)
{
	return atomic_load_explicit(&engine, memory_order_acquire);
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&engine_lock);
}

static void fork_release(void)
{
	pthread_mutex_unlock(&engine_lock);
}

/* Registered before main, before any thread can take engine_lock: handlers
 * registered by the first loader instead left a window in which another
 * thread was already inside dlopen without them, and a fork then gave the
 * child a held engine_lock forever.  The cost to a process that never loads
 * the engine is an uncontended lock and unlock per fork. */
__attribute__((constructor)) static void pre_core_atfork(void)
{
	(void)pthread_atfork(fork_prepare, fork_release, fork_release);
}

/* The table, loading it on first need; NULL when it cannot be used. */
static const ss_engine *need(void)
{
	const ss_engine *t = loaded();
	int saved;

	if (t)
		return t;
	saved = errno;
	pthread_mutex_lock(&engine_lock);
	if (!engine_tried) {
		engine_tried = 1;
		engine_load();
	}
	pthread_mutex_unlock(&engine_lock);
	errno = saved;
	return loaded();
}

int pre_core_load(void)
{
	return need() ? 0 : -1;
}

const char *pre_core_error(void)
{
	return engine_error;
}

/* ---------------------------------------------------------------- trampolines */

ss_status ss_cred_acquire(const ss_cred_params *p, ss_cred **out)
{
	const ss_engine *t = need();

	if (!t) {
		if (out)
			*out = NULL;
		return SS_INTERNAL_ERROR;
	}
	return t->cred_acquire(p, out);
}

ss_cred *ss_cred_ref(ss_cred *c)
{
	const ss_engine *t = loaded();

	return c && t ? t->cred_ref(c) : c;
}

void ss_cred_free(ss_cred *c)
{
	const ss_engine *t = loaded();

	if (c && t)
		t->cred_free(c);
}

ss_status ss_ctx_initialize(ss_cred *cred, ss_ctx **ctx, const char *target,
                            unsigned req, const uint8_t *in, size_t in_len,
                            size_t *in_used, ss_buf *out, unsigned *attrs,
                            int64_t *expiry)
{
	const ss_engine *t = need();

	if (!t)
		return SS_INTERNAL_ERROR;
	return t->ctx_initialize(cred, ctx, target, req, in, in_len, in_used, out, attrs, expiry);
}

ss_status ss_ctx_accept(ss_cred *cred, ss_ctx **ctx, unsigned req,
                        const uint8_t *in, size_t in_len, size_t *in_used,
                        ss_buf *out, unsigned *attrs, int64_t *expiry)
{
	const ss_engine *t = need();

	if (!t)
		return SS_INTERNAL_ERROR;
	return t->ctx_accept(cred, ctx, req, in, in_len, in_used, out, attrs, expiry);
}

ss_status ss_ctx_query(const ss_ctx *ctx, ss_ctx_info *info)
{
	const ss_engine *t = loaded();

	return ctx && t ? t->ctx_query(ctx, info) : SS_INVALID_HANDLE;
}

ss_status ss_ctx_export(ss_ctx *ctx, ss_rec_state *st)
{
	const ss_engine *t = loaded();

	return ctx && t ? t->ctx_export(ctx, st) : SS_INVALID_HANDLE;
}

void ss_ctx_free(ss_ctx *ctx)
{
	const ss_engine *t = loaded();

	if (ctx && t)
		t->ctx_free(ctx);
}

/* Output tokens are only ever filled by the engine's context calls. */
void ss_buf_free(ss_buf *b)
{
	const ss_engine *t = loaded();

	if (b && t)
		t->buf_free(b);
}

ss_status ss_hs_frame_len(const uint8_t *in, size_t n, size_t *rec_len)
{
	const ss_engine *t = need();

	if (!t) {
		if (rec_len)
			*rec_len = 0;
		return SS_INTERNAL_ERROR;
	}
	return t->hs_frame_len(in, n, rec_len);
}

void ss_rec_state_wipe(ss_rec_state *st)
{
	const ss_engine *t = loaded();

	if (!st)
		return;
	if (t)
		t->rec_state_wipe(st);
	else
		sodium_memzero(st, sizeof *st);
}

ss_status ss_rec_new(ss_rec_state *st, ss_rec **out)
{
	const ss_engine *t = need();

	if (!t) {
		if (out)
			*out = NULL;
		return SS_INTERNAL_ERROR;
	}
	return t->rec_new(st, out);
}

void ss_rec_free(ss_rec *r)
{
	const ss_engine *t = loaded();

	if (r && t)
		t->rec_free(r);
}

ss_status ss_rec_frame_len(const uint8_t *in, size_t n, size_t *rec_len)
{
	const ss_engine *t = need();

	if (!t) {
		if (rec_len)
			*rec_len = 0;
		return SS_INTERNAL_ERROR;
	}
	return t->rec_frame_len(in, n, rec_len);
}

/* The data-path calls below take an ss_rec, which only the engine makes. */
ss_status ss_rec_seal_stream(ss_rec *r, const uint8_t *pt, size_t pt_len, size_t max_frag,
                             uint8_t *out, size_t out_cap, size_t *out_len)
{
	const ss_engine *t = loaded();

	if (!t)
		return SS_INVALID_HANDLE;
	return t->rec_seal_stream(r, pt, pt_len, max_frag, out, out_cap, out_len);
}

ss_status ss_rec_read(ss_rec *r, const uint8_t *in, size_t in_len, size_t *consumed,
                      ss_rec_event *ev, uint8_t *pt, size_t pt_cap, size_t *pt_len,
                      uint8_t *alert)
{
	const ss_engine *t = loaded();

	if (!t)
		return SS_INVALID_HANDLE;
	return t->rec_read(r, in, in_len, consumed, ev, pt, pt_cap, pt_len, alert);
}

ss_status ss_rec_key_update(ss_rec *r, int request_peer,
                            uint8_t *out, size_t out_cap, size_t *out_len)
{
	const ss_engine *t = loaded();

	if (!t)
		return SS_INVALID_HANDLE;
	return t->rec_key_update(r, request_peer, out, out_cap, out_len);
}

ss_status ss_rec_alert(ss_rec *r, uint8_t level, uint8_t desc,
                       uint8_t *out, size_t out_cap, size_t *out_len)
{
	const ss_engine *t = loaded();

	if (!t)
		return SS_INVALID_HANDLE;
	return t->rec_alert(r, level, desc, out, out_cap, out_len);
}

void ss_rec_trim(ss_rec *r)
{
	const ss_engine *t = loaded();

	if (r && t)
		t->rec_trim(r);
}

unsigned ss_rec_ctx_count(const ss_rec *r)
{
	const ss_engine *t = loaded();

	return r && t ? t->rec_ctx_count(r) : 0;
}

/* Never loads the engine (pre_engine.c sets it from a constructor): kept
 * here and handed over when the engine loads. */
void ss_rec_set_ctx_hook(void (*fn)(void))
{
	const ss_engine *t = loaded();

	atomic_store(&rec_ctx_hook, fn);
	if (t)
		t->rec_set_ctx_hook(fn);
}

/* ------------------------------------------------------------ resumption */

ss_status ss_ctx_client_new(ss_cred *cred, const char *target, ss_ctx **ctx)
{
	const ss_engine *t = loaded();
	return t ? t->ctx_client_new(cred, target, ctx) : SS_INVALID_HANDLE;
}

ss_status ss_ctx_set_resume(ss_ctx *ctx, const ss_resume_entry *e)
{
	const ss_engine *t = loaded();
	return t ? t->ctx_set_resume(ctx, e) : SS_INVALID_HANDLE;
}

ss_status ss_ctx_resume_secret(ss_ctx *ctx, uint8_t *out, size_t cap, size_t *len, ss_resume_id *id)
{
	const ss_engine *t = loaded();
	return t ? t->ctx_resume_secret(ctx, out, cap, len, id) : SS_INVALID_HANDLE;
}

ss_status ss_ctx_ticket(ss_ctx *ctx, uint8_t *msg, size_t cap, size_t *len)
{
	const ss_engine *t = loaded();
	return t ? t->ctx_ticket(ctx, msg, cap, len) : SS_INVALID_HANDLE;
}

ss_status ss_resume_entry_make(const uint8_t *secret, size_t secret_len, const uint8_t *msg,
                               size_t msg_len, const ss_resume_id *id, ss_resume_entry *e)
{
	const ss_engine *t = loaded();
	return t ? t->resume_entry_make(secret, secret_len, msg, msg_len, id, e) : SS_INVALID_HANDLE;
}

ss_status ss_rec_seal(ss_rec *r, uint8_t ct, const uint8_t *pt, size_t pt_len,
                      uint8_t *out, size_t out_cap, size_t *out_len)
{
	const ss_engine *t = loaded();
	return t ? t->rec_seal(r, ct, pt, pt_len, out, out_cap, out_len) : SS_INVALID_HANDLE;
}

void ss_rec_keep_tickets(ss_rec *r, int on)
{
	const ss_engine *t = loaded();
	if (t)
		t->rec_keep_tickets(r, on);
}

size_t ss_rec_take_ticket(ss_rec *r, uint8_t *out, size_t cap)
{
	const ss_engine *t = loaded();
	return t ? t->rec_take_ticket(r, out, cap) : 0;
}

int ss_resume_fresh(const ss_resume_id *id, int64_t now, uint32_t lifetime_s, uint32_t idle_s)
{
	const ss_engine *t = loaded();
	return t ? t->resume_fresh(id, now, lifetime_s, idle_s) : 0;
}
