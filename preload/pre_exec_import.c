/* pre_exec_import.c — the new image's side of the exec hand-off
 * (pre_exec.c describes the whole): read the memfd named in
 * SECSOCK_INHERIT, match every entry to a descriptor by its socket cookie,
 * and take the connection over — shared slot or copied state, undelivered
 * plaintext, a partial record and the previous image's unsent tail. */
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
#include "pre_handoff.h"
#include "pre_io.h"
#include "pre_log.h"
#include "pre_sock.h"
#include "pre_sym.h"
#include "pre_tail.h"

#include "pre_exec_int.h"

/* The open descriptors of this image (from /proc/self/fd: an exec'd image
 * has few, and probing every number up to the limit would cost 10^5+ calls). */
static int open_fds(int *out, int cap)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)) && n < cap) {
		char *end;
		long v = strtol(de->d_name, &end, 10);
		if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && !*end && v != dirfd(d))
			out[n++] = (int)v;
	}
	closedir(d);
	return n;
}

static int find_fd(const struct inh_entry *e, const int *fds, int nfds)
{
	if (e->fd >= 0 && pre_exec_cookie(e->fd) == e->cookie)
		return e->fd;
	for (int i = 0; i < nfds; i++)
		if (pre_exec_cookie(fds[i]) == e->cookie)
			return fds[i];
	return -1;
}

static void settings_for(struct pre_conn *c, int fd)
{
	const pol_policy *pol = pre_policy();
	struct sockaddr_storage local;
	socklen_t ll = sizeof local, pl;
	pol_query q;
	pol_decision d;

	if (!pol)
		return;
	memset(&q, 0, sizeof q);
	memset(&local, 0, sizeof local);
	pl = sizeof q.remote;
	getsockname(fd, (struct sockaddr *)&local, &ll);
	getpeername(fd, (struct sockaddr *)&q.remote, &pl);
	q.protocol = POL_PROTO_TCP;
	q.direction = c->dir;
	const struct sockaddr_storage *pa = c->dir == POL_DIR_INBOUND ? &local : &q.remote;
	q.port = ntohs(pa->ss_family == AF_INET ? ((const struct sockaddr_in *)pa)->sin_port
	                                        : ((const struct sockaddr_in6 *)pa)->sin6_port);
	q.program = pre_program();
	pol_decide(pol, &q, &d);
	c->set = d.settings;
	c->rule = d.rule_name;
}

/* The exporting image's tail (validated against the file), malloc'd. */
static uint8_t *read_tail(int mfd, const struct inh_entry *e, uint64_t first)
{
	uint8_t *t;

	if (e->tail_len > INH_TAIL_MAX || e->tail_at < first || !(t = malloc(e->tail_len)))
		return NULL;
	if (pread(mfd, t, e->tail_len, (off_t)e->tail_at) != (ssize_t)e->tail_len) {
		free(t);
		return NULL;
	}
	return t;
}

