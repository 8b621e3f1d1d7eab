/* api_calls.c — the per-socket API (include/secsock.h) under the preload,
 * issue 13 must-show 5: every call-order and error case of
 * secsock_set_security, secsock_set_peer_target_name and
 * secsock_delete_peer_target_name on sockets in every state, and what the
 * settings do to connections.  Run by tests/integration/74-api.sh:
 *
 *   api_calls policy PR PB PC PK [PH FP]
 *                                  the script's policy: PR request, PB bypass,
 *                                  PC clear-only server (inbound bypass,
 *                                  outbound request), PK block, PH host-key
 *                                  (FP the key's fingerprint), defaults bypass
 *   api_calls quiet PB             a policy that bypasses everything: sockets
 *                                  secsock does not track until the API is used
 *
 * Servers are threads of this process (on 127.0.0.1, under the preload
 * too).  One "ok - " / "not ok - " line per check; exit 1 on any failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "secsock.h"

/* Resolved from the preloaded library at run time; the tool links without it. */
#pragma weak secsock_query
#pragma weak secsock_set_security
#pragma weak secsock_set_peer_target_name
#pragma weak secsock_delete_peer_target_name

static int fails;

static void report(const char *desc, int ok, const char *detail)
{
	if (ok) {
		printf("ok - %s\n", desc);
	} else {
		fails++;
		printf("not ok - %s (%s)\n", desc, detail);
	}
	fflush(stdout);
}

/* want 0: the call succeeds; else it fails with errno want. */
static void expect(const char *desc, int r, int e, int want)
{
	char d[120];

	snprintf(d, sizeof d, "got %d errno %d %s, want %s", r, r < 0 ? e : 0, r < 0 ? strerror(e) : "",
	         want ? strerror(want) : "success");
	report(desc, want ? r == -1 && e == want : r == 0, d);
}
#define EXPECT(desc, call, want)                                                                   \
	do {                                                                                       \
		errno = 0;                                                                         \
		int r_ = (call);                                                                   \
		expect((desc), r_, errno, (want));                                                 \
	} while (0)

static struct sockaddr_in lo(int port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int tcp(void)
{
	return socket(AF_INET, SOCK_STREAM, 0);
}

static int port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof a;

	getsockname(fd, (struct sockaddr *)&a, &l);
	return ntohs(a.sin_port);
}

static int listener(int port, int backlog, int secured)
{
	struct sockaddr_in a = lo(port);
	int fd = tcp(), one = 1;

	if (secured && secsock_set_security(fd, NULL, 0) < 0) {
		perror("secsock_set_security (listener)");
		exit(2);
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, backlog) < 0) {
		perror("listener");
		exit(2);
	}
	return fd;
}

static int connect_to(int fd, int port)
{
	struct sockaddr_in a = lo(port);
	return connect(fd, (struct sockaddr *)&a, sizeof a);
}

/* ------------------------------------------------------------ servers */

/* What the echo servers saw of their last connection. */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static int seen_n, seen_state, seen_recv, seen_err;

static void *echo_server(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	for (;;) {
		int fd = accept(lfd, NULL, NULL), e;
		char b[256];
		struct secsock_info info;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (fd < 0)
			continue;
		n = poll(&p, 1, 5000) == 1 ? recv(fd, b, sizeof b, 0) : -1;
		e = errno;
		secsock_query(fd, &info);
		if (n > 0)
			send(fd, "ok\n", 3, MSG_NOSIGNAL);
		pthread_mutex_lock(&seen_lock);
		seen_state = info.state;
		seen_recv = (int)n;
		seen_err = n < 0 ? e : 0;
		seen_n++;
		pthread_mutex_unlock(&seen_lock);
		close(fd);
	}
	return NULL;
}

/* A clear-only server that speaks first (an SMTP-like banner). */
static void *banner_server(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		char b[256];
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (fd < 0)
			continue;
		send(fd, "CLEAR\n", 6, MSG_NOSIGNAL);
		if (poll(&p, 1, 3000) == 1)
			(void)recv(fd, b, sizeof b, 0);
		close(fd);
	}
	return NULL;
}

static void serve(void *(*fn)(void *), int lfd)
{
	pthread_t t;

	pthread_create(&t, NULL, fn, (void *)(intptr_t)lfd);
	pthread_detach(t);
}

