/* sec_h2_exec.c — a secured connection on descriptor 3, then a program
 * started every way glibc offers (tests/security/s21, s22).
 *
 *   sec_h2_exec PORT MODE ARGS...
 * connects to 127.0.0.1:PORT, writes "CONTROL-MODE\n", puts the socket on
 * fd 3 (inheritable), then MODE:
 *   exec PROG ARGS...     execv           execvp PROG ARGS...   execvp
 *   execveat PROG ARGS... execveat(dirfd of PROG's directory, its name)
 *   execveat-empty PROG ARGS...  execveat(open(PROG, O_PATH), "", AT_EMPTY_PATH)
 *   fexecve PROG ARGS...  fexecve(open(PROG, O_RDONLY))
 *     (these four in a forked child; the parent then writes "AFTER-MODE\n")
 *   system CMD            system(CMD)     popen CMD   popen(CMD, "r"), output copied
 *   wordexp CMD           wordexp("$(CMD)")
 *   posix_spawn PROG ARGS...   posix_spawnp PROG ARGS...
 *   spawn-dup2 PROG ARGS...    posix_spawn with the socket (FD_CLOEXEC) dup2'd onto 3
 *   _Fork MARKER          _Fork; the child writes MARKER on fd 3 and execs nothing
 *   clone MARKER          clone without CLONE_VM, the same
 * After the child is done the parent writes "AFTER-MODE\n" and closes.
 * Prints what each call returned.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wordexp.h>

extern char **environ;

static int child_write(void *marker)
{
	ssize_t r = write(3, marker, strlen(marker));
	printf("child: write %zd %s\n", r, r < 0 ? strerror(errno) : "ok");
	return 0;
}

static void exec_mode(const char *mode, char **argv)
{
	if (!strcmp(mode, "exec"))
		execv(argv[0], argv);
	else if (!strcmp(mode, "execvp"))
		execvp(argv[0], argv);
	else if (!strcmp(mode, "execveat")) {
		char a[4096], b[4096];
		snprintf(a, sizeof a, "%s", argv[0]);
		snprintf(b, sizeof b, "%s", argv[0]);
		int d = open(dirname(a), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		execveat(d, basename(b), argv, environ, 0);
	} else if (!strcmp(mode, "execveat-empty")) {
		int fd = open(argv[0], O_PATH | O_CLOEXEC);
		execveat(fd, "", argv, environ, AT_EMPTY_PATH);
	} else if (!strcmp(mode, "fexecve")) {
		int fd = open(argv[0], O_RDONLY | O_CLOEXEC);
		fexecve(fd, argv, environ);
	}
	printf("exec: %s\n", strerror(errno));
	_exit(127);
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	char line[64];
	const char *mode;
	int fd, n;
	pid_t pid = -1;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 4) {
		fprintf(stderr, "usage: see the comment at the top of sec_h2_exec.c\n");
		return 2;
	}
	mode = argv[2];
	a.sin_port = htons((uint16_t)atoi(argv[1]));
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		printf("connect: %s\n", strerror(errno));
		return 1;
	}
	n = snprintf(line, sizeof line, "CONTROL-%s\n", mode);
	printf("control: %zd\n", write(fd, line, (size_t)n));
	if (strcmp(mode, "spawn-dup2")) {
		if (fd != 3 && (dup2(fd, 3) < 0 || close(fd) < 0))
			return 1;
		fd = 3;
	} else {
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	if (!strcmp(mode, "exec") || !strcmp(mode, "execvp")) {
		exec_mode(mode, argv + 3);   /* in place: the process becomes the program */
	} else if (!strncmp(mode, "execveat", 8) || !strcmp(mode, "fexecve")) {
		if ((pid = fork()) == 0)
			exec_mode(mode, argv + 3);
	} else if (!strcmp(mode, "system")) {
		printf("system: %d\n", system(argv[3]));
	} else if (!strcmp(mode, "popen")) {
		FILE *p = popen(argv[3], "r");
		char buf[256];
		if (!p)
			printf("popen: %s\n", strerror(errno));
		while (p && fgets(buf, sizeof buf, p))
			fputs(buf, stdout);
		if (p)
			printf("pclose: %d\n", pclose(p));
	} else if (!strcmp(mode, "wordexp")) {
		wordexp_t we;
		char w[512];
		snprintf(w, sizeof w, "$(%s)", argv[3]);
		int r = wordexp(w, &we, 0);
		printf("wordexp: %d", r);
		for (size_t i = 0; r == 0 && i < we.we_wordc; i++)
			printf(" %s", we.we_wordv[i]);
		printf("\n");
		if (r == 0)
			wordfree(&we);
	} else if (!strcmp(mode, "posix_spawn") || !strcmp(mode, "posix_spawnp") || !strcmp(mode, "spawn-dup2")) {
		posix_spawn_file_actions_t fa;
		posix_spawn_file_actions_init(&fa);
		if (!strcmp(mode, "spawn-dup2"))
			posix_spawn_file_actions_adddup2(&fa, fd, 3);
		int r = !strcmp(mode, "posix_spawnp") ? posix_spawnp(&pid, argv[3], &fa, NULL, argv + 3, environ)
		                                      : posix_spawn(&pid, argv[3], &fa, NULL, argv + 3, environ);
		printf("%s: %d %s\n", mode, r, r ? strerror(r) : "ok");
		posix_spawn_file_actions_destroy(&fa);
		if (r)
			pid = -1;
	} else if (!strcmp(mode, "_Fork")) {
		if ((pid = _Fork()) == 0) {
			child_write(argv[3]);
			execl("/bin/sh", "sh", "-c", "printf '%s' \"$0\" >&3 && echo 'child sh: wrote' || echo 'child sh: no fd 3'", argv[3], (char *)NULL);
			_exit(127);
		}
	} else if (!strcmp(mode, "clone")) {
		static char stack[256 * 1024];
		pid = clone(child_write, stack + sizeof stack, SIGCHLD, argv[3]);
		if (pid < 0)
			printf("clone: %s\n", strerror(errno));
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	n = snprintf(line, sizeof line, "AFTER-%s\n", mode);
	ssize_t w = write(fd, line, (size_t)n);
	printf("after: %zd %s\n", w, w < 0 ? strerror(errno) : "ok");
	shutdown(fd, SHUT_WR);
	usleep(100000);
	close(fd);
	return 0;
}
