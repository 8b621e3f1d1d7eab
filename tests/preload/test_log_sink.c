/* tests/preload/test_log_sink.c — the structured log forms
 * (preload/pre_log_sink.c), compiled into this test with the real libc
 * functions standing in for the preload's symbol table: a JSON line is
 * always one valid object whatever the bytes in a field (quotes,
 * backslashes, control characters, bytes that are not UTF-8, a value longer
 * than the line), and a journal datagram has the fields in the native
 * protocol, a value with a newline in the binary form. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "../../preload/pre_log_sink.c"

struct pre_real pre_real;
atomic_int pre_sym_bound = 1;
void pre_sym_bind(void) {}
const char *const pre_log_level_names[] = { "error", "warn", "notice", "info", "debug" };

/* A strict check of what RFC 8259 allows in a string, for the lines made
 * here: printable ASCII except '"' and '\\', the escapes used, well-formed
 * UTF-8 (what utf8_len accepts is checked against the decoder below). */
static int json_string_ok(const char **pp)
{
	const unsigned char *p = (const unsigned char *)*pp;
	if (*p++ != '"')
		return 0;
	while (*p != '"') {
		if (*p < 0x20 || *p == 0x7f)
			return 0;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdef", p[i]))
						return 0;
				p += 5;
			} else if (strchr("\"\\/bfnrt", *p)) {
				p++;
			} else {
				return 0;
			}
		} else {
			size_t n = utf8_len(p);
			if (!n)
				return 0;
			p += n;
		}
	}
	*pp = (const char *)p + 1;
	return 1;
}

/* {"key":"string"|number,...}\n */
static int json_line_ok(const char *s, size_t n)
{
	const char *p = s;
	if (n < 3 || s[n - 1] != '\n' || s[n - 2] != '}' || *p++ != '{')
		return 0;
	for (;;) {
		if (!json_string_ok(&p) || *p++ != ':')
			return 0;
		if (*p == '"') {
			if (!json_string_ok(&p))
				return 0;
		} else {
			if (*p < '0' || *p > '9')
				return 0;
			while (*p >= '0' && *p <= '9')
				p++;
		}
		if (*p == '}')
			return p + 2 == s + n;
		if (*p++ != ',')
			return 0;
	}
}

Test(log_json, escapes_everything_a_peer_can_put_in_a_field)
{
	char buf[1024];
	struct pre_log_ctx x = { PRE_LOG_NOTICE, 42, "/usr/bin/prog \"x\"", "clear outbound a -> b reason=\"q\\\"\"" };
	struct pre_event ev = { .name = "clear", .dir = "outbound", .peer = "127.0.0.1:80",
	                        .rule = "r\x01\x1f\x7f", .reason = "bad \xff\xc0\xaf utf-8 \xed\xa0\x80 ok \xc3\xa9 \xf0\x9f\x94\x92",
	                        .count = 7, .of = "refused" };
	size_t n = pre_log_json(buf, sizeof buf, &x, &ev);
	cr_assert(json_line_ok(buf, n), "not valid JSON: %.*s", (int)n, buf);
	cr_assert(strstr(buf, "\"rule\":\"r\\u0001\\u001f\\u007f\""), "%s", buf);
	cr_assert(strstr(buf, "\"program\":\"/usr/bin/prog \\\"x\\\"\""), "%s", buf);
	cr_assert(strstr(buf, "ok \xc3\xa9 \xf0\x9f\x94\x92"), "valid UTF-8 is kept: %s", buf);
	cr_assert(strstr(buf, "bad \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd utf-8 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd ok"),
	          "each byte that is not UTF-8 (0xff, an overlong, a surrogate) is U+FFFD: %s", buf);
	cr_assert(strstr(buf, "\"pid\":42"), "%s", buf);
	cr_assert(strstr(buf, "\"count\":7"), "%s", buf);
	cr_assert(strstr(buf, "\"level\":\"notice\""), "%s", buf);
}

