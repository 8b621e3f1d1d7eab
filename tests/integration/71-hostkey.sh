#!/usr/bin/env bash
# 71-hostkey.sh — issue 13 "host-key": persistent Ed25519 host keys pinned
# on first use (like OpenSSH's known_hosts), must-show 1.  Client and server
# each have their own XDG_CONFIG_HOME inside the test's directory, so the
# user's real keys and known_peers are never read or written.
#   (a) first contact pins: secured auth=host-key, one notice line with the
#       fingerprint `secsock keygen` printed, one line in known_peers — at
#       both ends (the server pins the client's address too).
#   (b) the same key later: secured, the file unchanged, no new notice.
#   (b2) the server side of (c) and (d): from the pinned client address, a
#       client with another key is refused with the CHANGED warning, and one
#       offering anonymous is refused although the server lists anonymous.
#   (c) the server restarted with a new key: refused with a warn line naming
#       the expected and the seen fingerprints, under require and under
#       request (never a clear fallback: the server sees no byte).
#   (d) the pinned server now offers only anonymous: refused even though the
#       client's rule lists anonymous after host-key.
#   (e) known-peers = strict: an unknown server is refused; once listed with
#       `secsock peers add` it is secured and nothing is pinned.
#   (f) 50 client processes make their first contact at once: the file is
#       valid and holds exactly one line for the server.
#   (g) a client with no host key: refused with a message that says how to
#       make one, under request too, even with anonymous listed after host-key
#       (a listed method is never skipped into a weaker one).
#   (h) a server with known-peers = strict admits only clients whose
#       fingerprints are listed: an unlisted client never reaches the program.
#   (i) names: a host key proves a peer-name only through a known-peers line
#       whose names= binds it to the key — first contact (nothing pinned),
#       a pin without names= and a line naming another host are refused
#       (under request too, never clear); names=srv.test,*.srv.test proves
#       srv.test.
#   (j) host-key-file: a server whose rule names a key made with
#       `secsock keygen --file` presents that key, not the user's.
#   (k) the stronger proof is taken: with "anonymous, host-key" at both ends
#       (anonymous listed first), two ends that have host keys use host-key.
. "$(dirname "$0")/lib.sh"
require_lib
require_no_system_policy
unset POLICY
ECHO=$REPO/tests/tools/echo_peer.py   # server PORT [GOT] | client PORT MARKER [N]

CLI_CFG=$T/cli-cfg SRV_CFG=$T/srv-cfg
KP_CLI=$CLI_CFG/secsock/known_peers KP_SRV=$SRV_CFG/secsock/known_peers


port=$(free_port)
srv_policy() {   # AUTH
	write_policy "$T/srv.conf" <<EOF
[rule in]
direction = inbound
port      = $port
action    = require
auth      = $1
EOF
}
cli_policy() {   # ACTION AUTH [EXTRA-LINE]
	write_policy "$T/cli.conf" <<EOF
[rule out]
direction = outbound
port      = $port
action    = $1
auth      = $2
${3:-}
EOF
}
start_server() {
	! is_listening "$port" || bail "port $port is still taken by an earlier server"
	XDG_CONFIG_HOME=$SRV_CFG POLICY=$T/srv.conf start_bg srv preload "$T/srv.log" "$PY" "$ECHO" server "$port" "$T/srv.got"
	SRV_PID=$BG_PID
	wait_listen "$port" 10 "$SRV_PID" || bail "server did not listen" "$T/srv.err" "$T/srv.log"
}
stop_server() { stop_pid "$SRV_PID"; }
client() {   # NAME MARKER: run the client under cli.conf; output in $T/NAME.out, log $T/NAME.log
	XDG_CONFIG_HOME=$CLI_CFG POLICY=$T/cli.conf preload "$T/$1.log" "$PY" "$ECHO" client "$port" "$2" >"$T/$1.out" 2>&1
}
lines() { grep -cv '^#' "$1" 2>/dev/null || echo 0; }