/* The echo server's record of connection number n (1, 2, ...). */
static int seen_wait(int n, int *state, int *rcv, int *err)
{
	for (int i = 0; i < 500; i++) {
		pthread_mutex_lock(&seen_lock);
		int ok = seen_n >= n;
		*state = seen_state;
		*rcv = seen_recv;
		*err = seen_err;
		pthread_mutex_unlock(&seen_lock);
		if (ok)
			return 0;
		usleep(10000);
	}
	return -1;
}

/* Send "hi", read the reply: bytes read (0 EOF), -1 error/timeout. */
static int exchange(int fd, char *buf, size_t n)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	memset(buf, 0, n);
	if (send(fd, "hi\n", 3, MSG_NOSIGNAL) < 0)
		return -1;
	if (poll(&p, 1, 5000) != 1)
		return -1;
	return (int)recv(fd, buf, n - 1, 0);
}

static int query_state(int fd)
{
	struct secsock_info i;
	return secsock_query(fd, &i) == 0 ? i.state : -1;
}

/* ------------------------------------------------------------ call order */

/* The three calls on fd, which is in state `what`: set_security's errno
 * want_set, the two name calls' want_name (0 = success). */
static void walk(const char *what, int fd, int want_set, int want_name)
{
	char d[160];

	snprintf(d, sizeof d, "%s: secsock_set_security", what);
	EXPECT(d, secsock_set_security(fd, NULL, 0), want_set);
	snprintf(d, sizeof d, "%s: secsock_set_peer_target_name", what);
	EXPECT(d, secsock_set_peer_target_name(fd, "peer.example"), want_name);
	snprintf(d, sizeof d, "%s: secsock_delete_peer_target_name", what);
	EXPECT(d, secsock_delete_peer_target_name(fd), want_name);
}

static int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof ti;

	memset(&ti, 0, sizeof ti);
	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0 ? ti.tcpi_state : -1;
}

/* Kinds of descriptor that are not TCP over IP. */
static void not_tcp(void)
{
	int p[2], u = socket(AF_UNIX, SOCK_STREAM, 0), d = socket(AF_INET, SOCK_DGRAM, 0);
	int d6 = socket(AF_INET6, SOCK_DGRAM, 0);

	if (pipe(p) < 0)
		exit(2);
	walk("bad fd", 999, EBADF, EBADF);
	int closed = dup(p[0]);
	close(closed);
	walk("closed fd", closed, EBADF, EBADF);
	walk("pipe (not a socket)", p[0], ENOTSOCK, ENOTSOCK);
	walk("AF_UNIX", u, EAFNOSUPPORT, EAFNOSUPPORT);
	walk("UDP", d, EOPNOTSUPP, EOPNOTSUPP);
	if (d6 >= 0)
		walk("UDP over IPv6", d6, EOPNOTSUPP, EOPNOTSUPP);
	close(p[0]);
	close(p[1]);
	close(u);
	close(d);
	if (d6 >= 0)
		close(d6);
}

