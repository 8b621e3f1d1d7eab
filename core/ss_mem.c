/* ss_mem.c — OpenSSL's memory functions for the engine (see ss_mem.h).
 *
 * The pool: one reservation of address space (PROT_NONE, MAP_NORESERVE,
 * marked MADV_DONTDUMP as a whole, so every piece of it carries VmFlags
 * "dd" and core dumps leave it out: core(5), madvise(2)).  It is cut into
 * 64 KiB chunks, made readable and writable (and mlocked when
 * RLIMIT_MEMLOCK allows, so keys do not reach swap either) one at a time
 * as they are needed.  A chunk serves one size class (powers of two, 32 B to
 * 32 KiB); blocks come from the class's free list or are carved off its
 * current chunk in address order, so pages are touched only when used.
 * A table from chunk to class tells a block's size on free, so blocks have
 * no header.  Freed blocks are wiped and kept on their free list (never
 * returned to the kernel: the pool only ever holds what handshakes and AEAD
 * contexts in flight need at once).  One mutex; the fork handlers keep it
 * consistent in a child.  A request larger than the largest class, or one
 * made when the reservation is used up, goes to malloc instead and is wiped
 * on free like every other OpenSSL block.
 */
#include "ss_mem.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <openssl/crypto.h>

enum {
	CHUNK_SHIFT = 16,                 /* 64 KiB chunks */
	CHUNK = 1 << CHUNK_SHIFT,
	/* 64 MiB of address space.  The reservation counts against
	 * RLIMIT_AS (VmSize) although nothing is committed: programs that
	 * cap their address space after forking (vsftpd's session at 200 MB)
	 * failed every mmap with a larger one.  64 MiB holds the AEAD
	 * contexts of tens of thousands of connections and hundreds of
	 * handshakes in flight; beyond it blocks come from malloc, wiped on
	 * free (ss_mem.h). */
	RESERVE_CHUNKS = 1 << 10,
	MIN_SHIFT = 5,                    /* 32 B */
	MAX_SHIFT = 15,                   /* 32 KiB */
	NCLASS = MAX_SHIFT - MIN_SHIFT + 1
};

typedef struct free_block { struct free_block *next; } free_block;

typedef struct size_class {
	free_block *free;
	uint8_t *bump, *end;              /* uncarved rest of the class's newest chunk */
} size_class;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t hide_lock = PTHREAD_MUTEX_INITIALIZER;   /* ss_mem_hide */
static uint8_t *pool_base;            /* NULL: no pool */
static size_t pool_chunks;            /* chunks handed out so far */
static uint8_t chunk_class[RESERVE_CHUNKS];
static size_class classes[NCLASS];
static _Atomic int mem_mode = SS_MEM_UNSET;
static _Thread_local unsigned scope;

static int in_pool(const void *p)
{
	const uint8_t *b = pool_base;

	return b != NULL && (const uint8_t *)p >= b &&
	       (const uint8_t *)p < b + (size_t)RESERVE_CHUNKS * CHUNK;
}

static unsigned class_of_size(size_t n)
{
	unsigned shift = MIN_SHIFT;

	while (shift < MAX_SHIFT && ((size_t)1 << shift) < n)
		shift++;
	return shift - MIN_SHIFT;
}

static size_t block_size(const void *p)
{
	size_t chunk = (size_t)((const uint8_t *)p - pool_base) >> CHUNK_SHIFT;

	return (size_t)1 << (chunk_class[chunk] + MIN_SHIFT);
}

/* A fresh chunk for class c; pool_lock held. */
static int chunk_add(unsigned c)
{
	uint8_t *p;

	if (pool_chunks == RESERVE_CHUNKS)
		return 0;
	p = pool_base + pool_chunks * CHUNK;
	if (mprotect(p, CHUNK, PROT_READ | PROT_WRITE) != 0)
		return 0;
	(void)mlock(p, CHUNK);   /* best effort: RLIMIT_MEMLOCK may not allow it */
	chunk_class[pool_chunks++] = (uint8_t)c;
	classes[c].bump = p;
	classes[c].end = p + CHUNK;
	return 1;
}

