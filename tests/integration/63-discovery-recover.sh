#!/usr/bin/env bash
# 63-discovery-recover.sh — issue 11 item 3: a stale "speaks secsock"
# discovery entry must not refuse connections.
#   One long-running preloaded client process (python, socket timeouts, so
#   every connect is non-blocking: the background-handshake path) talks to a
#   preloaded echo server on port P: secured, and the peer is now known to
#   speak secsock.  The server is restarted on the same port without
#   secsock.  Under `request` (the embedded default) the client's next
#   connections must go clear at once (under 1 s each), the fallback logged
#   at notice (the default level) with a "downgrade?" warning (the peer spoke
#   secsock a moment ago), and the stale entry dropped at once: the connection after it is
#   probed afresh, never refused with SS_NOT_SECSOCK.
. "$(dirname "$0")/lib.sh"
require_lib
require_no_system_policy
unset POLICY

ECHO='import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(16)
while True:
    c,_=s.accept()
    d=c.recv(4096)
    if d: c.sendall(b"echo:"+d)
    c.close()'

# The client: one connection per line read from the control fifo; prints
# "N ok|err MS REPLY" per connection.
CLIENT='import socket,sys,time
port=int(sys.argv[1])
for line in sys.stdin:
    n=line.strip()
    t0=time.monotonic()
    try:
        s=socket.create_connection(("127.0.0.1",port),timeout=8)
        s.sendall(b"ping-"+n.encode())
        r=b""
        while True:
            d=s.recv(4096)
            if not d: break
            r+=d
        s.close()
        print(n,"ok",int((time.monotonic()-t0)*1000),r.decode(errors="replace"),flush=True)
    except Exception as e:
        print(n,"err",int((time.monotonic()-t0)*1000),type(e).__name__,flush=True)'

port=$(free_port)
start_bg srv1 preload "$T/srv1.log" "$PY" -c "$ECHO" "$port"
SRV=$BG_PID
wait_listen "$port" 10 "$SRV" || bail "preloaded echo server did not listen" "$T/srv1.err"

mkfifo "$T/ctl"
SECSOCK_LOG=debug start_bg client preload "$T/client.log" bash -c 'exec "$0" -c "$1" "$2" <"$3"' "$PY" "$CLIENT" "$port" "$T/ctl"
CL=$BG_PID
exec 9>"$T/ctl"

# reply N: ask the client for connection N, wait for its line.
reply() {
	echo "$1" >&9
	local i
	for ((i = 0; i < 750; i++)); do
		grep -q "^$1 " "$T/client.out" && break
		sleep 0.02
	done
	grep "^$1 " "$T/client.out"
}

r1=$(reply 1)
assert_eq "$(echo "$r1" | cut -d' ' -f2,4)" "ok echo:ping-1" "secsock server: connection 1 answered" "$T/client.err" "$T/client.log"
assert_grep 'secured outbound .*-> 127\.0\.0\.1:'"$port" "$T/client.log" "secsock server: connection 1 secured"

stop_pid "$SRV"
wait_gone "$SRV" 5
start_bg srv2 plain "$PY" -c "$ECHO" "$port"
SRV=$BG_PID
wait_listen "$port" 10 "$SRV" || bail "plain echo server did not listen" "$T/srv2.err"

for n in 2 3 4; do
	r=$(reply $n)
	echo "# connection $n after the restart without secsock: $r"
	assert_eq "$(echo "$r" | cut -d' ' -f2,4)" "ok echo:ping-$n" \
		"peer restarted plain: connection $n goes clear and is answered" "$T/client.err" "$T/client.log"
	assert_between "$(echo "$r" | cut -d' ' -f3)" 0 999 "peer restarted plain: connection $n within 1 s (ms)"
done
assert_no_grep 'refused outbound .*SS_NOT_SECSOCK' "$T/client.log" "no connection refused with SS_NOT_SECSOCK"
assert_grep 'notice: clear outbound .*-> 127\.0\.0\.1:'"$port"' .*reason="peer does not speak secsock' "$T/client.log" \
	"the fallback is logged at notice (the default level)"
assert_grep 'warn: downgrade\? outbound .*-> 127\.0\.0\.1:'"$port"' .*completed a secsock handshake' "$T/client.log" \
	"a fallback to a peer that spoke secsock before is also a downgrade warning"

assert_count 'debug: fd [0-9]+: handshake continues in the background' "$T/client.log" 1 \
	"the stale entry is dropped at once: only connection 2 took the background path"
assert_grep 'reason="discovery cache: known clear peer"' "$T/client.log" \
	"connection 3 answered in clear and was remembered: connection 4 skipped the probe"

# Other processes: one secures a connection to a fresh port (the verdict
# "speaks secsock" goes to the user's shared store); the peer restarts
# plain; a new process, which learns the stale verdict from the store,
# writes before its non-blocking connect completed (held).
port2=$(free_port)
start_bg srv5 preload "$T/srv5.log" "$PY" -c "$ECHO" "$port2"
SRV=$BG_PID
wait_listen "$port2" 10 "$SRV" || bail "preloaded echo server 2 did not listen" "$T/srv5.err"
r=$(echo 1 | TMO=20 preload "$T/one.log" "$PY" -c "$CLIENT" "$port2" 2>&1)
assert_eq "$(echo "$r" | cut -d' ' -f2,4)" "ok echo:ping-1" "second port: secured by another process" "$T/one.log"
assert_grep 'secured outbound' "$T/one.log" "second port: that connection was secured"
stop_pid "$SRV"
wait_gone "$SRV" 5
start_bg srv6 plain "$PY" -c "$ECHO" "$port2"
SRV=$BG_PID
wait_listen "$port2" 10 "$SRV" || bail "plain echo server 2 did not listen" "$T/srv6.err"
EARLY='import socket,sys,select,time,errno
t0=time.monotonic()
s=socket.socket(); s.setblocking(False)
e=s.connect_ex(("127.0.0.1",int(sys.argv[1])))
print("connect", errno.errorcode.get(e, e))
n=s.send(b"early-bytes")
print("early-send", n)
r=b""
while time.monotonic()-t0 < 8:
    select.select([s],[],[],1)
    try:
        d=s.recv(4096)
    except BlockingIOError:
        continue
    if not d: break
    r+=d
print("reply", r.decode(errors="replace"), int((time.monotonic()-t0)*1000))'
SECSOCK_LOG=debug TMO=20 preload "$T/early.log" "$PY" -c "$EARLY" "$port2" >"$T/early.out" 2>"$T/early.err"
echo "# early writer: $(tr '\n' ' ' <"$T/early.out")"
assert_grep 'debug: fd [0-9]+: handshake continues in the background' "$T/early.log" \
	"new process: the stored 'speaks secsock' verdict sends it the background way" "$T/early.err"
assert_grep 'notice: clear outbound .*reason="peer does not speak secsock' "$T/early.log" "new process: the fallback is logged at notice"
assert_grep '^reply echo:early-bytes ' "$T/early.out" "new process, bytes held before connect completed: sent in clear after the retry, answered" "$T/early.err" "$T/early.log"
assert_between "$(awk '/^reply/ {print $3}' "$T/early.out")" 0 999 "new process: answered within 1 s (ms)"

exec 9>&-
wait_gone "$CL" 5
finish
