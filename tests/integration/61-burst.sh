#!/usr/bin/env bash
# 61-burst.sh — issue 11 item 4: one process making many concurrent
# short-lived secured connections (burst_client: 8 non-blocking connects in
# flight, 200 in all, each closed as soon as its echoed response is read)
# to a preloaded echo server already known to speak secsock, so every
# handshake runs in the engine thread (pre_connect.c, background path).
# The engine must never serve a connection whose last reference is gone
# (it crashed in pre_io_service) nor lose one (runs hung at 199 of 200):
# 10 runs with the normal build, then 3 with an AddressSanitizer build of
# libsecsock.so and libsecsock-engine.so (as in 48-asan), with no report.
# The same with the preload's duplicate of each socket closed behind its
# back (3 runs each build): every connection ends, none crashes.
. "$(dirname "$0")/lib.sh"
require_lib
require_tools life_peer burst_client
require_no_system_policy
unset POLICY

RUNS=${BURST_RUNS:-10}
ASAN_RUNS=${BURST_ASAN_RUNS:-3}
STEAL_RUNS=${BURST_STEAL_RUNS:-3}

# burst LABEL N: N runs of 8 x 200 against the server on $port; one check
# per run (exit status, 200 answered), and that the handshakes ran in the
# background (the path of the bug), from the client's debug log.
burst() {
	local label=$1 n=$2 r rc why bgn
	for ((r = 1; r <= n; r++)); do
		SECSOCK_LOG=debug TMO=40 preload "$T/$label-$r.log" "$TOOLS/burst_client" "$port" 8 200 10 \
			>"$T/$label-$r.out" 2>"$T/$label-$r.err"
		rc=$?
		if [ "$rc" -eq 0 ] && grep -q '^ok 200$' "$T/$label-$r.out"; then
			pass "$label run $r: 200 of 200 connections answered, exit 0"
		else
			fail "$label run $r: $(ended "$rc" "$label-$r")" "$T/$label-$r.err" "$T/$label-$r.log"
		fi
	done
	bgn=$(cat "$T/$label"-*.log 2>/dev/null | grep -c 'handshake continues in the background')
	assert_between "$bgn" $((n * 150)) $((n * 200)) "$label: handshakes ran in the engine thread (background connects)"
}

ended() {
	case $1 in
	124 | 137) echo "hung (killed after 40 s)" ;;
	139) echo "SIGSEGV" ;;
	*) echo "exit $1: $(tr '\n' ' ' <"$T/$2.out")" ;;
	esac
}

# steal LABEL N: the same, but the client closes the preload's duplicate of
# each socket right after connect (burst_client steal: what a program's
# close_range or a dup2 onto an unknown number does).  The engine's
# registration outlives such a duplicate; each connection must still end,
# answered or failed with an error the program sees (the handshake cannot
# go on without it), with no crash and no stall.
steal() {
	local label=$1 n=$2 r rc ok bad
	for ((r = 1; r <= n; r++)); do
		TMO=40 preload "$T/$label-$r.log" "$TOOLS/burst_client" "$port" 8 200 5 steal \
			>"$T/$label-$r.out" 2>"$T/$label-$r.err"
		rc=$?
		ok=$(sed -n 's/^ok //p' "$T/$label-$r.out")
		bad=$(sed -n 's/^failed //p' "$T/$label-$r.out")
		if [ "$rc" -le 1 ] && ! grep -q '^stalled' "$T/$label-$r.out" && [ $((${ok:-0} + ${bad:-0})) -eq 200 ]; then
			pass "$label run $r: all 200 connections ended ($ok answered, $bad failed with an error)"
		else
			fail "$label run $r: $(ended "$rc" "$label-$r")" "$T/$label-$r.err" "$T/$label-$r.log"
		fi
	done
}

port=$(free_port)
start_bg srv preload "$T/srv.log" "$TOOLS/life_peer" thrsrv "$port"
spid=$BG_PID
wait_listen "$port" 20 "$spid" || bail "thrsrv did not listen" "$T/srv.err"
burst normal "$RUNS"
steal steal "$STEAL_RUNS"
stop_pid "$spid"

if [ "$ASAN_RUNS" -gt 0 ]; then
	LIBASAN=$(gcc -print-file-name=libasan.so 2>/dev/null)
	[ -e "$LIBASAN" ] || bail "libasan.so not found (gcc's AddressSanitizer runtime)"
	ABUILD=$BUILD/asan
	if ! make -C "$REPO" -j2 BUILD="$ABUILD" \
		CFLAGS="-O1 -g -fsanitize=address -fno-omit-frame-pointer" \
		"$ABUILD/libsecsock.so" "$ABUILD/libsecsock-engine.so" >"$T/make.log" 2>&1; then
		bail "ASan build of libsecsock.so and libsecsock-engine.so failed" "$T/make.log"
	fi
	# SECSOCK_SO (the unfixed library, to show the test fails) has its own
	# ASan build next to it when one is wanted: ASAN_SO.
	SO="$LIBASAN ${ASAN_SO:-$ABUILD/libsecsock.so}"
	export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:exitcode=99:log_path=$T/asan"
	port=$(free_port)
	start_bg asrv preload "$T/asrv.log" "$TOOLS/life_peer" thrsrv "$port"
	spid=$BG_PID
	wait_listen "$port" 30 "$spid" || bail "thrsrv (ASan) did not listen" "$T/asrv.err"
	burst asan "$ASAN_RUNS"
	steal asan-steal "$ASAN_RUNS"
	stop_pid "$spid"
	reports=$(ls "$T"/asan.* 2>/dev/null | wc -l)
	assert_eq "$reports" 0 "ASan: no reports" $(ls "$T"/asan.* 2>/dev/null)
fi
finish
