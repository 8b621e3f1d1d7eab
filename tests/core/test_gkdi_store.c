/* test_gkdi_store.c — the client key cache as bytes and as a file
 * (core/ss_gkdi_store.c): a round trip keeps every entry and key, every
 * malformed or truncated encoding is refused without touching the cache,
 * and the file is written and read only where no one else could have
 * touched it.  The caches are filled the way a client fills them: server
 * answers (ss_gkdi_get_key) as envelopes through ss_gkdi_cache_update.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <sodium.h>

#include "ss_gkdi.h"

static const uint8_t rk_a[64] = { 0x5a, 0x11, 0x22 };
static const uint8_t rk_b[64] = { 0x5b, 0x33, 0x44 };
static const uint8_t sd1[] = { 1, 0, 4, 0x80, 0x14, 0, 0, 0 };
static const uint8_t sd2[] = { 1, 0, 4, 0x80, 0x15, 0, 0, 0, 7 };
static const uint8_t pub_blob[20] = { 'D', 'H', 'P', 'B', 4, 0, 0, 0, 9, 8, 7, 6, 5, 4, 3, 2,
                                      1, 0, 1, 2 };
#define DOM "store.test"
#define DOM2 "other.test"

static const ss_gkid G = { 412, 6, 9 };

static ss_gkdi_root root(int which)
{
	ss_gkdi_root r = { .hash = which ? SS_GKDI_SHA256 : SS_GKDI_SHA512, .key = which ? rk_b : rk_a };
	cr_assert_eq(ss_guid_parse(which ? "6b1f0a2e-1111-4c4c-8a8a-0123456789ab"
	                                 : "0170e972-a035-af4c-993b-e052d5bd1216", &r.id), 0);
	return r;
}

static uint64_t at(ss_gkid g)
{
	uint64_t t;
	cr_assert_eq(ss_gkid_start_time(g, &t), 0);
	return t + 777;
}

static ss_gkdi_req req(const char *dom, const uint8_t *sd, size_t sd_len, const ss_guid *rkid,
                       ss_gkid g)
{
	ss_gkdi_req r = { .domain = dom, .sd = sd, .sd_len = sd_len, .rkid = rkid, .gkid = g };
	return r;
}

/* The server's answer for GKID g, under root key `which`, through the
 * cache's update rules for request rq. */
static void answer(ss_gkdi_cache *c, const ss_gkdi_req *rq, int which, ss_gkid g)
{
	ss_gkdi_root r = root(which);
	ss_gkdi_answer a;
	ss_gkdi_env e;
	ss_gkdi_key k;
	uint8_t scratch[SS_GKDI_SCRATCH];

	cr_assert_eq(ss_gkdi_get_key(&r, rq->sd, rq->sd_len, 0, g, g, &a), SS_OK);
	cr_assert_eq(ss_gkdi_env_from_answer(&a, &r, rq->domain, rq->domain, &e, scratch,
	                                     sizeof scratch), SS_OK);
	cr_assert_eq(ss_gkdi_cache_update(c, rq, &e, &k), SS_OK);
	ss_gkdi_key_clear(&k);
	ss_gkdi_answer_clear(&a);
}

static void answer_public(ss_gkdi_cache *c, const ss_gkdi_req *rq, int which, ss_gkid g)
{
	ss_gkdi_env e;
	ss_gkdi_key k;

	memset(&e, 0, sizeof e);
	e.version = 1;
	e.flags = SS_GKDI_FLAG_PUBLIC | SS_GKDI_FLAG_ENCRYPT;
	e.gkid = g;
	e.rkid = root(which).id;
	e.hash = SS_GKDI_SHA512;
	e.l2_key = (ss_gkdi_bytes){ pub_blob, sizeof pub_blob };
	cr_assert_eq(ss_gkdi_cache_update(c, rq, &e, &k), SS_OK);
	ss_gkdi_key_clear(&k);
}

/* Every kind of entry: current L1+L2 seed keys; an L2 key alone (L1
 * index 0) of another root key; an L1 key alone (L2 index 31) asked for
 * by root key id (not current); a public key. */