Test(log_json, a_line_too_long_is_cut_and_stays_valid)
{
	char big[3000], buf[512];
	for (size_t cap = 256; cap <= sizeof buf; cap += 17) {
		for (size_t i = 0; i < sizeof big - 1; i++)
			big[i] = "a\"\\\x01\xc3\xa9"[i % 6];
		big[sizeof big - 1] = 0;
		struct pre_log_ctx x = { PRE_LOG_WARN, 1, NULL, big };
		struct pre_event ev = { .name = "refused", .peer = "[::1]:22", .reason = big };
		size_t n = pre_log_json(buf, cap, &x, &ev);
		cr_assert(n <= cap, "cap %zu: %zu bytes", cap, n);
		cr_assert(json_line_ok(buf, n), "cap %zu: not valid JSON: %.*s", cap, (int)n, buf);
		cr_assert(strstr(buf, "\"event\":\"refused\""), "the short fields come first: %s", buf);
	}
}

Test(log_json, a_plain_line_has_no_event)
{
	char buf[512];
	struct pre_log_ctx x = { PRE_LOG_DEBUG, 9, NULL, "engine thread started" };
	size_t n = pre_log_json(buf, sizeof buf, &x, NULL);
	cr_assert(json_line_ok(buf, n), "%.*s", (int)n, buf);
	cr_assert_null(strstr(buf, "\"event\""));
	cr_assert(strstr(buf, "\"message\":\"engine thread started\"}"), "%s", buf);
}

/* The datagram holds NUL bytes (binary lengths): memmem, not strstr. */
static int has(const char *d, ssize_t n, const char *s)
{
	return memmem(d, (size_t)n, s, strlen(s)) != NULL;
}

Test(log_journal, native_protocol_fields)
{
	char path[] = "/tmp/secsock-test-journal-XXXXXX", sock[128], d[4096];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s;
	ssize_t n;

	pre_real.socket = socket;
	pre_real.sendto = sendto;
	pre_real.close = close;
	cr_assert_not_null(mkdtemp(path));
	snprintf(sock, sizeof sock, "%s/j.sock", path);
	strcpy(sa.sun_path, sock);
	s = socket(AF_UNIX, SOCK_DGRAM, 0);
	cr_assert(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof sa) == 0);
	struct pre_log_ctx x = { PRE_LOG_WARN, 1234, "/bin/prog", "refused outbound a -> b" };
	struct pre_event ev = { .name = "refused", .dir = "outbound", .peer = "10.0.0.1:5432", .rule = "db",
	                        .reason = "two\nlines" };
	cr_assert_eq(pre_log_journal(sock, &x, &ev), 0);
	n = recv(s, d, sizeof d - 1, 0);
	cr_assert(n > 0);
	d[n] = 0;
	cr_assert(strstr(d, "MESSAGE=refused outbound a -> b\n") == d, "MESSAGE first: %s", d);
	cr_assert(has(d, n, "\nPRIORITY=4\n"));
	cr_assert(has(d, n, "\nSYSLOG_IDENTIFIER=secsock\n"));
	cr_assert(has(d, n, "\nSYSLOG_PID=1234\n"));
	cr_assert(has(d, n, "\nSECSOCK_EVENT=refused\n"));
	cr_assert(has(d, n, "\nSECSOCK_PEER=10.0.0.1:5432\n"));
	cr_assert(has(d, n, "\nSECSOCK_RULE=db\n"));
	cr_assert(has(d, n, "\nSECSOCK_PROGRAM=/bin/prog\n"));
	const char *r = memmem(d, (size_t)n, "\nSECSOCK_REASON\n", 16);
	cr_assert_not_null(r, "a value with a newline takes the binary form");
	uint64_t len = 0;
	for (int i = 0; i < 8; i++)
		len |= (uint64_t)(uint8_t)r[16 + i] << (8 * i);
	cr_assert_eq(len, 9);
	cr_assert(!memcmp(r + 24, "two\nlines\n", 10));
	close(s);
	unlink(sock);
	rmdir(path);
	cr_assert_eq(pre_log_journal(sock, &x, &ev), -1, "no listener: -1 (the caller falls back to syslog)");
}
