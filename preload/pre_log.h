/* pre_log.h — the library's only output channel.
 *
 * SECSOCK_LOG=error|warn|info|debug (default warn), SECSOCK_LOG_FILE=PATH
 * (append), else syslog(LOG_DAEMON).  Never the program's stdout/stderr.
 * Both are ignored in secure-execution programs (secure_getenv); a file that
 * is reached through a symlink, is not a regular file, or is not owned by
 * the effective uid is not written (the line goes to syslog).
 * Line format (tests grep it): "secsock[PID]: LEVEL: message".
 */
#ifndef PRE_LOG_H
#define PRE_LOG_H

#include <sys/socket.h>

enum pre_log_level { PRE_LOG_ERROR = 0, PRE_LOG_WARN, PRE_LOG_INFO, PRE_LOG_DEBUG };

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

/* "127.0.0.1:8080" / "[::1]:8080" into buf (>= 64 bytes). */
const char *pre_log_addr(const struct sockaddr_storage *ss, char *buf, size_t len);
/* Socket fd's local and remote addresses, each formatted as pre_log_addr
 * does into PRE_LOG_ADDR_LEN bytes, for a connection's log line; the
 * remote address itself in *peer when peer is not NULL (AF_UNSPEC when
 * the kernel has none any more, e.g. after a reset). */
enum { PRE_LOG_ADDR_LEN = 80 };
void pre_log_names(int fd, char *l, char *r, struct sockaddr_storage *peer);

#endif
