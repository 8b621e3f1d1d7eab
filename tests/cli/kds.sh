#!/usr/bin/env bash
# kds.sh — `secsock kds` end to end on loopback (issue 15 kds/): a KDS under
# the preload (inbound require host-key, known-peers = strict) with two root
# keys in its store.
#   (a) a member's host key gets the envelope of the latest root key, and
#       the keys in it equal `secsock gkdi get-key` for the same inputs
#   (b) a non-member's host key (also authenticated) gets not-member
#   (c) a client without the preload gets nothing; `serve` without the
#       preload refuses to start
#   (d) two KDS instances on the same store answer identically; with the
#       first one down get-key fails over to the second
#   (e) a store holding a 0644 key file is refused (list and serve)
#   (f) 20 members at once all get the envelope; a member that sends bytes
#       that are no request, or nothing for `timeout`, is closed unanswered
. "$(dirname "$0")/../integration/lib.sh"
require_lib
require_no_system_policy
unset POLICY

STORE=$T/store
mkdir -m 700 "$STORE"
now=$(date +%s)
RK1=$("$SECSOCK" kds root-key create --store "$STORE" --effective $((now - 200))) || bail "root-key create 1"
RK2=$("$SECSOCK" kds root-key create --store "$STORE" --effective $((now - 100))) || bail "root-key create 2"
"$SECSOCK" kds root-key create --store "$STORE" --effective $((now + 86400)) >/dev/null || bail "root-key create 3"
"$SECSOCK" kds root-key list --store "$STORE" >"$T/list.out" 2>&1
assert_count "$RK1|$RK2" "$T/list.out" 2 "root-key list shows both keys"
assert_no_grep "key =" "$T/list.out" "root-key list never prints key bytes"
check "key files are 0600" test "$(stat -c %a "$STORE/$RK1.key")" = 600

SD=0100048030000000000000000000000014000000
for n in srv mem non; do
	XDG_CONFIG_HOME=$T/$n-cfg "$SECSOCK" keygen >"$T/k$n.out" 2>&1 || bail "keygen $n"
