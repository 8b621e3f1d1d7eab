/* test_peers.c — fingerprints and the known-peers file (core/base/ss_peers*.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "ss_peers.h"

#define FP_A "SHA256:eyQ+DO28nVHL8fAOrR3zOj3E1Xjjs3bRjIgy8RIF/mU"
#define FP_B "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"

static ss_peers *parse_ok(const char *text)
{
	ss_peers *p = NULL;
	char err[200];
	ss_status st = ss_peers_parse(text, strlen(text), &p, err, sizeof err);
	cr_assert_eq(st, SS_OK, "refused: %s", err);
	return p;
}

static uint8_t *addr(const char *s)
{
	static uint8_t a[16];
	cr_assert_eq(ss_peers_addr(s, a), 0);
	return a;
}

/* RFC 8032 §7.1 test 1 public key; its SHA-256 in base64 is what OpenSSH
 * would print for the same raw key hash. */
Test(peers, fingerprint_format)
{
	static const uint8_t pub[32] = {
		0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
		0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
	};
	char fp[SS_FP_LEN];
	ss_fingerprint(pub, fp);
	cr_expect_eq(strlen(fp), 50);
	cr_expect(strncmp(fp, "SHA256:", 7) == 0);
	cr_expect(ss_fingerprint_valid(fp));
	cr_expect(!ss_fingerprint_valid("SHA256:short"));
	cr_expect(!ss_fingerprint_valid("MD5:eyQ+DO28nVHL8fAOrR3zOj3E1Xjjs3bRjIgy8RIF/mU"));
	cr_expect(!ss_fingerprint_valid("SHA256:eyQ+DO28nVHL8fAOrR3zOj3E1Xjjs3bRjIgy8RIF/m!"));
}

Test(peers, most_specific_line_wins)
{
	ss_peers *p = parse_ok("# c\n10.0.0.0/8 " FP_A "\n10.1.2.3 " FP_B "\n10.1.2.3 port=22 " FP_A "\n"
	                       "2001:db8::/32 names=*.example " FP_B "\n");
	const ss_peer *e;
	cr_expect_eq(ss_peers_count(p), 4);
	cr_expect_eq(ss_peers_check(p, addr("10.9.9.9"), 80, FP_A, &e), SS_PIN_MATCH);
	cr_expect_eq(e->line, 2);
	cr_expect_eq(ss_peers_check(p, addr("10.1.2.3"), 80, FP_A, &e), SS_PIN_MISMATCH);
	cr_expect_eq(e->line, 3);
	cr_expect_eq(ss_peers_check(p, addr("10.1.2.3"), 22, FP_A, &e), SS_PIN_MATCH);
	cr_expect_eq(e->line, 4);
	cr_expect_eq(ss_peers_check(p, addr("::ffff:10.1.2.3"), 80, FP_B, NULL), SS_PIN_MATCH);
	cr_expect_eq(ss_peers_check(p, addr("11.0.0.1"), 80, FP_A, &e), SS_PIN_UNKNOWN);
	cr_expect_null(e);
	cr_expect_eq(ss_peers_check(p, addr("2001:db8::5"), 1, FP_B, &e), SS_PIN_MATCH);
	cr_expect(ss_peer_has_name(e, "db.EXAMPLE"));
	cr_expect(!ss_peer_has_name(e, "example"));
	ss_peers_free(p);
}

/* names=: a label that is exactly '*' matches one label (RFC 6125 §6.4.3),
 * case-insensitive; the number of labels must match; '*' inside a label is
 * a literal character, as in certificate names (ss_name_matches). */
