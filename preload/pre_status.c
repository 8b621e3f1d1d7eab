/* pre_status.c — this process's status segment (pre_status.h).
 *
 * Where: $XDG_RUNTIME_DIR/secsock/status/PID for a user, /run/secsock/status/
 * PID for root; every directory on the way that we make is 0700, and each
 * is used only when it is a directory of the effective uid that nobody
 * else can enter (checked through the descriptor we opened, O_NOFOLLOW, as
 * the discovery store does).  No XDG_RUNTIME_DIR: nothing is published (a
 * shared /tmp fallback would need the same checks and would outlive the
 * login session; `secsock status` says why it sees nothing).
 *
 * The file is mapped MAP_SHARED once and never unmapped while the process
 * runs: a connection keeps the index of its slot (c->st_slot, + 1), so a
 * later update is one sequence-locked store with no lookup.  fork and a
 * failed exec give the segment a new file in place (rehome: the current
 * contents are written to a new file that is mapped MAP_FIXED over the old
 * mapping), so no pointer into it ever dangles.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "ss_cred.h"
#include "ss_statseg.h"
#include "pre_log.h"
#include "pre_sock.h"
#include "pre_status.h"
#include "pre_sym.h"

static void *_Atomic seg;          /* the mapping, or NULL */
static int seg_tried;              /* under seg_mu: 1 once creation was attempted */
static int seg_unlinked;           /* before_exec removed the file */
static pthread_mutex_t seg_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint cursor;         /* where the next free-slot search starts */
static char dir_path[200];

