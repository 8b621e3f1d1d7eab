/* resume_client.c — N connections in a row from one process, each asked
 * through secsock_query what it is (tests/integration/79-resume.sh):
 *
 *   resume_client PORT N [PAUSE_MS]   under the preload
 *
 * prints per connection "conn I: reply=R resumed=X auth=A peer=P expiry=S"
 * (S: seconds from now to the session's expiry), with " auth_group=G
 * gkid=L0,L1,L2" after it for auth group, and waits PAUSE_MS between
 * connections. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include "secsock.h"

#pragma weak secsock_query_ex

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage (under the preload): resume_client PORT N [PAUSE_MS]\n");
		return 2;
	}
	int port = atoi(argv[1]), n = atoi(argv[2]), pause_ms = argc > 3 ? atoi(argv[3]) : 0;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	for (int i = 0; i < n; i++) {
		char msg[32], got[64] = "";
		struct secsock_info info;
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		memset(&info, 0, sizeof info);
		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
			printf("conn %d: connect failed\n", i);
			if (fd >= 0)
				close(fd);
			continue;
		}
		snprintf(msg, sizeof msg, "R-%d\n", i);
		ssize_t w = write(fd, msg, strlen(msg)), r = w > 0 ? read(fd, got, sizeof got - 1) : -1;
		got[r > 0 ? r : 0] = '\0';
		got[strcspn(got, "\n")] = '\0';
		if (secsock_query_ex)
			secsock_query_ex(fd, &info, sizeof info);
		printf("conn %d: reply=%s resumed=%d auth=%s peer=%s expiry=%lld", i, got[0] ? got : "-",
		       info.resumed, info.auth[0] ? info.auth : "-", info.peer[0] ? info.peer : "-",
		       info.expiry ? (long long)(info.expiry - time(NULL)) : -1LL);
		if (info.auth_group[0])   /* auth group (80-group.sh) */
			printf(" auth_group=%s gkid=%d,%d,%d", info.auth_group, (int)info.gkid[0], (int)info.gkid[1],
			       (int)info.gkid[2]);
		printf("\n");
		fflush(stdout);
		close(fd);
		if (pause_ms > 0 && i + 1 < n)
			usleep((useconds_t)pause_ms * 1000);
	}
	return 0;
}
