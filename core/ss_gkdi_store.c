/* ss_gkdi_store.c — the GKDI client key cache (ss_gkdi_cache.c) as bytes
 * and as a file, so the group keys a process learnt survive its restart
 * instead of being asked for again.
 *
 * The bytes, big-endian, every field checked on the way in: "SSGC",
 * version (1) = 1, entry count (2), then per entry, oldest first: domain
 * length (1) + domain (printable ASCII), SD length (2) + SD, root key id
 * (16), L0 L1 L2 (int32 each), hash (1), flags (1: bit0 public, bit1
 * current, bit2 L1 key, bit3 L2 key), the L1 key (64) when bit2, L2 key
 * length (2) + L2 key when bit3 (64, or a public key's 1..SS_GKDI_PUB_MAX).
 *
 * The file holds seed keys, and a seed key derives the group's keys below
 * it (3.1.4.1.2): it is read only when nobody but this user could have
 * written or read it, and written so that nobody else ever can.
 */
#include "ss_gkdi_int.h"
#include "ss_cursor.h"
#include "ss_io.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <sodium.h>

static const uint8_t magic[4] = { 'S', 'S', 'G', 'C' };

enum {
	STORE_VERSION = 1,
	STORE_HDR = 7,                  /* magic, version, count */
	F_PUBLIC = 0x1, F_CURRENT = 0x2, F_L1 = 0x4, F_L2 = 0x8,
	DOMAIN_MAX = 255,
	FILE_MAX = 1 << 20,             /* load reads no more; save writes no more */
};

/* What an entry may hold, for the decoder (what it accepts) and the encoder
 * (what it writes) alike, so encode never writes what decode refuses.  The
 * GKID is the envelope's, which ss_gkdi_env_parse and ss_gkdi_get_key only
 * make with L1 and L2 in 0..31 (entry_from copies it). */
static int entry_ok(const entry *e)
{
	size_t dl = e->domain ? strlen(e->domain) : 0;

	if (dl == 0 || dl > DOMAIN_MAX)
		return 0;
	for (size_t i = 0; i < dl; i++)
		if ((unsigned char)e->domain[i] < 0x20 || (unsigned char)e->domain[i] > 0x7e)
			return 0;
	if (!e->sd || e->sd_len == 0 || e->sd_len > SS_GKDI_SD_MAX)
		return 0;
	if (e->gkid.l0 < 0 || e->gkid.l1 < 0 || e->gkid.l1 > 31 || e->gkid.l2 < 0 ||
	    e->gkid.l2 > 31)
		return 0;
	if ((unsigned)e->hash > SS_GKDI_SHA512)
		return 0;
	/* a public key stands alone in the L2 field (2.2.4) */
	if (e->is_public)
		return e->l2 && !e->l1 && e->l2_len >= 1 && e->l2_len <= SS_GKDI_PUB_MAX;
	/* a seed entry without a key answers nothing (the parser refuses one) */
	return (e->l1 || e->l2) && (!e->l2 || e->l2_len == SS_GKDI_KEY_LEN);
}

static size_t entry_size(const entry *e)
{
	return 1 + strlen(e->domain) + 2 + e->sd_len + 16 + 12 + 1 + 1 +
	       (e->l1 ? SS_GKDI_KEY_LEN : 0) + (e->l2 ? 2 + e->l2_len : 0);
}

/* The writer's side of the cursor: the size is computed first, so it only
 * has to move forward. */
static uint8_t *put(uint8_t *p, uint32_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return p + n;
}

static uint8_t *put_bytes(uint8_t *p, const void *b, size_t n)
{
	memcpy(p, b, n);
	return p + n;
}

static uint8_t *put_entry(uint8_t *p, const entry *e)
{
	size_t dl = strlen(e->domain);
	uint32_t flags = (e->is_public ? F_PUBLIC : 0) | (e->current ? F_CURRENT : 0) |
	                 (e->l1 ? F_L1 : 0) | (e->l2 ? F_L2 : 0);

	p = put_bytes(put(p, (uint32_t)dl, 1), e->domain, dl);
	p = put_bytes(put(p, (uint32_t)e->sd_len, 2), e->sd, e->sd_len);
	p = put_bytes(p, e->rkid.b, 16);
	p = put(p, (uint32_t)e->gkid.l0, 4);
	p = put(p, (uint32_t)e->gkid.l1, 4);
	p = put(p, (uint32_t)e->gkid.l2, 4);
	p = put(p, (uint32_t)e->hash, 1);
	p = put(p, flags, 1);
	if (e->l1)
		p = put_bytes(p, e->l1, SS_GKDI_KEY_LEN);
	if (e->l2)
		p = put_bytes(put(p, (uint32_t)e->l2_len, 2), e->l2, e->l2_len);
	return p;
}

