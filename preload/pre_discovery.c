/* pre_discovery.c — fixed-size discovery cache (pre_discovery.h).
 *
 * 256 entries, open addressing by hash with a short probe window, oldest
 * entry replaced when the window is full.  Consulted only while a connection
 * is being set up; a mutex suffices.  IPv4-mapped IPv6 addresses are folded
 * to IPv4 so both spellings of one peer share an entry.  Every
 * entry is also written to the user's shared store (pre_disc_store.c), and
 * a miss here is looked up there, so a verdict one process paid for is
 * known to the user's other processes (docs/design.md "First contact").
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include "pre_disc_store.h"
#include "pre_discovery.h"
#include "pre_log.h"
#include "pre_sock.h"

enum { DISC_SLOTS = 256, DISC_PROBE = 8 };

struct disc_key {
	uint8_t addr[16];
	uint16_t port;
	uint8_t v6;
	uint8_t secsock;     /* 0: known clear; 1: known to speak secsock */
};
struct disc_entry {
	struct disc_key k;
	int64_t expires;     /* 0 = empty */
};
static struct disc_entry table[DISC_SLOTS];
static pthread_mutex_t disc_lock = PTHREAD_MUTEX_INITIALIZER;

static int make_key(const struct sockaddr_storage *ss, bool with_port, struct disc_key *k)
{
	memset(k, 0, sizeof *k);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		memcpy(k->addr, &s->sin_addr, 4);
		k->port = with_port ? s->sin_port : 0;
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
			memcpy(k->addr, &s->sin6_addr.s6_addr[12], 4);
		} else {
			memcpy(k->addr, &s->sin6_addr, 16);
			k->v6 = 1;
		}
		k->port = with_port ? s->sin6_port : 0;
	} else {
		return -1;
	}
	return 0;
}

static unsigned hash(const struct disc_key *k)
{
	/* FNV-1a: the table is a cache, not a defence; collisions only cost a probe. */
	uint32_t h = 2166136261u;
	const uint8_t *p = (const uint8_t *)k;
	for (size_t i = 0; i < sizeof *k; i++)
		h = (h ^ p[i]) * 16777619u;
	return h % DISC_SLOTS;
}

static void note(struct disc_key k, int64_t ttl_ms);
static void forget_key(const struct disc_key *k);
static struct disc_entry *find(const struct disc_key *k, int64_t now);
static void put_local(const struct disc_key *k, int64_t expires);

/* The key's file name in the shared store: its bytes in hex.  Only
 * outbound verdicts (address and port) are shared: an inbound one is keyed
 * by the client's address alone, and shared it would let one plain client
 * make every server of the user skip server-first-wait for all clients of
 * that host (on loopback, for every local secsock client). */
static void store_name(const struct disc_key *k, char name[2 * sizeof(struct disc_key) + 2])
{
	static const char hx[] = "0123456789abcdef";
	const uint8_t *p = (const uint8_t *)k;
	size_t i;

	name[0] = 'd';
	for (i = 0; i < sizeof *k; i++) {
		name[1 + 2 * i] = hx[p[i] >> 4];
		name[2 + 2 * i] = hx[p[i] & 15];
	}
	name[1 + 2 * sizeof *k] = 0;
}

/* find(), then the shared store: a stored verdict is copied here with the
 * time it has left.  disc_lock held. */
static struct disc_entry *lookup(const struct disc_key *k, int64_t now)
{
	struct disc_entry *e = find(k, now);
	char name[2 * sizeof(struct disc_key) + 2];
	int64_t exp, left;

	if (e || !k->port)
		return e;   /* inbound verdicts (address only) stay per process: see store_name */
	if (!k->secsock) {
		/* Known here to speak secsock: no file look for "clear" on every
		 * connect (a stale positive entry corrects itself, pre_connect.c). */
		struct disc_key sk = *k;
		sk.secsock = 1;
		if (find(&sk, now))
			return NULL;
	}
	store_name(k, name);
	if (!pre_disc_store_get(name, k->secsock ? PRE_DISC_KIND_SECSOCK : PRE_DISC_KIND_CLEAR, &exp))
		return NULL;
	left = exp - pre_disc_real_ms();
	if (left <= 0)
		return NULL;
	put_local(k, now + left);
	return find(k, now);
}

void pre_discovery_clear(const struct sockaddr_storage *peer, bool with_port, const pol_settings *s,
                         int evidence, bool audit, const struct pre_event *ev, const char *local)
{
	struct disc_key k;
	int64_t now = pre_now_ms(), ttl = 0;
	bool was_secsock = false;
	int in = ev->dir && !strcmp(ev->dir, "inbound");

	if (make_key(peer, with_port, &k) == 0) {
		pthread_mutex_lock(&disc_lock);
		if (evidence != PRE_DISC_CACHED) {
			struct disc_key sk = k;
			sk.secsock = 1;
			/* A peer that spoke secsock a moment ago and now "answers in
			 * clear" was more likely interfered with than changed: the
			 * answer counts for no more than a reset, and it is a
			 * downgrade sign (below). */
			was_secsock = with_port && lookup(&sk, now) != NULL;
			if (evidence == PRE_DISC_PROVEN && was_secsock)
				evidence = PRE_DISC_UNPROVEN;
			if (with_port)
				forget_key(&sk);   /* it does not speak secsock (any more) */
			ttl = !s ? 0 : evidence == PRE_DISC_PROVEN ? (int64_t)s->discovery_clear_ttl_ms
			                                           : (int64_t)s->discovery_unproven_ttl_ms;
		}
		pthread_mutex_unlock(&disc_lock);
		if (ttl > 0)
			note(k, ttl);
	}
	/* A fallback under request is what an admin must see: notice, the
	 * default level (pre_log_rate.c bounds it per peer). */
	pre_event(audit ? PRE_LOG_NOTICE : PRE_LOG_INFO, ev, "clear %s %s %s %s rule=%s reason=\"%s\"",
	          in ? "inbound" : "outbound", local, in ? "<-" : "->", ev->peer, ev->rule, ev->reason);
	if (was_secsock && audit) {
		struct pre_event dg = *ev;
		dg.name = PRE_EV_DOWNGRADE;
		pre_event(PRE_LOG_WARN, &dg, "downgrade? %s %s %s %s rule=%s: the peer completed a secsock "
		          "handshake in the last %d min and now goes clear (%s): an attacker on the path, or the "
		          "peer stopped speaking secsock", in ? "inbound" : "outbound", local, in ? "<-" : "->",
		          ev->peer, ev->rule, PRE_DISCOVERY_SECSOCK_TTL_MS / 60000, ev->reason);
	}
}

