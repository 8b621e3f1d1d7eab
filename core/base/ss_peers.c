/* ss_peers.c — fingerprints and the known-peers file (see ss_peers.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sodium.h>
#include "ss_peers.h"

struct ss_peers {
	ss_peer *v;
	size_t n, cap;
};

enum { LINE_MAX_CHARS = 1024, FP_B64 = 43 };

void ss_fingerprint(const uint8_t pub[32], char out[SS_FP_LEN])
{
	uint8_t h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, pub, 32);
	memcpy(out, "SHA256:", 7);
	sodium_bin2base64(out + 7, SS_FP_LEN - 7, h, sizeof h, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}

int ss_fingerprint_valid(const char *s)
{
	uint8_t h[crypto_hash_sha256_BYTES];
	size_t got = 0;
	const char *end = NULL;
	if (strncmp(s, "SHA256:", 7) != 0 || strlen(s + 7) != FP_B64)
		return 0;
	if (sodium_base642bin(h, sizeof h, s + 7, FP_B64, NULL, &got, &end,
	                      sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0)
		return 0;
	return got == sizeof h && end == s + 7 + FP_B64;
}

int ss_peers_addr(const char *text, uint8_t out[16])
{
	struct in_addr a4;
	if (inet_pton(AF_INET6, text, out) == 1)
		return 0;
	if (inet_pton(AF_INET, text, &a4) != 1)
		return -1;
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, &a4, 4);
	return 0;
}

static int is_v4(const uint8_t a[16])
{
	static const uint8_t pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	return memcmp(a, pfx, 12) == 0;
}

static int covers(const ss_peer *e, const uint8_t a[16])
{
	unsigned bits = e->prefix, full = bits / 8, rest = bits % 8;
	if (memcmp(e->addr, a, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (e->addr[full] & mask) == (a[full] & mask);
}

/* "ADDR" or "ADDR/P" into e->addr/prefix (host bits must be zero). */
static const char *parse_addr(char *w, ss_peer *e)
{
	char *slash = strchr(w, '/');
	unsigned long p = 0;
	if (slash) {
		char *end;
		*slash = '\0';
		if (!isdigit((unsigned char)slash[1]))
			return "bad prefix length";
		p = strtoul(slash + 1, &end, 10);
		if (*end != '\0')
			return "bad prefix length";
	}
	if (ss_peers_addr(w, e->addr) != 0)
		return "not an IPv4 or IPv6 address";
	if (is_v4(e->addr) && !strchr(w, ':')) {
		if (slash && p > 32)
			return "IPv4 prefix length above 32";
		e->prefix = (uint8_t)(slash ? 96 + p : 128);
	} else {
		if (slash && p > 128)
			return "IPv6 prefix length above 128";
		e->prefix = (uint8_t)(slash ? p : 128);
	}
	uint8_t probe[16];
	memcpy(probe, e->addr, 16);
	for (unsigned b = e->prefix; b < 128; b++)
		probe[b / 8] &= (uint8_t)~(0x80 >> (b % 8));
	if (memcmp(probe, e->addr, 16) != 0)
		return "address has bits set beyond the prefix length";
	return NULL;
}

static const char *parse_names(const char *v, ss_peer *e)
{
	size_t n = strlen(v);
	if (n == 0 || n >= sizeof e->names)
		return "names= needs 1 to 255 characters";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (!isalnum(c) && !strchr("-._*,:", c))
			return "names= holds host names (letters, digits, '-', '.', '_', '*', ':') separated by commas";
		if (c == ',' && (i == 0 || i == n - 1 || v[i + 1] == ','))
			return "names= has an empty name";
	}
	memcpy(e->names, v, n + 1);
	return NULL;
}

