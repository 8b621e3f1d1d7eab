/* fuzz_disc_entry.c — arbitrary bytes as a shared discovery-store entry
 * (preload/pre_disc_store.c): files in the user's 0700 directory are
 * still parsed as untrusted input.  Contract: the parser reads only
 * buf[0..len), accepts exactly "secsock-discovery 1 clear|secsock N\n"
 * with N a decimal without leading zeros below 10^18, and an accepted
 * entry formats back to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PRE_DISC_PARSE_ONLY
#include "../../preload/pre_disc_store.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1), again[PRE_DISC_ENTRY_MAX + 1];
	int kind = -1, n;
	int64_t exp = -1;

	if (!buf)
		return 0;
	memcpy(buf, data, size);   /* exact-size copy: ASan sees any over-read */
	if (pre_disc_entry_parse(buf, size, &kind, &exp) == 0) {
		if ((kind != PRE_DISC_KIND_CLEAR && kind != PRE_DISC_KIND_SECSOCK) || exp < 0 ||
		    exp >= 1000000000000000000LL)
			abort();
		n = pre_disc_entry_format(again, sizeof again, kind, exp);
		if (n < 0 || (size_t)n != size || memcmp(again, buf, size) != 0)
			abort();
	}
	free(buf);
	return 0;
}
