#!/usr/bin/env bash
# 72-fin-after-flight.sh — issue 12, must-show 3: a peer's FIN that arrives
# together with the rest of a handshake flight.  Each of the three handshake
# paths (blocking connect, non-blocking connect finished in the background,
# accept) has the rule: when the FIN is seen while the handshake still needs
# bytes, step once more (the rest of the flight may have landed with the
# FIN); only if that step still needs more did the peer go away.  Policy:
# require both ways, so a wrong verdict shows as "refused", and never as
# "clear".  ss_relay (plain libc) between two preloaded peers makes the FIN
# ride on the flight's own segment:
#   a. blocking connect, relay --fin-s2c-chunk 1: the server's whole flight
#      and FIN at once; the client ends secured and its read ends (EOF or
#      ECONNRESET: truncated without close_notify), with no byte that was
#      not sent; the server still reads "ping\n" and EOF;
#   b. the same with a non-blocking connect (python3: setblocking(False),
#      connect_ex, select for writability): the background path;
#   c. accept, relay --hold-c2s-from-chunk 2: the server gets the client's
#      Finished, "ping\n", close_notify and FIN at once; it ends secured,
#      reads exactly "ping\n" then EOF, and its answer reaches the client;
#   d. part of a flight then FIN, under require: the server's flight cut at
#      60 bytes (blocking and non-blocking connect: ECONNREFUSED), the
#      client's second flight (its Finished) cut inside (the server refuses,
#      its read fails ECONNRESET; the client's read fails ECONNRESET, or its
#      connect ECONNREFUSED when the reset beats its last check).
# Every case runs twice.  "relay": as above; the step, woken by the
# segment, finds the bytes and the FIN together and seldom needs the rule.
# "window": fin_window.so (built here) sits behind libsecsock.so in
# LD_PRELOAD, so it is the preload's real poll(); the process's first FIN
# check (poll for POLLRDHUP alone, timeout 0: pre_wire_truncated) waits for
# the FIN instead of looking once.  The flight and FIN then land between
# the step's peek and that check — the race the rule is for, every time:
# without the second step a/b/c end "refused ... went away".  The
# shim logs each widened check and the test requires that it saw the FIN, so
# a preload that stops looking for the FIN this way fails here, not silently.
. "$(dirname "$0")/lib.sh"
require_lib
require_tools ss_relay errno_peer
require_cmd gcc ss
require_no_system_policy
EP=$TOOLS/errno_peer

POLICY=$T/require.conf
write_policy "$POLICY" <<EOF
[rule out]
direction = outbound
port = 1-65535
action = require
handshake-timeout = 5s

[rule in]
direction = inbound
port = 1-65535
action = require
handshake-timeout = 5s
EOF