static void *pool_alloc(size_t n)
{
	unsigned c = class_of_size(n ? n : 1);
	size_t size = (size_t)1 << (c + MIN_SHIFT);
	size_class *k = &classes[c];
	void *p = NULL;

	pthread_mutex_lock(&pool_lock);
	if (k->free != NULL) {
		p = k->free;
		k->free = k->free->next;
		((free_block *)p)->next = NULL;   /* the only byte range not wiped on free */
	} else if (k->bump != k->end || chunk_add(c)) {
		p = k->bump;
		k->bump += size;
	}
	pthread_mutex_unlock(&pool_lock);
	return p;
}

static void pool_free(void *p)
{
	size_t size = block_size(p);
	size_class *k = &classes[chunk_class[(size_t)((uint8_t *)p - pool_base) >> CHUNK_SHIFT]];

	explicit_bzero(p, size);
	pthread_mutex_lock(&pool_lock);
	((free_block *)p)->next = k->free;
	k->free = p;
	pthread_mutex_unlock(&pool_lock);
}

/* ------------------------------------------------------------ the hooks
 * CRYPTO_set_mem_functions(3): OpenSSL calls these for every allocation
 * (num 0 included) with the caller's file and line, which we do not use. */

static void *h_malloc(size_t n, const char *file, int line)
{
	void *p = NULL;

	(void)file;
	(void)line;
	if (scope > 0 && n <= ((size_t)1 << MAX_SHIFT))
		p = pool_alloc(n);
	return p != NULL ? p : malloc(n);
}

static void h_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	if (p == NULL)
		return;
	if (in_pool(p)) {
		pool_free(p);
		return;
	}
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

/* Never realloc(3): it may move the block and leave the old bytes behind in
 * freed memory.  A block that already fits stays; else copy and wipe. */
static void *h_realloc(void *p, size_t n, const char *file, int line)
{
	size_t have;
	void *q = NULL;

	if (p == NULL)
		return h_malloc(n, file, line);
	if (n == 0) {
		h_free(p, file, line);
		return NULL;
	}
	have = in_pool(p) ? block_size(p) : malloc_usable_size(p);
	if (n <= have)
		return p;
	if ((in_pool(p) || scope > 0) && n <= ((size_t)1 << MAX_SHIFT))
		q = pool_alloc(n);
	if (q == NULL)
		q = malloc(n);
	if (q == NULL)
		return NULL;
	memcpy(q, p, have);
	h_free(p, file, line);
	return q;
}

static void lock_fn(void)
{
	pthread_mutex_lock(&hide_lock);
	pthread_mutex_lock(&pool_lock);
}

static void unlock_fn(void)
{
	pthread_mutex_unlock(&pool_lock);
	pthread_mutex_unlock(&hide_lock);
}

#ifdef SECSOCK_TEST_HOOKS
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
/* Test builds only (see core/ss_rec_keys.c): which mode the engine got, so
 * tests/security/s50-core-dump.sh knows it tested the one it meant to.  The
 * raw system call: this runs inside dlopen, where the preload's write shim
 * has no business. */
static void test_hook_mode(void)
{
	const char *e = getenv("SECSOCK_TEST_SECRETS_FD");
	char line[32];
	int n;

	if (e == NULL || *e == '\0')
		return;
	n = snprintf(line, sizeof line, "mem %s\n",
	             atomic_load(&mem_mode) == SS_MEM_PRIVATE ? "private" : "shared");
	if (n > 0)
		(void)syscall(SYS_write, atoi(e), line, (size_t)n);
}
#else
static void test_hook_mode(void) {}
#endif

static void init_once(void)
{
	size_t len = (size_t)RESERVE_CHUNKS * CHUNK;
	void *b;

	pthread_atfork(lock_fn, unlock_fn, unlock_fn);
	b = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (b == MAP_FAILED || madvise(b, len, MADV_DONTDUMP) != 0) {
		/* No pool, no memory functions: the callers' fallback applies. */
		if (b != MAP_FAILED)
			munmap(b, len);
		atomic_store(&mem_mode, SS_MEM_SHARED);
		return;
	}
	pool_base = b;
	if (!CRYPTO_set_mem_functions(h_malloc, h_realloc, h_free)) {
		/* OpenSSL has allocated already: the program uses it too. */
		munmap(b, len);
		pool_base = NULL;
		atomic_store(&mem_mode, SS_MEM_SHARED);
		return;
	}
	atomic_store(&mem_mode, SS_MEM_PRIVATE);
}

static void init_and_report(void)
{
	init_once();
	test_hook_mode();
}

ss_mem_mode ss_mem_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, init_and_report);
	return (ss_mem_mode)atomic_load(&mem_mode);
}