Test(peers, names_glob_one_label)
{
	ss_peers *p = parse_ok("10.0.0.1 names=srv.test,*.srv.test,db-*.x,*.*.deep " FP_A "\n10.0.0.2 " FP_A "\n");
	const ss_peer *e = ss_peers_at(p, 0);
	static const char *const yes[] = { "srv.test", "SRV.Test", "db.srv.test", "srv.test.", "db-*.x", "a.b.deep" };
	static const char *const no[] = { "a.db.srv.test", "test", "srv.test.evil", "xsrv.test", "db-1.x", "db.x", "", ".srv.test", "a.deep" };
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
		cr_expect(ss_peer_has_name(e, yes[i]), "%s", yes[i]);
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		cr_expect(!ss_peer_has_name(e, no[i]), "%s", no[i]);
	cr_expect(!ss_peer_has_name(ss_peers_at(p, 1), "srv.test"), "a line without names= binds none");
	cr_expect(!ss_peer_has_name(NULL, "srv.test"));
	ss_peers_free(p);
}

Test(peers, bad_lines_refused_with_line_number)
{
	static const struct { const char *text, *why; } bad[] = {
		{ "10.0.0.1\n", "needs an address and a fingerprint" },
		{ "10.0.0.1 SHA256:nope\n", "fingerprint" },
		{ "10.0.0.256 " FP_A "\n", "not an IPv4 or IPv6 address" },
		{ "10.0.0.1/33 " FP_A "\n", "above 32" },
		{ "10.0.0.1/8 " FP_A "\n", "beyond the prefix" },
		{ "::1/129 " FP_A "\n", "above 128" },
		{ "10.0.0.1 port=0 " FP_A "\n", "port=" },
		{ "10.0.0.1 port=70000 " FP_A "\n", "port=" },
		{ "10.0.0.1 port=22 port=23 " FP_A "\n", "repeated" },
		{ "10.0.0.1 names=a,,b " FP_A "\n", "empty name" },
		{ "10.0.0.1 names=a;b " FP_A "\n", "host names" },
		{ "10.0.0.1 colour=red " FP_A "\n", "unknown" },
		{ "10.0.0.1 a b c d " FP_A "\n", "too many fields" },
		{ "\n# ok\n10.0.0.1 " FP_A "\n10.0.0.1 " FP_B "\n", "same address and port as line 3" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ss_peers *p = NULL;
		char err[200];
		cr_expect_eq(ss_peers_parse(bad[i].text, strlen(bad[i].text), &p, err, sizeof err), SS_DECODE_ERROR,
		             "accepted: %s", bad[i].text);
		cr_expect_null(p);
		cr_expect(strstr(err, bad[i].why) != NULL, "'%s': got '%s'", bad[i].text, err);
		cr_expect(strncmp(err, "line ", 5) == 0);
	}
	char nul[] = "10.0.0.1 " FP_A "\n\0\n";
	ss_peers *p = NULL;
	char err[200];
	cr_expect_eq(ss_peers_parse(nul, sizeof nul - 1, &p, err, sizeof err), SS_DECODE_ERROR);
	char *longl = malloc(3000);
	memset(longl, 'a', 2999);
	longl[2999] = '\0';
	cr_expect_eq(ss_peers_parse(longl, 2999, &p, err, sizeof err), SS_DECODE_ERROR);
	cr_expect(strstr(err, "too long") != NULL);
	free(longl);
}

Test(peers, format_round_trip)
{
	ss_peers *p = parse_ok("10.0.0.0/8 port=5432 names=db1,*.db " FP_A "\n::1 " FP_B "\n192.0.2.7 " FP_A "\n");
	char text[1024] = "";
	size_t used = 0;
	for (size_t i = 0; i < ss_peers_count(p); i++)
		used += ss_peer_format(ss_peers_at(p, i), text + used, sizeof text - used);
	cr_expect_str_eq(text, "10.0.0.0/8 port=5432 names=db1,*.db " FP_A "\n::1 " FP_B "\n192.0.2.7 " FP_A "\n");
	ss_peers_free(p);
}

static void tmpfile_path(char *out, size_t n)
{
	char d[] = "/tmp/secsock-peers.XXXXXX";
	cr_assert_not_null(mkdtemp(d));
	snprintf(out, n, "%s/sub/known_peers", d);
}

Test(peers, pin_then_mismatch_then_remove)
{
	char path[256], err[512];
	ss_peer e, old;
	ss_pin r;
	ss_peers *one = parse_ok("127.0.0.1 port=7000 " FP_A "\n");
	e = *ss_peers_at(one, 0);
	ss_peers_free(one);
	tmpfile_path(path, sizeof path);
	cr_assert_eq(ss_peers_pin(path, &e, &r, &old, err, sizeof err), SS_OK, "%s", err);
	cr_expect_eq(r, SS_PIN_ADDED);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0600);
	cr_expect_eq(ss_peers_pin(path, &e, &r, &old, err, sizeof err), SS_OK);
	cr_expect_eq(r, SS_PIN_MATCH, "the same key again: accepted, not added twice");
	memcpy(e.fp, FP_B, sizeof FP_B);
	cr_expect_eq(ss_peers_pin(path, &e, &r, &old, err, sizeof err), SS_OK);
	cr_expect_eq(r, SS_PIN_MISMATCH);
	cr_expect_str_eq(old.fp, FP_A);
	ss_peers *p = NULL;
	cr_assert_eq(ss_peers_load(path, &p, err, sizeof err), SS_OK);
	cr_expect_eq(ss_peers_count(p), 1);
	ss_peers_free(p);
	int removed = 0;
	cr_expect_eq(ss_peers_remove(path, &e, &removed, err, sizeof err), SS_OK);
	cr_expect_eq(removed, 1);
	cr_assert_eq(ss_peers_load(path, &p, err, sizeof err), SS_OK);
	cr_expect_eq(ss_peers_count(p), 0);
	ss_peers_free(p);
}

