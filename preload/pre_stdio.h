/* pre_stdio.h — stdio streams over governed sockets (see pre_stdio.c). */
#ifndef PRE_STDIO_H
#define PRE_STDIO_H

#include <stdio.h>

/* fd (0, 1 or 2) now refers to a governed socket: make stdin/stdout/stderr
 * a stream whose I/O goes through our shims. */
void pre_stdio_adopt(int fd);
/* Flush every stream through our shims (before exit-time close_notify). */
void pre_stdio_flush_all(void);
int pre_stdio_is_raw(FILE *f);

#endif
