/* ss_group.c — auth = group:NAME (ss_group.h): the identity, the PSK
 * derivation, the two key sources (a root-key file, or a KDS reached
 * through the caller's fetch) and the L2 seed keys through the 3.2.4.1
 * client cache. */
#include "ss_group.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <sodium.h>

#include "ss_kds_proto.h"
#include "ss_rec_int.h"

const uint8_t SS_GROUP_SD_DEFAULT[60] = {
	0x01, 0x00, 0x04, 0x80, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x14, 0x00, 0x00, 0x00, 0x02, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00,
	0x9f, 0x01, 0x12, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x09, 0x00, 0x00, 0x00,
	0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x12, 0x00, 0x00, 0x00,
};

static const char psk_salt[] = "secsock group psk v1";

struct ss_grp {
	char name[SS_GROUP_NAME_MAX + 1];
	ss_gkdi_root root;            /* root.key: sodium_malloc'd */
	uint8_t *sd;
	size_t sd_len;
	ss_gkdi_cache *cache;
	pthread_mutex_t lock;         /* the cache; a credential is shared by threads */
	/* KDS source (root.key NULL) */
	ss_group_fetch_fn fetch;
	char *src, *cache_file;
	int64_t retry_at;             /* unix s: after a failed fetch, none before this */
	int64_t named_retry_at;       /* unix s: after a refused request naming a root key, no such request */
};

/* ------------------------------------------------------------ identity */

static int name_ok(const char *n, size_t len)
{
	if (len == 0 || len > SS_GROUP_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)n[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_' || ch == '.'))
			return 0;
	}
	return 1;
}

static int l2_gkid(ss_gkid g)
{
	return g.l0 >= 0 && g.l1 >= 0 && g.l1 <= 31 && g.l2 >= 0 && g.l2 <= 31;
}

ss_status ss_group_id_encode(const ss_group_id *id, uint8_t *out, size_t cap, size_t *len)
{
	size_t nl = id ? strnlen(id->name, sizeof id->name) : 0, n = 0;

	if (id == NULL || out == NULL || len == NULL || !name_ok(id->name, nl) || !l2_gkid(id->gkid))
		return SS_INVALID_HANDLE;
	if (cap < 4 + nl + 16 + 6)
		return SS_BUFFER_TOO_SMALL;
	out[n++] = 'S';
	out[n++] = 'G';
	out[n++] = 1;
	out[n++] = (uint8_t)nl;
	memcpy(out + n, id->name, nl);
	n += nl;
	memcpy(out + n, id->rkid.b, 16);
	n += 16;
	for (int s = 24; s >= 0; s -= 8)
		out[n++] = (uint8_t)((uint32_t)id->gkid.l0 >> s);
	out[n++] = (uint8_t)id->gkid.l1;
	out[n++] = (uint8_t)id->gkid.l2;
	*len = n;
	return SS_OK;
}

ss_status ss_group_id_parse(const uint8_t *in, size_t len, ss_group_id *id)
{
	size_t nl, n = 4;
	uint32_t l0 = 0;

	if (in == NULL || id == NULL || len < 4 + 1 + 16 + 6 || in[0] != 'S' || in[1] != 'G' || in[2] != 1)
		return SS_INVALID_TOKEN;
	nl = in[3];
	if (len != 4 + nl + 16 + 6 || !name_ok((const char *)in + 4, nl))
		return SS_INVALID_TOKEN;
	memset(id, 0, sizeof *id);
	memcpy(id->name, in + n, nl);
	n += nl;
	memcpy(id->rkid.b, in + n, 16);
	n += 16;
	for (int i = 0; i < 4; i++)
		l0 = l0 << 8 | in[n++];
	if (l0 > INT32_MAX || in[n] > 31 || in[n + 1] > 31)
		return SS_INVALID_TOKEN;
	id->gkid = (ss_gkid){ (int32_t)l0, in[n], in[n + 1] };
	return SS_OK;
}

ss_status ss_group_psk(const uint8_t l2[SS_GKDI_KEY_LEN], const uint8_t *ident, size_t ident_len,
                       uint8_t out[SS_GROUP_PSK_LEN])
{
	int mode = EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)l2, SS_GKDI_KEY_LEN),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)psk_salt, sizeof psk_salt - 1),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)ident, ident_len),
		OSSL_PARAM_construct_end(),
	};
	if (l2 == NULL || ident == NULL || ident_len == 0 || out == NULL)
		return SS_INVALID_HANDLE;
	return ss_kdf_run("HKDF", params, out, SS_GROUP_PSK_LEN);
}

