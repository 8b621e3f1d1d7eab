#!/usr/bin/env bash
# 72-fork-exits — the forking server's listener gives every connection's
# shared state back however its children end (found by 71-load-fork: socat's
# children exit without close, and the listener kept a slot per connection).
# tests/soak/fork_echo.py, preloaded, in three modes: children that close and
# _exit, that exit with the socket open, that are killed by SIGKILL with it
# open.  Per mode: SOAK_ROUNDS (3) loads of SOAK_CONNS (200) connections for
# 1 s; after each, the listener's shared anonymous mappings (the preload's
# connection-state arena, 128 connections per mapping) and RSS; they must not
# grow after the first round.  A killed child's client sees a truncation
# (no close_notify), which is right; the others must end ok.
. "$(dirname "$0")/../integration/lib.sh"
SOAK_CONNS=${SOAK_CONNS:-200}
SOAK_ROUNDS=${SOAK_ROUNDS:-3}
SOAK_SECS=1
. "$(dirname "$0")/soaklib.bash"
soak_init

for mode in close noclose kill; do
	PORT=$(free_port)
	start_bg "fork-$mode" preload "$T/server-$mode.log" "$PY" "$REPO/tests/soak/fork_echo.py" \
		127.0.0.1 "$PORT" "$mode"
	SPID=$BG_PID
	wait_listen "$PORT" 10 "$SPID" || bail "fork_echo $mode did not listen" "$T/fork-$mode.err"
	ROWS=()
	first_shm= first_rss= allok=1
	for ((r = 1; r <= SOAK_ROUNDS; r++)); do
		run_load "$mode-$r" "$PORT" "$SOAK_CONNS" 1 "$r" >/dev/null
		[ "$mode" = kill ] || [ "${LOAD_OK:-}" = "$SOAK_CONNS" ] || allok=0
		settle "$SPID" 1000 30 || fail "$mode: children still running after round $r"
		sample "round-$r" "$SPID"
		[ -n "$first_shm" ] || { first_shm=$S_SHM; first_rss=$S_RSS; }
	done
	if [ "$mode" != kill ]; then
		assert_eq "$allok" 1 "$mode: every connection of every round ok"
	else
		assert_grep '^errors: '"$SOAK_CONNS"'$' "$T/kill-1.out" "kill: every client saw its server die (no close_notify)"
	fi
	check "$mode: listener still serving" kill -0 "$SPID"
	assert_eq "$S_SHM" "$first_shm" "$mode: shared connection-state mappings do not grow from round 1 to round $SOAK_ROUNDS"
	assert_between "$S_RSS" 0 $((first_rss + 256)) "$mode: listener RSS does not grow ($first_rss kB + 256 kB)"
	print_table "fork_echo.py, children: $mode; $SOAK_ROUNDS rounds of $SOAK_CONNS connections"
	stop_pid "$SPID"
done
finish
