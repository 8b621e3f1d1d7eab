/* pol_parse.c — policy text → pol_policy: lines, sections, keys, values, units.
 *
 * inih splits "key = value" and calls us back per key.  In front of it sits
 * our own line reader (an ini_reader) that does what the Debian build of
 * inih cannot be told to do without changing process-wide globals (a
 * preloaded library must not touch a host program's inih settings):
 *   - count lines, so every message says FILE:LINE (Debian's inih has no
 *     line number in the handler);
 *   - strip leading blanks, so an indented line is never taken as a
 *     continuation of the previous value (inih's configparser-style
 *     multi-line values would silently turn "  port = 22" into part of the
 *     value above it — the kind of misreading an admin must not suffer);
 *   - strip '#' and ';' comments, at line start or after a blank, so the
 *     inline "# main mode" notes of ARCHITECTURE.md's example work;
 *   - refuse over-long lines instead of letting inih split them;
 *   - take section headers itself, so an empty [rule x] is still seen.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ini.h>
#include "pol_internal.h"
#include "ss_cred.h"
#include "ss_rec.h"

enum {
	LINE_MAX_CHARS = 199,    /* inih's line buffer is 200 bytes in Debian's build */
	MAX_RULES = 100000,      /* far above any real file; bounds memory on hostile input */
	MAX_LIST = 64,           /* items in one list value */
};

/* ------------------------------------------------------------------ keys */

static const char *const key_names[PK_COUNT_] = {
	[PK_ACTION] = "action",
	[PK_AUTH] = "auth",
	[PK_CIPHERS] = "ciphers",
	[PK_GROUPS] = "groups",
	[PK_SESSION_LIFETIME] = "session-lifetime",
	[PK_REKEY_AFTER] = "rekey-after",
	[PK_IDLE_TIMEOUT] = "idle-timeout",
	[PK_ALLOW_CLEAR_AFTER] = "allow-clear-after",
	[PK_SERVER_FIRST_WAIT] = "server-first-wait",
	[PK_HANDSHAKE_TIMEOUT] = "handshake-timeout",
	[PK_DISCOVERY_CLEAR_TTL] = "discovery-clear-ttl",
	[PK_DISCOVERY_UNPROVEN_TTL] = "discovery-unproven-ttl",
	[PK_PEER] = "peer",
	[PK_PEER_NAME] = "peer-name",
	[PK_PFS] = "pfs",
	[PK_PSK_FILE] = "psk-file",
	[PK_CERT_FILE] = "cert-file",
	[PK_KEY_FILE] = "key-file",
	[PK_CA_FILE] = "ca-file",
	[PK_HOST_KEY_FILE] = "host-key-file",
	[PK_KNOWN_PEERS_FILE] = "known-peers-file",
	[PK_PROTOCOL] = "protocol",
	[PK_DIRECTION] = "direction",
	[PK_REMOTE] = "remote",
	[PK_PORT] = "port",
	[PK_PROGRAM] = "program",
};

const char *pol_key_name(pol_key k)
{
	return (k >= 0 && k < PK_COUNT_) ? key_names[k] : NULL;
}

int pol_key_from_name(const char *name)
{
	for (int k = 0; k < PK_COUNT_; k++)
		if (strcmp(key_names[k], name) == 0)
			return k;
	return -1;
}

static const char *const action_names[] = {
	[POL_BYPASS] = "bypass", [POL_REQUEST] = "request", [POL_REQUIRE] = "require",
	[POL_BLOCK] = "block", [POL_RESPOND] = "respond",
};

const char *pol_action_name(pol_action a)
{
	if ((unsigned)a < sizeof action_names / sizeof action_names[0])
		return action_names[a];
	return "?";
}

/* ------------------------------------------------------------ diagnostics */

