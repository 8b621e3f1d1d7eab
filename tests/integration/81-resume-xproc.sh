#!/usr/bin/env bash
# 81-resume-xproc.sh — issue 14 must-show 1 (the clients' part): "two
# separate client processes resume from the shared cache; another user
# cannot read or use it" (preload/pre_resume_store.h, docs/design.md
# "Quick reconnects").
#   (i) a changed client policy (same rule, another setting) does not
#       resume an association made under the old one;
#   (h) a process of the same user with another XDG_CONFIG_HOME (another
#       credential source) is not resumed from this one's association;
#   (a) two client processes one after the other: the second is resumed
#       (log resumed=yes, secsock_query resumed=1); the store is
#       $XDG_RUNTIME_DIR/secsock/resume 0700 with a 0600 key file and one
#       entry whose name is 64 hex digits (no address or rule in it);
#   (b) XDG_RUNTIME_DIR unset: per process only, the second not resumed;
#   (c) a corrupt (garbage, then short) entry file, a damaged key file: a
#       full handshake and no error, the file replaced, the next process
#       resumed again;
#   (d) the resume dir made 0755: refused (debug says why), full handshakes;
#   (e) another user: cannot read our store, its own processes are not
#       resumed from ours, and pointed at our runtime dir its preload
#       refuses it (not its own) and does a full handshake;
#   (f) session-lifetime = 2s: an entry older than that, full handshake;
#   (g) bounded: with 70 entries stored a new one leaves 64, itself kept
#       (the oldest go).
. "$(dirname "$0")/lib.sh"
require_lib
require_tools resume_client
require_no_system_policy
unset POLICY
ECHO=$REPO/tests/tools/echo_peer.py
RC=$TOOLS/resume_client
RD=$XDG_RUNTIME_DIR/secsock/resume

pol() {   # FILE [LINES]: a require policy
	printf '[defaults]\naction = require\n%s\n' "${2:-}" >"$1"
	chmod 600 "$1"
}
port=$(free_port)
server() {   # POLICY
	: >"$T/srv.log"
	POLICY=$1 start_bg srv preload "$T/srv.log" "$PY" "$ECHO" server "$port"
	SRV=$BG_PID
	wait_listen "$port" 10 "$SRV" || bail "server did not listen" "$T/srv.err" "$T/srv.log"
}
client() {   # NAME POLICY: one connection from a new process
	POLICY=$2 preload "$T/$1.log" "$RC" "$port" 1 >"$T/$1.out" 2>"$T/$1.err"
}
res() { sed -n 's/^conn 0: reply=echo:R-0 resumed=\([01]\).*/\1/p' "$T/$1.out"; }
entries() { find "$RD" -maxdepth 1 -regextype posix-extended -regex '.*/[0-9a-f]{64}' | wc -l; }

# ---------------------------------------------------------------- (a)
pol "$T/a.conf"
server "$T/a.conf"
client a1 "$T/a.conf"
client a2 "$T/a.conf"
client a3 "$T/a.conf"
assert_eq "$(res a1)$(res a2)$(res a3)" 011 "(a) three processes: the first full, the next two resumed from the shared cache" \
	"$T/a1.out" "$T/a2.out" "$T/a2.log"
assert_grep 'secured outbound .* resumed=yes' "$T/a2.log" "(a) the second process's log: resumed=yes" "$T/a2.log"
assert_count 'secured inbound .* resumed=yes' "$T/srv.log" 2 "(a) the server: two resumed" "$T/srv.log"
assert_eq "$(stat -c %a "$RD")" 700 "(a) the store directory is 0700"
assert_eq "$(stat -c %a "$RD/key") $(stat -c %s "$RD/key")" "600 32" "(a) the key file: 0600, 32 bytes"
assert_eq "$(entries) $(find "$RD" -maxdepth 1 -type f | wc -l)" "1 2" "(a) one entry (a 64-hex name) beside the key, no temp left"
check "(a) the entry holds no address or port in clear" \
	bash -c "! grep -qa -e 127.0.0.1 -e defaults $RD/[0-9a-f]*"

