/* ss_group.c — auth = group:NAME with the standalone key source
 * (ss_group.h): the identity, the PSK derivation, the root-key file and
 * the derivation of L2 seed keys through the 3.2.4.1 client cache. */
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

ss_status ss_group_load(const char *name, const char *root_file, const uint8_t *sd, size_t sd_len,
                        ss_grp **out)
{
	ss_grp *g;
	char *buf;
	int ok;

	if (out == NULL || name == NULL || root_file == NULL || !name_ok(name, strlen(name)) ||
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
	buf = sodium_malloc(SS_GROUP_FILE_MAX);
	if (buf == NULL || (g->sd = malloc(sd_len)) == NULL ||
	    (g->cache = ss_gkdi_cache_new()) == NULL ||
	    (g->root.key = sodium_malloc(SS_GKDI_KEY_LEN)) == NULL) {
		if (buf)
			sodium_free(buf);
		ss_group_free(g);
		return SS_INSUFFICIENT_MEMORY;
	}
	snprintf(g->name, sizeof g->name, "%s", name);
	memcpy(g->sd, sd, sd_len);
	g->sd_len = sd_len;
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
	free(g);
}

const char *ss_grp_name(const ss_grp *g)
{
	return g ? g->name : "";
}

/* ------------------------------------------------------------ keys */

/* The L2 seed key `want` at NTTIME now: the 3.2.4.1 cache first; when it
 * says "ask the server", this host, holding the root key, answers as a
 * KDS would (3.1.4.1: never a key newer than now) and the answer goes
 * through the cache's update rules like any envelope. */
static ss_status l2_key(ss_grp *g, ss_gkid want, uint64_t now, uint8_t out[SS_GKDI_KEY_LEN])
{
	ss_gkdi_req req = { g->name, g->sd, g->sd_len, &g->root.id, want };
	ss_gkdi_key k = { 0 };
	ss_gkdi_answer *ans = sodium_malloc(sizeof *ans);
	ss_status st;

	if (ans == NULL)
		return SS_INSUFFICIENT_MEMORY;
	pthread_mutex_lock(&g->lock);
	st = ss_gkdi_cache_lookup(g->cache, &req, now, &k);
	if (st == SS_CONTINUE_NEEDED) {
		uint8_t scratch[SS_GKDI_SCRATCH];
		ss_gkdi_env env;
		st = ss_gkdi_get_key(&g->root, g->sd, g->sd_len, 1, want, ss_gkid_from_time(now), ans);
		if (st == SS_OK)
			st = ss_gkdi_env_from_answer(ans, &g->root, g->name, g->name, &env, scratch, sizeof scratch);
		if (st == SS_OK)
			st = ss_gkdi_cache_update(g->cache, &req, &env, &k);
		ss_gkdi_answer_clear(ans);
	}
	pthread_mutex_unlock(&g->lock);
	sodium_free(ans);
	if (st == SS_OK && (k.is_public || k.len != SS_GKDI_KEY_LEN || ss_gkid_cmp(k.gkid, want) != 0))
		st = SS_INTERNAL_ERROR;
	if (st == SS_OK)
		memcpy(out, k.key, SS_GKDI_KEY_LEN);
	ss_gkdi_key_clear(&k);
	return st;
}

static ss_status key_for(ss_grp *g, const ss_group_id *id, uint64_t now, const uint8_t *ident,
                         size_t ident_len, uint8_t psk[SS_GROUP_PSK_LEN])
{
	uint8_t l2[SS_GKDI_KEY_LEN];
	ss_status st = l2_key(g, id->gkid, now, l2);
	if (st == SS_OK)
		st = ss_group_psk(l2, ident, ident_len, psk);
	sodium_memzero(l2, sizeof l2);
	return st;
}

ss_status ss_group_offer(ss_grp *g, int64_t now, uint8_t *ident, size_t cap, size_t *ident_len,
                         uint8_t psk[SS_GROUP_PSK_LEN], ss_gkid *gkid)
{
	ss_group_id id;
	uint64_t t = ss_group_nttime(now - SS_GROUP_SKEW);
	ss_status st;

	if (g == NULL)
		return SS_INVALID_HANDLE;
	memset(&id, 0, sizeof id);
	snprintf(id.name, sizeof id.name, "%s", g->name);
	id.rkid = g->root.id;
	id.gkid = ss_gkid_from_time(t);
	st = ss_group_id_encode(&id, ident, cap, ident_len);
	if (st == SS_OK)
		st = key_for(g, &id, t, ident, *ident_len, psk);
	if (st == SS_OK && gkid != NULL)
		*gkid = id.gkid;
	return st;
}

int ss_group_accepts(const ss_grp *g, int64_t now, const uint8_t *ident, size_t ident_len, ss_gkid *gkid)
{
	ss_group_id id;

	if (g == NULL || ss_group_id_parse(ident, ident_len, &id) != SS_OK ||
	    strcmp(id.name, g->name) != 0 || sodium_memcmp(id.rkid.b, g->root.id.b, 16) != 0 ||
	    !ss_group_gkid_ok(id.gkid, ss_gkid_from_time(ss_group_nttime(now))))
		return 0;
	if (gkid != NULL)
		*gkid = id.gkid;
	return 1;
}

ss_status ss_group_key(ss_grp *g, int64_t now, const uint8_t *ident, size_t ident_len,
                       uint8_t psk[SS_GROUP_PSK_LEN])
{
	ss_group_id id;

	if (!ss_group_accepts(g, now, ident, ident_len, NULL) ||
	    ss_group_id_parse(ident, ident_len, &id) != SS_OK)
		return SS_LOGON_DENIED;
	return key_for(g, &id, ss_group_nttime(now), ident, ident_len, psk);
}
