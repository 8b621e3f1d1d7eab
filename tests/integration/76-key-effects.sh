#!/usr/bin/env bash
# 76-key-effects.sh — issue 14 must-show 3: the run-time effect of the
# policy keys no other test shows (tests/key-effects.tsv lists a test for
# every key; scripts/check-key-effects.sh fails when one has none):
#   (a) ciphers: the suite the client lists is the one the log line names,
#       and a suite the server does not list is refused (no common suite);
#   (b) groups: likewise for the key exchange, both ends listing p-384;
#   (c) action = respond: outbound, no ClientHello is ever sent (a plain
#       server gets the program's bytes first, a secsock server is reached
#       in clear); inbound, a secsock client is secured, a plain one clear;
#   (d) discovery-clear-ttl: 5m remembers a clear peer (the second connection
#       skips the probe), 0 forgets it (the second probes again);
#   (e) program: a rule for python3* blocks python's connect (EACCES) and
#       not socat's;
#   (f) protocol = udp: datagrams are not governed yet, so a udp rule may
#       only bypass: policy check refuses a udp block rule, and a udp bypass
#       rule leaves TCP to the same port to the TCP rules (a require server
#       still refuses a clear client there).
. "$(dirname "$0")/lib.sh"
require_lib
require_no_system_policy
require_cmd socat
unset POLICY
ECHO=$REPO/tests/tools/echo_peer.py   # server PORT [GOT] | client PORT MARKER [N]


pol() {   # FILE: stdin, a [defaults] require section prepended
	{ printf '[defaults]\naction = require\n'; cat; } >"$1"
	chmod 600 "$1"
}
secsock_server() {   # NAME PORT POLICY
	POLICY=$3 start_bg "$1" preload "$T/$1.log" "$PY" "$ECHO" server "$2" "$T/$1.got"
	wait_listen "$2" 10 "$BG_PID" || bail "$1 did not listen" "$T/$1.err" "$T/$1.log"
	SRV_PID=$BG_PID
}
plain_server() {   # NAME PORT
	start_bg "$1" plain "$PY" "$ECHO" server "$2" "$T/$1.got"
	wait_listen "$2" 10 "$BG_PID" || bail "$1 did not listen" "$T/$1.err"
	SRV_PID=$BG_PID
}

# ---------------------------------------------------------------- (a) (b) ciphers, groups
sp=$(free_port)
pol "$T/srv.conf" <<'EOF'
ciphers = aes-128-gcm, chacha20-poly1305, aes-256-gcm
groups  = x25519, p-256, p-384
EOF
secsock_server srv "$sp" "$T/srv.conf"
for c in chacha20-poly1305 aes-256-gcm aes-128-gcm; do
	pol "$T/c-$c.conf" <<<"ciphers = $c"
	POLICY=$T/c-$c.conf preload "$T/c-$c.log" "$PY" "$ECHO" client "$sp" "M-$c" >"$T/c-$c.out" 2>&1
	assert_grep "^reply: echo:M-$c-0" "$T/c-$c.out" "(a) ciphers = $c: the exchange works" "$T/c-$c.out" "$T/c-$c.log"
	assert_grep "secured outbound .* cipher=$c " "$T/c-$c.log" "(a) ciphers = $c: the connection uses $c"
done
for g in p-384 p-256 x25519; do
	pol "$T/g-$g.conf" <<<"groups = $g"
	POLICY=$T/g-$g.conf preload "$T/g-$g.log" "$PY" "$ECHO" client "$sp" "M-$g" >"$T/g-$g.out" 2>&1
	assert_grep "^reply: echo:M-$g-0" "$T/g-$g.out" "(b) groups = $g: the exchange works" "$T/g-$g.out" "$T/g-$g.log"
	assert_grep "secured outbound .* group=$g " "$T/g-$g.log" "(b) groups = $g: the key exchange is $g"
done
stop_pid "$SRV_PID"
pol "$T/srv-def.conf" </dev/null
secsock_server srv-def "$sp" "$T/srv-def.conf"
POLICY=$T/c-aes-256-gcm.conf preload "$T/c-nocommon.log" "$PY" "$ECHO" client "$sp" "M-nc" >"$T/c-nocommon.out" 2>&1
assert_no_grep '^reply: echo:' "$T/c-nocommon.out" "(a) ciphers = aes-256-gcm against a server listing only the built-in two: no exchange"
assert_grep 'refused outbound .*SS_ALGORITHM_MISMATCH' "$T/c-nocommon.log" "(a) ... refused: no common suite" "$T/c-nocommon.log"
stop_pid "$SRV_PID"