uint64_t ss_group_nttime(int64_t unix_now)
{
	/* 11644473600 s from 1601-01-01 to 1970-01-01 */
	return unix_now < -11644473600LL ? 0 : (uint64_t)(unix_now + 11644473600LL) * 10000000u;
}

static uint64_t counter(ss_gkid g)
{
	return ((uint64_t)g.l0 * 32 + (uint64_t)g.l1) * 32 + (uint64_t)g.l2;
}

int ss_group_gkid_ok(ss_gkid got, ss_gkid now)
{
	if (!l2_gkid(got) || !l2_gkid(now))
		return 0;
	return counter(got) == counter(now) || counter(got) + 1 == counter(now);
}

/* ------------------------------------------------------------ root-key file */

/* "GUID HASH HEX" on the first line that is not blank or '#'. */
static int parse_root(char *text, ss_gkdi_root *root, uint8_t *key)
{
	char *save = NULL, *line, *guid, *hash, *hex, *extra;

	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		line += strspn(line, " \t\r");
		if (*line != '\0' && *line != '#')
			break;
	}
	if (line == NULL)
		return -1;
	guid = strtok_r(line, " \t\r", &save);
	hash = strtok_r(NULL, " \t\r", &save);
	hex = strtok_r(NULL, " \t\r", &save);
	extra = strtok_r(NULL, " \t\r", &save);
	if (guid == NULL || hash == NULL || hex == NULL || (extra != NULL && *extra != '#') ||
	    ss_guid_parse(guid, &root->id) != 0 || ss_gkdi_hash_parse(hash, &root->hash) != 0 ||
	    strlen(hex) != 2 * SS_GKDI_KEY_LEN)
		return -1;
	size_t n = 0;
	const char *end = NULL;
	if (sodium_hex2bin(key, SS_GKDI_KEY_LEN, hex, 2 * SS_GKDI_KEY_LEN, NULL, &n, &end) != 0 ||
	    n != SS_GKDI_KEY_LEN || *end != '\0')
		return -1;
	return 0;
}

/* A stolen root-key file gives every key of every period, so it is read
 * only when nobody but its owner (this user) could have read it. */
static int read_root_file(const char *path, char *buf, size_t cap)
{
	struct stat st;
	ssize_t r;
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077) != 0) {
		close(fd);
		return -1;
	}
	while (n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = '\0';
	return 0;
}

/* What both sources have: name, SD (NULL: the built-in one), cache. */
static ss_status group_new(const char *name, const uint8_t *sd, size_t sd_len, ss_grp **out)
{
	ss_grp *g;

	if (out == NULL || name == NULL || !name_ok(name, strlen(name)) ||
	    (sd != NULL && (sd_len == 0 || sd_len > SS_GKDI_SD_MAX)))
		return SS_NO_CREDENTIALS;
	if (sodium_init() < 0)
		return SS_INTERNAL_ERROR;
	if (sd == NULL) {
		sd = SS_GROUP_SD_DEFAULT;
		sd_len = sizeof SS_GROUP_SD_DEFAULT;
	}
	g = calloc(1, sizeof *g);
	if (g == NULL)
		return SS_INSUFFICIENT_MEMORY;
	pthread_mutex_init(&g->lock, NULL);
	if ((g->sd = malloc(sd_len)) == NULL || (g->cache = ss_gkdi_cache_new()) == NULL) {
		ss_group_free(g);
		return SS_INSUFFICIENT_MEMORY;
	}
	snprintf(g->name, sizeof g->name, "%s", name);
	memcpy(g->sd, sd, sd_len);
	g->sd_len = sd_len;
	*out = g;
	return SS_OK;
}

ss_status ss_group_new_kds(const char *name, const uint8_t *sd, size_t sd_len, ss_group_fetch_fn fetch,
                           const char *src, const char *cache_file, ss_grp **out)
{
	ss_grp *g = NULL;
	ss_status st;

	if (fetch == NULL || src == NULL || out == NULL)
		return SS_NO_CREDENTIALS;
	if ((st = group_new(name, sd, sd_len, &g)) != SS_OK)
		return st;
	g->fetch = fetch;
	if ((g->src = strdup(src)) == NULL || (cache_file && (g->cache_file = strdup(cache_file)) == NULL)) {
		ss_group_free(g);
		return SS_INSUFFICIENT_MEMORY;
	}
	/* a missing, foreign or damaged cache file is an empty cache: the
	 * KDS fills it again (ss_gkdi_cache_load refuses what it cannot trust) */
	if (g->cache_file)
		(void)ss_gkdi_cache_load(g->cache, g->cache_file);
	*out = g;
	return SS_OK;
}

