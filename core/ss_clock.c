/* ss_clock.c — the one wall clock of the group and resumption code
 * (ss_group.h), so the test-hooks build can move it (Makefile TESTHOOK_SRC):
 * tests/integration/80-group.sh walks L2 periods without touching the
 * system clock.  The release libraries read time(NULL) only. */
#include <stdlib.h>
#include <time.h>
#include "ss_group.h"

int64_t ss_clock_now(void)
{
	int64_t t = (int64_t)time(NULL);
#ifdef SECSOCK_TEST_HOOKS
	const char *e = getenv("SECSOCK_TEST_CLOCK_OFFSET");
	if (e != NULL)
		t += strtoll(e, NULL, 10);
#endif
	return t;
}
