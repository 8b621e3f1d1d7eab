/* pre_engine.c — the engine thread (see pre_engine.h for what and why).
 *
 * Lifetime of a connection in the engine: pre_engine_arm() makes a CLOEXEC
 * duplicate of the socket, adds it to the engine's epoll (one-shot) and puts
 * the connection on the list with a reference; the engine serves it on each
 * event (pre_io_service) and re-arms while there is work; when the work is
 * done, or the program closes its last descriptor, the duplicate is taken
 * out of the epoll set and closed (pre_engine_detach) and the next sweep of
 * the list drops the reference.
 *
 * The reference is dropped only once no registration can name the
 * connection: the duplicate shares its open file description with the
 * program's descriptor, and epoll(7) keeps a registration until every
 * descriptor of that description is closed — closing our duplicate alone
 * leaves it in the set, armed, with a pointer to the connection in its
 * data.  So detach deletes it (EPOLL_CTL_DEL) before closing; and when the
 * program took the duplicate's number away (close_range, dup2 over it),
 * leaving nothing to delete it by, the engine re-creates its epoll set
 * before that sweep's references are dropped.
 *
 * Descriptors the program can break: our epoll, wake and duplicate
 * descriptors are ordinary numbers in its table, and a program may close
 * them (closefrom, close_range) or dup2 something else over them.  Each one's
 * identity (st_dev, st_ino) is recorded when made and checked before use; an
 * epoll instance that went away (EBADF/EINVAL, or another file under its
 * number) is re-created with every listed connection re-added, and a
 * duplicate that is no longer ours is forgotten (never closed: the number
 * belongs to the program now).
 *
 * Idle trimming (issue 6, <= 1 KiB heap per idle connection): the two
 * EVP_CIPHER_CTX of a secured connection are ~2.3 KiB of its ~2.9 KiB.
 * ss_rec makes them on a direction's first record and ss_rec_trim frees them
 * (core/ss_rec.h); the engine trims connections that have sealed and opened
 * nothing for SECSOCK_IDLE_TRIM_MS (default 1000 ms, 0 = never).
 *  - Who: every governed descriptor in the fd table, not just the engine's
 *    list (an idle blocking connection is never handed to the engine).
 *  - Idle: the record counters (tx/rx seq and epoch, in ss_rec_state) are the
 *    same at two looks one period apart, so a trim always follows at least
 *    one full period without a record and at most two.  The data path is not
 *    touched to tell activity.
 *  - Locks: a trim holds rx_lock and tx_lock (trylock, in that order: a
 *    connection whose lock is taken is busy, not idle, and the engine never
 *    waits behind the data path).
 *  - No timer without work: the engine looks only while some connection of
 *    this process holds a context ("armed").  ss_rec calls ctx_hook whenever
 *    it makes a context; the hook is one atomic load while armed, and
 *    otherwise arms, starts the engine if needed and wakes it.  A scan
 *    disarms before it looks at the contexts (seq_cst on both sides), so a
 *    context made during a scan is either seen by it or re-arms.
 *  - Why 1 s: re-creating a trimmed context is one AEAD context allocation
 *    and one key set-up on the next record, ~0.4 us per direction (AES-128-GCM,
 *    1-byte records sealed+opened: 0.55 us without trim, 1.4 us with both
 *    ends trimmed before every record), so the data path could afford a far
 *    shorter period; what the period bounds is the scanning: while armed
 *    the engine wakes once per period and visits every descriptor slot (a
 *    reference per governed one, two trylocks per connection holding a
 *    context).  Once a second keeps that negligible for 10,000 connections,
 *    and 1-2 s until an idle connection is down to its ~0.6 KiB is soon
 *    enough for memory that only matters at scale.
 *  - fork: trimming is per process (the contexts are private heap).  The
 *    child starts disarmed; contexts it inherited are copy-on-write pages it
 *    shares with the parent, so leaving them until the child uses the
 *    connection costs no extra memory, where freeing them would dirty those
 *    pages.  The child sets the hook again, which makes a rec holding an
 *    inherited context call it at its next record (ss_rec.h): a connection
 *    the child uses re-arms the child's engine and is trimmed there.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include "pre_engine.h"
#include "pre_io.h"
#include "pre_log.h"
#include "pre_sym.h"

enum {
	ENG_EVENTS = 64,
	ENG_TICK_MS = 100,    /* background handshakes: deadline and close checks */
	ENG_BATCH = 64,       /* connections served per timer pass */
	ENG_FD_MIN = 256      /* lowest number for the engine's descriptors (move_high) */
};