ss_status ss_group_load(const char *name, const char *root_file, const uint8_t *sd, size_t sd_len,
                        ss_grp **out)
{
	ss_grp *g = NULL;
	char *buf;
	int ok;
	ss_status st;

	if (root_file == NULL)
		return SS_NO_CREDENTIALS;
	if ((st = group_new(name, sd, sd_len, &g)) != SS_OK)
		return st;
	buf = sodium_malloc(SS_GROUP_FILE_MAX);
	if (buf == NULL || (g->root.key = sodium_malloc(SS_GKDI_KEY_LEN)) == NULL) {
		if (buf)
			sodium_free(buf);
		ss_group_free(g);
		return SS_INSUFFICIENT_MEMORY;
	}
	ok = read_root_file(root_file, buf, SS_GROUP_FILE_MAX) == 0 &&
	     parse_root(buf, &g->root, (uint8_t *)g->root.key) == 0;
	sodium_free(buf);   /* wipes */
	if (!ok) {
		ss_group_free(g);
		return SS_NO_CREDENTIALS;
	}
	*out = g;
	return SS_OK;
}

void ss_group_free(ss_grp *g)
{
	if (g == NULL)
		return;
	if (g->root.key != NULL)
		sodium_free((void *)g->root.key);
	ss_gkdi_cache_free(g->cache);
	pthread_mutex_destroy(&g->lock);
	free(g->sd);
	free(g->src);
	free(g->cache_file);
	free(g);
}

const char *ss_grp_name(const ss_grp *g)
{
	return g ? g->name : "";
}

/* ------------------------------------------------------------ keys */

/* Standalone: this host, holding the root key, answers the cache's "ask
 * the server" as a KDS would (3.1.4.1: never a key newer than now), and
 * the answer goes through the cache's update rules like any envelope. */
static ss_status local_answer(ss_grp *g, const ss_gkdi_req *req, uint64_t now, ss_gkdi_key *k)
{
	uint8_t scratch[SS_GKDI_SCRATCH];
	ss_gkdi_env env;
	ss_gkdi_answer *ans = sodium_malloc(sizeof *ans);
	ss_status st;

	if (ans == NULL)
		return SS_INSUFFICIENT_MEMORY;
	st = ss_gkdi_get_key(&g->root, g->sd, g->sd_len, 1, req->gkid, ss_gkid_from_time(now), ans);
	if (st == SS_OK)
		st = ss_gkdi_env_from_answer(ans, &g->root, g->name, g->name, &env, scratch, sizeof scratch);
	if (st == SS_OK)
		st = ss_gkdi_cache_update(g->cache, req, &env, k);
	ss_gkdi_answer_clear(ans);
	sodium_free(ans);
	return st;
}

/* KDS: one GetKey request through the caller's fetch.  The answer's
 * envelope goes through the update rules of 3.2.4.1 and the cache is
 * saved.  SS_NO_AUTHENTICATING_AUTHORITY when no KDS could be reached
 * (now or within the last SS_GROUP_KDS_RETRY s), SS_LOGON_DENIED when
 * one answered with a refusal (not a member, unknown root key, ...). */
