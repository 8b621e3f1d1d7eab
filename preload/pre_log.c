/* pre_log.c — logging (see pre_log.h).
 *
 * The log file is opened per line (open, write, close through the real
 * functions): lines are per connection decision, not per record, and a
 * program that closes "all other fds" (close_range, daemonising code) can
 * then never leave us writing into one of its own descriptors.
 * errno is saved and restored around everything here.
 *
 * Where a line goes: SECSOCK_LOG_FILE (human lines, or JSON objects with
 * SECSOCK_LOG_FORMAT=json), else one datagram to the journal's native
 * socket with the event's fields (pre_log_sink.c), else syslog(3) with the
 * human line.  Audit events pass the per-peer rate limit first
 * (pre_log_rate.c).
 *
 * The settings come from the environment, so they belong to whoever starts
 * the program.  In a secure-execution program (setuid, setgid, file
 * capabilities: AT_SECURE, getauxval(3)) that is not the program's owner, so
 * they are read with secure_getenv(3) and ignored there: such a program logs
 * at the default level to syslog.  The file itself is opened so that no one
 * else can choose what it is (log_open below).
 */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include "pre_log_int.h"
#include "pre_sock.h"
#include "pre_sym.h"

/* info: every security-relevant event is written by default, one line per
 * secured connection included (issue 16, docs/logging.md "Levels"); the
 * per-peer rate limit bounds what a busy server writes.  Bypass decisions
 * are debug: the quiet bypass path makes no system call by default. */
int pre_log_level = PRE_LOG_INFO;
/* A copy, not a pointer into the environment: programs rewrite that
 * memory (nginx's setproctitle moves environ and writes the process title
 * over the old strings). */
static char log_file_buf[4096];
static const char *log_file;

const char *const pre_log_level_names[] = { "error", "warn", "notice", "info", "debug" };
static int log_json;   /* SECSOCK_LOG_FORMAT=json (files only) */
/* The journal's native socket (systemd.journal-fields(7)); "" = none.
 * SECSOCK_JOURNAL_SOCKET replaces it for tests (a listener of their own). */
static char journal_buf[108] = "/run/systemd/journal/socket";

/* SECSOCK_KEYLOG_FILE: opt-in NSS key log lines (the SSLKEYLOGFILE
 * format Wireshark reads), so that an admin can decrypt a capture of this
 * process's secured connections.  Never by default, never in a
 * secure-execution program (secure_getenv), opened like the log file (no
 * symlink anywhere on the path, a regular file of our own, mode 0600 when
 * made) and per line, so a program that closes all its descriptors can
 * never have secrets written into one of its own. */
static int log_open(const char *path);
static char keylog_buf[4096];
static const char *keylog_file;
static int keylog_refused;   /* set in a secure-execution program */

static void keylog_init(void)
{
	const char *k = secure_getenv("SECSOCK_KEYLOG_FILE");
	keylog_refused = !k && getenv("SECSOCK_KEYLOG_FILE") != NULL;
	if (k && *k && strlen(k) < sizeof keylog_buf) {
		strcpy(keylog_buf, k);
		keylog_file = keylog_buf;
	}
}

int pre_keylog_enabled(void)
{
	static atomic_int warned;
	if (!keylog_file) {
		if (keylog_refused && !atomic_exchange(&warned, 1))
			pre_log(PRE_LOG_WARN, "SECSOCK_KEYLOG_FILE ignored: a secure-execution program never writes its secrets out");
		return 0;
	}
	if (!atomic_exchange(&warned, 1))
		pre_event(PRE_LOG_WARN, (&(struct pre_event){ .name = PRE_EV_KEYLOG }), "SECSOCK_KEYLOG_FILE=%s: the TLS secrets of this process's secured connections are "
		        "written there; whoever reads it can decrypt them (for debugging captures only)", keylog_file);
	return 1;
}

void pre_keylog_line(const char *line)
{
	int saved = errno, fd = keylog_file ? log_open(keylog_file) : -1;
	if (fd >= 0) {
		struct iovec v[2] = { { (void *)line, strlen(line) }, { (void *)"\n", 1 } };
		while (REAL(writev)(fd, v, 2) < 0 && errno == EINTR)
			;
		REAL(close)(fd);
	}
	errno = saved;
}

void pre_log_init(void)
{
	const char *lv = secure_getenv("SECSOCK_LOG");

	if (lv) {
		for (int i = 0; i <= PRE_LOG_DEBUG; i++)
			if (!strcasecmp(lv, pre_log_level_names[i]))
				pre_log_level = i;
		if (!strcasecmp(lv, "warning"))
			pre_log_level = PRE_LOG_WARN;
	}
	keylog_init();
	lv = secure_getenv("SECSOCK_LOG_FORMAT");
	log_json = lv && !strcasecmp(lv, "json");
	lv = secure_getenv("SECSOCK_JOURNAL_SOCKET");
	if (lv && strlen(lv) < sizeof journal_buf)
		strcpy(journal_buf, lv);
	pre_log_rate_config(secure_getenv("SECSOCK_LOG_RATE"));
	log_file = secure_getenv("SECSOCK_LOG_FILE");
	if (log_file && (!*log_file || strlen(log_file) >= sizeof log_file_buf))
		log_file = NULL;
	if (log_file) {
		strcpy(log_file_buf, log_file);
		log_file = log_file_buf;
	}
}

/* Open path with no symlink in any component, the last included: each
 * directory is opened O_PATH|O_NOFOLLOW|O_DIRECTORY (a symlink there fails
 * with ENOTDIR or ELOOP), the file O_NOFOLLOW.  The same as openat2's
 * RESOLVE_NO_SYMLINKS, but it works on every kernel and under valgrind. */
