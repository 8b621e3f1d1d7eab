/* pol_match.c — which rule applies to a connection (first match wins).
 *
 * pol_decide() runs for every connect() and accept() of a preloaded program,
 * so it allocates nothing and does no string work until the cheap integer
 * tests (protocol, direction, port, address) have passed: CIDRs are
 * precompiled to masks and ports to ranges by the parser.
 */
#include <fnmatch.h>
#include <string.h>
#include "pol_internal.h"

/* The query address in one of two normalised forms: IPv4 (also for
 * v4-mapped IPv6, so those match IPv4 rules) or a native IPv6 address. */
struct qaddr {
	int family;          /* AF_INET, AF_INET6, or 0 = unknown */
	uint32_t v4;
	uint64_t hi, lo;
};

static uint64_t be64(const uint8_t *b)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static void norm_addr(const struct sockaddr_storage *ss, struct qaddr *q)
{
	memset(q, 0, sizeof *q);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		q->family = AF_INET;
		q->v4 = ntohl(sin->sin_addr.s_addr);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			const uint8_t *b = &s6->sin6_addr.s6_addr[12];
			q->family = AF_INET;
			q->v4 = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
		} else {
			q->family = AF_INET6;
			q->hi = be64(s6->sin6_addr.s6_addr);
			q->lo = be64(s6->sin6_addr.s6_addr + 8);
		}
	}
}

static bool remote_matches(const struct pol_match *m, const struct qaddr *a)
{
	if (m->any_remote)
		return true;
	if (a->family == AF_INET) {
		for (unsigned i = 0; i < m->n_v4; i++)
			if ((a->v4 & m->v4[i].mask) == m->v4[i].addr)
				return true;
	} else if (a->family == AF_INET6) {
		for (unsigned i = 0; i < m->n_v6; i++)
			if ((a->hi & m->v6[i].mhi) == m->v6[i].hi && (a->lo & m->v6[i].mlo) == m->v6[i].lo)
				return true;
	}
	return false;
}

static bool port_matches(const struct pol_match *m, uint16_t port)
{
	if (m->n_ports == 0)
		return true;
	for (unsigned i = 0; i < m->n_ports; i++)
		if (port >= m->ports[i].lo && port <= m->ports[i].hi)
			return true;
	return false;
}

/* A pattern with '/' is matched against the whole executable path (with
 * FNM_PATHNAME, so '*' stays inside one directory); a pattern without '/'
 * against the basename, so "ssh" matches /usr/bin/ssh. */
static bool program_matches(const struct pol_match *m, const char *path, const char *base)
{
	if (m->n_programs == 0)
		return true;
	if (path == NULL)
		return false;     /* unknown program: only rules without 'program' apply */
	for (unsigned i = 0; i < m->n_programs; i++) {
		const char *pat = m->programs[i];
		bool full = strchr(pat, '/') != NULL;
		if (fnmatch(pat, full ? path : base, full ? FNM_PATHNAME : 0) == 0)
			return true;
	}
	return false;
}

void pol_decide(const pol_policy *p, const pol_query *q, pol_decision *out)
{
	struct qaddr a;
	norm_addr(&q->remote, &a);
	const char *base = NULL;
	if (q->program != NULL) {
		const char *sl = strrchr(q->program, '/');
		base = sl ? sl + 1 : q->program;
	}
	for (int i = 0; i < p->n_rules; i++) {
		const struct pol_match *m = &p->match[i];
		if (m->protocol != q->protocol)
			continue;
		if (m->direction != POL_DIR_ANY && m->direction != q->direction)
			continue;
		if (!port_matches(m, q->port) || !remote_matches(m, &a) ||
		    !program_matches(m, q->program, base))
			continue;
		out->action = p->rules[i]->action;
		out->rule = p->rules[i];
		out->rule_name = p->rules[i]->name;
		out->settings = &p->rules[i]->eff;
		return;
	}
	out->action = p->defaults.action;
	/* Datagrams are not secured yet: without a udp rule, a default that
	 * would secure becomes clear (request, respond: secure-if-possible is
	 * never possible) or refuse (require: secure or fail — fail closed). */
	if (q->protocol == POL_PROTO_UDP && out->action != POL_BYPASS && out->action != POL_BLOCK)
		out->action = out->action == POL_REQUIRE ? POL_BLOCK : POL_BYPASS;
	out->rule = NULL;
	out->rule_name = "defaults";
	out->settings = &p->defaults.eff;
}

