# h3-wire.bash — sourced by s30-write-paths.sh, s31-read-paths.sh and
# s32-unseen-close.sh (after tests/integration/lib.sh): a preloaded `require`
# server (tests/tools/sec_h3_server.py) behind a recording relay
# (tests/tools/ss_relay), and the preloaded client tool.
#
#   h3_start PAYLOAD     server + relay; sets H3_PORT (the relay's port)
#   h3_client ARGS...    build/tools/sec_h3_calls $H3_PORT ARGS under the preload
#   h3_wire_has DIR TEXT true when TEXT crossed the relay (c2s or s2c) in clear
#   h3_server_got TEXT   true when the server received TEXT as plaintext
require_lib
require_tools sec_h3_calls ss_relay

POLICY=$T/require.conf
write_policy "$POLICY" <<'POL'
[defaults]
action = require
auth   = anonymous
POL
export POLICY

h3_start() {
	mkdir -p "$T/srv"
	start_bg server preload "$T/server.log" "$PY" "$REPO/tests/tools/sec_h3_server.py" "$T/srv.port" "$T/srv" "$1"
	wait_file "$T/srv.port" 10 || bail "sec_h3_server did not start" "$T/server.err"
	start_relay wire 127.0.0.1 127.0.0.1 "$(cat "$T/srv.port")"
	H3_PORT=$RELAY_PORT
}

h3_client() {
	TMO=20 preload "$T/client.log" "$TOOLS/sec_h3_calls" "$H3_PORT" "$@"
}

# grep reads the files itself: `cat | grep -q` under pipefail fails when
# grep stops early and cat gets SIGPIPE.
h3_wire_has() {
	grep -aqF -- "$1" "$T/wire"/conn-*.c2s "$T/wire"/conn-*.s2c 2>/dev/null
}

h3_server_got() {
	grep -aqF -- "$1" "$T/srv"/conn-*.in 2>/dev/null
}

# h3_wait_ends N: until the server has seen N connections end
h3_wait_ends() {
	local i
	for ((i = 0; i < 250; i++)); do
		[ "$(wc -l <"$T/srv/ends" 2>/dev/null || echo 0)" -ge "$1" ] && return 0
		sleep 0.02
	done
	return 1
}
