/* cli_gkdi.c — `secsock gkdi`: MS-GKDI computations for checking secsock
 * against other implementations (issue 15, "CLI for checking"): time to
 * GKID, seed keys, the server's GetKey answer, envelope decoding.  A stable
 * interface, documented in secsock(1).
 * Exit status: 0 ok, 1 bad input (one line on stderr), 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "ss_gkdi.h"

/* Seconds from 1601-01-01 (NTTIME's epoch) to 1970-01-01. */
#define NT_UNIX_EPOCH 11644473600ULL
#define TICKS_PER_SEC 10000000ULL

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: secsock gkdi gkid (--nttime N | --unix SECONDS)\n"
	    "       secsock gkdi seed-key --root-key-id GUID --root-key HEX [--hash H] --sd HEX\n"
	    "                             --gkid L0,L1,L2\n"
	    "       secsock gkdi get-key --root-key-id GUID --root-key HEX [--hash H] --sd HEX\n"
	    "                            --requested L0,L1,L2 --now L0,L1,L2\n"
	    "       secsock gkdi envelope --decode HEX\n"
	    "\n"
	    "MS-GKDI group key computations, to check against other implementations.\n"
	    "  gkid      the group key identifier of a time (NTTIME ticks or Unix seconds)\n"
	    "  seed-key  the 64-byte seed key of a GKID, lowercase hex (L2 = -1: the L1\n"
	    "            seed key; L1 = L2 = -1: the L0 seed key)\n"
	    "  get-key   what the key service sends for a request naming the root key at\n"
	    "            server time --now (a GKID): one JSON object\n"
	    "  envelope  the fields of a Group Key Envelope (MS-GKDI 2.2.4) as JSON\n"
	    "The root key is 64 bytes; H is SHA1, SHA256, SHA384 or SHA512 (default).\n"
	    "Exit status: 0 ok, 1 bad input, 2 usage.\n");
}

__attribute__((format(printf, 1, 2)))
static int bad(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "secsock gkdi: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* Hex into a sodium_malloc'd buffer (secrets may pass through). */
static uint8_t *unhex(const char *s, size_t *len)
{
	size_t n = strlen(s);
	uint8_t *b;
	if (n % 2 || n / 2 > SS_GKDI_ENV_MAX + SS_GKDI_SD_MAX || sodium_init() < 0)
		return NULL;
	b = sodium_malloc(n / 2 ? n / 2 : 1);
	if (!b)
		return NULL;
	if (sodium_hex2bin(b, n / 2, s, n, NULL, len, NULL) != 0 || *len != n / 2) {
		sodium_free(b);
		return NULL;
	}
	return b;
}

static void print_hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

static int cmd_gkid(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "nttime", required_argument, NULL, 'n' }, { "unix", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	const char *nt = NULL, *ux = NULL, *v;
	uint64_t t;
	char *end;
	ss_gkid g;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n')
			nt = optarg;
		else if (c == 'u')
			ux = optarg;
		else
			return usage(stderr), 2;
	}
	if (optind != argc || !nt == !ux)
		return usage(stderr), 2;
	v = nt ? nt : ux;
	errno = 0;
	t = strtoull(v, &end, 10);
	if (*v < '0' || *v > '9' || *end || errno)
		return bad("not an unsigned 64-bit number: '%s'", v);
	if (ux) {
		if (t > UINT64_MAX / TICKS_PER_SEC - NT_UNIX_EPOCH)
			return bad("Unix time out of NTTIME range: '%s'", v);
		t = (t + NT_UNIX_EPOCH) * TICKS_PER_SEC;
	}
	g = ss_gkid_from_time(t);
	printf("%" PRId32 ",%" PRId32 ",%" PRId32 "\n", g.l0, g.l1, g.l2);
	return 0;
}

/* The options seed-key and get-key share. */
struct key_args {
	const char *rkid, *root, *hash, *sd, *gkid, *requested, *now;
};