struct ident {
	uint64_t dev, ino;
};

static struct {
	pthread_mutex_t lk;       /* list, epoll/wake set-up, start */
	pthread_mutex_t work;     /* held by the engine while it serves (fork brackets it) */
	atomic_int ep;            /* epoll fd + 1 (0 = none) */
	atomic_int wake;          /* eventfd + 1; atomic: ctx_hook wakes without E.lk */
	struct ident ep_id, wake_id;
	pid_t pid;                /* process the thread runs in */
	atomic_int running;
	atomic_int rebuild;       /* a registration may outlive its duplicate: re-create the set */
	struct pre_conn *list;
} E = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, 0, 0, { 0, 0 }, { 0, 0 }, 0, 0, 0, NULL };

static __thread int prep_depth, prep_locked;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* Idle trimming (see the header comment).  idle_next_ms: engine thread only. */
static int idle_period_ms = 1000;   /* SECSOCK_IDLE_TRIM_MS */
static atomic_int idle_armed;       /* some connection holds a context: a scan is due */
static int64_t idle_next_ms;        /* when the next scan runs, 0 = none scheduled */
static int engine_start(void);

static void atfork_register(void)
{
	pthread_atfork(pre_engine_atfork_prepare, pre_engine_atfork_parent, pre_engine_atfork_child);
}

static int ident_of(int fd, struct ident *id)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	id->dev = (uint64_t)st.st_dev;
	id->ino = (uint64_t)st.st_ino;
	return 0;
}

static int is_ours(int fd, const struct ident *id)
{
	struct ident now;
	return fd >= 0 && ident_of(fd, &now) == 0 && now.dev == id->dev && now.ino == id->ino;
}

/* Close the epoll instance and the wake eventfd — each only if the number
 * still holds what we made (the program may have closed it, or dup2'd its
 * own file over it) — and forget them. */
static void ep_close(void)
{
	int ep = atomic_load(&E.ep) - 1, wk = E.wake - 1;

	if (ep >= 0 && is_ours(ep, &E.ep_id))
		REAL(close)(ep);
	if (wk >= 0 && is_ours(wk, &E.wake_id))
		REAL(close)(wk);
	atomic_store(&E.ep, 0);
	E.wake = 0;
}

/* (Re)create the epoll instance and the wake eventfd; re-add every listed
 * connection.  E.lk held. */
/* The engine's own descriptors sit at ENG_FD_MIN or above when the limit
 * allows, out of the way of the numbers a program expects next: after
 * closefrom(3) (which closes ours too, and the engine makes them again) a
 * program's open() must still get 3, as a server that closed stdio counts
 * on socket() returning 0.  Returns the descriptor to use (fd itself when
 * it cannot move). */
static int move_high(int fd)
{
	int hi;

	if (fd < 0 || fd >= ENG_FD_MIN || (hi = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, ENG_FD_MIN)) < 0)
		return fd;
	REAL(close)(fd);
	return hi;
}

