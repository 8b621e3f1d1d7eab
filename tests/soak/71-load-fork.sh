#!/usr/bin/env bash
# 71-load-fork — issue 11, "Load": SOAK_CONNS (1000) concurrent secured
# connections to a fork-per-connection server (Debian's socat: TCP-LISTEN with
# fork, each child echoing through a pipe — no exec), both ends preloaded, each
# moving pseudo-random data both ways for SOAK_SECS (30) seconds, every byte of
# the echo checked (tests/tools/load_client).  0 errors; during the load one
# child per connection; after it no child left, and the listening parent's
# descriptor count back to its baseline and its RSS within SOAK_RSS_TOL_KB.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/soaklib.bash"
need_pkg socat socat
soak_init

PORT=$(free_port)
# backlog above load_client's parallel connects; -lu: no syslog, stderr only.
start_bg socat preload "$T/server.log" socat -lu \
	"TCP-LISTEN:$PORT,bind=127.0.0.1,fork,reuseaddr,backlog=1024" PIPE
SPID=$BG_PID
wait_listen "$PORT" 10 "$SPID" || bail "socat did not listen" "$T/socat.err"
sample fresh "$SPID"
FRESH_FD=$S_FD FRESH_SHM=$S_SHM

run_load warmup "$PORT" "$SOAK_CONNS" "$SOAK_WARM_SECS" 2 ||
	fail "warm-up load failed" "$T/warmup.out" "$T/warmup.err"
# +2: room for the engine's epoll instance and wake eventfd, should the
# parent have started it (docs/design.md, the lazy engine); and the memfd of
# each arena chunk mapped since (kept: chunks are never unmapped).
settle "$SPID" $((FRESH_FD + 2 + $(shm_maps "$SPID") - FRESH_SHM)) 30 ||
	fail "after the warm-up the server still holds $(fd_count "$SPID") fds, $(kids "$SPID") children"
sample baseline "$SPID"
BASE_RSS=$S_RSS BASE_FD=$S_FD BASE_SHM=$S_SHM

run_load load "$PORT" "$SOAK_CONNS" "$SOAK_SECS" 1 "$SPID"
check "load_client exit 0" [ $? -eq 0 ]
check_load load "$SOAK_CONNS" "$T/server.log"
assert_eq "$S_KIDS" "$SOAK_CONNS" "during the load one child per connection"
assert_eq "$S_FD" "$BASE_FD" "during the load the parent held no connection descriptor"

check_after parent "$PORT" "$SPID"
assert_eq "$(grep -c 'secured inbound' "$T/server.log")" $((3 * SOAK_CONNS)) \
	"server log: every connection (warm-up, load, the load after) secured inbound in its child"
assert_no_grep " [EF] " "$T/socat.err" "socat reported no error"
print_table "forking server (socat fork, PIPE echo), $SOAK_CONNS connections, ${SOAK_SECS}s"
finish
