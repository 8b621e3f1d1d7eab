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
#include <netinet/in.h>
#include <linux/tcp.h>   /* struct tcp_info with tcpi_segs_out (glibc's stops before it) */
#include <sys/stat.h>
#include "secsock.h"
#include "pre_api.h"
#include "pre_connect.h"
#include "pre_io.h"
#include "pre_log.h"
#include "pre_resume.h"
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
	pre_resume_init();
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

/* Every field of struct secsock_info for fd into *info (all of it, this
 * build's size); the two entry points below copy out what the caller has
 * room for. */
static int query_full(int fd, struct secsock_info *info)
{
	struct pre_conn *c;
	int st;

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
		/* Every suite is an AEAD (core/ss_suite): secured is encrypted
		 * (the seed's guarantee-encryption holds for every socket). */
		info->flags = SECSOCK_INFO_SECURED | SECSOCK_INFO_ENCRYPTED | (c->mutual ? SECSOCK_INFO_MUTUAL : 0);
		/* core's ss_ctx_info.peer is the key's fingerprint for host-key;
		 * the other methods name the peer otherwise and have none. */
		if (c->auth == SS_AUTH_HOST_KEY && c->peer)
			snprintf(info->peer_fingerprint, sizeof info->peer_fingerprint, "%s", c->peer);
		info->expiry = c->expiry;
		info->mutual = c->mutual;
		info->standard_tls = c->mode == SS_MODE_STANDARD_TLS;
		info->handshake_usec = c->hs_usec;
		info->resumed = c->resumed;
		if (c->auth == SS_AUTH_GROUP && c->peer && strncmp(c->peer, "group:", 6) == 0) {
			snprintf(info->auth_group, sizeof info->auth_group, "%s", c->peer + 6);
			memcpy(info->gkid, c->gkid, sizeof info->gkid);
		}
	}
	pthread_mutex_unlock(&c->rx_lock);
	pre_conn_put(c);
	return 0;
}

/* secsock_query has no size argument, so it writes exactly the fields it
 * had when it was published (SECSOCK_INFO_V1_SIZE, through `resumed`): a
 * program built against that header must never have bytes written past its
 * struct by a newer library.  Later fields come through secsock_query_ex. */
API int secsock_query(int fd, struct secsock_info *info)
{
	return secsock_query_ex(fd, info, SECSOCK_INFO_V1_SIZE);
}

API int secsock_query_ex(int fd, struct secsock_info *info, size_t size)
{
	struct secsock_info full;

	if (!info || size < SECSOCK_INFO_V1_SIZE) {
		errno = info ? EMSGSIZE : EINVAL;
		return -1;
	}
	if (query_full(fd, &full) < 0)
		return -1;
	memcpy(info, &full, size < sizeof full ? size : sizeof full);
	return 0;
}

/* ------------------------------------------------------------ settings
 * The seed's WSASetSocketSecurity rules (seed 000 "Remarks"): AF_INET or
 * AF_INET6, a stream socket (datagrams are not secured yet: EOPNOTSUPP,
 * docs/api.md), before bind and before connect, once per socket. */

/* What kind of socket fd is: its address family, or -1 with errno. */
static int api_kind(int fd, int *protocol)
{
	int v = 0;
	socklen_t l = sizeof v;

	if (!fd_open(fd)) {
		errno = EBADF;
		return -1;
	}
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) < 0)
		return -1;   /* ENOTSOCK for a pipe or a file */
	if (v != AF_INET && v != AF_INET6) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	int dom = v;
	l = sizeof v;
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_TYPE, &v, &l) < 0)
		return -1;
	if (v != SOCK_STREAM) {
		errno = EOPNOTSUPP;
		return -1;
	}
	l = sizeof v;
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_PROTOCOL, &v, &l) < 0)
		return -1;
	if (!pre_proto_is_tcp(v)) {
		errno = EOPNOTSUPP;   /* SCTP's stream sockets, say */
		return -1;
	}
	*protocol = v;
	return dom;
}

/* The kernel's TCP states (include/net/tcp_states.h; not in the uapi). */
enum { K_TCP_CLOSE = 7, K_TCP_LISTEN = 10 };

/* The kernel's view, which holds for sockets secsock does not track too
 * (quietly bypassed, inherited, forgotten after a bypass decision): 0 when
 * the socket is new, EINVAL bound or listening, EISCONN connecting (SYN
 * sent: getpeername still says ENOTCONN), connected, or closed after a
 * connection (segments sent; connect(AF_UNSPEC) dissolves that, and the
 * socket is new again). */
