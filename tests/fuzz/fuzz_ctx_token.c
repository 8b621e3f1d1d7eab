/* fuzz_ctx_token.c — arbitrary bytes as handshake input tokens.
 *
 * Byte 0 picks the victim: even → the first input token of a fresh server
 * context (what a client sends first); odd → the client's second input,
 * after it produced a real ClientHello (what a server answers).  Byte 1
 * picks the delivery: whole, or split in two at byte 2.  Whatever the bytes,
 * the contract must hold: in_used within the input, no output with
 * INCOMPLETE_MESSAGE, a failed context refuses further calls, and no leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ss_ctx.h"

static ss_cred *server_cred, *client_cred;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const uint8_t psk[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	ss_cred_params s = { .use = SS_CRED_INBOUND, .mode = SS_MODE_SECSOCK,
	                     .methods = { SS_AUTH_PSK, SS_AUTH_ANONYMOUS },
	                     .psk_identity = "fuzz", .psk = psk, .psk_len = sizeof psk };
	ss_cred_params c = s;

	(void)argc;
	(void)argv;
	c.use = SS_CRED_OUTBOUND;
	if (ss_cred_acquire(&s, &server_cred) != SS_OK || ss_cred_acquire(&c, &client_cred) != SS_OK)
		abort();
	return 0;
}

static ss_status call(int server, ss_ctx **ctx, const uint8_t *in, size_t n, size_t *used, ss_buf *out)
{
	unsigned req = SS_REQ_EXTENDED_ERROR;
	ss_status st = server ? ss_ctx_accept(server_cred, ctx, req, in, n, used, out, NULL, NULL)
	                      : ss_ctx_initialize(client_cred, ctx, NULL, req, in, n, used, out, NULL, NULL);
	if (*used > n)
		abort();
	if (st == SS_INCOMPLETE_MESSAGE && out->len != 0)
		abort();
	return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ss_ctx *ctx = NULL;
	ss_buf out = { 0 };
	size_t used = 0, split;
	int server;
	ss_status st;

	if (size < 2)
		return 0;
	server = (data[0] & 1) == 0;
	split = (data[1] & 1) && size > 3 ? data[2] % (size - 2) : size - 2;
	data += 2;
	size -= 2;

	if (!server && call(0, &ctx, NULL, 0, &used, &out) != SS_CONTINUE_NEEDED)
		abort();
	st = call(server, &ctx, data, split, &used, &out);
	if ((st == SS_CONTINUE_NEEDED || st == SS_INCOMPLETE_MESSAGE) && split < size) {
		/* the caller keeps what was not used and adds the rest */
		size_t rest = size - used;
		st = call(server, &ctx, data + used, rest, &used, &out);
	}
	if (st != SS_OK && st != SS_CONTINUE_NEEDED && st != SS_INCOMPLETE_MESSAGE &&
	    call(server, &ctx, data, size, &used, &out) != SS_INVALID_HANDLE)
		abort();   /* a failed context must refuse further calls */
	ss_ctx_free(ctx);
	ss_buf_free(&out);
	return 0;
}
