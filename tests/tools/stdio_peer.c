/* stdio_peer — a server that answers through stdio, the way old programs do.
 *
 *   stdio_peer fdopen PORT MARK   accept one; read a line; fdopen(sock, "r+")
 *                                 and fprintf the marker line; fclose
 *   stdio_peer dup2 PORT MARK     accept one; dup2 the socket onto 0 and 1;
 *                                 fgets a line from stdin, printf the marker
 *                                 line and the line read; exit() without
 *                                 fflush or close (glibc flushes at exit)
 *
 * glibc's stdio writes through internal calls a preload cannot interpose, so
 * under secsock these streams must be routed through the library (see
 * preload/pre_stdio.c); tests/integration/49-stdio.sh checks the wire.
 * Prints "listening PORT" once bound.  Plain POSIX, no preload of its own.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int accept_one(const char *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0), c;

	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 4) < 0) {
		perror("stdio_peer: listen");
		exit(2);
	}
	printf("listening %s\n", port);
	fflush(stdout);
	c = accept(l, NULL, NULL);
	if (c < 0) {
		perror("stdio_peer: accept");
		exit(2);
	}
	close(l);
	return c;
}

int main(int argc, char **argv)
{
	char line[256];
	int c;

	if (argc != 4) {
		fprintf(stderr, "usage: stdio_peer fdopen|dup2 PORT MARK\n");
		return 2;
	}
	c = accept_one(argv[2]);
	if (!strcmp(argv[1], "fdopen")) {
		FILE *f = fdopen(c, "r+");
		if (!f || !fgets(line, sizeof line, f)) {
			fprintf(stderr, "stdio_peer: fdopen/fgets failed\n");
			return 1;
		}
		fprintf(f, "fdopen says %s\nyou said %s", argv[3], line);
		return fclose(f) == 0 ? 0 : 1;
	}
	if (!strcmp(argv[1], "dup2")) {
		if (dup2(c, 0) < 0 || dup2(c, 1) < 0) {
			perror("stdio_peer: dup2");
			return 1;
		}
		close(c);
		if (!fgets(line, sizeof line, stdin)) {
			fprintf(stderr, "stdio_peer: fgets(stdin) failed\n");
			return 1;
		}
		printf("stdout says %s\nyou said %s", argv[3], line);
		exit(0);   /* glibc flushes stdout at exit */
	}
	fprintf(stderr, "stdio_peer: unknown mode %s\n", argv[1]);
	return 2;
}
