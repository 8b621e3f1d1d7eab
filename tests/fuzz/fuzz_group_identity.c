/* fuzz_group_identity.c — libFuzzer target for the group identity parser
 * (core/ss_group.c, ss_group_id_parse): what a server reads from any
 * client's ClientHello (RFC 8446 §4.2.11 identity) for auth = group:NAME.
 * Arbitrary bytes must never crash or read out of bounds; an accepted
 * identity has a valid name and an L2 GKID and encodes back to exactly the
 * input (the format has one encoding); the window check never accepts a
 * GKID other than now's or the one before. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ss_group.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ss_group_id id;
	uint8_t back[SS_GROUP_ID_MAX];
	size_t n = 0;

	if (ss_group_id_parse(data, size, &id) != SS_OK)
		return 0;
	if (strlen(id.name) == 0 || strlen(id.name) > SS_GROUP_NAME_MAX || id.gkid.l0 < 0 ||
	    id.gkid.l1 < 0 || id.gkid.l1 > 31 || id.gkid.l2 < 0 || id.gkid.l2 > 31)
		abort();
	if (ss_group_id_encode(&id, back, sizeof back, &n) != SS_OK || n != size || memcmp(back, data, n) != 0)
		abort();
	ss_gkid now = { 361, 4, 7 };
	if (ss_group_gkid_ok(id.gkid, now) && ss_gkid_cmp(id.gkid, now) != 0 &&
	    ss_gkid_cmp(id.gkid, (ss_gkid){ 361, 4, 6 }) != 0)
		abort();
	return 0;
}
