/* pre_arena.c — the shared part of each connection (issue 5 "Process life").
 *
 * Why: after fork() parent and child hold the same socket.  If each kept a
 * private copy of the record state, both could seal a record under the same
 * key and sequence number — a nonce reuse that breaks AES-GCM and ChaCha20-
 * Poly1305 outright (RFC 8446 §5.3 requires a unique nonce per record).  So
 * the record state (ss_rec_state has no pointers for this reason, see
 * core/ss_rec.h) and the two locks that serialise sealing+sending and
 * reading live in a MAP_SHARED slot; the per-process ss_rec caches re-key
 * when the state's epoch moves.
 *
 * The arena is a list of chunks, each MAP_SHARED|MAP_ANONYMOUS, so a fork
 * inherits every chunk at the same address.  A chunk starts with an atomic
 * bitmap of used slots (allocation is a CAS on it, safe across processes
 * that share the chunk); chunks mapped after a fork are simply not seen by
 * the other side.  Chunks are excluded from core dumps and, when the limit
 * allows, locked in RAM (sodium_mlock); a freed slot is wiped.
 *
 * Who may say close_notify: the slot lists the pids that hold descriptors
 * of the socket.  A process whose last descriptor goes away leaves the
 * list; if nobody else (alive) is on it, it is the last holder and says
 * close_notify.  A holder that died without closing (_exit, a signal,
 * a zombie not yet reaped) is pruned by the liveness check, so _exit needs
 * no wrapper: its descriptors die with it, the kernel sends FIN, and the
 * survivor's own close later says close_notify — or, if it was the last
 * holder, the peer sees a truncation (RFC 8446 §6.1), which is honest.
 *
 * Exec: a chunk is a memfd (sealed against resizing, CLOEXEC) mapped
 * MAP_SHARED, and this process keeps its descriptor.  A secured connection
 * whose descriptor survives exec goes along as its slot: pre_exec.c makes
 * the chunk's memfd inheritable for that exec (only towards an image that
 * loads the preload, policy/pol_reach.c) and names chunk and slot; the new
 * image maps the same memfd (pre_arena_exec_adopt) and goes on with the one
 * record state and locks every other holder uses.  exec keeps the pid, so
 * the holder list stays right without a change: the exec'd image is the
 * holder its exporter was.  Without a memfd (memfd_create refused), the
 * chunk is anonymous and the state is moved instead (pre_arena_move).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sodium.h>
#include "pre_sock.h"
#include "pre_sym.h"

#define ARENA_MEMFD "secsock-arena"
#define ARENA_FD_MIN 256   /* lowest number for a chunk memfd, when the limit allows */

enum {
	SLOT_PIDS = 14,
	CHUNK_SLOTS = 128,
	MAX_CHUNKS = 8192,        /* 1M connections */
	SLOT_MOVED = 1u << 0,     /* the state was handed to an exec'd image */
	SLOT_MOVE_FAILED = 1u << 1 /* ...and we failed it for the other holders */
};

struct pre_slot {
	pthread_mutex_t rx, tx, meta;   /* PTHREAD_PROCESS_SHARED + ROBUST */
	ss_rec_state rs;
	int procs;                      /* processes with a private conn here (meta) */
	int forking;                    /* forks in flight: a holder not yet listed */
	int overflow;                   /* holders that did not fit in pids[] */
	uint32_t flags;
	pid_t tail_pid;                 /* holder whose sealed records wait in its private tail (tx) */
	_Atomic pid_t exited;           /* the last process left it at exit: free once that pid is gone */
	int npids;
	pid_t pids[SLOT_PIDS];
};

struct chunk {
	_Atomic uint64_t used[CHUNK_SLOTS / 64];
	_Atomic uint32_t gen[CHUNK_SLOTS];   /* bumped by every free: which use of the slot */
	struct pre_slot slot[CHUNK_SLOTS];
};

/* Slots this process let go of while other processes still counted in them
 * (a forking server's listener after its close of the accepted socket), with
 * the generation they had: reclaim_handed frees those whose holders all died
 * without letting go (killed by a signal, or exited with the socket open). */
