/* pol_internal.h — the compiled form of a policy, shared by the policy sources only.
 *
 * A policy is parsed once into this structure and never changed afterwards,
 * so pol_decide() can walk it from any thread without locks.  The match part
 * of every rule is kept in one contiguous array (pol_match) so a lookup over
 * many rules touches few cache lines; the settings live beside it.
 */
#ifndef POL_INTERNAL_H
#define POL_INTERNAL_H

#include "pol.h"

#include "pol_keys.h"

struct pol_cidr4 {
	uint32_t addr, mask;   /* host byte order, addr already masked */
	uint8_t bits;
};
struct pol_cidr6 {
	uint64_t hi, lo, mhi, mlo;   /* address and mask as two host-order halves */
	uint8_t bits;
};
struct pol_range {
	uint16_t lo, hi;       /* inclusive */
};

/* What a rule matches.  An empty list means "any". */
struct pol_match {
	uint8_t protocol;      /* pol_protocol */
	uint8_t direction;     /* pol_direction */
	uint16_t n_ports, n_v4, n_v6, n_programs;
	bool any_remote;       /* no remote key, or "any" */
	struct pol_range *ports;
	struct pol_cidr4 *v4;
	struct pol_cidr6 *v6;
	char **programs;
};

struct pol_rule {
	char name[POL_NAME_MAX];
	int line;                      /* line of the [rule NAME] header */
	uint64_t set;                  /* bit k: key k was given in this section */
	int key_line[PK_COUNT_];
	pol_action action;
	pol_settings own;              /* values given in this section */
	pol_settings eff;              /* built-in < defaults < own */
};

/* Indexes, so a lookup does not try every rule.  Each one gives, for a
 * query, a superset of the rules that can match it, in ascending rule
 * order: the candidates of the interval holding the query's port (or
 * address) merged with the rules that match any port (address).  A lookup
 * takes the shorter of the port and the address candidate lists and tries
 * rule_matches() on each in order, so the first candidate that matches is
 * the first rule that matches — first-match semantics are unchanged, and
 * direction, protocol and program are still checked by rule_matches().
 *
 * Port index: the port space cut at every range edge into intervals; for
 * each interval the indices of the rules whose port list covers it, plus one
 * list of rules without a port key. */
struct pol_pindex {
	int k;                 /* number of intervals; 0 = no port index */
	uint16_t *start;       /* start[i]: first port of interval i; start[0] = 0 */
	uint32_t *off;         /* ids[off[i] .. off[i+1]) belong to interval i */
	uint32_t *ids;
	uint32_t *wild;        /* rules with no port key */
	uint32_t n_wild;
};

/* An address as a 128-bit number (IPv4: hi = 0, lo = the address). */
struct pol_a128 {
	uint64_t hi, lo;
};

/* Address index, one per family: the family's address space cut at every
 * prefix edge (first address, last address + 1) into intervals; for each
 * interval the indices of the rules with a prefix of this family covering
 * it, plus `wild`: rules that match every address of the family (no remote
 * key or "any", or a /0 prefix of the family).  A rule with only prefixes
 * of the other family is in neither: it cannot match. */
struct pol_aindex {
	int k;                 /* number of intervals; 0 = no index for this family */
	struct pol_a128 *start;
	uint32_t *off;
	uint32_t *ids;
	uint32_t *wild;
	uint32_t n_wild;
};

struct pol_index {
	struct pol_pindex port;
	struct pol_aindex v4, v6;
};

struct pol_policy {
	char *name;                    /* file name or "built-in default" */
	struct pol_rule defaults;      /* [defaults]: set/own/eff; eff is what applies without a rule */
	bool have_defaults;
	struct pol_rule **rules;       /* in file order */
	struct pol_match *match;       /* match[i] belongs to rules[i] */
	int n_rules, cap_rules;
	struct pol_index *index;       /* NULL: linear scan */
};

/* The built-in values (what applies when neither a rule nor [defaults] sets
 * a key).  They equal the embedded default's [defaults] section; a test
 * keeps the two in step. */
void pol_builtin_settings(pol_settings *s);
pol_action pol_builtin_action(void);

/* The value syntax (pol_value.c). */
bool pol_split_list(char *v, char **items, int *n, int max);
bool pol_valid_name(const char *s, size_t max);
bool pol_parse_u64(const char *s, size_t n, uint64_t *out);
bool pol_parse_duration(const char *s, uint64_t *ms);
bool pol_parse_size(const char *s, uint64_t *bytes, bool need_unit);
void pol_format_duration(char *b, size_t n, uint64_t ms);
void pol_format_size(char *b, size_t n, uint64_t v);
bool pol_copy_path(char *dst, size_t cap, const char *v);
int pol_find_word(const char *v, const char *const *words, int n);
/* Parse text; diags are added to, not reset.  NULL on any error. */
pol_policy *pol_parse_text(const char *text, const char *name, pol_diags *d);

/* diagnostics */
void pol_diag_add(pol_diags *d, bool warning, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The stages of pol_compile (pol_compile.c): parse text into sections
 * (above), resolve every section's effective settings, check each section,
 * check the rules against each other (shadowing).  Checks add to d. */
pol_policy *pol_compile(const char *text, const char *name, pol_diags *d);
void pol_resolve(pol_policy *p);
void pol_check_sections(const pol_policy *p, pol_diags *d);
void pol_check_rules(pol_policy *p, pol_diags *d);

/* Build / free p->index (no index when memory is short or an index would be
 * larger than it is worth: lookups scan).  Each part may be missing. */
void pol_index_build(pol_policy *p);
void pol_index_free(struct pol_index *ix);

/* Does match m cover everything match n covers? (for shadowing) */
bool pol_match_contains(const struct pol_match *m, const struct pol_match *n);

#endif
