/* test_resume.c — core/ss_resume.c: tickets and client associations
 * (issue 14): a ticket round trip, tampering, another server's key, the
 * ticket keys' rotation window, host-key masters, the NewSessionTicket
 * parser's refusals, and the lifetime rules. */
#include <criterion/criterion.h>
#include <string.h>
#include <sodium.h>
#include "ss_rec.h"
#include "ss_resume.h"

static ss_ticket_keys keys(uint8_t fill)
{
	ss_ticket_keys k;
	memset(k.master, fill, sizeof k.master);
	return k;
}

/* 2027-01-15, in the middle of a ticket-key period */
#define T0 ((int64_t)1800000000 / SS_TICKET_PERIOD * SS_TICKET_PERIOD + SS_TICKET_PERIOD / 2)

static ss_resume_id an_id(void)
{
	ss_resume_id id;
	memset(&id, 0, sizeof id);
	id.created = T0 - 100;
	id.last_used = T0;
	id.suite = SS_SUITE_AES_128_GCM_SHA256;
	id.auth = 2;
	id.mutual = 1;
	strcpy(id.peer, "SHA256:abc");
	return id;
}

static const uint8_t secret[32] = { 7, 7, 7 };

Test(resume, ticket_round_trip_gives_both_ends_one_psk)
{
	ss_ticket_keys k = keys(5);
	ss_resume_id id = an_id(), back;
	ss_resume_entry e;
	uint8_t msg[1024], psk[SS_RESUME_SECRET_MAX];
	size_t mlen = 0, plen = 0;

	cr_assert_eq(sodium_init() >= 0, 1);
	cr_assert_eq(ss_resume_ticket_make(&k, secret, sizeof secret, &id, 600, msg, sizeof msg, &mlen), SS_OK);
	cr_assert_eq(msg[0], 4, "a NewSessionTicket handshake message (RFC 8446 §4.6.1)");
	cr_assert_eq(ss_resume_entry_make(secret, sizeof secret, msg, mlen, &id, &e), SS_OK);
	cr_expect_eq(e.lifetime, 600);
	cr_assert_eq(ss_resume_ticket_open(&k, e.ticket, e.ticket_len, T0, 300, &back, psk, &plen), SS_OK);
	cr_expect_eq(plen, e.psk_len);
	cr_expect(memcmp(psk, e.psk, plen) == 0, "server and client derive the same PSK");
	cr_expect_eq(back.created, T0 - 100);
	cr_expect_eq(back.last_used, T0);
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
	ss_ticket_keys k = keys(5), other = keys(6);
	ss_resume_id id = an_id(), back;
	ss_resume_entry e;
	uint8_t msg[1024], psk[SS_RESUME_SECRET_MAX];
	size_t mlen = 0, plen = 0;

	cr_assert_eq(ss_resume_ticket_make(&k, secret, sizeof secret, &id, 600, msg, sizeof msg, &mlen), SS_OK);
	cr_assert_eq(ss_resume_entry_make(secret, sizeof secret, msg, mlen, &id, &e), SS_OK);
	cr_expect_eq(ss_resume_ticket_open(&other, e.ticket, e.ticket_len, T0, 300, &back, psk, &plen), SS_BAD_RECORD_MAC,
	             "another server's key");
	for (size_t i = 0; i < e.ticket_len; i++) {
		e.ticket[i] ^= 1;
		cr_expect_neq(ss_resume_ticket_open(&k, e.ticket, e.ticket_len, T0, 300, &back, psk, &plen), SS_OK,
		              "byte %zu flipped", i);
		e.ticket[i] ^= 1;
	}
	cr_expect_eq(ss_resume_ticket_open(&k, e.ticket, 10, T0, 300, &back, psk, &plen), SS_DECODE_ERROR, "truncated");
	cr_expect_eq(ss_resume_ticket_open(&k, e.ticket, e.ticket_len, T0, 300, &back, psk, &plen), SS_OK, "intact again");
}

Test(resume, new_session_ticket_parser_refuses_malformed_messages)
{
	ss_ticket_keys k = keys(5);
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
	ss_resume_id id = an_id();   /* created T0 - 100, last used T0 */
	const int64_t c = T0 - 100, u = T0;
	cr_expect(ss_resume_fresh(&id, u + 100, 7200, 300));
	cr_expect(!ss_resume_fresh(&id, c + 7200, 7200, 0), "session-lifetime reached");
	cr_expect(!ss_resume_fresh(&id, u + 300, 7200, 300), "idle-timeout reached");
	cr_expect(ss_resume_fresh(&id, u + 299, 7200, 300));
	cr_expect(ss_resume_fresh(&id, c + 5000, 7200, 0), "idle-timeout 0: no idle limit");
	cr_expect(!ss_resume_fresh(&id, u + 100, 0, 300), "session-lifetime 0: no reuse");
	cr_expect(!ss_resume_fresh(&id, c - 1, 7200, 300), "a clock before the full handshake");
}

