#!/usr/bin/env bash
# 87-group-kds.sh — issue 15 must-show 2: auth = group:NAME with keys from a
# key distribution service (group-kds), end to end on loopback.  Two
# members with their own host keys (A, the client, reaches the KDS over
# 127.0.0.1; B, the server, over ::1: the KDS pins one host key per client
# address), a non-member N, and KDS instances on one root-key store.  The
# members' and the KDS's clocks are the test-hooks clock
# (SECSOCK_TEST_CLOCK_OFFSET: the hooked library and the hooked `secsock`).
#   (a) KDS up: A and B connect secured, auth=group:db gkid=... in both
#       logs; both got their keys from the KDS (its log: status=ok) and keep
#       them in a 0600 cache file (~/.cache/secsock/gkdi-db.cache)
#   (b) a non-member: the KDS answers not-member, its connection is refused;
#       a KDS that does not prove the pinned identity is never used
#   (c) every KDS stopped: new member processes keep connecting from the
#       cache file
#   (d) ... 5 L2 periods later, still no KDS: both ends fall back to the
#       cached current key (MS-GKDI 3.2.4.1, at most 32 periods), secured
#       with the old GKID; 33 periods later: refused
#   (e) a cache file others can read is not used
#   (f) two KDS instances, the first down: a member with an empty cache
#       fails over to the second
#   (g) an L2 boundary crossed while a connection runs (KDS clock moved
#       too): it keeps running, and a new connection after it is secured
#   (h) policy check: group-kds without group-kds-identity, two key
#       sources, a name instead of an address: refused with the reason
#   (i) an event-loop (asyncio) member server fetches its keys inside a
#       handshake run by the engine thread
. "$(dirname "$0")/lib.sh"
require_lib
require_no_system_policy
unset POLICY
ECHO=$REPO/tests/tools/echo_peer.py
LE=$REPO/tests/tools/line_echo.py
HOOKED=$BUILD/testhooks/libsecsock.so
HSECSOCK=$BUILD/testhooks/secsock
[ -f "$HOOKED" ] && [ -x "$HSECSOCK" ] || bail "the test-hooks build is missing (make all builds it)"
python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null ||
	bail "no IPv6 loopback (::1): member B reaches the KDS over it"

STORE=$T/store
mkdir -m 700 "$STORE"
RK=$("$SECSOCK" kds root-key create --store "$STORE" --effective $(( $(date +%s) - 86400 ))) || bail "root-key create"
for n in kds A B N; do
	XDG_CONFIG_HOME=$T/$n-cfg "$SECSOCK" keygen >"$T/k$n.out" 2>&1 || bail "keygen $n"
	eval "FP$n=\$(awk '{print \$2}' \"\$T/k$n.out\")"
done
# the built-in SD of group-sd (docs/policy.md): members name none
SD_DEFAULT=010004803000000000000000000000001400000002001c0001000000000014009f011200010100000000000509000000010100000000000512000000
port=$(free_port) p1=$(free_port) p2=$(free_port) p3=$(free_port)

# ---------------------------------------------------------------- the KDS side
printf '127.0.0.1 %s\n::1 %s\n' "$FPA" "$FPB" >"$T/kds-peers"
printf '127.0.0.1 %s\n' "$FPN" >"$T/kds3-peers"
chmod 600 "$T/kds-peers" "$T/kds3-peers"
for i in 1 2 3; do
	peers=$T/kds-peers
	[ $i = 3 ] && peers=$T/kds3-peers
	write_policy "$T/kds$i.conf" <<EOF
[rule kds]
direction = inbound
action    = require
auth      = host-key
known-peers = strict
known-peers-file = $peers
EOF
	eval "kp=\$p$i"
	cat >"$T/kds$i.ini" <<EOF
[kds]
listen = 127.0.0.1:$kp, [::1]:$kp
store = $STORE
domain = example.test
timeout = 2

