/* pre_log_sink.c — the structured forms of a log line (pre_log_int.h).
 *
 * JSON (SECSOCK_LOG_FORMAT=json, RFC 8259): one object per line, every
 * string escaped ('"', '\\', control characters as \u00XX); bytes that are
 * not well-formed UTF-8 (RFC 3629) become U+FFFD, so a reader that decodes
 * the file as UTF-8 never fails on a peer's name.  A line never exceeds the
 * buffer: a value that does not fit is cut at a character boundary and the
 * object is still closed.
 *
 * The journal: systemd's native protocol (systemd-journald.service(8),
 * "Native protocol"), one AF_UNIX datagram of KEY=VALUE lines to
 * /run/systemd/journal/socket; a value with a newline in it takes the
 * binary form (KEY '\n' 64-bit little-endian length, the bytes, '\n').
 * That needs no library (sd_journal_send would pull libsystemd into every
 * preloaded process) and makes no call through our own shims: the socket,
 * the send and the close are the real libc functions.  The socket is made
 * and closed per line, for the reason the log file is opened per line
 * (pre_log.c): a program that closes all its descriptors can never make us
 * send into one of its own.  MSG_DONTWAIT: a journal that does not keep up
 * costs the line (it then goes to syslog), never the program's time.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "pre_log_int.h"
#include "pre_sym.h"

struct out {
	char *p;
	size_t n, cap;   /* cap excludes the room kept for the closing "}\n" */
};

static void put(struct out *o, const char *s, size_t len)
{
	if (o->n + len > o->cap)
		len = o->cap - o->n;
	memcpy(o->p + o->n, s, len);
	o->n += len;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629 table 3-7
 * ranges: no overlongs, no surrogates, nothing above U+10FFFF), 0 if none. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	unsigned lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* ,"key":"value" — the whole pair or as much of the value as fits, quoted. */
static void put_str(struct out *o, const char *key, const char *v)
{
	const unsigned char *s = (const unsigned char *)v;
	char esc[8];

	if (!v)
		return;
	if (o->n + strlen(key) + 6 > o->cap)
		return;
	if (o->n > 1)
		put(o, ",", 1);
	put(o, "\"", 1);
	put(o, key, strlen(key));
	put(o, "\":\"", 3);
	o->cap -= 1;   /* the closing quote always fits */
	while (*s) {
		const char *e = esc;
		size_t el, sl = 1;
		if (*s == '"' || *s == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*s;
			el = 2;
		} else if (*s < 0x20 || *s == 0x7f) {
			el = (size_t)snprintf(esc, sizeof esc, "\\u%04x", *s);
		} else if ((sl = utf8_len(s)) != 0) {
			e = (const char *)s;
			el = sl;
		} else {
			e = "\xef\xbf\xbd";   /* U+FFFD for a byte that is not UTF-8 */
			el = 3;
			sl = 1;
		}
		if (o->n + el > o->cap)
			break;
		put(o, e, el);
		s += sl;
	}
	o->cap += 1;
	put(o, "\"", 1);
}

static void put_num(struct out *o, const char *key, unsigned long long v)
{
	char b[64];
	int n = snprintf(b, sizeof b, "%s\"%s\":%llu", o->n > 1 ? "," : "", key, v);
	if (n > 0 && o->n + (size_t)n <= o->cap)
		put(o, b, (size_t)n);
}

size_t pre_log_json(char *buf, size_t cap, const struct pre_log_ctx *x, const struct pre_event *ev)
{
	struct out o = { buf, 0, cap - 2 };
	struct timespec ts;
	struct tm tm;
	char t[80];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(t, sizeof t, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (ts.tv_nsec / 1000000) % 1000);
	put(&o, "{", 1);
	put_str(&o, "time", t);
	put_str(&o, "level", pre_log_level_names[x->level]);
	put_num(&o, "pid", (unsigned long long)x->pid);
	put_str(&o, "program", x->program);
	if (ev) {
		put_str(&o, "event", ev->name);
		put_str(&o, "direction", ev->dir);
		put_str(&o, "peer", ev->peer);
		put_str(&o, "rule", ev->rule);
		put_str(&o, "method", ev->method);
		put_str(&o, "reason", ev->reason);
		put_str(&o, "cipher", ev->cipher);
		put_str(&o, "identity", ev->identity);
		put_str(&o, "of", ev->of);
		if (ev->count)
			put_num(&o, "count", ev->count);
	}
	put_str(&o, "message", x->msg);
	buf[o.n++] = '}';
	buf[o.n++] = '\n';
	return o.n;
}

/* KEY=VALUE\n, or the binary form for a value with a newline. */
static void jfield(struct out *o, const char *key, const char *v)
{
	size_t kl = strlen(key), vl;

	if (!v)
		return;
	vl = strlen(v);
	if (o->n + kl + vl + 10 > o->cap)
		return;   /* left out rather than cut: a field is whole or absent */
	put(o, key, kl);
	if (!memchr(v, '\n', vl)) {
		put(o, "=", 1);
	} else {
		uint8_t le[8];
		put(o, "\n", 1);
		for (int i = 0; i < 8; i++)
			le[i] = (uint8_t)((uint64_t)vl >> (8 * i));
		put(o, (const char *)le, 8);
	}
	put(o, v, vl);
	put(o, "\n", 1);
}

int pre_log_journal(const char *path, const struct pre_log_ctx *x, const struct pre_event *ev)
{
	/* syslog(3) priorities of error, warn, notice, info, debug */
	static const char *const prio[] = { "3", "4", "5", "6", "7" };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096], pid[24], count[24];
	struct out o = { buf, 0, sizeof buf };
	ssize_t r;
	int fd, e;

	if (strlen(path) >= sizeof sa.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	snprintf(pid, sizeof pid, "%ld", x->pid);
	jfield(&o, "MESSAGE", x->msg);
	jfield(&o, "PRIORITY", prio[x->level]);
	jfield(&o, "SYSLOG_FACILITY", "3");   /* daemon, as the syslog lines */
	jfield(&o, "SYSLOG_IDENTIFIER", "secsock");
	jfield(&o, "SYSLOG_PID", pid);
	if (ev) {
		jfield(&o, "SECSOCK_EVENT", ev->name);
		jfield(&o, "SECSOCK_DIRECTION", ev->dir);
		jfield(&o, "SECSOCK_PEER", ev->peer);
		jfield(&o, "SECSOCK_RULE", ev->rule);
		jfield(&o, "SECSOCK_METHOD", ev->method);
		jfield(&o, "SECSOCK_REASON", ev->reason);
		jfield(&o, "SECSOCK_CIPHER", ev->cipher);
		jfield(&o, "SECSOCK_IDENTITY", ev->identity);
		jfield(&o, "SECSOCK_PROGRAM", x->program);
		jfield(&o, "SECSOCK_SUPPRESSED_EVENT", ev->of);
		if (ev->count) {
			snprintf(count, sizeof count, "%lu", ev->count);
			jfield(&o, "SECSOCK_SUPPRESSED", count);
		}
	}
	fd = REAL(socket)(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	do
		r = REAL(sendto)(fd, buf, o.n, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa, sizeof sa);
	while (r < 0 && errno == EINTR);
	e = errno;
	REAL(close)(fd);
	errno = e;
	return r == (ssize_t)o.n ? 0 : -1;
}