static ss_gkdi_cache *filled(void)
{
	ss_gkdi_cache *c = ss_gkdi_cache_new();
	ss_gkdi_root ra = root(0);
	ss_gkdi_req latest = req(DOM, sd1, sizeof sd1, NULL, SS_GKID_NONE);
	ss_gkdi_req named = req(DOM, sd2, sizeof sd2, &ra.id, SS_GKID_NONE);
	ss_gkdi_req other = req(DOM2, sd1, sizeof sd1, NULL, SS_GKID_NONE);

	cr_assert_not_null(c);
	answer(c, &latest, 0, G);
	answer(c, &latest, 1, (ss_gkid){ 412, 0, 9 });
	answer(c, &named, 0, (ss_gkid){ 412, 6, 31 });
	answer_public(c, &other, 0, G);
	cr_assert_eq(ss_gkdi_cache_count(c), 4);
	return c;
}

static void encode(const ss_gkdi_cache *c, uint8_t **buf, size_t *len)
{
	cr_assert_eq(ss_gkdi_cache_encode(c, buf, len), SS_OK);
	cr_assert_not_null(*buf);
}

static void assert_same_info(const ss_gkdi_cache *a, const ss_gkdi_cache *b)
{
	ss_gkdi_cache_info x, y;

	cr_assert_eq(ss_gkdi_cache_count(a), ss_gkdi_cache_count(b));
	for (size_t i = 0; i < ss_gkdi_cache_count(a); i++) {
		cr_assert_eq(ss_gkdi_cache_info_at(a, i, &x), 0);
		cr_assert_eq(ss_gkdi_cache_info_at(b, i, &y), 0);
		cr_assert_eq(ss_gkid_cmp(x.gkid, y.gkid), 0, "entry %zu", i);
		cr_assert_eq(memcmp(x.rkid.b, y.rkid.b, 16), 0, "entry %zu", i);
		cr_assert(x.is_public == y.is_public && x.current == y.current &&
		          x.has_l1 == y.has_l1 && x.has_l2 == y.has_l2, "entry %zu", i);
	}
}

/* One request on both caches: the same answer, to the byte.  1 if found. */
static int same_lookup(ss_gkdi_cache *a, ss_gkdi_cache *b, const ss_gkdi_req *rq, uint64_t now)
{
	ss_gkdi_key x, y;
	ss_status sa = ss_gkdi_cache_lookup(a, rq, now, &x), sb = ss_gkdi_cache_lookup(b, rq, now, &y);

	cr_assert_eq(sa, sb);
	if (sa == SS_OK) {
		cr_assert(ss_gkid_cmp(x.gkid, y.gkid) == 0 && x.is_public == y.is_public &&
		          x.len == y.len && memcmp(x.key, y.key, x.len) == 0 &&
		          memcmp(x.rkid.b, y.rkid.b, 16) == 0);
	}
	ss_gkdi_key_clear(&x);
	ss_gkdi_key_clear(&y);
	return sa == SS_OK;
}

/* Every entry's keys, asked for as "the latest" and by root key and GKID. */
static void assert_same_keys(ss_gkdi_cache *a, ss_gkdi_cache *b)
{
	ss_gkdi_root ra = root(0), rb = root(1);
	const ss_guid *ids[2] = { &ra.id, &rb.id };
	const struct { const char *dom; const uint8_t *sd; size_t len; } grp[3] = {
		{ DOM, sd1, sizeof sd1 }, { DOM, sd2, sizeof sd2 }, { DOM2, sd1, sizeof sd1 } };
	const ss_gkid gs[4] = { G, { 412, 0, 9 }, { 412, 6, 0 }, { 412, 3, 17 } };
	int found = 0;

	for (int i = 0; i < 3; i++) {
		ss_gkdi_req rq = req(grp[i].dom, grp[i].sd, grp[i].len, NULL, SS_GKID_NONE);
		found += same_lookup(a, b, &rq, at(G));
		for (int k = 0; k < 2; k++)
			for (int j = 0; j < 4; j++) {
				rq = req(grp[i].dom, grp[i].sd, grp[i].len, ids[k], gs[j]);
				found += same_lookup(a, b, &rq, at(G));
			}
	}
	cr_assert_geq(found, 6, "the lookups found keys (%d)", found);
}