done
FPM=$(awk '{print $2}' "$T/kmem.out") FPN=$(awk '{print $2}' "$T/knon.out")
p1=$(free_port) p2=$(free_port)
# one known peer per address: the non-member connects from 127.0.0.2
printf '127.0.0.1 %s\n127.0.0.2 %s\n' "$FPM" "$FPN" >"$T/allowed"
chmod 600 "$T/allowed"
write_policy "$T/srv.conf" <<EOF
[rule kds]
direction = inbound
action    = require
auth      = host-key
known-peers = strict
known-peers-file = $T/allowed
EOF
write_policy "$T/cli.conf" <<EOF
[rule kds]
direction = outbound
action    = require
auth      = host-key
EOF
kds_conf() {   # FILE PORT
	cat >"$1" <<EOF
[kds]
listen = 127.0.0.1:$2
store = $STORE
domain = example.test
timeout = 1

[group db]
sd = $SD
members = $FPM
EOF
}
kds_conf "$T/kds1.ini" "$p1"
kds_conf "$T/kds2.ini" "$p2"
start_kds() {   # N PORT
	XDG_CONFIG_HOME=$T/srv-cfg POLICY=$T/srv.conf start_bg "kds$1" preload "$T/kds$1.log" \
		"$SECSOCK" kds serve --config "$T/kds$1.ini"
	eval "KDS$1=$BG_PID"
	wait_listen "$2" 10 "$BG_PID" || bail "kds $1 did not listen" "$T/kds$1.err" "$T/kds$1.log"
}
start_kds 1 "$p1"
start_kds 2 "$p2"
get() {   # WHO NAME ARGS...: get-key under the preload as WHO
	local who=$1 name=$2
	shift 2
	XDG_CONFIG_HOME=$T/$who-cfg POLICY=$T/cli.conf preload "$T/$name.log" \
		"$SECSOCK" kds get-key "$@" >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
}
jf() { "$PY" -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(json.dumps(v) if not isinstance(v,str) else v)' "$@"; }

# ---------------------------------------------------------------- (a) member
get mem a1 --server "127.0.0.1:$p1" --group db
assert_eq "$(cat "$T/a1.rc")" 0 "(a) a member gets an envelope" "$T/a1.err" "$T/kds1.err" "$T/kds1.log"
assert_eq "$(jf "$T/a1.out" root_key_id)" "$RK2" "(a) the latest effective root key (not the future one)" "$T/a1.out"
assert_grep "peer=$(printf '%s' "$FPM" | sed 's/[+]/\\+/g') auth=host-key group=db .*status=ok" "$T/kds1.err" "(a) the KDS logs the member's fingerprint"
gk=$("$SECSOCK" gkdi gkid --unix "$(date +%s)")
rk=$(sed -n 's/^key = //p' "$STORE/$RK1.key")
get mem a2 --server "127.0.0.1:$p1" --group db --root-key-id "$RK1" --gkid "$gk"
"$SECSOCK" gkdi get-key --root-key-id "$RK1" --root-key "$rk" --sd "$SD" --requested "$gk" --now "$gk" >"$T/a2.want" 2>&1
for f in l1_key l2_key; do
	assert_eq "$(jf "$T/a2.out" $f)" "$(jf "$T/a2.want" $f)" "(a) $f equals secsock gkdi get-key" "$T/a2.out" "$T/a2.want" "$T/a2.err"
done
assert_eq "$(jf "$T/a2.out" root_key_id)" "$RK1" "(a) a named root key is used"
get mem a3 --server "127.0.0.1:$p1" --group db --gkid "$((${gk%%,*} + 1)),0,0"
assert_grep "too-new" "$T/a3.err" "(a) a GKID after now: too-new"
get mem a4 --server "127.0.0.1:$p1" --group nosuch
assert_grep "unknown-group" "$T/a4.err" "(a) unknown group"

# ---------------------------------------------------------------- (b) non-member
get non b1 --server "127.0.0.1:$p1" --group db --source 127.0.0.2
assert_eq "$(cat "$T/b1.rc")" 1 "(b) a non-member: exit 1" "$T/b1.err"
assert_grep "not-member" "$T/b1.err" "(b) a non-member gets not-member" "$T/b1.out"
check "(b) no envelope for a non-member" test ! -s "$T/b1.out"

# ---------------------------------------------------------------- (c) unsecured
plain "$SECSOCK" kds get-key --server "127.0.0.1:$p1" --group db >"$T/c1.out" 2>"$T/c1.err"
assert_eq "$?" 1 "(c) a client without the preload: exit 1" "$T/c1.err"
check "(c) ... and no envelope" test ! -s "$T/c1.out"
plain "$SECSOCK" kds serve --config "$T/kds1.ini" >"$T/c2.out" 2>"$T/c2.err"
assert_eq "$?" 1 "(c) serve without the preload refuses" "$T/c2.err"
assert_grep "not running under the secsock preload" "$T/c2.err" "(c) ... and says why"

# ---------------------------------------------------------------- (d) two instances, fail-over
get mem d1 --server "127.0.0.1:$p2" --group db
assert_same_file "$T/a1.out" "$T/d1.out" "(d) the second KDS answers identically"
stop_pid "$KDS1"
get mem d2 --server "127.0.0.1:$p1,127.0.0.1:$p2" --group db
assert_eq "$(cat "$T/d2.rc")" 0 "(d) first KDS down: get-key fails over" "$T/d2.err"
assert_same_file "$T/a1.out" "$T/d2.out" "(d) ... to the same answer"
assert_grep "127.0.0.1:$p1: no answer, trying the next server" "$T/d2.err" "(d) ... and says so"

# ---------------------------------------------------------------- (e) loose store
cp -a "$STORE" "$T/loose"
chmod 644 "$T/loose/$RK1.key"
"$SECSOCK" kds root-key list --store "$T/loose" >"$T/e1.out" 2>"$T/e1.err"
assert_eq "$?" 1 "(e) a 0644 key file: list refuses" "$T/e1.err"
assert_grep "mode 0600" "$T/e1.err" "(e) ... and says why"
sed "s|^store = .*|store = $T/loose|" "$T/kds1.ini" >"$T/kds3.ini"
XDG_CONFIG_HOME=$T/srv-cfg POLICY=$T/srv.conf preload "$T/kds3.log" "$SECSOCK" kds serve --config "$T/kds3.ini" >"$T/e2.out" 2>"$T/e2.err"
assert_eq "$?" 1 "(e) serve refuses a store with a 0644 key file" "$T/e2.err"
chmod 775 "$T/loose"; chmod 600 "$T/loose/$RK1.key"
"$SECSOCK" kds root-key list --store "$T/loose" >"$T/e3.out" 2>"$T/e3.err"
assert_eq "$?" 1 "(e) a group/other-writable store dir is refused" "$T/e3.err"
# ---------------------------------------------------------------- (f) many clients, bad clients
fpids=()
for i in $(seq 20); do get mem "f$i" --server "127.0.0.1:$p2" --group db & fpids+=($!); done
wait "${fpids[@]}"   # not a bare wait: the KDS servers are children too
ok=0
for i in $(seq 20); do cmp -s "$T/a1.out" "$T/f$i.out" && ok=$((ok + 1)); done
assert_eq "$ok" 20 "(f) 20 members at once: 20 identical envelopes" "$T/f1.err" "$T/kds2.err"
raw() {   # NAME BYTES-AS-PYTHON-LITERAL: a member's raw client; prints what it read
	XDG_CONFIG_HOME=$T/mem-cfg POLICY=$T/cli.conf preload "$T/$1.log" "$PY" -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
if sys.argv[2]:
    s.sendall(eval(sys.argv[2]))
t = time.time()
try:
    d = s.recv(100)
except OSError:
    d = b"?"
print(len(d), round(time.time() - t))' "$p2" "$2" >"$T/$1.out" 2>&1
}
raw g1 'b"GET / HTTP/1.0\r\n\r\n"'
assert_eq "$(cut -d' ' -f1 "$T/g1.out")" 0 "(f) a member sending no request is closed, no answer" "$T/g1.out" "$T/g1.log"
assert_grep "closed: not a KDS request" "$T/kds2.err" "(f) ... and the KDS says why"
raw g2 ''
assert_eq "$(cat "$T/g2.out")" "0 1" "(f) an idle member is closed after timeout (1 s)" "$T/g2.out"
assert_grep "closed: idle timeout" "$T/kds2.err" "(f) ... logged"
expect_usage() { "$SECSOCK" kds "$@" >/dev/null 2>&1; echo $?; }
assert_eq "$(expect_usage get-key --group db)" 2 "usage: get-key without --server exits 2"
assert_eq "$(expect_usage frob)" 2 "usage: unknown subcommand exits 2"
assert_eq "$(expect_usage serve --help)" 0 "serve --help exits 0"
finish
