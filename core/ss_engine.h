/* ss_engine.h — the table libsecsock-engine.so hands to the preload.
 *
 * Why a separate object at all: linking libssl/libcrypto into
 * libsecsock.so made every preloaded program pay for mapping and
 * relocating them (~0.8 ms of a 1.3 ms start-up, issue 6), even /bin/true
 * and programs whose sockets are all bypassed.  ARCHITECTURE.md ("Lazy:
 * OpenSSL ... loaded on first use") asks for that cost only when a
 * connection is governed.  So core/ is also built as libsecsock-engine.so,
 * which exports exactly one symbol, secsock_engine_v1(), returning this
 * table; preload/pre_core.c dlopens it on first need and forwards calls
 * through it (docs/design.md, "Two libraries").
 *
 * Only the functions that need OpenSSL are here.  The pure ones
 * (ss_status.c, ss_names.c, ss_hello.c) are linked into libsecsock.so
 * directly: log lines, policy parsing and the server's first look at a
 * client's bytes must never pull the engine in.
 *
 * Compatibility: the preload accepts a table only if abi, size and version
 * all match what it was built with; a mismatched pair (an old engine next
 * to a new preload) fails closed with one log line instead of calling
 * through a table of another shape.  Bump SS_ENGINE_ABI when the meaning
 * of an entry changes without its size changing.
 */
#ifndef SS_ENGINE_H
#define SS_ENGINE_H

#include <stdint.h>
#include "ss_cred.h"
#include "ss_ctx.h"
#include "ss_rec.h"
#include "ss_resume.h"

enum { SS_ENGINE_ABI = 1 };

#define SS_ENGINE_FILE "libsecsock-engine.so"
#define SS_ENGINE_SYMBOL "secsock_engine_v1"

typedef struct ss_engine {
	uint32_t abi;            /* SS_ENGINE_ABI */
	uint32_t size;           /* sizeof(ss_engine) of the engine's build */
	const char *version;     /* SECSOCK_VERSION of the engine's build */

	ss_status (*cred_acquire)(const ss_cred_params *p, ss_cred **out);
	ss_cred *(*cred_ref)(ss_cred *c);
	void (*cred_free)(ss_cred *c);

	ss_status (*ctx_initialize)(ss_cred *cred, ss_ctx **ctx, const char *target,
	                            unsigned req, const uint8_t *in, size_t in_len,
	                            size_t *in_used, ss_buf *out, unsigned *attrs,
	                            int64_t *expiry);
	ss_status (*ctx_accept)(ss_cred *cred, ss_ctx **ctx, unsigned req,
	                        const uint8_t *in, size_t in_len, size_t *in_used,
	                        ss_buf *out, unsigned *attrs, int64_t *expiry);
	ss_status (*ctx_query)(const ss_ctx *ctx, ss_ctx_info *info);
	ss_status (*ctx_export)(ss_ctx *ctx, ss_rec_state *st);
	void (*ctx_free)(ss_ctx *ctx);
	void (*buf_free)(ss_buf *b);
	ss_status (*hs_frame_len)(const uint8_t *in, size_t n, size_t *rec_len);

	void (*rec_state_wipe)(ss_rec_state *st);
	ss_status (*rec_new)(ss_rec_state *st, ss_rec **out);
	void (*rec_free)(ss_rec *r);
	ss_status (*rec_frame_len)(const uint8_t *in, size_t n, size_t *rec_len);
	ss_status (*rec_seal_stream)(ss_rec *r, const uint8_t *pt, size_t pt_len, size_t max_frag,
	                             uint8_t *out, size_t out_cap, size_t *out_len);
	ss_status (*rec_read)(ss_rec *r, const uint8_t *in, size_t in_len, size_t *consumed,
	                      ss_rec_event *ev, uint8_t *pt, size_t pt_cap, size_t *pt_len,
	                      uint8_t *alert);
	ss_status (*rec_key_update)(ss_rec *r, int request_peer,
	                            uint8_t *out, size_t out_cap, size_t *out_len);
	ss_status (*rec_alert)(ss_rec *r, uint8_t level, uint8_t desc,
	                       uint8_t *out, size_t out_cap, size_t *out_len);
	/* idle connections (ss_rec.h, pre_engine.c) */
	void (*rec_trim)(ss_rec *r);
	unsigned (*rec_ctx_count)(const ss_rec *r);
	void (*rec_set_ctx_hook)(void (*fn)(void));
	/* resumption (ss_resume.h) */
	ss_status (*ctx_client_new)(ss_cred *cred, const char *target, ss_ctx **ctx);
	ss_status (*ctx_set_resume)(ss_ctx *ctx, const struct ss_resume_entry *e);
	ss_status (*ctx_resume_secret)(ss_ctx *ctx, uint8_t *out, size_t cap, size_t *len,
	                               struct ss_resume_id *id);
	ss_status (*ctx_ticket)(ss_ctx *ctx, uint8_t *msg, size_t cap, size_t *len);
	ss_status (*resume_entry_make)(const uint8_t *secret, size_t secret_len, const uint8_t *msg,
	                               size_t msg_len, const struct ss_resume_id *id,
	                               struct ss_resume_entry *e);
	ss_status (*rec_seal)(ss_rec *r, uint8_t ct, const uint8_t *pt, size_t pt_len,
	                      uint8_t *out, size_t out_cap, size_t *out_len);
	void (*rec_keep_tickets)(ss_rec *r, int on);
	size_t (*rec_take_ticket)(ss_rec *r, uint8_t *out, size_t cap);
	int (*resume_fresh)(const struct ss_resume_id *id, int64_t now, uint32_t lifetime_s, uint32_t idle_s);
} ss_engine;

/* The engine's one export (default visibility; everything else is hidden). */
typedef const ss_engine *(*ss_engine_fn)(void);
__attribute__((visibility("default"))) const ss_engine *secsock_engine_v1(void);

#endif