struct handed {
	struct pre_slot *s;
	_Atomic uint32_t *gen;
	uint32_t g;
};
static struct handed *handed;
static size_t handed_n, handed_cap;
static pthread_mutex_t handed_lock = PTHREAD_MUTEX_INITIALIZER;

static struct chunk *chunks[MAX_CHUNKS];
/* The memfd behind chunks[i] in this process: descriptor + 1 (0: anonymous
 * or lost) and its inode, to tell our file from another one the program
 * put on that number (dup2 over it, close and reuse). */
static struct chunk_file {
	int fd1;
	ino_t ino;
} chunk_files[MAX_CHUNKS];
static atomic_uint nchunks;
static pthread_mutex_t grow_lock = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------ locks */

static struct pre_slot *slot_of_mutex(pre_lock_t *l, pthread_mutex_t *m)
{
	if (m == &l->own)
		return NULL;
	/* rx or tx of a slot */
	struct pre_slot *a = (struct pre_slot *)((char *)m - offsetof(struct pre_slot, rx));
	struct pre_slot *b = (struct pre_slot *)((char *)m - offsetof(struct pre_slot, tx));
	return &a->rx == m ? a : b;
}

/* EOWNERDEAD: a process died holding the lock, perhaps between sealing a
 * record and sending it — the sequence numbers may no longer match what the
 * peer saw.  Take the lock, but fail the connection. */
static int owner_dead(pre_lock_t *l, pthread_mutex_t *m)
{
	struct pre_slot *s = slot_of_mutex(l, m);
	pthread_mutex_consistent(m);
	if (s)
		s->rs.flags |= SS_REC_F_FAILED;
	return 0;
}

int pre_lock_acquire(pre_lock_t *l)
{
	int r = pthread_mutex_lock(l->m);
	return r == EOWNERDEAD ? owner_dead(l, l->m) : r;
}

int pre_lock_try(pre_lock_t *l)
{
	int r = pthread_mutex_trylock(l->m);
	return r == EOWNERDEAD ? owner_dead(l, l->m) : r;
}

int pre_lock_timed(pre_lock_t *l, const struct timespec *abs)
{
	int r = pthread_mutex_timedlock(l->m, abs);
	return r == EOWNERDEAD ? owner_dead(l, l->m) : r;
}

int pre_lock_release(pre_lock_t *l)
{
	return pthread_mutex_unlock(l->m);
}

static int meta_lock(struct pre_slot *s)
{
	int r = pthread_mutex_lock(&s->meta);
	if (r == EOWNERDEAD) {
		pthread_mutex_consistent(&s->meta);
		r = 0;
	}
	return r;
}

static void shared_mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
}

/* ------------------------------------------------------------ slots */

static void chunk_guard(struct chunk *ch)
{
	madvise(ch, sizeof *ch, MADV_DONTDUMP);
	(void)sodium_mlock(ch, sizeof *ch);   /* best effort: RLIMIT_MEMLOCK */
}

/* grow_lock held; i: the index the chunk gets. */
static struct chunk *chunk_new(unsigned i)
{
	struct chunk *ch = MAP_FAILED;
	struct stat sb;
	int fd = memfd_create(ARENA_MEMFD, MFD_CLOEXEC | MFD_ALLOW_SEALING), hi;

	chunk_files[i].fd1 = 0;
	/* Out of the way of the numbers the program expects next (a server
	 * that closed stdio and counts on socket() returning 0, 1...). */
	if (fd >= 0 && fd < ARENA_FD_MIN && (hi = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, ARENA_FD_MIN)) >= 0) {
		REAL(close)(fd);
		fd = hi;
	}
	if (fd >= 0 && ftruncate(fd, sizeof *ch) == 0 &&
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0 && fstat(fd, &sb) == 0)
		ch = mmap(NULL, sizeof *ch, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ch != MAP_FAILED) {
		chunk_files[i].fd1 = fd + 1;
		chunk_files[i].ino = sb.st_ino;
	} else {
		if (fd >= 0)
			REAL(close)(fd);
		ch = mmap(NULL, sizeof *ch, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (ch == MAP_FAILED)
			return NULL;
	}
	chunk_guard(ch);
	return ch;
}

