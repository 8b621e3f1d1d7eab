/* pre_sock.h — per-connection state and the fd table.
 *
 * One pre_conn per governed TCP connection, shared by every descriptor that
 * refers to it (dup, dup2, dup3, F_DUPFD).  The fd table is a flat array
 * indexed by fd holding an atomic pointer per slot: descriptors that are not
 * ours (files, pipes, UDP, bypassed and clear TCP) have a NULL slot and cost
 * one relaxed load in every shim.
 *
 * Locking: rx_lock serialises readers and handshake progress, tx_lock
 * serialises sealing + sending.  Order: rx_lock before tx_lock.  No lock is
 * held while waiting for the peer (we wait in poll() with no lock), and there
 * is no process-wide lock on the data path.
 *
 * Process life (pre_arena.c): the two locks and the record state live in a
 * MAP_SHARED slot, so that a parent and a forked child holding the same
 * socket serialise on the same process-shared robust mutexes and seal with
 * one sequence number per direction.  The rest of struct pre_conn is private
 * to each process (a fork copies it, pointers and all).  rx_lock/tx_lock are
 * pre_lock_t: a pointer to the shared mutex (or to `own` when no slot could
 * be had); the pthread_mutex_* macros below route them through pre_lock_*
 * so callers keep writing pthread_mutex_lock(&c->rx_lock).
 */
#ifndef PRE_SOCK_H
#define PRE_SOCK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/types.h>
#include "pol.h"
#include "ss_ctx.h"
#include "ss_rec.h"
#include "pre_state.h"

typedef struct pre_lock {
	pthread_mutex_t *m;       /* the slot's process-shared mutex, or &own */
	pthread_mutex_t own;      /* fallback when no shared slot exists */
} pre_lock_t;
int pre_lock_acquire(pre_lock_t *l);
int pre_lock_try(pre_lock_t *l);
int pre_lock_timed(pre_lock_t *l, const struct timespec *abs);
int pre_lock_release(pre_lock_t *l);
/* pthread_mutex_lock(&c->rx_lock) etc. on a pre_lock_t go to pre_lock_*; on
 * a plain pthread_mutex_t they are the libc calls. */
#define pthread_mutex_lock(m) _Generic((m), pre_lock_t *: pre_lock_acquire, default: pthread_mutex_lock)(m)
#define pthread_mutex_trylock(m) _Generic((m), pre_lock_t *: pre_lock_try, default: pthread_mutex_trylock)(m)
#define pthread_mutex_unlock(m) _Generic((m), pre_lock_t *: pre_lock_release, default: pthread_mutex_unlock)(m)
#define pthread_mutex_timedlock(m, t) \
	_Generic((m), pre_lock_t *: pre_lock_timed, default: pthread_mutex_timedlock)((m), (t))

struct pre_slot;   /* pre_arena.c: the shared part of a connection */

/* enum pre_state and its transition table: pre_state.h.  A connection's
 * state changes only through pre_conn_set_state: it checks from → to, and a
 * change the table does not allow is a bug that fails the connection closed
 * (a warn line names both states) rather than going on in a state nothing
 * expects.  0 when the change was made, -1 when it was refused. */
struct pre_conn;
int pre_conn_set_state(struct pre_conn *c, int to);
/* Teardown (every state may fail): the state becomes PRE_FAILED; returns the
 * state it had, so that exactly one of several racing teardowns does the
 * work of the last one. */
int pre_conn_state_fail(struct pre_conn *c);
/* The settings that govern c: the rule's, or — for a connection that has
 * none (no policy could be loaded) — the embedded default's, so that no
 * caller keeps its own copy of a default value. */
const pol_settings *pre_conn_settings(const struct pre_conn *c);
/* The name an outbound peer must prove: the program's
 * (secsock_set_peer_target_name), else the rule's peer-name; NULL none. */
const char *pre_conn_target(const struct pre_conn *c);

/* A setsockopt() the program made before connect, replayed on the fresh
 * socket of a discovery fallback. */
struct pre_opt {
	struct pre_opt *next;
	int level, name;
	socklen_t len;
	unsigned char val[];
};

struct pre_conn {
	atomic_int refs;          /* fd slots + calls in flight */
	atomic_int fd_refs;       /* fd slots only: 0 → last close */
	atomic_int state;         /* enum pre_state */
	pre_lock_t rx_lock, tx_lock;  /* see "Process life" above */
	struct pre_slot *sh;        /* shared slot (locks, record state, holders); NULL = private */

