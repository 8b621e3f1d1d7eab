/* helpers.h — shared by the policy tests. */
#ifndef POL_TEST_HELPERS_H
#define POL_TEST_HELPERS_H

#include <arpa/inet.h>
#include <string.h>
#include "pol.h"

/* A query for addr (v4 or v6 literal) and port. */
static inline pol_query q_make(pol_direction dir, const char *addr, uint16_t port, const char *prog)
{
	pol_query q;
	memset(&q, 0, sizeof q);
	q.protocol = POL_PROTO_TCP;
	q.direction = dir;
	q.port = port;
	q.program = prog;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&q.remote;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&q.remote;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	return q;
}

/* Name of the rule that decides this query. */
static inline const char *q_rule(const pol_policy *p, pol_direction dir, const char *addr,
                                 uint16_t port, const char *prog)
{
	pol_query q = q_make(dir, addr, port, prog);
	pol_decision d;
	pol_decide(p, &q, &d);
	return d.rule_name;
}

#endif
