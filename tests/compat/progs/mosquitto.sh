# mosquitto (MQTT broker, its own poll/epoll loop) / mosquitto_pub -r then
# mosquitto_sub -C 1 (the retained message, so no subscribe race).
NAME=mosquitto
DESC="mosquitto broker / mosquitto_pub + mosquitto_sub"
KIND="message broker, event loop"
PKGS="mosquitto mosquitto-clients"
prog_run() {
	local p
	p=$(free_port)
	# user: as root, mosquitto would drop to user mosquitto, which cannot write
	# the secsock log of this run
	printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nuser %s\n' "$p" "$(id -un)" >"$T/m.conf"
	srv_bg mosquitto mosquitto -c "$T/m.conf"
	listen_or_bail "$p" "$BG_PID" mosquitto
	tap_to "$p"
	printf '%s' "$MARKER$(head -c 60000 /dev/urandom | base64 -w0)" >"$T/msg"
	{ cat "$T/msg"; echo; } >"$T/want"
	cli mosquitto_pub -h 127.0.0.1 -p "$TAP_PORT" -t compat/t -r -f "$T/msg" || return 1
	cli mosquitto_sub -h 127.0.0.1 -p "$TAP_PORT" -t compat/t -C 1 -W 20 >"$T/got"
}
