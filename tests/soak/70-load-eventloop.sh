#!/usr/bin/env bash
# 70-load-eventloop — issue 11, "Load": SOAK_CONNS (1000) concurrent secured
# connections to an event-loop server (Debian's python3, asyncio on epoll:
# tests/soak/echo_asyncio.py), both ends preloaded, each moving pseudo-random
# data both ways for SOAK_SECS (30) seconds, every byte of the echo checked
# (tests/tools/load_client).  0 errors; the server's descriptor count back to
# its baseline and its RSS within SOAK_RSS_TOL_KB of it once the load is over.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/soaklib.bash"
soak_init

PORT=$(free_port)
# A fixed mmap threshold: the interpreter's 64 KiB read buffers are mapped and
# unmapped, instead of raising glibc's dynamic threshold and leaving the heap
# at its high-water mark, which moves by megabytes from run to run with or
# without the preload (plain python3: 95 -> 106 MB over four 1000-connection
# rounds).  The RSS check then sees what the program and the library keep.
start_bg echo preload "$T/server.log" env GLIBC_TUNABLES=glibc.malloc.mmap_threshold=16384 \
	"$PY" "$REPO/tests/soak/echo_asyncio.py" 127.0.0.1 "$PORT"
SPID=$BG_PID
wait_listen "$PORT" 10 "$SPID" || bail "echo_asyncio did not listen" "$T/echo.err"
sample fresh "$SPID"
FRESH_FD=$S_FD FRESH_SHM=$S_SHM

# Warm-up: the same number of connections for a short time, so the baseline
# already holds what the interpreter and the allocator keep once they grew.
run_load warmup "$PORT" "$SOAK_CONNS" "$SOAK_WARM_SECS" 2 ||
	fail "warm-up load failed" "$T/warmup.out" "$T/warmup.err"
# +2: the engine thread's epoll instance and wake eventfd, created with the
# first governed connection (docs/design.md, the lazy engine) and kept; and
# the memfd of each arena chunk mapped since (kept: chunks are never unmapped).
settle "$SPID" $((FRESH_FD + 2 + $(shm_maps "$SPID") - FRESH_SHM)) || fail "after the warm-up the server still holds $(fd_count "$SPID") fds"
sample baseline "$SPID"
BASE_RSS=$S_RSS BASE_FD=$S_FD BASE_SHM=$S_SHM

run_load load "$PORT" "$SOAK_CONNS" "$SOAK_SECS" 1 "$SPID"
check "load_client exit 0" [ $? -eq 0 ]
check_load load "$SOAK_CONNS" "$T/server.log"
DURING_FD=$S_FD
assert_between "$DURING_FD" $((BASE_FD + SOAK_CONNS)) $((BASE_FD + SOAK_CONNS + 16)) \
	"during the load the server held a descriptor per connection"

check_after server "$PORT" "$SPID"
assert_eq "$(grep -c 'secured inbound' "$T/server.log")" $((3 * SOAK_CONNS)) \
	"server log: every connection (warm-up, load, the load after) secured inbound"
assert_no_grep "." "$T/echo.err" "server stderr empty (no connection error raised to the program)"
print_table "event-loop server (python3 asyncio), $SOAK_CONNS connections, ${SOAK_SECS}s"
finish
