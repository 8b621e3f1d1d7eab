#!/usr/bin/env bash
# 47-threads.sh — issue 5, must-show 7.
#  a) 32 client threads x 100 connections each against a preloaded threaded
#     echo server: every reply verified (3200 secured connections);
#  b) close from one thread while another is blocked in read (50 rounds,
#     half with shutdown first): no crash, the reader gets EBADF/0/an error,
#     never bytes (the server sent none);
#  c) exit() without close(): the peer sees a clean EOF (close_notify from the
#     exit handler), not ECONNRESET / truncation.
. "$(dirname "$0")/lib.sh"
require_lib
require_tools life_peer
require_no_system_policy
unset POLICY
LP=${LIFE_PEER:-$TOOLS/life_peer}
# require, not the embedded request: this test is about threads, and under
# request a first contact slower than allow-clear-after (500 ms; 32 threads
# on a loaded 2-core CI machine) is correctly secured no more but sent clear,
# which would make "every connection secured" a test of the machine's load.
POLICY=$T/require.conf
write_policy "$POLICY" <<'EOF'
[defaults]
action = require
EOF

port=$(free_port)
start_bg thrsrv preload "$T/thrsrv.log" "$LP" thrsrv "$port"
spid=$BG_PID
wait_listen "$port" 10 "$spid" || bail "thrsrv did not listen" "$T/thrsrv.err"

TMO=50 preload "$T/thrcli.log" "$LP" thrcli "$port" 32 100 >"$T/thrcli.out" 2>"$T/thrcli.err"
assert_grep '^ok 3200$' "$T/thrcli.out" "32 threads x 100 connections: 3200 replies verified" "$T/thrcli.err"
assert_grep '^bad 0$' "$T/thrcli.out" "32 threads x 100 connections: no failure"
n=$(grep -c 'info: secured outbound' "$T/thrcli.log" || true)
assert_eq "$n" 3200 "32x100: every client connection secured"

TMO=30 preload "$T/race.log" "$LP" closerace "$port" 50 >"$T/race.out" 2>"$T/race.err"
rc=$?
assert_eq "$rc" 0 "close during read: no crash, exit 0" "$T/race.err"
assert_grep '^garbage 0$' "$T/race.out" "close during read: the reader never got bytes"
assert_grep '^fine 50$' "$T/race.out" "close during read: 50 rounds, reader saw EBADF/EOF/error"
kill -0 "$spid" 2>/dev/null && pass "threaded server still alive" || fail "threaded server died" "$T/thrsrv.err"
stop_pid "$spid"

port=$(free_port)
start_bg eofsrv preload "$T/eofsrv.log" "$LP" eofsrv "$port"
spid=$BG_PID
wait_listen "$port" 10 "$spid" || bail "eofsrv did not listen" "$T/eofsrv.err"
TMO=20 preload "$T/exit.log" "$LP" exitnoclose "$port" >"$T/exit.out" 2>"$T/exit.err"
assert_grep '^echo ok$' "$T/exit.out" "exit without close: echo worked" "$T/exit.err"
wait_gone "$spid" 10
assert_grep '^END eof$' "$T/eofsrv.out" "exit without close: the peer read a clean EOF (close_notify), not an error" "$T/eofsrv.log"
finish
