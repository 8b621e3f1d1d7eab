# lib.sh — shared helpers for the preload integration tests (tests/integration/3*-*.sh).
#
# Source it first thing: `. "$(dirname "$0")/lib.sh"`.  It gives every script
#   - $BUILD (absolute; default $PWD/build), $SO, $TOOLS, $SECSOCK (the CLI), $PY;
#   - $T: a private temp dir (mktemp -d), removed on exit unless a check failed
#     or KEEP_TMP=1;
#   - background servers started with start_bg, stopped by pid on EXIT;
#   - free_port / wait_listen / wait_file: ports picked per test, readiness by
#     polling (never by sleeping a fixed time);
#   - preload LOG CMD...: CMD under LD_PRELOAD=$SO with SECSOCK_LOG=info and
#     SECSOCK_LOG_FILE=LOG; the policy is $POLICY when set, else the embedded
#     default (SECSOCK_POLICY unset);
#   - assertions printing one "ok - ..." / "not ok - ..." line per check, and
#     finish, which exits non-zero when any check failed.
#
# Only loopback addresses are used.  Nothing here sleeps longer than a poll
# interval.

# `make check-integration` runs every tests/integration/*.sh, this file
# included: executed directly it has nothing to test.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	echo "# lib.sh: shared helpers for the integration scripts (nothing to run)"
	exit 0
fi

set -u
set -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$PWD/build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
# SECSOCK_SO: another build's library (e.g. the unfixed one, to show a test fails before its fix).
SO=${SECSOCK_SO:-$BUILD/libsecsock.so}
TOOLS=$BUILD/tools
SECSOCK=$BUILD/secsock
WIRECHECK=$REPO/tests/tools/tls_wire_check.py
# Debian's python3 (a pyenv shim or a venv in PATH is not "a real program from
# a Debian package" and adds a shell in between).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
TEST_NAME=$(basename "$0" .sh)

T=$(mktemp -d "${TMPDIR:-/tmp}/secsock-$TEST_NAME.XXXXXX")
chmod 700 "$T"
# Discovery verdicts are shared by the user's processes (docs/design.md
# "First contact"): each script gets its own store, so no verdict of
# another script (or of the user's own programs) changes what it measures.
mkdir -m 700 "$T/xdg"
export XDG_RUNTIME_DIR=$T/xdg
CHECKS=0
FAILS=0
PIDS=()

_cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid"
	done
	if [ "$FAILS" -eq 0 ] && [ "${KEEP_TMP:-0}" != 1 ]; then
		rm -rf "$T"
	else
		echo "# files kept in $T"
	fi
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- reporting

pass() {
	CHECKS=$((CHECKS + 1))
	echo "ok - $*"
}

# fail DESC [FILE...]: a failed check; the tail of each FILE is shown as "# " lines.
fail() {
	local desc=$1 f
	shift
	CHECKS=$((CHECKS + 1))
	FAILS=$((FAILS + 1))
	echo "not ok - $desc"
	for f in "$@"; do
		[ -e "$f" ] || { echo "#   ($f: missing)"; continue; }
		echo "#   --- $(basename "$f") (last 15 lines)"
		tail -n 15 "$f" | sed 's/^/#   /'
	done
}

# check DESC CMD...: pass when CMD succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then pass "$desc"; else fail "$desc"; fi
}

# bail DESC: a precondition failed; nothing after it can be meaningful.
bail() {
	CHECKS=$((CHECKS + 1))
	FAILS=$((FAILS + 1))
	echo "not ok - $*"
	echo "# $TEST_NAME: bailing out"
	exit 1
}

finish() {
	if [ "$FAILS" -ne 0 ]; then
		echo "# $TEST_NAME: $FAILS of $CHECKS checks failed"
		exit 1
	fi
	echo "# $TEST_NAME: all $CHECKS checks passed"
	exit 0
}

# assert_eq ACTUAL EXPECTED DESC [FILE...]
assert_eq() {
	local a=$1 e=$2 d=$3
	shift 3
	if [ "$a" = "$e" ]; then pass "$d"; else fail "$d (got '$a', want '$e')" "$@"; fi
}

# assert_grep PATTERN FILE DESC [MOREFILES...]: extended regex must match a line of FILE.
assert_grep() {
	local p=$1 f=$2 d=$3
	shift 3
	if grep -Eq -- "$p" "$f" 2>/dev/null; then pass "$d"; else fail "$d (no line matching /$p/ in $(basename "$f"))" "$f" "$@"; fi
}

# assert_no_grep PATTERN FILE DESC
assert_no_grep() {
	local p=$1 f=$2 d=$3
	shift 3
	if ! grep -Eq -- "$p" "$f" 2>/dev/null; then pass "$d"; else
		fail "$d (found /$p/ in $(basename "$f"): $(grep -Em1 -- "$p" "$f" | cut -c1-160))" "$@"
	fi
}

