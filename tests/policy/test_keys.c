/* test_keys.c — every key, good and bad values (table-driven). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "helpers.h"
#include "pol_internal.h"
#include "ss_cred.h"
#include "ss_rec.h"

/* Load "[defaults]\n<line>\n" and return the defaults' effective settings. */
static pol_policy *load_defaults_line(const char *line, pol_diags *d)
{
	char text[512];
	snprintf(text, sizeof text, "[defaults]\n%s\n", line);
	return pol_load_string(text, "t", d);
}

static const pol_settings *defaults_of(const pol_policy *p)
{
	pol_query q = q_make(POL_DIR_OUTBOUND, "192.0.2.1", 1234, NULL);
	pol_decision dec;
	pol_decide(p, &q, &dec);
	cr_assert_str_eq(dec.rule_name, "defaults");
	return dec.settings;
}

#define OFF(f) offsetof(pol_settings, f)
struct num_case {
	const char *line;
	size_t off;
	uint64_t want;
};
static const struct num_case num_cases[] = {
	{ "session-lifetime = 2h", OFF(session_lifetime_ms), 7200000 },
	{ "idle-timeout = 5m", OFF(idle_timeout_ms), 300000 },
	{ "idle-timeout = 0", OFF(idle_timeout_ms), 0 },
	{ "session-lifetime = 1d", OFF(session_lifetime_ms), 86400000 },
	{ "session-lifetime = 0", OFF(session_lifetime_ms), 0 },
	{ "allow-clear-after = 10s", OFF(allow_clear_after_ms), 10000 },
	{ "allow-clear-after = 1500ms", OFF(allow_clear_after_ms), 1500 },
	{ "server-first-wait = 300ms", OFF(server_first_wait_ms), 300 },
	{ "handshake-timeout = 7s", OFF(handshake_timeout_ms), 7000 },
	{ "discovery-clear-ttl = 1d", OFF(discovery_clear_ttl_ms), 86400000 },
	{ "discovery-clear-ttl = 0", OFF(discovery_clear_ttl_ms), 0 },
	{ "discovery-unproven-ttl = 5m", OFF(discovery_unproven_ttl_ms), 300000 },
	{ "discovery-unproven-ttl = 30s", OFF(discovery_unproven_ttl_ms), 30000 },
	{ "rekey-after = 1h, 55G", OFF(rekey_after_ms), 3600000 },
	{ "rekey-after = 1h, 55G", OFF(rekey_after_bytes), 55ULL << 30 },
	{ "rekey-after = 512M, 30m", OFF(rekey_after_ms), 1800000 },
	{ "rekey-after = 512M, 30m", OFF(rekey_after_bytes), 512ULL << 20 },
	{ "rekey-after = 2T", OFF(rekey_after_bytes), 2ULL << 40 },
	{ "rekey-after = 2T", OFF(rekey_after_ms), 0 },
	{ "rekey-after = 4K", OFF(rekey_after_bytes), 4096 },
	{ "rekey-after = 10m", OFF(rekey_after_bytes), 0 },
	{ "rekey-after = 10m # comment", OFF(rekey_after_ms), 600000 },
};

Test(keys, numeric_values)
{
	for (size_t i = 0; i < sizeof num_cases / sizeof num_cases[0]; i++) {
		pol_diags d;
		pol_policy *p = load_defaults_line(num_cases[i].line, &d);
		cr_assert_not_null(p, "'%s': %s", num_cases[i].line, d.count ? d.items[0].msg : "");
		uint64_t got;
		memcpy(&got, (const char *)defaults_of(p) + num_cases[i].off, sizeof got);
		cr_expect_eq(got, num_cases[i].want, "'%s': got %llu want %llu", num_cases[i].line,
		             (unsigned long long)got, (unsigned long long)num_cases[i].want);
		pol_free(p);
	}
}

Test(keys, auth_list_in_order)
{
	pol_diags d;
	pol_policy *p = load_defaults_line(
	    "auth = certificate, psk, anonymous\n"
	    "psk-file = /etc/secsock/db.psk\nca-file = /etc/ssl/ca.pem", &d);
	cr_assert_not_null(p, "%s", d.items[0].msg);
	const pol_settings *s = defaults_of(p);
	cr_assert_eq(s->n_auth, 3);
	cr_expect_eq(s->auth[0].method, SS_AUTH_CERTIFICATE);
	cr_expect_eq(s->auth[1].method, SS_AUTH_PSK);
	cr_expect_eq(s->auth[2].method, SS_AUTH_ANONYMOUS);
	cr_expect_str_eq(s->psk_file, "/etc/secsock/db.psk");
	cr_expect_str_eq(s->ca_file, "/etc/ssl/ca.pem");
	pol_free(p);
}

