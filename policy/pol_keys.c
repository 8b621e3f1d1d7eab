/* pol_keys.c — the key table (pol_keys.h) and what is done per kind of
 * value: parse into pol_settings, write back as a file spells it, merge.
 * Match keys and the action are parsed by pol_parse.c (they belong to the
 * rule, not to its settings); their names and docs are here all the same.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pol_internal.h"
#include "ss_cred.h"
#include "ss_peers.h"
#include "ss_rec.h"

/* Positional: fld is POL_F/POL_SPAN/POL_NOFIELD, two values (off, len). */
#define POL_KEY_DEF(id, nm, ty, fld, mn, mx, bi, nt, dc) [PK_##id] = { nm, ty, fld, mn, mx, bi, nt, dc },

const pol_keydef pol_keydefs[PK_COUNT_] = { POL_KEYS(POL_KEY_DEF) };

/* The position of a key is its bit in pol_rule.set (pol_internal.h). */
_Static_assert(PK_COUNT_ <= 64, "pol_rule.set has one bit per key");

enum { MAX_LIST = 64, POL_MAX_NAMES = 16 };

static void span_of(pol_key k, size_t *off, size_t *len)
{
	*off = pol_keydefs[k].off;
	*len = pol_keydefs[k].len;
}

const char *pol_key_name(pol_key k)
{
	return (k >= 0 && k < PK_COUNT_) ? pol_keydefs[k].name : NULL;
}

int pol_key_from_name(const char *name)
{
	for (int k = 0; k < PK_COUNT_; k++)
		if (strcmp(pol_keydefs[k].name, name) == 0)
			return k;
	return -1;
}

/* ------------------------------------------------------------ parse */

static const char *set_auth(pol_settings *s, char *v)
{
	char *items[MAX_LIST];
	int n = 0;
	if (!pol_split_list(v, items, &n, POL_MAX_AUTH))
		return "a list of at most 6 of anonymous, host-key, psk, certificate, group:NAME";
	for (int i = 0; i < n; i++) {
		pol_auth *au = &s->auth[i];
		memset(au, 0, sizeof *au);
		if (strncmp(items[i], "group:", 6) == 0) {
			if (!pol_valid_name(items[i] + 6, POL_NAME_MAX))
				return "group:NAME with NAME of letters, digits, '-', '_', '.'";
			au->method = SS_AUTH_GROUP;
			snprintf(au->group, sizeof au->group, "%s", items[i] + 6);
		} else {
			for (int a = SS_AUTH_ANONYMOUS; a <= SS_AUTH_CERTIFICATE; a++)
				if (strcmp(items[i], ss_auth_name((ss_auth)a)) == 0)
					au->method = a;
			if (au->method == 0)
				return "anonymous, host-key, psk, certificate or group:NAME";
		}
		for (int j = 0; j < i; j++) {
			if (s->auth[j].method == au->method && strcmp(s->auth[j].group, au->group) == 0)
				return "each method once (a duplicate was given)";
			/* one external PSK per handshake (RFC 8446 §4.2.11: the
			 * client offers one here): one group, and not with psk */
			if ((s->auth[j].method == SS_AUTH_GROUP && (au->method == SS_AUTH_GROUP || au->method == SS_AUTH_PSK)) ||
			    (s->auth[j].method == SS_AUTH_PSK && au->method == SS_AUTH_GROUP))
				return "at most one of psk and group:NAME (one external PSK per rule)";
		}
	}
	s->n_auth = n;
	return NULL;
}

/* One peer-name entry: a DNS name whose labels are letters, digits, '-'
 * and '_' or exactly '*' (an inbound rule's glob: any one label), or an IP
 * literal (IPv6 has ':').  No empty label, no blanks. */
