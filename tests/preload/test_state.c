/* tests/preload/test_state.c — the connection transition table
 * (preload/pre_state.c), linked alone: which changes secsock makes, and
 * that nothing else is allowed. */
#include <criterion/criterion.h>
#include <string.h>
#include "pre_state.h"

/* Every edge pre_state.c documents, and no other. */
static const int edges[][2] = {
	{ PRE_NEW, PRE_CONNECTING },       { PRE_NEW, PRE_UNDECIDED },
	{ PRE_NEW, PRE_SECURED },          { PRE_NEW, PRE_FAILED },
	{ PRE_CONNECTING, PRE_NEW },       { PRE_CONNECTING, PRE_SECURED },
	{ PRE_CONNECTING, PRE_CLEAR },     { PRE_CONNECTING, PRE_FAILED },
	{ PRE_UNDECIDED, PRE_HANDSHAKE },  { PRE_UNDECIDED, PRE_CLEAR },
	{ PRE_UNDECIDED, PRE_FAILED },     { PRE_HANDSHAKE, PRE_SECURED },
	{ PRE_HANDSHAKE, PRE_FAILED },     { PRE_SECURED, PRE_FAILED },
	{ PRE_CLEAR, PRE_FAILED },         { PRE_FAILED, PRE_FAILED },
};

static int listed(int from, int to)
{
	for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
		if (edges[i][0] == from && edges[i][1] == to)
			return 1;
	return 0;
}

Test(state, table_is_exactly_the_documented_edges)
{
	for (int from = 0; from < PRE_STATE_COUNT; from++)
		for (int to = 0; to < PRE_STATE_COUNT; to++)
			cr_expect_eq(pre_state_allowed(from, to), listed(from, to) != 0,
			             "%s -> %s", pre_state_name(from), pre_state_name(to));
}

Test(state, teardown_is_always_allowed)
{
	for (int from = 0; from < PRE_STATE_COUNT; from++)
		cr_expect(pre_state_allowed(from, PRE_FAILED), "%s -> failed", pre_state_name(from));
}

Test(state, clear_and_failed_are_final)
{
	for (int to = 0; to < PRE_STATE_COUNT; to++) {
		if (to == PRE_FAILED)
			continue;
		cr_expect(!pre_state_allowed(PRE_CLEAR, to), "clear -> %s", pre_state_name(to));
		cr_expect(!pre_state_allowed(PRE_FAILED, to), "failed -> %s", pre_state_name(to));
	}
}

/* A secured connection is never downgraded: the only way out is failure
 * (promise 1: never clear once secured). */
Test(state, secured_never_becomes_clear)
{
	cr_expect(!pre_state_allowed(PRE_SECURED, PRE_CLEAR));
	cr_expect(!pre_state_allowed(PRE_HANDSHAKE, PRE_CLEAR));
	cr_expect(!pre_state_allowed(PRE_SECURED, PRE_NEW));
}

Test(state, out_of_range_is_refused)
{
	cr_expect(!pre_state_allowed(-1, PRE_FAILED));
	cr_expect(!pre_state_allowed(PRE_NEW, PRE_STATE_COUNT));
	cr_expect(!pre_state_allowed(PRE_STATE_COUNT, PRE_NEW));
	cr_expect_str_eq(pre_state_name(PRE_STATE_COUNT), "?");
	cr_expect_str_eq(pre_state_name(-1), "?");
}

Test(state, every_state_has_a_name)
{
	for (int st = 0; st < PRE_STATE_COUNT; st++) {
		cr_expect_str_neq(pre_state_name(st), "?");
		for (int other = 0; other < st; other++)
			cr_expect_str_neq(pre_state_name(st), pre_state_name(other));
	}
	cr_expect_str_eq(pre_state_name(PRE_SECURED), "secured");
}
