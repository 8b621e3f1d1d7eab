/* pol.h — the policy model: what applies to this connection.
 *
 * Pure functions, no socket calls (ARCHITECTURE.md "Policy").  A parsed file
 * and the embedded default are the same immutable structure (pol_policy),
 * compiled once per process; lookups never allocate.
 */
#ifndef POL_H
#define POL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <netinet/in.h>

typedef enum pol_action {
	POL_BYPASS = 0,  /* clear, untouched */
	POL_REQUEST,     /* secure if the peer can, else clear (negotiation discovery) */
	POL_REQUIRE,     /* secure or fail */
	POL_BLOCK,       /* refuse */
	POL_RESPOND      /* initiate in clear; accept security when a peer offers it */
} pol_action;

typedef enum pol_direction { POL_DIR_ANY = 0, POL_DIR_INBOUND = 1, POL_DIR_OUTBOUND = 2 } pol_direction;
typedef enum pol_protocol { POL_PROTO_TCP = 0, POL_PROTO_UDP = 1 } pol_protocol;
typedef enum pol_peer_kind { POL_PEER_SECSOCK = 0, POL_PEER_STANDARD_TLS = 1 } pol_peer_kind;

/* Auth methods in preference order; values mirror core's enum ss_auth. */
enum { POL_MAX_AUTH = 6, POL_MAX_CIPHERS = 3, POL_MAX_GROUPS = 4, POL_NAME_MAX = 64 };
typedef struct pol_auth {
	int method;                  /* enum ss_auth value */
	char group[POL_NAME_MAX];    /* for group:NAME */
} pol_auth;

/* Effective settings of one rule (defaults merged in). Durations in ms, sizes in bytes. */
typedef struct pol_settings {
	pol_auth auth[POL_MAX_AUTH];
	int n_auth;
	uint16_t ciphers[POL_MAX_CIPHERS];   /* enum ss_suite, preference order */
	int n_ciphers;
	uint16_t groups[POL_MAX_GROUPS];     /* enum ss_group */
	int n_groups;
	uint64_t session_lifetime_ms;
	uint64_t rekey_after_ms;
	uint64_t rekey_after_bytes;
	uint64_t idle_timeout_ms;
	uint64_t allow_clear_after_ms;
	uint64_t server_first_wait_ms;
	uint64_t first_contact_wait_ms;
	uint64_t handshake_timeout_ms;
	/* Negotiation discovery under request (preload/pre_discovery.c): how
	 * long a peer is remembered as clear once it answered in clear (non-TLS
	 * bytes, or TLS without secsock/1), and once it only reset, closed or
	 * stayed silent — which an attacker on the path can cause, so it is
	 * short (0 = not remembered: the next connection probes again). */
	uint64_t discovery_clear_ttl_ms;
	uint64_t discovery_unproven_ttl_ms;
	pol_peer_kind peer;
	bool pfs;
	char peer_name[256];                 /* "" when unset */
	/* credential paths, "" when unset */
	char psk_file[256], cert_file[256], key_file[256], ca_file[256];
	char host_key_file[256], known_peers_file[256];
	bool known_peers_strict;             /* known-peers = strict: no pin on first use */
	/* auth group:NAME (standalone): root-key file path, and the security
	 * descriptor as lowercase hex ("" = the built-in one) */
	char group_root_key_file[256];
	char group_sd[512];
	/* auth group:NAME from a key distribution service: its addresses
	 * ("IP:PORT, [IPv6]:PORT", tried in this order) and the host-key
	 * fingerprints one of which it must prove ("SHA256:...", ", "-joined) */
	char group_kds[256];
	char group_kds_identity[256];
} pol_settings;

/* Where an effective setting came from, for `secsock policy explain`. */
typedef enum pol_origin { POL_FROM_BUILTIN = 0, POL_FROM_DEFAULTS, POL_FROM_RULE } pol_origin;

typedef struct pol_policy pol_policy;   /* opaque, immutable */
typedef struct pol_rule pol_rule;       /* opaque; owned by its policy */

/* The question asked for each connection. */
typedef struct pol_query {
	pol_protocol protocol;
	pol_direction direction;             /* INBOUND (accept) or OUTBOUND (connect) */
	struct sockaddr_storage remote;      /* AF_INET or AF_INET6 (v4-mapped OK) */
	uint16_t port;                       /* remote port if outbound, local port if inbound */
	const char *program;                 /* executable path; NULL = unknown */
} pol_query;

