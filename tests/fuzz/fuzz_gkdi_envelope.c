/* fuzz_gkdi_envelope.c — ss_gkdi_env_parse (MS-GKDI 2.2.4) on arbitrary
 * bytes.
 *
 * Besides "no crash, no out-of-bounds read" (ASan, on an exact-size copy):
 * an accepted envelope re-encodes to the same bytes (the encoder and the
 * parser agree on every field), its fields lie inside the input, and the
 * client derivation (3.2.4.3) runs on it without fault.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ss_gkdi.h"

static int inside(ss_gkdi_bytes b, const uint8_t *p, size_t n)
{
	return b.len == 0 || (b.p >= p && b.p + b.len <= p + n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1), *out;
	ss_gkdi_env e;
	ss_gkdi_key k;
	size_t n;
	char why[160];

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (ss_gkdi_env_parse(copy, size, &e, why, sizeof why) != SS_OK) {
		if (!memchr(why, '\0', sizeof why) || why[0] == '\0')
			abort();   /* every refusal says why, in one bounded line */
		free(copy);
		return 0;
	}
	if (!inside(e.kdf_alg, copy, size) || !inside(e.kdf_params, copy, size) ||
	    !inside(e.sa_alg, copy, size) || !inside(e.sa_params, copy, size) ||
	    !inside(e.domain, copy, size) || !inside(e.forest, copy, size) ||
	    !inside(e.l1_key, copy, size) || !inside(e.l2_key, copy, size))
		abort();
	out = malloc(size);
	if (!out || ss_gkdi_env_encode(&e, out, size, &n, why, sizeof why) != SS_OK || n != size ||
	    memcmp(out, copy, size) != 0)
		abort();
	free(out);
	/* the key derivation from a hostile envelope: at most 64 KDF steps */
	if (ss_gkdi_client_key(&e, 0, SS_GKID_NONE, &k) == SS_OK)
		ss_gkdi_key_clear(&k);
	if (ss_gkdi_client_key(&e, 1, (ss_gkid){ e.gkid.l0, 0, 0 }, &k) == SS_OK)
		ss_gkdi_key_clear(&k);
	free(copy);
	return 0;
}
