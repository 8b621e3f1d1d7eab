/* ss_resume.h — quick reconnects (issue 14): a full handshake leaves a
 * "main mode" association behind, and a later connection between the same
 * two ends is resumed from it with a TLS 1.3 PSK handshake (RFC 8446 §2.2)
 * that keeps the (EC)DHE share (psk_dhe_ke, §4.2.9: pfs = yes) and carries
 * over the identity the full handshake proved.  No 0-RTT data, ever: early
 * data can be replayed (§8), and a preloaded program cannot be told which
 * of its bytes were replayable.
 *
 * The association's secret: both ends export one from the full handshake
 * (RFC 8446 §7.5, label "EXPORTER-secsock-resumption"), before its keys are
 * handed to the record layer.  The server then sends a NewSessionTicket
 * (§4.6.1) in its first record: ticket_nonce, and a ticket that is the
 * association sealed (XChaCha20-Poly1305) with a ticket key only the
 * server's processes hold.  Both ends derive the resumption PSK as §4.6.1
 * does: HKDF-Expand-Label(secret, "resumption", ticket_nonce, Hash.length).
 * The server keeps no state: any process holding the ticket key opens the
 * ticket, which the client offers as its PSK identity.
 *
 * Lifetimes (policy session-lifetime, idle-timeout) are checked at both
 * ends from the association's own times: created (the full handshake) and
 * last_used (the latest connection, which gets a fresh ticket).
 */
#ifndef SS_RESUME_H
#define SS_RESUME_H

#include <stddef.h>
#include <stdint.h>
#include "ss_cred.h"
#include "ss_status.h"

enum {
	SS_TICKET_KEY_LEN = 32,
	SS_TICKET_MAX = 512,          /* the sealed ticket, bytes */
	SS_RESUME_PEER_MAX = 256,
	SS_RESUME_NAME_MAX = 256,
	SS_RESUME_SECRET_MAX = 48,    /* Hash.length of SHA-384 */
	SS_RESUME_SCOPE_LEN = 16
};

/* The server's ticket keys: a master key, owned by the caller, from which
 * the key of each SS_TICKET_PERIOD-second period is derived (libsodium
 * crypto_kdf, BLAKE2b; subkey id = the period's index, which the ticket
 * carries as its key id).  Tickets are sealed with the key of the period
 * they are issued in and open while their key is in the window
 * (ss_resume_ticket_open): keys rotate by the clock with no state, so every
 * process holding the master agrees on them without talking.  The master:
 * random, made before the program can fork (fork children and prefork
 * workers share it), or derived from the host key (ss_ticket_keys_from_seed)
 * so that separately started processes with the same host key open each
 * other's tickets.  Kept in locked memory by the caller. */
enum { SS_TICKET_PERIOD = 3600 };

typedef struct ss_ticket_keys {
	uint8_t master[SS_TICKET_KEY_LEN];
} ss_ticket_keys;

/* The master of a host key: keyed BLAKE2b of a fixed label under the key's
 * 32-byte Ed25519 seed (one way: tickets never reveal the host key). */
void ss_ticket_keys_from_seed(const uint8_t seed[32], ss_ticket_keys *out);

/* What a resumed connection carries over from its full handshake. */
typedef struct ss_resume_id {
	int64_t created;                     /* unix seconds of the full handshake */
	int64_t last_used;                   /* unix seconds of the latest connection */
	uint16_t suite;                      /* the PSK is bound to its hash */
	uint8_t auth;                        /* ss_auth the full handshake proved */
	uint8_t mutual;
	char peer[SS_RESUME_PEER_MAX];       /* the peer identity it proved */
	uint8_t scope[SS_RESUME_SCOPE_LEN];  /* server: the settings it was proved under
	                                        (ss_cred_params.ticket_scope) */
} ss_resume_id;

/* A client's association, as its cache keeps it (locked memory: psk). */
typedef struct ss_resume_entry {
	ss_resume_id id;
	uint32_t lifetime;                   /* the server's ticket_lifetime, seconds */
	uint8_t psk[SS_RESUME_SECRET_MAX];
	size_t psk_len;
	uint8_t ticket[SS_TICKET_MAX];
	size_t ticket_len;
} ss_resume_entry;

/* Client: the association from the server's NewSessionTicket message
 * (msg: the whole handshake message, header included) and the secret the
 * client exported (ss_ctx_resume_secret), the identity it saw and now. */
ss_status ss_resume_entry_make(const uint8_t *secret, size_t secret_len, const uint8_t *msg,
                               size_t msg_len, const ss_resume_id *id, ss_resume_entry *e);

/* Is the entry usable now under these lifetimes (seconds; 0 = no reuse)? */
int ss_resume_fresh(const ss_resume_id *id, int64_t now, uint32_t lifetime_s, uint32_t idle_s);

/* Server: seal id and the PSK for ticket_nonce into a NewSessionTicket
 * message (into msg, at most cap bytes), with the key of the period of
 * id->last_used (the time it is issued). */
ss_status ss_resume_ticket_make(const ss_ticket_keys *k, const uint8_t *secret, size_t secret_len,
                                const ss_resume_id *id, uint32_t lifetime_s,
                                uint8_t *msg, size_t cap, size_t *msg_len);

/* Server: open a ticket a client offered as its PSK identity at unix time
 * now.  The window: a key opens tickets for window_s seconds after its
 * period ends (the longest a ticket may still be fresh: the smaller of
 * session-lifetime and idle-timeout), and always through the next period
 * (a ticket issued just before a rotation); a future period never opens.
 * SS_OK with *id and psk filled, else SS_BAD_RECORD_MAC (not ours,
 * tampered, or a rotated-out key) or SS_DECODE_ERROR. */
ss_status ss_resume_ticket_open(const ss_ticket_keys *k, const uint8_t *ticket, size_t len,
                                int64_t now, uint32_t window_s,
                                ss_resume_id *id, uint8_t psk[SS_RESUME_SECRET_MAX], size_t *psk_len);

#endif
