/* test_ctx_resume.c — resumption through the token loop (core/ss_ctx_resume.c):
 * a full handshake's ticket resumes the next connection under the same
 * server credential, and never under a credential of other settings (its
 * ticket_scope), even one holding the same ticket keys. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "ss_ctx.h"
#include "ss_resume.h"

enum { CAP = 1 << 16 };

typedef struct end {
	ss_ctx *ctx;
	ss_status st;
	uint8_t in[CAP];
	size_t len;
	ss_buf out;
	int server;
} end;

static ss_ticket_keys keys;

static ss_cred *cred_pfs(unsigned use, uint8_t scope, int no_pfs)
{
	ss_cred_params p = { 0 };
	ss_cred *c = NULL;
	p.use = use;
	p.no_pfs = no_pfs;
	p.methods[0] = SS_AUTH_ANONYMOUS;
	p.session_lifetime = 3600;
	p.idle_timeout = 300;
	if (use == SS_CRED_INBOUND) {
		p.tickets = &keys;
		memset(p.ticket_scope, scope, sizeof p.ticket_scope);
	}
	cr_assert_eq(ss_cred_acquire(&p, &c), SS_OK);
	return c;
}

static ss_cred *cred(unsigned use, uint8_t scope)
{
	return cred_pfs(use, scope, 0);
}

static void step(end *e, end *peer, ss_cred *c)
{
	size_t used = 0;
	if (e->server)
		e->st = ss_ctx_accept(c, &e->ctx, SS_REQ_EXTENDED_ERROR, e->in, e->len, &used, &e->out, NULL, NULL);
	else
		e->st = ss_ctx_initialize(c, &e->ctx, NULL, SS_REQ_EXTENDED_ERROR, e->in, e->len, &used, &e->out,
		                          NULL, NULL);
	memmove(e->in, e->in + used, e->len - used);
	e->len -= used;
	cr_assert(peer->len + e->out.len <= CAP);
	memcpy(peer->in + peer->len, e->out.data, e->out.len);
	peer->len += e->out.len;
	e->out.len = 0;
}

/* One handshake; the client context may be prepared (an association offered). */
static void pump(end *c, ss_cred *cc, end *s, ss_cred *sc)
{
	step(c, s, cc);
	for (int i = 0; i < 50 && !(c->st == SS_OK && s->st == SS_OK); i++) {
		if (s->len)
			step(s, c, sc);
		if (c->len && c->st != SS_OK)
			step(c, s, cc);
	}
	cr_assert_eq(c->st, SS_OK, "client %s", ss_status_name(c->st));
	cr_assert_eq(s->st, SS_OK, "server %s", ss_status_name(s->st));
}

static void end_free(end *e)
{
	ss_ctx_free(e->ctx);
	ss_buf_free(&e->out);
	free(e);
}

Test(ctx_resume, ticket_resumes_only_under_its_scope)
{
	ss_cred *cc = cred(SS_CRED_OUTBOUND, 0), *sa = cred(SS_CRED_INBOUND, 1), *sb = cred(SS_CRED_INBOUND, 2);
	end *c = calloc(1, sizeof *c), *s = calloc(1, sizeof *s);
	uint8_t msg[4096], secret[48];
	size_t mlen = 0, slen = 0;
	ss_resume_id id;
	ss_resume_entry e;
	ss_ctx_info ci, si;

	cr_assert(c && s);
	s->server = 1;
	pump(c, cc, s, sa);
	cr_assert_eq(ss_ctx_ticket(s->ctx, msg, sizeof msg, &mlen), SS_OK);
	cr_assert_eq(ss_ctx_resume_secret(c->ctx, secret, sizeof secret, &slen, &id), SS_OK);
	cr_assert_eq(ss_resume_entry_make(secret, slen, msg, mlen, &id, &e), SS_OK);
	end_free(c);
	end_free(s);

	/* the same server credential: resumed, the identity carried over */
	for (int under = 1; under <= 2; under++) {
		c = calloc(1, sizeof *c);
		s = calloc(1, sizeof *s);
		cr_assert(c && s);
		s->server = 1;
		cr_assert_eq(ss_ctx_client_new(cc, NULL, &c->ctx), SS_OK);
		cr_assert_eq(ss_ctx_set_resume(c->ctx, &e), SS_OK);
		pump(c, cc, s, under == 1 ? sa : sb);
		cr_assert_eq(ss_ctx_query(c->ctx, &ci), SS_OK);
		cr_assert_eq(ss_ctx_query(s->ctx, &si), SS_OK);
		if (under == 1) {
			cr_expect(ci.resumed && si.resumed, "same scope: resumed (client %d, server %d)", ci.resumed, si.resumed);
			cr_expect_eq(si.auth, SS_AUTH_ANONYMOUS);
		} else {
			cr_expect(!ci.resumed && !si.resumed, "another scope: a full handshake (client %d, server %d)",
			          ci.resumed, si.resumed);
		}
		end_free(c);
		end_free(s);
	}
	sodium_memzero(&e, sizeof e);
	ss_cred_free(cc);
	ss_cred_free(sa);
	ss_cred_free(sb);
}

