/* cli_kds.c — `secsock kds`: run the key distribution service, manage its
 * root keys, and a GetKey client for tests and admins (issue 15, "kds/";
 * secsock-kds(8), docs/group-keys.md).
 * Exit status: 0 ok, 1 failure (one line on stderr), 2 usage error.
 *
 * `serve` refuses to run without the preload rather than re-exec itself:
 * the policy that makes its listener require host-key or certificate
 * authentication is the admin's to choose (secsock-kds(8)), and a service
 * that silently served over plain TCP would hand keys to anyone. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "kds.h"
#include "secsock.h"

#pragma weak secsock_query

#define DEFAULT_STORE "/var/lib/secsock/kds"
#define NT_UNIX_EPOCH 11644473600ULL
#define TICKS 10000000ULL

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: secsock kds serve --config FILE\n"
	    "       secsock kds root-key create [--store DIR] [--effective UNIX-SECONDS]\n"
	    "       secsock kds root-key list [--store DIR]\n"
	    "       secsock kds get-key --server HOST:PORT[,HOST:PORT...] --group NAME\n"
	    "                           [--gkid L0,L1,L2] [--root-key-id GUID] [--source ADDR]\n"
	    "                           [--repeat N [--reconnect]]\n"
	    "\n"
	    "The group key distribution service (MS-GKDI GetKey over secured connections).\n"
	    "  serve     answer GetKey requests (foreground, logs to stderr); must run\n"
	    "            under the secsock preload with an inbound rule that requires\n"
	    "            host-key or certificate authentication\n"
	    "  root-key  create a random 64-byte root key (file 0600 in the store,\n"
	    "            default " DEFAULT_STORE ") or list the keys (never the key bytes)\n"
	    "  get-key   ask the servers in turn (the next one when one cannot be reached)\n"
	    "            and print the Group Key Envelope as JSON; --repeat N sends N\n"
	    "            requests (one connection, or a new one each with --reconnect) and\n"
	    "            prints the count and time instead; --source connects from ADDR\n"
	    "Exit status: 0 ok, 1 failure, 2 usage.\n");
}

static int fail(const char *what, const char *why)
{
	fprintf(stderr, "secsock kds %s: %s\n", what, why);
	return 1;
}

static int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	struct kds_config cfg;
	struct kds_store st;
	char why[512];
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'c')
			return usage(stderr), 2;
		path = optarg;
	}
	if (optind != argc || !path)
		return usage(stderr), 2;
	if (!secsock_query)
		return fail("serve", "not running under the secsock preload (libsecsock.so): "
		            "refusing to serve keys over unsecured TCP; run it with "
		            "LD_PRELOAD and a policy that requires host-key or certificate "
		            "inbound (secsock-kds(8))");
	if (kds_config_load(path, &cfg, why, sizeof why) != 0)
		return fail("serve", why);
	if (kds_store_load(cfg.store, &st, why, sizeof why) != 0) {
		kds_config_free(&cfg);
		return fail("serve", why);
	}
	fprintf(stderr, "secsock kds: %zu group(s), %zu root key(s) from %s\n", cfg.n_groups, st.n,
	        cfg.store);
	rc = kds_serve(&cfg, &st);
	kds_store_free(&st);
	kds_config_free(&cfg);
	return rc;
}

static int store_opts(int argc, char **argv, const char **store, const char **eff)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' }, { "effective", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	*store = DEFAULT_STORE;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 's')
			*store = optarg;
		else if (c == 'e' && eff)
			*eff = optarg;
		else
			return -1;
	}
	return optind == argc ? 0 : -1;
}

static int cmd_root_key(int argc, char **argv)
{
	const char *store, *eff = NULL;
	char why[512], id[37], when[32];
	uint64_t t = kds_nttime_now();
	struct kds_store st;
	ss_guid g;

	if (argc < 2 || (strcmp(argv[1], "create") && strcmp(argv[1], "list")))
		return usage(stderr), 2;
	optind = 1;
	if (store_opts(argc - 1, argv + 1, &store, argv[1][0] == 'c' ? &eff : NULL) != 0)
		return usage(stderr), 2;
	if (eff) {
		char *end;
		unsigned long long u;
		errno = 0;
		u = strtoull(eff, &end, 10);
		if (*eff < '0' || *eff > '9' || *end || errno || u > (UINT64_MAX / TICKS) - NT_UNIX_EPOCH)
			return fail("root-key create", "--effective takes Unix seconds");
		t = (u + NT_UNIX_EPOCH) * TICKS;
	}
	if (argv[1][0] == 'c') {
		if (kds_store_create(store, t, &g, why, sizeof why) != 0)
			return fail("root-key create", why);
		ss_guid_format(&g, id);
		printf("%s\n", id);
		return 0;
	}
	if (kds_store_load(store, &st, why, sizeof why) != 0)
		return fail("root-key list", why);
	for (size_t i = 0; i < st.n; i++) {
		time_t u = (time_t)(st.roots[i].effective / TICKS - NT_UNIX_EPOCH);
		struct tm tm;
		gmtime_r(&u, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		ss_guid_format(&st.roots[i].id, id);
		printf("%s %s effective=%s nttime=%" PRIu64 "\n", id,
		       ss_gkdi_hash_name(st.roots[i].hash), when, st.roots[i].effective);
	}
	kds_store_free(&st);
	return 0;
}


static const char *source_addr;   /* --source: the local address to connect from */

