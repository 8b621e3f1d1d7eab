#!/bin/bash
# policy.sh — `secsock policy` check / explain / show-default, driven as an
# admin would: exit codes and what is printed.
CLI_NAME=policy-cli
. "$(dirname "$0")/lib.bash"

unset SECSOCK_POLICY

cat >"$T/good.conf" <<'CONF'
[defaults]
server-first-wait = 1s   # longer than built-in

[rule ssh]
direction = any
port      = 22
action    = bypass

[rule db]
direction = outbound
remote    = 10.1.0.0/16, 2001:db8::/32
port      = 5432
action    = require
auth      = certificate
ca-file   = /etc/secsock/ca.pem
peer-name = db.internal

[rule psql-anywhere]
program = psql
action  = request
CONF
chmod 644 "$T/good.conf"

# ---- check
expect 0 "check good file" -- "$S" policy check "$T/good.conf"
has out "good.conf: valid" "check good prints valid"

printf '[rule x]\nport = 22\naction = maybe\n[defaults]\nfoo = 1\n' >"$T/bad.conf"
expect 1 "check bad file" -- "$S" policy check "$T/bad.conf"
has err "$T/bad.conf:3: bad value for 'action': 'maybe'" "bad value message with file:line"
has err "$T/bad.conf:5: unknown key 'foo'" "unknown key message"
has err "invalid policy (2 errors)" "error count"

expect 1 "check missing file" -- "$S" policy check "$T/none.conf"
has err "$T/none.conf: cannot open: No such file or directory" "missing file message"

cp "$T/good.conf" "$T/ww.conf"; chmod 666 "$T/ww.conf"
expect 1 "world-writable file refused" -- "$S" policy check "$T/ww.conf"
has err "$T/ww.conf: refused: the file is writable by everyone" "world-writable message"

cp "$T/good.conf" "$T/gw.conf"; chmod 664 "$T/gw.conf"
expect 1 "group-writable file refused" -- "$S" policy check "$T/gw.conf"
has err "writable by its group" "group-writable message"

mkdir "$T/open"; chmod 777 "$T/open"; cp "$T/good.conf" "$T/open/p.conf"; chmod 644 "$T/open/p.conf"
expect 1 "file in world-writable directory refused" -- "$S" policy check "$T/open/p.conf"
has err "its directory $T/open is writable by everyone" "directory message"

if [ "$(id -u)" = 0 ]; then
	cp "$T/good.conf" "$T/nobody.conf"; chown nobody "$T/nobody.conf"
	expect 1 "file owned by another user refused" -- "$S" policy check "$T/nobody.conf"
	has err "the file is owned by uid $(id -u nobody), not root or uid 0" "owner message"
	# and as that other user, a root-owned 0644 file is fine
	chmod 755 "$T"
	expect 0 "root-owned file accepted for another user" -- setpriv --reuid=nobody --regid=nogroup --clear-groups "$S" policy check "$T/good.conf"
	chmod 700 "$T"
fi

printf '[rule all]\naction = request\n[rule web]\nport = 80\naction = bypass\n' >"$T/shadow.conf"
expect 0 "warnings alone pass" -- "$S" policy check "$T/shadow.conf"
has err "warning: $T/shadow.conf:3: rule 'web' never matches: rule 'all' (line 1)" "shadow warning"
has out "valid (1 warning)" "warning count"

# no FILE: the process policy source
expect 0 "check without file uses \$SECSOCK_POLICY" -- env SECSOCK_POLICY="$T/good.conf" "$S" policy check
has out "$T/good.conf: valid" "env source named"
expect 1 "check without file, bad \$SECSOCK_POLICY" -- env SECSOCK_POLICY="$T/bad.conf" "$S" policy check
has err "bad.conf:3:" "env bad source"
if [ ! -e /etc/secsock/policy.conf ]; then
	expect 0 "check without file: built-in default" -- "$S" policy check
	has out "built-in default: valid" "default source named"
fi

expect 2 "check with two files is a usage error" -- "$S" policy check a b
expect 0 "check --help" -- "$S" policy check --help
has out "usage: secsock policy check" "check help"

# ---- explain
expect 0 "explain db" -- "$S" policy explain --policy "$T/good.conf" --to 10.1.2.3:5432
line out '^matched: +rule db$' "db matched"
line out '^action +require +rule db$' "action from rule"
line out '^auth +certificate +rule db$' "auth from rule"
line out '^peer-name +db\.internal +rule db$' "peer-name from rule"
line out '^server-first-wait +1s +defaults$' "server-first-wait from defaults"
line out '^handshake-timeout +10s +built-in$' "handshake-timeout built-in"
line out '^discovery-clear-ttl +5m +built-in$' "discovery-clear-ttl built-in"
line out '^discovery-unproven-ttl +0 \(off\) +built-in$' "discovery-unproven-ttl built-in (a reset is not remembered)"
line out '^ciphers +aes-128-gcm, chacha20-poly1305 +built-in$' "ciphers built-in"

expect 0 "explain v6 in brackets" -- "$S" policy explain --policy "$T/good.conf" --to '[2001:db8::5]:5432'
line out '^matched: +rule db$' "v6 db matched"
expect 0 "explain v4-mapped" -- "$S" policy explain --policy "$T/good.conf" --to '[::ffff:10.1.9.9]:5432'
line out '^matched: +rule db$' "v4-mapped matched"