Test(keys, ciphers_and_groups)
{
	pol_diags d;
	pol_policy *p = load_defaults_line(
	    "ciphers = chacha20-poly1305, aes-256-gcm, aes-128-gcm\ngroups = p-384, secp256r1, x25519", &d);
	cr_assert_not_null(p, "%s", d.items[0].msg);
	const pol_settings *s = defaults_of(p);
	cr_assert_eq(s->n_ciphers, 3);
	cr_expect_eq(s->ciphers[0], SS_SUITE_CHACHA20_POLY1305_SHA256);
	cr_expect_eq(s->ciphers[1], SS_SUITE_AES_256_GCM_SHA384);
	cr_expect_eq(s->ciphers[2], SS_SUITE_AES_128_GCM_SHA256);
	cr_assert_eq(s->n_groups, 3);
	cr_expect_eq(s->groups[0], SS_GROUP_P384);
	cr_expect_eq(s->groups[1], SS_GROUP_P256);
	cr_expect_eq(s->groups[2], SS_GROUP_X25519);
	pol_free(p);
}

Test(keys, strings_paths_and_flags)
{
	pol_diags d;
	pol_policy *p = load_defaults_line(
	    "peer = standard-tls\nauth = certificate\npeer-name = db.internal\npfs = yes\n"
	    "cert-file = /c.pem\nkey-file = /k.pem\nca-file = /ca.pem\n"
	    "psk-file = /p.psk", &d);
	cr_assert_not_null(p, "%s", d.count ? d.items[0].msg : "");
	const pol_settings *s = defaults_of(p);
	cr_expect_eq(s->peer, POL_PEER_STANDARD_TLS);
	cr_expect_str_eq(s->peer_name, "db.internal");
	cr_expect_eq(s->pfs, true);
	cr_expect_str_eq(s->cert_file, "/c.pem");
	cr_expect_str_eq(s->key_file, "/k.pem");
	cr_expect_str_eq(s->psk_file, "/p.psk");
	pol_free(p);
}

/* An inbound rule's peer-name: a list of allowed client names (issue 13),
 * kept as "a, b" (what core/ss_cred.h peer_names reads and explain prints),
 * '*' only as a whole label, IP literals too. */
Test(keys, inbound_peer_name_list)
{
	pol_diags d;
	pol_policy *p = pol_load_string(
	    "[rule in]\ndirection = inbound\naction = require\nauth = certificate\nca-file = /ca.pem\n"
	    "cert-file = /c.pem\nkey-file = /k.pem\n"
	    "peer-name = client.test,*.build.test ,  127.0.0.1, ::1\n", "t", &d);
	cr_assert_not_null(p, "%s", d.count ? d.items[0].msg : "");
	pol_query q = q_make(POL_DIR_INBOUND, "192.0.2.1", 1234, NULL);
	pol_decision dec;
	pol_decide(p, &q, &dec);
	cr_assert_str_eq(dec.rule_name, "in");
	cr_expect_str_eq(dec.settings->peer_name, "client.test, *.build.test, 127.0.0.1, ::1");
	char b[300];
	cr_assert(pol_format_setting(dec.settings, "peer-name", b, sizeof b));
	cr_expect_str_eq(b, "client.test, *.build.test, 127.0.0.1, ::1");
	pol_free(p);
}