/* Bind fd to --source (port 0); -1 when it is not an address of family af. */
static int bind_source(int fd, int af)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	if (af == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		len = sizeof *a;
		if (inet_pton(AF_INET, source_addr, &a->sin_addr) != 1)
			return -1;
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		len = sizeof *a;
		if (inet_pton(AF_INET6, source_addr, &a->sin6_addr) != 1)
			return -1;
	}
	return bind(fd, (struct sockaddr *)&ss, len);
}

/* Connect to "HOST:PORT" (blocking, 5 s send/receive timeouts); -1 when
 * it cannot be reached. */
static int dial(const char *addr)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	size_t hl = colon ? (size_t)(colon - addr) : 0;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai, *p;
	struct timeval tv = { 5, 0 };
	int fd = -1;

	if (!colon || hl == 0 || hl >= sizeof host)
		return -1;
	if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']')
		memcpy(host, addr + 1, hl - 2), host[hl - 2] = '\0';
	else
		memcpy(host, addr, hl), host[hl] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return -1;
	for (p = ai; p && fd < 0; p = p->ai_next) {
		fd = socket(p->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		if (source_addr && bind_source(fd, p->ai_family) != 0) {
			close(fd);
			fd = -1;
			continue;
		}
		if (connect(fd, p->ai_addr, p->ai_addrlen) != 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	return fd;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One request and its answer on fd: 0 with *ans pointing into buf, or -1
 * when the connection failed (closed, timed out, or not an answer). */
static int exchange(int fd, const uint8_t *req, size_t req_len, uint8_t *buf, size_t cap,
                    ss_kds_answer *ans)
{
	size_t have = 0, bl, fl;
	const uint8_t *body;
	ss_kds_type t;
	ss_status st;

	if (write_all(fd, req, req_len) != 0)
		return -1;
	for (;;) {
		ssize_t n = read(fd, buf + have, cap - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		have += (size_t)n;
		st = ss_kds_frame(buf, have, &t, &body, &bl, &fl, NULL, 0);
		if (st == SS_INCOMPLETE_MESSAGE && have < cap)
			continue;
		if (st != SS_OK || fl != have)
			return -1;
		return ss_kds_answer_parse(buf, have, ans, NULL, 0) == SS_OK ? 0 : -1;
	}
}

struct get_args {
	const char *servers, *group, *gkid, *rkid;
	long repeat;
	int reconnect;
};

static int get_opts(int argc, char **argv, struct get_args *a)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' }, { "group", required_argument, NULL, 'g' },
		{ "gkid", required_argument, NULL, 'k' }, { "root-key-id", required_argument, NULL, 'i' },
		{ "repeat", required_argument, NULL, 'n' }, { "reconnect", no_argument, NULL, 'r' },
		{ "source", required_argument, NULL, 'S' }, { NULL, 0, NULL, 0 },
	};
	char *end;
	int c;
	memset(a, 0, sizeof *a);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': a->servers = optarg; break;
		case 'g': a->group = optarg; break;
		case 'k': a->gkid = optarg; break;
		case 'i': a->rkid = optarg; break;
		case 'r': a->reconnect = 1; break;
		case 'S': source_addr = optarg; break;
		case 'n':
			a->repeat = strtol(optarg, &end, 10);
			if (*end || a->repeat < 1 || a->repeat > 100000000)
				return -1;
			break;
		default: return -1;
		}
	}
	return optind == argc && a->servers && a->group && (!a->reconnect || a->repeat) ? 0 : -1;
}

