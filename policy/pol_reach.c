/* pol_reach.c — is a program reachable by LD_PRELOAD? (see pol_reach.h)
 *
 * An image is reachable only if the kernel hands it to glibc's dynamic
 * loader (ld.so(8)) and the loader honours LD_PRELOAD for it:
 *   - ELF of this process's class, byte order and machine (the loader
 *     ignores a preload of another class: "wrong ELF class", and a foreign
 *     binary runs under binfmt_misc/qemu if at all);
 *   - with a PT_INTERP naming glibc's loader: a static binary (also a
 *     static-pie, which is ET_DYN with PT_DYNAMIC but no PT_INTERP) makes
 *     its own system calls, and musl's or another libc's loader does not
 *     load a glibc-linked library;
 *   - not a Go program: Go makes raw system calls even when dynamically
 *     linked (its ELF note "Go" of type 4, NT_GO_BUILDID, or the sections
 *     .go.buildinfo / .note.go.buildid);
 *   - not secure-execution (ld.so(8) "Secure-execution mode", AT_SECURE in
 *     getauxval(3)): the loader drops LD_PRELOAD when the exec changes the
 *     effective ids (set-user-ID / set-group-ID file whose owner is not our
 *     real id; a process whose effective and real ids differ) or grants
 *     file capabilities (xattr security.capability) to a process whose real
 *     uid is not 0 — the kernel's cap_bprm_creds_from_file().  Set-id bits
 *     and capabilities do nothing on a nosuid mount or under no_new_privs.
 *   - a script ("#!", binfmt_script) is whatever its interpreter is,
 *     followed as the kernel does (the interpreter may be a script itself,
 *     a bounded number of levels: BINPRM_MAX_RECURSION, 4, in the kernels
 *     that have it; deeper fails with ELOOP); "#!/usr/bin/env PROG" is env
 *     and PROG as env's execvp finds it.  The set-id bits and capabilities
 *     of a script are ignored by Linux: those of the ELF that runs count.
 *   - anything else is ENOEXEC for the kernel unless binfmt_misc has a
 *     handler for it; we cannot see the host's handlers from every mount
 *     namespace, so such a file is unreachable (the execvp family runs an
 *     ENOEXEC file with /bin/sh: that shell then decides).
 * A file we cannot read (execute-only) cannot be checked: unreachable.  A
 * file the exec will fail on (missing, not executable, not a regular file)
 * is reachable: nothing runs.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include "pol_reach.h"

enum { BUF = 256 /* BINPRM_BUF_SIZE */, DEPTH_MAX = 4, NOTE_MAX = 1 << 16, SHSTR_MAX = 1 << 16 };

#if defined(__x86_64__)
#define OUR_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define OUR_MACHINE EM_AARCH64
#elif defined(__i386__)
#define OUR_MACHINE EM_386
#elif defined(__arm__)
#define OUR_MACHINE EM_ARM
#elif defined(__riscv)
#define OUR_MACHINE EM_RISCV
#elif defined(__powerpc64__)
#define OUR_MACHINE EM_PPC64
#elif defined(__s390x__)
#define OUR_MACHINE EM_S390
#else
#define OUR_MACHINE EM_NONE   /* unknown here: the class and byte order still count */
#endif
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define OUR_DATA ELFDATA2LSB
#else
#define OUR_DATA ELFDATA2MSB
#endif
#if __SIZEOF_POINTER__ == 8
#define OUR_CLASS ELFCLASS64
#else
#define OUR_CLASS ELFCLASS32
#endif

struct walk {
	const char *path_env;
	const char *why;
};

static pol_reach_verdict no(struct walk *w, const char *why)
{
	w->why = why;
	return POL_REACH_NO;
}

static int pread_full(int fd, void *buf, size_t len, off_t off)
{
	return pread(fd, buf, len, off) == (ssize_t)len;
}

/* glibc's loader by name: ld-linux*.so.N (x86, arm, aarch64, riscv),
 * ld64.so.N (ppc64, s390x), ld.so.1 (ppc, mips).  musl's is ld-musl-*. */
static int glibc_loader(const char *interp)
{
	const char *b = strrchr(interp, '/');
	b = b ? b + 1 : interp;
	return !strncmp(b, "ld-linux", 8) || !strncmp(b, "ld64.so.", 8) || !strcmp(b, "ld.so.1");
}

/* A "Go" note (owner "Go", any type) in the note bytes n[0..len). */
static int go_note(const unsigned char *n, size_t len)
{
	size_t off = 0;
	while (off + 12 <= len) {
		uint32_t nsz, dsz;
		memcpy(&nsz, n + off, 4);
		memcpy(&dsz, n + off + 4, 4);
		size_t name = off + 12, next = name + ((nsz + 3u) & ~3u) + ((dsz + 3u) & ~3u);
		if (nsz > len || dsz > len || name + nsz > len)
			return 0;
		if ((nsz == 3 || nsz == 4) && !memcmp(n + name, "Go", 3))   /* Go writes "Go\0\0", namesz 4 */
			return 1;
		if (next <= off)
			return 0;
		off = next;
	}
	return 0;
}

