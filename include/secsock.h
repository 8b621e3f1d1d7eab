/* secsock.h — the public API of libsecsock.so.
 *
 * Unmodified programs need none of this: preloading the library is enough.
 * A program that knows about secsock can ask what happened to a socket and
 * tighten (never loosen) what the administrator's policy allows — the Linux
 * counterparts of WSAQuerySocketSecurity, WSASetSocketSecurity,
 * WSASetSocketPeerTargetName and WSADeleteSocketPeerTargetName (seed 000;
 * docs/api.md, libsecsock(3)).
 *
 * Every function returns 0 on success or -1 with errno set, like the socket
 * calls they sit beside.  A program may link with -lsecsock, or declare the
 * functions weak and call them only when the library is preloaded.
 */
#ifndef SECSOCK_H
#define SECSOCK_H

#include <stddef.h>
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

/* secsock_info.flags */
#define SECSOCK_INFO_SECURED   0x1u /* every byte is protected (state SECURED) */
#define SECSOCK_INFO_ENCRYPTED 0x2u /* ... and encrypted: always with SECURED here (AEAD only) */
#define SECSOCK_INFO_MUTUAL    0x4u /* both ends proved an identity */

struct secsock_info {
	int state;               /* enum secsock_state */
	int outbound;            /* 1 = we connected, 0 = we accepted */
	char cipher[32];         /* "aes-128-gcm", "" unless secured */
	char group[16];          /* "x25519", "none" for psk_ke */
	char auth[16];           /* the method: "anonymous", "psk", "host-key", "certificate", "group" */
	char peer[256];          /* peer identity: psk identity, cert subject, host-key fingerprint, "anonymous" */
	char rule[64];           /* policy rule that applied ("defaults" when none) */
	int mutual;              /* both ends authenticated (also SECSOCK_INFO_MUTUAL) */
	int standard_tls;        /* the peer is a standard TLS 1.3 peer, not secsock */
	uint64_t handshake_usec; /* handshake wall time */
	unsigned flags;          /* SECSOCK_INFO_* */
	char peer_fingerprint[52]; /* "SHA256:..." of the peer's host key; "" for other methods */
	int64_t expiry;          /* when the session's lifetime ends, seconds since the epoch; 0 unless secured */
	int resumed;             /* 1: resumed from an earlier full handshake (policy session-lifetime) */
	char auth_group[64];     /* auth "group": the group's name (policy auth = group:NAME); "" otherwise */
	int32_t gkid[3];         /* auth "group": the L2 GKID (L0, L1, L2) of the group key used; 0s otherwise */
};

/* WSAQuerySocketSecurity: what secsock did with fd.  A descriptor secsock
 * does not govern is not an error: state is SECSOCK_STATE_UNGOVERNED.
 * There is no impersonation on Linux (WSAImpersonateSocketPeer): a server
 * that wants to know who the client is reads peer (docs/api.md).
 * secsock_query fills the fields through `resumed` only
 * (SECSOCK_INFO_V1_SIZE bytes), whatever this header's struct holds: it has
 * no size argument, so it never writes past a struct of an older header.
 * secsock_query_ex fills min(size, this library's struct) bytes, every
 * field the library knows: pass sizeof(struct secsock_info).
 * Errors: EBADF (not an open descriptor), EINVAL (info NULL), EMSGSIZE
 * (size below SECSOCK_INFO_V1_SIZE). */
#define SECSOCK_INFO_V1_SIZE (offsetof(struct secsock_info, resumed) + sizeof(int))
int secsock_query(int fd, struct secsock_info *info);
int secsock_query_ex(int fd, struct secsock_info *info, size_t size);

/* SOCKET_SECURITY_SETTINGS (seed 000).  The struct may grow at its end:
 * callers pass sizeof, and a build that knows more fields reads only as many
 * as the caller passed. */
#define SECSOCK_PROTOCOL_DEFAULT 0u /* SOCKET_SECURITY_PROTOCOL_DEFAULT: the policy's methods */
#define SECSOCK_SETTINGS_GUARANTEE_ENCRYPTION 0x1u /* SOCKET_SETTINGS_GUARANTEE_ENCRYPTION: always true here */
#define SECSOCK_SETTINGS_ALLOW_INSECURE 0x2u       /* SOCKET_SETTINGS_ALLOW_INSECURE: the policy may fall back */
struct secsock_settings {
	uint32_t protocol;       /* SECSOCK_PROTOCOL_DEFAULT */
	uint32_t flags;          /* SECSOCK_SETTINGS_* */
};

/* WSASetSocketSecurity: secure this socket.  settings NULL (size 0) means
 * the default settings.  Without SECSOCK_SETTINGS_ALLOW_INSECURE nothing the
 * socket sends or accepts is ever clear: where the policy would fall back
 * (request) or bypass, the socket is treated as under require (secured or
 * refused).  With it the policy decides as without this call.  A block rule
 * still wins (EACCES at connect).  A socket with settings never shares its
 * port: setsockopt(SO_REUSEPORT, 1) on it fails EACCES.
 * Call once, on a new socket: before connect (client) and before bind
 * (server).  Errors: EBADF, ENOTSOCK, EAFNOSUPPORT (not AF_INET/AF_INET6),
 * EOPNOTSUPP (not a TCP stream socket), EMSGSIZE (size smaller than the
 * fields this build reads), EINVAL (NULL with a size, unknown protocol or
 * flag, non-zero bytes this build does not know, a second call, already
 * bound or listening), EISCONN (connecting or connected), ENOMEM. */
int secsock_set_security(int fd, const struct secsock_settings *settings, size_t size);

/* WSASetSocketPeerTargetName: the name the peer must prove (a certificate's,
 * or a host key's through a known-peers names= line), before connect();
 * overrides the rule's peer-name.  A method that cannot prove it
 * (anonymous, psk, an unbound host key) makes connect fail ECONNREFUSED,
 * never secure anonymously (docs/api.md).  name is copied; a second call
 * replaces it.  Errors: those of secsock_set_security for the socket and
 * its state (EBADF ENOTSOCK EAFNOSUPPORT EOPNOTSUPP EINVAL EISCONN), EINVAL
 * (NULL, empty or longer than 255 bytes), ENOMEM. */
int secsock_set_peer_target_name(int fd, const char *name);

/* WSADeleteSocketPeerTargetName: forget the name set above (the rule's
 * peer-name applies again).  No name set is not an error.  Same errors and
 * call order as secsock_set_peer_target_name. */
int secsock_delete_peer_target_name(int fd);

/* "0.1.0" */
const char *secsock_version(void);

#ifdef __cplusplus
}
#endif

#endif
