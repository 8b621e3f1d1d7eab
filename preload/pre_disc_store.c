/* pre_disc_store.c — discovery verdicts shared by the user's processes
 * (pre_disc_store.h).
 *
 * The directory is checked on every use, through the descriptor the entry
 * is opened from (open O_DIRECTORY|O_NOFOLLOW, then fstat: ours, 0700 or
 * stricter), so a directory swapped after the first look is refused too;
 * nothing is kept open (a program's closefrom or dup2 could take it).
 * Entries are written to a temporary name and renamed, so a reader sees a
 * whole entry or none.  The entry parser stands alone (PRE_DISC_PARSE_ONLY)
 * for the fuzz target.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "pre_disc_store.h"

static const char MAGIC[] = "secsock-discovery 1 ";

int pre_disc_entry_parse(const char *buf, size_t len, int *kind, int64_t *expires_ms)
{
	size_t m = sizeof MAGIC - 1, i, digits = 0;
	uint64_t v = 0;

	if (!buf || len > PRE_DISC_ENTRY_MAX || len < m || memcmp(buf, MAGIC, m) != 0)
		return -1;
	i = m;
	if (len - i >= 6 && !memcmp(buf + i, "clear ", 6)) {
		*kind = PRE_DISC_KIND_CLEAR;
		i += 6;
	} else if (len - i >= 8 && !memcmp(buf + i, "secsock ", 8)) {
		*kind = PRE_DISC_KIND_SECSOCK;
		i += 8;
	} else {
		return -1;
	}
	for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
		if (++digits > 18)
			return -1;   /* keeps v far below INT64_MAX */
		v = v * 10 + (uint64_t)(buf[i] - '0');
	}
	if (digits == 0 || (digits > 1 && buf[m + (*kind ? 8 : 6)] == '0'))
		return -1;
	if (i + 1 != len || buf[i] != '\n')
		return -1;
	*expires_ms = (int64_t)v;
	return 0;
}

int pre_disc_entry_format(char *buf, size_t n, int kind, int64_t expires_ms)
{
	int r;

	if (expires_ms < 0)
		expires_ms = 0;
	r = snprintf(buf, n, "%s%s %lld\n", MAGIC, kind == PRE_DISC_KIND_SECSOCK ? "secsock" : "clear",
	             (long long)expires_ms);
	return r < 0 || (size_t)r >= n || r > PRE_DISC_ENTRY_MAX ? -1 : r;
}

#ifndef PRE_DISC_PARSE_ONLY

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "pre_log.h"
#include "pre_sym.h"

static char dir_path[256];
static int dir_ok, dir_xdg;
static pthread_once_t dir_once = PTHREAD_ONCE_INIT;
static atomic_long tmp_seq;

int64_t pre_disc_real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pre_disc_private_dir(const struct stat *st)
{
	return S_ISDIR(st->st_mode) && st->st_uid == geteuid() && (st->st_mode & 077) == 0;
}

static void dir_init(void)
{
	const char *x = secure_getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int n;

	if (x && x[0] == '/' && lstat(x, &st) == 0 && pre_disc_private_dir(&st)) {
		n = snprintf(dir_path, sizeof dir_path, "%s/secsock", x);
		dir_xdg = 1;
	} else
		n = snprintf(dir_path, sizeof dir_path, "/tmp/secsock-%lu", (unsigned long)geteuid());
	if (n < 0 || (size_t)n >= sizeof dir_path)
		return;
	if (mkdir(dir_path, 0700) < 0 && errno != EEXIST) {
		pre_log(PRE_LOG_INFO, "discovery store %s: %s; verdicts stay per process", dir_path,
		        strerror(errno));
		return;
	}
	if (lstat(dir_path, &st) < 0 || !pre_disc_private_dir(&st)) {
		pre_log(PRE_LOG_WARN, "discovery store %s refused: not a directory of uid %lu with mode 0700; "
		        "verdicts stay per process", dir_path, (unsigned long)geteuid());
		return;
	}
	dir_ok = 1;
}

int pre_disc_store_dir_open(int xdg_only)
{
	struct stat st;
	int d, e = errno;

	pthread_once(&dir_once, dir_init);
	if (!dir_ok || (xdg_only && !dir_xdg))
		return -1;
	d = REAL(open)[0](dir_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d < 0) {
		errno = e;
		return -1;
	}
	if (fstat(d, &st) < 0 || !pre_disc_private_dir(&st)) {
		REAL(close)(d);
		errno = e;
		return -1;
	}
	return d;
}

static int name_ok(const char *name)
{
	size_t i;
	for (i = 0; name[i]; i++)
		if (i >= 64 || !((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')))
			return 0;
	return i > 0;
}

int pre_disc_store_get(const char *name, int kind, int64_t *expires_ms)
{
	char buf[PRE_DISC_ENTRY_MAX + 1];
	struct stat st;
	int d, f, k, e = errno, ok = 0, bad = 0;
	ssize_t n = -1;
	int64_t exp, now;

	if (!name_ok(name) || (d = pre_disc_store_dir_open(0)) < 0)
		return 0;
	f = REAL(openat)[0](d, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (f >= 0) {
		if (fstat(f, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
		    st.st_nlink == 1 && st.st_size <= PRE_DISC_ENTRY_MAX)
			n = REAL(read)(f, buf, sizeof buf);
		REAL(close)(f);
		now = pre_disc_real_ms();
		if (n < 0 || pre_disc_entry_parse(buf, (size_t)n, &k, &exp) < 0 || k != kind ||
		    exp - now > PRE_DISC_STORE_MAX_TTL_MS)
			bad = 1;   /* not ours to trust: removed, as an expired one is */
		else if (exp > now)
			ok = 1;
		if (!ok)
			unlinkat(d, name, 0);
		if (bad)
			pre_log(PRE_LOG_DEBUG, "discovery store: entry %s ignored (not a valid entry)", name);
	}
	REAL(close)(d);
	errno = e;
	if (ok)
		*expires_ms = exp;
	return ok;
}

void pre_disc_store_put(const char *name, int kind, int64_t expires_ms)
{
	char buf[PRE_DISC_ENTRY_MAX + 1], tmp[96];
	int d, f, n, e = errno;

	if (!name_ok(name) || (n = pre_disc_entry_format(buf, sizeof buf, kind, expires_ms)) < 0 ||
	    (d = pre_disc_store_dir_open(0)) < 0)
		return;
	snprintf(tmp, sizeof tmp, "tmp.%ld.%ld", (long)getpid(), (long)atomic_fetch_add(&tmp_seq, 1));
	f = REAL(openat)[0](d, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (f >= 0) {
		int w = REAL(write)(f, buf, (size_t)n) == n;
		REAL(close)(f);
		if (!w || renameat(d, tmp, d, name) < 0)
			unlinkat(d, tmp, 0);
	}
	REAL(close)(d);
	errno = e;
}

void pre_disc_store_del(const char *name)
{
	int d, e = errno;

	if (!name_ok(name) || (d = pre_disc_store_dir_open(0)) < 0)
		return;
	unlinkat(d, name, 0);
	REAL(close)(d);
	errno = e;
}

#endif
