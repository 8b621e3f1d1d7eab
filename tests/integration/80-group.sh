#!/usr/bin/env bash
# 80-group.sh — issue 15 "auth = group:NAME", standalone key source
# (group-root-key-file on every member), part of must-show 2.  Each end has
# its own host key and XDG_CONFIG_HOME under the test's directory.
#   (a) two members with auth = group:db connect secured: auth=group:db and
#       the same gkid in both logs.
#   (b) a non-member (no root-key file) with "group:db, anonymous" is refused
#       at its own end (never secured anonymously); one offering anonymous
#       only is refused by the member server (group required).
#   (c) a host with another group's root key is refused at both ends.
#   (d) a root-key file readable by others is refused (0600 or nothing).
#   (e) the clock (SECSOCK_TEST_CLOCK_OFFSET, the test-hooks build): a
#       client one L2 period (10 h) behind the server is accepted, two
#       periods behind and one ahead are refused.
#   (f) policy check: group:db without group-root-key-file is an error.
#   (g) group-sd: members must name the same security descriptor.
#   (h) an L2 boundary crossed while a connection runs keeps it running,
#       and a new connection right after the boundary is secured.
. "$(dirname "$0")/lib.sh"
require_lib
require_no_system_policy
unset POLICY
ECHO=$REPO/tests/tools/echo_peer.py
HOOKED=$BUILD/testhooks/libsecsock.so
[ -f "$HOOKED" ] || bail "$HOOKED is missing (make all builds it)"

port=$(free_port)
mkkey() { printf '# group root key\n%s SHA512 %s\n' "$(cat /proc/sys/kernel/random/uuid)" "$(openssl rand -hex 64)" >"$1"; chmod 600 "$1"; }
mkkey "$T/db.key"
mkkey "$T/other.key"
cp "$T/db.key" "$T/db-cli.key"   # the client member's own copy
chmod 600 "$T/db-cli.key"

policy() {   # FILE DIRECTION ACTION AUTH [KEYFILE [EXTRA-LINE]]
	write_policy "$1" <<EOF
[rule r]
direction = $2
port      = $port
action    = $3
auth      = $4
${5:+group-root-key-file = $5}
${6:-}
EOF
}
start_server() {   # [OFFSET]
	! is_listening "$port" || bail "port $port is still taken"
	: >"$T/srv.log"
	SO=$HOOKED SECSOCK_TEST_CLOCK_OFFSET=${1:-0} POLICY=$T/srv.conf start_bg srv preload "$T/srv.log" \
		"$PY" "$ECHO" server "$port" "$T/srv.got"
	SRV_PID=$BG_PID
	wait_listen "$port" 10 "$SRV_PID" || bail "server did not listen" "$T/srv.err" "$T/srv.log"
}
client() {   # NAME MARKER [OFFSET]
	SO=$HOOKED SECSOCK_TEST_CLOCK_OFFSET=${3:-0} POLICY=$T/cli.conf preload "$T/$1.log" \
		"$PY" "$ECHO" client "$port" "$2" >"$T/$1.out" 2>&1
}

# ---------------------------------------------------------------- (a) members
policy "$T/srv.conf" inbound require group:db "$T/db.key"
policy "$T/cli.conf" outbound require group:db "$T/db-cli.key"
start_server
client a "M-a-$$"
assert_grep "^reply: echo:M-a-$$" "$T/a.out" "(a) two members: the exchange works" "$T/a.out" "$T/a.log" "$T/srv.log"
assert_grep "secured outbound .*auth=group:db gkid=[0-9]+,[0-9]+,[0-9]+ peer=group:db" "$T/a.log" "(a) client log: auth=group:db gkid=L0,L1,L2" "$T/a.log"
wait_grep 'secured inbound' "$T/srv.log" 5
assert_grep "secured inbound .*auth=group:db gkid=[0-9]+,[0-9]+,[0-9]+ " "$T/srv.log" "(a) server log: auth=group:db gkid=L0,L1,L2" "$T/srv.log"
gc=$(grep -o 'gkid=[0-9,]*' "$T/a.log" | head -1) gs=$(grep -o 'gkid=[0-9,]*' "$T/srv.log" | head -1)
assert_eq "$gc" "$gs" "(a) both ends name the same GKID"
want=$("$SECSOCK" gkdi gkid --unix $(( $(date +%s) - 300 )) 2>/dev/null)
assert_eq "$gc" "gkid=$want" "(a) the GKID is that of now - 300 s (secsock gkdi gkid)"

