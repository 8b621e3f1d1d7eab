/* test_ctx_cert.c — the certificate method in both directions (core/ss_ctx.c,
 * ss_ctx_cb.c, ss_cred.c; issue 13 "certificate, both directions"): a
 * server with ca-file verifies the client's chain, and with peer_names (an
 * inbound rule's peer-name) the client's name; `mutual` only when both
 * ends proved an identity.  The PKI is made here with the OpenSSL API in a
 * temporary directory: a CA, another CA nobody trusts, and leaf
 * certificates with the names each case needs.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "ss_ctx.h"
#include "ss_cred_int.h"

enum { INBOX_CAP = 1 << 16 };

/* ------------------------------------------------------------ the PKI */

static char dir[64];
static long serial = 1;

typedef struct pki_cert {
	EVP_PKEY *key;
	X509 *x;
	char crt[128], keyf[128];
} pki_cert;

static pki_cert ca, otherca;

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v;
	X509_EXTENSION *e;

	X509V3_set_ctx_nodb(&v);
	X509V3_set_ctx(&v, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v, nid, value);
	cr_assert_not_null(e, "extension %d = %s", nid, value);
	cr_assert(X509_add_ext(x, e, -1));
	X509_EXTENSION_free(e);
}

/* A P-256 certificate with subject CN cn and (when san is not NULL) that
 * subjectAltName, signed by `by` (NULL: self-signed CA); written to
 * dir/name.crt and dir/name.key. */
static void mk_cert(pki_cert *c, const char *name, const char *cn, const char *san, const pki_cert *by)
{
	X509_NAME *nm;
	FILE *f;

	memset(c, 0, sizeof *c);
	c->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	c->x = X509_new();
	cr_assert(c->key && c->x);
	nm = X509_get_subject_name(c->x);
	cr_assert(X509_set_version(c->x, X509_VERSION_3));
	cr_assert(ASN1_INTEGER_set(X509_get_serialNumber(c->x), serial++));
	cr_assert(X509_gmtime_adj(X509_getm_notBefore(c->x), -3600));
	cr_assert(X509_gmtime_adj(X509_getm_notAfter(c->x), 86400));
	cr_assert(X509_set_pubkey(c->x, c->key));
	cr_assert(X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0));
	cr_assert(X509_set_issuer_name(c->x, by ? X509_get_subject_name(by->x) : nm));
	add_ext(c->x, by ? by->x : c->x, NID_basic_constraints, by ? "CA:FALSE" : "critical,CA:TRUE");
	if (!by)
		add_ext(c->x, c->x, NID_key_usage, "critical,keyCertSign,cRLSign");
	if (san)
		add_ext(c->x, by ? by->x : c->x, NID_subject_alt_name, san);
	cr_assert(X509_sign(c->x, by ? by->key : c->key, EVP_sha256()) > 0);
	snprintf(c->crt, sizeof c->crt, "%s/%s.crt", dir, name);
	snprintf(c->keyf, sizeof c->keyf, "%s/%s.key", dir, name);
	f = fopen(c->crt, "w");
	cr_assert(f && PEM_write_X509(f, c->x));
	fclose(f);
	f = fopen(c->keyf, "w");
	cr_assert(f && PEM_write_PrivateKey(f, c->key, NULL, NULL, 0, NULL, NULL));
	fclose(f);
}

static void cert_free(pki_cert *c)
{
	if (c->crt[0])
		unlink(c->crt);
	if (c->keyf[0])
		unlink(c->keyf);
	X509_free(c->x);
	EVP_PKEY_free(c->key);
	memset(c, 0, sizeof *c);
}

static pki_cert srv, cli;

