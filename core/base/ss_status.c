/* ss_status.c — names and categories for ss_status (see ss_status.h).
 *
 * Both tables are indexed by the enum value and sized by SS_STATUS_COUNT_, so
 * adding a status without naming it fails the static assertion below instead
 * of silently printing "(null)" in a log line.
 */
#include "ss_status.h"

#include <stddef.h>

typedef struct ss_status_row {
	const char *name;
	ss_status_category cat;
} ss_status_row;

#define ROW(st, c) [st] = { #st, c }

static const ss_status_row status_rows[] = {
	ROW(SS_OK, SS_CAT_OK),
	/* seed 001: CONTINUE_NEEDED / INCOMPLETE_MESSAGE mean "come back later" */
	ROW(SS_CONTINUE_NEEDED, SS_CAT_BLOCKED),
	ROW(SS_INCOMPLETE_MESSAGE, SS_CAT_BLOCKED),
	/* A malformed handshake token is the peer's doing: tear down. */
	ROW(SS_INVALID_TOKEN, SS_CAT_PROTOCOL),
	/* Authentication and policy outcomes: retrying the same peer won't help. */
	ROW(SS_LOGON_DENIED, SS_CAT_AUTH),
	ROW(SS_NO_CREDENTIALS, SS_CAT_AUTH),
	ROW(SS_TARGET_UNKNOWN, SS_CAT_AUTH),
	ROW(SS_WRONG_PRINCIPAL, SS_CAT_AUTH),
	/* A requirement this build cannot meet is the caller's request. */
	ROW(SS_UNSUPPORTED_FUNCTION, SS_CAT_USAGE),
	ROW(SS_INSUFFICIENT_MEMORY, SS_CAT_INTERNAL),
	ROW(SS_INTERNAL_ERROR, SS_CAT_INTERNAL),
	ROW(SS_INVALID_HANDLE, SS_CAT_USAGE),
	/* Not an attack, but this peer cannot be secured: AUTH, so the preload's
	 * discovery logic decides (clear fallback or refusal) rather than retrying. */
	ROW(SS_NOT_SECSOCK, SS_CAT_AUTH),
	ROW(SS_NO_AUTHENTICATING_AUTHORITY, SS_CAT_AUTH),
	ROW(SS_ALGORITHM_MISMATCH, SS_CAT_AUTH),
	ROW(SS_TIMEOUT, SS_CAT_BLOCKED),
	/* RFC 8446 §5/§6: each of these ends the connection with an alert. */
	ROW(SS_BAD_RECORD_MAC, SS_CAT_PROTOCOL),
	ROW(SS_RECORD_OVERFLOW, SS_CAT_PROTOCOL),
	ROW(SS_UNEXPECTED_MESSAGE, SS_CAT_PROTOCOL),
	ROW(SS_DECODE_ERROR, SS_CAT_PROTOCOL),
	ROW(SS_CLOSED, SS_CAT_CLOSED),
	ROW(SS_PEER_ALERT, SS_CAT_ALERT),
	ROW(SS_BUFFER_TOO_SMALL, SS_CAT_USAGE),
	/* §5.3: the caller must rekey (KeyUpdate) before sealing more. */
	ROW(SS_SEQUENCE_EXHAUSTED, SS_CAT_USAGE),
	/* The connection is gone under the caller, as after an orderly close. */
	ROW(SS_IO_ERROR, SS_CAT_CLOSED),
};

#undef ROW

_Static_assert(sizeof status_rows / sizeof status_rows[0] == SS_STATUS_COUNT_,
               "every ss_status needs a row in status_rows");

const char *ss_status_name(ss_status st)
{
	if ((unsigned)st >= SS_STATUS_COUNT_ || status_rows[st].name == NULL)
		return "SS_STATUS_UNKNOWN";
	return status_rows[st].name;
}

ss_status_category ss_status_category_of(ss_status st)
{
	/* An out-of-range value can only come from a caller bug or corruption. */
	if ((unsigned)st >= SS_STATUS_COUNT_ || status_rows[st].name == NULL)
		return SS_CAT_INTERNAL;
	return status_rows[st].cat;
}
