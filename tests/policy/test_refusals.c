/* test_refusals.c — every refusal: one message "FILE:LINE: problem", NULL policy. */
#include <criterion/criterion.h>
#include <stdio.h>
#include "helpers.h"

struct refusal {
	const char *text;
	int line;             /* line named in the first message */
	const char *words;    /* must appear in it */
};

#define R "[rule r]\naction = request\n"   /* lines 1-2 */
static const struct refusal refusals[] = {
	/* syntax and structure */
	{ "[defaults\n", 1, "section header without ']'" },
	{ "[defaults]\nthis is not a key value\n", 2, "syntax error" },
	{ "[defaults]\n= 5\n", 2, "syntax error" },
	{ "[defaults]\nauth: psk\n", 2, "syntax error" },
	{ "auth = anonymous\n[defaults]\n", 1, "outside a section" },
	{ "[default]\n", 1, "unknown section [default]" },
	{ "[rules x]\n", 1, "unknown section" },
	{ "[rule]\n", 1, "unknown section" },
	{ "[rule bad/name]\naction = block\n", 1, "bad rule name" },
	{ "[rule defaults]\naction = block\n", 1, "may not be named 'defaults'" },
	{ "[defaults]\n[defaults]\n", 2, "duplicate [defaults]" },
	{ R "port = 1\n[rule r]\naction = block\n", 4, "duplicate rule name 'r' (first on line 1)" },
	{ "[defaults]\ncolour = blue\n", 2, "unknown key 'colour'" },
	{ "[defaults]\nserver-first-wait = 1s\nserver-first-wait = 2s\n", 3, "duplicate key 'server-first-wait' (first on line 2)" },
	{ R "port = 1\nport = 2\n", 4, "duplicate key 'port'" },
	{ "[defaults]\nport = 22\n", 2, "'port' is a match key" },
	{ "[defaults]\nremote = 10.0.0.0/8\n", 2, "match key" },
	{ "[defaults]\nprogram = ssh\n", 2, "match key" },
	{ "[defaults]\ndirection = inbound\n", 2, "match key" },
	{ "[defaults]\nprotocol = udp\n", 2, "match key" },
	{ "[rule r]\nport = 22\n", 1, "rule 'r' has no action" },
	{ "[rule r]\n", 1, "has no action" },
	{ "[rule u]\nprotocol = udp\naction = request\n", 3, "udp rules may only bypass (datagrams are not governed yet" },
	{ "[rule u]\nprotocol = udp\naction = block\n", 3, "udp rules may only bypass" },
	{ "[rule u]\nprotocol = udp\naction = require\n", 3, "udp rules" },
	{ "[rule u]\nprotocol = udp\naction = respond\n", 3, "udp rules" },
	{ "[defaults]\nauth = x\n\x01\n", 2, "bad value" },
	{ "[defaults]\n\x01x = y\n", 2, "control character" },
	/* bad values, per key type */
	{ "[defaults]\naction = allow\n", 2, "bad value for 'action': 'allow'" },
	{ "[defaults]\nauth = kerberos\n", 2, "bad value for 'auth'" },
	{ "[defaults]\nauth = psk, psk\n", 2, "bad value for 'auth'" },
	{ "[defaults]\nauth = group:\n", 2, "bad value for 'auth'" },
	{ "[defaults]\nauth = group:a b\n", 2, "bad value for 'auth'" },
	{ "[defaults]\nauth = anonymous,,psk\n", 2, "bad value for 'auth'" },
	{ "[defaults]\nauth = anonymous, host-key, psk, certificate, group:a, group:b, group:c\n", 2, "bad value for 'auth'" },
	{ "[defaults]\nauth =\n", 2, "bad value for 'auth'" },
	{ "[defaults]\nciphers = rc4\n", 2, "bad value for 'ciphers'" },
	{ "[defaults]\nciphers = aes-128-gcm, aes-128-gcm\n", 2, "bad value for 'ciphers'" },
	{ "[defaults]\ngroups = ffdhe2048\n", 2, "bad value for 'groups'" },
	{ "[defaults]\ngroups = p-256, secp256r1\n", 2, "bad value for 'groups'" },
	{ "[defaults]\nsession-lifetime = 2\n", 2, "bad value for 'session-lifetime'" },
	{ "[defaults]\nsession-lifetime = 2 h\n", 2, "bad value for 'session-lifetime'" },
	{ "[defaults]\nidle-timeout = 5M\n", 2, "bad value for 'idle-timeout'" },
	{ "[defaults]\nidle-timeout = -5m\n", 2, "bad value for 'idle-timeout'" },
	{ "[defaults]\nallow-clear-after = soon\n", 2, "bad value for 'allow-clear-after'" },
	{ "[defaults]\nserver-first-wait = 1.5s\n", 2, "bad value for 'server-first-wait'" },
	{ "[defaults]\nhandshake-timeout = 0\n", 2, "bad value for 'handshake-timeout'" },
	{ "[defaults]\ndiscovery-clear-ttl = 25h\n", 2, "bad value for 'discovery-clear-ttl'" },
	{ "[defaults]\ndiscovery-clear-ttl = 10\n", 2, "bad value for 'discovery-clear-ttl'" },
	{ "[defaults]\ndiscovery-unproven-ttl = 301s\n", 2, "bad value for 'discovery-unproven-ttl'" },
	{ "[defaults]\ndiscovery-unproven-ttl = 1h\n", 2, "bad value for 'discovery-unproven-ttl'" },
	{ "[defaults]\nrekey-after = 1h, 2h\n", 2, "bad value for 'rekey-after'" },
	{ "[defaults]\nrekey-after = 55G, 1G\n", 2, "bad value for 'rekey-after'" },
	{ "[defaults]\nrekey-after = 1000\n", 2, "bad value for 'rekey-after'" },
	{ "[defaults]\nrekey-after = 1h, 55G, 2d\n", 2, "bad value for 'rekey-after'" },
	{ "[defaults]\npeer = tls\n", 2, "bad value for 'peer'" },
	{ "[defaults]\npeer-name = a b\n", 2, "bad value for 'peer-name'" },
	{ "[defaults]\npeer-name = a,,b\n", 2, "bad value for 'peer-name'" },
	{ "[defaults]\npeer-name = a,\n", 2, "bad value for 'peer-name'" },
	{ "[defaults]\npeer-name = build-*.test\n", 2, "bad value for 'peer-name'" },
	{ "[defaults]\npeer-name = a..test\n", 2, "bad value for 'peer-name'" },
	{ "[defaults]\npeer-name = .test\n", 2, "bad value for 'peer-name'" },
	{ "[defaults]\npeer-name = a/b\n", 2, "bad value for 'peer-name'" },
	{ "[defaults]\npeer-name = ::1::2\n", 2, "bad value for 'peer-name'" },
	{ "[defaults]\npeer-name = a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q\n", 2, "bad value for 'peer-name'" },
	{ "[defaults]\npfs = true\n", 2, "bad value for 'pfs'" },
	/* built-in value only until their run-time side exists (issue 14) */
	{ "[defaults]\npsk-file = relative.psk\n", 2, "bad value for 'psk-file'" },
	{ "[defaults]\ncert-file = c.pem\n", 2, "bad value for 'cert-file'" },
	{ "[defaults]\nkey-file = k\n", 2, "bad value for 'key-file'" },
	{ "[defaults]\nca-file = ca\n", 2, "bad value for 'ca-file'" },
	{ "[defaults]\nhost-key-file = host.key\n", 2, "bad value for 'host-key-file'" },
	{ "[defaults]\nknown-peers-file = known\n", 2, "bad value for 'known-peers-file'" },
	{ "[defaults]\nknown-peers = yes\n", 2, "bad value for 'known-peers'" },
	{ "[defaults]\nauth = group:db\n", 1, "needs a key source: group-kds (a key distribution service) or group-root-key-file" },
	{ "[defaults]\ngroup-sd = abc\n", 2, "bad value for 'group-sd'" },
	{ R "protocol = sctp\n", 3, "bad value for 'protocol'" },
	{ R "direction = both\n", 3, "bad value for 'direction'" },
	{ R "remote = 10.0.0.0/33\n", 3, "bad value for 'remote'" },
	{ R "remote = 10.0.0.1/8\n", 3, "bits set beyond the prefix" },
	{ R "remote = 2001:db8::1/32\n", 3, "bits set beyond the prefix" },
	{ R "remote = 2001:db8::/129\n", 3, "bad value for 'remote'" },
	{ R "remote = example.com\n", 3, "bad value for 'remote'" },
	{ R "remote = 10.0.0.0/\n", 3, "bad value for 'remote'" },
	{ R "remote = 10.0.0.0/8, \n", 3, "bad value for 'remote'" },
	{ R "port = 0\n", 3, "bad value for 'port'" },
	{ R "port = 65536\n", 3, "bad value for 'port'" },
	{ R "port = 2000-1000\n", 3, "bad value for 'port'" },
	{ R "port = 1000-\n", 3, "bad value for 'port'" },
	{ R "port = http\n", 3, "bad value for 'port'" },
	{ R "port = 22 80\n", 3, "bad value for 'port'" },
	{ R "program = ssh,\n", 3, "bad value for 'program'" },
	/* settings that cannot work together */
	{ "[defaults]\nauth = psk\n", 1, "auth 'psk' needs psk-file" },
	{ "[defaults]\ncert-file = /c.pem\n", 1, "cert-file and key-file go together" },
	{ "[defaults]\nauth = certificate\n", 1, "auth 'certificate' needs" },
	{ "[rule tls]\naction = respond\npeer = standard-tls\n", 1, "peer = standard-tls needs auth = certificate" },
	/* a method that would accept everyone (issue 10 finding 7): certificate
	 * with no trust anchor, in every direction that checks the peer */
#define KP "cert-file = /c.pem\nkey-file = /k.pem\n"
	{ "[defaults]\nauth = certificate\n" KP, 1, "auth 'certificate' needs ca-file" },
	{ "[defaults]\nauth = certificate, anonymous\n" KP, 1, "auth 'certificate' needs ca-file" },
	{ "[defaults]\npeer = standard-tls\nauth = certificate\n" KP, 1, "auth 'certificate' needs ca-file" },
	{ "[rule out]\ndirection = outbound\naction = require\npeer = standard-tls\nauth = certificate\n" KP, 1,
	  "auth 'certificate' needs ca-file" },
	{ "[rule any]\naction = request\npeer = standard-tls\nauth = certificate\n" KP, 1,
	  "auth 'certificate' needs ca-file" },
	{ "[rule out]\ndirection = outbound\naction = require\nauth = certificate\npeer-name = db\n", 1,
	  "auth 'certificate' needs ca-file" },
	{ "[rule in]\ndirection = inbound\naction = require\nauth = certificate\n" KP, 1,
	  "auth 'certificate' needs ca-file" },   /* a secsock server requiring client certificates */
	{ "[rule in]\ndirection = inbound\naction = require\nauth = psk, certificate\npsk-file = /p\n" KP, 1,
	  "auth 'certificate' needs ca-file" },
	{ "[rule in]\ndirection = inbound\naction = require\nauth = certificate\nca-file = /ca.pem\n", 1,
	  "needs cert-file/key-file" },
	{ "[rule in]\ndirection = inbound\naction = require\npeer = standard-tls\nauth = certificate\n", 1,
	  "needs cert-file/key-file" },
	{ "[rule tls]\naction = require\npeer = standard-tls\nauth = certificate, psk\nca-file = /ca\npsk-file = /p\n", 1,
	  "peer = standard-tls allows only auth certificate and anonymous" },
	{ "[defaults]\nfirst-contact-wait = 10s\n", 1, "first-contact-wait must be shorter than handshake-timeout" },
	{ "[rule r]\naction = request\nhandshake-timeout = 2s\nfirst-contact-wait = 3s\n", 1,
	  "first-contact-wait must be shorter than handshake-timeout" },
	/* a name asked for only a certificate can prove (issue 13 "Names are enforced") */
	{ "[rule out]\ndirection = outbound\naction = require\nauth = anonymous\npeer-name = db\n", 1,
	  "peer-name needs auth = certificate or host-key" },
	{ "[rule out]\ndirection = outbound\naction = require\nauth = psk\npsk-file = /p\npeer-name = db\n", 1,
	  "peer-name needs auth = certificate or host-key" },
	{ "[defaults]\npeer-name = db\n", 1, "peer-name needs auth = certificate or host-key" },
	/* host-key proves a server's name (known-peers names=), never a client's */
	{ "[defaults]\nauth = host-key\npeer-name = db\n", 1,
	  "peer-name on inbound connections (allowed client names) needs auth = certificate" },
	/* inbound peer-name: allowed client names (issue 13 "certificate, both
	 * directions"); proven by a certificate against ca-file only */
	{ "[rule in]\ndirection = inbound\naction = require\nauth = anonymous\npeer-name = client\n", 1,
	  "needs auth = certificate" },
	{ "[rule in]\ndirection = inbound\naction = require\nauth = psk\npsk-file = /p\npeer-name = a, b\n", 1,
	  "needs auth = certificate" },
	{ "[rule in]\ndirection = inbound\naction = require\nauth = host-key\npeer-name = a\n", 1,
	  "peer-name on inbound connections (allowed client names) needs auth = certificate" },
	{ "[rule in]\ndirection = inbound\naction = require\npeer = standard-tls\nauth = certificate\n"
	  "cert-file = /c.pem\nkey-file = /k.pem\npeer-name = client\n", 1,
	  "peer-name on inbound connections (allowed client names) needs ca-file" },
	/* a list or a glob names clients; an outbound connection reaches one server */
	{ "[rule out]\ndirection = outbound\naction = require\nauth = certificate\nca-file = /ca.pem\n"
	  "peer-name = a.test, b.test\n", 1, "is for inbound rules only" },
	{ "[rule out]\ndirection = outbound\naction = require\nauth = certificate\nca-file = /ca.pem\n"
	  "peer-name = *.test\n", 1, "is for inbound rules only" },
	{ "[rule any]\naction = require\nauth = certificate\nca-file = /ca.pem\n" KP
	  "peer-name = a.test, b.test\n", 1, "is for inbound rules only" },
	{ "[defaults]\nauth = certificate\nca-file = /ca.pem\n" KP "peer-name = *.test\n", 1,
	  "is for inbound rules only" },
#undef KP
};

