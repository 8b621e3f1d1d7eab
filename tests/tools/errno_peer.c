/* errno_peer.c — a scripted TCP peer that reports every result precisely,
 * errno by name, so integration tests can assert what a program sees.
 *
 *   errno_peer [OPTIONS] connect HOST PORT [ACTION...]
 *   errno_peer [OPTIONS] listen  HOST PORT [ACTION...]    (PORT 0 = pick one)
 *
 * Options:
 *   -o FILE   append every received byte to FILE
 *   -c COUNT  connect mode: run the whole sequence COUNT times in this process,
 *             each on a new socket (lines are prefixed "[i] ")
 *   -p FILE   listen mode: write the listening port to FILE (atomically)
 *   -T SECS   give up after SECS seconds (default 30): prints "alarm: ..." and exits 3
 *
 * Actions, run in order on the connected socket:
 *   send:TEXT     write TEXT (escapes \r \n \t \\ \xHH)
 *   sendfile:PATH write PATH's contents (plain write(), in 16 KiB pieces)
 *   recv:N        read until N more bytes arrived, or EOF, or an error
 *   recvline      read until a '\n' arrived (byte by byte), or EOF, or an error
 *   recvall       read until EOF or an error
 *   shutwr        shutdown(SHUT_WR)
 *   sleep:MS      sleep MS milliseconds
 *
 * Output, one line per step:
 *   listening: PORT        accept: OK|ENAME
 *   connect: OK|ENAME      connect-ms: N        (wall time of connect())
 *   send: N|ENAME          recv: N OK|EOF|ENAME (N = bytes this action got)
 *   total-received: N
 * Exit status: 0 when every step succeeded (EOF counts as success for
 * recvall), 1 otherwise, 2 usage, 3 timeout.  No preload logic in here: the
 * tests run it with or without LD_PRELOAD.
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

static FILE *out_file;
static const char *prefix = "";
static volatile const char *current_step = "start";
static long long total_received;

static void on_alarm(int sig)
{
	(void)sig;
	/* async-signal-safe: write() only */
	char msg[256];
	const char *step = (const char *)current_step;
	int n = snprintf(msg, sizeof msg, "%salarm: stuck in %s\n", prefix, step);
	if (n > 0)
		(void)!write(STDOUT_FILENO, msg, (size_t)n);
	_exit(3);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "EUNKNOWN";
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs(prefix, stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
	va_end(ap);
}

static size_t unescape(const char *s, char *out)
{
	size_t n = 0;
	while (*s) {
		if (*s != '\\' || !s[1]) {
			out[n++] = *s++;
			continue;
		}
		s++;
		switch (*s) {
		case 'r': out[n++] = '\r'; s++; break;
		case 'n': out[n++] = '\n'; s++; break;
		case 't': out[n++] = '\t'; s++; break;
		case 'x': {
			char hex[3] = { 0 };
			if (s[1] && s[2]) {
				hex[0] = s[1];
				hex[1] = s[2];
				out[n++] = (char)strtol(hex, NULL, 16);
				s += 3;
			} else {
				out[n++] = *s++;
			}
			break;
		}
		default: out[n++] = *s++; break;
		}
	}
	return n;
}

static int send_all(int fd, const char *p, size_t n, long long *sent)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		*sent += w;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void got(const char *buf, ssize_t r)
{
	total_received += r;
	if (out_file) {
		fwrite(buf, 1, (size_t)r, out_file);
		fflush(out_file);
	}
}

/* Read until want bytes (want < 0: until EOF; want == 0 with line: until '\n'). */
static bool do_recv(int fd, long long want, bool line)
{
	char buf[65536];
	long long have = 0;
	for (;;) {
		if (want >= 0 && !line && have >= want) {
			say("recv: %lld OK", have);
			return true;
		}
		size_t ask = sizeof buf;
		if (line)
			ask = 1;
		else if (want >= 0 && (long long)ask > want - have)
			ask = (size_t)(want - have);
		ssize_t r = read(fd, buf, ask);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			say("recv: %lld %s", have, ename(e));
			return false;
		}
		if (r == 0) {
			say("recv: %lld EOF", have);
			return want < 0;
		}
		got(buf, r);
		have += r;
		if (line && buf[0] == '\n') {
			say("recv: %lld OK", have);
			return true;
		}
	}
}

