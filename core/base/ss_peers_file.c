/* ss_peers_file.c — the known-peers file on disk: load, pin, remove (see
 * ss_peers.h for the locking rule). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include "ss_io.h"
#include "ss_peers.h"

static int owned_ok(const struct stat *st)
{
	return S_ISREG(st->st_mode) && (st->st_uid == geteuid() || st->st_uid == 0) &&
	       !(st->st_mode & (S_IWGRP | S_IWOTH));
}

/* The whole file (malloc'd, NUL-terminated; *len bytes), NULL + errno. */
static char *slurp(int fd, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return NULL;
	if (!owned_ok(&st)) {
		errno = EPERM;
		return NULL;
	}
	if (st.st_size > SS_PEERS_FILE_MAX) {
		errno = EFBIG;
		return NULL;
	}
	char *t = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	if (!t)
		return NULL;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, t + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	t[got] = '\0';
	*len = got;
	return t;
}

static ss_status load_text(const char *path, ss_peers **out, char **text, size_t *len,
                           char *err, size_t errn)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	*text = NULL;
	*len = 0;
	if (fd < 0 && errno == ENOENT)
		return ss_peers_parse("", 0, out, err, errn);
	if (fd < 0) {
		snprintf(err, errn, "%s: %s", path, errno == ELOOP ? "is a symbolic link" : strerror(errno));
		return SS_NO_CREDENTIALS;
	}
	*text = slurp(fd, len);
	int e = errno;
	close(fd);
	if (!*text) {
		snprintf(err, errn, "%s: %s", path,
		         e == EPERM ? "not a regular file owned by you or root, or writable by others" : strerror(e));
		return SS_NO_CREDENTIALS;
	}
	char why[200];
	ss_status st = ss_peers_parse(*text, *len, out, why, sizeof why);
	if (st != SS_OK)
		snprintf(err, errn, "%s: %s", path, why);
	return st;
}

ss_status ss_peers_load(const char *path, ss_peers **out, char *err, size_t errn)
{
	char *text;
	size_t len;
	ss_status st = load_text(path, out, &text, &len, err, errn);
	free(text);
	return st;
}

int ss_mkdirs_for(const char *path)
{
	char d[PATH_MAX], dbuf[PATH_MAX];
	snprintf(d, sizeof d, "%s", path);
	/* dirname() may return a static string ("." for a bare file name):
	 * the loop below writes into it, so it works on a copy. */
	snprintf(dbuf, sizeof dbuf, "%s", dirname(d));
	char *dir = dbuf;
	for (char *s = dir + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(dir, 0700) != 0 && errno != EEXIST)
				return -1;
			*s = c;
			if (c == '\0')
				return 0;
		}
	}
}

/* Lock PATH.lock; the descriptor, or -1 with err set. */
static int lock_file(const char *path, char *err, size_t errn)
{
	char lk[PATH_MAX];
	struct stat st;
	if (snprintf(lk, sizeof lk, "%s.lock", path) >= (int)sizeof lk || ss_mkdirs_for(path) != 0) {
		snprintf(err, errn, "%s: cannot make its directory: %s", path, strerror(errno));
		return -1;
	}
	int fd = open(lk, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0 || fstat(fd, &st) != 0 || !owned_ok(&st)) {
		snprintf(err, errn, "%s: cannot use the lock file", lk);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while (flock(fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			snprintf(err, errn, "%s: flock: %s", lk, strerror(errno));
			close(fd);
			return -1;
		}
	return fd;
}

/* Replace path by text + extra (either may be empty), atomically. */
static ss_status replace(const char *path, const char *text, size_t len, const char *extra,
                         char *err, size_t errn)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errn, "%s: %s", tmp, strerror(errno));
		return SS_NO_CREDENTIALS;
	}
	size_t elen = strlen(extra);
	int sep = len && text[len - 1] != '\n' && elen;
	int ok = ss_write_all(fd, text, len) && ss_write_all(fd, "\n", (size_t)sep) && ss_write_all(fd, extra, elen);
	if (!ok || fsync(fd) != 0) {
		snprintf(err, errn, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return SS_NO_CREDENTIALS;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		snprintf(err, errn, "%s: rename: %s", path, strerror(errno));
		unlink(tmp);
		return SS_NO_CREDENTIALS;
	}
	return SS_OK;
}