[group db]
sd      = $SD_DEFAULT
members = $FPA, $FPB
EOF
done
start_kds() {   # N [OFFSET]
	local kp
	eval "kp=\$p$1"
	SO=$HOOKED SECSOCK_TEST_CLOCK_OFFSET=${2:-0} XDG_CONFIG_HOME=$T/kds-cfg POLICY=$T/kds$1.conf \
		start_bg "kds$1" preload "$T/kds$1.log" "$HSECSOCK" kds serve --config "$T/kds$1.ini"
	eval "KDS$1=$BG_PID"
	wait_listen "$kp" 10 "$BG_PID" || bail "kds $1 did not listen" "$T/kds$1.err" "$T/kds$1.log"
}

# ---------------------------------------------------------------- the members
member_policy() {   # FILE DIRECTION KDS-HOST KDS-LIST [IDENTITY]
	write_policy "$1" <<EOF
[rule kds]
direction = outbound
port      = $p1, $p2, $p3
action    = require
auth      = host-key

[rule db]
direction = $2
port      = $port
action    = require
auth      = group:db
group-kds = $4
group-kds-identity = ${5:-$FPkds}
EOF
}
kl() { local h=$1 out="" p; shift; for p in "$@"; do out="$out${out:+, }$h:$p"; done; echo "$out"; }
member_policy "$T/A.conf" outbound 127.0.0.1 "$(kl 127.0.0.1 "$p1" "$p2")"
member_policy "$T/B.conf" inbound ::1 "$(kl '[::1]' "$p1" "$p2")"
member_policy "$T/N.conf" outbound 127.0.0.1 "$(kl 127.0.0.1 "$p3")"
CACHE_A=$T/A-cache CACHE_B=$T/B-cache
start_B() {   # [OFFSET]
	! is_listening "$port" || bail "port $port is still taken"
	: >"$T/B.log"
	SO=$HOOKED SECSOCK_TEST_CLOCK_OFFSET=${1:-0} XDG_CONFIG_HOME=$T/B-cfg XDG_CACHE_HOME=$CACHE_B POLICY=$T/B.conf \
		start_bg B preload "$T/B.log" "$PY" "$ECHO" server "$port" "$T/B.got"
	B_PID=$BG_PID
	wait_listen "$port" 10 "$B_PID" || bail "member B did not listen" "$T/B.err" "$T/B.log"
}
client() {   # WHO NAME MARKER [OFFSET]
	local cache=$CACHE_A
	[ "$1" = N ] && cache=$T/N-cache
	SO=$HOOKED SECSOCK_TEST_CLOCK_OFFSET=${4:-0} XDG_CONFIG_HOME=$T/$1-cfg XDG_CACHE_HOME=$cache POLICY=$T/$1.conf \
		preload "$T/$2.log" "$PY" "$ECHO" client "$port" "$3" >"$T/$2.out" 2>&1
}
gkid_of() { grep -o 'gkid=[0-9,]*' "$1" | head -1; }

# ---------------------------------------------------------------- (a) members
start_kds 1
start_kds 2
start_kds 3
start_B
client A a "M-a-$$"
assert_grep "^reply: echo:M-a-$$" "$T/a.out" "(a) two members, keys from the KDS: the exchange works" \
	"$T/a.out" "$T/a.log" "$T/B.log" "$T/kds1.err" "$T/kds1.log"
assert_grep "secured outbound .*rule=db .*auth=group:db gkid=[0-9]+,[0-9]+,[0-9]+ peer=group:db" "$T/a.log" \
	"(a) A's log: auth=group:db gkid=..." "$T/a.log"
