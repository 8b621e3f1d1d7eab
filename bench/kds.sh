# shellcheck shell=bash
# bench/kds.sh — KDS GetKey requests per second and per core (issue 15
# must-show 4).  Sourced by run.sh (`bench/run.sh --only kds`), or run on
# its own: `BUILD=$PWD/build bash bench/kds.sh` prints the medians of 3.
#
#   one-connection   one `secsock kds get-key --repeat N` client process
#                    issuing N GetKey requests on one secured connection
#   new-connections  the same with --reconnect: a host-key handshake per
#                    request (what a member with a cold cache costs)
# The KDS runs under the preload (inbound require host-key, strict known
# peers), the client under it too.  rate = requests / wall second;
# per_core = requests / (client CPU + KDS CPU) second, the figure that says
# how many requests one core serves.
#
# Then the cost of a group handshake once the keys are cached (issue 15
# must-show 4), connrate client -> server as in bench/connect.sh, in the
# same run:
#   secsock-anon     auth = anonymous, session-lifetime = 0 (a full handshake)
#   secsock-group    auth = group:bench, keys from this KDS (group-kds), the
#                    cache warmed first: every connection proves the group key
#                    (an external PSK with ECDHE), no KDS request

KDS_N_ONE=${KDS_N_ONE:-20000}
KDS_N_NEW=${KDS_N_NEW:-1000}

