# bench/connect.sh — connection set-up rate and CPU per connection
# (sourced by run.sh).
#
#   plain            connrate client → connrate server
#   secsock-anon     both under the preload, auth = anonymous, session-lifetime
#                    = 0: a full handshake with an ephemeral Ed25519 key every
#                    connection
#   secsock-anon-resumed  the same with the built-in session-lifetime: after
#                    the first, every connection of the client process is
#                    resumed (TLS 1.3 PSK with ECDHE, core/ss_resume.h)
#   secsock-psk      both under the preload, auth = psk
#   *-procs          plain, secsock-anon and secsock-anon-resumed again, each
#                    connection made by a new client process (connrate
#                    client-procs: fork + exec per connection, CPU of the
#                    children included): a shell loop of short clients.  The
#                    resumed one reuses associations only through the per-user
#                    store ($XDG_RUNTIME_DIR/secsock/resume, here a private
#                    0700 directory), the cross-process figure of issue 14
#   openssl-s_time   `openssl s_time -new` → `openssl s_server -tls1_3`
#                    (Ed25519 certificate, no session tickets: the same work
#                    a secsock handshake does) — OpenSSL's own figure
#   openssl-s_time-reuse  `openssl s_time -reuse` → a second s_server that
#                    sends tickets: OpenSSL's own resumed figure (TLS 1.3
#                    PSK with ECDHE, as secsock-anon-resumed)
# CPU per connection = (client CPU + server CPU) / connections; the client's
# from getrusage (ours) or bash's `time` (s_time), the server's from
# /proc/PID/stat before and after.

TICK_HZ=$(getconf CLK_TCK)

# conn_measure SECTION-CASE CT SERVER-PID CLIENT-CMD... — the client prints
# "conns wall user sys errors"; record rate and CPU per connection.
# CONN_SECTION / CONN_CASE: where the figures go (bench/kds.sh measures
# group handshakes with the same client).
conn_record() {
	local ct=$1 conns=$2 wall=$3 ccpu=$4 sticks=$5 errors=$6
	local sec=${CONN_SECTION:-connect} case=${CONN_CASE:-connect → 1-byte echo → close}
	if [ -z "$conns" ] || [ "$conns" = 0 ]; then
		record "$sec" "$case" "$ct" rate "NA:no connection completed (errors: ${errors:-?})"
		return
	fi
	record "$sec" "$case" "$ct" rate \
		"$(awk -v n="$conns" -v w="$wall" 'BEGIN{printf "%.1f", n/w}')"
	record "$sec" "$case" "$ct" cpu_us \
		"$(awk -v n="$conns" -v c="$ccpu" -v t="$sticks" -v hz="$TICK_HZ" \
			'BEGIN{printf "%.1f", (c + t/hz) * 1e6 / n}')"
	[ "${errors:-0}" = 0 ] || log "connect: $ct: $errors failed connections"
}

conn_run_ours() {   # CT PORT SERVER-PID PREFIX [client|client-procs]
	local ct=$1 port=$2 spid=$3 prefix=$4 mode=${5:-client} t0 t1 out
	t0=$(cpu_ticks "$spid")
	# shellcheck disable=SC2086
	out=$(timeout -k 5 $((CONN_SECONDS + 30)) $prefix "$BIN/connrate" "$mode" "$port" "$CONN_SECONDS" 2>>"$LOGS/connrate-client.err") || true
	t1=$(cpu_ticks "$spid")
	local conns wall user sys errors
	read -r conns wall user sys errors <<<"$out"
	conn_record "$ct" "${conns:-0}" "${wall:-1}" \
		"$(awk -v u="${user:-0}" -v s="${sys:-0}" 'BEGIN{print u+s}')" $((t1 - t0)) "${errors:-?}"
}

conn_run_stime() {   # PORT SERVER-PID CONTENDER -new|-reuse
	local port=$1 spid=$2 ct=$3 mode=$4 t0 t1 w0 w1 out cpu conns
	t0=$(cpu_ticks "$spid")
	w0=$(date +%s.%N)
	# bash's `time` reports the CPU of the child (user + sys)
	cpu=$( { TIMEFORMAT='%U %S'; time timeout -k 5 $((CONN_SECONDS + 30)) openssl s_time -connect "127.0.0.1:$port" "$mode" \
		-time "$CONN_SECONDS" >"$WORK/s_time.out" 2>&1; } 2>&1 | awk '{print $1+$2}')
	w1=$(date +%s.%N)
	t1=$(cpu_ticks "$spid")
	conns=$(awk '/connections in .* real seconds/ {print $1; exit}' "$WORK/s_time.out")
	[ -n "$conns" ] || conns=$(awk '/connections in/ {print $1; exit}' "$WORK/s_time.out")
	conn_record "$ct" "${conns:-0}" "$(awk -v a="$w0" -v b="$w1" 'BEGIN{print b-a}')" \
		"${cpu:-0}" $((t1 - t0)) 0
}

# conn_secsock_start SECTION CASE CONTENDER TAG POLICY [WANT] — a connrate
# server under POLICY and one warm-up client at info level, whose
# connections must log secured (and WANT, e.g. a method), so a silent
# fall-back cannot pass for a result.  Sets CONN_PORT and CONN_PID; else
# records CONTENDER as not measured and returns 1.  Logs: secsock-TAG.log,
# secsock-TAG-server.log.
conn_secsock_start() {
	local sec=$1 case=$2 ct=$3 tag=$4 pol=$5 want=${6:-} pf=$WORK/connrate-$4.port why
	# shellcheck disable=SC2046
	bg_start "connrate-$tag" $(secsock_env "$tag-server" "$pol" info) "$BIN/connrate" server "$pf"
	CONN_PID=$BG_PID
	if ! wait_file "$pf" 5; then
		not_measured "$sec" "$case" "$ct" rate "server did not start"
		return 1
	fi
	CONN_PORT=$(cat "$pf")
	: >"$LOGS/secsock-$tag.log"
	# shellcheck disable=SC2046
	timeout -k 5 30 $(secsock_env "$tag" "$pol" info) "$BIN/connrate" client "$CONN_PORT" 0.2 >/dev/null 2>&1 || true
	if ! why=$(secsock_log_check "$tag" "$want"); then
		not_measured "$sec" "$case" "$ct" rate "$why"
		return 1
	fi
}