Test(gkdi_store, round_trip_keeps_entries_and_keys)
{
	ss_gkdi_cache *c = filled(), *d = ss_gkdi_cache_new();
	uint8_t *buf, *again;
	size_t len, len2;

	encode(c, &buf, &len);
	cr_assert_eq(ss_gkdi_cache_decode(d, buf, len), SS_OK);
	assert_same_info(c, d);
	assert_same_keys(c, d);
	/* the encoding is canonical: decoding and encoding again is the same */
	encode(d, &again, &len2);
	cr_assert(len == len2 && memcmp(buf, again, len) == 0);
	sodium_free(again);
	sodium_free(buf);
	ss_gkdi_cache_free(c);
	ss_gkdi_cache_free(d);
}

Test(gkdi_store, empty_cache_round_trip)
{
	ss_gkdi_cache *c = ss_gkdi_cache_new(), *d = ss_gkdi_cache_new();
	uint8_t *buf;
	size_t len;

	encode(c, &buf, &len);
	cr_assert_eq(len, 7);
	cr_assert_eq(ss_gkdi_cache_decode(d, buf, len), SS_OK);
	cr_assert_eq(ss_gkdi_cache_count(d), 0);
	sodium_free(buf);
	ss_gkdi_cache_free(c);
	ss_gkdi_cache_free(d);
}

/* Decode appends: a cache that holds entries keeps them, in front. */
Test(gkdi_store, decode_appends_in_order)
{
	ss_gkdi_cache *c = filled(), *d = ss_gkdi_cache_new();
	ss_gkdi_req latest = req(DOM, sd1, sizeof sd1, NULL, SS_GKID_NONE);
	ss_gkdi_cache_info in;
	uint8_t *buf;
	size_t len;

	answer(d, &latest, 1, (ss_gkid){ 412, 2, 2 });
	encode(c, &buf, &len);
	cr_assert_eq(ss_gkdi_cache_decode(d, buf, len), SS_OK);
	cr_assert_eq(ss_gkdi_cache_count(d), 5);
	cr_assert_eq(ss_gkdi_cache_info_at(d, 0, &in), 0);
	cr_assert_eq(ss_gkid_cmp(in.gkid, (ss_gkid){ 412, 2, 2 }), 0);
	cr_assert_eq(ss_gkdi_cache_info_at(d, 4, &in), 0);
	cr_assert(in.is_public);
	sodium_free(buf);
	ss_gkdi_cache_free(c);
	ss_gkdi_cache_free(d);
}

/* Every proper prefix of a valid encoding is refused, and the cache keeps
 * exactly what it had. */
Test(gkdi_store, every_truncation_refused)
{
	ss_gkdi_cache *c = filled(), *d = ss_gkdi_cache_new();
	ss_gkdi_req latest = req(DOM, sd1, sizeof sd1, NULL, SS_GKID_NONE);
	uint8_t *buf;
	size_t len;

	answer(d, &latest, 0, G);
	encode(c, &buf, &len);
	for (size_t n = 0; n < len; n++) {
		cr_assert_eq(ss_gkdi_cache_decode(d, buf, n), SS_DECODE_ERROR, "prefix of %zu", n);
		cr_assert_eq(ss_gkdi_cache_count(d), 1, "prefix of %zu", n);
	}
	cr_assert_eq(ss_gkdi_cache_decode(d, NULL, 0), SS_DECODE_ERROR);
	sodium_free(buf);
	ss_gkdi_cache_free(c);
	ss_gkdi_cache_free(d);
}

/* A one-entry encoding to spoil: the L2 key alone (412,0,9), so the
 * encoding ends with the L2 length and key. */
struct one {
	uint8_t b[512];
	size_t len;
	size_t flags_at;
};

