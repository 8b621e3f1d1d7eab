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

/* Fallbacks for names a libc may lack; they go straight to the kernel
 * (through libc's syscall(), not ours: ours routes close_range back here). */
static int fallback_close_range(unsigned first, unsigned last, int flags)
{
	return (int)pre_real.syscall(SYS_close_range, first, last, flags);
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
	BIND(syscall, "syscall");
	BIND(closefrom, "closefrom");
	BIND(vdprintf, "vdprintf");
	BIND(vdprintf_chk, "__vdprintf_chk");
	BIND(preadv2, "preadv2");
	BIND(pwritev2, "pwritev2");
	BIND(preadv64v2, "preadv64v2");
	BIND(pwritev64v2, "pwritev64v2");
	BIND(eventfd_read, "eventfd_read");
	BIND(eventfd_write, "eventfd_write");
	BIND(aio_rw[0], "aio_read");
	BIND(aio_rw[1], "aio_write");
	BIND(aio_rw[2], "aio_read64");
	BIND(aio_rw[3], "aio_write64");
	BIND(lio_listio[0], "lio_listio");
	BIND(lio_listio[1], "lio_listio64");
	BIND(open[0], "open");
	BIND(open[1], "open64");
	BIND(open[2], "__open_2");
	BIND(open[3], "__open64_2");
	BIND(openat[0], "openat");
	BIND(openat[1], "openat64");
	BIND(openat[2], "__openat_2");
	BIND(openat[3], "__openat64_2");
	BIND(creat[0], "creat");
	BIND(creat[1], "creat64");
	BIND(pipe, "pipe");
	BIND(pipe2, "pipe2");
	BIND(socketpair, "socketpair");
	BIND(eventfd, "eventfd");
	BIND(timerfd_create, "timerfd_create");
	BIND(signalfd, "signalfd");
	BIND(epoll_create, "epoll_create");
	BIND(epoll_create1, "epoll_create1");
	BIND(memfd_create, "memfd_create");
	BIND(inotify_init, "inotify_init");
	BIND(inotify_init1, "inotify_init1");
	BIND(pidfd_getfd, "pidfd_getfd");
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