# assert_count PATTERN FILE N DESC: exactly N matching lines.
assert_count() {
	local p=$1 f=$2 n=$3 d=$4
	shift 4
	local c
	c=$(grep -Ec -- "$p" "$f" 2>/dev/null) || true
	c=${c:-0}
	if [ "$c" -eq "$n" ]; then pass "$d"; else fail "$d (got $c lines matching /$p/, want $n)" "$f" "$@"; fi
}

# assert_same_file A B DESC: byte-identical (sha256).
assert_same_file() {
	local a=$1 b=$2 d=$3 ha hb
	ha=$(sha256sum <"$a" 2>/dev/null | cut -d' ' -f1)
	hb=$(sha256sum <"$b" 2>/dev/null | cut -d' ' -f1)
	if [ -n "$ha" ] && [ "$ha" = "$hb" ]; then
		pass "$d (sha256 ${ha:0:16}…)"
	else
		fail "$d (sha256 ${ha:-missing} vs ${hb:-missing}; sizes $(stat -c %s "$a" 2>/dev/null || echo -) / $(stat -c %s "$b" 2>/dev/null || echo -))"
	fi
}

# assert_prefix PART WHOLE DESC: file PART is a prefix of file WHOLE (possibly empty).
assert_prefix() {
	local p=$1 w=$2 d=$3 n
	n=$(stat -c %s "$p" 2>/dev/null || echo 0)
	if [ -e "$p" ] && cmp -s -n "$n" "$p" "$w"; then
		pass "$d ($n bytes delivered, all equal to the original)"
	else
		fail "$d (delivered bytes differ from the original: $(cmp "$p" "$w" 2>&1 | head -1))"
	fi
}

# assert_between VALUE LO HI DESC (integers or decimals)
assert_between() {
	local v=$1 lo=$2 hi=$3 d=$4
	if awk -v v="$v" -v lo="$lo" -v hi="$hi" 'BEGIN { exit !(v >= lo && v <= hi) }'; then
		pass "$d ($v)"
	else
		fail "$d ($v not in [$lo, $hi])"
	fi
}

# field FILE KEY: the value after "KEY: " on the first matching line (errno_peer output).
field() {
	sed -n "s/^$2: //p" "$1" | head -n1
}

# ---------------------------------------------------------------- preconditions

require_lib() {
	[ -f "$SO" ] || bail "$SO is missing (build it first: make BUILD=$BUILD all)"
}

require_tools() {
	local t
	for t in "$@"; do
		[ -x "$TOOLS/$t" ] || bail "$TOOLS/$t is missing (make BUILD=$BUILD all builds tests/tools/$t.c)"
	done
}

require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || bail "command '$c' not found (scripts/install-deps.sh installs it)"
	done
}

# The tests that say "embedded default" mean it: a machine-wide policy file
# would change what they measure.
require_no_system_policy() {
	[ ! -e /etc/secsock/policy.conf ] || bail "/etc/secsock/policy.conf exists; these tests need the embedded default"
}

# ---------------------------------------------------------------- ports and processes

# free_port [HOST]: a TCP port nobody listens on right now (bind to port 0, close).
free_port() {
	"$PY" -c 'import socket,sys
h=sys.argv[1]
s=socket.socket(socket.AF_INET6 if ":" in h else socket.AF_INET)
s.bind((h,0)); print(s.getsockname()[1]); s.close()' "${1:-127.0.0.1}"
}

