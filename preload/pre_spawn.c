/* pre_spawn.c — programs glibc starts without our exec wrappers (issue 10).
 *
 * system(3), popen(3), posix_spawn(3), posix_spawnp(3) and wordexp(3) (a
 * command substitution runs /bin/sh) fork and exec inside glibc, through
 * internal names (__spawni, __execve) no preload can interpose: a governed
 * descriptor without FD_CLOEXEC reached the child with none of its state,
 * and the child wrote on it in clear.  The state cannot go with it: the
 * parent goes on using the connection (system() returns to it, popen's
 * caller keeps it), and two processes sealing with one record state
 * independently would reuse nonces — our exec wrappers hand the shared
 * slot itself to the new image (pre_arena.c "Exec"), but glibc's internal
 * exec never passes through them.
 *
 * So governed descriptors are kept out of the child: for the duration of
 * the call every governed descriptor without FD_CLOEXEC gets it (the
 * kernel closes them in the child at its exec), and gets it back cleared
 * when the last such call in the process returns.  Windows of several
 * threads nest (a count); a descriptor is put back only if it is still
 * governed.  What other threads see meanwhile: F_GETFD reports FD_CLOEXEC,
 * and a fork+exec of their own would not pass the descriptor — unless the
 * exec goes through our wrapper, which knows the mark (pre_spawn_marked)
 * and hands it over as usual.  A file action that puts a governed socket
 * into the child under another number (posix_spawn_file_actions_adddup2:
 * the copy has no FD_CLOEXEC) is refused: posix_spawn returns EPERM and
 * starts nothing.  The dup2 actions are learnt by wrapping adddup2 (glibc's
 * posix_spawn_file_actions_t is opaque).
 *
 * _Fork(2) (glibc 2.34) runs no atfork handlers: fork's locking and holder
 * bookkeeping (pre_fork.c) cannot happen, and a connection may be copied in
 * the middle of another thread's seal.  The child's governed connections
 * are failed (its calls on them return EPIPE/ECONNRESET, like a connection
 * torn down) and marked FD_CLOEXEC, so neither the child nor a program it
 * execs puts a byte on them; the parent is untouched.  clone(2) without
 * CLONE_VM is a fork by another name and gets the same treatment in the
 * child; with CLONE_VM it is a thread (or a vfork-like child sharing our
 * memory) and is left alone.  All of the child's part is async-signal-safe
 * (atomics and fcntl), as _Fork's child must be.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <wordexp.h>
#include "pre_handoff.h"
#include "pre_log.h"
#include "pre_sock.h"
#include "pre_sym.h"

#define SHIM __attribute__((visibility("default")))

enum { DUP2_MAX = 256 };

static pthread_mutex_t spawn_lock = PTHREAD_MUTEX_INITIALIZER;
static int spawn_depth;                    /* windows open (spawn_lock) */
static _Atomic(atomic_uchar *) marks;      /* bit per fd: FD_CLOEXEC set by a window */

/* dup2 file actions seen: (file actions, source fd).  spawn_lock. */
static struct {
	const void *fa;
	int fd;
} dup2s[DUP2_MAX];

int pre_spawn_marked(int fd)
{
	atomic_uchar *m = atomic_load(&marks);
	if (!m || fd < 0 || (unsigned)fd >= pre_fdtab_size)
		return 0;
	return (atomic_load(&m[fd / 8]) >> (fd % 8)) & 1;
}