/* The trust-less check refuses only what verifies nothing: these load. */
Test(refusals, certificate_with_trust_anchor_loads)
{
	static const char *const ok[] = {
		"[defaults]\nauth = certificate\nca-file = /ca.pem\n",
		"[defaults]\nauth = certificate\nca-file = /ca.pem\ncert-file = /c.pem\nkey-file = /k.pem\n",
		"[rule out]\ndirection = outbound\naction = require\npeer = standard-tls\nauth = certificate\n"
		"ca-file = /ca.pem\npeer-name = db\n",
		/* ordinary TLS clients in front of a plain server: the server proves itself */
		"[rule in]\ndirection = inbound\naction = require\npeer = standard-tls\nauth = certificate\n"
		"cert-file = /c.pem\nkey-file = /k.pem\n",
		"[rule in]\ndirection = inbound\naction = require\nauth = psk\npsk-file = /p\n"
		"cert-file = /c.pem\nkey-file = /k.pem\n",
		/* inbound peer-name: allowed client names, a list with globs */
		"[rule in]\ndirection = inbound\naction = require\nauth = certificate\nca-file = /ca.pem\n"
		"cert-file = /c.pem\nkey-file = /k.pem\npeer-name = client.test, *.build.test, 127.0.0.1, ::1\n",
		"[rule in]\ndirection = inbound\naction = require\npeer = standard-tls\nauth = certificate\n"
		"ca-file = /ca.pem\ncert-file = /c.pem\nkey-file = /k.pem\npeer-name = *.test\n",
		/* one name, any direction: the server's outbound, the one client name inbound */
		"[defaults]\nauth = certificate\nca-file = /ca.pem\ncert-file = /c.pem\nkey-file = /k.pem\n"
		"peer-name = db.test\n",
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		pol_diags d;
		pol_policy *p = pol_load_string(ok[i], "t", &d);
		cr_expect_not_null(p, "case %zu: %s", i, d.count ? d.items[0].msg : "");
		pol_free(p);
	}
}

