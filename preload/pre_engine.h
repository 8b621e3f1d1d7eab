/* pre_engine.h — the per-process engine thread (issue 5).
 *
 * One thread per process, started lazily on the first connection that
 * needs it.  It waits in its own epoll instance on CLOEXEC duplicates of
 * the sockets it serves (a duplicate, not the program's descriptor: the
 * program may close, dup2 over or reuse its numbers at any time) and
 *  - flushes the sealed tail of a batch the kernel did not take (a
 *    non-blocking write never blocks and never leaves half a record),
 *  - drives the client handshake of a non-blocking connect that returned
 *    EINPROGRESS (pre_connect.c), and its handshake timeout.
 * Per-connection locks only; the engine's own mutex guards its list, taken
 * when a connection is first handed over and by the engine thread itself,
 * never on the data path of a connection already known to it.
 *
 * fork: the child has no engine thread, and the epoll instance it inherited
 * is the parent's (epoll_ctl in the child would change the parent's set).
 * pre_engine_atfork_child() forgets all of it (closes the inherited epoll,
 * wake and duplicate descriptors, drops tails the parent will send) so the
 * child starts a fresh engine on first need.  Call it from the pthread_atfork
 * child handler; pre_engine_atfork_prepare()/parent() bracket fork() so that
 * the engine thread is never inside a connection's lock when the address
 * space is copied.  All three are idempotent and safe when the engine never
 * ran.
 */
#ifndef PRE_ENGINE_H
#define PRE_ENGINE_H

#include <stdint.h>
#include <sys/epoll.h>
#include "pre_sock.h"

/* Hand c to the engine (starting it if needed) and arm it for events
 * (EPOLLIN/EPOLLOUT, one-shot).  fd: any open descriptor of c, used to make
 * the engine's duplicate on first use.  Called with tx_lock held.  0 ok;
 * -1 when the engine cannot serve c (the caller does the work itself). */
int pre_engine_arm(struct pre_conn *c, int fd, uint32_t events);
/* The last descriptor is closing: close the engine's duplicate now, so the
 * program's close() really ends the connection.  tx_lock held. */
void pre_engine_detach(struct pre_conn *c);
/* The engine's descriptor for c (validated), or -1.  tx_lock held. */
int pre_engine_fd(struct pre_conn *c);

/* Set up, now, what the engine will need for a governed connection (its
 * thread, epoll instance and wake eventfd), so that no later call of the
 * program's, after it restricted itself (seccomp, RLIMIT_NOFILE), is the
 * one that makes them.  Any thread, no lock of ours held.  0 ok, -1 (errno
 * kept) when it cannot: the engine is then started lazily as before. */
int pre_engine_prepare(void);
/* A fork child (pre_fork.c, after every child handler): prepare the engine
 * when the child holds a governed connection. */
void pre_engine_child_ready(void);

/* Fork, parent side, before any lock is released (pre_fork.c): the engine
 * stops driving undecided accepted connections the child now holds too. */
void pre_engine_fork_parent_handoff(void);

void pre_engine_atfork_prepare(void);
void pre_engine_atfork_parent(void);
void pre_engine_atfork_child(void);

/* What the engine does for a connection that is not decided yet, given by
 * the layer above (pre_setup.c) so that the engine calls nothing in
 * connect or accept.  service: the engine's event or timer on c; 1 when it
 * was setup work (done), 0 when the engine's own work is next.  deadline:
 * when service is due without an event (CLOCK_MONOTONIC ms), 0 never. */
struct pre_engine_setup {
	int (*service)(struct pre_conn *c);
	int64_t (*deadline)(struct pre_conn *c);
};
void pre_engine_set_setup(const struct pre_engine_setup *s);
/* The setup hook's deadline for c (0 without hooks). */
int64_t pre_engine_setup_deadline(struct pre_conn *c);
/* The setup hook's service (0 without hooks). */
int pre_engine_setup_service(struct pre_conn *c);

#endif