/* Sections .go.buildinfo or .note.go.buildid (Go's linker writes them even
 * into stripped binaries). */
static int go_sections(int fd, const ElfW(Ehdr) *eh)
{
	ElfW(Shdr) sh;
	char *names;
	int go = 0;

	if (!eh->e_shoff || eh->e_shstrndx == SHN_UNDEF || eh->e_shstrndx >= eh->e_shnum ||
	    eh->e_shentsize != sizeof sh ||
	    !pread_full(fd, &sh, sizeof sh, (off_t)(eh->e_shoff + (ElfW(Off))eh->e_shstrndx * sizeof sh)) ||
	    sh.sh_size == 0 || sh.sh_size > SHSTR_MAX || !(names = malloc(sh.sh_size + 1)))
		return 0;
	if (pread_full(fd, names, sh.sh_size, (off_t)sh.sh_offset)) {
		size_t nlen = sh.sh_size;
		names[nlen] = '\0';
		for (unsigned i = 0; i < eh->e_shnum && i < 4096 && !go; i++) {
			ElfW(Shdr) s;
			if (!pread_full(fd, &s, sizeof s, (off_t)(eh->e_shoff + (ElfW(Off))i * sizeof s)))
				break;
			if (s.sh_name < nlen &&
			    (!strcmp(names + s.sh_name, ".go.buildinfo") || !strcmp(names + s.sh_name, ".note.go.buildid")))
				go = 1;
		}
	}
	free(names);
	return go;
}

/* Does exec of this file (open as fd) put the loader in secure mode? */
static const char *secure_exec(int fd, const struct stat *sb)
{
	struct statvfs vf;
	uid_t ruid = getuid();

	if (ruid != geteuid() || getgid() != getegid())
		return "this process runs with changed ids, so every program it starts is in secure-execution mode";
	if ((fstatvfs(fd, &vf) == 0 && (vf.f_flag & ST_NOSUID)) || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1)
		return NULL;   /* set-id bits and file capabilities are ignored */
	if ((sb->st_mode & S_ISUID) && sb->st_uid != ruid)
		return "set-user-ID: the loader ignores LD_PRELOAD (secure-execution mode)";
	if ((sb->st_mode & S_ISGID) && (sb->st_mode & S_IXGRP) && sb->st_gid != getgid())
		return "set-group-ID: the loader ignores LD_PRELOAD (secure-execution mode)";
	if (ruid != 0 && fgetxattr(fd, "security.capability", NULL, 0) >= 0)
		return "it has file capabilities: the loader ignores LD_PRELOAD (secure-execution mode)";
	return NULL;
}

static pol_reach_verdict reach_at(struct walk *w, int dirfd, const char *path, int flags, int sh_fallback,
                                  int depth);

/* The ELF of fd (its first bytes in buf). */
static pol_reach_verdict reach_elf(struct walk *w, int fd, const struct stat *sb, const unsigned char *buf)
{
	ElfW(Ehdr) eh;
	char interp[PATH_MAX];
	int has_interp = 0, go = 0;
	const char *why;

	memcpy(&eh, buf, sizeof eh);
	if (eh.e_ident[EI_CLASS] != OUR_CLASS || eh.e_ident[EI_DATA] != OUR_DATA ||
	    (OUR_MACHINE != EM_NONE && eh.e_machine != OUR_MACHINE))
		return no(w, "an ELF program of another class or machine: the loader does not load the preload into it");
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
		return POL_REACH_YES;   /* ENOEXEC: nothing runs */
	if (eh.e_phentsize != sizeof(ElfW(Phdr)))
		return no(w, "an ELF program whose headers cannot be read");
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		ElfW(Phdr) ph;
		if (!pread_full(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (ElfW(Off))i * sizeof ph)))
			return no(w, "an ELF program whose headers cannot be read");
		if (ph.p_type == PT_INTERP) {
			size_t n = ph.p_filesz < sizeof interp ? ph.p_filesz : sizeof interp - 1;
			if (!n || !pread_full(fd, interp, n, (off_t)ph.p_offset))
				return no(w, "an ELF program whose interpreter cannot be read");
			interp[n] = '\0';
			has_interp = 1;
		} else if (ph.p_type == PT_NOTE && !go && ph.p_filesz <= NOTE_MAX) {
			unsigned char *note = malloc(ph.p_filesz ? ph.p_filesz : 1);
			if (note && pread_full(fd, note, ph.p_filesz, (off_t)ph.p_offset))
				go = go_note(note, ph.p_filesz);
			free(note);
		}
	}
	if (!has_interp)
		return no(w, "statically linked (no program interpreter): it makes its own system calls");
	if (!glibc_loader(interp))
		return no(w, "its program interpreter is not glibc's loader (musl or another libc)");
	if (go || go_sections(fd, &eh))
		return no(w, "a Go program: Go makes its own system calls");
	if ((why = secure_exec(fd, sb)))
		return no(w, why);
	return POL_REACH_YES;
}