static bool run_actions(int fd, int n, char **acts)
{
	bool ok = true;
	for (int i = 0; i < n; i++) {
		const char *a = acts[i];
		current_step = a;
		if (!strncmp(a, "send:", 5)) {
			size_t len = strlen(a + 5);
			char *buf = malloc(len + 1);
			if (!buf)
				abort();
			size_t m = unescape(a + 5, buf);
			long long sent = 0;
			int e = send_all(fd, buf, m, &sent);
			free(buf);
			if (e) {
				say("send: %s", ename(e));
				ok = false;
			} else {
				say("send: %lld", sent);
			}
		} else if (!strncmp(a, "sendfile:", 9)) {
			FILE *f = fopen(a + 9, "rb");
			if (!f) {
				say("sendfile: cannot open %s", a + 9);
				return false;
			}
			char buf[16384];
			long long sent = 0;
			int e = 0;
			size_t m;
			while (!e && (m = fread(buf, 1, sizeof buf, f)) > 0)
				e = send_all(fd, buf, m, &sent);
			fclose(f);
			if (e) {
				say("send: %s after %lld", ename(e), sent);
				ok = false;
			} else {
				say("send: %lld", sent);
			}
		} else if (!strncmp(a, "recv:", 5)) {
			ok = do_recv(fd, atoll(a + 5), false) && ok;
		} else if (!strcmp(a, "recvline")) {
			ok = do_recv(fd, 0, true) && ok;
		} else if (!strcmp(a, "recvall")) {
			ok = do_recv(fd, -1, false) && ok;
		} else if (!strcmp(a, "shutwr")) {
			if (shutdown(fd, SHUT_WR) < 0) {
				say("shutwr: %s", ename(errno));
				ok = false;
			} else {
				say("shutwr: OK");
			}
		} else if (!strncmp(a, "sleep:", 6)) {
			long ms = atol(a + 6);
			struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
			}
		} else {
			fprintf(stderr, "errno_peer: unknown action '%s'\n", a);
			exit(2);
		}
	}
	return ok;
}

static struct addrinfo *resolve(const char *host, const char *port, bool passive)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	                          .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | (passive ? AI_PASSIVE : 0) };
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "errno_peer: %s:%s: %s\n", host, port, gai_strerror(rc));
		exit(2);
	}
	return ai;
}

static void usage(void)
{
	fprintf(stderr, "usage: errno_peer [-o FILE] [-c COUNT] [-p PORTFILE] [-T SECS] "
	                "connect|listen HOST PORT [ACTION...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int count = 1, timeout = 30, opt;
	const char *port_file = NULL;
	while ((opt = getopt(argc, argv, "+o:c:p:T:")) != -1) {
		switch (opt) {
		case 'o':
			out_file = fopen(optarg, "ab");
			if (!out_file) {
				perror(optarg);
				return 2;
			}
			break;
		case 'c': count = atoi(optarg); break;
		case 'p': port_file = optarg; break;
		case 'T': timeout = atoi(optarg); break;
		default: usage();
		}
	}
	if (argc - optind < 3 || count < 1)
		usage();
	const char *mode = argv[optind], *host = argv[optind + 1], *port = argv[optind + 2];
	int nacts = argc - optind - 3;
	char **acts = argv + optind + 3;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	alarm((unsigned)timeout);
	bool ok = true;

	if (!strcmp(mode, "listen")) {
		struct addrinfo *ai = resolve(host, port, true);
		int lfd = socket(ai->ai_family, SOCK_STREAM, 0);
		int one = 1;
		if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
		    bind(lfd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(lfd, 16) < 0) {
			say("listen: %s", ename(errno));
			return 1;
		}
		freeaddrinfo(ai);
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		getsockname(lfd, (struct sockaddr *)&ss, &sl);
		unsigned p = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                                            : ((struct sockaddr_in *)&ss)->sin_port);
		if (port_file) {
			char tmp[4096];
			snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
			FILE *pf = fopen(tmp, "w");
			if (!pf || fprintf(pf, "%u\n", p) < 0 || fclose(pf) != 0 || rename(tmp, port_file) < 0) {
				perror(port_file);
				return 2;
			}
		}
		say("listening: %u", p);
		current_step = "accept";
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			say("accept: %s", ename(errno));
			return 1;
		}
		say("accept: OK");
		ok = run_actions(fd, nacts, acts);
		close(fd);
		close(lfd);
	} else if (!strcmp(mode, "connect")) {
		struct addrinfo *ai = resolve(host, port, false);
		char pfx[32];
		for (int i = 1; i <= count; i++) {
			if (count > 1) {
				snprintf(pfx, sizeof pfx, "[%d] ", i);
				prefix = pfx;
			}
			current_step = "connect";
			int fd = socket(ai->ai_family, SOCK_STREAM, 0);
			if (fd < 0) {
				say("socket: %s", ename(errno));
				return 1;
			}
			double t0 = now_ms();
			int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
			int e = errno;
			double t1 = now_ms();
			say("connect: %s", rc == 0 ? "OK" : ename(e));
			say("connect-ms: %.0f", t1 - t0);
			if (rc == 0)
				ok = run_actions(fd, nacts, acts) && ok;
			else
				ok = false;
			close(fd);
		}
		freeaddrinfo(ai);
	} else {
		usage();
	}
	prefix = "";
	say("total-received: %lld", total_received);
	if (out_file)
		fclose(out_file);
	return ok ? 0 : 1;
}
