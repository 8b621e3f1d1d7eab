/* ss_interop.c — core/ against the openssl command-line tool, the
 * independent TLS 1.3 peer (issue 2, must-show 3), and an in-process
 * handshake timer.
 *
 *   ss_interop client SUITE CA CERT KEY [TARGET [EXPECT]]
 *       core's client (standard-TLS mode, chain checked against CA, name =
 *       TARGET, default "localhost") against `openssl s_server -tls1_3`
 *       started here with CERT/KEY on a free 127.0.0.1 port.  EXPECT names
 *       the handshake status wanted (default SS_OK); anything else is a
 *       negative case that stops after the handshake.
 *   ss_interop server SUITE CA CERT KEY
 *       core's server (CERT/KEY) against `openssl s_client -tls1_3`.
 *   ss_interop bench N
 *       N full handshakes over buffers, one process, for anonymous and psk
 *       (and bare OpenSSL with the same settings for scale); prints medians.
 *
 * After the handshake the SSL object is gone: data moves through ss_rec
 * only.  Each direction carries lines before and after a KeyUpdate from each
 * side: ss_rec_key_update (with update_requested) from core, "k" then "K"
 * typed into openssl's stdin from the other side; the "K" obliges core to
 * answer with its own KeyUpdate.  The openssl process is stopped by pid.
 * Exit status 0 only if every line arrived intact and every epoch moved.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ss_ctx.h"
#include "ss_rec.h"

enum { TIMEOUT_MS = 15000, BUF_CAP = 1 << 17 };

static pid_t child = -1;
static int child_in = -1, child_out = -1;
static char child_log[BUF_CAP];
static size_t child_log_len;

static size_t sin_len;

static void stop_child(void)
{
	if (child > 0) {
		kill(child, SIGTERM);
		waitpid(child, NULL, 0);
		child = -1;
	}
}

__attribute__((format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "ss_interop: FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	if (child_out >= 0) {   /* whatever openssl said meanwhile */
		struct pollfd p = { child_out, POLLIN, 0 };
		ssize_t n;
		while (poll(&p, 1, 300) > 0 &&
		       (n = read(child_out, child_log + child_log_len, sizeof child_log - 1 - child_log_len)) > 0)
			child_log_len += (size_t)n;
	}
	if (child_log_len > 0)
		fprintf(stderr, "--- openssl output ---\n%.*s\n---\n", (int)child_log_len, child_log);
	stop_child();
	exit(1);
}

