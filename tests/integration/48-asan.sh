#!/usr/bin/env bash
# 48-asan.sh — issue 5, must-show 8 (process-life family): the thread and
# fork scenarios of 45/47 with an AddressSanitizer build of libsecsock.so
# (built once into $BUILD/asan, incremental afterwards): many threads
# opening/closing secured connections, close while another thread reads,
# parent and child writing one socket.  Any ASan report (use after free,
# overflow, double free) fails the test.  libsecsock-engine.so (core/,
# loaded by the preload on the first secured connection) is built with ASan
# too.  Leak checking is off: servers are stopped by signal, and per-thread
# buffers live until thread exit.
. "$(dirname "$0")/lib.sh"
require_lib
require_tools life_peer
require_cmd gcc make
require_no_system_policy
unset POLICY

LIBASAN=$(gcc -print-file-name=libasan.so)
[ -e "$LIBASAN" ] || bail "libasan.so not found (gcc's AddressSanitizer runtime)"
ABUILD=$BUILD/asan
if ! make -C "$REPO" -j"$(nproc)" BUILD="$ABUILD" \
	CFLAGS="-O1 -g -fsanitize=address -fno-omit-frame-pointer" \
	"$ABUILD/libsecsock.so" "$ABUILD/libsecsock-engine.so" >"$T/make.log" 2>&1; then
	bail "ASan build of libsecsock.so and libsecsock-engine.so failed" "$T/make.log"
fi
# The engine is dlopened from libsecsock.so's own directory, so the ASan
# preload runs the ASan engine (core/ instrumented too).
for lib in libsecsock.so libsecsock-engine.so; do
	if nm -D "$ABUILD/$lib" | grep ' U __asan_' >/dev/null; then
		pass "ASan build of $lib (instrumented: imports __asan_*)"
	else
		bail "$ABUILD/$lib is not instrumented"
	fi
done
SO="$LIBASAN $ABUILD/libsecsock.so"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:exitcode=99:log_path=$T/asan"

port=$(free_port)
start_bg thrsrv preload "$T/thrsrv.log" "$TOOLS/life_peer" thrsrv "$port"
spid=$BG_PID
wait_listen "$port" 20 "$spid" || bail "thrsrv (ASan) did not listen" "$T/thrsrv.err"
TMO=50 preload "$T/thrcli.log" "$TOOLS/life_peer" thrcli "$port" 16 20 >"$T/thrcli.out" 2>"$T/thrcli.err"
assert_grep '^ok 320$' "$T/thrcli.out" "ASan: 16 threads x 20 secured connections verified" "$T/thrcli.err"
TMO=40 preload "$T/race.log" "$TOOLS/life_peer" closerace "$port" 30 >"$T/race.out" 2>"$T/race.err"
assert_eq "$?" 0 "ASan: close during read, 30 rounds, exit 0" "$T/race.err"
assert_grep '^garbage 0$' "$T/race.out" "ASan: close during read never returned bytes"
stop_pid "$spid"

port=$(free_port)
start_bg both preload "$T/both.log" "$TOOLS/life_peer" bothsrv "$port" 300 conc
spid=$BG_PID
wait_listen "$port" 20 "$spid" || bail "bothsrv (ASan) did not listen" "$T/both.err"
TMO=40 preload "$T/reader.log" "$TOOLS/life_peer" reader "$port" >"$T/r.out" 2>"$T/r.err"
assert_grep '^lines_C 300$' "$T/r.out" "ASan: fork, both write: child lines intact" "$T/r.err"
assert_grep '^lines_P 300$' "$T/r.out" "ASan: fork, both write: parent lines intact"
wait_gone "$spid" 10

reports=$(ls "$T"/asan.* 2>/dev/null | wc -l)
assert_eq "$reports" 0 "ASan: no reports" $(ls "$T"/asan.* 2>/dev/null)
finish