/* 50 processes pin the same peer at once: the file stays valid with one line. */
Test(peers, concurrent_first_contacts_leave_one_line)
{
	char path[256], err[512];
	tmpfile_path(path, sizeof path);
	for (int i = 0; i < 50; i++) {
		pid_t pid = fork();
		cr_assert_neq(pid, -1);
		if (pid == 0) {
			ss_peers *one = NULL;
			const char *t = "10.0.0.9 port=9 " FP_A "\n";
			ss_pin r;
			if (ss_peers_parse(t, strlen(t), &one, err, sizeof err) != SS_OK)
				_exit(3);
			ss_status st = ss_peers_pin(path, ss_peers_at(one, 0), &r, NULL, err, sizeof err);
			_exit(st != SS_OK ? 1 : r == SS_PIN_ADDED ? 10 : r == SS_PIN_MATCH ? 0 : 1);
		}
	}
	int bad = 0, added = 0, status;
	while (wait(&status) > 0) {
		added += WIFEXITED(status) && WEXITSTATUS(status) == 10;
		bad += !WIFEXITED(status) || (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 10);
	}
	cr_expect_eq(bad, 0);
	cr_expect_eq(added, 1, "exactly one process wrote the pin (the others found it)");
	ss_peers *p = NULL;
	cr_assert_eq(ss_peers_load(path, &p, err, sizeof err), SS_OK, "%s", err);
	cr_expect_eq(ss_peers_count(p), 1);
	ss_peers_free(p);
}

Test(peers, refuses_links_and_foreign_files)
{
	char path[256], err[512], link[300];
	ss_peers *p = NULL;
	tmpfile_path(path, sizeof path);
	cr_expect_eq(ss_peers_load(path, &p, err, sizeof err), SS_OK, "a missing file is an empty list");
	cr_expect_eq(ss_peers_count(p), 0);
	ss_peers_free(p);
	snprintf(link, sizeof link, "%s.link", path);
	char *slash = strrchr(path, '/');
	*slash = '\0';
	mkdir(path, 0700);
	*slash = '/';
	FILE *f = fopen(path, "w");
	fputs("127.0.0.1 " FP_A "\n", f);
	fclose(f);
	chmod(path, 0666);
	cr_expect_eq(ss_peers_load(path, &p, err, sizeof err), SS_NO_CREDENTIALS, "a file others can write");
	chmod(path, 0600);
	cr_assert_eq(symlink(path, link), 0);
	cr_expect_eq(ss_peers_load(link, &p, err, sizeof err), SS_NO_CREDENTIALS, "a symbolic link");
	cr_expect(strstr(err, "symbolic link") != NULL);
}
