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
 * v4-mapped IPv6, so those match IPv4 rules: an AF_INET6 socket connects
 * to ::ffff:a.b.c.d over IPv4, ipv6(7)) or a native IPv6 address.  An
 * outbound query for an unspecified address is asked as the loopback
 * address Linux connects it to (0.0.0.0 and ::ffff:0.0.0.0 -> 127.0.0.1:
 * the IPv4 route lookup sends a zero destination to the host itself;
 * :: -> ::1: tcp_v6_connect, "connect() to INADDR_ANY means loopback
 * (BSD'ism)"), so a loopback rule governs them too. */
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

static void norm_addr(const struct sockaddr_storage *ss, bool outbound, struct qaddr *q)
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
	if (outbound && q->family == AF_INET && q->v4 == 0)
		q->v4 = 0x7f000001;   /* INADDR_LOOPBACK */
	else if (outbound && q->family == AF_INET6 && q->hi == 0 && q->lo == 0)
		q->lo = 1;            /* in6addr_loopback */
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

/* First matching rule among the candidates x..xe merged with w..we (both
 * ascending), or -1. */
static int scan_merged(const pol_policy *p, const pol_query *q, const struct qaddr *a, const char *base,
                       const uint32_t *x, const uint32_t *xe, const uint32_t *w, const uint32_t *we)
{
	while (x < xe || w < we) {
		uint32_t i = (w == we || (x < xe && *x < *w)) ? *x++ : *w++;
		if (rule_matches(&p->match[i], q, a, base))
			return (int)i;
	}
	return -1;
}

static int port_interval(const struct pol_pindex *ix, uint16_t port)
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

static bool a128_le(struct pol_a128 x, struct pol_a128 y)
{
	return x.hi < y.hi || (x.hi == y.hi && x.lo <= y.lo);
}

static int addr_interval(const struct pol_aindex *ix, struct pol_a128 key)
{
	int lo = 0, hi = ix->k - 1;
	while (lo < hi) {
		int mid = (lo + hi + 1) / 2;
		if (a128_le(ix->start[mid], key))
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

enum { SHORT_LIST = 8 };

/* First matching rule index, or -1.  With an index: the shorter of the two
 * candidate lists (port, address), each a superset of the matching rules in
 * rule order (pol_internal.h). */
static int first_match(const pol_policy *p, const pol_query *q, const struct qaddr *a, const char *base)
{
	const struct pol_index *ix = p->index;
	const uint32_t *x = NULL, *xe = NULL, *w = NULL, *we = NULL;
	size_t best = (size_t)p->n_rules;

	if (ix != NULL && ix->port.k > 0) {
		const struct pol_pindex *pi = &ix->port;
		int i = port_interval(pi, q->port);
		size_t n = (size_t)(pi->off[i + 1] - pi->off[i]) + pi->n_wild;
		if (n < best) {
			best = n;
			x = pi->ids + pi->off[i], xe = pi->ids + pi->off[i + 1];
			w = pi->wild, we = pi->wild + pi->n_wild;
		}
	}
	/* A short port list is scanned faster than the address index is
	 * searched (about 11 steps of 128-bit compares at 1,000 rules). */
	const struct pol_aindex *ai = NULL;
	struct pol_a128 key = { 0, 0 };
	if (x != NULL && best <= SHORT_LIST) {
		/* keep the port candidates */
	} else if (ix != NULL && a->family == AF_INET && ix->v4.k > 0) {
		ai = &ix->v4;
		key.lo = a->v4;
	} else if (ix != NULL && a->family == AF_INET6 && ix->v6.k > 0) {
		ai = &ix->v6;
		key.hi = a->hi;
		key.lo = a->lo;
	}
	if (ai != NULL) {
		int i = addr_interval(ai, key);
		size_t n = (size_t)(ai->off[i + 1] - ai->off[i]) + ai->n_wild;
		if (n < best || x == NULL) {
			best = n;
			x = ai->ids + ai->off[i], xe = ai->ids + ai->off[i + 1];
			w = ai->wild, we = ai->wild + ai->n_wild;
		}
	}
	if (x != NULL)
		return scan_merged(p, q, a, base, x, xe, w, we);
	for (int i = 0; i < p->n_rules; i++)
		if (rule_matches(&p->match[i], q, a, base))
			return i;
	return -1;
}

static const char *base_of(const char *program)
{
	if (program == NULL)
		return NULL;
	const char *sl = strrchr(program, '/');
	return sl ? sl + 1 : program;
}

static void decided(const pol_policy *p, int i, pol_protocol protocol, pol_decision *out)
{
	if (i >= 0) {
		out->action = p->rules[i]->action;
		out->rule = p->rules[i];
		out->rule_name = p->rules[i]->name;
		out->settings = &p->rules[i]->eff;
		return;
	}
	out->action = p->defaults.action;
	/* Datagrams are not governed yet (issue 3): whatever the default,
	 * a udp flow is what the preload does with it — left alone. */
	if (protocol == POL_PROTO_UDP)
		out->action = POL_BYPASS;
	out->rule = NULL;
	out->rule_name = "defaults";
	out->settings = &p->defaults.eff;
}

void pol_decide(const pol_policy *p, const pol_query *q, pol_decision *out)
{
	struct qaddr a;
	norm_addr(&q->remote, q->direction == POL_DIR_OUTBOUND, &a);
	decided(p, first_match(p, q, &a, base_of(q->program)), q->protocol, out);
}

/* Rules are tried in order: the first one that can match (protocol,
 * direction, program) decides for every address and port when it has no
 * port and no remote key; if it has either, some queries may pass it and
 * others not, so the answer depends on them. */
bool pol_decide_fixed(const pol_policy *p, pol_protocol protocol, pol_direction direction,
                      const char *program, pol_decision *out)
{
	const char *base = base_of(program);
	for (int i = 0; i < p->n_rules; i++) {
		const struct pol_match *m = &p->match[i];
		if (m->protocol != protocol || (m->direction != POL_DIR_ANY && m->direction != direction) ||
		    !program_matches(m, program, base))
			continue;
		if (m->n_ports != 0 || !m->any_remote)
			return false;
		decided(p, i, protocol, out);
		return true;
	}
	decided(p, -1, protocol, out);
	return true;
}

/* ------------------------------------------------------------ indexes */

static void pindex_free(struct pol_pindex *ix)
{
	free(ix->start);
	free(ix->off);
	free(ix->ids);
	free(ix->wild);
	memset(ix, 0, sizeof *ix);
}

static void aindex_free(struct pol_aindex *ix)
{
	free(ix->start);
	free(ix->off);
	free(ix->ids);
	free(ix->wild);
	memset(ix, 0, sizeof *ix);
}

void pol_index_free(struct pol_index *ix)
{
	if (ix == NULL)
		return;
	pindex_free(&ix->port);
	aindex_free(&ix->v4);
	aindex_free(&ix->v6);
	free(ix);
}

/* Below this many rules a scan is as fast as the index. */
enum { INDEX_MIN_RULES = 8 };

/* Many wide ranges would make an index larger than it is worth (each rule
 * is listed in every interval it covers): past this, that index is not
 * built and lookups use the other one or scan. */
static bool index_too_big(uint64_t total, int n_rules)
{
	return total > 64u * (uint64_t)n_rules + 65536u;
}

/* A rule's range (of ports or addresses) as the intervals it covers. */
struct span {
	uint32_t rule;
	int first, last;       /* intervals first..last, inclusive */
};

/* The per-interval candidate lists of an index from spans in ascending
 * rule order: ids[off[i] .. off[i+1]) are the rules with a span covering
 * interval i, ascending, each once (two overlapping ranges of one rule are
 * merged).  false when out of memory or the lists would be too big. */
static bool lists_build(const struct span *sp, size_t n, int k, int n_rules, uint32_t **off_out,
                        uint32_t **ids_out)
{
	uint32_t *off = calloc((size_t)k + 1, sizeof *off), *ids = NULL;
	uint32_t *last = malloc((size_t)k * sizeof *last);
	if (off == NULL || last == NULL)
		goto fail;
	/* pass 0 counts entries per interval, pass 1 fills them; last[i] is
	 * the rule seen last in interval i */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < k; i++)
			last[i] = UINT32_MAX;
		uint64_t total = 0;
		for (size_t j = 0; j < n; j++)
			for (int i = sp[j].first; i <= sp[j].last; i++) {
				if (last[i] == sp[j].rule)
					continue;
				last[i] = sp[j].rule;
				if (pass == 0)
					off[i + 1]++;
				else
					ids[off[i]++] = sp[j].rule;
				total++;
			}
		if (pass == 0) {
			if (index_too_big(total, n_rules))
				goto fail;
			for (int i = 0; i < k; i++)
				off[i + 1] += off[i];
			ids = malloc((total ? total : 1) * sizeof *ids);
			if (ids == NULL)
				goto fail;
		}
	}
	/* pass 1 advanced off[i] to the end of interval i: shift back */
	for (int i = k; i > 0; i--)
		off[i] = off[i - 1];
	off[0] = 0;
	free(last);
	*off_out = off;
	*ids_out = ids;
	return true;
fail:
	free(last);
	free(off);
	free(ids);
	return false;
}

static bool pindex_build(const pol_policy *p, struct pol_pindex *ix)
{
	uint8_t *edge = calloc(65536, 1);
	struct span *sp = NULL;
	size_t n = 0, n_ranges = 0;
	if (edge == NULL)
		return false;
	/* interval edges: every range start and every end + 1 */
	edge[0] = 1;
	uint32_t n_wild = 0;
	for (int r = 0; r < p->n_rules; r++) {
		const struct pol_match *m = &p->match[r];
		if (m->n_ports == 0)
			n_wild++;
		n_ranges += m->n_ports;
		for (unsigned j = 0; j < m->n_ports; j++) {
			edge[m->ports[j].lo] = 1;
			if (m->ports[j].hi < 65535)
				edge[m->ports[j].hi + 1] = 1;
		}
	}
	int k = 0;
	for (int i = 0; i < 65536; i++)
		k += edge[i];
	ix->start = malloc((size_t)k * sizeof *ix->start);
	ix->wild = malloc((n_wild ? n_wild : 1) * sizeof *ix->wild);
	sp = malloc((n_ranges ? n_ranges : 1) * sizeof *sp);
	if (ix->start == NULL || ix->wild == NULL || sp == NULL)
		goto fail;
	for (int i = 0, j = 0; i < 65536; i++)
		if (edge[i])
			ix->start[j++] = (uint16_t)i;
	ix->k = k;
	for (int r = 0; r < p->n_rules; r++) {
		const struct pol_match *m = &p->match[r];
		if (m->n_ports == 0)
			ix->wild[ix->n_wild++] = (uint32_t)r;
		for (unsigned j = 0; j < m->n_ports; j++)
			sp[n++] = (struct span){ (uint32_t)r, port_interval(ix, m->ports[j].lo),
			                         port_interval(ix, m->ports[j].hi) };
	}
	if (!lists_build(sp, n, k, p->n_rules, &ix->off, &ix->ids))
		goto fail;
	free(sp);
	free(edge);
	return true;
fail:
	free(sp);
	free(edge);
	pindex_free(ix);
	return false;
}

/* One prefix as an inclusive range of 128-bit numbers. */
struct arange {
	struct pol_a128 lo, hi;
	uint32_t rule;
};

static int a128_cmp(const void *x, const void *y)
{
	const struct pol_a128 *a = x, *b = y;
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	return 0;
}

static bool a128_eq(struct pol_a128 x, struct pol_a128 y)
{
	return x.hi == y.hi && x.lo == y.lo;
}

/* x + 1; false when x is the family's last address (no edge after it). */
static bool a128_next(struct pol_a128 x, bool v6, struct pol_a128 *out)
{
	if (!v6) {
		if (x.lo >= UINT32_MAX)
			return false;
		*out = (struct pol_a128){ 0, x.lo + 1 };
		return true;
	}
	if (x.lo != UINT64_MAX) {
		*out = (struct pol_a128){ x.hi, x.lo + 1 };
		return true;
	}
	if (x.hi == UINT64_MAX)
		return false;
	*out = (struct pol_a128){ x.hi + 1, 0 };
	return true;
}

/* The rule's prefixes of one family as ranges (appended to rg); true when
 * the rule matches every address of the family. */
static bool rule_ranges(const struct pol_match *m, uint32_t r, bool v6, struct arange *rg, size_t *n)
{
	if (m->any_remote)
		return true;
	if (!v6) {
		for (unsigned j = 0; j < m->n_v4; j++)
			if (m->v4[j].bits == 0)
				return true;
		for (unsigned j = 0; j < m->n_v4; j++)
			rg[(*n)++] = (struct arange){ { 0, m->v4[j].addr }, { 0, m->v4[j].addr | ~m->v4[j].mask }, r };
	} else {
		for (unsigned j = 0; j < m->n_v6; j++)
			if (m->v6[j].bits == 0)
				return true;
		for (unsigned j = 0; j < m->n_v6; j++)
			rg[(*n)++] = (struct arange){ { m->v6[j].hi, m->v6[j].lo },
			                              { m->v6[j].hi | ~m->v6[j].mhi, m->v6[j].lo | ~m->v6[j].mlo }, r };
	}
	return false;
}

static bool aindex_build(const pol_policy *p, bool v6, struct pol_aindex *ix)
{
	size_t n_pref = 0, n = 0;
	uint32_t n_wild = 0;
	for (int r = 0; r < p->n_rules; r++)
		n_pref += v6 ? p->match[r].n_v6 : p->match[r].n_v4;
	struct arange *rg = malloc((n_pref ? n_pref : 1) * sizeof *rg);
	struct pol_a128 *edge = malloc((2 * n_pref + 1) * sizeof *edge);
	struct span *sp = malloc((n_pref ? n_pref : 1) * sizeof *sp);
	ix->wild = malloc((size_t)p->n_rules * sizeof *ix->wild);
	if (rg == NULL || edge == NULL || sp == NULL || ix->wild == NULL)
		goto fail;
	for (int r = 0; r < p->n_rules; r++)
		if (rule_ranges(&p->match[r], (uint32_t)r, v6, rg, &n))
			ix->wild[n_wild++] = (uint32_t)r;
	ix->n_wild = n_wild;
	/* interval edges: the family's first address, every prefix's first
	 * address and every last address + 1 */
	size_t ne = 0;
	edge[ne++] = (struct pol_a128){ 0, 0 };
	for (size_t j = 0; j < n; j++) {
		edge[ne++] = rg[j].lo;
		if (a128_next(rg[j].hi, v6, &edge[ne]))
			ne++;
	}
	qsort(edge, ne, sizeof *edge, a128_cmp);
	size_t k = 0;
	for (size_t j = 0; j < ne; j++)
		if (k == 0 || !a128_eq(edge[j], edge[k - 1]))
			edge[k++] = edge[j];
	ix->start = edge;
	edge = NULL;
	ix->k = (int)k;
	for (size_t j = 0; j < n; j++)
		sp[j] = (struct span){ rg[j].rule, addr_interval(ix, rg[j].lo), addr_interval(ix, rg[j].hi) };
	if (!lists_build(sp, n, (int)k, p->n_rules, &ix->off, &ix->ids))
		goto fail;
	free(sp);
	free(rg);
	return true;
fail:
	free(sp);
	free(edge);
	free(rg);
	aindex_free(ix);
	return false;
}

void pol_index_build(pol_policy *p)
{
	if (p->n_rules < INDEX_MIN_RULES)
		return;
	struct pol_index *ix = calloc(1, sizeof *ix);
	if (ix == NULL)
		return;
	bool any = pindex_build(p, &ix->port);
	any |= aindex_build(p, false, &ix->v4);
	any |= aindex_build(p, true, &ix->v6);
	if (!any) {
		pol_index_free(ix);
		return;
	}
	p->index = ix;
}

pol_origin pol_setting_origin(const pol_policy *p, const pol_rule *r, const char *key)
{
	int k = pol_key_from_name(key);
	if (k < 0)
		return POL_FROM_BUILTIN;
	uint64_t bit = UINT64_C(1) << k;
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
