/* pre_sock.c — per-connection state: life cycle, recorded setup, the switch
 * to the record layer, and the small process-wide helpers around them. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <netinet/in.h>
#include "pre_io.h"
#include "pre_log.h"
#include "pre_ready.h"
#include "pre_resume.h"
#include "pre_sock.h"
#include "pre_status.h"
#include "pre_sym.h"
#include "pre_tail.h"

int pre_conn_set_state(struct pre_conn *c, int to)
{
	int from = atomic_load(&c->state);

	for (;;) {
		if (from == PRE_FAILED && to != PRE_FAILED)
			return -1;   /* torn down meanwhile: it stays failed */
		if (!pre_state_allowed(from, to)) {
			pre_log(PRE_LOG_WARN, "internal error: connection state %s -> %s is not a "
			        "transition secsock makes; the connection fails closed",
			        pre_state_name(from), pre_state_name(to));
			atomic_store(&c->state, PRE_FAILED);
			pre_status_state(c, from, PRE_FAILED);
			return -1;
		}
		/* compare-and-swap: a teardown on another thread (a reset seen
		 * by the engine) wins over a change decided on a stale state */
		if (atomic_compare_exchange_weak(&c->state, &from, to)) {
			pre_status_state(c, from, to);
			return 0;
		}
	}
}

int pre_conn_state_fail(struct pre_conn *c)
{
	int old = atomic_exchange(&c->state, PRE_FAILED);

	if (old != PRE_FAILED)
		pre_status_state(c, old, PRE_FAILED);
	return old;
}

const pol_settings *pre_conn_settings(const struct pre_conn *c)
{
	return c->set ? c->set : pol_default_settings();
}

const char *pre_conn_target(const struct pre_conn *c)
{
	const pol_settings *set = pre_conn_settings(c);
	return c->target ? c->target : set->peer_name[0] ? set->peer_name : NULL;
}

int64_t pre_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pre_conn_peer(const struct pre_conn *c, int fd, struct sockaddr_storage *a)
{
	socklen_t l = sizeof *a;

	if (c->peer_addr.ss_family == AF_INET || c->peer_addr.ss_family == AF_INET6) {
		*a = c->peer_addr;
		return 0;
	}
	memset(a, 0, sizeof *a);
	if (getpeername(fd, (struct sockaddr *)a, &l) < 0) {
		memset(a, 0, sizeof *a);
		return -1;
	}
	return 0;
}

struct pre_conn *pre_conn_new(int domain, int type, int protocol)
{
	struct pre_conn *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	atomic_init(&c->refs, 1);
	atomic_init(&c->fd_refs, 0);
	atomic_init(&c->state, PRE_NEW);
	pre_arena_attach(c);   /* locks: process-shared when a slot was had */
	c->domain = domain;
	c->type = type;
	c->protocol = protocol;
	c->k_lowat = 1;
	c->user_lowat = 1;
	return c;
}

void pre_conn_free_setup(struct pre_conn *c)
{
	struct pre_opt *o = c->opts, *n;

	for (; o; o = n) {
		n = o->next;
		free(o);
	}
	c->opts = NULL;
	free(c->bound);
	c->bound = NULL;
	c->bound_len = 0;
}

void pre_conn_put(struct pre_conn *c)
{
	if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	pre_conn_free_setup(c);
	pre_ready_free(c);
	pre_resume_drop(c);
	free(c->ticket_msg);
	free(c->target);
	free(c->peer);
	if (c->cache) {
		sodium_memzero(c->cache, c->cache_len);
		free(c->cache);
	}
	if (c->partial) {
		sodium_memzero(c->partial, c->partial_len);
		free(c->partial);
	}
	ss_rec_free(c->rec);
	if (c->rs && !c->sh) {
		ss_rec_state_wipe(c->rs);
		sodium_free(c->rs);
	}
	ss_ctx_free(c->ctx);
	ss_cred_free(c->cred);
	pre_status_release(c);
	/* A shared record state is wiped with its slot, when the last process
	 * that holds the connection lets go. */
	pre_arena_detach(c);
	free(c);
}

void pre_conn_release_fd(struct pre_conn *c, int fd)
{
	int saved = errno;

	/* close_notify only from the last holder: after fork the other process
	 * may still be writing on this socket (pre_arena.c).  Records still in
	 * our tail go out first, last holder or not (pre_tail.c). */
	if (atomic_fetch_sub_explicit(&c->fd_refs, 1, memory_order_acq_rel) == 1) {
		int last = pre_arena_fds_gone(c);
		if (atomic_load(&c->state) == PRE_SECURED) {
			if (last)
				pre_io_drop_eof(c, fd);
			pre_tail_last_close(c, fd, last);
		}
	}
	pre_conn_put(c);
	errno = saved;
}

int pre_conn_record_opt(struct pre_conn *c, int level, int name, const void *val, socklen_t len)
{
	struct pre_opt *o, **pp;

	if (len > 256 || (len && !val))
		return -1;
	/* Replace an earlier setting of the same option: replay order is kept. */
	for (pp = &c->opts; *pp; pp = &(*pp)->next)
		if ((*pp)->level == level && (*pp)->name == name)
			break;
	o = malloc(sizeof *o + len);
	if (!o)
		return -1;
	o->level = level;
	o->name = name;
	o->len = len;
	if (len)
		memcpy(o->val, val, len);
	if (*pp) {
		o->next = (*pp)->next;
		free(*pp);
	} else {
		o->next = NULL;
	}
	*pp = o;
	return 0;
}