ss_status ss_gkdi_cache_encode(const ss_gkdi_cache *c, uint8_t **out, size_t *len)
{
	size_t n = STORE_HDR;
	uint8_t *buf, *p;

	if (!c || !out || !len)
		return SS_INVALID_HANDLE;
	*out = NULL;
	*len = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (!entry_ok(c->e[i]))
			return SS_DECODE_ERROR;
		n += entry_size(c->e[i]);
	}
	/* seed keys go in: guarded memory, wiped by sodium_free */
	buf = sodium_malloc(n);
	if (!buf)
		return SS_INSUFFICIENT_MEMORY;
	p = put(put(put_bytes(buf, magic, sizeof magic), STORE_VERSION, 1), (uint32_t)c->n, 2);
	for (size_t i = 0; i < c->n; i++)
		p = put_entry(p, c->e[i]);
	if ((size_t)(p - buf) != n) {
		sodium_free(buf);
		return SS_INTERNAL_ERROR;
	}
	*out = buf;
	*len = n;
	return SS_OK;
}

/* The fixed part of an entry after the root key id; 1 when it is there. */
static int read_fixed(ss_cur *c, entry *e, uint32_t *flags)
{
	uint32_t v[3], h;

	for (int i = 0; i < 3; i++)
		if (!ss_cur_uint(c, 4, &v[i]))
			return 0;
	if (!ss_cur_uint(c, 1, &h) || !ss_cur_uint(c, 1, flags))
		return 0;
	/* modulo 2^32 (C17 6.3.1.3, as gcc and clang define it): entry_ok
	 * refuses the negative ones */
	e->gkid = (ss_gkid){ (int32_t)v[0], (int32_t)v[1], (int32_t)v[2] };
	e->hash = (ss_gkdi_hash)h;
	e->is_public = (*flags & F_PUBLIC) != 0;
	e->current = (*flags & F_CURRENT) != 0;
	return (*flags & ~(uint32_t)(F_PUBLIC | F_CURRENT | F_L1 | F_L2)) == 0;
}

/* The key fields: straight from the input into sodium_malloc'd memory, so
 * no other copy of a key is ever made. */
static int read_keys(ss_cur *c, entry *e, uint32_t flags)
{
	ss_cur k;

	if (flags & F_L1) {
		if (!ss_cur_sub(c, SS_GKDI_KEY_LEN, &k) ||
		    !(e->l1 = ss_gkdi_secure_copy(k.buf, SS_GKDI_KEY_LEN)))
			return 0;
	}
	if (flags & F_L2) {
		if (!ss_cur_vec(c, 2, &k) || k.len == 0 || !(e->l2 = ss_gkdi_secure_copy(k.buf, k.len)))
			return 0;
		e->l2_len = k.len;
	}
	return 1;
}

/* One entry into *out (NULL on failure).  The entry is built first and
 * judged by entry_ok as a whole, the same judge the encoder uses. */
static ss_status read_entry(ss_cur *c, entry **out)
{
	ss_cur d, s, rk;
	uint32_t flags;
	entry *e;

	*out = NULL;
	if (!ss_cur_vec(c, 1, &d) || !ss_cur_vec(c, 2, &s) || !ss_cur_sub(c, 16, &rk))
		return SS_DECODE_ERROR;
	/* a NUL would cut the name short: the stored domain is a C string */
	if (d.len == 0 || s.len == 0 || memchr(d.buf, '\0', d.len))
		return SS_DECODE_ERROR;
	e = calloc(1, sizeof *e);
	if (!e)
		return SS_INSUFFICIENT_MEMORY;
	e->domain = malloc(d.len + 1);
	e->sd = malloc(s.len);
	if (!e->domain || !e->sd) {
		ss_gkdi_entry_free(e);
		return SS_INSUFFICIENT_MEMORY;
	}
	memcpy(e->domain, d.buf, d.len);
	e->domain[d.len] = '\0';
	memcpy(e->sd, s.buf, s.len);
	e->sd_len = s.len;
	memcpy(e->rkid.b, rk.buf, 16);
	if (!read_fixed(c, e, &flags) || !read_keys(c, e, flags) || !entry_ok(e)) {
		ss_gkdi_entry_free(e);
		return SS_DECODE_ERROR;
	}
	*out = e;
	return SS_OK;
}

