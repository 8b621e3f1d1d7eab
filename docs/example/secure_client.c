/* secure_client.c — the per-socket API (include/secsock.h, docs/api.md,
 * libsecsock(3)) in one small client: connect to HOST PORT, secured or not
 * at all, whatever the policy would do, and say who the peer is.
 *
 *   cc -Iinclude docs/example/secure_client.c -o secure_client
 *   secsock run -- ./secure_client 127.0.0.1 7000
 *
 * The secsock functions are declared weak, so the program also runs
 * without the library; it then refuses to connect, since it cannot make
 * sure the connection is secured.  `make check` builds it with -Werror.
 */
#include <err.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "secsock.h"

#pragma weak secsock_set_security
#pragma weak secsock_set_peer_target_name
#pragma weak secsock_query

int main(int argc, char **argv)
{
	struct addrinfo hints, *ai;
	struct secsock_info info;
	int fd, rc;

	if (argc < 3 || argc > 4)
		errx(2, "usage: secure_client HOST PORT [PEER-NAME]");
	if (!secsock_set_security)
		errx(1, "libsecsock is not loaded (run me with `secsock run --`)");
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(argv[1], argv[2], &hints, &ai)) != 0)
		errx(1, "%s: %s", argv[1], gai_strerror(rc));
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0)
		err(1, "socket");
	/* Before connect: NULL = the default settings, and without
	 * SECSOCK_SETTINGS_ALLOW_INSECURE nothing of this socket goes clear,
	 * even where the policy would fall back or bypass. */
	if (secsock_set_security(fd, NULL, 0) < 0)
		err(1, "secsock_set_security");
	if (argc == 4 && secsock_set_peer_target_name(fd, argv[3]) < 0)
		err(1, "secsock_set_peer_target_name");
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		err(1, "connect (refused rather than clear)");
	freeaddrinfo(ai);
	if (secsock_query(fd, &info) < 0)
		err(1, "secsock_query");
	printf("%s: %s %s %s peer=%s%s%s\n", (info.flags & SECSOCK_INFO_SECURED) ? "secured" : "not secured",
	       info.auth, info.cipher, info.group, info.peer, info.peer_fingerprint[0] ? " key=" : "",
	       info.peer_fingerprint);
	close(fd);
	return (info.flags & SECSOCK_INFO_SECURED) ? 0 : 1;
}