static int api_kernel_state(int fd)
{
	struct tcp_info ti;
	struct sockaddr_storage ss;
	socklen_t l = sizeof ti, sl = sizeof ss;
	int v = 0;

	memset(&ti, 0, sizeof ti);
	if (REAL(getsockopt)(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0) {
		if (ti.tcpi_state == K_TCP_LISTEN)
			return EINVAL;
		if (ti.tcpi_state != K_TCP_CLOSE || ti.tcpi_segs_out)
			return EISCONN;
	} else {
		l = sizeof v;
		if (REAL(getsockopt)(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) == 0 && v)
			return EINVAL;
		if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
			return EISCONN;
		sl = sizeof ss;
	}
	memset(&ss, 0, sizeof ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    (ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
	                             : ((struct sockaddr_in6 *)&ss)->sin6_port) != 0)
		return EINVAL;   /* bound: settings come before bind */
	return 0;
}

/* The connection of a socket that can still take settings, rx_lock held
 * (tracked from now on if it was not: the policy decides its connect even
 * where it would not have looked at it); NULL with errno. */
static struct pre_conn *settable(int fd, int dom, int protocol)
{
	struct pre_conn *c = pre_fd_get(fd);
	int e, fl;

	/* secsock's state first: a connection it failed (reset, FAILED) was
	 * connected, whatever the kernel says of the socket now. */
	e = c && atomic_load(&c->state) != PRE_NEW ? EISCONN : api_kernel_state(fd);
	if (e) {
		pre_conn_put(c);
		errno = e;
		return NULL;
	}
	if (!c) {
		c = pre_conn_new(dom, SOCK_STREAM, protocol);
		if (!c) {
			errno = ENOMEM;
			return NULL;
		}
		fl = REAL(fcntl)(fd, F_GETFL);
		c->nonblock = fl >= 0 && (fl & O_NONBLOCK);
		if (pre_fd_install(fd, c) < 0) {
			pre_conn_put(c);
			errno = ENOMEM;
			return NULL;
		}
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

static void settable_done(struct pre_conn *c)
{
	pthread_mutex_unlock(&c->rx_lock);
	pre_conn_put(c);
}

/* The caller's struct, as far as this build reads it.  Bytes past it must
 * be zero: a later build's field set to something this one cannot honour
 * is refused, not ignored (the convention of Linux's openat2 and clone3,
 * which answer E2BIG; the seed's word for a bad value is EINVAL). */
enum { SETTINGS_MAX = 4096 };
static int settings_read(const struct secsock_settings *s, size_t size, struct secsock_settings *out)
{
	const unsigned char *p = (const unsigned char *)s;

	memset(out, 0, sizeof *out);
	if (!s) {
		if (size == 0)
			return 0;   /* NULL: the default settings */
		errno = EINVAL;
		return -1;
	}
	if (size < sizeof *out) {
		errno = EMSGSIZE;
		return -1;
	}
	if (size > SETTINGS_MAX) {
		errno = EINVAL;
		return -1;
	}
	for (size_t i = sizeof *out; i < size; i++)
		if (p[i]) {
			errno = EINVAL;
			return -1;
		}
	memcpy(out, s, sizeof *out);
	if (out->protocol != SECSOCK_PROTOCOL_DEFAULT ||
	    (out->flags & ~(SECSOCK_SETTINGS_GUARANTEE_ENCRYPTION | SECSOCK_SETTINGS_ALLOW_INSECURE))) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

API int secsock_set_security(int fd, const struct secsock_settings *settings, size_t size)
{
	struct secsock_settings set;
	struct pre_conn *c;
	int dom, protocol = 0, zero = 0;

	if ((dom = api_kind(fd, &protocol)) < 0 || settings_read(settings, size, &set) < 0)
		return -1;
	if (!(c = settable(fd, dom, protocol)))
		return -1;
	if (c->app_sec & PRE_APP_SET) {
		settable_done(c);
		errno = EINVAL;   /* once per socket (seed 000) */
		return -1;
	}
	/* The seed's SO_EXCLUSIVEADDRUSE: a SO_REUSEPORT the program set
	 * before is taken back (and refused from now on, pre_api_reuseport_
	 * refused), so no other socket can bind the port beside this one;
	 * recorded, so a discovery fallback's fresh socket gets it too. */
	if (REAL(setsockopt)(fd, SOL_SOCKET, SO_REUSEPORT, &zero, sizeof zero) < 0) {
		int e = errno;
		settable_done(c);
		errno = e;
		return -1;
	}
	pre_conn_record_opt(c, SOL_SOCKET, SO_REUSEPORT, &zero, sizeof zero);
	c->app_sec = PRE_APP_SET | ((set.flags & SECSOCK_SETTINGS_ALLOW_INSECURE) ? PRE_APP_INSECURE : 0);
	settable_done(c);
	return 0;
}

/* name NULL: delete. */
static int target_name(int fd, const char *name)
{
	struct pre_conn *c;
	char *copy = NULL;
	int dom, protocol = 0;

	if ((dom = api_kind(fd, &protocol)) < 0)
		return -1;
	if (name && (!*name || strlen(name) > 255)) {
		errno = EINVAL;
		return -1;
	}
	if (name && !(copy = strdup(name))) {
		errno = ENOMEM;
		return -1;
	}
	if (!(c = settable(fd, dom, protocol))) {
		int e = errno;
		free(copy);
		errno = e;
		return -1;
	}
	free(c->target);
	c->target = copy;
	settable_done(c);
	return 0;
}

API int secsock_set_peer_target_name(int fd, const char *name)
{
	if (!name) {
		errno = EINVAL;
		return -1;
	}
	return target_name(fd, name);
}

API int secsock_delete_peer_target_name(int fd)
{
	return target_name(fd, NULL);
}

/* ------------------------------------------------------------ listeners
 * A server socket's settings outlive its connection state (listen()
 * forgets it, pre_life.c): kept here by the socket's inode, the one thing
 * every duplicate of the listener shares, with the descriptor it was seen
 * on, to tell a closed listener's entry (the number is free or another
 * file now) from a live one when the table is full.  A process has few
 * listeners with settings; a full table refuses the listen (ENOBUFS)
 * rather than let accept() serve in clear what the program asked secured. */
enum { LISTENERS = 64 };
static struct listener {
	dev_t dev;
	ino_t ino;
	int fd;
	unsigned sec;   /* PRE_APP_*; 0 = free */
} listeners[LISTENERS];
static atomic_int listeners_n;
static pthread_mutex_t listeners_lock = PTHREAD_MUTEX_INITIALIZER;

static int same_socket(int fd, const struct listener *l)
{
	struct stat st;
	return fstat(fd, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino;
}

int pre_api_listen(int fd, const struct pre_conn *c)
{
	struct stat st;
	struct listener *slot = NULL;

	if (!c || !(c->app_sec & PRE_APP_SET))
		return 0;
	if (fstat(fd, &st) < 0)
		return -1;
	pthread_mutex_lock(&listeners_lock);
	for (int i = 0; i < LISTENERS; i++) {
		struct listener *l = &listeners[i];
		if (l->sec && l->dev == st.st_dev && l->ino == st.st_ino) {
			slot = l;
			break;
		}
		if (!slot && (!l->sec || !same_socket(l->fd, l)))
			slot = l;
	}
	if (!slot) {
		pthread_mutex_unlock(&listeners_lock);
		errno = ENOBUFS;
		return -1;
	}
	if (!slot->sec)
		atomic_fetch_add(&listeners_n, 1);
	*slot = (struct listener){ st.st_dev, st.st_ino, fd, c->app_sec };
	pthread_mutex_unlock(&listeners_lock);
	return 0;
}

unsigned pre_api_listener(int fd)
{
	struct stat st;
	unsigned sec = 0;

	if (atomic_load_explicit(&listeners_n, memory_order_relaxed) == 0)
		return 0;
	int e = errno;
	if (fstat(fd, &st) == 0) {
		pthread_mutex_lock(&listeners_lock);
		for (int i = 0; i < LISTENERS && !sec; i++)
			if (listeners[i].sec && listeners[i].dev == st.st_dev && listeners[i].ino == st.st_ino)
				sec = listeners[i].sec;
		pthread_mutex_unlock(&listeners_lock);
	}
	errno = e;
	return sec;
}

/* fork: the table's lock is held across it so that a child never inherits
 * it taken by a thread that does not exist there (pre_fork.c). */
void pre_api_atfork_prepare(void)
{
	pthread_mutex_lock(&listeners_lock);
}

void pre_api_atfork_release(void)
{
	pthread_mutex_unlock(&listeners_lock);
}

int pre_api_reuseport_refused(int fd, const struct pre_conn *c, const void *val, socklen_t len)
{
	int on = 0;

	if (!val || len < sizeof on)
		return 0;   /* the kernel's EINVAL/EFAULT */
	memcpy(&on, val, sizeof on);
	if (!on)
		return 0;
	if (c)
		return (c->app_sec & PRE_APP_SET) != 0;
	return pre_api_listener(fd) != 0;
}
