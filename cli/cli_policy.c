/* cli_policy.c — `secsock policy check|explain|show-default|keys`.
 *
 * The admin's view of policy/: check a file before installing it, ask which
 * rule a connection would get and where every setting comes from, and print
 * the embedded default to start a file from.  Exit status: 0 ok, 1 the
 * policy is invalid, 2 usage error.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "pol.h"
#include "ss_cred.h"

static void usage_main(FILE *f)
{
	fprintf(f,
	    "usage: secsock policy check [FILE]\n"
	    "       secsock policy explain [--policy FILE] [--program PATH] [--udp] (--to|--from) ADDR:PORT\n"
	    "       secsock policy show-default\n"
	    "       secsock policy keys\n"
	    "\n"
	    "Check, explain and print secsock policies (secsock-policy(5)).\n"
	    "'secsock policy COMMAND --help' for details.\n");
}

static void usage_check(FILE *f)
{
	fprintf(f,
	    "usage: secsock policy check [FILE]\n"
	    "\n"
	    "Check a policy file: permissions, syntax, keys, values, shadowed rules.\n"
	    "Without FILE, checks the policy this host's programs would use:\n"
	    "$SECSOCK_POLICY, else /etc/secsock/policy.conf, else the built-in default.\n"
	    "Exit 0 when valid (warnings are printed), 1 when invalid (messages on stderr).\n");
}

static void usage_explain(FILE *f)
{
	fprintf(f,
	    "usage: secsock policy explain [--policy FILE] [--program PATH] [--udp] (--to|--from) ADDR:PORT\n"
	    "\n"
	    "Show which rule a connection gets and every effective setting with its origin\n"
	    "(rule NAME, defaults, built-in).\n"
	    "  --to ADDR:PORT     an outbound connection to ADDR, remote PORT\n"
	    "  --from ADDR:PORT   an inbound connection from ADDR, arriving at local PORT\n"
	    "  --program PATH     the executable (a name or full path)\n"
	    "  --udp              a udp flow instead of tcp\n"
	    "  --policy FILE      a policy file instead of the one in force\n"
	    "IPv6 addresses in brackets: [::1]:80.\n");
}

static void print_diags(const pol_diags *d)
{
	for (int i = 0; i < d->count; i++)
		fprintf(stderr, "%s%s\n", d->items[i].warning ? "warning: " : "", d->items[i].msg);
	if (d->count < d->errors + d->warnings)
		fprintf(stderr, "(%d more messages not shown)\n", d->errors + d->warnings - d->count);
}

static bool want_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
}

static int cmd_check(int argc, char **argv)
{
	if (want_help(argc, argv)) {
		usage_check(stdout);
		return 0;
	}
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		usage_check(stderr);
		return 2;
	}
	pol_diags local = { 0 };
	const pol_diags *d = &local;
	const char *source;
	pol_policy *owned = NULL;
	const pol_policy *p;
	if (argc == 2) {
		source = argv[1];
		p = owned = pol_load_file(argv[1], &local);
	} else {
		p = pol_process_policy(&d, &source);
	}
	print_diags(d);
	if (p == NULL) {
		fprintf(stderr, "%s: invalid policy (%d error%s)\n", source, d->errors, d->errors == 1 ? "" : "s");
		return 1;
	}
	printf("%s: valid%s", source, d->warnings ? "" : "\n");
	if (d->warnings)
		printf(" (%d warning%s)\n", d->warnings, d->warnings == 1 ? "" : "s");
	pol_free(owned);
	return 0;
}

/* "1.2.3.4:80" or "[2001:db8::1]:443" */
static bool parse_endpoint(const char *s, struct sockaddr_storage *ss, uint16_t *port)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *ps;
	memset(ss, 0, sizeof *ss);
	if (s[0] == '[') {
		const char *e = strchr(s, ']');
		if (e == NULL || e[1] != ':' || (size_t)(e - s - 1) >= sizeof host)
			return false;
		memcpy(host, s + 1, (size_t)(e - s - 1));
		host[e - s - 1] = '\0';
		ps = e + 2;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return false;
	} else {
		const char *c = strrchr(s, ':');
		if (c == NULL || (size_t)(c - s) >= sizeof host)
			return false;
		memcpy(host, s, (size_t)(c - s));
		host[c - s] = '\0';
		ps = c + 1;
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return false;
	}
	char *end;
	unsigned long v = strtoul(ps, &end, 10);
	if (*ps == '\0' || *end != '\0' || v > 65535 || ps[0] == '-' || ps[0] == '+')
		return false;
	*port = (uint16_t)v;
	return true;
}

static const char *origin_text(pol_origin o, const char *rule, char *buf, size_t n)
{
	switch (o) {
	case POL_FROM_RULE: snprintf(buf, n, "rule %s", rule); return buf;
	case POL_FROM_DEFAULTS: return "defaults";
	case POL_FROM_BUILTIN: return "built-in";
	}
	return "?";
}

