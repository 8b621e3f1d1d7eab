/* fuzz_kds_request.c — the KDS request parser (core/ss_kds_proto.c) on
 * arbitrary bytes, as the service sees them from a secured peer.
 *
 * Besides "no crash, no out-of-bounds read" (ASan, on an exact-size copy):
 * the framer and the parser agree (a parsed request is one whole frame), an
 * accepted request re-encodes to the same bytes, and the answer parser
 * never accepts what its own encoder could not have built.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ss_kds_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1), out[SS_KDS_REQ_MAX];
	ss_kds_req r;
	ss_kds_answer a;
	ss_kds_type t;
	const uint8_t *body;
	size_t bl, fl, n;
	char why[128];
	ss_status fst;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	fst = ss_kds_frame(copy, size, &t, &body, &bl, &fl, why, sizeof why);
	if (fst == SS_OK && (fl > size || body + bl != copy + fl || bl > SS_KDS_BODY_MAX))
		abort();
	if (ss_kds_req_parse(copy, size, &r, why, sizeof why) == SS_OK) {
		if (fst != SS_OK || fl != size || t != SS_KDS_T_GET_KEY)
			abort();
		if (ss_kds_req_encode(&r, out, sizeof out, &n) != SS_OK || n != size ||
		    memcmp(out, copy, size) != 0)
			abort();
	} else if (!memchr(why, '\0', sizeof why) || why[0] == '\0') {
		abort();   /* every refusal says why, in one bounded line */
	}
	if (ss_kds_answer_parse(copy, size, &a, why, sizeof why) == SS_OK) {
		uint8_t *o2 = malloc(size);
		if (!o2 || ss_kds_answer_encode(a.code, a.env, a.env_len, o2, size, &n) != SS_OK ||
		    n != size || memcmp(o2, copy, size) != 0)
			abort();
		free(o2);
	}
	free(copy);
	return 0;
}
