/* test_index.c — the port and address indexes give exactly the linear scan's
 * answers; pol_decide_fixed. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"
#include "pol_internal.h"

static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;   /* fixed seed: reproducible */
	return rnd_state >> 8;
}

static const uint16_t some_ports[] = { 1, 22, 80, 443, 1000, 1999, 2000, 5432, 65534, 65535 };

/* A random rule from a small vocabulary, so queries hit edges often. */
static int random_rule(char *w, size_t cap, int i)
{
	int n = snprintf(w, cap, "[rule r%d]\n", i);
	if (rnd() % 3) {
		uint16_t a = some_ports[rnd() % 10], b = some_ports[rnd() % 10];
		if (rnd() % 2)
			n += snprintf(w + n, cap - (size_t)n, "port = %u\n", a);
		else
			n += snprintf(w + n, cap - (size_t)n, "port = %u-%u, %u\n", a < b ? a : b, a < b ? b : a,
			              some_ports[rnd() % 10]);
	}
	if (rnd() % 2)
		n += snprintf(w + n, cap - (size_t)n, "remote = 10.%u.0.0/16\n", rnd() % 3);
	if (rnd() % 3 == 0)
		n += snprintf(w + n, cap - (size_t)n, "direction = %s\n", rnd() % 2 ? "inbound" : "outbound");
	n += snprintf(w + n, cap - (size_t)n, "action = block\n");
	return n;
}

/* A policy of nrules rules written by gen (at most per_rule bytes each),
 * indexed. */
static pol_policy *random_policy(int nrules, size_t per_rule, int (*gen)(char *, size_t, int))
{
	size_t cap = (size_t)nrules * per_rule;
	char *text = malloc(cap), *w = text;
	cr_assert_not_null(text);
	for (int i = 0; i < nrules; i++)
		w += gen(w, cap - (size_t)(w - text), i);
	pol_diags d;
	pol_policy *p = pol_load_string(text, "t", &d);
	cr_assert_not_null(p, "%s\n%s", d.count ? d.items[0].msg : "", text);
	free(text);
	cr_assert_not_null(p->index, "index built for %d rules", nrules);
	return p;
}

/* q decided with the indexes (*with) and by the linear scan (*scan). */
static void both_ways(pol_policy *p, const pol_query *q, pol_decision *with, pol_decision *scan)
{
	pol_decide(p, q, with);
	struct pol_index *ix = p->index;
	p->index = NULL;
	pol_decide(p, q, scan);
	p->index = ix;
}

Test(index, same_answers_as_scan)
{
	for (int round = 0; round < 40; round++) {
		pol_policy *p = random_policy(8 + (int)(rnd() % 60), 160, random_rule);
		for (int k = 0; k < 400; k++) {
			char addr[32];
			snprintf(addr, sizeof addr, "10.%u.1.1", rnd() % 4);
			uint16_t port = (uint16_t)(some_ports[rnd() % 10] + (rnd() % 3) - 1);
			pol_direction dir = rnd() % 2 ? POL_DIR_INBOUND : POL_DIR_OUTBOUND;
			pol_query q = q_make(dir, addr, port, NULL);
			pol_decision a, b;
			both_ways(p, &q, &a, &b);
			cr_assert_str_eq(a.rule_name, b.rule_name, "round %d: %s port %u dir %d", round, addr, port, dir);
			cr_assert_eq(a.action, b.action);
		}
		pol_free(p);
	}
}

Test(index, small_policies_scan)
{
	pol_diags d;
	pol_policy *p = pol_load_string("[rule a]\nport = 1\naction = block\n", "t", &d);
	cr_assert_not_null(p);
	cr_expect_null(p->index);
	pol_free(p);
}

/* ------------------------------------------------------------ address index
 * Differential: random policies over a small vocabulary of nested and
 * adjacent prefixes (both families, v4-mapped, /0, host routes at the ends
 * of the address space), ports, directions, protocols and program globs;
 * queries at every prefix's first and last address and one past either
 * side.  The indexed lookup must name the same rule as the linear scan. */

static const char *const v4_prefixes[] = {
	"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3", "10.1.3.0/24", "11.0.0.0/8",
	"0.0.0.0/0", "0.0.0.0/32", "255.255.255.255", "192.0.2.0/25", "192.0.2.128/25",
	"::ffff:10.1.0.0/112", "128.0.0.0/1",
};
static const char *const v6_prefixes[] = {
	"2001:db8::/32", "2001:db8:1::/48", "2001:db8:1::7", "::/0", "::1", "::",
	"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe80::/10", "2001:db8:0:0:8000::/65",
	"8000::/1",
};
static const char *const programs[] = { "ssh", "/usr/bin/*", "red?s*", "/usr/bin/curl" };