expect 0 "explain inbound ssh" -- "$S" policy explain --policy "$T/good.conf" --from 192.0.2.1:22
line out '^action +bypass +rule ssh$' "ssh bypass"
expect 0 "explain direction matters" -- "$S" policy explain --policy "$T/good.conf" --from 10.1.2.3:5432
line out '^matched: +no rule \(defaults\)$' "inbound db falls to defaults"
line out '^action +request +built-in$' "default action built-in"

expect 0 "explain per-program" -- "$S" policy explain --policy "$T/good.conf" --program /usr/bin/psql --to 192.0.2.9:5433
line out '^matched: +rule psql-anywhere$' "program rule"
expect 0 "explain udp" -- "$S" policy explain --policy "$T/good.conf" --udp --to 192.0.2.9:53
line out '^action +bypass' "udp default becomes bypass"

expect 0 "explain built-in default" -- env SECSOCK_POLICY= "$S" policy explain --to 192.0.2.9:443
line out '^matched: +rule tls-already$' "default bypasses 443"

expect 1 "explain with invalid policy" -- "$S" policy explain --policy "$T/ww.conf" --to 10.1.2.3:5432
has err "every connection it governs would be refused" "fail closed said"
expect 2 "explain without endpoint" -- "$S" policy explain --policy "$T/good.conf"
expect 2 "explain with both --to and --from" -- "$S" policy explain --to 1.2.3.4:1 --from 1.2.3.4:1
expect 2 "explain bad address" -- "$S" policy explain --to 1.2.3:80
expect 2 "explain bad port" -- "$S" policy explain --to 1.2.3.4:65536
expect 2 "explain v6 without brackets" -- "$S" policy explain --to ::1:80
expect 2 "explain unknown option" -- "$S" policy explain --bogus --to 1.2.3.4:1
expect 0 "explain --help" -- "$S" policy explain --help
has out "--from ADDR:PORT" "explain help"

# ---- show-default
expect 0 "show-default" -- "$S" policy show-default
cp "$T/out" "$T/default.conf"
n=$((n + 1)); cmp -s "$T/default.conf" "$(dirname "$0")/../policy/snapshots/default.conf" \
	|| { echo "FAIL: show-default differs from the snapshot"; fails=$((fails + 1)); }
chmod 644 "$T/default.conf"
expect 0 "show-default output is a valid policy" -- "$S" policy check "$T/default.conf"
expect 2 "show-default with an argument" -- "$S" policy show-default extra
expect 0 "show-default --help" -- "$S" policy show-default --help

# ---- every example in docs/policy.md is a valid policy
here=$(cd "$(dirname "$0")/../.." && pwd)
awk -v dir="$T" '/^```ini$/ { f = sprintf("%s/doc%d.conf", dir, ++k); next }
                 /^```$/ { f = ""; next }
                 f != "" { print > f }' "$here/docs/policy.md"
n=$((n + 1)); [ -f "$T/doc5.conf" ] || { echo "FAIL: expected 5 examples in docs/policy.md"; fails=$((fails + 1)); }
for f in "$T"/doc*.conf; do
	chmod 644 "$f"
	expect 0 "docs/policy.md example $(basename "$f")" -- "$S" policy check "$f"
done

# ---- `policy keys` lists the key table; secsock-policy(5) documents exactly those keys
expect 0 "policy keys" -- "$S" policy keys
has out "discovery-unproven-ttl" "policy keys lists the settings"
has out "program" "policy keys lists the match keys"
expect 2 "policy keys with an argument" -- "$S" policy keys extra
"$S" policy keys | awk 'NR > 1 { print $1 }' | sort >"$T/keys.table"
# the tags of the page's key lists: the line after .TP or .TQ, its first word
awk '/^\.T[PQ]$/ { getline t; if (t ~ /^\.B[IR]? /) { sub(/^\.B[IR]? "?/, "", t); sub(/[ "].*/, "", t); print t } }' \
	"$here/docs/man/secsock-policy.5" | grep -v '^/' | sort -u >"$T/keys.man"
n=$((n + 1))
if ! diff -u "$T/keys.table" "$T/keys.man" >"$T/keys.diff"; then
	echo "FAIL: secsock-policy(5) key list differs from the key table (- table, + page):"
	cat "$T/keys.diff"
	fails=$((fails + 1))
fi

# ---- the man pages render without warnings
command -v man >/dev/null && for m in "$here/docs/man/secsock-policy.5" "$here/docs/man/secsock.1" \
	"$here/docs/man/libsecsock.3" "$here/docs/man/secsock-kds.8"; do
	n=$((n + 1))
	w=$(MANWIDTH=80 man --warnings -l "$m" 2>&1 >/dev/null)
	[ -z "$w" ] || { echo "FAIL: $m renders with warnings: $w"; fails=$((fails + 1)); }
done

# ---- dispatcher
expect 0 "policy --help" -- "$S" policy --help
has out "secsock policy check" "policy help lists commands"
expect 2 "policy without command" -- "$S" policy
expect 2 "policy unknown command" -- "$S" policy frobnicate

cli_done policy.sh
