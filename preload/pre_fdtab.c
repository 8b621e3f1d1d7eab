/* pre_fdtab.c — the flat fd → connection table (see pre_sock.h).
 *
 * Size: the RLIMIT_NOFILE hard limit at start-up (capped), mmap'd so that
 * only the pages of descriptors actually used become resident, and so that
 * no malloc happens before the constructor ran.
 *
 * Getting a reference safely while another thread closes the fd: a reader
 * pins the slot (per-slot counter), loads the pointer, takes a ref, unpins.
 * A closer swaps the slot to NULL and waits until the slot has no pins before
 * dropping the slot's ref, so a pointer loaded from the slot is never freed
 * under a reader.  Descriptors that are not ours never pin: the shims first
 * peek (one relaxed load) and only come here when the slot is non-NULL.
 *
 * The slot is cleared *before* the real close (socket_wrapper's lesson): the
 * kernel may hand the number to a new socket the moment close returns.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include "pre_engine.h"
#include "pre_stdio.h"
#include "pre_sock.h"
#include "pre_status.h"
#include "pre_sym.h"

enum {
	FDTAB_MIN = 1024,
	FDTAB_MAX = 1 << 20      /* 8 MiB of virtual space for pointers at most */
};

pre_slot *_Atomic pre_fdtab;
unsigned pre_fdtab_size;
atomic_uint pre_fdtab_hi;   /* highest fd ever installed + 1: bounds exit-time scans */
static atomic_uint *fd_pins;
static pthread_once_t fdtab_once = PTHREAD_ONCE_INIT;

static void fdtab_init_once(void)
{
	struct rlimit rl;
	size_t n = FDTAB_MIN;
	void *p, *q;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rlim_t m = rl.rlim_max;
		if (m == RLIM_INFINITY || m > FDTAB_MAX)
			m = FDTAB_MAX;
		if (m > n)
			n = (size_t)m;
	}
	p = mmap(NULL, n * sizeof(*pre_fdtab), PROT_READ | PROT_WRITE,
	         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	q = mmap(NULL, n * sizeof(*fd_pins), PROT_READ | PROT_WRITE,
	         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED || q == MAP_FAILED) {
		/* No table: nothing can be governed.  pre_fd_install fails and the
		 * callers treat that as "cannot secure" (fail closed on require). */
		if (p != MAP_FAILED)
			munmap(p, n * sizeof(*pre_fdtab));
		if (q != MAP_FAILED)
			munmap(q, n * sizeof(*fd_pins));
		return;
	}
	fd_pins = q;
	pre_fdtab_size = (unsigned)n;
	atomic_store_explicit(&pre_fdtab, (pre_slot *)p, memory_order_release);
}

void pre_fdtab_init(void)
{
	int saved = errno;
	pthread_once(&fdtab_once, fdtab_init_once);
	errno = saved;
}

struct pre_conn *pre_fd_get(int fd)
{
	struct pre_conn *c;

	if (!pre_fd_peek(fd))
		return NULL;
	atomic_fetch_add_explicit(&fd_pins[fd], 1, memory_order_acq_rel);
	c = atomic_load_explicit(&pre_fdtab[fd], memory_order_acquire);
	if (c)
		pre_conn_ref(c);
	atomic_fetch_sub_explicit(&fd_pins[fd], 1, memory_order_release);
	return c;
}

static void wait_unpinned(int fd)
{
	while (atomic_load_explicit(&fd_pins[fd], memory_order_acquire) != 0)
		sched_yield();
}

/* The connection lost a descriptor behind our back (see pre_fd_stale).  When
 * it was the last one in this process: the engine's duplicate is closed (it
 * would keep the socket open, so the peer would never see the FIN of the
 * close we missed) and the process leaves the holder list, but nothing is
 * sent — the number is another file now, and the socket is gone. */
static void drop_stale(struct pre_conn *c)
{
	if (atomic_fetch_sub_explicit(&c->fd_refs, 1, memory_order_acq_rel) == 1) {
		/* trylock: a caller of ours may hold it (an internal open while
		 * sealing); then the engine drops its duplicate when its work
		 * on the connection ends. */
		if (pthread_mutex_trylock(&c->tx_lock) == 0) {
			pre_engine_detach(c);
			pthread_mutex_unlock(&c->tx_lock);
		}
		(void)pre_arena_fds_gone(c);
	}
	pre_conn_put(c);
}

void pre_fd_stale(int fd)
{
	int saved = errno;
	struct pre_conn *c = pre_fd_take(fd);

	if (c)
		drop_stale(c);
	errno = saved;
}

int pre_fd_holds(int fd, const struct pre_conn *c)
{
	int saved = errno, dom = -1;
	socklen_t l = sizeof dom;
	int r = REAL(getsockopt)(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) == 0 && dom == c->domain;

	errno = saved;
	return r;
}

int pre_fd_install(int fd, struct pre_conn *c)
{
	struct pre_conn *old;

	pre_fdtab_init();
	if (!pre_fdtab || fd < 0 || (unsigned)fd >= pre_fdtab_size)
		return -1;
	pre_conn_ref(c);
	atomic_fetch_add_explicit(&c->fd_refs, 1, memory_order_relaxed);
	for (unsigned hi = atomic_load_explicit(&pre_fdtab_hi, memory_order_relaxed);
	     (unsigned)fd >= hi &&
	     !atomic_compare_exchange_weak(&pre_fdtab_hi, &hi, (unsigned)fd + 1);)
		;
	old = atomic_exchange_explicit(&pre_fdtab[fd], c, memory_order_acq_rel);
	if (old) {
		/* The kernel reused the number without our close seeing it (a
		 * close through syscall() or another escape): the old state is
		 * stale, drop it without touching the descriptor. */
		wait_unpinned(fd);
		drop_stale(old);
	}
	/* stdin/stdout/stderr over a governed socket (accept or socket after
	 * close(0..2), dup2, exec handoff): glibc's stdio would write it in
	 * clear through __write; give the program a stream through our shims. */
	if (fd <= 2)
		pre_stdio_adopt(fd);
	pre_status_fd(c, fd);
	return 0;
}

struct pre_conn *pre_fd_take(int fd)
{
	struct pre_conn *c;

	if (!pre_fd_peek(fd))
		return NULL;
	c = atomic_exchange_explicit(&pre_fdtab[fd], NULL, memory_order_acq_rel);
	if (c)
		wait_unpinned(fd);
	return c;
}

void pre_fd_forget(int fd)
{
	struct pre_conn *c = pre_fd_take(fd);

	if (!c)
		return;
	/* The last descriptor of a secured connection says close_notify on
	 * fd: first make sure fd still is that socket (a stale slot would
	 * write an alert record into whatever file now has the number). */
	if (atomic_load(&c->state) == PRE_SECURED && atomic_load(&c->fd_refs) == 1 &&
	    !pre_fd_holds(fd, c))
		drop_stale(c);
	else
		pre_conn_release_fd(c, fd);
}

/* fork child: the threads that had slots pinned in the parent do not exist
 * here; their pins would make every later close wait forever. */
void pre_fdtab_atfork_child(void)
{
	unsigned hi = atomic_load(&pre_fdtab_hi);

	if (!fd_pins)
		return;
	for (unsigned fd = 0; fd < hi && fd < pre_fdtab_size; fd++)
		atomic_store_explicit(&fd_pins[fd], 0, memory_order_relaxed);
}
