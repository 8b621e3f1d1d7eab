/* pre_creds.c — build ss_cred objects from policy settings (pre_creds.h).
 *
 * Settings pointers are owned by the immutable process policy, so the pair
 * (settings, use) is a stable cache key.  The cache is touched only when a
 * connection is being set up, never on the data path; a mutex is fine.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "pre_core.h"
#include "pre_creds.h"
#include "pre_kds.h"
#include "pre_sock.h"
#include "pre_log.h"
#include "pre_resume.h"
#include "pre_sym.h"
#include "ss_peers.h"

enum { CRED_CACHE = 32, PSK_MAX = 64, PSK_FILE_MAX = 4096, KDS_SRC_MAX = 520, CACHE_PATH_MAX = 300 };

struct cred_slot {
	const pol_settings *set;
	unsigned use;
	ss_cred *cred;
};
static struct cred_slot cache[CRED_CACHE];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

int pre_creds_parse_psk(const char *text, char *identity, size_t id_cap,
                        unsigned char *key, size_t cap, size_t *key_len)
{
	const char *line = text, *end, *colon, *hex;
	size_t n = 0;

	*key_len = 0;
	for (;;) {
		while (*line == ' ' || *line == '\t' || *line == '\r' || *line == '\n')
			line++;
		if (*line != '#')
			break;
		line = strchr(line, '\n');
		if (!line)
			return -1;
	}
	end = line + strcspn(line, "\r\n");
	while (end > line && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (end == line)
		return -1;
	colon = memchr(line, ':', (size_t)(end - line));
	if (colon) {
		size_t il = (size_t)(colon - line);
		if (il == 0 || il >= id_cap || il > 128)
			return -1;
		for (size_t i = 0; i < il; i++)
			if (!isprint((unsigned char)line[i]))
				return -1;
		memcpy(identity, line, il);
		identity[il] = '\0';
		hex = colon + 1;
	} else {
		if (id_cap < 8)
			return -1;
		strcpy(identity, "secsock");
		hex = line;
	}
	if ((end - hex) % 2 != 0)
		return -1;
	for (; hex < end; hex += 2) {
		int hi = hexval(hex[0]), lo = hexval(hex[1]);
		if (hi < 0 || lo < 0 || n >= cap)
			goto bad;
		key[n++] = (unsigned char)(hi << 4 | lo);
	}
	if (n < 16)
		goto bad;
	*key_len = n;
	return 0;
bad:
	sodium_memzero(key, cap);
	return -1;
}

/* Read the psk file into locked memory and parse it. */
static int load_psk(const char *path, char *identity, size_t id_cap,
                    unsigned char *key, size_t cap, size_t *key_len)
{
	char *buf = sodium_malloc(PSK_FILE_MAX + 1);
	ssize_t n = 0, r;
	int fd, rc = -1;

	if (!buf)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto out;
	while (n < PSK_FILE_MAX && (r = REAL(read)(fd, buf + n, (size_t)(PSK_FILE_MAX - n))) > 0)
		n += r;
	REAL(close)(fd);
	buf[n] = '\0';
	rc = pre_creds_parse_psk(buf, identity, id_cap, key, cap, key_len);
out:
	sodium_memzero(buf, PSK_FILE_MAX + 1);
	sodium_free(buf);
	return rc;
}

static int hostkey_listed(const ss_auth *m, int n)
{
	for (int i = 0; i < n; i++)
		if (m[i] == SS_AUTH_HOST_KEY)
			return 1;
	return 0;
}

/* Only to word a refusal: core decides whether the key loads. */
static int hostkey_readable(const char *file)
{
	char def[512];
	if (file)
		return access(file, R_OK) == 0;
	return (ss_hostkey_default_path(def, sizeof def) == 0 && access(def, R_OK) == 0) ||
	       (geteuid() == 0 && access(SS_HOSTKEY_SYSTEM_PATH, R_OK) == 0);
}

/* auth group:NAME: its key source into p — a KDS (group-kds with its
 * pinned identity; the cache file when there is a private place for it) or
 * the root-key file.  -1 (why says it) when the rule names neither, or for
 * a standard TLS peer, which knows no group keys.  kds_src (KDS_SRC_MAX bytes) and
 * cache_file (CACHE_PATH_MAX) are the caller's storage, read by ss_cred_acquire. */
