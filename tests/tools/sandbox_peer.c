/* sandbox_peer.c — programs that restrict themselves, or look for early
 * input, around a secured socket (issue 11 items 5 and 6;
 * tests/integration/65-sandbox.sh, 66-early-readiness.sh).
 *
 *   sandbox_peer seccomp PORT   accept; banner + one line in the parent; fork:
 *                               the child installs a seccomp filter (no new
 *                               descriptor, thread, file or socket; the
 *                               default action kills) and serves one more
 *                               exchange; the parent reports how it ended
 *   sandbox_peer nofile PORT    accept; fork at once: the child sets
 *                               RLIMIT_NOFILE to 0, speaks first, serves one
 *                               exchange; the parent reports how it ended
 *   sandbox_peer early PORT HOW accept; after 200 ms look for early client
 *                               input with a zero timeout (HOW: select,
 *                               pselect, poll, ppoll, epoll); input seen =
 *                               "early input" and a read (as an SMTP server
 *                               rejecting a pipelining client would);
 *                               else banner, one line, reply
 *   sandbox_peer client PORT N  N rounds of: read a line, print it, write
 *                               "msgI"; then read and print one more line
 * Prints "child exit S" / "child signal N" (seccomp, nofile), "early none"
 * or "early input" (early).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "sandbox_peer: %s: %s\n", what, strerror(errno));
	exit(2);
}

static int listen_on(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0)
		die("socket");
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 8) < 0)
		die("listen");
	return s;
}

/* One line, byte by byte with read(2) (what a restricted child can do). */
static int read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		ssize_t r = read(fd, buf + n, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	return (int)n;
}

static int write_str(int fd, const char *s)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		ssize_t w = write(fd, s + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

#define ALLOW(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

/* What a privilege-separated child keeps (in the spirit of OpenSSH's
 * sandbox-seccomp-filter.c): I/O on descriptors it already has, memory,
 * time, locks, exit.  No new descriptor (open, socket, epoll, eventfd,
 * dup, memfd), no thread (clone): the default kills the process. */
static void sandbox(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		ALLOW(SYS_read), ALLOW(SYS_write), ALLOW(SYS_readv), ALLOW(SYS_writev),
		ALLOW(SYS_recvfrom), ALLOW(SYS_sendto), ALLOW(SYS_recvmsg), ALLOW(SYS_sendmsg),
		ALLOW(SYS_getsockopt), ALLOW(SYS_setsockopt), ALLOW(SYS_ioctl), ALLOW(SYS_fstat),
		ALLOW(SYS_newfstatat), ALLOW(SYS_poll), ALLOW(SYS_ppoll), ALLOW(SYS_select),
		ALLOW(SYS_pselect6), ALLOW(SYS_close), ALLOW(SYS_shutdown), ALLOW(SYS_exit),
		ALLOW(SYS_exit_group), ALLOW(SYS_futex), ALLOW(SYS_brk), ALLOW(SYS_mmap),
		ALLOW(SYS_munmap), ALLOW(SYS_mremap), ALLOW(SYS_madvise), ALLOW(SYS_mprotect),
		ALLOW(SYS_rt_sigprocmask), ALLOW(SYS_rt_sigreturn), ALLOW(SYS_getpid),
		ALLOW(SYS_gettid), ALLOW(SYS_getrandom), ALLOW(SYS_clock_gettime),
		ALLOW(SYS_gettimeofday), ALLOW(SYS_nanosleep), ALLOW(SYS_clock_nanosleep),
		ALLOW(SYS_sched_yield),
		/* fcntl: flags only, never F_DUPFD */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_fcntl, 0, 6),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_GETFL, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_SETFL, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_GETFD, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	};
	struct sock_fprog prog = { (unsigned short)(sizeof f / sizeof f[0]), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		die("seccomp");
}

static void report_child(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	if (WIFSIGNALED(st))
		printf("child signal %d\n", WTERMSIG(st));
	else
		printf("child exit %d\n", WEXITSTATUS(st));
}

static int serve_seccomp(int c)
{
	char line[256], out[300];
	pid_t pid;

	if (write_str(c, "banner parent\n") < 0 || read_line(c, line, sizeof line) < 0)
		die("parent exchange");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		sandbox();
		if (write_str(c, "child ready\n") < 0 || read_line(c, line, sizeof line) < 0)
			_exit(3);
		snprintf(out, sizeof out, "child got %s", line);
		_exit(write_str(c, out) < 0 ? 4 : 0);
	}
	close(c);
	report_child(pid);
	return 0;
}

