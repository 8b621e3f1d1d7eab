#!/usr/bin/env bash
# 62-exec-share.sh — issue 11 item 2: a secured connection held by several
# processes across exec shares one record state, and only the last holder's
# close ends it (close_notify).
#  a) client side: the program forks a helper that execs (and execs again)
#     with the socket inherited, never touching it, while the parent goes on
#     writing and reading; the helper exits mid-stream.  Every round comes
#     back byte-exact, no record is rejected, the server sees close_notify
#     only after the parent's last byte (all bytes counted, then "eof").
#     Before the fork, an exec that fails (ENOENT) changes nothing: the
#     connection goes on, no memfd is left inheritable.
#  b) server side: a daemon accepts, forks, execs a handler with the socket
#     as fd 0 and fd 1 and closes its copy; the handler answers, execs again
#     and echoes.  The client's rounds come back byte-exact, its half-close
#     reaches the handler, and the handler's exit ends the stream cleanly.
#     (The handler's second image forks and execs the echo, as a shell
#     script would, and writes its goodbye after it: a shared state again.)
#  c) the arena's memfd (which the shared hand-off passes on) never reaches
#     a program that cannot load the preload: a static program run by
#     system() and by fork+exec from a process holding a secured connection
#     finds no memfd among its descriptors; and SCM_RIGHTS refuses it (d).
. "$(dirname "$0")/lib.sh"
require_lib
require_tools exec_share
require_no_system_policy
unset POLICY

ES=$TOOLS/exec_share
ROUNDS=200

# ---- a) client side
port=$(free_port)
start_bg echo preload "$T/echo.log" "$ES" echo "$port"
spid=$BG_PID
wait_listen "$port" 10 "$spid" || bail "echo server did not listen" "$T/echo.err"
TMO=30 preload "$T/client.log" "$ES" client "$port" "$ROUNDS" >"$T/client.out" 2>"$T/client.err"
total=$(sed -n 's/^client ok \([0-9]*\)$/\1/p' "$T/client.out")
during=$(sed -n 's/^client helper_status 0 during \([0-9]*\)$/\1/p' "$T/client.out")
assert_grep '^client helper_status 0 during [1-9][0-9]*$' "$T/client.out" "client: the helper (double exec) exited 0; the parent made rounds while it held the socket" "$T/client.err" "$T/client.log"
assert_grep '^client failed_exec errno 2 inheritable_memfds 0$' "$T/client.out" "client: a failed exec (ENOENT) left no memfd inheritable" "$T/client.err"
assert_eq "${total:-none}" "$((3 + ${during:-0} + ROUNDS))" "client: every round (3 before — one after the failed exec —, ${during:-?} during, $ROUNDS after the helper) byte-exact both ways" "$T/client.out" "$T/client.log"
wait_gone "$spid" 10
assert_grep "^server bytes $(( ${total:-0} * 16384 )) end eof 0\$" "$T/echo.out" "client: the server saw every byte, then one clean close_notify (the parent's)" "$T/echo.log"
assert_no_grep 'rejected|torn down|truncation|shut down' "$T/client.log" "client: no record rejected, nothing torn down in the client or its helper"
assert_no_grep 'rejected|torn down|truncation' "$T/echo.log" "client: the server saw no bad record, no truncation"
assert_grep 'inherited secured connection' "$T/client.log" "client: the exec'd helper took the shared state"

# ---- b) server side
port=$(free_port)
start_bg daemon preload "$T/daemon.log" "$ES" daemon "$port"
spid=$BG_PID
wait_listen "$port" 10 "$spid" || bail "daemon did not listen" "$T/daemon.err"
TMO=30 preload "$T/talk.log" "$ES" talk "$port" "$ROUNDS" >"$T/talk.out" 2>"$T/talk.err"
assert_grep "^talk ok $ROUNDS end eof 0\$" "$T/talk.out" "daemon: hello, then $ROUNDS rounds byte-exact through handler → exec → handler, clean EOF" "$T/talk.err" "$T/daemon.log" "$T/daemon.err"
wait_gone "$spid" 10
assert_grep '^daemon handler_status 0$' "$T/daemon.out" "daemon: the handler exited 0 (its writes on fd 1 worked)" "$T/daemon.err"
assert_no_grep 'rejected|torn down|truncation|shut down' "$T/daemon.log" "daemon: nothing rejected or torn down in the daemon or its handlers"
assert_no_grep 'rejected|torn down|truncation' "$T/talk.log" "daemon: the client saw no bad record, no truncation"
assert_grep 'secured inbound' "$T/daemon.log" "daemon: the connection was secured"

# ---- c) the arena memfd never reaches a program that cannot load the preload
if [ -e /usr/lib/x86_64-linux-gnu/libc.a ] && command -v cc >/dev/null; then
	cat >"$T/fdlist.c" <<'CEOF'
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void)
{
	char p[64], l[256];
	int n = 0;
	for (int fd = 0; fd < 1024; fd++) {
		snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
		ssize_t k = readlink(p, l, sizeof l - 1);
		if (k <= 0)
			continue;
		l[k] = '\0';
		n++;
		if (strstr(l, "memfd:"))
			printf("memfd-seen %d %s\n", fd, l);
	}
	printf("fdlist %d fds\n", n);
	return 0;
}
CEOF
	cc -static -O1 -o "$T/fdlist" "$T/fdlist.c" || bail "cannot build a static program"
	port=$(free_port)
	start_bg echo-c preload "$T/echo-c.log" "$ES" echo "$port"
	spid=$BG_PID
	wait_listen "$port" 10 "$spid" || bail "echo server did not listen" "$T/echo-c.err"
	TMO=30 preload "$T/probe.log" "$ES" probe "$port" "$T/fdlist" >"$T/probe.out" 2>"$T/probe.err"
	assert_grep '^probe rounds ok$' "$T/probe.out" "static probe: the connection worked around system()" "$T/probe.err" "$T/probe.log"
	assert_count '^fdlist [0-9]+ fds$' "$T/probe.out" 2 "static probe: ran by system() and by fork+exec"
	assert_no_grep 'memfd' "$T/probe.out" "static probe: no memfd of ours (arena or hand-off) in a program that cannot load the preload"
	stop_pid "$spid"
else
	echo "# c) skipped: no static libc (libc6-dev) or cc"
fi

# ---- d) nor does it leave by SCM_RIGHTS
port=$(free_port)
start_bg echo-d preload "$T/echo-d.log" "$ES" echo "$port"
spid=$BG_PID
wait_listen "$port" 10 "$spid" || bail "echo server did not listen" "$T/echo-d.err"
TMO=30 preload "$T/scm.log" "$ES" scm "$port" >"$T/scm.out" 2>"$T/scm.err"
assert_grep '^scm arena -1 Operation not permitted$' "$T/scm.out" "SCM_RIGHTS of the arena memfd: refused (EPERM)" "$T/scm.err" "$T/scm.log"
assert_grep '^scm pipe 1 sent$' "$T/scm.out" "SCM_RIGHTS of a pipe: passed (control)"
assert_grep '^scm rounds ok$' "$T/scm.out" "SCM_RIGHTS: the connection went on"
stop_pid "$spid"

finish
