#!/usr/bin/env bash
# 51-idle-trim — issue 6, idle connections: the engine frees the cipher
# contexts of a connection that sealed and opened nothing for
# SECSOCK_IDLE_TRIM_MS (here 200 ms), and the connection carries data
# correctly both ways afterwards, KeyUpdate included (pre_engine.c "Idle
# trimming", core/ss_rec.h ss_rec_trim).
#   a. embedded default policy: 4 rounds of (client → server, server →
#      client, 1 B to 100 KB, byte-exact) with 0.7 s of silence between them;
#      both ends log trims (debug), and every round after a trim is intact;
#   b. once everything is trimmed, the server's engine thread sleeps: no
#      context switch in 1.5 s (no timer without work to do);
#   c. rekey-after = 300ms on both ends: the first write after each silence
#      sends a KeyUpdate (update_requested) from a trimmed connection, the
#      server answers with its own from a trimmed connection, and the data
#      around both stays byte-exact;
#   d. fork: the server forks after the first round and the child serves the
#      rest on the inherited connection (its contexts came from the parent):
#      the child trims it too, and the rounds stay intact.
. "$(dirname "$0")/lib.sh"
require_lib
require_no_system_policy
unset POLICY
export SECSOCK_IDLE_TRIM_MS=200 SECSOCK_LOG=debug

cat >"$T/peer.py" <<'PY'
import hashlib, os, socket, sys, time

def recv_exact(s, n):
    b = bytearray()
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise SystemExit("EOF after %d of %d bytes" % (len(b), n))
        b += c
    return bytes(b)

def reply_of(msg):
    return hashlib.sha256(msg).digest() + msg[::-1]

SIZES = [1, 1000, 100000, 17]

if sys.argv[1] == "server":
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    s, _ = ls.accept()
    for i, n in enumerate(SIZES):
        msg = recv_exact(s, n)
        s.sendall(reply_of(msg))
        print("served", n, flush=True)
        if i == 0 and len(sys.argv) > 4:      # fork PIDFILE: the child goes on
            pid = os.fork()
            if pid:
                s.close()
                ls.close()
                _, st = os.waitpid(pid, 0)
                sys.exit(os.waitstatus_to_exitcode(st))
            with open(sys.argv[4], "w") as f:
                f.write(str(os.getpid()))
    # stay connected and idle until the client says bye
    assert recv_exact(s, 3) == b"bye"
    s.close()
    print("server done", flush=True)
else:
    port, pause = int(sys.argv[2]), float(sys.argv[3])
    s = socket.create_connection(("127.0.0.1", port))
    for i, n in enumerate(SIZES):
        if i:
            time.sleep(pause)          # long enough for both ends to trim
        msg = os.urandom(n)
        s.sendall(msg)
        got = recv_exact(s, 32 + n)
        print("round %d %s" % (i, "ok" if got == reply_of(msg) else "BAD"), flush=True)
    with open(sys.argv[4] + ".tmp", "w") as f:
        f.write("idle\n")
    os.rename(sys.argv[4] + ".tmp", sys.argv[4])
    # wait for the harness to look at the idle server, then finish
    while not os.path.exists(sys.argv[5]):
        time.sleep(0.05)
    s.sendall(b"bye")
    s.close()
PY

# engine_switches PID: voluntary context switches of PID's secsock-engine thread.
engine_switches() {
	local t
	for t in /proc/"$1"/task/*; do
		if [ "$(cat "$t/comm" 2>/dev/null)" = secsock-engine ]; then
			awk '/^voluntary_ctxt_switches/ { print $2 }' "$t/status"
			return 0
		fi
	done
	echo none
}

run_pair() {   # NAME [fork PIDFILE]: one server + one client, logs $T/NAME-{s,c}.log
	local name=$1 spid
	shift
	start_bg "$name-s" preload "$T/$name-s.log" "$PY" "$T/peer.py" server "$T/$name.port" "$@"
	spid=$BG_PID
	wait_file "$T/$name.port" 10 || bail "$name: server did not start" "$T/$name-s.err"
	TMO=60 preload "$T/$name-c.log" "$PY" "$T/peer.py" client "$(cat "$T/$name.port")" 0.7 \
		"$T/$name.idle" "$T/$name.go" >"$T/$name-c.out" 2>"$T/$name-c.err" &
	local cpid=$!
	wait_file "$T/$name.idle" 30 || fail "$name: client did not finish its rounds" "$T/$name-c.err"
	if [ "$name" = default ]; then
		# b: both ends idle now; give the last trim time to happen, then watch
		sleep 0.6
		local a b
		a=$(engine_switches "$spid")
		sleep 1.5
		b=$(engine_switches "$spid")
		[ "$a" != none ] && assert_eq "$b" "$a" "idle server: engine thread did not wake in 1.5 s (voluntary switches)" \
			|| fail "idle server: no secsock-engine thread (nothing trimmed it?)" "$T/$name-s.log"
	fi
	: >"$T/$name.go"
	wait "$cpid"
	assert_eq "$?" 0 "$name: client exit 0" "$T/$name-c.err" "$T/$name-c.log"
	wait_gone "$spid" 10
	assert_count '^round [0-9] ok$' "$T/$name-c.out" 4 "$name: 4 rounds, each byte-exact both ways" "$T/$name-c.err"
	assert_grep '^server done$' "$T/$name-s.out" "$name: server saw every round and the goodbye" "$T/$name-s.err"
	assert_grep 'secured outbound' "$T/$name-c.log" "$name: client connection secured"
	[ "$name" = fork ] && return 0   # the server's trims are checked per process below
	for side in s c; do
		local n
		n=$(grep -c 'idle trim: 1 of 1 ' "$T/$name-$side.log" || true)
		assert_between "$n" 3 20 "$name-$side: trimmed after each of the 3 pauses (and at the end)"
	done
	assert_no_grep 'torn down|fatal alert' "$T/$name-c.log" "$name: client log has no failure"
	assert_no_grep 'torn down|fatal alert' "$T/$name-s.log" "$name: server log has no failure"
}

# a, b
run_pair default

# c: KeyUpdate after trim, both directions
POLICY=$T/rekey.conf
write_policy "$POLICY" <<'EOF'
[defaults]
rekey-after = 300ms
EOF
run_pair rekey
n=$(grep -c 'KeyUpdate sent (request_peer=1)' "$T/rekey-c.log" || true)
assert_between "$n" 3 10 "rekey: the client's first write after each pause sent a KeyUpdate"
n=$(grep -c 'KeyUpdate sent (request_peer=0)' "$T/rekey-s.log" || true)
assert_between "$n" 3 10 "rekey: the server answered each with its own KeyUpdate"
# the first KeyUpdate comes after the first trim, in each process
for side in c s; do
	order=$(grep -o 'idle trim\|KeyUpdate sent' "$T/rekey-$side.log" | head -1)
	assert_eq "$order" "idle trim" "rekey-$side: a trim happened before the first KeyUpdate"
done

# d: the child serves rounds 1-3 after two pauses (and idles at the end)
unset POLICY
run_pair fork fork "$T/fork.child"
child=$(cat "$T/fork.child" 2>/dev/null || echo none)
n=$(grep -c "secsock\[$child\]: debug: idle trim: 1 of 1 " "$T/fork-s.log" || true)
assert_between "$n" 2 20 "fork: the child (pid $child) trimmed the connection it inherited"
finish