static int ep_setup(void)
{
	int ep, wk;
	struct epoll_event ev;

	ep_close();
	ep = move_high(epoll_create1(EPOLL_CLOEXEC));
	if (ep < 0)
		return -1;
	wk = move_high(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	if (wk < 0 || ident_of(ep, &E.ep_id) < 0 || ident_of(wk, &E.wake_id) < 0) {
		REAL(close)(ep);
		if (wk >= 0)
			REAL(close)(wk);
		return -1;
	}
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	REAL(epoll_ctl)(ep, EPOLL_CTL_ADD, wk, &ev);
	for (struct pre_conn *c = E.list; c; c = c->eng_next) {
		int d = c->eng_fd - 1;
		if (d < 0)
			continue;
		ev.events = EPOLLIN | EPOLLOUT | EPOLLONESHOT;   /* serve once: it re-arms what it needs */
		ev.data.ptr = c;
		REAL(epoll_ctl)(ep, EPOLL_CTL_ADD, d, &ev);
	}
	E.wake = wk + 1;
	atomic_store(&E.ep, ep + 1);
	return 0;
}

static void wake_engine(void)
{
	uint64_t one = 1;
	int wk = E.wake - 1;
	if (wk >= 0 && is_ours(wk, &E.wake_id)) {
		ssize_t r = REAL(write)(wk, &one, sizeof one);
		(void)r;
	}
}

/* Drop list entries whose duplicate is gone; next wait's timeout.  E.lk
 * held; the dropped connections are returned (to be put without the lock). */
static struct pre_conn *sweep(int *timeout)
{
	struct pre_conn **pp = &E.list, *dead = NULL;
	int64_t now = pre_now_ms();

	*timeout = -1;
	while (*pp) {
		struct pre_conn *c = *pp;
		if (!c->eng_fd) {
			*pp = c->eng_next;
			c->eng_listed = 0;
			c->eng_next = dead;
			dead = c;
			continue;
		}
		int64_t dl = pre_engine_setup_deadline(c);
		if (dl) {
			int64_t t = dl - now;
			if (t > ENG_TICK_MS)
				t = ENG_TICK_MS;
			if (t < 0)
				t = 0;
			if (*timeout < 0 || t < *timeout)
				*timeout = (int)t;
		}
		pp = &c->eng_next;
	}
	return dead;
}

/* What the record counters say now; 0 is kept for "never looked". */
static uint64_t idle_mark_of(const ss_rec_state *rs)
{
	uint64_t h = 0xcbf29ce484222325u;   /* FNV-1a over the four counters */
	const uint64_t v[4] = { rs->tx.seq, rs->tx.epoch, rs->rx.seq, rs->rx.epoch };

	for (int i = 0; i < 4; i++) {
		h ^= v[i];
		h *= 0x100000001b3u;
	}
	return h | 1;
}

/* One connection: trim it when its counters did not move since the last
 * look.  1 when it still holds a context (look again next period).  A
 * connection is looked at once per scan however many descriptors it has
 * (dup, dup2): a second look in the same scan would find the counters it
 * just recorded and trim a connection that is busy. */
static int idle_try(struct pre_conn *c, uint32_t scan)
{
	int left = 0;

	if (c->idle_seen == scan)
		return 1;
	c->idle_seen = scan;
	if (pthread_mutex_trylock(&c->rx_lock) != 0)
		return 1;   /* busy (or its holder died: the data path recovers it) */
	if (pthread_mutex_trylock(&c->tx_lock) != 0) {
		pthread_mutex_unlock(&c->rx_lock);
		return 1;
	}
	if (atomic_load(&c->state) == PRE_SECURED && c->rec && c->rs &&
	    ss_rec_ctx_count(c->rec)) {
		uint64_t mark = idle_mark_of(c->rs);
		if (mark == c->idle_mark) {
			ss_rec_trim(c->rec);
		} else {
			c->idle_mark = mark;
			left = 1;
		}
	}
	pthread_mutex_unlock(&c->tx_lock);
	pthread_mutex_unlock(&c->rx_lock);
	return left;
}

/* Every governed descriptor: trim the idle, re-arm for the rest.  Engine
 * thread, E.work held (fork never copies us inside a connection's lock). */
static void idle_scan(void)
{
	static uint32_t scans;    /* engine thread only */
	unsigned hi = atomic_load(&pre_fdtab_hi), trimmed = 0, held = 0;
	uint32_t scan = ++scans ? scans : ++scans;   /* never 0, the field's initial value */
	int left = 0;

	/* Disarm first: a context made from here on either shows in the loads
	 * below or finds the flag clear and re-arms (ss_rec.c cache_sync). */
	atomic_store(&idle_armed, 0);
	for (unsigned fd = 0; fd < hi && fd < pre_fdtab_size; fd++) {
		/* a reference before anything is read: close may free c meanwhile */
		struct pre_conn *c = pre_fd_get((int)fd);
		if (!c)
			continue;
		if (atomic_load(&c->state) == PRE_SECURED && ss_rec_ctx_count(c->rec)) {
			held++;
			if (idle_try(c, scan))
				left = 1;
			else
				trimmed++;
		}
		pre_conn_put(c);
	}
	if (left) {
		atomic_store(&idle_armed, 1);
		idle_next_ms = pre_now_ms() + idle_period_ms;
	} else {
		idle_next_ms = 0;
	}
	if (trimmed)
		pre_log(PRE_LOG_DEBUG, "idle trim: %u of %u descriptors with cipher contexts trimmed",
		        trimmed, held);
}

/* ss_rec made a cipher context (with that connection's lock held): make sure
 * a scan is coming.  Any thread, any process; cheap while armed. */
static void ctx_hook(void)
{
	if (atomic_load(&idle_armed) || idle_period_ms <= 0)
		return;
	if (atomic_exchange(&idle_armed, 1))
		return;
	if (engine_start() < 0) {
		atomic_store(&idle_armed, 0);   /* no engine: contexts stay, as before trimming existed */
		return;
	}
	/* Recompute the timeout: a scan is now due.  Without E.lk: we hold a
	 * connection lock, and fork() takes E.lk before every connection's
	 * locks (pre_fork.c), so waiting for E.lk here could deadlock.  The
	 * wake descriptor is checked by identity as always; the only race left
	 * is with ep_setup re-making it, which costs one lost wake-up while
	 * the engine re-creates its epoll set and re-reads idle_armed. */
	wake_engine();
}

__attribute__((constructor)) static void idle_init(void)
{
	const char *v = secure_getenv("SECSOCK_IDLE_TRIM_MS");

	if (v && *v) {
		char *end;
		long ms = strtol(v, &end, 10);
		if (*end == '\0' && ms >= 0 && ms <= 3600000)
			idle_period_ms = (int)ms;
	}
	if (idle_period_ms > 0)
		ss_rec_set_ctx_hook(ctx_hook);
}

/* Background handshakes: deadlines and closed descriptors are checked
 * even without an event. */
static void timer_pass(void)
{
	struct pre_conn *due[ENG_BATCH];
	int n = 0;

	pthread_mutex_lock(&E.lk);
	for (struct pre_conn *c = E.list; c && n < ENG_BATCH; c = c->eng_next)
		if (c->eng_fd && pre_engine_setup_deadline(c))
			due[n++] = pre_conn_ref(c);
	pthread_mutex_unlock(&E.lk);
	for (int i = 0; i < n; i++) {
		pre_io_service(due[i]);
		pre_conn_put(due[i]);
	}
}

static void *engine_main(void *arg)
{
	struct epoll_event ev[ENG_EVENTS];

	/* Up and running: engine_start may return (see there). */
	sem_post(arg);

	for (;;) {
		int timeout, ep, n;
		struct pre_conn *dead;

		pthread_mutex_lock(&E.lk);
		dead = sweep(&timeout);
		/* The set is re-made before the dead are put: one that lost its
		 * duplicate may still be registered in it (see the top). */
		atomic_thread_fence(memory_order_seq_cst);
		ep = atomic_load(&E.ep) - 1;
		if (atomic_exchange(&E.rebuild, 0) || ep < 0 || !is_ours(ep, &E.ep_id)) {
			ep_setup();
			ep = atomic_load(&E.ep) - 1;
		}
		pthread_mutex_unlock(&E.lk);
		if (dead) {
			/* A last reference frees cipher contexts (libcrypto, malloc):
			 * under E.work, so that fork never copies us halfway. */
			pthread_mutex_lock(&E.work);
			while (dead) {
				struct pre_conn *next = dead->eng_next;
				dead->eng_next = NULL;
				pre_conn_put(dead);
				dead = next;
			}
			pthread_mutex_unlock(&E.work);
		}
		if (atomic_load(&idle_armed)) {
			int64_t now = pre_now_ms(), t;
			if (!idle_next_ms)
				idle_next_ms = now + idle_period_ms;   /* just became active */
			t = idle_next_ms > now ? idle_next_ms - now : 0;
			if (timeout < 0 || t < timeout)
				timeout = (int)t;
		}
		if (ep < 0) {
			/* out of descriptors: try again shortly */
			struct timespec ts = { 0, ENG_TICK_MS * 1000000L };
			nanosleep(&ts, NULL);
			continue;
		}
		n = epoll_wait(ep, ev, ENG_EVENTS, timeout);
		if (n < 0) {
			if (errno != EINTR) {
				/* EBADF/EINVAL: the program closed our epoll fd or put
				 * something else under its number */
				pthread_mutex_lock(&E.lk);
				ep_setup();
				pthread_mutex_unlock(&E.lk);
			}
			continue;
		}
		pthread_mutex_lock(&E.work);
		for (int i = 0; i < n; i++) {
			struct pre_conn *c = ev[i].data.ptr;
			if (!c) {
				uint64_t v;
				int wk = E.wake - 1;
				if (wk >= 0 && is_ours(wk, &E.wake_id)) {
					ssize_t r = REAL(read)(wk, &v, sizeof v);
					(void)r;
				}
				continue;
			}
			/* A registration exists only while its connection is listed
			 * (see the top), a listed connection holds a reference until
			 * a sweep, and only this thread sweeps: c is alive. */
			pre_io_service(c);
		}
		if (timeout >= 0)
			timer_pass();
		if (idle_next_ms && pre_now_ms() >= idle_next_ms)
			idle_scan();
		pthread_mutex_unlock(&E.work);
	}
	return NULL;
}

/* The inherited engine of a parent process: forget it (child side). */
static void forget_inherited(void)
{
	struct pre_conn *c, *next;

	pthread_mutex_init(&E.lk, NULL);
	pthread_mutex_init(&E.work, NULL);
	ep_close();
	for (c = E.list; c; c = next) {
		struct ident id = { c->eng_dev, c->eng_ino };
		next = c->eng_next;
		if (c->eng_fd && is_ours(c->eng_fd - 1, &id))
			REAL(close)(c->eng_fd - 1);
		c->eng_fd = 0;
		c->eng_listed = 0;
		c->eng_next = NULL;
		c->eng_inbound = 0;   /* the parent's engine drove it; here the program does */
		/* The tail and a background handshake belong to the parent, whose
		 * engine carries on with them; the child's copies are stale. */
		free(c->tail);
		c->tail = NULL;
		c->tail_off = c->tail_len = 0;
		if (atomic_load(&c->state) == PRE_CONNECTING && c->bg) {
			pre_io_drop_held(c);
			c->so_error = ECONNRESET;
			pre_conn_set_state(c, PRE_FAILED);
		}
		pre_conn_put(c);
	}
	E.list = NULL;
	E.running = 0;
	E.pid = getpid();
	/* The parent's scan schedule is not ours (see "fork" above). */
	atomic_store(&idle_armed, 0);
	idle_next_ms = 0;
}

static int engine_start(void)
{
	pid_t me = getpid();
	pthread_attr_t at;
	pthread_t th;
	sigset_t all, old;
	sem_t up;
	int r;

	if (__builtin_expect(E.running && E.pid == me, 1))
		return 0;
	if (E.pid && E.pid != me)
		forget_inherited();   /* a fork our handler did not see (raw clone) */
	pthread_once(&atfork_once, atfork_register);
	pthread_mutex_lock(&E.lk);
	if (E.running) {
		pthread_mutex_unlock(&E.lk);
		return 0;
	}
	if (ep_setup() < 0) {
		pthread_mutex_unlock(&E.lk);
		return -1;
	}
	/* The program's signals are not ours to take: block them all in the
	 * engine thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 256 * 1024);
	sem_init(&up, 0, 0);
	r = pthread_create(&th, &at, engine_main, &up);
	pthread_attr_destroy(&at);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		sem_destroy(&up);
		pthread_mutex_unlock(&E.lk);
		return -1;
	}
	/* A new thread allocates while it starts (its TLS, its stack
	 * attributes; a sanitizer's runtime more): a fork on another thread
	 * meanwhile would copy the allocator's lock held and the child would
	 * hang in its first malloc.  fork's prepare handler takes E.lk, held
	 * here until the thread runs our code, where every step that can
	 * allocate is under E.work or E.lk. */
	while (sem_wait(&up) < 0 && errno == EINTR)
		;
	sem_destroy(&up);
	pthread_setname_np(th, "secsock-engine");
	E.running = 1;
	E.pid = me;
	pthread_mutex_unlock(&E.lk);
	pre_log(PRE_LOG_DEBUG, "engine thread started");
	return 0;
}

int pre_engine_prepare(void)
{
	int saved = errno, r = engine_start();

	errno = saved;
	return r;
}

/* The child of a fork starts with no engine (forget_inherited); one that
 * holds a governed connection gets it here, before its own code runs: a
 * privilege-separated child installs its seccomp filter or lowers
 * RLIMIT_NOFILE next, and the lazy start (its first record's ctx_hook, its
 * first tail) would then be killed or fail (issue 11 item 5).  A seccomp
 * filter binds the thread that installs it and the threads it creates
 * later, so the engine thread made here keeps its system calls (unless the
 * program asks the kernel to sync the filter to all threads: docs limits).
 * A child holding no governed connection (the usual fork-exec) pays one
 * pass over the descriptor table and no thread. */
void pre_engine_child_ready(void)
{
	unsigned hi = atomic_load(&pre_fdtab_hi);

	for (unsigned fd = 0; fd < hi && fd < pre_fdtab_size; fd++) {
		if (pre_fd_peek((int)fd)) {
			if (pre_engine_prepare() < 0)
				pre_log(PRE_LOG_DEBUG, "fork child: engine not started now (%s), later on first need",
				        strerror(errno));
			return;
		}
	}
}

int pre_engine_fd(struct pre_conn *c)
{
	struct ident id = { c->eng_dev, c->eng_ino };
	int d = c->eng_fd - 1;

	if (d < 0)
		return -1;
	if (!is_ours(d, &id)) {
		/* Closed or replaced by the program: the number is not ours, and
		 * the registration made under it cannot be deleted by it.  The
		 * engine re-creates its set before the sweep that drops our
		 * reference (flag first: a sweep that sees eng_fd 0 sees it). */
		atomic_store(&E.rebuild, 1);
		atomic_thread_fence(memory_order_seq_cst);
		c->eng_fd = 0;
		if (E.pid == getpid())
			wake_engine();
		return -1;
	}
	return d;
}

int pre_engine_arm(struct pre_conn *c, int fd, uint32_t events)
{
	struct epoll_event ev;
	int saved = errno, ep, d, fresh = 0, r;

	if (engine_start() < 0)
		goto fail;
	memset(&ev, 0, sizeof ev);
	ev.events = events | EPOLLONESHOT;
	ev.data.ptr = c;
	d = pre_engine_fd(c);
	if (d < 0) {
		struct ident id;
		d = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, ENG_FD_MIN);
		if (d < 0)
			d = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 0);   /* a limit below ENG_FD_MIN */
		if (d < 0)
			goto fail;
		if (ident_of(d, &id) < 0) {
			REAL(close)(d);
			goto fail;
		}
		c->eng_dev = id.dev;
		c->eng_ino = id.ino;
		c->eng_fd = d + 1;
		fresh = 1;
	}
	pthread_mutex_lock(&E.lk);
	ep = atomic_load(&E.ep) - 1;
	if (ep < 0 || !is_ours(ep, &E.ep_id)) {
		pthread_mutex_unlock(&E.lk);
		goto undo;
	}
	if (!c->eng_listed) {
		pre_conn_ref(c);
		c->eng_next = E.list;
		E.list = c;
		c->eng_listed = 1;
	}
	r = REAL(epoll_ctl)(ep, fresh ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, d, &ev);
	if (r < 0 && errno == ENOENT)
		r = REAL(epoll_ctl)(ep, EPOLL_CTL_ADD, d, &ev);
	else if (r < 0 && errno == EEXIST)
		r = REAL(epoll_ctl)(ep, EPOLL_CTL_MOD, d, &ev);
	if (r == 0 && fresh && c->bg)
		wake_engine();   /* a new deadline to watch */
	pthread_mutex_unlock(&E.lk);
	if (r < 0)
		goto undo;
	errno = saved;
	return 0;
