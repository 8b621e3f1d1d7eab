/* pre_exec.c — the exec family (issue 5 "Process life").
 *
 * A secured descriptor without FD_CLOEXEC survives exec; our state does
 * not.  Before the real exec we write, for every such descriptor, its
 * record state and bookkeeping into a memfd (sealed against resizing,
 * inherited: the only descriptor whose FD_CLOEXEC we clear) and name it in
 * SECSOCK_INHERIT=FD.  The new image's constructor (preloaded too, since we
 * keep LD_PRELOAD in the environment) reads it, matches each entry to a
 * descriptor by SO_COOKIE — the socket's identity, so a stale or forged
 * entry cannot attach keys to another socket — imports it, wipes the memfd
 * and closes it.
 *
 * A secured connection goes along as its shared slot (pre_arena.c
 * "Exec"): the entry names the arena chunk's memfd, made inheritable for
 * this exec only, and the slot; the new image maps it and goes on with the
 * one record state, locks and holder list that a parent or sibling still
 * holding the socket uses — one record state, never two copies advanced
 * independently (nonce reuse).  Holders are counted by pid, which exec
 * keeps, so only the last holder's close says close_notify, whichever
 * image that is.  The locks are taken for the snapshot of this image's
 * private part (undelivered plaintext, a partial record) and let go just
 * before the exec (a robust mutex held across exec reads as its owner's
 * death); this image's own unsent records go along (the new image sends
 * them first) and are taken out of this image, whose engine would send them
 * too.  Where the slot cannot be shared (anonymous chunk, memfd closed by
 * the program) the state is copied and moved: the other holders find it failed
 * (pre_arena_move), and the locks are held through the exec.  If exec
 * fails, all of it is undone.
 *
 * Where the state cannot follow — the target will not load the preload
 * (policy/pol_reach.c, the test `secsock run` makes too: static or
 * static-pie, Go, another libc's loader or ELF class, secure-execution, a
 * script whose #! chain ends in one of those) — the secured descriptors are
 * shut down (SHUT_RDWR) before the exec: the new program sees a dead
 * socket, never a clear one.  An accepted connection still undecided goes
 * along as undecided (the new image classifies it); under `require` and an
 * unreachable target it is shut down too.  The new image's LD_PRELOAD must
 * load us: an envp that dropped it or replaced the list gets ours back.
 *
 * glibc's own children (system, popen, posix_spawn, wordexp) and _Fork /
 * clone: preload/pre_spawn.c.
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <sodium.h>
#include "pol_reach.h"
#include "pre_connect.h"
#include "pre_handoff.h"
#include "pre_io.h"
#include "pre_log.h"
#include "pre_sock.h"
#include "pre_status.h"
#include "pre_sym.h"
#include "pre_tail.h"

#define SHIM __attribute__((visibility("default")))

extern char **environ;

#include "pre_exec_int.h"

static char saved_preload[PATH_MAX * 2];

static int pre_real_execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
	if (REAL(execveat))
		return REAL(execveat)(dirfd, path, argv, envp, flags);
	return (int)syscall(SYS_execveat, dirfd, path, argv, envp, flags);
}

void pre_exec_init(void)
{
	const char *p = getenv("LD_PRELOAD");
	if (p && strlen(p) < sizeof saved_preload)
		strcpy(saved_preload, p);
}

/* ------------------------------------------------------------ target check */

/* execvp's search (the current PATH, as glibc's execvpe uses), enough to
 * name the file the kernel will run. */
static const char *search_path(const char *file, char *buf, size_t len)
{
	const char *path = getenv("PATH");

	if (strchr(file, '/'))
		return file;
	if (!path)
		path = "/bin:/usr/bin";
	while (*path) {
		const char *e = strchr(path, ':');
		size_t n = e ? (size_t)(e - path) : strlen(path);
		if (snprintf(buf, len, "%.*s/%s", (int)n, n ? path : ".", file) < (int)len &&
		    access(buf, X_OK) == 0)
			return buf;
		path += n + (e != NULL);
	}
	return file;
}

/* The PATH the new image will have ("#!/usr/bin/env PROG" looks PROG up in it). */
static const char *env_path(char *const envp[])
{
	for (size_t i = 0; envp && envp[i]; i++)
		if (!strncmp(envp[i], "PATH=", 5))
			return envp[i] + 5;
	return NULL;
}

/* What the exec will run, as execveat(2) names it. */
struct exec_target {
	int dirfd, flags, sh_fallback;   /* sh_fallback: the execvp family runs ENOEXEC files with sh */
	const char *path;
};