static long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static void spawn(char *const argv[])
{
	int in[2], out[2];

	if (pipe(in) != 0 || pipe(out) != 0)
		die("pipe");
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(out[1], 2);
		close(in[0]); close(in[1]); close(out[0]); close(out[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	child_in = in[1];
	child_out = out[0];
	fcntl(child_out, F_SETFL, O_NONBLOCK);
}

/* Read what openssl printed until needle appears after offset *from. */
static void expect_child(const char *needle, size_t *from)
{
	long end = now_ms() + TIMEOUT_MS;

	for (;;) {
		char *hit;
		child_log[child_log_len] = '\0';
		hit = strstr(child_log + *from, needle);
		if (hit != NULL) {
			*from = (size_t)(hit - child_log) + strlen(needle);
			return;
		}
		struct pollfd p = { child_out, POLLIN, 0 };
		long left = end - now_ms();
		if (left <= 0)
			die("openssl never printed \"%s\"", needle);
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		ssize_t n = read(child_out, child_log + child_log_len, sizeof child_log - 1 - child_log_len);
		if (n == 0)
			die("openssl exited before printing \"%s\"", needle);
		if (n > 0)
			child_log_len += (size_t)n;
	}
}

static void tell_child(const char *line)
{
	size_t n = strlen(line);
	if (write(child_in, line, n) != (ssize_t)n)
		die("write to openssl stdin");
}

static void send_all(int fd, const uint8_t *d, size_t n)
{
	while (n > 0) {
		ssize_t k = send(fd, d, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			die("send: %s", strerror(errno));
		d += k;
		n -= (size_t)k;
	}
}

/* Socket input buffer shared by the handshake and the record phase. */
static uint8_t sin_buf[BUF_CAP];

static void recv_some(int fd, long deadline)
{
	struct pollfd p = { fd, POLLIN, 0 };
	long left = deadline - now_ms();
	ssize_t n;

	if (left <= 0)
		die("timeout waiting for the peer");
	if (poll(&p, 1, (int)left) <= 0)
		die("timeout waiting for the peer (%zu bytes buffered)", sin_len);
	if (sin_len == sizeof sin_buf)
		die("input buffer full");
	n = recv(fd, sin_buf + sin_len, sizeof sin_buf - sin_len, 0);
	if (n <= 0)
		die("peer closed during exchange (%zd)", n);
	sin_len += (size_t)n;
}

static void consume(size_t n)
{
	memmove(sin_buf, sin_buf + n, sin_len - n);
	sin_len -= n;
}

static ss_status handshake(int fd, ss_cred *cred, int server, const char *target, ss_ctx **ctx)
{
	ss_buf out = { 0 };
	size_t used = 0;
	long deadline = now_ms() + TIMEOUT_MS;
	ss_status st;

	if (!server) {
		st = ss_ctx_initialize(cred, ctx, target, SS_REQ_EXTENDED_ERROR, NULL, 0, &used, &out, NULL, NULL);
		send_all(fd, out.data, out.len);
	} else {
		st = SS_INCOMPLETE_MESSAGE;
	}
	while (st == SS_CONTINUE_NEEDED || st == SS_INCOMPLETE_MESSAGE) {
		if (st == SS_INCOMPLETE_MESSAGE || sin_len == 0)
			recv_some(fd, deadline);
		st = server ? ss_ctx_accept(cred, ctx, SS_REQ_EXTENDED_ERROR, sin_buf, sin_len, &used, &out, NULL, NULL)
		            : ss_ctx_initialize(cred, ctx, target, SS_REQ_EXTENDED_ERROR, sin_buf, sin_len,
		                                &used, &out, NULL, NULL);
		consume(used);
		if (out.len > 0)
			send_all(fd, out.data, out.len);   /* tokens, the Finished, or an alert */
	}
	ss_buf_free(&out);
	return st;
}

/* Application bytes received so far. */
static char app[BUF_CAP];
static size_t app_len, app_seen;

static void send_line(int fd, ss_rec *r, const char *line)
{
	uint8_t rec[1024];
	size_t n;
	if (ss_rec_seal(r, SS_CT_APPLICATION_DATA, (const uint8_t *)line, strlen(line), rec, sizeof rec, &n) != SS_OK)
		die("seal");
	send_all(fd, rec, n);
}

static void key_update(int fd, ss_rec *r, int request)
{
	uint8_t rec[256];
	size_t n;
	if (ss_rec_key_update(r, request, rec, sizeof rec, &n) != SS_OK)
		die("key update");
	send_all(fd, rec, n);
}

/* Read and interpret one record (receiving more bytes as needed). */
static void read_record(int fd, ss_rec *r, long deadline)
{
	static uint8_t pt[SS_REC_MAX_PLAINTEXT];
	size_t rec_len = 0, used = 0, pt_len = 0;
	ss_rec_event ev;
	uint8_t alert = 0;
	ss_status st;

	for (;;) {
		ss_status fs = ss_rec_frame_len(sin_buf, sin_len, &rec_len);
		if (fs == SS_OK && rec_len <= sin_len)
			break;
		if (fs != SS_OK && fs != SS_INCOMPLETE_MESSAGE)
			die("bad record header: %s", ss_status_name(fs));
		recv_some(fd, deadline);
	}
	st = ss_rec_read(r, sin_buf, sin_len, &used, &ev, pt, sizeof pt, &pt_len, &alert);
	if (st != SS_OK)
		die("ss_rec_read: %s (alert %u)", ss_status_name(st), alert);
	consume(used);
	if (ev == SS_REC_EV_DATA) {
		if (app_len + pt_len >= sizeof app)
			die("too much data");
		memcpy(app + app_len, pt, pt_len);
		app_len += pt_len;
	} else if (ev == SS_REC_EV_CLOSE) {
		die("peer closed early");
	} else if (ss_rec_get_state(r)->flags & SS_REC_F_UPDATE_OWED) {
		key_update(fd, r, 0);   /* RFC 8446 §4.6.3: answer update_requested */
	}
}

static void expect_app(int fd, ss_rec *r, const char *needle)
{
	long deadline = now_ms() + TIMEOUT_MS;

	for (;;) {
		char *hit;
		app[app_len] = '\0';
		hit = strstr(app + app_seen, needle);
		if (hit != NULL) {
			app_seen = (size_t)(hit - app) + strlen(needle);
			return;
		}
		read_record(fd, r, deadline);
	}
}

/* Wait for the peer's KeyUpdate: rx reaches epoch want. */
static void expect_rx_epoch(int fd, ss_rec *r, uint32_t want)
{
	long deadline = now_ms() + TIMEOUT_MS;

	while (ss_rec_get_state(r)->rx.epoch < want)
		read_record(fd, r, deadline);
}

static uint16_t suite_code(const char *name)
{
	uint16_t s = ss_suite_from_name(name);
	if (s == 0 && strcmp(name, "TLS_AES_128_GCM_SHA256") == 0) s = SS_SUITE_AES_128_GCM_SHA256;
	if (s == 0 && strcmp(name, "TLS_AES_256_GCM_SHA384") == 0) s = SS_SUITE_AES_256_GCM_SHA384;
	if (s == 0 && strcmp(name, "TLS_CHACHA20_POLY1305_SHA256") == 0) s = SS_SUITE_CHACHA20_POLY1305_SHA256;
	if (s == 0)
		die("unknown suite %s", name);
	return s;
}

static const char *suite_ossl(uint16_t s)
{
	return s == SS_SUITE_AES_128_GCM_SHA256 ? "TLS_AES_128_GCM_SHA256"
	     : s == SS_SUITE_AES_256_GCM_SHA384 ? "TLS_AES_256_GCM_SHA384"
	                                        : "TLS_CHACHA20_POLY1305_SHA256";
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) != 0)
		die("free port");
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* The data phase, identical for both directions: lines each way, then a
 * KeyUpdate from core (requesting one back), then "k" and "K" from openssl. */
static void exchange(int fd, ss_rec *r)
{
	size_t seen = 0;
	const ss_rec_state *st = ss_rec_get_state(r);

	send_line(fd, r, "core-to-openssl-1\n");
	expect_child("core-to-openssl-1", &seen);
	tell_child("openssl-to-core-1\n");
	expect_app(fd, r, "openssl-to-core-1\n");

	key_update(fd, r, 1);
	send_line(fd, r, "core-to-openssl-2\n");
	expect_child("core-to-openssl-2", &seen);
	tell_child("openssl-to-core-2\n");
	expect_app(fd, r, "openssl-to-core-2\n");
	if (st->tx.epoch != 1 || st->rx.epoch != 1)
		die("after core's KeyUpdate: tx epoch %u rx epoch %u, want 1/1", st->tx.epoch, st->rx.epoch);

	/* openssl reads its stdin in chunks and takes "k" only as a whole
	 * chunk: wait for its KeyUpdate to arrive before typing the next line */
	tell_child("k\n");
	expect_rx_epoch(fd, r, 2);
	tell_child("openssl-to-core-3\n");
	expect_app(fd, r, "openssl-to-core-3\n");
	if (st->rx.epoch != 2)
		die("openssl's KeyUpdate (k) did not move rx: epoch %u", st->rx.epoch);

	tell_child("K\n");
	expect_rx_epoch(fd, r, 3);
	tell_child("openssl-to-core-4\n");
	expect_app(fd, r, "openssl-to-core-4\n");
	if (st->rx.epoch != 3 || st->tx.epoch != 2)
		die("after K: rx epoch %u tx epoch %u, want 3/2", st->rx.epoch, st->tx.epoch);
	send_line(fd, r, "core-to-openssl-3\n");
	expect_child("core-to-openssl-3", &seen);

	{
		uint8_t rec[64];
		size_t n;
		if (ss_rec_alert(r, 1, 0, rec, sizeof rec, &n) != SS_OK)
			die("close_notify");
		send_all(fd, rec, n);
	}
}

static int run(int server, const char *suite_name, const char *ca, const char *cert, const char *key,
               const char *target, const char *expect)
{
	uint16_t suite = suite_code(suite_name);
	ss_cred_params p = { .mode = SS_MODE_STANDARD_TLS, .suites = { suite } };
	ss_cred *cred = NULL;
	ss_ctx *ctx = NULL;
	ss_ctx_info info;
	ss_rec_state rs = { 0 };
	ss_rec *r = NULL;
	ss_status st;
	int fd = -1, port;
	size_t seen = 0;
	char portstr[16], connect_to[64];

	if (server) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t l = sizeof a;
		int lfd = socket(AF_INET, SOCK_STREAM, 0);
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 1) != 0 ||
		    getsockname(lfd, (struct sockaddr *)&a, &l) != 0)
			die("listen");
		snprintf(connect_to, sizeof connect_to, "127.0.0.1:%d", ntohs(a.sin_port));
		char *argv[] = { "openssl", "s_client", "-connect", connect_to, "-tls1_3",
		                 "-ciphersuites", (char *)suite_ossl(suite), "-CAfile", (char *)ca,
		                 "-verify_return_error", "-verify_hostname", "localhost",
		                 "-servername", "localhost", NULL };
		spawn(argv);
		struct pollfd pl = { lfd, POLLIN, 0 };
		if (poll(&pl, 1, TIMEOUT_MS) <= 0)
			die("s_client did not connect");
		fd = accept(lfd, NULL, NULL);
		close(lfd);
		p.use = SS_CRED_INBOUND;
		p.methods[0] = SS_AUTH_CERTIFICATE;   /* s_client sends no certificate: no ca_file */
		p.cert_file = cert;
		p.key_file = key;
	} else {
		port = free_port();
		snprintf(portstr, sizeof portstr, "127.0.0.1:%d", port);
		char *argv[] = { "openssl", "s_server", "-accept", portstr, "-tls1_3",
		                 "-ciphersuites", (char *)suite_ossl(suite), "-cert", (char *)cert,
		                 "-key", (char *)key, "-naccept", "1",
		                 getenv("SS_INTEROP_TRACE") ? "-msg" : NULL, NULL };
		spawn(argv);
		expect_child("ACCEPT", &seen);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
		                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
			die("connect to s_server: %s", strerror(errno));
		p.use = SS_CRED_OUTBOUND;
		p.ca_file = ca;
		p.methods[0] = SS_AUTH_CERTIFICATE;   /* verify the server's chain and name */
	}
	if (fd < 0)
		die("socket");
	if ((st = ss_cred_acquire(&p, &cred)) != SS_OK)
		die("ss_cred_acquire: %s", ss_status_name(st));

	st = handshake(fd, cred, server, target, &ctx);
	if (strcmp(ss_status_name(st), expect) != 0)
		die("handshake: %s, want %s", ss_status_name(st), expect);
	if (st != SS_OK) {
		printf("ok - %s %s: handshake refused as expected (%s)\n", server ? "server" : "client",
		       suite_name, expect);
		goto out;
	}
	if (ss_ctx_query(ctx, &info) != SS_OK || info.suite != suite)
		die("query: suite %#x want %#x", info.suite, suite);
	if (!server && (info.auth != SS_AUTH_CERTIFICATE || strcmp(info.peer, "localhost") != 0))
		die("client: auth %s peer \"%s\"", ss_auth_name(info.auth), info.peer);
	if (server)
		expect_child("Verify return code: 0 (ok)", &seen);
	if ((st = ss_ctx_export(ctx, &rs)) != SS_OK || (st = ss_rec_new(&rs, &r)) != SS_OK)
		die("export: %s", ss_status_name(st));
	exchange(fd, r);
	printf("ok - %s %s %s: handshake (%llu us), data both ways, KeyUpdate both ways\n",
	       server ? "core server vs openssl s_client" : "core client vs openssl s_server",
	       suite_name, ss_group_name(info.group) ? ss_group_name(info.group) : "?",
	       (unsigned long long)info.handshake_usec);
