/* test_file.c — loading files: permissions, ownership, I/O refusals, and the
 * process-wide policy ($SECSOCK_POLICY). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "helpers.h"

static char dir[64];

static void mkdir_tmp(void)
{
	snprintf(dir, sizeof dir, "/tmp/poltest.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(chmod(dir, 0755), 0);
}

static void rm_tmp(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

static const char good[] = "[rule ssh]\nport = 22\naction = bypass\n";

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	cr_assert_eq(chmod(path, mode), 0);
}

/* Expect a refusal whose single message starts with path and says words. */
static void expect_refused(const char *path, const char *words)
{
	pol_diags d;
	pol_policy *p = pol_load_file(path, &d);
	cr_expect_null(p, "%s must be refused", path);
	pol_free(p);
	cr_assert_eq(d.errors, 1, "%s: %d errors", path, d.errors);
	cr_expect(strncmp(d.items[0].msg, path, strlen(path)) == 0, "%s", d.items[0].msg);
	cr_expect(strstr(d.items[0].msg, words) != NULL, "'%s' should say '%s'", d.items[0].msg, words);
}

TestSuite(file, .init = mkdir_tmp, .fini = rm_tmp);

Test(file, good_file_loads)
{
	char path[128];
	snprintf(path, sizeof path, "%s/policy.conf", dir);
	write_file(path, good, 0644);
	pol_diags d;
	pol_policy *p = pol_load_file(path, &d);
	cr_assert_not_null(p, "%s", d.count ? d.items[0].msg : "");
	cr_expect_str_eq(q_rule(p, POL_DIR_OUTBOUND, "192.0.2.1", 22, NULL), "ssh");
	pol_free(p);
}

Test(file, messages_name_the_file)
{
	char path[128];
	snprintf(path, sizeof path, "%s/bad.conf", dir);
	write_file(path, "[rule x]\nport = 22\naction = maybe\n", 0600);
	pol_diags d;
	cr_assert_null(pol_load_file(path, &d));
	char want[160];
	snprintf(want, sizeof want, "%s:3: bad value for 'action'", path);
	cr_expect(strstr(d.items[0].msg, want) == d.items[0].msg, "%s", d.items[0].msg);
}

Test(file, missing_and_not_openable)
{
	char path[128];
	snprintf(path, sizeof path, "%s/none.conf", dir);
	expect_refused(path, "cannot open: No such file or directory");
	snprintf(path, sizeof path, "%s/none.conf/x", dir);
	expect_refused(path, "cannot open");
	expect_refused(dir, "not a regular file");
	pol_diags d;
	cr_expect_null(pol_load_file(NULL, &d));
	cr_expect_eq(d.errors, 1);
}

Test(file, world_or_group_writable_file)
{
	char path[128];
	snprintf(path, sizeof path, "%s/ww.conf", dir);
	write_file(path, good, 0666);
	expect_refused(path, "the file is writable by everyone");
	write_file(path, good, 0664);
	expect_refused(path, "the file is writable by its group");
}

Test(file, writable_directory)
{
	char path[128];
	snprintf(path, sizeof path, "%s/p.conf", dir);
	write_file(path, good, 0644);
	char want[160];
	cr_assert_eq(chmod(dir, 0777), 0);
	snprintf(want, sizeof want, "its directory %s is writable by everyone", dir);
	expect_refused(path, want);
	cr_assert_eq(chmod(dir, 01777), 0);   /* sticky (like /tmp) is still refused */
	expect_refused(path, want);
	cr_assert_eq(chmod(dir, 0775), 0);
	snprintf(want, sizeof want, "its directory %s is writable by its group", dir);
	expect_refused(path, want);
}

/* A symlink is judged by the file and directory it leads to. */
Test(file, symlink_to_unsafe_directory)
{
	char sub[128], target[160], link[128];
	snprintf(sub, sizeof sub, "%s/open", dir);
	cr_assert_eq(mkdir(sub, 0777), 0);
	cr_assert_eq(chmod(sub, 0777), 0);
	snprintf(target, sizeof target, "%s/p.conf", sub);
	write_file(target, good, 0644);
	snprintf(link, sizeof link, "%s/link.conf", dir);
	cr_assert_eq(symlink(target, link), 0);
	char want[200];
	snprintf(want, sizeof want, "its directory %s is writable by everyone", sub);
	expect_refused(link, want);
}

