/* pre_tail.h — sealed records the kernel has not taken yet (the "tail" of a
 * non-blocking write, pre_io.c), and everything that must go after them.
 *
 * The program was told those bytes were written, and their records carry
 * sequence numbers already taken from the shared record state: until they
 * are on the wire no other record may be (RFC 8446 §5.3 — the nonce is the
 * sequence number; the peer opens records in order and a gap fails the
 * stream).  Second writers: another thread (tx_lock), another process
 * holding the socket after fork (the shared slot's tail mark,
 * pre_arena_tail_state: it waits or answers EAGAIN), the exec'd image (the
 * tail travels in the hand-off and is sent first), close and shutdown
 * (close_notify and FIN wait for the tail: the engine sends them after it),
 * exit (flushed, bounded), the receive path's KeyUpdate answer (left owed
 * to the next write).  A tail that can no longer be sent breaks the
 * stream: the connection is failed, never continued out of order.
 */
#ifndef PRE_TAIL_H
#define PRE_TAIL_H

#include <stddef.h>
#include <stdint.h>
#include "pre_sock.h"

/* tx_lock held.  keep: append sealed bytes (and set our mark); flush: push
 * without waiting, 1 drained, 0 the kernel is full, -1 error; drop: forget
 * (and clear our mark). */
int pre_tail_keep(struct pre_conn *c, const uint8_t *p, size_t n);
int pre_tail_flush(struct pre_conn *c, int fd);
void pre_tail_drop(struct pre_conn *c);
/* The engine's work on c's tail (efd its descriptor, or -1); tx_lock held.
 * Returns 1 when the caller must pre_conn_put(c) after unlocking. */
int pre_tail_service(struct pre_conn *c, int efd);

/* No lock held.  The last descriptor of a secured c in this process closes;
 * notify: no other holder is left, close_notify is due.  With a tail
 * pending the engine finishes (tail, close_notify, closing its duplicate)
 * and close returns at once, like the kernel's own close. */
void pre_tail_last_close(struct pre_conn *c, int fd, int notify);
/* shutdown(SHUT_WR) on a secured c: close_notify after the tail, then FIN.
 * 1: the engine sends both after the tail (the caller must not shut the
 * write side itself); 0: close_notify is out, the caller shuts. */
int pre_tail_shut_wr(struct pre_conn *c, int fd);
/* exit() and _exit(): within EXIT_WAIT_MS, the closes the engine had not
 * finished, then for every secured descriptor this process's tail and, if
 * no other holder is left, close_notify (a forked child exiting must not
 * end its parent's stream; its tail goes out either way: no other holder
 * can send it). */
void pre_tail_exit_all(void);
/* exec: the closes the engine had not finished, within EXIT_WAIT_MS (its
 * duplicates are CLOEXEC: the new image would drop their tails). */
void pre_tail_before_exec(void);
/* exec import: buf (malloc'd, taken over) is the exporting image's tail;
 * sent before anything else.  0 ok, -1 cannot be sent (shut the socket). */
int pre_tail_adopt(struct pre_conn *c, int fd, uint8_t *buf, size_t n);
/* fork: the closing list is the parent's (pre_fork.c). */
void pre_tail_atfork_prepare(void);
void pre_tail_atfork_parent(void);
void pre_tail_atfork_child(void);

#endif
