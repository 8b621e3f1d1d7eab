/* pre_log_rate.c — at most N lines per peer and event per interval
 * (SECSOCK_LOG_RATE=N/SECONDS, default 10/10, 0 = no limit).
 *
 * What is limited: audit events at notice and above that name a peer — the
 * lines a peer can make a process write by default (a plain client hammering
 * a `require` server, a scanner, a man in the middle).  Info and debug lines
 * are asked for and are never dropped: an admin who sets SECSOCK_LOG=info
 * gets one "secured" line per connection.  The key is the peer's address
 * without its port (a client's port changes with every connection) and the
 * event's name, so one noisy peer cannot hide another peer's lines, nor its
 * refusals its pin mismatch.
 *
 * A window starts with a key's first line and lasts the interval; its first
 * N lines are written, the rest counted.  The count is reported in one
 * "suppressed K similar lines" line at the key's next line after the window
 * ended, at any other event after that (the sweep below), when its slot is
 * taken over, or at exit — never lost, never added to.
 *
 * Bounded: 64 slots, open addressing with an 8-slot probe window; a full
 * window gives its oldest slot to the new key (reporting its count first).
 * One mutex, held for a few comparisons only, never while writing.  fork:
 * pthread_atfork holds the mutex across it, and the child starts with an
 * empty table (the counts are the parent's to report); a child made without
 * atfork handlers (_Fork, a raw clone) drops the counts it finds under
 * another pid the same way.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "pre_log_int.h"

enum { SLOTS = 64, PROBE = 8 };

struct slot {
	char event[16];
	char host[64];
	int level;
	int64_t start;         /* ms, CLOCK_MONOTONIC; 0 = empty */
	unsigned count;        /* lines written in this window */
	unsigned long supp;    /* lines counted, not written */
};

