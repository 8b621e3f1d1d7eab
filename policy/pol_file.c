/* pol_file.c — a policy file from disk, read safely; compiled by pol_compile.
 *
 * A policy anyone else can write is no policy: the file and the directory
 * that really holds it (after symlinks) must not be writable by anyone but
 * their owner and root, and be owned by root or the user loading it
 * (ARCHITECTURE.md "Policy").
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pol_internal.h"

/* The ownership rule (ARCHITECTURE.md "Policy"): neither the file nor the
 * directory holding it may be writable by anyone but its owner and root —
 * no group/other write bit, and the owner is root or the user loading it.
 * Otherwise another user could change what gets secured. */
static bool safe_owner(const struct stat *st, const char *path, const char *what, pol_diags *d)
{
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		pol_diag_add(d, false, "%s: refused: %s is writable by %s (chmod go-w)", path, what,
		             (st->st_mode & S_IWOTH) ? "everyone" : "its group");
		return false;
	}
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		pol_diag_add(d, false, "%s: refused: %s is owned by uid %u, not root or uid %u",
		             path, what, (unsigned)st->st_uid, (unsigned)geteuid());
		return false;
	}
	return true;
}

enum { POLICY_FILE_MAX = 1 << 20 };   /* 1 MiB: far above any real policy */

/* The text of the file at path, NUL-terminated (malloc'd), or NULL with the
 * reason in d: a regular text file of at most POLICY_FILE_MAX bytes that
 * passes the ownership rule, and so does the directory that really holds it. */
static char *read_policy_file(const char *path, pol_diags *d)
{
	char *text = NULL;
	char real[PATH_MAX];
	int fd = -1;

	if (path == NULL || path[0] == '\0') {
		pol_diag_add(d, false, "(policy): no file name given");
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		pol_diag_add(d, false, "%s: cannot open: %s", path, strerror(errno));
		goto out;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		pol_diag_add(d, false, "%s: cannot stat: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		pol_diag_add(d, false, "%s: refused: not a regular file", path);
		goto out;
	}
	if (!safe_owner(&st, path, "the file", d))
		goto out;
	/* the directory that really holds it (after symlinks) */
	if (realpath(path, real) == NULL) {
		pol_diag_add(d, false, "%s: cannot resolve path: %s", path, strerror(errno));
		goto out;
	}
	struct stat dst;
	char *dir = dirname(real);
	if (stat(dir, &dst) != 0) {
		pol_diag_add(d, false, "%s: cannot stat directory %s: %s", path, dir, strerror(errno));
		goto out;
	}
	char what[PATH_MAX + 32];
	snprintf(what, sizeof what, "its directory %s", dir);
	if (!safe_owner(&dst, path, what, d))
		goto out;
	if (st.st_size > POLICY_FILE_MAX) {
		pol_diag_add(d, false, "%s: refused: larger than %d bytes", path, POLICY_FILE_MAX);
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL) {
		pol_diag_add(d, false, "%s: out of memory", path);
		goto out;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, text + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			pol_diag_add(d, false, "%s: cannot read: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	text[got] = '\0';
	if (memchr(text, '\0', got) != NULL) {
		pol_diag_add(d, false, "%s: refused: contains a NUL byte (not a text file)", path);
		goto out;
	}
	close(fd);
	return text;
out:
	if (fd >= 0)
		close(fd);
	free(text);
	return NULL;
}

pol_policy *pol_load_file(const char *path, pol_diags *diags)
{
	pol_diags local;
	pol_diags *d = diags ? diags : &local;
	memset(d, 0, sizeof *d);
	char *text = read_policy_file(path, d);
	if (text == NULL)
		return NULL;
	pol_policy *p = pol_compile(text, path, d);
	free(text);
	return p;
}
