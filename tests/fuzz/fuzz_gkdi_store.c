/* fuzz_gkdi_store.c — ss_gkdi_cache_decode (core/ss_gkdi_store.c) on
 * arbitrary bytes, into a fresh cache.
 *
 * Besides "no crash, no out-of-bounds read" (ASan, on an exact-size copy):
 * a refused input leaves the cache empty (all or nothing); an accepted one
 * encodes back to the same bytes (the format is canonical: one encoding per
 * cache), and that encoding decodes and re-encodes identically (the
 * encoder writes nothing the decoder refuses).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ss_gkdi.h"

static void check_round_trip(const ss_gkdi_cache *c, const uint8_t *in, size_t size)
{
	ss_gkdi_cache *d = ss_gkdi_cache_new();
	uint8_t *b1 = NULL, *b2 = NULL;
	size_t n1 = 0, n2 = 0;

	if (!d || ss_gkdi_cache_encode(c, &b1, &n1) != SS_OK)
		abort();
	if (n1 != size || memcmp(b1, in, size) != 0)
		abort();
	if (ss_gkdi_cache_decode(d, b1, n1) != SS_OK ||
	    ss_gkdi_cache_count(d) != ss_gkdi_cache_count(c))
		abort();
	if (ss_gkdi_cache_encode(d, &b2, &n2) != SS_OK || n2 != n1 || memcmp(b1, b2, n1) != 0)
		abort();
	sodium_free(b1);
	sodium_free(b2);
	ss_gkdi_cache_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	ss_gkdi_cache *c = ss_gkdi_cache_new();

	if (!copy || !c)
		abort();
	memcpy(copy, data, size);
	if (ss_gkdi_cache_decode(c, copy, size) == SS_OK)
		check_round_trip(c, copy, size);
	else if (ss_gkdi_cache_count(c) != 0)
		abort();   /* a refusal changes nothing */
	ss_gkdi_cache_free(c);
	free(copy);
	return 0;
}
