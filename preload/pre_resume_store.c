/* pre_resume_store.c — the per-user association cache (pre_resume_store.h).
 *
 * Every file operation goes through the libc functions the preload does not
 * interpose (or through REAL()), on descriptors it never hands to the
 * program.  Nothing is kept open between uses (a program's closefrom or
 * dup2 could take it); the key, once read, stays in locked memory for the
 * process's life (a fork child inherits it, as it does the table). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sodium.h>
#include "pre_disc_store.h"
#include "pre_log.h"
#include "pre_resume.h"
#include "pre_resume_store.h"
#include "pre_sym.h"

enum {
	KEY_LEN = 32,
	NAME_LEN = 64,   /* hex of a 32-byte BLAKE2b */
	NONCE_LEN = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
	HEAD_LEN = 4 + NONCE_LEN,
	FILE_LEN = HEAD_LEN + sizeof(ss_resume_entry) + crypto_aead_xchacha20poly1305_ietf_ABYTES
};
static const char MAGIC[4] = { 'S', 'S', 'R', '1' };
/* The additional data: a version and the layout the plaintext has (an entry
 * written by another build does not open), then the tuple. */
static const char AD_TAG[] = "secsock-resume 1";

static uint8_t *ukey;   /* sodium_malloc'd KEY_LEN: locked, out of core dumps */
static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int refused_said;   /* says why once per process */

struct ad {
	uint8_t b[sizeof AD_TAG + 8 + sizeof(struct sockaddr_storage) + 128 + 256 + 2];   /* rule: "NAME/SCOPE" (pre_resume.c) */
	size_t n;
};

static int ad_make(struct ad *a, const struct sockaddr_storage *peer, const char *rule, const char *target)
{
	uint64_t sz = sizeof(ss_resume_entry);
	size_t lr = strlen(rule) + 1, lt = strlen(target) + 1;

	if (lr > 128 || lt > 256)
		return -1;
	a->n = 0;
	memcpy(a->b, AD_TAG, sizeof AD_TAG);
	a->n += sizeof AD_TAG;
	memcpy(a->b + a->n, &sz, 8);
	a->n += 8;
	memcpy(a->b + a->n, peer, sizeof *peer);
	a->n += sizeof *peer;
	memcpy(a->b + a->n, rule, lr);
	a->n += lr;
	memcpy(a->b + a->n, target, lt);
	a->n += lt;
	return 0;
}

static void refused(const char *why)
{
	if (!atomic_exchange(&refused_said, 1))
		pre_log(PRE_LOG_DEBUG, "resumption store refused: %s; associations stay per process", why);
}

/* $XDG_RUNTIME_DIR/secsock/resume, made 0700 and checked through its
 * descriptor like its parent. */
