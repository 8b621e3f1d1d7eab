/* pol_compile.c — the one path from policy text to a policy in force:
 * parse (pol_parse.c) -> resolve (built-in < [defaults] < rule) -> check
 * (each section, then the rules against each other: pol_check.c) -> index
 * (pol_match.c).  Files (pol_file.c), strings and the embedded default
 * (pol_default.c) all come through here.
 */
#include <string.h>
#include "pol_internal.h"

pol_policy *pol_compile(const char *text, const char *name, pol_diags *d)
{
	int errors_before = d->errors;
	pol_policy *p = pol_parse_text(text, name, d);
	if (p == NULL)
		return NULL;
	pol_resolve(p);
	pol_check_sections(p, d);
	if (d->errors == errors_before)
		pol_check_rules(p, d);
	if (d->errors != errors_before) {
		pol_free(p);
		return NULL;
	}
	pol_index_build(p);
	return p;
}

pol_policy *pol_load_string(const char *text, const char *name, pol_diags *diags)
{
	pol_diags local;
	pol_diags *d = diags ? diags : &local;
	memset(d, 0, sizeof *d);
	if (name == NULL)
		name = "(string)";
	if (text == NULL) {
		pol_diag_add(d, false, "%s: no policy text", name);
		return NULL;
	}
	return pol_compile(text, name, d);
}
