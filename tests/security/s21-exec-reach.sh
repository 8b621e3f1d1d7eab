#!/usr/bin/env bash
# s21-exec-reach.sh — exec of a program LD_PRELOAD does not reach, with a
# secured socket inherited on fd 3 (issue 10, finding 04): the socket is
# shut down before the exec, so the program's write fails and nothing
# reaches the wire in clear.  The class (policy/pol_reach.c): a static
# binary, a static-pie, a dynamic binary that looks like Go, a script whose
# #! interpreter is static, a script whose interpreter is such a script,
# #!/usr/bin/env PROG with a static PROG, a setuid-root and a
# file-capability binary run by uid 65534 (root only), through execv,
# execvp, execveat and fexecve.  Controls: a dynamic binary, a script with
# a dynamic interpreter and #!/usr/bin/env with a dynamic PROG get the
# state and write secured.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/h2-common.bash"
require_lib
require_tools sec_h2_exec sec_h2_writer ss_relay
require_cmd cc
sink_start
EX=$TOOLS/sec_h2_exec
chmod 711 "$T"
P=$T/pub
mkdir -m 755 "$P" "$P/bin"
W=$REPO/tests/tools/sec_h2_writer.c
cc -O1 -static -o "$P/wstatic" "$W" || bail "cannot link a static binary (libc6-dev's libc.a)"
cc -O1 -static-pie -o "$P/wspie" "$W" 2>/dev/null || : >"$P/no-spie"
cc -O1 -DGO_NOTE -o "$P/wgo" "$W" || bail "cc"
cp "$TOOLS/sec_h2_writer" "$P/wdyn"
cp "$P/wstatic" "$P/bin/wstatic-env"
cp "$P/wdyn" "$P/bin/wdyn-env"
printf '#!%s\n' "$P/wstatic" >"$P/s-static"
printf '#!%s\n' "$P/s-static" >"$P/s-nested"
printf '#!/usr/bin/env wstatic-env\n' >"$P/s-env-static"
printf '#!/usr/bin/env wdyn-env\n' >"$P/s-env-dyn"
printf '#!/bin/sh\nprintf %%s "$1" >&3 && echo "sh: wrote" || echo "sh: write failed"\n' >"$P/s-sh"
chmod 755 "$P"/w* "$P"/s-* "$P"/bin/*
cp "$REQ" "$P/require.conf"; chmod 644 "$P/require.conf"
export PATH="$P/bin:$PATH"

MARKS=()
# unreachable NAME MODE TARGET: the write fails, the socket was shut down
unreachable() {
	local name=$1 mode=$2 target=$3 mark="SECRET-s21-$1-$2"
	TMO=15 preload "$T/$name-$mode.log" "$EX" "$SINK_PORT" "$mode" "$target" "$mark" >"$T/$name-$mode.out" 2>&1
	assert_grep 'LD_PRELOAD cannot reach it.*shut down' "$T/$name-$mode.log" "$name ($mode): logged and shut down before the exec" "$T/$name-$mode.out"
	assert_no_grep '^writer: [0-9]+ ok' "$T/$name-$mode.out" "$name ($mode): its write on the inherited socket failed"
	MARKS+=("$mark|$name ($mode)")
}
# reachable NAME MODE TARGET: the state follows, the marker arrives secured
reachable() {
	local name=$1 mode=$2 target=$3 mark="SECRET-s21-$1-$2"
	TMO=15 preload "$T/$name-$mode.log" "$EX" "$SINK_PORT" "$mode" "$target" "$mark" >"$T/$name-$mode.out" 2>&1
	assert_no_grep 'shut down' "$T/$name-$mode.log" "$name ($mode): the connection is handed over, not shut down" "$T/$name-$mode.out"
	wait_grep "$mark" "$T/sink.data" 5
	assert_grep "$mark" "$T/sink.data" "$name ($mode): the program's write reached the server secured" "$T/$name-$mode.out"
	MARKS+=("$mark|$name ($mode)")
}

for mode in exec execvp execveat fexecve; do
	unreachable static "$mode" "$P/wstatic"
	unreachable script-static-interp "$mode" "$P/s-static"
done
unreachable static execveat-empty "$P/wstatic"
unreachable script-nested-static exec "$P/s-nested"
unreachable script-env-static exec "$P/s-env-static"
unreachable go-note exec "$P/wgo"
if [ -e "$P/no-spie" ]; then pass "static-pie: skipped (this compiler cannot link one)"
else unreachable static-pie exec "$P/wspie"; fi
reachable dynamic exec "$P/wdyn"
reachable dynamic fexecve "$P/wdyn"
reachable script-sh exec "$P/s-sh"
reachable script-env-dyn exec "$P/s-env-dyn"

# setuid-root and file-capability programs run by an unprivileged user:
# the loader's secure-execution mode drops LD_PRELOAD.
if [ "$(id -u)" != 0 ]; then
	pass "skipped (not root): setuid and file-capability targets"
elif ! command -v setpriv >/dev/null || ! command -v setcap >/dev/null; then
	fail "setpriv and setcap (util-linux, libcap2-bin) are needed as root"
elif ! setpriv --reuid=65534 --regid=65534 --clear-groups test -r "$SO"; then
	pass "skipped: $SO is not readable by uid 65534"
else
	cp "$P/wdyn" "$P/wsuid"; chmod 4755 "$P/wsuid"
	cp "$P/wdyn" "$P/wcap"; setcap cap_net_bind_service+ep "$P/wcap" || fail "setcap failed"
	printf '#!%s\n' "$P/wcap" >"$P/s-cap"; chmod 755 "$P/s-cap"
	for t in wsuid wcap s-cap; do
		mark="SECRET-s21-$t-nobody"
		touch "$P/$t.log"; chown 65534:65534 "$P/$t.log"   # the log file must be the writer's own (pre_log.c)
		setpriv --reuid=65534 --regid=65534 --clear-groups env LD_PRELOAD="$SO" SECSOCK_POLICY="$P/require.conf" \
			SECSOCK_LOG=info SECSOCK_LOG_FILE="$P/$t.log" timeout 15 "$EX" "$SINK_PORT" exec "$P/$t" "$mark" >"$T/$t.out" 2>&1
		assert_grep '^control: [0-9]+' "$T/$t.out" "$t by uid 65534: the secured connection worked" "$P/$t.log"
		assert_grep 'secure-execution.*shut down' "$P/$t.log" "$t by uid 65534: logged and shut down before the exec" "$T/$t.out"
		assert_no_grep '^writer: [0-9]+ ok' "$T/$t.out" "$t by uid 65534: its write failed"
		MARKS+=("$mark|$t by uid 65534")
	done
	# run by root, the same setuid-root program is reached: the state follows
	reachable suid-by-root exec "$P/wsuid"
fi

stop_pid "$RELAY_PID"
for m in "${MARKS[@]}"; do
	if wire_clear "${m%%|*}"; then fail "${m#*|}: clear bytes on the wire"
	else pass "${m#*|}: no clear byte on the wire"; fi
done
finish
