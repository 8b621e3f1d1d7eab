/* ss_gkdi_int.h — the client key cache's entry and table, private to core/.
 *
 * Shared by the cache (ss_gkdi_cache.c) and its store (ss_gkdi_store.c),
 * which writes and rebuilds entries field by field; nothing else may look
 * inside a cache (ss_gkdi.h keeps the type opaque).
 */
#ifndef SS_GKDI_INT_H
#define SS_GKDI_INT_H

#include "ss_gkdi.h"

typedef struct entry {
	char *domain;
	uint8_t *sd;
	size_t sd_len;
	ss_guid rkid;
	ss_gkid gkid;
	ss_gkdi_hash hash;
	int is_public, current;
	uint8_t *l1, *l2;      /* sodium_malloc'd; l2 holds the public key if is_public */
	size_t l2_len;
} entry;

struct ss_gkdi_cache {
	entry *e[SS_GKDI_CACHE_MAX];
	size_t n;
};

/* From ss_gkdi_cache.c, so the store builds entries as the cache does. */
void ss_gkdi_entry_free(entry *e);                    /* NULL is fine; keys wiped */
uint8_t *ss_gkdi_secure_copy(const uint8_t *p, size_t n);   /* sodium_malloc'd copy */
/* Append as the newest; the oldest entry makes room when full. */
void ss_gkdi_cache_add(ss_gkdi_cache *c, entry *e);

#endif
