/* pol_check.c — whole-policy checks.
 *
 * Per-line problems are found while parsing (pol_parse.c); here are the
 * problems that need the whole section or the whole file: rules without an
 * action, udp rules that would need datagram security, settings that cannot
 * work together, shadowed rules.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pol_internal.h"
#include "ss_cred.h"

static bool has_auth(const pol_settings *s, int method)
{
	for (int i = 0; i < s->n_auth; i++)
		if (s->auth[i].method == method)
			return true;
	return false;
}

static const char *group_name(const pol_settings *s)
{
	for (int i = 0; i < s->n_auth; i++)
		if (s->auth[i].method == SS_AUTH_GROUP)
			return s->auth[i].group;
	return "";
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
	/* a group has exactly one key source; a KDS is trusted only when it
	 * proves a pinned identity (it hands out the keys that admit peers) */
	if (has_auth(s, SS_AUTH_GROUP) && !s->group_root_key_file[0] && !s->group_kds[0])
		pol_diag_add(d, false, "%s:%d: %s: auth 'group:%s' needs a key source: group-kds (a key distribution service) or group-root-key-file (standalone mode)",
		             p->name, line, what, group_name(s));
	if (s->group_root_key_file[0] && s->group_kds[0])
		pol_diag_add(d, false, "%s:%d: %s: group-kds and group-root-key-file are two key sources: name one",
		             p->name, line, what);
	if (s->group_kds[0] && !s->group_kds_identity[0])
		pol_diag_add(d, false, "%s:%d: %s: group-kds needs group-kds-identity: the KDS decides which peers get in, so it must prove a pinned host key",
		             p->name, line, what);
	if ((s->cert_file[0] == '\0') != (s->key_file[0] == '\0'))
		pol_diag_add(d, false, "%s:%d: %s: cert-file and key-file go together", p->name, line, what);
	if (has_auth(s, SS_AUTH_CERTIFICATE) && s->ca_file[0] == '\0' && !(tls && dir == POL_DIR_INBOUND))
		pol_diag_add(d, false, "%s:%d: %s: auth 'certificate' needs ca-file: without a trust anchor nothing can verify the peer's certificate, so it would accept anyone",
		             p->name, line, what);
	if (has_auth(s, SS_AUTH_CERTIFICATE) && dir == POL_DIR_INBOUND && s->cert_file[0] == '\0')
		pol_diag_add(d, false, "%s:%d: %s: auth 'certificate' on inbound connections needs cert-file/key-file (the server proves itself with them)",
		             p->name, line, what);
	/* A name asked for is a requirement (core/ss_ctx.c finish), in both
	 * directions: outbound the server's name, inbound the allowed client
	 * names.  Outbound a certificate proves it, or a host key through a
	 * known-peers line that binds it; inbound only a client certificate
	 * does (against ca-file, which a standard-tls server may otherwise do
	 * without).  A peer-name no listed method can prove would refuse every
	 * connection the section governs. */
	if (s->peer_name[0] && dir != POL_DIR_INBOUND && !has_auth(s, SS_AUTH_CERTIFICATE) &&
	    !has_auth(s, SS_AUTH_HOST_KEY))
		pol_diag_add(d, false, "%s:%d: %s: peer-name needs auth = certificate or host-key: only they prove a name (psk and anonymous do not), so every connection would be refused",
		             p->name, line, what);
	else if (s->peer_name[0] && dir != POL_DIR_OUTBOUND && !has_auth(s, SS_AUTH_CERTIFICATE))
		pol_diag_add(d, false, "%s:%d: %s: peer-name on inbound connections (allowed client names) needs auth = certificate: only a client certificate proves a client's name (add direction = outbound for a server's name)",
		             p->name, line, what);
	else if (s->peer_name[0] && dir == POL_DIR_INBOUND && s->ca_file[0] == '\0')
		pol_diag_add(d, false, "%s:%d: %s: peer-name on inbound connections (allowed client names) needs ca-file: the clients' certificates are checked against it",
		             p->name, line, what);
	/* The ClientHello of a first contact waits up to first-contact-wait
	 * inside the handshake's time: at or past handshake-timeout the
	 * handshake would time out before it began, and a request rule would
	 * refuse (ETIMEDOUT) instead of securing or falling back. */
	if (s->first_contact_wait_ms >= s->handshake_timeout_ms)
		pol_diag_add(d, false, "%s:%d: %s: first-contact-wait must be shorter than handshake-timeout (the handshake would time out before its ClientHello is sent)",
		             p->name, line, what);
	/* An outbound connection reaches one server: its name is one name. */
	if (dir != POL_DIR_INBOUND && strpbrk(s->peer_name, ",*") != NULL)
		pol_diag_add(d, false, "%s:%d: %s: peer-name '%s': a list of names or a '*' glob is for inbound rules only (allowed client names); an outbound connection names one server (add direction = inbound)",
		             p->name, line, what, s->peer_name);
	if (tls && !has_auth(s, SS_AUTH_CERTIFICATE))
		pol_diag_add(d, false, "%s:%d: %s: peer = standard-tls needs auth = certificate", p->name, line, what);
	for (int i = 0; tls && i < s->n_auth; i++)
		if (s->auth[i].method != SS_AUTH_CERTIFICATE && s->auth[i].method != SS_AUTH_ANONYMOUS) {
			pol_diag_add(d, false, "%s:%d: %s: peer = standard-tls allows only auth certificate and anonymous",
			             p->name, line, what);
			break;
		}
}