bench_connect() {
	local contenders="plain" pf
	pf=$WORK/connrate-plain.port
	bg_start connrate-plain "$BIN/connrate" server "$pf"
	local pid_plain=$BG_PID
	wait_file "$pf" || return 1
	local p_plain
	p_plain=$(cat "$pf")

	local p_st pid_st
	p_st=$(free_port)
	bg_start s_server openssl s_server -tls1_3 -accept "127.0.0.1:$p_st" -naccept 100000000 \
		-cert "$CERTS/cert.pem" -key "$CERTS/key.pem" -num_tickets 0 -quiet
	pid_st=$BG_PID
	if wait_port "$p_st" 5; then
		contenders="$contenders openssl-s_time"
	else
		not_measured connect "connect → 1-byte echo → close" openssl-s_time rate "s_server did not start"
	fi
	local p_st2 pid_st2
	p_st2=$(free_port)
	bg_start s_server-tickets openssl s_server -tls1_3 -accept "127.0.0.1:$p_st2" -naccept 100000000 \
		-cert "$CERTS/cert.pem" -key "$CERTS/key.pem" -quiet
	pid_st2=$BG_PID
	if wait_port "$p_st2" 5; then
		contenders="$contenders openssl-s_time-reuse"
	else
		not_measured connect "connect → 1-byte echo → close" openssl-s_time-reuse rate "s_server did not start"
	fi

	# secsock: anonymous and psk servers
	local kind pol why
	declare -A ss_port ss_pid ss_pol
	if [ "$SECSOCK_READY" = 1 ]; then
		# psk file: "identity:hex key" (preload/pre_creds.c)
		printf 'bench:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$POLDIR/bench.psk"
		chmod 0600 "$POLDIR/bench.psk"
		for kind in anon anon-resumed psk; do
			if [ "$kind" = anon ]; then
				pol=$(write_policy "conn-$kind" "[defaults]
auth = anonymous
session-lifetime = 0")
			elif [ "$kind" = anon-resumed ]; then
				pol=$(write_policy "conn-$kind" "[defaults]
auth = anonymous")
			else
				pol=$(write_policy "conn-$kind" "[defaults]
auth = psk
psk-file = $POLDIR/bench.psk")
				if [ -x "$SECSOCK_CLI" ] && ! why=$("$SECSOCK_CLI" policy check "$pol" 2>&1); then
					not_measured connect "connect → 1-byte echo → close" "secsock-$kind" rate \
						"policy check failed: $(echo "$why" | head -1 | cut -c1-160)"
					continue
				fi
			fi
			conn_secsock_start connect "connect → 1-byte echo → close" "secsock-$kind" "conn-$kind" "$pol" || continue
			[ "$kind" = anon-resumed ] && log "connect: anon-resumed warm-up: $(grep -c ' resumed=yes' "$LOGS/secsock-conn-$kind.log") of $(grep -c ' secured ' "$LOGS/secsock-conn-$kind.log") connections resumed"
			ss_port[$kind]=$CONN_PORT
			ss_pid[$kind]=$CONN_PID
			ss_pol[$kind]=$pol
			contenders="$contenders secsock-$kind"
			[ "$kind" = psk ] || contenders="$contenders secsock-$kind-procs"
		done
	else
		for kind in anon anon-resumed psk; do
			not_measured connect "connect → 1-byte echo → close" "secsock-$kind" rate "$SECSOCK_WHY"
		done
	fi
	contenders="$contenders plain-procs"
	log "connect: contenders: $contenders"
	# the per-user store the -procs clients share (pre_resume_store.c:
	# only under a runtime dir that is ours and 0700)
	local xdg=$WORK/xdg-runtime
	rm -rf "$xdg" && mkdir -m 700 "$xdg"

	local rep ct
	for rep in $(seq "$REPS"); do
		for ct in $(in_order "$rep" $contenders); do
			case $ct in
			plain) conn_run_ours plain "$p_plain" "$pid_plain" "" ;;
			plain-procs) conn_run_ours "$ct" "$p_plain" "$pid_plain" "" client-procs ;;
			openssl-s_time) conn_run_stime "$p_st" "$pid_st" "$ct" -new ;;
			openssl-s_time-reuse) conn_run_stime "$p_st2" "$pid_st2" "$ct" -reuse ;;
			secsock-*-procs)
				kind=${ct#secsock-}
				kind=${kind%-procs}
				conn_run_ours "$ct" "${ss_port[$kind]}" "${ss_pid[$kind]}" \
					"env XDG_RUNTIME_DIR=$xdg $(secsock_env "conn-$kind-procs" "${ss_pol[$kind]}" info)" client-procs
				;;
			secsock-*)
				kind=${ct#secsock-}
				conn_run_ours "$ct" "${ss_port[$kind]}" "${ss_pid[$kind]}" \
					"$(secsock_env "conn-$kind" "${ss_pol[$kind]}" info)"
				;;
			esac
		done
		log "connect: repetition $rep/$REPS done"
	done
}
