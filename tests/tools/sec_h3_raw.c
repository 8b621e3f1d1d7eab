/* sec_h3_raw.c — syscall() of the numbers that connect, accept, duplicate,
 * configure, shut down, fork and exec (tests/security/s33-syscall.sh).  Run
 * under the preload; one line of output per step.
 *
 *   sec_h3_raw connect PORT MARKER   SYS_socket + SYS_connect, then write
 *   sec_h3_raw tfo PORT MARKER       SYS_socket + SYS_sendto(MSG_FASTOPEN)
 *   sec_h3_raw dup PORT MARKER       write MARKER-HOW on SYS_dup, SYS_dup2,
 *                                    SYS_dup3 and SYS_fcntl(F_DUPFD) copies
 *   sec_h3_raw fionread PORT         "R\n", then SYS_ioctl(FIONREAD) and a
 *                                    SYS_recvmmsg read of the answer
 *   sec_h3_raw shutdown PORT MARKER  write, SYS_shutdown(SHUT_WR), read to EOF
 *   sec_h3_raw execve PORT MARKER    socket on fd 3, SYS_execve of /bin/sh
 *                                    writing MARKER to fd 3 (a marker that
 *                                    starts with Q: the server echoes none)
 *   sec_h3_raw fork PORT MARKER      SYS_fork: child writes MARKER-child,
 *                                    then the parent MARKER-parent
 *   sec_h3_raw accept NR PORTFILE    listen, accept with syscall NR
 *                                    (SYS_accept or SYS_accept4), read
 */
#undef _FORTIFY_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static struct sockaddr_in lo(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int connect_to(int port)
{
	struct sockaddr_in a = lo(port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		printf("connect failed: %s\n", strerror(errno));
		exit(3);
	}
	return fd;
}

static const char *err(long r, int e)
{
	return r < 0 ? strerror(e) : "ok";
}

static void linger(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	poll(&p, 1, 300);
}

/* Read n bytes of echo: bytes left unread at close make the kernel reset
 * the connection, and a reset makes the server lose what it had not read. */
static void drain(int fd, long n)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char b[256];

	for (long got = 0; got < n && poll(&p, 1, 2000) == 1;) {
		ssize_t k = read(fd, b, sizeof b);
		if (k <= 0)
			break;
		got += k;
	}
}

static int mode_dup(int port, const char *m)
{
	int fd = connect_to(port);
	struct { const char *how; long nfd; } d[4];
	char buf[128];

	d[0].how = "dup";
	d[0].nfd = syscall(SYS_dup, fd);
	d[1].how = "dup2";
	d[1].nfd = syscall(SYS_dup2, fd, 7);
	d[2].how = "dup3";
	d[2].nfd = syscall(SYS_dup3, fd, 8, O_CLOEXEC);
	d[3].how = "fcntl";
	d[3].nfd = syscall(SYS_fcntl, fd, F_DUPFD, 10);
	close(fd);   /* the copies hold the connection now */
	for (int i = 0; i < 4; i++) {
		snprintf(buf, sizeof buf, "%s-%s.", m, d[i].how);
		long w = d[i].nfd >= 0 ? write((int)d[i].nfd, buf, strlen(buf)) : -1;
		printf("dup %s fd=%ld write=%ld\n", d[i].how, d[i].nfd, w);
		if (w > 0)
			drain((int)d[i].nfd, w);
	}
	for (int i = 0; i < 4; i++)
		close((int)d[i].nfd);
	return 0;
}

static int mode_fionread(int port)
{
	int fd = connect_to(port), n = -1;
	struct pollfd p = { fd, POLLIN, 0 };
	char b[128] = "";

	if (write(fd, "R\n", 2) != 2 || poll(&p, 1, 5000) != 1)
		return 1;
	usleep(100000);
	long r = syscall(SYS_ioctl, fd, FIONREAD, &n);
	struct iovec v = { b, sizeof b - 1 };
	struct mmsghdr mm = { .msg_hdr = { .msg_iov = &v, .msg_iovlen = 1 } };
	long k = syscall(SYS_recvmmsg, fd, &mm, 1, 0, NULL);
	printf("fionread ret=%ld n=%d recvmmsg=%ld len=%u data=%s\n", r, n, k, mm.msg_len,
	       k == 1 ? b : "");
	close(fd);
	return 0;
}

