/* rec_instr.c — exact cost of one record: instructions per ss_rec_seal and
 * per ss_rec_open (callgrind), and OpenSSL heap allocations per record, for
 * each suite and for 30-byte (a redis GET), 1 KiB and 16 KiB records.
 *
 * Wall-clock figures on the shared 2-core machines drift by more than the
 * per-record overheads we want to cut (issue 6), so this counts instructions
 * instead: deterministic, and comparable before/after a change.
 *
 * usage: rec_instr [N]          run every case under valgrind and print the
 *                               table (N records per case, default 200)
 *        rec_instr run SUITE LEN N seal|open
 *                               one case, meant to run under
 *                               valgrind --tool=callgrind --toggle-collect=measure_<op>
 *
 * Only measure_seal / measure_open are collected: the keying of the contexts
 * (the first record of a direction) happens before, in warm_up, so the
 * figures are the steady state of a busy connection.  Both loops run over N
 * distinct records with consecutive sequence numbers, as on the wire.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <sodium.h>

#include "ss_rec.h"

/* OpenSSL heap calls made while counting is on (CRYPTO_set_mem_functions). */
static int counting;
static unsigned long ossl_allocs;

static void *count_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	ossl_allocs += counting;
	return malloc(n);
}

static void *count_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	ossl_allocs += counting;
	return realloc(p, n);
}

static void count_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	free(p);
}

static const uint16_t suites[] = { SS_SUITE_AES_128_GCM_SHA256, SS_SUITE_AES_256_GCM_SHA384,
                                   SS_SUITE_CHACHA20_POLY1305_SHA256 };
static const size_t lens[] = { 30, 1024, 16384 };

static const char *suite_name(uint16_t s)
{
	switch (s) {
	case SS_SUITE_AES_128_GCM_SHA256: return "AES-128-GCM";
	case SS_SUITE_AES_256_GCM_SHA384: return "AES-256-GCM";
	default: return "ChaCha20-Poly1305";
	}
}

/* Both loops are noinline and named so that callgrind's --toggle-collect can
 * count exactly them; any failure exits non-zero so a broken build cannot
 * produce a figure. */
__attribute__((noinline)) void measure_seal(ss_rec *w, const uint8_t *pt, size_t len,
                                            uint8_t *recs, size_t stride, size_t n);
__attribute__((noinline)) void measure_open(ss_rec *r, const uint8_t *recs, size_t stride,
                                            size_t rec_len, size_t n, uint8_t *back);

void measure_seal(ss_rec *w, const uint8_t *pt, size_t len, uint8_t *recs, size_t stride,
                  size_t n)
{
	size_t out_len;

	for (size_t i = 0; i < n; i++)
		if (ss_rec_seal(w, SS_CT_APPLICATION_DATA, pt, len, recs + i * stride, stride,
		                &out_len) != SS_OK)
			exit(2);
}

void measure_open(ss_rec *r, const uint8_t *recs, size_t stride, size_t rec_len, size_t n,
                  uint8_t *back)
{
	size_t used, got;
	uint8_t ct;

	for (size_t i = 0; i < n; i++)
		if (ss_rec_open(r, recs + i * stride, rec_len, &used, &ct, back,
		                SS_REC_MAX_PLAINTEXT, &got) != SS_OK || ct != SS_CT_APPLICATION_DATA)
			exit(3);
}

/* One record each way so both contexts exist and are keyed. */
static void warm_up(ss_rec *w, ss_rec *r, uint8_t *rec, uint8_t *back)
{
	static const uint8_t one = 'x';
	size_t out_len, used, got;
	uint8_t ct;

	if (ss_rec_seal(w, SS_CT_APPLICATION_DATA, &one, 1, rec, SS_REC_MAX_RECORD, &out_len) != SS_OK ||
	    ss_rec_open(r, rec, out_len, &used, &ct, back, SS_REC_MAX_PLAINTEXT, &got) != SS_OK ||
	    got != 1 || back[0] != one)
		exit(4);
}

