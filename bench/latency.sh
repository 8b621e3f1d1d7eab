# bench/latency.sh — p50/p99 of a 64-byte ping-pong (sourced by run.sh).
#
#   plain     pingpong client → pingpong server
#   secsock   both under the preload (anonymous); one connection, so the
#             handshake is outside the timed loop and the figure is the
#             per-record cost: seal + send + receive + open, both ways.

bench_latency() {
	local contenders="plain" pf p_plain p_ss="" pol why
	pf=$WORK/pingpong-plain.port
	bg_start pingpong-plain "$BIN/pingpong" server "$pf"
	wait_file "$pf" || return 1
	p_plain=$(cat "$pf")
	if [ "$SECSOCK_READY" = 1 ]; then
		pol=$(write_policy latency "[defaults]
auth = anonymous")
		pf=$WORK/pingpong-secsock.port
		# shellcheck disable=SC2046
		bg_start pingpong-secsock $(secsock_env latency-server "$pol") "$BIN/pingpong" server "$pf"
		if wait_file "$pf" 5; then
			p_ss=$(cat "$pf")
			timeout -k 5 30 $(secsock_env latency "$pol") "$BIN/pingpong" client "$p_ss" 100 >/dev/null 2>&1 || true
			if why=$(secsock_log_check latency); then
				contenders="$contenders secsock"
			else
				not_measured latency "64-byte ping-pong" secsock p50_us "$why"
			fi
		else
			not_measured latency "64-byte ping-pong" secsock p50_us "server did not start"
		fi
	else
		not_measured latency "64-byte ping-pong" secsock p50_us "$SECSOCK_WHY"
	fi
	log "latency: contenders: $contenders"
	local rep ct out p50 p99 mean
	for rep in $(seq "$REPS"); do
		for ct in $(in_order "$rep" $contenders); do
			case $ct in
			plain) out=$(timeout -k 5 300 "$BIN/pingpong" client "$p_plain" "$PING_ITERS" 2>>"$LOGS/pingpong.err") || out="" ;;
			secsock) out=$(timeout -k 5 300 $(secsock_env latency "$pol") "$BIN/pingpong" client "$p_ss" "$PING_ITERS" \
				2>>"$LOGS/pingpong.err") || out="" ;;
			esac
			if [ -z "$out" ]; then
				record latency "64-byte ping-pong" "$ct" p50_us "NA:pingpong failed (rep $rep)"
				continue
			fi
			read -r p50 p99 mean _ <<<"$out"
			record latency "64-byte ping-pong" "$ct" p50_us "$p50"
			record latency "64-byte ping-pong" "$ct" p99_us "$p99"
			record latency "64-byte ping-pong" "$ct" mean_us "$mean"
		done
	done
}