static void one_entry(struct one *o)
{
	ss_gkdi_cache *c = ss_gkdi_cache_new();
	ss_gkdi_req latest = req(DOM, sd1, sizeof sd1, NULL, SS_GKID_NONE);
	uint8_t *buf;

	answer(c, &latest, 0, (ss_gkid){ 412, 0, 9 });
	encode(c, &buf, &o->len);
	cr_assert_leq(o->len + 1, sizeof o->b);
	memcpy(o->b, buf, o->len);
	sodium_free(buf);
	ss_gkdi_cache_free(c);
	/* magic, version, count; domain; SD; root key id; L0 L1 L2; hash */
	o->flags_at = 7 + 1 + strlen(DOM) + 2 + sizeof sd1 + 16 + 12 + 1;
	cr_assert_eq(o->b[o->flags_at], 0x2 | 0x8, "current, L2 key");
	cr_assert_eq(o->len, o->flags_at + 1 + 2 + 64);
}

static void assert_refused(const uint8_t *b, size_t len, const char *what)
{
	ss_gkdi_cache *d = ss_gkdi_cache_new();
	cr_assert_eq(ss_gkdi_cache_decode(d, b, len), SS_DECODE_ERROR, "%s", what);
	cr_assert_eq(ss_gkdi_cache_count(d), 0, "%s", what);
	ss_gkdi_cache_free(d);
}

static void assert_accepted(const uint8_t *b, size_t len, const char *what)
{
	ss_gkdi_cache *d = ss_gkdi_cache_new();
	cr_assert_eq(ss_gkdi_cache_decode(d, b, len), SS_OK, "%s", what);
	ss_gkdi_cache_free(d);
}

Test(gkdi_store, malformed_fields_refused)
{
	struct one o, m;
	size_t gk = 7 + 1 + strlen(DOM) + 2 + sizeof sd1 + 16;   /* L0 */

	one_entry(&o);
	assert_accepted(o.b, o.len, "the original");
#define SPOIL(stmt, what) do { m = o; stmt; assert_refused(m.b, m.len, what); } while (0)
	SPOIL(m.b[0] = 'X', "bad magic");
	SPOIL(m.b[4] = 2, "version 2");
	SPOIL(m.b[4] = 0, "version 0");
	SPOIL(m.b[m.flags_at] |= 0x10, "unknown flag bit 4");
	SPOIL(m.b[m.flags_at] |= 0x80, "unknown flag bit 7");
	SPOIL(m.b[m.flags_at] &= ~0x8, "L2 key flag cleared, key left behind");
	SPOIL((m.b[m.flags_at] = 0x2, m.len -= 66), "a seed entry without a key");
	SPOIL((m.b[5] = 0x01, m.b[6] = 0x01), "count 257, over SS_GKDI_CACHE_MAX");
	SPOIL(m.b[6] = 2, "count 2, one entry");
	SPOIL(m.b[6] = 0, "count 0, one entry");
	SPOIL((m.b[m.flags_at + 1] = 0, m.b[m.flags_at + 2] = 0, m.len -= 64), "L2 length 0");
	SPOIL(m.b[m.flags_at + 2] = 63, "L2 seed key length 63");
	SPOIL(m.b[m.len++] = 0, "a trailing byte");
	SPOIL(m.b[7] = 0, "domain length 0");
	SPOIL(m.b[8] = '\0', "NUL in the domain");
	SPOIL(m.b[8] = 0x7f, "domain not printable");
	SPOIL(m.b[8] = 0xc3, "domain not ASCII");
	SPOIL((m.b[8 + strlen(DOM)] = 0, m.b[9 + strlen(DOM)] = 0), "SD length 0");
	SPOIL(m.b[gk] = 0x80, "L0 negative");
	SPOIL(m.b[gk + 7] = 32, "L1 32");
	SPOIL(memset(m.b + gk + 8, 0xff, 4), "L2 -1");
	SPOIL(m.b[gk + 11] = 32, "L2 32");
	SPOIL(m.b[m.flags_at - 1] = 4, "hash 4");
	/* a public key needs the L2 field and no L1 key: set the public bit on
	 * an entry with an L2 seed key of 64 bytes (a valid public length) and
	 * add an L1 key */
	m = o;
	m.b[m.flags_at] |= 0x1;
	assert_accepted(m.b, m.len, "a public key of 64 bytes");
	m = o;
	m.b[m.flags_at] |= 0x4;
	memmove(m.b + m.flags_at + 65, m.b + m.flags_at + 1, 66);
	m.len += 64;
	assert_accepted(m.b, m.len, "an L1 key inserted");
	o = m;
	SPOIL(m.b[m.flags_at] |= 0x1, "public with an L1 key");
	SPOIL((m.b[m.flags_at] = 0x1, m.len -= 130), "public without an L2 key");
	SPOIL((m.b[m.flags_at] = 0x1 | 0x4, m.len -= 66), "public with an L1 key only");
#undef SPOIL
}