static int group_source(const pol_settings *s, const char *group, ss_cred_params *p, char *kds_src,
                        char *cache_file, char *why, size_t why_len)
{
	int kds = s->group_kds[0] && s->group_kds_identity[0];

	if (p->mode == SS_MODE_STANDARD_TLS || (!s->group_root_key_file[0] && !kds)) {
		snprintf(why, why_len, "auth 'group:%s' %s", group, p->mode == SS_MODE_STANDARD_TLS
		         ? "is not available with peer = standard-tls"
		         : "has no key source (group-kds with group-kds-identity, or group-root-key-file)");
		return -1;
	}
	p->group_name = group;
	if (!kds || s->group_root_key_file[0]) {
		p->group_root_key_file = s->group_root_key_file;
		return 0;
	}
	if (pre_kds_src(s, kds_src, KDS_SRC_MAX) != 0) {
		snprintf(why, why_len, "group-kds: too long");
		return -1;
	}
	p->group_fetch = pre_kds_fetch;
	p->group_kds_src = kds_src;
	if (pre_kds_cache_file(group, cache_file, CACHE_PATH_MAX) == 0)
		p->group_cache_file = cache_file;
	else
		pre_log(PRE_LOG_WARN, "group %s: no private cache directory (~/.cache/secsock); "
		        "group keys are kept in this process only", group);
	return 0;
}

