/* pre_status.h — publishing this process's connections for `secsock status`
 * (core/ss_statseg.h is the layout; docs/design.md "Status segments").
 *
 * Every call here is made at a state change of a connection (install in
 * the fd table, a transition, a refusal, a KeyUpdate, the last reference
 * going away), never from read or write.  Each costs nothing when the
 * connection has no slot, and the segment is only made when the first
 * governed connection is, so `LD_PRELOAD=libsecsock.so ls` makes none.
 * Publishing is best effort: no failure here changes what happens to a
 * connection.
 */
#ifndef PRE_STATUS_H
#define PRE_STATUS_H

struct pre_conn;

/* fd now refers to c (pre_fd_install): remember it, publish c when its
 * state is past "new". */
void pre_status_fd(struct pre_conn *c, int fd);
/* c moved from → to (pre_conn_set_state; also the teardown exchange). */
void pre_status_state(struct pre_conn *c, int from, int to);
/* Policy refused c (a require that could not be met, a failed check):
 * counted and shown as refused even when its state never reached FAILED.
 * l, r: the addresses as the refusal's log line has them (the socket may
 * have been reset already, so the kernel may not know the peer any more);
 * NULL to ask the socket. */
void pre_status_refused(struct pre_conn *c, const char *l, const char *r);
/* A connection decided without a pre_conn (bypass, a peer the discovery
 * cache knows to be clear, a block rule): published as clear or refused;
 * action is the enum pol_action that applied. */
void pre_status_decided(int fd, int outbound, const char *rule, int action, int refused);
/* c sent a KeyUpdate. */
void pre_status_rekey(struct pre_conn *c);
/* The last reference to c is going away: its slot is freed, unless it
 * records a refusal (kept until the slot is needed again). */
void pre_status_release(struct pre_conn *c);
/* fork child: publish under our own pid (the parent's connections we hold
 * are copied, the counters start at zero). */
void pre_status_atfork_child(void);
/* exec: the file goes (the new image publishes under the same pid, from
 * scratch); when the exec failed, it is made again. */
void pre_status_before_exec(void);
void pre_status_exec_failed(void);

#endif