static int cmd_explain(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "program", required_argument, NULL, 'P' },
		{ "to", required_argument, NULL, 't' },
		{ "from", required_argument, NULL, 'f' },
		{ "udp", no_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL, *endpoint = NULL;
	pol_query q = { .protocol = POL_PROTO_TCP };
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': file = optarg; break;
		case 'P': q.program = optarg; break;
		case 'u': q.protocol = POL_PROTO_UDP; break;
		case 't':
		case 'f':
			if (endpoint != NULL) {
				fprintf(stderr, "secsock policy explain: give one of --to or --from, once\n");
				return 2;
			}
			endpoint = optarg;
			q.direction = c == 't' ? POL_DIR_OUTBOUND : POL_DIR_INBOUND;
			break;
		case 'h': usage_explain(stdout); return 0;
		default: usage_explain(stderr); return 2;
		}
	}
	if (optind != argc || endpoint == NULL) {
		usage_explain(stderr);
		return 2;
	}
	if (!parse_endpoint(endpoint, &q.remote, &q.port)) {
		fprintf(stderr, "secsock policy explain: bad address '%s' (ADDR:PORT, IPv6 as [ADDR]:PORT)\n", endpoint);
		return 2;
	}

	pol_diags local = { 0 };
	const pol_diags *d = &local;
	const char *source = file;
	pol_policy *owned = NULL;
	const pol_policy *p = file ? (owned = pol_load_file(file, &local)) : pol_process_policy(&d, &source);
	print_diags(d);
	if (p == NULL) {
		fprintf(stderr, "%s: invalid policy: every connection it governs would be refused\n", source);
		return 1;
	}
	pol_decision dec;
	pol_decide(p, &q, &dec);

	char ob[96];
	printf("policy:            %s\n", source);
	char addr[INET6_ADDRSTRLEN] = "?";
	if (q.remote.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&q.remote)->sin_addr, addr, sizeof addr);
	else
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&q.remote)->sin6_addr, addr, sizeof addr);
	printf("connection:        %s %s %s %s port %u, program %s\n",
	       q.protocol == POL_PROTO_UDP ? "udp" : "tcp",
	       q.direction == POL_DIR_OUTBOUND ? "outbound to" : "inbound from", addr,
	       q.direction == POL_DIR_OUTBOUND ? "remote" : "to local", q.port,
	       q.program ? q.program : "(unknown)");
	printf("matched:           %s%s\n", dec.rule ? "rule " : "", dec.rule ? dec.rule_name : "no rule (defaults)");
	printf("%-18s %-40s %s\n", "action", pol_action_name(dec.action),
	       origin_text(pol_setting_origin(p, dec.rule, "action"), dec.rule_name, ob, sizeof ob));
	for (int k = 0; k < pol_key_count(); k++) {
		pol_key_info ki;
		char v[1024];
		if (!pol_key_info_get(k, &ki) || !ki.setting)
			continue;
		pol_format_setting(dec.settings, ki.name, v, sizeof v);
		if (!v[0])
			snprintf(v, sizeof v, "(unset)");
		else if (!strcmp(v, "0"))
			snprintf(v, sizeof v, "0 (off)");
		printf("%-18s %-40s %s\n", ki.name, v,
		       origin_text(pol_setting_origin(p, dec.rule, ki.name), dec.rule_name, ob, sizeof ob));
	}
	pol_free(owned);
	return 0;
}

static int cmd_keys(int argc, char **argv)
{
	if (want_help(argc, argv)) {
		printf("usage: secsock policy keys\n\n"
		       "List every key a policy file may hold: where it goes ([defaults] and\n"
		       "rules, or rules only), its built-in value, and what it does.\n"
		       "secsock-policy(5) describes each in full.\n");
		return 0;
	}
	if (argc != 1) {
		fprintf(stderr, "usage: secsock policy keys\n");
		return 2;
	}
	printf("%-22s %-9s %-32s %s\n", "KEY", "WHERE", "BUILT-IN", "WHAT");
	for (int k = 0; k < pol_key_count(); k++) {
		pol_key_info ki;
		if (pol_key_info_get(k, &ki))
			printf("%-22s %-9s %-32s %s\n", ki.name, ki.match ? "rules" : "any",
			       ki.builtin ? ki.builtin : "(unset)", ki.doc);
	}
	return 0;
}

static int cmd_show_default(int argc, char **argv)
{
	if (want_help(argc, argv)) {
		printf("usage: secsock policy show-default\n\n"
		       "Print the embedded default policy, exactly the text that is compiled\n"
		       "when no policy file exists; a starting point for /etc/secsock/policy.conf.\n");
		return 0;
	}
	if (argc != 1) {
		fprintf(stderr, "usage: secsock policy show-default\n");
		return 2;
	}
	fputs(pol_default_text(), stdout);
	return 0;
}

int cli_policy_main(int argc, char **argv)
{
	if (argc < 2) {
		usage_main(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage_main(stdout);
		return 0;
	}
	if (!strcmp(cmd, "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(cmd, "explain"))
		return cmd_explain(argc - 1, argv + 1);
	if (!strcmp(cmd, "show-default"))
		return cmd_show_default(argc - 1, argv + 1);
	if (!strcmp(cmd, "keys"))
		return cmd_keys(argc - 1, argv + 1);
	fprintf(stderr, "secsock policy: unknown command '%s'\n", cmd);
	usage_main(stderr);
	return 2;
}