/* Every action word, in a rule and in [defaults]. */
Test(keys, actions)
{
	static const struct { const char *w; pol_action a; } acts[] = {
		{ "bypass", POL_BYPASS }, { "request", POL_REQUEST }, { "require", POL_REQUIRE },
		{ "block", POL_BLOCK }, { "respond", POL_RESPOND },
	};
	for (size_t i = 0; i < 5; i++) {
		char text[256];
		snprintf(text, sizeof text, "[defaults]\naction = %s\n[rule r]\nport = 80\naction = %s\n",
		         acts[i].w, acts[i].w);
		pol_diags d;
		pol_policy *p = pol_load_string(text, "t", &d);
		cr_assert_not_null(p, "%s", d.count ? d.items[0].msg : "");
		pol_query q = q_make(POL_DIR_OUTBOUND, "192.0.2.1", 80, NULL);
		pol_decision dec;
		pol_decide(p, &q, &dec);
		cr_expect_eq(dec.action, acts[i].a);
		cr_expect_str_eq(dec.rule_name, "r");
		q.port = 81;
		pol_decide(p, &q, &dec);
		cr_expect_eq(dec.action, acts[i].a);
		cr_expect_str_eq(dec.rule_name, "defaults");
		cr_expect_str_eq(pol_action_name(acts[i].a), acts[i].w);
		pol_free(p);
	}
}

/* Rule settings override defaults; defaults override built-in; origins say so. */
Test(keys, merge_and_origin)
{
	pol_diags d;
	pol_policy *p = pol_load_string("[defaults]\nserver-first-wait = 1s\nciphers = aes-256-gcm\n"
	                                "[rule r]\nport = 5432\naction = require\nciphers = chacha20-poly1305\n",
	                                "t", &d);
	cr_assert_not_null(p);
	pol_query q = q_make(POL_DIR_OUTBOUND, "10.1.2.3", 5432, NULL);
	pol_decision dec;
	pol_decide(p, &q, &dec);
	cr_assert_not_null(dec.rule);
	cr_expect_eq(dec.settings->ciphers[0], SS_SUITE_CHACHA20_POLY1305_SHA256);
	cr_expect_eq(dec.settings->n_ciphers, 1);
	cr_expect_eq(dec.settings->server_first_wait_ms, 1000);
	cr_expect_eq(dec.settings->handshake_timeout_ms, 10000);   /* built-in */
	cr_expect_eq(pol_setting_origin(p, dec.rule, "ciphers"), POL_FROM_RULE);
	cr_expect_eq(pol_setting_origin(p, dec.rule, "action"), POL_FROM_RULE);
	cr_expect_eq(pol_setting_origin(p, dec.rule, "server-first-wait"), POL_FROM_DEFAULTS);
	cr_expect_eq(pol_setting_origin(p, dec.rule, "handshake-timeout"), POL_FROM_BUILTIN);
	cr_expect_eq(pol_setting_origin(p, NULL, "ciphers"), POL_FROM_DEFAULTS);
	cr_expect_eq(pol_setting_origin(p, NULL, "action"), POL_FROM_BUILTIN);
	pol_free(p);
}

/* Unit parsers directly: edges and overflow. */
Test(keys, units)
{
	uint64_t v;
	cr_expect(pol_parse_duration("0", &v) && v == 0);
	cr_expect(!pol_parse_duration("10", &v), "a bare number is refused");
	cr_expect(!pol_parse_duration("10S", &v), "units are case-sensitive");
	cr_expect(!pol_parse_duration("-1s", &v));
	cr_expect(!pol_parse_duration("1 s", &v));
	cr_expect(!pol_parse_duration("s", &v));
	cr_expect(!pol_parse_duration("99999999999999999999s", &v), "u64 overflow");
	cr_expect(!pol_parse_duration("20000000d", &v), "beyond the 2^40 ms cap");
	cr_expect(pol_parse_duration("1000d", &v) && v == 86400000000ULL);
	cr_expect(pol_parse_size("1K", &v, true) && v == 1024);
	cr_expect(pol_parse_size("3M", &v, true) && v == 3ULL << 20);
	cr_expect(pol_parse_size("100", &v, false) && v == 100);
	cr_expect(!pol_parse_size("100", &v, true));
	cr_expect(!pol_parse_size("1k", &v, true), "K is upper case");
	cr_expect(!pol_parse_size("1KB", &v, true));
	cr_expect(!pol_parse_size("2000000000T", &v, true), "beyond 1 EiB");
}

