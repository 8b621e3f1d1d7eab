/* ss_io.h — file helpers shared by core's file writers (known peers,
 * core/base/ss_peers_file.c; the group key cache, core/ss_gkdi_store.c).
 * No sockets: core makes no socket calls. */
#ifndef SS_IO_H
#define SS_IO_H

#include <stddef.h>

/* write(2) all n bytes of p to fd, again after EINTR and short writes.
 * 1 when all were written, 0 on an error or a write of nothing (errno). */
int ss_write_all(int fd, const void *p, size_t n);

#endif