static int serve_nofile(int c)
{
	char line[256], out[300];
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		struct rlimit rl = { 0, 0 };
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			_exit(5);
		if (write_str(c, "banner child\n") < 0 || read_line(c, line, sizeof line) < 0)
			_exit(3);
		snprintf(out, sizeof out, "child got %s", line);
		_exit(write_str(c, out) < 0 ? 4 : 0);
	}
	close(c);
	report_child(pid);
	return 0;
}

/* 1 when fd looks readable now, by the program's call of choice. */
static int early_look(int c, const char *how)
{
	if (!strcmp(how, "select") || !strcmp(how, "pselect")) {
		fd_set r;
		FD_ZERO(&r);
		FD_SET(c, &r);
		if (!strcmp(how, "select")) {
			struct timeval tv = { 0, 0 };
			return select(c + 1, &r, NULL, NULL, &tv) > 0;
		}
		struct timespec ts = { 0, 0 };
		return pselect(c + 1, &r, NULL, NULL, &ts, NULL) > 0;
	}
	if (!strcmp(how, "poll") || !strcmp(how, "ppoll")) {
		struct pollfd p = { c, POLLIN, 0 };
		struct timespec ts = { 0, 0 };
		int n = !strcmp(how, "poll") ? poll(&p, 1, 0) : ppoll(&p, 1, &ts, NULL);
		return n > 0 && (p.revents & POLLIN);
	}
	if (!strcmp(how, "epoll")) {
		struct epoll_event ev = { .events = EPOLLIN }, out;
		int ep = epoll_create1(EPOLL_CLOEXEC), n;
		ev.data.fd = c;
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) < 0)
			die("epoll");
		n = epoll_wait(ep, &out, 1, 0);
		close(ep);
		return n > 0;
	}
	fprintf(stderr, "sandbox_peer: unknown look %s\n", how);
	exit(2);
}

static int serve_early(int c, const char *how)
{
	char line[256], out[300];
	struct timespec pause = { 0, 200 * 1000000L };

	nanosleep(&pause, NULL);   /* a greeting pause: the client's first bytes are in */
	if (early_look(c, how)) {
		printf("early input\n");
		fflush(stdout);
		/* the input is read, and the client told off */
		if (read(c, line, sizeof line) < 0)
			die("read");
		write_str(c, "554 early input\n");
		close(c);
		return 0;
	}
	printf("early none\n");
	fflush(stdout);
	if (write_str(c, "220 ready\n") < 0 || read_line(c, line, sizeof line) < 0)
		die("exchange");
	snprintf(out, sizeof out, "250 got %s", line);
	write_str(c, out);
	close(c);
	return 0;
}

static int client(int port, int rounds)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	char line[256], msg[32];
	int s = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0)
		die("connect");
	for (int i = 0; i <= rounds; i++) {
		if (read_line(s, line, sizeof line) < 0) {
			printf("end early\n");
			return 1;
		}
		printf("%s", line);
		fflush(stdout);
		if (i == rounds)
			break;
		snprintf(msg, sizeof msg, "msg%d\n", i);
		if (write_str(s, msg) < 0)
			die("write");
	}
	close(s);
	return 0;
}

int main(int argc, char **argv)
{
	int port, l, c;

	if (argc < 3) {
		fprintf(stderr, "usage: sandbox_peer seccomp|nofile|early|client PORT [HOW|N]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	port = atoi(argv[2]);
	if (!strcmp(argv[1], "client"))
		return client(port, argc > 3 ? atoi(argv[3]) : 1);
	l = listen_on(port);
	c = accept(l, NULL, NULL);
	if (c < 0)
		die("accept");
	close(l);
	if (!strcmp(argv[1], "seccomp"))
		return serve_seccomp(c);
	if (!strcmp(argv[1], "nofile"))
		return serve_nofile(c);
	if (!strcmp(argv[1], "early") && argc > 3)
		return serve_early(c, argv[3]);
	fprintf(stderr, "sandbox_peer: unknown mode %s\n", argv[1]);
	return 2;
}