/* ------------------------------------------------------------ export */

struct exec_ctx {
	struct pre_conn **conns;
	uint8_t *shared;   /* per conn: goes as its arena slot, locks released */
	int *arena_fd;     /* per conn: the chunk memfd made inheritable, or -1 */
	struct exec_tail {
		uint8_t *p;
		uint32_t off, len;
	} *tails;          /* per conn: its tail, taken out for the exec */
	size_t n;
	int memfd;
	char **env;
	char *preload;   /* "LD_PRELOAD=..." when envp's does not load us */
	char inherit[32];
};

static void fill_entry(struct inh_entry *e, struct pre_conn *c, int fd, int shared)
{
	memset(e, 0, sizeof *e);
	e->fd = fd;
	e->cookie = pre_exec_cookie(fd);
	e->state = atomic_load(&c->state);
	e->dir = c->dir;
	e->action = c->action;
	e->nonblock = c->nonblock;
	e->user_lowat = c->user_lowat;
	e->k_lowat = c->k_lowat;
	e->arena_fd = -1;
	if (e->state != PRE_SECURED)
		return;
	if (shared)
		e->shared = 1, (void)pre_arena_exec_ref(c, &e->arena_fd, &e->arena_slot);
	else
		e->rs = *c->rs;
	e->suite = c->suite;
	e->group = c->group;
	e->auth = c->auth;
	e->mode = c->mode;
	e->mutual = c->mutual;
	e->wr_shut = c->wr_shut;
	e->hs_usec = c->hs_usec;
	snprintf(e->peer, sizeof e->peer, "%s", c->peer ? c->peer : "anonymous");
	e->eof_queued = c->eof_queued;
	e->tail_len = c->tail_len - c->tail_off;
	if (c->partial && c->partial_len <= sizeof e->partial) {
		memcpy(e->partial, c->partial, c->partial_len);
		e->partial_len = c->partial_len;
	}
	if (c->cache && c->cache_len - c->cache_off <= sizeof e->cache) {
		e->cache_len = c->cache_len - c->cache_off;
		memcpy(e->cache, c->cache + c->cache_off, e->cache_len);
		e->cache_rec = c->cache_rec;
	}
}

static void exec_undo(struct exec_ctx *x)
{
	pre_status_exec_failed();   /* nothing when the file was not removed */
	if (x->memfd >= 0) {
		/* wipe what we wrote (size is sealed; the content is not) */
		static const uint8_t zero[4096];
		struct stat sb;
		if (fstat(x->memfd, &sb) == 0)
			for (off_t o = 0; o < sb.st_size; o += (off_t)sizeof zero)
				(void)!pwrite(x->memfd, zero, sizeof zero, o);
		REAL(close)(x->memfd);
	}
	for (size_t i = 0; i < x->n; i++) {
		struct pre_conn *c = x->conns[i];
		if (x->arena_fd[i] >= 0)
			REAL(fcntl)(x->arena_fd[i], F_SETFD, FD_CLOEXEC);
		if (!x->shared[i])
			pre_arena_unmove(c);
		if (x->shared[i] != 2) {
			pthread_mutex_unlock(&c->tx_lock);
			pthread_mutex_unlock(&c->rx_lock);
		} else if (x->tails[i].p) {
			/* the exec failed: the tail is ours to send again (the next
			 * write pushes it first) */
			pthread_mutex_lock(&c->tx_lock);
			free(c->tail);
			c->tail = x->tails[i].p;
			c->tail_off = x->tails[i].off;
			c->tail_len = x->tails[i].len;
			pthread_mutex_unlock(&c->tx_lock);
		}
		c->fork_mark = 0;
		pre_conn_put(c);
	}
	free(x->conns);
	free(x->shared);
	free(x->arena_fd);
	free(x->tails);
	free(x->env);
	free(x->preload);
	memset(x, 0, sizeof *x);
	x->memfd = -1;
}

/* Does the LD_PRELOAD value v load what we were loaded with?  (Our list
 * as a whole: the entries around libsecsock.so may matter to it.) */
static int keeps_preload(const char *v)
{
	const char *hit = strstr(v, saved_preload);
	size_t n = strlen(saved_preload);

	return hit && (hit == v || hit[-1] == ':' || hit[-1] == ' ') &&
	       (hit[n] == '\0' || hit[n] == ':' || hit[n] == ' ');
}

