/* kds_config.c — the service's INI file (secsock-kds(8)), read with inih
 * like the policy file:
 *   [kds]          listen = HOST:PORT[, ...]   store = DIR   domain = NAME
 *                  timeout = SECONDS           max-clients = N
 *   [group NAME]   sd = HEX    members = ID[, ID ...]   (the key may repeat)
 * An unknown section or key is an error, so a typo never serves a group
 * to the wrong hosts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>
#include <sodium.h>

#include "kds.h"

struct load {
	struct kds_config *c;
	char *why;
	size_t why_len;
	const char *path;
};

static char *trim(char *s)
{
	char *e;
	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* Call add(item) for each comma-separated non-empty item of v. */
static int each_item(const char *v, int (*add)(struct load *, void *, const char *),
                     struct load *L, void *arg)
{
	char *copy = strdup(v), *save = NULL, *tok;
	int rc = 0;
	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save))
		if (*trim(tok))
			rc = add(L, arg, trim(tok));
	free(copy);
	return rc;
}

static int add_listen(struct load *L, void *arg, const char *item)
{
	struct kds_config *c = L->c;
	(void)arg;
	if (c->n_listen >= KDS_LISTEN_MAX || !strrchr(item, ':'))
		return -1;
	c->listen[c->n_listen] = strdup(item);
	return c->listen[c->n_listen++] ? 0 : -1;
}

static int add_member(struct load *L, void *arg, const char *item)
{
	struct kds_group *g = arg;
	char **m;
	(void)L;
	if (g->n_members >= KDS_MEMBERS_MAX || strlen(item) >= KDS_ID_MAX)
		return -1;
	m = realloc(g->members, (g->n_members + 1) * sizeof *m);
	if (!m)
		return -1;
	g->members = m;
	m[g->n_members] = strdup(item);
	return m[g->n_members++] ? 0 : -1;
}

static struct kds_group *group_for(struct kds_config *c, const char *section)
{
	const char *name = section + 6;   /* after "group " */
	struct kds_group *g;
	size_t n = strlen(name);
	if (n < 1 || n > SS_KDS_GROUP_MAX || strspn(name, "abcdefghijklmnopqrstuvwxyz"
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
		return NULL;
	for (size_t i = 0; i < c->n_groups; i++)
		if (!strcmp(c->groups[i].name, name))
			return &c->groups[i];
	if (c->n_groups >= KDS_GROUPS_MAX)
		return NULL;
	g = realloc(c->groups, (c->n_groups + 1) * sizeof *g);
	if (!g)
		return NULL;
	c->groups = g;
	g = &c->groups[c->n_groups++];
	memset(g, 0, sizeof *g);
	memcpy(g->name, name, n + 1);
	return g;
}

static int set_sd(struct kds_group *g, const char *hex)
{
	size_t n = strlen(hex), got;
	if (g->sd || n == 0 || n % 2 || n / 2 > SS_GKDI_SD_MAX)
		return -1;
	g->sd = malloc(n / 2);
	if (!g->sd || sodium_hex2bin(g->sd, n / 2, hex, n, NULL, &got, NULL) != 0 || got != n / 2)
		return -1;
	g->sd_len = got;
	return 0;
}

static int set_kds(struct kds_config *c, struct load *L, const char *key, const char *v)
{
	char *end;
	long n;
	if (!strcmp(key, "listen"))
		return each_item(v, add_listen, L, NULL);
	if (!strcmp(key, "store") || !strcmp(key, "domain")) {
		char **slot = key[0] == 's' ? &c->store : &c->domain;
		free(*slot);
		*slot = strdup(v);
		return *slot && **slot ? 0 : -1;
	}
	if (!strcmp(key, "timeout") || !strcmp(key, "max-clients")) {
		errno = 0;
		n = strtol(v, &end, 10);
		if (errno || *end || n < 1 || n > 100000)
			return -1;
		if (key[0] == 't')
			c->timeout_ms = (int)n * 1000;
		else
			c->max_clients = (int)n;
		return 0;
	}
	return -1;
}

static int on_key(void *user, const char *section, const char *key, const char *value)
{
	struct load *L = user;
	struct kds_group *g;
	int rc = -1;

	if (!strcmp(section, "kds"))
		rc = set_kds(L->c, L, key, value);
	else if (!strncmp(section, "group ", 6) && (g = group_for(L->c, section)) != NULL) {
		if (!strcmp(key, "sd"))
			rc = set_sd(g, value);
		else if (!strcmp(key, "members"))
			rc = each_item(value, add_member, L, g);
	}
	if (rc != 0 && L->why[0] == '\0')
		snprintf(L->why, L->why_len, "[%s] %s = %.60s: not valid here", section, key, value);
	return rc == 0;
}

int kds_config_load(const char *path, struct kds_config *c, char *why, size_t why_len)
{
	struct load L = { c, why, why_len, path };
	char inner[200] = "";
	int line;

	memset(c, 0, sizeof *c);
	c->timeout_ms = 10000;
	c->max_clients = 256;
	L.why = inner;
	L.why_len = sizeof inner;
	if (sodium_init() < 0)
		return snprintf(why, why_len, "libsodium failed to start"), -1;
	line = ini_parse(path, on_key, &L);
	if (line < 0)
		return snprintf(why, why_len, "%s: cannot read", path), kds_config_free(c), -1;
	if (line > 0)
		return snprintf(why, why_len, "%s:%d: %s", path, line, inner[0] ? inner : "syntax error"),
		       kds_config_free(c), -1;
	if (!c->n_listen || !c->store)
		return snprintf(why, why_len, "%s: [kds] needs listen and store", path),
		       kds_config_free(c), -1;
	for (size_t i = 0; i < c->n_groups; i++)
		if (!c->groups[i].sd)
			return snprintf(why, why_len, "%s: [group %s] has no sd", path, c->groups[i].name),
			       kds_config_free(c), -1;
	if (!c->domain && !(c->domain = strdup("secsock.invalid")))
		return snprintf(why, why_len, "out of memory"), kds_config_free(c), -1;
	return 0;
}

void kds_config_free(struct kds_config *c)
{
	for (size_t i = 0; i < c->n_listen; i++)
		free(c->listen[i]);
	for (size_t i = 0; i < c->n_groups; i++) {
		for (size_t j = 0; j < c->groups[i].n_members; j++)
			free(c->groups[i].members[j]);
		free(c->groups[i].members);
		free(c->groups[i].sd);
	}
	free(c->groups);
	free(c->store);
	free(c->domain);
	memset(c, 0, sizeof *c);
}

const struct kds_group *kds_config_group(const struct kds_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_groups; i++)
		if (!strcmp(c->groups[i].name, name))
			return &c->groups[i];
	return NULL;
}

int kds_group_has(const struct kds_group *g, const char *identity)
{
	for (size_t i = 0; identity[0] && i < g->n_members; i++)
		if (!strcmp(g->members[i], identity))
			return 1;
	return 0;
}
