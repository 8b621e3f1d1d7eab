#!/usr/bin/env bash
# 50-lazy-engine.sh — issue 6, start-up: OpenSSL lives in
# libsecsock-engine.so, loaded from libsecsock.so's directory on the first
# governed connection (docs/design.md, "Two libraries").
#   - libsecsock.so has no DT_NEEDED on libssl/libcrypto; the engine
#     exports secsock_engine_v1 only;
#   - /bin/true and a program whose only connection is bypassed never map
#     libssl, libcrypto or the engine (LD_DEBUG=files, /proc/self/maps);
#   - the same program with a governed connection maps them, and is secured;
#   - with the engine missing, or a mismatched one, next to libsecsock.so:
#     one error line naming the path and the loader's reason; governed
#     connections are refused (require and request alike: never plaintext),
#     inbound ones are not served; bypassed ones still work; `secsock run`
#     refuses to start a program with such a library.
. "$(dirname "$0")/lib.sh"
require_lib
require_cmd gcc readelf nm
require_no_system_policy
unset POLICY
ENGINE=$BUILD/libsecsock-engine.so
[ -f "$ENGINE" ] || bail "$ENGINE not built"

# The client: connects, reads the banner, says one line, reads the answer,
# then reports which libraries its address space holds.  Python's socket
# module does not load OpenSSL (only ssl/hashlib do), so whatever libcrypto
# shows up came from the preload.
cat >"$T/client.py" <<'EOF'
import os, socket, sys
if len(sys.argv) > 2 and sys.argv[2] == "chdir":
    os.chdir("/")   # as daemons do, before their first connection
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
    f = s.makefile("rb")
    banner = f.readline().decode().strip()
    s.sendall(b"lazy\r\n")
    print("banner:", banner)
    print("answer:", f.readline().decode().strip())
    s.sendall(b"QUIT\r\n")
    f.readline()
    s.close()
except OSError as e:
    print("error:", type(e).__name__, e.errno)
maps = open("/proc/self/maps").read()
for lib in ("libssl.so", "libcrypto.so", "libsecsock-engine.so"):
    print(lib, "mapped" if lib in maps else "absent")
EOF

# policy_out FILE PORT ACTION / policy_in FILE PORT: one rule for PORT.
policy_out() {
	write_policy "$1" <<EOF
[rule lazy]
direction = outbound
port = $2
action = $3
EOF
}
policy_in() {
	write_policy "$1" <<EOF
[rule in]
direction = inbound
port = $2
action = require
EOF
}

# maps_are OUT WORD WHAT: client.py's report says WORD (mapped/absent) for
# libssl, libcrypto and the engine.
maps_are() {
	local lib
	for lib in libssl.so libcrypto.so libsecsock-engine.so; do
		assert_grep "^$lib $2\$" "$1" "$3: $lib $2" "$1"
	done
}

# ---------------------------------------------------------------- the objects
if readelf -d "$SO" | grep -E 'NEEDED.*lib(ssl|crypto)\.so' >/dev/null; then
	fail "libsecsock.so does not link libssl/libcrypto"
else
	pass "libsecsock.so does not link libssl/libcrypto"
fi
assert_eq "$(nm -D --defined-only "$ENGINE" | awk '$2 ~ /^[A-Z]$/ {print $3}' | tr '\n' ' ')" \
	"secsock_engine_v1 " "the engine exports secsock_engine_v1 only"

# ---------------------------------------------------------------- /bin/true
env -u SECSOCK_POLICY LD_PRELOAD="$SO" LD_DEBUG=files /bin/true 2>"$T/true.ld"
assert_grep 'file=.*libsecsock\.so' "$T/true.ld" "/bin/true: LD_DEBUG=files sees libsecsock.so (the check can see)"
assert_no_grep 'file=.*(libssl|libcrypto|libsecsock-engine)' "$T/true.ld" \
	"/bin/true under the preload maps no libssl/libcrypto/engine"

# ---------------------------------------------------------------- bypass vs governed
cport=$(free_port)
start_bg clear-srv plain "$PY" "$REPO/tests/tools/banner_server.py" 127.0.0.1 "$cport"
wait_listen "$cport" 10 "$BG_PID" || bail "clear server did not listen" "$T/clear-srv.err"

POLICY=$T/bypass.conf
policy_out "$POLICY" "$cport" bypass
preload "$T/bypass.log" "$PY" "$T/client.py" "$cport" >"$T/bypass.out" 2>&1
assert_grep '^answer: 250 lazy$' "$T/bypass.out" "bypassed connection works" "$T/bypass.log"
maps_are "$T/bypass.out" absent "bypassed connection"

sport=$(free_port)
POLICY=$T/srv.conf
policy_in "$POLICY" "$sport"
start_bg sec-srv preload "$T/sec-srv.log" "$PY" "$REPO/tests/tools/banner_server.py" 127.0.0.1 "$sport"
wait_listen "$sport" 10 "$BG_PID" || bail "secured server did not listen" "$T/sec-srv.err"

POLICY=$T/require.conf
policy_out "$POLICY" "$sport" require
preload "$T/gov.log" "$PY" "$T/client.py" "$sport" >"$T/gov.out" 2>&1
assert_grep '^answer: 250 lazy$' "$T/gov.out" "governed connection works" "$T/gov.log"
assert_grep 'secured outbound' "$T/gov.log" "governed connection is secured"
maps_are "$T/gov.out" mapped "governed connection"