static void import_one(const struct inh_entry *e, const int *fds, int nfds, int mfd, uint64_t first)
{
	struct pre_conn *c;
	int fd = find_fd(e, fds, nfds), dom = 0;
	socklen_t l = sizeof dom;

	if (fd < 0 || !e->cookie) {
		pre_log(PRE_LOG_WARN, "inherited state for fd %d: no such socket here; ignored", e->fd);
		return;
	}
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) != 0)
		return;
	c = pre_conn_new(dom, SOCK_STREAM, IPPROTO_TCP);
	if (!c)
		goto fail;
	c->dir = e->dir;
	(void)pre_conn_peer(c, fd, &c->peer_addr);   /* still connected: the exporter checked */
	c->action = e->action;
	c->nonblock = e->nonblock;
	c->user_lowat = e->user_lowat;
	c->k_lowat = e->k_lowat;
	settings_for(c, fd);
	if (e->state == PRE_UNDECIDED) {
		pre_conn_set_state(c, PRE_UNDECIDED);
	} else if (e->state == PRE_FAILED) {
		pre_conn_set_state(c, PRE_FAILED);
	} else {
		if (e->shared) {
			/* the one state every holder uses (pre_arena.c "Exec") */
			if (e->arena_fd < 0 || !(c->rs = pre_arena_exec_adopt(c, e->arena_fd, e->arena_slot)))
				goto fail;
		} else {
			if (!(c->rs = pre_arena_rs(c)))
				goto fail;
			*c->rs = e->rs;
		}
		if (ss_rec_new(c->rs, &c->rec) != SS_OK)
			goto fail;
		c->suite = e->suite;
		c->group = e->group;
		c->auth = e->auth;
		c->mode = e->mode;
		c->mutual = e->mutual;
		c->wr_shut = e->wr_shut;
		c->hs_usec = e->hs_usec;
		c->peer = strndup(e->peer, sizeof e->peer - 1);
		c->eof_queued = e->eof_queued;
		c->tx_epoch_ms = pre_now_ms();
		if (e->partial_len && e->partial_len <= sizeof e->partial) {
			if (!(c->partial = malloc(SS_REC_MAX_RECORD)))
				goto fail;
			memcpy(c->partial, e->partial, e->partial_len);
			c->partial_len = e->partial_len;
		}
		if (e->cache_len && e->cache_len <= sizeof e->cache) {
			if (!(c->cache = malloc(e->cache_len)))
				goto fail;
			memcpy(c->cache, e->cache, e->cache_len);
			c->cache_len = e->cache_len;
			c->cache_rec = e->cache_rec;
		}
		pre_conn_set_state(c, PRE_SECURED);
		if (e->tail_len) {
			/* ahead of anything this image writes, close_notify included */
			uint8_t *t = read_tail(mfd, e, first);
			if (!t || pre_tail_adopt(c, fd, t, e->tail_len) < 0)
				goto fail;
		}
	}
	/* Every descriptor of this socket in the new image shares the state. */
	pre_fd_install(fd, c);
	for (int i = 0; i < nfds; i++)
		if (fds[i] != fd && pre_exec_cookie(fds[i]) == e->cookie)
			pre_fd_install(fds[i], c);
	pre_log(PRE_LOG_INFO, "inherited %s connection on fd %d rule=%s", pre_state_name(e->state), fd,
	        c->rule ? c->rule : "?");
	pre_conn_put(c);
	return;
fail:
	pre_conn_put(c);
	REAL(shutdown)(fd, SHUT_RDWR);
	pre_log(PRE_LOG_ERROR, "inherited secured fd %d: cannot import its state; shut down", fd);
}

void pre_exec_import(void)
{
	const char *v = secure_getenv("SECSOCK_INHERIT");
	struct inh_entry *e = NULL;
	struct inh_hdr h;
	int *fds = NULL, nfds = 0;
	char link[64], target[128];
	ssize_t n;
	char *end;
	long mfd;

	if (!v)
		return;
	mfd = strtol(v, &end, 10);
	unsetenv("SECSOCK_INHERIT");
	if (*end || mfd < 0 || mfd > INT_MAX)
		return;
	/* Only a memfd of ours: never read keys from an arbitrary descriptor. */
	snprintf(link, sizeof link, "/proc/self/fd/%ld", mfd);
	n = readlink(link, target, sizeof target - 1);
	if (n <= 0)
		return;
	target[n] = '\0';
	if (strncmp(target, "/memfd:secsock-inherit", 22) != 0)
		return;
	REAL(fcntl)((int)mfd, F_SETFD, FD_CLOEXEC);
	if (pre_crypto_init() != 0)
		goto out;
	if (pread((int)mfd, &h, sizeof h, 0) != (ssize_t)sizeof h || memcmp(h.magic, "SSINHv1", 8) ||
	    h.version != INH_VERSION || h.entry_size != sizeof *e || h.count > INH_MAX)
		goto out;
	e = sodium_malloc(sizeof *e);
	fds = malloc(FDS_MAX * sizeof *fds);
	if (!e || !fds || (nfds = open_fds(fds, FDS_MAX)) < 0)
		goto out;
	for (uint32_t i = 0; i < h.count; i++) {
		off_t off = (off_t)(sizeof h + (size_t)i * sizeof *e);
		if (pread((int)mfd, e, sizeof *e, off) != (ssize_t)sizeof *e)
			break;
		import_one(e, fds, nfds, (int)mfd, sizeof h + (uint64_t)h.count * sizeof *e);
		if (e->shared && e->arena_fd >= 0 && e->arena_fd != mfd)
			pre_arena_exec_unused(e->arena_fd);
		sodium_memzero(e, sizeof *e);
		/* wipe the entry in the memfd too (the parent's copy is gone) */
		(void)!pwrite((int)mfd, e, sizeof *e, off);
	}
out:
	if (e)
		sodium_free(e);
	free(fds);
	REAL(close)((int)mfd);
}

