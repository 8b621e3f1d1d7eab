#!/bin/bash
# keys.sh — `secsock keygen` and `secsock peers`, driven as an admin would:
# the files they make, what they print, exit codes, and what they refuse.
CLI_NAME=keys-cli
. "$(dirname "$0")/lib.bash"
export XDG_CONFIG_HOME=$T/cfg
FPA=SHA256:eyQ+DO28nVHL8fAOrR3zOj3E1Xjjs3bRjIgy8RIF/mU
FPB=SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU

# ---- keygen
expect 0 "keygen --help" -- "$S" keygen --help
check "keygen --help names the default path" grep -q 'XDG_CONFIG_HOME/secsock/host.key' "$T/out"
expect 0 "keygen (user key)" -- "$S" keygen
key=$T/cfg/secsock/host.key
check "keygen prints PATH FINGERPRINT" grep -qE "^$key SHA256:[A-Za-z0-9+/]{43}\$" "$T/out"
fp=$(awk '{print $2}' "$T/out")
check "the key is mode 0600" [ "$(stat -c %a "$key")" = 600 ]
check "its directory is mode 0700" [ "$(stat -c %a "$T/cfg/secsock")" = 700 ]
check "the key is PKCS#8 PEM (openssl reads it)" openssl pkey -in "$key" -noout
# the fingerprint, computed independently: SHA-256 of the raw 32-byte public key
ofp=SHA256:$(openssl pkey -in "$key" -pubout -outform DER | tail -c 32 | openssl dgst -sha256 -binary | base64 | tr -d '=')
check "fingerprint = SHA256:base64(sha256(raw public key)) ($fp vs $ofp)" [ "$fp" = "$ofp" ]
cp "$key" "$T/key.before"
expect 1 "keygen refuses to overwrite" -- "$S" keygen
check "keygen says why and how" grep -q -- '--force' "$T/err"
check "the key is unchanged" cmp -s "$key" "$T/key.before"
expect 0 "keygen --force replaces" -- "$S" keygen --force
differs() { ! cmp -s "$1" "$2"; }
check "a new key" differs "$key" "$T/key.before"
expect 0 "keygen --file" -- "$S" keygen --file "$T/other/h.key"
check "--file writes there" [ -f "$T/other/h.key" ]
expect 2 "keygen --system --file" -- "$S" keygen --system --file "$T/x"
expect 2 "keygen extra operand" -- "$S" keygen extra
if [ "$(id -u)" = 0 ]; then
	expect 1 "keygen --system as a user" -- setpriv --reuid=65534 --regid=65534 --clear-groups "$S" keygen --system
	check "keygen --system needs root" grep -q 'needs root' "$T/err"
fi

# ---- peers show-fingerprint
expect 0 "peers show-fingerprint (own key)" -- "$S" peers show-fingerprint
check "show-fingerprint = keygen's" [ "$(cat "$T/out")" = "$(openssl pkey -in "$key" -pubout -outform DER | tail -c 32 | openssl dgst -sha256 -binary | base64 | tr -d '=' | sed 's/^/SHA256:/')" ]
openssl pkey -in "$key" -pubout -out "$T/pub.pem"
expect 0 "show-fingerprint of a public key file" -- "$S" peers show-fingerprint "$T/pub.pem"
echo junk >"$T/junk.pem"
expect 1 "show-fingerprint of junk" -- "$S" peers show-fingerprint "$T/junk.pem"

# ---- peers add / list / remove
P=$T/cfg/secsock/known_peers
expect 0 "peers list with no file" -- "$S" peers list
check "empty list" [ ! -s "$T/out" ]
expect 0 "peers add" -- "$S" peers add 127.0.0.1 "$FPA"
expect 0 "peers add with port and names" -- "$S" peers add --port 5432 --names 'db1.example,*.db.example' 10.0.0.0/8 "$FPB"
expect 0 "peers add IPv6" -- "$S" peers add ::1 "$FPA"
expect 0 "peers add the same again (already pinned: ok)" -- "$S" peers add 127.0.0.1 "$FPA"
expect 1 "peers add another key for a pinned peer" -- "$S" peers add 127.0.0.1 "$FPB"
check "says which line pins it" grep -q "already pins 127.0.0.1 to $FPA" "$T/err"
expect 1 "peers add a bad fingerprint" -- "$S" peers add 127.0.0.2 SHA256:nope
# a --file with no directory part (dirname() gives its static "."): once a segfault
( cd "$T" && "$S" peers add --file bare_peers 127.0.0.1 "$FPA" ) >"$T/out" 2>"$T/err"
n=$((n + 1)); [ $? = 0 ] && grep -q "^127.0.0.1 $FPA" "$T/bare_peers" || { echo "FAIL: peers add --file NAME in the current directory"; cat "$T/err"; fails=$((fails + 1)); }
expect 1 "peers add a bad address" -- "$S" peers add 300.1.1.1 "$FPA"
expect 1 "peers add host bits beyond the prefix" -- "$S" peers add 10.0.0.1/8 "$FPA"
expect 2 "peers add without a fingerprint" -- "$S" peers add 127.0.0.3
expect 0 "peers list" -- "$S" peers list
check "three lines, as written" [ "$(wc -l <"$T/out")" = 3 ]
check "the port/names line round-trips" grep -qxF "10.0.0.0/8 port=5432 names=db1.example,*.db.example $FPB" "$T/out"
check "the file is mode 0600" [ "$(stat -c %a "$P")" = 600 ]
expect 0 "peers remove" -- "$S" peers remove 127.0.0.1
expect 1 "peers remove again" -- "$S" peers remove 127.0.0.1
expect 0 "peers list after remove" -- "$S" peers list
check "two lines left" [ "$(wc -l <"$T/out")" = 2 ]
expect 0 "peers remove with --port" -- "$S" peers remove --port 5432 10.0.0.0/8
expect 0 "peers --file" -- "$S" peers add --file "$T/alt" 192.0.2.1 "$FPA"
check "--file writes there" grep -q "^192.0.2.1 $FPA\$" "$T/alt"

# ---- a hand-edited file with a mistake: refused with its line number
printf '# mine\n127.0.0.1 %s\n127.0.0.1 %s\n' "$FPA" "$FPB" >"$T/bad"
chmod 600 "$T/bad"
expect 1 "peers list of a file with a duplicate" -- "$S" peers list --file "$T/bad"
check "names the lines" grep -q 'line 3: the same address and port as line 2' "$T/err"
ln -s "$T/alt" "$T/link"
expect 1 "peers list through a symlink" -- "$S" peers list --file "$T/link"

# ---- 50 concurrent adds of one peer: one valid line
for i in $(seq 50); do "$S" peers add --file "$T/conc" 10.9.9.9 "$FPA" 2>>"$T/conc.err" & done
wait
expect 0 "the file after 50 concurrent adds parses" -- "$S" peers list --file "$T/conc"
check "one line after 50 concurrent adds" [ "$(wc -l <"$T/out")" = 1 ]
check "no add failed" [ ! -s "$T/conc.err" ]

expect 2 "peers unknown command" -- "$S" peers frob
expect 0 "peers --help" -- "$S" peers --help

cli_done keys.sh
