/* fuzz_resume.c — libFuzzer target for the resumption parsers
 * (core/ss_resume.c): a NewSessionTicket message from a server
 * (ss_resume_entry_make) and a ticket a client offers as its PSK identity
 * (ss_resume_ticket_open).  Arbitrary bytes must never crash, leak or read
 * out of bounds; an accepted message must give an entry whose ticket fits;
 * a ticket opens only if it was sealed with our key (the fuzzer cannot
 * forge one), and one made here must open to what went in. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ss_resume.h"
#include "ss_rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t secret[32] = { 1, 2, 3 };
	static const int64_t now = 1800000000;
	ss_ticket_keys k = { .master = { 0 } };
	ss_resume_id id = { .created = now, .last_used = now, .suite = SS_SUITE_AES_128_GCM_SHA256, .auth = 1 };
	ss_resume_entry e;
	uint8_t psk[SS_RESUME_SECRET_MAX], msg[1024];
	size_t plen = 0, mlen = 0;

	if (ss_resume_entry_make(secret, sizeof secret, data, size, &id, &e) == SS_OK &&
	    (e.ticket_len == 0 || e.ticket_len > SS_TICKET_MAX || e.psk_len != 32))
		abort();
	if (ss_resume_ticket_open(&k, data, size, now, 7200, &id, psk, &plen) == SS_OK)
		abort();   /* all-zero key: only a ticket we sealed opens */
	/* a ticket of ours, its peer identity from the input, round trip */
	memset(&id, 0, sizeof id);
	id.created = id.last_used = now;
	id.suite = SS_SUITE_AES_128_GCM_SHA256;
	memcpy(id.peer, data, size < sizeof id.peer - 1 ? size : sizeof id.peer - 1);
	if (ss_resume_ticket_make(&k, secret, sizeof secret, &id, 60, msg, sizeof msg, &mlen) != SS_OK ||
	    ss_resume_entry_make(secret, sizeof secret, msg, mlen, &id, &e) != SS_OK)
		abort();
	ss_resume_id back;
	if (ss_resume_ticket_open(&k, e.ticket, e.ticket_len, now, 7200, &back, psk, &plen) != SS_OK ||
	    plen != e.psk_len || memcmp(psk, e.psk, plen) != 0 || strcmp(back.peer, id.peer) != 0)
		abort();
	return 0;
}
