# bench/bypass.sh — the cost of the preload on sockets policy leaves alone
# (sourced by run.sh): redis-benchmark -c 50 -t ping,set,get
#   no preload          plain server, plain benchmark
#   preload, bypass     server and benchmark under the preload with a
#                       policy whose only rule bypasses every TCP port

bench_bypass() {
	local contenders="no-preload" p_plain p_by pol why
	p_plain=$(free_port)
	redis_start bypass-plain "$p_plain" ""
	wait_port "$p_plain" || return 1
	if [ -f "$SECSOCK_SO" ]; then
		pol=$(write_policy bypass "[rule everything]
direction = any
port = any
action = bypass")
		if [ -x "$SECSOCK_CLI" ] && ! why=$("$SECSOCK_CLI" policy check "$pol" 2>&1); then
			not_measured bypass all preload-bypass rps \
				"policy check failed: $(echo "$why" | head -1 | cut -c1-160)"
		else
			p_by=$(free_port)
			redis_start bypass-preload "$p_by" "$(secsock_env bypass-server "$pol")"
			if wait_port "$p_by" 5; then
				contenders="$contenders preload-bypass"
			else
				not_measured bypass all preload-bypass rps "redis-server under the preload did not start"
			fi
		fi
	else
		not_measured bypass all preload-bypass rps "$(rel "$SECSOCK_SO") not built yet"
	fi
	log "bypass: contenders: $contenders"
	local rep ct
	for rep in $(seq "$REPS"); do
		for ct in $(in_order "$rep" $contenders); do
			case $ct in
			no-preload) redis_bench bypass "" no-preload "" "$p_plain" 1 ;;
			preload-bypass) redis_bench bypass "" preload-bypass "$(secsock_env bypass "$pol")" "$p_by" 1 ;;
			esac
		done
		log "bypass: repetition $rep/$REPS done"
	done
	# A bypassed connection must not have been secured.
	if [ -s "$LOGS/secsock-bypass.log" ] && grep -q ' secured ' "$LOGS/secsock-bypass.log"; then
		meta bypass_note "some connections were secured despite the bypass rule"
	fi
}
