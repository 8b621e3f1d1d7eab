#!/usr/bin/env bash
# 64-first-contact.sh — issue 11 item 7: what a first contact under
# `request` (the embedded default) costs, per kind of protocol
# (docs/design.md "First contact"), and the verdict shared by the user's
# processes.  Every delay is printed ("# delay ...").
#   (a) DNS-over-TCP style (client speaks first, server reads a 2-byte
#       length and waits for that many bytes): the ClientHello reads as a
#       5635-byte length, the server stays silent; the client falls back
#       after allow-clear-after — under 1 s, in every process.
#   (b) FTP-passive-like pair: the data connection's first bytes depend on
#       a command sent on the control connection afterwards, and the data
#       listener is one-shot.  connect must not wait for discovery.
#   (c) speaks-first server preloaded alone, plain client: the banner after
#       server-first-wait (< 1 s); a preloaded client alone in front of a
#       plain speaks-first server: no probe at all (it spoke first).
#   (d) the verdict is shared: a second process skips the probe.
#   (e) the store refuses what another user could read or plant: a 0755
#       or foreign-owned directory, a symlinked one; entries that are
#       garbage, far-future, symlinks or not ours are ignored.
#   (f) connect, write, fork: the child reads on a decided connection.
#   (g) first-contact-wait does what it says: 0 sends the ClientHello at
#       once (a preloaded speaks-first server is secured, not waited out);
#       longer than the server's server-first-wait (300 ms), the server's
#       banner comes first, in clear, and the client takes it as clear.
. "$(dirname "$0")/lib.sh"
require_lib
require_tools ss_relay
require_cmd curl ss
require_no_system_policy
unset POLICY

