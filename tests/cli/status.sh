#!/bin/bash
# status.sh — `secsock status` against live preloaded processes (issue 16,
# must-show 1): one client process holding a secured connection (to a
# preloaded server), a clear one (request falls back to a plain peer) and a
# refused one (a require rule towards a plain peer); each shown with its
# state, method and rule; --json valid and complete; -p filters; the kernel's
# byte counters move after traffic; another user sees nothing of ours; a
# killed process's entry disappears.  The processes are started and stopped
# by pid; only 127.0.0.1 and free ports are used.
CLI_NAME=status-cli
. "$(dirname "$0")/lib.bash"

SO="$BUILD/libsecsock.so"
PEER="$(cd "$(dirname "$0")/../tools" && pwd)/status_peer.py"
PIDS=()
U=""
done_all() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	[ -n "$U" ] && userdel -r "$U" >/dev/null 2>&1
	rm -rf "$T"
}
trap done_all EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# wait_for FILE REGEX SECONDS
wait_for() {
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
wait_listen() {
	local i
	for ((i = 0; i < 100; i++)); do
		ss -ltnH "sport = :$1" 2>/dev/null | grep -q . && return 0
		sleep 0.05
	done
	return 1
}

PS=$(free_port); PB=$(free_port); PC=$(free_port)
cat >"$T/policy.conf" <<EOF
[rule strict]
direction = outbound
port      = $PC
action    = require
EOF
chmod 600 "$T/policy.conf"
# env execs the program: $! is the program's pid
PRE=(env LD_PRELOAD="$SO" SECSOCK_LOG=info SECSOCK_POLICY="$T/policy.conf")

"${PRE[@]}" SECSOCK_LOG_FILE="$T/srv.log" python3 "$PEER" server "$PS" >"$T/srv.out" 2>&1 </dev/null &
SRV=$!; PIDS+=("$SRV")
env -u LD_PRELOAD python3 "$PEER" server "$PB" >"$T/b.out" 2>&1 </dev/null &
PIDS+=("$!")
env -u LD_PRELOAD python3 "$PEER" server "$PC" >"$T/c.out" 2>&1 </dev/null &
PIDS+=("$!")
check "servers listen" wait_listen "$PS"
wait_listen "$PB"; wait_listen "$PC"

"${PRE[@]}" SECSOCK_LOG_FILE="$T/cl.log" python3 "$PEER" client "$T" "$PS" "$PB" "$PC" >"$T/cl.out" 2>&1 </dev/null &
CL=$!; PIDS+=("$CL")
check "client made its three connections" wait_for "$T/cl.out" "^$PC " 20
has cl.out "$PS ok" "secured connection works"
has cl.out "$PB ok" "clear fallback works"
has cl.out "$PC error: ECONNREFUSED" "require towards a plain peer is refused"

# ---- text
expect 0 "status -p client" -- "$S" status -p "$CL"
has out "pid $CL " "the client's pid"
line out "^pid $CL .*python.*: secured 1, clear 1, refused 1 since start" "per-process summary"
line out "outbound +127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$PS  secured  rule=defaults action=request method=anonymous peer=anonymous cipher=aes-128-gcm group=x25519 resumed=no sent=[0-9]+ received=[0-9]+ age=[0-9]+s rekey=never" "secured line"
line out "outbound +127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$PB  clear  rule=defaults action=request method=none sent=[0-9]+" "clear line"
line out "outbound +127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$PC  refused  rule=strict action=require method=none" "refused line"
lacks out "pid $SRV " "-p shows only that process"
cp "$T/out" "$T/client.txt"

expect 0 "status -p server" -- "$S" status -p "$SRV"
line out "inbound +127\.0\.0\.1:$PS <- 127\.0\.0\.1:[0-9]+  secured  rule=defaults action=request method=anonymous" "server's inbound secured line"
lacks out "pid $CL " "-p server leaves the client out"

expect 0 "status (all)" -- "$S" status
has out "pid $CL " "all: the client"
has out "pid $SRV " "all: the server"

# ---- json
expect 0 "status --json" -- "$S" status --json -p "$CL"
cp "$T/out" "$T/j1.json"
check "--json is valid JSON" python3 -m json.tool "$T/j1.json" >/dev/null
cat >"$T/jcheck.py" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
pid, ps, pb, pc = (int(x) for x in sys.argv[2:6])
procs = [p for p in doc["processes"] if p["pid"] == pid]
assert doc["published"] is True
assert len(procs) == 1, procs
p = procs[0]
for k in ("pid", "program", "publishing_seconds", "secured", "clear", "refused", "unpublished", "connections"):
    assert k in p, k
assert (p["secured"], p["clear"], p["refused"]) == (1, 1, 1), p
keys = {"pid", "program", "fd", "local", "remote", "direction", "state", "rule", "action", "method",
        "peer", "cipher", "group", "resumed", "mutual", "bytes_sent", "bytes_received",
        "age_seconds", "rekeys", "last_rekey_seconds_ago"}
by = {}
for c in p["connections"]:
    assert set(c) == keys, set(c) ^ keys
    by[int(c["remote"].rsplit(":", 1)[1])] = c
s, cl, rf = by[ps], by[pb], by[pc]
assert (s["state"], s["method"], s["rule"], s["direction"]) == ("secured", "anonymous", "defaults", "outbound"), s
assert s["cipher"] == "aes-128-gcm" and s["peer"] == "anonymous" and s["resumed"] is False, s
assert (cl["state"], cl["method"], cl["rule"], cl["action"]) == ("clear", "none", "defaults", "request"), cl
assert (rf["state"], rf["method"], rf["rule"], rf["action"]) == ("refused", "none", "strict", "require"), rf
assert s["bytes_sent"] > 0 and s["bytes_received"] > 0, s
print(s["bytes_sent"], s["bytes_received"])
PY
check "--json complete: every field, the right states" python3 "$T/jcheck.py" "$T/j1.json" "$CL" "$PS" "$PB" "$PC" >/dev/null
python3 "$T/jcheck.py" "$T/j1.json" "$CL" "$PS" "$PB" "$PC" >"$T/bytes1" 2>"$T/jerr" || sed 's/^/  /' "$T/jerr"

# ---- bytes move after traffic
touch "$T/more"
check "client sent more" wait_for "$T/cl.out" "more done" 10
"$S" status --json -p "$CL" >"$T/j2.json"
python3 "$T/jcheck.py" "$T/j2.json" "$CL" "$PS" "$PB" "$PC" >"$T/bytes2" 2>"$T/jerr"
read -r s1 r1 <"$T/bytes1"; read -r s2 r2 <"$T/bytes2"
check "bytes sent grew by the 20000 sent ($s1 -> $s2)" test "${s2:-0}" -ge $((${s1:-0} + 20000))
check "bytes received grew by the 20000 echoed ($r1 -> $r2)" test "${r2:-0}" -ge $((${r1:-0} + 20000))

# ---- no secret published: the segment holds no key material of the
# session (the client's keylog is off; look for the usual names instead)
seg=/run/secsock/status/$CL
[ "$(id -u)" = 0 ] || seg="${XDG_RUNTIME_DIR:-/nonexistent}/secsock/status/$CL"
check "the client's segment exists" test -f "$seg"
check "segment mode 0600, directory 0700" test "$(stat -c %a "$seg")" = 600 -a "$(stat -c %a "$(dirname "$seg")")" = 700
check "the segment has no key or ticket words" sh -c "! strings '$seg' | grep -qiE 'secret|traffic|ticket|PRIVATE'"

# ---- another user sees nothing of ours
if [ "$(id -u)" = 0 ] && command -v useradd >/dev/null && command -v runuser >/dev/null; then
	U="secsock-t-$$"
	useradd -m -s /bin/sh "$U" >/dev/null 2>&1 || U=""
	if [ -n "$U" ]; then
		install -m 0755 -D "$S" "$T/bin/secsock"
		chmod 755 "$T" "$T/bin"
		UX=$(mktemp -d "/tmp/secsock-t-xdg.XXXXXX"); chown "$U" "$UX"; chmod 700 "$UX"
		expect 0 "other user: status" -- runuser -u "$U" -- env XDG_RUNTIME_DIR="$UX" "$T/bin/secsock" status
		lacks out "pid $CL " "other user does not see our client"
		has out "no preloaded process" "other user sees no process"
		expect 0 "other user: status --json" -- runuser -u "$U" -- env XDG_RUNTIME_DIR="$UX" "$T/bin/secsock" status --json
		check "other user: JSON has no process" python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["processes"]==[], d' "$T/out"
		expect 1 "other user cannot list root's status directory" -- runuser -u "$U" -- sh -c 'ls /run/secsock/status >/dev/null 2>&1 && exit 0; exit 1'
		expect 1 "other user cannot read our segment" -- runuser -u "$U" -- sh -c "cat '$seg' >/dev/null 2>&1 && exit 0; exit 1"
		expect 0 "other user without XDG_RUNTIME_DIR" -- runuser -u "$U" -- env -u XDG_RUNTIME_DIR "$T/bin/secsock" status
		has out "XDG_RUNTIME_DIR is not set" "says why nothing is published"
		rm -rf "$UX"
		chmod 700 "$T"
	fi
else
	echo "status: second-user checks skipped (not root, or no useradd/runuser)"
fi

# ---- a fork child publishes the connection it inherited under its own pid
cat >"$T/fork.py" <<'PY'
import os, socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); c.sendall(b"hi\n"); c.recv(10)
pid = os.fork()
if pid == 0:
    time.sleep(30)
    os._exit(0)
