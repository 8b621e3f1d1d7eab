/* pol_value.c — the value syntax every key shares: comma lists, names,
 * paths, durations and sizes, read and written back the way a policy file
 * spells them (secsock-policy(5) "Values").
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "pol_internal.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Split a comma list into trimmed items in place.  false on an empty item
 * or more than max items. */
bool pol_split_list(char *v, char **items, int *n, int max)
{
	*n = 0;
	char *s = v;
	for (;;) {
		char *c = strchr(s, ',');
		if (c)
			*c = '\0';
		while (is_blank(*s))
			s++;
		char *e = s + strlen(s);
		while (e > s && is_blank(e[-1]))
			*--e = '\0';
		if (*s == '\0' || *n >= max)
			return false;
		items[(*n)++] = s;
		if (!c)
			return true;
		s = c + 1;
	}
}

/* Letters, digits, '-', '_', '.'; 1 to max-1 characters. */
bool pol_valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n >= max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

/* Digits only (no sign, no spaces); false on overflow. */
bool pol_parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		unsigned dgt = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - dgt) / 10)
			return false;
		v = v * 10 + dgt;
	}
	*out = v;
	return true;
}

/* Limit every duration and size so callers can add them to clocks and
 * counters without overflow: 2^40 ms is about 34 years, 2^60 bytes 1 EiB. */
#define DURATION_MAX_MS (UINT64_C(1) << 40)
#define SIZE_MAX_BYTES (UINT64_C(1) << 60)

static const struct { const char *u; uint64_t mul; } dur_units[] = {
	{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
};

/* "300ms", "10s", "5m", "2h", "1d"; "0" alone.  Units are case-sensitive
 * (m = minutes, M = mebibytes in sizes) and required: "10" is refused. */
bool pol_parse_duration(const char *s, uint64_t *ms)
{
	size_t nd = strspn(s, "0123456789");
	uint64_t v;
	if (!pol_parse_u64(s, nd, &v))
		return false;
	if (s[nd] == '\0') {
		if (v != 0)
			return false;
		*ms = 0;
		return true;
	}
	for (size_t i = 0; i < sizeof dur_units / sizeof dur_units[0]; i++)
		if (strcmp(s + nd, dur_units[i].u) == 0) {
			if (v > DURATION_MAX_MS / dur_units[i].mul)
				return false;
			*ms = v * dur_units[i].mul;
			return true;
		}
	return false;
}

/* "55G", "512M", "1T", "4096" (bytes); K/M/G/T are powers of 1024. */
bool pol_parse_size(const char *s, uint64_t *bytes, bool need_unit)
{
	size_t nd = strspn(s, "0123456789");
	uint64_t v;
	if (!pol_parse_u64(s, nd, &v))
		return false;
	uint64_t mul;
	switch (s[nd]) {
	case '\0': mul = 1; if (need_unit && v != 0) return false; break;
	case 'K': mul = UINT64_C(1) << 10; break;
	case 'M': mul = UINT64_C(1) << 20; break;
	case 'G': mul = UINT64_C(1) << 30; break;
	case 'T': mul = UINT64_C(1) << 40; break;
	default: return false;
	}
	if (s[nd] != '\0' && s[nd + 1] != '\0')
		return false;
	if (v > SIZE_MAX_BYTES / mul)
		return false;
	*bytes = v * mul;
	return true;
}

/* The largest unit that divides ms exactly ("0" for zero): what
 * pol_parse_duration reads back as the same value. */
void pol_format_duration(char *b, size_t n, uint64_t ms)
{
	if (ms == 0) {
		snprintf(b, n, "0");
		return;
	}
	for (size_t i = sizeof dur_units / sizeof dur_units[0]; i-- > 0;)
		if (ms % dur_units[i].mul == 0) {
			snprintf(b, n, "%" PRIu64 "%s", ms / dur_units[i].mul, dur_units[i].u);
			return;
		}
}

void pol_format_size(char *b, size_t n, uint64_t v)
{
	static const char units[] = "TGMK";
	for (int i = 0; i < 4; i++) {
		uint64_t mul = UINT64_C(1) << (10 * (4 - i));
		if (v != 0 && v % mul == 0) {
			snprintf(b, n, "%" PRIu64 "%c", v / mul, units[i]);
			return;
		}
	}
	snprintf(b, n, "%" PRIu64, v);
}

bool pol_copy_path(char *dst, size_t cap, const char *v)
{
	if (v[0] != '/' || strlen(v) >= cap)
		return false;
	snprintf(dst, cap, "%s", v);
	return true;
}

int pol_find_word(const char *v, const char *const *words, int n)
{
	for (int i = 0; i < n; i++)
		if (words[i] && strcmp(v, words[i]) == 0)
			return i;
	return -1;
}
