/* test_group_kds.c — auth = group:NAME with the KDS key source
 * (core/ss_group.h ss_group_new_kds), time walked by argument.  The fetch
 * is a KDS in this file: it parses the request frame, answers as MS-GKDI
 * 3.1.4.1 says from a root key (ss_gkdi_get_key at its own clock) in a
 * 2.2.4 envelope, or is "down".  What is shown:
 *   - a client and a server that each ask the KDS agree on identity and PSK,
 *     and ask once per period (then from the 3.2.4.1 cache);
 *   - the KDS down: both fall back to the cached current key up to 32 L2
 *     periods, never 33; a server that can reach the KDS refuses the stale
 *     key; a down KDS is not asked again for SS_GROUP_KDS_RETRY seconds;
 *   - a KDS refusal (not a member) is a refusal, with no fallback;
 *   - the cache file carries the keys to a new process (no request).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ss_group.h"
#include "ss_kds_proto.h"

enum { PERIOD = 36000 };   /* an L2 period, seconds */

static struct {
	int down, refuse, calls;
	pid_t parent;          /* slow_fetch blocks in this process only */
	int64_t now;           /* the KDS's clock, unix seconds */
	uint8_t key[SS_GKDI_KEY_LEN];
	ss_gkdi_root root;
} kds;

static int fetch(const char *src, const uint8_t *req, size_t req_len, uint8_t *ans, size_t cap, size_t *ans_len)
{
	ss_kds_req r;
	ss_gkdi_answer a;
	ss_gkdi_env env;
	uint8_t scratch[SS_GKDI_SCRATCH], envb[SS_GKDI_ENV_MAX];
	size_t el = 0;
	uint64_t nt = ss_group_nttime(kds.now);

	cr_assert_str_eq(src, "kds-list");
	kds.calls++;
	if (kds.down)
		return -1;
	cr_assert_eq(ss_kds_req_parse(req, req_len, &r, NULL, 0), SS_OK);
	cr_assert_str_eq(r.group, "db");
	if (kds.refuse)
		return ss_kds_answer_encode(SS_KDS_NOT_MEMBER, NULL, 0, ans, cap, ans_len) == SS_OK ? 0 : -1;
	if (r.has_rkid && memcmp(r.rkid.b, kds.root.id.b, 16) != 0)
		return ss_kds_answer_encode(SS_KDS_UNKNOWN_ROOT_KEY, NULL, 0, ans, cap, ans_len) == SS_OK ? 0 : -1;
	if (ss_gkdi_get_key(&kds.root, SS_GROUP_SD_DEFAULT, sizeof SS_GROUP_SD_DEFAULT, r.has_rkid, r.gkid,
	                    ss_gkid_from_time(nt), &a) != SS_OK)
		return ss_kds_answer_encode(SS_KDS_TOO_NEW, NULL, 0, ans, cap, ans_len) == SS_OK ? 0 : -1;
	cr_assert_eq(ss_gkdi_env_from_answer(&a, &kds.root, "example.test", "example.test", &env, scratch,
	                                     sizeof scratch), SS_OK);
	cr_assert_eq(ss_gkdi_env_encode(&env, envb, sizeof envb, &el, NULL, 0), SS_OK);
	ss_gkdi_answer_clear(&a);
	return ss_kds_answer_encode(SS_KDS_OK, envb, el, ans, cap, ans_len) == SS_OK ? 0 : -1;
}

/* the middle of an L2 period, so +-300 s never crosses one */
static int64_t mid_period(void)
{
	int64_t t = 1780000000;
	return t - (t + 11644473600LL) % PERIOD + PERIOD / 2;
}

static void setup(void)
{
	memset(&kds, 0, sizeof kds);
	for (int i = 0; i < SS_GKDI_KEY_LEN; i++)
		kds.key[i] = (uint8_t)(i * 7 + 1);
	for (int i = 0; i < 16; i++)
		kds.root.id.b[i] = (uint8_t)(0xa0 + i);
	kds.root.hash = SS_GKDI_SHA512;
	kds.root.key = kds.key;
	kds.now = mid_period();
}

static ss_grp *member(const char *cache_file)
{
	ss_grp *g = NULL;
	cr_assert_eq(ss_group_new_kds("db", NULL, 0, fetch, "kds-list", cache_file, &g), SS_OK);
	return g;
}

