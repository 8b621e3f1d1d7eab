/* test_index.c — the port index gives exactly the linear scan's answers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
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

Test(index, same_answers_as_scan)
{
	for (int round = 0; round < 40; round++) {
		int nrules = 8 + (int)(rnd() % 60);
		size_t cap = (size_t)nrules * 160;
		char *text = malloc(cap), *w = text;
		for (int i = 0; i < nrules; i++)
			w += random_rule(w, cap - (size_t)(w - text), i);
		pol_diags d;
		pol_policy *p = pol_load_string(text, "t", &d);
		free(text);
		cr_assert_not_null(p, "%s", d.count ? d.items[0].msg : "");
		cr_assert_not_null(p->index, "index built for %d rules", nrules);
		for (int k = 0; k < 400; k++) {
			char addr[32];
			snprintf(addr, sizeof addr, "10.%u.1.1", rnd() % 4);
			uint16_t port = (uint16_t)(some_ports[rnd() % 10] + (rnd() % 3) - 1);
			pol_direction dir = rnd() % 2 ? POL_DIR_INBOUND : POL_DIR_OUTBOUND;
			pol_query q = q_make(dir, addr, port, NULL);
			pol_decision a, b;
			pol_decide(p, &q, &a);
			struct pol_index *ix = p->index;
			p->index = NULL;
			pol_decide(p, &q, &b);
			p->index = ix;
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
