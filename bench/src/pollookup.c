/* pollookup — nanoseconds per policy decision with R rules.
 *
 *   pollookup RULES ITERATIONS [port|remote]
 *                                 prints "ns_nomatch ns_lastrule rules"
 *
 * Builds a policy of RULES distinct outbound rules — "port" (default): one
 * port and one /24 each; "remote": one /24 and one IPv6 /48 each, no port
 * (the rules only the address index can narrow down) — compiles it with
 * pol_load_string, and times pol_decide for two queries: one that matches
 * nothing (every rule is tried, then the defaults) and one that matches
 * only the last rule.  Both are the worst case for a first-match list.
 * Linked against libsecsock-core.a.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "pol.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void query_for(pol_query *q, const char *ip, unsigned port)
{
	memset(q, 0, sizeof *q);
	q->protocol = POL_PROTO_TCP;
	q->direction = POL_DIR_OUTBOUND;
	struct sockaddr_in *a = (struct sockaddr_in *)&q->remote;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &a->sin_addr);
	q->port = (uint16_t)port;
	q->program = "/usr/bin/bench";
}

static double time_decide(const pol_policy *p, const pol_query *q, long iters, const char *want)
{
	pol_decision d;
	volatile int sink = 0;
	pol_decide(p, q, &d);
	if (want != NULL && (d.rule_name == NULL || strcmp(d.rule_name, want) != 0)) {
		fprintf(stderr, "pollookup: expected rule %s, got %s\n", want,
			d.rule_name ? d.rule_name : "(null)");
		exit(1);
	}
	double t0 = now();
	for (long i = 0; i < iters; i++) {
		pol_decide(p, q, &d);
		sink += (int)d.action;
	}
	double t = now() - t0;
	(void)sink;
	return t * 1e9 / (double)iters;
}

int main(int argc, char **argv)
{
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: pollookup RULES ITERATIONS [port|remote]\n");
		return 2;
	}
	int rules = atoi(argv[1]);
	long iters = atol(argv[2]);
	bool by_port = argc == 3 || strcmp(argv[3], "port") == 0;
	if (rules < 1 || rules > 60000 || iters < 1 || (!by_port && strcmp(argv[3], "remote") != 0))
		return 2;
	size_t cap = (size_t)rules * 160 + 256;
	char *text = malloc(cap);
	if (text == NULL)
		return 2;
	size_t off = (size_t)snprintf(text, cap, "[defaults]\nciphers = aes-128-gcm\n");
	for (int i = 0; i < rules; i++)
		if (by_port)
			off += (size_t)snprintf(text + off, cap - off,
						"\n[rule r%d]\ndirection = outbound\nremote = 10.%d.%d.0/24\n"
						"port = %d\naction = bypass\n",
						i, (i >> 8) & 255, i & 255, 1000 + i);
		else
			off += (size_t)snprintf(text + off, cap - off,
						"\n[rule r%d]\ndirection = outbound\n"
						"remote = 10.%d.%d.0/24, 2001:db8:%x::/48\naction = bypass\n",
						i, (i >> 8) & 255, i & 255, i);
	pol_diags diags;
	memset(&diags, 0, sizeof diags);
	pol_policy *p = pol_load_string(text, "bench", &diags);
	if (p == NULL) {
		fprintf(stderr, "pollookup: policy rejected: %s\n",
			diags.count > 0 ? diags.items[0].msg : "(no diagnostic)");
		free(text);
		return 1;
	}
	pol_query miss, last;
	query_for(&miss, "192.0.2.1", 9);
	char ip[32];
	snprintf(ip, sizeof ip, "10.%d.%d.7", ((rules - 1) >> 8) & 255, (rules - 1) & 255);
	query_for(&last, ip, (unsigned)(1000 + rules - 1));
	char last_name[32];
	snprintf(last_name, sizeof last_name, "r%d", rules - 1);
	double ns_miss = time_decide(p, &miss, iters, "defaults");
	double ns_last = time_decide(p, &last, iters, last_name);
	printf("%.1f %.1f %d\n", ns_miss, ns_last, rules);
	pol_free(p);
	free(text);
	return 0;
}
