/* pol_default.c — the embedded default policy.
 *
 * Seed 000 (WSASetSocketSecurity, "default secure socket IPsec policy")
 * brought to TLS 1.3 (ARCHITECTURE.md "Policy"; docs/policy.md has the
 * seed's values beside these and why each differs).  It is kept as INI text
 * and compiled by the same parser as an admin's file, so
 * `secsock policy show-default` prints exactly what is in force and an
 * admin can start from it.  tests/policy/snapshots/default.conf holds a copy:
 * any change here shows up as a diff in the snapshot test.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include "pol_internal.h"
#include "ss_cred.h"
#include "ss_rec.h"

/* The [defaults] section is made from the key table (pol_keys.h: one
 * source for the built-in values); the rules follow it. */
static const char header_text[] =
"# secsock embedded default policy (secsock policy show-default).\n"
"# In force when neither $SECSOCK_POLICY nor /etc/secsock/policy.conf exists.\n"
"# See secsock-policy(5) for every key.\n"
"\n";

static const char rules_text[] =
"\n"
"# Protocols that run TLS themselves: wrapping them again adds cost and no\n"
"# protection, so they pass untouched in both directions.\n"
"[rule tls-already]\n"
"direction = any\n"
"# https smtps nntps ldaps dns-over-tls ftps-data ftps telnets imaps ircs pop3s\n"
"# ldaps-gc sips amqps ircs-u https-alt mqtts\n"
"port      = 443, 465, 563, 636, 853, 989, 990, 992, 993, 994, 995, 3269, 5061, 5671, 6697, 8443, 8883\n"
"action    = bypass\n"
"\n"
"# SSH encrypts and authenticates itself, and its server speaks first, so\n"
"# securing it would only add a server-first-wait to every login.\n"
"[rule ssh]\n"
"direction = any\n"
"port      = 22\n"
"action    = bypass\n";

static pol_policy *the_default;
static char default_text[4096];
static pthread_once_t default_once = PTHREAD_ONCE_INIT, text_once = PTHREAD_ONCE_INIT;

static void make_text(void)
{
	size_t n = snprintf(default_text, sizeof default_text, "%s", header_text);
	n += pol_builtin_defaults_text(default_text + n, sizeof default_text - n);
	snprintf(default_text + n, sizeof default_text - n, "%s", rules_text);
}

const char *pol_default_text(void)
{
	pthread_once(&text_once, make_text);
	return default_text;
}

static void compile_default(void)
{
	pol_diags d = { 0 };
	the_default = pol_compile(pol_default_text(), "built-in default", &d);
}

/* NULL only when memory ran out while compiling it (callers fail closed). */
const pol_policy *pol_default(void)
{
	pthread_once(&default_once, compile_default);
	return the_default;
}

const pol_settings *pol_default_settings(void)
{
	return &pol_default()->defaults.eff;
}