/* Effective settings: built-in < [defaults] < the rule's own. */
void pol_resolve(pol_policy *p)
{
	pol_settings builtin;
	pol_builtin_settings(&builtin);
	p->defaults.eff = builtin;
	pol_overlay(&p->defaults.eff, &p->defaults.own, p->defaults.set);
	if (!(p->defaults.set & (UINT64_C(1) << PK_ACTION)))
		p->defaults.action = pol_builtin_action();
	for (int i = 0; i < p->n_rules; i++) {
		struct pol_rule *r = p->rules[i];
		r->eff = p->defaults.eff;
		pol_overlay(&r->eff, &r->own, r->set);
	}
}

/* Per section, on the resolved settings: an action, what udp may do, and
 * settings that cannot work together. */
void pol_check_sections(const pol_policy *p, pol_diags *d)
{
	if (secures(p->defaults.action))
		check_consistency(p, &p->defaults, POL_DIR_ANY, d);
	if (p->defaults.action == POL_REQUIRE || p->defaults.action == POL_BLOCK)
		pol_diag_add(d, true, "%s: [defaults] action %s governs TCP only: UDP datagrams are not governed yet and pass in clear",
		             p->name, pol_action_name(p->defaults.action));
	for (int i = 0; i < p->n_rules; i++) {
		const struct pol_rule *r = p->rules[i];
		if (!(r->set & (UINT64_C(1) << PK_ACTION))) {
			pol_diag_add(d, false, "%s:%d: rule '%s' has no action (add action = bypass, request, require, block or respond)",
			             p->name, r->line, r->name);
			continue;
		}
		/* Datagrams are not governed yet (issue 3): the preload neither
		 * secures nor refuses them, so a udp rule may only say what
		 * happens anyway (promise 3). */
		if (p->match[i].protocol == POL_PROTO_UDP && r->action != POL_BYPASS)
			pol_diag_add(d, false, "%s:%d: rule '%s': udp rules may only bypass (datagrams are not governed yet: secsock neither secures nor blocks them)",
			             p->name, r->key_line[PK_ACTION], r->name);
		else if (secures(r->action))
			check_consistency(p, r, (pol_direction)p->match[i].direction, d);
	}
}

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
			if (r->set & (UINT64_C(1) << k)) {
				pol_diag_add(d, true, "%s:%d: rule '%s': '%s' has no effect with action %s",
				             p->name, r->key_line[k], r->name, pol_key_name((pol_key)k),
				             pol_action_name(r->action));
			}
	}
}
