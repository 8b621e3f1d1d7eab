/* cli_run.c — `secsock run [--policy FILE] [--log LEVEL] [--log-file PATH]
 * -- PROGRAM ARGS...`: run a program with libsecsock.so preloaded.
 *
 * The library is found relative to this executable (build tree: next to
 * it; installed: the Makefile's LIBDIR from BINDIR, e.g. ../lib or Debian's
 * ../lib/<multiarch triplet>), so no LD_LIBRARY_PATH or absolute path is baked
 * in.  libsecsock.so loads its engine (libsecsock-engine.so, OpenSSL) from
 * its own directory on the first governed connection, and refuses governed
 * connections when it is not there; so a candidate counts only with the
 * engine beside it, and --library is checked the same way before the
 * program runs rather than failing its connections later.  Programs the
 * preload cannot reach are named before they run (ARCHITECTURE.md "Preload
 * semantics"; policy/pol_reach.c, the test the preload's exec wrappers
 * make): static binaries and Go binaries make their own system calls,
 * another libc's loader or ELF class does not load the library, and the
 * loader drops LD_PRELOAD in secure-execution mode (setuid, setgid, file
 * capabilities); a script is what its #! interpreter is.  Such a program
 * and an invalid policy (the library would refuse every governed
 * connection, fail closed) stop the run before the exec, with the reason on
 * stderr, unless --force: the program would otherwise start and fail, or
 * run in clear, with nothing said on its terminal (the library never writes
 * there).  A policy under which every TCP connection of the program would be
 * refused (every rule that can apply to it blocks, or requires or requests
 * credentials that cannot be loaded) is a warning: it may be meant.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"
#include "pol.h"
#include "pol_internal.h"
#include "pol_reach.h"
#include "ss_cred.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: secsock run [--policy FILE] [--log LEVEL] [--log-file PATH] [--library PATH] [--force]\n"
	        "                   -- PROGRAM [ARGS...]\n\n"
	        "Run PROGRAM with its TCP connections secured under the policy.\n"
	        "Refuses to start it (exit 1, reason on stderr) when the policy is invalid (every\n"
	        "connection it governs would be refused) or PROGRAM cannot load the preload\n"
	        "(static or static-pie, Go, another libc, setuid/setgid or file capabilities):\n"
	        "its connections would not be secured.  Warns when every TCP connection of\n"
	        "PROGRAM would be refused (rules that block, or credentials that cannot be read).\n\n"
	        "  --policy FILE     policy file (default: $SECSOCK_POLICY, /etc/secsock/policy.conf,\n"
	        "                    else the embedded default; see secsock-policy(5))\n"
	        "  --log LEVEL       error, warn, notice, info or debug (default info)\n"
	        "  --log-file PATH   append log lines to PATH instead of syslog\n"
	        "  --library PATH    use this libsecsock.so\n"
	        "  --force           run PROGRAM even when the checks above fail\n"
	        "  --explain         print the checks and the rules that can apply to PROGRAM's TCP\n"
	        "                    connections (first match wins), then exit without running it\n");
}

/* The engine next to the library at lib (as the preload looks for it). */
static int engine_beside(const char *lib)
{
	char eng[PATH_MAX + 64];
	const char *slash = strrchr(lib, '/');
	int dir = slash ? (int)(slash - lib) + 1 : 0;

	snprintf(eng, sizeof eng, "%.*slibsecsock-engine.so", dir, lib);
	return access(eng, R_OK) == 0;
}

/* The install's library directory as seen from its bin directory (the
 * Makefile's LIBDIR: "../lib", or Debian's multiarch "../lib/<triplet>");
 * absolute when LIBDIR is not under the same prefix. */
#ifndef SECSOCK_LIBDIR_REL
#define SECSOCK_LIBDIR_REL "../lib"
#endif

/* libsecsock.so (with its engine) next to us (build tree), in LIBDIR, or in
 * ../lib, ../lib/secsock. */