/* "#!/usr/bin/env PROG": PROG as env's execvp finds it. */
static pol_reach_verdict reach_env_prog(struct walk *w, const char *prog, int depth)
{
	const char *p = w->path_env ? w->path_env : "/usr/local/bin:/usr/bin:/bin";
	char cand[PATH_MAX];

	if (strchr(prog, '/'))
		return reach_at(w, AT_FDCWD, prog, 0, 1, depth);
	while (*p) {
		size_t n = strcspn(p, ":");
		if (snprintf(cand, sizeof cand, "%.*s/%s", (int)n, n ? p : ".", prog) < (int)sizeof cand &&
		    access(cand, X_OK) == 0)
			return reach_at(w, AT_FDCWD, cand, 0, 1, depth);
		p += n + (p[n] == ':');
	}
	return POL_REACH_YES;   /* env will not find it: nothing runs */
}

/* A "#!" line in buf[0..len): the interpreter, then env's PROG. */
static pol_reach_verdict reach_script(struct walk *w, const unsigned char *buf, size_t len, int depth)
{
	char line[BUF + 1], *s, *interp, *arg;
	size_t n = 2;
	pol_reach_verdict v;

	if (depth >= DEPTH_MAX)
		return no(w, "a script whose #! interpreters nest too deep to follow");
	while (n < len && buf[n] != '\n')
		n++;
	memcpy(line, buf + 2, n - 2);
	line[n - 2] = '\0';
	s = line + strspn(line, " \t");
	interp = s;
	s += strcspn(s, " \t");
	arg = NULL;
	if (*s) {
		*s++ = '\0';
		arg = s + strspn(s, " \t");
		arg[strcspn(arg, " \t")] = '\0';   /* env's first word is what it runs */
	}
	if (!*interp)
		return POL_REACH_YES;   /* ENOEXEC */
	v = reach_at(w, AT_FDCWD, interp, 0, 0, depth + 1);
	if (v != POL_REACH_YES)
		return v;
	{
		const char *b = strrchr(interp, '/');
		b = b ? b + 1 : interp;
		if (!strcmp(b, "env") && arg && *arg && *arg != '-' && !strchr(arg, '='))
			return reach_env_prog(w, arg, depth + 1);
	}
	return POL_REACH_YES;
}

static pol_reach_verdict reach_at(struct walk *w, int dirfd, const char *path, int flags, int sh_fallback,
                                  int depth)
{
	unsigned char buf[BUF];
	char proc[64];
	struct stat sb;
	ssize_t len;
	int fd;
	pol_reach_verdict v;

	if ((flags & AT_EMPTY_PATH) && path && !*path) {
		/* fexecve / execveat(fd, "", AT_EMPTY_PATH): the fd may be O_PATH */
		snprintf(proc, sizeof proc, "/proc/self/fd/%d", dirfd);
		if (fstat(dirfd, &sb) != 0)
			return POL_REACH_YES;   /* EBADF: nothing runs */
		fd = open(proc, O_RDONLY | O_CLOEXEC);
	} else {
		if (!path || fstatat(dirfd, path, &sb, flags & AT_SYMLINK_NOFOLLOW) != 0)
			return POL_REACH_YES;   /* the exec fails by itself */
		fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | (flags & AT_SYMLINK_NOFOLLOW ? O_NOFOLLOW : 0));
	}
	if (!S_ISREG(sb.st_mode) || !(sb.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH))) {
		if (fd >= 0)
			close(fd);
		return POL_REACH_YES;   /* EACCES */
	}
	if (fd < 0)
		return no(w, "it cannot be read (execute-only), so it cannot be checked");
	len = pread(fd, buf, sizeof buf, 0);
	if (len >= (ssize_t)sizeof(ElfW(Ehdr)) && !memcmp(buf, ELFMAG, SELFMAG))
		v = reach_elf(w, fd, &sb, buf);
	else if (len >= 2 && buf[0] == '#' && buf[1] == '!')
		v = reach_script(w, buf, (size_t)len, depth);
	else if (len >= SELFMAG && !memcmp(buf, ELFMAG, SELFMAG))
		v = no(w, "a truncated ELF file");
	else if (sh_fallback && depth < DEPTH_MAX)
		v = reach_at(w, AT_FDCWD, "/bin/sh", 0, 0, depth + 1);   /* execvp(3): ENOEXEC runs sh */
	else
		v = no(w, "not an ELF program or a script: binfmt_misc may run it with an interpreter we cannot check");
	close(fd);
	return v;
}

pol_reach_verdict pol_reach(int dirfd, const char *path, int flags, const char *path_env, int sh_fallback,
                            const char **why)
{
	struct walk w = { path_env, NULL };
	int saved = errno;
	pol_reach_verdict v = reach_at(&w, dirfd, path, flags, sh_fallback, 0);

	if (why)
		*why = w.why;
	errno = saved;
	return v;
}