/* The settings argument, on new sockets. */
static void arguments(void)
{
	struct secsock_settings s = { SECSOCK_PROTOCOL_DEFAULT, 0 };
	struct {
		struct secsock_settings s;
		uint32_t later;
	} big = { { SECSOCK_PROTOCOL_DEFAULT, 0 }, 0 };
	char longname[300];
	int fd = tcp();

	EXPECT("settings: size smaller than the struct: EMSGSIZE", secsock_set_security(fd, &s, 4), EMSGSIZE);
	EXPECT("settings: size 0 with a struct: EMSGSIZE", secsock_set_security(fd, &s, 0), EMSGSIZE);
	EXPECT("settings: NULL with a size: EINVAL", secsock_set_security(fd, NULL, sizeof s), EINVAL);
	s.flags = 0x80;
	EXPECT("settings: unknown flag: EINVAL", secsock_set_security(fd, &s, sizeof s), EINVAL);
	s.flags = 0;
	s.protocol = 7;
	EXPECT("settings: unknown protocol: EINVAL", secsock_set_security(fd, &s, sizeof s), EINVAL);
	big.later = 1;
	EXPECT("settings: a later field this build does not know, set: EINVAL",
	       secsock_set_security(fd, &big.s, sizeof big), EINVAL);
	EXPECT("settings: NULL name: EINVAL", secsock_set_peer_target_name(fd, NULL), EINVAL);
	EXPECT("settings: empty name: EINVAL", secsock_set_peer_target_name(fd, ""), EINVAL);
	memset(longname, 'a', 256);
	longname[256] = 0;
	EXPECT("settings: 256-byte name: EINVAL", secsock_set_peer_target_name(fd, longname), EINVAL);
	big.later = 0;
	EXPECT("settings: a larger struct, unknown part zero: accepted",
	       secsock_set_security(fd, &big.s, sizeof big), 0);
	EXPECT("new socket, settings given: a second call: EINVAL (once per socket)",
	       secsock_set_security(fd, NULL, 0), EINVAL);
	s.protocol = 0;
	s.flags = SECSOCK_SETTINGS_ALLOW_INSECURE;
	EXPECT("new socket: a second call with other flags: EINVAL", secsock_set_security(fd, &s, sizeof s), EINVAL);
	EXPECT("new socket with settings: set_peer_target_name", secsock_set_peer_target_name(fd, "a.example"), 0);
	EXPECT("new socket: set_peer_target_name again replaces", secsock_set_peer_target_name(fd, "b.example"), 0);
	EXPECT("new socket: delete_peer_target_name", secsock_delete_peer_target_name(fd), 0);
	EXPECT("new socket: delete_peer_target_name with none set", secsock_delete_peer_target_name(fd), 0);
	close(fd);
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd >= 0) {
		EXPECT("new IPv6 socket: secsock_set_security", secsock_set_security(fd, NULL, 0), 0);
		close(fd);
	}
	s.flags = SECSOCK_SETTINGS_GUARANTEE_ENCRYPTION;
	fd = tcp();
	EXPECT("new socket: GUARANTEE_ENCRYPTION accepted", secsock_set_security(fd, &s, sizeof s), 0);
	close(fd);
}

/* bound, listening, connecting (the kernel's SYN_SENT), connected.  full:
 * a listener whose accept queue is full (SYNs to it are dropped); open: a
 * listener that accepts (bypassed, clear). */
static void states(int full, int open)
{
	struct sockaddr_in a = lo(0);
	int fd = tcp(), one;

	walk("new socket", fd, 0, 0);
	close(fd);
	fd = tcp();
	bind(fd, (struct sockaddr *)&a, sizeof a);
	walk("bound", fd, EINVAL, EINVAL);
	listen(fd, 1);
	walk("listening", fd, EINVAL, EINVAL);
	close(fd);

	fd = tcp();
	fcntl(fd, F_SETFL, O_NONBLOCK);
	one = connect_to(fd, port_of(full));
	if (one == 0 || errno != EINPROGRESS || tcp_state(fd) != TCP_SYN_SENT) {
		report("connecting: a non-blocking connect stays in SYN_SENT", 0, "the SYN was answered");
	} else {
		report("connecting: a non-blocking connect stays in SYN_SENT", 1, "");
		walk("connecting (SYN sent)", fd, EISCONN, EISCONN);
	}
	close(fd);

	fd = tcp();
	if (connect_to(fd, port_of(open)) < 0)
		perror("connect (clear)");
	walk("connected (bypassed, clear)", fd, EISCONN, EISCONN);
	close(fd);
}

/* ------------------------------------------------------------ behaviour */

/* Exclusive port: a listener with settings (lfd, on port) shares it with
 * nobody. */
static void exclusive(int lfd, int port)
{
	struct sockaddr_in a = lo(port);
	int one = 1, zero = 0, v = -1, fd, d;
	socklen_t l = sizeof v;

	EXPECT("listener with settings: SO_REUSEPORT 1 refused: EACCES",
	       setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), EACCES);
	d = dup(lfd);
	EXPECT("a dup of that listener: SO_REUSEPORT 1 refused: EACCES",
	       setsockopt(d, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), EACCES);
	close(d);
	EXPECT("listener with settings: SO_REUSEPORT 0 allowed",
	       setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &zero, sizeof zero), 0);
	fd = tcp();
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	EXPECT("another socket with SO_REUSEPORT + SO_REUSEADDR cannot bind its port: EADDRINUSE",
	       bind(fd, (struct sockaddr *)&a, sizeof a), EADDRINUSE);
	close(fd);

	fd = tcp();
	EXPECT("socket without settings: SO_REUSEPORT 1 allowed",
	       setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), 0);
	EXPECT("SO_REUSEPORT set, then secsock_set_security", secsock_set_security(fd, NULL, 0), 0);
	getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &v, &l);
	report("secsock_set_security took SO_REUSEPORT back (0)", v == 0, "SO_REUSEPORT still set");
	EXPECT("new socket with settings: SO_REUSEPORT 1 refused: EACCES",
	       setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), EACCES);
	close(fd);
}