/* SS_GKDI_CACHE_MAX entries fit an empty cache; one more, or any that
 * would push out what the cache holds, is refused. */
Test(gkdi_store, count_bounded_by_cache_max)
{
	struct one o;
	size_t body, n = 0;
	uint8_t *b;
	ss_gkdi_cache *d = ss_gkdi_cache_new();
	ss_gkdi_req latest = req(DOM, sd1, sizeof sd1, NULL, SS_GKID_NONE);

	one_entry(&o);
	body = o.len - 7;
	b = malloc(7 + (SS_GKDI_CACHE_MAX + 1) * body);
	cr_assert_not_null(b);
	memcpy(b, o.b, 7);
	for (int i = 0; i <= SS_GKDI_CACHE_MAX; i++)
		memcpy(b + 7 + i * body, o.b + 7, body);
	b[5] = (SS_GKDI_CACHE_MAX + 1) >> 8;
	b[6] = (SS_GKDI_CACHE_MAX + 1) & 0xff;
	assert_refused(b, 7 + (SS_GKDI_CACHE_MAX + 1) * body, "257 entries");
	b[5] = SS_GKDI_CACHE_MAX >> 8;
	b[6] = SS_GKDI_CACHE_MAX & 0xff;
	cr_assert_eq(ss_gkdi_cache_decode(d, b, 7 + SS_GKDI_CACHE_MAX * body), SS_OK);
	cr_assert_eq(ss_gkdi_cache_count(d), SS_GKDI_CACHE_MAX);
	ss_gkdi_cache_free(d);
	d = ss_gkdi_cache_new();
	answer(d, &latest, 1, G);
	cr_assert_eq(ss_gkdi_cache_decode(d, b, 7 + SS_GKDI_CACHE_MAX * body), SS_DECODE_ERROR);
	n = ss_gkdi_cache_count(d);
	cr_assert_eq(n, 1, "the cache keeps its entry");
	free(b);
	ss_gkdi_cache_free(d);
}

/* The encoder writes nothing the decoder would refuse: an entry with an
 * empty SD (the cache takes one, the format does not). */
Test(gkdi_store, encode_refuses_what_decode_would)
{
	ss_gkdi_cache *c = ss_gkdi_cache_new();
	ss_gkdi_req nosd = req(DOM, NULL, 0, NULL, SS_GKID_NONE);
	uint8_t *buf = (uint8_t *)1;
	size_t len = 1;

	answer(c, &nosd, 0, G);
	cr_assert_eq(ss_gkdi_cache_count(c), 1);
	cr_assert_eq(ss_gkdi_cache_encode(c, &buf, &len), SS_DECODE_ERROR);
	cr_assert(buf == NULL && len == 0);
	ss_gkdi_cache_free(c);
}

/* ---- the file */

struct tmpdir {
	char dir[64];
	char path[PATH_MAX];
};

static void tmpdir_make(struct tmpdir *t)
{
	snprintf(t->dir, sizeof t->dir, "/tmp/gkdi-store.XXXXXX");
	cr_assert_not_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof t->path, "%s/cache", t->dir);
}

/* How many names a directory holds, and whether one starts with prefix. */
static int dir_names(const char *dir, const char *prefix, int *has)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(d);
	*has = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		n++;
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			*has = 1;
	}
	closedir(d);
	return n;
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(p);
}

static void tmpdir_clean(struct tmpdir *t)
{
	cr_assert_eq(nftw(t->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS), 0);
}