static int key_opts(int argc, char **argv, struct key_args *a)
{
	static const struct option opts[] = {
		{ "root-key-id", required_argument, NULL, 'i' }, { "root-key", required_argument, NULL, 'k' },
		{ "hash", required_argument, NULL, 'H' }, { "sd", required_argument, NULL, 's' },
		{ "gkid", required_argument, NULL, 'g' }, { "requested", required_argument, NULL, 'r' },
		{ "now", required_argument, NULL, 'n' }, { NULL, 0, NULL, 0 },
	};
	int c;
	memset(a, 0, sizeof *a);
	a->hash = "SHA512";
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i': a->rkid = optarg; break;
		case 'k': a->root = optarg; break;
		case 'H': a->hash = optarg; break;
		case 's': a->sd = optarg; break;
		case 'g': a->gkid = optarg; break;
		case 'r': a->requested = optarg; break;
		case 'n': a->now = optarg; break;
		default: return -1;
		}
	}
	return optind == argc && a->rkid && a->root && a->sd ? 0 : -1;
}

/* Root key and SD from the arguments; 0, or 1 after one line on stderr. */
static int load_root(const struct key_args *a, ss_gkdi_root *root, uint8_t **key, uint8_t **sd,
                     size_t *sd_len)
{
	size_t n;
	*key = *sd = NULL;
	if (ss_guid_parse(a->rkid, &root->id) != 0)
		return bad("not a GUID: '%s'", a->rkid);
	if (ss_gkdi_hash_parse(a->hash, &root->hash) != 0)
		return bad("unknown hash '%s' (SHA1, SHA256, SHA384, SHA512)", a->hash);
	*key = unhex(a->root, &n);
	if (!*key || n != SS_GKDI_KEY_LEN)
		return bad("--root-key must be %d hex digits", 2 * SS_GKDI_KEY_LEN);
	root->key = *key;
	*sd = unhex(a->sd, sd_len);
	if (!*sd || *sd_len > SS_GKDI_SD_MAX)
		return bad("--sd is not hex (or longer than 64 KiB): '%.40s'", a->sd);
	return 0;
}

static void free_root(uint8_t *key, uint8_t *sd)
{
	if (key)
		sodium_free(key);
	if (sd)
		sodium_free(sd);
}

static int cmd_seed_key(int argc, char **argv)
{
	struct key_args a;
	ss_gkdi_root root;
	uint8_t *key, *sd, out[SS_GKDI_KEY_LEN];
	size_t sd_len;
	ss_gkid g;
	int rc;

	if (key_opts(argc, argv, &a) != 0 || !a.gkid || a.requested || a.now)
		return usage(stderr), 2;
	if (ss_gkid_parse(a.gkid, &g) != 0 || g.l0 < 0)
		return bad("not a seed key GKID (L0 >= 0, L1 and L2 in -1..31): '%s'", a.gkid);
	rc = load_root(&a, &root, &key, &sd, &sd_len);
	if (rc == 0 && ss_gkdi_seed_key(&root, sd, sd_len, g, out) != SS_OK)
		rc = bad("%s", "key derivation failed");
	if (rc == 0) {
		print_hex(out, sizeof out);
		putchar('\n');
	}
	sodium_memzero(out, sizeof out);
	free_root(key, sd);
	return rc;
}

static void print_gkid_json(ss_gkid g)
{
	printf("[%" PRId32 ", %" PRId32 ", %" PRId32 "]", g.l0, g.l1, g.l2);
}

static int cmd_get_key(int argc, char **argv)
{
	struct key_args a;
	ss_gkdi_root root;
	ss_gkdi_answer ans;
	uint8_t *key, *sd;
	size_t sd_len;
	ss_gkid req, now;
	ss_status st;
	int rc;

	if (key_opts(argc, argv, &a) != 0 || a.gkid || !a.requested || !a.now)
		return usage(stderr), 2;
	if (ss_gkid_parse(a.requested, &req) != 0)
		return bad("not a GKID: '%s'", a.requested);
	if (ss_gkid_parse(a.now, &now) != 0 || now.l0 < 0 || now.l1 < 0 || now.l2 < 0)
		return bad("--now is not an L2 GKID: '%s'", a.now);
	rc = load_root(&a, &root, &key, &sd, &sd_len);
	if (rc == 0) {
		st = ss_gkdi_get_key(&root, sd, sd_len, 1, req, now, &ans);
		if (st == SS_LOGON_DENIED)
			rc = bad("requested GKID %s is newer than --now", a.requested);
		else if (st == SS_INVALID_TOKEN)
			rc = bad("requested GKID must be -1,-1,-1 or all >= 0: '%s'", a.requested);
		else if (st != SS_OK)
			rc = bad("%s", "key derivation failed");
	}
	if (rc == 0) {
		printf("{\"gkid\": ");
		print_gkid_json(ans.gkid);
		printf(", \"l1_key\": ");
		if (ans.has_l1) {
			putchar('"');
			print_hex(ans.l1_key, SS_GKDI_KEY_LEN);
			printf("\", \"l1_gkid\": ");
			print_gkid_json(ans.l1_gkid);
		} else {
			printf("null, \"l1_gkid\": null");
		}
		printf(", \"l2_key\": ");
		if (ans.has_l2) {
			putchar('"');
			print_hex(ans.l2_key, SS_GKDI_KEY_LEN);
			printf("\"}\n");
		} else {
			printf("null}\n");
		}
		ss_gkdi_answer_clear(&ans);
	}
	free_root(key, sd);
	return rc;
}