static struct slot slots[SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t table_pid;
static unsigned rate_n = 10;
static int64_t rate_ms = 10000;
static atomic_int pending;   /* slots with supp > 0: the sweep runs only then */
static char words[48] = "10 per 10 s";

void pre_log_rate_config(const char *v)
{
	char *end;
	unsigned long n, s = 10;

	if (!v || !*v)
		return;
	n = strtoul(v, &end, 10);
	if (*end == '/') {
		s = strtoul(end + 1, &end, 10);
		if (*end == 's')
			end++;
	}
	if (*end || n > 1000000 || s == 0 || s > 86400)
		return;   /* not understood: the default stays */
	rate_n = (unsigned)n;
	rate_ms = (int64_t)s * 1000;
	snprintf(words, sizeof words, "%lu per %lu s", n, s);
}

const char *pre_log_rate_words(void)
{
	return words;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "127.0.0.1:80" -> "127.0.0.1", "[::1]:80" -> "[::1]". */
static void host_of(const char *peer, char *h, size_t len)
{
	const char *end = peer[0] == '[' ? strchr(peer, ']') : strrchr(peer, ':');
	size_t n = end ? (size_t)(end - peer) + (peer[0] == '[') : strlen(peer);

	if (n >= len)
		n = len - 1;
	memcpy(h, peer, n);
	h[n] = '\0';
}

static unsigned hash(const char *a, const char *b)
{
	/* FNV-1a: spreads keys over the table; collisions cost a probe */
	uint32_t h = 2166136261u;
	for (; *a; a++)
		h = (h ^ (uint8_t)*a) * 16777619u;
	for (; *b; b++)
		h = (h ^ (uint8_t)*b) * 16777619u;
	return h % SLOTS;
}

/* Move slot s's count into out (lock held). */
static void take(struct slot *s, struct pre_log_supp *out, int *nout)
{
	if (!s->supp)
		return;
	if (*nout < PRE_LOG_SUPP_MAX) {
		struct pre_log_supp *p = &out[(*nout)++];
		snprintf(p->event, sizeof p->event, "%s", s->event);
		snprintf(p->host, sizeof p->host, "%s", s->host);
		p->level = s->level;
		p->count = s->supp;
		s->supp = 0;
		atomic_fetch_sub(&pending, 1);
	}
}

/* Counts of windows that ended, up to what out has room for (lock held). */
static void sweep(int64_t now, int all, struct pre_log_supp *out, int *nout)
{
	if (!atomic_load(&pending))
		return;
	for (unsigned i = 0; i < SLOTS && *nout < PRE_LOG_SUPP_MAX; i++)
		if (slots[i].supp && (all || now - slots[i].start >= rate_ms))
			take(&slots[i], out, nout);
}

static void own_table(void)
{
	pid_t me = getpid();
	if (table_pid != me) {
		memset(slots, 0, sizeof slots);
		atomic_store(&pending, 0);
		table_pid = me;
	}
}

int pre_log_rate_admit(const struct pre_event *ev, int level, struct pre_log_supp *out, int *nout)
{
	char host[64];
	int64_t now;
	unsigned h, victim;
	int admit = 1;

	*nout = 0;
	if (!rate_n || !ev->name)
		return 1;
	if ((level > PRE_LOG_INFO || !ev->peer || !ev->peer[0]) && !atomic_load(&pending))
		return 1;   /* not limited, nothing to report: no lock (a debug line) */
	now = now_ms();
	pthread_mutex_lock(&lock);
	own_table();
	if (level > PRE_LOG_INFO || !ev->peer || !ev->peer[0]) {
		sweep(now, 0, out, nout);
		pthread_mutex_unlock(&lock);
		return 1;
	}
	host_of(ev->peer, host, sizeof host);
	h = hash(ev->name, host);
	victim = h;
	for (unsigned i = 0; i < PROBE; i++) {
		struct slot *s = &slots[(h + i) % SLOTS];
		if (s->start && !strncmp(s->event, ev->name, sizeof s->event - 1) && !strcmp(s->host, host)) {
			if (now - s->start >= rate_ms) {
				take(s, out, nout);   /* the window ended: its count first */
				s->start = now;
				s->count = 0;
			}
			if (s->count < rate_n) {
				s->count++;
			} else {
				if (!s->supp++)
					atomic_fetch_add(&pending, 1);
				admit = 0;
			}
			goto done;
		}
		if (!s->start || (slots[victim].start && s->start < slots[victim].start))
			victim = (h + i) % SLOTS;
	}
	take(&slots[victim], out, nout);   /* the slot goes to this key: its count first */
	if (slots[victim].supp) {          /* (no room in out: dropped, not misattributed) */
		slots[victim].supp = 0;
		atomic_fetch_sub(&pending, 1);
	}
	snprintf(slots[victim].event, sizeof slots[victim].event, "%s", ev->name);
	snprintf(slots[victim].host, sizeof slots[victim].host, "%s", host);
	slots[victim].level = level;
	slots[victim].start = now;
	slots[victim].count = 1;
done:
	sweep(now, 0, out, nout);
	pthread_mutex_unlock(&lock);
	return admit;
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&lock);
}

static void fork_child(void)
{
	memset(slots, 0, sizeof slots);
	atomic_store(&pending, 0);
	table_pid = getpid();
	pthread_mutex_unlock(&lock);
}

__attribute__((constructor)) static void rate_atfork(void)
{
	(void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* exit(): what was counted and not yet reported is reported now.  Nothing
 * counted: not a system call (a bypassed program makes exactly the calls it
 * makes without us, tests/integration/53-bypass-quiet.sh). */
__attribute__((destructor)) static void rate_exit(void)
{
	struct pre_log_supp out[PRE_LOG_SUPP_MAX];
	int n;

	if (!atomic_load(&pending))
		return;
	do {
		n = 0;
		pthread_mutex_lock(&lock);
		own_table();
		sweep(0, 1, out, &n);
		pthread_mutex_unlock(&lock);
		for (int i = 0; i < n; i++)
			pre_log_suppressed(&out[i]);
	} while (n == PRE_LOG_SUPP_MAX);
}
