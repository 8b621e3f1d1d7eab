/* pre_exec_int.h — what the two halves of the exec hand-off share: the
 * layout of the memfd an exporting image writes (pre_exec.c) and the new
 * image reads (pre_exec_import.c), and the socket identity both match on. */
#ifndef PRE_EXEC_INT_H
#define PRE_EXEC_INT_H

#include <stdint.h>
#include "pre_sock.h"
#include "pre_sym.h"

enum {
	INH_VERSION = 3, INH_MAX = 4096, INH_PT_MAX = SS_REC_MAX_PLAINTEXT + 256, FDS_MAX = 65536,
	INH_TAIL_MAX = 64 * 1024 * 1024,   /* sanity bound on an imported tail */
	TAIL_WAIT_MS = 1000                /* exec waits no longer for another holder's tail */
};

struct inh_hdr {
	char magic[8];            /* "SSINHv1\0" */
	uint32_t version, count, entry_size, pad;
};

struct inh_entry {
	int32_t fd, state;
	uint64_t cookie;
	ss_rec_state rs;
	uint16_t suite, group;
	uint8_t dir, action, auth, mode, mutual, wr_shut, nonblock, shared;
	uint64_t hs_usec;
	uint32_t partial_len, cache_len, cache_rec, eof_queued;
	int32_t k_lowat, user_lowat;
	/* Records sealed but not yet taken by the kernel (pre_tail.h): their
	 * sequence numbers are in rs already, so the new image sends them
	 * before anything else.  Stored after the entries, at tail_at. */
	uint32_t tail_len, pad2;
	uint64_t tail_at;
	/* shared: rs is not here; the record state stays in slot arena_slot of
	 * the arena chunk whose memfd is arena_fd (pre_arena.c "Exec"). */
	int32_t arena_fd;
	uint32_t arena_slot;
	char peer[256];
	uint8_t partial[SS_REC_MAX_RECORD];
	uint8_t cache[INH_PT_MAX];
};

/* The socket's identity (SO_COOKIE): an entry attaches keys only to the
 * socket it was written for, never to whatever now has that number. */
static inline uint64_t pre_exec_cookie(int fd)
{
	uint64_t ck = 0;
	socklen_t l = sizeof ck;
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_COOKIE, &ck, &l) != 0)
		return 0;
	return ck;
}

#endif