	uint8_t dir;              /* POL_DIR_INBOUND / POL_DIR_OUTBOUND */
	uint8_t action;           /* enum pol_action that applied */
	uint8_t nonblock;         /* O_NONBLOCK as the program set it (pre_io.c conn_nonblock) */
	uint8_t app_sec;          /* secsock_set_security: PRE_APP_* (pre_api.h) */
	uint8_t wr_shut;          /* SHUT_WR done (close_notify sent) */
	uint8_t nagle_off;        /* TCP_NODELAY set by us until the first data write (pre_handshake.c) */
	uint8_t fork_mark;        /* pre_fork.c: already locked for this fork */
	int domain, type, protocol;

	const pol_settings *set;  /* owned by the process policy (immutable) */
	const char *rule;         /* rule name, owned by the policy */

	/* PRE_NEW: recorded for discovery fallback */
	struct pre_opt *opts;
	struct sockaddr_storage *bound;
	socklen_t bound_len;
	char *target;             /* secsock_set_peer_target_name */
	struct pre_res *res;      /* client: waiting for the server's ticket (pre_resume.h) */
	uint8_t *ticket_msg;      /* server: its NewSessionTicket, sent before its first data */
	size_t ticket_len;

	/* server handshake in progress */
	ss_ctx *ctx;
	ss_cred *cred;
	int64_t deadline_ms;      /* handshake (or server-first-wait) deadline, CLOCK_MONOTONIC */

	/* PRE_SECURED */
	ss_rec_state *rs;         /* sodium_malloc'd (locked, guarded) */
	ss_rec *rec;
	uint8_t *cache;           /* undelivered plaintext of the head record (heap, on demand) */
	uint32_t cache_off, cache_len;
	uint32_t cache_rec;       /* bytes of that record still queued in the kernel */
	uint8_t *partial;         /* an incomplete record taken out of the kernel (pre_io.c) */
	uint32_t partial_len;
	uint32_t eof_queued;      /* bytes of the peer's close_notify left queued */
	int k_lowat;              /* SO_RCVLOWAT we set in the kernel */
	int user_lowat;           /* the program's own SO_RCVLOWAT (virtualised) */
	uint64_t tx_bytes;        /* sealed since the last KeyUpdate */
	int64_t tx_epoch_ms;      /* time of the last KeyUpdate (or handshake) */

	/* what secsock_query reports */
	uint16_t suite, group;
	uint8_t auth, mode, mutual, resumed;
	int32_t gkid[3];                 /* auth group: the key's L2 GKID (peer is "group:NAME") */
	uint64_t hs_usec;
	int64_t expiry;           /* the context's lifetime end, CLOCK_REALTIME seconds (0 unknown) */
	char *peer;

	/* Event loops (pre_engine.c, issue 5).  tail/held/so_error under tx_lock. */
	uint8_t *tail;            /* sealed bytes of a batch the kernel did not take */
	uint32_t tail_off, tail_len;
	uint8_t after_tail;       /* pre_tail.c: what the program's close/shutdown left for after the tail */
	uint8_t closing_listed;   /* pre_tail.c: on the list of closes the engine finishes (a ref) */
	struct pre_conn *closing_next;
	uint8_t *held;            /* plaintext written before a background handshake completed */
	uint32_t held_len;
	uint8_t bg;               /* client handshake runs in the background (connect → EINPROGRESS) */
	uint8_t bg_open;          /* request first contact (pre_connect.c): readiness is the kernel's */
	uint8_t bg_lazy;          /* ... and no ClientHello sent yet (until a write or bg_lazy_ms) */
	uint8_t bg_reply;         /* the peer sent something after our ClientHello */
	int64_t bg_lazy_ms;       /* the ClientHello goes out by then */
	int64_t bg_clear_ms;      /* request: no reply by then → clear (allow-clear-after); 0 none */
	/* The peer's address as accept(2) returned it or connect(2) was given
	 * it: after a reset getpeername has nothing (ENOTCONN), yet the pin
	 * check, the log, resumption and a clear retry all need it. */
	struct sockaddr_storage peer_addr;
	uint8_t eng_listed;       /* on the engine's list (the list holds a ref) */
	uint8_t eng_inbound;      /* the engine drives this accepted connection's handshake (pre_accept.c) */
	int so_error;             /* what getsockopt(SO_ERROR) reports (once) */
	int eng_fd;               /* the engine's CLOEXEC dup of the socket, + 1 (0 = none) */
	uint64_t eng_dev, eng_ino;/* its identity: the program may close or dup2 over that number */
	struct pre_conn *eng_next;/* the engine's list (engine lock) */
	uint64_t idle_mark;       /* pre_engine.c idle trim: record counters at its last look (0 = none) */
	uint32_t idle_seen;       /* pre_engine.c idle trim: the scan that last looked (engine thread only) */
	struct pre_epreg *epregs; /* pre_ready.c: the program's epoll registrations (tx_lock) */
	int st_slot;              /* pre_status.c: status slot + 1; 0 none yet, -1 none any more */
	int st_fd;                /* pre_status.c: a descriptor of it + 1 (0 none seen) */
};

