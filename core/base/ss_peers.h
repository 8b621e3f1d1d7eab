/* ss_peers.h — host-key fingerprints and the known-peers file (issue 13,
 * "host-key": trust on first use, like OpenSSH's known_hosts).
 *
 * A fingerprint is "SHA256:" followed by the base64 (no padding) of the
 * SHA-256 of the peer's raw Ed25519 public key (RFC 8032 §5.1.5, 32 bytes),
 * the way OpenSSH prints key fingerprints.
 *
 * The file: one peer per line, fields separated by blanks, '#' starts a
 * comment line:
 *
 *     ADDRESS[/PREFIX] [port=PORT] [names=NAME,NAME...] SHA256:FINGERPRINT
 *
 * ADDRESS is an IPv4 or IPv6 literal (IPv4-mapped IPv6 is the IPv4 address);
 * PREFIX a CIDR length (a line then covers a range: "these hosts share a
 * key"); without port= the line is for every port.  names= binds names to
 * the key: host-key proves a peer name only through such a line.  The most
 * specific line wins (longest prefix, then a line with a port over one
 * without); two lines for the same address, prefix and port are an error.
 *
 * Pure: no sockets, no OpenSSL (core/base/, linked into libsecsock.so).
 * The parser takes untrusted bytes (a file a user may edit): bounded, every
 * line checked, a libFuzzer target (tests/fuzz/fuzz_peers.c).
 */
#ifndef SS_PEERS_H
#define SS_PEERS_H

#include <stddef.h>
#include <stdint.h>
#include "ss_status.h"

enum {
	SS_FP_LEN = 7 + 43 + 1,          /* "SHA256:" + 43 base64 chars + NUL */
	SS_PEERS_NAMES_MAX = 256,        /* the names= value, NUL included */
	SS_PEERS_MAX_LINES = 100000,     /* bounds memory on a hostile file */
	SS_PEERS_FILE_MAX = 8 << 20      /* bytes */
};

typedef struct ss_peer {
	uint8_t addr[16];                /* IPv4 as ::ffff:a.b.c.d */
	uint8_t prefix;                  /* 0..128, on the 16-byte form */
	uint16_t port;                   /* 0: every port */
	char names[SS_PEERS_NAMES_MAX];  /* comma list, "" when none */
	char fp[SS_FP_LEN];
	int line;
} ss_peer;

typedef struct ss_peers ss_peers;    /* parsed file, immutable */

/* "SHA256:..." of a raw 32-byte Ed25519 public key. */
void ss_fingerprint(const uint8_t pub[32], char out[SS_FP_LEN]);
/* Is s a well-formed fingerprint? */
int ss_fingerprint_valid(const char *s);

/* Parse text (n bytes, need not be NUL-terminated).  SS_OK with *out set,
 * SS_DECODE_ERROR with "line N: problem" in err, or SS_INSUFFICIENT_MEMORY. */
ss_status ss_peers_parse(const char *text, size_t n, ss_peers **out, char *err, size_t errn);
void ss_peers_free(ss_peers *p);
size_t ss_peers_count(const ss_peers *p);
const ss_peer *ss_peers_at(const ss_peers *p, size_t i);

/* An address as 16 bytes (v4-mapped for AF_INET); 0 ok, -1 not an address. */
int ss_peers_addr(const char *text, uint8_t out[16]);

typedef enum ss_pin {
	SS_PIN_UNKNOWN = 0,   /* no line covers this peer */
	SS_PIN_MATCH,         /* the covering line has this fingerprint */
	SS_PIN_MISMATCH,      /* the covering line has another: *line says which */
	SS_PIN_ADDED          /* ss_peers_pin only: this call wrote the line */
} ss_pin;
/* The most specific line covering (addr, port), compared with fp. */
ss_pin ss_peers_check(const ss_peers *p, const uint8_t addr[16], uint16_t port, const char *fp,
                      const ss_peer **line);
/* A name pattern against a name, label by label, case-insensitive: a label
 * that is exactly '*' matches any one non-empty label (RFC 6125 §6.4.3:
 * *.example.com covers a.example.com, not example.com nor a.b.example.com);
 * a trailing '.' on the name is ignored.  Used for known-peers names= and
 * for allowed client names in certificates. */
int ss_name_matches(const char *pat, size_t plen, const char *name, size_t nlen);
/* Does the covering line bind `name` (ss_name_matches) to the key? */
int ss_peer_has_name(const ss_peer *e, const char *name);

/* Format one line ("ADDRESS[/P] [port=N] [names=...] FP\n"); the length
 * written, or 0 when out is too small. */
size_t ss_peer_format(const ss_peer *e, char *out, size_t n);

/* ---- the file on disk (ss_peers_file.c) ----
 * Readers take the file as it is; writers hold an exclusive flock on
 * PATH.lock, re-read, and replace the file by rename(2) of a complete new
 * copy (mode 0600), so a reader never sees a torn file and two first
 * contacts never both append.  The file and its lock must be regular files
 * owned by the caller (or root), not links. */

/* Read and parse path.  A missing file is an empty list (SS_OK). */
ss_status ss_peers_load(const char *path, ss_peers **out, char *err, size_t errn);
/* Pin e unless a line already covers it: *result says what the file says
 * afterwards (SS_PIN_ADDED: this call pinned it; SS_PIN_MATCH: a line, of
 * another process perhaps, already pins this key;
 * SS_PIN_MISMATCH: another key is pinned, *existing gets that line).  The
 * directory is made (0700) when missing. */
ss_status ss_peers_pin(const char *path, const ss_peer *e, ss_pin *result, ss_peer *existing,
                       char *err, size_t errn);
/* Remove the line with e's address, prefix and port; *removed = 0 when none. */
ss_status ss_peers_remove(const char *path, const ss_peer *e, int *removed, char *err, size_t errn);
/* The user's default file: $XDG_CONFIG_HOME/secsock/known_peers, else
 * ~/.config/secsock/known_peers (secure_getenv: nothing from the
 * environment in setuid programs, which get the system file).  0 ok. */
int ss_peers_default_path(char *out, size_t n);
#define SS_PEERS_SYSTEM_PATH "/etc/secsock/known_peers"
/* The user's host key (core/ss_hostkey.h), in the same directory:
 * $XDG_CONFIG_HOME/secsock/host.key, else ~/.config/secsock/host.key.
 * 0 ok. */
int ss_hostkey_default_path(char *out, size_t n);
#define SS_HOSTKEY_SYSTEM_PATH "/etc/secsock/host.key"
/* The directories holding path, made 0700 where missing (~/.config too,
 * as OpenSSH makes ~/.ssh).  0 ok, -1 errno. */
int ss_mkdirs_for(const char *path);

#endif