static int find_library(char *out, size_t len)
{
	static const char *const rel[] = { "libsecsock.so", SECSOCK_LIBDIR_REL "/libsecsock.so",
	                                   "../lib/libsecsock.so", "../lib/secsock/libsecsock.so" };
	char self[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

	if (n <= 0)
		return -1;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return -1;
	slash[1] = '\0';
	for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
		char cand[PATH_MAX + 64];
		snprintf(cand, sizeof cand, "%s%s", rel[i][0] == '/' ? "" : self, rel[i]);
		if (access(cand, R_OK) == 0 && realpath(cand, out) && strlen(out) < len &&
		    engine_beside(out))
			return 0;
	}
	return -1;
}

/* PROGRAM as execvp would find it. */
static int resolve(const char *prog, char *out, size_t len)
{
	const char *path = getenv("PATH");

	if (strchr(prog, '/'))
		return realpath(prog, out) ? 0 : -1;
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t l = strcspn(path, ":");
		char cand[PATH_MAX];
		snprintf(cand, sizeof cand, "%.*s/%s", (int)l, path, prog);
		if (access(cand, X_OK) == 0 && realpath(cand, out) && strlen(out) < len)
			return 0;
		path += l;
		if (*path == ':')
			path++;
	}
	return -1;
}

/* Programs LD_PRELOAD cannot reach (policy/pol_reach.c: the same test the
 * preload makes before an exec): 1 when it cannot be reached. */
static int check_program(const char *path, int force)
{
	const char *why = NULL;
	struct stat sb;

	if (pol_reach(AT_FDCWD, path, 0, getenv("PATH"), 1, &why) == POL_REACH_NO) {
		fprintf(stderr, "secsock run: %s%s: %s; LD_PRELOAD cannot reach it, so its connections would "
		        "NOT be secured%s\n", force ? "warning: " : "", path, why,
		        force ? " (--force: running it anyway)" : " (--force runs it anyway)");
		return !force;
	}
	if (stat(path, &sb) == 0 && (sb.st_mode & (S_ISUID | S_ISGID)))
		/* reached now (we are its owner), not when another user runs it */
		fprintf(stderr, "secsock run: warning: %s is setuid/setgid: run by any other user, the loader "
		                "ignores LD_PRELOAD and its connections are NOT secured\n", path);
	return 0;
}

static int file_unreadable(const char *key, const char *path, char *why, size_t n)
{
	if (!path[0] || access(path, R_OK) == 0)
		return 0;
	snprintf(why, n, "%s %s: %s", key, path, strerror(errno));
	return 1;
}

/* Can the credentials of settings s be built (preload/pre_creds.c, which
 * refuses the connection when any listed method cannot work)?  Only what
 * can be seen without the engine: the files exist and are readable by us.
 * (A method this build lacks never gets here: policy check refuses it.) */
static int creds_impossible(const pol_settings *s, char *why, size_t n)
{
	for (int i = 0; i < s->n_auth; i++) {
		int m = s->auth[i].method;
		if (m == SS_AUTH_PSK && file_unreadable("psk-file", s->psk_file, why, n))
			return 1;
		if (m == SS_AUTH_CERTIFICATE &&
		    (file_unreadable("ca-file", s->ca_file, why, n) ||
		     file_unreadable("cert-file", s->cert_file, why, n) ||
		     file_unreadable("key-file", s->key_file, why, n)))
			return 1;
	}
	return 0;
}

/* pol_match.c's program test: a pattern with '/' against the path, else
 * against the basename. */
static int rule_for_program(const struct pol_match *m, const char *prog)
{
	const char *base = prog ? strrchr(prog, '/') : NULL;

	if (m->n_programs == 0)
		return 1;
	if (!prog)
		return 0;
	base = base ? base + 1 : prog;
	for (unsigned i = 0; i < m->n_programs; i++) {
		int full = strchr(m->programs[i], '/') != NULL;
		if (fnmatch(m->programs[i], full ? prog : base, full ? FNM_PATHNAME : 0) == 0)
			return 1;
	}
	return 0;
}

/* 1 when every TCP connection under r is refused; a rule that secures
 * with credentials that cannot be built is named. */
static int rule_refuses(const struct pol_rule *r, int is_defaults)
{
	char why[PATH_MAX + 128];

	if (r->action == POL_BLOCK)
		return 1;
	if ((r->action != POL_REQUIRE && r->action != POL_REQUEST) || !creds_impossible(&r->eff, why, sizeof why))
		return 0;
	fprintf(stderr, "secsock run: warning: %s%s: %s: its connections would be refused\n",
	        is_defaults ? "[defaults]" : "rule ", is_defaults ? "" : r->name, why);
	return 1;
}