ss_status ss_gkdi_cache_decode(ss_gkdi_cache *c, const uint8_t *buf, size_t len)
{
	ss_cur cur = ss_cur_make(buf, len), m;
	entry *got[SS_GKDI_CACHE_MAX];
	uint32_t version, n;
	size_t k = 0;
	ss_status st = SS_OK;

	if (!c)
		return SS_INVALID_HANDLE;
	/* appending past SS_GKDI_CACHE_MAX would drop the caller's oldest
	 * entries: refused like any other oversized count */
	if (!ss_cur_sub(&cur, sizeof magic, &m) || !ss_cur_equals(&m, magic, sizeof magic) ||
	    !ss_cur_uint(&cur, 1, &version) || version != STORE_VERSION ||
	    !ss_cur_uint(&cur, 2, &n) || n > SS_GKDI_CACHE_MAX - c->n)
		return SS_DECODE_ERROR;
	while (k < n && (st = read_entry(&cur, &got[k])) == SS_OK)
		k++;
	if (st == SS_OK && ss_cur_left(&cur) != 0)
		st = SS_DECODE_ERROR;
	if (st != SS_OK) {
		/* all or nothing: c has not been touched yet */
		while (k > 0)
			ss_gkdi_entry_free(got[--k]);
		return st;
	}
	for (k = 0; k < n; k++)
		ss_gkdi_cache_add(c, got[k]);
	return SS_OK;
}

/* Whoever can write the directory can swap the file: it must be ours and
 * nobody else's to write. */
static ss_status dir_ok(const char *path)
{
	char *copy = strdup(path);
	struct stat st;
	int ok;

	if (!copy)
		return SS_INSUFFICIENT_MEMORY;
	ok = stat(dirname(copy), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	     (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
	free(copy);
	return ok ? SS_OK : SS_NO_CREDENTIALS;
}

ss_status ss_gkdi_cache_save(const ss_gkdi_cache *c, const char *path)
{
	char tmp[PATH_MAX];
	uint8_t *buf;
	size_t len;
	ss_status st;
	int fd, ok;

	if (!c || !path || !path[0])
		return SS_INVALID_HANDLE;
	st = dir_ok(path);
	if (st != SS_OK)
		return st;
	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return SS_NO_CREDENTIALS;
	st = ss_gkdi_cache_encode(c, &buf, &len);
	if (st != SS_OK)
		return st;
	/* never a file that ss_gkdi_cache_load would refuse to read */
	if (len > FILE_MAX) {
		sodium_free(buf);
		return SS_BUFFER_TOO_SMALL;
	}
	/* O_EXCL|O_NOFOLLOW: a file or link planted at the temporary name is
	 * refused, not written through */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		sodium_free(buf);
		return SS_NO_CREDENTIALS;
	}
	/* 0600 whatever the umask: one that cleared our own bits would leave a
	 * file we cannot read back */
	ok = fchmod(fd, 0600) == 0 && ss_write_all(fd, buf, len) && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	sodium_free(buf);   /* wipes */
	/* the rename is atomic: a reader sees the old cache or the new one */
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return SS_NO_CREDENTIALS;
	}
	return SS_OK;
}

/* Read only a file that no one but us could have written or read. */
ss_status ss_gkdi_cache_load(ss_gkdi_cache *c, const char *path)
{
	struct stat st;
	size_t n = 0, size;
	ssize_t r;
	uint8_t *buf;
	ss_status rc = SS_NO_CREDENTIALS;
	int fd;

	if (!c || !path)
		return SS_INVALID_HANDLE;
	/* O_NONBLOCK: a FIFO planted at path must not hang us before fstat
	 * refuses it */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return SS_NO_CREDENTIALS;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077) != 0 || st.st_size < 0 || st.st_size > FILE_MAX) {
		close(fd);
		return SS_NO_CREDENTIALS;
	}
	size = (size_t)st.st_size;
	buf = sodium_malloc(size ? size : 1);
	while (buf && n < size) {
		r = read(fd, buf + n, size - n);
		if (r > 0)
			n += (size_t)r;
		else if (r == 0 || errno != EINTR)
			break;
	}
	close(fd);
	if (!buf)
		return SS_INSUFFICIENT_MEMORY;
	/* a file that changed size under us is not the one we checked */
	if (n == size)
		rc = ss_gkdi_cache_decode(c, buf, n);
	sodium_free(buf);   /* wipes */
	return rc;
}