static ss_cred *build(const pol_settings *s, unsigned use, char *why, size_t why_len)
{
	ss_cred_params p;
	ss_cred *cred = NULL;
	unsigned char *key = NULL;
	char identity[130], kds_src[KDS_SRC_MAX], cache_file[CACHE_PATH_MAX];
	unsigned char sd[256];
	size_t key_len = 0;
	int nm = 0;
	ss_status st;

	memset(&p, 0, sizeof p);
	p.use = use;
	p.mode = s->peer == POL_PEER_STANDARD_TLS ? SS_MODE_STANDARD_TLS : SS_MODE_SECSOCK;
	for (int i = 0; i < s->n_ciphers && i < SS_MAX_SUITES; i++)
		p.suites[i] = s->ciphers[i];
	for (int i = 0; i < s->n_groups && i < SS_MAX_GROUPS; i++)
		p.groups[i] = s->groups[i];

	/* Exactly the rule's methods, in its order (core checks after the
	 * handshake that the peer proved one of them).  A standard TLS peer
	 * (ARCHITECTURE.md "Wire protocol") knows only X.509: certificate, or
	 * anonymous when the rule lists it; secsock peers also psk.  A listed
	 * method that cannot work is a refusal, never skipped into a weaker
	 * list (policy check refuses such files; this is the run-time side):
	 * a group without its root-key file refuses the connection, so that
	 * "group:db, anonymous" never secures a member's connection
	 * anonymously when the key is missing. */
	for (int i = 0; i < s->n_auth && nm < SS_MAX_METHODS; i++) {
		int m = s->auth[i].method;
		if (m == SS_AUTH_GROUP) {
			if (group_source(s, s->auth[i].group, &p, kds_src, cache_file, why, why_len) < 0)
				return NULL;
			p.methods[nm++] = SS_AUTH_GROUP;
			continue;
		}
		if (m == SS_AUTH_PSK && (p.mode == SS_MODE_STANDARD_TLS || !s->psk_file[0])) {
			snprintf(why, why_len, "auth 'psk' %s", p.mode == SS_MODE_STANDARD_TLS
			         ? "is not available with peer = standard-tls" : "has no psk-file");
			return NULL;
		}
		if (m == SS_AUTH_ANONYMOUS || m == SS_AUTH_PSK || m == SS_AUTH_CERTIFICATE ||
		    (m == SS_AUTH_HOST_KEY && p.mode == SS_MODE_SECSOCK))
			p.methods[nm++] = (ss_auth)m;
	}
	if (nm == 0) {
		snprintf(why, why_len, "no usable auth method in policy");
		return NULL;
	}
	for (int i = 0; i < nm; i++) {
		if (p.methods[i] != SS_AUTH_PSK)
			continue;
		key = sodium_malloc(PSK_MAX);
		if (!key || load_psk(s->psk_file, identity, sizeof identity, key, PSK_MAX, &key_len) < 0) {
			snprintf(why, why_len, "psk-file %s: unreadable or malformed", s->psk_file);
			goto out;
		}
		p.psk_identity = identity;
		p.psk = key;
		p.psk_len = key_len;
	}
	if (p.group_name && s->group_sd[0]) {
		size_t sl = 0;
		if (sodium_hex2bin(sd, sizeof sd, s->group_sd, strlen(s->group_sd), NULL, &sl, NULL) != 0 || sl == 0) {
			snprintf(why, why_len, "group-sd: not hex");
			goto out;
		}
		p.group_sd = sd;
		p.group_sd_len = sl;
	}
	p.cert_file = s->cert_file[0] ? s->cert_file : NULL;
	p.key_file = s->key_file[0] ? s->key_file : NULL;
	p.ca_file = s->ca_file[0] ? s->ca_file : NULL;
	p.host_key_file = s->host_key_file[0] ? s->host_key_file : NULL;
	p.keylog = pre_keylog_enabled() ? pre_keylog_line : NULL;
	/* quick reconnects (pre_resume.h): lifetimes in whole seconds */
	p.session_lifetime = s->session_lifetime_ms / 1000 > UINT32_MAX ? UINT32_MAX : (uint32_t)(s->session_lifetime_ms / 1000);
	p.no_pfs = !s->pfs;
	p.idle_timeout = s->idle_timeout_ms / 1000 > UINT32_MAX ? UINT32_MAX : (uint32_t)(s->idle_timeout_ms / 1000);
	if (use == SS_CRED_INBOUND && p.mode == SS_MODE_SECSOCK) {
		p.tickets = pre_resume_keys();
		/* a ticket resumes only under the settings it was proved under */
		crypto_generichash(p.ticket_scope, sizeof p.ticket_scope, (const unsigned char *)s, sizeof *s, NULL, 0);
	}
	/* inbound, peer-name is the list of allowed client names (outbound it
	 * is the target, pre_handshake.c) */
	p.peer_names = use == SS_CRED_INBOUND && s->peer_name[0] ? s->peer_name : NULL;
	st = ss_cred_acquire(&p, &cred);
	if (st == SS_NO_AUTHENTICATING_AUTHORITY && !p.ca_file) {
		snprintf(why, why_len, "auth 'certificate' has no ca-file: nothing can verify the peer");
		cred = NULL;
	} else if (st == SS_NO_CREDENTIALS && hostkey_listed(p.methods, nm) && !hostkey_readable(p.host_key_file)) {
		snprintf(why, why_len, "auth 'host-key': no host key %s (make one with 'secsock keygen', or set host-key-file)",
		         p.host_key_file ? p.host_key_file : "of this user");
		cred = NULL;
	} else if (st == SS_NO_CREDENTIALS && p.group_name && p.group_fetch) {
		snprintf(why, why_len, "auth 'group:%s': cannot set up the group's key source", p.group_name);
		cred = NULL;
	} else if (st == SS_NO_CREDENTIALS && p.group_name) {
		snprintf(why, why_len, "auth 'group:%s': root-key file %s missing, malformed, or not 0600 and yours "
		         "(a group listed without its key refuses, never falls back)", p.group_name, p.group_root_key_file);
		cred = NULL;
	} else if (st != SS_OK) {
		snprintf(why, why_len, "credentials: %s", ss_status_name(st));
		cred = NULL;
	}
out:
	if (key) {
		sodium_memzero(key, PSK_MAX);
		sodium_free(key);
	}
	sodium_memzero(identity, sizeof identity);
	return cred;
}