/* ------------------------------------------------------------ fd table */
void pre_fdtab_init(void);
typedef _Atomic(struct pre_conn *) pre_slot;
extern pre_slot *_Atomic pre_fdtab;
extern unsigned pre_fdtab_size;
extern atomic_uint pre_fdtab_hi;

/* The fast path: NULL for every descriptor that is not ours.  No ref taken;
 * use only to decide whether to go slow. */
static inline struct pre_conn *pre_fd_peek(int fd)
{
	pre_slot *t = atomic_load_explicit(&pre_fdtab, memory_order_acquire);
	/* (unsigned)fd also sends negative descriptors to the slow branch */
	if (__builtin_expect(!t || (unsigned)fd >= pre_fdtab_size, 0))
		return NULL;
	return atomic_load_explicit(&t[fd], memory_order_acquire);
}
struct pre_conn *pre_fd_get(int fd);               /* ref'd, or NULL */
int pre_fd_install(int fd, struct pre_conn *c);    /* slot takes a ref; -1 if fd out of range */
struct pre_conn *pre_fd_take(int fd);              /* clears the slot; returns the slot's ref */

/* ------------------------------------------------------------ conn */
struct pre_conn *pre_conn_new(int domain, int type, int protocol);
/* The peer's address: c->peer when accept or connect set it, else the
 * kernel's (getpeername).  0, or -1 with *a zeroed. */
int pre_conn_peer(const struct pre_conn *c, int fd, struct sockaddr_storage *a);
static inline struct pre_conn *pre_conn_ref(struct pre_conn *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}
void pre_conn_put(struct pre_conn *c);             /* NULL ok */
/* Drop the slot's ref for fd; on the last descriptor of a secured
 * connection send close_notify first (fd must still be open). */
void pre_conn_release_fd(struct pre_conn *c, int fd);
/* Forget the descriptor (clear slot + release) — close, dup2 target, listen,
 * and decisions for clear/bypass. */
void pre_fd_forget(int fd);
/* fd was closed by a path we did not see (close_range or close by raw system
 * call, a library's internal close) and no longer refers to the connection:
 * drop the slot without any I/O on fd — it may be another file now — so no
 * close_notify; dup'd descriptors of the connection keep working.  pre_fdtab.c */
void pre_fd_stale(int fd);
/* A call just returned fd as a NEW descriptor (open, pipe, accept, dup...):
 * the kernel handing out the number proves the old one is closed, so any
 * slot left for it is stale.  One relaxed load when there is none. */
static inline void pre_fd_fresh(int fd)
{
	if (__builtin_expect(pre_fd_peek(fd) != NULL, 0))
		pre_fd_stale(fd);
}
/* 1 when fd is (still) a socket of c's address family: checked before
 * anything is sent on a slot's descriptor from a path where the slot may be
 * stale and the number another file (last close, fclose, a failed read or
 * write).  One getsockopt; errno kept. */
int pre_fd_holds(int fd, const struct pre_conn *c);

int pre_conn_record_opt(struct pre_conn *c, int level, int name, const void *val, socklen_t len);
int pre_conn_record_bind(struct pre_conn *c, const struct sockaddr *a, socklen_t len);
void pre_conn_free_setup(struct pre_conn *c);      /* opts, bound: not needed once decided */

/* Move an established context into the record state; c->ctx freed. */
int pre_conn_secure(struct pre_conn *c);

/* ------------------------------------------------------------ process life
 * pre_arena.c: shared slots.  pre_fork.c: fork/vfork.  pre_exec.c: exec. */
/* Attach c to a fresh shared slot (locks initialised either way). */
void pre_arena_attach(struct pre_conn *c);
/* The record state's home: inside the slot, or sodium_malloc'd. */
ss_rec_state *pre_arena_rs(struct pre_conn *c);
/* c's last descriptor in this process is going away: leave the slot's holder
 * list; 1 when no other live process holds the socket (say close_notify). */
