# bench/redis.sh — request/response with redis-benchmark (sourced by run.sh).
#
# redis-benchmark -c 50 -t ping,set,get, without and with -P 16 pipelining.
# Contenders:
#   plain        benchmark → redis-server
#   secsock      both redis-server and redis-benchmark under the preload
#   stunnel      benchmark → stunnel client → stunnel server → plain server
#   redis-tls    redis' own TLS (--tls-port; Debian builds redis with TLS)
# Each benchmark run opens its 50 connections afresh, so the secsock and TLS
# figures include 50 handshakes per test; with -n large that is noise.

REDIS_TESTS="ping,set,get"

# redis_start NAME PORT PREFIX [EXTRA ARGS...] — a throwaway redis-server.
redis_start() {
	local name=$1 port=$2 prefix=$3
	shift 3
	# shellcheck disable=SC2086
	bg_start "redis-$name" $prefix redis-server --bind 127.0.0.1 --port "$port" \
		--save '' --appendonly no --protected-mode no --daemonize no \
		--dir "$WORK" --dbfilename "dump-$name.rdb" "$@"
}

# redis_bench CASE CONTENDER PREFIX PORT PIPELINE [ARGS...] — run once, record rps and p50.
redis_bench() {
	local section=$1 cs=$2 ct=$3 prefix=$4 port=$5 pipe=$6
	shift 6
	local n=$REDIS_N out
	# -P N sends N requests per round trip: N times the requests keeps the
	# round trips per connection, and so the share of the 50 connections'
	# set-up (their handshakes, ~1 ms of CPU each under secsock), the same
	# as without pipelining.  With fewer (it was 5x) the 50 handshakes were
	# most of a 35 ms run: GET -P 16 at 50,000 requests 43-66% of plain,
	# at 800,000 80-84% (bench/README.md, "Where the time goes").
	[ "$pipe" -gt 1 ] && n=$((REDIS_N * pipe))
	# shellcheck disable=SC2086
	out=$(timeout -k 5 600 $prefix redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -n "$n" -P "$pipe" \
		-t "$REDIS_TESTS" --csv "$@" 2>>"$LOGS/redis-benchmark.err") || true
	local got=0 test rps p50
	while IFS=, read -r test rps _ _ p50 _; do
		test=${test//\"/}
		rps=${rps//\"/}
		p50=${p50//\"/}
		case $test in test | "") continue ;; esac
		record "$section" "$test$cs" "$ct" rps "$rps"
		record "$section" "$test$cs" "$ct" p50_ms "$p50"
		got=1
	done <<<"$out"
	if [ "$got" = 0 ]; then
		local t
		for t in PING_INLINE PING_MBULK SET GET; do
			record "$section" "$t$cs" "$ct" rps "NA:redis-benchmark failed"
		done
	fi
}

bench_redis() {
	local p_plain p_ss p_tls p_st_s p_st_c contenders="plain"
	p_plain=$(free_port)
	redis_start plain "$p_plain" ""
	wait_port "$p_plain" || return 1

	# stunnel pair in front of the plain server
	p_st_s=$(free_port)
	p_st_c=$(free_port)
	cat >"$WORK/stunnel-redis-server.conf" <<-EOF
		foreground = yes
		pid =
		debug = 3
		[redis]
		accept = 127.0.0.1:$p_st_s
		connect = 127.0.0.1:$p_plain
		cert = $CERTS/cert.pem
		key = $CERTS/key.pem
	EOF
	cat >"$WORK/stunnel-redis-client.conf" <<-EOF
		foreground = yes
		pid =
		debug = 3
		[redis]
		client = yes
		accept = 127.0.0.1:$p_st_c
		connect = 127.0.0.1:$p_st_s
	EOF
	bg_start stunnel-redis-server stunnel "$WORK/stunnel-redis-server.conf"
	bg_start stunnel-redis-client stunnel "$WORK/stunnel-redis-client.conf"
	if wait_port "$p_st_s" && wait_port "$p_st_c"; then
		contenders="$contenders stunnel"
	else
		not_measured redis all stunnel rps "stunnel did not start"
	fi

	# redis' own TLS
	p_tls=$(free_port)
	redis_start tls 0 "" --tls-port "$p_tls" --tls-cert-file "$CERTS/cert.pem" \
		--tls-key-file "$CERTS/key.pem" --tls-ca-cert-file "$CERTS/cert.pem" \
		--tls-auth-clients no
	if wait_port "$p_tls" 5; then
		contenders="$contenders redis-tls"
	else
		not_measured redis all redis-tls rps "redis-server --tls-port did not start: $(tail -c 200 "$LOGS/redis-tls.log")"
	fi

	# secsock: server and benchmark under the preload
	local spol
	if [ "$SECSOCK_READY" = 1 ]; then
		spol=$(write_policy redis "[defaults]
auth = anonymous")
		p_ss=$(free_port)
		redis_start secsock "$p_ss" "$(secsock_env redis-server "$spol")"
		if wait_port "$p_ss" 5; then
			# warm-up and the check that the benchmark's connections were secured
			local why
			timeout -k 5 60 $(secsock_env redis "$spol") redis-benchmark -h 127.0.0.1 -p "$p_ss" -c 4 -n 200 \
				-t ping -q >/dev/null 2>&1 || true
			if why=$(secsock_log_check redis); then
				contenders="$contenders secsock"
			else
				not_measured redis all secsock rps "$why"
			fi
		else
			not_measured redis all secsock rps "redis-server under the preload did not start: $(tail -c 200 "$LOGS/redis-secsock.log")"
		fi
	else
		not_measured redis all secsock rps "$SECSOCK_WHY"
	fi
	log "redis: contenders: $contenders"

	local rep pipe cs ct
	for rep in $(seq "$REPS"); do
		for pipe in 1 16; do
			cs=""
			[ "$pipe" -gt 1 ] && cs=" -P 16"
			for ct in $(in_order "$rep" $contenders); do
				case $ct in
				plain) redis_bench redis "$cs" plain "" "$p_plain" "$pipe" ;;
				stunnel) redis_bench redis "$cs" stunnel "" "$p_st_c" "$pipe" ;;
				redis-tls) redis_bench redis "$cs" redis-tls "" "$p_tls" "$pipe" \
					--tls --cacert "$CERTS/cert.pem" ;;
				secsock) redis_bench redis "$cs" secsock "$(secsock_env redis "$spol")" \
					"$p_ss" "$pipe" ;;
				esac
			done
		done
		log "redis: repetition $rep/$REPS done"
	done
}
