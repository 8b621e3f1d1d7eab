/* fuzz_policy.c — libFuzzer target for the policy parser and matcher.
 *
 * Arbitrary bytes → pol_load_string.  Whatever the input, the parser must
 * not crash, leak or read out of bounds; when it accepts a policy, every
 * message must be a warning and a lookup on it must work.  When the policy
 * has indexes (8 rules or more), lookups at the edges of every rule's
 * prefixes and port ranges must name the same rule with the indexes as
 * with the linear scan (first match wins either way).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "pol_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_programs[] = { NULL, "/usr/bin/psql", "/usr/bin/ssh", "curl" };

/* Decide q with and without the indexes; abort if they disagree. */
static void same_both_ways(pol_policy *p, const pol_query *q)
{
	pol_decision a, b;
	pol_decide(p, q, &a);
	struct pol_index *ix = p->index;
	p->index = NULL;
	pol_decide(p, q, &b);
	p->index = ix;
	if (a.rule != b.rule || a.action != b.action)
		abort();
}

static void put_v4(pol_query *q, uint32_t v4)
{
	memset(&q->remote, 0, sizeof q->remote);
	struct sockaddr_in *s4 = (struct sockaddr_in *)&q->remote;
	s4->sin_family = AF_INET;
	s4->sin_addr.s_addr = htonl(v4);
}

static void put_v6(pol_query *q, uint64_t hi, uint64_t lo)
{
	memset(&q->remote, 0, sizeof q->remote);
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&q->remote;
	s6->sin6_family = AF_INET6;
	for (int i = 0; i < 8; i++) {
		s6->sin6_addr.s6_addr[i] = (uint8_t)(hi >> (56 - 8 * i));
		s6->sin6_addr.s6_addr[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
	}
}

/* Queries around every prefix and port range of the first rules, with a
 * direction, protocol and program that vary with the position. */
static void differential(pol_policy *p)
{
	enum { MAX_RULES = 64, MAX_ITEMS = 4 };
	unsigned n = 0;
	for (int r = 0; r < p->n_rules && r < MAX_RULES; r++) {
		const struct pol_match *m = &p->match[r];
		uint16_t ports[3] = { 80, 0, 0 };
		if (m->n_ports > 0) {
			ports[0] = m->ports[0].lo;
			ports[1] = m->ports[0].hi;
			ports[2] = (uint16_t)(m->ports[0].hi + 1);
		}
		for (unsigned j = 0; j < m->n_v4 + m->n_v6 && j < MAX_ITEMS; j++)
			for (int edge = 0; edge < 4; edge++) {
				pol_query q;
				memset(&q, 0, sizeof q);
				if (j < m->n_v4) {
					const struct pol_cidr4 *c = &m->v4[j];
					uint32_t last = c->addr | ~c->mask;
					uint32_t v[4] = { c->addr, last, last + 1, c->addr - 1 };
					put_v4(&q, v[edge]);
				} else {
					const struct pol_cidr6 *c = &m->v6[j - m->n_v4];
					uint64_t hi = c->hi | ~c->mhi, lo = c->lo | ~c->mlo;
					switch (edge) {
					case 0: put_v6(&q, c->hi, c->lo); break;
					case 1: put_v6(&q, hi, lo); break;
					case 2: put_v6(&q, lo == UINT64_MAX ? hi + 1 : hi, lo + 1); break;
					default: put_v6(&q, c->lo == 0 ? c->hi - 1 : c->hi, c->lo - 1); break;
					}
				}
				n++;
				q.protocol = n % 5 == 0 ? POL_PROTO_UDP : POL_PROTO_TCP;
				q.direction = n % 2 ? POL_DIR_INBOUND : POL_DIR_OUTBOUND;
				q.port = ports[n % 3];
				q.program = fuzz_programs[n % 4];
				same_both_ways(p, &q);
			}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	pol_diags d;
	pol_policy *p = pol_load_string(text, "fuzz", &d);
	free(text);
	if (p != NULL) {
		if (d.errors != 0)
			abort();
		pol_query q;
		memset(&q, 0, sizeof q);
		put_v4(&q, 0x0a010203);
		q.port = 5432;
		q.direction = POL_DIR_OUTBOUND;
		q.program = "/usr/bin/psql";
		pol_decision dec;
		pol_decide(p, &q, &dec);
		if (dec.settings == NULL || dec.rule_name == NULL)
			abort();
		if (p->index != NULL) {
			same_both_ways(p, &q);
			differential(p);
		}
		pol_free(p);
	} else if (d.errors == 0) {
		abort();   /* refused without saying why */
	}
	for (int i = 0; i < d.count; i++)
		if (memchr(d.items[i].msg, '\0', sizeof d.items[i].msg) == NULL)
			abort();
	return 0;
}
