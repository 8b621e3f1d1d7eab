#!/usr/bin/env bash
# 65-sandbox.sh — issue 11 item 5: a program that restricts itself keeps
# its secured connection.  secsock sets up what a governed connection needs
# (engine thread, epoll, eventfd, crypto) before the program can lock itself
# down, and a wait of its own never fails on the program's limits.
#  a) seccomp: banner and one line in the parent (secured), then a fork
#     child installs a filter that kills on any new descriptor or thread
#     (sandbox_peer.c) and serves one more exchange on the secured socket;
#  b) RLIMIT_NOFILE 0: the child of an accept sets its descriptor limit to 0
#     and speaks first (the server-first wait), then serves one exchange.
. "$(dirname "$0")/lib.sh"
require_lib
require_tools sandbox_peer
require_no_system_policy
unset POLICY

for mode in seccomp nofile; do
	port=$(free_port)
	start_bg "srv-$mode" preload "$T/srv-$mode.log" "$TOOLS/sandbox_peer" "$mode" "$port"
	spid=$BG_PID
	wait_listen "$port" 10 "$spid" || bail "$mode server did not listen" "$T/srv-$mode.err"
	rounds=2
	[ "$mode" = nofile ] && rounds=1
	TMO=15 preload "$T/cli-$mode.log" "$TOOLS/sandbox_peer" client "$port" "$rounds" \
		>"$T/cli-$mode.out" 2>"$T/cli-$mode.err"
	wait_gone "$spid" 10
	assert_grep '^child exit 0$' "$T/srv-$mode.out" "$mode: the restricted child lived and exited 0" \
		"$T/srv-$mode.err" "$T/srv-$mode.log"
	if [ "$mode" = seccomp ]; then
		assert_grep '^child got msg1$' "$T/cli-$mode.out" "$mode: the client got the sandboxed child's reply" \
			"$T/cli-$mode.err" "$T/cli-$mode.log"
	else
		assert_grep '^child got msg0$' "$T/cli-$mode.out" "$mode: the client got the restricted child's reply" \
			"$T/cli-$mode.err" "$T/cli-$mode.log"
	fi
	assert_grep 'info: secured outbound' "$T/cli-$mode.log" "$mode: the connection was secured"
	assert_no_grep 'clear|torn down|refused' "$T/cli-$mode.log" "$mode: never clear, never torn down"
done
finish