/* --repeat: N requests to one server, then "N requests in S s (R/s)". */
static int repeat(const char *server, const uint8_t *req, size_t req_len, const struct get_args *a)
{
	static uint8_t buf[SS_KDS_HDR + 5 + SS_GKDI_ENV_MAX];
	struct timespec t0, t1;
	ss_kds_answer ans;
	int fd = -1;
	double s;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < a->repeat; i++) {
		if (fd < 0 && (fd = dial(server)) < 0)
			return fail("get-key", "cannot reach the server");
		if (exchange(fd, req, req_len, buf, sizeof buf, &ans) != 0 || ans.code != SS_KDS_OK) {
			close(fd);
			return fail("get-key", "request failed during --repeat");
		}
		if (a->reconnect) {
			close(fd);
			fd = -1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (fd >= 0)
		close(fd);
	s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%ld requests in %.3f s (%.0f/s)\n", a->repeat, s, s > 0 ? (double)a->repeat / s : 0.0);
	return 0;
}

/* Ask each server in turn; the first answer (of any status) is final,
 * since every server on the same store gives the same one. */
static int ask(const char *servers, const uint8_t *req, size_t req_len, const struct get_args *a)
{
	static uint8_t buf[SS_KDS_HDR + 5 + SS_GKDI_ENV_MAX];
	char *list = strdup(servers), *save = NULL, *srv;
	ss_kds_answer ans;
	ss_gkdi_env env;
	int rc = -1;

	for (srv = list ? strtok_r(list, ",", &save) : NULL; srv && rc < 0;
	     srv = strtok_r(NULL, ",", &save)) {
		int fd;
		if (a->repeat) {
			rc = repeat(srv, req, req_len, a);
			break;
		}
		fd = dial(srv);
		if (fd < 0 || exchange(fd, req, req_len, buf, sizeof buf, &ans) != 0) {
			fprintf(stderr, "secsock kds get-key: %s: no answer, trying the next server\n", srv);
			if (fd >= 0)
				close(fd);
			continue;
		}
		close(fd);
		if (ans.code != SS_KDS_OK) {
			fprintf(stderr, "secsock kds get-key: %s: %s\n", srv, ss_kds_code_name(ans.code));
			rc = 1;
		} else if (ss_gkdi_env_parse(ans.env, ans.env_len, &env, NULL, 0) != SS_OK) {
			rc = fail("get-key", "the envelope does not parse");
		} else {
			cli_gkdi_print_env(&env);
			rc = 0;
		}
		sodium_memzero(buf, sizeof buf);
	}
	free(list);
	return rc < 0 ? fail("get-key", "no server answered") : rc;
}

static int cmd_get_key(int argc, char **argv)
{
	struct get_args a;
	ss_kds_req r = { .gkid = SS_GKID_NONE };
	uint8_t req[SS_KDS_REQ_MAX];
	size_t n;

	if (get_opts(argc, argv, &a) != 0)
		return usage(stderr), 2;
	if (strlen(a.group) > SS_KDS_GROUP_MAX)
		return fail("get-key", "group name longer than 64 bytes");
	memcpy(r.group, a.group, strlen(a.group) + 1);
	if (a.gkid && ss_gkid_parse(a.gkid, &r.gkid) != 0)
		return fail("get-key", "--gkid is not L0,L1,L2");
	if (a.rkid) {
		if (ss_guid_parse(a.rkid, &r.rkid) != 0)
			return fail("get-key", "--root-key-id is not a GUID");
		r.has_rkid = 1;
	}
	if (ss_kds_req_encode(&r, req, sizeof req, &n) != SS_OK)
		return fail("get-key", "group must be 1..64 of [A-Za-z0-9._-] and the GKID valid");
	return ask(a.servers, req, n, &a);
}

int cli_kds_main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	for (int j = 1; j < argc; j++)
		if (!strcmp(argv[j], "--help") || !strcmp(argv[j], "-h") || !strcmp(argv[j], "help")) {
			usage(stdout);
			return 0;
		}
	optind = 1;
	opterr = 0;
	if (!strcmp(argv[1], "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(argv[1], "root-key"))
		return cmd_root_key(argc - 1, argv + 1);
	if (!strcmp(argv[1], "get-key"))
		return cmd_get_key(argc - 1, argv + 1);
	fprintf(stderr, "secsock kds: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