undo:
	if (fresh) {
		REAL(close)(d);
		c->eng_fd = 0;
	}
fail:
	errno = saved;
	return -1;
}

void pre_engine_detach(struct pre_conn *c)
{
	int d = pre_engine_fd(c);

	if (d < 0)
		return;
	if (atomic_load(&E.ep) && E.pid == getpid()) {
		/* Out of the set before the number goes: the program's own
		 * descriptor keeps the file, and with it the registration, alive
		 * (epoll(7), "Will closing a file descriptor cause it to be
		 * removed from all epoll interest lists?").  E.lk: the set is not
		 * being re-made meanwhile; a set that is not ours any more is
		 * re-made by the engine before its next sweep's puts. */
		int ep;
		pthread_mutex_lock(&E.lk);
		ep = atomic_load(&E.ep) - 1;
		if (ep >= 0 && is_ours(ep, &E.ep_id))
			REAL(epoll_ctl)(ep, EPOLL_CTL_DEL, d, NULL);
		REAL(close)(d);
		c->eng_fd = 0;
		wake_engine();   /* the sweep drops our reference */
		pthread_mutex_unlock(&E.lk);
		return;
	}
	REAL(close)(d);
	c->eng_fd = 0;
}

static const struct pre_engine_setup *setup_hooks;