/* One non-comment line (NUL-terminated, modified). */
static const char *parse_line(char *s, ss_peer *e)
{
	char *w[4], *save = NULL;
	int nw = 0;
	const char *why;

	for (char *t = strtok_r(s, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (nw == 4)
			return "too many fields (ADDRESS[/PREFIX] [port=N] [names=...] FINGERPRINT)";
		w[nw++] = t;
	}
	if (nw < 2)
		return "needs an address and a fingerprint";
	memset(e, 0, sizeof *e);
	if ((why = parse_addr(w[0], e)) != NULL)
		return why;
	for (int i = 1; i < nw - 1; i++) {
		if (strncmp(w[i], "port=", 5) == 0 && !e->port) {
			char *end;
			unsigned long p = strtoul(w[i] + 5, &end, 10);
			if (!isdigit((unsigned char)w[i][5]) || *end || p == 0 || p > 65535)
				return "port= needs 1 to 65535";
			e->port = (uint16_t)p;
		} else if (strncmp(w[i], "names=", 6) == 0 && !e->names[0]) {
			if ((why = parse_names(w[i] + 6, e)) != NULL)
				return why;
		} else {
			return "unknown or repeated field (port=N, names=A,B)";
		}
	}
	if (!ss_fingerprint_valid(w[nw - 1]))
		return "the last field must be a fingerprint (SHA256: and 43 base64 characters)";
	memcpy(e->fp, w[nw - 1], SS_FP_LEN);
	return NULL;
}

static int same_key(const ss_peer *a, const ss_peer *b)
{
	return a->prefix == b->prefix && a->port == b->port && memcmp(a->addr, b->addr, 16) == 0;
}

ss_status ss_peers_parse(const char *text, size_t n, ss_peers **out, char *err, size_t errn)
{
	ss_peers *p = calloc(1, sizeof *p);
	char line[LINE_MAX_CHARS + 1];
	size_t i = 0;
	int num = 0;
	const char *why = NULL;

	*out = NULL;
	if (err && errn)
		err[0] = '\0';
	if (!p)
		return SS_INSUFFICIENT_MEMORY;
	if (n > SS_PEERS_FILE_MAX) {
		why = "file too large";
		goto bad;
	}
	while (i < n) {
		size_t len = 0;
		num++;
		while (i < n && text[i] != '\n') {
			if (text[i] == '\0') {
				why = "NUL byte (not a text file)";
				goto bad;
			}
			if (len == LINE_MAX_CHARS) {
				why = "line too long";
				goto bad;
			}
			line[len++] = text[i++];
		}
		i++;   /* the newline */
		line[len] = '\0';
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		char *s = line + strspn(line, " \t");
		if (*s == '\0' || *s == '#')
			continue;
		if (p->n == SS_PEERS_MAX_LINES) {
			why = "too many lines";
			goto bad;
		}
		if (p->n == p->cap) {
			size_t cap = p->cap ? p->cap * 2 : 16;
			ss_peer *v = realloc(p->v, cap * sizeof *v);
			if (!v) {
				ss_peers_free(p);
				return SS_INSUFFICIENT_MEMORY;
			}
			p->v = v;
			p->cap = cap;
		}
		ss_peer *e = &p->v[p->n];
		if ((why = parse_line(s, e)) != NULL)
			goto bad;
		e->line = num;
		for (size_t j = 0; j < p->n; j++)
			if (same_key(&p->v[j], e)) {
				snprintf(err, errn, "line %d: the same address and port as line %d", num, p->v[j].line);
				ss_peers_free(p);
				return SS_DECODE_ERROR;
			}
		p->n++;
	}
	*out = p;
	return SS_OK;
bad:
	if (err && errn)
		snprintf(err, errn, "line %d: %s", num, why);
	ss_peers_free(p);
	return SS_DECODE_ERROR;
}

void ss_peers_free(ss_peers *p)
{
	if (!p)
		return;
	free(p->v);
	free(p);
}

size_t ss_peers_count(const ss_peers *p)
{
	return p ? p->n : 0;
}

const ss_peer *ss_peers_at(const ss_peers *p, size_t i)
{
	return p && i < p->n ? &p->v[i] : NULL;
}

ss_pin ss_peers_check(const ss_peers *p, const uint8_t addr[16], uint16_t port, const char *fp,
                      const ss_peer **line)
{
	const ss_peer *best = NULL;

	for (size_t i = 0; p && i < p->n; i++) {
		const ss_peer *e = &p->v[i];
		if ((e->port && e->port != port) || !covers(e, addr))
			continue;
		if (!best || e->prefix > best->prefix || (e->prefix == best->prefix && e->port && !best->port))
			best = e;
	}
	if (line)
		*line = best;
	if (!best)
		return SS_PIN_UNKNOWN;
	return fp && strcmp(best->fp, fp) == 0 ? SS_PIN_MATCH : SS_PIN_MISMATCH;
}

int ss_name_matches(const char *pat, size_t plen, const char *name, size_t nlen)
{
	if (nlen > 0 && name[nlen - 1] == '.')
		nlen--;   /* an absolute name "a.example." is "a.example" */
	if (plen == 0 || nlen == 0)
		return 0;
	for (;;) {
		const char *pd = memchr(pat, '.', plen), *nd = memchr(name, '.', nlen);
		size_t pl = pd ? (size_t)(pd - pat) : plen, nl = nd ? (size_t)(nd - name) : nlen;

		if (nl == 0 || (pd == NULL) != (nd == NULL))
			return 0;
		if (!(pl == 1 && pat[0] == '*') && (pl != nl || strncasecmp(pat, name, pl) != 0))
			return 0;
		if (pd == NULL)
			return 1;
		pat += pl + 1, plen -= pl + 1;
		name += nl + 1, nlen -= nl + 1;
	}
}

int ss_peer_has_name(const ss_peer *e, const char *name)
{
	char buf[SS_PEERS_NAMES_MAX], *save = NULL;

	if (!e || !name || !*name)
		return 0;
	snprintf(buf, sizeof buf, "%s", e->names);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (ss_name_matches(t, strlen(t), name, strlen(name)))
			return 1;
	return 0;
}

size_t ss_peer_format(const ss_peer *e, char *out, size_t n)
{
	char a[INET6_ADDRSTRLEN], pfx[8] = "", port[16] = "", names[SS_PEERS_NAMES_MAX + 8] = "";
	int w;

	if (is_v4(e->addr)) {
		inet_ntop(AF_INET, e->addr + 12, a, sizeof a);
		if (e->prefix != 128)
			snprintf(pfx, sizeof pfx, "/%u", e->prefix - 96u);
	} else {
		inet_ntop(AF_INET6, e->addr, a, sizeof a);
		if (e->prefix != 128)
			snprintf(pfx, sizeof pfx, "/%u", e->prefix);
	}
	if (e->port)
		snprintf(port, sizeof port, " port=%u", e->port);
	if (e->names[0])
		snprintf(names, sizeof names, " names=%s", e->names);
	w = snprintf(out, n, "%s%s%s%s %s\n", a, pfx, port, names, e->fp);
	return w > 0 && (size_t)w < n ? (size_t)w : 0;
}