static bool valid_peer_name(const char *n)
{
	unsigned char ip[16];
	const char *lab = n;

	if (strchr(n, ':') != NULL)
		return inet_pton(AF_INET6, n, ip) == 1;
	for (const char *p = n;; p++) {
		if (*p == '.' || *p == '\0') {
			size_t l = (size_t)(p - lab);
			if (l == 0 || l > 63 || (memchr(lab, '*', l) != NULL && l != 1))
				return false;
			if (*p == '\0')
				return true;
			lab = p + 1;
		} else if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '*') {
			return false;
		}
	}
}

/* A list value, stored ", "-joined (the form core/ss_cred.h and the
 * preload read back), each item checked by ok; unique: an item given
 * twice is refused. */
static const char *set_list(char *field, size_t len, char *v, int max, bool (*ok)(const char *), bool unique,
                            const char *expect)
{
	char *items[MAX_LIST], out[256] = "";
	int n = 0;

	if (strlen(v) >= len || !pol_split_list(v, items, &n, max))
		return expect;
	for (int i = 0; i < n; i++) {
		size_t l = strlen(out);
		for (int j = 0; unique && j < i; j++)
			if (strcmp(items[i], items[j]) == 0)
				return expect;
		if (!ok(items[i]) ||
		    (size_t)snprintf(out + l, sizeof out - l, "%s%s", i ? ", " : "", items[i]) >= sizeof out - l)
			return expect;
	}
	snprintf(field, len, "%s", out);
	return NULL;
}

/* peer-name: one name (outbound: the server's), or on an inbound rule a
 * list of allowed client names (pol_check.c says which rules may have a
 * list or a glob). */
static const char *set_names(char *field, size_t len, char *v)
{
	return set_list(field, len, v, POL_MAX_NAMES, valid_peer_name, false,
	                "a host name or IP address, or (inbound) a comma-separated list of them, "
	                "'*' as a whole label, under 256 characters in all");
}

/* An even number (2 to 510) of hex digits, kept lowercase. */
static const char *set_hex(char *field, size_t len, const char *v)
{
	size_t n = strlen(v);
	if (n < 2 || n % 2 != 0 || n >= len)
		return "an even number of hex digits (1 to 255 bytes)";
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)v[i]))
			return "an even number of hex digits (1 to 255 bytes)";
	for (size_t i = 0; i <= n; i++)
		field[i] = (char)tolower((unsigned char)v[i]);
	return NULL;
}

/* One numeric endpoint: "A.B.C.D:PORT" or "[IPv6]:PORT".  Names are not
 * accepted: resolving one inside a handshake could block on DNS, and a DNS
 * answer is not authenticated (the KDS proves itself by its host key, but
 * an attacker who steers the address still decides whether it answers). */
static bool parse_endpoint(const char *v, struct sockaddr_storage *out, unsigned *out_len)
{
	char host[64];
	const char *colon, *h = v;
	size_t hl;
	char *end = NULL;
	unsigned long port;

	if (*v == '[') {
		const char *rb = strchr(v, ']');
		if (rb == NULL || rb[1] != ':')
			return false;
		h = v + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(v, ':');
		if (colon == NULL)
			return false;
		hl = (size_t)(colon - v);
	}
	if (hl == 0 || hl >= sizeof host || !isdigit((unsigned char)colon[1]))
		return false;
	memcpy(host, h, hl);
	host[hl] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || port == 0 || port > 65535)
		return false;
	memset(out, 0, sizeof *out);
	if (*v != '[') {
		struct sockaddr_in *a = (struct sockaddr_in *)out;
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return false;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*out_len = sizeof *a;
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return false;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*out_len = sizeof *a;
	}
	return true;
}

static bool endpoint_ok(const char *v)
{
	struct sockaddr_storage ss;
	unsigned l;
	return parse_endpoint(v, &ss, &l);
}

/* A host-key fingerprint as `secsock keygen` prints it (core/base/ss_peers.h). */
static bool fingerprint_ok(const char *v)
{
	return ss_fingerprint_valid(v) != 0;
}

/* Item i of a stored list into buf; false past its end. */
static bool list_item(const char *list, int i, char *buf, size_t cap)
{
	const char *p = list;
	for (; i > 0 && p; i--)
		if ((p = strchr(p, ',')) != NULL)
			p += strspn(p, ", ");
	if (p == NULL || *p == '\0')
		return false;
	size_t n = strcspn(p, ",");
	if (n >= cap)
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return true;
}