Test(refusals, table)
{
	for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
		const struct refusal *rf = &refusals[i];
		pol_diags d;
		pol_policy *p = pol_load_string(rf->text, "t.conf", &d);
		cr_expect_null(p, "case %zu must be refused: %s", i, rf->text);
		pol_free(p);
		cr_assert_geq(d.errors, 1, "case %zu: no error", i);
		char prefix[32];
		snprintf(prefix, sizeof prefix, "t.conf:%d: ", rf->line);
		const char *m = d.items[0].msg;
		cr_expect(!d.items[0].warning, "case %zu: first message is a warning", i);
		cr_expect(strncmp(m, prefix, strlen(prefix)) == 0, "case %zu: '%s' should start '%s'", i, m, prefix);
		cr_expect(strstr(m, rf->words) != NULL, "case %zu: '%s' should say '%s'", i, m, rf->words);
	}
}

/* One message per problem: two bad lines → two errors, each with its line. */
Test(refusals, every_problem_reported)
{
	pol_diags d;
	pol_policy *p = pol_load_string("[defaults]\nidle-timeout = x\nfoo = 1\n[rule a]\nport = 0\naction = block\n",
	                                "f", &d);
	cr_assert_null(p);
	cr_assert_eq(d.errors, 3);
	cr_expect(strstr(d.items[0].msg, "f:2:") == d.items[0].msg);
	cr_expect(strstr(d.items[1].msg, "f:3:") == d.items[1].msg);
	cr_expect(strstr(d.items[2].msg, "f:5:") == d.items[2].msg);
}

