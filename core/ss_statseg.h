/* ss_statseg.h — the layout of a process's status segment, shared by its
 * writer (preload/pre_status.c) and its reader (`secsock status`,
 * cli/cli_status.c).  docs/design.md "Status segments" says why it is a
 * file of fixed slots.
 *
 * One file per process, named after its pid, in a directory only its user
 * (or root) can open.  A 4 KiB header, then SS_STATUS_SLOTS slots of 512
 * bytes.  The file is sized once and stays sparse: only the pages of slots
 * ever used take memory.
 *
 * Each slot has its own sequence lock (seq odd while a writer is inside):
 * writers take it with a compare-and-swap (two threads of the process may
 * publish the same connection at once), readers copy the slot and retry
 * while seq moved.  The slot holds what the status shows and nothing from
 * which a key could be learnt: no secret, no ticket, no record counter.
 *
 * Pure: no system call, so both sides and a unit test include it alone.
 */
#ifndef SS_STATSEG_H
#define SS_STATSEG_H

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define SS_STATUS_MAGIC   0x31545353u   /* "SST1" little-endian */
#define SS_STATUS_VERSION 1u
#define SS_STATUS_SLOTS   1024u
#define SS_STATUS_HEAD    4096u
#define SS_STATUS_SLOT    512u
#define SS_STATUS_SIZE    (SS_STATUS_HEAD + SS_STATUS_SLOTS * SS_STATUS_SLOT)

/* slot kinds */
enum ss_status_kind {
	SS_ST_FREE = 0,
	SS_ST_CLAIMED,      /* being filled in: readers skip it */
	SS_ST_CONN,         /* a governed connection the process tracks */
	SS_ST_CLEAR,        /* decided clear: no longer tracked; alive while fd is socket ino */
	SS_ST_REFUSED       /* refused: kept as a record of the refusal until reused */
};

/* what the status shows as "state" */
enum ss_status_state {
	SS_STS_HANDSHAKE = 0,  /* connecting, undecided, handshake */
	SS_STS_SECURED,
	SS_STS_CLEAR,
	SS_STS_REFUSED,        /* refused before any byte went through */
	SS_STS_FAILED,         /* torn down after it was secured */
	SS_STS_COUNT
};

static inline const char *ss_status_state_name(unsigned s)
{
	static const char *const n[SS_STS_COUNT] = { "handshake", "secured", "clear", "refused",
	                                             "failed" };
	return s < SS_STS_COUNT ? n[s] : "?";
}

struct ss_status_head {
	uint32_t magic, version, head_size, slot_size, nslots;
	int32_t pid;
	uint64_t start_time;          /* /proc/PID/stat field 22: tells a reused pid apart */
	int64_t started_ms;           /* CLOCK_REALTIME, when the segment was made */
	_Atomic uint64_t n_secured, n_clear, n_refused;   /* since the process started */
	_Atomic uint32_t hi;          /* slots [0, hi) may be in use */
	uint32_t unpublished;         /* connections not shown: every slot was busy */
	char program[256];
};

struct ss_status_slot {
	_Atomic uint32_t seq;
	_Atomic uint8_t kind;         /* enum ss_status_kind */
	uint8_t state;                /* enum ss_status_state */
	uint8_t outbound, resumed, mutual;
	uint8_t pad[3];
	int32_t fd;                   /* the program's descriptor when it was published */
	uint64_t ino;                 /* the socket's inode: sock_diag and /proc/PID/fd match it */
	int64_t created_ms, changed_ms, rekey_ms;   /* CLOCK_REALTIME; rekey 0 = never */
	uint32_t rekeys;              /* KeyUpdates this end sent */
	char local[80], remote[80];   /* "127.0.0.1:8080", "[::1]:443" */
	char rule[64], action[12], method[16], cipher[24], group[16];
	char peer[160];               /* identity: subject, psk identity, host-key fingerprint */
};

_Static_assert(sizeof(struct ss_status_head) <= SS_STATUS_HEAD, "status header fits");
_Static_assert(sizeof(struct ss_status_slot) <= SS_STATUS_SLOT, "status slot fits");

static inline struct ss_status_slot *ss_status_slot_at(void *base, unsigned i)
{
	return (struct ss_status_slot *)((char *)base + SS_STATUS_HEAD + (size_t)i * SS_STATUS_SLOT);
}

/* Writer side: enter (spins while another writer is inside), leave. */
static inline void ss_status_wlock(struct ss_status_slot *s)
{
	for (;;) {
		uint32_t q = atomic_load_explicit(&s->seq, memory_order_relaxed);
		if (!(q & 1) && atomic_compare_exchange_weak_explicit(&s->seq, &q, q + 1,
		                                                       memory_order_acquire,
		                                                       memory_order_relaxed))
			break;
	}
	atomic_thread_fence(memory_order_release);
}

static inline void ss_status_wunlock(struct ss_status_slot *s)
{
	atomic_fetch_add_explicit(&s->seq, 1, memory_order_release);
}

/* Reader side: a consistent copy of *s into *out, 0; -1 when a writer kept
 * it busy (a writer that died inside leaves seq odd: the slot is skipped). */
static inline int ss_status_read(const struct ss_status_slot *s, struct ss_status_slot *out)
{
	for (int tries = 0; tries < 1000; tries++) {
		uint32_t a = atomic_load_explicit(&s->seq, memory_order_acquire);
		if (a & 1)
			continue;
		memcpy((void *)out, (const void *)s, sizeof *out);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&s->seq, memory_order_relaxed) == a) {
			out->local[sizeof out->local - 1] = out->remote[sizeof out->remote - 1] = 0;
			out->rule[sizeof out->rule - 1] = out->action[sizeof out->action - 1] = 0;
			out->method[sizeof out->method - 1] = out->cipher[sizeof out->cipher - 1] = 0;
			out->group[sizeof out->group - 1] = out->peer[sizeof out->peer - 1] = 0;
			return 0;
		}
	}
	return -1;
}

#endif
