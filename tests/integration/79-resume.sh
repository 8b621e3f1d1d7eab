#!/usr/bin/env bash
# 79-resume.sh — issue 14 must-show 1 (in part): quick reconnects.  A full
# handshake leaves an association behind; the next connection between the
# same two ends is resumed from it (TLS 1.3 PSK with (EC)DHE, RFC 8446 §2.2,
# core/ss_resume.h), carrying over the identity the full handshake proved.
#   (a) three connections from one client process: the first is a full
#       handshake, the next two are resumed (both logs say resumed=yes,
#       secsock_query says resumed=1, same method and peer, a real expiry),
#       and every resumed handshake still has a key share (group=x25519:
#       pfs = yes);
#   (b) session-lifetime = 2s: a connection 2.5 s after the full handshake is
#       a full handshake again;
#   (c) idle-timeout = 2s (times are whole seconds): a connection right away
#       is resumed, one after 2.5 s unused is a full one;
#   (d) session-lifetime = 0: never resumed;
#   (e) host-key: resumed connections keep auth=host-key and the server's
#       fingerprint; the server restarted with a new key cannot resume the
#       client (its ticket keys came from the old key) and the full
#       handshake is refused for the changed key — never resumed past it;
#   (h) host-key: the server restarted with the same key resumes the client
#       (ticket keys derived from the host key, core/ss_resume.h), also one
#       ticket-key period later (the previous period's key still opens);
#       anonymous: a restarted server has a new random master, so the
#       client's next connection is a full handshake — and still works;
#   (f) a forking server (a child per connection) resumes a client whose
#       ticket another child issued: the ticket key is made at start, so
#       every process of the server holds it;
#   (g) a prefork server (workers forked after listen, each accepting):
#       connections served by different workers are resumed.
#   (i) pfs = no at both ends: a resumption without (EC)DHE (psk_ke), seen
#       on the wire (ClientHello psk_key_exchange_modes, no key_share in the
#       ServerHello); at one end only: psk_dhe_ke as before.
. "$(dirname "$0")/lib.sh"
require_lib
require_tools resume_client
require_no_system_policy
unset POLICY
ECHO=$REPO/tests/tools/echo_peer.py
RC=$TOOLS/resume_client
CLI_CFG=$T/cli-cfg SRV_CFG=$T/srv-cfg