/* Build the environment for the new image: envp without a stale
 * SECSOCK_INHERIT, with SECSOCK_INHERIT when we export, and with our
 * LD_PRELOAD when envp dropped it or replaced it by a list without us (a
 * program that cleans its environment would otherwise run its children
 * unprotected, and the exported state would go to a program that does not
 * load the library: clear). */
static int build_env(struct exec_ctx *x, char *const envp[])
{
	size_t n = 0, k = 0;
	const char *theirs = NULL;

	for (; envp && envp[n]; n++)
		;
	x->env = malloc((n + 3) * sizeof *x->env);
	if (!x->env)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!strncmp(envp[i], "SECSOCK_INHERIT=", 16))
			continue;
		if (!strncmp(envp[i], "LD_PRELOAD=", 11) && saved_preload[0]) {
			theirs = envp[i] + 11;
			if (!keeps_preload(theirs))
				continue;   /* replaced below */
		}
		x->env[k++] = envp[i];
	}
	if (saved_preload[0] && (!theirs || !keeps_preload(theirs))) {
		size_t len = 12 + strlen(saved_preload) + 1 + (theirs ? strlen(theirs) : 0);
		if (!(x->preload = malloc(len)))
			return -1;
		snprintf(x->preload, len, "LD_PRELOAD=%s%s%s", saved_preload, theirs && *theirs ? ":" : "",
		         theirs ? theirs : "");
		x->env[k++] = x->preload;
	}
	if (x->memfd >= 0) {
		snprintf(x->inherit, sizeof x->inherit, "SECSOCK_INHERIT=%d", x->memfd);
		x->env[k++] = x->inherit;
	}
	x->env[k] = NULL;
	return 0;
}

/* An undecided accepted connection going to a program we cannot reach:
 * may it go on in clear?  Only if the client is not asking for security —
 * its first bytes are not a ClientHello, or it sent nothing within
 * server-first-wait (the rule a speaking-first server follows anyway). */
static int clear_client(int fd, const struct pre_conn *c)
{
	uint8_t buf[512];
	int64_t wait = (int64_t)pre_conn_settings(c)->server_first_wait_ms;
	ssize_t n;

	if (pre_wire_wait(fd, POLLIN, wait) <= 0)
		return 1;
	n = REAL(recv)(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
	if (n <= 0)
		return n == 0;
	return ss_hello_classify(buf, (size_t)n) == SS_HELLO_OTHER;
}

/* Another holder's records still in its tail (pre_tail.h) must be on the
 * wire before the state leaves: the new image seals after them.  Locks
 * held; tx_lock is released while waiting (bounded: a peer that does not
 * read must not hang exec).  1 in order, 0 not (the caller shuts down). */
static int tails_in_order(struct pre_conn *c)
{
	int64_t until = pre_now_ms() + TAIL_WAIT_MS;

	for (;;) {
		int t = pre_arena_tail_state(c);
		if (t == PRE_TAIL_NONE || t == PRE_TAIL_MINE)
			return 1;
		if (t == PRE_TAIL_LOST || pre_now_ms() >= until)
			return 0;
		pthread_mutex_unlock(&c->tx_lock);
		struct timespec ts = { 0, 2000000L };
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&c->tx_lock);
	}
}

/* This image's own unsent records (its tail) travel in the hand-off and the
 * new image sends them first (pre_tail_adopt; same pid, so the slot's tail
 * mark stays right).  One push now without waiting, so that usually there
 * is nothing to carry; what the kernel did not take is taken out of c when
 * the locks go (share_release), or this image's engine would send it too. */
/* Locks held.  May c's state go to the new image as its shared slot
 * (pre_arena.c "Exec"), so that every holder goes on with one state? */
static int shareable(struct pre_conn *c, int fd)
{
	uint32_t slot;
	int afd;

	if (atomic_load(&c->state) != PRE_SECURED || pre_arena_exec_ref(c, &afd, &slot) != 0)
		return 0;
	if (pre_arena_tail_state(c) == PRE_TAIL_MINE && pre_tail_flush(c, fd) < 0)
		return 0;
	return pre_arena_tail_state(c) != PRE_TAIL_LOST;
}

/* The shared hand-offs are written: make each chunk memfd inheritable for
 * this exec and let the locks go — a robust mutex held across exec is
 * released by the kernel as its owner's death (futex(2), robust lists), and
 * the next holder would fail the connection on EOWNERDEAD. */
