/* cli_status.c — `secsock status`: the governed connections of running
 * preloaded processes, read from their status segments (core/ss_statseg.h,
 * docs/design.md "Status segments").
 *
 * Bytes each way are the kernel's own counters for the socket
 * (tcp_info.tcpi_bytes_acked / tcpi_bytes_received, asked over
 * NETLINK_SOCK_DIAG by the socket's inode, as ss(8) does): the preload
 * counts nothing on read or write for this, and they are bytes on the wire
 * (record headers and tags included).
 *
 * A segment whose process is gone, or whose pid now belongs to another
 * process (start time from /proc/PID/stat differs), is stale: it is
 * removed and not shown.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include "cli.h"
#include "ss_statseg.h"

/* ------------------------------------------------------------ kernel byte counters */

struct bytes_ent {
	uint64_t ino, sent, rcvd;
};
struct bytes_map {
	struct bytes_ent *v;
	size_t n, cap;
};

static void diag_parse(struct bytes_map *m, const struct nlmsghdr *h)
{
	const struct inet_diag_msg *d = NLMSG_DATA(h);
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof *d);
	struct rtattr *a = (struct rtattr *)(uintptr_t)(d + 1);
	struct bytes_ent e = { d->idiag_inode, 0, 0 };

	for (; len > 0 && RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type != INET_DIAG_INFO)
			continue;
		struct tcp_info ti;
		size_t n = RTA_PAYLOAD(a) < sizeof ti ? RTA_PAYLOAD(a) : sizeof ti;
		memset(&ti, 0, sizeof ti);
		memcpy(&ti, RTA_DATA(a), n);
		e.sent = ti.tcpi_bytes_acked;
		e.rcvd = ti.tcpi_bytes_received;
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 256;
		struct bytes_ent *v = realloc(m->v, cap * sizeof *v);
		if (!v)
			return;
		m->v = v;
		m->cap = cap;
	}
	m->v[m->n++] = e;
}

/* Every TCP socket of one family: inode → bytes. */
static void diag_dump(struct bytes_map *m, int family)
{
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} req;
	static char buf[32768];
	int s = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

	if (s < 0)
		return;
	memset(&req, 0, sizeof req);
	req.h.nlmsg_len = sizeof req;
	req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.r.sdiag_family = (uint8_t)family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = ~0u;
	req.r.idiag_ext = 1u << (INET_DIAG_INFO - 1);
	if (send(s, &req, sizeof req, 0) < 0) {
		close(s);
		return;
	}
	for (;;) {
		ssize_t n = recv(s, buf, sizeof buf, 0);
		if (n <= 0)
			break;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				close(s);
				return;
			}
			if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY)
				diag_parse(m, h);
		}
	}
	close(s);
}

static const struct bytes_ent *bytes_of(const struct bytes_map *m, uint64_t ino)
{
	for (size_t i = 0; ino && i < m->n; i++)
		if (m->v[i].ino == ino)
			return &m->v[i];
	return NULL;
}

/* ------------------------------------------------------------ segments */

enum { REFUSED_SHOWN_MS = 300 * 1000 };   /* refusals older than this: counted, not listed */

struct opts {
	int json, watch_s;
	long pid;
};

