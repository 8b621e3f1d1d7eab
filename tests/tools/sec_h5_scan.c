/* sec_h5_scan — count byte strings in a (core) file, in one pass
 * (tests/security/s50-core-dump.sh).
 *
 *   sec_h5_scan FILE < VALUES
 *
 * VALUES: lines "NAME... HEX"; lines whose last field is not even-length hex
 * of at least 4 bytes are skipped, and so are repeated values.  Prints
 * "COUNT NAME... HEXPREFIX" for every value found at least once, then
 * "scanned N values".  A core dump is tens of MB and there are dozens of
 * values: one pass with a filter on each position's first two bytes instead
 * of one search per value.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAXV = 1024, MAXLEN = 64 };

struct val {
	char name[512];
	uint8_t b[MAXLEN];
	size_t n;
	unsigned long count;
};

static struct val vals[MAXV];
static size_t nvals;
static uint8_t first2[65536 / 8];

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void add(const char *line)
{
	char buf[512], *hex;
	struct val *v = &vals[nvals];
	size_t len;

	snprintf(buf, sizeof buf, "%s", line);
	buf[strcspn(buf, "\n")] = '\0';
	hex = strrchr(buf, ' ');
	if (hex == NULL || nvals == MAXV)
		return;
	*hex++ = '\0';
	len = strlen(hex);
	if (len % 2 || len / 2 < 4 || len / 2 > MAXLEN)
		return;
	for (size_t i = 0; i < len / 2; i++) {
		int h = hexval(hex[2 * i]), l = hexval(hex[2 * i + 1]);
		if (h < 0 || l < 0)
			return;
		v->b[i] = (uint8_t)(h << 4 | l);
	}
	v->n = len / 2;
	for (size_t i = 0; i < nvals; i++)
		if (vals[i].n == v->n && memcmp(vals[i].b, v->b, v->n) == 0)
			return;
	snprintf(v->name, sizeof v->name, "%s", buf);
	first2[(v->b[0] << 8 | v->b[1]) / 8] |= (uint8_t)(1u << ((v->b[0] << 8 | v->b[1]) % 8));
	nvals++;
}

int main(int argc, char **argv)
{
	char line[512];
	struct stat sb;
	const uint8_t *d;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE < VALUES\n", argv[0]);
		return 2;
	}
	while (fgets(line, sizeof line, stdin) != NULL)
		add(line);
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &sb) != 0) {
		perror(argv[1]);
		return 2;
	}
	d = sb.st_size ? mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
	if (d == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	for (size_t i = 0; i + 1 < (size_t)sb.st_size; i++) {
		unsigned k = (unsigned)d[i] << 8 | d[i + 1];
		if (!(first2[k / 8] & (1u << (k % 8))))
			continue;
		for (size_t j = 0; j < nvals; j++)
			if (vals[j].n <= (size_t)sb.st_size - i && memcmp(d + i, vals[j].b, vals[j].n) == 0)
				vals[j].count++;
	}
	for (size_t j = 0; j < nvals; j++) {
		if (vals[j].count == 0)
			continue;
		printf("%lu %s ", vals[j].count, vals[j].name);
		for (size_t i = 0; i < 8; i++)
			printf("%02x", vals[j].b[i]);
		printf("\n");
	}
	printf("scanned %zu values\n", nvals);
	return 0;
}
