/* pre_secmem.c — the preload's pool for short-lived secrets (see
 * pre_secmem.h).
 *
 * One reservation of address space (PROT_NONE, MAP_NORESERVE, MADV_DONTDUMP
 * as a whole: madvise(2), core(5)), its first page never opened, so it is a
 * guard below the pool, and the part not yet handed out a guard above it.
 * 64 KiB chunks are opened (PROT_READ|PROT_WRITE, mlock best effort) one at
 * a time as they are needed and each serves one size class (powers of two,
 * 64 B to 16 KiB); freed blocks are wiped and kept on their class's free
 * list, never returned to the kernel — the pool holds only what the
 * connections in flight hold at once.  Memory locks are not inherited
 * across fork (mlock(2)); neither are sodium_malloc's, and DONTDUMP is.
 */
#include "pre_secmem.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <sodium.h>

enum {
	CHUNK_SHIFT = 16,
	CHUNK = 1 << CHUNK_SHIFT,
	RESERVE_CHUNKS = 64,          /* 4 MiB of address space, committed as used */
	MIN_SHIFT = 6,                /* 64 B */
	MAX_SHIFT = 14,               /* 16 KiB */
	NCLASS = MAX_SHIFT - MIN_SHIFT + 1
};

typedef struct free_block { struct free_block *next; } free_block;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static uint8_t *base;               /* first chunk; NULL: no pool */
static size_t guard;                /* the page below base */
static size_t chunks;               /* chunks opened so far */
static uint8_t chunk_class[RESERVE_CHUNKS];
static free_block *free_list[NCLASS];
static uint8_t *bump[NCLASS], *bump_end[NCLASS];

static void fork_prepare(void) { pthread_mutex_lock(&lock); }
static void fork_release(void) { pthread_mutex_unlock(&lock); }

static void pool_init(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t len;
	void *p;

	if (pg <= 0 || (size_t)pg > CHUNK)
		return;
	guard = (size_t)pg;
	len = guard + (size_t)RESERVE_CHUNKS * CHUNK;
	p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return;
	/* Without DONTDUMP the blocks would be in a core dump: no pool. */
	if (madvise(p, len, MADV_DONTDUMP) != 0) {
		munmap(p, len);
		return;
	}
	(void)pthread_atfork(fork_prepare, fork_release, fork_release);
	base = (uint8_t *)p + guard;
}

static int in_pool(const void *p)
{
	return base != NULL && (const uint8_t *)p >= base &&
	       (const uint8_t *)p < base + (size_t)RESERVE_CHUNKS * CHUNK;
}

/* Open the next chunk for class c; lock held. */
static int chunk_open(unsigned c)
{
	uint8_t *p;

	if (chunks == RESERVE_CHUNKS)
		return 0;
	p = base + chunks * CHUNK;
	if (mprotect(p, CHUNK, PROT_READ | PROT_WRITE) != 0)
		return 0;
	(void)mlock(p, CHUNK);   /* best effort: RLIMIT_MEMLOCK may not allow it */
	chunk_class[chunks++] = (uint8_t)c;
	bump[c] = p;
	bump_end[c] = p + CHUNK;
	return 1;
}

static void *fallback(size_t n)
{
	return sodium_init() < 0 ? NULL : sodium_malloc(n);
}

void *pre_secret_alloc(size_t n)
{
	unsigned c = 0;
	void *p = NULL;

	while (c + MIN_SHIFT < MAX_SHIFT && ((size_t)1 << (c + MIN_SHIFT)) < n)
		c++;
	if (n > ((size_t)1 << MAX_SHIFT))
		return fallback(n);
	pthread_once(&once, pool_init);
	if (base == NULL)
		return fallback(n);
	pthread_mutex_lock(&lock);
	if (free_list[c] != NULL) {
		p = free_list[c];
		free_list[c] = free_list[c]->next;
		((free_block *)p)->next = NULL;   /* the rest was wiped on free */
	} else if (bump[c] != bump_end[c] || chunk_open(c)) {
		p = bump[c];
		bump[c] += (size_t)1 << (c + MIN_SHIFT);
	}
	pthread_mutex_unlock(&lock);
	return p != NULL ? p : fallback(n);
}

void pre_secret_free(void *p)
{
	if (p == NULL)
		return;
	if (!in_pool(p)) {
		sodium_free(p);   /* wipes */
		return;
	}
	unsigned c = chunk_class[(size_t)((uint8_t *)p - base) >> CHUNK_SHIFT];

	sodium_memzero(p, (size_t)1 << (c + MIN_SHIFT));
	pthread_mutex_lock(&lock);
	((free_block *)p)->next = free_list[c];
	free_list[c] = p;
	pthread_mutex_unlock(&lock);
}