struct offer {
	uint8_t id[SS_GROUP_ID_MAX], psk[SS_GROUP_PSK_LEN];
	size_t len;
	ss_gkid gkid;
};

static ss_status offer(ss_grp *g, int64_t now, struct offer *o)
{
	return ss_group_offer(g, now, o->id, sizeof o->id, &o->len, o->psk, &o->gkid);
}

/* the server's side of a handshake: accepted, and the same PSK */
static int server_takes(ss_grp *srv, int64_t now, const struct offer *o)
{
	uint8_t psk[SS_GROUP_PSK_LEN];
	return ss_group_accepts(srv, now, o->id, o->len, NULL) &&
	       ss_group_key(srv, now, o->id, o->len, psk) == SS_OK && memcmp(psk, o->psk, sizeof psk) == 0;
}

TestSuite(group_kds, .init = setup);

Test(group_kds, both_ends_from_the_kds_agree_and_ask_once_per_period)
{
	ss_grp *cli = member(NULL), *srv = member(NULL);
	struct offer o;
	ss_group_id id;
	int64_t t = kds.now;

	cr_assert_eq(offer(cli, t, &o), SS_OK);
	cr_assert_eq(ss_group_id_parse(o.id, o.len, &id), SS_OK);
	cr_assert_arr_eq(id.rkid.b, kds.root.id.b, 16, "the identity names the KDS's root key");
	cr_assert_eq(ss_gkid_cmp(o.gkid, ss_gkid_from_time(ss_group_nttime(t - SS_GROUP_SKEW))), 0);
	cr_assert(server_takes(srv, t, &o));
	cr_assert_eq(kds.calls, 2, "one request each");
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(offer(cli, t + i, &o), SS_OK);
		cr_assert(server_takes(srv, t + i, &o));
	}
	cr_assert_eq(kds.calls, 2, "then the cache answers");
	kds.now += PERIOD;
	cr_assert_eq(offer(cli, t + PERIOD, &o), SS_OK);
	cr_assert(server_takes(srv, t + PERIOD, &o));
	cr_assert_eq(kds.calls, 4, "a new period: one request each again");
	ss_group_free(cli);
	ss_group_free(srv);
}

Test(group_kds, outage_falls_back_32_periods_never_33)
{
	ss_grp *cli = member(NULL), *srv = member(NULL);
	struct offer o, first;
	int64_t t = kds.now;

	cr_assert_eq(offer(cli, t, &first), SS_OK);
	cr_assert(server_takes(srv, t, &first));
	kds.down = 1;
	for (int p = 2; p <= 32; p += 10) {
		int64_t later = t + (int64_t)p * PERIOD;
		cr_assert_eq(offer(cli, later, &o), SS_OK, "%d periods on", p);
		cr_assert_eq(ss_gkid_cmp(o.gkid, first.gkid), 0, "the cached current key");
		cr_assert(server_takes(srv, later, &o), "%d periods on: the server is in the same outage", p);
	}
	int calls = kds.calls;
	cr_assert_eq(offer(cli, t + 32 * PERIOD + 1, &o), SS_OK);
	cr_assert_eq(kds.calls, calls, "a down KDS is not asked again within SS_GROUP_KDS_RETRY");
	cr_assert_neq(offer(cli, t + 33 * PERIOD + 60, &o), SS_OK, "33 periods: refused");
	/* the KDS back: a server that reaches it refuses the stale key */
	kds.down = 0;
	kds.now = t + 5 * PERIOD;
	ss_grp *srv2 = member(NULL);
	cr_assert_not(ss_group_accepts(srv2, t + 5 * PERIOD, first.id, first.len, NULL));
	ss_group_free(srv2);
	ss_group_free(cli);
	ss_group_free(srv);
}

Test(group_kds, a_refusal_is_not_an_outage)
{
	ss_grp *cli = member(NULL);
	struct offer o;

	cr_assert_eq(offer(cli, kds.now, &o), SS_OK);
	kds.refuse = 1;
	cr_assert_eq(offer(cli, kds.now + 2 * PERIOD, &o), SS_LOGON_DENIED, "not a member: no fallback");
	ss_group_free(cli);
}

