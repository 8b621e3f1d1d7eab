/* kds_store.c — root keys on disk: one file per key, DIR/GUID.key, 0600,
 *   version = 1
 *   id = GUID
 *   hash = SHA512
 *   effective = NTTIME
 *   key = 128 hex digits
 * The root key never leaves the KDS (issue 15), so the store refuses a
 * directory not owned by the user or writable by others, and any key file
 * not owned by the user or readable by group or other: a key another
 * account could read is as good as published. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>
#include <sodium.h>

#include "kds.h"

static int check_dir(const char *dir, char *why, size_t why_len)
{
	struct stat st;
	if (stat(dir, &st) != 0)
		return snprintf(why, why_len, "%s: %s", dir, strerror(errno)), -1;
	if (!S_ISDIR(st.st_mode))
		return snprintf(why, why_len, "%s: not a directory", dir), -1;
	if (st.st_uid != geteuid())
		return snprintf(why, why_len, "%s: owned by uid %u, not by this user", dir,
		                (unsigned)st.st_uid), -1;
	if (st.st_mode & 022)
		return snprintf(why, why_len, "%s: writable by group or other (chmod 700)", dir), -1;
	return 0;
}

struct rk_load {
	struct kds_root r;
	int have_id, have_key, have_eff, bad;
};

static int on_rk(void *user, const char *section, const char *key, const char *v)
{
	struct rk_load *L = user;
	char *end;
	size_t got;

	if (section[0] != '\0')
		return L->bad = 1, 0;
	if (!strcmp(key, "version"))
		return strcmp(v, "1") == 0 ? 1 : (L->bad = 1, 0);
	if (!strcmp(key, "id"))
		return ss_guid_parse(v, &L->r.id) == 0 ? (L->have_id = 1) : (L->bad = 1, 0);
	if (!strcmp(key, "hash"))
		return ss_gkdi_hash_parse(v, &L->r.hash) == 0 ? 1 : (L->bad = 1, 0);
	if (!strcmp(key, "effective")) {
		errno = 0;
		L->r.effective = strtoull(v, &end, 10);
		return (!errno && *end == '\0' && *v >= '0' && *v <= '9') ? (L->have_eff = 1)
		                                                          : (L->bad = 1, 0);
	}
	if (!strcmp(key, "key") && L->r.key && !L->have_key &&
	    sodium_hex2bin(L->r.key, SS_GKDI_KEY_LEN, v, strlen(v), NULL, &got, NULL) == 0 &&
	    got == SS_GKDI_KEY_LEN && strlen(v) == 2 * SS_GKDI_KEY_LEN)
		return L->have_key = 1;
	return L->bad = 1, 0;
}

static int load_one(int dfd, const char *dir, const char *name, struct kds_root *out,
                    char *why, size_t why_len)
{
	struct rk_load L = { .r = { .hash = SS_GKDI_SHA512 } };
	struct stat st;
	FILE *f;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), line;

	if (fd < 0)
		return snprintf(why, why_len, "%s/%s: %s", dir, name, strerror(errno)), -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077)) {
		close(fd);
		return snprintf(why, why_len, "%s/%s: must be a regular file of this user, mode 0600 "
		                "(is %04o)", dir, name, (unsigned)(st.st_mode & 07777)), -1;
	}
	f = fdopen(fd, "r");
	L.r.key = sodium_malloc(SS_GKDI_KEY_LEN);
	if (!f || !L.r.key) {
		if (f)
			fclose(f);
		else
			close(fd);
		sodium_free(L.r.key);
		return snprintf(why, why_len, "out of memory"), -1;
	}
	line = ini_parse_file(f, on_rk, &L);
	fclose(f);
	if (line != 0 || L.bad || !L.have_id || !L.have_key || !L.have_eff) {
		sodium_free(L.r.key);
		return snprintf(why, why_len, "%s/%s: not a root key file (line %d)", dir, name, line), -1;
	}
	*out = L.r;
	return 0;
}

static int is_key_name(const char *n)
{
	size_t l = strlen(n);
	return l > 4 && !strcmp(n + l - 4, ".key") && n[0] != '.';
}

int kds_store_load(const char *dir, struct kds_store *s, char *why, size_t why_len)
{
	DIR *d;
	struct dirent *e;
	int rc = 0;

	memset(s, 0, sizeof *s);
	if (sodium_init() < 0 || check_dir(dir, why, why_len) != 0)
		return -1;
	d = opendir(dir);
	if (!d)
		return snprintf(why, why_len, "%s: %s", dir, strerror(errno)), -1;
	s->roots = calloc(KDS_ROOTS_MAX, sizeof *s->roots);
	if (!s->roots)
		rc = -1;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (!is_key_name(e->d_name))
			continue;
		if (s->n >= KDS_ROOTS_MAX) {
			rc = -1;
			snprintf(why, why_len, "%s: more than %d root keys", dir, KDS_ROOTS_MAX);
			break;
		}
		rc = load_one(dirfd(d), dir, e->d_name, &s->roots[s->n], why, why_len);
		if (rc == 0) {
			for (size_t i = 0; i < s->n; i++)
				if (!memcmp(s->roots[i].id.b, s->roots[s->n].id.b, 16)) {
					snprintf(why, why_len, "%s/%s: duplicate root key id", dir, e->d_name);
					rc = -1;
				}
			s->n++;
		}
	}
	closedir(d);
	if (rc != 0)
		kds_store_free(s);
	return rc;
}

void kds_store_free(struct kds_store *s)
{
	for (size_t i = 0; s->roots && i < s->n; i++)
		sodium_free(s->roots[i].key);
	free(s->roots);
	memset(s, 0, sizeof *s);
}

/* MS-GKDI 3.1.4.1: without a root key id the server uses the root key
 * whose effective time is the latest not after now; a key not yet
 * effective is never used, even when named.  Ties are broken by id, so
 * every instance reading the same store picks the same key. */