pol_origin pol_setting_origin(const pol_policy *p, const pol_rule *r, const char *key)
{
	int k = pol_key_from_name(key);
	if (k < 0)
		return POL_FROM_BUILTIN;
	uint32_t bit = UINT32_C(1) << k;
	if (r != NULL && (r->set & bit))
		return POL_FROM_RULE;
	if (p->defaults.set & bit)
		return POL_FROM_DEFAULTS;
	return POL_FROM_BUILTIN;
}

/* ------------------------------------------------------------ shadowing */

static bool range_within(const struct pol_range *outer, int n, uint16_t lo, uint16_t hi)
{
	for (int i = 0; i < n; i++)
		if (outer[i].lo <= lo && hi <= outer[i].hi)
			return true;
	return false;
}

static bool v4_within(const struct pol_match *m, const struct pol_cidr4 *c)
{
	for (unsigned i = 0; i < m->n_v4; i++)
		if (m->v4[i].bits <= c->bits && (c->addr & m->v4[i].mask) == m->v4[i].addr)
			return true;
	return false;
}

static bool v6_within(const struct pol_match *m, const struct pol_cidr6 *c)
{
	for (unsigned i = 0; i < m->n_v6; i++)
		if (m->v6[i].bits <= c->bits && (c->hi & m->v6[i].mhi) == m->v6[i].hi &&
		    (c->lo & m->v6[i].mlo) == m->v6[i].lo)
			return true;
	return false;
}

static bool has_glob(const char *s)
{
	return strpbrk(s, "*?[\\") != NULL;
}

/* Does pattern a match everything pattern b matches?  Conservative: true
 * only when that is certain (no false shadowing warnings). */
static bool pattern_within(const char *a, const char *b)
{
	if (strcmp(a, b) == 0 || strcmp(a, "*") == 0)
		return true;
	if (has_glob(b))
		return false;
	bool afull = strchr(a, '/') != NULL, bfull = strchr(b, '/') != NULL;
	if (afull && !bfull)
		return false;    /* b is a basename: matches in any directory */
	if (!afull && bfull) {
		const char *base = strrchr(b, '/') + 1;
		return fnmatch(a, base, 0) == 0;
	}
	return fnmatch(a, b, afull ? FNM_PATHNAME : 0) == 0;
}

/* Is every query matched by n also matched by m?  Each dimension must be
 * contained; lists are compared item by item (a union of m's items that
 * covers an item of n only together is not detected — conservative). */
bool pol_match_contains(const struct pol_match *m, const struct pol_match *n)
{
	if (m->protocol != n->protocol)
		return false;
	if (m->direction != POL_DIR_ANY && m->direction != n->direction)
		return false;
	if (m->n_ports > 0) {
		if (n->n_ports == 0)
			return range_within(m->ports, m->n_ports, 1, 65535) &&
			       range_within(m->ports, m->n_ports, 0, 0);   /* port 0 never in a list */
		for (unsigned i = 0; i < n->n_ports; i++)
			if (!range_within(m->ports, m->n_ports, n->ports[i].lo, n->ports[i].hi))
				return false;
	}
	if (!m->any_remote) {
		if (n->any_remote)
			return false;
		for (unsigned i = 0; i < n->n_v4; i++)
			if (!v4_within(m, &n->v4[i]))
				return false;
		for (unsigned i = 0; i < n->n_v6; i++)
			if (!v6_within(m, &n->v6[i]))
				return false;
	}
	if (m->n_programs > 0) {
		if (n->n_programs == 0)
			return false;    /* n also matches unknown programs */
		for (unsigned i = 0; i < n->n_programs; i++) {
			bool in = false;
			for (unsigned j = 0; j < m->n_programs && !in; j++)
				in = pattern_within(m->programs[j], n->programs[i]);
			if (!in)
				return false;
		}
	}
	return true;
}
