/* fuzz_hello.c — ss_hello_classify on arbitrary bytes.
 *
 * Besides "no crash, no out-of-bounds read" (ASan), the verdict must be
 * stable: once a prefix gives a final verdict, more bytes do not change it,
 * and a NEED_MORE on the whole input means every shorter prefix is NEED_MORE
 * too (the classifier never un-decides).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ss_ctx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ss_hello_verdict v = ss_hello_classify(data, size);
	uint8_t *copy;

	if (v != SS_HELLO_NEED_MORE && v != SS_HELLO_SECSOCK && v != SS_HELLO_TLS && v != SS_HELLO_OTHER)
		abort();
	if (size > 0 && v == SS_HELLO_NEED_MORE && ss_hello_classify(data, size - 1) != SS_HELLO_NEED_MORE)
		abort();
	if (size > 0 && v != SS_HELLO_NEED_MORE) {
		/* an exact-size copy so ASan catches any read past the end */
		copy = malloc(size + 1);
		if (copy == NULL)
			return 0;
		memcpy(copy, data, size);
		copy[size] = 0x5a;
		if (ss_hello_classify(copy, size + 1) != v)
			abort();
		free(copy);
	}
	return 0;
}