Test(group_kds, no_kds_and_no_cache_refuses)
{
	ss_grp *cli = member(NULL);
	struct offer o;

	kds.down = 1;
	cr_assert_eq(offer(cli, kds.now, &o), SS_NO_AUTHENTICATING_AUTHORITY);
	ss_group_free(cli);
}

Test(group_kds, the_cache_file_carries_keys_to_a_new_process)
{
	char dir[] = "/tmp/test_group_kds.XXXXXX", file[128];
	struct offer a, b;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(file, sizeof file, "%s/gkdi-db.cache", dir);
	ss_grp *one = member(file);
	cr_assert_eq(offer(one, kds.now, &a), SS_OK);
	ss_group_free(one);
	struct stat st;
	cr_assert_eq(stat(file, &st), 0, "saved after the answer");
	cr_assert_eq(st.st_mode & 0777, 0600);
	kds.down = 1;
	ss_grp *two = member(file);
	cr_assert_eq(offer(two, kds.now + 60, &b), SS_OK, "the KDS down: the file answers");
	cr_assert_eq(b.len, a.len);
	cr_assert_arr_eq(b.id, a.id, a.len);
	cr_assert_arr_eq(b.psk, a.psk, sizeof a.psk);
	ss_group_free(two);
	chmod(file, 0644);
	ss_grp *three = member(file);
	cr_assert_neq(offer(three, kds.now + 60, &b), SS_OK, "a file others can read is not loaded");
	ss_group_free(three);
	unlink(file);
	rmdir(dir);
}

/* A peer offering identities with made-up root keys: the server asks the
 * KDS once, then refuses such identities without asking for
 * SS_GROUP_KDS_RETRY seconds; members keep getting in. */
Test(group_kds, made_up_root_keys_cost_one_request)
{
	ss_grp *cli = member(NULL), *srv = member(NULL);
	struct offer o, bad;
	ss_group_id id;
	uint8_t psk[SS_GROUP_PSK_LEN];
	int64_t t = kds.now;

	cr_assert_eq(offer(cli, t, &o), SS_OK);
	cr_assert(server_takes(srv, t, &o));
	int calls = kds.calls;
	cr_assert_eq(ss_group_id_parse(o.id, o.len, &id), SS_OK);
	for (int i = 0; i < 5; i++) {
		id.rkid.b[0] ^= (uint8_t)(0x55 + i);
		cr_assert_eq(ss_group_id_encode(&id, bad.id, sizeof bad.id, &bad.len), SS_OK);
		cr_assert_neq(ss_group_key(srv, t + i, bad.id, bad.len, psk), SS_OK, "a made-up root key");
	}
	cr_assert_eq(kds.calls, calls + 1, "one KDS request for five made-up root keys");
	cr_assert(server_takes(srv, t + 5, &o), "a member still gets in");
	ss_group_free(cli);
	ss_group_free(srv);
}

/* A fork while another thread waits on the KDS: the child's group is not
 * left locked (the fetch runs without the group's lock). */
static int gate[2];
static int slow_fetch(const char *src, const uint8_t *req, size_t req_len, uint8_t *ans, size_t cap,
                      size_t *ans_len)
{
	char c;
	if (getpid() == kds.parent && read(gate[0], &c, 1) != 1)
		return -1;
	return fetch(src, req, req_len, ans, cap, ans_len);
}

static void *offer_thread(void *arg)
{
	struct offer o;
	(void)offer(arg, kds.now, &o);
	return NULL;
}

Test(group_kds, fork_during_a_fetch_leaves_the_child_unlocked)
{
	ss_grp *g = NULL;
	pthread_t th;
	int st = -1;

	kds.parent = getpid();
	cr_assert_eq(pipe(gate), 0);
	cr_assert_eq(ss_group_new_kds("db", NULL, 0, slow_fetch, "kds-list", NULL, &g), SS_OK);
	cr_assert_eq(pthread_create(&th, NULL, offer_thread, g), 0);
	usleep(200000);   /* the thread is inside the fetch */
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct offer o;
		alarm(5);   /* a child stuck on the lock dies of SIGALRM */
		_exit(offer(g, kds.now, &o) == SS_OK ? 0 : 1);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child got a key (status %d)", st);
	cr_assert_eq(write(gate[1], "x", 1), 1);
	pthread_join(th, NULL);
	ss_group_free(g);
}