Test(refusals, line_too_long)
{
	char text[600];
	snprintf(text, sizeof text, "[defaults]\npeer-name = %0250d\n", 7);
	pol_diags d;
	cr_assert_null(pol_load_string(text, "t", &d));
	cr_expect(strstr(d.items[0].msg, "t:2: line too long") != NULL, "%s", d.items[0].msg);
	/* a long comment is fine: it is stripped before the length check */
	snprintf(text, sizeof text, "[defaults]\nserver-first-wait = 1s   # %0300d\n", 7);
	pol_policy *p = pol_load_string(text, "t", &d);
	cr_expect_not_null(p);
	pol_free(p);
}

/* Indented lines are ordinary lines, never continuations (inih's default
 * multi-line mode would make "  port = 22" part of the value above). */
Test(refusals, indentation_is_not_continuation)
{
	pol_diags d;
	pol_policy *p = pol_load_string("[rule s]\n  action = bypass\n  port = 22\n", "t", &d);
	cr_assert_not_null(p, "%s", d.count ? d.items[0].msg : "");
	cr_expect_str_eq(q_rule(p, POL_DIR_OUTBOUND, "192.0.2.1", 22, NULL), "s");
	cr_expect_str_eq(q_rule(p, POL_DIR_OUTBOUND, "192.0.2.1", 23, NULL), "defaults");
	pol_free(p);
}