ss_cred *pre_creds_get(const pol_settings *s, unsigned use, char *why, size_t why_len)
{
	ss_cred *c = NULL;
	int i, free_slot = -1;

	/* Load the engine before taking cache_lock, not inside dlopen's reach
	 * (pre_core.h); without it no credential exists: refuse, never clear. */
	if (pre_core_load() < 0) {
		snprintf(why, why_len, "%s", pre_core_error());
		return NULL;
	}
	pthread_mutex_lock(&cache_lock);
	for (i = 0; i < CRED_CACHE; i++) {
		if (cache[i].cred && cache[i].set == s && cache[i].use == use) {
			c = ss_cred_ref(cache[i].cred);
			goto out;
		}
		if (!cache[i].cred && free_slot < 0)
			free_slot = i;
	}
	c = build(s, use, why, why_len);
	if (c && free_slot >= 0) {
		cache[free_slot].set = s;
		cache[free_slot].use = use;
		cache[free_slot].cred = ss_cred_ref(c);
	}
out:
	pthread_mutex_unlock(&cache_lock);
	return c;
}

/* The peer as a known-peers key (ss_peers.h): 16-byte address, and the
 * port outbound (a server is a host and port), none inbound (a client's
 * port is ephemeral: the address only). */
static int peer_key(const struct sockaddr_storage *a, int inbound, ss_peer *e)
{
	memset(e, 0, sizeof *e);
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)a;
		e->addr[10] = e->addr[11] = 0xff;
		memcpy(e->addr + 12, &v4->sin_addr, 4);
		e->port = inbound ? 0 : ntohs(v4->sin_port);
	} else if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)a;
		memcpy(e->addr, &v6->sin6_addr, 16);
		e->port = inbound ? 0 : ntohs(v6->sin6_port);
	} else {
		return -1;
	}
	e->prefix = 128;
	return 0;
}

/* What the known-peers files say of peer e (fp NULL: any key is another
 * key).  The user's file (or the rule's known-peers-file) first, then the
 * system's, read only; a mismatch in either wins. */
struct pin_look {
	char path[512];          /* the file a first contact is pinned in; "" none */
	ss_pin pin;
	ss_peer have;            /* SS_PIN_MISMATCH: the line pinning another key */
	ss_peer hit;             /* SS_PIN_MATCH: the line pinning this key */
};

static int pin_lookup(const pol_settings *s, const ss_peer *e, const char *fp, struct pin_look *lk,
                      char *why, size_t why_len)
{
	const char *files[2];
	char err[256];

	memset(lk, 0, sizeof *lk);
	if (s->known_peers_file[0])
		snprintf(lk->path, sizeof lk->path, "%s", s->known_peers_file);
	else if (ss_peers_default_path(lk->path, sizeof lk->path) != 0)
		lk->path[0] = '\0';
	files[0] = lk->path[0] ? lk->path : NULL;
	files[1] = strcmp(lk->path, SS_PEERS_SYSTEM_PATH) != 0 ? SS_PEERS_SYSTEM_PATH : NULL;
	for (int f = 0; f < 2 && lk->pin != SS_PIN_MISMATCH; f++) {
		ss_peers *list = NULL;
		const ss_peer *line = NULL;
		ss_pin r;
		if (!files[f])
			continue;
		if (ss_peers_load(files[f], &list, err, sizeof err) != SS_OK) {
			snprintf(why, why_len, "known-peers %s: %s", files[f], err);
			return -1;
		}
		r = ss_peers_check(list, e->addr, e->port, fp, &line);
		if (r == SS_PIN_MISMATCH && line)
			lk->have = *line;
		if (r == SS_PIN_MATCH && line && !lk->hit.fp[0])
			lk->hit = *line;
		if (r != SS_PIN_UNKNOWN)
			lk->pin = r;
		ss_peers_free(list);
	}
	return 0;
}

