/* fuzz_policy.c — libFuzzer target for the policy parser.
 *
 * Arbitrary bytes → pol_load_string.  Whatever the input, the parser must
 * not crash, leak or read out of bounds; when it accepts a policy, every
 * message must be a warning and a lookup on it must work.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "pol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	pol_diags d;
	pol_policy *p = pol_load_string(text, "fuzz", &d);
	free(text);
	if (p != NULL) {
		if (d.errors != 0)
			abort();
		pol_query q;
		memset(&q, 0, sizeof q);
		struct sockaddr_in *s4 = (struct sockaddr_in *)&q.remote;
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(0x0a010203);
		q.port = 5432;
		q.direction = POL_DIR_OUTBOUND;
		q.program = "/usr/bin/psql";
		pol_decision dec;
		pol_decide(p, &q, &dec);
		if (dec.settings == NULL || dec.rule_name == NULL)
			abort();
		pol_free(p);
	} else if (d.errors == 0) {
		abort();   /* refused without saying why */
	}
	for (int i = 0; i < d.count; i++)
		if (memchr(d.items[i].msg, '\0', sizeof d.items[i].msg) == NULL)
			abort();
	return 0;
}
