/* pol_check.c — whole-policy checks and loading a file safely.
 *
 * Per-line problems are found while parsing (pol_parse.c); here are the
 * problems that need the whole section or the whole file: rules without an
 * action, udp rules that would need datagram security, settings that cannot
 * work together, shadowed rules, and the ownership/permission rule for the
 * file itself (a policy anyone else can write is no policy).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pol_internal.h"
#include "ss_cred.h"

static bool has_auth(const pol_settings *s, int method)
{
	for (int i = 0; i < s->n_auth; i++)
		if (s->auth[i].method == method)
			return true;
	return false;
}

static bool secures(pol_action a)
{
	return a == POL_REQUEST || a == POL_REQUIRE || a == POL_RESPOND;
}

/* Settings that cannot work together.  Checked on the effective settings of
 * every section that can secure a connection: the handshake would otherwise
 * fail at run time for every connection the section governs, which is a
 * mistake better reported by `secsock policy check`. */
/* dir: the directions the section can govern (ANY for [defaults]).
 * A method that would let every peer in is refused here (and again at run
 * time, core/ss_cred.c): certificate checks the peer's chain against
 * ca-file only — a client always checks the server, a secsock server the
 * client — so without ca-file it would verify nothing.  The one exception
 * is an inbound-only standard-tls rule without ca-file: ordinary TLS
 * clients do not authenticate themselves, and the server proves itself
 * with cert-file (docs/policy.md "Authentication"). */
static void check_consistency(const pol_policy *p, const struct pol_rule *r, pol_direction dir,
                              pol_diags *d)
{
	const pol_settings *s = &r->eff;
	const char *what = r == &p->defaults ? "[defaults]" : r->name;
	int line = r->line;
	bool tls = s->peer == POL_PEER_STANDARD_TLS;
	if (has_auth(s, SS_AUTH_PSK) && s->psk_file[0] == '\0')
		pol_diag_add(d, false, "%s:%d: %s: auth 'psk' needs psk-file", p->name, line, what);
	if ((s->cert_file[0] == '\0') != (s->key_file[0] == '\0'))
		pol_diag_add(d, false, "%s:%d: %s: cert-file and key-file go together", p->name, line, what);
	if (has_auth(s, SS_AUTH_CERTIFICATE) && s->ca_file[0] == '\0' && !(tls && dir == POL_DIR_INBOUND))
		pol_diag_add(d, false, "%s:%d: %s: auth 'certificate' needs ca-file: without a trust anchor nothing can verify the peer's certificate, so it would accept anyone",
		             p->name, line, what);
	if (has_auth(s, SS_AUTH_CERTIFICATE) && dir == POL_DIR_INBOUND && s->cert_file[0] == '\0')
		pol_diag_add(d, false, "%s:%d: %s: auth 'certificate' on inbound connections needs cert-file/key-file (the server proves itself with them)",
		             p->name, line, what);
	if (tls && !has_auth(s, SS_AUTH_CERTIFICATE))
		pol_diag_add(d, false, "%s:%d: %s: peer = standard-tls needs auth = certificate", p->name, line, what);
	for (int i = 0; tls && i < s->n_auth; i++)
		if (s->auth[i].method != SS_AUTH_CERTIFICATE && s->auth[i].method != SS_AUTH_ANONYMOUS) {
			pol_diag_add(d, false, "%s:%d: %s: peer = standard-tls allows only auth certificate and anonymous",
			             p->name, line, what);
			break;
		}
}

void pol_finish(pol_policy *p, pol_diags *d)
{
	pol_settings builtin;
	pol_builtin_settings(&builtin);
	p->defaults.eff = builtin;
	pol_overlay(&p->defaults.eff, &p->defaults.own, p->defaults.set);
	if (p->defaults.set & (UINT32_C(1) << PK_ACTION)) {
		/* action already parsed into defaults.action */
	} else {
		p->defaults.action = pol_builtin_action();
	}
	if (secures(p->defaults.action))
		check_consistency(p, &p->defaults, POL_DIR_ANY, d);

	for (int i = 0; i < p->n_rules; i++) {
		struct pol_rule *r = p->rules[i];
		r->eff = p->defaults.eff;
		pol_overlay(&r->eff, &r->own, r->set);
		if (!(r->set & (UINT32_C(1) << PK_ACTION))) {
			pol_diag_add(d, false, "%s:%d: rule '%s' has no action (add action = bypass, request, require, block or respond)",
			             p->name, r->line, r->name);
			continue;
		}
		/* Datagrams are not secured yet (issue 3): a udp rule may only
		 * decide clear or refuse. */
		if (p->match[i].protocol == POL_PROTO_UDP && r->action != POL_BYPASS && r->action != POL_BLOCK)
			pol_diag_add(d, false, "%s:%d: rule '%s': udp rules may only bypass or block (datagrams are not secured)",
			             p->name, r->key_line[PK_ACTION], r->name);
		else if (secures(r->action))
			check_consistency(p, r, (pol_direction)p->match[i].direction, d);
	}
}