XDG_CONFIG_HOME=$CLI_CFG "$SECSOCK" keygen >"$T/kc.out" 2>&1 || bail "client keygen" "$T/kc.out"
XDG_CONFIG_HOME=$SRV_CFG "$SECSOCK" keygen >"$T/ks.out" 2>&1 || bail "server keygen" "$T/ks.out"
# rq S: S as an extended regex matching itself (fingerprints hold '+')
rq() { printf '%s' "$1" | sed 's/[][\.*^$+?(){}|]/\\&/g'; }
FPC=$(awk '{print $2}' "$T/kc.out") FPS=$(awk '{print $2}' "$T/ks.out")
QC=$(rq "$FPC") QS=$(rq "$FPS")
check "keygen printed two different fingerprints" [ -n "$FPC" ] && [ "$FPC" != "$FPS" ]

# ---------------------------------------------------------------- (a) first contact
srv_policy host-key
cli_policy require host-key
start_server
client a "M-a-$$"
assert_grep "^reply: echo:M-a-$$" "$T/a.out" "(a) first contact: the exchange works" "$T/a.out" "$T/a.log" "$T/srv.log"
assert_grep "secured outbound .*auth=host-key peer=$QS" "$T/a.log" "(a) client: secured with host-key, peer = the server's fingerprint"
assert_count 'notice: host-key: pinned' "$T/a.log" 1 "(a) client: one notice line for the pin"
assert_grep "notice: host-key: pinned 127.0.0.1:$port $QS in $KP_CLI" "$T/a.log" "(a) the notice names the peer, its fingerprint and the file"
assert_eq "$(lines "$KP_CLI")" 1 "(a) the client's known_peers has one line" "$KP_CLI"
assert_grep "^127\.0\.0\.1 port=$port $QS\$" "$KP_CLI" "(a) that line pins 127.0.0.1 port $port to the server's key" "$KP_CLI"
check "(a) known_peers is mode 0600" [ "$(stat -c %a "$KP_CLI")" = 600 ]
wait_grep 'secured inbound' "$T/srv.log" 5
assert_grep "secured inbound .*auth=host-key peer=$QC" "$T/srv.log" "(a) server: secured with host-key, peer = the client's fingerprint (mutual)"
assert_grep "^127\.0\.0\.1 $QC\$" "$KP_SRV" "(a) the server pinned the client's address (every port: a client's port is ephemeral)" "$KP_SRV"
"$SECSOCK" peers list --file "$KP_CLI" >"$T/list.out" 2>&1
assert_eq "$?" 0 "(a) secsock peers list reads the file" "$T/list.out"

# ---------------------------------------------------------------- (b) the same key later
cp "$KP_CLI" "$T/kp.before"
client b "M-b-$$"
assert_grep "^reply: echo:M-b-$$" "$T/b.out" "(b) the same key later: the exchange works" "$T/b.out" "$T/b.log"
assert_grep "secured outbound .*auth=host-key peer=$QS" "$T/b.log" "(b) secured with host-key"
assert_no_grep 'pinned' "$T/b.log" "(b) nothing pinned again"
assert_same_file "$T/kp.before" "$KP_CLI" "(b) the file is unchanged"

# ---------------------------------------------------------------- (b2) the server's pins
stop_server
srv_policy "host-key, anonymous"
: >"$T/srv.log"
start_server
XDG_CONFIG_HOME=$T/other-cfg "$SECSOCK" keygen >"$T/ko.out" 2>&1 || bail "keygen (other client)" "$T/ko.out"
FPO=$(awk '{print $2}' "$T/ko.out")
XDG_CONFIG_HOME=$T/other-cfg POLICY=$T/cli.conf preload "$T/b2o.log" "$PY" "$ECHO" client "$port" "M-b2o-$$" >"$T/b2o.out" 2>&1
assert_no_grep '^reply: echo:' "$T/b2o.out" "(b2) another client key from the pinned address: no exchange" "$T/b2o.out" "$T/srv.log"
wait_grep 'refused inbound' "$T/srv.log" 5
check "(b2) the server's warn line names the pinned and the seen client keys" \
	grep -qF "CHANGED: expected $FPC, seen $FPO" "$T/srv.log"
