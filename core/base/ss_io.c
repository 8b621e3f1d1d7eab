/* ss_io.c — file helpers (ss_io.h). */
#include "ss_io.h"

#include <errno.h>
#include <unistd.h>

int ss_write_all(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return 0;
		b += w;
		n -= (size_t)w;
	}
	return 1;
}