static int alive(pid_t pid);
static void slot_free(struct pre_slot *s);
static int meta_lock(struct pre_slot *s);
static void holders_update(struct pre_slot *s, pid_t drop);

/* Where s lives among our chunks: its generation counter, or NULL. */
static _Atomic uint32_t *slot_gen(struct pre_slot *s)
{
	unsigned n = atomic_load_explicit(&nchunks, memory_order_acquire);

	for (unsigned i = 0; i < n; i++) {
		struct chunk *ch = chunks[i];
		if (s >= ch->slot && s < ch->slot + CHUNK_SLOTS)
			return &ch->gen[s - ch->slot];
	}
	return NULL;
}

/* A generation that moved means the slot was freed since (by its last
 * holder, or by another reclaimer): not ours to look at any more. */
static void handed_compact(void)
{
	size_t j = 0;

	for (size_t i = 0; i < handed_n; i++)
		if (atomic_load(handed[i].gen) == handed[i].g)
			handed[j++] = handed[i];
	handed_n = j;
}

static void handed_remember(struct pre_slot *s)
{
	_Atomic uint32_t *gen = slot_gen(s);

	if (!gen)
		return;
	pthread_mutex_lock(&handed_lock);
	if (handed_n == handed_cap)
		handed_compact();
	if (handed_n == handed_cap) {
		size_t ncap = handed_cap ? handed_cap * 2 : 64;
		struct handed *nh = realloc(handed, ncap * sizeof *nh);
		if (nh) {
			handed = nh;
			handed_cap = ncap;
		}
	}
	if (handed_n < handed_cap)
		handed[handed_n++] = (struct handed){ s, gen, atomic_load(gen) };
	pthread_mutex_unlock(&handed_lock);
}

/* Free s if every process that counts in it is gone: 1 freed, 0 still
 * held, -1 freed or reused since generation g.  Under the slot's meta lock,
 * with its generation still g and procs > 0, nobody else can be freeing it
 * (its last holder takes procs to 0 under the same lock first, and so does a
 * reclaimer in another process); pruning the dead holders may take procs to
 * 0 here instead, and then we free it.  The generation is bumped before a
 * slot is wiped, so a lock taken on a slot freed meanwhile is seen as such. */
static int reclaim_slot(struct pre_slot *s, _Atomic uint32_t *gen, uint32_t g)
{
	int r = -1;

	if (atomic_load(gen) != g || meta_lock(s) != 0)
		return -1;
	if (atomic_load(gen) == g && s->procs > 0) {
		holders_update(s, -1);
		r = s->procs <= 0 && s->npids == 0 && s->forking == 0 && s->overflow == 0;
	}
	pthread_mutex_unlock(&s->meta);
	if (r == 1)
		slot_free(s);
	return r;
}

/* grow_lock held: the slots of handed[] whose holders all died. */
static unsigned reclaim_handed(void)
{
	unsigned freed = 0;
	size_t j = 0;

	pthread_mutex_lock(&handed_lock);
	for (size_t i = 0; i < handed_n; i++) {
		int r = reclaim_slot(handed[i].s, handed[i].gen, handed[i].g);
		freed += r == 1;
		if (r == 0)
			handed[j++] = handed[i];
	}
	handed_n = j;
	pthread_mutex_unlock(&handed_lock);
	return freed;
}

/* grow_lock held: slots whose last process marked them at exit
 * (pre_arena_exit) and is gone now, among them slots no process here ever
 * let go of (a child's own connection in a chunk it inherited). */
static unsigned reclaim_exited(unsigned n)
{
	unsigned freed = 0;

	for (unsigned i = 0; i < n; i++)
		for (unsigned k = 0; k < CHUNK_SLOTS; k++) {
			struct pre_slot *s = &chunks[i]->slot[k];
			uint32_t g = atomic_load(&chunks[i]->gen[k]);
			pid_t p = atomic_load(&s->exited);
			if (p > 0 && !alive(p))
				freed += reclaim_slot(s, &chunks[i]->gen[k], g) == 1;
		}
	return freed;
}

