/* sec_h6_tail.c — a secured socket with a write tail pending inside the
 * preload (written non-blocking until EAGAIN while the peer does not read:
 * the last batch of records is only partly in the kernel), then a second
 * writer or an ending of some kind.  Every byte of the stream is the
 * counter pattern of sec_h6_peer.py (byte i is byte i%4 of the big-endian
 * 32-bit number i/4), whoever writes it, so the peer sees any byte lost,
 * altered or out of place.
 *
 *   sec_h6_tail MODE PORT       prints "expect N": the stream's length
 *   MODE: exec-block exec-nb exec-close exec-exit exec-dup
 *         fork-nb fork-block fork-fill fork-fill-_exit thread
 *         close close-exec shutdown exit dup
 *   sec_h6_tail +child KIND OFF N   (the exec'd image; the socket is fd 3)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

enum { CHUNK = 65536 - 7, MORE = 50000 };

static void pattern(uint8_t *b, uint64_t off, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t k = off + i;
		b[i] = (uint8_t)((k >> 2) >> (8 * (3 - (k & 3))));
	}
}

static void set_nb(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

/* n pattern bytes from stream offset off, whatever the mode of fd;
 * 0 when all went, -1 on an error (printed). */
static int put(int fd, uint64_t off, size_t n)
{
	static __thread uint8_t buf[CHUNK];
	size_t done = 0;

	while (done < n) {
		size_t m = n - done < sizeof buf ? n - done : sizeof buf;
		pattern(buf, off + done, m);
		ssize_t r = write(fd, buf, m);
		if (r > 0) {
			done += (size_t)r;
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd p = { fd, POLLOUT, 0 };
			poll(&p, 1, 1000);
			continue;
		}
		fprintf(stderr, "write at %llu: %s\n", (unsigned long long)(off + done), strerror(errno));
		return -1;
	}
	return 0;
}

/* Non-blocking writes until EAGAIN: the stream's length so far.  The first
 * 4 bytes go before, blocking: the peer reads them (which completes its
 * side of the handshake) and only then stops reading. */
static uint64_t fill(int fd)
{
	static uint8_t buf[CHUNK];
	uint64_t total = 4;
	ssize_t r;

	if (put(fd, 0, 4) < 0)
		exit(1);

	set_nb(fd, 1);
	/* Until the kernel stays full: ACKs of bytes in flight free send
	 * buffer for a while after the first EAGAIN, so only a buffer that
	 * remains full for 300 ms keeps the tail inside the preload. */
	for (;;) {
		struct pollfd p = { fd, POLLOUT, 0 };
		pattern(buf, total, sizeof buf);
		r = write(fd, buf, sizeof buf);
		if (r > 0) {
			total += (uint64_t)r;
			if (total > (1ull << 30)) {
				printf("no EAGAIN: the peer read everything\n");
				exit(1);
			}
			continue;
		}
		if (r < 0 && errno != EAGAIN) {
			printf("fill: %s\n", strerror(errno));
			exit(1);
		}
		if (poll(&p, 1, 300) == 0)
			return total;
	}
}

static int child(int argc, char **argv)
{
	const char *kind = argv[2];
	uint64_t off = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
	size_t n = argc > 4 ? strtoul(argv[4], NULL, 10) : 0;

	if (!strcmp(kind, "write") || !strcmp(kind, "write-nb")) {
		set_nb(3, !strcmp(kind, "write-nb"));
		if (put(3, off, n) < 0)
			return 1;
		close(3);
		return 0;
	}
	if (!strcmp(kind, "dup")) {   /* fds 3 and 4 are one socket */
		if (put(4, off, n) < 0)
			return 1;
		close(4);
		close(3);
		return 0;
	}
	if (!strcmp(kind, "close")) {
		close(3);
		return 0;
	}
	return 0;   /* exit: the socket is still open */
}

static void run_exec(int fd, const char *self, const char *kind, uint64_t off, size_t n, int block)
{
	char a[32], b[32];

	if (block)
		set_nb(fd, 0);
	if (!strcmp(kind, "dup")) {
		dup2(fd, 3);
		dup2(fd, 4);
	} else {
		dup2(fd, 3);
	}
	if (fd != 3 && fd != 4)
		close(fd);
	snprintf(a, sizeof a, "%llu", (unsigned long long)off);
	snprintf(b, sizeof b, "%zu", n);
	execl(self, self, "+child", kind, a, b, (char *)NULL);
	perror("exec");
	exit(1);
}