static void share_release(struct exec_ctx *x)
{
	for (size_t i = 0; i < x->n; i++) {
		struct pre_conn *c = x->conns[i];
		uint32_t slot;
		int afd;

		if (x->shared[i] != 1)
			continue;
		if (pre_arena_exec_ref(c, &afd, &slot) == 0 && REAL(fcntl)(afd, F_SETFD, 0) == 0)
			x->arena_fd[i] = afd;
		x->tails[i].p = c->tail;   /* exported: the new image sends it */
		x->tails[i].off = c->tail_off;
		x->tails[i].len = c->tail_len;
		c->tail = NULL;
		c->tail_off = c->tail_len = 0;
		pthread_mutex_unlock(&c->tx_lock);
		pthread_mutex_unlock(&c->rx_lock);
		x->shared[i] = 2;
	}
}

/* Lock c for the hand-off and list it in x.  0 (listed, or shut down and
 * let go), -1 out of memory (c let go). */
static int ctx_add(struct exec_ctx *x, size_t *cap, struct pre_conn *c, int fd, const char *path)
{
	int sh;

	if (x->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct pre_conn **nc = realloc(x->conns, ncap * sizeof *nc);
		uint8_t *ns = nc ? realloc(x->shared, ncap) : NULL;
		int *na = ns ? realloc(x->arena_fd, ncap * sizeof *na) : NULL;
		struct exec_tail *nt = na ? realloc(x->tails, ncap * sizeof *nt) : NULL;
		if (nc)
			x->conns = nc;
		if (ns)
			x->shared = ns;
		if (na)
			x->arena_fd = na;
		if (!nt) {
			pre_conn_put(c);
			return -1;
		}
		x->tails = nt;
		*cap = ncap;
	}
	/* Both locks for the snapshot, held through the exec unless the slot
	 * itself goes along (share_release): nothing may be sealed after a
	 * copied state.  (A dup of the same connection is exported by cookie
	 * once; the importer finds every descriptor of it.) */
	c->fork_mark = 1;
	pthread_mutex_lock(&c->rx_lock);
	pthread_mutex_lock(&c->tx_lock);
	sh = shareable(c, fd);
	if (!sh && atomic_load(&c->state) == PRE_SECURED && !tails_in_order(c)) {
		pthread_mutex_unlock(&c->tx_lock);
		pthread_mutex_unlock(&c->rx_lock);
		c->fork_mark = 0;
		REAL(shutdown)(fd, SHUT_RDWR);
		pre_log(PRE_LOG_WARN, "fd %d: exec of %s: another process's records are still unsent; "
		        "secured connection shut down", fd, path ? path : "(fd)");
		pre_conn_put(c);
		return 0;
	}
	x->shared[x->n] = (uint8_t)sh;
	x->arena_fd[x->n] = -1;
	x->tails[x->n].p = NULL;
	x->conns[x->n++] = c;
	return 0;
}

/* Every connection of this image the new one can carry goes into x
 * (ctx_add); one it cannot is shut down (never clear) or, an undecided
 * client, left in clear; one that does not survive the exec is left out.
 * -1 when ctx_add cannot grow x. */
static int exec_collect(struct exec_ctx *x, unsigned hi, int reach, const char *why, const char *path)
{
	size_t cap = 0;

	for (unsigned fd = 0; fd < hi && fd < pre_fdtab_size; fd++) {
		struct pre_conn *c;
		int fl, st;

		if (!pre_fd_peek((int)fd) || !(c = pre_fd_get((int)fd)))
			continue;
		fl = REAL(fcntl)((int)fd, F_GETFD);
		if (atomic_load(&c->state) == PRE_CONNECTING && c->bg && c->bg_open && fl >= 0 &&
		    !(fl & FD_CLOEXEC))
			pre_connect_bg_finish(c, (int)fd);   /* first contact: decided before it goes */
		st = atomic_load(&c->state);
		if (fl >= 0 && (fl & FD_CLOEXEC) && pre_spawn_marked((int)fd) &&
		    REAL(fcntl)((int)fd, F_SETFD, fl & ~FD_CLOEXEC) == 0)
			fl &= ~FD_CLOEXEC;   /* inheritable: only a spawn in another thread marked it */
		/* A background client handshake cannot follow (shut down below, as a
		 * server handshake); a failed connection goes over as failed —
		 * left out, the new image would see an unknown socket and write
		 * on it in clear. */
		if (fl < 0 || (fl & FD_CLOEXEC) || c->fork_mark ||
		    (st != PRE_SECURED && st != PRE_UNDECIDED && st != PRE_HANDSHAKE && st != PRE_FAILED &&
		     !(st == PRE_CONNECTING && c->bg))) {
			pre_conn_put(c);
			continue;
		}
		if (!reach || st == PRE_HANDSHAKE || st == PRE_CONNECTING) {
			if (st != PRE_UNDECIDED || c->action == POL_REQUIRE || !clear_client((int)fd, c)) {
				/* Never clear: the new program cannot carry the state. */
				REAL(shutdown)((int)fd, SHUT_RDWR);
				pre_log(PRE_LOG_WARN, "fd %d: exec of %s: %s%s%s; secured connection shut down", fd,
				        path ? path : "(fd)", !reach ? "LD_PRELOAD cannot reach it (" : "handshake in progress",
				        !reach ? why : "", !reach ? ")" : "");
			}
			pre_conn_put(c);
			continue;
		}
		if (ctx_add(x, &cap, c, (int)fd, path) < 0)
			return -1;
	}
	return 0;
}

