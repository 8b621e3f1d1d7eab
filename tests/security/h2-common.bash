# h2-common.bash — sourced by tests/security/s2*-*.sh after lib.sh (not a
# test itself: make check-security runs *.sh only).
#
# sink_start: a preloaded `require` server (python3) that appends everything
# every client sends to $T/sink.data, behind a recording relay ($T/wire/);
# sets SINK_PORT (the relay's port: connect there).
# wire_clear MARK: true when MARK crossed the relay in clear (either way);
# stop the relay first (stop_pid "$RELAY_PID"): it writes its recordings buffered.
# REQ: the policy file (require, anonymous).

REQ=$T/require.conf
write_policy "$REQ" <<'EOP'
[defaults]
action = require
auth   = anonymous
EOP
chmod 644 "$REQ"
POLICY=$REQ

sink_start() {
	local port
	port=$(free_port)
	start_bg sink preload "$T/sink.log" "$PY" -c '
import socket, sys, threading
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1]))); l.listen(64)
lock = threading.Lock()
def serve(c):
    while True:
        try:
            b = c.recv(65536)
        except OSError:
            break
        if not b:
            break
        with lock, open(sys.argv[2], "ab") as f:
            f.write(b)
    c.close()
while True:
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
' "$port" "$T/sink.data"
	wait_listen "$port" 10 "$BG_PID" || bail "sink server did not listen" "$T/sink.err"
	start_relay wire 127.0.0.1 127.0.0.1 "$port"
	SINK_PORT=$RELAY_PORT
}

wire_clear() {
	grep -aqF -- "$1" "$T"/wire/*.c2s "$T"/wire/*.s2c 2>/dev/null
}
