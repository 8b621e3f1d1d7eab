#!/usr/bin/env bash
# demo.sh — `make demo`: secure a real, unmodified client and server and prove
# it from the wire.
#
# Debian's own `python3 -m http.server` and `curl` run under libsecsock.so
# with the embedded default policy (no configuration at all).  Between them
# sits a recording relay (tests/tools/ss_relay, plain sockets, no preload)
# that saves every byte each way — a wiretap.  A secret marker travels in the
# request (a header) and in the response (the file).  The demo then shows the
# secsock log lines, a hex excerpt of what the wiretap saw, whether the
# marker is visible on the wire, and the same exchange without secsock for
# contrast.  Exit status 0 only when the proof holds: the page arrived
# intact, both ends logged "secured", the wire parses as TLS 1.3 records with
# ALPN secsock/1 and never shows the marker — while without secsock it does.
#
# BUILD: the build directory (default: the repository's build/).
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
export BUILD=${BUILD:-$REPO/build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
# lib.sh: temp dir, free ports, background servers stopped by pid on exit.
# shellcheck source=../tests/integration/lib.sh
. "$REPO/tests/integration/lib.sh"
unset POLICY

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
step() { echo; bold "== $*"; }
say() { printf '   %s\n' "$*"; }
indent() { sed 's/^/     /'; }
PROOF=1
broken() {
	say "PROBLEM: $*"
	PROOF=0
	FAILS=$((FAILS + 1)) # keep $T for inspection
}

# hexcerpt FILE N: the first N bytes as offset / hex / text (od is in coreutils).
hexcerpt() {
	od -A x -t x1z -v -N "$2" "$1" | sed '$d' | indent
}

for need in "$SO" "$TOOLS/ss_relay"; do
	[ -e "$need" ] || { echo "demo: $need is missing; run 'make demo' (it builds first)" >&2; exit 1; }
done
for c in curl ss od "$PY"; do
	command -v "$c" >/dev/null 2>&1 || { echo "demo: '$c' not found (scripts/install-deps.sh installs it)" >&2; exit 1; }
done

MARK="secsock-demo-marker-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$T/www"
printf 'Quarterly numbers, do not share.\nThe secret of the day is %s\n' "$MARK" >"$T/www/secret.txt"

bold "secsock demo: an unmodified web server and client, secured without changing either"
say "library:  $SO"
say "programs: $("$PY" --version 2>&1) (-m http.server), $(curl --version | head -n1 | cut -d' ' -f1-2)"
if [ -e /etc/secsock/policy.conf ]; then
	say "policy:   /etc/secsock/policy.conf (exists on this machine, so it applies instead of the embedded default)"
else
	say "policy:   the embedded default (secsock policy show-default): request security from every TCP peer"
fi
say "secret:   '$MARK' (in the file served and in a request header)"

# ---------------------------------------------------------------- secured run
step "1. With secsock: server and client both started under libsecsock.so"
sport=$(free_port)
start_bg server preload "$T/server.log" "$PY" -m http.server --bind 127.0.0.1 --directory "$T/www" "$sport"
spid=$BG_PID
wait_listen "$sport" 10 "$spid" || { cat "$T/server.err" >&2; echo "demo: the server did not start" >&2; exit 1; }
start_relay wire-secured 127.0.0.1 127.0.0.1 "$sport"
say "\$ LD_PRELOAD=libsecsock.so python3 -m http.server $sport        # the server, port $sport"
say "  ss_relay 127.0.0.1:$RELAY_PORT -> 127.0.0.1:$sport, recording both directions   # the wiretap"
say "\$ LD_PRELOAD=libsecsock.so curl -H 'X-Secret: …' http://127.0.0.1:$RELAY_PORT/secret.txt"
code=$(preload "$T/client.log" curl -sS -H "X-Secret: $MARK" -o "$T/got.txt" -w '%{http_code}' \
	"http://127.0.0.1:$RELAY_PORT/secret.txt" 2>"$T/curl.err")
echo
say "curl received (HTTP $code):"
indent <"$T/got.txt"
cmp -s "$T/got.txt" "$T/www/secret.txt" || broken "curl did not receive the file intact ($(cat "$T/curl.err"))"
wait_grep 'secured inbound' "$T/server.log" 5 || true
stop_pid "$RELAY_PID"

echo
say "secsock log, client side (SECSOCK_LOG=info):"
grep -h 'secured\|clear\|refused' "$T/client.log" 2>/dev/null | indent
say "secsock log, server side:"
grep -h 'secured\|clear\|refused' "$T/server.log" 2>/dev/null | indent
grep -q 'info: secured outbound .*cipher=' "$T/client.log" 2>/dev/null || broken "the client did not log 'secured outbound ... cipher='"
grep -q 'info: secured inbound .*cipher=' "$T/server.log" 2>/dev/null || broken "the server did not log 'secured inbound ... cipher='"

W=$T/wire-secured
echo
say "what the wiretap saw, client -> server (first 96 of $(stat -c %s "$W/conn-1.c2s" 2>/dev/null || echo 0) bytes):"
hexcerpt "$W/conn-1.c2s" 96
say "server -> client (first 64 of $(stat -c %s "$W/conn-1.s2c" 2>/dev/null || echo 0) bytes):"
hexcerpt "$W/conn-1.s2c" 64
echo
say "wire check (tests/tools/tls_wire_check.py):"
if "$PY" "$WIRECHECK" --c2s "$W/conn-1.c2s" --s2c "$W/conn-1.s2c" >"$T/wirecheck.txt" 2>&1; then
	grep -E 'ClientHello|ServerHello|only application_data' "$T/wirecheck.txt" | sed 's/^ok - /ok: /' | indent
else
	indent <"$T/wirecheck.txt"
	broken "the secured wire is not TLS 1.3 with ALPN secsock/1 throughout"
fi
if grep -qF "$MARK" "$W/conn-1.c2s" "$W/conn-1.s2c" 2>/dev/null; then
	secured_seen=yes
	broken "the marker is visible on the secured wire"
else
	secured_seen=no
fi
bold "   marker '$MARK' found in plaintext payload on the wire: $secured_seen"

# ---------------------------------------------------------------- contrast
step "2. The same exchange without secsock (for contrast)"
pport=$(free_port)
start_bg plain-server plain "$PY" -m http.server --bind 127.0.0.1 --directory "$T/www" "$pport"
ppid=$BG_PID
wait_listen "$pport" 10 "$ppid" || { echo "demo: the plain server did not start" >&2; exit 1; }
start_relay wire-plain 127.0.0.1 127.0.0.1 "$pport"
say "\$ python3 -m http.server $pport;  curl -H 'X-Secret: …' http://127.0.0.1:$RELAY_PORT/secret.txt"
code=$(plain curl -sS -H "X-Secret: $MARK" -o "$T/got-plain.txt" -w '%{http_code}' \
	"http://127.0.0.1:$RELAY_PORT/secret.txt" 2>"$T/curl-plain.err")
stop_pid "$RELAY_PID"
W=$T/wire-plain
say "what the wiretap saw, client -> server (first 96 bytes):"
hexcerpt "$W/conn-1.c2s" 96
say "server -> client, the secret line as it crossed the wire:"
grep -a -F "$MARK" "$W/conn-1.s2c" 2>/dev/null | head -n1 | indent
if grep -qF "$MARK" "$W/conn-1.c2s" && grep -qF "$MARK" "$W/conn-1.s2c"; then
	plain_seen=yes
else
	plain_seen=no
	broken "without secsock the marker should be visible both ways (is the wiretap recording?)"
fi
bold "   marker '$MARK' found in plaintext payload on the wire: $plain_seen"

# ---------------------------------------------------------------- verdict
step "Result"
if [ "$PROOF" = 1 ]; then
	say "Unmodified python3 http.server and curl talked over TLS 1.3 (ALPN secsock/1) with no"
	say "configuration; a wiretap saw only TLS records and never the secret, which it saw"
	say "in the clear without secsock.  Proof holds."
	exit 0
fi
say "Proof does NOT hold (see PROBLEM lines above; files kept in $T)."
exit 1