/* The memfd the new image imports (pre_exec_int.h): the header, one entry
 * per connection of x, then the secured ones' unsent records; sealed
 * against resizing and made inheritable.  The number of entries written,
 * or -1 (x->memfd may then be open: exec_undo closes it). */
static ssize_t exec_write(struct exec_ctx *x, unsigned hi)
{
	struct inh_entry *e = NULL;
	struct inh_hdr h;
	size_t exported = 0, tails = 0, at;

	x->memfd = memfd_create("secsock-inherit", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (pre_crypto_init() == 0)   /* sodium_malloc needs sodium_init */
		e = sodium_malloc(sizeof *e);
	if (x->memfd < 0 || !e)
		goto fail;
	memset(&h, 0, sizeof h);
	memcpy(h.magic, "SSINHv1", 8);
	h.version = INH_VERSION;
	h.count = (uint32_t)x->n;
	h.entry_size = sizeof *e;
	for (size_t i = 0; i < x->n; i++)
		if (atomic_load(&x->conns[i]->state) == PRE_SECURED)
			tails += x->conns[i]->tail_len - x->conns[i]->tail_off;
	at = sizeof h + x->n * sizeof *e;
	if (ftruncate(x->memfd, (off_t)(at + tails)) != 0 ||
	    pwrite(x->memfd, &h, sizeof h, 0) != (ssize_t)sizeof h)
		goto fail;
	for (size_t i = 0; i < x->n; i++) {
		struct pre_conn *c = x->conns[i];
		int fd = -1;
		for (unsigned f = 0; f < hi && f < pre_fdtab_size && fd < 0; f++)
			if (pre_fd_peek((int)f) == c)
				fd = (int)f;
		fill_entry(e, c, fd, x->shared[i] != 0);
		if (e->tail_len) {
			e->tail_at = at;
			if (pwrite(x->memfd, c->tail + c->tail_off, e->tail_len, (off_t)at) != (ssize_t)e->tail_len)
				goto fail;
			at += e->tail_len;
		}
		if (pwrite(x->memfd, e, sizeof *e, (off_t)(sizeof h + i * sizeof *e)) != (ssize_t)sizeof *e)
			goto fail;
		exported++;
	}
	sodium_free(e);
	e = NULL;
	if (fcntl(x->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0 ||
	    REAL(fcntl)(x->memfd, F_SETFD, 0) != 0)
		return -1;
	return (ssize_t)exported;
fail:
	if (e)
		sodium_free(e);
	return -1;
}

static int exec_prepare(struct exec_ctx *x, const struct exec_target *t, char *const envp[])
{
	unsigned hi = atomic_load(&pre_fdtab_hi);
	const char *why = NULL, *path = t->path && *t->path ? t->path : NULL;
	int reach = pol_reach(t->dirfd, t->path, t->flags, env_path(envp), t->sh_fallback, &why) == POL_REACH_YES;
	int saved = errno;
	ssize_t exported;

	memset(x, 0, sizeof *x);
	x->memfd = -1;
	/* Connections the program closed whose records the engine still sends:
	 * the engine and its descriptors do not survive the exec. */
	pre_tail_before_exec();
	pre_arena_exec_seal();
	if (exec_collect(x, hi, reach, why, path) < 0)
		goto fail;
	if (!x->n)
		goto env;
	if (x->n > INH_MAX)
		goto fail;
	exported = exec_write(x, hi);
	if (exported < 0)
		goto fail;
	for (size_t i = 0; i < x->n; i++)
		if (!x->shared[i] && atomic_load(&x->conns[i]->state) == PRE_SECURED)
			pre_arena_move(x->conns[i]);
	share_release(x);
	pre_log(PRE_LOG_DEBUG, "exec of %s: %zd connection(s) handed over", path ? path : "(fd)", exported);
env:
	if (build_env(x, envp) < 0)
		goto fail;
	pre_status_before_exec();
	errno = saved;
	return 0;
fail:
	/* Could not hand the state over: the connections must not reach the new
	 * image usable in clear. */
	for (size_t i = 0; i < x->n; i++)
		if (atomic_load(&x->conns[i]->state) == PRE_SECURED) {
			for (unsigned f = 0; f < hi && f < pre_fdtab_size; f++)
				if (pre_fd_peek((int)f) == x->conns[i])
					REAL(shutdown)((int)f, SHUT_RDWR);
		}
	pre_log(PRE_LOG_ERROR, "exec of %s: cannot hand secured connections over; shut down",
	        path ? path : "(fd)");
	exec_undo(x);
	if (build_env(x, envp) < 0)
		return -1;
	pre_status_before_exec();
	errno = saved;
	return 0;
}

/* ------------------------------------------------------------ wrappers */

SHIM int execve(const char *path, char *const argv[], char *const envp[])
{
	struct exec_ctx x;
	int r, e;

	struct exec_target t = { AT_FDCWD, 0, 0, path };

	if (exec_prepare(&x, &t, envp) < 0)
		return REAL(execve)(path, argv, envp);
	r = REAL(execve)(path, argv, x.env);
	e = errno;
	exec_undo(&x);
	errno = e;
	return r;
}

SHIM int execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

SHIM int execvpe(const char *file, char *const argv[], char *const envp[])
{
	char buf[PATH_MAX];
	struct exec_ctx x;
	int r, e;

	struct exec_target t = { AT_FDCWD, 0, 1, search_path(file, buf, sizeof buf) };

	if (exec_prepare(&x, &t, envp) < 0)
		return REAL(execvpe)(file, argv, envp);
	r = REAL(execvpe)(file, argv, x.env);
	e = errno;
	exec_undo(&x);
	errno = e;
	return r;
}

SHIM int execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, environ);
}

