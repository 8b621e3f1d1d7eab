# bench/bulk.sh — bulk throughput with iperf3 (sourced by bench/run.sh).
#
# Contenders, all against one plain iperf3 server except secsock:
#   plain                 iperf3 client → server
#   stunnel               client → stunnel client → stunnel server → server
#   spiped                client → spiped -e → spiped -d → server
#   socat-openssl         client → socat → socat OPENSSL-LISTEN → server
#   secsock-<cipher>      both iperf3 ends under the preload; the client's
#                         policy allows one cipher, so the handshake picks it
# plus `openssl speed -evp <cipher>` on one core in every repetition, from
# which summarize.py computes the model limit 1/(1/plain + 1/AEAD).

BULK_CIPHERS="aes-128-gcm aes-256-gcm chacha20-poly1305"

bulk_client() {   # PREFIX PORT ARGS... → prints Gbit/s (receiver side)
	local prefix=$1 port=$2
	shift 2
	local out
	out=$(timeout -k 5 $((BULK_SECONDS + 30)) $prefix iperf3 -c 127.0.0.1 -p "$port" -t "$BULK_SECONDS" -J "$@" 2>>"$LOGS/iperf3-client.err") || true
	echo "$out" | jq -r '(.end.sum_received.bits_per_second // empty) / 1e9' 2>/dev/null
}

aead_speed() {   # CIPHER → bytes/s of `openssl speed -evp CIPHER` on 16 KiB buffers
	openssl speed -evp "$1" -bytes 16384 -seconds "$AEAD_SECONDS" -mr 2>/dev/null |
		awk -F: '/^\+F:/ {print $4}' | tail -1
}

