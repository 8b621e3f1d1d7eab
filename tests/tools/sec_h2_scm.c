/* sec_h2_scm.c — hand a governed TCP socket to another process with
 * SCM_RIGHTS, every way the kernel takes it (tests/security/s20-scm-rights.sh).
 *
 *   sec_h2_scm pass PORT UNIXPATH VARIANT
 *       connect to 127.0.0.1:PORT, write "CONTROL-VARIANT\n", connect to the
 *       receiver on UNIXPATH, pass the socket as VARIANT says, write
 *       "AFTER-VARIANT\n" on it (the connection must still work), close.
 *   sec_h2_scm child PORT VARIANT MARKER
 *       the same, the receiver being a forked child over a socketpair
 *       (this image, preloaded like the parent).
 *   sec_h2_scm srvpass PORT UNIXPATH VARIANT
 *       listen on 127.0.0.1:PORT, accept one connection and pass it at once
 *       (an accepted connection the preload has not classified yet).
 *   sec_h2_scm recv UNIXPATH MARKER
 *       receive on UNIXPATH until the sender hangs up; write MARKER on every
 *       socket received.
 *
 * VARIANT: one (one fd), many (one cmsg: a pipe, the socket, /dev/null),
 * multi (two cmsgs, the socket in the second), odd (two cmsgs, the last
 * one's padding cut off: msg_controllen not a multiple of 8, which glibc's
 * CMSG_NXTHDR does not walk to but the kernel takes), dup (a dup of the
 * socket), mmsg0 (sendmmsg, the socket in message 0), mmsg1 (sendmmsg:
 * /dev/null, then the socket, then a plain message).
 * The sender prints "send: R errno" (R the call's result).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int tcp_to(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		printf("connect: %s\n", strerror(errno));
		exit(1);
	}
	return fd;
}

static int tcp_accept_one(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0), fd;

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0) {
		printf("listen: %s\n", strerror(errno));
		exit(1);
	}
	fd = accept(l, NULL, NULL);
	if (fd < 0) {
		printf("accept: %s\n", strerror(errno));
		exit(1);
	}
	close(l);
	return fd;
}

static int unix_to(const char *path)
{
	struct sockaddr_un su = { .sun_family = AF_UNIX };
	int u = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(su.sun_path, sizeof su.sun_path, "%s", path);
	for (int i = 0; i < 100; i++) {
		if (connect(u, (struct sockaddr *)&su, sizeof su) == 0)
			return u;
		usleep(50000);
	}
	printf("unix connect %s: %s\n", path, strerror(errno));
	exit(1);
}

/* Control buffer with cmsgs of the given fds (n[i] fds in cmsg i); *len
 * gets the exact length, the last cmsg's padding cut when odd. */
static size_t put_cmsgs(char *buf, size_t cap, const int *fds, const int *n, int ncm, int odd)
{
	size_t off = 0, len = 0;

	memset(buf, 0, cap);
	for (int i = 0; i < ncm; i++) {
		struct cmsghdr h = { .cmsg_len = CMSG_LEN(n[i] * sizeof(int)), .cmsg_level = SOL_SOCKET,
		                     .cmsg_type = SCM_RIGHTS };
		memcpy(buf + off, &h, sizeof h);
		memcpy(buf + off + CMSG_LEN(0), fds, n[i] * sizeof(int));
		fds += n[i];
		len = off + (odd && i == ncm - 1 ? CMSG_LEN(n[i] * sizeof(int)) : CMSG_SPACE(n[i] * sizeof(int)));
		off += CMSG_SPACE(n[i] * sizeof(int));
	}
	return len;
}

static void report(long r)
{
	printf("send: %ld %s\n", r, r < 0 ? strerror(errno) : "ok");
}

