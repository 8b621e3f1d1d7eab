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
		if (!pol_valid_name(n, POL_NAME_MAX)) {
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

static bool parse_port(const char *s, uint16_t *port)
{
	uint64_t v;
	if (!pol_parse_u64(s, strlen(s), &v) || v == 0 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
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
		if (!pol_parse_u64(slash + 1, strlen(slash + 1), &b) || b > 128)
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
	struct pol_match *m = st->msec;
	char *items[MAX_LIST];
	int n = 0;
	const char *why = NULL;

	if (k != PK_ACTION && k < PK_FIRST_MATCH_)
		return pol_set_setting(&r->own, k, v);
	switch (pol_keydefs[k].type) {
	case KT_ACTION: {
		int a = pol_find_word(v, action_names, 5);
		if (a < 0)
			return "bypass, request, require, block or respond";
		r->action = (pol_action)a;
		return NULL;
	}
	case KT_PROTOCOL:
		if (strcmp(v, "tcp") == 0)
			m->protocol = POL_PROTO_TCP;
		else if (strcmp(v, "udp") == 0)
			m->protocol = POL_PROTO_UDP;
		else
			return "tcp or udp";
		return NULL;
	case KT_DIRECTION:
		if (strcmp(v, "inbound") == 0)
			m->direction = POL_DIR_INBOUND;
		else if (strcmp(v, "outbound") == 0)
			m->direction = POL_DIR_OUTBOUND;
		else if (strcmp(v, "any") == 0)
			m->direction = POL_DIR_ANY;
		else
			return "inbound, outbound or any";
		return NULL;
	case KT_REMOTE:
		if (strcmp(v, "any") == 0)
			return NULL;
		if (!pol_split_list(v, items, &n, MAX_LIST))
			return "a list of addresses or CIDR prefixes (10.0.0.0/8, 2001:db8::/32), or any";
		m->any_remote = false;
		for (int i = 0; i < n; i++)
			if (!parse_cidr(items[i], m, &why))
				return why ? why : "a list of addresses or CIDR prefixes (10.0.0.0/8, 2001:db8::/32), or any";
		return NULL;
	case KT_PORT: {
		const char *expect = "a list of ports 1-65535 or ranges LOW-HIGH, or any";
		if (strcmp(v, "any") == 0)
			return NULL;
		if (!pol_split_list(v, items, &n, MAX_LIST))
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
	case KT_PROGRAM: {
		const char *expect = "a list of program names or path globs (ssh, /usr/bin/*)";
		if (!pol_split_list(v, items, &n, MAX_LIST))
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
	default:
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
	if (st->sec->set & (UINT64_C(1) << k)) {
		ERR(st, "%s:%d: duplicate key '%s' (first on line %d)",
		    st->name, st->line, name, st->sec->key_line[k]);
		return 1;
	}
	st->sec->set |= UINT64_C(1) << k;
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

/* Parse text into a policy (sections, keys, values; nothing resolved or
 * checked yet: pol_compile does that).  diags are added to, not reset.
 * NULL on any error. */
pol_policy *pol_parse_text(const char *text, const char *name, pol_diags *d)
{
	int errors_before = d->errors;
	pol_policy *p = calloc(1, sizeof *p);
	if (p == NULL || (p->name = strdup(name)) == NULL) {
		free(p);
		pol_diag_add(d, false, "%s: out of memory", name);
		return NULL;
	}
	p->defaults.action = pol_builtin_action();
	snprintf(p->defaults.name, sizeof p->defaults.name, "defaults");

	struct parse st = { .p = p, .d = d, .name = p->name, .cur = text };
	int rc = ini_parse_stream(read_line, &st, on_key, &st);
	if (rc > 0 && d->errors == errors_before)
		pol_diag_add(d, false, "%s:%d: syntax error", p->name, rc);
	else if (rc < 0)
		pol_diag_add(d, false, "%s: cannot parse (%d)", p->name, rc);
	if (d->errors != errors_before) {
		pol_free(p);
		return NULL;
	}
	return p;
}
