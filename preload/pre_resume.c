/* pre_resume.c — ticket keys and client associations (see pre_resume.h). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "pre_core.h"
#include "pre_log.h"
#include "pre_resume.h"
#include "pre_resume_store.h"
#include "pre_secmem.h"
#include "pre_sock.h"
#include "pre_sym.h"

enum { ASSOC_MAX = 32 };

/* What a client keeps between its handshake and the server's ticket. */
struct pre_res {
	uint8_t secret[SS_RESUME_SECRET_MAX];
	size_t secret_len;
	ss_resume_id id;
	struct sockaddr_storage peer;
	char rule[64], target[256];
};

struct assoc {
	int used;
	struct sockaddr_storage peer;
	char rule[64], target[256];
	ss_resume_entry e;
};

static ss_ticket_keys *keys;        /* sodium_malloc'd: locked, out of core dumps */
static struct assoc *assocs;        /* sodium_malloc'd, ASSOC_MAX */
static pthread_mutex_t assoc_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char env_scope[16];  /* BLAKE2b of what resolves this process's credential paths */

/* The per-user store is shared by every process of the user, and those may
 * hold different credentials: another XDG_CONFIG_HOME or HOME is another
 * default host key, another policy file other settings.  An association
 * proves the identity it was made with, so in the store it is keyed by the
 * rule's settings and that environment as well as by the rule's name — a
 * process never resumes as an identity its own credentials do not hold.
 * The environment is read once at start (programs rewrite environ later). */
static void env_scope_init(void)
{
	static const char *const vars[] = { "XDG_CONFIG_HOME", "HOME" };
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, sizeof env_scope);
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
		const char *v = getenv(vars[i]);
		crypto_generichash_update(&st, (const unsigned char *)(v ? v : ""), v ? strlen(v) + 1 : 0);
		crypto_generichash_update(&st, (const unsigned char *)"|", 1);
	}
	crypto_generichash_final(&st, env_scope, sizeof env_scope);
}

/* "RULE/HEX": the store's rule key for settings s (see env_scope). */
static void store_rule(const pol_settings *s, const char *rule, char *out, size_t n)
{
	unsigned char h[16];
	char hex[2 * sizeof h + 1];
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, sizeof h);
	crypto_generichash_update(&st, env_scope, sizeof env_scope);
	crypto_generichash_update(&st, (const unsigned char *)s, sizeof *s);
	crypto_generichash_final(&st, h, sizeof h);
	sodium_bin2hex(hex, sizeof hex, h, sizeof h);
	snprintf(out, n, "%s/%s", rule, hex);
}

static void lock_fn(void) { pthread_mutex_lock(&assoc_lock); }
static void unlock_fn(void) { pthread_mutex_unlock(&assoc_lock); }

void pre_resume_init(void)
{
	if (sodium_init() < 0)
		return;
	env_scope_init();
	keys = sodium_malloc(sizeof *keys);
	assocs = sodium_malloc(ASSOC_MAX * sizeof *assocs);
	if (!keys || !assocs) {
		sodium_free(keys);
		sodium_free(assocs);
		keys = NULL;
		assocs = NULL;
		return;
	}
	memset(keys, 0, sizeof *keys);
	memset(assocs, 0, ASSOC_MAX * sizeof *assocs);
	randombytes_buf(keys->master, sizeof keys->master);
	pthread_atfork(lock_fn, unlock_fn, unlock_fn);
}

const ss_ticket_keys *pre_resume_keys(void)
{
	return keys;
}

static int same(const struct assoc *s, const struct sockaddr_storage *p, const char *rule, const char *target)
{
	return s->used && !memcmp(&s->peer, p, sizeof *p) && !strcmp(s->rule, rule) && !strcmp(s->target, target);
}

/* Reuse at all for this connection: a secsock peer (tickets are secsock's),
 * a rule with a session lifetime, and no PSK method (a PSK handshake is
 * already as cheap as a resumed one). */
static int reusable(const struct pre_conn *c)
{
	const pol_settings *s = pre_conn_settings(c);
	if (!assocs || s->peer != POL_PEER_SECSOCK || s->session_lifetime_ms < 1000)
		return 0;
	for (int i = 0; i < s->n_auth; i++)
		if (s->auth[i].method == SS_AUTH_PSK)
			return 0;
	return 1;
}

static uint32_t secs(uint64_t ms)
{
	return ms / 1000 > UINT32_MAX ? UINT32_MAX : (uint32_t)(ms / 1000);
}

int pre_resume_usable(const ss_resume_entry *e, uint64_t lifetime_ms, uint64_t idle_ms, int64_t now)
{
	return ss_resume_fresh(&e->id, now, secs(lifetime_ms), secs(idle_ms)) &&
	       now - e->id.last_used < (int64_t)e->lifetime;
}