static struct pre_slot *slot_alloc(void)
{
	for (int pass = 0; pass < 2; pass++) {
		unsigned n = atomic_load_explicit(&nchunks, memory_order_acquire);
		for (unsigned i = 0; i < n; i++) {
			struct chunk *ch = chunks[i];
			for (unsigned w = 0; w < CHUNK_SLOTS / 64; w++) {
				uint64_t u = atomic_load_explicit(&ch->used[w], memory_order_relaxed);
				while (u != UINT64_MAX) {
					unsigned b = (unsigned)__builtin_ctzll(~u);
					if (atomic_compare_exchange_weak(&ch->used[w], &u, u | (1ull << b)))
						return &ch->slot[w * 64 + b];
				}
			}
		}
		if (pass)
			break;
		pthread_mutex_lock(&grow_lock);
		if (atomic_load(&nchunks) == n && n < MAX_CHUNKS && reclaim_exited(n) + reclaim_handed() == 0) {
			struct chunk *ch = chunk_new(n);
			if (ch) {
				chunks[n] = ch;
				atomic_store_explicit(&nchunks, n + 1, memory_order_release);
			}
		}
		pthread_mutex_unlock(&grow_lock);
	}
	return NULL;
}

static void slot_free(struct pre_slot *s)
{
	unsigned n = atomic_load_explicit(&nchunks, memory_order_acquire);
	struct chunk *ch = NULL;

	for (unsigned i = 0; i < n && !ch; i++)
		if (s >= chunks[i]->slot && s < chunks[i]->slot + CHUNK_SLOTS)
			ch = chunks[i];
	/* First: a reclaimer that locks the slot from now on sees it is gone. */
	if (ch)
		atomic_fetch_add(&ch->gen[s - ch->slot], 1);
	pthread_mutex_destroy(&s->rx);
	pthread_mutex_destroy(&s->tx);
	pthread_mutex_destroy(&s->meta);
	sodium_memzero(s, sizeof *s);
	if (ch) {
		unsigned k = (unsigned)(s - ch->slot);
		atomic_fetch_and(&ch->used[k / 64], ~(1ull << (k % 64)));
	}
}

void pre_arena_attach(struct pre_conn *c)
{
	struct pre_slot *s = slot_alloc();

	if (!s) {
		/* No shared memory: the connection still works in this process;
		 * a fork child will find it failed (pre_arena_fork_child). */
		pthread_mutex_init(&c->rx_lock.own, NULL);
		pthread_mutex_init(&c->tx_lock.own, NULL);
		c->rx_lock.m = &c->rx_lock.own;
		c->tx_lock.m = &c->tx_lock.own;
		return;
	}
	memset(s, 0, sizeof *s);
	shared_mutex_init(&s->rx);
	shared_mutex_init(&s->tx);
	shared_mutex_init(&s->meta);
	s->procs = 1;
	s->npids = 1;
	s->pids[0] = getpid();
	c->sh = s;
	c->rx_lock.m = &s->rx;
	c->tx_lock.m = &s->tx;
}

ss_rec_state *pre_arena_rs(struct pre_conn *c)
{
	ss_rec_state *rs = c->sh ? &c->sh->rs : sodium_malloc(sizeof *rs);
	if (rs)
		memset(rs, 0, sizeof *rs);
	return rs;
}

