/* pre_main.c — the constructor and the public secsock_* API.
 *
 * The constructor is cheap on purpose (ARCHITECTURE.md: `LD_PRELOAD=
 * libsecsock.so ls` costs next to nothing): it binds the real functions,
 * maps the fd table (address space only) and reads SECSOCK_LOG.  OpenSSL,
 * libsodium and the policy are brought up on the first governed
 * connect/accept.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "secsock.h"
#include "pre_connect.h"
#include "pre_io.h"
#include "pre_log.h"
#include "pre_sock.h"
#include "pre_setup.h"
#include "pre_stdio.h"
#include "pre_sym.h"
#include "pre_tail.h"


#define API __attribute__((visibility("default")))

atomic_int pre_ready;

__attribute__((constructor)) static void pre_init(void)
{
	int saved = errno;
	pre_sym_bind();
	pre_log_init();
	pre_fdtab_init();
	pre_setup_init();
	pre_exec_init();
	atomic_store_explicit(&pre_ready, 1, memory_order_release);
	/* A secured descriptor handed over by the image that exec'd us. */
	pre_exec_import();   /* installs → pre_stdio_adopt for fds 0..2 */
	errno = saved;
}

/* exit() without close(): the kernel would close our sockets with the
 * peer's close_notify possibly unread (→ RST, data in flight lost), records
 * of ours still unsent, and without our close_notify (→ the peer sees
 * truncation).  Say goodbye properly (pre_tail_exit_all; _exit/_Exit are
 * wrapped for the same, pre_fork.c; fatal signals run nothing). */
__attribute__((destructor)) static void pre_fini(void)
{
	int saved = errno;

	/* glibc flushes stdio only after the destructors ran; a stream over a
	 * secured socket must go out before our close_notify. */
	pre_stdio_flush_all();
	pre_tail_exit_all();
	errno = saved;
}

API const char *secsock_version(void)
{
	return SECSOCK_VERSION;
}

static int fd_open(int fd)
{
	return REAL(fcntl)(fd, F_GETFD) >= 0;
}

API int secsock_query(int fd, struct secsock_info *info)
{
	struct pre_conn *c;
	int st;

	if (!info) {
		errno = EINVAL;
		return -1;
	}
	if (!fd_open(fd)) {
		errno = EBADF;
		return -1;
	}
	memset(info, 0, sizeof *info);
	c = pre_fd_get(fd);
	if (!c)
		return 0;
	/* A first contact still being decided (docs/design.md "First
	 * contact"): the program asks what it is, so it is decided now. */
	if (atomic_load(&c->state) == PRE_CONNECTING && c->bg && c->bg_open)
		pre_connect_bg_finish(c, fd);
	pthread_mutex_lock(&c->rx_lock);
	st = atomic_load(&c->state);
	switch (st) {
	case PRE_NEW:
	case PRE_CONNECTING:
	case PRE_UNDECIDED:
		info->state = SECSOCK_STATE_PENDING;
		break;
	case PRE_HANDSHAKE:
		info->state = SECSOCK_STATE_HANDSHAKE;
		break;
	case PRE_SECURED:
		info->state = SECSOCK_STATE_SECURED;
		break;
	case PRE_FAILED:
		info->state = SECSOCK_STATE_FAILED;
		break;
	default:
		info->state = SECSOCK_STATE_UNGOVERNED;
		break;
	}
	info->outbound = c->dir == POL_DIR_OUTBOUND;
	if (c->rule)
		snprintf(info->rule, sizeof info->rule, "%s", c->rule);
	if (st == PRE_SECURED) {
		snprintf(info->cipher, sizeof info->cipher, "%s", ss_suite_name(c->suite));
		snprintf(info->group, sizeof info->group, "%s", c->group ? ss_group_name(c->group) : "none");
		snprintf(info->auth, sizeof info->auth, "%s", ss_auth_name((ss_auth)c->auth));
		snprintf(info->peer, sizeof info->peer, "%s", c->peer ? c->peer : "anonymous");
		info->mutual = c->mutual;
		info->standard_tls = c->mode == SS_MODE_STANDARD_TLS;
		info->handshake_usec = c->hs_usec;
	}
	pthread_mutex_unlock(&c->rx_lock);
	pre_conn_put(c);
	return 0;
}

/* The connection of a socket that has not connected yet, locked. */
static struct pre_conn *unconnected(int fd)
{
	struct pre_conn *c;

	if (!fd_open(fd)) {
		errno = EBADF;
		return NULL;
	}
	c = pre_fd_get(fd);
	if (!c) {
		errno = ENOTSOCK;
		return NULL;
	}
	pthread_mutex_lock(&c->rx_lock);
	if (atomic_load(&c->state) != PRE_NEW) {
		pthread_mutex_unlock(&c->rx_lock);
		pre_conn_put(c);
		errno = EISCONN;
		return NULL;
	}
	return c;
}

/* No tracked connection: under a policy that bypasses every outbound
 * connection socket() does not track TCP sockets (pre_quiet_bypass), and a
 * bypass rule is not overridden by these calls anyway (docs/api.md), so on
 * an unconnected TCP socket they succeed and change nothing, as they did
 * when the socket was tracked. */
static int untracked_ok(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int dom, saved = errno;

	if (saved != ENOTSOCK || !pre_quiet_bypass(POL_DIR_OUTBOUND) || !pre_is_tcp(fd, &dom))
		return -1;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		errno = EISCONN;
		return -1;
	}
	errno = saved;
	return 0;
}

API int secsock_set_security(int fd, unsigned flags)
{
	struct pre_conn *c;

	if (flags & ~SECSOCK_REQUIRE) {
		errno = EINVAL;
		return -1;
	}
	if (!(c = unconnected(fd)))
		return untracked_ok(fd);
	c->app_require = (flags & SECSOCK_REQUIRE) != 0;
	pthread_mutex_unlock(&c->rx_lock);
	pre_conn_put(c);
	return 0;
}

API int secsock_set_peer_target_name(int fd, const char *name)
{
	struct pre_conn *c;
	char *copy;

	if (!name || !*name || strlen(name) > 255) {
		errno = EINVAL;
		return -1;
	}
	if (!(c = unconnected(fd)))
		return untracked_ok(fd);
	copy = strdup(name);
	if (!copy) {
		pthread_mutex_unlock(&c->rx_lock);
		pre_conn_put(c);
		errno = ENOMEM;
		return -1;
	}
	free(c->target);
	c->target = copy;
	pthread_mutex_unlock(&c->rx_lock);
	pre_conn_put(c);
	return 0;
}
