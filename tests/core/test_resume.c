/* test_resume.c — core/ss_resume.c: tickets and client associations
 * (issue 14): a ticket round trip, tampering, another server's key, the
 * NewSessionTicket parser's refusals, and the lifetime rules. */
#include <criterion/criterion.h>
#include <string.h>
#include <sodium.h>
#include "ss_rec.h"
#include "ss_resume.h"

static ss_ticket_keys keys(uint32_t id, uint8_t fill)
{
	ss_ticket_keys k;
	memset(&k, 0, sizeof k);
	k.id[0] = id;
	memset(k.key[0], fill, sizeof k.key[0]);
	return k;
}

static ss_resume_id an_id(void)
{
	ss_resume_id id;
	memset(&id, 0, sizeof id);
	id.created = 1000;
	id.last_used = 1100;
	id.suite = SS_SUITE_AES_128_GCM_SHA256;
	id.auth = 2;
	id.mutual = 1;
	strcpy(id.peer, "SHA256:abc");
	return id;
}

static const uint8_t secret[32] = { 7, 7, 7 };

Test(resume, ticket_round_trip_gives_both_ends_one_psk)
{
	ss_ticket_keys k = keys(0x11223344, 5);
	ss_resume_id id = an_id(), back;
	ss_resume_entry e;
	uint8_t msg[1024], psk[SS_RESUME_SECRET_MAX];
	size_t mlen = 0, plen = 0;

	cr_assert_eq(sodium_init() >= 0, 1);
	cr_assert_eq(ss_resume_ticket_make(&k, secret, sizeof secret, &id, 600, msg, sizeof msg, &mlen), SS_OK);
	cr_assert_eq(msg[0], 4, "a NewSessionTicket handshake message (RFC 8446 §4.6.1)");
	cr_assert_eq(ss_resume_entry_make(secret, sizeof secret, msg, mlen, &id, &e), SS_OK);
	cr_expect_eq(e.lifetime, 600);
	cr_assert_eq(ss_resume_ticket_open(&k, e.ticket, e.ticket_len, &back, psk, &plen), SS_OK);
	cr_expect_eq(plen, e.psk_len);
	cr_expect(memcmp(psk, e.psk, plen) == 0, "server and client derive the same PSK");
	cr_expect_eq(back.created, 1000);
	cr_expect_eq(back.last_used, 1100);
	cr_expect_eq(back.auth, 2);
	cr_expect_eq(back.mutual, 1);
	cr_expect_str_eq(back.peer, "SHA256:abc");
	/* another secret (another handshake) gives another PSK */
	ss_resume_entry e2;
	uint8_t other[32] = { 8 };
	cr_assert_eq(ss_resume_entry_make(other, sizeof other, msg, mlen, &id, &e2), SS_OK);
	cr_expect(memcmp(e2.psk, e.psk, e.psk_len) != 0);
}

Test(resume, tampered_or_foreign_tickets_do_not_open)
{
	ss_ticket_keys k = keys(0x11223344, 5), other = keys(0x11223344, 6), rotated = keys(0x55667788, 5);
	ss_resume_id id = an_id(), back;
	ss_resume_entry e;
	uint8_t msg[1024], psk[SS_RESUME_SECRET_MAX];
	size_t mlen = 0, plen = 0;

	cr_assert_eq(ss_resume_ticket_make(&k, secret, sizeof secret, &id, 600, msg, sizeof msg, &mlen), SS_OK);
	cr_assert_eq(ss_resume_entry_make(secret, sizeof secret, msg, mlen, &id, &e), SS_OK);
	cr_expect_eq(ss_resume_ticket_open(&other, e.ticket, e.ticket_len, &back, psk, &plen), SS_BAD_RECORD_MAC,
	             "another server's key");
	cr_expect_eq(ss_resume_ticket_open(&rotated, e.ticket, e.ticket_len, &back, psk, &plen), SS_BAD_RECORD_MAC,
	             "a key id we do not hold");
	for (size_t i = 0; i < e.ticket_len; i++) {
		e.ticket[i] ^= 1;
		cr_expect_neq(ss_resume_ticket_open(&k, e.ticket, e.ticket_len, &back, psk, &plen), SS_OK,
		              "byte %zu flipped", i);
		e.ticket[i] ^= 1;
	}
	cr_expect_eq(ss_resume_ticket_open(&k, e.ticket, 10, &back, psk, &plen), SS_DECODE_ERROR, "truncated");
	cr_expect_eq(ss_resume_ticket_open(&k, e.ticket, e.ticket_len, &back, psk, &plen), SS_OK, "intact again");
}

Test(resume, new_session_ticket_parser_refuses_malformed_messages)
{
	ss_ticket_keys k = keys(1, 5);
	ss_resume_id id = an_id();
	ss_resume_entry e;
	uint8_t msg[1024], bad[1024];
	size_t mlen = 0;

	cr_assert_eq(ss_resume_ticket_make(&k, secret, sizeof secret, &id, 600, msg, sizeof msg, &mlen), SS_OK);
	for (size_t cut = 0; cut < mlen; cut++)
		cr_expect_eq(ss_resume_entry_make(secret, sizeof secret, msg, cut, &id, &e), SS_DECODE_ERROR,
		             "truncated to %zu", cut);
	memcpy(bad, msg, mlen);
	bad[0] = 24;   /* key_update, not a ticket */
	cr_expect_eq(ss_resume_entry_make(secret, sizeof secret, bad, mlen, &id, &e), SS_DECODE_ERROR);
	memcpy(bad, msg, mlen);
	bad[3] ^= 1;   /* handshake length off by one */
	cr_expect_eq(ss_resume_entry_make(secret, sizeof secret, bad, mlen, &id, &e), SS_DECODE_ERROR);
	memcpy(bad, msg, mlen);
	bad[mlen] = 0;   /* a trailing byte */
	cr_expect_eq(ss_resume_entry_make(secret, sizeof secret, bad, mlen + 1, &id, &e), SS_DECODE_ERROR);
	cr_expect_eq(ss_resume_entry_make(secret, 20, msg, mlen, &id, &e), SS_INTERNAL_ERROR,
	             "a secret of the wrong length for the suite");
}

Test(resume, lifetimes)
{
	ss_resume_id id = an_id();   /* created 1000, last used 1100 */
	cr_expect(ss_resume_fresh(&id, 1200, 7200, 300));
	cr_expect(!ss_resume_fresh(&id, 1000 + 7200, 7200, 0), "session-lifetime reached");
	cr_expect(!ss_resume_fresh(&id, 1100 + 300, 7200, 300), "idle-timeout reached");
	cr_expect(ss_resume_fresh(&id, 1100 + 299, 7200, 300));
	cr_expect(ss_resume_fresh(&id, 5000, 7200, 0), "idle-timeout 0: no idle limit");
	cr_expect(!ss_resume_fresh(&id, 1200, 0, 300), "session-lifetime 0: no reuse");
	cr_expect(!ss_resume_fresh(&id, 999, 7200, 300), "a clock before the full handshake");
}
