/* pre_fork.c — fork and vfork (issue 5 "Process life").
 *
 * fork is wrapped (not only pthread_atfork) because the parent must learn
 * the child's pid to list it as a holder of every connection it inherits
 * (pre_arena.c): until then the slot counts a fork "in flight", so a close
 * racing with the fork on another thread cannot wrongly decide that it is
 * the last holder and send close_notify under the child's feet.
 *
 * Order around the real fork: the engine first (so its thread is outside
 * every connection lock), then every connection's locks in fd order; the
 * parent releases in reverse; the child re-makes what is private and calls
 * the engine's child handler.  glibc's own atfork handlers (malloc, stdio)
 * run inside the real fork, after ours.
 *
 * vfork is served by fork: a vfork child shares our memory, so anything we
 * do in it (an exec wrapper building an environment, a close saying
 * close_notify) would change the parent's state behind its back.  POSIX
 * allows vfork to be fork; only speed differs.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include "pre_api.h"
#include "pre_connect.h"
#include "pre_io.h"
#include "pre_sock.h"
#include "pre_status.h"
#include "pre_sym.h"
#include "pre_tail.h"

#define SHIM __attribute__((visibility("default")))

/* pre_engine.c (the other half of issue 5); weak so that this file links
 * whether or not the engine is built in. */
__attribute__((weak)) void pre_engine_atfork_prepare(void);
__attribute__((weak)) void pre_engine_atfork_parent(void);
__attribute__((weak)) void pre_engine_atfork_child(void);
__attribute__((weak)) void pre_engine_child_ready(void);
__attribute__((weak)) void pre_engine_fork_parent_handoff(void);

extern atomic_int pre_ready;

SHIM pid_t fork(void)
{
	pid_t (*real)(void) = REAL(fork);
	pid_t pid;
	int saved;

	if (!atomic_load_explicit(&pre_ready, memory_order_acquire))
		return real();
	/* A first contact still being decided is decided first (pre_connect.c):
	 * the child could not carry it, and a fork-then-use program would lose it. */
	pre_connect_finish_all();
	if (pre_engine_atfork_prepare)
		pre_engine_atfork_prepare();
	pre_arena_fork_prepare();
	pre_tail_atfork_prepare();
	pre_api_atfork_prepare();
	pid = real();
	saved = errno;
	pre_api_atfork_release();
	if (pid == 0) {
		pre_status_atfork_child();   /* before anything publishes into the parent's file */
		pre_fdtab_atfork_child();
		pre_arena_fork_child();
		pre_tail_atfork_child();
		if (pre_engine_atfork_child)
			pre_engine_atfork_child();
		if (pre_engine_child_ready)
			pre_engine_child_ready();
	} else {
		if (pre_engine_fork_parent_handoff)
			pre_engine_fork_parent_handoff();
		pre_tail_atfork_parent();
		pre_arena_fork_parent(pid);
		if (pre_engine_atfork_parent)
			pre_engine_atfork_parent();
	}
	errno = saved;
	return pid;
}

SHIM pid_t vfork(void)
{
	return fork();
}

/* _exit/_Exit skip the destructors, but the kernel closing a socket still
 * delivers what was queued in it; what this process holds queued is its
 * tail, so it goes out here (and close_notify from the last holder), as
 * exit() does — a fork child that wrote and called _exit would otherwise
 * take sealed records along, and its parent's stream would be broken
 * (pre_tail.h).  Bounded (pre_tail.c EXIT_WAIT_MS); a signal handler that
 * calls _exit while its thread holds a connection's lock waits out the
 * bound, never deadlocks.  Then exit_group, as glibc's _exit (exit(3)'s own
 * final _exit is glibc-internal and does not come here). */
static __attribute__((noreturn)) void exit_now(int status)
{
	if (atomic_load_explicit(&pre_ready, memory_order_acquire)) {
		int saved = errno;
		pre_tail_exit_all();
		errno = saved;
	}
	for (;;) {
		syscall(SYS_exit_group, status);
		syscall(SYS_exit, status);
	}
}

SHIM void _exit(int status)
{
	exit_now(status);
}

SHIM void _Exit(int status)
{
	exit_now(status);
}