typedef struct pol_decision {
	pol_action action;
	const pol_rule *rule;                /* NULL when the defaults applied */
	const char *rule_name;               /* "defaults" when none matched */
	const pol_settings *settings;        /* effective settings, owned by the policy */
} pol_decision;

/* Diagnostics: one message per problem, "FILE:LINE: problem".  Callers print
 * them; the policy itself never writes to stdout/stderr/syslog. */
typedef struct pol_diag {
	char msg[512];
	bool warning;                        /* true = warning (e.g. shadowed rule) */
} pol_diag;
typedef struct pol_diags {
	pol_diag items[64];
	int count;                           /* number stored (capped) */
	int errors, warnings;                /* totals */
} pol_diags;

/* The embedded default (ARCHITECTURE.md "Policy"); never fails, never freed. */
const pol_policy *pol_default(void);
/* Its INI text, the same text `secsock policy show-default` prints. */
const char *pol_default_text(void);
/* What the embedded default applies without a rule: the one source of
 * default values for code that holds no settings of its own (the key
 * table's defaults, merged as for any policy). */
const pol_settings *pol_default_settings(void);

/* Parse and check a file: owner/permission checks (file and directory not
 * writable by anyone but the owner and root), syntax, keys, values,
 * duplicates, shadowing.  NULL on any error (diags say why). */
pol_policy *pol_load_file(const char *path, pol_diags *diags);
/* Same from a string (tests, fuzzing); name is used in messages. */
pol_policy *pol_load_string(const char *text, const char *name, pol_diags *diags);
void pol_free(pol_policy *p);

/* First matching rule wins; no rule → defaults.  Never fails for a valid policy. */
void pol_decide(const pol_policy *p, const pol_query *q, pol_decision *out);

/* Is the decision for (protocol, direction, program) the same whatever the
 * remote address and port?  True (and *out filled as pol_decide would) when
 * the first rule that can match this protocol, direction and program has
 * neither a port nor a remote key, or when no rule can match at all.  Lets
 * the preload skip getsockname/getpeername/SO_PROTOCOL per connection under
 * a policy that bypasses everything. */
bool pol_decide_fixed(const pol_policy *p, pol_protocol protocol, pol_direction direction,
                      const char *program, pol_decision *out);

/* For explain: origin of a setting by key name ("ciphers", "idle-timeout" …). */
pol_origin pol_setting_origin(const pol_policy *p, const pol_rule *r, const char *key);

/* The process-wide policy, compiled once: $SECSOCK_POLICY (secure_getenv),
 * else /etc/secsock/policy.conf when it exists, else the embedded default.
 * Returns NULL when a named file failed (fail closed); *diags then holds why.
 * Thread-safe (pthread_once). */
const pol_policy *pol_process_policy(const pol_diags **diags, const char **source);

const char *pol_action_name(pol_action a);

/* The keys a policy file may hold (policy/pol_keys.h), in `explain` order:
 * the action, the settings, then the match keys. */
typedef struct pol_key_info {
	const char *name;
	bool setting;                        /* a setting: [defaults] and rules */
	bool match;                          /* a match key: rules only */
	const char *builtin;                 /* the built-in value; NULL: unset */
	const char *doc;                     /* one line */
} pol_key_info;
int pol_key_count(void);
bool pol_key_info_get(int k, pol_key_info *out);
/* The value of settings key `name` in s, spelled as a policy file spells it
 * ("" when unset).  false for a name that is not a settings key. */
bool pol_format_setting(const pol_settings *s, const char *name, char *buf, size_t n);

/* group-kds: item i (0-based) of a stored list as a socket address.
 * Numeric only ("A.B.C.D:PORT", "[IPv6]:PORT", port 1..65535): false past
 * the end or for anything else.  Parsing only; no name is resolved. */
struct sockaddr_storage;
bool pol_endpoint_at(const char *list, int i, struct sockaddr_storage *out, unsigned *out_len);
/* group-kds-identity: is fp one of the stored list's fingerprints? */
bool pol_identity_listed(const char *list, const char *fp);

#endif
