/* pre_handshake.h — one step of the token loop against the socket.
 *
 * Peeks what is queued, feeds it to ss_ctx_initialize/ss_ctx_accept, sends
 * the output token, and discards from the kernel exactly the bytes the
 * context consumed: those end on a record boundary (ss_ctx.h), so whatever
 * follows the handshake stays queued for the record layer.
 */
#ifndef PRE_HANDSHAKE_H
#define PRE_HANDSHAKE_H

#include "pre_sock.h"

enum pre_hs_result {
	PRE_HS_DONE = 1,   /* established: pre_conn_secure() next */
	PRE_HS_MORE = 0,   /* wait for more bytes (SO_RCVLOWAT set for the next record) */
	PRE_HS_FAIL = -1   /* *st says why (SS_OK with errno for I/O errors) */
};

/* Requirement flags secsock asks for on every context (seed 001). */
#define PRE_HS_REQ (SS_REQ_CONFIDENTIALITY | SS_REQ_INTEGRITY | SS_REQ_REPLAY_DETECT | \
                    SS_REQ_SEQUENCE_DETECT | SS_REQ_STREAM | SS_REQ_EXTENDED_ERROR)

/* c->ctx / c->cred hold the context across calls.  eof is set when the peer
 * closed (or reset) before the handshake completed. */
int pre_hs_step(struct pre_conn *c, int fd, int server, const char *target,
                int64_t deadline_ms, ss_status *st, int *eof);

/* Why a step failed (PRE_HS_FAIL), for the log line: "handshake: <status>",
 * or for an I/O failure (*st == SS_OK) io_prefix followed by gone when the
 * peer closed or reset (eof), errno's text otherwise.  Reads errno: call it
 * right after pre_hs_step. */
void pre_hs_why(char *why, size_t len, ss_status st, int eof, const char *io_prefix,
                const char *gone);

/* Put the program's Nagle setting back after the first data write (see
 * hs_done_nagle in pre_handshake.c).  Call under tx_lock. */
void pre_hs_nagle_restore(struct pre_conn *c, int fd);

#endif