/* A full handshake between cc and sc; its association in *e. */
static void associate(ss_cred *cc, ss_cred *sc, ss_resume_entry *e)
{
	end *c = calloc(1, sizeof *c), *s = calloc(1, sizeof *s);
	uint8_t msg[4096], secret[48];
	size_t mlen = 0, slen = 0;
	ss_resume_id id;

	cr_assert(c && s);
	s->server = 1;
	pump(c, cc, s, sc);
	cr_assert_eq(ss_ctx_ticket(s->ctx, msg, sizeof msg, &mlen), SS_OK);
	cr_assert_eq(ss_ctx_resume_secret(c->ctx, secret, sizeof secret, &slen, &id), SS_OK);
	cr_assert_eq(ss_resume_entry_make(secret, slen, msg, mlen, &id, e), SS_OK);
	sodium_memzero(secret, sizeof secret);
	end_free(c);
	end_free(s);
}

/* The next connection, offering e: what each end reports. */
static void reconnect(ss_cred *cc, ss_cred *sc, const ss_resume_entry *e, ss_ctx_info *ci, ss_ctx_info *si)
{
	end *c = calloc(1, sizeof *c), *s = calloc(1, sizeof *s);

	cr_assert(c && s);
	s->server = 1;
	cr_assert_eq(ss_ctx_client_new(cc, NULL, &c->ctx), SS_OK);
	cr_assert_eq(ss_ctx_set_resume(c->ctx, e), SS_OK);
	pump(c, cc, s, sc);
	cr_assert_eq(ss_ctx_query(c->ctx, ci), SS_OK);
	cr_assert_eq(ss_ctx_query(s->ctx, si), SS_OK);
	end_free(c);
	end_free(s);
}

/* pfs = no (ss_cred_params.no_pfs): a resumption without (EC)DHE — no
 * negotiated group at either end — only when both ends set it; the full
 * handshake always has one; a ticket the server will not take (another
 * scope) still gets a full handshake with a group. */
Test(ctx_resume, psk_ke_only_when_both_ends_say_no_pfs)
{
	for (int cn = 0; cn <= 1; cn++)
		for (int sn = 0; sn <= 1; sn++) {
			ss_cred *cc = cred_pfs(SS_CRED_OUTBOUND, 0, cn), *sc = cred_pfs(SS_CRED_INBOUND, 1, sn);
			ss_resume_entry e;
			ss_ctx_info ci, si;

			associate(cc, sc, &e);
			reconnect(cc, sc, &e, &ci, &si);
			cr_expect(ci.resumed && si.resumed, "client no_pfs %d, server no_pfs %d: resumed", cn, sn);
			if (cn && sn) {
				cr_expect_eq(ci.group, 0, "both no_pfs: no group at the client (psk_ke)");
				cr_expect_eq(si.group, 0, "both no_pfs: no group at the server (psk_ke)");
			} else {
				cr_expect_neq(ci.group, 0, "client %d server %d: psk_dhe_ke", cn, sn);
				cr_expect_neq(si.group, 0, "client %d server %d: psk_dhe_ke", cn, sn);
			}
			if (cn && sn) {
				ss_cred *other = cred_pfs(SS_CRED_INBOUND, 2, 1);
				reconnect(cc, other, &e, &ci, &si);
				cr_expect(!ci.resumed && !si.resumed, "another scope: a full handshake");
				cr_expect_neq(si.group, 0, "... with a group");
				ss_cred_free(other);
			}
			sodium_memzero(&e, sizeof e);
			ss_cred_free(cc);
			ss_cred_free(sc);
		}
}

TestSuite(ctx_resume, .init = NULL);

static void __attribute__((constructor)) keys_init(void)
{
	memset(keys.master, 9, sizeof keys.master);
}