static int64_t real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int private_dir_fd(int d)
{
	struct stat st;
	return fstat(d, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	       (st.st_mode & 077) == 0;
}

/* The status directory, made if needed and checked; an O_DIRECTORY fd or -1. */
static int dir_open(void)
{
	char p[sizeof dir_path];
	const char *x = geteuid() == 0 ? "/run" : secure_getenv("XDG_RUNTIME_DIR");
	int n, d = -1;

	if (!x || x[0] != '/')
		return -1;
	n = snprintf(p, sizeof p, "%s/secsock", x);
	if (n < 0 || (size_t)n >= sizeof p)
		return -1;
	for (int level = 0; level < 2; level++) {
		if (level == 1)
			strcat(p, "/status");
		(void)mkdir(p, 0700);
		if (d >= 0)
			REAL(close)(d);
		d = REAL(open)[0](p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (d < 0 || !private_dir_fd(d)) {
			if (d >= 0)
				REAL(close)(d);
			if (!dir_path[0])
				pre_log(PRE_LOG_INFO, "status: %s is not a private directory of uid %lu; "
				        "connections are not published", p, (unsigned long)geteuid());
			return -1;
		}
	}
	snprintf(dir_path, sizeof dir_path, "%s", p);
	return d;
}

/* /proc/self/stat field 22 (starttime): with the pid, names this process
 * among every process that ever had the number. */
static uint64_t start_time(void)
{
	char buf[1024], *p;
	unsigned long long v = 0;
	int f = REAL(open)[0]("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (f < 0)
		return 0;
	n = REAL(read)(f, buf, sizeof buf - 1);
	REAL(close)(f);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	/* after ")": state is field 3, starttime field 22 */
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p && sscanf(p + 1, "%llu", &v) != 1)
		v = 0;
	return v;
}

/* A new file for getpid() holding `from` (SS_STATUS_HEAD + hi slots), or
 * zeros; the fd of the file, or -1. */
static int file_new(const void *from, uint32_t hi)
{
	char name[24];
	int d = dir_open(), f;

	if (d < 0)
		return -1;
	snprintf(name, sizeof name, "%ld", (long)getpid());
	f = REAL(openat)[0](d, name, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	REAL(close)(d);
	if (f < 0)
		return -1;
	if (ftruncate(f, SS_STATUS_SIZE) < 0 ||
	    (from && pwrite(f, from, SS_STATUS_HEAD + (size_t)hi * SS_STATUS_SLOT, 0) < 0)) {
		REAL(close)(f);
		return -1;
	}
	return f;
}

static void head_init(struct ss_status_head *h)
{
	h->magic = SS_STATUS_MAGIC;
	h->version = SS_STATUS_VERSION;
	h->head_size = SS_STATUS_HEAD;
	h->slot_size = SS_STATUS_SLOT;
	h->nslots = SS_STATUS_SLOTS;
	h->pid = (int32_t)getpid();
	h->start_time = start_time();
	h->started_ms = real_ms();
	snprintf(h->program, sizeof h->program, "%s", pre_program() ? pre_program() : "?");
}

static void *seg_get(void)
{
	void *m = atomic_load_explicit(&seg, memory_order_acquire);
	int f;

	if (m || seg_tried)
		return m;
	pthread_mutex_lock(&seg_mu);
	if (!seg_tried) {
		seg_tried = 1;
		f = file_new(NULL, 0);
		if (f >= 0) {
			m = mmap(NULL, SS_STATUS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
			REAL(close)(f);
			if (m != MAP_FAILED) {
				head_init(m);
				atomic_store_explicit(&seg, m, memory_order_release);
			}
		}
	}
	pthread_mutex_unlock(&seg_mu);
	return atomic_load_explicit(&seg, memory_order_acquire);
}

/* Contents of the mapping into a new file for getpid(), mapped in place.
 * 0, or -1 (the mapping is then private and anonymous: nothing published,
 * and every slot index stays valid). */
static int rehome(void *m)
{
	struct ss_status_head *h = m;
	uint32_t hi = atomic_load(&h->hi);
	int f = file_new(m, hi < SS_STATUS_SLOTS ? hi : SS_STATUS_SLOTS);
	void *r = MAP_FAILED;

	if (f >= 0) {
		r = mmap(m, SS_STATUS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, f, 0);
		REAL(close)(f);
	}
	if (r == MAP_FAILED) {
		(void)mmap(m, SS_STATUS_SIZE, PROT_READ | PROT_WRITE,
		           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		return -1;
	}
	return 0;
}

static struct ss_status_slot *slot_of(const struct pre_conn *c)
{
	void *m = atomic_load_explicit(&seg, memory_order_acquire);
	return m && c->st_slot > 0 ? ss_status_slot_at(m, (unsigned)c->st_slot - 1) : NULL;
}

/* A clear slot whose descriptor is gone (or is another file now). */
static int clear_gone(const struct ss_status_slot *s)
{
	struct stat st;
	return fstat(s->fd, &st) != 0 || (uint64_t)st.st_ino != s->ino;
}

/* Claim a slot: a free one, else a refused record or a dead clear entry. */
static int slot_claim(void *m)
{
	struct ss_status_head *h = m;
	unsigned start = atomic_fetch_add(&cursor, 1);

	for (int pass = 0; pass < 2; pass++)
		for (unsigned k = 0; k < SS_STATUS_SLOTS; k++) {
			unsigned i = (start + k) % SS_STATUS_SLOTS;
			struct ss_status_slot *s = ss_status_slot_at(m, i);
			uint8_t kind = atomic_load(&s->kind);

			if (kind != SS_ST_FREE &&
			    (pass == 0 || !(kind == SS_ST_REFUSED || (kind == SS_ST_CLEAR && clear_gone(s)))))
				continue;
			if (!atomic_compare_exchange_strong(&s->kind, &kind, SS_ST_CLAIMED))
				continue;
			for (uint32_t hi = atomic_load(&h->hi);
			     i + 1 > hi && !atomic_compare_exchange_weak(&h->hi, &hi, i + 1);)
				;
			return (int)i;
		}
	h->unpublished++;
	return -1;
}

static void names(struct ss_status_slot *s, int fd)
{
	char l[PRE_LOG_ADDR_LEN], r[PRE_LOG_ADDR_LEN];
	struct stat st;

	if (fd < 0)
		return;
	pre_log_names(fd, NULL, l, r, NULL);
	if (strcmp(l, "?") != 0)
		snprintf(s->local, sizeof s->local, "%s", l);
	if (strcmp(r, "?") != 0)
		snprintf(s->remote, sizeof s->remote, "%s", r);
	if (fstat(fd, &st) == 0) {
		s->fd = fd;
		s->ino = (uint64_t)st.st_ino;
	}
}

static unsigned state_of(int st)
{
	switch (st) {
	case PRE_SECURED:
		return SS_STS_SECURED;
	case PRE_CLEAR:
		return SS_STS_CLEAR;
	case PRE_FAILED:
		return SS_STS_FAILED;
	default:
		return SS_STS_HANDSHAKE;
	}
}

/* Fill a claimed slot from c. */
static void slot_fill(struct ss_status_slot *s, const struct pre_conn *c)
{
	ss_status_wlock(s);
	memset((char *)s + sizeof s->seq + sizeof s->kind, 0,
	       sizeof *s - sizeof s->seq - sizeof s->kind);
	s->fd = -1;
	s->state = (uint8_t)state_of(atomic_load(&c->state));
	s->outbound = c->dir == POL_DIR_OUTBOUND;
	s->created_ms = s->changed_ms = real_ms();
	snprintf(s->rule, sizeof s->rule, "%s", c->rule ? c->rule : "defaults");
	snprintf(s->action, sizeof s->action, "%s", pol_action_name((pol_action)c->action));
	names(s, c->st_fd - 1);
	atomic_store(&s->kind, SS_ST_CONN);
	ss_status_wunlock(s);
}

/* c gets a slot when it has none and its state is past "new". */
static void track(struct pre_conn *c, int force)
{
	void *m;
	int i;

	if (c->st_slot || (!force && atomic_load(&c->state) == PRE_NEW) || !(m = seg_get()))
		return;
	i = slot_claim(m);
	if (i < 0)
		return;
	slot_fill(ss_status_slot_at(m, (unsigned)i), c);
	c->st_slot = i + 1;
}

void pre_status_fd(struct pre_conn *c, int fd)
{
	c->st_fd = fd + 1;
	track(c, 0);
}

static void count(unsigned state)
{
	struct ss_status_head *h = atomic_load(&seg);
	if (!h)
		return;
	if (state == SS_STS_SECURED)
		atomic_fetch_add(&h->n_secured, 1);
	else if (state == SS_STS_CLEAR)
		atomic_fetch_add(&h->n_clear, 1);
	else if (state == SS_STS_REFUSED)
		atomic_fetch_add(&h->n_refused, 1);
}

/* The secured connection's facts (pre_conn_secure set them). */
static void secured_facts(struct ss_status_slot *s, const struct pre_conn *c)
{
	snprintf(s->method, sizeof s->method, "%s", ss_auth_name((ss_auth)c->auth));
	snprintf(s->cipher, sizeof s->cipher, "%s", ss_suite_name(c->suite));
	snprintf(s->group, sizeof s->group, "%s", c->group ? ss_group_name(c->group) : "none");
	snprintf(s->peer, sizeof s->peer, "%s", c->peer ? c->peer : "anonymous");
	s->resumed = c->resumed;
	s->mutual = c->mutual;
}

void pre_status_state(struct pre_conn *c, int from, int to)
{
	struct ss_status_slot *s;
	unsigned st = state_of(to);

	if (from == to)
		return;
	track(c, 0);
	if (!(s = slot_of(c)) || atomic_load(&s->kind) != SS_ST_CONN)
		return;
	if (to == PRE_FAILED && from != PRE_SECURED && from != PRE_NEW)
		st = SS_STS_REFUSED;   /* torn down before it carried a byte */
	ss_status_wlock(s);
	if (to == PRE_NEW) {
		/* no TCP connection at all: the program may connect again */
		atomic_store(&s->kind, SS_ST_FREE);
		ss_status_wunlock(s);
		c->st_slot = 0;
		return;
	}
	s->state = (uint8_t)st;
	s->changed_ms = real_ms();
	if (to == PRE_SECURED)
		secured_facts(s, c);
	if (to == PRE_CLEAR || to == PRE_SECURED || !s->remote[0])
		names(s, c->st_fd - 1);   /* a clear retry is a fresh socket */
	if (to == PRE_CLEAR) {
		/* No longer ours: the entry lives while its descriptor does. */
		snprintf(s->method, sizeof s->method, "none");
		atomic_store(&s->kind, SS_ST_CLEAR);
		c->st_slot = -1;
	} else if (st == SS_STS_REFUSED) {
		snprintf(s->method, sizeof s->method, "none");
		atomic_store(&s->kind, SS_ST_REFUSED);
		c->st_slot = -1;   /* the record is the slot's now; it may be reused */
	}
	ss_status_wunlock(s);
	if (st != SS_STS_FAILED && st != SS_STS_HANDSHAKE)
		count(st);
}

void pre_status_refused(struct pre_conn *c, const char *l, const char *r)
{
	struct ss_status_slot *s;

	track(c, 1);
	if (!(s = slot_of(c)) || atomic_load(&s->kind) != SS_ST_CONN)
		return;   /* no slot, or already counted */
	ss_status_wlock(s);
	if (l && strcmp(l, "?") != 0)
		snprintf(s->local, sizeof s->local, "%s", l);
	if (r && strcmp(r, "?") != 0)
		snprintf(s->remote, sizeof s->remote, "%s", r);
	s->state = SS_STS_REFUSED;
	s->changed_ms = real_ms();
	snprintf(s->method, sizeof s->method, "none");
	atomic_store(&s->kind, SS_ST_REFUSED);
	ss_status_wunlock(s);
	c->st_slot = -1;
	count(SS_STS_REFUSED);
}

void pre_status_rekey(struct pre_conn *c)
{
	struct ss_status_slot *s = slot_of(c);

	if (!s)
		return;
	ss_status_wlock(s);
	s->rekey_ms = real_ms();
	s->rekeys++;
	ss_status_wunlock(s);
}

void pre_status_release(struct pre_conn *c)
{
	struct ss_status_slot *s = slot_of(c);
	uint8_t kind = SS_ST_CONN;

	c->st_slot = -1;
	if (s)
		atomic_compare_exchange_strong(&s->kind, &kind, SS_ST_FREE);
}

void pre_status_decided(int fd, int outbound, const char *rule, int action, int refused)
{
	void *m = seg_get();
	struct ss_status_slot *s;
	int i;

	if (!m || (i = slot_claim(m)) < 0)
		return;
	s = ss_status_slot_at(m, (unsigned)i);
	ss_status_wlock(s);
	memset((char *)s + sizeof s->seq + sizeof s->kind, 0,
	       sizeof *s - sizeof s->seq - sizeof s->kind);
	s->fd = -1;
	s->state = refused ? SS_STS_REFUSED : SS_STS_CLEAR;
	s->outbound = (uint8_t)(outbound != 0);
	s->created_ms = s->changed_ms = real_ms();
	snprintf(s->rule, sizeof s->rule, "%s", rule ? rule : "defaults");
	snprintf(s->action, sizeof s->action, "%s", pol_action_name((pol_action)action));
	snprintf(s->method, sizeof s->method, "none");
	names(s, fd);
	atomic_store(&s->kind, refused ? SS_ST_REFUSED : SS_ST_CLEAR);
	ss_status_wunlock(s);
	count(s->state);
}

void pre_status_atfork_child(void)
{
	struct ss_status_head *h = atomic_load(&seg);

	seg_mu = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	if (!h)
		return;
	/* The parent's mapping is shared with the parent: a new file first,
	 * before anything is written. */
	(void)rehome(h);
	h->pid = (int32_t)getpid();
	h->start_time = start_time();
	h->started_ms = real_ms();
	atomic_store(&h->n_secured, 0);
	atomic_store(&h->n_clear, 0);
	atomic_store(&h->n_refused, 0);
	for (unsigned i = 0; i < atomic_load(&h->hi) && i < SS_STATUS_SLOTS; i++) {
		struct ss_status_slot *s = ss_status_slot_at(h, i);
		if (atomic_load(&s->kind) == SS_ST_REFUSED)   /* the parent's records */
			atomic_store(&s->kind, SS_ST_FREE);
		atomic_store(&s->seq, atomic_load(&s->seq) & ~1u);   /* a writer that was inside */
	}
}

static void unlink_own(void)
{
	char p[sizeof dir_path + 24];

	if (dir_path[0]) {
		snprintf(p, sizeof p, "%s/%ld", dir_path, (long)getpid());
		(void)unlink(p);
	}
}

void pre_status_before_exec(void)
{
	if (atomic_load(&seg) && !seg_unlinked) {
		unlink_own();
		seg_unlinked = 1;
	}
}

void pre_status_exec_failed(void)
{
	void *m = atomic_load(&seg);

	if (m && seg_unlinked) {
		seg_unlinked = 0;
		(void)rehome(m);
	}
}

/* exit(): nothing left behind (a killed process's file is removed by the
 * next `secsock status`, which sees its pid gone or reused). */
__attribute__((destructor)) static void status_fini(void)
{
	if (atomic_load(&seg))
		unlink_own();
}