static void pass_fd(int u, int sock, const char *variant)
{
	static char ctl[4][256];
	char byte = 'F';
	struct iovec v = { &byte, 1 };
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1, .msg_control = ctl[0] };
	int devnull = open("/dev/null", O_RDONLY), p[2];

	if (pipe(p) < 0)
		exit(1);
	if (!strcmp(variant, "one") || !strcmp(variant, "dup")) {
		int fd = !strcmp(variant, "dup") ? dup(sock) : sock, n = 1;
		m.msg_controllen = put_cmsgs(ctl[0], sizeof ctl[0], &fd, &n, 1, 0);
		report(sendmsg(u, &m, 0));
	} else if (!strcmp(variant, "many")) {
		int fds[] = { p[0], p[1], sock, devnull }, n = 4;
		m.msg_controllen = put_cmsgs(ctl[0], sizeof ctl[0], fds, &n, 1, 0);
		report(sendmsg(u, &m, 0));
	} else if (!strcmp(variant, "multi") || !strcmp(variant, "odd")) {
		int fds[] = { devnull, p[0], sock }, n[] = { 1, 2 };
		m.msg_controllen = put_cmsgs(ctl[0], sizeof ctl[0], fds, n, 2, !strcmp(variant, "odd"));
		report(sendmsg(u, &m, 0));
	} else if (!strcmp(variant, "mmsg0") || !strcmp(variant, "mmsg1")) {
		struct mmsghdr mm[3];
		struct iovec vv[3] = { { &byte, 1 }, { &byte, 1 }, { &byte, 1 } };
		int first = !strcmp(variant, "mmsg0") ? sock : devnull, one = 1;
		memset(mm, 0, sizeof mm);
		for (int i = 0; i < 3; i++) {
			mm[i].msg_hdr.msg_iov = &vv[i];
			mm[i].msg_hdr.msg_iovlen = 1;
		}
		mm[0].msg_hdr.msg_control = ctl[1];
		mm[0].msg_hdr.msg_controllen = put_cmsgs(ctl[1], sizeof ctl[1], &first, &one, 1, 0);
		mm[1].msg_hdr.msg_control = ctl[2];
		mm[1].msg_hdr.msg_controllen = put_cmsgs(ctl[2], sizeof ctl[2], &sock, &one, 1, 0);
		report(sendmmsg(u, mm, 3, 0));
	} else {
		printf("unknown variant %s\n", variant);
		exit(2);
	}
}

/* Receive until EOF; write marker on every socket that arrives. */
static void receive(int u, const char *marker)
{
	char ctl[1024], byte;
	int got = 0, wrote = 0;

	for (;;) {
		struct iovec v = { &byte, 1 };
		struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
		ssize_t r = recvmsg(u, &m, 0);
		if (r <= 0)
			break;
		for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
			if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < (h->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int fd;
				struct stat sb;
				memcpy(&fd, CMSG_DATA(h) + i * sizeof fd, sizeof fd);
				got++;
				if (fstat(fd, &sb) == 0 && S_ISSOCK(sb.st_mode) &&
				    write(fd, marker, strlen(marker)) > 0)
					wrote++;
			}
		}
	}
	printf("recv: fds %d, marker written on %d\n", got, wrote);
}

static void after(int sock, const char *variant)
{
	char line[64];
	int n = snprintf(line, sizeof line, "AFTER-%s\n", variant);
	ssize_t w = write(sock, line, (size_t)n);
	printf("after: %zd %s\n", w, w < 0 ? strerror(errno) : "ok");
	shutdown(sock, SHUT_WR);
	usleep(200000);
	close(sock);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 4 && !strcmp(argv[1], "recv")) {
		struct sockaddr_un su = { .sun_family = AF_UNIX };
		int l = socket(AF_UNIX, SOCK_STREAM, 0), u;
		snprintf(su.sun_path, sizeof su.sun_path, "%s", argv[2]);
		unlink(argv[2]);
		if (bind(l, (struct sockaddr *)&su, sizeof su) < 0 || listen(l, 8) < 0)
			return 1;
		printf("recv: ready\n");
		while ((u = accept(l, NULL, NULL)) >= 0) {
			receive(u, argv[3]);
			close(u);
		}
		return 0;
	}
	if (argc == 5 && (!strcmp(argv[1], "pass") || !strcmp(argv[1], "srvpass"))) {
		int srv = !strcmp(argv[1], "srvpass");
		int sock = srv ? tcp_accept_one(atoi(argv[2])) : tcp_to(atoi(argv[2]));
		char line[64];
		if (!srv) {
			int n = snprintf(line, sizeof line, "CONTROL-%s\n", argv[4]);
			printf("control: %zd\n", write(sock, line, (size_t)n));
		}
		int u = unix_to(argv[3]);
		char b;
		pass_fd(u, sock, argv[4]);
		shutdown(u, SHUT_WR);   /* the receiver is done (and has written) when it closes */
		while (read(u, &b, 1) > 0)
			;
		close(u);
		if (!srv)
			after(sock, argv[4]);
		else
			usleep(500000);
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "child")) {
		int sock = tcp_to(atoi(argv[2])), sp[2];
		char line[64];
		int n = snprintf(line, sizeof line, "CONTROL-%s\n", argv[3]);
		printf("control: %zd\n", write(sock, line, (size_t)n));
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0)
			return 1;
		pid_t pid = fork();
		if (pid == 0) {
			close(sp[0]);
			close(sock);   /* the child has only what it receives */
			receive(sp[1], argv[4]);
			_exit(0);
		}
		close(sp[1]);
		pass_fd(sp[0], sock, argv[3]);
		close(sp[0]);
		waitpid(pid, NULL, 0);
		after(sock, argv[3]);
		return 0;
	}
	fprintf(stderr, "usage: see the comment at the top of sec_h2_scm.c\n");
	return 2;
}