# LD_PRELOAD relative to the start-up directory, and the program changes
# directory before connecting: the engine is still found beside the library.
(cd "$BUILD" && SO=./libsecsock.so preload "$T/rel.log" "$PY" "$T/client.py" "$sport" chdir) \
	>"$T/rel.out" 2>&1
assert_grep '^answer: 250 lazy$' "$T/rel.out" "relative LD_PRELOAD, chdir before connect: secured connection works" \
	"$T/rel.log"
assert_grep 'secured outbound' "$T/rel.log" "relative LD_PRELOAD, chdir before connect: secured"

# ---------------------------------------------------------------- broken engines
# A copy of libsecsock.so alone in a directory: the engine is looked for
# next to it, nowhere else.
mkdir -p "$T/lonely" "$T/mismatch"
cp "$SO" "$T/lonely/libsecsock.so"
cp "$SO" "$T/mismatch/libsecsock.so"
# An engine of another ABI: the table's abi/size/version must be checked.
cat >"$T/fake.c" <<'EOF'
struct fake { unsigned abi, size; const char *version; void *fns[32]; };
static const struct fake t = { 999, sizeof t, "0.0.0-fake", { 0 } };
__attribute__((visibility("default"))) const struct fake *secsock_engine_v1(void) { return &t; }
EOF
gcc -shared -fPIC -o "$T/mismatch/libsecsock-engine.so" "$T/fake.c" || bail "cannot build the fake engine"

for kind in lonely mismatch; do
	case $kind in
	lonely) why='cannot open shared object file' ;;
	mismatch) why='mismatched build \(engine abi 999' ;;
	esac
	KSO=$T/$kind/libsecsock.so
	for action in require request; do
		POLICY=$T/$kind-$action.conf
		# request goes to the clear server: with an engine it would fall back
		# to clear after the probe; without one it must not connect at all.
		port=$sport
		[ $action = request ] && port=$cport
		policy_out "$POLICY" "$port" "$action"
		SO=$KSO preload "$T/$kind-$action.log" "$PY" "$T/client.py" "$port" >"$T/$kind-$action.out" 2>&1
		assert_grep '^error: ConnectionRefusedError' "$T/$kind-$action.out" \
			"$kind engine, $action: connect refused" "$T/$kind-$action.log"
		assert_no_grep '^answer:' "$T/$kind-$action.out" "$kind engine, $action: no data exchanged"
		assert_count "error: engine $T/$kind/libsecsock-engine.so: .*$why" "$T/$kind-$action.log" 1 \
			"$kind engine, $action: one error line with the path and the reason"
		assert_grep "refused outbound .*rule=lazy" "$T/$kind-$action.log" "$kind engine, $action: logs the refusal"
	done
	POLICY=$T/$kind-bypass.conf
	policy_out "$POLICY" "$cport" bypass
	SO=$KSO preload "$T/$kind-bypass.log" "$PY" "$T/client.py" "$cport" >"$T/$kind-bypass.out" 2>&1
	assert_grep '^answer: 250 lazy$' "$T/$kind-bypass.out" "$kind engine: a bypassed connection still works" \
		"$T/$kind-bypass.log"
done

# Inbound: a server whose engine is missing never serves a secsock client.
lport=$(free_port)
POLICY=$T/lonely-in.conf
policy_in "$POLICY" "$lport"
SO=$T/lonely/libsecsock.so start_bg lonely-srv preload "$T/lonely-srv.log" "$PY" \
	"$REPO/tests/tools/banner_server.py" 127.0.0.1 "$lport"
wait_listen "$lport" 10 "$BG_PID" || bail "lonely server did not listen" "$T/lonely-srv.err"
POLICY=$T/require-in.conf
policy_out "$POLICY" "$lport" require
preload "$T/lonely-in.log" "$PY" "$T/client.py" "$lport" >"$T/lonely-in.out" 2>&1
assert_grep '^error: ' "$T/lonely-in.out" "missing engine, inbound: the client's connect fails" "$T/lonely-in.log"
assert_no_grep '^(banner|answer):' "$T/lonely-in.out" "missing engine, inbound: nothing was served"
wait_grep "error: engine $T/lonely/libsecsock-engine.so: " "$T/lonely-srv.log" 10
assert_grep "error: engine $T/lonely/libsecsock-engine.so: .*cannot open shared object file" \
	"$T/lonely-srv.log" "missing engine, inbound: the server logs the path and the reason"

# secsock run checks for the engine before the program runs.
"$SECSOCK" run --library "$T/lonely/libsecsock.so" -- /bin/true 2>"$T/run-lonely.err"
assert_eq "$?" 1 "secsock run --library without an engine beside it: exit 1" "$T/run-lonely.err"
assert_grep "no libsecsock-engine.so beside $T/lonely/libsecsock.so" "$T/run-lonely.err" \
	"secsock run names the missing engine"
"$SECSOCK" run --library "$SO" -- /bin/true 2>"$T/run-ok.err"
assert_eq "$?" 0 "secsock run --library with the engine beside it: runs" "$T/run-ok.err"
finish
