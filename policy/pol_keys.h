/* pol_keys.h — the one list of policy keys (issue 12 "a table of policy keys").
 *
 * Each key is one POL_KEYS line: its enum id, its name in a file, the kind of
 * value (which parser and formatter apply), the pol_settings bytes it sets,
 * the accepted range of a duration, its built-in value (spelled as a file
 * spells it: the embedded default's [defaults] section and
 * pol_builtin_settings() are both made from it), the note printed beside it
 * there, and one line for `secsock policy keys`.  Parsing, merging
 * [defaults] into rules, `explain`, `show-default` and the key list of
 * secsock-policy(5) (checked by tests/cli/policy.sh) all walk this list, so
 * adding a key is one line here plus the code that uses its value.
 *
 * Order: settings first (allowed in [defaults] and rules; `explain` prints
 * them in this order), then match keys (rules only).  The position is the
 * bit number in pol_rule.set.
 */
#ifndef POL_KEYS_H
#define POL_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include "pol.h"

typedef enum pol_ktype {
	KT_ACTION,     /* bypass|request|require|block|respond (the rule's, not a setting) */
	KT_AUTH,       /* list of methods, group:NAME */
	KT_CIPHERS,    /* list of suite names */
	KT_GROUPS,     /* list of key-exchange groups */
	KT_DURATION,   /* uint64_t ms */
	KT_REKEY,      /* a time and/or a size: two uint64_t */
	KT_PEER,       /* pol_peer_kind */
	KT_HOSTNAME,   /* char[256] */
	KT_BOOL,       /* yes|no */
	KT_KNOWN,      /* tofu|strict: bool, true = strict */
	KT_PATH,       /* char[256], absolute */
	KT_HEX,        /* char[512]: an even number of hex digits (bytes, lowercased) */
	KT_ENDPOINTS,  /* char[256]: numeric IP:PORT list (pol_endpoint_at) */
	KT_FINGERPRINTS, /* char[256]: "SHA256:..." host-key fingerprint list */
	KT_PROTOCOL,   /* match keys from here on: pol_match, not pol_settings */
	KT_DIRECTION,
	KT_REMOTE,
	KT_PORT,
	KT_PROGRAM,
} pol_ktype;

#define POL_NOMAX UINT64_MAX
/* The pol_settings bytes of field f, or of fields a through b. */
#define POL_F(f) offsetof(pol_settings, f), sizeof(((pol_settings *)0)->f)
#define POL_SPAN(a, b) offsetof(pol_settings, a), \
	offsetof(pol_settings, b) + sizeof(((pol_settings *)0)->b) - offsetof(pol_settings, a)
#define POL_NOFIELD 0, 0

/* X(ID, name, type, field, min, max, built-in, note, doc) */
#define POL_KEYS(X) \
X(ACTION, "action", KT_ACTION, POL_NOFIELD, 0, 0, "request", \
  "secure when the peer can, else clear (seed: ND boundary)", \
  "what happens to the connection: bypass, request, require, block or respond") \
X(AUTH, "auth", KT_AUTH, POL_SPAN(auth, n_auth), 0, 0, "anonymous", NULL, \
  "the methods a peer may prove itself with, in preference order") \
X(CIPHERS, "ciphers", KT_CIPHERS, POL_SPAN(ciphers, n_ciphers), 0, 0, \
  "aes-128-gcm, chacha20-poly1305", NULL, "TLS 1.3 cipher suites offered and accepted, in preference order") \
X(GROUPS, "groups", KT_GROUPS, POL_SPAN(groups, n_groups), 0, 0, "x25519, p-256", NULL, \
  "key-exchange groups offered and accepted, in preference order") \
X(SESSION_LIFETIME, "session-lifetime", KT_DURATION, POL_F(session_lifetime_ms), 0, POL_NOMAX, "2h", \
  "seed: MM lifetime 2 hrs", "how long after its full handshake an association is reused for quick reconnects (0: never)") \
X(REKEY_AFTER, "rekey-after", KT_REKEY, POL_SPAN(rekey_after_ms, rekey_after_bytes), 0, 0, "1h, 55G", \
  "seed: QM lifetime 1 hr, 55GB (whichever first)", "traffic keys are updated after this time or volume") \
X(IDLE_TIMEOUT, "idle-timeout", KT_DURATION, POL_F(idle_timeout_ms), 0, POL_NOMAX, "5m", \
  "seed: saIdleTimeout 5 min", "an association no connection used for this long is forgotten (0: no limit)") \
X(ALLOW_CLEAR_AFTER, "allow-clear-after", KT_DURATION, POL_F(allow_clear_after_ms), 0, POL_NOMAX, "500ms", \
  "first contact under 1 s (seed said 10s)", "under request: fall back to clear when the peer has not answered by then") \
X(SERVER_FIRST_WAIT, "server-first-wait", KT_DURATION, POL_F(server_first_wait_ms), 0, POL_NOMAX, "300ms", \
  NULL, "an inbound connection that says nothing this long is taken for a server-speaks-first protocol") \
X(FIRST_CONTACT_WAIT, "first-contact-wait", KT_DURATION, POL_F(first_contact_wait_ms), 0, POL_NOMAX, "100ms", \
  NULL, "under request: a first contact's ClientHello waits this long for the program's first write") \
X(HANDSHAKE_TIMEOUT, "handshake-timeout", KT_DURATION, POL_F(handshake_timeout_ms), 1, POL_NOMAX, "10s", \
  NULL, "a handshake not finished by then fails") \
X(DISCOVERY_CLEAR_TTL, "discovery-clear-ttl", KT_DURATION, POL_F(discovery_clear_ttl_ms), 0, \
  24 * 3600 * 1000ULL, "5m", "a peer that answered in clear is probed again after this", \
  "how long a peer that answered in clear is remembered as clear") \