const struct kds_root *kds_store_pick(const struct kds_store *s, const ss_guid *id, uint64_t now)
{
	const struct kds_root *best = NULL;
	for (size_t i = 0; i < s->n; i++) {
		const struct kds_root *r = &s->roots[i];
		if (r->effective > now)
			continue;
		if (id) {
			if (!memcmp(r->id.b, id->b, 16))
				return r;
			continue;
		}
		if (!best || r->effective > best->effective ||
		    (r->effective == best->effective && memcmp(r->id.b, best->id.b, 16) > 0))
			best = r;
	}
	return best;
}

int kds_store_create(const char *dir, uint64_t effective, ss_guid *id, char *why, size_t why_len)
{
	uint8_t *key;
	char hex[2 * SS_GKDI_KEY_LEN + 1], gs[37], path[4096];
	int fd, rc = 0;
	FILE *f;

	if (sodium_init() < 0 || check_dir(dir, why, why_len) != 0)
		return -1;
	key = sodium_malloc(SS_GKDI_KEY_LEN);
	if (!key)
		return snprintf(why, why_len, "out of memory"), -1;
	randombytes_buf(key, SS_GKDI_KEY_LEN);
	randombytes_buf(id->b, sizeof id->b);
	/* a version 4 random GUID (RFC 9562 §5.4) in MS-DTYP byte order */
	id->b[7] = (uint8_t)((id->b[7] & 0x0f) | 0x40);
	id->b[8] = (uint8_t)((id->b[8] & 0x3f) | 0x80);
	ss_guid_format(id, gs);
	sodium_bin2hex(hex, sizeof hex, key, SS_GKDI_KEY_LEN);
	snprintf(path, sizeof path, "%s/%s.key", dir, gs);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		snprintf(why, why_len, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		rc = -1;
	} else {
		fprintf(f, "version = 1\nid = %s\nhash = SHA512\neffective = %" PRIu64 "\nkey = %s\n",
		        gs, effective, hex);
		if (fflush(f) != 0 || fsync(fileno(f)) != 0)
			rc = -1;
		if (fclose(f) != 0 || rc != 0) {
			snprintf(why, why_len, "%s: write failed", path);
			unlink(path);
			rc = -1;
		}
	}
	sodium_memzero(hex, sizeof hex);
	sodium_free(key);
	return rc;
}