ss_mem_mode ss_mem_mode_get(void)
{
	return (ss_mem_mode)atomic_load_explicit(&mem_mode, memory_order_relaxed);
}

void ss_mem_enter(void)
{
	scope++;
}

void ss_mem_leave(void)
{
	scope--;
}

/* ------------------------------------------------------------ hiding
 * SS_MEM_SHARED: the pages under a live block of the program's OpenSSL
 * heap are marked MADV_DONTDUMP while it lives.  Pages are shared with
 * other blocks, so each hidden page has a count; the last block to go marks
 * it MADV_DODUMP again.  The count table is plain malloc'd memory (page
 * addresses only). */
enum { PAGE = 4096, HIDE_BUCKETS = 1024 };

typedef struct page_ref {
	struct page_ref *next;
	uintptr_t page;
	unsigned n;
} page_ref;

static page_ref *hidden[HIDE_BUCKETS];

static page_ref **page_slot(uintptr_t page)
{
	page_ref **pp = &hidden[(page / PAGE) % HIDE_BUCKETS];

	while (*pp != NULL && (*pp)->page != page)
		pp = &(*pp)->next;
	return pp;
}

/* One page's count up (d = 1) or down (d = -1); 0 when madvise or malloc
 * failed.  hide_lock held. */
static int page_count(uintptr_t page, int d)
{
	page_ref **pp = page_slot(page), *r = *pp;

	if (d > 0) {
		if (r == NULL) {
			r = calloc(1, sizeof *r);
			if (r == NULL || madvise((void *)page, PAGE, MADV_DONTDUMP) != 0) {
				free(r);
				return 0;
			}
			r->page = page;
			*pp = r;
		}
		r->n++;
		return 1;
	}
	if (r == NULL)
		return 0;
	if (--r->n == 0) {
		*pp = r->next;
		free(r);
		(void)madvise((void *)page, PAGE, MADV_DODUMP);
	}
	return 1;
}

static size_t block_size_known(void *p)
{
	CRYPTO_malloc_fn m;
	CRYPTO_realloc_fn r;
	CRYPTO_free_fn f;

	CRYPTO_get_mem_functions(&m, &r, &f);
	if (m == h_malloc)
		return in_pool(p) ? block_size(p) : malloc_usable_size(p);
	if (m == CRYPTO_malloc)
		return malloc_usable_size(p);   /* OpenSSL's default is malloc(3) */
	return 0;                           /* the program's allocator: size unknown */
}

__attribute__((noinline)) void ss_mem_burn_stack(void)
{
	uint8_t dead[SS_MEM_BURN];

	OPENSSL_cleanse(dead, sizeof dead);
	/* the compiler may not drop the store of a buffer nobody reads */
	__asm__ volatile("" : : "r"(dead) : "memory");
}

size_t ss_mem_hide(void *p)
{
	size_t size = p != NULL ? block_size_known(p) : 0;
	uintptr_t lo = (uintptr_t)p & ~(uintptr_t)(PAGE - 1), pg;

	if (size == 0)
		return 0;
	pthread_mutex_lock(&hide_lock);
	for (pg = lo; pg < (uintptr_t)p + size; pg += PAGE) {
		if (!page_count(pg, 1)) {
			while (pg > lo)
				page_count(pg -= PAGE, -1);
			size = 0;
			break;
		}
	}
	pthread_mutex_unlock(&hide_lock);
	return size;
}

void ss_mem_unhide(void *p, size_t size)
{
	uintptr_t pg;

	if (p == NULL || size == 0)
		return;
	pthread_mutex_lock(&hide_lock);
	for (pg = (uintptr_t)p & ~(uintptr_t)(PAGE - 1); pg < (uintptr_t)p + size; pg += PAGE)
		page_count(pg, -1);
	pthread_mutex_unlock(&hide_lock);
}

size_t ss_mem_scrub_block(void *p, const void *const *vals, const size_t *lens, size_t n)
{
	uint8_t *b = p;
	size_t size = p != NULL ? block_size_known(p) : 0, wiped = 0;

	for (size_t i = 0; i < n; i++) {
		size_t len = lens[i], off = 0;
		uint8_t *hit;

		if (vals[i] == NULL || len == 0)
			continue;
		while (off + len <= size && (hit = memmem(b + off, size - off, vals[i], len)) != NULL) {
			explicit_bzero(hit, len);
			wiped++;
			off = (size_t)(hit - b) + len;
		}
	}
	return wiped;
}