wait_grep 'secured inbound .*rule=db' "$T/B.log" 5
assert_grep "secured inbound .*rule=db .*auth=group:db gkid=" "$T/B.log" "(a) B's log: auth=group:db gkid=..." "$T/B.log"
GK=$(gkid_of "$T/a.log")
assert_eq "$(gkid_of "$T/B.log")" "$GK" "(a) both ends name the same GKID"
assert_eq "$GK" "gkid=$("$SECSOCK" gkdi gkid --unix $(( $(date +%s) - 300 )))" "(a) the GKID of now - 300 s"
fa=$(printf '%s' "$FPA" | sed 's/[+]/\\+/g') fb=$(printf '%s' "$FPB" | sed 's/[+]/\\+/g')
assert_grep "peer=$fa auth=host-key group=db .*status=ok" "$T/kds1.err" "(a) the KDS served A (its host key)" "$T/kds1.err"
assert_grep "peer=$fb auth=host-key group=db .*status=ok" "$T/kds1.err" "(a) the KDS served B (its host key)" "$T/kds1.err"
assert_grep "secured outbound .*rule=kds .*auth=host-key" "$T/a.log" "(a) A reached the KDS on a host-key connection" "$T/a.log"
for w in A B; do
	eval "c=\$CACHE_$w"
	check "(a) $w's cache file is 0600" test "$(stat -c %a "$c/secsock/gkdi-db.cache" 2>/dev/null)" = 600
	check "(a) $w's cache directory is 0700" test "$(stat -c %a "$c/secsock" 2>/dev/null)" = 700
done
check "(a) no root key in a member's cache" sh -c "! grep -qi '$(sed -n 's/^key = //p' "$STORE/$RK.key")' '$CACHE_A/secsock/gkdi-db.cache'"
# a second connection of a new process: from the cache, no new request
n1=$(grep -c 'status=ok' "$T/kds1.err")
client A a2 "M-a2-$$"
assert_grep "^reply: echo:M-a2-$$" "$T/a2.out" "(a) a new client process: secured" "$T/a2.out" "$T/a2.log"
assert_eq "$(grep -c 'status=ok' "$T/kds1.err")" "$n1" "(a) ... from its cache file, asking the KDS nothing"

# ---------------------------------------------------------------- (b) non-member
: >"$T/B.log"
client N b1 "M-b1-$$"
assert_no_grep '^reply: echo:' "$T/b1.out" "(b) a non-member: no exchange" "$T/b1.out" "$T/b1.log"
fn=$(printf '%s' "$FPN" | sed 's/[+]/\\+/g')
assert_grep "peer=$fn auth=host-key group=db .*status=not-member" "$T/kds3.err" "(b) the KDS answered not-member" "$T/kds3.err"
assert_grep "refused outbound .*rule=db" "$T/b1.log" "(b) its connection is refused at its end" "$T/b1.log"
assert_no_grep "secured outbound .*rule=db" "$T/b1.log" "(b) ... never secured"
check "(b) its bytes never reached B" sh -c "! grep -q 'M-b1-$$' '$T/B.got'"
# A, pointed at a KDS whose host key is not the pinned one, uses none of it
member_policy "$T/A-bad.conf" outbound 127.0.0.1 "$(kl 127.0.0.1 "$p1")" "$FPN"
SO=$HOOKED XDG_CONFIG_HOME=$T/A-cfg XDG_CACHE_HOME=$T/A-bad-cache POLICY=$T/A-bad.conf \
	preload "$T/b2.log" "$PY" "$ECHO" client "$port" "M-b2-$$" >"$T/b2.out" 2>&1
assert_no_grep '^reply: echo:' "$T/b2.out" "(b) a KDS that does not prove group-kds-identity: no exchange" "$T/b2.out" "$T/b2.log"
assert_grep "group key service 1 .*not in group-kds-identity" "$T/b2.log" "(b) ... and the log says why" "$T/b2.log"

# ---------------------------------------------------------------- (c) KDS down
stop_pid "$KDS1"; stop_pid "$KDS2"; stop_pid "$KDS3"
stop_pid "$B_PID"
start_B
client A c1 "M-c1-$$"
assert_grep "^reply: echo:M-c1-$$" "$T/c1.out" "(c) every KDS stopped: new member processes connect from their caches" \
	"$T/c1.out" "$T/c1.log" "$T/B.log"
assert_eq "$(gkid_of "$T/c1.log")" "$GK" "(c) ... with the same GKID"
stop_pid "$B_PID"