/* A ticket issued at time `at` under k; its ticket bytes into e. */
static void issue(const ss_ticket_keys *k, int64_t at, ss_resume_entry *e)
{
	ss_resume_id id = an_id();
	uint8_t msg[1024];
	size_t mlen = 0;
	id.created = at - 100;
	id.last_used = at;
	cr_assert_eq(ss_resume_ticket_make(k, secret, sizeof secret, &id, 600, msg, sizeof msg, &mlen), SS_OK);
	cr_assert_eq(ss_resume_entry_make(secret, sizeof secret, msg, mlen, &id, e), SS_OK);
}

static ss_status open_at(const ss_ticket_keys *k, const ss_resume_entry *e, int64_t now, uint32_t window)
{
	ss_resume_id back;
	uint8_t psk[SS_RESUME_SECRET_MAX];
	size_t plen = 0;
	return ss_resume_ticket_open(k, e->ticket, e->ticket_len, now, window, &back, psk, &plen);
}

Test(resume, ticket_keys_rotate_by_period_and_the_window_is_kept)
{
	const int64_t P = SS_TICKET_PERIOD, start = T0 / P * P;   /* T0's period starts */
	ss_ticket_keys k = keys(5);
	ss_resume_entry e, late;

	issue(&k, T0, &e);
	const uint8_t *t = e.ticket;
	cr_expect_eq((int64_t)((uint32_t)t[0] << 24 | (uint32_t)t[1] << 16 | (uint32_t)t[2] << 8 | t[3]), T0 / P,
	             "the key id is the period's index");
	/* the key of another period is another key: same master, later
	 * period, so a ticket of the next period has another key id and
	 * does not open under this period's key by relabelling */
	issue(&k, T0 + P, &late);
	cr_expect(memcmp(late.ticket, e.ticket, 4) != 0);
	memcpy(late.ticket, e.ticket, 4);
	cr_expect_eq(open_at(&k, &late, T0 + P, 300), SS_BAD_RECORD_MAC, "relabelled to the older period's key");

	cr_expect_eq(open_at(&k, &e, start, 300), SS_OK, "its own period");
	cr_expect_eq(open_at(&k, &e, start + P + P - 1, 300), SS_OK, "the previous period is always accepted");
	cr_expect_eq(open_at(&k, &e, start + 2 * P, 300), SS_BAD_RECORD_MAC,
	             "two periods on, with a window of 5 minutes: rotated out");
	cr_expect_eq(open_at(&k, &e, start + 2 * P + 299, 300), SS_BAD_RECORD_MAC);
	cr_expect_eq(open_at(&k, &e, start + 2 * P, 2 * 3600), SS_OK,
	             "a window of 2 h (idle-timeout) keeps the key while its tickets may be fresh");
	cr_expect_eq(open_at(&k, &e, start + P + 2 * 3600 - 1, 2 * 3600), SS_OK);
	cr_expect_eq(open_at(&k, &e, start + P + 2 * 3600, 2 * 3600), SS_BAD_RECORD_MAC, "and no longer");
	cr_expect_eq(open_at(&k, &e, start - 1, 300), SS_BAD_RECORD_MAC, "a key of a future period never opens");
}

Test(resume, host_key_masters_are_shared_by_the_key_and_only_by_it)
{
	uint8_t seed[32], seed2[32];
	ss_ticket_keys a, b, c;
	ss_resume_entry e;

	memset(seed, 0x42, sizeof seed);
	memcpy(seed2, seed, sizeof seed2);
	seed2[31] ^= 1;
	ss_ticket_keys_from_seed(seed, &a);
	ss_ticket_keys_from_seed(seed, &b);   /* another process, same host key */
	ss_ticket_keys_from_seed(seed2, &c);
	cr_expect(memcmp(a.master, b.master, sizeof a.master) == 0);
	cr_expect(memcmp(a.master, c.master, sizeof a.master) != 0);
	cr_expect(memcmp(a.master, seed, sizeof a.master) != 0, "the master is not the host key itself");
	issue(&a, T0, &e);
	cr_expect_eq(open_at(&b, &e, T0, 300), SS_OK, "a second process with the host key opens it");
	cr_expect_eq(open_at(&c, &e, T0, 300), SS_BAD_RECORD_MAC, "another host key does not");
}