# one process, three connections: resumption (session-lifetime, on by
# default) would resume the 2nd and 3rd; group sessions never are
SO=$HOOKED POLICY=$T/cli.conf preload "$T/a2.log" "$PY" "$ECHO" client "$port" "M-a2-$$" 3 >"$T/a2.out" 2>&1
assert_count "^reply: echo:M-a2-$$" "$T/a2.out" 3 "(a) one process, three connections: all work" "$T/a2.out" "$T/a2.log"
assert_count "secured outbound .*auth=group:db gkid=" "$T/a2.log" 3 "(a) each proves the group key" "$T/a2.log"
assert_no_grep 'resumed=yes' "$T/a2.log" "(a) group sessions are not resumed (each proves the current key)"
SO=$HOOKED POLICY=$T/cli.conf preload "$T/a3.log" "$BUILD/tools/resume_client" "$port" 2 >"$T/a3.out" 2>&1
assert_count "^conn [01]: reply=echo:R-[01] resumed=0 auth=group peer=group:db expiry=[0-9]+ auth_group=db $gc\$" \
	"$T/a3.out" 2 "(a) secsock_query: auth group, auth_group db, the logged gkid, not resumed" "$T/a3.out" "$T/a3.log"
assert_no_grep 'resumed=yes' "$T/srv.log" "(a) nor at the server"

# ---------------------------------------------------------------- (b) non-members
policy "$T/cli.conf" outbound require "group:db, anonymous" "$T/missing.key"
client b1 "M-b1-$$"
assert_no_grep '^reply: echo:' "$T/b1.out" "(b) no root key, 'group:db, anonymous': no exchange" "$T/b1.out" "$T/b1.log"
assert_grep "refused.*group:db.*root-key file" "$T/b1.log" "(b) refused at its own end, naming the missing root key" "$T/b1.log"
assert_no_grep 'secured' "$T/b1.log" "(b) never secured anonymously"
: >"$T/srv.log"
policy "$T/cli.conf" outbound require anonymous
client b2 "M-b2-$$"
assert_no_grep '^reply: echo:' "$T/b2.out" "(b) an anonymous client: no exchange" "$T/b2.out" "$T/b2.log"
wait_grep 'refused inbound' "$T/srv.log" 5
assert_grep 'refused inbound' "$T/srv.log" "(b) the member server refused the anonymous client" "$T/srv.log"
check "(b) its bytes never reached the program" sh -c "! grep -q 'M-b2-$$' '$T/srv.got'"

# ---------------------------------------------------------------- (c) another group's key
: >"$T/srv.log"
policy "$T/cli.conf" outbound require group:db "$T/other.key"
client c "M-c-$$"
assert_no_grep '^reply: echo:' "$T/c.out" "(c) another root key for group db: no exchange" "$T/c.out" "$T/c.log"
assert_grep 'refused outbound' "$T/c.log" "(c) refused at the client" "$T/c.log"
wait_grep 'refused inbound' "$T/srv.log" 5
assert_grep 'refused inbound' "$T/srv.log" "(c) refused at the server" "$T/srv.log"

# ---------------------------------------------------------------- (d) file mode
cp "$T/db.key" "$T/open.key"; chmod 644 "$T/open.key"
policy "$T/cli.conf" outbound require group:db "$T/open.key"
client d "M-d-$$"
assert_no_grep '^reply: echo:' "$T/d.out" "(d) a root-key file readable by others: no exchange" "$T/d.out" "$T/d.log"
assert_grep "refused.*not 0600" "$T/d.log" "(d) refused with the reason" "$T/d.log"
stop_pid "$SRV_PID"

# ---------------------------------------------------------------- (e) the clock
# The server's clock is put in the middle of an L2 period (boundaries fall
# where unix + 11644473600 is a multiple of 36000 s).
now=$(date +%s)
S=$(( 18000 - (now + 11644473600) % 36000 ))
policy "$T/cli.conf" outbound require group:db "$T/db-cli.key"
start_server "$S"
client e1 "M-e1-$$" $(( S - 36000 ))
assert_grep "^reply: echo:M-e1-$$" "$T/e1.out" "(e) client one L2 period behind: accepted" "$T/e1.out" "$T/e1.log" "$T/srv.log"
client e2 "M-e2-$$" $(( S - 72000 ))
assert_no_grep '^reply: echo:' "$T/e2.out" "(e) client two L2 periods behind: refused" "$T/e2.out" "$T/e2.log"
client e3 "M-e3-$$" $(( S + 36000 ))
assert_no_grep '^reply: echo:' "$T/e3.out" "(e) client one L2 period ahead (a future key): refused" "$T/e3.out" "$T/e3.log"
client e4 "M-e4-$$" $(( S + 240 ))
assert_grep "^reply: echo:M-e4-$$" "$T/e4.out" "(e) client 4 minutes ahead, same period: accepted" "$T/e4.out" "$T/e4.log"
stop_pid "$SRV_PID"

