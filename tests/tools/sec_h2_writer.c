/* sec_h2_writer.c — write the last argument to descriptor 3 (the socket
 * it inherited) and say what happened.  tests/security/s21-exec-reach.sh
 * also builds it static, static-pie and with a Go build-id note: programs
 * (or what look like them) that LD_PRELOAD does not reach.
 *   sec_h2_writer [ARGS...] MARKER */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef GO_NOTE
/* What Go's linker writes: an ELF note, owner "Go\0\0", type 4 (build id). */
struct go_note {
	unsigned namesz, descsz, type;
	char name[4], desc[8];
};
__attribute__((used, section(".note.go.buildid"), aligned(4)))
static const struct go_note note = { 4, 8, 4, "Go", "h2-test" };
#endif

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[argc - 1] : "SECRET-writer";
	ssize_t r = write(3, m, strlen(m));
	printf("writer: %zd %s\n", r, r < 0 ? strerror(errno) : "ok");
	return 0;
}