pol() {   # FILE [LINES]: a require policy
	printf '[defaults]\naction = require\n%s\n' "${2:-}" >"$1"
	chmod 600 "$1"
}
port=$(free_port)
server() {   # POLICY [PROGRAM...]: PROGRAM (default: the echo server) on $port
	local p=$1
	shift
	[ $# -gt 0 ] || set -- "$PY" "$ECHO" server "$port"
	: >"$T/srv.log"
	XDG_CONFIG_HOME=$SRV_CFG POLICY=$p start_bg srv preload "$T/srv.log" "$@"
	SRV=$BG_PID
	wait_listen "$port" 10 "$SRV" || bail "server did not listen" "$T/srv.err" "$T/srv.log"
}
# Each client process gets its own runtime dir: what one process keeps is
# measured here, the per-user cache shared by processes in 81-resume-xproc.
client() {   # NAME POLICY N [PAUSE_MS]
	mkdir -p -m 700 "$T/xdg-$1"
	XDG_RUNTIME_DIR=$T/xdg-$1 XDG_CONFIG_HOME=$CLI_CFG POLICY=$2 preload "$T/$1.log" "$RC" "$port" "$3" "${4:-0}" >"$T/$1.out" 2>"$T/$1.err"
}
resumed_of() { sed -n "s/^conn $2: .*resumed=\([01]\).*/\1/p" "$T/$1.out"; }

# ---------------------------------------------------------------- (a)
pol "$T/a.conf"
server "$T/a.conf"
client a "$T/a.conf" 3
assert_count '^conn [0-2]: reply=echo:R-[0-2]' "$T/a.out" 3 "(a) three exchanges" "$T/a.out" "$T/a.log"
assert_eq "$(resumed_of a 0)$(resumed_of a 1)$(resumed_of a 2)" 011 "(a) secsock_query: the first full, the next two resumed" "$T/a.out"
assert_count 'secured outbound .* resumed=yes' "$T/a.log" 2 "(a) the client's log: two resumed=yes"
assert_count 'secured outbound' "$T/a.log" 3 "(a) ... of three secured"
assert_count 'secured inbound .* resumed=yes' "$T/srv.log" 2 "(a) the server's log: two resumed=yes"
assert_count 'secured outbound .*group=x25519 .*resumed=yes' "$T/a.log" 2 "(a) resumed handshakes keep their key share (pfs)"
assert_grep '^conn 2: .*auth=anonymous peer=anonymous expiry=7[0-2][0-9][0-9]$' "$T/a.out" \
	"(a) a resumed session: the method and peer carried over, expiry about 2 h after the full handshake" "$T/a.out"
stop_pid "$SRV"

# ---------------------------------------------------------------- (b) (c) (d)
pol "$T/b.conf" "session-lifetime = 2s"
server "$T/b.conf"
client b "$T/b.conf" 2 2500
assert_eq "$(resumed_of b 0)$(resumed_of b 1)" 00 "(b) session-lifetime = 2s: after 2.5 s a full handshake again" "$T/b.out"
stop_pid "$SRV"
pol "$T/c.conf" "idle-timeout = 2s"
server "$T/c.conf"
client c "$T/c.conf" 3 0
client c2 "$T/c.conf" 2 2500
assert_eq "$(resumed_of c 1)$(resumed_of c 2)" 11 "(c) idle-timeout = 2s: connections right away are resumed" "$T/c.out"
assert_eq "$(resumed_of c2 0)$(resumed_of c2 1)" 00 "(c) idle-timeout = 2s: after 2.5 s unused, a full handshake" "$T/c2.out"
stop_pid "$SRV"
pol "$T/d.conf" "session-lifetime = 0"
server "$T/d.conf"
client d "$T/d.conf" 3
assert_eq "$(resumed_of d 0)$(resumed_of d 1)$(resumed_of d 2)" 000 "(d) session-lifetime = 0: never resumed" "$T/d.out"
assert_no_grep 'resumed=yes' "$T/srv.log" "(d) ... at the server either"
stop_pid "$SRV"

# ---------------------------------------------------------------- (e) host-key
XDG_CONFIG_HOME=$CLI_CFG "$SECSOCK" keygen >/dev/null 2>&1 || bail "client keygen"
XDG_CONFIG_HOME=$SRV_CFG "$SECSOCK" keygen >"$T/ks.out" 2>&1 || bail "server keygen"
FPS=$(awk '{print $2}' "$T/ks.out")
pol "$T/e.conf" "auth = host-key"
server "$T/e.conf"
# Client NAME (3 connections, 4 s apart) against a server that is
# restarted, after NAME's second connection, by "$@" (then server POLICY).
restart_between() {   # NAME POLICY [COMMAND...]
	local name=$1 p=$2
	shift 2
	mkdir -p -m 700 "$T/xdg-$name"
	XDG_RUNTIME_DIR=$T/xdg-$name XDG_CONFIG_HOME=$CLI_CFG POLICY=$p start_bg "$name" preload "$T/$name.log" "$RC" "$port" 3 4000
	local cli=$BG_PID
	for ((i = 0; i < 400; i++)); do grep -q '^conn 1:' "$T/$name.out" && break; sleep 0.05; done
	stop_pid "$SRV"
	[ $# -eq 0 ] || "$@" || bail "restart_between: $*"
	server "$p"
	wait "$cli" 2>/dev/null
}
restart_between ecli "$T/e.conf" sh -c 'XDG_CONFIG_HOME=$0 "$1" keygen --force >"$2" 2>&1' "$SRV_CFG" "$SECSOCK" "$T/ks2.out"
assert_grep "^conn 1: reply=echo:R-1 resumed=1 auth=host-key peer=$(printf '%s' "$FPS" | sed 's/[+]/\\&/g') " "$T/ecli.out" \
	"(e) host-key, resumed: the method and the server's fingerprint carried over" "$T/ecli.out" "$T/ecli.log"
assert_grep "^conn 2: (connect failed|reply=- resumed=0)" "$T/ecli.out" "(e) the server restarted with a new key: no exchange, not resumed" "$T/ecli.out"
assert_grep 'WARNING: host-key of 127.0.0.1:'"$port"' CHANGED' "$T/ecli.log" "(e) ... refused for the changed key" "$T/ecli.log"
stop_pid "$SRV"

# ---------------------------------------------------------------- (h) restarts
rm -f "$CLI_CFG/secsock/known_peers"   # the client pins the server's key of (e) afresh
server "$T/e.conf"
restart_between hcli "$T/e.conf"
assert_eq "$(resumed_of hcli 0)$(resumed_of hcli 1)$(resumed_of hcli 2)" 011 \
	"(h) host-key: the server restarted with the same key resumes the client" "$T/hcli.out" "$T/hcli.log" "$T/srv.log"
assert_grep '^conn 2: reply=echo:R-2 resumed=1 auth=host-key ' "$T/hcli.out" "(h) ... as host-key, data intact" "$T/hcli.out"
stop_pid "$SRV"
pol "$T/h.conf" "auth = host-key
session-lifetime = 4h
idle-timeout = 3h"
server "$T/h.conf"
OSO=$SO
restart_between hcli2 "$T/h.conf" export SO="$BUILD/testhooks/libsecsock.so" SECSOCK_TEST_CLOCK_OFFSET=3600
SO=$OSO
unset SECSOCK_TEST_CLOCK_OFFSET
assert_eq "$(resumed_of hcli2 1)$(resumed_of hcli2 2)" 11 \
	"(h) ... and with its clock one ticket-key period (1 h) later: the previous period's key opens" \
	"$T/hcli2.out" "$T/hcli2.log" "$T/srv.log"
stop_pid "$SRV"
server "$T/a.conf"
restart_between hcli3 "$T/a.conf"
assert_eq "$(resumed_of hcli3 0)$(resumed_of hcli3 1)$(resumed_of hcli3 2)" 010 \
	"(h) anonymous: a restarted server holds a new random master, a full handshake again" "$T/hcli3.out" "$T/srv.log"
assert_grep '^conn 2: reply=echo:R-2 resumed=0 auth=anonymous ' "$T/hcli3.out" "(h) ... which works" "$T/hcli3.out"
stop_pid "$SRV"

# ---------------------------------------------------------------- (f) forking server
cat >"$T/fork.py" <<'PY'
import os, signal, socket, sys
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
while True:
    c, _ = s.accept()
    if os.fork() == 0:
        s.close()
        d = c.recv(100)
        c.sendall(b"echo:" + d)
        c.close()
        os._exit(0)
    c.close()
PY
pol "$T/f.conf"
server "$T/f.conf" "$PY" "$T/fork.py" "$port"
client f "$T/f.conf" 3
assert_eq "$(resumed_of f 0)$(resumed_of f 1)$(resumed_of f 2)" 011 "(f) forking server: the next connections resumed" "$T/f.out" "$T/srv.log"
n=$(grep 'secured inbound .*resumed=yes' "$T/srv.log" | sed 's/^secsock\[\([0-9]*\)\].*/\1/' | sort -u | wc -l)
assert_eq "$n" 2 "(f) ... each by another child than the one that issued its ticket" "$T/srv.log"
stop_pid "$SRV"

# ---------------------------------------------------------------- (g) prefork server
cat >"$T/prefork.py" <<'PY'
import os, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
for _ in range(4):
    if os.fork() == 0:
        while True:
            c, _ = s.accept()
            d = c.recv(100)
            c.sendall(b"echo:" + d)
            c.close()
os.wait()
PY
server "$T/f.conf" "$PY" "$T/prefork.py" "$port"
client g "$T/f.conf" 8
assert_eq "$(for i in 1 2 3 4 5 6 7; do resumed_of g $i; done | tr -d '\n')" 1111111 \
	"(g) prefork server: every connection after the first resumed" "$T/g.out" "$T/srv.log"
n=$(grep 'secured inbound .*resumed=yes' "$T/srv.log" | sed 's/^secsock\[\([0-9]*\)\].*/\1/' | sort -u | wc -l)
check "(g) ... by more than one worker ($n)" [ "$n" -ge 2 ]
stop_pid "$SRV"
# ---------------------------------------------------------------- (i) pfs = no
# Through a recording relay (tests/tools/tap.py): the resumed connections'
# ClientHello and ServerHello on the wire.  pfs = no at both ends: psk_ke,
# no key_share in the ServerHello, group=none in the logs; at one end only:
# still psk_dhe_ke (the other end asks for the key share).
WIRE=$REPO/tests/tools/tls_wire_check.py
pfs_run() {   # NAME CLIENT-POLICY SERVER-POLICY
	local name=$1 rp
	server "$3"
	mkdir -p "$T/tap-$name" -m 700 "$T/xdg-$name"
	start_bg "tap-$name" plain "$PY" "$REPO/tests/tools/tap.py" relay "$T/tap-$name" 127.0.0.1 0 127.0.0.1 "$port"
	local tap=$BG_PID
	wait_file "$T/tap-$name/port" 5 || bail "tap did not start" "$T/tap-$name.err"
	rp=$(cat "$T/tap-$name/port")
	XDG_RUNTIME_DIR=$T/xdg-$name XDG_CONFIG_HOME=$CLI_CFG POLICY=$2 preload "$T/$name.log" "$RC" "$rp" 2 0 \
		>"$T/$name.out" 2>"$T/$name.err"
	stop_pid "$tap"
	stop_pid "$SRV"
}
pol "$T/i-no.conf" "pfs = no"
pfs_run i1 "$T/i-no.conf" "$T/i-no.conf"
assert_eq "$(resumed_of i1 0)$(resumed_of i1 1)" 01 "(i) pfs = no at both ends: the second connection is resumed" "$T/i1.out" "$T/i1.log" "$T/srv.log"
assert_grep 'secured outbound .*group=none .*resumed=yes' "$T/i1.log" "(i) ... with no key exchange group (psk_ke)" "$T/i1.log"
assert_grep 'secured inbound .*group=none .*resumed=yes' "$T/srv.log" "(i) ... at the server too" "$T/srv.log"
"$PY" "$WIRE" --c2s "$T/tap-i1/conn-2.c2s" --s2c "$T/tap-i1/conn-2.s2c" --resumed ke --marker R-1 >"$T/i1.wire" 2>&1
assert_eq "$?" 0 "(i) the wire: ClientHello offers psk_ke, ServerHello takes the PSK with no key_share" "$T/i1.wire"
"$PY" "$WIRE" --c2s "$T/tap-i1/conn-1.c2s" --s2c "$T/tap-i1/conn-1.s2c" --marker R-0 >"$T/i1f.wire" 2>&1
assert_eq "$?" 0 "(i) ... the full handshake before it is an ordinary secsock one" "$T/i1f.wire"
pol "$T/i-yes.conf" ""
pfs_run i2 "$T/i-no.conf" "$T/i-yes.conf"
assert_eq "$(resumed_of i2 1)" 1 "(i) pfs = no at the client only: resumed" "$T/i2.out" "$T/i2.log"
"$PY" "$WIRE" --c2s "$T/tap-i2/conn-2.c2s" --s2c "$T/tap-i2/conn-2.s2c" --resumed dhe >"$T/i2.wire" 2>&1
assert_eq "$?" 0 "(i) ... with a key share (the server keeps pfs = yes)" "$T/i2.wire"
pfs_run i3 "$T/i-yes.conf" "$T/i-no.conf"
assert_eq "$(resumed_of i3 1)" 1 "(i) pfs = no at the server only: resumed" "$T/i3.out" "$T/i3.log"
"$PY" "$WIRE" --c2s "$T/tap-i3/conn-2.c2s" --s2c "$T/tap-i3/conn-2.s2c" --resumed dhe >"$T/i3.wire" 2>&1
assert_eq "$?" 0 "(i) ... with a key share (the client offered only psk_dhe_ke)" "$T/i3.wire"

finish
