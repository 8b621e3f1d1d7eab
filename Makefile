# secsock — build, test, fuzz, install.
#
# Sources are found by folder: core/*.c, core/base/*.c and policy/*.c form the
# static core library (linked into `secsock` and the tests); preload/*.c with
# policy/*.c and core/base/*.c (no OpenSSL) make libsecsock.so; core/ with
# core/ss_engine.c makes libsecsock-engine.so, which libsecsock.so dlopens
# from its own directory on the first governed connection (docs/design.md,
# "Two libraries"); cli/*.c makes `secsock`.  Tests (tests/README.md):
# tests/<component>/test_*.c are Criterion binaries; tests/cli/*.sh,
# tests/integration/*.sh and tests/security/*.sh are scripts that drive the
# real binaries; tests/fuzz/fuzz_*.c are libFuzzer targets.

CC       ?= gcc
BUILD    ?= build
PREFIX   ?= /usr/local
DESTDIR  ?=
# Install directories.  Debian's package sets LIBDIR to a directory of its
# own under the multiarch one (/usr/lib/x86_64-linux-gnu/secsock,
# debian/rules); `secsock run` looks for the libraries at LIBDIR relative to
# BINDIR, so the tree stays relocatable (cli/cli_run.c, find_library).
BINDIR   ?= $(PREFIX)/bin
LIBDIR   ?= $(PREFIX)/lib
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INCLUDEDIR ?= $(PREFIX)/include
MANDIR   ?= $(PREFIX)/share/man
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
PKGS     := openssl libsodium inih
VERSION  := 0.1.0

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CRIT_CFLAGS := $(shell pkg-config --cflags criterion 2>/dev/null)
CRIT_LIBS   := $(shell pkg-config --libs criterion 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter
CFLAGS   ?= -O2 -g
ALL_CFLAGS = -std=c17 -D_GNU_SOURCE -fPIC -fvisibility=hidden \
             -fstack-protector-strong -D_FORTIFY_SOURCE=2 \
             $(WARN) $(CFLAGS) -Iinclude -Icore -Icore/base -Ipolicy -Ipreload -Ikds \
             -DSECSOCK_VERSION='"$(VERSION)"' $(PKG_CFLAGS) $(CPPFLAGS)
# CPPFLAGS and LDFLAGS are empty here; dpkg-buildflags fills them for the
# Debian package (debian/rules: relro, bindnow, fortify).
LDFLAGS  ?=
LDLIBS   := $(PKG_LIBS) -lpthread -ldl
# libsecsock.so must not pull libssl/libcrypto in (start-up cost, issue 6);
# the engine gets them.
SO_LIBS     := $(shell pkg-config --libs libsodium inih 2>/dev/null) -lpthread -ldl
ENGINE_LIBS := $(shell pkg-config --libs openssl libsodium 2>/dev/null) -lpthread

ENGINE_SRC  := core/ss_engine.c
CORE_SRC    := $(filter-out $(ENGINE_SRC),$(wildcard core/*.c core/base/*.c)) $(wildcard policy/*.c)
# core/base/: the core files without OpenSSL, linked into libsecsock.so
# itself, so names in log lines, policy parsing and ClientHello
# classification never load the engine.  The folder is the rule: the link
# below uses -z defs without libssl/libcrypto, so an OpenSSL call in
# core/base/ (or preload/, policy/) fails the build, and check-exports
# refuses a libsecsock.so that needs either library.
PURE_CORE_SRC := $(wildcard core/base/*.c)
PRELOAD_SRC := $(wildcard preload/*.c)
# kds/ (the key distribution service) is linked into `secsock kds`.
CLI_SRC     := $(wildcard cli/*.c) $(wildcard kds/*.c)
UNIT_SRC    := $(wildcard tests/*/test_*.c)
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
CORE_OBJ    := $(call obj,$(CORE_SRC))
ENGINE_OBJ  := $(call obj,$(ENGINE_SRC))
SO_OBJ      := $(call obj,$(wildcard preload/*.c) $(wildcard policy/*.c) $(PURE_CORE_SRC))
CLI_OBJ     := $(call obj,$(CLI_SRC))
UNIT_BIN    := $(patsubst tests/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
# test helpers (tests/<dir>/*.c that are not test_*.c and not fuzz) are
# standalone programs used by scripts: tests/tools/*.c
TOOL_SRC    := $(wildcard tests/tools/*.c)
TOOL_BIN    := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRC))

CORE_LIB    := $(BUILD)/libsecsock-core.a
SO          := $(BUILD)/libsecsock.so
ENGINE      := $(BUILD)/libsecsock-engine.so
CLI         := $(BUILD)/secsock

# A second engine for tests/security/s50-core-dump.sh only, with
# -DSECSOCK_TEST_HOOKS (it reports the traffic secrets it uses, core/
# ss_rec_keys.c), next to a copy of the preload that loads it.  The release
# libraries never contain the hook.
TESTHOOK_DIR := $(BUILD)/testhooks
TESTHOOK_SRC := core/ss_rec_keys.c core/ss_mem.c core/ss_clock.c
TESTHOOK_OBJ := $(patsubst %.c,$(TESTHOOK_DIR)/obj/%.o,$(TESTHOOK_SRC))

TARGETS := $(CORE_LIB) $(if $(PRELOAD_SRC),$(SO) $(ENGINE) $(TESTHOOK_DIR)/libsecsock.so) \
           $(if $(CLI_SRC),$(CLI) $(TESTHOOK_DIR)/secsock) $(BUILD)/secsock.pc

.PHONY: all release deb check-package example check unit check-valgrind check-cli check-integration check-clang \
        check-exports check-layers check-structure check-key-effects check-security check-bench check-compat-quick compat fuzz fuzz-run install uninstall clean deps demo bench bench-quick soak

all: $(TARGETS) $(TOOL_BIN)

# What `make install` and the Debian package ship: no test tools, no
# test-hook engine.
release: $(CORE_LIB) $(if $(PRELOAD_SRC),$(SO) $(ENGINE)) $(if $(CLI_SRC),$(CLI)) $(BUILD)/secsock.pc

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

-include $(shell find $(BUILD)/obj $(BUILD)/testhooks/obj $(BUILD)/tests $(BUILD)/tools -name '*.d' 2>/dev/null)

$(CORE_LIB): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Only the interposed libc names and secsock_* are exported (preload/libsecsock.map).
# Built together with the engine: the preload is useless without it.
$(SO): $(SO_OBJ) $(ENGINE)
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -o $@ $(SO_OBJ) \
	  -Wl,--version-script=preload/libsecsock.map -Wl,-z,nodelete -Wl,-z,now \
	  -Wl,-z,defs -Wl,--as-needed $(SO_LIBS)

# The engine exports secsock_engine_v1 only (core/ss_engine.map); nodelete
# because connections keep pointers into it for the life of the process.
$(ENGINE): $(ENGINE_OBJ) $(CORE_LIB) core/ss_engine.map
	$(CC) $(LDFLAGS) -shared -o $@ $(ENGINE_OBJ) $(CORE_LIB) \
	  -Wl,--version-script=core/ss_engine.map -Wl,-z,nodelete -Wl,-z,now \
	  $(ENGINE_LIBS)

$(TESTHOOK_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DSECSOCK_TEST_HOOKS -MMD -MP -c $< -o $@

# The hooked objects come first, so the archive's copies are never pulled in.
$(TESTHOOK_DIR)/libsecsock-engine.so: $(ENGINE_OBJ) $(TESTHOOK_OBJ) $(CORE_LIB) core/ss_engine.map
	$(CC) -shared -o $@ $(ENGINE_OBJ) $(TESTHOOK_OBJ) $(CORE_LIB) \
	  -Wl,--version-script=core/ss_engine.map -Wl,-z,nodelete -Wl,-z,now \
	  $(ENGINE_LIBS)

$(TESTHOOK_DIR)/libsecsock.so: $(SO) $(TESTHOOK_DIR)/libsecsock-engine.so
	cp $(SO) $@

# LIBDIR as seen from BINDIR ("../lib", "../lib/x86_64-linux-gnu"), compiled
# into cli_run.o; the stamp changes only when the value does, so a build
# with another LIBDIR recompiles that one object.
LIBDIR_REL := $(if $(filter $(PREFIX)/%,$(LIBDIR)),$(if $(filter $(PREFIX)/bin,$(BINDIR)),../$(patsubst $(PREFIX)/%,%,$(LIBDIR)),$(LIBDIR)),$(LIBDIR))
$(BUILD)/libdir.stamp: FORCE
	@mkdir -p $(dir $@)
	@echo '$(LIBDIR_REL)' | cmp -s - $@ 2>/dev/null || echo '$(LIBDIR_REL)' >$@
$(BUILD)/obj/cli/cli_run.o: $(BUILD)/libdir.stamp
$(BUILD)/obj/cli/cli_run.o: ALL_CFLAGS += -DSECSOCK_LIBDIR_REL='"$(LIBDIR_REL)"'
FORCE:

$(CLI): $(CLI_OBJ) $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(CORE_LIB) $(LDLIBS)

# `secsock` with the hooked clock, for tests only (a KDS whose clock walks
# L2 periods with its members: tests/integration/87-group-kds.sh).
$(TESTHOOK_DIR)/secsock: $(CLI_OBJ) $(TESTHOOK_OBJ) $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(TESTHOOK_OBJ) $(CORE_LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CRIT_CFLAGS) -Itests -MMD -MP -o $@ $< $(CORE_LIB) $(CRIT_LIBS) $(LDLIBS)

# tests/preload/: the unit tier of preload/ — each test links the one pure
# preload object it tests (no interposed libc names in the test binary).
PRELOAD_UNIT_OBJ := $(call obj,preload/pre_state.c)
$(BUILD)/tests/preload/%: tests/preload/%.c $(CORE_LIB) $(PRELOAD_UNIT_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CRIT_CFLAGS) -Itests -MMD -MP -o $@ $< $(PRELOAD_UNIT_OBJ) $(CORE_LIB) $(CRIT_LIBS) $(LDLIBS)

$(BUILD)/tools/%: tests/tools/%.c $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests -MMD -MP -o $@ $< $(CORE_LIB) $(LDLIBS)

# docs/example/: programs that use the public API as a user would — only
# include/, no project-internal header, no library at link time (the
# secsock_* calls are weak) — built with -Werror by `make check`.
EXAMPLE_SRC := $(wildcard docs/example/*.c)
EXAMPLE_BIN := $(patsubst docs/example/%.c,$(BUILD)/example/%,$(EXAMPLE_SRC))
example: $(EXAMPLE_BIN)
$(BUILD)/example/%: docs/example/%.c include/secsock.h
	@mkdir -p $(dir $@)
	$(CC) -std=c17 -D_GNU_SOURCE $(WARN) $(CFLAGS) -Iinclude -o $@ $<

$(BUILD)/secsock.pc: secsock.pc.in Makefile
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	  -e 's|@VERSION@|$(VERSION)|g' $< > $@

# ---------------------------------------------------------------- tests
# `make check` is the one command CI runs (.ci/run).  It installs missing
# Debian packages first, builds with gcc, runs every tier, then rebuilds with
# clang so both compilers stay clean.
# The builds in check use every core (CI has 2; a serial build of gcc and
# clang trees is minutes of its 20-minute budget); the tests stay serial.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

check: deps
	$(MAKE) -j$(JOBS) all example $(UNIT_BIN)
	$(MAKE) unit
	$(MAKE) check-valgrind
	$(MAKE) check-exports
	$(MAKE) check-layers
	$(MAKE) check-structure
	$(MAKE) check-key-effects
	$(MAKE) check-cli
	$(MAKE) check-integration
	$(MAKE) check-security
	$(MAKE) check-bench
	$(MAKE) check-compat-quick
	$(MAKE) check-clang
	@echo "make check: all tiers passed"

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; \
	  SECSOCK_VECTORS=$(CURDIR)/tests/vectors $$t --jobs 2 || exit 1; done

# The core and policy unit tests once more under valgrind (leaks and invalid
# accesses fail the run).  Criterion forks workers; --trace-children follows;
# two workers, as `make unit` runs them (2 cores: about a third less time).
check-valgrind: $(UNIT_BIN)
	@set -e; for t in $(filter $(BUILD)/tests/core/% $(BUILD)/tests/policy/%,$(UNIT_BIN)); do \
	  echo "== valgrind $$t"; \
	  SECSOCK_VECTORS=$(CURDIR)/tests/vectors valgrind -q --error-exitcode=99 --leak-check=full \
	    --errors-for-leak-kinds=definite --trace-children=yes \
	    --suppressions=tests/valgrind.supp $$t --jobs 2 || exit 1; done

check-exports: all
	@if [ -f $(SO) ]; then scripts/check-exports.sh $(SO) $(ENGINE); fi

# preload/'s stream engine calls nothing above it (scripts/check-layers.sh;
# `scripts/check-layers.sh build/obj/preload --graph` prints the graph).
check-layers: all
	@scripts/check-layers.sh $(BUILD)/obj/preload

# Issue 12's size bounds: no file in core/, core/base/, policy/, preload/,
# cli/ over 900 lines, no function over 120 (data tables exempt).
check-structure:
	@scripts/check-structure.sh

# Issue 14 must-show 3: every policy key has a test of its run-time effect
# (tests/key-effects.tsv), so a key cannot be added without one.
check-key-effects: all
	@scripts/check-key-effects.sh $(BUILD)/secsock

check-cli: all
	@BUILD=$(abspath $(BUILD)) scripts/run-tier.sh cli $(filter-out tests/cli/package.sh,$(wildcard tests/cli/*.sh))

check-integration: all
	@BUILD=$(abspath $(BUILD)) scripts/run-tier.sh integration $(wildcard tests/integration/*.sh)

# Regression tests for the attacks of issue 10 (tests/security/README.md):
# each script is the attack, made by our own tools, against the built library.
check-security: all
	@BUILD=$(abspath $(BUILD)) scripts/run-tier.sh security $(wildcard tests/security/*.sh)

# Real Debian programs through a recording tap (tests/compat/README.md):
# `make compat` installs the compat package list and runs every program;
# check-compat-quick runs the QUICK=1 subset (base packages only, < 5 min).
compat: all
	@BUILD=$(abspath $(BUILD)) bash tests/compat/run.sh

check-compat-quick: all
	@BUILD=$(abspath $(BUILD)) bash tests/compat/run.sh --quick

check-clang:
	$(MAKE) -j$(JOBS) BUILD=$(BUILD)/clang CC=clang all example $(patsubst $(BUILD)/%,$(BUILD)/clang/%,$(UNIT_BIN))

# ---------------------------------------------------------------- fuzzing
FUZZ_CFLAGS := -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
               -Iinclude -Icore -Icore/base -Ipolicy $(PKG_CFLAGS) -DSECSOCK_VERSION='"$(VERSION)"'
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
fuzz: $(FUZZ_BIN)
$(BUILD)/fuzz/%: tests/fuzz/%.c $(CORE_SRC)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(CORE_SRC) $(LDLIBS)
# FUZZ_RUNS executions of each target (default one million), corpus in build/.
FUZZ_RUNS ?= 1000000
fuzz-run: fuzz
	@set -e; for f in $(FUZZ_BIN); do n=$$(basename $$f); mkdir -p $(BUILD)/corpus/$$n; \
	  seeds=tests/fuzz/seeds/$$n; [ -d $$seeds ] || seeds=; \
	  echo "== $$n"; $$f -runs=$(FUZZ_RUNS) -max_len=20000 $(BUILD)/corpus/$$n $$seeds 2>&1 | tail -3; done

# ---------------------------------------------------------------- other
deps:
	@scripts/install-deps.sh

demo: deps
	$(MAKE) all
	@scripts/demo.sh

bench: deps all
	@bench/run.sh

bench-quick: deps all
	@bench/run.sh --quick

# The bench-quick smoke run in CI (issue 6): into the build tree, since only
# full runs write bench/results/ and the README; then a completeness check
# (every target has a verdict, nothing "not measured", plots drawn), never
# a check of the figures, which are noisy on shared machines.
check-bench: all
	@BUILD=$(abspath $(BUILD)) bench/run.sh --quick --out $(BUILD)/bench-quick
	@bench/check-results.sh $(BUILD)/bench-quick

soak: deps all
	@set -e; for s in $(wildcard tests/soak/*.sh); do echo "== $$s"; BUILD=$(abspath $(BUILD)) bash $$s; done

# `make deb`: the Debian package (debian/), built from a copy of the
# source in $(BUILD)/deb/ so nothing is written into the tree (dpkg-buildpackage
# writes its results next to the source directory); then lintian.
deb:
	@scripts/install-deps.sh debhelper devscripts lintian fakeroot dpkg-dev
	@scripts/make-deb.sh $(abspath $(BUILD))/deb $(VERSION)

# Issue 16 must-show 5 (tests/cli/package.sh): build the .deb, install it
# with apt-get, run the demo from the installed paths, purge it.  Root only,
# and changes the system's packages, so not part of `make check`
# (README, "The Debian package").
check-package: deb
	@BUILD=$(abspath $(BUILD)) bash tests/cli/package.sh

# docs/man/NAME.N goes to MANDIR/manN/ (sections 1, 3, 5, 8).
MAN_PAGES := $(wildcard docs/man/*.[1358])

install: release
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(INCLUDEDIR) \
	  $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(COMPLETIONDIR)
	[ ! -f $(SO) ] || install -m 0644 $(SO) $(ENGINE) $(DESTDIR)$(LIBDIR)/
	[ ! -f $(CLI) ] || install -m 0755 $(CLI) $(DESTDIR)$(BINDIR)/
	install -m 0644 include/secsock.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 0644 $(BUILD)/secsock.pc $(DESTDIR)$(PKGCONFIGDIR)/
	install -m 0644 completion/secsock.bash $(DESTDIR)$(COMPLETIONDIR)/secsock
	for m in $(MAN_PAGES); do install -D -m 0644 $$m $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/}; done

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libsecsock.so $(DESTDIR)$(LIBDIR)/libsecsock-engine.so $(DESTDIR)$(BINDIR)/secsock \
	  $(DESTDIR)$(INCLUDEDIR)/secsock.h $(DESTDIR)$(PKGCONFIGDIR)/secsock.pc \
	  $(DESTDIR)$(COMPLETIONDIR)/secsock \
	  $(foreach m,$(MAN_PAGES),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m)))

clean:
	rm -rf $(BUILD)
