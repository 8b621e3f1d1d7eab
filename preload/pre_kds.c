/* pre_kds.c — the I/O side of the KDS key source (pre_kds.h): core builds
 * the GetKey request and reads the answer (ss_group.c); this file only
 * carries the frame to a key distribution service and back.
 *
 * The connection to a KDS is an ordinary governed connection of this
 * process, made through the library's own socket/connect/send/recv, so it
 * goes through the policy and the one handshake driver like any other: the
 * admin's outbound rule for the KDS address says how it authenticates
 * (host-key, docs/group-keys.md).  On top of that rule, whatever it says:
 *  - it is marked as secsock_set_security does (never clear: a request or
 *    bypass rule becomes require), and
 *  - the answer is used only when the connection is secured with both ends
 *    authenticated and the KDS proved one of the host keys pinned by
 *    group-kds-identity: the KDS decides who gets the group's keys, so a
 *    service that cannot prove it is the admin's is never asked.
 * A connection to a KDS never itself needs a group key (a thread-local
 * flag: a rule for the KDS port that asks for the group would otherwise
 * ask the KDS to reach the KDS).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include "secsock.h"
#include "pol.h"
#include "pre_kds.h"
#include "pre_log.h"
#include "ss_kds_proto.h"   /* SS_KDS_HDR only: core parses the frame */

enum { IO_TIMEOUT_S = 5 };

static _Thread_local int in_fetch;

static int send_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int recv_all(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = recv(fd, p, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Is fd secured, mutual, and the peer one of the pinned KDS host keys? */
static int kds_proved(int fd, const char *ids, char *why, size_t why_len)
{
	struct secsock_info info;

	memset(&info, 0, sizeof info);
	if (secsock_query_ex(fd, &info, sizeof info) != 0 || info.state != SECSOCK_STATE_SECURED) {
		snprintf(why, why_len, "not secured");
		return 0;
	}
	if (!(info.flags & SECSOCK_INFO_MUTUAL) || strcmp(info.auth, "host-key") != 0) {
		snprintf(why, why_len, "secured with auth=%s%s, not mutual host-key (the rule for the KDS "
		         "address must say auth = host-key)", info.auth, info.mutual ? "" : " one-sided");
		return 0;
	}
	if (!pol_identity_listed(ids, info.peer_fingerprint)) {
		snprintf(why, why_len, "its host key %s is not in group-kds-identity", info.peer_fingerprint);
		return 0;
	}
	return 1;
}

/* One request and its answer frame on a new connection to addr. */
static int ask_one(const struct sockaddr_storage *addr, unsigned alen, const char *ids, const uint8_t *req,
                   size_t req_len, uint8_t *ans, size_t cap, size_t *ans_len, char *why, size_t why_len)
{
	struct timeval tv = { IO_TIMEOUT_S, 0 };
	uint8_t *h = ans;
	size_t body;
	int rc = -1, fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		snprintf(why, why_len, "socket: %s", strerror(errno));
		return -1;
	}
	if (secsock_set_security(fd, NULL, 0) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
		snprintf(why, why_len, "socket set-up: %s", strerror(errno));
		goto out;
	}
	if (connect(fd, (const struct sockaddr *)addr, (socklen_t)alen) != 0) {
		snprintf(why, why_len, "connect: %s", strerror(errno));
		goto out;
	}
	if (!kds_proved(fd, ids, why, why_len))
		goto out;
	if (send_all(fd, req, req_len) != 0 || cap < SS_KDS_HDR || recv_all(fd, h, SS_KDS_HDR) != 0) {
		snprintf(why, why_len, "no answer (%s)", errno ? strerror(errno) : "closed");
		goto out;
	}
	/* the length field (bytes 6..9, big-endian); core checks the rest */
	body = (size_t)h[6] << 24 | (size_t)h[7] << 16 | (size_t)h[8] << 8 | h[9];
	if (body > cap - SS_KDS_HDR || recv_all(fd, ans + SS_KDS_HDR, body) != 0) {
		snprintf(why, why_len, "answer too long or cut short");
		goto out;
	}
	*ans_len = SS_KDS_HDR + body;
	rc = 0;
out:
	close(fd);
	return rc;
}

/* src: "ADDRS\nIDENTITIES", made by pre_kds_src. */
int pre_kds_fetch(const char *src, const uint8_t *req, size_t req_len, uint8_t *ans, size_t cap,
                  size_t *ans_len)
{
	char addrs[256], why[200];
	const char *nl = strchr(src, '\n');
	struct sockaddr_storage a;
	unsigned alen = 0;
	int e = errno, rc = -1;

	if (in_fetch || nl == NULL || (size_t)(nl - src) >= sizeof addrs)
		return -1;
	memcpy(addrs, src, (size_t)(nl - src));
	addrs[nl - src] = '\0';
	in_fetch = 1;
	for (int i = 0; rc != 0 && pol_endpoint_at(addrs, i, &a, &alen); i++) {
		why[0] = '\0';
		rc = ask_one(&a, alen, nl + 1, req, req_len, ans, cap, ans_len, why, sizeof why);
		if (rc != 0)
			pre_log(PRE_LOG_WARN, "group key service %d of group-kds (%s): %s%s", i + 1, addrs, why,
			        pol_endpoint_at(addrs, i + 1, &a, &alen) ? "; trying the next" : "");
	}
	in_fetch = 0;
	errno = e;
	return rc;
}

int pre_kds_src(const pol_settings *s, char *out, size_t cap)
{
	return (size_t)snprintf(out, cap, "%s\n%s", s->group_kds, s->group_kds_identity) < cap ? 0 : -1;
}

/* mkdir one level, 0700; an existing one must be a directory of ours. */
static int private_dir(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return -1;
	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	       (st.st_mode & 022) == 0 ? 0 : -1;
}

int pre_kds_cache_file(const char *group, char *out, size_t cap)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char dir[200];
	int e = errno, ok;

	if (xdg && xdg[0] == '/')
		ok = (size_t)snprintf(dir, sizeof dir, "%s/secsock", xdg) < sizeof dir &&
		     private_dir(xdg) == 0 && private_dir(dir) == 0;
	else if (geteuid() == 0)
		ok = private_dir("/var/cache/secsock") == 0 &&
		     snprintf(dir, sizeof dir, "/var/cache/secsock") < (int)sizeof dir;
	else if (home && home[0] == '/') {
		char cache[200];
		ok = (size_t)snprintf(cache, sizeof cache, "%s/.cache", home) < sizeof cache &&
		     (size_t)snprintf(dir, sizeof dir, "%s/secsock", cache) < sizeof dir &&
		     private_dir(cache) == 0 && private_dir(dir) == 0;
	} else
		ok = 0;
	ok = ok && (size_t)snprintf(out, cap, "%s/gkdi-%s.cache", dir, group) < cap;
	errno = e;
	return ok ? 0 : -1;
}
