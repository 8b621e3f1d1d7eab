/* fuzz_peers.c — libFuzzer target for the known-peers file parser
 * (core/base/ss_peers.c): arbitrary bytes must never crash, leak or read
 * out of bounds; an accepted file must format every line back into text
 * that parses to the same entries (what `secsock peers` writes is what a
 * reader accepts), and lookups on it must work. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ss_peers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ss_peers *p = NULL, *q = NULL;
	char err[256];
	if (ss_peers_parse((const char *)data, size, &p, err, sizeof err) != SS_OK)
		return 0;
	size_t n = ss_peers_count(p), cap = n * 512 + 1, used = 0;
	char *text = malloc(cap);
	if (!text)
		abort();
	for (size_t i = 0; i < n; i++) {
		const ss_peer *e = ss_peers_at(p, i);
		size_t w = ss_peer_format(e, text + used, cap - used);
		if (w == 0)
			abort();
		used += w;
		const ss_peer *hit = NULL;
		if (ss_peers_check(p, e->addr, e->port ? e->port : 1, e->fp, &hit) == SS_PIN_UNKNOWN || !hit)
			abort();   /* a line always covers its own address */
	}
	if (ss_peers_parse(text, used, &q, err, sizeof err) != SS_OK || ss_peers_count(q) != n)
		abort();
	for (size_t i = 0; i < n; i++) {
		const ss_peer *a = ss_peers_at(p, i), *b = ss_peers_at(q, i);
		if (memcmp(a->addr, b->addr, 16) || a->prefix != b->prefix || a->port != b->port ||
		    strcmp(a->names, b->names) || strcmp(a->fp, b->fp))
			abort();
	}
	ss_peers_free(q);
	ss_peers_free(p);
	free(text);
	return 0;
}
