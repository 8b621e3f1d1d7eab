/* test_default.c — the embedded default: snapshot, values, built-ins. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include "helpers.h"
#include "pol_internal.h"
#include "ss_cred.h"
#include "ss_rec.h"

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *b = malloc((size_t)n + 1);
	cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	b[n] = '\0';
	fclose(f);
	return b;
}

/* Any change to the default must be made in the snapshot too, so it is seen
 * in review as a diff of tests/policy/snapshots/default.conf. */
Test(default_policy, snapshot)
{
	char *snap = read_all("tests/policy/snapshots/default.conf");
	cr_expect_str_eq(pol_default_text(), snap,
	                 "embedded default differs from tests/policy/snapshots/default.conf");
	free(snap);
}

Test(default_policy, compiles_without_messages)
{
	pol_diags d;
	pol_policy *p = pol_load_string(pol_default_text(), "default", &d);
	cr_assert_not_null(p);
	cr_expect_eq(d.errors + d.warnings, 0, "%s", d.count ? d.items[0].msg : "");
	pol_free(p);
	cr_assert_not_null(pol_default());
	cr_expect_eq(pol_default(), pol_default(), "compiled once");
}

/* Built-in values are the default's [defaults]: a file that leaves out a
 * key gets what the embedded default would give. */
Test(default_policy, builtin_equals_defaults_section)
{
	pol_settings b;
	pol_builtin_settings(&b);
	pol_query q = q_make(POL_DIR_OUTBOUND, "192.0.2.1", 5555, NULL);
	pol_decision d;
	pol_decide(pol_default(), &q, &d);
	cr_assert_str_eq(d.rule_name, "defaults");
	cr_expect(memcmp(&b, d.settings, sizeof b) == 0);
	pol_diags dd;
	pol_policy *empty = pol_load_string("", "empty", &dd);
	cr_assert_not_null(empty);
	pol_decide(empty, &q, &d);
	cr_expect(memcmp(&b, d.settings, sizeof b) == 0);
	cr_expect_eq(d.action, POL_REQUEST);
	pol_free(empty);
}

Test(default_policy, values)
{
	pol_query q = q_make(POL_DIR_OUTBOUND, "198.51.100.1", 80, NULL);
	pol_decision d;
	pol_decide(pol_default(), &q, &d);
	const pol_settings *s = d.settings;
	cr_expect_eq(d.action, POL_REQUEST);
	/* host-key joins when it is built (issue 13): a method the build
	 * cannot run is never listed, in the default or in a file. */
	cr_expect_eq(s->n_auth, 1);
	cr_expect_eq(s->auth[0].method, SS_AUTH_ANONYMOUS);
	cr_expect_eq(s->n_ciphers, 2);
	cr_expect_eq(s->ciphers[0], SS_SUITE_AES_128_GCM_SHA256);
	cr_expect_eq(s->ciphers[1], SS_SUITE_CHACHA20_POLY1305_SHA256);
	cr_expect_eq(s->n_groups, 2);
	cr_expect_eq(s->groups[0], SS_GROUP_X25519);
	cr_expect_eq(s->groups[1], SS_GROUP_P256);
	cr_expect_eq(s->session_lifetime_ms, 2 * 3600 * 1000);      /* seed: MM 2 hrs */
	cr_expect_eq(s->rekey_after_ms, 3600 * 1000);               /* seed: QM 1 hr */
	cr_expect_eq(s->rekey_after_bytes, 55ULL * 1024 * 1024 * 1024);   /* seed: 55GB */
	cr_expect_eq(s->idle_timeout_ms, 5 * 60 * 1000);            /* seed: saIdleTimeout 5 min */
	cr_expect_eq(s->allow_clear_after_ms, 10 * 1000);           /* seed: ndAllowClearTimeoutSeconds */
	cr_expect_eq(s->server_first_wait_ms, 300);
	cr_expect_eq(s->handshake_timeout_ms, 10 * 1000);
	cr_expect_eq(s->discovery_clear_ttl_ms, 5 * 60 * 1000);
	cr_expect_eq(s->discovery_unproven_ttl_ms, 0);   /* a reset proves nothing (issue 10) */
	cr_expect(s->pfs);
	cr_expect_eq(s->peer, POL_PEER_SECSOCK);
}

Test(default_policy, bypasses_self_encrypting_protocols)
{
	static const uint16_t bypassed[] = { 22, 443, 465, 563, 636, 853, 989, 990, 992, 993, 994, 995,
	                                     3269, 5061, 5671, 6697, 8443, 8883 };
	static const uint16_t secured[] = { 21, 23, 25, 80, 110, 143, 389, 587, 3306, 5432, 6379, 8080 };
	pol_decision d;
	for (size_t i = 0; i < sizeof bypassed / sizeof bypassed[0]; i++)
		for (int dir = POL_DIR_INBOUND; dir <= POL_DIR_OUTBOUND; dir++) {
			pol_query q = q_make((pol_direction)dir, "2001:db8::1", bypassed[i], NULL);
			pol_decide(pol_default(), &q, &d);
			cr_expect_eq(d.action, POL_BYPASS, "port %u dir %d", bypassed[i], dir);
		}
	for (size_t i = 0; i < sizeof secured / sizeof secured[0]; i++) {
		pol_query q = q_make(POL_DIR_OUTBOUND, "127.0.0.1", secured[i], NULL);
		pol_decide(pol_default(), &q, &d);
		cr_expect_eq(d.action, POL_REQUEST, "port %u", secured[i]);
	}
}

/* The key table is the one source of built-in values: each parses with the
 * key's own parser, the action included, and `explain` writes each back the
 * way the table spells it. */
Test(default_policy, table_values_parse_and_write_back)
{
	pol_settings s;
	pol_builtin_settings(&s);
	cr_expect_eq(pol_builtin_action(), POL_REQUEST);
	for (int k = 0; k < PK_FIRST_MATCH_; k++) {
		const pol_keydef *kd = &pol_keydefs[k];
		char v[256], back[256];
		if (!kd->builtin || k == PK_ACTION)
			continue;
		pol_settings t = s;
		snprintf(v, sizeof v, "%s", kd->builtin);
		cr_expect_null(pol_set_setting(&t, (pol_key)k, v), "built-in value of %s refused", kd->name);
		cr_expect(pol_format_setting(&s, kd->name, back, sizeof back));
		cr_expect_str_eq(back, kd->builtin, "%s written back as '%s'", kd->name, back);
	}
	for (int k = 0; k < PK_COUNT_; k++) {
		cr_expect_eq(pol_key_from_name(pol_keydefs[k].name), k);
		cr_expect_not_null(pol_keydefs[k].doc);
	}
}