void pre_resume_offer(struct pre_conn *c, int fd, const char *target)
{
	const pol_settings *s = pre_conn_settings(c);
	const char *rule = c->rule ? c->rule : "defaults";
	struct sockaddr_storage p;
	ss_resume_entry *e;
	int64_t now = (int64_t)time(NULL);

	if (c->ctx || !c->cred || !reusable(c) || pre_conn_peer(c, fd, &p) < 0)
		return;
	e = pre_secret_alloc(sizeof *e);
	if (!e)
		return;
	int found = 0;
	pthread_mutex_lock(&assoc_lock);
	for (int i = 0; i < ASSOC_MAX && !found; i++) {
		struct assoc *a = &assocs[i];
		if (!same(a, &p, rule, target ? target : ""))
			continue;
		if (pre_resume_usable(&a->e, s->session_lifetime_ms, s->idle_timeout_ms, now)) {
			*e = a->e;
			found = 1;
		} else {
			sodium_memzero(a, sizeof *a);   /* expired: forgotten */
		}
	}
	pthread_mutex_unlock(&assoc_lock);
	/* none in this process: one another process of this user left */
	if (!found) {
		char srule[128];
		store_rule(s, rule, srule, sizeof srule);
		found = pre_resume_store_get(&p, srule, target ? target : "", s->session_lifetime_ms,
		                             s->idle_timeout_ms, e);
	}
	if (found && ss_ctx_client_new(c->cred, target, &c->ctx) == SS_OK &&
	    ss_ctx_set_resume(c->ctx, e) != SS_OK) {
		ss_ctx_free(c->ctx);   /* the rule no longer takes its method: a full handshake */
		c->ctx = NULL;
	}
	pre_secret_free(e);   /* wipes */
}

void pre_resume_established(struct pre_conn *c, int fd, uint8_t *ticket, size_t cap, size_t *len)
{
	*len = 0;
	if (!reusable(c))
		return;
	if (c->dir == POL_DIR_INBOUND) {
		if (ss_ctx_ticket(c->ctx, ticket, cap, len) != SS_OK)
			*len = 0;
		return;
	}
	struct pre_res *r = pre_secret_alloc(sizeof *r);
	const char *target = pre_conn_target(c);
	if (!r)
		return;
	memset(r, 0, sizeof *r);
	if (ss_ctx_resume_secret(c->ctx, r->secret, sizeof r->secret, &r->secret_len, &r->id) != SS_OK ||
	    pre_conn_peer(c, fd, &r->peer) < 0) {
		pre_secret_free(r);
		return;
	}
	snprintf(r->rule, sizeof r->rule, "%s", c->rule ? c->rule : "defaults");
	snprintf(r->target, sizeof r->target, "%s", target ? target : "");
	pre_resume_drop(c);
	c->res = r;
}

void pre_resume_ticket(struct pre_conn *c)
{
	uint8_t msg[SS_REC_TICKET_MAX];
	size_t n;
	ss_resume_entry *e;
	struct pre_res *r = c->res;

	if (!r || !c->rec || (n = ss_rec_take_ticket(c->rec, msg, sizeof msg)) == 0)
		return;
	e = pre_secret_alloc(sizeof *e);
	if (e && ss_resume_entry_make(r->secret, r->secret_len, msg, n, &r->id, e) == SS_OK) {
		struct assoc *slot = NULL;
		pthread_mutex_lock(&assoc_lock);
		/* the association for this peer, rule and name; else a free
		 * slot; else the one used longest ago */
		for (int i = 0; i < ASSOC_MAX; i++) {
			struct assoc *a = &assocs[i];
			if (same(a, &r->peer, r->rule, r->target)) {
				slot = a;
				break;
			}
			if (!slot || (slot->used && (!a->used || a->e.id.last_used < slot->e.id.last_used)))
				slot = a;
		}
		slot->used = 1;
		slot->peer = r->peer;
		memcpy(slot->rule, r->rule, sizeof slot->rule);
		memcpy(slot->target, r->target, sizeof slot->target);
		slot->e = *e;
		pthread_mutex_unlock(&assoc_lock);
		char srule[128];
		store_rule(pre_conn_settings(c), r->rule, srule, sizeof srule);
		pre_resume_store_put(&r->peer, srule, r->target, e);
	}
	sodium_memzero(msg, sizeof msg);
	if (e)
		pre_secret_free(e);
	pre_resume_drop(c);   /* one ticket per handshake is all we need */
}

void pre_resume_drop(struct pre_conn *c)
{
	if (c->res) {
		pre_secret_free(c->res);   /* wipes */
		c->res = NULL;
	}
}