# is_listening PORT: a socket listens on PORT (any loopback address).  Uses ss,
# never a connection, so a one-shot server is not used up by the probe.
is_listening() {
	ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# wait_listen PORT [SECS=10] [PID]: poll until PORT listens; fails early if PID died.
wait_listen() {
	local port=$1 secs=${2:-10} pid=${3:-} i
	for ((i = 0; i < secs * 50; i++)); do
		is_listening "$port" && return 0
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		sleep 0.02
	done
	return 1
}

# wait_file FILE [SECS=10]: poll until FILE exists and is not empty.
wait_file() {
	local f=$1 secs=${2:-10} i
	for ((i = 0; i < secs * 50; i++)); do
		[ -s "$f" ] && return 0
		sleep 0.02
	done
	return 1
}

# wait_grep PATTERN FILE [SECS=5]: poll until FILE has a line matching PATTERN
# (log lines written by a server after the client already finished).
wait_grep() {
	local p=$1 f=$2 secs=${3:-5} i
	for ((i = 0; i < secs * 50; i++)); do
		grep -Eq -- "$p" "$f" 2>/dev/null && return 0
		sleep 0.02
	done
	return 1
}

# wait_gone PID [SECS=10]: poll until PID exited.
wait_gone() {
	local pid=$1 secs=${2:-10} i
	for ((i = 0; i < secs * 50; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.02
	done
	return 1
}

# start_bg NAME [preload LOG | plain] CMD...: CMD in the background, in its own session (so forked
# children go with it), stdout/stderr in $T/NAME.out / $T/NAME.err.  Sets
# BG_PID; the pid is stopped on exit.
start_bg() {
	local name=$1 PL=()
	shift
	if [ "$1" = preload ]; then
		preload_argv "$2"
		shift 2
	elif [ "$1" = plain ]; then
		PL=(env -u LD_PRELOAD -u SECSOCK_POLICY)
		shift
	fi
	setsid "${PL[@]}" "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
	BG_PID=$!
	PIDS+=("$BG_PID")
}

# stop_pid PID: TERM the process group led by PID (and PID), then KILL if needed.
stop_pid() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
	kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}


# make_cert NAME CN [CA]: $T/NAME.crt and $T/NAME.key (P-256, SAN DNS:CN, 2
# days): a self-signed CA without CA, else a leaf signed by $T/CA.crt.
make_cert() {
	local n=$1 cn=$2 ca=${3:-}
	if [ -z "$ca" ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$cn" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "subjectAltName=DNS:$cn" \
			-keyout "$T/$n.key" -out "$T/$n.crt" >/dev/null 2>&1
	else
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
			-keyout "$T/$n.key" -out "$T/$n.csr" >/dev/null 2>&1 &&
			printf 'subjectAltName=DNS:%s\n' "$cn" >"$T/$n.ext" &&
			openssl x509 -req -in "$T/$n.csr" -CA "$T/$ca.crt" -CAkey "$T/$ca.key" -CAcreateserial -days 2 \
				-extfile "$T/$n.ext" -out "$T/$n.crt" >/dev/null 2>&1
	fi || bail "openssl could not make certificate $n"
	chmod 600 "$T/$n.key"
}

# ---------------------------------------------------------------- secsock

# preload_argv LOG: sets the array PL to the `env ...` prefix that runs a
# command with libsecsock.so preloaded, info log to LOG.  Policy: $POLICY if
# set and non-empty, else the embedded default (SECSOCK_POLICY removed).
# The log's per-peer rate limit is off (SECSOCK_LOG_RATE=0) unless the
# caller sets SECSOCK_LOG_RATE (empty: the built-in 10/10): tests count
# lines; tests/security/s45-audit-log.sh tests the limit.
preload_argv() {
	if [ -n "${POLICY:-}" ]; then
		PL=(env LD_PRELOAD="$SO" SECSOCK_LOG="${SECSOCK_LOG:-info}" SECSOCK_LOG_FILE="$1"
			SECSOCK_LOG_RATE="${SECSOCK_LOG_RATE-0}" SECSOCK_POLICY="$POLICY")
	else
		PL=(env -u SECSOCK_POLICY LD_PRELOAD="$SO" SECSOCK_LOG="${SECSOCK_LOG:-info}"
			SECSOCK_LOG_RATE="${SECSOCK_LOG_RATE-0}" SECSOCK_LOG_FILE="$1")
	fi
}

# preload LOG CMD...: run CMD with libsecsock.so preloaded (see preload_argv),
# killed after $TMO seconds (default 60) so a hang fails the test instead of
# stalling it.  start_bg NAME preload LOG CMD... works too (no time limit).
preload() {
	local PL
	preload_argv "$1"
	shift
	timeout -k 5 "${TMO:-60}" "${PL[@]}" "$@"
}

# plain CMD...: run CMD with no preload at all (for contrast), same time limit.
plain() {
	timeout -k 5 "${TMO:-60}" env -u LD_PRELOAD -u SECSOCK_POLICY "$@"
}

# write_policy FILE: stdin becomes the policy file, mode 0600 (the loader
# refuses files others can write).
write_policy() {
	cat >"$1"
	chmod 600 "$1"
}

# start_relay NAME [ss_relay options...] LISTEN_HOST TARGET_HOST TARGET_PORT:
# an ss_relay recording into $T/NAME/conn-N.{c2s,s2c}; sets RELAY_PORT, RELAY_PID.
start_relay() {
	local name=$1
	shift
	local n=$#
	local opts=("${@:1:n-3}") lhost=${*:n-2:1} thost=${*:n-1:1} tport=${*:n:1}
	mkdir -p "$T/$name"
	rm -f "$T/$name.port"
	start_bg "$name" "$TOOLS/ss_relay" --record "$T/$name" --port-file "$T/$name.port" \
		"${opts[@]}" "$lhost" 0 "$thost" "$tport"
	RELAY_PID=$BG_PID
	wait_file "$T/$name.port" 10 || bail "ss_relay $name did not start ($(cat "$T/$name.err" 2>/dev/null))"
	RELAY_PORT=$(cat "$T/$name.port")
}

# make_data FILE BYTES: random test data.
make_data() {
	head -c "$2" /dev/urandom >"$1"
}

# ms_now: monotonic-ish wall clock in milliseconds.
ms_now() {
	date +%s%3N
}

# need_pkg CMD PACKAGE: make sure CMD exists, installing PACKAGE with apt-get
# (only when missing: dpkg-query first).
need_pkg() {
	local cmd=$1 pkg=$2
	command -v "$cmd" >/dev/null 2>&1 && return 0
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >"$T/apt-$pkg.log" 2>&1 ||
			bail "apt-get install $pkg failed" "$T/apt-$pkg.log"
	fi
	command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || bail "$cmd not found after installing $pkg"
}