void pre_discovery_note_secsock(const struct sockaddr_storage *peer)
{
	struct disc_key k;

	if (make_key(peer, true, &k) < 0)
		return;
	pthread_mutex_lock(&disc_lock);
	forget_key(&k);      /* no longer a clear peer */
	pthread_mutex_unlock(&disc_lock);
	k.secsock = 1;
	note(k, PRE_DISCOVERY_SECSOCK_TTL_MS);
}

bool pre_discovery_is_secsock(const struct sockaddr_storage *peer)
{
	struct disc_key k;
	bool hit;

	if (make_key(peer, true, &k) < 0)
		return false;
	k.secsock = 1;
	pthread_mutex_lock(&disc_lock);
	hit = lookup(&k, pre_now_ms()) != NULL;
	pthread_mutex_unlock(&disc_lock);
	return hit;
}

static void put_local(const struct disc_key *k, int64_t expires)
{
	unsigned h = hash(k), victim = h;

	for (unsigned i = 0; i < DISC_PROBE; i++) {
		struct disc_entry *e = &table[(h + i) % DISC_SLOTS];
		if (e->expires && !memcmp(&e->k, k, sizeof *k)) {
			victim = (h + i) % DISC_SLOTS;
			break;
		}
		if (e->expires < table[victim].expires)
			victim = (h + i) % DISC_SLOTS;
	}
	table[victim].k = *k;
	table[victim].expires = expires;
}

static void note(struct disc_key k, int64_t ttl_ms)
{
	char name[2 * sizeof(struct disc_key) + 2];

	if (ttl_ms > PRE_DISC_STORE_MAX_TTL_MS)
		ttl_ms = PRE_DISC_STORE_MAX_TTL_MS;
	store_name(&k, name);
	pthread_mutex_lock(&disc_lock);
	struct disc_entry *e = find(&k, pre_now_ms());
	/* Written already, and for a while yet: every secured connection
	 * renews its verdict, the store need not hear it each time. */
	int fresh = e && e->expires - pre_now_ms() > ttl_ms / 2;
	put_local(&k, pre_now_ms() + ttl_ms);
	if (k.port && !fresh)
		pre_disc_store_put(name, k.secsock ? PRE_DISC_KIND_SECSOCK : PRE_DISC_KIND_CLEAR,
		                   pre_disc_real_ms() + ttl_ms);
	pthread_mutex_unlock(&disc_lock);
}

/* disc_lock held.  The stored copy goes too (another process's verdict
 * that this one just found wrong). */
static void forget_key(const struct disc_key *k)
{
	struct disc_entry *e = find(k, pre_now_ms());
	char name[2 * sizeof(struct disc_key) + 2];

	if (e)
		e->expires = 0;
	/* The stored copy: always for "speaks secsock" (a stale one refuses
	 * nothing, but sends the next connection the background way); for
	 * "clear" when this process knew it (it looks in the store first). */
	if (!k->port || (!e && !k->secsock))
		return;
	store_name(k, name);
	pre_disc_store_del(name);
}

static struct disc_entry *find(const struct disc_key *k, int64_t now)
{
	unsigned h = hash(k);
	for (unsigned i = 0; i < DISC_PROBE; i++) {
		struct disc_entry *e = &table[(h + i) % DISC_SLOTS];
		if (e->expires > now && !memcmp(&e->k, k, sizeof *k))
			return e;
	}
	return NULL;
}

bool pre_discovery_is_clear(const struct sockaddr_storage *peer, bool with_port)
{
	struct disc_key k;
	bool hit;

	if (make_key(peer, with_port, &k) < 0)
		return false;
	pthread_mutex_lock(&disc_lock);
	hit = lookup(&k, pre_now_ms()) != NULL;
	pthread_mutex_unlock(&disc_lock);
	return hit;
}

void pre_discovery_forget(const struct sockaddr_storage *peer, bool with_port)
{
	struct disc_key k;

	if (make_key(peer, with_port, &k) < 0)
		return;
	pthread_mutex_lock(&disc_lock);
	forget_key(&k);
	pthread_mutex_unlock(&disc_lock);
}

void pre_discovery_forget_secsock(const struct sockaddr_storage *peer)
{
	struct disc_key k;

	if (make_key(peer, true, &k) < 0)
		return;
	k.secsock = 1;
	pthread_mutex_lock(&disc_lock);
	forget_key(&k);
	pthread_mutex_unlock(&disc_lock);
}