check "(b2) that client's bytes never reached the program" sh -c "! grep -q 'M-b2o-$$' '$T/srv.got'"
: >"$T/srv.log"
cli_policy require anonymous
client b2a "M-b2a-$$"
assert_no_grep '^reply: echo:' "$T/b2a.out" "(b2) an anonymous client from the pinned address: no exchange" "$T/b2a.out" "$T/srv.log"
wait_grep 'refused inbound' "$T/srv.log" 5
check "(b2) the server refused it: pinned but authenticated anonymously" \
	grep -qF "is pinned ($FPC) but authenticated anonymously: refused" "$T/srv.log"
check "(b2) that client's bytes never reached the program" sh -c "! grep -q 'M-b2a-$$' '$T/srv.got'"
srv_policy host-key

# ---------------------------------------------------------------- (c) a new server key
stop_server
XDG_CONFIG_HOME=$SRV_CFG "$SECSOCK" keygen --force >"$T/ks2.out" 2>&1 || bail "keygen --force" "$T/ks2.out"
FPS2=$(awk '{print $2}' "$T/ks2.out")
QS2=$(rq "$FPS2")
: >"$T/srv.got"
start_server
# request twice: a refusal must not teach discovery that the peer is clear
for act in require request request2; do
	cli_policy "${act%2}" host-key
	client "c-$act" "M-c-$act-$$"
	assert_no_grep '^reply: echo:' "$T/c-$act.out" "(c) $act: a changed key: no exchange" "$T/c-$act.out" "$T/c-$act.log"
	assert_grep "WARNING: host-key of 127.0.0.1:$port CHANGED: expected $QS, seen $QS2" "$T/c-$act.log" \
		"(c) $act: the warn line names the expected and the seen fingerprints" "$T/c-$act.log"
	assert_grep 'refused outbound .*host-key mismatch' "$T/c-$act.log" "(c) $act: refused as a mismatch"
	assert_no_grep 'clear outbound|secured outbound' "$T/c-$act.log" "(c) $act: neither clear nor secured"
	check "(c) $act: the program's bytes never reached the server" sh -c "! grep -q 'M-c-$act-$$' '$T/srv.got'"
	assert_grep '^(error: ECONN(REFUSED|RESET)|reply: EOF)$' "$T/c-$act.out" "(c) $act: the program sees a refusal" "$T/c-$act.out"
done
assert_same_file "$T/kp.before" "$KP_CLI" "(c) the pin is kept, not replaced"

# ---------------------------------------------------------------- (d) pinned, offers anonymous
stop_server
srv_policy anonymous
start_server
cli_policy request "host-key, anonymous"
client d "M-d-$$"
assert_no_grep '^reply: echo:' "$T/d.out" "(d) pinned server offering anonymous: no exchange" "$T/d.out" "$T/d.log"
assert_grep "host-key: 127.0.0.1:$port is pinned \($QS\) but authenticated anonymously: refused" "$T/d.log" \
	"(d) the warn line says the pinned peer offered no host key" "$T/d.log"
assert_no_grep 'clear outbound|secured outbound' "$T/d.log" "(d) neither clear nor secured"
check "(d) the program's bytes never reached the server" sh -c "! grep -q 'M-d-$$' '$T/srv.got'"

# ---------------------------------------------------------------- (e) strict
stop_server
srv_policy host-key
start_server
rm -f "$KP_CLI"
cli_policy request host-key "known-peers = strict"
client e1 "M-e1-$$"
assert_no_grep '^reply: echo:' "$T/e1.out" "(e) strict, unknown server: no exchange" "$T/e1.out" "$T/e1.log"
assert_grep "refused outbound .*not a known peer \(known-peers = strict\)" "$T/e1.log" "(e) strict: refused as unknown" "$T/e1.log"
check "(e) strict: nothing pinned" [ ! -s "$KP_CLI" ]
XDG_CONFIG_HOME=$CLI_CFG "$SECSOCK" peers add 127.0.0.1 --port "$port" "$FPS2" >"$T/add.out" 2>&1
assert_eq "$?" 0 "(e) secsock peers add lists the server" "$T/add.out"
client e2 "M-e2-$$"
assert_grep "^reply: echo:M-e2-$$" "$T/e2.out" "(e) strict, listed server: the exchange works" "$T/e2.out" "$T/e2.log"
assert_grep "secured outbound .*auth=host-key peer=$QS2" "$T/e2.log" "(e) strict, listed: secured with host-key"
assert_no_grep 'pinned' "$T/e2.log" "(e) strict: no pin written"

