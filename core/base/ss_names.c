/* ss_names.c — the one table of algorithm and method names.
 *
 * Policy files, the CLI and log lines all spell suites, groups and auth
 * methods the same way; keeping the table here (rather than in policy/ or
 * cli/) means there is a single source of names.  Suite codes are the IANA
 * TLS 1.3 values (RFC 8446 §B.4), group codes the IANA NamedGroup values
 * (RFC 8446 §4.2.7).
 */
#include <strings.h>
#include "ss_cred.h"
#include "ss_rec.h"

struct name_code {
	const char *name;
	uint16_t code;
};

/* First entry per code is the canonical spelling; later ones are aliases. */
static const struct name_code suites[] = {
	{ "aes-128-gcm", SS_SUITE_AES_128_GCM_SHA256 },
	{ "aes-256-gcm", SS_SUITE_AES_256_GCM_SHA384 },
	{ "chacha20-poly1305", SS_SUITE_CHACHA20_POLY1305_SHA256 },
	/* the OpenSSL / RFC 8446 spellings, so a pasted suite name works */
	{ "TLS_AES_128_GCM_SHA256", SS_SUITE_AES_128_GCM_SHA256 },
	{ "TLS_AES_256_GCM_SHA384", SS_SUITE_AES_256_GCM_SHA384 },
	{ "TLS_CHACHA20_POLY1305_SHA256", SS_SUITE_CHACHA20_POLY1305_SHA256 },
};

static const struct name_code groups[] = {
	{ "x25519", SS_GROUP_X25519 },
	{ "p-256", SS_GROUP_P256 },
	{ "p-384", SS_GROUP_P384 },
	{ "secp256r1", SS_GROUP_P256 },   /* SEC 2 / RFC 8446 spelling */
	{ "ecp256", SS_GROUP_P256 },      /* IKE / IPsec spelling (seed 000) */
	{ "prime256v1", SS_GROUP_P256 },  /* OpenSSL spelling */
	{ "secp384r1", SS_GROUP_P384 },
	{ "ecp384", SS_GROUP_P384 },
};

static uint16_t lookup(const struct name_code *t, size_t n, const char *name)
{
	if (name == NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(t[i].name, name) == 0)
			return t[i].code;
	return 0;
}

static const char *reverse(const struct name_code *t, size_t n, uint16_t code)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].code == code)
			return t[i].name;
	return NULL;
}

uint16_t ss_suite_from_name(const char *name)
{
	return lookup(suites, sizeof suites / sizeof suites[0], name);
}

const char *ss_suite_name(uint16_t suite)
{
	return reverse(suites, sizeof suites / sizeof suites[0], suite);
}

uint16_t ss_group_from_name(const char *name)
{
	return lookup(groups, sizeof groups / sizeof groups[0], name);
}

const char *ss_group_name(uint16_t group)
{
	return reverse(groups, sizeof groups / sizeof groups[0], group);
}

const char *ss_auth_name(ss_auth a)
{
	switch (a) {
	case SS_AUTH_NONE: return "none";
	case SS_AUTH_ANONYMOUS: return "anonymous";
	case SS_AUTH_HOST_KEY: return "host-key";
	case SS_AUTH_PSK: return "psk";
	case SS_AUTH_CERTIFICATE: return "certificate";
	case SS_AUTH_GROUP: return "group";
	}
	return NULL;
}
