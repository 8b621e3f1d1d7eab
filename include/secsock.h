/* secsock.h — the public API of libsecsock.so.
 *
 * Unmodified programs need none of this: preloading the library is enough.
 * A program that knows about secsock can ask what happened to a socket and
 * tighten (never loosen) what the administrator's policy allows — the Linux
 * counterparts of WSAQuerySocketSecurity, WSASetSocketSecurity and
 * WSASetSocketPeerTargetName (seed 000).
 *
 * Every function returns 0 on success or -1 with errno set, like the socket
 * calls they sit beside.  A program may link with -lsecsock, or declare the
 * functions weak and call them only when the library is preloaded.
 */
#ifndef SECSOCK_H
#define SECSOCK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Connection states, as secsock_query reports them. */
enum secsock_state {
	SECSOCK_STATE_UNGOVERNED = 0, /* not a socket secsock tracks: bypassed, clear, UDP, not TCP */
	SECSOCK_STATE_PENDING,        /* created or accepted; not decided yet */
	SECSOCK_STATE_HANDSHAKE,      /* negotiation in progress */
	SECSOCK_STATE_SECURED,        /* every byte is encrypted and authenticated */
	SECSOCK_STATE_FAILED          /* torn down; reads fail ECONNRESET */
};

struct secsock_info {
	int state;               /* enum secsock_state */
	int outbound;            /* 1 = we connected, 0 = we accepted */
	char cipher[32];         /* "aes-128-gcm", "" unless secured */
	char group[16];          /* "x25519", "none" for psk_ke */
	char auth[16];           /* "anonymous", "psk", "certificate" ... */
	char peer[256];          /* peer identity: psk identity, cert subject, "anonymous" */
	char rule[64];           /* policy rule that applied ("defaults" when none) */
	int mutual;              /* both ends authenticated */
	int standard_tls;        /* the peer is a standard TLS 1.3 peer, not secsock */
	uint64_t handshake_usec; /* handshake wall time */
};

/* WSAQuerySocketSecurity: what secsock did with fd.  A descriptor secsock
 * does not govern is not an error: state is SECSOCK_STATE_UNGOVERNED.
 * Errors: EBADF (not an open descriptor), EINVAL (info NULL). */
int secsock_query(int fd, struct secsock_info *info);

/* WSASetSocketSecurity: flags for a socket before connect().
 * SECSOCK_REQUIRE turns a policy "request" into "require" for this socket
 * (no clear fallback; connect fails ECONNREFUSED instead).  Policy that says
 * bypass or block is not overridden: a program cannot weaken or escape the
 * administrator's policy.  Errors: EBADF, ENOTSOCK (not a TCP socket secsock
 * tracks), EISCONN (already connected), EINVAL (unknown flag). */
#define SECSOCK_REQUIRE 0x1u
int secsock_set_security(int fd, unsigned flags);

/* WSASetSocketPeerTargetName: the name the peer must prove (certificate
 * peer-name), before connect(); overrides the rule's peer-name.  A method
 * that cannot prove it (anonymous, psk) makes connect fail ECONNREFUSED,
 * never secure anonymously (docs/api.md).  name is copied.  Errors: EBADF, ENOTSOCK, EISCONN, EINVAL (NULL, empty or longer
 * than 255 bytes), ENOMEM. */
int secsock_set_peer_target_name(int fd, const char *name);

/* "0.1.0" */
const char *secsock_version(void);

#ifdef __cplusplus
}
#endif

#endif
