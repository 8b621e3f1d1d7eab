/* ss_mem.h — where OpenSSL keeps secsock's key material (issue 10 item 4:
 * no traffic secret, key or IV of a live connection in memory a core dump
 * contains).
 *
 * The handshake runs in an OpenSSL SSL object and the record layer's AEAD
 * contexts are provider contexts: both live in OpenSSL's heap and hold
 * secrets (the SSL object its traffic secrets and IVs, an AES-GCM context
 * its key schedule, whose first round key is the key itself, and its
 * nonce).  ss_mem_init installs OpenSSL memory functions
 * (CRYPTO_set_mem_functions) such that
 *   - everything OpenSSL allocates while a thread is inside a secret scope
 *     (ss_mem_enter/ss_mem_leave: the handshake, key derivation, making an
 *     AEAD context) comes from a private pool of MADV_DONTDUMP, best-effort
 *     mlocked pages, wiped when freed;
 *   - everything else OpenSSL frees is wiped first (explicit_bzero over
 *     malloc_usable_size), so no freed OpenSSL block keeps what it held.
 * OpenSSL accepts memory functions only before its first allocation
 * (CRYPTO_set_mem_functions(3)): a program that already used OpenSSL when
 * the engine was loaded keeps its own, and then ss_mem_mode() says
 * SS_MEM_SHARED and the callers fall back (core/ss_rec.c: the pages under
 * an AEAD context are marked MADV_DONTDUMP while it lives, ss_mem_hide, or
 * if that cannot be done the context lives for one record only;
 * core/ss_ctx.c: the SSL object's copies of the secrets are wiped before it
 * is freed).
 */
#ifndef SS_MEM_H
#define SS_MEM_H

#include <stddef.h>

typedef enum ss_mem_mode {
	SS_MEM_UNSET = 0,   /* ss_mem_init never called (CLI, unit tests): plain OpenSSL heap */
	SS_MEM_PRIVATE,     /* our memory functions are OpenSSL's */
	SS_MEM_SHARED       /* OpenSSL was in use before: its allocator is not ours */
} ss_mem_mode;

/* Install the memory functions (once; later calls return the first
 * answer).  Called by the engine's constructor (core/ss_engine.c), before
 * anything of the engine has used OpenSSL. */
ss_mem_mode ss_mem_init(void);
ss_mem_mode ss_mem_mode_get(void);

/* A secret scope on this thread (nestable).  Cheap: a thread-local counter. */
void ss_mem_enter(void);
void ss_mem_leave(void);

/* SS_MEM_SHARED fallback for a long-lived block (an AEAD context): mark the
 * pages under block p MADV_DONTDUMP while it lives.  Returns the size
 * covered, to be passed to ss_mem_unhide after the block was freed; 0 when
 * the block's size cannot be told (the program's own allocator) or madvise
 * failed: then nothing is hidden. */
size_t ss_mem_hide(void *p);
void ss_mem_unhide(void *p, size_t size);

/* Overwrite with zeros the stack the AEAD code below the caller just used.
 * OpenSSL's ChaCha20 (its SIMD and C code alike) builds the cipher state —
 * the key words — in its own stack frame and returns without clearing it,
 * so every thread that sealed or opened a record kept keys of every
 * generation in the dead part of its stack, where a core dump takes them
 * (tests/security/s50-core-dump, ChaCha20-Poly1305; AES-GCM keeps its
 * schedule in registers and the context, and is not burnt for).  Called
 * right after the calls that did the work, from the same frame: this
 * function's frame lies over theirs.  SS_MEM_BURN bytes cover the
 * provider's and the assembly's frames with room to spare. */
enum { SS_MEM_BURN = 4096 };
void ss_mem_burn_stack(void);

/* SS_MEM_SHARED fallback: wipe every copy of each of the n values (vals[i],
 * lens[i] bytes) found in the OpenSSL block p, when OpenSSL's allocator is
 * its default (glibc malloc, so malloc_usable_size(p) is the block).
 * Returns how many copies were wiped; 0 when it cannot tell the block. */
size_t ss_mem_scrub_block(void *p, const void *const *vals, const size_t *lens, size_t n);

#endif
