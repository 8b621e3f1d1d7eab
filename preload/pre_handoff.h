/* pre_handoff.h — descriptors handed to another process or program
 * (issue 10): SCM_RIGHTS (pre_handoff.c) and the glibc calls that run a
 * child program without our exec wrappers (pre_spawn.c). */
#ifndef PRE_HANDOFF_H
#define PRE_HANDOFF_H

#include <sys/socket.h>

/* 1 when fd is governed by a connection whose state the other side would
 * not have (anything but a socket not yet connected, or one decided clear). */
int pre_handoff_governed(int fd);

/* sendmsg: 1 (errno EPERM, nothing sent) when msg's control data passes a
 * governed descriptor with SCM_RIGHTS; else 0. */
int pre_handoff_refuse(const struct msghdr *msg);
/* sendmmsg: *n is cut to the messages before the first refused one; 1
 * (errno EPERM) when that is the first. */
int pre_handoff_refuse_mmsg(const struct mmsghdr *v, unsigned *n);

/* pre_spawn.c: 1 when fd's FD_CLOEXEC was set by a spawn window (system,
 * popen, posix_spawn... running in another thread): an exec must treat the
 * descriptor as inheritable.  Only meaningful in a forked child. */
int pre_spawn_marked(int fd);

#endif