/* Appends "item" to b (comma-separated), truncating safely. */
static void add_item(char *b, size_t n, const char *item)
{
	size_t len = strlen(b);
	if (len < n)
		snprintf(b + len, n - len, "%s%s", len ? "," : "", item);
}

/* What a rule matches, as the policy file spells it ("any" for an empty list). */
static void describe_match(const struct pol_match *m, char *b, size_t n)
{
	static const char *const dir[] = { "any direction", "inbound", "outbound" };
	char ports[256] = "", remote[512] = "", item[INET6_ADDRSTRLEN + 16];

	for (unsigned i = 0; i < m->n_ports; i++) {
		if (m->ports[i].lo == m->ports[i].hi)
			snprintf(item, sizeof item, "%u", m->ports[i].lo);
		else
			snprintf(item, sizeof item, "%u-%u", m->ports[i].lo, m->ports[i].hi);
		add_item(ports, sizeof ports, item);
	}
	for (unsigned i = 0; i < m->n_v4; i++) {
		struct in_addr a = { htonl(m->v4[i].addr) };
		char t[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &a, t, sizeof t);
		snprintf(item, sizeof item, "%s/%u", t, m->v4[i].bits);
		add_item(remote, sizeof remote, item);
	}
	for (unsigned i = 0; i < m->n_v6; i++) {
		unsigned char a[16];
		char t[INET6_ADDRSTRLEN];
		for (int k = 0; k < 8; k++) {
			a[k] = (unsigned char)(m->v6[i].hi >> (56 - 8 * k));
			a[8 + k] = (unsigned char)(m->v6[i].lo >> (56 - 8 * k));
		}
		inet_ntop(AF_INET6, a, t, sizeof t);
		snprintf(item, sizeof item, "%s/%u", t, m->v6[i].bits);
		add_item(remote, sizeof remote, item);
	}
	int len = snprintf(b, n, "%s, port %s, remote %s", dir[m->direction <= 2 ? m->direction : 0],
	                   ports[0] ? ports : "any", m->any_remote || !remote[0] ? "any" : remote);
	for (unsigned i = 0; i < m->n_programs && len > 0 && (size_t)len < n; i++)
		len += snprintf(b + len, n - (size_t)len, "%s%s", i ? "," : ", program ", m->programs[i]);
}

/* One line: what the rule does when it matches. */
static void print_effect(const char *label, const struct pol_rule *r)
{
	char auth[256] = "";

	pol_format_setting(&r->eff, "auth", auth, sizeof auth);
	printf("  %-22s -> %s", label, pol_action_name(r->action));
	if (r->action == POL_REQUIRE || r->action == POL_REQUEST || r->action == POL_RESPOND)
		printf(", auth = %s", auth);
	printf("\n");
}

/* --explain: the rules of p that can govern prog's TCP connections, in
 * match order, then [defaults] (what applies when none matches). */
static void explain_policy(const pol_policy *p, const char *source, const char *prog)
{
	char what[1024], label[POL_NAME_MAX + 8];

	printf("policy: %s\nprogram: %s\nTCP rules that can apply, first match wins:\n", source,
	       prog ? prog : "(not found in PATH)");
	for (int k = 0; k < p->n_rules; k++) {
		if (p->match[k].protocol != POL_PROTO_TCP || !rule_for_program(&p->match[k], prog))
			continue;
		describe_match(&p->match[k], what, sizeof what);
		snprintf(label, sizeof label, "rule %s", p->rules[k]->name);
		print_effect(label, p->rules[k]);
		printf("  %-22s    when %s\n", "", what);
	}
	print_effect("[defaults]", &p->defaults);
	printf("  %-22s    when no rule above matches\n", "");
}

/* The policy the program will get: invalid → 1 (0 with --force); every
 * TCP connection refused → a warning. */