Test(gkdi_store, save_load_round_trip_mode_0600_no_temp)
{
	struct tmpdir t;
	ss_gkdi_cache *c = filled(), *d = ss_gkdi_cache_new();
	struct stat st;
	int has_tmp;

	tmpdir_make(&t);
	cr_assert_eq(ss_gkdi_cache_save(c, t.path), SS_OK);
	cr_assert_eq(lstat(t.path, &st), 0);
	cr_assert(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600, "mode %o", st.st_mode);
	cr_assert_eq(dir_names(t.dir, "cache.tmp", &has_tmp), 1);
	cr_assert_not(has_tmp, "no temporary file left");
	/* saving again replaces the file */
	cr_assert_eq(ss_gkdi_cache_save(c, t.path), SS_OK);
	cr_assert_eq(dir_names(t.dir, "cache.tmp", &has_tmp), 1);
	cr_assert_eq(ss_gkdi_cache_load(d, t.path), SS_OK);
	assert_same_info(c, d);
	assert_same_keys(c, d);
	tmpdir_clean(&t);
	ss_gkdi_cache_free(c);
	ss_gkdi_cache_free(d);
}

Test(gkdi_store, load_missing_is_no_credentials)
{
	struct tmpdir t;
	ss_gkdi_cache *d = ss_gkdi_cache_new();

	tmpdir_make(&t);
	cr_assert_eq(ss_gkdi_cache_load(d, t.path), SS_NO_CREDENTIALS);
	cr_assert_eq(ss_gkdi_cache_count(d), 0);
	tmpdir_clean(&t);
	ss_gkdi_cache_free(d);
}

Test(gkdi_store, load_refuses_readable_symlink_foreign_big_or_garbage)
{
	struct tmpdir t;
	char link[PATH_MAX + 8], big[PATH_MAX + 8];
	ss_gkdi_cache *c = filled(), *d = ss_gkdi_cache_new();
	FILE *f;

	tmpdir_make(&t);
	cr_assert_eq(ss_gkdi_cache_save(c, t.path), SS_OK);
	cr_assert_eq(chmod(t.path, 0644), 0);
	cr_assert_eq(ss_gkdi_cache_load(d, t.path), SS_NO_CREDENTIALS, "mode 0644");
	cr_assert_eq(chmod(t.path, 0640), 0);
	cr_assert_eq(ss_gkdi_cache_load(d, t.path), SS_NO_CREDENTIALS, "mode 0640");
	cr_assert_eq(chmod(t.path, 0600), 0);
	snprintf(link, sizeof link, "%s/link", t.dir);
	cr_assert_eq(symlink(t.path, link), 0);
	cr_assert_eq(ss_gkdi_cache_load(d, link), SS_NO_CREDENTIALS, "a symlink");
	cr_assert_eq(ss_gkdi_cache_load(d, t.dir), SS_NO_CREDENTIALS, "a directory");
	if (geteuid() == 0) {
		cr_assert_eq(chown(t.path, 65534, 65534), 0);
		cr_assert_eq(ss_gkdi_cache_load(d, t.path), SS_NO_CREDENTIALS, "another owner");
		cr_assert_eq(chown(t.path, 0, 0), 0);
	}
	snprintf(big, sizeof big, "%s/big", t.dir);
	cr_assert_eq(truncate(t.path, (1 << 20) + 1), 0);
	cr_assert_eq(ss_gkdi_cache_load(d, t.path), SS_NO_CREDENTIALS, "over 1 MiB");
	cr_assert_eq(truncate(t.path, 40), 0);
	cr_assert_eq(ss_gkdi_cache_load(d, t.path), SS_DECODE_ERROR, "a cut file");
	cr_assert_not_null(f = fopen(big, "w"));
	fclose(f);
	cr_assert_eq(chmod(big, 0600), 0);
	cr_assert_eq(ss_gkdi_cache_load(d, big), SS_DECODE_ERROR, "an empty file");
	cr_assert_eq(ss_gkdi_cache_count(d), 0);
	tmpdir_clean(&t);
	ss_gkdi_cache_free(c);
	ss_gkdi_cache_free(d);
}

