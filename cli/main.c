/* main.c — `secsock` dispatcher.  main() only wires subcommands together
 * (spiped style); each lives in its own file.  A subcommand whose file is not
 * part of this build is declared weak and reported as unavailable. */
#include <stdio.h>
#include <string.h>
#include "cli.h"

#pragma weak cli_policy_main
#pragma weak cli_run_main
#pragma weak cli_keygen_main
#pragma weak cli_peers_main
#pragma weak cli_status_main
#pragma weak cli_kds_main
#pragma weak cli_gkdi_main

struct cli_cmd {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
};

static const struct cli_cmd cmds[] = {
	{ "run", cli_run_main, "run a program with its TCP connections secured" },
	{ "policy", cli_policy_main, "check, explain and print policies" },
	{ "keygen", cli_keygen_main, "make the host key that host-key authentication presents" },
	{ "peers", cli_peers_main, "list, add and remove the peers host-key has pinned" },
	{ "status", cli_status_main, "show secured connections of running programs" },
	{ "kds", cli_kds_main, "run or query the group key distribution service" },
	{ "gkdi", cli_gkdi_main, "MS-GKDI key computations, to check against other implementations" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: secsock COMMAND [ARGS...]\n\n"
	           "Secure unmodified programs' TCP connections under an administrator's policy.\n\n"
	           "commands:\n");
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (cmds[i].fn != NULL)
			fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(f, "\n'secsock COMMAND --help' for details; secsock(1), secsock-policy(5).\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("secsock %s\n", SECSOCK_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		if (strcmp(argv[1], cmds[i].name) != 0)
			continue;
		if (cmds[i].fn == NULL) {
			fprintf(stderr, "secsock: '%s' is not part of this build\n", argv[1]);
			return 2;
		}
		return cmds[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "secsock: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