Test(keys, names_single_source)
{
	cr_expect_eq(ss_suite_from_name("aes-128-gcm"), SS_SUITE_AES_128_GCM_SHA256);
	cr_expect_eq(ss_suite_from_name("nope"), 0);
	cr_expect_str_eq(ss_suite_name(SS_SUITE_CHACHA20_POLY1305_SHA256), "chacha20-poly1305");
	cr_expect_eq(ss_group_from_name("ecp256"), SS_GROUP_P256);
	cr_expect_eq(ss_group_from_name("secp256r1"), SS_GROUP_P256);
	cr_expect_str_eq(ss_group_name(SS_GROUP_P256), "p-256");
	cr_expect_eq(ss_group_from_name("ffdhe2048"), 0);
	cr_expect_str_eq(ss_auth_name(SS_AUTH_HOST_KEY), "host-key");
	cr_expect_null(ss_suite_name(0x9999));
}

/* host-key is built (issue 13): the method, its files and known-peers are
 * accepted and read back as written. */
Test(keys, host_key_settings_are_accepted)
{
	static const struct { const char *line, *key, *want; } ok[] = {
		{ "auth = host-key", "auth", "host-key" },
		{ "auth = host-key, anonymous", "auth", "host-key, anonymous" },
		{ "host-key-file = /var/lib/secsock/host.key", "host-key-file", "/var/lib/secsock/host.key" },
		{ "known-peers-file = /var/lib/secsock/known", "known-peers-file", "/var/lib/secsock/known" },
		{ "known-peers = strict", "known-peers", "strict" },
		{ "known-peers = tofu", "known-peers", "tofu" },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		pol_diags d;
		pol_policy *p = load_defaults_line(ok[i].line, &d);
		cr_assert_not_null(p, "refused: %s: %s", ok[i].line, d.count ? d.items[0].msg : "");
		char b[300];
		cr_assert(pol_format_setting(defaults_of(p), ok[i].key, b, sizeof b), "%s", ok[i].key);
		cr_expect_str_eq(b, ok[i].want, "%s", ok[i].line);
		pol_free(p);
	}
}

/* group:NAME is built (issue 15, a KDS or standalone): with its key source the
 * method and its keys are accepted and read back as written; one group per
 * rule and never with psk (one external PSK per handshake); without a key
 * source policy check refuses it, naming what is missing. */
Test(keys, group_settings)
{
	static const struct { const char *line, *key, *want; } ok[] = {
		{ "auth = group:db-servers\ngroup-root-key-file = /etc/secsock/db.key", "auth", "group:db-servers" },
		{ "auth = group:db, anonymous\ngroup-root-key-file = /etc/secsock/db.key", "auth", "group:db, anonymous" },
		{ "auth = group:db\ngroup-root-key-file = /etc/secsock/db.key", "group-root-key-file", "/etc/secsock/db.key" },
		{ "group-sd = 0100ABcd", "group-sd", "0100abcd" },
		{ "auth = group:db\ngroup-kds = 10.0.0.5:7465,[fd00::5]:7465\n"
		  "group-kds-identity = SHA256:29mySsipkjqks+QGAno2tZl/7Gmu3PcwDqSbbrjvhvc",
		  "group-kds", "10.0.0.5:7465, [fd00::5]:7465" },
		{ "group-kds-identity = SHA256:29mySsipkjqks+QGAno2tZl/7Gmu3PcwDqSbbrjvhvc",
		  "group-kds-identity", "SHA256:29mySsipkjqks+QGAno2tZl/7Gmu3PcwDqSbbrjvhvc" },
	};
	static const struct { const char *line, *msg; } bad[] = {
		{ "auth = group:db", "needs a key source: group-kds (a key distribution service) or group-root-key-file" },
		{ "auth = group:db\ngroup-kds = 10.0.0.5:7465", "group-kds needs group-kds-identity" },
		{ "auth = group:db\ngroup-kds = 10.0.0.5:7465\ngroup-kds-identity = SHA256:29mySsipkjqks+QGAno2tZl/7Gmu3PcwDqSbbrjvhvc\n"
		  "group-root-key-file = /etc/secsock/db.key", "two key sources" },
		{ "group-kds = kds.example:7465", "numeric addresses" },
		{ "group-kds = 10.0.0.5", "numeric addresses" },
		{ "group-kds = 10.0.0.5:0", "numeric addresses" },
		{ "group-kds = 10.0.0.5:65536", "numeric addresses" },
		{ "group-kds = ::1:7465", "numeric addresses" },
		{ "group-kds = [::1]:7465, [::1]:7465", "numeric addresses" },
		{ "group-kds = 1.1.1.1:1, 1.1.1.2:1, 1.1.1.3:1, 1.1.1.4:1, 1.1.1.5:1, 1.1.1.6:1, 1.1.1.7:1, 1.1.1.8:1, 1.1.1.9:1",
		  "numeric addresses" },
		{ "group-kds-identity = SHA256:short", "host-key fingerprints" },
		{ "group-kds-identity = MD5:29mySsipkjqks+QGAno2tZl/7Gmu3PcwDqSbbrjvhvc", "host-key fingerprints" },
		{ "auth = psk, group:x\npsk-file = /etc/secsock/db.psk", "at most one of psk and group:NAME" },
		{ "auth = group:a, group:b", "at most one of psk and group:NAME" },
		{ "group-sd = 0100a", "even number of hex digits" },
		{ "group-sd = 01zz", "even number of hex digits" },
		{ "group-root-key-file = db.key", "absolute path" },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		pol_diags d;
		pol_policy *p = load_defaults_line(ok[i].line, &d);
		cr_assert_not_null(p, "refused: %s: %s", ok[i].line, d.count ? d.items[0].msg : "");
		char b[300];
		cr_assert(pol_format_setting(defaults_of(p), ok[i].key, b, sizeof b), "%s", ok[i].key);
		cr_expect_str_eq(b, ok[i].want, "%s", ok[i].line);
		pol_free(p);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		pol_diags d;
		pol_policy *p = load_defaults_line(bad[i].line, &d);
		cr_expect_null(p, "accepted: %s", bad[i].line);
		cr_expect(d.count > 0 && strstr(d.items[0].msg, bad[i].msg) != NULL, "%s: %s", bad[i].line,
		          d.count ? d.items[0].msg : "(no message)");
		pol_free(p);
	}
}