ss_status ss_peers_pin(const char *path, const ss_peer *e, ss_pin *result, ss_peer *existing,
                       char *err, size_t errn)
{
	ss_peers *cur = NULL;
	const ss_peer *hit = NULL;
	char *text = NULL, line[SS_PEERS_NAMES_MAX + 128];
	size_t len = 0;
	int lk = lock_file(path, err, errn);
	ss_status st;

	if (lk < 0)
		return SS_NO_CREDENTIALS;
	st = load_text(path, &cur, &text, &len, err, errn);
	if (st != SS_OK)
		goto out;
	/* Another process may have pinned this peer since we looked. */
	*result = ss_peers_check(cur, e->addr, e->port, e->fp, &hit);
	if (*result != SS_PIN_UNKNOWN) {
		if (existing)
			*existing = *hit;
		goto out;
	}
	if (ss_peer_format(e, line, sizeof line) == 0) {
		snprintf(err, errn, "%s: entry too long", path);
		st = SS_BUFFER_TOO_SMALL;
		goto out;
	}
	st = replace(path, text ? text : "", len, line, err, errn);
	if (st == SS_OK)
		*result = SS_PIN_ADDED;
out:
	ss_peers_free(cur);
	free(text);
	close(lk);
	return st;
}

ss_status ss_peers_remove(const char *path, const ss_peer *e, int *removed, char *err, size_t errn)
{
	ss_peers *cur = NULL;
	char *text = NULL;
	size_t len = 0;
	int lk = lock_file(path, err, errn);
	ss_status st;

	*removed = 0;
	if (lk < 0)
		return SS_NO_CREDENTIALS;
	st = load_text(path, &cur, &text, &len, err, errn);
	if (st != SS_OK || !text)
		goto out;
	/* Keep every line (comments included) but the one removed. */
	char *keep = malloc(len + 1);
	size_t k = 0;
	int num = 0, drop = 0;
	for (size_t i = 0; i < ss_peers_count(cur); i++) {
		const ss_peer *x = ss_peers_at(cur, i);
		if (x->prefix == e->prefix && x->port == e->port && !memcmp(x->addr, e->addr, 16))
			drop = x->line;
	}
	if (!keep || !drop) {
		free(keep);
		goto out;
	}
	for (size_t i = 0; i < len;) {
		size_t j = i;
		while (j < len && text[j] != '\n')
			j++;
		if (++num != drop) {
			memcpy(keep + k, text + i, j - i + (j < len));
			k += j - i + (j < len);
		}
		i = j + 1;
	}
	st = replace(path, keep, k, "", err, errn);
	free(keep);
	if (st == SS_OK)
		*removed = 1;
out:
	ss_peers_free(cur);
	free(text);
	close(lk);
	return st;
}

int ss_peers_default_path(char *out, size_t n)
{
	const char *x = secure_getenv("XDG_CONFIG_HOME"), *home = secure_getenv("HOME");
	struct passwd *pw;
	int w;

	if (x && x[0] == '/')
		w = snprintf(out, n, "%s/secsock/known_peers", x);
	else if (home && home[0] == '/')
		w = snprintf(out, n, "%s/.config/secsock/known_peers", home);
	else if ((pw = getpwuid(geteuid())) != NULL && pw->pw_dir && pw->pw_dir[0] == '/')
		w = snprintf(out, n, "%s/.config/secsock/known_peers", pw->pw_dir);
	else
		return -1;
	return w > 0 && (size_t)w < n ? 0 : -1;
}

int ss_hostkey_default_path(char *out, size_t n)
{
	char peers[PATH_MAX];
	if (ss_peers_default_path(peers, sizeof peers) != 0)
		return -1;
	char *slash = strrchr(peers, '/');
	*slash = '\0';
	int w = snprintf(out, n, "%s/host.key", peers);
	return w > 0 && (size_t)w < n ? 0 : -1;
}