# ---------------------------------------------------------------- (b)
(unset XDG_RUNTIME_DIR; client b1 "$T/a.conf"; client b2 "$T/a.conf")
assert_eq "$(res b1)$(res b2)" 00 "(b) XDG_RUNTIME_DIR unset: per process only, neither resumed" "$T/b1.out" "$T/b2.out"

# ---------------------------------------------------------------- (c)
E=$(find "$RD" -maxdepth 1 -regextype posix-extended -regex '.*/[0-9a-f]{64}' | head -1)
SZ=$(stat -c %s "$E")
head -c "$SZ" /dev/urandom >"$E"
SECSOCK_LOG=debug client c1 "$T/a.conf"
assert_eq "$(res c1)" 0 "(c) a garbage entry: a full handshake" "$T/c1.out" "$T/c1.log"
assert_grep 'resumption store: entry .* ignored' "$T/c1.log" "(c) ... the entry ignored (debug)" "$T/c1.log"
assert_no_grep 'ERROR|WARNING' "$T/c1.log" "(c) ... and no error" "$T/c1.log"
client c2 "$T/a.conf"
assert_eq "$(res c2)" 1 "(c) the entry replaced: the next process resumed" "$T/c2.out"
head -c 10 "$E" >"$E.t" && mv "$E.t" "$E"
client c3 "$T/a.conf"
client c4 "$T/a.conf"
assert_eq "$(res c3)$(res c4)" 01 "(c) a short (torn) entry: a full handshake, then resumed again" "$T/c3.out" "$T/c4.out"

head -c 5 /dev/urandom >"$RD/key.t" && chmod 600 "$RD/key.t" && mv "$RD/key.t" "$RD/key"
SECSOCK_LOG=debug client c5 "$T/a.conf"
client c6 "$T/a.conf"
assert_eq "$(res c5)$(res c6)" 01 "(c) a damaged key file: a full handshake (its entries lost), then resumed" "$T/c5.out" "$T/c5.log"
assert_eq "$(stat -c '%a %s' "$RD/key")" "600 32" "(c) ... the key file replaced" "$T/c5.log"
assert_no_grep 'ERROR|WARNING' "$T/c5.log" "(c) ... and no error" "$T/c5.log"

# ---------------------------------------------------------------- (d)
chmod 755 "$RD"
SECSOCK_LOG=debug client d1 "$T/a.conf"
client d2 "$T/a.conf"
assert_eq "$(res d1)$(res d2)" 00 "(d) resume dir 0755: refused, full handshakes" "$T/d1.out" "$T/d2.out"
assert_grep 'resumption store refused: .*0700' "$T/d1.log" "(d) ... the debug line says why" "$T/d1.log"
chmod 700 "$RD"

# ---------------------------------------------------------------- (e)
U=ss81u$$
useradd -M -s /bin/false "$U" >/dev/null 2>&1 || bail "useradd $U"
UD=$(mktemp -d /tmp/secsock-81u.XXXXXX)
_user_cleanup() { rm -rf "$UD"; userdel "$U" >/dev/null 2>&1; }
trap '_user_cleanup; _cleanup' EXIT
mkdir -m 700 "$UD/xdg"
cp "$T/a.conf" "$UD/a.conf"
chown -R "$U" "$UD"
chmod 700 "$UD"
chmod 711 "$T"   # only the store's own modes stand in the way now
ucli() {   # NAME XDG
	runuser -u "$U" -- env XDG_RUNTIME_DIR="$2" HOME="$UD" LD_PRELOAD="$SO" SECSOCK_LOG=debug \
		SECSOCK_LOG_RATE=0 SECSOCK_LOG_FILE="$UD/$1.log" SECSOCK_POLICY="$UD/a.conf" \
		timeout 30 "$RC" "$port" 1 >"$T/$1.out" 2>"$T/$1.err"
	cp "$UD/$1.log" "$T/$1.log" 2>/dev/null
}
check "(e) another user cannot list our store" bash -c "! runuser -u $U -- ls $RD >/dev/null 2>&1"
check "(e) ... nor read our key file" bash -c "! runuser -u $U -- cat $RD/key >/dev/null 2>&1"
ucli e1 "$UD/xdg"
assert_eq "$(res e1)" 0 "(e) another user's process: not resumed from ours (its own store is empty)" "$T/e1.out" "$T/e1.err"
ucli e2 "$XDG_RUNTIME_DIR"
assert_eq "$(res e2)" 0 "(e) another user pointed at our runtime dir: a full handshake" "$T/e2.out" "$T/e2.log"
assert_grep 'resumption store refused' "$T/e2.log" "(e) ... its preload refuses a dir not its own" "$T/e2.log"
ucli e3 "$UD/xdg"
assert_eq "$(res e3)" 1 "(e) ... while its own store resumes its own next process" "$T/e3.out" "$T/e3.log"
chmod 700 "$T"
client e4 "$T/a.conf"
assert_eq "$(res e4)" 1 "(e) and ours still resumes ours" "$T/e4.out"
stop_pid "$SRV"