bool pol_endpoint_at(const char *list, int i, struct sockaddr_storage *out, unsigned *out_len)
{
	char item[80];
	return list != NULL && list_item(list, i, item, sizeof item) && parse_endpoint(item, out, out_len);
}

bool pol_identity_listed(const char *list, const char *fp)
{
	char item[80];
	for (int i = 0; list != NULL && fp != NULL && *fp && list_item(list, i, item, sizeof item); i++)
		if (strcmp(item, fp) == 0)
			return true;
	return false;
}

/* ciphers or groups: names, each once, in preference order */
static const char *set_ids(pol_settings *s, bool ciph, char *v)
{
	char *items[MAX_LIST];
	int n = 0, max = ciph ? POL_MAX_CIPHERS : POL_MAX_GROUPS;
	const char *expect = ciph ? "a list of aes-128-gcm, aes-256-gcm, chacha20-poly1305, each once"
	                          : "a list of x25519, p-256, p-384, each once";
	uint16_t *arr = ciph ? s->ciphers : s->groups;
	if (!pol_split_list(v, items, &n, max))
		return expect;
	for (int i = 0; i < n; i++) {
		arr[i] = ciph ? ss_suite_from_name(items[i]) : ss_group_from_name(items[i]);
		if (arr[i] == 0)
			return expect;
		for (int j = 0; j < i; j++)
			if (arr[j] == arr[i])
				return expect;
	}
	if (ciph)
		s->n_ciphers = n;
	else
		s->n_groups = n;
	return NULL;
}

static const char *set_duration(const pol_keydef *kd, uint64_t *dst, const char *v)
{
	static _Thread_local char range[80];   /* read by the caller before its next call */
	uint64_t ms;
	if (!pol_parse_duration(v, &ms))
		return "a duration such as 300ms, 10s, 5m, 2h, 1d (unit required; 0 = off)";
	if (ms < kd->min && kd->max == POL_NOMAX)
		return "a duration above zero";
	if (ms < kd->min || ms > kd->max) {
		char lo[24], hi[24];
		pol_format_duration(lo, sizeof lo, kd->min);
		pol_format_duration(hi, sizeof hi, kd->max);
		snprintf(range, sizeof range, "a duration from %s to %s", lo, hi);
		return range;
	}
	*dst = ms;
	return NULL;
}

static const char *set_rekey(pol_settings *s, char *v)
{
	const char *expect = "a time and/or a size, such as '1h, 55G' (units required)";
	char *items[2];
	bool have_t = false, have_b = false;
	uint64_t t = 0, b = 0;
	int n = 0;
	if (!pol_split_list(v, items, &n, 2))
		return expect;
	for (int i = 0; i < n; i++) {
		uint64_t x;
		if (pol_parse_duration(items[i], &x) && strcmp(items[i], "0") != 0) {
			if (have_t)
				return expect;
			have_t = true;
			t = x;
		} else if (pol_parse_size(items[i], &x, true) && strcmp(items[i], "0") != 0) {
			if (have_b)
				return expect;
			have_b = true;
			b = x;
		} else if (strcmp(items[i], "0") == 0 && n == 1) {
			have_t = have_b = true;   /* "0": never rekey on our own */
		} else {
			return expect;
		}
	}
	s->rekey_after_ms = t;
	s->rekey_after_bytes = b;
	return NULL;
}