Test(refusals, diag_overflow_counts)
{
	char text[8192] = "[defaults]\n";
	for (int i = 0; i < 100; i++)
		strcat(text, "x = 1\n");
	pol_diags d;
	cr_assert_null(pol_load_string(text, "t", &d));
	cr_expect_eq(d.errors, 100);
	cr_expect_eq(d.count, 64);
}

Test(refusals, null_text)
{
	pol_diags d;
	cr_expect_null(pol_load_string(NULL, "t", &d));
	cr_expect_eq(d.errors, 1);
	cr_expect_null(pol_load_string("[nope]\n", NULL, NULL), "NULL diags allowed");
}

/* Warnings do not fail a load. */
Test(refusals, warnings_do_not_fail)
{
	pol_diags d;
	pol_policy *p = pol_load_string("[rule all]\naction = request\n"
	                                "[rule web]\nport = 80\naction = bypass\n"
	                                "[rule ssh]\nport = 22\naction = bypass\nciphers = aes-256-gcm\n",
	                                "t", &d);
	cr_assert_not_null(p);
	cr_expect_eq(d.errors, 0);
	cr_expect_eq(d.warnings, 3);   /* web shadowed, ssh shadowed, ciphers on bypass */
	cr_expect(strstr(d.items[0].msg, "t:3: rule 'web' never matches: rule 'all' (line 1)") != NULL,
	          "%s", d.items[0].msg);
	cr_expect(d.items[0].warning);
	cr_expect(strstr(d.items[2].msg, "t:9: rule 'ssh': 'ciphers' has no effect with action bypass") != NULL,
	          "%s", d.items[2].msg);
	pol_free(p);
}