# ---------------------------------------------------------------- (f) 50 first contacts at once
rm -f "$KP_CLI" "$KP_CLI.lock"
cli_policy require host-key
pids=()
for i in $(seq 1 50); do
	client "f$i" "M-f$i-$$" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
ok=0
for i in $(seq 1 50); do grep -q "^reply: echo:M-f$i-$$" "$T/f$i.out" && ok=$((ok + 1)); done
assert_eq "$ok" 50 "(f) 50 concurrent first contacts: every exchange works" "$T/f1.out" "$T/f1.log"
assert_eq "$(lines "$KP_CLI")" 1 "(f) the file holds exactly one line" "$KP_CLI"
assert_grep "^127\.0\.0\.1 port=$port $QS2\$" "$KP_CLI" "(f) the line pins the server's key" "$KP_CLI"
"$SECSOCK" peers list --file "$KP_CLI" >"$T/flist.out" 2>&1
assert_eq "$?" 0 "(f) the file parses (secsock peers list)" "$T/flist.out"
pinned=$(cat "$T"/f*.log | grep -c 'notice: host-key: pinned')
assert_eq "$pinned" 1 "(f) one process wrote the pin (one notice line over all 50 logs)"

# ---------------------------------------------------------------- (g) no host key
for auth in host-key "host-key, anonymous"; do
	cli_policy request "$auth"
	n=g-$(echo "$auth" | tr -dc 'a-z')
	XDG_CONFIG_HOME=$T/empty-cfg POLICY=$T/cli.conf preload "$T/$n.log" "$PY" "$ECHO" client "$port" "M-$n-$$" >"$T/$n.out" 2>&1
	assert_no_grep '^reply: echo:' "$T/$n.out" "(g) '$auth', no host key: no exchange" "$T/$n.out" "$T/$n.log"
	assert_grep "refused outbound .*no host key of this user \(make one with 'secsock keygen'" "$T/$n.log" \
		"(g) '$auth': the refusal says how to make a key" "$T/$n.log"
	assert_no_grep 'clear outbound|secured outbound' "$T/$n.log" "(g) '$auth': neither clear nor anonymous"
	check "(g) '$auth': the program's bytes never reached the server" sh -c "! grep -q 'M-$n-$$' '$T/srv.got'"
done

# ---------------------------------------------------------------- (h) strict server
stop_server
write_policy "$T/srv.conf" <<EOF
[rule in]
direction = inbound
port      = $port
action    = require
auth      = host-key
known-peers = strict
known-peers-file = $T/srv-allowed
EOF
: >"$T/srv.got"
touch "$T/srv-allowed" && chmod 600 "$T/srv-allowed"
start_server
cli_policy require host-key
rm -f "$KP_CLI"
client h1 "M-h1-$$"
assert_no_grep '^reply: echo:' "$T/h1.out" "(h) strict server, unlisted client: no exchange" "$T/h1.out" "$T/h1.log"
wait_grep 'refused inbound' "$T/srv.log" 5
assert_grep "refused inbound .*not a known peer \(known-peers = strict\)" "$T/srv.log" "(h) the server refused the unlisted client" "$T/srv.log"
check "(h) the unlisted client's bytes never reached the program" sh -c "! grep -q 'M-h1-$$' '$T/srv.got'"
"$SECSOCK" peers add --file "$T/srv-allowed" 127.0.0.1 "$FPC" >"$T/hadd.out" 2>&1
assert_eq "$?" 0 "(h) the admin lists the client's fingerprint" "$T/hadd.out"
client h2 "M-h2-$$"
assert_grep "^reply: echo:M-h2-$$" "$T/h2.out" "(h) strict server, listed client: the exchange works" "$T/h2.out" "$T/h2.log" "$T/srv.log"

