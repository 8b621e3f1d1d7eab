#!/usr/bin/env bash
# s43-request-downgrade.sh — issue 10, finding 10: under `request`, what an
# attacker on the path does to one connection (reset it, close it, swallow
# its ClientHello) must not send the process's later connections to a
# secsock peer in clear; and every clear fallback is logged at the default
# level (notice), up to the per-peer rate limit (tests/security/s45-audit-log.sh).
#
# A preloaded secsock echo server (request); between it and a preloaded
# client process making four connections, a recording relay that attacks
# only the first connection: RST, FIN, or silence (allow-clear-after = 1s).
# Connections 2-4 must cross the relay sealed (their markers never appear in
# what the relay saw).  Then the audit: five connections of one process to a
# plain server give five notice lines at the default level, none at warn.
. "$(dirname "$0")/../integration/lib.sh"
require_lib

# relay.py PORTFILE UPSTREAM DIR MODE: records client->server bytes in DIR/c2s.N;
# connection 1 only: rst (reset after its first bytes), fin (close), mute (say nothing)
cat >"$T/relay.py" <<'EOF'
import socket, struct, sys, threading, time
port_file, up, d, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(32)
open(port_file, "w").write(str(s.getsockname()[1]))
n = 0
def pump(a, b, rec):
    try:
        while True:
            x = a.recv(65536)
            if not x:
                break
            if rec:
                with open(rec, "ab") as f:
                    f.write(x)
            b.sendall(x)
    except OSError:
        pass
    for z in (a, b):
        try:
            z.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def conn(c, i):
    rec = "%s/c2s.%d" % (d, i)
    if i == 1:
        x = c.recv(65536)
        open(rec, "ab").write(x)
        if mode == "mute":
            time.sleep(30)
        elif mode == "rst":
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        return
    u = socket.create_connection(("127.0.0.1", up))
    threading.Thread(target=pump, args=(u, c, None), daemon=True).start()
    pump(c, u, rec)
while True:
    c, _ = s.accept()
    n += 1
    threading.Thread(target=conn, args=(c, n), daemon=True).start()
EOF
# client.py PORT MARKER COUNT: COUNT connections in one process, one marker each
cat >"$T/client.py" <<'EOF'
import socket, sys
port, marker, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for i in range(1, count + 1):
    m = ("%s-%d." % (marker, i)).encode()
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=15)
        c.sendall(m)
        got = b""
        while len(got) < len(m):
            x = c.recv(4096)
            if not x:
                break
            got += x
        print("conn %d: %s" % (i, "echoed" if got == m else "lost"))
        c.close()
    except OSError as e:
        print("conn %d: %s" % (i, e))
EOF

POLICY=$T/request.conf
write_policy "$POLICY" <<'EOF'
[defaults]
action = request
allow-clear-after = 1s
EOF
start_bg echo preload "$T/echo.log" "$PY" "$REPO/tests/tools/sec_srv.py" echo "$T/echo.port"
wait_file "$T/echo.port" 10 || bail "secsock echo server did not start" "$T/echo.err" "$T/echo.log"
E=$(cat "$T/echo.port")

for mode in rst fin mute; do
	mkdir -p "$T/w-$mode"
	start_bg "relay-$mode" plain "$PY" "$T/relay.py" "$T/r-$mode.port" "$E" "$T/w-$mode" "$mode"
	wait_file "$T/r-$mode.port" 10 || bail "relay $mode did not start" "$T/relay-$mode.err"
	M="SECRET-$mode-$$"
	SECSOCK_LOG=notice preload "$T/c-$mode.log" "$PY" "$T/client.py" "$(cat "$T/r-$mode.port")" "$M" 4 >"$T/c-$mode.out" 2>&1
	assert_count 'echoed' "$T/c-$mode.out" 4 "$mode on the first connection: all four connections work" "$T/c-$mode.out" "$T/c-$mode.log"
	for i in 2 3 4; do
		if cat "$T/w-$mode"/c2s.* 2>/dev/null | grep -aq -- "$M-$i\."; then
			fail "$mode on the first connection: connection $i went out in clear" "$T/c-$mode.log"
		else
			pass "$mode on the first connection: connection $i was secured"
		fi
	done
	if cat "$T/w-$mode"/c2s.* 2>/dev/null | grep -aq -- "$M-1\."; then
		assert_grep 'notice: clear outbound .*reason="peer does not speak secsock' "$T/c-$mode.log" \
			"$mode: the clear first connection is logged at the default level (notice)"
	fi
done

# audit: a plain server, five connections of one process, default level
start_bg plain plain "$PY" "$REPO/tests/tools/sec_srv.py" echo "$T/plain.port"
wait_file "$T/plain.port" 10 || bail "plain echo server did not start" "$T/plain.err"
P=$(cat "$T/plain.port")
SECSOCK_LOG=notice preload "$T/audit.log" "$PY" "$T/client.py" "$P" AUDIT 5 >"$T/audit.out" 2>&1
assert_count 'echoed' "$T/audit.out" 5 "plain server: five clear connections work"
assert_count 'notice: clear outbound .*-> 127\.0\.0\.1:'"$P"' ' "$T/audit.log" 5 \
	"plain server: each clear fallback is logged at the default level (notice), within the rate limit"
SECSOCK_LOG=warn preload "$T/audit2.log" "$PY" "$T/client.py" "$P" AUDIT 3 >"$T/audit2.out" 2>&1
assert_no_grep 'clear outbound' "$T/audit2.log" "plain server, SECSOCK_LOG=warn: an admin who asks for less gets no clear lines"
unset POLICY
finish
