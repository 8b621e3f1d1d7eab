/* ss_status.h — one status type for everything in core/.
 *
 * Modelled on SSPI's SECURITY_STATUS (seed 001, "Return value") with the
 * s2n-tls idea of grouping errors into categories, so a caller can tell
 * "feed me more bytes" from "the peer closed" from "the peer is hostile"
 * without a switch over every code.  Internal codes never reach errno: the
 * preload maps categories to the errno a program already handles.
 */
#ifndef SS_STATUS_H
#define SS_STATUS_H

typedef enum ss_status {
	SS_OK = 0,
	/* token loop (seed 001: SEC_I_CONTINUE_NEEDED / SEC_E_INCOMPLETE_MESSAGE) */
	SS_CONTINUE_NEEDED,      /* send the output token (may be empty), wait for the peer */
	SS_INCOMPLETE_MESSAGE,   /* input ends inside a record: call again with more bytes  */
	/* handshake failures (seed 001 error table) */
	SS_INVALID_TOKEN,        /* malformed handshake bytes */
	SS_LOGON_DENIED,         /* peer failed authentication (bad PSK, bad signature) */
	SS_NO_CREDENTIALS,       /* no usable credential for the requested method */
	SS_TARGET_UNKNOWN,       /* target name required but absent or unusable */
	SS_WRONG_PRINCIPAL,      /* peer authenticated as someone other than the target */
	SS_UNSUPPORTED_FUNCTION, /* a requirement flag or option this build cannot meet */
	SS_INSUFFICIENT_MEMORY,
	SS_INTERNAL_ERROR,
	SS_INVALID_HANDLE,       /* NULL / wrong-state context or credential */
	SS_NOT_SECSOCK,          /* the peer speaks TLS without ALPN secsock/1, or no TLS */
	SS_NO_AUTHENTICATING_AUTHORITY, /* e.g. key service unreachable, CA unknown */
	SS_ALGORITHM_MISMATCH,   /* no common cipher suite / group */
	SS_TIMEOUT,              /* used by callers that own clocks (preload) */
	/* record layer (RFC 8446 §5, §6) */
	SS_BAD_RECORD_MAC,       /* AEAD open failed: tampering or wrong key */
	SS_RECORD_OVERFLOW,      /* length beyond RFC 8446 §5.2 limits */
	SS_UNEXPECTED_MESSAGE,   /* wrong content type / handshake type at this point */
	SS_DECODE_ERROR,         /* malformed inner plaintext or post-handshake message */
	SS_CLOSED,               /* close_notify received: orderly end of the peer's stream */
	SS_PEER_ALERT,           /* fatal alert received from the peer */
	SS_BUFFER_TOO_SMALL,     /* caller's output buffer cannot hold the result */
	SS_SEQUENCE_EXHAUSTED,   /* 2^64-1 records under one key: rekey first */
	/* the socket under a context failed (reset, EOF, send error); used by
	 * callers that own sockets (preload), which keep errno beside it */
	SS_IO_ERROR,
	SS_STATUS_COUNT_
} ss_status;

/* What a caller should do about a status. */
typedef enum ss_status_category {
	SS_CAT_OK = 0,     /* success */
	SS_CAT_BLOCKED,    /* retry with more input / after sending output */
	SS_CAT_CLOSED,     /* orderly close */
	SS_CAT_AUTH,       /* authentication / policy failure: do not retry same peer */
	SS_CAT_PROTOCOL,   /* malformed or hostile bytes: tear the connection down */
	SS_CAT_ALERT,      /* peer sent a fatal alert */
	SS_CAT_INTERNAL,   /* our fault (memory, library) */
	SS_CAT_USAGE       /* caller's fault (bad handle, small buffer) */
} ss_status_category;

const char *ss_status_name(ss_status st);            /* "SS_LOGON_DENIED" */
ss_status_category ss_status_category_of(ss_status st);

#endif