SHIM int fexecve(int fd, char *const argv[], char *const envp[])
{
	struct exec_ctx x;
	int r, e;

	struct exec_target t = { fd, AT_EMPTY_PATH, 0, "" };

	if (exec_prepare(&x, &t, envp) < 0)
		return REAL(fexecve)(fd, argv, envp);
	r = REAL(fexecve)(fd, argv, x.env);
	e = errno;
	exec_undo(&x);
	errno = e;
	return r;
}

/* execveat(2) (glibc 2.34+): fexecve's general form, a path relative to
 * dirfd, AT_EMPTY_PATH for dirfd itself, AT_SYMLINK_NOFOLLOW.  Without it
 * in libc the system call is made directly (what glibc's wrapper does). */
SHIM int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
	struct exec_target t = { dirfd, flags, 0, path };
	struct exec_ctx x;
	int r, e;

	if (exec_prepare(&x, &t, envp) < 0)
		return pre_real_execveat(dirfd, path, argv, envp, flags);
	r = pre_real_execveat(dirfd, path, argv, x.env, flags);
	e = errno;
	exec_undo(&x);
	errno = e;
	return r;
}

/* execl*: collect the variadic arguments, then the v-forms above. */
#define COLLECT_ARGS(arg0, ap, argv, extra) \
	size_t argc_ = 1; \
	va_start(ap, arg0); \
	while (va_arg(ap, const char *)) \
		argc_++; \
	va_end(ap); \
	const char *argv[argc_ + 1]; \
	argv[0] = arg0; \
	va_start(ap, arg0); \
	for (size_t i_ = 1; i_ <= argc_; i_++) \
		argv[i_] = va_arg(ap, const char *); \
	extra; \
	va_end(ap)

SHIM int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	COLLECT_ARGS(arg, ap, argv, (void)0);
	return execve(path, (char *const *)argv, environ);
}

SHIM int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	COLLECT_ARGS(arg, ap, argv, (void)0);
	return execvpe(file, (char *const *)argv, environ);
}

SHIM int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	char *const *envp;
	COLLECT_ARGS(arg, ap, argv, envp = va_arg(ap, char *const *));
	return execve(path, (char *const *)argv, envp);
}
