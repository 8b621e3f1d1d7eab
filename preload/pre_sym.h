/* pre_sym.h — the real libc functions, bound once with dlsym(RTLD_NEXT).
 *
 * Layer three of the interposer (STYLE.md, cwrap socket_wrapper model): the
 * exported shims call secsock logic, which reaches the kernel only through
 * this table.  RTLD_NEXT (not dlopen("libc.so.6")) so that other preloaded
 * libraries still compose with us.
 */
#ifndef PRE_SYM_H
#define PRE_SYM_H

#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <wordexp.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <aio.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>

struct pre_real {
	int (*socket)(int, int, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*close)(int);
	int (*close_range)(unsigned, unsigned, int);
	int (*shutdown)(int, int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	int (*fcntl64)(int, int, ...);
	int (*ioctl)(int, unsigned long, ...);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*writev)(int, const struct iovec *, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	int (*recvmmsg)(int, struct mmsghdr *, unsigned, int, struct timespec *);
	int (*sendmmsg)(int, struct mmsghdr *, unsigned, int);
	ssize_t (*sendfile)(int, int, off_t *, size_t);
	ssize_t (*sendfile64)(int, int, off_t *, size_t);
	ssize_t (*splice)(int, off_t *, int, off_t *, size_t, unsigned);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	ssize_t (*read_chk)(int, void *, size_t, size_t);
	ssize_t (*recv_chk)(int, void *, size_t, size_t, int);
	ssize_t (*recvfrom_chk)(int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *);
	/* issue 10 (h3): calls that write or read through glibc-internal
	 * aliases, the raw syscall(), closefrom, and descriptor-creating calls
	 * (pre_shim_more.c, pre_shim_raw.c, pre_shim_fd.c). */
	long (*syscall)(long, ...);
	void (*closefrom)(int);
	int (*vdprintf)(int, const char *, __builtin_va_list);
	int (*vdprintf_chk)(int, int, const char *, __builtin_va_list);
	ssize_t (*preadv2)(int, const struct iovec *, int, off_t, int);
	ssize_t (*pwritev2)(int, const struct iovec *, int, off_t, int);
	ssize_t (*preadv64v2)(int, const struct iovec *, int, off_t, int);
	ssize_t (*pwritev64v2)(int, const struct iovec *, int, off_t, int);
	int (*eventfd_read)(int, uint64_t *);
	int (*eventfd_write)(int, uint64_t);
	int (*aio_rw[4])(struct aiocb *);          /* aio_read aio_write aio_read64 aio_write64 */
	int (*lio_listio[2])(int, struct aiocb *const[], int, struct sigevent *);
	int (*open[4])(const char *, int, ...);    /* open open64 __open_2 __open64_2 (2 args) */
	int (*openat[4])(int, const char *, int, ...); /* openat openat64 __openat_2 __openat64_2 */
	int (*creat[2])(const char *, mode_t);
	int (*pipe)(int[2]);
	int (*pipe2)(int[2], int);
	int (*socketpair)(int, int, int, int[2]);
	int (*eventfd)(unsigned, int);
	int (*timerfd_create)(int, int);
	int (*signalfd)(int, const sigset_t *, int);
	int (*epoll_create)(int);
	int (*epoll_create1)(int);
	int (*memfd_create)(const char *, unsigned);
	int (*inotify_init)(void);
	int (*inotify_init1)(int);
	int (*pidfd_getfd)(int, int, unsigned);
	pid_t (*fork)(void);
	int (*execve)(const char *, char *const[], char *const[]);
	int (*execvpe)(const char *, char *const[], char *const[]);
	int (*fexecve)(int, char *const[], char *const[]);
	int (*execveat)(int, const char *, char *const[], char *const[], int);   /* NULL before glibc 2.34 */
	/* pre_spawn.c: glibc calls that start a program */
	int (*posix_spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
	                   char *const[], char *const[]);
	int (*posix_spawnp)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
	                    char *const[], char *const[]);
	int (*spawn_adddup2)(posix_spawn_file_actions_t *, int, int);
	int (*spawn_fa_init)(posix_spawn_file_actions_t *);
	int (*spawn_fa_destroy)(posix_spawn_file_actions_t *);
	int (*system)(const char *);
	FILE *(*popen)(const char *, const char *);
	int (*wordexp)(const char *, wordexp_t *, int);
	pid_t (*_Fork)(void);
	int (*clone)(int (*)(void *), void *, int, void *, ...);
};

extern struct pre_real pre_real;
extern atomic_int pre_sym_bound;

void pre_sym_bind(void);   /* pthread_once; safe before the constructor ran */

/* The table, bound on first use.  One relaxed load once bound. */
static inline const struct pre_real *pre_sym(void)
{
	if (__builtin_expect(!atomic_load_explicit(&pre_sym_bound, memory_order_acquire), 0))
		pre_sym_bind();
	return &pre_real;
}
#define REAL(name) (pre_sym()->name)

#endif