int pre_arena_fds_gone(struct pre_conn *c);
/* Would this process be the last holder?  (exit-time close_notify) */
int pre_arena_sole_holder(struct pre_conn *c);
/* Last private reference: detach (the slot is freed with its last process). */
void pre_arena_detach(struct pre_conn *c);
/* The process exits with c still open: let the slot be freed once it is gone. */
void pre_arena_exit(struct pre_conn *c);
/* exec: the state leaves with the exec'd image; returns the number of other
 * holders (which can no longer use it).  unmove: the exec failed. */
int pre_arena_move(struct pre_conn *c);
void pre_arena_unmove(struct pre_conn *c);
/* exec sharing (pre_arena.c "Exec"): the memfd of c's chunk (ours, still
 * open) and c's slot in it, 0; -1 when c's slot cannot be shared. */
int pre_arena_exec_ref(struct pre_conn *c, int *fd, uint32_t *slot);
/* In the exec'd image: c (fresh) takes slot of the chunk memfd fd, which is
 * validated, mapped once and kept (CLOEXEC) for the next exec; the shared
 * record state, or NULL. */
ss_rec_state *pre_arena_exec_adopt(struct pre_conn *c, int fd, uint32_t slot);
/* Every chunk memfd FD_CLOEXEC again (the program may have cleared it):
 * before any exec or glibc spawn, so only a hand-off passes one on. */
void pre_arena_exec_seal(void);
/* 1 when fd is the number of one of our chunk memfds (no system call). */
int pre_arena_owns_fd(int fd);
/* A chunk memfd named in a hand-off: closed unless a connection adopted it. */
void pre_arena_exec_unused(int fd);
/* Whose sealed records wait in a private tail (pre_io.c), tx_lock held:
 * set/clear our mark; NONE, MINE, OTHER (a live holder: wait for it), LOST
 * (its owner died with them: the stream is broken). */
enum { PRE_TAIL_NONE = 0, PRE_TAIL_MINE, PRE_TAIL_OTHER, PRE_TAIL_LOST };
void pre_arena_tail_set(struct pre_conn *c, int pending);
int pre_arena_tail_state(struct pre_conn *c);
/* fork bookkeeping (pre_fork.c). */
void pre_arena_fork_prepare(void);
void pre_arena_fork_parent(pid_t child);
void pre_arena_fork_child(void);
void pre_fdtab_atfork_child(void);
/* exec handoff (pre_exec.c); the constructor imports. */
void pre_exec_import(void);
void pre_exec_init(void);

/* ------------------------------------------------------------ misc */
int64_t pre_now_ms(void);
/* Set the kernel SO_RCVLOWAT if it differs from what we set last. */
void pre_set_lowat(struct pre_conn *c, int fd, int want);
/* Reset the connection (RST) without closing the program's descriptor. */
void pre_reset(int fd);
/* Put the program's Nagle setting back after the first data write (the
 * handshake turned it off, hs_done_nagle in pre_handshake.c).  tx_lock held. */
void pre_conn_nagle_restore(struct pre_conn *c, int fd);
/* Program path for policy decisions (readlink /proc/self/exe, once). */
const char *pre_program(void);
/* The policy, loaded lazily; NULL when the file failed (logged once). */
const pol_policy *pre_policy(void);
/* 1 when TCP connections in this direction are bypassed whatever their
 * addresses and ports, and the log level has no line for them: the shims
 * then leave them alone without asking the kernel anything (no
 * getsockname/getpeername/SO_PROTOCOL, no tracking from socket()), so a
 * bypassed socket makes the same system calls as without the preload. */
int pre_quiet_bypass(pol_direction dir);
/* Stream protocols secsock governs: TCP, and Multipath TCP, which a program
 * (or mptcpize, curl --mptcp) asks for with IPPROTO_MPTCP and which carries
 * the same byte stream — left out, it would connect in clear under
 * 'require'.  Protocol 0 on SOCK_STREAM means TCP. */
static inline int pre_proto_is_tcp(int protocol)
{
	return protocol == 0 || protocol == IPPROTO_TCP || protocol == IPPROTO_MPTCP;
}
/* Is fd a TCP (or MPTCP) socket over IPv4/IPv6?  For descriptors we did
 * not see being created (inherited, created before the constructor,
 * accepted).  *domain gets AF_INET or AF_INET6.  pre_connect.c */
int pre_is_tcp(int fd, int *domain);
/* Lazy initialisation of OpenSSL-side state (sodium_init).  0 ok. */
int pre_crypto_init(void);

#endif