/* Open a window: 0, or -1 (ENOMEM) when nothing could be marked. */
static int window_open(void)
{
	unsigned hi = atomic_load(&pre_fdtab_hi);
	atomic_uchar *m;

	pthread_mutex_lock(&spawn_lock);
	m = atomic_load(&marks);
	if (!m && pre_fdtab_size) {
		m = calloc(pre_fdtab_size / 8 + 1, 1);
		if (!m) {
			pthread_mutex_unlock(&spawn_lock);
			errno = ENOMEM;
			return -1;
		}
		atomic_store(&marks, m);
	}
	spawn_depth++;
	pre_arena_exec_seal();   /* the arena's memfds never go to these children */
	/* Every window marks what is governed now (a connection made since an
	 * earlier window opened is covered too). */
	for (unsigned fd = 0; fd < hi && fd < pre_fdtab_size; fd++) {
		int fl;
		if (!pre_handoff_governed((int)fd) || (fl = REAL(fcntl)((int)fd, F_GETFD)) < 0 ||
		    (fl & FD_CLOEXEC))
			continue;
		if (REAL(fcntl)((int)fd, F_SETFD, fl | FD_CLOEXEC) == 0)
			atomic_fetch_or(&m[fd / 8], (unsigned char)(1u << (fd % 8)));
	}
	pthread_mutex_unlock(&spawn_lock);
	return 0;
}

static void window_close(void)
{
	atomic_uchar *m = atomic_load(&marks);
	int saved = errno;

	pthread_mutex_lock(&spawn_lock);
	if (--spawn_depth == 0 && m) {
		for (unsigned fd = 0; fd < pre_fdtab_size; fd++) {
			int fl;
			if (!((atomic_load(&m[fd / 8]) >> (fd % 8)) & 1))
				continue;
			atomic_fetch_and(&m[fd / 8], (unsigned char)~(1u << (fd % 8)));
			if (pre_handoff_governed((int)fd) && (fl = REAL(fcntl)((int)fd, F_GETFD)) >= 0)
				REAL(fcntl)((int)fd, F_SETFD, fl & ~FD_CLOEXEC);
		}
	}
	pthread_mutex_unlock(&spawn_lock);
	errno = saved;
}

/* ------------------------------------------------------------ posix_spawn file actions */

static void dup2_forget(const void *fa)
{
	pthread_mutex_lock(&spawn_lock);
	for (int i = 0; i < DUP2_MAX; i++)
		if (dup2s[i].fa == fa)
			dup2s[i].fa = NULL;
	pthread_mutex_unlock(&spawn_lock);
}

SHIM int posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *fa, int fd, int newfd)
{
	int r, i;

	/* Room to remember it first: an action we could not check at spawn
	 * time must not get into fa (ENOMEM is adddup2's own failure). */
	pthread_mutex_lock(&spawn_lock);
	for (i = 0; i < DUP2_MAX && dup2s[i].fa; i++)
		;
	if (i == DUP2_MAX) {
		pthread_mutex_unlock(&spawn_lock);
		return ENOMEM;
	}
	r = REAL(spawn_adddup2)(fa, fd, newfd);
	if (r == 0) {
		dup2s[i].fa = fa;
		dup2s[i].fd = fd;
	}
	pthread_mutex_unlock(&spawn_lock);
	return r;
}

SHIM int posix_spawn_file_actions_init(posix_spawn_file_actions_t *fa)
{
	dup2_forget(fa);
	return REAL(spawn_fa_init)(fa);
}

SHIM int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *fa)
{
	dup2_forget(fa);
	return REAL(spawn_fa_destroy)(fa);
}

/* A dup2 action of fa whose source is governed: the child would get the
 * socket without FD_CLOEXEC and without its state. */
static int dup2_refused(const posix_spawn_file_actions_t *fa)
{
	int bad = -1;

	if (!fa)
		return 0;
	pthread_mutex_lock(&spawn_lock);
	for (int i = 0; i < DUP2_MAX && bad < 0; i++)
		if (dup2s[i].fa == fa && pre_handoff_governed(dup2s[i].fd))
			bad = dup2s[i].fd;
	pthread_mutex_unlock(&spawn_lock);
	if (bad < 0)
		return 0;
	pre_log(PRE_LOG_WARN, "fd %d: posix_spawn with a dup2 action of a governed connection refused "
	        "(the child would have the socket without its security state)", bad);
	return 1;
}

typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
                        char *const[], char *const[]);

static int spawn_common(spawn_fn real, pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                        const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int r;

	if (dup2_refused(fa))
		return EPERM;
	if (window_open() < 0)
		return ENOMEM;
	r = real(pid, path, fa, attr, argv, envp);
	window_close();
	return r;
}

SHIM int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                     const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return spawn_common(REAL(posix_spawn), pid, path, fa, attr, argv, envp);
}

SHIM int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                      const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return spawn_common(REAL(posix_spawnp), pid, file, fa, attr, argv, envp);
}

/* ------------------------------------------------------------ system, popen, wordexp */

SHIM int system(const char *cmd)
{
	int r, e;

	if (window_open() < 0)
		return -1;
	r = REAL(system)(cmd);
	e = errno;
	window_close();
	errno = e;
	return r;
}

SHIM FILE *popen(const char *cmd, const char *mode)
{
	FILE *f;
	int e;

	if (window_open() < 0)
		return NULL;
	f = REAL(popen)(cmd, mode);
	e = errno;
	window_close();
	errno = e;
	return f;
}

SHIM int wordexp(const char *words, wordexp_t *we, int flags)
{
	int r, e;

	if (flags & WRDE_NOCMD)
		return REAL(wordexp)(words, we, flags);
	if (window_open() < 0)
		return WRDE_NOSPACE;
	r = REAL(wordexp)(words, we, flags);
	e = errno;
	window_close();
	errno = e;
	return r;
}

/* ------------------------------------------------------------ _Fork, clone */

/* In a child made without fork's bookkeeping: no governed connection is
 * usable, none passes an exec.  Async-signal-safe. */
static void child_without_fork(int share_files)
{
	unsigned hi = atomic_load(&pre_fdtab_hi);

	pre_fdtab_atfork_child();   /* pins of the parent's other threads do not exist here */
	for (unsigned fd = 0; fd < hi && fd < pre_fdtab_size; fd++) {
		struct pre_conn *c = pre_fd_peek((int)fd);
		int st, fl;
		if (!c || (st = atomic_load(&c->state)) == PRE_NEW || st == PRE_CLEAR)
			continue;
		pre_conn_set_state(c, PRE_FAILED);
		if (!share_files && (fl = REAL(fcntl)((int)fd, F_GETFD)) >= 0)
			REAL(fcntl)((int)fd, F_SETFD, fl | FD_CLOEXEC);
	}
}

SHIM pid_t _Fork(void)
{
	pid_t pid = REAL(_Fork)();

	if (pid == 0) {
		int e = errno;
		child_without_fork(0);
		errno = e;
	}
	return pid;
}

struct clone_tramp {
	int (*fn)(void *);
	void *arg;
	int share_files;
};

static int clone_child(void *p)
{
	struct clone_tramp t = *(struct clone_tramp *)p;   /* our copy of the parent's memory */
	child_without_fork(t.share_files);
	return t.fn(t.arg);
}

SHIM int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	va_list ap;
	pid_t *ptid;
	void *tls;
	pid_t *ctid;
	struct clone_tramp *t;
	int r, e;

	/* glibc's clone reads these three according to flags; pass them on as given. */
	va_start(ap, arg);
	ptid = va_arg(ap, pid_t *);
	tls = va_arg(ap, void *);
	ctid = va_arg(ap, pid_t *);
	va_end(ap);
	if ((flags & CLONE_VM) || !fn || !(t = malloc(sizeof *t)))
		return REAL(clone)(fn, stack, flags, arg, ptid, tls, ctid);
	t->fn = fn;
	t->arg = arg;
	t->share_files = (flags & CLONE_FILES) != 0;
	r = REAL(clone)(clone_child, stack, flags, t, ptid, tls, ctid);
	e = errno;
	free(t);   /* the child has its own copy (no CLONE_VM) */
	errno = e;
	return r;
}