print("child", pid, flush=True)
time.sleep(30)
PY
"${PRE[@]}" SECSOCK_LOG_FILE="$T/fork.log" python3 "$T/fork.py" "$PS" >"$T/fork.out" 2>&1 </dev/null &
FP=$!; PIDS+=("$FP")
check "fork: the child started" wait_for "$T/fork.out" "^child [0-9]+" 10
FC=$(awk '/^child/ {print $2}' "$T/fork.out"); PIDS+=("${FC:-0}")
expect 0 "status -p fork child" -- "$S" status -p "${FC:-0}"
line out "^pid $FC .*: secured 0, clear 0, refused 0 since start" "fork child: its own pid, counters from zero"
line out "outbound +127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$PS  secured " "fork child: the inherited secured connection"
expect 0 "status -p fork parent" -- "$S" status -p "$FP"
line out "^pid $FP .*: secured 1, clear 0, refused 0 since start" "fork parent keeps its own segment"
kill -9 "$FC" "$FP" 2>/dev/null

# ---- a killed process's entry disappears
kill -9 "$CL"; wait "$CL" 2>/dev/null
expect 0 "status -p killed client" -- "$S" status -p "$CL"
lacks out "pid $CL " "killed client not shown"
check "killed client's segment removed" test ! -e "$seg"

# ---- usage
expect 0 "status --help" -- "$S" status --help
has out "usage: secsock status [--json] [-p PID] [--watch[=SECONDS]]" "help usage line"
expect 2 "bad -p" -- "$S" status -p x
expect 2 "bad --watch" -- "$S" status --watch=0
expect 124 "--watch repeats until stopped" -- timeout 1.5 "$S" status --watch=1 -p "$SRV"
check "--watch printed twice" test "$(grep -c "^pid $SRV " "$T/out")" -ge 2

cli_done status