static void pki_init(void)
{
	cr_assert(sodium_init() >= 0);
	snprintf(dir, sizeof dir, "/tmp/secsock-certs.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	mk_cert(&ca, "ca", "secsock test CA", NULL, NULL);
	mk_cert(&otherca, "otherca", "another CA", NULL, NULL);
	mk_cert(&srv, "srv", "srv.test", "DNS:srv.test", &ca);
	mk_cert(&cli, "cli", "cli.test", "DNS:cli.test, IP:127.0.0.1", &ca);
}

static void pki_fini(void)
{
	cert_free(&cli);
	cert_free(&srv);
	cert_free(&otherca);
	cert_free(&ca);
	rmdir(dir);
}

/* ------------------------------------------------------------ credentials */

typedef struct end_opts {
	ss_peer_mode mode;
	ss_auth m0, m1;           /* methods (m1 may be NONE) */
	const pki_cert *own;      /* our chain, NULL for none */
	const pki_cert *trust;    /* ca_file, NULL for none */
	const char *names;        /* server: peer_names */
} end_opts;

static ss_cred *mk(unsigned use, const end_opts *o)
{
	ss_cred_params p = { 0 };
	ss_cred *c = NULL;
	ss_status st;

	p.use = use;
	p.mode = o->mode;
	p.methods[0] = o->m0 ? o->m0 : SS_AUTH_CERTIFICATE;
	p.methods[1] = o->m1;
	p.cert_file = o->own ? o->own->crt : NULL;
	p.key_file = o->own ? o->own->keyf : NULL;
	p.ca_file = o->trust ? o->trust->crt : NULL;
	p.peer_names = o->names;
	st = ss_cred_acquire(&p, &c);
	cr_assert_eq(st, SS_OK, "acquire: %s", ss_status_name(st));
	return c;
}

/* ------------------------------------------------------------ the pump
 * What one side outputs is the other's input, delivered all at once. */

typedef struct side {
	ss_cred *cred;
	ss_ctx *ctx;
	int server, done;
	ss_status st;
	uint8_t *inbox;
	size_t in_len;
	ss_buf out;
} side;

static void call(side *s, side *peer, const char *target)
{
	size_t used = 0;
	unsigned req = SS_REQ_EXTENDED_ERROR;

	if (s->server)
		s->st = ss_ctx_accept(s->cred, &s->ctx, req, s->inbox, s->in_len, &used, &s->out, NULL, NULL);
	else
		s->st = ss_ctx_initialize(s->cred, &s->ctx, target, req, s->inbox, s->in_len, &used, &s->out,
		                          NULL, NULL);
	memmove(s->inbox, s->inbox + used, s->in_len - used);
	s->in_len -= used;
	if (s->st != SS_CONTINUE_NEEDED && s->st != SS_INCOMPLETE_MESSAGE)
		s->done = 1;
	cr_assert(peer->in_len + s->out.len <= INBOX_CAP);
	if (s->out.len)
		memcpy(peer->inbox + peer->in_len, s->out.data, s->out.len);
	peer->in_len += s->out.len;
}

typedef struct result {
	ss_status cst, sst;
	ss_ctx_info ci, si;   /* zero unless that side reached SS_OK */
} result;

static result run(const end_opts *co, const end_opts *so)
{
	side c = { .cred = mk(SS_CRED_OUTBOUND, co) }, s = { .cred = mk(SS_CRED_INBOUND, so), .server = 1 };
	result r;

	memset(&r, 0, sizeof r);
	c.inbox = malloc(INBOX_CAP);
	s.inbox = malloc(INBOX_CAP);
	cr_assert(c.inbox && s.inbox);
	call(&c, &s, "srv.test");
	for (int round = 0; round < 100 && !(c.done && s.done); round++) {
		int moved = 0;
		if (!s.done && s.in_len) {
			call(&s, &c, NULL);
			moved = 1;
		}
		if (!c.done && c.in_len) {
			call(&c, &s, "srv.test");
			moved = 1;
		}
		if (!moved)
			break;
	}
	r.cst = c.st;
	r.sst = s.st;
	if (c.st == SS_OK)
		cr_assert_eq(ss_ctx_query(c.ctx, &r.ci), SS_OK);
	if (s.st == SS_OK)
		cr_assert_eq(ss_ctx_query(s.ctx, &r.si), SS_OK);
	ss_ctx_free(c.ctx);
	ss_ctx_free(s.ctx);
	ss_cred_free(c.cred);
	ss_cred_free(s.cred);
	ss_buf_free(&c.out);
	ss_buf_free(&s.out);
	free(c.inbox);
	free(s.inbox);
	return r;
}

#define STATUS_EQ(got, want) cr_expect_eq(got, want, "%s, want %s", ss_status_name(got), ss_status_name(want))

/* ------------------------------------------------------------ verified */

TestSuite(cert, .init = pki_init, .fini = pki_fini);

/* Both ends prove a chain from the CA: each reports the other's name, and
 * both are mutual; in both modes. */
Test(cert, client_cert_verified)
{
	for (int mode = SS_MODE_SECSOCK; mode <= SS_MODE_STANDARD_TLS; mode++) {
		end_opts co = { .mode = mode, .own = &cli, .trust = &ca };
		end_opts so = { .mode = mode, .own = &srv, .trust = &ca };
		result r = run(&co, &so);
		STATUS_EQ(r.cst, SS_OK);
		STATUS_EQ(r.sst, SS_OK);
		cr_expect_eq(r.si.auth, SS_AUTH_CERTIFICATE, "mode %d", mode);
		cr_expect_str_eq(r.si.peer, "cli.test");
		cr_expect_eq(r.ci.auth, SS_AUTH_CERTIFICATE);
		cr_expect_str_eq(r.ci.peer, "srv.test");
		cr_expect(r.si.mutual && (r.si.attrs & SS_REQ_MUTUAL_AUTH), "server: both ends proved a chain");
		cr_expect(r.ci.mutual && (r.ci.attrs & SS_REQ_MUTUAL_AUTH), "client: asked, and sent its chain");
	}
}

/* A standard-tls server without ca-file asks no client certificate
 * (ordinary TLS clients): the client is anonymous, and neither end is
 * mutual (the client was never asked, even though it has a chain). */
Test(cert, no_ca_no_mutual)
{
	end_opts co = { .mode = SS_MODE_STANDARD_TLS, .own = &cli, .trust = &ca };
	end_opts so = { .mode = SS_MODE_STANDARD_TLS, .own = &srv };
	result r = run(&co, &so);
	STATUS_EQ(r.sst, SS_OK);
	STATUS_EQ(r.cst, SS_OK);
	cr_expect_eq(r.si.auth, SS_AUTH_ANONYMOUS);
	cr_expect_not(r.si.mutual);
	cr_expect_eq(r.ci.auth, SS_AUTH_CERTIFICATE);
	cr_expect_not(r.ci.mutual, "the server never asked for the client's certificate");
	cr_expect_not(r.ci.attrs & SS_REQ_MUTUAL_AUTH);
}

/* ------------------------------------------------------------ refused */

/* No client certificate at a server that requires one: SS_NO_CREDENTIALS
 * (the client has finished its side already: TLS 1.3 clients learn it from
 * the alert on their first read). */
Test(cert, client_cert_missing)
{
	for (int mode = SS_MODE_SECSOCK; mode <= SS_MODE_STANDARD_TLS; mode++) {
		end_opts co = { .mode = mode, .trust = &ca };
		end_opts so = { .mode = mode, .own = &srv, .trust = &ca };
		result r = run(&co, &so);
		STATUS_EQ(r.sst, SS_NO_CREDENTIALS);
		cr_expect_neq(r.si.auth, SS_AUTH_CERTIFICATE);
	}
}

/* A client chain from a CA the server does not trust. */
Test(cert, client_cert_wrong_ca)
{
	pki_cert evil;
	mk_cert(&evil, "evilcli", "cli.test", "DNS:cli.test", &otherca);
	for (int mode = SS_MODE_SECSOCK; mode <= SS_MODE_STANDARD_TLS; mode++) {
		end_opts co = { .mode = mode, .own = &evil, .trust = &ca };
		end_opts so = { .mode = mode, .own = &srv, .trust = &ca, .names = "cli.test" };
		result r = run(&co, &so);
		STATUS_EQ(r.sst, SS_NO_AUTHENTICATING_AUTHORITY);
		/* also when anonymous is listed: with a name required the chain must verify */
		so.m1 = SS_AUTH_ANONYMOUS;
		r = run(&co, &so);
		STATUS_EQ(r.sst, SS_NO_AUTHENTICATING_AUTHORITY);
	}
	cert_free(&evil);
}

/* A verified chain with a name the server's list does not hold. */
Test(cert, client_cert_wrong_name)
{
	for (int mode = SS_MODE_SECSOCK; mode <= SS_MODE_STANDARD_TLS; mode++) {
		end_opts co = { .mode = mode, .own = &cli, .trust = &ca };
		end_opts so = { .mode = mode, .own = &srv, .trust = &ca, .names = "db.test, *.cli.test" };
		result r = run(&co, &so);
		STATUS_EQ(r.sst, SS_WRONG_PRINCIPAL);
		so.names = "db.test, CLI.Test";   /* case-insensitive */
		r = run(&co, &so);
		STATUS_EQ(r.sst, SS_OK);
		cr_expect_str_eq(r.si.peer, "cli.test");
	}
}

/* A name required and a client that proves none: refused even where
 * anonymous is listed too (issue 13 "Names are enforced"). */
Test(cert, names_refuse_anonymous)
{
	end_opts co = { .mode = SS_MODE_SECSOCK, .m0 = SS_AUTH_ANONYMOUS };
	end_opts so = { .mode = SS_MODE_SECSOCK, .m1 = SS_AUTH_ANONYMOUS, .own = &srv, .trust = &ca,
	                .names = "cli.test" };
	result r = run(&co, &so);
	STATUS_EQ(r.sst, SS_NO_CREDENTIALS);
	so.names = NULL;   /* without names, anonymous is what the rule allows */
	r = run(&co, &so);
	STATUS_EQ(r.sst, SS_OK);
	cr_expect_eq(r.si.auth, SS_AUTH_ANONYMOUS);
	cr_expect_not(r.ci.mutual);
}

/* Names with nothing to prove them against: refused when acquiring. */
Test(cert, names_need_ca)
{
	ss_cred_params p = { 0 };
	ss_cred *c = NULL;

	p.use = SS_CRED_INBOUND;
	p.mode = SS_MODE_STANDARD_TLS;
	p.methods[0] = SS_AUTH_CERTIFICATE;
	p.cert_file = srv.crt;
	p.key_file = srv.keyf;
	p.peer_names = "cli.test";
	cr_expect_eq(ss_cred_acquire(&p, &c), SS_NO_AUTHENTICATING_AUTHORITY);
	cr_expect_null(c);
	p.mode = SS_MODE_SECSOCK;
	p.methods[0] = SS_AUTH_ANONYMOUS;
	cr_expect_eq(ss_cred_acquire(&p, &c), SS_NO_AUTHENTICATING_AUTHORITY);
	cr_expect_null(c);
}

/* ------------------------------------------------------------ the matcher */

/* '*' as a whole label matches one label; SAN DNS and IP entries first, the
 * CN only when there is no SAN DNS entry; a certificate's own wildcard is
 * matched literally. */
Test(cert, glob)
{
	static const struct { const char *cn, *san, *list; int want; } cases[] = {
		{ "x", "DNS:a.build.test", "*.build.test", 1 },
		{ "x", "DNS:A.Build.Test", "*.build.TEST", 1 },
		{ "x", "DNS:x.a.build.test", "*.build.test", 0 },   /* one label only */
		{ "x", "DNS:build.test", "*.build.test", 0 },
		{ "x", "DNS:a.build.test", "a.*.test", 1 },
		{ "x", "DNS:a.build.test", "*.*.*", 1 },
		{ "x", "DNS:a.build.test", "*", 0 },
		{ "x", "DNS:a.build.test", "db.test,  a.build.test", 1 },
		{ "x", "DNS:a.build.test.", "a.build.test", 1 },      /* absolute name */
		{ "x", "DNS:ab.test", "a.test", 0 },
		{ "x", "DNS:*.test", "a.test", 0 },                  /* the cert's wildcard is literal */
		{ "x", "DNS:*.test", "*.test", 1 },
		{ "x", "IP:127.0.0.1", "127.0.0.1", 1 },
		{ "x", "IP:127.0.0.1", "127.0.0.2", 0 },
		{ "x", "DNS:127.0.0.1", "127.0.0.1", 0 },            /* an IP is matched by IP entries */
		{ "x", "IP:::1", "::1", 1 },
		{ "x", "IP:::1", "0:0::1", 1 },
		{ "only-cn.test", NULL, "only-cn.test", 1 },          /* no SAN: the CN */
		{ "only-cn.test", NULL, "*.test", 1 },
		{ "cn.test", "IP:10.0.0.1", "cn.test", 1 },           /* IP SANs only: the CN still counts */
		{ "cn.test", "DNS:san.test", "cn.test", 0 },          /* SAN DNS present: the CN does not */
		{ "cn.test", "DNS:san.test", "san.test", 1 },
		{ "x", "DNS:a.test, DNS:b.test", "b.test", 1 },
		{ "x", "email:a@b.test", "b.test", 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		pki_cert c;
		mk_cert(&c, "glob", cases[i].cn, cases[i].san, &ca);
		cr_expect_eq(ss_cert_names_match_(c.x, cases[i].list), cases[i].want,
		             "case %zu: CN=%s SAN=%s against '%s'", i, cases[i].cn,
		             cases[i].san ? cases[i].san : "-", cases[i].list);
		cert_free(&c);
	}
}

/* The same globs through a handshake: a client named a.build.test gets in
 * under "*.build.test", one named x.a.build.test does not. */
Test(cert, glob_handshake)
{
	pki_cert a, deep;
	mk_cert(&a, "a", "a.build.test", "DNS:a.build.test", &ca);
	mk_cert(&deep, "deep", "x.a.build.test", "DNS:x.a.build.test", &ca);
	end_opts co = { .mode = SS_MODE_SECSOCK, .own = &a, .trust = &ca };
	end_opts so = { .mode = SS_MODE_SECSOCK, .own = &srv, .trust = &ca, .names = "*.build.test" };
	result r = run(&co, &so);
	STATUS_EQ(r.sst, SS_OK);
	cr_expect_str_eq(r.si.peer, "a.build.test");
	cr_expect(r.si.mutual);
	co.own = &deep;
	r = run(&co, &so);
	STATUS_EQ(r.sst, SS_WRONG_PRINCIPAL);
	cert_free(&a);
	cert_free(&deep);
}