static int store_open(void)
{
	struct stat st;
	int p, d, e = errno;

	if ((p = pre_disc_store_dir_open(1)) < 0) {
		refused("no private $XDG_RUNTIME_DIR/secsock");
		return -1;
	}
	if (mkdirat(p, "resume", 0700) < 0 && errno != EEXIST) {
		REAL(close)(p);
		refused("cannot make the resume directory");
		errno = e;
		return -1;
	}
	d = REAL(openat)[0](p, "resume", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	REAL(close)(p);
	if (d >= 0 && (fstat(d, &st) < 0 || !pre_disc_private_dir(&st))) {
		REAL(close)(d);
		d = -1;
	}
	if (d < 0)
		refused("resume is not a directory of this uid with mode 0700 (symlink, shared or foreign)");
	errno = e;
	return d;
}

/* 0: the key read; -1: none; -2: a "key" that is not one of ours (a key
 * is linked into place only once written whole, so this one is damaged);
 * -3: it could not be opened now (a symlink, no descriptors left). */
static int key_read(int d)
{
	struct stat st;
	int f = REAL(openat)[0](d, "key", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	int ok = 0;

	if (f < 0)
		return errno == ENOENT ? -1 : -3;
	if (fstat(f, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 077) == 0 &&
	    st.st_size == KEY_LEN && REAL(read)(f, ukey, KEY_LEN) == KEY_LEN)
		ok = 1;
	REAL(close)(f);
	return ok ? 0 : -2;
}

/* A new key: written whole to a temporary name, then linked as "key", which
 * fails when another process made one first (then theirs is read). */
static void key_make(int d)
{
	char tmp[64];
	int f;

	snprintf(tmp, sizeof tmp, "key.%ld", (long)getpid());
	unlinkat(d, tmp, 0);
	f = REAL(openat)[0](d, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (f < 0)
		return;
	randombytes_buf(ukey, KEY_LEN);
	int w = REAL(write)(f, ukey, KEY_LEN) == KEY_LEN;
	REAL(close)(f);
	sodium_memzero(ukey, KEY_LEN);
	if (w)
		(void)!linkat(d, tmp, d, "key", 0);   /* EEXIST: another process's key wins */
	unlinkat(d, tmp, 0);
}

static int key_ready(int d)
{
	int r = 0, e = errno;

	pthread_mutex_lock(&key_lock);
	if (!ukey) {
		uint8_t *k = sodium_malloc(KEY_LEN);
		ukey = k;
		int r0 = k ? key_read(d) : 0;
		if (r0 < 0 && r0 != -3) {
			if (r0 == -2) {
				/* every entry sealed under it is lost with it: they
				 * fail to open and are removed one by one */
				pre_log(PRE_LOG_DEBUG, "resumption store: key file damaged, replaced");
				unlinkat(d, "key", 0);
			}
			key_make(d);
			r0 = key_read(d);
		}
		if (r0 < 0) {
			refused("the key file is not a 32-byte file of this uid with mode 0600");
			sodium_free(k);
			ukey = NULL;
		}
	}
	r = ukey ? 0 : -1;
	pthread_mutex_unlock(&key_lock);
	errno = e;
	return r;
}

static void entry_name(const struct ad *a, char name[NAME_LEN + 1])
{
	uint8_t h[NAME_LEN / 2];
	crypto_generichash(h, sizeof h, a->b, a->n, ukey, KEY_LEN);
	sodium_bin2hex(name, NAME_LEN + 1, h, sizeof h);
}

static int entry_ok(const ss_resume_entry *e)
{
	return e->psk_len > 0 && e->psk_len <= SS_RESUME_SECRET_MAX && e->ticket_len > 0 &&
	       e->ticket_len <= SS_TICKET_MAX && memchr(e->id.peer, 0, sizeof e->id.peer) != NULL;
}

/* Read and open the entry at name into *e: 0, else -1 (unreadable, short,
 * not ours, tampered, moved). */
static int entry_open(int d, const char *name, const struct ad *a, uint8_t *buf, ss_resume_entry *e)
{
	struct stat st;
	unsigned long long m = 0;
	ssize_t n = -1;
	int f = REAL(openat)[0](d, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

	if (f < 0)
		return -2;   /* none */
	if (fstat(f, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && st.st_nlink == 1 &&
	    st.st_size == FILE_LEN)
		n = REAL(read)(f, buf, FILE_LEN);
	REAL(close)(f);
	if (n != FILE_LEN || memcmp(buf, MAGIC, 4) != 0)
		return -1;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt((uint8_t *)e, &m, NULL, buf + HEAD_LEN, FILE_LEN - HEAD_LEN,
	                                               a->b, a->n, buf + 4, ukey) != 0 ||
	    m != sizeof *e || !entry_ok(e))
		return -1;
	return 0;
}

int pre_resume_store_get(const struct sockaddr_storage *peer, const char *rule, const char *target,
                         uint64_t lifetime_ms, uint64_t idle_ms, ss_resume_entry *e)
{
	struct ad a;
	char name[NAME_LEN + 1];
	uint8_t buf[FILE_LEN];   /* sealed: nothing secret until opened into *e */
	int d, r, e0 = errno, found = 0;

	if (ad_make(&a, peer, rule, target) < 0 || (d = store_open()) < 0)
		return 0;
	if (key_ready(d) < 0) {
		REAL(close)(d);
		return 0;
	}
	entry_name(&a, name);
	r = entry_open(d, name, &a, buf, e);
	if (r == 0 && pre_resume_usable(e, lifetime_ms, idle_ms, (int64_t)time(NULL)))
		found = 1;
	else if (r != -2) {
		if (r == -1)
			pre_log(PRE_LOG_DEBUG, "resumption store: entry %.8s... ignored (does not open)", name);
		unlinkat(d, name, 0);   /* expired or not an entry: forgotten */
	}
	if (!found)
		sodium_memzero(e, sizeof *e);
	REAL(close)(d);
	errno = e0;
	return found;
}

static int is_entry_name(const char *s)
{
	size_t i;
	for (i = 0; s[i]; i++)
		if (i >= NAME_LEN || !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == NAME_LEN;
}

struct aged {
	struct timespec t;
	char name[NAME_LEN + 1];
};

static int older(const void *x, const void *y)
{
	const struct aged *a = x, *b = y;
	if (a->t.tv_sec != b->t.tv_sec)
		return a->t.tv_sec < b->t.tv_sec ? -1 : 1;
	return (a->t.tv_nsec > b->t.tv_nsec) - (a->t.tv_nsec < b->t.tv_nsec);
}

/* Bounded: when more than the maximum are stored, those written longest
 * ago go (a write is the latest use: each connection stores its ticket).
 * At most EVICT_SCAN names are looked at per write; more is no store of
 * ours, and the next write goes on. */
enum { EVICT_SCAN = 1024 };
static void evict(int d)
{
	int r = REAL(openat)[0](d, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = r >= 0 ? fdopendir(r) : NULL;
	struct aged *v = dir ? malloc(EVICT_SCAN * sizeof *v) : NULL;
	struct dirent *de;
	size_t n = 0;

	if (!v) {
		if (dir)
			closedir(dir);
		else if (r >= 0)
			REAL(close)(r);
		return;
	}
	while (n < EVICT_SCAN && (de = readdir(dir)) != NULL) {
		struct stat st;
		if (!is_entry_name(de->d_name) || fstatat(d, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		v[n].t = st.st_mtim;
		memcpy(v[n].name, de->d_name, sizeof v[n].name);
		n++;
	}
	closedir(dir);
	if (n > PRE_RESUME_STORE_MAX) {
		qsort(v, n, sizeof *v, older);
		for (size_t i = 0; i < n - PRE_RESUME_STORE_MAX; i++)
			unlinkat(d, v[i].name, 0);
	}
	free(v);
}

void pre_resume_store_put(const struct sockaddr_storage *peer, const char *rule, const char *target,
                          const ss_resume_entry *e)
{
	static unsigned long seq;
	struct ad a;
	char name[NAME_LEN + 1], tmp[64];
	uint8_t buf[FILE_LEN];   /* sealed: nothing secret */
	int d, f, e0 = errno;

	if (ad_make(&a, peer, rule, target) < 0 || (d = store_open()) < 0)
		return;
	if (key_ready(d) < 0) {
		REAL(close)(d);
		return;
	}
	entry_name(&a, name);
	memcpy(buf, MAGIC, 4);
	randombytes_buf(buf + 4, NONCE_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(buf + HEAD_LEN, NULL, (const uint8_t *)e, sizeof *e, a.b, a.n,
	                                           NULL, buf + 4, ukey);
	snprintf(tmp, sizeof tmp, "tmp.%ld.%lu", (long)getpid(), __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
	f = REAL(openat)[0](d, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (f >= 0) {
		struct stat st;
		int w = REAL(write)(f, buf, FILE_LEN) == FILE_LEN;
		int had = fstatat(d, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
		REAL(close)(f);
		if (!w || renameat(d, tmp, d, name) < 0)
			unlinkat(d, tmp, 0);
		else if (!had)
			evict(d);   /* only a new name can pass the bound: a replaced entry costs no scan */
	}
	REAL(close)(d);
	errno = e0;
}