/* 1 when pid is a live process (a zombie is dead: its descriptors are gone). */
static int alive(pid_t pid)
{
	char path[48], buf[256];
	ssize_t n;
	int fd;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return 0;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno != ENOENT;
	n = REAL(read)(fd, buf, sizeof buf - 1);
	REAL(close)(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	return !(p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
}

/* meta held.  Remove pid (if listed); prune holders that died. */
static void holders_update(struct pre_slot *s, pid_t drop)
{
	pid_t me = getpid();

	for (int i = 0; i < s->npids;) {
		pid_t p = s->pids[i];
		int gone = p == drop;
		/* We are alive without asking the kernel: a sandboxed child
		 * (seccomp, issue 11 item 5) may not be allowed kill or open. */
		if (!gone && p != me && !alive(p)) {
			gone = 1;
			s->procs--;   /* it will never detach itself */
		}
		if (gone)
			s->pids[i] = s->pids[--s->npids];
		else
			i++;
	}
}

static void holders_add(struct pre_slot *s, pid_t pid)
{
	for (int i = 0; i < s->npids; i++)
		if (s->pids[i] == pid)
			return;
	if (s->npids < SLOT_PIDS)
		s->pids[s->npids++] = pid;
	else
		s->overflow++;   /* conservative: we can never prove we are last */
}

int pre_arena_fds_gone(struct pre_conn *c)
{
	struct pre_slot *s = c->sh;
	int last;

	if (!s)
		return 1;
	if (meta_lock(s) != 0)
		return 0;
	holders_update(s, getpid());
	last = s->npids == 0 && s->forking == 0 && s->overflow == 0 && !(s->flags & SLOT_MOVED);
	pthread_mutex_unlock(&s->meta);
	return last;
}

int pre_arena_sole_holder(struct pre_conn *c)
{
	struct pre_slot *s = c->sh;
	pid_t me = getpid();
	int others = 0;

	if (!s)
		return 1;
	if (meta_lock(s) != 0)
		return 0;
	holders_update(s, -1);
	for (int i = 0; i < s->npids; i++)
		others += s->pids[i] != me;
	others += s->forking + s->overflow + ((s->flags & SLOT_MOVED) != 0);
	pthread_mutex_unlock(&s->meta);
	return others == 0;
}

void pre_arena_detach(struct pre_conn *c)
{
	struct pre_slot *s = c->sh;
	int left = 1;

	if (!s) {
		pthread_mutex_destroy(&c->rx_lock.own);
		pthread_mutex_destroy(&c->tx_lock.own);
		return;
	}
	c->sh = NULL;
	if (meta_lock(s) == 0) {
		holders_update(s, getpid());
		left = --s->procs;
		pthread_mutex_unlock(&s->meta);
	}
	if (left <= 0)
		slot_free(s);
	else
		handed_remember(s);
}

/* exit() or _exit() with c still open here (a forked child that shuts its
 * socket down and exits, as socat's do, never closes): no later detach will
 * come from this process.  We stay listed, so the next holders_update (a
 * holder's, or a reclaimer's) prunes us once we are gone; if we are the last
 * process in the slot, we also mark it for reclaim_exited, since no other
 * process may have it in its handed[] list.  Not freed now: threads of ours
 * may still use it until the process is gone. */
void pre_arena_exit(struct pre_conn *c)
{
	struct pre_slot *s = c->sh;

	if (!s || meta_lock(s) != 0)
		return;
	holders_update(s, -1);
	holders_add(s, getpid());   /* pruned by the next holders_update once we are gone */
	if (s->procs == 1 && s->forking == 0 && !(s->flags & SLOT_MOVED))
		atomic_store(&s->exited, getpid());
	pthread_mutex_unlock(&s->meta);
}

/* ------------------------------------------------------------ tails */

/* The tail (pre_io.c) holds records already sealed with sequence numbers
 * taken from the shared state, in one process's private memory: no other
 * holder may put a record on the wire until they are out, or the peer sees
 * the sequence jump and the stream fails (RFC 8446 §5.3: the nonce is the
 * sequence number, records are opened in order).  tail_pid says which
 * process holds such a tail; it is set and cleared by that process under
 * the shared tx lock, and read by the others under it too. */
void pre_arena_tail_set(struct pre_conn *c, int pending)
{
	struct pre_slot *s = c->sh;
	pid_t me;

	if (!s)
		return;
	me = getpid();
	if (pending)
		s->tail_pid = me;
	else if (s->tail_pid == me)
		s->tail_pid = 0;
}

int pre_arena_tail_state(struct pre_conn *c)
{
	struct pre_slot *s = c->sh;
	pid_t owner = s ? s->tail_pid : 0;

	if (!owner)
		return PRE_TAIL_NONE;
	if (owner == getpid())
		/* our own mark without our tail: a pid reused by a new holder
		 * after the owner died, or a tail lost here: the records are gone */
		return c->tail_len ? PRE_TAIL_MINE : PRE_TAIL_LOST;
	/* A holder that died (_exit, a signal) with records in its tail took
	 * them along: the stream cannot go on in order. */
	return alive(owner) ? PRE_TAIL_OTHER : PRE_TAIL_LOST;
}

/* ------------------------------------------------------------ exec */

/* The state of c goes to an exec'd image (pre_exec.c): this process leaves
 * the holder list, and every other holder must stop using its copy — two
 * independent copies of one record state would reuse nonces.  Undone by
 * pre_arena_unmove when the exec fails. */
int pre_arena_move(struct pre_conn *c)
{
	struct pre_slot *s = c->sh;
	int others = 0;

	if (!s || meta_lock(s) != 0)
		return 0;
	holders_update(s, getpid());
	others = s->npids + s->forking + s->overflow;
	s->flags |= SLOT_MOVED;
	if (s->tail_pid == getpid())
		s->tail_pid = 0;   /* our tail leaves with the state (pre_exec.c) */
	if (others && !(s->rs.flags & SS_REC_F_FAILED)) {
		s->rs.flags |= SS_REC_F_FAILED;
		s->flags |= SLOT_MOVE_FAILED;
	}
	pthread_mutex_unlock(&s->meta);
	return others;
}

void pre_arena_unmove(struct pre_conn *c)
{
	struct pre_slot *s = c->sh;

	if (!s || meta_lock(s) != 0)
		return;
	if (s->flags & SLOT_MOVE_FAILED)
		s->rs.flags &= ~(uint32_t)SS_REC_F_FAILED;
	s->flags &= ~(uint32_t)(SLOT_MOVED | SLOT_MOVE_FAILED);
	if (c->tail_len)
		s->tail_pid = getpid();
	holders_add(s, getpid());
	pthread_mutex_unlock(&s->meta);
}

/* ------------------------------------------------------------ exec sharing */

static int slot_where(const struct pre_slot *s, unsigned *ci, uint32_t *si)
{
	unsigned n = atomic_load_explicit(&nchunks, memory_order_acquire);

	for (unsigned i = 0; i < n; i++)
		if (s >= chunks[i]->slot && s < chunks[i]->slot + CHUNK_SLOTS) {
			*ci = i;
			*si = (uint32_t)(s - chunks[i]->slot);
			return 0;
		}
	return -1;
}

/* Our memfd of chunk i, still on its number (the program may have closed
 * it or put another file there), or -1. */
static int chunk_fd(unsigned i)
{
	struct stat sb;
	int fd = chunk_files[i].fd1 - 1;

	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) != 0 || sb.st_ino != chunk_files[i].ino || !S_ISREG(sb.st_mode) ||
	    sb.st_size != (off_t)sizeof(struct chunk)) {
		chunk_files[i].fd1 = 0;   /* not ours any more: never touch it again */
		return -1;
	}
	return fd;
}