void pre_engine_set_setup(const struct pre_engine_setup *s)
{
	setup_hooks = s;
}

int64_t pre_engine_setup_deadline(struct pre_conn *c)
{
	return setup_hooks ? setup_hooks->deadline(c) : 0;
}

int pre_engine_setup_service(struct pre_conn *c)
{
	return setup_hooks ? setup_hooks->service(c) : 0;
}

/* Nested calls (our own pthread_atfork registration plus a caller's
 * handler) count depth: the locks are taken once. */
void pre_engine_atfork_prepare(void)
{
	if (prep_depth++ || !E.running || E.pid != getpid())
		return;
	pthread_mutex_lock(&E.work);
	pthread_mutex_lock(&E.lk);
	prep_locked = 1;
}

/* Parent side of a fork, every connection's locks and E.lk held: an
 * accepted connection still undecided is now held by the child too, and a
 * handshake driven by two processes is broken (each has its own copy of its
 * state).  Which one will use it cannot be known here (a forking server's
 * parent closes it; a parent that forks a helper keeps it), so the engine
 * stops driving it in the background, and from now on it is driven, as
 * before a background engine existed, by whichever process's program
 * reads, writes or waits on it.  A program's epoll registration masked for
 * it gets its events back at the decision (pre_accept.c settle). */