Test(file, owned_by_another_user)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to chown");
	char path[128];
	snprintf(path, sizeof path, "%s/other.conf", dir);
	write_file(path, good, 0644);
	cr_assert_eq(chown(path, 65534, 65534), 0);
	expect_refused(path, "the file is owned by uid 65534");
	cr_assert_eq(chown(path, 0, 0), 0);
	cr_assert_eq(chown(dir, 65534, 65534), 0);
	char want[160];
	snprintf(want, sizeof want, "its directory %s is owned by uid 65534", dir);
	expect_refused(path, want);
}

/* Run as nobody: a root-owned 0600 file cannot be read; a root-owned 0644
 * file in a root-owned directory is accepted (root may own it). */
Test(file, unreadable_and_root_owned)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to switch users");
	char secret[128], shared[128];
	snprintf(secret, sizeof secret, "%s/secret.conf", dir);
	snprintf(shared, sizeof shared, "%s/shared.conf", dir);
	write_file(secret, good, 0600);
	write_file(shared, good, 0644);
	cr_assert_eq(seteuid(65534), 0);
	expect_refused(secret, "cannot open: Permission denied");
	pol_diags d;
	pol_policy *p = pol_load_file(shared, &d);
	cr_expect_not_null(p, "%s", d.count ? d.items[0].msg : "");
	pol_free(p);
	cr_assert_eq(seteuid(0), 0);
}

Test(file, nul_byte_and_size)
{
	char path[128];
	snprintf(path, sizeof path, "%s/bin.conf", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fwrite("[defaults]\n\0x = 1\n", 1, 18, f);
	fclose(f);
	chmod(path, 0644);
	expect_refused(path, "NUL byte");
	snprintf(path, sizeof path, "%s/big.conf", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	for (int i = 0; i < 120000; i++)
		fputs("# padding\n", f);
	fclose(f);
	chmod(path, 0644);
	expect_refused(path, "larger than");
}

Test(file, process_policy_from_env)
{
	char path[128];
	snprintf(path, sizeof path, "%s/env.conf", dir);
	write_file(path, "[defaults]\naction = require\n", 0644);
	setenv("SECSOCK_POLICY", path, 1);
	const pol_diags *d;
	const char *src;
	const pol_policy *p = pol_process_policy(&d, &src);
	cr_assert_not_null(p);
	cr_expect_str_eq(src, path);
	cr_expect_eq(d->errors, 0);
	pol_query q = q_make(POL_DIR_OUTBOUND, "192.0.2.1", 80, NULL);
	pol_decision dec;
	pol_decide(p, &q, &dec);
	cr_expect_eq(dec.action, POL_REQUIRE);
	/* compiled once: later calls give the same object even if the env changes */
	setenv("SECSOCK_POLICY", "/nonexistent", 1);
	cr_expect_eq(pol_process_policy(NULL, NULL), p);
}

Test(file, process_policy_fails_closed)
{
	setenv("SECSOCK_POLICY", "/nonexistent/policy.conf", 1);
	const pol_diags *d;
	const char *src;
	cr_expect_null(pol_process_policy(&d, &src));
	cr_expect_str_eq(src, "/nonexistent/policy.conf");
	cr_assert_eq(d->errors, 1);
	cr_expect(strstr(d->items[0].msg, "/nonexistent/policy.conf: cannot open") != NULL);
}

Test(file, process_policy_default)
{
	struct stat st;
	if (lstat("/etc/secsock/policy.conf", &st) == 0)
		cr_skip_test("this host has /etc/secsock/policy.conf");
	unsetenv("SECSOCK_POLICY");
	const char *src;
	cr_expect_eq(pol_process_policy(NULL, &src), pol_default());
	cr_expect_str_eq(src, "built-in default");
}

Test(file, process_policy_empty_env_is_unset)
{
	struct stat st;
	if (lstat("/etc/secsock/policy.conf", &st) == 0)
		cr_skip_test("this host has /etc/secsock/policy.conf");
	setenv("SECSOCK_POLICY", "", 1);
	cr_expect_eq(pol_process_policy(NULL, NULL), pol_default());
}
