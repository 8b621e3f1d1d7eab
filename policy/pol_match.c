/* pol_match.c — which rule applies to a connection (first match wins).
 *
 * pol_decide() runs for every connect() and accept() of a preloaded program,
 * so it allocates nothing and does no string work until the cheap integer
 * tests (protocol, direction, port, address) have passed: CIDRs are
 * precompiled to masks and ports to ranges by the parser.
 */
#include <fnmatch.h>
#include <stdlib.h>
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

static bool rule_matches(const struct pol_match *m, const pol_query *q, const struct qaddr *a,
                         const char *base)
{
	return m->protocol == q->protocol &&
	       (m->direction == POL_DIR_ANY || m->direction == q->direction) &&
	       port_matches(m, q->port) && remote_matches(m, a) &&
	       program_matches(m, q->program, base);
}

/* First matching rule index, or -1. */
static int first_match(const pol_policy *p, const pol_query *q, const struct qaddr *a, const char *base)
{
	const struct pol_index *ix = p->index;
	if (ix == NULL) {
		for (int i = 0; i < p->n_rules; i++)
			if (rule_matches(&p->match[i], q, a, base))
				return i;
		return -1;
	}
	/* the interval holding q->port: last start <= port */
	int lo = 0, hi = ix->k - 1;
	while (lo < hi) {
		int mid = (lo + hi + 1) / 2;
		if (ix->start[mid] <= q->port)
			lo = mid;
		else
			hi = mid - 1;
	}
	const uint32_t *x = ix->ids + ix->off[lo], *xe = ix->ids + ix->off[lo + 1];
	const uint32_t *w = ix->wild, *we = ix->wild + ix->n_wild;
	while (x < xe || w < we) {
		uint32_t i = (w == we || (x < xe && *x < *w)) ? *x++ : *w++;
		if (rule_matches(&p->match[i], q, a, base))
			return (int)i;
	}
	return -1;
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
	int i = first_match(p, q, &a, base);
	if (i >= 0) {
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

/* ------------------------------------------------------------ port index */

void pol_index_free(struct pol_index *ix)
{
	if (ix == NULL)
		return;
	free(ix->start);
	free(ix->off);
	free(ix->ids);
	free(ix->wild);
	free(ix);
}

static int interval_of(const struct pol_index *ix, uint16_t port)
{
	int lo = 0, hi = ix->k - 1;
	while (lo < hi) {
		int mid = (lo + hi + 1) / 2;
		if (ix->start[mid] <= port)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* Below this many rules a scan is as fast as the index. */
enum { INDEX_MIN_RULES = 8 };

void pol_index_build(pol_policy *p)
{
	if (p->n_rules < INDEX_MIN_RULES)
		return;
	struct pol_index *ix = calloc(1, sizeof *ix);
	uint8_t *edge = calloc(65536, 1);
	if (ix == NULL || edge == NULL)
		goto fail;
	/* interval edges: every range start and every end + 1 */
	edge[0] = 1;
	uint32_t n_wild = 0;
	for (int r = 0; r < p->n_rules; r++) {
		const struct pol_match *m = &p->match[r];
		if (m->n_ports == 0)
			n_wild++;
		for (unsigned j = 0; j < m->n_ports; j++) {
			edge[m->ports[j].lo] = 1;
			if (m->ports[j].hi < 65535)
				edge[m->ports[j].hi + 1] = 1;
		}
	}
	for (int i = 0; i < 65536; i++)
		ix->k += edge[i];
	ix->start = malloc((size_t)ix->k * sizeof *ix->start);
	ix->off = calloc((size_t)ix->k + 1, sizeof *ix->off);
	ix->wild = malloc((n_wild ? n_wild : 1) * sizeof *ix->wild);
	if (ix->start == NULL || ix->off == NULL || ix->wild == NULL)
		goto fail;
	for (int i = 0, n = 0; i < 65536; i++)
		if (edge[i])
			ix->start[n++] = (uint16_t)i;
	/* pass 1: count entries per interval (a rule counted once per interval
	 * even if two of its ranges overlap there: mark with its index) */
	uint32_t *last = malloc((size_t)ix->k * sizeof *last);
	if (last == NULL)
		goto fail;
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < ix->k; i++)
			last[i] = UINT32_MAX;
		uint64_t total = 0;
		for (int r = 0; r < p->n_rules; r++) {
			const struct pol_match *m = &p->match[r];
			if (pass == 0 && m->n_ports == 0)
				ix->wild[ix->n_wild++] = (uint32_t)r;
			for (unsigned j = 0; j < m->n_ports; j++)
				for (int i = interval_of(ix, m->ports[j].lo);
				     i < ix->k && ix->start[i] <= m->ports[j].hi; i++) {
					if (last[i] == (uint32_t)r)
						continue;
					last[i] = (uint32_t)r;
					if (pass == 0)
						ix->off[i + 1]++;
					else
						ix->ids[ix->off[i]++] = (uint32_t)r;
					total++;
				}
		}
		if (pass == 0) {
			/* many wide ranges would make the index larger than it is
			 * worth: fall back to scanning */
			if (total > 64u * (uint64_t)p->n_rules + 65536u)
				goto fail_last;
			for (int i = 0; i < ix->k; i++)
				ix->off[i + 1] += ix->off[i];
			ix->ids = malloc((total ? total : 1) * sizeof *ix->ids);
			if (ix->ids == NULL)
				goto fail_last;
		}
	}
	/* pass 2 advanced off[i] to the end of interval i: shift back */
	for (int i = ix->k; i > 0; i--)
		ix->off[i] = ix->off[i - 1];
	ix->off[0] = 0;
	free(last);
	free(edge);
	p->index = ix;
	return;
fail_last:
	free(last);
fail:
	free(edge);
	pol_index_free(ix);
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
