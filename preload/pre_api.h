/* pre_api.h — what the public per-socket API (pre_main.c, include/
 * secsock.h) leaves for the shims and the decisions to read.
 *
 * secsock_set_security marks a socket's connection (pre_conn.app_sec).  A
 * listener is not a connection (listen() forgets it), so a server socket's
 * settings move at listen() into a small table keyed by the socket's inode,
 * which every duplicate of the listener shares; accept() reads them there.
 */
#ifndef PRE_API_H
#define PRE_API_H

#include "pre_sock.h"

enum {
	PRE_APP_SET = 0x1,       /* secsock_set_security was called (once per socket) */
	PRE_APP_INSECURE = 0x2   /* ... with SECSOCK_SETTINGS_ALLOW_INSECURE */
};

/* Settings given and no insecure fallback allowed: the socket is under
 * require whatever the rule says (but block). */
static inline int pre_app_strict(unsigned app_sec)
{
	return (app_sec & (PRE_APP_SET | PRE_APP_INSECURE)) == PRE_APP_SET;
}

/* listen() on fd, whose connection is c (NULL when untracked): keep c's
 * settings for its accepted connections.  0, or -1 ENOBUFS when they cannot
 * be kept (the listen is refused rather than serve in clear). */
int pre_api_listen(int fd, const struct pre_conn *c);
/* The PRE_APP_* of listener fd, 0 when it has none (no system call while
 * no listener has settings). */
unsigned pre_api_listener(int fd);
/* setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, val): 1 when it must be refused
 * (EACCES) because fd has settings (seed 000 SO_EXCLUSIVEADDRUSE). */
int pre_api_reuseport_refused(int fd, const struct pre_conn *c, const void *val, socklen_t len);

/* fork (pre_fork.c): prepare before it, release after it in both. */
void pre_api_atfork_prepare(void);
void pre_api_atfork_release(void);

#endif
