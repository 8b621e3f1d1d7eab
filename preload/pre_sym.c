/* pre_sym.c — bind the real libc functions once (see pre_sym.h).
 *
 * Why pthread_once and no allocation of our own here: dlsym may itself call
 * malloc, and an interposed allocator that calls close() would re-enter our
 * shims before the table is complete (jemalloc#443, Samba bug 15660).  The
 * once-guard makes a re-entrant caller on the same thread deadlock-free only
 * if it does not need the table; every shim therefore binds lazily here and
 * the constructor merely triggers it early.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "pre_sym.h"

struct pre_real pre_real;
atomic_int pre_sym_bound;
static pthread_once_t sym_once = PTHREAD_ONCE_INIT;

/* Fallbacks for names a libc may lack; they go straight to the kernel. */
static int fallback_close_range(unsigned first, unsigned last, int flags)
{
	return (int)syscall(SYS_close_range, first, last, flags);
}

#define BIND(field, sym) \
	do { \
		void *p_ = dlsym(RTLD_NEXT, sym); \
		*(void **)&pre_real.field = p_; \
	} while (0)

static void sym_bind_once(void)
{
	int saved = errno;

	BIND(socket, "socket");
	BIND(connect, "connect");
	BIND(bind, "bind");
	BIND(listen, "listen");
	BIND(accept, "accept");
	BIND(accept4, "accept4");
	BIND(close, "close");
	BIND(close_range, "close_range");
	BIND(shutdown, "shutdown");
	BIND(dup, "dup");
	BIND(dup2, "dup2");
	BIND(dup3, "dup3");
	BIND(fcntl, "fcntl");
	BIND(fcntl64, "fcntl64");
	BIND(ioctl, "ioctl");
	BIND(getsockopt, "getsockopt");
	BIND(setsockopt, "setsockopt");
	BIND(read, "read");
	BIND(write, "write");
	BIND(readv, "readv");
	BIND(writev, "writev");
	BIND(recv, "recv");
	BIND(send, "send");
	BIND(recvfrom, "recvfrom");
	BIND(sendto, "sendto");
	BIND(recvmsg, "recvmsg");
	BIND(sendmsg, "sendmsg");
	BIND(recvmmsg, "recvmmsg");
	BIND(sendmmsg, "sendmmsg");
	BIND(sendfile, "sendfile");
	BIND(sendfile64, "sendfile64");
	BIND(splice, "splice");
	BIND(poll, "poll");
	BIND(ppoll, "ppoll");
	BIND(select, "select");
	BIND(pselect, "pselect");
	BIND(epoll_ctl, "epoll_ctl");
	BIND(read_chk, "__read_chk");
	BIND(recv_chk, "__recv_chk");
	BIND(recvfrom_chk, "__recvfrom_chk");
	BIND(fork, "fork");
	BIND(execve, "execve");
	BIND(execvpe, "execvpe");
	BIND(fexecve, "fexecve");
	BIND(execveat, "execveat");
	BIND(posix_spawn, "posix_spawn");
	BIND(posix_spawnp, "posix_spawnp");
	BIND(spawn_adddup2, "posix_spawn_file_actions_adddup2");
	BIND(spawn_fa_init, "posix_spawn_file_actions_init");
	BIND(spawn_fa_destroy, "posix_spawn_file_actions_destroy");
	BIND(system, "system");
	BIND(popen, "popen");
	BIND(wordexp, "wordexp");
	BIND(_Fork, "_Fork");
	BIND(clone, "clone");
	if (!pre_real.close_range)
		pre_real.close_range = fallback_close_range;
	if (!pre_real.fcntl64)
		pre_real.fcntl64 = pre_real.fcntl;
	if (!pre_real.sendfile64)
		pre_real.sendfile64 = pre_real.sendfile;
	atomic_store_explicit(&pre_sym_bound, 1, memory_order_release);
	errno = saved;
}

void pre_sym_bind(void)
{
	pthread_once(&sym_once, sym_bind_once);
}