struct th { int fd; uint64_t off; };

static void *th_main(void *p)
{
	struct th *t = p;
	return (void *)(intptr_t)put(t->fd, t->off, MORE);
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	const char *m;
	uint64_t total;
	int fd;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc >= 3 && !strcmp(argv[1], "+child"))
		return child(argc, argv);
	if (argc != 3)
		return 2;
	m = argv[1];
	signal(SIGPIPE, SIG_IGN);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	/* A fixed buffer (no autotuning): once full it stays full until the
	 * peer reads, so the tail really waits. */
	int sb = 128 * 1024;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof sb);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)atoi(argv[2]));
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		printf("connect: %s\n", strerror(errno));
		return 1;
	}
	total = fill(fd);

	if (!strncmp(m, "exec-", 5)) {
		const char *k = m + 5;
		int ends = !strcmp(k, "close") || !strcmp(k, "exit");
		printf("expect %llu\n", (unsigned long long)(total + (ends ? 0 : MORE)));
		run_exec(fd, "/proc/self/exe", !strcmp(k, "block") ? "write" : !strcmp(k, "nb") ? "write-nb" : k,
		         total, MORE, !strcmp(k, "block"));
	}
	if (!strncmp(m, "fork-", 5)) {
		int fat = !strncmp(m, "fork-fill", 9);
		size_t cn = fat ? 4u << 20 : 1000;
		printf("expect %llu\n", (unsigned long long)(total + cn + MORE));
		if (!strcmp(m, "fork-block"))
			set_nb(fd, 0);
		pid_t pid = fork();
		if (pid == 0) {
			int r = put(fd, total, cn);
			if (!strcmp(m, "fork-fill"))
				exit(r ? 1 : 0);   /* its own last tail goes out at exit */
			_exit(r ? 1 : 0);      /* ... and at _exit (fork-fill-_exit) */
		}
		int st = 0;
		waitpid(pid, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			printf("child failed\n");
			return 1;
		}
		if (put(fd, total + cn, MORE) < 0)
			return 1;
		close(fd);
		return 0;
	}
	if (!strcmp(m, "thread")) {
		pthread_t t;
		struct th arg = { fd, total };
		void *r;
		printf("expect %llu\n", (unsigned long long)(total + 2 * MORE));
		pthread_create(&t, NULL, th_main, &arg);
		pthread_join(t, &r);
		if (r || put(fd, total + MORE, MORE) < 0)
			return 1;
		close(fd);
		return 0;
	}
	printf("expect %llu\n", (unsigned long long)total);
	if (!strcmp(m, "close")) {
		/* close returns at once; the process lives on: the tail must not
		 * be bounded by close's own wait. */
		close(fd);
		sleep(4);
		return 0;
	}
	if (!strcmp(m, "close-exec")) {
		/* the engine finishing the close does not survive the exec */
		close(fd);
		execl("/proc/self/exe", "sec_h6_tail", "+child", "exit", (char *)NULL);
		perror("exec");
		return 1;
	}
	if (!strcmp(m, "dup")) {
		int d = dup(fd);
		close(fd);   /* not the last descriptor: nothing ends */
		close(d);
		sleep(4);
		return 0;
	}
	if (!strcmp(m, "shutdown")) {
		char rep[16] = "";
		if (shutdown(fd, SHUT_WR) != 0) {
			printf("shutdown: %s\n", strerror(errno));
			return 1;
		}
		if (write(fd, "x", 1) != -1 || errno != EPIPE)
			printf("write after shutdown: not EPIPE (%s)\n", strerror(errno));
		set_nb(fd, 0);
		ssize_t r = read(fd, rep, sizeof rep - 1);
		printf("reply %s\n", r > 0 ? rep : r == 0 ? "(eof)" : strerror(errno));
		close(fd);
		return 0;
	}
	if (!strcmp(m, "exit"))
		exit(0);   /* no close: the exit handler */
	printf("unknown mode %s\n", m);
	return 2;
}
