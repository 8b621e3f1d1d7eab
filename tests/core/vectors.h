/* vectors.h — test-only reader for the flat JSON vector files in
 * tests/vectors (RFC 8448 values, copied into the repository so a plain
 * clone tests itself); $SECSOCK_VECTORS names the directory, default
 * tests/vectors relative to the repository root the tests run from.
 *
 * The files are one object of "name": "hex" pairs plus one nested object of
 * integers ("sequence_numbers").  This is deliberately not a JSON parser: it
 * finds a quoted key followed by ':' and reads a string or an unsigned
 * integer, which is all these files use.  Tests fail loudly on a missing key.
 */
#ifndef SS_TEST_VECTORS_H
#define SS_TEST_VECTORS_H

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct vec_file {
	char *text;
	size_t len;
} vec_file;

/* Read $SECSOCK_VECTORS/<name> (or tests/vectors/<name>). */
static inline int vec_load(vec_file *vf, const char *name)
{
	const char *root = getenv("SECSOCK_VECTORS");
	char path[4096];
	FILE *f;
	long n;

	memset(vf, 0, sizeof *vf);
	if (!root || !*root)
		root = "tests/vectors";
	snprintf(path, sizeof path, "%s/%s", root, name);
	f = fopen(path, "rb");
	if (!f)
		return -1;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return -1;
	}
	vf->text = malloc((size_t)n + 1);
	if (!vf->text || fread(vf->text, 1, (size_t)n, f) != (size_t)n) {
		free(vf->text);
		vf->text = NULL;
		fclose(f);
		return -1;
	}
	fclose(f);
	vf->text[n] = '\0';
	vf->len = (size_t)n;
	return 0;
}

static inline void vec_free(vec_file *vf)
{
	free(vf->text);
	vf->text = NULL;
}

/* Pointer to the first non-space character of the value of "key", searching
 * from `from`; NULL when absent. */
static inline const char *vec_value(const char *from, const char *key)
{
	size_t kl = strlen(key);
	const char *p = from;

	while ((p = strchr(p, '"')) != NULL) {
		if (strncmp(p + 1, key, kl) == 0 && p[1 + kl] == '"') {
			const char *q = p + 2 + kl;
			while (isspace((unsigned char)*q))
				q++;
			if (*q == ':') {
				q++;
				while (isspace((unsigned char)*q))
					q++;
				return q;
			}
		}
		p++;
	}
	return NULL;
}

/* Hex string value of a top-level key, decoded into a malloc'd buffer. */
static inline uint8_t *vec_hex(const vec_file *vf, const char *key, size_t *len)
{
	const char *p = vf->text;
	const char *end;
	uint8_t *out;
	size_t n;

	*len = 0;
	for (;;) {
		p = vec_value(p, key);
		if (!p)
			return NULL;
		if (*p == '"')
			break;          /* a string value (skips the integer twin) */
	}
	p++;
	end = strchr(p, '"');
	if (!end || (end - p) % 2)
		return NULL;
	n = (size_t)(end - p) / 2;
	out = malloc(n ? n : 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (!isxdigit((unsigned char)p[2 * i]) || !isxdigit((unsigned char)p[2 * i + 1]) ||
		    sscanf(p + 2 * i, "%2x", &v) != 1) {
			free(out);
			return NULL;
		}
		out[i] = (uint8_t)v;
	}
	*len = n;
	return out;
}

/* Unsigned integer value of `key` inside the object named `section`;
 * -1 when absent. */
static inline long vec_int(const vec_file *vf, const char *section, const char *key)
{
	const char *p = vec_value(vf->text, section);

	if (!p || *p != '{')
		return -1;
	p = vec_value(p, key);
	if (!p || !isdigit((unsigned char)*p))
		return -1;
	return strtol(p, NULL, 10);
}

#endif
