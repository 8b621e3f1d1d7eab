/* cli_keygen.c — `secsock keygen`: the host key of host-key authentication
 * (issue 13), and `secsock peers`: the known-peers file it is checked
 * against (trust on first use, like OpenSSH's known_hosts).
 * Exit status: 0 ok, 1 failure, 2 usage error. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "ss_hostkey.h"
#include "ss_peers.h"

static void usage_keygen(FILE *f)
{
	fprintf(f,
	    "usage: secsock keygen [--system] [--force] [--file PATH]\n"
	    "\n"
	    "Make the Ed25519 host key that host-key authentication presents, and\n"
	    "print its path and fingerprint (SHA256:..., as peers pin it).\n"
	    "  --file PATH  write PATH (the policy's host-key-file names it)\n"
	    "  --system     write %s (root only)\n"
	    "  --force      replace an existing key (peers that pinned it will refuse the new one)\n"
	    "Default: $XDG_CONFIG_HOME/secsock/host.key (~/.config/secsock/host.key). Mode 0600.\n",
	    SS_HOSTKEY_SYSTEM_PATH);
}

static void usage_peers(FILE *f)
{
	fprintf(f,
	    "usage: secsock peers list [--file F]\n"
	    "       secsock peers add [--file F] [--port N] [--names A,B] ADDRESS[/PREFIX] FINGERPRINT\n"
	    "       secsock peers remove [--file F] [--port N] ADDRESS[/PREFIX]\n"
	    "       secsock peers show-fingerprint [KEYFILE]\n"
	    "\n"
	    "Manage the known-peers file that host-key authentication checks peers\n"
	    "against and pins first contacts in (a line: ADDRESS[/PREFIX] [port=N]\n"
	    "[names=A,B] FINGERPRINT; names= binds the names a peer-name may ask for).\n"
	    "Default file: $XDG_CONFIG_HOME/secsock/known_peers (~/.config/secsock/known_peers);\n"
	    "the system's is %s.  show-fingerprint prints the fingerprint of a\n"
	    "host key (default: this user's).\n", SS_PEERS_SYSTEM_PATH);
}

int cli_keygen_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "system", no_argument, NULL, 's' }, { "force", no_argument, NULL, 'f' },
		{ "file", required_argument, NULL, 'F' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char path[PATH_MAX], fp[SS_FP_LEN], err[PATH_MAX + 128];
	const char *file = NULL;
	int sys = 0, force = 0, c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': sys = 1; break;
		case 'f': force = 1; break;
		case 'F': file = optarg; break;
		case 'h': usage_keygen(stdout); return 0;
		default: usage_keygen(stderr); return 2;
		}
	}
	if (optind != argc || (sys && file)) {
		usage_keygen(stderr);
		return 2;
	}
	if (sys && geteuid() != 0) {
		fprintf(stderr, "secsock keygen: --system writes %s and needs root\n", SS_HOSTKEY_SYSTEM_PATH);
		return 1;
	}
	if (file)
		snprintf(path, sizeof path, "%s", file);
	else if (sys)
		snprintf(path, sizeof path, "%s", SS_HOSTKEY_SYSTEM_PATH);
	else if (ss_hostkey_default_path(path, sizeof path) != 0) {
		fprintf(stderr, "secsock keygen: no home directory; give --file PATH\n");
		return 1;
	}
	if (ss_hostkey_generate(path, force, fp, err, sizeof err) != SS_OK) {
		fprintf(stderr, "secsock keygen: %s\n", err);
		return 1;
	}
	printf("%s %s\n", path, fp);
	return 0;
}

/* Options shared by the peers commands; returns the index of the first operand or -1. */
static int peers_opts(int argc, char **argv, char *path, size_t pn, uint16_t *port, const char **names)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'F' }, { "port", required_argument, NULL, 'p' },
		{ "names", required_argument, NULL, 'n' }, { NULL, 0, NULL, 0 },
	};
	const char *file = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		unsigned long v;
		switch (c) {
		case 'F': file = optarg; break;
		case 'p':
			v = strtoul(optarg, &end, 10);
			if (!port || *end || v == 0 || v > 65535)
				return -1;
			*port = (uint16_t)v;
			break;
		case 'n':
			if (!names)
				return -1;
			*names = optarg;
			break;
		default: return -1;
		}
	}
	if (file)
		snprintf(path, pn, "%s", file);
	else if (ss_peers_default_path(path, pn) != 0)
		return -1;
	return optind;
}

