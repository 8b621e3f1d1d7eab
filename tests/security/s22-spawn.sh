#!/usr/bin/env bash
# s22-spawn.sh — children started by glibc without our exec wrappers never
# write in clear on the parent's secured socket (issue 10, finding 06,
# children): system, popen, wordexp's command substitution, posix_spawn and
# posix_spawnp (the child does not get the descriptor; the parent's
# connection keeps working), a posix_spawn dup2 file action of the socket
# (refused: EPERM), _Fork and clone without CLONE_VM (the child's calls on
# the connection fail, and a program it execs does not get it), execveat
# and fexecve from a forked child (the state goes with the exec, shared
# with the parent, which keeps writing).
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/h2-common.bash"
require_lib
require_tools sec_h2_exec sec_h2_writer ss_relay
sink_start
EX=$TOOLS/sec_h2_exec
WR=$TOOLS/sec_h2_writer
MARKS=()

# run MODE ARGS...: the marker is SECRET-s22-MODE; afterwards the parent's
# own write must reach the server.
run() {
	local mode=$1
	shift
	TMO=15 preload "$T/$mode.log" "$EX" "$SINK_PORT" "$mode" "$@" >"$T/$mode.out" 2>&1
	assert_grep '^control: [0-9]+' "$T/$mode.out" "$mode: the secured connection worked" "$T/$mode.log"
	assert_grep '^after: [0-9]+ ok' "$T/$mode.out" "$mode: the parent's connection still works after the child" "$T/$mode.log"
	wait_grep "AFTER-$mode" "$T/sink.data" 5
	assert_grep "AFTER-$mode" "$T/sink.data" "$mode: the parent's later bytes reach the server"
	MARKS+=("SECRET-s22-$mode|$mode")
}
shw='printf %s SECRET-s22-MODE >&3 && echo "sh: wrote" || echo "sh: no socket"'

run system "${shw/MODE/system}"
assert_grep '^sh: no socket' "$T/system.out" "system: the shell did not have the socket"
run popen "${shw/MODE/popen}"
assert_grep '^sh: no socket' "$T/popen.out" "popen: the shell did not have the socket"
run wordexp "${shw/MODE/wordexp}"
assert_grep '^wordexp: 0 sh: no socket' "$T/wordexp.out" "wordexp: the command substitution did not have the socket"
run posix_spawn "$WR" SECRET-s22-posix_spawn
assert_grep '^writer: -1 Bad file descriptor' "$T/posix_spawn.out" "posix_spawn: the child did not have the socket"
run posix_spawnp /bin/sh -c "${shw/MODE/posix_spawnp}"
assert_grep '^sh: no socket' "$T/posix_spawnp.out" "posix_spawnp: the shell did not have the socket"
run spawn-dup2 "$WR" SECRET-s22-spawn-dup2
assert_grep '^spawn-dup2: 1 Operation not permitted' "$T/spawn-dup2.out" "posix_spawn with a dup2 of the socket: refused (EPERM)"
run _Fork SECRET-s22-_Fork
assert_grep '^child: write -1 ' "$T/_Fork.out" "_Fork: the child's write on the connection failed"
assert_grep '^child sh: no fd 3' "$T/_Fork.out" "_Fork: a program the child execs does not get it"
run clone SECRET-s22-clone
assert_grep '^child: write -1 ' "$T/clone.out" "clone: the child's write on the connection failed"
# exec from a forked child: the state goes with it as the one shared slot
# (preload/pre_arena.c "Exec"): the parent's copy goes on with the same
# record state, its later bytes reach the server after the child's
for mode in execveat execveat-empty fexecve; do
	TMO=15 preload "$T/$mode.log" "$EX" "$SINK_PORT" "$mode" "$WR" "SECRET-s22-$mode" >"$T/$mode.out" 2>&1
	assert_grep '^writer: [0-9]+ ok' "$T/$mode.out" "$mode: the exec'd child wrote" "$T/$mode.log"
	wait_grep "SECRET-s22-$mode" "$T/sink.data" 5
	assert_grep "SECRET-s22-$mode" "$T/sink.data" "$mode: its bytes reached the server secured"
	assert_grep '^after: [0-9]+ ok' "$T/$mode.out" "$mode: the parent's copy still writes (one shared record state)" "$T/$mode.log"
	wait_grep "AFTER-$mode" "$T/sink.data" 5
	assert_grep "AFTER-$mode" "$T/sink.data" "$mode: the server accepted the parent's record"
	order=$(grep -aoE "SECRET-s22-$mode|AFTER-$mode" "$T/sink.data" | tr '\n' ' ')
	assert_eq "$order" "SECRET-s22-$mode AFTER-$mode " "$mode: the child's bytes, then the parent's, in order"
	MARKS+=("SECRET-s22-$mode|$mode")
done

stop_pid "$RELAY_PID"
for m in "${MARKS[@]}"; do
	if wire_clear "${m%%|*}"; then fail "${m#*|}: clear bytes on the wire"
	else pass "${m#*|}: no clear byte on the wire"; fi
done
finish