first_bytes() { head -c "$2" "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n'; }
mkdir -p "$T/www"
echo "first contact page $$" >"$T/www/page.txt"

# ---------------------------------------------------------------- (a) DNS-style
cat >"$T/dns_srv.py" <<'PY'
import socket, struct, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
def rd(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d: return None
        b += d
    return b
def serve(c):
    with c:
        while True:
            h = rd(c, 2)
            if h is None: return
            q = rd(c, struct.unpack("!H", h)[0])
            if q is None: return
            a = b"answer:" + q
            c.sendall(struct.pack("!H", len(a)) + a)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
cat >"$T/dns_cli.py" <<'PY'
import socket, struct, sys, time
t0 = time.monotonic()
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
q = b"query-" + sys.argv[2].encode()
c.sendall(struct.pack("!H", len(q)) + q)
h = c.recv(2, socket.MSG_WAITALL)
a = c.recv(struct.unpack("!H", h)[0], socket.MSG_WAITALL)
print(a.decode(), int((time.monotonic() - t0) * 1000))
PY
dport=$(free_port)
start_bg dns plain "$PY" "$T/dns_srv.py" "$dport"
wait_listen "$dport" 10 "$BG_PID" || bail "dns-style server did not listen" "$T/dns.err"
for n in 1 2; do
	out=$(TMO=30 preload "$T/dns$n.log" "$PY" "$T/dns_cli.py" "$dport" "$n" 2>"$T/dns$n.err")
	ms=${out##* }
	echo "# delay (a) DNS-style, process $n: ${ms:-?} ms"
	assert_eq "${out% *}" "answer:query-$n" "DNS-style server, process $n: answered in clear" "$T/dns$n.err" "$T/dns$n.log"
	assert_between "${ms:-99999}" 0 999 "DNS-style server, process $n: first contact under 1 s (ms)"
done
assert_grep 'notice: clear outbound .*reason="peer does not speak secsock: no secsock reply within' "$T/dns1.log" \
	"DNS-style server: the silent peer is logged at notice"

# ---------------------------------------------------------------- (b) FTP-passive-like
cat >"$T/ftp_srv.py" <<'PY'
import socket, sys
ctl = socket.socket(); ctl.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ctl.bind(("127.0.0.1", int(sys.argv[1]))); ctl.listen(4)
payload = open(sys.argv[2], "rb").read()
while True:
    c, _ = ctl.accept()
    f = c.makefile("rwb")
    f.write(b"220 ready\r\n"); f.flush()
    for line in f:
        cmd = line.strip().upper()
        if cmd == b"PASV":
            d = socket.socket(); d.bind(("127.0.0.1", 0)); d.listen(1)
            f.write(b"227 %d\r\n" % d.getsockname()[1]); f.flush()
            dc, _ = d.accept(); d.close()          # one-shot listener
        elif cmd == b"RETR":
            f.write(b"150 sending\r\n"); f.flush()
            dc.sendall(payload); dc.close()
            f.write(b"226 done\r\n"); f.flush()
        elif cmd == b"QUIT":
            f.write(b"221 bye\r\n"); f.flush(); break
    c.close()
PY
cat >"$T/ftp_cli.py" <<'PY'
import socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
f = c.makefile("rwb")
f.readline()
f.write(b"PASV\r\n"); f.flush()
port = int(f.readline().split()[1])
t0 = time.monotonic()
d = socket.create_connection(("127.0.0.1", port), timeout=20)
tc = int((time.monotonic() - t0) * 1000)
f.write(b"RETR\r\n"); f.flush()
f.readline()
data = b""
while True:
    b = d.recv(65536)
    if not b: break
    data += b
f.readline()
f.write(b"QUIT\r\n"); f.flush(); f.readline()
open(sys.argv[2], "wb").write(data)
print(tc, int((time.monotonic() - t0) * 1000))
PY
make_data "$T/ftp.payload" 300000
fport=$(free_port)
start_bg ftp plain "$PY" "$T/ftp_srv.py" "$fport" "$T/ftp.payload"
wait_listen "$fport" 10 "$BG_PID" || bail "ftp-like server did not listen" "$T/ftp.err"
out=$(TMO=40 preload "$T/ftp.log" "$PY" "$T/ftp_cli.py" "$fport" "$T/ftp.got" 2>"$T/ftp-cli.err")
echo "# delay (b) FTP-passive-like: data connect ${out%% *} ms, transfer done ${out##* } ms"
assert_same_file "$T/ftp.payload" "$T/ftp.got" "FTP-passive-like pair: the data connection's file arrives intact"
assert_between "${out%% *}" 0 200 "FTP-passive-like pair: connect of the data connection does not wait for discovery (ms)"
assert_between "${out##* }" 0 999 "FTP-passive-like pair: transfer done under 1 s (ms)"

# ---------------------------------------------------------------- (c) speaks-first, one end alone
bport=$(free_port)
start_bg pbanner preload "$T/banner-srv.log" "$PY" "$REPO/tests/tools/banner_server.py" 127.0.0.1 "$bport"
wait_listen "$bport" 10 "$BG_PID" || bail "preloaded banner server did not listen" "$T/pbanner.err"
BANNER_CLI='import socket,sys,time
t0=time.monotonic()
c=socket.create_connection(("127.0.0.1",int(sys.argv[1])),timeout=20)
f=c.makefile("rwb")
b=f.readline().strip().decode()
print(b, int((time.monotonic()-t0)*1000))
f.write(b"QUIT\r\n"); f.flush(); f.readline()'
out=$(plain "$PY" -c "$BANNER_CLI" "$bport")
echo "# delay (c) plain client -> preloaded speaks-first server: ${out##* } ms"
assert_eq "${out% *}" "220 secsock-test banner" "plain client → preloaded speaks-first server: banner"
assert_between "${out##* }" 0 999 "plain client → preloaded speaks-first server: banner under 1 s (server-first-wait) (ms)"

qport=$(free_port)
start_bg qbanner plain "$PY" "$REPO/tests/tools/banner_server.py" 127.0.0.1 "$qport"
wait_listen "$qport" 10 "$BG_PID" || bail "plain banner server did not listen" "$T/qbanner.err"
start_relay r-banner 127.0.0.1 127.0.0.1 "$qport"
out=$(TMO=30 preload "$T/banner-cli.log" "$PY" -c "$BANNER_CLI" "$RELAY_PORT" 2>"$T/banner-cli.err")
echo "# delay (c) preloaded client -> plain speaks-first server: ${out##* } ms"
assert_eq "${out% *}" "220 secsock-test banner" "preloaded client → plain speaks-first server: banner" "$T/banner-cli.err" "$T/banner-cli.log"
assert_between "${out##* }" 0 999 "preloaded client → plain speaks-first server: under 1 s (ms)"
wait_file "$T/r-banner/conn-1.c2s" 5 || true
assert_eq "$(head -c 4 "$T/r-banner/conn-1.c2s" 2>/dev/null)" "QUIT" \
	"preloaded client → plain speaks-first server: no probe, the server's stream has only the client's bytes"
check "preloaded client → plain speaks-first server: one connection, no retry" test ! -e "$T/r-banner/conn-2.c2s"

# ---------------------------------------------------------------- (d) shared verdict
hport=$(free_port)
start_bg http plain "$PY" -m http.server --bind 127.0.0.1 --directory "$T/www" "$hport"
wait_listen "$hport" 10 "$BG_PID" || bail "plain http.server did not listen" "$T/http.err"
start_relay r-share 127.0.0.1 127.0.0.1 "$hport"
rs=$RELAY_PORT
for n in 1 2; do
	t0=$(ms_now)
	code=$(TMO=30 preload "$T/share$n.log" curl -sS -o "$T/share$n.out" -w '%{http_code}' "http://127.0.0.1:$rs/page.txt" 2>"$T/share$n.err")
	t1=$(ms_now)
	echo "# delay (d) process $n -> plain HTTP server: $((t1 - t0)) ms (whole curl run)"
	assert_eq "$code" 200 "shared verdict: curl process $n gets 200" "$T/share$n.err" "$T/share$n.log"
done
assert_grep 'clear outbound .*reason="discovery cache: known clear peer"' "$T/share2.log" \
	"shared verdict: the second process knows the peer is clear (another process found it)"
wait_file "$T/r-share/conn-3.c2s" 5 || true
assert_eq "$(head -c 4 "$T/r-share/conn-3.c2s" 2>/dev/null)" "GET " \
	"shared verdict: the second process's only connection starts with its GET, no ClientHello"
check "shared verdict: three connections in all (probe, retry, second process)" test ! -e "$T/r-share/conn-4.c2s"
store=$T/xdg/secsock
assert_eq "$(stat -c '%a %U' "$store" 2>/dev/null)" "700 $(id -un)" "the store is a 0700 directory of ours"
name=$(ls "$store" 2>/dev/null | grep '^d' | head -n1)
assert_eq "$(stat -c '%a' "$store/$name" 2>/dev/null)" 600 "its entries are 0600"

# ---------------------------------------------------------------- (f) connect, write, fork
# bash's /dev/tcp: connect, a builtin writes, then a forked and exec'd
# child reads the answer — the first contact must be decided before the
# fork (a background handshake cannot follow a child).
start_bg secho preload "$T/secho.log" "$PY" "$REPO/tests/tools/sec_srv.py" echo "$T/secho.port"
wait_file "$T/secho.port" 10 || bail "secsock echo server did not start" "$T/secho.err"
sp=$(cat "$T/secho.port")
got=$(TMO=20 preload "$T/fork.log" bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$sp"'; printf "fork-marker-%s\n" "$1" >&3; head -n1 <&3' _ "$$" 2>"$T/fork.err")
assert_eq "$got" "fork-marker-$$" "connect, write, fork+exec reader: the child reads the echo" "$T/fork.err" "$T/fork.log"
assert_grep 'secured outbound .*-> 127\.0\.0\.1:'"$sp" "$T/fork.log" "connect, write, fork+exec reader: secured"

# ---------------------------------------------------------------- (e) the store's defences
# entry_name PORT: the store's name for "127.0.0.1:PORT is clear" (pre_discovery.c store_name).
entry_name() { printf 'd7f000001000000000000000000000000%04x0000' "$1"; }
valid_entry() { printf 'secsock-discovery 1 clear %s\n' "$(( $(ms_now) + 600000 ))"; }

# probed_after CASE XDG: one curl with XDG_RUNTIME_DIR=XDG through a fresh relay;
# true when it sent a ClientHello (the planted "clear" verdict was not believed).
probed_after() {
	local case=$1 xdg=$2
	start_relay "r-$case" 127.0.0.1 127.0.0.1 "$hport"
	local rp=$RELAY_PORT
	PLANT_PORT=$rp
	"$PLANT" "$rp"
	XDG_RUNTIME_DIR=$xdg TMO=30 preload "$T/neg-$case.log" curl -sS -o /dev/null "http://127.0.0.1:$rp/page.txt" 2>"$T/neg-$case.err"
	wait_file "$T/r-$case/conn-1.c2s" 5 || true
	[ "$(first_bytes "$T/r-$case/conn-1.c2s" 1)" = 16 ]
}

id nobody >/dev/null 2>&1 || bail "no user 'nobody' for the foreign-owner cases"
# control: a valid planted entry in a proper store is believed
plant_ok() { mkdir -p -m 700 "$T/x-ok/secsock"; valid_entry >"$T/x-ok/secsock/$(entry_name "$1")"; chmod 600 "$T/x-ok/secsock/$(entry_name "$1")"; }
mkdir -m 700 "$T/x-ok"; PLANT=plant_ok
if probed_after ok "$T/x-ok"; then fail "control: a valid entry in a 0700 store of ours is believed (probe sent)"; else pass "control: a valid entry in a 0700 store of ours is believed (no probe)"; fi

plant_mode() { mkdir -p "$T/x-mode/secsock"; chmod 755 "$T/x-mode/secsock"; valid_entry >"$T/x-mode/secsock/$(entry_name "$1")"; }
mkdir -m 700 "$T/x-mode"; PLANT=plant_mode
check "store directory mode 0755: refused, the peer is probed" probed_after mode "$T/x-mode"
assert_grep 'discovery store .* refused' "$T/neg-mode.log" "store directory mode 0755: logged"

plant_owner() { mkdir -p -m 700 "$T/x-owner/secsock"; valid_entry >"$T/x-owner/secsock/$(entry_name "$1")"; chown -R nobody "$T/x-owner/secsock"; }
mkdir -m 700 "$T/x-owner"; PLANT=plant_owner
check "store directory owned by another user: refused, the peer is probed" probed_after owner "$T/x-owner"

plant_link() { mkdir -p -m 700 "$T/x-link-target"; valid_entry >"$T/x-link-target/$(entry_name "$1")"; ln -sfn "$T/x-link-target" "$T/x-link/secsock"; }
mkdir -m 700 "$T/x-link"; PLANT=plant_link
check "store directory is a symlink: refused, the peer is probed" probed_after link "$T/x-link"

plant_garbage() { mkdir -p -m 700 "$T/x-garb/secsock"; printf 'secsock-discovery 1 clear 12x\n' >"$T/x-garb/secsock/$(entry_name "$1")"; }
mkdir -m 700 "$T/x-garb"; PLANT=plant_garbage
check "garbage entry: ignored, the peer is probed" probed_after garb "$T/x-garb"

plant_future() { mkdir -p -m 700 "$T/x-fut/secsock"; printf 'secsock-discovery 1 clear %s\n' "$(( $(ms_now) + 10 * 86400000 ))" >"$T/x-fut/secsock/$(entry_name "$1")"; }
mkdir -m 700 "$T/x-fut"; PLANT=plant_future
check "entry expiring in 10 days (past the 24 h bound): ignored, the peer is probed" probed_after fut "$T/x-fut"

plant_elink() { mkdir -p -m 700 "$T/x-elink/secsock"; valid_entry >"$T/x-elink/real"; ln -sf "$T/x-elink/real" "$T/x-elink/secsock/$(entry_name "$1")"; }
mkdir -m 700 "$T/x-elink"; PLANT=plant_elink
check "entry that is a symlink: ignored, the peer is probed" probed_after elink "$T/x-elink"

plant_eown() { mkdir -p -m 700 "$T/x-eown/secsock"; valid_entry >"$T/x-eown/secsock/$(entry_name "$1")"; chown nobody "$T/x-eown/secsock/$(entry_name "$1")"; }
mkdir -m 700 "$T/x-eown"; PLANT=plant_eown
check "entry owned by another user: ignored, the peer is probed" probed_after eown "$T/x-eown"

# ---------------------------------------------------------------- (g) first-contact-wait
fcw_client() {   # fcw_client NAME WAIT: banner client under first-contact-wait = WAIT
	mkdir -m 700 "$T/fcw-$1"
	POLICY=$T/fcw-$1.conf
	write_policy "$POLICY" <<EOF
[defaults]
first-contact-wait = $2
EOF
	XDG_RUNTIME_DIR=$T/fcw-$1 TMO=30 preload "$T/fcw-$1.log" "$PY" -c "$BANNER_CLI" "$bport" \
		>"$T/fcw-$1.out" 2>"$T/fcw-$1.err"
	unset POLICY
	echo "# delay (g) first-contact-wait = $2: $(sed 's/.* //' "$T/fcw-$1.out") ms"
}
fcw_client zero 0
assert_eq "$(sed 's/ [0-9]*$//' "$T/fcw-zero.out")" "220 secsock-test banner" \
	"first-contact-wait = 0: the banner arrives" "$T/fcw-zero.err" "$T/fcw-zero.log"
assert_grep 'secured outbound .*-> 127\.0\.0\.1:'"$bport" "$T/fcw-zero.log" \
	"first-contact-wait = 0: the ClientHello goes at once and the speaks-first secsock server is secured"
fcw_client long 3s
assert_eq "$(sed 's/ [0-9]*$//' "$T/fcw-long.out")" "220 secsock-test banner" \
	"first-contact-wait = 3s: the banner arrives" "$T/fcw-long.err" "$T/fcw-long.log"
assert_grep 'clear outbound .*reason="peer does not speak secsock: it spoke first, in clear"' "$T/fcw-long.log" \
	"first-contact-wait = 3s: the server's server-first-wait ran out first, its banner came in clear"
assert_between "$(sed 's/.* //' "$T/fcw-long.out")" 0 2999 \
	"first-contact-wait = 3s: the banner did not wait for the ClientHello's timer (ms)"

finish
