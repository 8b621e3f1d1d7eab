/* pre_log.c — logging (see pre_log.h).
 *
 * The log file is opened per line (open, write, close through the real
 * functions): lines are per connection decision, not per record, and a
 * program that closes "all other fds" (close_range, daemonising code) can
 * then never leave us writing into one of its own descriptors.
 * errno is saved and restored around everything here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include "pre_log.h"
#include "pre_sym.h"

int pre_log_level = PRE_LOG_WARN;
/* A copy, not a pointer into the environment: programs rewrite that
 * memory (nginx's setproctitle moves environ and writes the process title
 * over the old strings). */
static char log_file_buf[4096];
static const char *log_file;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void pre_log_init(void)
{
	const char *lv = getenv("SECSOCK_LOG");

	if (lv) {
		for (int i = 0; i <= PRE_LOG_DEBUG; i++)
			if (!strcasecmp(lv, level_names[i]))
				pre_log_level = i;
		if (!strcasecmp(lv, "warning"))
			pre_log_level = PRE_LOG_WARN;
	}
	log_file = getenv("SECSOCK_LOG_FILE");
	if (log_file && (!*log_file || strlen(log_file) >= sizeof log_file_buf))
		log_file = NULL;
	if (log_file) {
		strcpy(log_file_buf, log_file);
		log_file = log_file_buf;
	}
}

void pre_log_msg(int level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[1024];
	int saved = errno, n, fd;
	va_list ap;

	if (level < 0 || level > PRE_LOG_DEBUG)
		level = PRE_LOG_DEBUG;
	n = snprintf(line, sizeof line, "secsock[%ld]: %s: ", (long)getpid(), level_names[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(line);
	if (log_file) {
		line[n++] = '\n';
		fd = open(log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0) {
			ssize_t w = REAL(write)(fd, line, (size_t)n);
			(void)w;
			REAL(close)(fd);
		}
	} else {
		/* glibc's syslog talks to /dev/log through its internal
		 * __connect/__send, which do not re-enter our shims. */
		syslog(LOG_DAEMON | prio[level], "%s", line);
	}
	errno = saved;
}

const char *pre_log_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof a);
		snprintf(buf, len, "%s:%u", a, ntohs(s4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof a);
		snprintf(buf, len, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}