out:
	ss_rec_free(r);
	ss_rec_state_wipe(&rs);
	ss_ctx_free(ctx);
	ss_cred_free(cred);
	close(fd);
	stop_child();
	return 0;
}

/* ------------------------------------------------------------ bench */

static double elapsed_us(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e6 + (double)(b->tv_nsec - a->tv_nsec) / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* One full in-memory handshake, both ends in this thread. */
static void core_handshake(ss_cred *cc, ss_cred *sc)
{
	ss_ctx *c = NULL, *s = NULL;
	ss_buf co = { 0 }, so = { 0 };
	size_t used;
	ss_status a, b;

	a = ss_ctx_initialize(cc, &c, NULL, 0, NULL, 0, &used, &co, NULL, NULL);
	b = ss_ctx_accept(sc, &s, 0, co.data, co.len, &used, &so, NULL, NULL);
	a = ss_ctx_initialize(cc, &c, NULL, 0, so.data, so.len, &used, &co, NULL, NULL);
	b = ss_ctx_accept(sc, &s, 0, co.data, co.len, &used, &so, NULL, NULL);
	if (a != SS_OK || b != SS_OK)
		die("bench handshake: %s/%s", ss_status_name(a), ss_status_name(b));
	ss_ctx_free(c);
	ss_ctx_free(s);
	ss_buf_free(&co);
	ss_buf_free(&so);
}

/* The same handshake with bare OpenSSL (Ed25519 cert, X25519, no tickets,
 * memory BIOs), to put the core figure in scale. */
static void ossl_handshake(SSL_CTX *cctx, SSL_CTX *sctx)
{
	SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
	BIO *c2s = BIO_new(BIO_s_mem()), *s2c = BIO_new(BIO_s_mem());
	int rc = 0, rs = 0;

	BIO_up_ref(c2s);
	BIO_up_ref(s2c);
	SSL_set_bio(c, s2c, c2s);
	SSL_set_bio(s, c2s, s2c);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (int i = 0; i < 10 && (rc != 1 || rs != 1); i++) {
		if (rc != 1)
			rc = SSL_do_handshake(c);
		if (rs != 1)
			rs = SSL_do_handshake(s);
	}
	if (rc != 1 || rs != 1)
		die("openssl bench handshake");
	SSL_free(c);
	SSL_free(s);
}

static int bench(int n)
{
	static const uint8_t psk[32] = { 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7 };
	enum { KINDS = 3 };
	const char *names[KINDS] = { "anonymous", "psk", "openssl-bare" };
	double *t[KINDS];
	ss_cred *cc[2] = { NULL, NULL }, *sc[2] = { NULL, NULL };
	SSL_CTX *oc = SSL_CTX_new(TLS_client_method()), *os = SSL_CTX_new(TLS_server_method());
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	X509 *x = X509_new();

	for (int kind = 0; kind < 2; kind++) {
		ss_cred_params p = { .mode = SS_MODE_SECSOCK, .methods = { kind == 1 ? SS_AUTH_PSK : SS_AUTH_ANONYMOUS },
		                     .suites = { SS_SUITE_AES_128_GCM_SHA256 }, .groups = { SS_GROUP_X25519 },
		                     .psk_identity = "bench", .psk = psk, .psk_len = sizeof psk };
		p.use = SS_CRED_OUTBOUND;
		if (ss_cred_acquire(&p, &cc[kind]) != SS_OK)
			die("cred");
		p.use = SS_CRED_INBOUND;
		if (ss_cred_acquire(&p, &sc[kind]) != SS_OK)
			die("cred");
	}
	/* bare OpenSSL with the same choices: Ed25519 certificate, X25519,
	 * AES-128-GCM, no tickets, client does not insist on verification */
	X509_set_version(x, X509_VERSION_3);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509_sign(x, k, NULL);
	SSL_CTX_use_certificate(os, x);
	SSL_CTX_use_PrivateKey(os, k);
	for (int i = 0; i < 2; i++) {
		SSL_CTX *z = i ? os : oc;
		SSL_CTX_set_min_proto_version(z, TLS1_3_VERSION);
		SSL_CTX_set_ciphersuites(z, "TLS_AES_128_GCM_SHA256");
		SSL_CTX_set1_groups_list(z, "X25519");
		SSL_CTX_set_options(z, SSL_OP_NO_TICKET);
	}
	SSL_CTX_set_num_tickets(os, 0);

	for (int kind = 0; kind < KINDS; kind++)
		t[kind] = calloc((size_t)n, sizeof *t[kind]);
	/* interleaved, so that noise from other processes hits all kinds alike */
	for (int i = 0; i < n; i++) {
		for (int kind = 0; kind < KINDS; kind++) {
			struct timespec a, b;
			clock_gettime(CLOCK_MONOTONIC, &a);
			if (kind == 2)
				ossl_handshake(oc, os);
			else
				core_handshake(cc[kind], sc[kind]);
			clock_gettime(CLOCK_MONOTONIC, &b);
			t[kind][i] = elapsed_us(&a, &b);
		}
	}
	for (int kind = 0; kind < KINDS; kind++) {
		qsort(t[kind], (size_t)n, sizeof *t[kind], cmp_double);
		printf("%-13s full handshake (client+server, one thread, over buffers): median %.1f us, "
		       "p10 %.1f us, p90 %.1f us (n=%d)\n", names[kind], t[kind][n / 2], t[kind][n / 10],
		       t[kind][n * 9 / 10], n);
		free(t[kind]);
	}
	for (int kind = 0; kind < 2; kind++) {
		ss_cred_free(cc[kind]);
		ss_cred_free(sc[kind]);
	}
	X509_free(x);
	EVP_PKEY_free(k);
	SSL_CTX_free(oc);
	SSL_CTX_free(os);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && strcmp(argv[1], "bench") == 0)
		return bench(atoi(argv[2]) > 10 ? atoi(argv[2]) : 10);
	if (argc >= 6 && (strcmp(argv[1], "client") == 0 || strcmp(argv[1], "server") == 0))
		return run(strcmp(argv[1], "server") == 0, argv[2], argv[3], argv[4], argv[5],
		           argc > 6 ? argv[6] : "localhost", argc > 7 ? argv[7] : "SS_OK");
	fprintf(stderr, "usage: ss_interop client|server SUITE CA CERT KEY [TARGET [EXPECT]]\n"
	                "       ss_interop bench N\n");
	return 2;
}