static int random_addr_rule(char *w, size_t cap, int i)
{
	int n = snprintf(w, cap, "[rule r%d]\n", i);
	unsigned pick = rnd() % 8;
	if (pick < 6) {   /* a remote list: v4, v6 or mixed, 1–3 items */
		n += snprintf(w + n, cap - (size_t)n, "remote = ");
		int items = 1 + (int)(rnd() % 3);
		for (int j = 0; j < items; j++) {
			const char *a = (pick < 3 || (pick == 5 && rnd() % 2))
			                        ? v4_prefixes[rnd() % (sizeof v4_prefixes / sizeof *v4_prefixes)]
			                        : v6_prefixes[rnd() % (sizeof v6_prefixes / sizeof *v6_prefixes)];
			n += snprintf(w + n, cap - (size_t)n, "%s%s", j ? ", " : "", a);
		}
		n += snprintf(w + n, cap - (size_t)n, "\n");
	} else if (pick == 6) {
		n += snprintf(w + n, cap - (size_t)n, "remote = any\n");
	}
	if (rnd() % 3 == 0)
		n += snprintf(w + n, cap - (size_t)n, "port = %u\n", some_ports[rnd() % 10]);
	if (rnd() % 3 == 0)
		n += snprintf(w + n, cap - (size_t)n, "direction = %s\n",
		              (const char *[]){ "inbound", "outbound", "any" }[rnd() % 3]);
	if (rnd() % 5 == 0)
		n += snprintf(w + n, cap - (size_t)n, "program = %s\n", programs[rnd() % 4]);
	bool udp = rnd() % 6 == 0;
	if (udp)
		n += snprintf(w + n, cap - (size_t)n, "protocol = udp\n");
	n += snprintf(w + n, cap - (size_t)n, "action = %s\n",
	              udp ? "bypass" : (const char *[]){ "bypass", "block", "require", "request" }[rnd() % 4]);
	return n;
}

/* Query addresses: each prefix's first and last address and their
 * neighbours (wrapping at the ends of the space is fine: still an address). */
struct qa {
	int family;
	uint8_t b[16];
};

static void add_neighbours(struct qa *out, int *n, int family, const uint8_t *first, const uint8_t *last)
{
	int len = family == AF_INET ? 4 : 16;
	const uint8_t *src[2] = { first, last };
	for (int s = 0; s < 2; s++)
		for (int delta = -1; delta <= 1; delta++) {
			struct qa *q = &out[(*n)++];
			q->family = family;
			memcpy(q->b, src[s], (size_t)len);
			int carry = delta;
			for (int j = len - 1; j >= 0 && carry != 0; j--) {
				int v = q->b[j] + carry;
				q->b[j] = (uint8_t)v;
				carry = v < 0 ? -1 : v > 255 ? 1 : 0;
			}
		}
}

static int query_addrs(struct qa *out)
{
	int n = 0;
	const char *const *lists[2] = { v4_prefixes, v6_prefixes };
	size_t counts[2] = { sizeof v4_prefixes / sizeof *v4_prefixes, sizeof v6_prefixes / sizeof *v6_prefixes };
	for (int l = 0; l < 2; l++)
		for (size_t i = 0; i < counts[l]; i++) {
			char a[64];
			snprintf(a, sizeof a, "%s", lists[l][i]);
			char *slash = strchr(a, '/');
			int bits = -1;
			if (slash) {
				*slash = '\0';
				bits = atoi(slash + 1);
			}
			uint8_t first[16] = { 0 }, last[16];
			int family = inet_pton(AF_INET, a, first) == 1 ? AF_INET : AF_INET6;
			if (family == AF_INET6)
				cr_assert_eq(inet_pton(AF_INET6, a, first), 1, "%s", a);
			int len = family == AF_INET ? 4 : 16;
			if (bits < 0)
				bits = len * 8;
			memcpy(last, first, 16);
			for (int bit = bits; bit < len * 8; bit++)
				last[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
			add_neighbours(out, &n, family, first, last);
		}
	return n;
}

static void q_addr(pol_query *q, const struct qa *a, bool as_mapped)
{
	memset(&q->remote, 0, sizeof q->remote);
	if (a->family == AF_INET && !as_mapped) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&q->remote;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a->b, 4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&q->remote;
		s6->sin6_family = AF_INET6;
		if (a->family == AF_INET) {   /* ::ffff:a.b.c.d */
			s6->sin6_addr.s6_addr[10] = 0xff;
			s6->sin6_addr.s6_addr[11] = 0xff;
			memcpy(&s6->sin6_addr.s6_addr[12], a->b, 4);
		} else {
			memcpy(&s6->sin6_addr, a->b, 16);
		}
	}
}