/* Warnings: shadowed rules (never match), settings on a rule that never
 * secures anything (they have no effect). */
void pol_check_rules(pol_policy *p, pol_diags *d)
{
	for (int j = 0; j < p->n_rules; j++) {
		for (int i = 0; i < j; i++)
			if (pol_match_contains(&p->match[i], &p->match[j])) {
				pol_diag_add(d, true, "%s:%d: rule '%s' never matches: rule '%s' (line %d) matches everything it does",
				             p->name, p->rules[j]->line, p->rules[j]->name, p->rules[i]->name, p->rules[i]->line);
				break;
			}
		const struct pol_rule *r = p->rules[j];
		if (secures(r->action))
			continue;
		for (int k = PK_AUTH; k < PK_FIRST_MATCH_; k++)
			if (r->set & (UINT32_C(1) << k)) {
				pol_diag_add(d, true, "%s:%d: rule '%s': '%s' has no effect with action %s",
				             p->name, r->key_line[k], r->name, pol_key_name((pol_key)k),
				             pol_action_name(r->action));
			}
	}
}

/* The ownership rule (ARCHITECTURE.md "Policy"): neither the file nor the
 * directory holding it may be writable by anyone but its owner and root —
 * no group/other write bit, and the owner is root or the user loading it.
 * Otherwise another user could change what gets secured. */
static bool safe_owner(const struct stat *st, const char *path, const char *what, pol_diags *d)
{
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		pol_diag_add(d, false, "%s: refused: %s is writable by %s (chmod go-w)", path, what,
		             (st->st_mode & S_IWOTH) ? "everyone" : "its group");
		return false;
	}
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		pol_diag_add(d, false, "%s: refused: %s is owned by uid %u, not root or uid %u",
		             path, what, (unsigned)st->st_uid, (unsigned)geteuid());
		return false;
	}
	return true;
}

enum { POLICY_FILE_MAX = 1 << 20 };   /* 1 MiB: far above any real policy */

pol_policy *pol_load_file(const char *path, pol_diags *diags)
{
	pol_diags local;
	pol_diags *d = diags ? diags : &local;
	memset(d, 0, sizeof *d);
	pol_policy *p = NULL;
	char *text = NULL;
	char real[PATH_MAX];
	int fd = -1;

	if (path == NULL || path[0] == '\0') {
		pol_diag_add(d, false, "(policy): no file name given");
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		pol_diag_add(d, false, "%s: cannot open: %s", path, strerror(errno));
		goto out;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		pol_diag_add(d, false, "%s: cannot stat: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		pol_diag_add(d, false, "%s: refused: not a regular file", path);
		goto out;
	}
	if (!safe_owner(&st, path, "the file", d))
		goto out;
	/* the directory that really holds it (after symlinks) */
	if (realpath(path, real) == NULL) {
		pol_diag_add(d, false, "%s: cannot resolve path: %s", path, strerror(errno));
		goto out;
	}
	struct stat dst;
	char *dir = dirname(real);
	if (stat(dir, &dst) != 0) {
		pol_diag_add(d, false, "%s: cannot stat directory %s: %s", path, dir, strerror(errno));
		goto out;
	}
	char what[PATH_MAX + 32];
	snprintf(what, sizeof what, "its directory %s", dir);
	if (!safe_owner(&dst, path, what, d))
		goto out;
	if (st.st_size > POLICY_FILE_MAX) {
		pol_diag_add(d, false, "%s: refused: larger than %d bytes", path, POLICY_FILE_MAX);
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL) {
		pol_diag_add(d, false, "%s: out of memory", path);
		goto out;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, text + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			pol_diag_add(d, false, "%s: cannot read: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	text[got] = '\0';
	if (memchr(text, '\0', got) != NULL) {
		pol_diag_add(d, false, "%s: refused: contains a NUL byte (not a text file)", path);
		goto out;
	}
	p = pol_parse_text(text, path, d);
out:
	if (fd >= 0)
		close(fd);
	free(text);
	return p;
}