# ---------------------------------------------------------------- (i) names
stop_server
srv_policy host-key
start_server
rm -f "$KP_CLI"
name_case() {   # NAME EXPECT(ok|refused) WHAT
	client "$1" "M-$1-$$"
	if [ "$2" = ok ]; then
		assert_grep "^reply: echo:M-$1-$$" "$T/$1.out" "(i) $3: secured" "$T/$1.out" "$T/$1.log"
		assert_grep "secured outbound .*auth=host-key" "$T/$1.log" "(i) $3: with host-key"
	else
		assert_no_grep '^reply: echo:' "$T/$1.out" "(i) $3: no exchange" "$T/$1.out" "$T/$1.log"
		assert_grep "refused outbound .*$4" "$T/$1.log" "(i) $3: refused, saying why" "$T/$1.log"
		assert_no_grep 'clear outbound|secured outbound' "$T/$1.log" "(i) $3: neither clear nor secured"
	fi
}
cli_policy request host-key "peer-name = srv.test"
name_case i1 refused "first contact with a name" "cannot prove the name srv.test"
check "(i) a first contact with a name pins nothing" [ ! -s "$KP_CLI" ]
XDG_CONFIG_HOME=$CLI_CFG "$SECSOCK" peers add --port "$port" 127.0.0.1 "$FPS2" >"$T/i.out" 2>&1 || fail "peers add" "$T/i.out"
name_case i2 refused "a pin without names=" "does not bind the name srv.test"
XDG_CONFIG_HOME=$CLI_CFG "$SECSOCK" peers remove --port "$port" 127.0.0.1 >"$T/i.out" 2>&1 || fail "peers remove" "$T/i.out"
XDG_CONFIG_HOME=$CLI_CFG "$SECSOCK" peers add --port "$port" --names other.test 127.0.0.1 "$FPS2" >"$T/i.out" 2>&1 || fail "peers add" "$T/i.out"
name_case i3 refused "a line naming another host" "does not bind the name srv.test"
XDG_CONFIG_HOME=$CLI_CFG "$SECSOCK" peers remove --port "$port" 127.0.0.1 >"$T/i.out" 2>&1 || fail "peers remove" "$T/i.out"
XDG_CONFIG_HOME=$CLI_CFG "$SECSOCK" peers add --port "$port" --names 'srv.test,*.srv.test' 127.0.0.1 "$FPS2" >"$T/i.out" 2>&1 || fail "peers add" "$T/i.out"
name_case i4 ok "names=srv.test,*.srv.test"
cli_policy request host-key "peer-name = db.srv.test"
name_case i5 ok "the glob *.srv.test proves db.srv.test"
cli_policy request host-key "peer-name = a.db.srv.test"
name_case i6 refused "a glob covers one label only" "does not bind the name a.db.srv.test"

# ---------------------------------------------------------------- (j) host-key-file
stop_server
"$SECSOCK" keygen --file "$T/other.key" >"$T/kf.out" 2>&1 || bail "keygen --file" "$T/kf.out"
FPF=$(awk '{print $2}' "$T/kf.out")
srv_policy host-key
printf 'host-key-file = %s\n' "$T/other.key" >>"$T/srv.conf"
start_server
rm -f "$KP_CLI"
cli_policy require host-key
client j "M-j-$$"
assert_grep "^reply: echo:M-j-$$" "$T/j.out" "(j) host-key-file: the exchange works" "$T/j.out" "$T/j.log" "$T/srv.log"
check "(j) the server presented the key host-key-file names ($FPF)" grep -qF "auth=host-key peer=$FPF" "$T/j.log"

# ---------------------------------------------------------------- (k) order
stop_server
srv_policy "anonymous, host-key"
: >"$T/srv.log"
start_server
rm -f "$KP_CLI"
cli_policy require "anonymous, host-key"
client k "M-k-$$"
assert_grep "^reply: echo:M-k-$$" "$T/k.out" "(k) 'anonymous, host-key' at both ends: the exchange works" "$T/k.out" "$T/k.log"
assert_grep "secured outbound .*auth=host-key peer=$QS2" "$T/k.log" "(k) host-key is used although anonymous is listed first"
wait_grep 'secured inbound .*:'"$port"' .*auth=' "$T/srv.log" 5
assert_grep "secured inbound .*auth=host-key peer=$QC" "$T/srv.log" "(k) ... at the server too"
stop_server
finish