int pre_creds_check_peer(const pol_settings *s, int inbound, const struct sockaddr_storage *peer,
                         ss_auth auth, const char *fp, const char *name, char *why, size_t why_len)
{
	char err[256], addr[80];
	struct pin_look lk;
	ss_peer e;
	int listed = 0;

	for (int i = 0; i < s->n_auth; i++)
		listed |= s->auth[i].method == SS_AUTH_HOST_KEY;
	if (!listed || (auth != SS_AUTH_HOST_KEY && auth != SS_AUTH_ANONYMOUS))
		return 0;   /* psk and certificate prove themselves */
	if (peer_key(peer, inbound, &e) < 0) {
		snprintf(why, why_len, "host-key: the peer has no IP address");
		return -1;
	}
	pre_log_addr(peer, addr, sizeof addr);
	if (pin_lookup(s, &e, auth == SS_AUTH_HOST_KEY ? fp : NULL, &lk, why, why_len) < 0)
		return -1;
	if (auth == SS_AUTH_ANONYMOUS) {
		if (lk.pin == SS_PIN_UNKNOWN)
			return 0;
		/* otherwise an active attacker simply offers anonymous */
		struct pre_event ev = { .name = PRE_EV_DOWNGRADE, .dir = inbound ? "inbound" : "outbound", .peer = addr,
		                        .method = "anonymous", .reason = "pinned peer offered no host key" };
		pre_event(PRE_LOG_WARN, &ev, "host-key: %s is pinned (%s) but authenticated anonymously: refused",
		          addr, lk.have.fp);
		snprintf(why, why_len, "pinned peer %s offered no host key", addr);
		return -1;
	}
	/* A name asked for (core: name_by_pin) is proven only by a line that
	 * binds it to this key; a first contact proves no name, so nothing is
	 * pinned for it (issue 13 "Names are enforced"). */
	if (name && lk.pin == SS_PIN_UNKNOWN) {
		snprintf(why, why_len, "host-key: %s (%s) is not a known peer, so it cannot prove the name %s "
		         "(secsock peers add --names)", addr, fp, name);
		return -1;
	}
	if (lk.pin == SS_PIN_UNKNOWN) {
		if (s->known_peers_strict) {
			snprintf(why, why_len, "host-key: %s (%s) is not a known peer (known-peers = strict)", addr, fp);
			return -1;
		}
		snprintf(e.fp, sizeof e.fp, "%s", fp);
		if (!lk.path[0] || ss_peers_pin(lk.path, &e, &lk.pin, &lk.have, err, sizeof err) != SS_OK) {
			snprintf(why, why_len, "host-key: cannot pin %s: %s", addr, lk.path[0] ? err : "no known-peers file");
			return -1;
		}
		/* One notice per pin: a process that finds the line another
		 * one wrote a moment ago says nothing. */
		if (lk.pin == SS_PIN_ADDED) {
			struct pre_event ev = { .name = PRE_EV_PIN_ADDED, .dir = inbound ? "inbound" : "outbound",
			                        .peer = addr, .method = "host-key", .identity = fp };
			pre_event(PRE_LOG_NOTICE, &ev, "host-key: pinned %s %s in %s", addr, fp, lk.path);
		}
	}
	if (lk.pin == SS_PIN_MISMATCH) {
		struct pre_event ev = { .name = PRE_EV_PIN_MISMATCH, .dir = inbound ? "inbound" : "outbound",
		                        .peer = addr, .method = "host-key", .reason = "host key changed", .identity = fp };
		pre_event(PRE_LOG_WARN, &ev, "WARNING: host-key of %s CHANGED: expected %s, seen %s — refused "
		          "(a man in the middle, or a new key: secsock peers remove)", addr, lk.have.fp, fp);
		snprintf(why, why_len, "host-key mismatch for %s", addr);
		return -1;
	}
	if (name && !ss_peer_has_name(&lk.hit, name)) {
		snprintf(why, why_len, "host-key: the known-peers line %d for %s does not bind the name %s (names=)",
		         lk.hit.line, addr, name);
		return -1;
	}
	return 0;
}

int pre_creds_check_conn(struct pre_conn *c, int fd, char *why, size_t why_len)
{
	struct sockaddr_storage peer;
	ss_ctx_info info;
	int rc;

	if (!c->set || !c->ctx)
		return 0;
	memset(&info, 0, sizeof info);
	if (ss_ctx_query(c->ctx, &info) != SS_OK) {
		snprintf(why, why_len, "cannot identify the peer");
		return -1;
	}
	if (pre_conn_peer(c, fd, &peer) < 0) {
		snprintf(why, why_len, "cannot tell the peer's address");
		sodium_memzero(&info, sizeof info);
		return -1;
	}
	rc = pre_creds_check_peer(c->set, c->dir == POL_DIR_INBOUND, &peer, info.auth, info.peer,
	                          info.name_by_pin ? pre_conn_target(c) : NULL, why, why_len);
	sodium_memzero(&info, sizeof info);
	return rc;
}