/* A connection to port with settings s (NULL: secsock_set_security(NULL,
 * 0); &none: no call at all).  Returns the socket (connected) or -1 with
 * errno. */
static const struct secsock_settings none = { 99, 99 };
static int client(int port, const struct secsock_settings *s)
{
	int fd = tcp(), e;

	if (s != &none && secsock_set_security(fd, s, s ? sizeof *s : 0) < 0) {
		perror("secsock_set_security (client)");
		exit(2);
	}
	if (connect_to(fd, port) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Port bypassed by the policy, listener secured with secsock_set_security
 * (NULL, 0): a client that also asks is secured; one that does not is
 * refused by the server, never served in clear.  *n counts the echo
 * server's connections. */
static void bypassed_port(int port, int *n)
{
	struct secsock_info info;
	char buf[64];
	int fd, st, rcv, err;

	fd = client(port, NULL);
	if (fd < 0) {
		report("bypassed port, secsock_set_security(NULL, 0): connect", 0, strerror(errno));
		return;
	}
	report("bypassed port, secsock_set_security(NULL, 0): the exchange completes",
	       exchange(fd, buf, sizeof buf) == 3 && !strcmp(buf, "ok\n"), buf);
	memset(&info, 0, sizeof info);
	secsock_query(fd, &info);
	report("bypassed port, secsock_set_security(NULL, 0): secsock_query says secured",
	       info.state == SECSOCK_STATE_SECURED &&
	       (info.flags & (SECSOCK_INFO_SECURED | SECSOCK_INFO_ENCRYPTED)) ==
	       (SECSOCK_INFO_SECURED | SECSOCK_INFO_ENCRYPTED), info.cipher);
	report("query: cipher, group, method, peer filled", info.cipher[0] && info.group[0] && info.auth[0] && info.peer[0],
	       info.auth);
	report("query: no fingerprint unless the method is host-key",
	       strcmp(info.auth, "host-key") ? info.peer_fingerprint[0] == 0 : info.peer_fingerprint[0] != 0,
	       info.peer_fingerprint);
	report("query: expiry is in the future", info.expiry > (int64_t)time(NULL), "expiry 0 or past");
	walk("secured", fd, EISCONN, EISCONN);
	close(fd);
	++*n;
	report("bypassed port: the server (settings on its listener) secured it too",
	       seen_wait(*n, &st, &rcv, &err) == 0 && st == SECSOCK_STATE_SECURED && rcv == 3, "server not secured");

	fd = client(port, &none);
	if (fd >= 0) {
		int r = exchange(fd, buf, sizeof buf);
		report("bypassed port, client without settings (clear): the secured listener serves nothing",
		       r <= 0, buf);
		close(fd);
	} else {
		report("bypassed port, client without settings: refused at connect", 1, "");
	}
	++*n;
	report("bypassed port, client without settings: the server's read fails (reset), nothing clear",
	       seen_wait(*n, &st, &rcv, &err) == 0 && rcv < 0 && st != SECSOCK_STATE_SECURED, "server read it");
}

/* A request rule in front of a clear-only server (pc); a block rule (pk). */
static void request_and_block(int pc, int pk)
{
	struct secsock_settings insecure = { SECSOCK_PROTOCOL_DEFAULT, SECSOCK_SETTINGS_ALLOW_INSECURE };
	char buf[64];
	int fd;

	errno = 0;
	fd = client(pc, NULL);
	expect("request rule, clear-only server, no ALLOW_INSECURE: connect fails ECONNREFUSED, never clear",
	       fd < 0 ? -1 : 0, errno, ECONNREFUSED);
	if (fd >= 0)
		close(fd);
	fd = client(pc, &insecure);
	if (fd < 0) {
		report("request rule, clear-only server, ALLOW_INSECURE: connects in clear", 0, strerror(errno));
	} else {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		memset(buf, 0, sizeof buf);
		if (poll(&p, 1, 5000) == 1)
			(void)recv(fd, buf, sizeof buf - 1, 0);
		report("request rule, clear-only server, ALLOW_INSECURE: the policy falls back to clear",
		       !strcmp(buf, "CLEAR\n") && query_state(fd) == SECSOCK_STATE_UNGOVERNED, buf);
		close(fd);
	}
	errno = 0;
	fd = client(pk, NULL);
	expect("block rule with settings: EACCES", fd < 0 ? -1 : 0, errno, EACCES);
	if (fd >= 0)
		close(fd);
	fd = client(pk, &insecure);
	expect("block rule with ALLOW_INSECURE: EACCES", fd < 0 ? -1 : 0, errno, EACCES);
	if (fd >= 0)
		close(fd);
}

/* connecting as secsock tracks it: a non-blocking first contact under
 * request is decided in the background (PRE_CONNECTING). */
static void connecting_tracked(int pr)
{
	int fd = tcp(), r;

	fcntl(fd, F_SETFL, O_NONBLOCK);
	r = connect_to(fd, pr);
	report("request port, non-blocking connect: EINPROGRESS (decided in the background)",
	       r < 0 && errno == EINPROGRESS, strerror(errno));
	walk("connecting (first contact in the background)", fd, EISCONN, EISCONN);
	close(fd);
}

/* host-key on port ph (the script made one key, used by both ends): the
 * query names the method and gives the peer's fingerprint, fp. */
static void hostkey(int ph, const char *fp, int *n)
{
	struct secsock_info info;
	char buf[64], d[200];
	int lfd = listener(ph, 16, 0), fd;

	serve(echo_server, lfd);
	fd = client(ph, NULL);
	if (fd < 0) {
		report("host-key: connect", 0, strerror(errno));
		return;
	}
	report("host-key: the exchange completes", exchange(fd, buf, sizeof buf) == 3, buf);
	memset(&info, 0, sizeof info);
	secsock_query(fd, &info);
	snprintf(d, sizeof d, "auth '%s' fingerprint '%s' flags %#x, want '%s'", info.auth, info.peer_fingerprint,
	         info.flags, fp);
	report("host-key: secsock_query gives the method and the peer's fingerprint",
	       !strcmp(info.auth, "host-key") && !strcmp(info.peer_fingerprint, fp), d);
	report("host-key: both ends proved a key: SECSOCK_INFO_MUTUAL", (info.flags & SECSOCK_INFO_MUTUAL) && info.mutual, d);
	close(fd);
	++*n;
	seen_wait(*n, &(int){ 0 }, &(int){ 0 }, &(int){ 0 });
}

int main(int argc, char **argv)
{
	int quiet = argc == 3 && !strcmp(argv[1], "quiet"), n = 0;
	int pb, full, open;

	if (!secsock_set_security || (!quiet && argc != 6 && argc != 8)) {
		fprintf(stderr, "usage (under the preload): api_calls policy PR PB PC PK [PH FINGERPRINT] | quiet PB\n");
		return 2;
	}
	pb = atoi(argv[quiet ? 2 : 3]);
	int lb = listener(pb, 16, 1);
	serve(echo_server, lb);
	full = listener(0, 0, 0);
	open = listener(0, 16, 0);
	serve(echo_server, open);
	/* fill full's accept queue (backlog 0 holds one) */
	int filler = tcp();
	if (connect_to(filler, port_of(full)) < 0)
		perror("filler");

	not_tcp();
	arguments();
	states(full, open);
	n++;   /* states() made one connection to `open` */
	if (seen_wait(n, &(int){ 0 }, &(int){ 0 }, &(int){ 0 }) < 0)
		report("the clear echo server saw the connected socket", 0, "no");
	exclusive(lb, pb);
	bypassed_port(pb, &n);
	if (!quiet) {
		int pr = atoi(argv[2]), pc = atoi(argv[4]), pk = atoi(argv[5]);
		int lr = listener(pr, 16, 0), lc = listener(pc, 16, 0);
		serve(echo_server, lr);
		serve(banner_server, lc);
		connecting_tracked(pr);
		request_and_block(pc, pk);
		if (argc == 8)
			hostkey(atoi(argv[6]), argv[7], &n);
	}
	printf("# api_calls %s: %s\n", quiet ? "quiet" : "policy", fails ? "FAILED" : "all passed");
	fflush(stdout);
	_exit(fails ? 1 : 0);
}
