# bench/memory.sh — memory per idle connection (sourced by run.sh).
#
# idleconn opens IDLE_CONNS connections (plus one warm-up; 16 threads at a
# time, so slow handshakes do not stretch the run) from one client
# process to one server process, 1-byte echo on each so every handshake has
# finished, and reports RSS and malloc heap in use before/after on both ends.
#   plain     neither end preloaded (what the program itself costs)
#   secsock   both ends under the preload (anonymous)
# Per-connection figures: (after - before) / IDLE_CONNS, in bytes.
#
# Idle means idle: both ends sit IDLE_SETTLE_S seconds (default 3) with no
# traffic before each snapshot.  The preload frees a connection's cipher
# contexts after SECSOCK_IDLE_TRIM_MS (1 s by default; trimmed within two
# periods), so 3 s is past that with a margin; plain waits the same.

IDLE_SETTLE_S=${IDLE_SETTLE_S:-3}

mem_run() {   # CT PREFIX — one repetition
	local ct=$1 prefix=$2 pf sr cr spid p
	pf=$WORK/idle-$ct.port
	sr=$WORK/idle-$ct.server
	cr=$WORK/idle-$ct.client
	rm -f "$pf" "$sr" "$cr"
	# shellcheck disable=SC2086
	bg_start "idle-$ct" $prefix "$BIN/idleconn" server "$pf" "$IDLE_CONNS" "$sr" "$IDLE_SETTLE_S"
	spid=$BG_PID
	if ! wait_file "$pf" 5; then
		record memory "$IDLE_CONNS idle connections" "$ct" heap_server_B "NA:server did not start"
		stop_pid "$spid"
		return
	fi
	p=$(cat "$pf")
	# shellcheck disable=SC2086
	timeout -k 5 600 $prefix "$BIN/idleconn" client "$p" "$IDLE_CONNS" "$cr" "$IDLE_SETTLE_S" \
		2>>"$LOGS/idleconn-client.err" || true
	wait_file "$sr" $((30 + IDLE_SETTLE_S)) || true
	stop_pid "$spid"
	local side f n r0 r1 h0 h1
	for side in server client; do
		f=$WORK/idle-$ct.$side
		if [ ! -s "$f" ]; then
			record memory "$IDLE_CONNS idle connections" "$ct" "heap_${side}_B" "NA:no report (see idleconn logs)"
			continue
		fi
		read -r n r0 r1 h0 h1 <"$f"
		record memory "$IDLE_CONNS idle connections" "$ct" "heap_${side}_B" \
			"$(awk -v a="$h0" -v b="$h1" -v n="$n" 'BEGIN{printf "%.1f", (b-a)/n}')"
		record memory "$IDLE_CONNS idle connections" "$ct" "rss_${side}_B" \
			"$(awk -v a="$r0" -v b="$r1" -v n="$n" 'BEGIN{printf "%.1f", (b-a)*1024/n}')"
	done
}

bench_memory() {
	local contenders="plain" pol="" why
	if [ "$SECSOCK_READY" = 1 ]; then
		pol=$(write_policy memory "[defaults]
auth = anonymous")
		contenders="$contenders secsock"
	else
		not_measured memory "$IDLE_CONNS idle connections" secsock heap_server_B "$SECSOCK_WHY"
	fi
	log "memory: $IDLE_CONNS connections; contenders: $contenders; each snapshot after $IDLE_SETTLE_S s idle (SECSOCK_IDLE_TRIM_MS default 1000 ms)"
	local reps=$REPS rep ct
	# 10,000 handshakes per repetition: three repetitions are plenty for a
	# figure that hardly varies.
	[ "$reps" -gt 3 ] && reps=3
	for rep in $(seq "$reps"); do
		for ct in $(in_order "$rep" $contenders); do
			case $ct in
			plain) mem_run plain "" ;;
			secsock)
				: >"$LOGS/secsock-memory.log"
				mem_run secsock "$(secsock_env memory "$pol" warn)"
				;;
			esac
		done
		log "memory: repetition $rep/$reps done"
	done
	# Were they secured?  One small info-level run answers it without
	# putting 20,000 log lines into the measured runs.
	if [ "$SECSOCK_READY" = 1 ]; then
		local save=$IDLE_CONNS
		IDLE_CONNS=3
		mem_run secsock-check "$(secsock_env memory-check "$pol" info)"
		IDLE_CONNS=$save
		sed -i '/\tsecsock-check\t/d' "$RAW"
		if ! why=$(secsock_log_check memory-check); then
			sed -i "/^memory\t.*\tsecsock\t/d" "$RAW"
			not_measured memory "$IDLE_CONNS idle connections" secsock heap_server_B "$why"
		fi
	fi
}