Test(gkdi_store, save_refuses_unsafe_directory)
{
	struct tmpdir t;
	char sub[PATH_MAX + 8], file[PATH_MAX + 16];
	ss_gkdi_cache *c = filled();
	int has;

	tmpdir_make(&t);
	snprintf(sub, sizeof sub, "%s/gw", t.dir);
	snprintf(file, sizeof file, "%s/cache", sub);
	cr_assert_eq(mkdir(sub, 0700), 0);
	cr_assert_eq(chmod(sub, 0770), 0);
	cr_assert_eq(ss_gkdi_cache_save(c, file), SS_NO_CREDENTIALS, "group-writable");
	cr_assert_eq(chmod(sub, 0702), 0);
	cr_assert_eq(ss_gkdi_cache_save(c, file), SS_NO_CREDENTIALS, "other-writable");
	cr_assert_eq(chmod(sub, 0755), 0);
	if (geteuid() == 0) {
		cr_assert_eq(chown(sub, 65534, 65534), 0);
		cr_assert_eq(ss_gkdi_cache_save(c, file), SS_NO_CREDENTIALS, "another owner");
		cr_assert_eq(chown(sub, 0, 0), 0);
	}
	cr_assert_eq(dir_names(sub, "", &has), 0, "nothing written");
	snprintf(file, sizeof file, "%s/none/cache", t.dir);
	cr_assert_eq(ss_gkdi_cache_save(c, file), SS_NO_CREDENTIALS, "no directory");
	cr_assert_eq(ss_gkdi_cache_save(c, sub), SS_NO_CREDENTIALS, "a directory at path");
	cr_assert_eq(dir_names(t.dir, "gw.tmp", &has), 1);
	cr_assert_not(has, "the failed rename left no temporary file");
	tmpdir_clean(&t);
	ss_gkdi_cache_free(c);
}

/* A file or link planted at the temporary name is not written through. */
Test(gkdi_store, save_refuses_planted_temp)
{
	struct tmpdir t;
	char tmp[PATH_MAX + 32], target[PATH_MAX + 8];
	ss_gkdi_cache *c = filled();
	struct stat st;

	tmpdir_make(&t);
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", t.path, (long)getpid());
	snprintf(target, sizeof target, "%s/target", t.dir);
	cr_assert_eq(symlink(target, tmp), 0);
	cr_assert_eq(ss_gkdi_cache_save(c, t.path), SS_NO_CREDENTIALS);
	cr_assert_neq(stat(target, &st), 0, "nothing written through the link");
	cr_assert_neq(lstat(t.path, &st), 0, "no cache file");
	tmpdir_clean(&t);
	ss_gkdi_cache_free(c);
}

/* After a restart the server may be unreachable: a loaded current key
 * still serves the 32-L2-period fallback, and not in the 33rd. */
Test(gkdi_store, loaded_cache_serves_unreachable_fallback)
{
	struct tmpdir t;
	ss_gkdi_cache *c = filled(), *d = ss_gkdi_cache_new();
	ss_gkdi_req latest = req(DOM, sd1, sizeof sd1, NULL, SS_GKID_NONE);
	ss_gkdi_root r = root(0);
	ss_gkid p32 = { 412, 7, 9 }, p33 = { 412, 7, 10 };   /* 32 and 33 periods after G */
	uint8_t want[64];
	ss_gkdi_key k;

	tmpdir_make(&t);
	cr_assert_eq(ss_gkdi_cache_save(c, t.path), SS_OK);
	ss_gkdi_cache_free(c);
	cr_assert_eq(ss_gkdi_cache_load(d, t.path), SS_OK);
	cr_assert_eq(ss_gkdi_cache_unreachable(d, &latest, at(p32), &k), SS_OK);
	cr_assert_eq(ss_gkdi_seed_key(&r, sd1, sizeof sd1, G, want), SS_OK);
	cr_assert_eq(ss_gkid_cmp(k.gkid, G), 0);
	cr_assert(!k.is_public && k.len == 64 && memcmp(k.key, want, 64) == 0);
	ss_gkdi_key_clear(&k);
	cr_assert_eq(ss_gkdi_cache_unreachable(d, &latest, at(p33), &k),
	             SS_NO_AUTHENTICATING_AUTHORITY);
	tmpdir_clean(&t);
	ss_gkdi_cache_free(d);
}
