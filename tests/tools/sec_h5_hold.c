/* sec_h5_hold — a process with secured connections to dump (tests/security/
 * s50-core-dump.sh).
 *
 *   sec_h5_hold [-o] READYFILE IDLE_MS PORT:ROLE...
 *
 * Connects to 127.0.0.1:PORT for each argument; ROLE "busy" keeps the
 * connection sending (and reading whatever comes back) from a thread of its
 * own for as long as the process lives, ROLE "idle" sends one line, reads
 * for 300 ms and then leaves the connection alone.  IDLE_MS after the last
 * connection is up (time for the preload's idle trim), it writes its pid to
 * READYFILE and waits to be killed.
 *
 * -o: use OpenSSL (allocate through it) before the first connection, as a
 * program that uses OpenSSL itself does: the engine, loaded later, then
 * cannot install its memory functions (core/ss_mem.h SS_MEM_SHARED).
 *
 * Also in memory, for the test's check that the dump it makes is what a
 * core dump holds: "S50-HEAP-CANARY-<pid>" in the heap and
 * "S50-DD-CANARY-<pid>" in a page marked MADV_DONTDUMP (which a dump must
 * leave out).  PR_SET_PTRACER_ANY lets gcore attach under Yama.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

static int dial(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		fprintf(stderr, "connect %d: %s\n", port, strerror(errno));
		exit(1);
	}
	/* Non-blocking: what arrives may be records with no data for us (a
	 * NewSessionTicket, a KeyUpdate), after which a blocking read would
	 * wait for data that never comes. */
	if (fcntl(fd, F_SETFL, O_NONBLOCK) != 0)
		exit(1);
	return fd;
}

/* Read whatever arrives within ms milliseconds. */
static void drain(int fd, int ms)
{
	char buf[4096];
	struct pollfd p = { fd, POLLIN, 0 };

	while (poll(&p, 1, ms) > 0) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			fprintf(stderr, "read: %s\n", n == 0 ? "end of stream" : strerror(errno));
			exit(1);
		}
		ms = n > 0 ? 0 : ms;
	}
}

static void *busy(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char line[64];

	for (unsigned long i = 0;; i++) {
		int n = snprintf(line, sizeof line, "busy %lu\n", i);
		struct pollfd p = { fd, POLLOUT, 0 };
		if (poll(&p, 1, 5000) != 1 || write(fd, line, (size_t)n) != n) {
			fprintf(stderr, "busy write: %s\n", strerror(errno));
			exit(1);
		}
		drain(fd, 0);
		usleep(2000);
	}
	return NULL;
}

static void use_openssl_first(void)
{
	unsigned char md[EVP_MAX_MD_SIZE], rnd[16];
	unsigned mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	if (c == NULL || RAND_bytes(rnd, sizeof rnd) != 1 ||
	    EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(c, rnd, sizeof rnd) != 1 || EVP_DigestFinal_ex(c, md, &mdlen) != 1) {
		fprintf(stderr, "openssl first: failed\n");
		exit(1);
	}
	EVP_MD_CTX_free(c);
}

int main(int argc, char **argv)
{
	int first = 0, a = 1;
	char *heap_canary, *dd;
	FILE *f;

	if (argc > 1 && strcmp(argv[1], "-o") == 0) {
		first = 1;
		a++;
	}
	if (argc - a < 3) {
		fprintf(stderr, "usage: %s [-o] READYFILE IDLE_MS PORT:ROLE...\n", argv[0]);
		return 2;
	}
	prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	if (first)
		use_openssl_first();
	heap_canary = malloc(64);
	dd = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (heap_canary == NULL || dd == MAP_FAILED || madvise(dd, 4096, MADV_DONTDUMP) != 0)
		return 1;
	snprintf(heap_canary, 64, "S50-HEAP-CANARY-%d", (int)getpid());
	snprintf(dd, 4096, "S50-DD-CANARY-%d", (int)getpid());

	for (int i = a + 2; i < argc; i++) {
		char *colon = strchr(argv[i], ':');
		int fd;

		if (colon == NULL)
			return 2;
		fd = dial(atoi(argv[i]));
		if (strcmp(colon + 1, "busy") == 0) {
			pthread_t t;
			if (pthread_create(&t, NULL, busy, (void *)(intptr_t)fd) != 0)
				return 1;
		} else {
			struct pollfd p = { fd, POLLOUT, 0 };
			if (poll(&p, 1, 5000) != 1 || write(fd, "idle\n", 5) != 5)
				return 1;
			drain(fd, 300);
		}
	}
	usleep((useconds_t)atoi(argv[a + 1]) * 1000);
	{
		char tmp[4096];
		snprintf(tmp, sizeof tmp, "%s.tmp", argv[a]);
		f = fopen(tmp, "w");
		if (f == NULL)
			return 1;
		fprintf(f, "%d\n", (int)getpid());
		if (fclose(f) != 0 || rename(tmp, argv[a]) != 0)
			return 1;
	}
	for (;;)
		pause();
}
