#!/usr/bin/env bash
# 53-bypass-quiet.sh — issue 6: a socket the policy bypasses costs the
# program no system call.
#   Under a policy that bypasses every TCP connection, at the default log
#   level, a server and a client (errno_peer) make exactly the network
#   system calls they make without the preload (strace -f -c: socket,
#   connect, accept, getsockname, getpeername, getsockopt, getpid …), and
#   the data arrives;
#   secsock_set_security with ALLOW_INSECURE on an unconnected TCP socket
#   there succeeds and leaves the bypass as it is (the policy decides,
#   docs/api.md), and answers EISCONN once the socket is connected;
#   at SECSOCK_LOG=debug both decisions are still logged;
#   under a policy whose decision depends on the port, accept still hands
#   the program the peer's address (the kernel's, not a getpeername).
. "$(dirname "$0")/lib.sh"
require_lib
require_tools errno_peer
require_cmd strace
require_no_system_policy
EP=$TOOLS/errno_peer
POLICY=$T/bypass.conf
write_policy "$POLICY" <<EOF
[rule everything]
direction = any
port = any
action = bypass
EOF

NET='socket|connect|accept|accept4|getsockname|getpeername|getsockopt|setsockopt|getpid|sendto|recvfrom|sendmsg|recvmsg|shutdown'

# net_calls FILE: "syscall count" of the network calls in an strace -c table.
net_calls() {
	awk -v re="^($NET)\$" 'NR > 2 && $NF ~ re { print $NF, $4 }' "$1" | sort
}

# run_pair MODE [LEVEL]: errno_peer server and client, each under strace -f -c,
# without (plain) or with (preload) the library.
run_pair() {
	local mode=$1 level=${2:-info} port spid
	local pre=(env -u LD_PRELOAD -u SECSOCK_POLICY)
	[ "$mode" = plain ] || pre=(env LD_PRELOAD="$SO" SECSOCK_POLICY="$POLICY" SECSOCK_LOG="$level"
		SECSOCK_LOG_FILE="$T/$mode.log")
	"${pre[@]}" strace -f -c -o "$T/$mode-srv.strace" "$EP" -T 20 -p "$T/$mode.port" \
		listen 127.0.0.1 0 recvall >"$T/$mode-srv.out" 2>&1 &
	spid=$!
	PIDS+=("$spid")
	wait_file "$T/$mode.port" 10 || bail "$mode: server did not listen" "$T/$mode-srv.out"
	port=$(cat "$T/$mode.port")
	timeout -k 5 30 "${pre[@]}" strace -f -c -o "$T/$mode-cli.strace" "$EP" -T 20 \
		connect 127.0.0.1 "$port" 'send:hello bypass\n' shutwr >"$T/$mode-cli.out" 2>&1
	wait "$spid"
}

run_pair plain
run_pair preload
assert_grep '^total-received: 13$' "$T/preload-srv.out" "bypass: the server got the client's bytes" "$T/preload-cli.out"
for side in srv cli; do
	net_calls "$T/plain-$side.strace" >"$T/plain-$side.net"
	net_calls "$T/preload-$side.strace" >"$T/preload-$side.net"
	check "bypass, info (the default): $side makes the same network system calls as without the preload" \
		cmp -s "$T/plain-$side.net" "$T/preload-$side.net"
	[ "$FAILS" -eq 0 ] || diff "$T/plain-$side.net" "$T/preload-$side.net" | sed 's/^/# /'
done
check "bypass, info (the default): nothing logged" test ! -s "$T/preload.log"

# debug: the decisions are logged (bypass lines are debug, so the quiet
# path is taken at every level below)
rm -f "$T/preload.port"
run_pair preload debug
assert_grep 'debug: bypass inbound .* rule=everything' "$T/preload.log" "bypass, debug: 'bypass inbound' logged"
assert_grep 'debug: bypass outbound .* rule=everything' "$T/preload.log" "bypass, debug: 'bypass outbound' logged"

# secsock_set_security on an untracked (quietly bypassed) socket
cat >"$T/api.py" <<'EOF'
import ctypes, socket, sys
lib = ctypes.CDLL(None, use_errno=True)
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
class Settings(ctypes.Structure):
    _fields_ = [("protocol", ctypes.c_uint32), ("flags", ctypes.c_uint32)]
insecure = Settings(0, 2)   # SECSOCK_SETTINGS_ALLOW_INSECURE
lib.secsock_set_security.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
s = socket.socket()
r = lib.secsock_set_security(s.fileno(), ctypes.byref(insecure), ctypes.sizeof(insecure))
print("unconnected:", r, ctypes.get_errno() if r else 0)
r = lib.secsock_set_peer_target_name(s.fileno(), b"example")
print("target-name:", r, ctypes.get_errno() if r else 0)
s.connect(srv.getsockname())
c, _ = srv.accept()
s.sendall(b"x")
print("clear:", c.recv(1) == b"x")
r = lib.secsock_set_security(s.fileno(), None, 0)
print("connected:", r, ctypes.get_errno() if r else 0)
EOF
SECSOCK_LOG=warn preload "$T/api.log" "$PY" "$T/api.py" >"$T/api.out" 2>&1
assert_grep '^unconnected: 0 0$' "$T/api.out" "api: secsock_set_security on an unconnected bypassed socket succeeds"
assert_grep '^target-name: 0 0$' "$T/api.out" "api: secsock_set_peer_target_name on it succeeds"
assert_grep '^clear: True$' "$T/api.out" "api: with ALLOW_INSECURE the bypass stands (clear)"
assert_grep "^connected: -1 $("$PY" -c 'import errno; print(errno.EISCONN)')\$" "$T/api.out" \
	"api: secsock_set_security once connected: EISCONN"

# A port-dependent policy: accepted connections are decided with the
# address accept returned; the program still gets it.
POLICY=$T/port.conf
write_policy "$POLICY" <<EOF
[rule other]
port = 1
action = require
[rule rest]
action = bypass
EOF
cat >"$T/peer.py" <<'EOF'
import socket
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
c = socket.socket()
c.bind(("127.0.0.2", 0))
c.connect(srv.getsockname())
conn, addr = srv.accept()
print("accepted-from:", addr == c.getsockname(), addr[0])
EOF
SECSOCK_LOG=warn preload "$T/peer.log" "$PY" "$T/peer.py" >"$T/peer.out" 2>&1
assert_grep '^accepted-from: True 127\.0\.0\.2$' "$T/peer.out" "accept: the program gets the peer's address" "$T/peer.log"
finish