static ss_status kds_answer(ss_grp *g, const ss_gkdi_req *req, int64_t unix_now, ss_gkdi_key *k)
{
	enum { CAP = SS_KDS_HDR + 1 + 4 + SS_GKDI_ENV_MAX };
	ss_kds_req kr;
	ss_kds_answer ka;
	ss_gkdi_env env;
	uint8_t q[SS_KDS_REQ_MAX], *a;
	size_t ql = 0, al = 0;
	ss_status st;

	if (unix_now < g->retry_at)
		return SS_NO_AUTHENTICATING_AUTHORITY;
	/* A server asks for the root key and period a client's identity names;
	 * a peer sending identities with made-up root keys would make each of
	 * its handshakes a KDS request.  After one is refused, such requests
	 * wait (the latest-key request, which members need, does not). */
	if (req->rkid != NULL && unix_now < g->named_retry_at)
		return SS_LOGON_DENIED;
	memset(&kr, 0, sizeof kr);
	snprintf(kr.group, sizeof kr.group, "%s", g->name);
	kr.gkid = req->gkid;
	if (req->rkid != NULL) {
		kr.has_rkid = 1;
		kr.rkid = *req->rkid;
	}
	if ((st = ss_kds_req_encode(&kr, q, sizeof q, &ql)) != SS_OK)
		return st;
	if ((a = sodium_malloc(CAP)) == NULL)
		return SS_INSUFFICIENT_MEMORY;
	/* Not under the group's lock: a fetch can take seconds, and a fork
	 * by another thread meanwhile would leave the child's lock held for
	 * ever.  Two threads may then both ask; the cache takes both. */
	pthread_mutex_unlock(&g->lock);
	int got = g->fetch(g->src, q, ql, a, CAP, &al);
	pthread_mutex_lock(&g->lock);
	if (got != 0 || al > CAP) {
		g->retry_at = unix_now + SS_GROUP_KDS_RETRY;
		st = SS_NO_AUTHENTICATING_AUTHORITY;
	} else if (ss_kds_answer_parse(a, al, &ka, NULL, 0) != SS_OK || ka.code != SS_KDS_OK ||
	           ss_gkdi_env_parse(ka.env, ka.env_len, &env, NULL, 0) != SS_OK) {
		g->retry_at = 0;
		st = SS_LOGON_DENIED;
	} else {
		g->retry_at = 0;
		st = ss_gkdi_cache_update(g->cache, req, &env, k);   /* another root key than named: refused */
		if (st == SS_OK && g->cache_file != NULL)
			(void)ss_gkdi_cache_save(g->cache, g->cache_file);   /* best effort: the KDS stays the source */
	}
	if (st != SS_OK && st != SS_NO_AUTHENTICATING_AUTHORITY && req->rkid != NULL)
		g->named_retry_at = unix_now + SS_GROUP_KDS_RETRY;
	sodium_memzero(a, CAP);
	sodium_free(a);
	return st;
}

/* The L2 seed key of req at NTTIME now (unix_now for the KDS retry clock):
 * the cache first (3.2.4.1 lookup), then the source; with a KDS that
 * cannot be reached and no root key id asked for, the cache's fallback to
 * a current key at most 32 L2 periods old — so *k's GKID may be older than
 * asked, and the caller offers what it got. */
static ss_status seed_key(ss_grp *g, const ss_gkdi_req *req, uint64_t now, int64_t unix_now, ss_gkdi_key *k)
{
	ss_status st;

	pthread_mutex_lock(&g->lock);
	st = ss_gkdi_cache_lookup(g->cache, req, now, k);
	if (st == SS_CONTINUE_NEEDED)
		st = g->root.key ? local_answer(g, req, now, k) : kds_answer(g, req, unix_now, k);
	/* "If the server cannot be reached ... and the caller did not specify
	 * a root key identifier" (3.2.4.1): the cached current key */
	if (st == SS_NO_AUTHENTICATING_AUTHORITY && req->rkid == NULL)
		st = ss_gkdi_cache_unreachable(g->cache, req, now, k);
	pthread_mutex_unlock(&g->lock);
	if (st == SS_OK && (k->is_public || k->len != SS_GKDI_KEY_LEN || !l2_gkid(k->gkid) ||
	                    (req->rkid && sodium_memcmp(k->rkid.b, req->rkid->b, 16) != 0)))
		st = SS_INTERNAL_ERROR;
	if (st != SS_OK)
		ss_gkdi_key_clear(k);
	return st;
}

/* KDS: the caller's "latest key" request of 3.2.4.1 (neither root key id
 * nor GKID): the cache's current key no older than now, else the KDS's
 * latest (which marks it current), else the 32-period fallback. */
static ss_status latest_key(ss_grp *g, uint64_t now, int64_t unix_now, ss_gkdi_key *k)
{
	ss_gkdi_req latest = { g->name, g->sd, g->sd_len, NULL, SS_GKID_NONE };
	return seed_key(g, &latest, now, unix_now, k);
}

/* KDS: the key to offer at NTTIME t.  The latest key (latest_key), then
 * — when that key is newer than t's period, because the KDS's clock is
 * ahead of ours or it just crossed a boundary — the key of t's own period
 * derived down from it (same root key, same L0), so a server whose clock
 * is a little behind still takes it. */
static ss_status kds_offer_key(ss_grp *g, uint64_t t, int64_t unix_t, ss_gkdi_key *k)
{
	ss_gkid want = ss_gkid_from_time(t);
	ss_status st = latest_key(g, t, unix_t, k);

	if (st == SS_OK && ss_gkid_cmp(k->gkid, want) > 0 && k->gkid.l0 == want.l0) {
		ss_guid rkid = k->rkid;
		ss_gkdi_req older = { g->name, g->sd, g->sd_len, &rkid, want };
		ss_gkdi_key d = { 0 };
		pthread_mutex_lock(&g->lock);
		if (ss_gkdi_cache_lookup(g->cache, &older, t, &d) == SS_OK && !d.is_public &&
		    d.len == SS_GKDI_KEY_LEN) {
			ss_gkdi_key_clear(k);
			*k = d;
		} else {
			ss_gkdi_key_clear(&d);
		}
		pthread_mutex_unlock(&g->lock);
	}
	return st;
}