# ---------------------------------------------------------------- (d) the fallback
# 5 L2 periods (50 h) later, both clocks: the members cannot ask for the
# new period and offer / accept the cached current key
O5=$(( 5 * 36000 ))
start_B "$O5"
client A d1 "M-d1-$$" "$O5"
assert_grep "^reply: echo:M-d1-$$" "$T/d1.out" "(d) 5 L2 periods later, no KDS: secured from the cached current key" \
	"$T/d1.out" "$T/d1.log" "$T/B.log"
assert_eq "$(gkid_of "$T/d1.log")" "$GK" "(d) ... the cached GKID, 5 periods old"
assert_grep "group key service 1 .*connect" "$T/d1.log" "(d) ... after trying the KDS list" "$T/d1.log"
stop_pid "$B_PID"
O33=$(( 33 * 36000 ))
start_B "$O33"
client A d2 "M-d2-$$" "$O33"
assert_no_grep '^reply: echo:' "$T/d2.out" "(d) 33 L2 periods later: refused" "$T/d2.out" "$T/d2.log"
assert_grep "refused outbound .*rule=db" "$T/d2.log" "(d) ... at the client" "$T/d2.log"
stop_pid "$B_PID"

# ---------------------------------------------------------------- (e) cache file mode
start_B
chmod 644 "$CACHE_A/secsock/gkdi-db.cache"
client A e1 "M-e1-$$"
assert_no_grep '^reply: echo:' "$T/e1.out" "(e) a cache file others can read is not used (no KDS: refused)" "$T/e1.out" "$T/e1.log"
chmod 600 "$CACHE_A/secsock/gkdi-db.cache"
client A e2 "M-e2-$$"
assert_grep "^reply: echo:M-e2-$$" "$T/e2.out" "(e) the same file at 0600: used" "$T/e2.out" "$T/e2.log"
stop_pid "$B_PID"

# ---------------------------------------------------------------- (f) fail-over
start_kds 2
CACHE_A=$T/A-cache2 CACHE_B=$T/B-cache2
start_B
client A f1 "M-f1-$$"
assert_grep "^reply: echo:M-f1-$$" "$T/f1.out" "(f) the first KDS down, empty caches: secured" "$T/f1.out" "$T/f1.log" "$T/B.log" "$T/kds2.err"
assert_grep "group key service 1 .*trying the next" "$T/f1.log" "(f) A tried the first KDS, then the next" "$T/f1.log"
assert_grep "peer=$fa auth=host-key group=db .*status=ok" "$T/kds2.err" "(f) the second KDS served A" "$T/kds2.err"
assert_grep "peer=$fb auth=host-key group=db .*status=ok" "$T/kds2.err" "(f) ... and B" "$T/kds2.err"
stop_pid "$B_PID"
stop_pid "$KDS2"

# ---------------------------------------------------------------- (g) an L2 boundary
# Every clock 3 s before an L2 boundary (boundaries fall where unix +
# 11644473600 is a multiple of 36000 s), caches empty.
now=$(date +%s)
O=$(( 36000 - (now + 11644473600) % 36000 - 3 ))
start_kds 1 "$O"
CACHE_A=$T/A-cache3 CACHE_B=$T/B-cache3
: >"$T/B.log"
SO=$HOOKED SECSOCK_TEST_CLOCK_OFFSET=$O XDG_CONFIG_HOME=$T/B-cfg XDG_CACHE_HOME=$CACHE_B POLICY=$T/B.conf \
	start_bg lsrv preload "$T/B.log" "$PY" "$LE" server "$port"
LSRV=$BG_PID
wait_listen "$port" 10 "$LSRV" || bail "line server did not listen" "$T/lsrv.err"
lclient() {   # NAME N GAP
	SO=$HOOKED SECSOCK_TEST_CLOCK_OFFSET=$O XDG_CONFIG_HOME=$T/A-cfg XDG_CACHE_HOME=$CACHE_A POLICY=$T/A.conf \
		preload "$T/$1.log" "$PY" "$LE" client "$port" "$2" "$3" >"$T/$1.out" 2>&1
}
lclient g1 12 0.5
assert_count '^reply: line-' "$T/g1.out" 12 "(g) a connection made 3 s before an L2 boundary runs 6 s across it: 12 of 12" \
	"$T/g1.out" "$T/g1.log" "$T/B.log" "$T/kds1.err"
