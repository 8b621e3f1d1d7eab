/* bench_net.h — the few socket helpers the bench programs share.
 *
 * Header-only so each helper stays one `cc` invocation from bench/run.sh.
 * Loopback only: every listener binds 127.0.0.1 on port 0 and writes the
 * port the kernel picked to a file, so the harness never races for a port.
 */
#ifndef BENCH_NET_H
#define BENCH_NET_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline _Noreturn void bn_die(const char *what)
{
	fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* Listen on 127.0.0.1:0 and publish the port (written to a temporary name
 * and renamed, so a reader never sees half a number). */
static inline int bn_listen(const char *port_file)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		bn_die("socket");
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(s, (struct sockaddr *)&a, sizeof a) < 0)
		bn_die("bind");
	if (listen(s, 4096) < 0)
		bn_die("listen");
	socklen_t len = sizeof a;
	if (getsockname(s, (struct sockaddr *)&a, &len) < 0)
		bn_die("getsockname");
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		bn_die(tmp);
	fprintf(f, "%u\n", ntohs(a.sin_port));
	fclose(f);
	if (rename(tmp, port_file) < 0)
		bn_die("rename");
	return s;
}

static inline int bn_connect(int port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		return -1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
		int e = errno;
		close(s);
		errno = e;
		return -1;
	}
	return s;
}

static inline void bn_nodelay(int s)
{
	int one = 1;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Read or write exactly n bytes; 0 on success, -1 on error or early EOF. */
static inline int bn_read_full(int s, void *buf, size_t n)
{
	char *p = buf;
	while (n > 0) {
		ssize_t r = read(s, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static inline int bn_write_full(int s, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t r = write(s, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static inline double bn_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#endif