struct out {
	FILE *f;
	int json, nproc, nconn;
	int64_t now_ms;
	const struct bytes_map *bytes;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* /proc/PID/stat field 22, or 0 when the process is gone. */
static uint64_t proc_start(long pid)
{
	char p[64], buf[1024], *q;
	unsigned long long v = 0;
	FILE *f;
	size_t n;

	snprintf(p, sizeof p, "/proc/%ld/stat", pid);
	if (!(f = fopen(p, "re")))
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	q = strrchr(buf, ')');
	for (int field = 2; q && field < 22; field++)
		q = strchr(q + 1, ' ');
	if (!q || sscanf(q + 1, "%llu", &v) != 1)
		return 0;
	return v;
}

/* The process still has fd open on socket inode ino. */
static int fd_is(long pid, int fd, uint64_t ino)
{
	char p[64], l[64], want[40];
	ssize_t n;

	snprintf(p, sizeof p, "/proc/%ld/fd/%d", pid, fd);
	n = readlink(p, l, sizeof l - 1);
	if (n < 0)
		return 0;
	l[n] = 0;
	snprintf(want, sizeof want, "socket:[%llu]", (unsigned long long)ino);
	return strcmp(l, want) == 0;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void age_str(char *b, size_t n, int64_t ms)
{
	long s = (long)(ms / 1000);
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(b, n, "%lds", s);
	else if (s < 7200)
		snprintf(b, n, "%ldm", s / 60);
	else
		snprintf(b, n, "%ldh%02ldm", s / 3600, s / 60 % 60);
}

static void conn_json(struct out *o, const struct ss_status_head *h, const struct ss_status_slot *s,
                      const struct bytes_ent *b, int k)
{
	FILE *f = o->f;

	fprintf(f, "%s\n        {\"pid\": %d, \"program\": ", k ? "," : "", h->pid);
	json_str(f, h->program);
	fprintf(f, ", \"fd\": %d, \"local\": ", s->fd);
	json_str(f, s->local);
	fputs(", \"remote\": ", f);
	json_str(f, s->remote);
	fprintf(f, ", \"direction\": \"%s\", \"state\": \"%s\", \"rule\": ",
	        s->outbound ? "outbound" : "inbound", ss_status_state_name(s->state));
	json_str(f, s->rule);
	fputs(", \"action\": ", f);
	json_str(f, s->action);
	fputs(", \"method\": ", f);
	json_str(f, s->method);
	fputs(", \"peer\": ", f);
	if (s->peer[0])
		json_str(f, s->peer);
	else
		fputs("null", f);
	fputs(", \"cipher\": ", f);
	if (s->cipher[0])
		json_str(f, s->cipher);
	else
		fputs("null", f);
	fputs(", \"group\": ", f);
	if (s->group[0])
		json_str(f, s->group);
	else
		fputs("null", f);
	fprintf(f, ", \"resumed\": %s, \"mutual\": %s", s->resumed ? "true" : "false",
	        s->mutual ? "true" : "false");
	if (b)
		fprintf(f, ", \"bytes_sent\": %llu, \"bytes_received\": %llu",
		        (unsigned long long)b->sent, (unsigned long long)b->rcvd);
	else
		fputs(", \"bytes_sent\": null, \"bytes_received\": null", f);
	fprintf(f, ", \"age_seconds\": %lld, \"rekeys\": %u, \"last_rekey_seconds_ago\": ",
	        (long long)((o->now_ms - s->created_ms) / 1000), s->rekeys);
	if (s->rekey_ms)
		fprintf(f, "%lld}", (long long)((o->now_ms - s->rekey_ms) / 1000));
	else
		fputs("null}", f);
}

static void conn_text(struct out *o, const struct ss_status_slot *s, const struct bytes_ent *b)
{
	char age[24], rk[24] = "never", tx[24] = "?", rx[24] = "?";

	age_str(age, sizeof age, o->now_ms - s->created_ms);
	if (s->rekey_ms) {
		age_str(rk, sizeof rk - 4, o->now_ms - s->rekey_ms);
		strcat(rk, " ago");
	}
	if (b) {
		snprintf(tx, sizeof tx, "%llu", (unsigned long long)b->sent);
		snprintf(rx, sizeof rx, "%llu", (unsigned long long)b->rcvd);
	}
	fprintf(o->f, "  %-8s %s %s %s  %s  rule=%s action=%s method=%s", s->outbound ? "outbound" : "inbound",
	        s->local[0] ? s->local : "?", s->outbound ? "->" : "<-", s->remote[0] ? s->remote : "?",
	        ss_status_state_name(s->state), s->rule, s->action, s->method);
	if (s->state == SS_STS_SECURED || s->state == SS_STS_FAILED)
		fprintf(o->f, " peer=%s cipher=%s group=%s resumed=%s", s->peer[0] ? s->peer : "-",
		        s->cipher[0] ? s->cipher : "-", s->group[0] ? s->group : "-",
		        s->resumed ? "yes" : "no");
	fprintf(o->f, " sent=%s received=%s age=%s rekey=%s\n", tx, rx, age, rk);
}

/* Is slot s worth showing?  Clear entries live while their descriptor does. */
static int shown(const struct out *o, const struct ss_status_head *h, const struct ss_status_slot *s)
{
	switch (atomic_load(&s->kind)) {
	case SS_ST_CONN:
		return 1;
	case SS_ST_CLEAR:
		return s->fd >= 0 && fd_is(h->pid, s->fd, s->ino);
	case SS_ST_REFUSED:
		return o->now_ms - s->changed_ms < REFUSED_SHOWN_MS;
	default:
		return 0;
	}
}

static void process_out(struct out *o, const struct ss_status_head *h)
{
	uint32_t hi = atomic_load(&h->hi);
	char age[24];
	int k = 0;

	if (hi > SS_STATUS_SLOTS)
		hi = SS_STATUS_SLOTS;
	age_str(age, sizeof age, o->now_ms - h->started_ms);
	if (o->json) {
		fprintf(o->f, "%s\n    {\"pid\": %d, \"program\": ", o->nproc ? "," : "", h->pid);
		json_str(o->f, h->program);
		fprintf(o->f, ", \"publishing_seconds\": %lld, \"secured\": %llu, \"clear\": %llu, "
		        "\"refused\": %llu, \"unpublished\": %u, \"connections\": [",
		        (long long)((o->now_ms - h->started_ms) / 1000),
		        (unsigned long long)atomic_load(&h->n_secured),
		        (unsigned long long)atomic_load(&h->n_clear),
		        (unsigned long long)atomic_load(&h->n_refused), h->unpublished);
	} else {
		fprintf(o->f, "%spid %d %s (publishing for %s): secured %llu, clear %llu, refused %llu since start\n",
		        o->nproc ? "\n" : "", h->pid, h->program, age,
		        (unsigned long long)atomic_load(&h->n_secured),
		        (unsigned long long)atomic_load(&h->n_clear),
		        (unsigned long long)atomic_load(&h->n_refused));
		if (h->unpublished)
			fprintf(o->f, "  (%u connections not listed: every status slot was in use)\n",
			        h->unpublished);
	}
	o->nproc++;
	for (uint32_t i = 0; i < hi; i++) {
		struct ss_status_slot s;
		if (ss_status_read(ss_status_slot_at((void *)h, i), &s) < 0 || !shown(o, h, &s))
			continue;
		const struct bytes_ent *b = bytes_of(o->bytes, s.ino);
		if (o->json)
			conn_json(o, h, &s, b, k);
		else
			conn_text(o, &s, b);
		k++;
		o->nconn++;
	}
	if (o->json)
		fputs(k ? "\n      ]}" : "]}", o->f);
}

/* One segment file of directory d: shown, or removed when stale. */
static void segment(struct out *o, int d, const char *name, const struct opts *op)
{
	char *end;
	long pid = strtol(name, &end, 10);
	struct stat st, ds;
	void *m;
	int f;

	if (*end || pid <= 0 || (op->pid && pid != op->pid))
		return;
	f = openat(d, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (f < 0)
		return;
	if (fstat(f, &st) < 0 || fstat(d, &ds) < 0 || !S_ISREG(st.st_mode) || st.st_uid != ds.st_uid ||
	    st.st_size < (off_t)SS_STATUS_SIZE) {
		close(f);
		return;
	}
	m = mmap(NULL, SS_STATUS_SIZE, PROT_READ, MAP_SHARED, f, 0);
	close(f);
	if (m == MAP_FAILED)
		return;
	const struct ss_status_head *h = m;
	uint64_t t = proc_start(pid);
	if (h->magic != SS_STATUS_MAGIC || h->version != SS_STATUS_VERSION ||
	    h->head_size != SS_STATUS_HEAD || h->slot_size != SS_STATUS_SLOT ||
	    h->nslots != SS_STATUS_SLOTS || h->pid != pid) {
		munmap(m, SS_STATUS_SIZE);
		return;
	}
	if (!t || (h->start_time && t != h->start_time)) {
		(void)unlinkat(d, name, 0);   /* gone, or the pid is another process's now */
		munmap(m, SS_STATUS_SIZE);
		return;
	}
	process_out(o, h);
	munmap(m, SS_STATUS_SIZE);
}

/* Every segment in path (a 0700 directory of its owner, or nothing). */
static void directory(struct out *o, const char *path, const struct opts *op)
{
	int d = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	DIR *dir;
	struct dirent *e;

	if (d < 0)
		return;
	if (fstat(d, &st) < 0 || (st.st_mode & 077) || (geteuid() != 0 && st.st_uid != geteuid())) {
		fprintf(stderr, "secsock status: %s is not a private directory of uid %lu; ignored\n", path,
		        (unsigned long)geteuid());
		close(d);
		return;
	}
	if (!(dir = fdopendir(dup(d)))) {
		close(d);
		return;
	}
	while ((e = readdir(dir)) != NULL)
		if (e->d_name[0] != '.')
			segment(o, d, e->d_name, op);
	closedir(dir);
	close(d);
}

static int show(const struct opts *op)
{
	struct bytes_map bm = { 0 };
	struct out o = { stdout, op->json, 0, 0, now_ms(), &bm };
	const char *x = getenv("XDG_RUNTIME_DIR");
	char p[4096];
	int published = 1;

	diag_dump(&bm, AF_INET);
	diag_dump(&bm, AF_INET6);
	if (o.json)
		fputs("{\n  \"processes\": [", stdout);
	if (geteuid() == 0) {
		/* root: its own processes', and every user's */
		directory(&o, "/run/secsock/status", op);
		DIR *u = opendir("/run/user");
		struct dirent *e;
		while (u && (e = readdir(u)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof p, "/run/user/%s/secsock/status", e->d_name);
			directory(&o, p, op);
		}
		if (u)
			closedir(u);
	} else if (x && x[0] == '/') {
		snprintf(p, sizeof p, "%s/secsock/status", x);
		directory(&o, p, op);
	} else {
		published = 0;
	}
	if (o.json) {
		fprintf(stdout, "%s],\n  \"published\": %s", o.nproc ? "\n  " : "", published ? "true" : "false");
		if (!published)
			fputs(",\n  \"note\": \"XDG_RUNTIME_DIR is not set: processes of this user publish no status\"", stdout);
		fputs("\n}\n", stdout);
	} else if (!published) {
		printf("XDG_RUNTIME_DIR is not set: preloaded processes of this user publish no status "
		       "(secsock(1) STATUS)\n");
	} else if (!o.nproc) {
		printf("no preloaded process with governed connections%s\n", op->pid ? " has that pid" : "");
	}
	free(bm.v);
	fflush(stdout);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: secsock status [--json] [-p PID] [--watch[=SECONDS]]\n\n"
	           "The governed TCP connections of your running preloaded programs (root: everyone's):\n"
	           "pid, program, addresses, direction, state (handshake, secured, clear, refused,\n"
	           "failed), rule, method, peer, cipher, resumed, bytes each way (the kernel's counters,\n"
	           "on the wire), age, last rekey; and per process the secured / clear / refused counts\n"
	           "since it started.  Refusals of the last 5 minutes are listed.\n\n"
	           "  --json              one JSON document with every field\n"
	           "  -p, --pid PID       only that process\n"
	           "  --watch[=SECONDS]   show again every SECONDS (default 2) until interrupted\n");
}

int cli_status_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' }, { "pid", required_argument, NULL, 'p' },
		{ "watch", optional_argument, NULL, 'w' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts op = { 0, 0, 0 };
	int ch;
	char *end;

	while ((ch = getopt_long(argc, argv, "hjp:", lo, NULL)) != -1) {
		switch (ch) {
		case 'j':
			op.json = 1;
			break;
		case 'p':
			op.pid = strtol(optarg, &end, 10);
			if (*end || op.pid <= 0) {
				fprintf(stderr, "secsock status: -p needs a pid, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'w':
			op.watch_s = optarg ? (int)strtol(optarg, &end, 10) : 2;
			if ((optarg && *end) || op.watch_s <= 0 || op.watch_s > 86400) {
				fprintf(stderr, "secsock status: --watch needs whole seconds (1..86400)\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (!op.watch_s)
		return show(&op);
	for (;;) {
		if (!op.json && isatty(STDOUT_FILENO))
			fputs("\033[H\033[2J", stdout);
		show(&op);
		sleep((unsigned)op.watch_s);
	}
}
