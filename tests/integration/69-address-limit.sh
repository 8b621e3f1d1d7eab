#!/usr/bin/env bash
# 69-address-limit.sh — secsock's own address-space reservations stay small
# enough for programs that cap their address space (RLIMIT_AS, `ulimit -v`)
# after a secured connection exists: vsftpd's session process sets 200 MB
# and then mmaps; the engine's 4 GiB PROT_NONE pool reservation made every
# such mmap fail ("500 OOPS: mmap", tests/compat/KNOWN.md).  Both ends
# preloaded; the client secures a connection, forks, the child sets
# RLIMIT_AS to 200 MB, allocates, and uses the inherited connection.
. "$(dirname "$0")/lib.sh"
require_lib
require_no_system_policy
unset POLICY

pf=$T/port
start_bg srv preload "$T/srv.log" "$PY" "$REPO/tests/tools/sec_srv.py" echo "$pf"
spid=$BG_PID
for _ in $(seq 100); do [ -s "$pf" ] && break; sleep 0.05; done
port=$(cat "$pf" 2>/dev/null)
[ -n "$port" ] || bail "echo server did not start" "$T/srv.err"
cat >"$T/cli.py" <<'PY'
import mmap, os, resource, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"before fork\n"); print(s.recv(100).decode().strip())
with open("/proc/self/status") as f:
    vm = [l.split()[1] for l in f if l.startswith("VmSize")][0]
print("vmsize_kb", vm)
pid = os.fork()
if pid == 0:
    resource.setrlimit(resource.RLIMIT_AS, (200 << 20, 200 << 20))
    try:
        m = mmap.mmap(-1, 1 << 20)   # 1 MiB after the cap, as vsftpd's session allocates
        m[0:5] = b"hello"
        s.sendall(b"child after cap\n"); print(s.recv(100).decode().strip())
        print("child ok")
        os._exit(0)
    except Exception as e:
        print("child failed", repr(e)); os._exit(1)
_, st = os.waitpid(pid, 0)
print("child exit", os.waitstatus_to_exitcode(st))
PY
TMO=20 preload "$T/cli.log" "$PY" "$T/cli.py" "$port" >"$T/cli.out" 2>"$T/cli.err"
assert_grep '^before fork$' "$T/cli.out" "the connection works before the fork" "$T/cli.err"
assert_grep 'info: secured outbound' "$T/cli.log" "the connection is secured"
vm=$(awk '/^vmsize_kb/ {print $2}' "$T/cli.out")
assert_between "${vm:-999999999}" 0 $((200 * 1024)) "the preloaded process's address space is under 200 MB (VmSize kB)"
assert_grep '^child after cap$' "$T/cli.out" "after RLIMIT_AS 200 MB the child allocates and uses the connection" "$T/cli.err"
assert_grep '^child exit 0$' "$T/cli.out" "the capped child exits 0"
stop_pid "$spid"
finish