X(DISCOVERY_UNPROVEN_TTL, "discovery-unproven-ttl", KT_DURATION, POL_F(discovery_unproven_ttl_ms), 0, \
  5 * 60 * 1000ULL, "0", "a reset or silence proves nothing: probe again at once", \
  "how long a peer that only reset, closed or stayed silent is remembered as clear") \
X(PEER, "peer", KT_PEER, POL_F(peer), 0, 0, "secsock", NULL, \
  "what the other end runs: secsock, or standard-tls (any TLS 1.3 implementation)") \
X(PEER_NAME, "peer-name", KT_HOSTNAME, POL_F(peer_name), 0, 0, NULL, NULL, \
  "the name the server's certificate must carry; inbound: the allowed client names (a list, '*' labels)") \
X(PFS, "pfs", KT_BOOL, POL_F(pfs), 0, 0, "yes", "every handshake has a fresh (EC)DHE share", \
  "perfect forward secrecy: no lets a quick reconnect skip the (EC)DHE (psk_ke) when both ends say no") \
X(PSK_FILE, "psk-file", KT_PATH, POL_F(psk_file), 0, 0, NULL, NULL, "the pre-shared key file (auth psk)") \
X(CERT_FILE, "cert-file", KT_PATH, POL_F(cert_file), 0, 0, NULL, NULL, "this end's certificate chain (PEM)") \
X(KEY_FILE, "key-file", KT_PATH, POL_F(key_file), 0, 0, NULL, NULL, "this end's private key (PEM)") \
X(CA_FILE, "ca-file", KT_PATH, POL_F(ca_file), 0, 0, NULL, NULL, "the trust anchors a peer's certificate is checked against") \
X(HOST_KEY_FILE, "host-key-file", KT_PATH, POL_F(host_key_file), 0, 0, NULL, NULL, \
  "auth host-key: this end's Ed25519 host key (default: the user's, from secsock keygen)") \
X(KNOWN_PEERS_FILE, "known-peers-file", KT_PATH, POL_F(known_peers_file), 0, 0, NULL, NULL, \
  "auth host-key: the file of pinned peer keys (default: the user's known_peers)") \
X(KNOWN_PEERS, "known-peers", KT_KNOWN, POL_F(known_peers_strict), 0, 0, "tofu", NULL, \
  "auth host-key: tofu pins an unknown peer on first contact; strict admits listed peers only") \
X(GROUP_ROOT_KEY_FILE, "group-root-key-file", KT_PATH, POL_F(group_root_key_file), 0, 0, NULL, NULL, \
  "auth group:NAME, standalone: the group's root-key file (0600, yours; weaker than a KDS)") \
X(GROUP_SD, "group-sd", KT_HEX, POL_F(group_sd), 0, 0, NULL, NULL, \
  "auth group:NAME: the group's security descriptor, hex (default: the fixed one of docs/policy.md)") \
X(GROUP_KDS, "group-kds", KT_ENDPOINTS, POL_F(group_kds), 0, 0, NULL, NULL, \
  "auth group:NAME: the key distribution services, IP:PORT, tried in order (docs/group-keys.md)") \
X(GROUP_KDS_IDENTITY, "group-kds-identity", KT_FINGERPRINTS, POL_F(group_kds_identity), 0, 0, NULL, NULL, \
  "auth group:NAME with group-kds: the host-key fingerprints a KDS must prove (one of them)") \
X(PROTOCOL, "protocol", KT_PROTOCOL, POL_NOFIELD, 0, 0, NULL, NULL, "match: tcp or udp") \
X(DIRECTION, "direction", KT_DIRECTION, POL_NOFIELD, 0, 0, NULL, NULL, "match: inbound, outbound or any") \
X(REMOTE, "remote", KT_REMOTE, POL_NOFIELD, 0, 0, NULL, NULL, "match: the peer's addresses or CIDR prefixes") \
X(PORT, "port", KT_PORT, POL_NOFIELD, 0, 0, NULL, NULL, "match: the remote port (outbound) or local port (inbound)") \
X(PROGRAM, "program", KT_PROGRAM, POL_NOFIELD, 0, 0, NULL, NULL, "match: program names or path globs")

#define POL_KEY_ENUM(id, ...) PK_##id,
typedef enum pol_key {
	POL_KEYS(POL_KEY_ENUM)
	PK_COUNT_
} pol_key;
#undef POL_KEY_ENUM
#define PK_FIRST_MATCH_ PK_PROTOCOL

typedef struct pol_keydef {
	const char *name;
	pol_ktype type;
	size_t off, len;        /* in pol_settings; 0, 0 for the action and match keys */
	uint64_t min, max;      /* durations: accepted range, ms */
	const char *builtin;    /* NULL: unset unless a file sets it */
	const char *note;       /* beside it in the embedded default; NULL: none */
	const char *doc;
} pol_keydef;

extern const pol_keydef pol_keydefs[PK_COUNT_];

const char *pol_key_name(pol_key k);
/* -1 when unknown */
int pol_key_from_name(const char *name);

/* Parse v (modified in place) into the bytes key k owns in s.  NULL when
 * fine, else what was expected (for the message).  Settings keys only. */
const char *pol_set_setting(pol_settings *s, pol_key k, char *v);
/* Copy to dst the bytes of every settings key whose bit is set in `set`. */
void pol_overlay(pol_settings *dst, const pol_settings *src, uint64_t set);
/* The [defaults] section of the embedded default, made from the list. */
size_t pol_builtin_defaults_text(char *buf, size_t n);

#endif
