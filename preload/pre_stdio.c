/* pre_stdio.c — fclose on a stream over a governed socket.
 *
 * glibc's fclose closes the descriptor with its internal __close_nocancel,
 * which no preload can interpose; coreutils programs (cat, ...) fclose
 * stdin/stdout at exit.  Without this wrapper the kernel socket would close
 * behind our back: no close_notify (the peer sees truncation) and a stale
 * fd slot.  So the descriptor is forgotten first — close_notify from the
 * last holder, exactly as close() does — and then the real fclose runs.
 * (Buffered stdio output is written by glibc's internal __write, also out of
 * reach: see docs/design.md "Process life" on stdio over sockets.)
 */
#include <errno.h>
#include <dlfcn.h>
#include <stdio.h>
#include "pre_sock.h"

#define SHIM __attribute__((visibility("default")))

static int (*real_fclose)(FILE *);

SHIM int fclose(FILE *f)
{
	int fd;

	if (!real_fclose)
		*(void **)&real_fclose = dlsym(RTLD_NEXT, "fclose");
	fd = f ? fileno(f) : -1;
	if (fd >= 0 && pre_fd_peek(fd)) {
		int saved = errno;
		fflush(f);
		pre_fd_forget(fd);
		errno = saved;
	}
	return real_fclose(f);
}