# ---------------------------------------------------------------- (c) respond
pp=$(free_port)
plain_server plain "$pp"
pol "$T/respond.conf" <<'EOF'
[rule out]
direction = outbound
action    = respond
EOF
POLICY=$T/respond.conf preload "$T/r1.log" "$PY" "$ECHO" client "$pp" "M-r1" >"$T/r1.out" 2>&1
assert_grep '^reply: echo:M-r1-0' "$T/r1.out" "(c) respond, outbound to a plain server: the exchange works" "$T/r1.out" "$T/r1.log"
assert_eq "$(head -c 4 "$T/plain.got")" "M-r1" "(c) respond, outbound: the server's first bytes are the program's, no ClientHello" "$T/plain.got"
stop_pid "$SRV_PID"
secsock_server srv2 "$sp" "$T/srv.conf"
POLICY=$T/respond.conf preload "$T/r2.log" "$PY" "$ECHO" client "$sp" "M-r2" >"$T/r2.out" 2>&1
assert_no_grep 'secured outbound' "$T/r2.log" "(c) respond, outbound to a secsock server: not secured (respond never starts security)"
assert_no_grep '^reply: echo:' "$T/r2.out" "(c) ... and the require server refuses the clear client" "$T/r2.out"
stop_pid "$SRV_PID"
pol "$T/respond-in.conf" <<EOF
[rule in]
direction = inbound
port      = $sp
action    = respond
EOF
secsock_server srv3 "$sp" "$T/respond-in.conf"
pol "$T/req.conf" <<'EOF'
[rule out]
direction = outbound
action    = request
EOF
POLICY=$T/req.conf preload "$T/r3.log" "$PY" "$ECHO" client "$sp" "M-r3" >"$T/r3.out" 2>&1
assert_grep '^reply: echo:M-r3-0' "$T/r3.out" "(c) respond, inbound, secsock client: the exchange works" "$T/r3.out" "$T/r3.log"
wait_grep 'secured inbound' "$T/srv3.log" 5
assert_grep "secured inbound .*rule=in" "$T/srv3.log" "(c) respond, inbound: a secsock client is secured"
plain "$PY" "$ECHO" client "$sp" "M-r4" >"$T/r4.out" 2>&1
assert_grep '^reply: echo:M-r4-0' "$T/r4.out" "(c) respond, inbound, plain client: served in clear" "$T/r4.out" "$T/srv3.log"
stop_pid "$SRV_PID"

# ---------------------------------------------------------------- (d) discovery-clear-ttl
for ttl in 5m 0; do
	p=$(free_port)
	plain_server "plain-$ttl" "$p"
	printf '[defaults]\naction = request\ndiscovery-clear-ttl = %s\n' "$ttl" >"$T/ttl-$ttl.conf"
	chmod 600 "$T/ttl-$ttl.conf"
	POLICY=$T/ttl-$ttl.conf preload "$T/ttl-$ttl.log" "$PY" "$ECHO" client "$p" "M-t" 2 >"$T/ttl-$ttl.out" 2>&1
	assert_count '^reply: echo:M-t-' "$T/ttl-$ttl.out" 2 "(d) discovery-clear-ttl = $ttl: both exchanges work (clear)" "$T/ttl-$ttl.log"
	stop_pid "$SRV_PID"
done
assert_count 'reason="peer does not speak secsock' "$T/ttl-5m.log" 1 "(d) discovery-clear-ttl = 5m: one probe"
assert_count 'reason="discovery cache: known clear peer"' "$T/ttl-5m.log" 1 "(d) 5m: the second connection skips it (known clear)"
assert_count 'reason="peer does not speak secsock' "$T/ttl-0.log" 2 "(d) discovery-clear-ttl = 0: the second connection probes again"
assert_no_grep 'known clear peer' "$T/ttl-0.log" "(d) 0: nothing remembered"

# ---------------------------------------------------------------- (e) program
p=$(free_port)
plain_server plain-prog "$p"
printf '[rule py]\nprogram = python3*\naction = block\n\n[rule rest]\naction = bypass\n' >"$T/prog.conf"
chmod 600 "$T/prog.conf"
POLICY=$T/prog.conf preload "$T/e1.log" "$PY" "$ECHO" client "$p" "M-e" >"$T/e1.out" 2>&1
assert_grep '^error: EACCES$' "$T/e1.out" "(e) program = python3*: python's connect is blocked (EACCES)" "$T/e1.out" "$T/e1.log"
echo hello-socat | POLICY=$T/prog.conf preload "$T/e2.log" socat -t 2 - "TCP:127.0.0.1:$p" >"$T/e2.out" 2>&1
assert_grep '^echo:hello-socat' "$T/e2.out" "(e) the same policy lets socat through (bypass)" "$T/e2.out" "$T/e2.log"
stop_pid "$SRV_PID"

# ---------------------------------------------------------------- (f) protocol = udp
p=$(free_port)
printf '[rule dns]\nprotocol = udp\nport = %s\naction = block\n' "$p" >"$T/udp-block.conf"
chmod 600 "$T/udp-block.conf"
"$SECSOCK" policy check "$T/udp-block.conf" >"$T/f0.out" 2>&1
assert_eq "$?" 1 "(f) policy check refuses a udp block rule (exit 1)" "$T/f0.out"
assert_grep 'udp rules may only bypass \(datagrams are not governed yet' "$T/f0.out" "(f) ... and says datagrams are not governed"
printf '[rule dns]\nprotocol = udp\nport = %s\naction = bypass\n\n[rule tcp]\nport = %s\naction = require\n' "$p" "$p" >"$T/udp.conf"
chmod 600 "$T/udp.conf"
"$SECSOCK" policy explain --policy "$T/udp.conf" --udp --to "127.0.0.1:$p" >"$T/f1.out" 2>&1
assert_grep '^action +bypass' "$T/f1.out" "(f) explain --udp: the udp rule bypasses" "$T/f1.out"
"$SECSOCK" policy explain --policy "$T/udp.conf" --to "127.0.0.1:$p" >"$T/f2.out" 2>&1
assert_grep '^action +require' "$T/f2.out" "(f) explain (tcp): the tcp rule requires" "$T/f2.out"
plain_server plain-udp "$p"
POLICY=$T/udp.conf preload "$T/f3.log" "$PY" "$ECHO" client "$p" "M-f" >"$T/f3.out" 2>&1
assert_no_grep '^reply: echo:' "$T/f3.out" "(f) TCP to that port: the require rule refuses the plain server" "$T/f3.out" "$T/f3.log"
assert_grep 'refused outbound .*rule=tcp' "$T/f3.log" "(f) ... by the tcp rule, not the udp one"
stop_pid "$SRV_PID"
finish
