#!/usr/bin/env bash
# 52-eof-visible.sh — issue 6: a read that takes a peer's data *and* its
# close_notify out of the kernel in one go must leave the EOF visible to
# poll/select, even when no FIN follows.
#
# Why this can fail: reads consume whole records straight from the kernel
# (pre_io.c rx_take, one recv per read instead of peek + MSG_TRUNC).  When
# the close_notify is consumed together with data, nothing is left queued,
# and a peer that answers close_notify with close_notify before closing TCP
# (bidirectional TLS shutdown: Python's SSLSocket.unwrap(), SSL_shutdown
# called twice) sends no FIN either — a level-triggered program that got the
# data and polls again for more would wait forever.  The read side is shut
# down instead (SHUT_RD: readable, no packet to the peer).
#
# The peer is an unmodified Python TLS 1.3 server (not preloaded): it sends
# one short record, then unwrap() sends close_notify and waits for ours.
# The preloaded client reads only after both records are queued, then:
#   poll(POLLIN, 5 s) must say readable, recv must return EOF (b''),
#   and after the client's close the server's unwrap completes.
# A second client does the same with an edge-triggered epoll loop reading
# until EAGAIN.
. "$(dirname "$0")/lib.sh"
require_lib
require_cmd openssl
require_no_system_policy
unset POLICY

(cd "$T" && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-keyout key.pem -out cert.pem -subj /CN=localhost \
	-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -addext basicConstraints=critical,CA:TRUE) \
	>"$T/pki.log" 2>&1 || bail "making a self-signed certificate failed" "$T/pki.log"
chmod 600 "$T/key.pem"

cat >"$T/server.py" <<'EOF'
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(4)
with open(sys.argv[3] + ".tmp", "w") as f:
    f.write(str(ls.getsockname()[1]))
import os
os.rename(sys.argv[3] + ".tmp", sys.argv[3])
for i in range(2):
    c, _ = ls.accept()
    c.settimeout(15)
    s = ctx.wrap_socket(c, server_side=True)
    req = s.recv(100)
    s.sendall(b"data-before-close-notify")
    try:
        s.unwrap()          # close_notify, then wait for the client's
        print(f"[{i}] got {req!r}; unwrap: ok", flush=True)
    except Exception as e:
        print(f"[{i}] got {req!r}; unwrap: {type(e).__name__}: {e}", flush=True)
    c.close()
EOF

cat >"$T/client.py" <<'EOF'
import os, select, socket, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(b"hi")
time.sleep(0.5)           # data and close_notify both queued before the first read
if mode == "poll":
    s.setblocking(True)
    got = s.recv(4096)
    print("first-read:", got.decode(errors="replace"), flush=True)
    p = select.poll()
    p.register(s, select.POLLIN)
    t0 = time.monotonic()
    ev = p.poll(5000)
    print("poll-after-data:", "readable" if ev else "timeout", f"{(time.monotonic() - t0) * 1000:.0f}ms", flush=True)
    if ev:
        print("second-read:", "EOF" if s.recv(4096) == b"" else "data", flush=True)
else:
    s.setblocking(False)
    ep = select.epoll()
    ep.register(s.fileno(), select.EPOLLIN | select.EPOLLET)
    data, eof, rounds = b"", False, 0
    while not eof and rounds < 10:
        rounds += 1
        if not ep.poll(5):
            break
        while True:
            try:
                b = s.recv(4096)
            except BlockingIOError:
                break
            if not b:
                eof = True
                break
            data += b
    print("et-data:", data.decode(errors="replace"), flush=True)
    print("et-eof:", "yes" if eof else "no", f"rounds={rounds}", flush=True)
s.close()
EOF

start_bg server plain "$PY" "$T/server.py" "$T/cert.pem" "$T/key.pem" "$T/port"
spid=$BG_PID
wait_file "$T/port" 10 || bail "the Python TLS server did not start" "$T/server.err"
port=$(cat "$T/port")
POLICY=$T/client.conf
write_policy "$POLICY" <<EOF
[rule tls-out]
direction = outbound
port      = $port
action    = require
peer      = standard-tls
auth      = certificate
ca-file   = $T/cert.pem
peer-name = localhost
EOF

TMO=20 preload "$T/poll.log" "$PY" "$T/client.py" "$port" poll >"$T/poll.out" 2>&1
assert_grep '^first-read: data-before-close-notify$' "$T/poll.out" \
	"level-triggered client: the data record arrives" "$T/poll.out" "$T/poll.log"
assert_grep '^poll-after-data: readable' "$T/poll.out" \
	"level-triggered client: poll reports the EOF that came with the data (no FIN behind it)" \
	"$T/poll.out" "$T/poll.log" "$T/server.out" "$T/server.err"
assert_grep '^second-read: EOF$' "$T/poll.out" "level-triggered client: the next read returns EOF" "$T/poll.out"

TMO=20 preload "$T/et.log" "$PY" "$T/client.py" "$port" et >"$T/et.out" 2>&1
assert_grep '^et-data: data-before-close-notify$' "$T/et.out" "edge-triggered client: the data record arrives" \
	"$T/et.out" "$T/et.log"
assert_grep '^et-eof: yes' "$T/et.out" "edge-triggered client: reading until EAGAIN meets the EOF" \
	"$T/et.out" "$T/et.log"

wait_grep '^\[1\]' "$T/server.out" 10 || true
assert_count '; unwrap: ok$' "$T/server.out" 2 \
	"the server's bidirectional shutdown completes: our close_notify answers its own, twice" \
	"$T/server.out" "$T/server.err" "$T/poll.log" "$T/et.log"
assert_grep 'secured outbound .*rule=tls-out' "$T/poll.log" "the client's connection was secured (standard-tls rule)" \
	"$T/poll.log"
stop_pid "$spid"
finish