cat >"$T/fin_window.c" <<'EOF'
/* The process's first FIN_WINDOW_CALLS (default 1) polls of one fd for
 * POLLRDHUP alone with timeout 0 wait up to FIN_WINDOW_MS (default 3000)
 * for the FIN; each widened check appends one line to FIN_WINDOW_LOG. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static atomic_int used;

static long env_num(const char *name, long dflt)
{
	const char *v = getenv(name);
	return v && *v ? strtol(v, NULL, 10) : dflt;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

__attribute__((visibility("default"))) int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	static int (*real)(struct pollfd *, nfds_t, int);
	if (!real)
		real = (int (*)(struct pollfd *, nfds_t, int))dlsym(RTLD_NEXT, "poll");
	if (n != 1 || timeout != 0 || fds[0].events != POLLRDHUP ||
	    atomic_fetch_add(&used, 1) >= env_num("FIN_WINDOW_CALLS", 1))
		return real(fds, n, timeout);
	double t0 = now_ms();
	int r = real(fds, n, (int)env_num("FIN_WINDOW_MS", 3000));
	const char *log = getenv("FIN_WINDOW_LOG");
	int lfd = log ? open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600) : -1;
	if (lfd >= 0) {
		dprintf(lfd, "fin_window: pid %d fd %d: %s after %.0f ms\n", (int)getpid(), fds[0].fd,
		        r == 1 && (fds[0].revents & (POLLRDHUP | POLLHUP)) ? "FIN seen" : "no FIN",
		        now_ms() - t0);
		close(lfd);
	}
	return r;
}
EOF
gcc -shared -fPIC -O1 -Wall -Wextra -Werror -o "$T/fin_window.so" "$T/fin_window.c" -ldl ||
	bail "cannot build fin_window.so"

cat >"$T/nbc.py" <<'PY'
# Non-blocking connect (the background handshake), then send "ping\n",
# shut down writing, read until EOF or an error.  Prints each result.
import errno, select, socket, sys, time
def name(e):
    return errno.errorcode.get(e, str(e))
s = socket.socket(); s.setblocking(False)
print("connect", name(s.connect_ex(("127.0.0.1", int(sys.argv[1])))), flush=True)
select.select([], [s], [], 10)
e, deadline = 0, time.monotonic() + 10
while time.monotonic() < deadline:
    # writable is the end of the handshake; a failure may be reported a
    # moment after the wake-up
    e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if e or sys.argv[2] == "ok":
        break
    time.sleep(0.02)
print("so_error", name(e), flush=True)
try:
    print("send", s.send(b"ping\n"), flush=True)
    s.shutdown(socket.SHUT_WR)
except OSError as x:
    print("send", name(x.errno), flush=True)
    sys.exit(0)
got, end = b"", "timeout"
while select.select([s], [], [], 10)[0]:
    try:
        b = s.recv(65536)
    except BlockingIOError:
        continue
    except OSError as x:
        end = name(x.errno); break
    if not b:
        end = "EOF"; break
    got += b
open(sys.argv[3], "wb").write(got)
print("recv", len(got), end, flush=True)
PY

# window_env MODE NAME: WENV is the command prefix putting fin_window.so
# behind libsecsock.so (MODE window), or nothing (MODE relay).
window_env() {
	WENV=()
	if [ "$1" = window ]; then
		WENV=(env "LD_PRELOAD=$SO:$T/fin_window.so" "FIN_WINDOW_LOG=$T/$2.win")
	fi
}

# start_pair NAME SHIM_SIDE MODE RELAY_OPTS...: a preloaded errno_peer server
# (reads to EOF, then answers "pong\n") behind ss_relay.  SHIM_SIDE (srv|cli)
# is the side that gets the widened FIN check in MODE window.  Sets SPID,
# RELAY_PORT, RELAY_PID.
start_pair() {
	local name=$1 side=$2 mode=$3 sport
	shift 3
	window_env "$([ "$side" = srv ] && echo "$mode")" "$name-srv"
	sport=$(free_port)
	start_bg "$name-srv" preload "$T/$name-srv.log" "${WENV[@]}" "$EP" -T 10 -o "$T/$name.sgot" \
		listen 127.0.0.1 "$sport" recvall 'send:pong\n'
	SPID=$BG_PID
	wait_listen "$sport" 10 "$SPID" || bail "$name: server did not listen" "$T/$name-srv.err"
	start_relay "$name-relay" --log-chunks "$@" 127.0.0.1 127.0.0.1 "$sport"
	window_env "$([ "$side" = cli ] && echo "$mode")" "$name-cli"
}

# end_pair NAME: wait for the server to finish (bounded), stop it and the relay.
end_pair() {
	wait_gone "$SPID" 10
	stop_pid "$SPID"
	stop_pid "$RELAY_PID"
	touch "$T/$1.sgot" "$T/$1.cgot"
}

# blocking_client NAME: errno_peer connects through the relay, sends
# "ping\n", shuts down writing, reads to EOF.
blocking_client() {
	TMO=20 preload "$T/$1-cli.log" "${WENV[@]}" "$EP" -T 10 -o "$T/$1.cgot" connect 127.0.0.1 "$RELAY_PORT" \
		'send:ping\n' shutwr recvall >"$T/$1.c" 2>&1
}

nb_client() {   # NAME ok|refused
	TMO=20 preload "$T/$1-cli.log" "${WENV[@]}" "$PY" "$T/nbc.py" "$RELAY_PORT" "$2" "$T/$1.cgot" \
		>"$T/$1.c" 2>&1
}

recv_line() { grep '^recv' "$1" 2>/dev/null | tail -n1; }

# never_clear NAME: no secsock log line of either side says clear.
never_clear() {
	assert_no_grep ' clear (in|out)bound' "$T/$1-cli.log" "$1: the client never went clear"
	assert_no_grep ' clear (in|out)bound' "$T/$1-srv.log" "$1: the server never went clear"
}

# window_saw_fin NAME SIDE MODE: in MODE window, the widened check ran and saw the FIN.
window_saw_fin() {
	[ "$3" = window ] || return 0
	assert_grep 'FIN seen' "$T/$1-$2.win" "$1: the $2's FIN check was widened and saw the FIN (step still needing bytes)"
}

# ---- a, b: the server's flight and FIN together, outbound
case_out() {   # NAME blocking|nonblocking MODE
	local n=$1 kind=$2 mode=$3
	start_pair "$n" cli "$mode" --fin-s2c-chunk 1
	if [ "$kind" = blocking ]; then
		blocking_client "$n"
		assert_eq "$(field "$T/$n.c" connect)" OK "$n: blocking connect succeeds" "$T/$n.c" "$T/$n-cli.log"
	else
		nb_client "$n" ok
		assert_grep '^connect EINPROGRESS$' "$T/$n.c" "$n: non-blocking connect returns EINPROGRESS" "$T/$n-cli.log"
		assert_grep '^so_error 0$' "$T/$n.c" "$n: the background handshake ends with SO_ERROR 0" "$T/$n-cli.log"
		assert_grep '^send 5$' "$T/$n.c" "$n: the client's send is accepted"
	fi
	end_pair "$n"
	check "$n: the relay sent FIN right behind the server's flight" grep -q 'conn 1 s2c FIN after chunk 1' "$T/$n-relay.err"
	window_saw_fin "$n" cli "$mode"
	assert_grep 'secured outbound' "$T/$n-cli.log" "$n: the client ends secured" "$T/$n-relay.err" "$T/$n-srv.log"
	assert_no_grep 'refused' "$T/$n-cli.log" "$n: the client does not refuse (\"went away\")" "$T/$n-cli.log"
	local l
	l=$(recv_line "$T/$n.c")
	case $l in
	"recv: 0 EOF" | "recv: 0 ECONNRESET" | "recv 0 EOF" | "recv 0 ECONNRESET") pass "$n: the client's read ends ($l)" ;;
	*) fail "$n: the client's read ends with EOF or ECONNRESET and no data (got '$l')" "$T/$n.c" "$T/$n-cli.log" ;;
	esac
	check "$n: the client got no byte (none was sent after the flight)" test ! -s "$T/$n.cgot"
	assert_grep 'secured inbound' "$T/$n-srv.log" "$n: the server ends secured" "$T/$n-srv.out"
	assert_eq "$(recv_line "$T/$n-srv.out")" "recv: 5 EOF" "$n: the server reads 5 bytes then EOF" "$T/$n-srv.out" "$T/$n-srv.log"
	assert_eq "$(od -An -c "$T/$n.sgot" | tr -s " ")" " p i n g \\n" "$n: the server read exactly \"ping\\n\""
	never_clear "$n"
}

# ---- c: the client's Finished, data, close_notify and FIN together, inbound
case_in() {   # NAME MODE
	local n=$1 mode=$2
	start_pair "$n" srv "$mode" --hold-c2s-from-chunk 2
	blocking_client "$n"
	end_pair "$n"
	check "$n: the relay held the client's second flight and sent it with the FIN" \
		grep -Eq 'conn 1 c2s released [0-9]+ held bytes .* with FIN behind' "$T/$n-relay.err"
	window_saw_fin "$n" srv "$mode"
	assert_grep 'secured inbound' "$T/$n-srv.log" "$n: the server ends secured" "$T/$n-relay.err" "$T/$n-srv.out"
	assert_no_grep 'refused' "$T/$n-srv.log" "$n: the server does not refuse (\"client went away\")" "$T/$n-srv.log"
	assert_eq "$(recv_line "$T/$n-srv.out")" "recv: 5 EOF" "$n: the server reads 5 bytes then EOF (close_notify)" \
		"$T/$n-srv.out" "$T/$n-srv.log"
	assert_eq "$(od -An -c "$T/$n.sgot" | tr -s ' ')" " p i n g \n" "$n: the server read exactly \"ping\\n\", nothing lost"
	assert_grep 'secured outbound' "$T/$n-cli.log" "$n: the client ends secured"
	assert_eq "$(recv_line "$T/$n.c")" "recv: 5 EOF" "$n: the server's answer reaches the client, then EOF" "$T/$n.c" "$T/$n-cli.log"
	assert_eq "$(cat "$T/$n.cgot")" pong "$n: the client read exactly pong"
	never_clear "$n"
}

# ---- d: part of a flight, then FIN
case_cut_s2c() {   # NAME blocking|nonblocking MODE
	local n=$1 kind=$2 mode=$3
	start_pair "$n" cli "$mode" --truncate-s2c 60
	if [ "$kind" = blocking ]; then
		blocking_client "$n"
		assert_eq "$(field "$T/$n.c" connect)" ECONNREFUSED "$n: blocking connect fails ECONNREFUSED" "$T/$n.c" "$T/$n-cli.log"
	else
		nb_client "$n" refused
		assert_grep '^connect EINPROGRESS$' "$T/$n.c" "$n: non-blocking connect returns EINPROGRESS" "$T/$n-cli.log"
		assert_grep '^so_error ECONNREFUSED$' "$T/$n.c" "$n: SO_ERROR is ECONNREFUSED" "$T/$n.c" "$T/$n-cli.log"
		assert_grep '^send (ECONNREFUSED|ECONNRESET|EPIPE)$' "$T/$n.c" "$n: a send fails" "$T/$n.c"
	fi
	end_pair "$n"
	check "$n: the relay cut the server's flight at 60 bytes" grep -q 'truncated (FIN) after 60 bytes' "$T/$n-relay.err"
	window_saw_fin "$n" cli "$mode"
	assert_grep 'refused outbound .*reason="require: connection closed or reset by peer"' "$T/$n-cli.log" \
		"$n: the client refuses: the peer went away" "$T/$n-cli.log"
	assert_no_grep 'secured' "$T/$n-cli.log" "$n: the client never ends secured"
	check "$n: the server got no data" test ! -s "$T/$n.sgot"
	assert_no_grep 'secured' "$T/$n-srv.log" "$n: the server never ends secured"
	never_clear "$n"
}

case_cut_c2s() {   # NAME MODE CUT
	local n=$1 mode=$2 cut=$3
	start_pair "$n" srv "$mode" --truncate-c2s "$cut"
	blocking_client "$n"
	end_pair "$n"
	check "$n: the relay cut the client's Finished at byte $cut" grep -q "truncated (FIN) after $cut bytes" "$T/$n-relay.err"
	window_saw_fin "$n" srv "$mode"
	assert_grep 'refused inbound .*reason="handshake: client went away"' "$T/$n-srv.log" \
		"$n: the server refuses: the client went away" "$T/$n-srv.log" "$T/$n-srv.out"
	assert_no_grep 'secured' "$T/$n-srv.log" "$n: the server never ends secured"
	assert_eq "$(recv_line "$T/$n-srv.out")" "recv: 0 ECONNRESET" "$n: the server's read fails ECONNRESET" "$T/$n-srv.out"
	check "$n: the server got no data" test ! -s "$T/$n.sgot"
	# TLS 1.3 (RFC 8446 §2): the client is done once its Finished is sent,
	# so it ends secured and the server's reset ends its read — unless the
	# reset lands before the client's post-handshake peer check
	# (getpeername fails: "connection closed or reset by peer before its
	# identity was checked"), and then
	# connect fails ECONNREFUSED.  Either way refused or reset, never clear.
	local cl
	cl="$(field "$T/$n.c" connect) $(recv_line "$T/$n.c")"
	case $cl in
	"OK recv: 0 ECONNRESET")
		assert_grep 'secured outbound' "$T/$n-cli.log" "$n: the client ended secured, then its read failed ECONNRESET" ;;
	"ECONNREFUSED ")
		assert_grep 'refused outbound' "$T/$n-cli.log" "$n: the client's connect failed ECONNREFUSED (the reset came first)" ;;
	*) fail "$n: the client's read fails ECONNRESET or its connect ECONNREFUSED (got '$cl')" "$T/$n.c" "$T/$n-cli.log" ;;
	esac
	check "$n: the client got no data" test ! -s "$T/$n.cgot"
	never_clear "$n"
}

for mode in relay window; do
	case_out "a-$mode" blocking "$mode"
	case_out "b-$mode" nonblocking "$mode"
	case_in "c-$mode" "$mode"
	case_cut_s2c "d1-$mode" blocking "$mode"
	case_cut_s2c "d2-$mode" nonblocking "$mode"
	# the cut lies inside the client's Finished record: the ClientHello's
	# length (chunk 1, from the relay's log of case a), then 20 bytes more
	ch=$(sed -n 's/^ss_relay: conn 1 c2s chunk 1: \([0-9]*\) bytes$/\1/p' "$T/a-$mode-relay.err")
	[ -n "$ch" ] || bail "no ClientHello length in $T/a-$mode-relay.err"
	case_cut_c2s "d3-$mode" "$mode" $((ch + 20))
done
finish