Test(index, address_index_same_answers_as_scan)
{
	static struct qa addrs[(sizeof v4_prefixes / sizeof *v4_prefixes + sizeof v6_prefixes / sizeof *v6_prefixes) * 6];
	int n_addrs = query_addrs(addrs);
	const char *progs[] = { NULL, "/usr/bin/ssh", "/usr/bin/redis-server", "/opt/x/curl" };
	int with_v4 = 0, with_v6 = 0, checked = 0;
	rnd_state = 4242;
	for (int round = 0; round < 120; round++) {
		pol_policy *p = random_policy(8 + (int)(rnd() % (round % 4 == 3 ? 400 : 40)), 256, random_addr_rule);
		with_v4 += p->index->v4.k > 0;
		with_v6 += p->index->v6.k > 0;
		for (int k = 0; k < n_addrs; k++)
			for (int variant = 0; variant < 3; variant++) {
				pol_query q;
				memset(&q, 0, sizeof q);
				q_addr(&q, &addrs[k], variant == 2);
				q.protocol = rnd() % 5 == 0 ? POL_PROTO_UDP : POL_PROTO_TCP;
				q.direction = rnd() % 2 ? POL_DIR_INBOUND : POL_DIR_OUTBOUND;
				q.port = (uint16_t)(some_ports[rnd() % 10] + (rnd() % 3) - 1);
				q.program = progs[rnd() % 4];
				pol_decision a, b;
				both_ways(p, &q, &a, &b);
				cr_assert_str_eq(a.rule_name, b.rule_name, "round %d, address %d variant %d", round, k, variant);
				cr_assert_eq(a.action, b.action);
				checked++;
			}
		pol_free(p);
	}
	/* the index must actually have been there to be tested */
	cr_expect_gt(with_v4, 100, "v4 index in %d of 120 policies", with_v4);
	cr_expect_gt(with_v6, 100, "v6 index in %d of 120 policies", with_v6);
	cr_expect_gt(checked, 10000);
}

/* The case the address index is for: many rules on the remote address only. */
Test(index, address_only_rules)
{
	enum { N = 1000 };
	char *text = malloc(N * 80), *w = text;
	for (int i = 0; i < N; i++)
		w += sprintf(w, "[rule r%d]\nremote = 10.%d.%d.0/24, 2001:db8:%x::/48\naction = bypass\n", i,
		             i >> 8, i & 255, i);
	pol_diags d;
	pol_policy *p = pol_load_string(text, "t", &d);
	free(text);
	cr_assert_not_null(p, "%s", d.count ? d.items[0].msg : "");
	cr_assert_not_null(p->index);
	cr_expect_gt(p->index->v4.k, 0);
	cr_expect_gt(p->index->v6.k, 0);
	cr_expect_str_eq(q_rule(p, POL_DIR_OUTBOUND, "10.3.231.9", 80, NULL), "r999");
	cr_expect_str_eq(q_rule(p, POL_DIR_INBOUND, "10.0.0.255", 80, NULL), "r0");
	cr_expect_str_eq(q_rule(p, POL_DIR_OUTBOUND, "2001:db8:3e7:ffff::1", 80, NULL), "r999");
	cr_expect_str_eq(q_rule(p, POL_DIR_OUTBOUND, "10.3.232.0", 80, NULL), "defaults");
	cr_expect_str_eq(q_rule(p, POL_DIR_OUTBOUND, "2001:db8:3e8::", 80, NULL), "defaults");
	pol_free(p);
}

/* pol_decide_fixed: the decision does not depend on address or port exactly
 * when the first rule that can match has neither key. */
Test(index, decide_fixed)
{
	pol_decision d;
	pol_policy *p = pol_load_string("[rule ssh]\nprogram = ssh\nport = 22\naction = require\n"
	                                "[rule in]\ndirection = inbound\naction = bypass\n"
	                                "[rule lan]\nremote = 10.0.0.0/8\naction = block\n",
	                                "t", NULL);
	cr_assert_not_null(p);
	cr_expect(pol_decide_fixed(p, POL_PROTO_TCP, POL_DIR_INBOUND, "/usr/bin/redis-server", &d));
	cr_expect_str_eq(d.rule_name, "in");
	cr_expect_eq(d.action, POL_BYPASS);
	/* ssh's port rule comes first: depends on the port */
	cr_expect_not(pol_decide_fixed(p, POL_PROTO_TCP, POL_DIR_INBOUND, "/usr/bin/ssh", &d));
	/* outbound: lan depends on the address */
	cr_expect_not(pol_decide_fixed(p, POL_PROTO_TCP, POL_DIR_OUTBOUND, "/usr/bin/redis-server", &d));
	/* udp: no rule can match: the defaults, adjusted for datagrams */
	cr_expect(pol_decide_fixed(p, POL_PROTO_UDP, POL_DIR_OUTBOUND, NULL, &d));
	cr_expect_str_eq(d.rule_name, "defaults");
	cr_expect_eq(d.action, POL_BYPASS);
	pol_free(p);
}