assert_grep 'secured outbound .*rule=db .*auth=group:db' "$T/g1.log" "(g) it was secured with the group key"
lclient g2 1 0
assert_grep '^reply: line-0' "$T/g2.out" "(g) a new connection after the boundary: secured" "$T/g2.out" "$T/g2.log" "$T/B.log"
stop_pid "$LSRV"
stop_pid "$KDS1"

# ---------------------------------------------------------------- (i) an event-loop server
# An asyncio server (non-blocking sockets: the handshake, and so the KDS
# request, runs on the library's engine thread) with an empty cache.
start_kds 1
CACHE_A=$T/A-cache4
cat >"$T/aecho.py" <<'EOF'
import asyncio, sys
async def serve(r, w):
    d = await r.read(4096)
    w.write(b"echo:" + d)
    await w.drain()
    w.close()
async def main():
    srv = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]))
    async with srv:
        await srv.serve_forever()
asyncio.run(main())
EOF
: >"$T/B.log"
SO=$HOOKED XDG_CONFIG_HOME=$T/B-cfg XDG_CACHE_HOME=$T/B-cache4 POLICY=$T/B.conf \
	start_bg aecho preload "$T/B.log" "$PY" "$T/aecho.py" "$port"
AECHO=$BG_PID
wait_listen "$port" 10 "$AECHO" || bail "asyncio server did not listen" "$T/aecho.err"
client A i1 "M-i1-$$"
assert_grep "^reply: echo:M-i1-$$" "$T/i1.out" "(i) an asyncio member server, keys fetched during its handshake: secured" \
	"$T/i1.out" "$T/i1.log" "$T/B.log" "$T/aecho.err"
assert_grep "secured outbound .*rule=kds" "$T/B.log" "(i) ... it asked the KDS" "$T/B.log"
assert_grep "secured inbound .*rule=db .*auth=group:db" "$T/B.log" "(i) ... and secured the client" "$T/B.log"
stop_pid "$AECHO"
stop_pid "$KDS1"

# ---------------------------------------------------------------- (h) policy check
pc() {   # NAME EXTRA-LINES: policy check of a group rule with those lines
	write_policy "$T/$1.conf" <<EOF
[rule r]
direction = outbound
port      = $port
action    = require
auth      = group:db
$2
EOF
	"$SECSOCK" policy check "$T/$1.conf" >"$T/$1.out" 2>&1
	echo $? >"$T/$1.rc"
}
pc h1 "group-kds = 127.0.0.1:$p1"
check "(h) group-kds without group-kds-identity: refused" [ "$(cat "$T/h1.rc")" != 0 ]
assert_grep "group-kds needs group-kds-identity" "$T/h1.out" "(h) ... and says why" "$T/h1.out"
printf 'x SHA512 y\n' >"$T/rk"; chmod 600 "$T/rk"
pc h2 "group-kds = 127.0.0.1:$p1
group-kds-identity = $FPkds
group-root-key-file = $T/rk"
check "(h) two key sources: refused" [ "$(cat "$T/h2.rc")" != 0 ]
assert_grep "two key sources" "$T/h2.out" "(h) ... and says why" "$T/h2.out"
pc h3 "group-kds = kds.example:$p1
group-kds-identity = $FPkds"
check "(h) a host name in group-kds: refused" [ "$(cat "$T/h3.rc")" != 0 ]
assert_grep "numeric addresses" "$T/h3.out" "(h) ... and says what is expected" "$T/h3.out"
pc h4 "group-kds = 127.0.0.1:$p1
group-kds-identity = SHA256:short"
check "(h) a malformed identity: refused" [ "$(cat "$T/h4.rc")" != 0 ]
"$SECSOCK" policy check "$T/A.conf" >"$T/h5.out" 2>&1
assert_eq "$?" 0 "(h) a member's policy passes" "$T/h5.out"
finish
