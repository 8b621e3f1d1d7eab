/* pre_state.c — the transition table of a governed connection.
 *
 * Why each edge exists (the callers in brackets):
 *   new → connecting       the program calls connect()              [pre_connect]
 *   new → undecided        a connection accepted, or inherited across exec
 *                          before its first bytes                   [pre_accept, pre_exec]
 *   new → secured          a secured connection inherited across exec [pre_exec]
 *   connecting → new       no TCP connection at all: the program gets the
 *                          kernel's answer and may connect again    [pre_connect]
 *   connecting → secured   the client handshake finished             [pre_sock]
 *   connecting → clear     request's fallback (peer not secsock, or a quiet
 *                          first contact closed)                    [pre_connect, pre_life]
 *   undecided → handshake  the client's first bytes are a ClientHello [pre_accept]
 *   undecided → clear      request, and the client is not secsock; or it
 *                          closed before saying anything (the kernel
 *                          reports that to the program as it is)    [pre_accept]
 *   handshake → secured    the server handshake finished             [pre_sock]
 *   * → failed             teardown is always allowed: it is the one way
 *                          out of every error (promise 1: fail closed)
 * Nothing leaves clear or failed: a clear connection's slot is dropped, and
 * a failed one stays failed until the program closes it.
 */
#include "pre_state.h"

static const char *const state_names[PRE_STATE_COUNT] = {
	[PRE_NEW] = "new",           [PRE_CONNECTING] = "connecting",
	[PRE_UNDECIDED] = "undecided", [PRE_HANDSHAKE] = "handshake",
	[PRE_SECURED] = "secured",   [PRE_CLEAR] = "clear",
	[PRE_FAILED] = "failed",
};

#define BIT(s) (1u << (s))

/* allowed[from] = set of states `from` may move to */
static const unsigned allowed[PRE_STATE_COUNT] = {
	[PRE_NEW] = BIT(PRE_CONNECTING) | BIT(PRE_UNDECIDED) | BIT(PRE_SECURED) | BIT(PRE_FAILED),
	[PRE_CONNECTING] = BIT(PRE_NEW) | BIT(PRE_SECURED) | BIT(PRE_CLEAR) | BIT(PRE_FAILED),
	[PRE_UNDECIDED] = BIT(PRE_HANDSHAKE) | BIT(PRE_CLEAR) | BIT(PRE_FAILED),
	[PRE_HANDSHAKE] = BIT(PRE_SECURED) | BIT(PRE_FAILED),
	[PRE_SECURED] = BIT(PRE_FAILED),
	[PRE_CLEAR] = BIT(PRE_FAILED),
	[PRE_FAILED] = BIT(PRE_FAILED),
};

const char *pre_state_name(int st)
{
	return st >= 0 && st < PRE_STATE_COUNT ? state_names[st] : "?";
}

bool pre_state_allowed(int from, int to)
{
	if (from < 0 || from >= PRE_STATE_COUNT || to < 0 || to >= PRE_STATE_COUNT)
		return false;
	return (allowed[from] & BIT(to)) != 0;
}