int pre_conn_record_bind(struct pre_conn *c, const struct sockaddr *a, socklen_t len)
{
	if (len > sizeof(struct sockaddr_storage))
		return -1;
	if (!c->bound && !(c->bound = calloc(1, sizeof *c->bound)))
		return -1;
	memcpy(c->bound, a, len);
	c->bound_len = len;
	return 0;
}

int pre_conn_secure(struct pre_conn *c)
{
	ss_ctx_info info;
	ss_status st;

	memset(&info, 0, sizeof info);
	if (ss_ctx_query(c->ctx, &info) != SS_OK)
		return -1;
	c->rs = pre_arena_rs(c);   /* in the shared slot: fork children seal with it */
	if (!c->rs)
		return -1;
	st = ss_ctx_export(c->ctx, c->rs);
	if (st == SS_OK)
		st = ss_rec_new(c->rs, &c->rec);
	ss_ctx_free(c->ctx);
	c->ctx = NULL;
	if (st != SS_OK)
		return -1;
	c->suite = info.suite;
	c->group = info.group;
	c->auth = (uint8_t)info.auth;
	c->mode = (uint8_t)info.mode;
	c->mutual = (uint8_t)(info.mutual != 0);
	c->resumed = (uint8_t)(info.resumed != 0);
	c->hs_usec = info.handshake_usec;
	c->peer = strdup(info.peer[0] ? info.peer : "anonymous");
	memcpy(c->gkid, info.gkid, sizeof c->gkid);
	c->tx_epoch_ms = pre_now_ms();
	c->tx_bytes = 0;
	ss_cred_free(c->cred);   /* not needed after the handshake */
	c->cred = NULL;
	sodium_memzero(&info, sizeof info);
	pre_conn_set_state(c, PRE_SECURED);
	return 0;
}

void pre_set_lowat(struct pre_conn *c, int fd, int want)
{
	if (want < 1)
		want = 1;
	if (want == c->k_lowat)
		return;
	if (REAL(setsockopt)(fd, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof want) == 0)
		c->k_lowat = want;
}

void pre_conn_nagle_restore(struct pre_conn *c, int fd)
{
	int zero = 0;
	int e = errno;

	if (!c->nagle_off)
		return;
	c->nagle_off = 0;
	(void)REAL(setsockopt)(fd, IPPROTO_TCP, TCP_NODELAY, &zero, sizeof zero);
	errno = e;
}

void pre_reset(int fd)
{
	/* connect(AF_UNSPEC) on a TCP socket runs tcp_disconnect(), which sends
	 * RST for a synchronised connection and leaves the descriptor open. */
	struct sockaddr sa;
	struct linger lg = { 1, 0 };
	int saved = errno;

	REAL(setsockopt)(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	memset(&sa, 0, sizeof sa);
	sa.sa_family = AF_UNSPEC;
	REAL(connect)(fd, &sa, sizeof sa);
	errno = saved;
}

static char program_path[4096];
static pthread_once_t program_once = PTHREAD_ONCE_INIT;

static void program_init(void)
{
	ssize_t n = readlink("/proc/self/exe", program_path, sizeof program_path - 1);
	program_path[n > 0 ? n : 0] = '\0';
}

const char *pre_program(void)
{
	int saved = errno;
	pthread_once(&program_once, program_init);
	errno = saved;
	return program_path[0] ? program_path : NULL;
}

static const pol_policy *policy;
static pthread_once_t policy_once = PTHREAD_ONCE_INIT;

static void policy_init(void)
{
	const pol_diags *d = NULL;
	const char *src = NULL;

	policy = pol_process_policy(&d, &src);
	if (!policy)
		pre_event(PRE_LOG_ERROR, (&(struct pre_event){ .name = PRE_EV_POLICY_ERROR,
		          .reason = d && d->count ? d->items[0].msg : "invalid" }),
		          "policy %s: %s; refusing connections it would govern",
		          src ? src : "?", d && d->count ? d->items[0].msg : "invalid");
	else
		pre_log(PRE_LOG_DEBUG, "policy from %s", src ? src : "?");
}

const pol_policy *pre_policy(void)
{
	int saved = errno;
	pthread_once(&policy_once, policy_init);
	errno = saved;
	return policy;
}

/* Per direction: 0 not known yet, 1 quiet bypass, 2 not.  The policy, the
 * program and the log level never change in a process image, so the answer
 * is computed once (a race computes the same value twice). */
static atomic_int quiet_bypass[3];

int pre_quiet_bypass(pol_direction dir)
{
	int v = atomic_load_explicit(&quiet_bypass[dir], memory_order_relaxed);
	if (__builtin_expect(v != 0, 1))
		return v == 1;
	const pol_policy *pol = pre_policy();
	pol_decision d;
	v = pol && pre_log_level < PRE_LOG_DEBUG &&
	    pol_decide_fixed(pol, POL_PROTO_TCP, dir, pre_program(), &d) && d.action == POL_BYPASS ? 1 : 2;
	atomic_store_explicit(&quiet_bypass[dir], v, memory_order_relaxed);
	return v == 1;
}

static int crypto_ok = -1;
static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;

static void crypto_init(void)
{
	crypto_ok = sodium_init() >= 0 ? 0 : -1;
}

int pre_crypto_init(void)
{
	int saved = errno;
	pthread_once(&crypto_once, crypto_init);
	errno = saved;
	return crypto_ok;
}
