/* sec_h4_suid.c PORT [FD] — a stand-in for any privileged program (setuid,
 * setgid or with file capabilities) that makes a TCP connection, for
 * tests/security/s40-log-env.sh.
 *
 * Connects to 127.0.0.1:PORT, writes one line, closes, then prints what the
 * test checks:
 *   euid=N egid=N secure=0|1 preloaded=yes|no fd=open|closed inherit=set|unset
 * secure is getauxval(AT_SECURE) (the kernel's secure-execution flag);
 * preloaded says whether libsecsock is in the process; fd says whether
 * descriptor FD (an attacker's memfd named by SECSOCK_INHERIT) is still open,
 * inherit whether SECSOCK_INHERIT is still in the environment: a library that
 * ignores the variable in a secure-execution program leaves both alone.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	int fd, watch = argc > 2 ? atoi(argv[2]) : -1;

	if (argc < 2) {
		fprintf(stderr, "usage: %s PORT [FD]\n", argv[0]);
		return 2;
	}
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
		(void)!write(fd, "privileged hello\n", 17);
	if (fd >= 0)
		close(fd);
	printf("euid=%d egid=%d secure=%lu preloaded=%s fd=%s inherit=%s\n", (int)geteuid(), (int)getegid(),
	       getauxval(AT_SECURE), dlsym(RTLD_DEFAULT, "secsock_version") ? "yes" : "no",
	       watch >= 0 && fcntl(watch, F_GETFD) >= 0 ? "open" : "closed",
	       getenv("SECSOCK_INHERIT") ? "set" : "unset");
	return 0;
}
