/* test_status.c — every ss_status has a distinct name and a category that
 * matches what the caller must do about it (ss_status.h). */
#include <criterion/criterion.h>

#include <string.h>

#include "ss_status.h"

Test(status, every_status_named_once)
{
	for (int i = 0; i < SS_STATUS_COUNT_; i++) {
		const char *n = ss_status_name((ss_status)i);
		cr_assert_not_null(n);
		cr_assert_eq(strncmp(n, "SS_", 3), 0, "status %d: %s", i, n);
		cr_assert_str_neq(n, "SS_STATUS_UNKNOWN", "status %d unnamed", i);
		for (int j = 0; j < i; j++)
			cr_assert_str_neq(n, ss_status_name((ss_status)j), "%d and %d share a name", i, j);
	}
	cr_assert_str_eq(ss_status_name(SS_OK), "SS_OK");
	cr_assert_str_eq(ss_status_name(SS_LOGON_DENIED), "SS_LOGON_DENIED");
	cr_assert_str_eq(ss_status_name(SS_SEQUENCE_EXHAUSTED), "SS_SEQUENCE_EXHAUSTED");
}

Test(status, out_of_range)
{
	cr_assert_str_eq(ss_status_name(SS_STATUS_COUNT_), "SS_STATUS_UNKNOWN");
	cr_assert_str_eq(ss_status_name((ss_status)-1), "SS_STATUS_UNKNOWN");
	cr_assert_eq(ss_status_category_of(SS_STATUS_COUNT_), SS_CAT_INTERNAL);
	cr_assert_eq(ss_status_category_of((ss_status)12345), SS_CAT_INTERNAL);
}

Test(status, categories)
{
	static const struct { ss_status st; ss_status_category cat; } want[] = {
		{ SS_OK, SS_CAT_OK },
		{ SS_CONTINUE_NEEDED, SS_CAT_BLOCKED },
		{ SS_INCOMPLETE_MESSAGE, SS_CAT_BLOCKED },
		{ SS_INVALID_TOKEN, SS_CAT_PROTOCOL },
		{ SS_LOGON_DENIED, SS_CAT_AUTH },
		{ SS_NO_CREDENTIALS, SS_CAT_AUTH },
		{ SS_WRONG_PRINCIPAL, SS_CAT_AUTH },
		{ SS_INSUFFICIENT_MEMORY, SS_CAT_INTERNAL },
		{ SS_INTERNAL_ERROR, SS_CAT_INTERNAL },
		{ SS_INVALID_HANDLE, SS_CAT_USAGE },
		{ SS_BAD_RECORD_MAC, SS_CAT_PROTOCOL },
		{ SS_RECORD_OVERFLOW, SS_CAT_PROTOCOL },
		{ SS_UNEXPECTED_MESSAGE, SS_CAT_PROTOCOL },
		{ SS_DECODE_ERROR, SS_CAT_PROTOCOL },
		{ SS_CLOSED, SS_CAT_CLOSED },
		{ SS_PEER_ALERT, SS_CAT_ALERT },
		{ SS_BUFFER_TOO_SMALL, SS_CAT_USAGE },
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		cr_assert_eq(ss_status_category_of(want[i].st), want[i].cat, "%s",
		             ss_status_name(want[i].st));
	/* Only SS_OK is OK: a failure must never look like success. */
	for (int i = 1; i < SS_STATUS_COUNT_; i++)
		cr_assert_neq(ss_status_category_of((ss_status)i), SS_CAT_OK, "%s",
		              ss_status_name((ss_status)i));
}