int pre_arena_exec_ref(struct pre_conn *c, int *fd, uint32_t *slot)
{
	unsigned ci;

	if (!c->sh || slot_where(c->sh, &ci, slot) < 0 || (*fd = chunk_fd(ci)) < 0)
		return -1;
	return 0;
}

/* 1 when fd is the memfd of one of our chunks (meant for the exec'd image
 * only when it was named in a hand-off). */
static int is_arena_memfd(int fd, struct stat *sb)
{
	char link[64], target[64];
	ssize_t n;

	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof target - 1);
	if (n <= 0)
		return 0;
	target[n] = '\0';
	return !strncmp(target, "/memfd:" ARENA_MEMFD " ", sizeof "/memfd:" ARENA_MEMFD) &&
	       fstat(fd, sb) == 0 && S_ISREG(sb->st_mode) && sb->st_size == (off_t)sizeof(struct chunk) &&
	       (fcntl(fd, F_GET_SEALS) & (F_SEAL_SHRINK | F_SEAL_GROW)) == (F_SEAL_SHRINK | F_SEAL_GROW);
}

ss_rec_state *pre_arena_exec_adopt(struct pre_conn *c, int fd, uint32_t si)
{
	struct chunk *ch = NULL;
	struct pre_slot *s;
	struct stat sb;
	unsigned n;

	if (si >= CHUNK_SLOTS || !is_arena_memfd(fd, &sb))
		return NULL;
	pthread_mutex_lock(&grow_lock);
	n = atomic_load(&nchunks);
	for (unsigned i = 0; i < n && !ch; i++)
		if (chunk_files[i].fd1 == fd + 1 && chunk_files[i].ino == sb.st_ino)
			ch = chunks[i];
	if (!ch && n < MAX_CHUNKS) {
		ch = mmap(NULL, sizeof *ch, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (ch == MAP_FAILED) {
			ch = NULL;
		} else {
			chunk_guard(ch);
			REAL(fcntl)(fd, F_SETFD, FD_CLOEXEC);
			chunks[n] = ch;
			chunk_files[n].fd1 = fd + 1;
			chunk_files[n].ino = sb.st_ino;
			atomic_store_explicit(&nchunks, n + 1, memory_order_release);
		}
	}
	pthread_mutex_unlock(&grow_lock);
	if (!ch || !(atomic_load(&ch->used[si / 64]) & (1ull << (si % 64))))
		return NULL;
	s = &ch->slot[si];
	/* The slot pre_conn_new gave c goes back; the exporter's private
	 * connection (counted in procs) is the one c replaces. */
	pre_arena_detach(c);
	c->sh = s;
	c->rx_lock.m = &s->rx;
	c->tx_lock.m = &s->tx;
	if (meta_lock(s) == 0) {
		holders_add(s, getpid());   /* listed already: exec keeps the pid */
		pthread_mutex_unlock(&s->meta);
	}
	return &s->rs;
}

void pre_arena_exec_seal(void)
{
	unsigned n = atomic_load_explicit(&nchunks, memory_order_acquire);

	for (unsigned i = 0; i < n; i++) {
		int fd = chunk_fd(i), fl;
		if (fd >= 0 && (fl = REAL(fcntl)(fd, F_GETFD)) >= 0 && !(fl & FD_CLOEXEC))
			REAL(fcntl)(fd, F_SETFD, fl | FD_CLOEXEC);
	}
}

int pre_arena_owns_fd(int fd)
{
	unsigned n = atomic_load_explicit(&nchunks, memory_order_acquire);

	for (unsigned i = 0; i < n; i++)
		if (chunk_files[i].fd1 == fd + 1)
			return 1;
	return 0;
}

void pre_arena_exec_unused(int fd)
{
	unsigned n = atomic_load_explicit(&nchunks, memory_order_acquire);

	for (unsigned i = 0; i < n; i++)
		if (chunk_files[i].fd1 == fd + 1)
			return;
	REAL(close)(fd);
}

/* ------------------------------------------------------------ fork */

/* The connections this process holds, locked for the fork (see pre_fork.c). */
static struct pre_conn **fork_set;
static size_t fork_n;

static void fork_collect(void)
{
	unsigned hi = atomic_load(&pre_fdtab_hi), cap = 0;

	fork_set = NULL;
	fork_n = 0;
	for (unsigned fd = 0; fd < hi && fd < pre_fdtab_size; fd++) {
		struct pre_conn *c;
		if (!pre_fd_peek((int)fd) || !(c = pre_fd_get((int)fd)))
			continue;
		if (c->fork_mark) {
			pre_conn_put(c);
			continue;
		}
		if (fork_n == cap) {
			unsigned ncap = cap ? cap * 2 : 16;
			struct pre_conn **n = realloc(fork_set, ncap * sizeof *n);
			if (!n) {
				pre_conn_put(c);
				break;
			}
			fork_set = n;
			cap = ncap;
		}
		c->fork_mark = 1;
		fork_set[fork_n++] = c;
	}
}

void pre_arena_fork_prepare(void)
{
	struct timespec until;

	pthread_mutex_lock(&grow_lock);
	fork_collect();
	/* Every connection's locks, in fd order, with one overall deadline: a
	 * thread blocked in a send to a peer that does not read must not hang
	 * fork() forever.  What we lock is consistent in the child (its private
	 * ss_rec and receive bookkeeping are copied mid-operation otherwise);
	 * what we could not lock is failed in the child. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	for (size_t i = 0; i < fork_n; i++) {
		struct pre_conn *c = fork_set[i];
		c->fork_mark = 1;
		if (pthread_mutex_timedlock(&c->rx_lock, &until) == 0) {
			if (pthread_mutex_timedlock(&c->tx_lock, &until) == 0)
				c->fork_mark = 3;
			else
				c->fork_mark = 2;
		}
		if (c->sh && meta_lock(c->sh) == 0) {
			c->sh->forking++;
			c->sh->procs++;
			pthread_mutex_unlock(&c->sh->meta);
		}
	}
}

static void fork_unlock(struct pre_conn *c)
{
	if (c->fork_mark >= 3)
		pthread_mutex_unlock(&c->tx_lock);
	if (c->fork_mark >= 2)
		pthread_mutex_unlock(&c->rx_lock);
}

void pre_arena_fork_parent(pid_t child)
{
	for (size_t i = 0; i < fork_n; i++) {
		struct pre_conn *c = fork_set[i];
		if (c->sh && meta_lock(c->sh) == 0) {
			if (child > 0)
				holders_add(c->sh, child);
			else
				c->sh->procs--;
			c->sh->forking--;
			pthread_mutex_unlock(&c->sh->meta);
		}
		fork_unlock(c);
		c->fork_mark = 0;
		pre_conn_put(c);
	}
	free(fork_set);
	fork_set = NULL;
	fork_n = 0;
	pthread_mutex_unlock(&grow_lock);
}

void pre_arena_fork_child(void)
{
	/* Single-threaded now.  Shared mutexes stay as they are: the parent's
	 * thread owns them and unlocks them in the parent.  Private things are
	 * re-made: the grow lock, fallback mutexes, reference counts (threads
	 * that held references in the parent do not exist here). */
	pthread_mutex_init(&grow_lock, NULL);
	/* The parent's list is the parent's to reclaim. */
	pthread_mutex_init(&handed_lock, NULL);
	free(handed);
	handed = NULL;
	handed_n = handed_cap = 0;
	for (size_t i = 0; i < fork_n; i++) {
		struct pre_conn *c = fork_set[i];
		int locked = c->fork_mark >= 3;
		/* The parent's tail is the parent's to send (its mark in the slot
		 * makes our writes wait for it); our copy must never go out. */
		free(c->tail);
		c->tail = NULL;
		c->tail_off = c->tail_len = 0;
		if (!c->sh) {
			pthread_mutex_init(&c->rx_lock.own, NULL);
			pthread_mutex_init(&c->tx_lock.own, NULL);
			c->rx_lock.m = &c->rx_lock.own;
			c->tx_lock.m = &c->tx_lock.own;
			/* The record state was not shareable: the child must not
			 * seal with a copy of it. */
			if (atomic_load(&c->state) == PRE_SECURED)
				pre_conn_set_state(c, PRE_FAILED);
		} else if (!locked && atomic_load(&c->state) == PRE_SECURED) {
			/* Copied while another thread was in the middle of it. */
			pre_conn_set_state(c, PRE_FAILED);
		}
		c->fork_mark = 0;
		/* Ours (put below), the descriptors', and the engine list's, which
		 * pre_engine_atfork_child drops: leaving it out freed a listed
		 * connection (one with a tail) still in the child's table. */
		atomic_store(&c->refs, atomic_load(&c->fd_refs) + 1 + (c->eng_listed != 0));
		pre_conn_put(c);
	}
	free(fork_set);
	fork_set = NULL;
	fork_n = 0;
}