# ---------------------------------------------------------------- (h) a boundary crossed
# Both clocks 3 s before an L2 boundary: a connection made then keeps
# running across it, and a new one after it is secured too (the client
# still offers the period before, which the server now takes as previous).
LE=$REPO/tests/tools/line_echo.py
now=$(date +%s)
O=$(( 36000 - (now + 11644473600) % 36000 - 3 ))
: >"$T/srv.log"
SO=$HOOKED SECSOCK_TEST_CLOCK_OFFSET=$O POLICY=$T/srv.conf start_bg lsrv preload "$T/srv.log" "$PY" "$LE" server "$port"
LSRV=$BG_PID
wait_listen "$port" 10 "$LSRV" || bail "line server did not listen" "$T/lsrv.err"
SO=$HOOKED SECSOCK_TEST_CLOCK_OFFSET=$O POLICY=$T/cli.conf preload "$T/h1.log" "$PY" "$LE" client "$port" 12 0.5 >"$T/h1.out" 2>&1
assert_count '^reply: line-' "$T/h1.out" 12 "(h) a connection made 3 s before an L2 boundary runs 6 s across it: 12 of 12 echoes" "$T/h1.out" "$T/h1.log" "$T/srv.log"
assert_grep 'secured outbound .*auth=group:db' "$T/h1.log" "(h) it was secured with the group key"
SO=$HOOKED SECSOCK_TEST_CLOCK_OFFSET=$O POLICY=$T/cli.conf preload "$T/h2.log" "$PY" "$LE" client "$port" 1 0 >"$T/h2.out" 2>&1
assert_grep '^reply: line-0' "$T/h2.out" "(h) a new connection after the boundary: secured" "$T/h2.out" "$T/h2.log" "$T/srv.log"
g1=$(grep -o 'gkid=[0-9,]*' "$T/srv.log" | sed -n 1p) g2=$(grep -o 'gkid=[0-9,]*' "$T/srv.log" | sed -n 2p)
assert_eq "$g2" "$g1" "(h) with the same GKID, now the server's previous period"
stop_pid "$LSRV"

# ---------------------------------------------------------------- (g) group-sd
# The security descriptor enters the L1 derivation (MS-GKDI 3.1.4.1.2):
# members must name the same one.  (The built-in gMSA SD with S-1-5-11 for
# S-1-5-9 in its ACE.)
SD=010004803000000000000000000000001400000002001c0001000000000014009f01120001010000000000050b000000010100000000000512000000
policy "$T/srv.conf" inbound require group:db "$T/db.key" "group-sd = $SD"
start_server
client g1 "M-g1-$$"
assert_no_grep '^reply: echo:' "$T/g1.out" "(g) group-sd: server with another SD than the client's built-in one: refused" "$T/g1.out" "$T/g1.log"
policy "$T/cli.conf" outbound require group:db "$T/db-cli.key" "group-sd = $SD"
client g2 "M-g2-$$"
assert_grep "^reply: echo:M-g2-$$" "$T/g2.out" "(g) group-sd: the same SD at both ends: accepted" "$T/g2.out" "$T/g2.log" "$T/srv.log"
stop_pid "$SRV_PID"

# ---------------------------------------------------------------- (f) policy check
write_policy "$T/bad.conf" <<EOF
[rule r]
direction = outbound
port      = $port
action    = require
auth      = group:db
EOF
"$SECSOCK" policy check "$T/bad.conf" >"$T/f.out" 2>&1
check "(f) policy check refuses group:db without a key source" [ $? -ne 0 ]
assert_grep "group:db' needs a key source: group-kds .* or group-root-key-file" "$T/f.out" "(f) and says what is missing" "$T/f.out"
"$SECSOCK" policy check "$T/cli.conf" >"$T/f2.out" 2>&1
assert_eq "$?" 0 "(f) group:db with group-root-key-file passes policy check" "$T/f2.out"
finish