static void json_hex_or_null(const char *name, ss_gkdi_bytes b)
{
	printf(", \"%s\": ", name);
	if (!b.len) {
		printf("null");
		return;
	}
	putchar('"');
	print_hex(b.p, b.len);
	putchar('"');
}

static void json_str(const char *name, ss_gkdi_bytes b)
{
	char s[600];
	ss_gkdi_utf16_ascii(b, s, sizeof s);
	printf(", \"%s\": ", name);
	if (!b.len) {
		printf("null");
		return;
	}
	/* printable ASCII ('?' for anything else), with JSON's two escapes */
	putchar('"');
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			putchar('\\');
		putchar(*p);
	}
	putchar('"');
}

void cli_gkdi_print_env(const ss_gkdi_env *e)
{
	char id[37];
	ss_guid_format(&e->rkid, id);
	printf("{\"version\": %u, \"flags\": %u, \"l0\": %" PRId32 ", \"l1\": %" PRId32
	       ", \"l2\": %" PRId32 ", \"root_key_id\": \"%s\"",
	       e->version, e->flags, e->gkid.l0, e->gkid.l1, e->gkid.l2, id);
	json_str("kdf_algorithm", e->kdf_alg);
	json_hex_or_null("kdf_parameters", e->kdf_params);
	printf(", \"kdf_hash\": \"%s\"", ss_gkdi_hash_name(e->hash));
	json_str("secret_agreement_algorithm", e->sa_alg);
	printf(", \"secret_agreement_parameters_len\": %zu", e->sa_params.len);
	printf(", \"private_key_length\": %u, \"public_key_length\": %u", e->priv_bits, e->pub_bits);
	json_str("domain_name", e->domain);
	json_str("forest_name", e->forest);
	printf(", \"public_key\": %s", (e->flags & SS_GKDI_FLAG_PUBLIC) ? "true" : "false");
	json_hex_or_null("l1_key", e->l1_key);
	printf(", \"l1_key_gkid\": ");
	if (e->l1_key.len)
		print_gkid_json((ss_gkid){ e->gkid.l0, e->gkid.l1 - (e->gkid.l2 != 31), -1 });
	else
		printf("null");
	json_hex_or_null("l2_key", e->l2_key);
	printf("}\n");
}

static int cmd_envelope(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "decode", required_argument, NULL, 'd' }, { NULL, 0, NULL, 0 },
	};
	const char *hex = NULL;
	uint8_t *buf;
	size_t n;
	char why[160];
	ss_gkdi_env e;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'd')
			return usage(stderr), 2;
		hex = optarg;
	}
	if (optind != argc || !hex)
		return usage(stderr), 2;
	buf = unhex(hex, &n);
	if (!buf)
		return bad("--decode is not hex: '%.40s'", hex);
	if (ss_gkdi_env_parse(buf, n, &e, why, sizeof why) != SS_OK)
		rc = bad("not a group key envelope: %s", why);
	else
		cli_gkdi_print_env(&e);
	sodium_free(buf);
	return rc;
}

int cli_gkdi_main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} sub[] = {
		{ "gkid", cmd_gkid }, { "seed-key", cmd_seed_key },
		{ "get-key", cmd_get_key }, { "envelope", cmd_envelope },
	};

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
		if (strcmp(argv[1], sub[i].name) != 0)
			continue;
		for (int j = 2; j < argc; j++)
			if (!strcmp(argv[j], "--help")) {
				usage(stdout);
				return 0;
			}
		optind = 1;
		opterr = 0;
		return sub[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "secsock gkdi: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
