#!/usr/bin/env bash
# 70-privsep-handoff.sh — a privilege-separated server (vsftpd's passive
# data connections) accepts a connection and passes it at once to another
# of its processes with SCM_RIGHTS.  A governed connection still being
# decided is decided first, as a write would decide it: from a plain client
# that says nothing it ends clear after server-first-wait and may go (the
# receiver serves it); from a secsock client it ends secured and the
# hand-off is refused (EPERM), as issue 10 requires.  Before, every
# undecided connection was refused ("500 OOPS: sendmsg").
. "$(dirname "$0")/lib.sh"
require_lib
require_no_system_policy
unset POLICY

cat >"$T/srv.py" <<'PY'
import os, socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", 0)); l.listen(4)
open(sys.argv[1] + ".tmp", "w").write(str(l.getsockname()[1])); os.rename(sys.argv[1] + ".tmp", sys.argv[1])
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
if os.fork() == 0:                     # the "unprivileged" process: serves what it is given
    l.close(); a.close()
    while True:
        msg, fds, _, _ = socket.recv_fds(b, 16, 1)
        if not fds: os._exit(0)
        c = socket.socket(fileno=fds[0])
        c.sendall(b"hello from the receiver\n"); c.close()
for _ in range(2):
    c, _ = l.accept()
    try:
        socket.send_fds(a, [b"x"], [c.fileno()])
        print("handoff ok", flush=True)
    except OSError as e:
        print("handoff refused", e.errno, flush=True)
        c.sendall(b"hello from the acceptor\n")
    c.close()
a.close()
PY
cat >"$T/cli.py" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
print(s.makefile().readline().strip())
PY
start_bg srv preload "$T/srv.log" "$PY" "$T/srv.py" "$T/port"
spid=$BG_PID
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
port=$(cat "$T/port" 2>/dev/null)
[ -n "$port" ] || bail "server did not start" "$T/srv.err"
TMO=15 plain "$PY" "$T/cli.py" "$port" >"$T/plain.out" 2>"$T/plain.err"
TMO=15 preload "$T/cli.log" "$PY" "$T/cli.py" "$port" >"$T/sec.out" 2>"$T/sec.err"
wait_gone "$spid" 10
assert_grep '^hello from the receiver$' "$T/plain.out" "plain client: the undecided connection ended clear and was handed off" "$T/plain.err" "$T/srv.out"
assert_grep '^handoff ok$' "$T/srv.out" "plain client: sendmsg(SCM_RIGHTS) succeeded" "$T/srv.err"
assert_grep 'notice: clear inbound' "$T/srv.log" "plain client: decided clear (logged)"
assert_grep '^hello from the acceptor$' "$T/sec.out" "secsock client: the acceptor kept the secured connection" "$T/sec.err"
assert_grep '^handoff refused 1$' "$T/srv.out" "secsock client: the hand-off of the secured connection was refused (EPERM)"
assert_grep 'info: secured outbound' "$T/cli.log" "secsock client: secured"
finish
