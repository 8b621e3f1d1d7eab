#!/usr/bin/env bash
# 54-mptcp.sh — Multipath TCP sockets are governed like TCP (found in review:
# socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP), as mptcpize and curl --mptcp
# make, used to connect in clear under 'require').
#   a. require, MPTCP client (preloaded) → plain TCP server: the connection is
#      refused, the server receives nothing in clear, the log says refused.
#   b. require, MPTCP client and MPTCP server, both preloaded: the echo is
#      intact and both ends log "secured".
#   c. the same through a recording relay (both sockets fall back to TCP):
#      the wire carries TLS records only, never the payload.
# Skipped when the kernel has no MPTCP (net.mptcp.enabled=0 or no support).
. "$(dirname "$0")/lib.sh"
require_lib
require_tools ss_relay
require_no_system_policy

if ! "$PY" -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262).close()' 2>/dev/null; then
	pass "SKIP: this kernel does not create MPTCP sockets (net.mptcp.enabled?)"
	finish
fi

POLICY=$T/require.conf
write_policy "$POLICY" <<'EOF2'
[defaults]
action = require
EOF2

cat >"$T/mp.py" <<'PY'
# mp.py server PORTFILE tcp|mptcp — echo one connection until EOF, print what came.
# mp.py client PORT — MPTCP: send a line, shut down, print what came back.
import os, socket, sys

def drain(s, echo):
    got = b""
    while True:
        b = s.recv(65536)
        if not b:
            return got
        got += b
        if echo:
            s.sendall(b)

if sys.argv[1] == "server":
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262 if sys.argv[3] == "mptcp" else 0)
    ls.bind(("127.0.0.1", 0)); ls.listen(4)
    open(sys.argv[2] + ".tmp", "w").write(str(ls.getsockname()[1]))
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    got = drain(ls.accept()[0], True)
    print("server-got:%d:%s" % (len(got), got[:40].decode(errors="replace")))
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
    try:
        s.connect(("127.0.0.1", int(sys.argv[2])))
        s.sendall(b"mptcp-secret-payload\n")
        s.shutdown(socket.SHUT_WR)
        print("client-back:" + drain(s, False).decode(errors="replace").strip())
    except OSError as e:
        print("client-error:%s" % e.strerror)
PY

# a. require against a plain TCP server: refused, nothing in clear
start_bg plainsrv plain "$PY" "$T/mp.py" server "$T/a.port" tcp
wait_file "$T/a.port" 10 || bail "plain server did not start" "$T/plainsrv.err"
preload "$T/a.log" "$PY" "$T/mp.py" client "$(cat "$T/a.port")" >"$T/a.out" 2>&1
assert_grep '^client-error:' "$T/a.out" "a: MPTCP client under require: connect fails" "$T/a.out"
assert_grep 'refused outbound .*require' "$T/a.log" "a: log says refused (require)" "$T/a.log"
stop_pid "$BG_PID"
assert_no_grep 'mptcp-secret-payload' "$T/plainsrv.out" "a: the plain server never saw the payload"

# b. both ends MPTCP and preloaded, directly
start_bg mpsrv preload "$T/b-srv.log" "$PY" "$T/mp.py" server "$T/b.port" mptcp
wait_file "$T/b.port" 10 || bail "MPTCP server did not start" "$T/mpsrv.err"
preload "$T/b-cli.log" "$PY" "$T/mp.py" client "$(cat "$T/b.port")" >"$T/b.out" 2>&1
assert_grep '^client-back:mptcp-secret-payload$' "$T/b.out" "b: MPTCP echo intact under require" "$T/b.out"
assert_grep 'secured outbound' "$T/b-cli.log" "b: client logs secured" "$T/b-cli.log"
wait_grep 'secured inbound' "$T/b-srv.log" 5 || true
assert_grep 'secured inbound' "$T/b-srv.log" "b: server logs secured" "$T/b-srv.log"
stop_pid "$BG_PID"

# c. the same through a recording relay (plain TCP in the middle: both MPTCP
#    sockets fall back to TCP, and are still governed)
start_bg mpsrv2 preload "$T/c-srv.log" "$PY" "$T/mp.py" server "$T/c.port" mptcp
wait_file "$T/c.port" 10 || bail "MPTCP server did not start" "$T/mpsrv2.err"
start_relay wire 127.0.0.1 127.0.0.1 "$(cat "$T/c.port")"
preload "$T/c-cli.log" "$PY" "$T/mp.py" client "$RELAY_PORT" >"$T/c.out" 2>&1
assert_grep '^client-back:mptcp-secret-payload$' "$T/c.out" "c: echo intact through the relay" "$T/c.out"
stop_pid "$BG_PID"
stop_pid "$RELAY_PID"
check "c: the wire was recorded" test -s "$T/wire/conn-1.c2s"
check "c: the payload never crossed the wire in clear" \
	bash -c "! grep -q mptcp-secret-payload '$T/wire/conn-1.c2s' '$T/wire/conn-1.s2c'"
check "c: client to server starts with a TLS handshake record" \
	bash -c "head -c 1 '$T/wire/conn-1.c2s' | od -An -tx1 | grep -q 16"
finish