/* pol_decide_fixed against pol_decide on random policies: whenever it says
 * "fixed", every address and port must get that same rule and action (the
 * preload's quiet bypass rests on this: a wrong "fixed bypass" would leave a
 * governed socket alone).  Rules mix remote (v4, v6, v4-mapped, /0, any),
 * port (one, any, the full range), direction, program globs and udp. */
Test(index, decide_fixed_agrees_with_decide)
{
	static const char *remotes[] = { "10.0.0.0/8", "10.1.2.3", "0.0.0.0/0", "::ffff:10.1.0.0/112",
	                                 "192.0.2.0/25", "::/0", "::1", "2001:db8::/32", "any" };
	static const char *ports[] = { "443", "any", "1-65535" };
	static const char *dirs[] = { "inbound", "outbound", "any" };
	static const char *progs[] = { "ssh", "/usr/bin/*", "py*", "/usr/bin/curl" };
	static const char *acts[] = { "bypass", "block", "require", "request" };
	static const char *exe[] = { NULL, "/usr/bin/python3", "/usr/bin/ssh", "/usr/bin/curl" };
	long fixed = 0;

	rnd_state = 777;
	for (int round = 0; round < 1500; round++) {
		char text[8192];
		int n = 0, nr = 1 + (int)(rnd() % 12);
		pol_policy *p;

		for (int i = 0; i < nr; i++) {
			int udp = rnd() % 5 == 0;
			n += snprintf(text + n, sizeof text - (size_t)n, "[rule r%d]\n", i);
			if (rnd() % 3 == 0)
				n += snprintf(text + n, sizeof text - (size_t)n, "remote = %s\n", remotes[rnd() % 9]);
			if (rnd() % 4 == 0)
				n += snprintf(text + n, sizeof text - (size_t)n, "port = %s\n", ports[rnd() % 3]);
			if (rnd() % 2)
				n += snprintf(text + n, sizeof text - (size_t)n, "direction = %s\n", dirs[rnd() % 3]);
			if (rnd() % 3 == 0)
				n += snprintf(text + n, sizeof text - (size_t)n, "program = %s\n", progs[rnd() % 4]);
			if (udp)
				n += snprintf(text + n, sizeof text - (size_t)n, "protocol = udp\n");
			n += snprintf(text + n, sizeof text - (size_t)n, "action = %s\n", udp ? "bypass" : acts[rnd() % 4]);
		}
		if (rnd() % 2)
			n += snprintf(text + n, sizeof text - (size_t)n, "[defaults]\naction = %s\n", acts[rnd() % 4]);
		p = pol_load_string(text, "t", NULL);
		if (!p)
			continue;
		for (int pi = 0; pi < 4; pi++) {
			for (int dir = POL_DIR_INBOUND; dir <= POL_DIR_OUTBOUND; dir++) {
				pol_decision f;
				if (!pol_decide_fixed(p, POL_PROTO_TCP, (pol_direction)dir, exe[pi], &f))
					continue;
				fixed++;
				for (int k = 0; k < 100; k++) {
					pol_query q;
					pol_decision x;
					memset(&q, 0, sizeof q);
					q.protocol = POL_PROTO_TCP;
					q.direction = (pol_direction)dir;
					q.program = exe[pi];
					q.port = (uint16_t)(k % 3 == 0 ? 443 : rnd());
					if (k % 2) {
						struct sockaddr_in *s = (struct sockaddr_in *)&q.remote;
						s->sin_family = AF_INET;
						s->sin_addr.s_addr = htonl(k % 4 == 1 ? 0x0a010203u : rnd() << 8 | rnd() % 256);
					} else {
						struct sockaddr_in6 *s = (struct sockaddr_in6 *)&q.remote;
						static const uint8_t db8[4] = { 0x20, 0x01, 0x0d, 0xb8 };
						s->sin6_family = AF_INET6;
						if (k % 4)
							memcpy(s->sin6_addr.s6_addr, db8, sizeof db8);
						s->sin6_addr.s6_addr[15] = 1;
					}
					pol_decide(p, &q, &x);
					cr_assert(x.action == f.action && strcmp(x.rule_name, f.rule_name) == 0,
					          "fixed said %s/%d, decide says %s/%d (port %u)\n%s", f.rule_name,
					          f.action, x.rule_name, x.action, q.port, text);
				}
			}
		}
		pol_free(p);
	}
	cr_expect_gt(fixed, 1000, "only %ld fixed answers: the generator stopped exercising it", fixed);
}
