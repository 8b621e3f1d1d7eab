#!/usr/bin/env bash
# 45-fork.sh — issue 5, must-show 5: fork.
#  a) a forking server (fork after accept; the parent closes at once; the
#     child does the handshake and serves): 5 preloaded clients each get
#     every checked line, and a clean EOF (close_notify), no truncation;
#  b) parent and child both write 1000 lines on one secured socket, strictly
#     alternating (pipe token) and then concurrently: the preloaded reader
#     gets 2000 intact lines, each writer's lines in order, clean EOF.  One
#     record state shared through the arena — a copied state would reuse
#     sequence numbers and the reader would fail with bad_record_mac.
. "$(dirname "$0")/lib.sh"
require_lib
require_tools life_peer
require_no_system_policy
unset POLICY

# ---- a) forking server
port=$(free_port)
start_bg forksrv preload "$T/forksrv.log" "$TOOLS/life_peer" forksrv "$port" 5
spid=$BG_PID
wait_listen "$port" 10 "$spid" || bail "forksrv did not listen" "$T/forksrv.err"
allok=1
for i in 1 2 3 4 5; do
	TMO=20 preload "$T/reader-a.log" "$TOOLS/life_peer" reader "$port" "GET 500" >"$T/a$i.out" 2>"$T/a$i.err"
	grep -qx 'lines_S 500' "$T/a$i.out" && grep -qx 'bad 0' "$T/a$i.out" &&
		grep -qx 'order 0' "$T/a$i.out" && grep -qx 'end eof' "$T/a$i.out" || { allok=0; cat "$T/a$i.out"; }
done
assert_eq "$allok" 1 "forking server: 5 clients x 500 checked lines, in order, clean EOF"
wait_gone "$spid" 10
assert_grep 'children_failed 0' "$T/forksrv.out" "forking server: every child served and exited 0" "$T/forksrv.err"
assert_count 'info: secured inbound' "$T/forksrv.log" 5 "forking server: 5 connections secured (handshake in the children)"
assert_no_grep 'truncation|torn down' "$T/reader-a.log" "forking server: no client saw truncation (parent's close did not end the stream)"

# ---- b) parent and child both write
for mode in alt conc; do
	port=$(free_port)
	rm -f "$T/both-$mode.log" "$T/reader-$mode.log"
	start_bg "both-$mode" preload "$T/both-$mode.log" "$TOOLS/life_peer" bothsrv "$port" 1000 "$mode"
	spid=$BG_PID
	wait_listen "$port" 10 "$spid" || bail "bothsrv did not listen" "$T/both-$mode.err"
	TMO=30 preload "$T/reader-$mode.log" "$TOOLS/life_peer" reader "$port" >"$T/r-$mode.out" 2>"$T/r-$mode.err"
	assert_grep '^lines_P 1000$' "$T/r-$mode.out" "both write ($mode): 1000 parent lines intact" "$T/r-$mode.err" "$T/reader-$mode.log"
	assert_grep '^lines_C 1000$' "$T/r-$mode.out" "both write ($mode): 1000 child lines intact"
	assert_grep '^bad 0$' "$T/r-$mode.out" "both write ($mode): no corrupt line"
	assert_grep '^order 0$' "$T/r-$mode.out" "both write ($mode): each writer's lines in order"
	assert_grep '^end eof$' "$T/r-$mode.out" "both write ($mode): clean EOF (close_notify from the last holder)"
	assert_grep 'info: secured outbound' "$T/reader-$mode.log" "both write ($mode): the reader's connection was secured"
	assert_no_grep 'torn down|rejected' "$T/reader-$mode.log" "both write ($mode): no record rejected (no nonce reuse / gap)"
	wait_gone "$spid" 10
	assert_grep '^done$' "$T/both-$mode.out" "both write ($mode): server finished" "$T/both-$mode.err"
done
finish