static int run_case(uint16_t suite, size_t len, size_t n, int open)
{
	size_t sl = suite == SS_SUITE_AES_256_GCM_SHA384 ? 48 : 32;
	size_t stride = ss_rec_sealed_len(len), used, got;
	uint8_t a[48], b[48], ct;
	uint8_t *pt = malloc(len), *recs = malloc(stride * n), *back = malloc(SS_REC_MAX_PLAINTEXT);
	ss_rec_state ws, rs;
	ss_rec *w, *r;

	if (!pt || !recs || !back)
		return 1;
	randombytes_buf(a, sizeof a);
	randombytes_buf(b, sizeof b);
	randombytes_buf(pt, len);
	/* w writes with a, r reads with a */
	if (ss_rec_state_init(&ws, suite, a, b, sl) != SS_OK ||
	    ss_rec_state_init(&rs, suite, b, a, sl) != SS_OK ||
	    ss_rec_new(&ws, &w) != SS_OK || ss_rec_new(&rs, &r) != SS_OK)
		return 1;
	warm_up(w, r, recs, back);
	counting = !open;
	measure_seal(w, pt, len, recs, stride, n);
	counting = open;
	measure_open(r, recs, stride, stride, n, back);
	counting = 0;
	/* the records carried pt, and a replay is refused (the loops did real
	 * work on consecutive sequence numbers) */
	if (memcmp(back, pt, len) != 0)
		return 1;
	if (ss_rec_open(r, recs, stride, &used, &ct, back, SS_REC_MAX_PLAINTEXT, &got) !=
	    SS_BAD_RECORD_MAC)
		return 1;
	printf("allocs %lu\n", ossl_allocs);
	ss_rec_free(w);
	ss_rec_free(r);
	ss_rec_state_wipe(&ws);
	ss_rec_state_wipe(&rs);
	free(pt);
	free(recs);
	free(back);
	return 0;
}

/* Run one case under callgrind and return its instruction count (0 on
 * failure); *allocs gets the OpenSSL heap calls the case counted. */
static uint64_t callgrind_case(const char *self, uint16_t suite, size_t len, size_t n,
                               const char *op, unsigned long *allocs)
{
	char out[64], cmd[1024], line[256];
	uint64_t ir = 0;
	FILE *f;

	*allocs = 0;
	snprintf(out, sizeof out, "/tmp/rec_instr.%d.out", (int)getpid());
	snprintf(cmd, sizeof cmd,
	         "valgrind --tool=callgrind --callgrind-out-file=%s --toggle-collect=measure_%s "
	         "'%s' run %u %zu %zu %s 2>/dev/null",
	         out, op, self, (unsigned)suite, len, n, op);
	f = popen(cmd, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		sscanf(line, "allocs %lu", allocs);
	if (pclose(f) != 0)
		return 0;
	f = fopen(out, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "summary: %" SCNu64, &ir) == 1)
			break;
	fclose(f);
	unlink(out);
	return ir;
}

int main(int argc, char **argv)
{
	char self[4096];
	ssize_t sl;
	size_t n = 200;

	if (!CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free))
		return 1;
	if (sodium_init() < 0)
		return 1;
	if (argc == 6 && strcmp(argv[1], "run") == 0)
		return run_case((uint16_t)strtoul(argv[2], NULL, 0), strtoul(argv[3], NULL, 0),
		                strtoul(argv[4], NULL, 0), strcmp(argv[5], "open") == 0);
	if (argc == 2)
		n = strtoul(argv[1], NULL, 0);
	if (argc > 2 || n == 0)
		return fprintf(stderr, "usage: rec_instr [N] | rec_instr run SUITE LEN N seal|open\n"), 2;
	sl = readlink("/proc/self/exe", self, sizeof self - 1);
	if (sl <= 0)
		return 1;
	self[sl] = 0;
	printf("%-18s %6s %14s %14s %14s %12s\n", "suite", "bytes", "seal instr/rec",
	       "open instr/rec", "seal+open", "allocs/rec");
	for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
		for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++) {
			unsigned long as, ao;
			uint64_t s = callgrind_case(self, suites[i], lens[j], n, "seal", &as);
			uint64_t o = callgrind_case(self, suites[i], lens[j], n, "open", &ao);

			if (!s || !o)
				return fprintf(stderr, "case %s %zu failed\n", suite_name(suites[i]),
				               lens[j]), 1;
			printf("%-18s %6zu %14.0f %14.0f %14.0f %5.2f + %4.2f\n", suite_name(suites[i]),
			       lens[j], (double)s / (double)n, (double)o / (double)n,
			       (double)(s + o) / (double)n, (double)as / (double)n,
			       (double)ao / (double)n);
			fflush(stdout);
		}
	return 0;
}
