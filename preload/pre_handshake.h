/* pre_handshake.h — the one handshake driver, for all three paths: a
 * blocking connect, a background connect and an accepted connection.
 *
 * pre_hs_drive() takes the handshake as far as the bytes queued on the
 * socket allow: peeks what is queued, feeds it to ss_ctx_initialize or
 * ss_ctx_accept, sends the output token, and discards from the kernel
 * exactly the bytes the context consumed (they end on a record boundary,
 * ss_ctx.h), so whatever follows the handshake stays queued for the record
 * layer.  It owns the rule for a FIN that arrives with a flight and the
 * "established" step; each path keeps only its own waiting (a blocking
 * poll, the engine, the program's reads) and its own fallback.
 */
#ifndef PRE_HANDSHAKE_H
#define PRE_HANDSHAKE_H

#include "pre_sock.h"

enum pre_hs_result {
	PRE_HS_DONE = 1,   /* secured: record protection set up, the log line written */
	PRE_HS_MORE = 0,   /* wait for input (SO_RCVLOWAT set for the next record) */
	PRE_HS_FAIL = -1   /* not secured: the pre_hs_end says why; nothing torn down */
};

/* Why a handshake ended without a secured connection. */
struct pre_hs_end {
	ss_status st;    /* the context's status; SS_IO_ERROR when the socket
	                    failed (err, eof); SS_LOGON_DENIED when the peer's
	                    identity was refused after the handshake */
	int err;         /* errno of an SS_IO_ERROR */
	int eof;         /* the peer closed or reset before the handshake ended */
	char why[200];   /* for the log line */
};

/* Requirement flags secsock asks for on every context (seed 001). */
#define PRE_HS_REQ (SS_REQ_CONFIDENTIALITY | SS_REQ_INTEGRITY | SS_REQ_REPLAY_DETECT | \
                    SS_REQ_SEQUENCE_DETECT | SS_REQ_STREAM | SS_REQ_EXTENDED_ERROR | \
                    SS_REQ_NAME_BY_PIN)   /* pre_creds_check_conn proves host-key names */

/* c->ctx / c->cred hold the context across calls; c->dir says which side.
 * Sends go out under deadline_ms.  Call with rx_lock and tx_lock held on
 * the outbound paths, rx_lock on the inbound one. */
enum pre_hs_result pre_hs_drive(struct pre_conn *c, int fd, int64_t deadline_ms,
                                struct pre_hs_end *end);

/* A handshake that will not finish: context and credential freed, writes
 * held for it dropped, the socket reset (fd >= 0), SO_ERROR err (0 keeps
 * what the kernel says), state FAILED.  The caller writes the log line. */
void pre_hs_abandon(struct pre_conn *c, int fd, int err);


#endif
