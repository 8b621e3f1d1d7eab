/* pol_reach.h — will the program an exec starts load libsecsock.so and use it?
 *
 * One test for the preload's exec wrappers (preload/pre_exec.c: shut the
 * secured sockets down before an exec the state cannot follow) and for
 * `secsock run` (cli/cli_run.c: warn before running such a program).  No
 * socket calls: it reads the file's first bytes, its ELF headers, its mode
 * and its security.capability attribute (policy/pol_reach.c says why each).
 */
#ifndef POL_REACH_H
#define POL_REACH_H

typedef enum pol_reach_verdict {
	POL_REACH_YES = 0,   /* glibc's loader runs it and loads the preload (or the exec will fail) */
	POL_REACH_NO = 1     /* it runs without the preload, or we cannot tell */
} pol_reach_verdict;

/* The file execveat(dirfd, path, ..., flags) would run (AT_FDCWD and a
 * path for execve; AT_EMPTY_PATH with "" for fexecve; AT_SYMLINK_NOFOLLOW
 * honoured).  path_env: the PATH a "#!/usr/bin/env PROG" line resolves PROG
 * with (NULL: the default).  sh_fallback: the caller (the execvp family)
 * runs a file the kernel calls ENOEXEC with /bin/sh.  On POL_REACH_NO,
 * *why (when why is not NULL) is a static phrase saying what was found. */
pol_reach_verdict pol_reach(int dirfd, const char *path, int flags, const char *path_env, int sh_fallback,
                            const char **why);

#endif