bench_bulk() {
	log "bulk: starting servers and tunnels"
	local p_plain p_st_s p_st_c p_sp_s p_sp_c p_so_s p_so_c p_ss
	p_plain=$(free_port)
	bg_start iperf3-plain iperf3 -s -B 127.0.0.1 -p "$p_plain"
	wait_port "$p_plain" || return 1

	local contenders="plain"
	# stunnel pair
	p_st_s=$(free_port)
	p_st_c=$(free_port)
	cat >"$WORK/stunnel-bulk-server.conf" <<-EOF
		foreground = yes
		pid =
		debug = 3
		[bulk]
		accept = 127.0.0.1:$p_st_s
		connect = 127.0.0.1:$p_plain
		cert = $CERTS/cert.pem
		key = $CERTS/key.pem
	EOF
	cat >"$WORK/stunnel-bulk-client.conf" <<-EOF
		foreground = yes
		pid =
		debug = 3
		[bulk]
		client = yes
		accept = 127.0.0.1:$p_st_c
		connect = 127.0.0.1:$p_st_s
	EOF
	bg_start stunnel-bulk-server stunnel "$WORK/stunnel-bulk-server.conf"
	bg_start stunnel-bulk-client stunnel "$WORK/stunnel-bulk-client.conf"
	if wait_port "$p_st_s" && wait_port "$p_st_c"; then
		contenders="$contenders stunnel"
	else
		not_measured bulk all stunnel gbps "stunnel did not start: $(head -c 200 "$LOGS/stunnel-bulk-server.log")"
	fi
	# spiped pair
	p_sp_s=$(free_port)
	p_sp_c=$(free_port)
	bg_start spiped-d spiped -d -F -s "[127.0.0.1]:$p_sp_s" -t "[127.0.0.1]:$p_plain" \
		-k "$CERTS/spiped.key" -p "$WORK/spiped-d.pid"
	bg_start spiped-e spiped -e -F -s "[127.0.0.1]:$p_sp_c" -t "[127.0.0.1]:$p_sp_s" \
		-k "$CERTS/spiped.key" -p "$WORK/spiped-e.pid"
	if wait_port "$p_sp_s" && wait_port "$p_sp_c"; then
		contenders="$contenders spiped"
	else
		not_measured bulk all spiped gbps "spiped did not start: $(head -c 200 "$LOGS/spiped-d.log")"
	fi
	# socat OPENSSL pair (no verification: a throwaway cert on loopback)
	p_so_s=$(free_port)
	p_so_c=$(free_port)
	bg_start socat-ssl-server socat \
		"OPENSSL-LISTEN:$p_so_s,bind=127.0.0.1,reuseaddr,fork,cert=$CERTS/cert.pem,key=$CERTS/key.pem,verify=0" \
		"TCP:127.0.0.1:$p_plain"
	bg_start socat-ssl-client socat "TCP-LISTEN:$p_so_c,bind=127.0.0.1,reuseaddr,fork" \
		"OPENSSL:127.0.0.1:$p_so_s,verify=0"
	if wait_port "$p_so_s" && wait_port "$p_so_c"; then
		contenders="$contenders socat-openssl"
	else
		not_measured bulk all socat-openssl gbps "socat did not start"
	fi
	# secsock: one preloaded server that accepts every cipher
	local c ss_contenders=""
	if [ "$SECSOCK_READY" = 1 ]; then
		local spol
		spol=$(write_policy bulk-server "[defaults]
auth = anonymous
ciphers = aes-128-gcm, aes-256-gcm, chacha20-poly1305")
		p_ss=$(free_port)
		bg_start iperf3-secsock $(secsock_env bulk-server "$spol") iperf3 -s -B 127.0.0.1 -p "$p_ss"
		if wait_port "$p_ss"; then
			for c in $BULK_CIPHERS; do
				write_policy "bulk-$c" "[defaults]
auth = anonymous
ciphers = $c" >/dev/null
				ss_contenders="$ss_contenders secsock-$c"
			done
		else
			for c in $BULK_CIPHERS; do
				not_measured bulk all "secsock-$c" gbps "iperf3 -s under the preload did not start: $(head -c 160 "$LOGS/iperf3-secsock.log")"
			done
		fi
	else
		for c in $BULK_CIPHERS; do
			not_measured bulk all "secsock-$c" gbps "$SECSOCK_WHY"
		done
	fi

	# Warm-up (not recorded), and for secsock the check that the connections
	# really were secured with the cipher asked for.
	local ct v why kept=""
	for ct in $ss_contenders; do
		c=${ct#secsock-}
		BULK_SECONDS=1 bulk_client "$(secsock_env "bulk-$c" "$POLDIR/bulk-$c.conf")" "$p_ss" >/dev/null
		if why=$(secsock_log_check "bulk-$c" "cipher=$c"); then
			kept="$kept $ct"
		else
			not_measured bulk all "$ct" gbps "$why"
		fi
	done
	contenders="$contenders$kept"
	log "bulk: contenders:$contenders"

	local cases=("1 stream|" "1 stream, reverse|-R" "4 streams|-P 4" "4 streams, reverse|-P 4 -R")
	[ "$QUICK" = 1 ] && cases=("1 stream|" "1 stream, reverse|-R")
	local rep cs name args port prefix
	for rep in $(seq "$REPS"); do
		for cs in "${cases[@]}"; do
			name=${cs%%|*}
			args=${cs#*|}
			for ct in $(in_order "$rep" $contenders); do
				prefix=""
				case $ct in
				plain) port=$p_plain ;;
				stunnel) port=$p_st_c ;;
				spiped) port=$p_sp_c ;;
				socat-openssl) port=$p_so_c ;;
				secsock-*)
					port=$p_ss
					prefix=$(secsock_env "bulk-${ct#secsock-}" "$POLDIR/bulk-${ct#secsock-}.conf")
					;;
				esac
				# shellcheck disable=SC2086
				v=$(bulk_client "$prefix" "$port" $args)
				if [ -n "$v" ]; then
					record bulk "$name" "$ct" gbps "$v"
				else
					record bulk "$name" "$ct" gbps "NA:iperf3 failed (rep $rep)"
				fi
			done
		done
		# the AEAD's own speed, in the same alternation
		for c in $BULK_CIPHERS; do
			v=$(aead_speed "$c")
			[ -n "$v" ] && record aead "16 KiB, one core" "$c" gbps "$(awk -v b="$v" 'BEGIN{printf "%.3f", b*8/1e9}')"
		done
		log "bulk: repetition $rep/$REPS done"
	done
}