kds_setup() {
	local d=$WORK/kds now fp
	mkdir -p "$d" && chmod 700 "$d" && mkdir -m 700 "$d/store" "$d/srv" "$d/cli"
	now=$(date +%s)
	"$SECSOCK_CLI" kds root-key create --store "$d/store" --effective $((now - 60)) >/dev/null || return 1
	XDG_CONFIG_HOME=$d/srv "$SECSOCK_CLI" keygen >"$d/ks.out" 2>&1 || return 1
	XDG_CONFIG_HOME=$d/cli "$SECSOCK_CLI" keygen >"$d/kc.out" 2>&1 || return 1
	fp=$(awk '{print $2}' "$d/kc.out")
	printf '127.0.0.1 %s\n' "$fp" >"$d/allowed"
	chmod 600 "$d/allowed"
	KDS_SRV_POL=$(write_policy kds-server "[rule kds]
direction = inbound
action = require
auth = host-key
known-peers = strict
known-peers-file = $d/allowed")
	KDS_CLI_POL=$(write_policy kds-client "[rule kds]
direction = outbound
action = require
auth = host-key")
	KDS_PORT=$(free_port)
	printf '[kds]\nlisten = 127.0.0.1:%s\nstore = %s\n\n[group bench]\nsd = 01000480\nmembers = %s\n' \
		"$KDS_PORT" "$d/store" "$fp" >"$d/kds.ini"
	# shellcheck disable=SC2046
	XDG_CONFIG_HOME=$d/srv bg_start kds-server $(secsock_env kds-server "$KDS_SRV_POL" warn) \
		"$SECSOCK_CLI" kds serve --config "$d/kds.ini"
	KDS_PID=$BG_PID
	wait_port "$KDS_PORT" 5
}

# kds_run CASE N [--reconnect]: one client run; records rate and per_core.
kds_run() {
	local ct=$1 n=$2 t0 t1 cpu out rate
	shift 2
	t0=$(cpu_ticks "$KDS_PID")
	# shellcheck disable=SC2046
	cpu=$( { TIMEFORMAT='%U %S'; time XDG_CONFIG_HOME=$WORK/kds/cli $(secsock_env kds-client "$KDS_CLI_POL" warn) \
		"$SECSOCK_CLI" kds get-key --server "127.0.0.1:$KDS_PORT" --group bench --repeat "$n" "$@" \
		>"$WORK/kds-$ct.out" 2>>"$LOGS/kds-client.err"; } 2>&1 | awk '{print $1+$2}')
	t1=$(cpu_ticks "$KDS_PID")
	out=$(cat "$WORK/kds-$ct.out")
	rate=$(echo "$out" | sed -n 's/.*(\([0-9]*\)\/s)$/\1/p')
	if [ -z "$rate" ]; then
		not_measured kds "GetKey requests" "$ct" rate "client failed: $(tail -1 "$LOGS/kds-client.err" | cut -c1-120)"
		return 1
	fi
	record kds "GetKey requests" "$ct" rate "$rate"
	record kds "GetKey requests" "$ct" per_core \
		"$(awk -v n="$n" -v c="$cpu" -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" \
			'BEGIN{printf "%.0f", n / (c + t/hz)}')"
}

# kds_group: connrate under an anonymous and a group:bench policy, the
# KDS up and the members' cache warmed (one host key for both ends: one
# host, the address the KDS pins).
kds_group() {
	local d=$WORK/kds kfp kind pol ct rep
	declare -A port spid gpol
	kfp=$(awk '{print $2}' "$d/ks.out")
	mkdir -p "$d/cache" && chmod 700 "$d/cache"
	for kind in anon group; do
		if [ $kind = anon ]; then
			pol=$(write_policy "kds-conn-anon" "[defaults]
auth = anonymous
session-lifetime = 0")
		else
			pol=$(write_policy "kds-conn-group" "[rule kds]
direction = outbound
port = $KDS_PORT
action = require
auth = host-key

[defaults]
auth = group:bench
group-sd = 01000480
group-kds = 127.0.0.1:$KDS_PORT
group-kds-identity = $kfp")
		fi
		XDG_CONFIG_HOME=$d/cli XDG_CACHE_HOME=$d/cache conn_secsock_start kds "$KDS_GCASE" "secsock-$kind" \
			"kds-conn-$kind" "$pol" "$([ $kind = group ] && echo 'auth=group:bench')" || continue
		port[$kind]=$CONN_PORT spid[$kind]=$CONN_PID gpol[$kind]=$pol
	done
	local n0 n1
	n0=$(grep -c 'status=ok' "$LOGS/kds-server.log" 2>/dev/null)
	for rep in $(seq "$REPS"); do
		for ct in $(in_order "$rep" anon group); do
			[ -n "${port[$ct]:-}" ] || continue
			CONN_SECTION=kds CONN_CASE=$KDS_GCASE XDG_CONFIG_HOME=$d/cli XDG_CACHE_HOME=$d/cache \
				conn_run_ours "secsock-$ct" "${port[$ct]}" "${spid[$ct]}" \
				"$(secsock_env "kds-conn-$ct" "${gpol[$ct]}" warn)"
		done
	done
	n1=$(grep -c 'status=ok' "$LOGS/kds-server.log" 2>/dev/null)
	# the group figures are cache hits only if the KDS was not asked meanwhile
	meta "kds requests during group handshakes" "$((n1 - n0))"
	log "kds: GetKey requests while group handshakes were measured: $((n1 - n0))"
}
KDS_GCASE="group handshake, keys cached: connect → 1-byte echo → close"

bench_kds() {
	local rep ct
	if [ ! -x "$SECSOCK_CLI" ] || [ ! -f "$SECSOCK_SO" ]; then
		not_measured kds "GetKey requests" one-connection rate "no secsock build"
		return 1
	fi
	if ! kds_setup; then
		not_measured kds "GetKey requests" one-connection rate "the KDS did not start"
		return 1
	fi
	for rep in $(seq "$REPS"); do
		for ct in $(in_order "$rep" one-connection new-connections); do
			case $ct in
			one-connection) kds_run "$ct" "$KDS_N_ONE" ;;
			new-connections) kds_run "$ct" "$KDS_N_NEW" --reconnect ;;
			esac
		done
		log "kds: repetition $rep/$REPS done"
	done
	[ -x "$BIN/connrate" ] && kds_group
	stop_pid "$KDS_PID"
}

# ---------------------------------------------------------------- standalone
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
	ROOT=$(cd "$BENCH_DIR/.." && pwd)
	BUILD=${BUILD:-$ROOT/build}
	SECSOCK_SO=$BUILD/libsecsock.so SECSOCK_CLI=$BUILD/secsock
	REPS=${REPS:-3}
	export BENCH_PIDS=
	WORK=$(mktemp -d /tmp/secsock-bench-kds.XXXXXX)
	chmod 700 "$WORK"
	LOGS=$WORK/logs POLDIR=$WORK/policy RAW=$WORK/raw.tsv
	export META=$WORK/meta.tsv
	mkdir -p "$LOGS" && mkdir -m 700 "$POLDIR" && : >"$RAW"
	# shellcheck source=bench/lib.sh
	. "$BENCH_DIR/lib.sh"
	trap 'stop_all; rm -rf "$WORK"' EXIT
	bench_kds
	for ct in one-connection new-connections; do
		for m in rate per_core; do
			printf '%-16s %-9s median %s of [%s]\n' "$ct" "$m" \
				"$(awk -F'\t' -v c="$ct" -v m="$m" '$3==c && $4==m {print $5}' "$RAW" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')" \
				"$(awk -F'\t' -v c="$ct" -v m="$m" '$3==c && $4==m {printf "%s ", $5}' "$RAW")"
		done
	done
fi