static int open_nosymlinks(const char *path, int flags)
{
	char buf[4096], *p = buf, *slash;
	size_t n = strlen(path);
	int dir, fd, e;

	if (n == 0 || n >= sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	dir = open(*p == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	while (dir >= 0 && (slash = strchr(p, '/')) != NULL) {
		*slash = '\0';
		if (*p != '\0') {
			int next = openat(dir, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			REAL(close)(dir);
			dir = next;
		}
		p = slash + 1;
	}
	if (dir < 0)
		return -1;
	fd = *p ? openat(dir, p, flags | O_NOFOLLOW, 0600) : -1;
	e = *p ? errno : EISDIR;
	REAL(close)(dir);
	errno = e;
	return fd;
}

/* Open the log file for one line, so that nobody else decides what is
 * written to:
 * - never through a symlink, in the last component (O_NOFOLLOW) or any
 *   directory on the way: a user who can write a directory on the path
 *   cannot point a root program's log at a file of root's;
 * - created only new (O_EXCL, mode 0600), so a name in a directory others
 *   can write is either our own new file or refused below;
 * - used only when it is a regular file (no FIFO that blocks, no device)
 *   owned by our effective uid with one link (not a file another user
 *   planted or hard-linked there).
 * O_NONBLOCK: opening a FIFO planted in its place must not hang the program. */
static int log_open(const char *path)
{
	const int fl = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK;
	struct stat st;
	int fd = open_nosymlinks(path, fl);

	if (fd < 0 && errno == ENOENT) {
		fd = open_nosymlinks(path, fl | O_CREAT | O_EXCL);
		/* Another process created it between our two opens (two preloaded
		 * programs sharing one log): open what is there now, with the
		 * same checks below. */
		if (fd < 0 && errno == EEXIST)
			fd = open_nosymlinks(path, fl);
	}
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink != 1) {
		REAL(close)(fd);
		return -1;
	}
	return fd;
}

/* One line to its sink: the file (human or JSON), else the journal, else
 * syslog.  errno is the caller's to save. */
static void emit(int level, const struct pre_event *ev, const char *msg)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };
	struct pre_log_ctx x = { level, (long)getpid(), NULL, msg };
	char line[4096];
	size_t n;
	int fd;

	if (ev)
		x.program = pre_program();
	fd = log_file ? log_open(log_file) : -1;
	if (fd >= 0) {
		if (log_json) {
			n = pre_log_json(line, sizeof line, &x, ev);
		} else {
			snprintf(line, sizeof line - 1, "secsock[%ld]: %s: %s", x.pid, pre_log_level_names[level], msg);
			n = strlen(line);
			line[n++] = '\n';
		}
		ssize_t w = REAL(write)(fd, line, n);
		(void)w;
		REAL(close)(fd);
		return;
	}
	/* No file, or one refused by log_open: the line is not lost. */
	if (journal_buf[0] && pre_log_journal(journal_buf, &x, ev) == 0)
		return;
	/* glibc's syslog talks to /dev/log through its internal __connect/
	 * __send, which do not re-enter our shims. */
	syslog(LOG_DAEMON | prio[level], "secsock[%ld]: %s: %s", x.pid, pre_log_level_names[level], msg);
}

__attribute__((format(printf, 3, 0)))
static void vlog(int level, const struct pre_event *ev, const char *fmt, va_list ap)
{
	struct pre_log_supp supp[PRE_LOG_SUPP_MAX];
	char msg[1024];
	int saved = errno, nsupp = 0, admit = 1;

	if (level < 0 || level > PRE_LOG_DEBUG)
		level = PRE_LOG_DEBUG;
	if (ev)
		admit = pre_log_rate_admit(ev, level, supp, &nsupp);
	for (int i = 0; i < nsupp; i++)
		pre_log_suppressed(&supp[i]);
	if (admit) {
		vsnprintf(msg, sizeof msg, fmt, ap);
		emit(level, ev, msg);
	}
	errno = saved;
}

void pre_log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, NULL, fmt, ap);
	va_end(ap);
}

void pre_log_event(int level, const struct pre_event *ev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, ev, fmt, ap);
	va_end(ap);
}

void pre_log_suppressed(const struct pre_log_supp *s)
{
	struct pre_event ev = { .name = PRE_EV_SUPPRESSED, .peer = s->host, .of = s->event, .count = s->count };
	char msg[256];
	int saved = errno, level = s->level;

	if (level < 0 || level > PRE_LOG_DEBUG)
		level = PRE_LOG_WARN;
	snprintf(msg, sizeof msg, "suppressed %lu similar lines (event=%s peer=%s): at most %s are logged per peer and event",
	         s->count, s->event, s->host, pre_log_rate_words());
	emit(level, &ev, msg);
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

void pre_log_names(int fd, const struct sockaddr_storage *known, char *l, char *r, struct sockaddr_storage *peer)
{
	struct sockaddr_storage a, b;
	socklen_t la = sizeof a, lb = sizeof b;

	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	getsockname(fd, (struct sockaddr *)&a, &la);
	if (known && (known->ss_family == AF_INET || known->ss_family == AF_INET6))
		b = *known;   /* what accept/connect had: a reset one still has it */
	else
		getpeername(fd, (struct sockaddr *)&b, &lb);
	pre_log_addr(&a, l, PRE_LOG_ADDR_LEN);
	pre_log_addr(&b, r, PRE_LOG_ADDR_LEN);
	if (peer)
		*peer = b;
}
