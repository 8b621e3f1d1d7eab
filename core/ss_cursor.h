/* ss_cursor.h — one bounds-checked reader for untrusted bytes (core/ only).
 *
 * Every parser of peer bytes in core/ goes through this cursor instead of
 * doing pointer arithmetic itself (the s2n-tls "stuffer" idea): a read either
 * succeeds completely or fails without moving, and the cursor never reads
 * beyond buf[len - 1].  Integers are big-endian (RFC 8446 §3.3).
 */
#ifndef SS_CURSOR_H
#define SS_CURSOR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ss_status.h"

typedef struct ss_cur {
	const uint8_t *buf;
	size_t len;
	size_t off;
} ss_cur;

/* A parser's refusal: the reason into why[why_len] (when given) and
 * SS_DECODE_ERROR, so a refusal is one `return ss_cur_fail(...)`. */
__attribute__((format(printf, 3, 4)))
static inline ss_status ss_cur_fail(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;
	if (why && why_len) {
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	return SS_DECODE_ERROR;
}

static inline ss_cur ss_cur_make(const uint8_t *buf, size_t len)
{
	ss_cur c = { buf, buf ? len : 0, 0 };
	return c;
}

static inline size_t ss_cur_left(const ss_cur *c)
{
	return c->len - c->off;
}

/* Read an n-byte (n <= 4) big-endian integer. 1 on success, 0 when short. */
static inline int ss_cur_uint(ss_cur *c, size_t n, uint32_t *v)
{
	uint32_t x = 0;
	if (n > 4 || ss_cur_left(c) < n)
		return 0;
	for (size_t i = 0; i < n; i++)
		x = (x << 8) | c->buf[c->off + i];
	c->off += n;
	*v = x;
	return 1;
}

static inline int ss_cur_skip(ss_cur *c, size_t n)
{
	if (ss_cur_left(c) < n)
		return 0;
	c->off += n;
	return 1;
}

/* A sub-cursor over the next n bytes; the parent moves past them. */
static inline int ss_cur_sub(ss_cur *c, size_t n, ss_cur *sub)
{
	if (ss_cur_left(c) < n)
		return 0;
	*sub = ss_cur_make(c->buf + c->off, n);
	c->off += n;
	return 1;
}

/* Sub-cursor over a vector with an nlen-byte length prefix (RFC 8446 §3.4). */
static inline int ss_cur_vec(ss_cur *c, size_t nlen, ss_cur *sub)
{
	ss_cur save = *c;
	uint32_t n;
	if (!ss_cur_uint(c, nlen, &n) || !ss_cur_sub(c, n, sub)) {
		*c = save;
		return 0;
	}
	return 1;
}

/* Do the remaining bytes equal s[0..n)? (does not move) */
static inline int ss_cur_equals(const ss_cur *c, const void *s, size_t n)
{
	return ss_cur_left(c) == n && (n == 0 || memcmp(c->buf + c->off, s, n) == 0);
}

#endif