static const char *set_value(pol_settings *s, pol_key k, char *v)
{
	const pol_keydef *kd = &pol_keydefs[k];
	size_t off, len;
	span_of(k, &off, &len);
	void *field = (char *)s + off;

	switch (kd->type) {
	case KT_AUTH:
		return set_auth(s, v);
	case KT_CIPHERS:
	case KT_GROUPS:
		return set_ids(s, kd->type == KT_CIPHERS, v);
	case KT_DURATION:
		return set_duration(kd, field, v);
	case KT_REKEY:
		return set_rekey(s, v);
	case KT_PEER:
		if (strcmp(v, "secsock") == 0)
			s->peer = POL_PEER_SECSOCK;
		else if (strcmp(v, "standard-tls") == 0)
			s->peer = POL_PEER_STANDARD_TLS;
		else
			return "secsock or standard-tls";
		return NULL;
	case KT_HOSTNAME:
		return set_names(field, len, v);
	case KT_KNOWN:
		if (strcmp(v, "tofu") != 0 && strcmp(v, "strict") != 0)
			return "tofu or strict";
		*(bool *)field = strcmp(v, "strict") == 0;
		return NULL;
	case KT_BOOL:
		if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
			return "yes or no";
		*(bool *)field = strcmp(v, "yes") == 0;
		return NULL;
	case KT_PATH:
		if (!pol_copy_path(field, len, v))
			return "an absolute path under 256 characters";
		return NULL;
	case KT_HEX:
		return set_hex(field, len, v);
	case KT_ENDPOINTS:
		return set_list(field, len, v, 8, endpoint_ok, true,
		                "1 to 8 numeric addresses with ports (10.0.0.5:7465, [fd00::5]:7465), comma-separated; no names");
	case KT_FINGERPRINTS:
		return set_list(field, len, v, 4, fingerprint_ok, true,
		                "1 to 4 host-key fingerprints as 'secsock keygen' prints them (SHA256:...), comma-separated");
	default:
		return "?";   /* the action and match keys are the rule's (pol_parse.c) */
	}
}

/* Keys whose run-time side is not built yet: another value than the
 * built-in one would be accepted and do nothing (promise 3), so it is
 * refused.  Their built-in value is what secsock does today and stays
 * accepted, so that the output of `policy show-default` loads.  (None
 * now: pfs = no is built, core/ss_ctx_resume.c.) */
static const char *builtin_only(pol_key k)
{
	(void)k;
	return NULL;
}

const char *pol_set_setting(pol_settings *s, pol_key k, char *v)
{
	static _Thread_local char why[160];   /* read by the caller before its next call */
	const char *e = set_value(s, k, v), *nb = builtin_only(k);
	pol_settings b;
	char bv[64];
	size_t off, len;

	if (e || !nb)
		return e;
	memset(&b, 0, sizeof b);
	snprintf(bv, sizeof bv, "%s", pol_keydefs[k].builtin);
	(void)set_value(&b, k, bv);
	span_of(k, &off, &len);
	if (memcmp((const char *)s + off, (const char *)&b + off, len) == 0)
		return NULL;
	snprintf(why, sizeof why, "%s, its built-in value, only: %s", pol_keydefs[k].builtin, nb);
	return why;
}

void pol_overlay(pol_settings *dst, const pol_settings *src, uint64_t set)
{
	for (int k = 0; k < PK_FIRST_MATCH_; k++) {
		size_t off, len;
		span_of((pol_key)k, &off, &len);
		if (len && (set & (UINT64_C(1) << k)))
			memcpy((char *)dst + off, (const char *)src + off, len);
	}
}

/* ------------------------------------------------------------ write back */

static void append(char *b, size_t n, const char *s)
{
	size_t l = strlen(b);
	snprintf(b + l, n - l, "%s%s", l ? ", " : "", s);
}