/* ADDRESS[/PREFIX] [port] [names] FP -> a line, through the file parser
 * itself so that what the CLI writes is what a reader accepts. */
static int make_entry(const char *addr, uint16_t port, const char *names, const char *fp, ss_peer *e)
{
	char line[SS_PEERS_NAMES_MAX + 256], err[200], pn[16] = "";
	ss_peers *one = NULL;
	if (port)
		snprintf(pn, sizeof pn, " port=%u", port);
	snprintf(line, sizeof line, "%s%s%s%s %s\n", addr, pn, names ? " names=" : "", names ? names : "",
	         fp ? fp : "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU");
	if (ss_peers_parse(line, strlen(line), &one, err, sizeof err) != SS_OK) {
		fprintf(stderr, "secsock peers: %s\n", strchr(err, ':') ? strchr(err, ':') + 2 : err);
		return -1;
	}
	*e = *ss_peers_at(one, 0);
	ss_peers_free(one);
	return 0;
}

int cli_peers_main(int argc, char **argv)
{
	char path[PATH_MAX], err[PATH_MAX + 256], line[SS_PEERS_NAMES_MAX + 128];
	const char *names = NULL, *cmd = argc > 1 ? argv[1] : "";
	uint16_t port = 0;
	ss_peer e;
	int i;

	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage_peers(stdout);
		return 0;
	}
	if (!strcmp(cmd, "show-fingerprint")) {
		char fp[SS_FP_LEN];
		if (argc > 3)
			return usage_peers(stderr), 2;
		if (argc == 3)
			snprintf(path, sizeof path, "%s", argv[2]);
		else if (ss_hostkey_default_path(path, sizeof path) != 0)
			return fprintf(stderr, "secsock peers: no home directory; give KEYFILE\n"), 1;
		if (ss_hostkey_fingerprint_file(path, fp, err, sizeof err) != SS_OK)
			return fprintf(stderr, "secsock peers: %s\n", err), 1;
		printf("%s\n", fp);
		return 0;
	}
	if (!strcmp(cmd, "list")) {
		ss_peers *p = NULL;
		if ((i = peers_opts(argc - 1, argv + 1, path, sizeof path, NULL, NULL)) < 0 || i != argc - 1)
			return usage_peers(stderr), 2;
		if (ss_peers_load(path, &p, err, sizeof err) != SS_OK)
			return fprintf(stderr, "secsock peers: %s\n", err), 1;
		for (size_t k = 0; k < ss_peers_count(p); k++)
			if (ss_peer_format(ss_peers_at(p, k), line, sizeof line))
				fputs(line, stdout);
		ss_peers_free(p);
		return 0;
	}
	if (!strcmp(cmd, "add")) {
		ss_pin res;
		ss_peer old;
		if ((i = peers_opts(argc - 1, argv + 1, path, sizeof path, &port, &names)) < 0 || i + 2 != argc - 1)
			return usage_peers(stderr), 2;
		if (make_entry(argv[1 + i], port, names, argv[2 + i], &e) != 0)
			return 1;
		if (ss_peers_pin(path, &e, &res, &old, err, sizeof err) != SS_OK)
			return fprintf(stderr, "secsock peers: %s\n", err), 1;
		if (res == SS_PIN_MISMATCH) {
			fprintf(stderr, "secsock peers: line %d already pins %s to %s ('remove' it first)\n",
			        old.line, argv[1 + i], old.fp);
			return 1;
		}
		return 0;
	}
	if (!strcmp(cmd, "remove")) {
		int removed;
		if ((i = peers_opts(argc - 1, argv + 1, path, sizeof path, &port, NULL)) < 0 || i + 1 != argc - 1)
			return usage_peers(stderr), 2;
		if (make_entry(argv[1 + i], port, NULL, NULL, &e) != 0)
			return 1;
		if (ss_peers_remove(path, &e, &removed, err, sizeof err) != SS_OK)
			return fprintf(stderr, "secsock peers: %s\n", err), 1;
		if (!removed)
			return fprintf(stderr, "secsock peers: no line for %s in %s\n", argv[1 + i], path), 1;
		return 0;
	}
	usage_peers(stderr);
	return 2;
}