# ---------------------------------------------------------------- (f)
pol "$T/f.conf" "session-lifetime = 2s"
server "$T/f.conf"
client f1 "$T/f.conf"
client f2 "$T/f.conf"
sleep 2.5
client f3 "$T/f.conf"
assert_eq "$(res f1)$(res f2)$(res f3)" 010 "(f) session-lifetime = 2s: resumed across processes, after 2.5 s a full handshake" \
	"$T/f2.out" "$T/f3.out"
stop_pid "$SRV"

# ---------------------------------------------------------------- (g)
find "$RD" -maxdepth 1 -regextype posix-extended -regex '.*/[0-9a-f]{64}' -delete
for i in $(seq 1 70); do
	n=$(printf '%064x' "$i")
	head -c 100 /dev/zero >"$RD/$n"
	touch -d "@$((1000000000 + i))" "$RD/$n"
done
server "$T/a.conf"
sleep 0.05; touch "$T/g.mark"
client g1 "$T/a.conf"
n=$(entries)
assert_eq "$n" 64 "(g) bounded: 70 planted, a new entry written, 64 left"
assert_eq "$(res g1)" 0 "(g) ... a full handshake (the server restarted) whose entry is stored" "$T/g1.out"
assert_eq "$(find "$RD" -maxdepth 1 -newer "$T/g.mark" -regextype posix-extended -regex '.*/[0-9a-f]{64}' | wc -l)" 1 \
	"(g) ... the one just written kept"
check "(g) ... the 7 oldest gone, the next kept" bash -c "[ ! -e $RD/$(printf '%064x' 7) ] && [ -e $RD/$(printf '%064x' 8) ]"

# ---------------------------------------------------------------- (h)
# the same user, another credential source (XDG_CONFIG_HOME: another default
# host key): not resumed from the association g1 made, then its own is used
client h0 "$T/a.conf"
mkdir -p -m 700 "$T/other-config"
XDG_CONFIG_HOME=$T/other-config client h1 "$T/a.conf"
XDG_CONFIG_HOME=$T/other-config client h2 "$T/a.conf"
assert_eq "$(res h0)$(res h1)$(res h2)" 101 \
	"(h) another XDG_CONFIG_HOME of the same user: not resumed from this one's association, then from its own" \
	"$T/h0.out" "$T/h1.out" "$T/h1.log"

# ---------------------------------------------------------------- (i)
# the client's policy changed (same rule name, another setting): the stored
# association is not offered under it; the old policy still resumes
pol "$T/i.conf" "rekey-after = 30m"
client i1 "$T/i.conf"
client i2 "$T/a.conf"
assert_eq "$(res i1)$(res i2)" 01 "(i) a changed client policy: a full handshake, the unchanged one still resumed" \
	"$T/i1.out" "$T/i1.log" "$T/i2.out"
stop_pid "$SRV"
finish
