/* test_reach.c — policy/pol_reach.c on crafted files: what LD_PRELOAD
 * reaches.  (The real programs — static, setuid, file capabilities, #! —
 * are run in tests/security/s21-exec-reach.sh.) */
#include <criterion/criterion.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pol_reach.h"

static char dir[] = "/tmp/pol-reach-XXXXXX";

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
}
static void teardown(void)
{
	char cmd[64];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

static const char *put(const char *name, const void *data, size_t len, mode_t mode)
{
	static char path[4][256];
	static int k;
	char *p = path[k++ % 4];
	snprintf(p, 256, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
	chmod(p, mode);
	return p;
}

/* An ELF of our class with one PT_INTERP (interp, or none) and optionally a PT_NOTE. */
static const char *elf(const char *name, int cls, int machine, int type, const char *interp, const void *note,
                       size_t note_len)
{
	unsigned char buf[4096];
	ElfW(Ehdr) *eh = (void *)buf;
	ElfW(Phdr) *ph = (void *)(buf + sizeof *eh);
	size_t off = 1024;
	memset(buf, 0, sizeof buf);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = (unsigned char)cls;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = (uint16_t)type;
	eh->e_machine = (uint16_t)machine;
	eh->e_phoff = sizeof *eh;
	eh->e_phentsize = sizeof *ph;
	if (interp) {
		ph[eh->e_phnum].p_type = PT_INTERP;
		ph[eh->e_phnum].p_offset = off;
		ph[eh->e_phnum].p_filesz = strlen(interp) + 1;
		memcpy(buf + off, interp, strlen(interp) + 1);
		off += 512;
		eh->e_phnum++;
	}
	if (note) {
		ph[eh->e_phnum].p_type = PT_NOTE;
		ph[eh->e_phnum].p_offset = off;
		ph[eh->e_phnum].p_filesz = note_len;
		memcpy(buf + off, note, note_len);
		eh->e_phnum++;
	}
	return put(name, buf, sizeof buf, 0755);
}

static const char *loader(void)
{
	return access("/lib64/ld-linux-x86-64.so.2", F_OK) == 0 ? "/lib64/ld-linux-x86-64.so.2" : "/lib/ld-linux.so.2";
}

TestSuite(reach, .init = setup, .fini = teardown);

Test(reach, this_program_and_a_shell_are_reached)
{
	cr_assert_eq(pol_reach(AT_FDCWD, "/proc/self/exe", 0, NULL, 0, NULL), POL_REACH_YES);
	cr_assert_eq(pol_reach(AT_FDCWD, "/bin/sh", 0, NULL, 0, NULL), POL_REACH_YES);
}

Test(reach, what_will_not_run_is_not_a_leak)
{
	cr_assert_eq(pol_reach(AT_FDCWD, "/nonexistent/prog", 0, NULL, 0, NULL), POL_REACH_YES);
	cr_assert_eq(pol_reach(AT_FDCWD, put("noexec", "#!/bin/sh\n", 10, 0644), 0, NULL, 0, NULL), POL_REACH_YES);
}

Test(reach, elf_of_another_class_or_machine)
{
	const char *why = NULL;
	cr_assert_eq(pol_reach(AT_FDCWD, elf("c32", ELFCLASS32, EM_386, ET_EXEC, "/lib/ld-linux.so.2", NULL, 0), 0,
	                       NULL, 0, &why), POL_REACH_NO);
	cr_assert(strstr(why, "class"));
#if defined(__x86_64__)
	cr_assert_eq(pol_reach(AT_FDCWD, elf("arm", ELFCLASS64, EM_AARCH64, ET_DYN, loader(), NULL, 0), 0, NULL, 0, NULL),
	             POL_REACH_NO);
#endif
}

Test(reach, static_static_pie_musl_go)
{
	static const unsigned char go[] = { 4, 0, 0, 0, 8, 0, 0, 0, 4, 0, 0, 0, 'G', 'o', 0, 0, 1, 2, 3, 4, 5, 6, 7, 8 };
	const char *why = NULL;
	int cls = sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32;
#if defined(__x86_64__)
	cr_assert_eq(pol_reach(AT_FDCWD, elf("dyn", cls, EM_X86_64, ET_DYN, loader(), NULL, 0), 0, NULL, 0, NULL),
	             POL_REACH_YES);
	cr_assert_eq(pol_reach(AT_FDCWD, elf("st", cls, EM_X86_64, ET_EXEC, NULL, NULL, 0), 0, NULL, 0, &why),
	             POL_REACH_NO);
	cr_assert(strstr(why, "statically"));
	cr_assert_eq(pol_reach(AT_FDCWD, elf("spie", cls, EM_X86_64, ET_DYN, NULL, NULL, 0), 0, NULL, 0, NULL),
	             POL_REACH_NO);
	cr_assert_eq(pol_reach(AT_FDCWD, elf("musl", cls, EM_X86_64, ET_DYN, "/lib/ld-musl-x86_64.so.1", NULL, 0), 0,
	                       NULL, 0, &why), POL_REACH_NO);
	cr_assert(strstr(why, "glibc"));
	cr_assert_eq(pol_reach(AT_FDCWD, elf("go", cls, EM_X86_64, ET_DYN, loader(), go, sizeof go), 0, NULL, 0, &why),
	             POL_REACH_NO);
	cr_assert(strstr(why, "Go"));
#endif
}

Test(reach, scripts_follow_the_interpreter_chain)
{
	char line[512];
	const char *why = NULL;
	int cls = sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32;
#if defined(__x86_64__)
	const char *st = elf("st", cls, EM_X86_64, ET_EXEC, NULL, NULL, 0);
	const char *s1, *s2;
	snprintf(line, sizeof line, "#! %s -x\n", st);
	s1 = put("s1", line, strlen(line), 0755);
	cr_assert_eq(pol_reach(AT_FDCWD, s1, 0, NULL, 0, NULL), POL_REACH_NO);
	snprintf(line, sizeof line, "#!%s\n", s1);
	s2 = put("s2", line, strlen(line), 0755);
	cr_assert_eq(pol_reach(AT_FDCWD, s2, 0, NULL, 0, NULL), POL_REACH_NO);
	/* #!/usr/bin/env PROG: PROG looked up in the PATH given */
	cr_assert_eq(pol_reach(AT_FDCWD, put("e", "#!/usr/bin/env st\n", 18, 0755), 0, dir, 0, NULL), POL_REACH_NO);
	cr_assert_eq(pol_reach(AT_FDCWD, put("e2", "#!/usr/bin/env sh\n", 18, 0755), 0, "/bin", 0, NULL), POL_REACH_YES);
#endif
	cr_assert_eq(pol_reach(AT_FDCWD, put("sh", "#!/bin/sh\necho\n", 15, 0755), 0, NULL, 0, NULL), POL_REACH_YES);
	/* deeper than the kernel follows */
	const char *prev = put("d0", "#!/bin/sh\n", 10, 0755);
	for (int i = 1; i <= 5; i++) {
		char name[8];
		snprintf(name, sizeof name, "d%d", i);
		snprintf(line, sizeof line, "#!%s\n", prev);
		prev = put(name, line, strlen(line), 0755);
	}
	cr_assert_eq(pol_reach(AT_FDCWD, prev, 0, NULL, 0, &why), POL_REACH_NO);
}

Test(reach, unknown_formats_and_the_execvp_fallback)
{
	const char *f = put("data", "plain words, no #!\n", 19, 0755);
	cr_assert_eq(pol_reach(AT_FDCWD, f, 0, NULL, 0, NULL), POL_REACH_NO);   /* binfmt_misc may run it */
	cr_assert_eq(pol_reach(AT_FDCWD, f, 0, NULL, 1, NULL), POL_REACH_YES);  /* execvp: /bin/sh runs it */
}

Test(reach, by_descriptor)
{
	int fd = open("/bin/sh", O_PATH | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pol_reach(fd, "", AT_EMPTY_PATH, NULL, 0, NULL), POL_REACH_YES);
	close(fd);
}
