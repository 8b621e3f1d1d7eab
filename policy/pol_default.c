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
#include "pol_internal.h"
#include "ss_cred.h"
#include "ss_rec.h"

static const char default_text[] =
"# secsock embedded default policy (secsock policy show-default).\n"
"# In force when neither $SECSOCK_POLICY nor /etc/secsock/policy.conf exists.\n"
"# See secsock-policy(5) for every key.\n"
"\n"
"[defaults]\n"
"action            = request     # secure when the peer can, else clear (seed: ND boundary)\n"
"auth              = anonymous, host-key\n"
"ciphers           = aes-128-gcm, chacha20-poly1305\n"
"groups            = x25519, p-256\n"
"session-lifetime  = 2h          # seed: MM lifetime 2 hrs\n"
"rekey-after       = 1h, 55G     # seed: QM lifetime 1 hr, 55GB (whichever first)\n"
"idle-timeout      = 5m          # seed: saIdleTimeout 5 min\n"
"allow-clear-after = 10s         # seed: ndAllowClearTimeoutSeconds = 10\n"
"server-first-wait = 300ms\n"
"handshake-timeout = 10s\n"
"discovery-clear-ttl    = 5m     # a peer that answered in clear is probed again after this\n"
"discovery-unproven-ttl = 0      # a reset or silence proves nothing: probe again at once\n"
"peer              = secsock\n"
"pfs               = yes         # every handshake has a fresh (EC)DHE share\n"
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

const char *pol_default_text(void)
{
	return default_text;
}

/* Must equal the [defaults] section above (test_default.c checks it): these
 * are what a file that leaves a key out gets. */
void pol_builtin_settings(pol_settings *s)
{
	*s = (pol_settings){
		.auth = { { .method = SS_AUTH_ANONYMOUS }, { .method = SS_AUTH_HOST_KEY } },
		.n_auth = 2,
		.ciphers = { SS_SUITE_AES_128_GCM_SHA256, SS_SUITE_CHACHA20_POLY1305_SHA256 },
		.n_ciphers = 2,
		.groups = { SS_GROUP_X25519, SS_GROUP_P256 },
		.n_groups = 2,
		.session_lifetime_ms = 2 * 3600 * 1000ULL,
		.rekey_after_ms = 3600 * 1000ULL,
		.rekey_after_bytes = 55ULL << 30,
		.idle_timeout_ms = 5 * 60 * 1000ULL,
		.allow_clear_after_ms = 10 * 1000ULL,
		.server_first_wait_ms = 300,
		.handshake_timeout_ms = 10 * 1000ULL,
		.discovery_clear_ttl_ms = 5 * 60 * 1000ULL,
		.discovery_unproven_ttl_ms = 0,
		.peer = POL_PEER_SECSOCK,
		.pfs = true,
	};
}

static pol_policy *the_default;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void compile_default(void)
{
	pol_diags d = { 0 };
	the_default = pol_parse_text(default_text, "built-in default", &d);
}

/* NULL only when memory ran out while compiling it (callers fail closed). */
const pol_policy *pol_default(void)
{
	pthread_once(&default_once, compile_default);
	return the_default;
}
