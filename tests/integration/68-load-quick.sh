#!/usr/bin/env bash
# 68-load-quick — the soak tier's load (tests/soak/70-load-eventloop.sh,
# 71-load-fork.sh; issue 11 "Load") in small: 200 connections for 5 seconds to
# the event-loop server and to the forking server, with every check of the
# full soak (0 errors, every byte checked, descriptors, RSS and the shared
# connection-state mappings back to the baseline, no child left); then
# 72-fork-exits (a forking listener's shared state given back whether its
# children close, _exit with the socket open, or are killed).
. "$(dirname "$0")/lib.sh"
for s in 70-load-eventloop 71-load-fork 72-fork-exits; do
	SOAK_SECS=${SOAK_SECS:-5} SOAK_CONNS=${SOAK_CONNS:-200} TMPDIR=$T \
		bash "$REPO/tests/soak/$s.sh" >"$T/$s.txt" 2>&1
	rc=$?
	grep '^# ' "$T/$s.txt" | grep -v '^# files kept'
	if [ "$rc" -eq 0 ]; then
		pass "$(tail -n1 "$T/$s.txt" | sed 's/^# //')"
	else
		fail "$s (exit $rc): $(grep -c "^not ok" "$T/$s.txt") checks failed (output: $T/$s.txt)"
		grep '^not ok' "$T/$s.txt" | sed 's/^/#   /'
	fi
done
finish