void pol_diag_add(pol_diags *d, bool warning, const char *fmt, ...)
{
	if (warning)
		d->warnings++;
	else
		d->errors++;
	if (d->count >= (int)(sizeof d->items / sizeof d->items[0]))
		return;
	pol_diag *it = &d->items[d->count++];
	it->warning = warning;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(it->msg, sizeof it->msg, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------ parse state */

struct parse {
	pol_policy *p;
	pol_diags *d;
	const char *name;        /* for messages */
	const char *cur;         /* next unread byte of the text */
	int line;                /* line number of the line last handed to inih */
	struct pol_rule *sec;    /* current section; NULL before one or after a bad header */
	struct pol_match *msec;  /* its match (rules only) */
	bool in_bad_section;     /* header refused: ignore its keys quietly */
};

#define ERR(st, ...) pol_diag_add((st)->d, false, __VA_ARGS__)

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n >= max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

static struct pol_rule *new_rule(struct parse *st, const char *name)
{
	pol_policy *p = st->p;
	if (p->n_rules >= MAX_RULES) {
		ERR(st, "%s:%d: too many rules (at most %d)", st->name, st->line, MAX_RULES);
		return NULL;
	}
	if (p->n_rules == p->cap_rules) {
		int cap = p->cap_rules ? p->cap_rules * 2 : 16;
		struct pol_rule **r = realloc(p->rules, (size_t)cap * sizeof *r);
		if (r == NULL)
			goto oom;
		p->rules = r;
		struct pol_match *m = realloc(p->match, (size_t)cap * sizeof *m);
		if (m == NULL)
			goto oom;
		p->match = m;
		p->cap_rules = cap;
	}
	struct pol_rule *r = calloc(1, sizeof *r);
	if (r == NULL)
		goto oom;
	snprintf(r->name, sizeof r->name, "%s", name);
	r->line = st->line;
	p->rules[p->n_rules] = r;
	memset(&p->match[p->n_rules], 0, sizeof p->match[0]);
	p->match[p->n_rules].direction = POL_DIR_ANY;
	p->match[p->n_rules].protocol = POL_PROTO_TCP;
	p->match[p->n_rules].any_remote = true;
	st->msec = &p->match[p->n_rules];
	p->n_rules++;
	return r;
oom:
	ERR(st, "%s:%d: out of memory", st->name, st->line);
	return NULL;
}

/* "[defaults]" or "[rule NAME]"; s is the text between the brackets. */
static void section_header(struct parse *st, char *s)
{
	st->sec = NULL;
	st->msec = NULL;
	st->in_bad_section = true;
	while (is_blank(*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && is_blank(e[-1]))
		*--e = '\0';

	if (strcmp(s, "defaults") == 0) {
		if (st->p->have_defaults) {
			ERR(st, "%s:%d: duplicate [defaults] section (first on line %d)",
			    st->name, st->line, st->p->defaults.line);
			return;
		}
		st->p->have_defaults = true;
		st->p->defaults.line = st->line;
		st->sec = &st->p->defaults;
		st->in_bad_section = false;
		return;
	}
	if (strncmp(s, "rule", 4) == 0 && is_blank(s[4])) {
		char *n = s + 4;
		while (is_blank(*n))
			n++;
		if (!valid_name(n, POL_NAME_MAX)) {
			ERR(st, "%s:%d: bad rule name '%s' (letters, digits, '-', '_', '.'; at most %d characters)",
			    st->name, st->line, n, POL_NAME_MAX - 1);
			return;
		}
		if (strcmp(n, "defaults") == 0) {
			ERR(st, "%s:%d: a rule may not be named 'defaults' (explain uses that name when no rule matches)",
			    st->name, st->line);
			return;
		}
		for (int i = 0; i < st->p->n_rules; i++)
			if (strcmp(st->p->rules[i]->name, n) == 0) {
				ERR(st, "%s:%d: duplicate rule name '%s' (first on line %d)",
				    st->name, st->line, n, st->p->rules[i]->line);
				return;
			}
		st->sec = new_rule(st, n);
		st->in_bad_section = st->sec == NULL;
		return;
	}
	ERR(st, "%s:%d: unknown section [%s] (expected [defaults] or [rule NAME])",
	    st->name, st->line, s);
}

/* The ini_reader: hands inih one normalised "key = value" line at a time
 * (or an empty line for blank, comment and header lines, which we handle). */
static char *read_line(char *out, int num, void *stream)
{
	struct parse *st = stream;
	if (*st->cur == '\0')
		return NULL;
	const char *nl = strchr(st->cur, '\n');
	size_t len = nl ? (size_t)(nl - st->cur) : strlen(st->cur);
	const char *s = st->cur;
	st->cur += len + (nl ? 1 : 0);
	st->line++;
	out[0] = '\0';

	if (st->line == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {   /* UTF-8 BOM */
		s += 3;
		len -= 3;
	}
	/* leading blanks */
	while (len > 0 && is_blank(*s)) {
		s++;
		len--;
	}
	/* comment: '#' or ';' at the start or after a blank */
	for (size_t i = 0; i < len; i++)
		if ((s[i] == '#' || s[i] == ';') && (i == 0 || is_blank(s[i - 1]))) {
			len = i;
			break;
		}
	while (len > 0 && (is_blank(s[len - 1]) || s[len - 1] == '\r'))
		len--;
	if (len == 0)
		return out;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\t') {
			ERR(st, "%s:%d: control character in line", st->name, st->line);
			return out;
		}
	if (len > LINE_MAX_CHARS || (int)len >= num) {
		ERR(st, "%s:%d: line too long (at most %d characters without comments)",
		    st->name, st->line, LINE_MAX_CHARS);
		st->in_bad_section = st->in_bad_section || st->sec == NULL;
		return out;
	}
	char buf[LINE_MAX_CHARS + 1];
	memcpy(buf, s, len);
	buf[len] = '\0';

	if (buf[0] == '[') {
		if (buf[len - 1] != ']') {
			ERR(st, "%s:%d: syntax error: section header without ']'", st->name, st->line);
			st->sec = NULL;
			st->in_bad_section = true;
			return out;
		}
		buf[len - 1] = '\0';
		section_header(st, buf + 1);
		return out;
	}
	/* inih also splits on ':'; we accept only '=' so "a:b = c" is not read as key "a" */
	size_t eq = strcspn(buf, "=:");
	if (buf[eq] != '=' || eq == 0) {
		ERR(st, "%s:%d: syntax error: expected 'key = value'", st->name, st->line);
		return out;
	}
	if (st->sec == NULL && !st->in_bad_section) {
		ERR(st, "%s:%d: '%.*s' outside a section (put it under [defaults] or [rule NAME])",
		    st->name, st->line, (int)eq, buf);
		st->in_bad_section = true;   /* one message, not one per line */
		return out;
	}
	memcpy(out, buf, len + 1);
	return out;
}

/* -------------------------------------------------------------- values */

/* Split a comma list into trimmed items in place.  false on an empty item. */
static bool split_list(char *v, char **items, int *n, int max)
{
	*n = 0;
	char *s = v;
	for (;;) {
		char *c = strchr(s, ',');
		if (c)
			*c = '\0';
		while (is_blank(*s))
			s++;
		char *e = s + strlen(s);
		while (e > s && is_blank(e[-1]))
			*--e = '\0';
		if (*s == '\0' || *n >= max)
			return false;
		items[(*n)++] = s;
		if (!c)
			return true;
		s = c + 1;
	}
}

/* Digits only (no sign, no spaces); false on overflow. */
static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		unsigned dgt = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - dgt) / 10)
			return false;
		v = v * 10 + dgt;
	}
	*out = v;
	return true;
}

