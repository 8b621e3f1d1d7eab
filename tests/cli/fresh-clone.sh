#!/bin/bash
# fresh-clone.sh — `make check` must pass on a plain clone with nothing
# beside it (issue 12, must-show 1): clone this repository's HEAD into a new
# temporary directory, where no ../shared (or anything else) sits next to
# it, and build and run the unit tier there.  Catches test data read from
# outside the repository (the RFC 8448 vectors once were) and build rules
# that depend on files that are not committed.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d /tmp/secsock-fresh.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "not ok - $1"; [ -n "${2:-}" ] && tail -20 "$2" | sed 's/^/#   /'; echo "# fresh-clone: failed (files in $T kept)"; trap - EXIT; exit 1; }

git -C "$here" rev-parse HEAD >/dev/null 2>&1 || { echo "ok - skipped (not a git checkout)"; exit 0; }
git clone --quiet --no-local "$here" "$T/secsock" >"$T/clone.log" 2>&1 || fail "git clone" "$T/clone.log"
[ ! -e "$T/shared" ] || fail "the temporary directory has a 'shared' beside the clone"
echo "ok - cloned $(git -C "$T/secsock" rev-parse --short HEAD) into $T/secsock (nothing beside it)"
# -C: the clone's own Makefile and sources; deps are the host's (make check
# installed them before this tier runs).
if ! make -C "$T/secsock" -j"$(nproc)" unit >"$T/unit.log" 2>&1; then
	fail "make unit in the fresh clone" "$T/unit.log"
fi
n=$(grep -c 'Synthesis: Tested' "$T/unit.log")
bad=$(grep 'Synthesis: Tested' "$T/unit.log" | grep -vc 'Failing: 0 | Crashing: 0')
[ "$n" -gt 0 ] && [ "$bad" = 0 ] || fail "unit tier in the fresh clone: $bad of $n binaries failed" "$T/unit.log"
echo "ok - make unit in the fresh clone: $n test binaries, all passed"
echo "# fresh-clone: all 2 checks passed"
