#!/usr/bin/env bash
# 62-exec-share.sh — issue 11 item 2: a secured connection held by several
# processes across exec shares one record state, and only the last holder's
# close ends it (close_notify).
#  a) client side: the program forks a helper that execs (and execs again)
#     with the socket inherited, never touching it, while the parent goes on
#     writing and reading; the helper exits mid-stream.  Every round comes
#     back byte-exact, no record is rejected, the server sees close_notify
#     only after the parent's last byte (all bytes counted, then "eof").
#  b) server side: a daemon accepts, forks, execs a handler with the socket
#     as fd 0 and fd 1 and closes its copy; the handler answers, execs again
#     and echoes.  The client's rounds come back byte-exact, its half-close
#     reaches the handler, and the handler's exit ends the stream cleanly.
. "$(dirname "$0")/lib.sh"
require_lib
require_tools exec_share
require_no_system_policy
unset POLICY

ES=$TOOLS/exec_share
ROUNDS=200

# ---- a) client side
port=$(free_port)
start_bg echo preload "$T/echo.log" "$ES" echo "$port"
spid=$BG_PID
wait_listen "$port" 10 "$spid" || bail "echo server did not listen" "$T/echo.err"
TMO=30 preload "$T/client.log" "$ES" client "$port" "$ROUNDS" >"$T/client.out" 2>"$T/client.err"
assert_grep "^client ok $ROUNDS\$" "$T/client.out" "client: $ROUNDS rounds byte-exact both ways while a helper held the socket across two execs" "$T/client.err" "$T/client.log"
assert_grep '^client helper_status 0$' "$T/client.out" "client: the helper (double exec) exited 0"
wait_gone "$spid" 10
assert_grep "^server bytes $((ROUNDS * 16384)) end eof 0\$" "$T/echo.out" "client: the server saw every byte, then one clean close_notify (the parent's)" "$T/echo.log"
assert_no_grep 'rejected|torn down|truncation|shut down' "$T/client.log" "client: no record rejected, nothing torn down in the client or its helper"
assert_no_grep 'rejected|torn down|truncation' "$T/echo.log" "client: the server saw no bad record, no truncation"
assert_grep 'inherited secured connection' "$T/client.log" "client: the exec'd helper took the shared state"

# ---- b) server side
port=$(free_port)
start_bg daemon preload "$T/daemon.log" "$ES" daemon "$port"
spid=$BG_PID
wait_listen "$port" 10 "$spid" || bail "daemon did not listen" "$T/daemon.err"
TMO=30 preload "$T/talk.log" "$ES" talk "$port" "$ROUNDS" >"$T/talk.out" 2>"$T/talk.err"
assert_grep "^talk ok $ROUNDS end eof 0\$" "$T/talk.out" "daemon: hello, then $ROUNDS rounds byte-exact through handler → exec → handler, clean EOF" "$T/talk.err" "$T/daemon.log" "$T/daemon.err"
wait_gone "$spid" 10
assert_grep '^daemon handler_status 0$' "$T/daemon.out" "daemon: the handler exited 0 (its writes on fd 1 worked)" "$T/daemon.err"
assert_no_grep 'rejected|torn down|truncation|shut down' "$T/daemon.log" "daemon: nothing rejected or torn down in the daemon or its handlers"
assert_no_grep 'rejected|torn down|truncation' "$T/talk.log" "daemon: the client saw no bad record, no truncation"
assert_grep 'secured inbound' "$T/daemon.log" "daemon: the connection was secured"

finish