static int mode_shutdown(int port, const char *m)
{
	int fd = connect_to(port);
	char b[256];
	size_t got = 0;

	long w = write(fd, m, strlen(m));
	long r = syscall(SYS_shutdown, fd, SHUT_WR);
	for (;;) {
		ssize_t k = read(fd, b + got, sizeof b - 1 - got);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	b[got] = '\0';
	printf("shutdown write=%ld shutdown=%ld echo=%s\n", w, r, b);
	close(fd);
	return 0;
}

static int mode_accept(long nr, const char *pf)
{
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = lo(0);
	socklen_t al = sizeof a;
	char b[128] = "";
	FILE *f;

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 8) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &al) < 0)
		return 1;
	f = fopen(pf, "w");
	fprintf(f, "%d", ntohs(a.sin_port));
	fclose(f);
	long fd = nr == SYS_accept4 ? syscall(SYS_accept4, l, NULL, NULL, 0) : syscall(SYS_accept, l, NULL, NULL);
	if (fd < 0) {
		printf("accept failed: %s\n", strerror(errno));
		return 0;
	}
	struct pollfd p = { (int)fd, POLLIN, 0 };
	long r = poll(&p, 1, 5000) == 1 ? read((int)fd, b, sizeof b - 1) : -2;
	int e = errno;
	printf("accept read=%ld (%s) data=%s\n", r, err(r, e), r > 0 ? b : "");
	close((int)fd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 3) {
		fprintf(stderr, "usage: see the comment at the top of sec_h3_raw.c\n");
		return 2;
	}
	const char *mode = argv[1];
	int port = atoi(argv[2]);
	const char *m = argc > 3 ? argv[3] : "";
	long r, w = -1;
	int fd, e;

	if (!strcmp(mode, "connect") || !strcmp(mode, "tfo")) {
		struct sockaddr_in a = lo(port);
		fd = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
		if (!strcmp(mode, "tfo"))
			r = syscall(SYS_sendto, fd, m, strlen(m), MSG_FASTOPEN, &a, sizeof a);
		else
			r = syscall(SYS_connect, fd, &a, sizeof a);
		e = errno;
		if (r >= 0 && mode[0] == 'c')
			w = write(fd, m, strlen(m));
		printf("%s ret=%ld (%s) write=%ld\n", mode, r, err(r, e), w);
		linger(fd);
		return 0;
	}
	if (!strcmp(mode, "dup"))
		return mode_dup(port, m);
	if (!strcmp(mode, "fionread"))
		return mode_fionread(port);
	if (!strcmp(mode, "shutdown"))
		return mode_shutdown(port, m);
	if (!strcmp(mode, "execve")) {
		char cmd[256];
		fd = connect_to(port);
		if (fd != 3) {
			dup2(fd, 3);
			close(fd);
		}
		snprintf(cmd, sizeof cmd, "printf '%%s' '%s' >&3", m);
		char *av[] = { "sh", "-c", cmd, NULL };
		r = syscall(SYS_execve, "/bin/sh", av, environ);
		printf("execve failed: %s\n", strerror(errno));
		return 1;
	}
	if (!strcmp(mode, "fork")) {
		char b[128];
		fd = connect_to(port);
		pid_t pid = (pid_t)syscall(SYS_fork);
		if (pid == 0) {
			snprintf(b, sizeof b, "%s-child.", m);
			w = write(fd, b, strlen(b));
			_exit(w == (long)strlen(b) ? 0 : 1);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		snprintf(b, sizeof b, "%s-parent.", m);
		w = write(fd, b, strlen(b));
		printf("fork child=%d parent-write=%ld\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1, w);
		drain(fd, (long)(2 * strlen(m) + strlen("-child.-parent.")));
		close(fd);
		return 0;
	}
	if (!strcmp(mode, "accept") && argc > 3)
		return mode_accept(!strcmp(argv[2], "accept4") ? SYS_accept4 : SYS_accept, argv[3]);
	fprintf(stderr, "unknown mode %s\n", mode);
	return 2;
}
