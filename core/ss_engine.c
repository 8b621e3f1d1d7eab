/* ss_engine.c — the one export of libsecsock-engine.so (see ss_engine.h).
 *
 * Built only into the engine object, not into libsecsock-core.a: the CLI,
 * the key service and the unit tests link core/ statically and call it
 * directly.
 */
#include "ss_engine.h"
#include "ss_mem.h"

/* Runs inside dlopen, after libcrypto's own initialisers and before any of
 * the engine's code has touched OpenSSL: the only moment at which OpenSSL
 * still accepts memory functions (CRYPTO_set_mem_functions(3)), unless the
 * program used it first.  See ss_mem.h. */
__attribute__((constructor)) static void engine_init(void)
{
	(void)ss_mem_init();
}

static const ss_engine table = {
	.abi = SS_ENGINE_ABI,
	.size = sizeof(ss_engine),
	.version = SECSOCK_VERSION,

	.cred_acquire = ss_cred_acquire,
	.cred_ref = ss_cred_ref,
	.cred_free = ss_cred_free,

	.ctx_initialize = ss_ctx_initialize,
	.ctx_accept = ss_ctx_accept,
	.ctx_query = ss_ctx_query,
	.ctx_export = ss_ctx_export,
	.ctx_free = ss_ctx_free,
	.buf_free = ss_buf_free,
	.hs_frame_len = ss_hs_frame_len,

	.rec_state_wipe = ss_rec_state_wipe,
	.rec_new = ss_rec_new,
	.rec_free = ss_rec_free,
	.rec_frame_len = ss_rec_frame_len,
	.rec_seal_stream = ss_rec_seal_stream,
	.rec_read = ss_rec_read,
	.rec_key_update = ss_rec_key_update,
	.rec_alert = ss_rec_alert,
	.rec_trim = ss_rec_trim,
	.rec_ctx_count = ss_rec_ctx_count,
	.rec_set_ctx_hook = ss_rec_set_ctx_hook,
	.ctx_client_new = ss_ctx_client_new,
	.ctx_set_resume = ss_ctx_set_resume,
	.ctx_resume_secret = ss_ctx_resume_secret,
	.ctx_ticket = ss_ctx_ticket,
	.resume_entry_make = ss_resume_entry_make,
	.rec_seal = ss_rec_seal,
	.rec_keep_tickets = ss_rec_keep_tickets,
	.rec_take_ticket = ss_rec_take_ticket,
	.resume_fresh = ss_resume_fresh,
};

const ss_engine *secsock_engine_v1(void)
{
	return &table;
}
