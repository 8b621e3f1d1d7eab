/* pre_state.h — the states of a governed connection and the transitions
 * between them, as data (the way core/'s context keeps its state: one
 * table, one function that checks from → to).
 *
 * The table is pure (no locks, no logging, no libc beyond what a lookup
 * needs) so that tests/preload/test_state.c links it alone.  The one place
 * that stores a connection's state, pre_conn_set_state in pre_sock.c, asks
 * it before every change.
 */
#ifndef PRE_STATE_H
#define PRE_STATE_H

#include <stdbool.h>

enum pre_state {
	PRE_NEW = 0,      /* socket() seen, not connected: we record options and bind */
	PRE_CONNECTING,   /* inside our connect(), or a background handshake after it */
	PRE_UNDECIDED,    /* accepted; waiting for the client's first bytes */
	PRE_HANDSHAKE,    /* server handshake in progress, driven by reads */
	PRE_SECURED,      /* records both ways */
	PRE_CLEAR,        /* decided clear (transient: the slot is dropped) */
	PRE_FAILED,       /* torn down: reads ECONNRESET, writes EPIPE/ECONNRESET */
	PRE_STATE_COUNT
};

/* "new", "connecting", ... for log lines; "?" for a value out of range. */
const char *pre_state_name(int st);

/* May a connection in state `from` move to `to`?  Self-transitions are not
 * changes and are refused, except FAILED → FAILED: teardown may be asked
 * for twice (a reset seen by both directions) and must stay harmless. */
bool pre_state_allowed(int from, int to);

#endif