void pre_engine_fork_parent_handoff(void)
{
	if (!prep_locked)
		return;
	for (struct pre_conn *c = E.list; c; c = c->eng_next) {
		int st = atomic_load(&c->state);
		if (c->dir != POL_DIR_INBOUND || (st != PRE_UNDECIDED && st != PRE_HANDSHAKE) || !c->eng_fd)
			continue;
		struct ident id = { c->eng_dev, c->eng_ino };
		if (is_ours(c->eng_fd - 1, &id))
			REAL(close)(c->eng_fd - 1);
		c->eng_fd = 0;   /* the next sweep drops the list's reference */
		c->eng_inbound = 0;
	}
}

void pre_engine_atfork_parent(void)
{
	if (prep_depth > 0 && --prep_depth > 0)
		return;
	if (prep_locked) {
		prep_locked = 0;
		pthread_mutex_unlock(&E.lk);
		pthread_mutex_unlock(&E.work);
	}
}

void pre_engine_atfork_child(void)
{
	prep_depth = 0;
	prep_locked = 0;
	atomic_store(&idle_armed, 0);   /* even if the parent's engine never ran */
	idle_next_ms = 0;
	/* Contexts inherited from the parent made no hook call here: setting
	 * the hook again makes each rec holding one call it at its next record
	 * (ss_rec.h), so a connection the child uses gets trimmed in the child.
	 * Never loads the engine; no-op when no rec exists. */
	if (idle_period_ms > 0)
		ss_rec_set_ctx_hook(ctx_hook);
	if (E.pid && E.pid != getpid())
		forget_inherited();   /* re-initialises the locks prepare took */
}