ss_status ss_group_offer(ss_grp *g, int64_t now, uint8_t *ident, size_t cap, size_t *ident_len,
                         uint8_t psk[SS_GROUP_PSK_LEN], ss_gkid *gkid)
{
	ss_group_id id;
	uint64_t t = ss_group_nttime(now - SS_GROUP_SKEW);
	ss_gkdi_key k = { 0 };
	ss_status st;

	if (g == NULL)
		return SS_INVALID_HANDLE;
	if (g->root.key) {
		ss_gkdi_req req = { g->name, g->sd, g->sd_len, &g->root.id, ss_gkid_from_time(t) };
		st = seed_key(g, &req, t, now - SS_GROUP_SKEW, &k);
	} else {
		st = kds_offer_key(g, t, now - SS_GROUP_SKEW, &k);
	}
	if (st != SS_OK)
		return st;
	memset(&id, 0, sizeof id);
	snprintf(id.name, sizeof id.name, "%s", g->name);
	id.rkid = k.rkid;
	id.gkid = k.gkid;
	st = ss_group_id_encode(&id, ident, cap, ident_len);
	if (st == SS_OK)
		st = ss_group_psk(k.key, ident, *ident_len, psk);
	if (st == SS_OK && gkid != NULL)
		*gkid = id.gkid;
	ss_gkdi_key_clear(&k);
	return st;
}

/* KDS, an identity older than the window: accepted only when this host's
 * own key for now is the same fallback key (it cannot reach the KDS
 * either), and never older than the fallback allows. */
static int same_outage(ss_grp *g, int64_t now, const ss_group_id *id)
{
	uint64_t t = ss_group_nttime(now);
	ss_gkid g_now = ss_gkid_from_time(t);
	ss_gkdi_key k = { 0 };
	int ok;

	if (counter(id->gkid) + SS_GROUP_FALLBACK_PERIODS < counter(g_now))
		return 0;
	ok = latest_key(g, t, now, &k) == SS_OK && ss_gkid_cmp(k.gkid, id->gkid) == 0 &&
	     sodium_memcmp(k.rkid.b, id->rkid.b, 16) == 0;
	ss_gkdi_key_clear(&k);
	return ok;
}

int ss_group_accepts(ss_grp *g, int64_t now, const uint8_t *ident, size_t ident_len, ss_gkid *gkid)
{
	ss_group_id id;
	ss_gkid g_now = ss_gkid_from_time(ss_group_nttime(now));

	if (g == NULL || ss_group_id_parse(ident, ident_len, &id) != SS_OK || strcmp(id.name, g->name) != 0)
		return 0;
	if (g->root.key) {
		if (sodium_memcmp(id.rkid.b, g->root.id.b, 16) != 0 || !ss_group_gkid_ok(id.gkid, g_now))
			return 0;
	} else if (!ss_group_gkid_ok(id.gkid, g_now) &&
	           (ss_gkid_cmp(id.gkid, g_now) > 0 || !same_outage(g, now, &id))) {
		return 0;
	}
	if (gkid != NULL)
		*gkid = id.gkid;
	return 1;
}

ss_status ss_group_key(ss_grp *g, int64_t now, const uint8_t *ident, size_t ident_len,
                       uint8_t psk[SS_GROUP_PSK_LEN])
{
	ss_group_id id;
	ss_gkdi_key k = { 0 };
	uint64_t t = ss_group_nttime(now);
	ss_status st;

	if (!ss_group_accepts(g, now, ident, ident_len, NULL) ||
	    ss_group_id_parse(ident, ident_len, &id) != SS_OK)
		return SS_LOGON_DENIED;
	/* KDS: the latest key first (a cache hit once per period).  It keeps
	 * a current key in this host's cache — the 32-period fallback needs
	 * one, and a server otherwise only asks for its clients' periods —
	 * and its seed keys derive the earlier periods a client may offer. */
	if (!g->root.key) {
		(void)latest_key(g, t, now, &k);
		ss_gkdi_key_clear(&k);
	}
	ss_gkdi_req req = { g->name, g->sd, g->sd_len, &id.rkid, id.gkid };
	if ((st = seed_key(g, &req, t, now, &k)) != SS_OK)
		return st;
	st = ss_group_psk(k.key, ident, ident_len, psk);
	ss_gkdi_key_clear(&k);
	return st;
}
