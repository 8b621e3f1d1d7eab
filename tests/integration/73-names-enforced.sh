#!/usr/bin/env bash
# 73-names-enforced.sh — issue 13 "Names are enforced": a peer name asked
# for (secsock_set_peer_target_name, or a rule's peer-name) is a
# requirement.  A method that cannot prove names (anonymous, psk, host-key:
# only a certificate does) never satisfies it: the connection is refused
# (SS_TARGET_UNKNOWN, ECONNREFUSED), never secured anonymously and never
# clear — under require and under the embedded default's request alike.
#   (a) require, anonymous server: without a name the client is secured; with
#       secsock_set_peer_target_name it is refused at connect, ECONNREFUSED.
#   (b) the embedded default (request): the same name is refused, the
#       program's data never reaches the server, nothing goes clear.
#   (c) a policy whose rule asks a peer-name with auth = anonymous is refused
#       by `secsock policy check` (every connection would fail).
. "$(dirname "$0")/lib.sh"
require_lib
require_no_system_policy
unset POLICY

cat >"$T/srv.py" <<'PY'
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
out = open(sys.argv[2], "ab", buffering=0)
while True:
    c, _ = s.accept()
    try:
        d = c.recv(4096)
        out.write(d)
        c.sendall(b"echo:" + d)
    except OSError:
        pass
    c.close()
PY
cat >"$T/cli.py" <<'PY'
import ctypes, os, socket, sys
lib = ctypes.CDLL(None, use_errno=True)
port, name, marker = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
s = socket.socket()
if name != "-":
    r = lib.secsock_set_peer_target_name(s.fileno(), name.encode())
    print("target-name:", r, ctypes.get_errno() if r else 0)
try:
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    print("connect: OK")
    s.sendall(marker + b"\n")
    print("reply:", s.recv(100).decode().strip() or "EOF")
except OSError as e:
    print("error:", e.errno and __import__("errno").errorcode[e.errno])
PY

port=$(free_port)
start_bg srv preload "$T/srv.log" "$PY" "$T/srv.py" "$port" "$T/srv.got"
wait_listen "$port" 10 "$BG_PID" || bail "server did not listen" "$T/srv.err"

# ---------------------------------------------------------------- (a) require
POLICY=$T/require.conf
write_policy "$POLICY" <<EOF
[rule out]
direction = outbound
port      = $port
action    = require
auth      = anonymous
EOF
preload "$T/a0.log" "$PY" "$T/cli.py" "$port" - "M-a0-$$" >"$T/a0.out" 2>&1
assert_grep "^reply: echo:M-a0-$$" "$T/a0.out" "require, anonymous, no name asked: the exchange works" "$T/a0.out" "$T/a0.log"
assert_grep 'secured outbound .*auth=anonymous' "$T/a0.log" "require, no name asked: secured anonymously"

preload "$T/a1.log" "$PY" "$T/cli.py" "$port" srv.test "M-a1-$$" >"$T/a1.out" 2>&1
assert_grep '^target-name: 0 0$' "$T/a1.out" "secsock_set_peer_target_name succeeds" "$T/a1.out"
assert_grep '^error: ECONNREFUSED$' "$T/a1.out" "require, name asked, anonymous server: connect fails ECONNREFUSED" \
	"$T/a1.out" "$T/a1.log"
assert_grep 'refused outbound .*reason="require: handshake: SS_TARGET_UNKNOWN"' "$T/a1.log" \
	"require: the refusal says the name could not be proven (SS_TARGET_UNKNOWN)"
assert_no_grep 'secured outbound' "$T/a1.log" "require, name asked: never secured anonymously"
unset POLICY

# ---------------------------------------------------------------- (b) embedded default
preload "$T/b.log" "$PY" "$T/cli.py" "$port" srv.test "M-b-$$" >"$T/b.out" 2>&1
assert_no_grep '^reply: echo:' "$T/b.out" "request (embedded default), name asked: no exchange"
check "request, name asked: the program's bytes never reached the server" \
	sh -c "! grep -q 'M-b-$$' '$T/srv.got' 2>/dev/null"
assert_grep 'refused outbound .*SS_TARGET_UNKNOWN' "$T/b.log" "request, name asked: refused with SS_TARGET_UNKNOWN" \
	"$T/b.out" "$T/b.log"
assert_no_grep 'clear outbound|secured outbound' "$T/b.log" "request, name asked: neither clear nor secured"
assert_grep '^(error: ECONN(REFUSED|RESET)|reply: EOF)$' "$T/b.out" \
	"request, name asked: the program sees the refusal (connect or its first read)" "$T/b.out"

# ---------------------------------------------------------------- (c) policy check
write_policy "$T/bad.conf" <<EOF
[rule out]
direction = outbound
port      = $port
action    = require
auth      = anonymous
peer-name = srv.test
EOF
"$SECSOCK" policy check "$T/bad.conf" >"$T/check.out" 2>&1
assert_eq "$?" 1 "policy check: peer-name with auth = anonymous is refused (exit 1)" "$T/check.out"
assert_grep 'peer-name needs auth = certificate or host-key' "$T/check.out" "policy check says why"
finish