/* Limit every duration and size so callers can add them to clocks and
 * counters without overflow: 2^40 ms is about 34 years, 2^60 bytes 1 EiB. */
#define DURATION_MAX_MS (UINT64_C(1) << 40)
#define SIZE_MAX_BYTES (UINT64_C(1) << 60)

/* "300ms", "10s", "5m", "2h", "1d"; "0" alone.  Units are case-sensitive
 * (m = minutes, M = mebibytes in sizes) and required: "10" is refused. */
bool pol_parse_duration(const char *s, uint64_t *ms)
{
	static const struct { const char *u; uint64_t mul; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
	};
	size_t nd = strspn(s, "0123456789");
	uint64_t v;
	if (!parse_u64(s, nd, &v))
		return false;
	if (s[nd] == '\0') {
		if (v != 0)
			return false;
		*ms = 0;
		return true;
	}
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (strcmp(s + nd, units[i].u) == 0) {
			if (v > DURATION_MAX_MS / units[i].mul)
				return false;
			*ms = v * units[i].mul;
			return true;
		}
	return false;
}

/* "55G", "512M", "1T", "4096" (bytes); K/M/G/T are powers of 1024. */
bool pol_parse_size(const char *s, uint64_t *bytes, bool need_unit)
{
	size_t nd = strspn(s, "0123456789");
	uint64_t v;
	if (!parse_u64(s, nd, &v))
		return false;
	uint64_t mul;
	switch (s[nd]) {
	case '\0': mul = 1; if (need_unit && v != 0) return false; break;
	case 'K': mul = UINT64_C(1) << 10; break;
	case 'M': mul = UINT64_C(1) << 20; break;
	case 'G': mul = UINT64_C(1) << 30; break;
	case 'T': mul = UINT64_C(1) << 40; break;
	default: return false;
	}
	if (s[nd] != '\0' && s[nd + 1] != '\0')
		return false;
	if (v > SIZE_MAX_BYTES / mul)
		return false;
	*bytes = v * mul;
	return true;
}

