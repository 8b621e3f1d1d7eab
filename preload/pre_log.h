/* pre_log.h — the library's only output channel.
 *
 * SECSOCK_LOG=error|warn|notice|info|debug (default notice), SECSOCK_LOG_FILE=PATH
 * (append; SECSOCK_LOG_FORMAT=json makes it one JSON object per line), else
 * the journal's native socket (structured fields), else syslog(LOG_DAEMON).
 * Never the program's stdout/stderr.  All of them are ignored in
 * secure-execution programs (secure_getenv); a file that is reached through
 * a symlink, is not a regular file, or is not owned by the effective uid is
 * not written (the line goes to the journal or syslog).
 * Human line format (tests grep it): "secsock[PID]: LEVEL: message".
 *
 * Audit events (docs/logging.md has the list, levels and fields) carry a
 * name and the connection's fields besides the message; those at notice and
 * above that name a peer are rate-limited per peer and event
 * (SECSOCK_LOG_RATE, default 10 per 10 s, pre_log_rate.c).
 */
#ifndef PRE_LOG_H
#define PRE_LOG_H

#include <sys/socket.h>

enum pre_log_level { PRE_LOG_ERROR = 0, PRE_LOG_WARN, PRE_LOG_NOTICE, PRE_LOG_INFO, PRE_LOG_DEBUG };

extern int pre_log_level;   /* set once by pre_log_init() */
void pre_log_init(void);    /* from the constructor: getenv only, no I/O */
/* SECSOCK_KEYLOG_FILE (pre_log.c): 1 when key log lines are wanted (the
 * first call logs the one warning line), and the sink for them
 * (ss_cred_params.keylog). */
int pre_keylog_enabled(void);
void pre_keylog_line(const char *line);
void pre_log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pre_log(level, ...) \
	do { if ((level) <= pre_log_level) pre_log_msg((level), __VA_ARGS__); } while (0)

/* One audit event: SECSOCK_EVENT=name and the fields that are not NULL
 * (SECSOCK_DIRECTION, SECSOCK_PEER, SECSOCK_RULE, SECSOCK_METHOD,
 * SECSOCK_REASON, SECSOCK_CIPHER, SECSOCK_IDENTITY; SECSOCK_PROGRAM and the
 * pid are added).  peer is the
 * remote "addr:port" as pre_log_addr writes it; its address is the rate
 * limit's key.  Nothing secret ever goes in here: names, addresses,
 * fingerprints, policy words. */
struct pre_event {
	const char *name;     /* PRE_EV_* */
	const char *dir;      /* "inbound" | "outbound" */
	const char *peer;
	const char *rule;
	const char *method;   /* the authentication method (ss_auth_name) */
	const char *reason;
	const char *cipher;   /* SECSOCK_CIPHER: a secured connection's suite */
	const char *identity; /* SECSOCK_IDENTITY: what the peer proved (a fingerprint, a name) */
	/* a "suppressed" line: how many lines of which event */
	const char *of;
	unsigned long count;
};
#define PRE_EV_SECURED      "secured"
#define PRE_EV_CLEAR        "clear"
#define PRE_EV_REFUSED      "refused"
#define PRE_EV_BLOCKED      "blocked"
#define PRE_EV_BYPASS       "bypass"
#define PRE_EV_PIN_ADDED    "pin-added"
#define PRE_EV_PIN_MISMATCH "pin-mismatch"
#define PRE_EV_DOWNGRADE    "downgrade"
#define PRE_EV_TORN_DOWN    "torn-down"
#define PRE_EV_POLICY_ERROR "policy-error"
#define PRE_EV_KEYLOG       "keylog"
#define PRE_EV_SUPPRESSED   "suppressed"

void pre_log_event(int level, const struct pre_event *ev, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define pre_event(level, ev, ...) \
	do { if ((level) <= pre_log_level) pre_log_event((level), (ev), __VA_ARGS__); } while (0)

/* "127.0.0.1:8080" / "[::1]:8080" into buf (>= 64 bytes). */
const char *pre_log_addr(const struct sockaddr_storage *ss, char *buf, size_t len);
/* Socket fd's local and remote addresses, each formatted as pre_log_addr
 * does into PRE_LOG_ADDR_LEN bytes, for a connection's log line; the
 * remote address itself in *peer when peer is not NULL (AF_UNSPEC when
 * the kernel has none any more, e.g. after a reset). */
enum { PRE_LOG_ADDR_LEN = 80 };
void pre_log_names(int fd, const struct sockaddr_storage *known, char *l, char *r, struct sockaddr_storage *peer);

#endif