static int check_policy(const char *file, const char *prog, int force, int explain)
{
	pol_diags local = { 0 };
	const pol_diags *d = &local;
	const char *source = file;
	pol_policy *owned = NULL;
	const pol_policy *p = file ? (owned = pol_load_file(file, &local)) : pol_process_policy(&d, &source);
	int all = 1;

	if (!p) {
		for (int k = 0; k < d->count; k++)
			fprintf(stderr, "secsock run: %s%s\n", d->items[k].warning ? "warning: " : "", d->items[k].msg);
		fprintf(stderr, "secsock run: %s%s: invalid policy: every TCP connection it governs would be "
		        "refused%s\n", force ? "warning: " : "", source,
		        force ? " (--force: running anyway)" : " ('secsock policy check'; --force runs anyway)");
		return !force;
	}
	for (int k = 0; k < p->n_rules; k++)
		if (p->match[k].protocol == POL_PROTO_TCP && rule_for_program(&p->match[k], prog) &&
		    !rule_refuses(p->rules[k], 0))
			all = 0;
	if (!rule_refuses(&p->defaults, 1))
		all = 0;
	if (all)
		fprintf(stderr, "secsock run: warning: under %s every TCP connection %s makes or accepts "
		        "would be refused\n", source, prog ? prog : "the program");
	if (explain)
		explain_policy(p, source, prog);
	pol_free(owned);
	return 0;
}

int cli_run_main(int argc, char **argv)
{
	const char *policy = NULL, *level = NULL, *logfile = NULL, *lib_arg = NULL;
	char lib[PATH_MAX], prog[PATH_MAX], abs_policy[PATH_MAX];
	int i, force = 0, explain = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(a, "--force") || !strcmp(a, "--explain")) {
			*(a[2] == 'f' ? &force : &explain) = 1;
			continue;
		}
		if (a[0] != '-')
			break;   /* PROGRAM without "--" */
		if (i + 1 >= argc) {
			fprintf(stderr, "secsock run: %s needs a value\n", a);
			return 2;
		}
		if (!strcmp(a, "--policy"))
			policy = argv[++i];
		else if (!strcmp(a, "--log"))
			level = argv[++i];
		else if (!strcmp(a, "--log-file"))
			logfile = argv[++i];
		else if (!strcmp(a, "--library"))
			lib_arg = argv[++i];
		else {
			fprintf(stderr, "secsock run: unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	if (level && strcmp(level, "error") && strcmp(level, "warn") && strcmp(level, "notice") &&
	    strcmp(level, "info") && strcmp(level, "debug")) {
		fprintf(stderr, "secsock run: --log must be error, warn, notice, info or debug\n");
		return 2;
	}
	if (lib_arg) {
		if (!realpath(lib_arg, lib)) {
			fprintf(stderr, "secsock run: %s: %s\n", lib_arg, strerror(errno));
			return 1;
		}
	} else if (find_library(lib, sizeof lib) < 0) {
		fprintf(stderr, "secsock run: cannot find libsecsock.so with libsecsock-engine.so beside it "
		        "next to this program or in " SECSOCK_LIBDIR_REL "\n");
		return 1;
	}
	if (!engine_beside(lib)) {
		fprintf(stderr, "secsock run: no libsecsock-engine.so beside %s: "
		        "every governed connection would be refused\n", lib);
		return 1;
	}
	if (policy) {
		/* Absolute, so a program that changes directory still finds it;
		 * the library checks the file itself (fail closed). */
		if (!realpath(policy, abs_policy)) {
			fprintf(stderr, "secsock run: policy %s: %s\n", policy, strerror(errno));
			return 1;
		}
		setenv("SECSOCK_POLICY", abs_policy, 1);
	}
	if (level)
		setenv("SECSOCK_LOG", level, 1);
	if (logfile)
		setenv("SECSOCK_LOG_FILE", logfile, 1);
	{
		int found = resolve(argv[i], prog, sizeof prog) == 0;
		int bad = check_policy(policy ? abs_policy : NULL, found ? prog : NULL, force, explain);
		bad |= found && check_program(prog, force);
		if (bad || explain)
			return bad;
	}

	/* Prepend to any LD_PRELOAD already set. */
	const char *old = getenv("LD_PRELOAD");
	size_t n = strlen(lib) + (old ? strlen(old) + 1 : 0) + 1;
	char *pre = malloc(n);
	if (!pre)
		return 1;
	snprintf(pre, n, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
	setenv("LD_PRELOAD", pre, 1);
	free(pre);

	execvp(argv[i], argv + i);
	fprintf(stderr, "secsock run: %s: %s\n", argv[i], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