bool pol_format_setting(const pol_settings *s, const char *name, char *b, size_t n)
{
	int k = pol_key_from_name(name);
	char t[POL_NAME_MAX + 8];
	size_t off, len;

	if (k < 0 || n == 0)
		return false;
	span_of((pol_key)k, &off, &len);
	const void *field = (const char *)s + off;
	b[0] = '\0';
	switch (pol_keydefs[k].type) {
	case KT_AUTH:
		for (int i = 0; i < s->n_auth; i++) {
			if (s->auth[i].method == SS_AUTH_GROUP)
				snprintf(t, sizeof t, "group:%s", s->auth[i].group);
			else
				snprintf(t, sizeof t, "%s", ss_auth_name((ss_auth)s->auth[i].method));
			append(b, n, t);
		}
		return true;
	case KT_CIPHERS:
		for (int i = 0; i < s->n_ciphers; i++)
			append(b, n, ss_suite_name(s->ciphers[i]));
		return true;
	case KT_GROUPS:
		for (int i = 0; i < s->n_groups; i++)
			append(b, n, ss_group_name(s->groups[i]));
		return true;
	case KT_DURATION:
		pol_format_duration(b, n, *(const uint64_t *)field);
		return true;
	case KT_REKEY:
		if (s->rekey_after_ms) {
			pol_format_duration(t, sizeof t, s->rekey_after_ms);
			append(b, n, t);
		}
		if (s->rekey_after_bytes) {
			pol_format_size(t, sizeof t, s->rekey_after_bytes);
			append(b, n, t);
		}
		if (!b[0])
			snprintf(b, n, "0");
		return true;
	case KT_PEER:
		snprintf(b, n, "%s", s->peer == POL_PEER_STANDARD_TLS ? "standard-tls" : "secsock");
		return true;
	case KT_KNOWN:
		snprintf(b, n, "%s", *(const bool *)field ? "strict" : "tofu");
		return true;
	case KT_BOOL:
		snprintf(b, n, "%s", *(const bool *)field ? "yes" : "no");
		return true;
	case KT_HOSTNAME:
	case KT_PATH:
	case KT_HEX:
	case KT_ENDPOINTS:
	case KT_FINGERPRINTS:
		snprintf(b, n, "%s", (const char *)field);
		return true;
	default:
		return false;
	}
}

/* ------------------------------------------------------------ the list, public */

int pol_key_count(void)
{
	return PK_COUNT_;
}

bool pol_key_info_get(int k, pol_key_info *out)
{
	if (k < 0 || k >= PK_COUNT_)
		return false;
	*out = (pol_key_info){
		.name = pol_keydefs[k].name,
		.match = k >= PK_FIRST_MATCH_,
		.setting = k != PK_ACTION && k < PK_FIRST_MATCH_,
		.builtin = pol_keydefs[k].builtin,
		.doc = pol_keydefs[k].doc,
	};
	return true;
}

/* ------------------------------------------------------------ built-in values */

size_t pol_builtin_defaults_text(char *buf, size_t n)
{
	size_t used = 0;
	int w;

	w = snprintf(buf, n, "[defaults]\n");
	used = w > 0 ? (size_t)w : 0;
	for (int k = 0; k < PK_FIRST_MATCH_; k++) {
		const pol_keydef *kd = &pol_keydefs[k];
		if (!kd->builtin)
			continue;
		if (kd->note)
			w = snprintf(buf + used, used < n ? n - used : 0, "%-22s = %-9s # %s\n",
			             kd->name, kd->builtin, kd->note);
		else
			w = snprintf(buf + used, used < n ? n - used : 0, "%-22s = %s\n", kd->name, kd->builtin);
		used += w > 0 ? (size_t)w : 0;
	}
	return used;
}

void pol_builtin_settings(pol_settings *s)
{
	char v[256];

	memset(s, 0, sizeof *s);
	for (int k = 0; k < PK_FIRST_MATCH_; k++) {
		const pol_keydef *kd = &pol_keydefs[k];
		if (!kd->builtin || k == PK_ACTION)
			continue;
		snprintf(v, sizeof v, "%s", kd->builtin);
		/* The table's values are checked by tests/policy/test_default.c. */
		(void)pol_set_setting(s, (pol_key)k, v);
	}
}

pol_action pol_builtin_action(void)
{
	for (int a = POL_BYPASS; a <= POL_RESPOND; a++)
		if (strcmp(pol_action_name((pol_action)a), pol_keydefs[PK_ACTION].builtin) == 0)
			return (pol_action)a;
	return POL_REQUIRE;   /* unreachable: test_default.c checks the table */
}
