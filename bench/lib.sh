# bench/lib.sh — helpers shared by the comparisons (sourced by bench/run.sh).
#
# Conventions:
#  - every background process goes through bg_start, which records its pid;
#    the EXIT trap in run.sh stops exactly those pids (never by name);
#  - every measurement is one line of $RAW:
#        section <TAB> case <TAB> contender <TAB> metric <TAB> value
#    and a contender that could not be measured gets value "NA:<reason>";
#    bench/summarize.py turns $RAW into the tables and plots.
#  - loopback only; ports are picked free by the kernel (our helpers) or by
#    free_port (third-party servers) and checked before use.

BENCH_PIDS=""

# rel PATH — PATH relative to the repository, for messages in the results.
rel() {
	case $1 in "$ROOT"/*) echo "${1#"$ROOT"/}" ;; *) echo "$1" ;; esac
}

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

record() {   # section case contender metric value
	printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$RAW"
}

not_measured() {   # section case contender metric reason
	record "$1" "$2" "$3" "$4" "NA:$5"
	log "not measured: $1 / $2 / $3: $5"
}

meta() {   # key value — machine and run facts for the results header
	printf '%s\t%s\n' "$1" "$2" >>"$META"
}

# bg_start NAME CMD... — run CMD in the background, output to $LOGS/NAME.log;
# the pid is left in $BG_PID and remembered for cleanup.
bg_start() {
	local name=$1
	shift
	"$@" >"$LOGS/$name.log" 2>&1 &
	BG_PID=$!
	BENCH_PIDS="$BENCH_PIDS $BG_PID"
}

# stop_pid PID — TERM, wait up to 3 s, then KILL.  Only pids we started.
stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 30); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

stop_all() {
	local p
	for p in $BENCH_PIDS; do
		stop_pid "$p"
	done
	BENCH_PIDS=""
}

port_in_use() {
	ss -Htan "( sport = :$1 )" 2>/dev/null | grep -q .
}

# free_port — a port in 20000..31999 (below the ephemeral range, so no
# client socket can be holding it) that nothing is using right now; ports
# already handed out in this run are skipped so two servers never collide.
BENCH_PORTS=" "
free_port() {
	local p i
	for i in $(seq 200); do
		p=$((20000 + RANDOM % 12000))
		case "$BENCH_PORTS" in *" $p "*) continue ;; esac
		port_in_use "$p" && continue
		BENCH_PORTS="$BENCH_PORTS$p "
		echo "$p"
		return 0
	done
	log "no free port found"
	return 1
}

# wait_port PORT [SECONDS] — until something listens on 127.0.0.1:PORT.
wait_port() {
	local p=$1 t=${2:-10} i
	for i in $(seq $((t * 20))); do
		ss -Htln "( sport = :$p )" 2>/dev/null | grep -q . && return 0
		sleep 0.05
	done
	log "nothing listens on port $p after ${t}s"
	return 1
}

# wait_file FILE [SECONDS]
wait_file() {
	local f=$1 t=${2:-10} i
	for i in $(seq $((t * 20))); do
		[ -s "$f" ] && return 0
		sleep 0.05
	done
	return 1
}

# cpu_ticks PID — user+system clock ticks so far (/proc/PID/stat fields 14, 15;
# the command name in field 2 may contain spaces, so cut after the last ')').
cpu_ticks() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	s=${s##*) }
	# after ") " the fields start at 3 (state); utime is 14, stime 15
	echo "$s" | awk '{print $12 + $13}'
}

# in_order N ITEMS... — the items rotated by N, so the contender that goes
# first changes from one repetition to the next (no contender always runs
# right after the machine was idle).
in_order() {
	local n=$1
	shift
	local k=$#
	[ "$k" -gt 0 ] || return 0
	local s=$((n % k)) i
	local arr=("$@")
	for ((i = 0; i < k; i++)); do
		echo "${arr[$(((s + i) % k))]}"
	done
}

# ---------------------------------------------------------------- secsock

# secsock_env NAME POLICY [LEVEL] — the env prefix that runs a program under
# the preload with POLICY, logging to $LOGS/secsock-NAME.log.
secsock_env() {
	echo "env LD_PRELOAD=$SECSOCK_SO SECSOCK_POLICY=$2 SECSOCK_LOG=${3:-info} SECSOCK_LOG_FILE=$LOGS/secsock-$1.log"
}

# write_policy NAME TEXT — a policy file in the private policy directory
# (0700, ours: the policy loader refuses files others could write).
write_policy() {
	local f="$POLDIR/$1.conf"
	printf '%s\n' "$2" >"$f"
	chmod 0600 "$f"
	echo "$f"
}

# secsock_log_check NAME WANT — did the connections logged under NAME come
# out secured (and, if WANT is given, with WANT in the line, e.g. a cipher)?
# Prints the reason when not.
secsock_log_check() {
	local f="$LOGS/secsock-$1.log" want=${2:-}
	if [ ! -s "$f" ]; then
		echo "no secsock log line (preload not active?)"
		return 1
	fi
	if ! grep -q ' secured ' "$f"; then
		echo "connections not secured: $(grep -m1 -E ' (clear|refused|blocked|error)' "$f" | cut -c1-160)"
		return 1
	fi
	if [ -n "$want" ] && ! grep ' secured ' "$f" | grep -q -- "$want"; then
		echo "secured without $want: $(grep -m1 ' secured ' "$f" | cut -c1-160)"
		return 1
	fi
	if grep -qE ' (clear|refused|blocked) ' "$f"; then
		echo "some connections not secured: $(grep -m1 -E ' (clear|refused|blocked) ' "$f" | cut -c1-160)"
		return 1
	fi
	return 0
}

# secsock_probe — does the preload secure a socat pair end to end?  Sets
# SECSOCK_READY=1, or SECSOCK_READY=0 and SECSOCK_WHY.
secsock_probe() {
	SECSOCK_READY=0
	SECSOCK_WHY=""
	if [ ! -f "$SECSOCK_SO" ]; then
		SECSOCK_WHY="$(rel "$SECSOCK_SO") not built yet"
		return
	fi
	local pol port reply
	pol=$(write_policy probe "[defaults]
auth = anonymous")
	port=$(free_port)
	bg_start probe-server $(secsock_env probe "$pol") \
		socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" EXEC:cat
	local spid=$BG_PID
	if ! wait_port "$port" 5; then
		SECSOCK_WHY="socat server under the preload did not start: $(head -c 200 "$LOGS/probe-server.log")"
		stop_pid "$spid"
		return
	fi
	reply=$(echo secsock-probe | timeout 10 $(secsock_env probe "$pol") \
		socat -t 2 - "TCP:127.0.0.1:$port" 2>"$LOGS/probe-client.log") || true
	stop_pid "$spid"
	if [ "$reply" != "secsock-probe" ]; then
		SECSOCK_WHY="socat pair under the preload: echo failed (got '$(echo "$reply" | head -c 60)'; $(head -c 160 "$LOGS/probe-client.log" | tr '\n' ' '))"
		return
	fi
	local why
	if ! why=$(secsock_log_check probe); then
		SECSOCK_WHY="socat pair under the preload: $why"
		return
	fi
	SECSOCK_READY=1
}

# ---------------------------------------------------------------- certificates

# make_certs — a throwaway Ed25519 self-signed certificate (the same key
# type secsock's anonymous mode uses, so handshake costs compare), a P-256
# one for tools that want it, and a spiped key.
make_certs() {
	openssl req -x509 -newkey ed25519 -nodes -days 2 -subj /CN=localhost \
		-addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
		-keyout "$CERTS/key.pem" -out "$CERTS/cert.pem" 2>"$LOGS/certs.log"
	dd if=/dev/urandom of="$CERTS/spiped.key" bs=32 count=1 2>/dev/null
	chmod 0600 "$CERTS"/*
}
