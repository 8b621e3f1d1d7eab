#!/usr/bin/env bash
# 75-rekey-bytes.sh — issue 14 must-show 2: `rekey-after` by volume.  With
# rekey-after = 64K (no time limit) on both ends, each end sends a TLS 1.3
# KeyUpdate (RFC 8446 §4.6.3) after every 64 KiB it sends, in both
# directions, and the stream stays byte-exact across every key change:
#   (a) 1 MiB client -> server, then 1 MiB server -> client, checked by
#       SHA-256 at the receiver: each end sent at least 15 KeyUpdates
#       (1 MiB / 64 KiB = 16, the last one may not be due yet) and not more
#       than its own 16 plus one answer per update the peer asked for;
#   (b) the same with rekey-after = 0: no KeyUpdate at all (off means off);
#   (c) rekey-after = 1h only (no size): none in a transfer of seconds.
. "$(dirname "$0")/lib.sh"
require_lib
require_no_system_policy

cat >"$T/peer.py" <<'PY'
import hashlib, os, socket, sys
MB = 1 << 20
def recv_n(s, n):
    h, got = hashlib.sha256(), 0
    while got < n:
        d = s.recv(min(65536, n - got))
        if not d:
            raise SystemExit("short read at %d" % got)
        h.update(d); got += len(d)
    return h.hexdigest()
def send_blob(s, seed):
    data = hashlib.sha256(seed).digest() * (MB // 32)
    s.sendall(data)
    return hashlib.sha256(data).hexdigest()
if sys.argv[1] == "server":
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("127.0.0.1", int(sys.argv[2]))); l.listen(4)
    for _ in range(int(sys.argv[3])):
        c, _ = l.accept()
        print("server got", recv_n(c, MB), flush=True)
        print("server sent", send_blob(c, b"down"), flush=True)
        c.recv(1)
        c.close()
else:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=30)
    print("client sent", send_blob(s, b"up"), flush=True)
    print("client got", recv_n(s, MB), flush=True)
    s.sendall(b"x")
    s.close()
PY

port=$(free_port)
run_case() {   # NAME REKEY
	POLICY=$T/$1.conf
	write_policy "$POLICY" <<EOF
[defaults]
action      = require
rekey-after = $2
EOF
	SECSOCK_LOG=debug start_bg "$1-srv" preload "$T/$1-s.log" "$PY" "$T/peer.py" server "$port" 1
	local spid=$BG_PID
	wait_listen "$port" 10 "$spid" || bail "$1: server did not listen" "$T/$1-srv.err"
	SECSOCK_LOG=debug preload "$T/$1-c.log" "$PY" "$T/peer.py" client "$port" >"$T/$1-c.out" 2>"$T/$1-c.err"
	assert_eq "$?" 0 "$1: the client finished" "$T/$1-c.err" "$T/$1-c.log"
	wait_gone "$spid" 10
	up_sent=$(awk '/^client sent/{print $3}' "$T/$1-c.out")
	up_got=$(awk '/^server got/{print $3}' "$T/$1-srv.out")
	down_sent=$(awk '/^server sent/{print $3}' "$T/$1-srv.out")
	down_got=$(awk '/^client got/{print $3}' "$T/$1-c.out")
	check "$1: 1 MiB client -> server arrived byte-exact" [ -n "$up_sent" ] && [ "$up_sent" = "$up_got" ]
	check "$1: 1 MiB server -> client arrived byte-exact" [ -n "$down_sent" ] && [ "$down_sent" = "$down_got" ]
	assert_grep 'secured outbound' "$T/$1-c.log" "$1: the connection was secured"
	assert_no_grep 'torn down|fatal alert|bad record' "$T/$1-c.log" "$1: no failure in the client's log"
	assert_no_grep 'torn down|fatal alert|bad record' "$T/$1-s.log" "$1: no failure in the server's log"
	CU=$(grep -c 'KeyUpdate sent' "$T/$1-c.log" || true)
	SU=$(grep -c 'KeyUpdate sent' "$T/$1-s.log" || true)
}

run_case bytes 64K
assert_between "$CU" 15 34 "bytes: the client updated its keys every 64 KiB it sent ($CU KeyUpdates)"
assert_between "$SU" 15 34 "bytes: the server updated its keys every 64 KiB it sent ($SU KeyUpdates)"
n=$(grep -c 'KeyUpdate sent (request_peer=1)' "$T/bytes-c.log" || true)
assert_between "$n" 15 17 "bytes: the client's own updates ($n) — one per 64 KiB of its 1 MiB"

run_case off 0
assert_eq "$CU" 0 "off: rekey-after = 0: the client sent no KeyUpdate"
assert_eq "$SU" 0 "off: rekey-after = 0: the server sent no KeyUpdate"

run_case time-only 1h
assert_eq "$CU" 0 "time-only: rekey-after = 1h: no KeyUpdate from the client in seconds"
assert_eq "$SU" 0 "time-only: rekey-after = 1h: no KeyUpdate from the server in seconds"
finish