static bool parse_port(const char *s, uint16_t *port)
{
	uint64_t v;
	if (!parse_u64(s, strlen(s), &v) || v == 0 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

static bool copy_path(char *dst, size_t cap, const char *v)
{
	if (v[0] != '/' || strlen(v) >= cap)
		return false;
	snprintf(dst, cap, "%s", v);
	return true;
}

static int find_word(const char *v, const char *const *words, int n)
{
	for (int i = 0; i < n; i++)
		if (words[i] && strcmp(v, words[i]) == 0)
			return i;
	return -1;
}

static uint64_t be64(const uint8_t *b)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static void mask128(unsigned bits, uint64_t *hi, uint64_t *lo)
{
	*hi = bits == 0 ? 0 : bits >= 64 ? UINT64_MAX : UINT64_MAX << (64 - bits);
	*lo = bits <= 64 ? 0 : bits >= 128 ? UINT64_MAX : UINT64_MAX << (128 - bits);
}

/* One CIDR or bare address.  v4-mapped IPv6 prefixes (::ffff:a.b.c.d/96+n)
 * are stored as the IPv4 prefix they denote, since queries are normalised
 * the same way (a v4-mapped query address matches IPv4 rules). */
static bool parse_cidr(const char *item, struct pol_match *m, const char **why)
{
	char a[INET6_ADDRSTRLEN + 8];
	if (strlen(item) >= sizeof a)
		return false;
	snprintf(a, sizeof a, "%s", item);
	char *slash = strchr(a, '/');
	long bits = -1;
	if (slash) {
		*slash = '\0';
		uint64_t b;
		if (!parse_u64(slash + 1, strlen(slash + 1), &b) || b > 128)
			return false;
		bits = (long)b;
	}
	struct in_addr v4;
	struct in6_addr v6;
	if (inet_pton(AF_INET, a, &v4) == 1) {
		if (bits < 0)
			bits = 32;
		if (bits > 32)
			return false;
	} else if (inet_pton(AF_INET6, a, &v6) == 1) {
		if (bits < 0)
			bits = 128;
		if (IN6_IS_ADDR_V4MAPPED(&v6) && bits >= 96) {
			memcpy(&v4, &v6.s6_addr[12], 4);
			bits -= 96;
			goto v4;
		}
		uint64_t hi = be64(v6.s6_addr), lo = be64(v6.s6_addr + 8), mh, ml;
		mask128((unsigned)bits, &mh, &ml);
		if ((hi & ~mh) || (lo & ~ml)) {
			*why = "address has bits set beyond the prefix length";
			return false;
		}
		struct pol_cidr6 *n = realloc(m->v6, (m->n_v6 + 1u) * sizeof *n);
		if (n == NULL)
			return false;
		m->v6 = n;
		n[m->n_v6++] = (struct pol_cidr6){ hi, lo, mh, ml, (uint8_t)bits };
		return true;
	} else {
		return false;
	}
v4:;
	uint32_t addr = ntohl(v4.s_addr);
	uint32_t mask = bits == 0 ? 0 : UINT32_MAX << (32 - bits);
	if (addr & ~mask) {
		*why = "address has bits set beyond the prefix length";
		return false;
	}
	struct pol_cidr4 *n = realloc(m->v4, (m->n_v4 + 1u) * sizeof *n);
	if (n == NULL)
		return false;
	m->v4 = n;
	n[m->n_v4++] = (struct pol_cidr4){ addr, mask, (uint8_t)bits };
	return true;
}

/* ------------------------------------------------------------- handler */

/* Returns NULL when fine, else what was expected (for the message). */
static const char *set_value(struct parse *st, pol_key k, char *v)
{
	struct pol_rule *r = st->sec;
	pol_settings *s = &r->own;
	struct pol_match *m = st->msec;
	char *items[MAX_LIST];
	int n = 0;
	const char *why = NULL;

	switch (k) {
	case PK_ACTION: {
		int a = find_word(v, action_names, 5);
		if (a < 0)
			return "bypass, request, require, block or respond";
		r->action = (pol_action)a;
		return NULL;
	}
	case PK_AUTH:
		if (!split_list(v, items, &n, POL_MAX_AUTH))
			return "a list of at most 6 of anonymous, host-key, psk, certificate, group:NAME";
		for (int i = 0; i < n; i++) {
			pol_auth *au = &s->auth[i];
			memset(au, 0, sizeof *au);
			if (strncmp(items[i], "group:", 6) == 0) {
				if (!valid_name(items[i] + 6, POL_NAME_MAX))
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
			for (int j = 0; j < i; j++)
				if (s->auth[j].method == au->method && strcmp(s->auth[j].group, au->group) == 0)
					return "each method once (a duplicate was given)";
		}
		s->n_auth = n;
		return NULL;
	case PK_CIPHERS:
	case PK_GROUPS: {
		bool ciph = k == PK_CIPHERS;
		int max = ciph ? POL_MAX_CIPHERS : POL_MAX_GROUPS;
		const char *expect = ciph ? "a list of aes-128-gcm, aes-256-gcm, chacha20-poly1305, each once"
		                          : "a list of x25519, p-256, p-384, each once";
		uint16_t *arr = ciph ? s->ciphers : s->groups;
		if (!split_list(v, items, &n, max))
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
	case PK_SESSION_LIFETIME:
	case PK_IDLE_TIMEOUT:
	case PK_ALLOW_CLEAR_AFTER:
	case PK_SERVER_FIRST_WAIT:
	case PK_HANDSHAKE_TIMEOUT:
	case PK_DISCOVERY_CLEAR_TTL:
	case PK_DISCOVERY_UNPROVEN_TTL: {
		uint64_t ms;
		if (!pol_parse_duration(v, &ms))
			return "a duration such as 300ms, 10s, 5m, 2h, 1d (unit required; 0 = off)";
		if (k == PK_HANDSHAKE_TIMEOUT && ms == 0)
			return "a duration above zero";
		/* Bounds: a clear peer is re-probed at least daily; what an
		 * attacker can cause by one reset lasts at most 5 minutes. */
		if (k == PK_DISCOVERY_CLEAR_TTL && ms > POL_DISCOVERY_CLEAR_TTL_MAX_MS)
			return "a duration from 0 to 1d";
		if (k == PK_DISCOVERY_UNPROVEN_TTL && ms > POL_DISCOVERY_UNPROVEN_TTL_MAX_MS)
			return "a duration from 0 to 5m";
		uint64_t *dst = k == PK_SESSION_LIFETIME ? &s->session_lifetime_ms
		              : k == PK_IDLE_TIMEOUT ? &s->idle_timeout_ms
		              : k == PK_ALLOW_CLEAR_AFTER ? &s->allow_clear_after_ms
		              : k == PK_SERVER_FIRST_WAIT ? &s->server_first_wait_ms
		              : k == PK_DISCOVERY_CLEAR_TTL ? &s->discovery_clear_ttl_ms
		              : k == PK_DISCOVERY_UNPROVEN_TTL ? &s->discovery_unproven_ttl_ms
		              : &s->handshake_timeout_ms;
		*dst = ms;
		return NULL;
	}
	case PK_REKEY_AFTER: {
		const char *expect = "a time and/or a size, such as '1h, 55G' (units required)";
		bool have_t = false, have_b = false;
		uint64_t t = 0, b = 0;
		if (!split_list(v, items, &n, 2))
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
	case PK_PEER:
		if (strcmp(v, "secsock") == 0)
			s->peer = POL_PEER_SECSOCK;
		else if (strcmp(v, "standard-tls") == 0)
			s->peer = POL_PEER_STANDARD_TLS;
		else
			return "secsock or standard-tls";
		return NULL;
	case PK_PEER_NAME:
		if (strlen(v) >= sizeof s->peer_name || strpbrk(v, " \t,") != NULL)
			return "one host name (no blanks or commas, under 256 characters)";
		snprintf(s->peer_name, sizeof s->peer_name, "%s", v);
		return NULL;
	case PK_PFS:
		if (strcmp(v, "yes") == 0)
			s->pfs = true;
		else if (strcmp(v, "no") == 0)
			s->pfs = false;
		else
			return "yes or no";
		return NULL;
	case PK_PSK_FILE:
	case PK_CERT_FILE:
	case PK_KEY_FILE:
	case PK_CA_FILE:
	case PK_HOST_KEY_FILE:
	case PK_KNOWN_PEERS_FILE: {
		char *dst = k == PK_PSK_FILE ? s->psk_file : k == PK_CERT_FILE ? s->cert_file
		          : k == PK_KEY_FILE ? s->key_file : k == PK_CA_FILE ? s->ca_file
		          : k == PK_HOST_KEY_FILE ? s->host_key_file : s->known_peers_file;
		if (!copy_path(dst, sizeof s->psk_file, v))
			return "an absolute path under 256 characters";
		return NULL;
	}
	case PK_PROTOCOL:
		if (strcmp(v, "tcp") == 0)
			m->protocol = POL_PROTO_TCP;
		else if (strcmp(v, "udp") == 0)
			m->protocol = POL_PROTO_UDP;
		else
			return "tcp or udp";
		return NULL;
	case PK_DIRECTION:
		if (strcmp(v, "inbound") == 0)
			m->direction = POL_DIR_INBOUND;
		else if (strcmp(v, "outbound") == 0)
			m->direction = POL_DIR_OUTBOUND;
		else if (strcmp(v, "any") == 0)
			m->direction = POL_DIR_ANY;
		else
			return "inbound, outbound or any";
		return NULL;
	case PK_REMOTE:
		if (strcmp(v, "any") == 0)
			return NULL;
		if (!split_list(v, items, &n, MAX_LIST))
			return "a list of addresses or CIDR prefixes (10.0.0.0/8, 2001:db8::/32), or any";
		m->any_remote = false;
		for (int i = 0; i < n; i++)
			if (!parse_cidr(items[i], m, &why))
				return why ? why : "a list of addresses or CIDR prefixes (10.0.0.0/8, 2001:db8::/32), or any";
		return NULL;
	case PK_PORT: {
		const char *expect = "a list of ports 1-65535 or ranges LOW-HIGH, or any";
		if (strcmp(v, "any") == 0)
			return NULL;
		if (!split_list(v, items, &n, MAX_LIST))
			return expect;
		struct pol_range *rg = calloc((size_t)n, sizeof *rg);
		if (rg == NULL)
			return "(out of memory)";
		m->ports = rg;
		for (int i = 0; i < n; i++) {
			char *dash = strchr(items[i], '-');
			if (dash)
				*dash = '\0';
			if (!parse_port(items[i], &rg[i].lo))
				return expect;
			rg[i].hi = rg[i].lo;
			if (dash && (!parse_port(dash + 1, &rg[i].hi) || rg[i].hi < rg[i].lo))
				return expect;
		}
		m->n_ports = (uint16_t)n;
		return NULL;
	}
	case PK_PROGRAM: {
		const char *expect = "a list of program names or path globs (ssh, /usr/bin/*)";
		if (!split_list(v, items, &n, MAX_LIST))
			return expect;
		m->programs = calloc((size_t)n, sizeof *m->programs);
		if (m->programs == NULL)
			return "(out of memory)";
		for (int i = 0; i < n; i++) {
			if (strlen(items[i]) >= 256)
				return expect;
			m->programs[i] = strdup(items[i]);
			if (m->programs[i] == NULL)
				return "(out of memory)";
			m->n_programs = (uint16_t)(i + 1);
		}
		return NULL;
	}
	case PK_COUNT_:
		break;
	}
	return "?";
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct parse *st = user;
	(void)section;   /* sections are tracked by read_line */
	if (st->sec == NULL)
		return 1;    /* inside a refused section: already reported */
	int k = pol_key_from_name(name);
	if (k < 0) {
		ERR(st, "%s:%d: unknown key '%s'", st->name, st->line, name);
		return 1;
	}
	bool is_defaults = st->sec == &st->p->defaults;
	if (is_defaults && k >= PK_FIRST_MATCH_) {
		ERR(st, "%s:%d: '%s' is a match key; it belongs in a [rule NAME] section, not [defaults]",
		    st->name, st->line, name);
		return 1;
	}
	if (st->sec->set & (UINT32_C(1) << k)) {
		ERR(st, "%s:%d: duplicate key '%s' (first on line %d)",
		    st->name, st->line, name, st->sec->key_line[k]);
		return 1;
	}
	st->sec->set |= UINT32_C(1) << k;
	st->sec->key_line[k] = st->line;
	char v[LINE_MAX_CHARS + 1];
	snprintf(v, sizeof v, "%s", value);
	const char *expect = set_value(st, (pol_key)k, v);
	if (expect != NULL)
		ERR(st, "%s:%d: bad value for '%s': '%s' (expected %s)",
		    st->name, st->line, name, value, expect);
	return 1;
}

/* ------------------------------------------------------------ entry */

void pol_free(pol_policy *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < p->n_rules; i++) {
		struct pol_match *m = &p->match[i];
		for (int j = 0; j < m->n_programs; j++)
			free(m->programs[j]);
		free(m->programs);
		free(m->ports);
		free(m->v4);
		free(m->v6);
		free(p->rules[i]);
	}
	pol_index_free(p->index);
	free(p->rules);
	free(p->match);
	free(p->name);
	free(p);
}

/* Parse text into a policy; diags are added to (not reset).  NULL on any error. */
pol_policy *pol_parse_text(const char *text, const char *name, pol_diags *d)
{
	int errors_before = d->errors;
	pol_policy *p = calloc(1, sizeof *p);
	if (p == NULL || (p->name = strdup(name)) == NULL) {
		free(p);
		pol_diag_add(d, false, "%s: out of memory", name);
		return NULL;
	}
	p->defaults.action = (pol_action)POL_BUILTIN_ACTION;
	snprintf(p->defaults.name, sizeof p->defaults.name, "defaults");

	struct parse st = { .p = p, .d = d, .name = p->name, .cur = text };
	int rc = ini_parse_stream(read_line, &st, on_key, &st);
	if (rc > 0 && d->errors == errors_before)
		pol_diag_add(d, false, "%s:%d: syntax error", p->name, rc);
	else if (rc < 0)
		pol_diag_add(d, false, "%s: cannot parse (%d)", p->name, rc);
	if (d->errors == errors_before)
		pol_finish(p, d);
	if (d->errors == errors_before)
		pol_check_rules(p, d);
	if (d->errors != errors_before) {
		pol_free(p);
		return NULL;
	}
	pol_index_build(p);
	return p;
}

pol_policy *pol_load_string(const char *text, const char *name, pol_diags *diags)
{
	pol_diags local;
	pol_diags *d = diags ? diags : &local;
	memset(d, 0, sizeof *d);
	if (name == NULL)
		name = "(string)";
	if (text == NULL) {
		pol_diag_add(d, false, "%s: no policy text", name);
		return NULL;
	}
	return pol_parse_text(text, name, d);
}
