/* pre_secmem.h — short-lived secrets of the preload without a system call
 * per allocation.
 *
 * sodium_malloc maps a fresh region per call (mmap, two guard-page
 * mprotects, mlock, madvise) and sodium_free unmaps it (mprotect, munlock,
 * munmap): about ten system calls per secret, and in a process with an
 * engine thread each mprotect/munmap also flushes the other CPU's TLB.  A
 * client that resumes did that for three secrets per connection, 18% of its
 * CPU (bench/README.md "connection set-up").  pre_secret_alloc keeps the
 * properties that matter for secrets — the memory is MADV_DONTDUMP (out of
 * core dumps), mlocked when RLIMIT_MEMLOCK allows (out of swap), and wiped
 * when freed — and serves blocks from a reserved pool, so the system calls
 * happen once per 64 KiB chunk, not per secret.  The pool sits between
 * PROT_NONE pages: a run off its end faults.  A request the pool cannot
 * serve (too large, pool used up, no mapping) falls back to sodium_malloc.
 */
#ifndef PRE_SECMEM_H
#define PRE_SECMEM_H

#include <stddef.h>

void *pre_secret_alloc(size_t n);
/* Wipes the block, then keeps it for the next secret of its size.  NULL is
 * ignored. */
void pre_secret_free(void *p);

#endif