/* group-kds as the preload reads it back (pol_endpoint_at): each item in
 * order as a socket address, nothing past the end; identities by exact
 * match only. */
Test(keys, group_kds_list)
{
	struct sockaddr_storage a;
	unsigned len = 0;
	const char *list = "10.0.0.5:7465, [fd00::5]:7466";

	cr_assert(pol_endpoint_at(list, 0, &a, &len));
	cr_expect_eq(a.ss_family, AF_INET);
	cr_expect_eq(ntohs(((struct sockaddr_in *)&a)->sin_port), 7465);
	cr_expect_eq(len, sizeof(struct sockaddr_in));
	cr_assert(pol_endpoint_at(list, 1, &a, &len));
	cr_expect_eq(a.ss_family, AF_INET6);
	cr_expect_eq(ntohs(((struct sockaddr_in6 *)&a)->sin6_port), 7466);
	cr_expect_not(pol_endpoint_at(list, 2, &a, &len));
	cr_expect_not(pol_endpoint_at("", 0, &a, &len));
	cr_expect_not(pol_endpoint_at(NULL, 0, &a, &len));
	const char *ids = "SHA256:29mySsipkjqks+QGAno2tZl/7Gmu3PcwDqSbbrjvhvc, SHA256:IMrFKyzjy3gzR4gsnBy6xgYjQlT5xptADjths6RnBZA";
	cr_expect(pol_identity_listed(ids, "SHA256:IMrFKyzjy3gzR4gsnBy6xgYjQlT5xptADjths6RnBZA"));
	cr_expect_not(pol_identity_listed(ids, "SHA256:IMrFKyzjy3gzR4gsnBy6xgYjQlT5xptADjths6RnBZ"));
	cr_expect_not(pol_identity_listed(ids, ""));
	cr_expect_not(pol_identity_listed(ids, NULL));
}

/* pfs = no is built (psk_ke resumptions, core/ss_ctx_resume.c): accepted
 * and read back; anything but yes/no is not. */
Test(keys, pfs_no_accepted)
{
	pol_diags d;
	char b[16];
	pol_policy *p = load_defaults_line("pfs = no", &d);

	cr_assert_not_null(p, "refused: %s", d.count ? d.items[0].msg : "");
	cr_assert(pol_format_setting(defaults_of(p), "pfs", b, sizeof b));
	cr_expect_str_eq(b, "no");
	cr_expect_not(defaults_of(p)->pfs);
	pol_free(p);
	cr_expect_null(load_defaults_line("pfs = maybe", &d));
}
