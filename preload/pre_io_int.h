/* pre_io_int.h — what the parts of the stream engine share (pre_io.c: the
 * per-thread buffers, the connection-level helpers and the engine's
 * service; pre_rx.c: receive; pre_tx.c: send, the tail and held writes;
 * pre_wire.c: the socket helpers below them all).  Private to those files.
 */
#ifndef PRE_IO_INT_H
#define PRE_IO_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include "pre_io.h"
#include "pre_sock.h"

enum {
	RX_SCRATCH = 8 * SS_REC_MAX_RECORD,           /* records peeked per read */
	TX_BATCH = 8 * SS_REC_MAX_PLAINTEXT,          /* plaintext sealed per send */
	TX_SCRATCH = TX_BATCH + 8 * (SS_REC_OVERHEAD + 256) + 512,
	PT_BOUNCE = SS_REC_MAX_PLAINTEXT + 256,
	HOLD_MAX = 1024 * 1024,                       /* plaintext held during a background handshake */
	TAIL_WAIT_MS = 250,                           /* a non-blocking write behind another holder's tail */
	REC_MIN_LEN = SS_REC_HEADER_LEN + 1 + SS_REC_TAG_LEN,
	/* Reads with less room than this peek first (rx_take): a record
	 * bigger than the buffer would otherwise go through the partial
	 * buffer and cost a system call more than the peek path. */
	TAKE_MIN = 256
};

/* ------------------------------------------------------------ scratch */

struct scratch {
	uint8_t rx[RX_SCRATCH];
	uint8_t tx[TX_SCRATCH];
	uint8_t pt[PT_BOUNCE];
	uint8_t gather[TX_BATCH];
};

/* This thread's buffers (allocated on first use; NULL when memory is short).
 * The variable is read directly on paths where pre_io_scratch() already ran. */
struct scratch *pre_io_scratch(void);
extern __thread struct scratch *pre_io_tls_scratch __attribute__((tls_model("initial-exec")));

/* ------------------------------------------------------------ cursor */

struct cursor {
	const struct iovec *iov;
	int cnt, i;
	size_t off;       /* within iov[i] */
};

static inline void cur_skip_empty(struct cursor *k)
{
	while (k->i < k->cnt && k->off >= k->iov[k->i].iov_len) {
		k->i++;
		k->off = 0;
	}
}

static inline int cur_full(struct cursor *k)
{
	cur_skip_empty(k);
	return k->i >= k->cnt;
}

static inline size_t cur_room(struct cursor *k, uint8_t **p)
{
	cur_skip_empty(k);
	if (k->i >= k->cnt)
		return 0;
	*p = (uint8_t *)k->iov[k->i].iov_base + k->off;
	return k->iov[k->i].iov_len - k->off;
}

static inline size_t cur_put(struct cursor *k, const uint8_t *src, size_t n)
{
	size_t done = 0;
	uint8_t *p;

	while (done < n) {
		size_t room = cur_room(k, &p), m = n - done < room ? n - done : room;
		if (!room)
			break;
		memcpy(p, src + done, m);
		k->off += m;
		done += m;
	}
	return done;
}

/* The room left in the cursor's buffers. */
static inline size_t cur_left(const struct cursor *k)
{
	size_t n = 0;

	for (int i = k->i; i < k->cnt; i++)
		n += k->iov[i].iov_len;
	return n - k->off;
}

static inline size_t iov_total(const struct iovec *iov, int cnt)
{
	size_t t = 0;
	for (int i = 0; i < cnt; i++)
		t += iov[i].iov_len;
	return t;
}

/* ------------------------------------------------------------ helpers (pre_io.c, pre_wire.c) */

/* Does a call on c answer EAGAIN rather than wait (MSG_DONTWAIT, or the
 * program's O_NONBLOCK, tracked in c->nonblock: see pre_io.c)? */
int pre_io_conn_nonblock(struct pre_conn *c, int fd);
int pre_io_would_block(struct pre_conn *c, int fd, int flags);
/* Drop n bytes already peeked and processed (recv MSG_TRUNC). */
int pre_io_discard(int fd, size_t n);
/* Fail c and reset the TCP connection; logs why (st: a status, or 0). */
void pre_io_fail_conn(struct pre_conn *c, int fd, const char *why, ss_status st);
/* The errno a call on a failed connection reports. */
int pre_io_failed_errno(struct pre_conn *c);
/* Seal and send a KeyUpdate (RFC 8446 §4.6.3); tx_lock held. */
int pre_io_send_key_update(struct pre_conn *c, int fd, int request_peer, int more);
int pre_io_send_ticket(struct pre_conn *c, int fd);   /* pre_resume.h; tx_lock held */
#endif
