#!/usr/bin/env bash
# 55-review-edges.sh — edge cases found in the review of the issue 6 work,
# each of which failed before its fix:
#   a. FIONREAD after a read that ended inside a record (the record's head
#      waits in the partial buffer, the kernel queue starts mid-record) says
#      how much is readable, not 0, while select() says readable.
#   b. O_NONBLOCK set with a raw syscall(SYS_fcntl) — invisible to the
#      shims — is honoured: recv answers EAGAIN at once instead of blocking.
#   c. a busy connection with two descriptors (dup) is not trimmed by the
#      idle trim (each connection is looked at once per scan).
. "$(dirname "$0")/lib.sh"
require_lib
require_no_system_policy

cat >"$T/pair.py" <<'PY'
# pair.py CASE server|client PORTFILE — server and client of one case.
import array, ctypes, errno, fcntl, os, select, socket, sys, termios, time
case, role, pf = sys.argv[1:4]
libc = ctypes.CDLL(None, use_errno=True)

def listen():
    ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(1)
    open(pf + ".tmp", "w").write(str(ls.getsockname()[1])); os.rename(pf + ".tmp", pf)
    s, _ = ls.accept()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s

def connect():
    return socket.create_connection(("127.0.0.1", int(open(pf).read())))

if case == "fionread":
    if role == "server":
        s = listen(); s.sendall(b"A" * 100); s.sendall(b"B" * 5000); time.sleep(3); s.close()
    else:
        s = connect(); time.sleep(1.0)          # both records queued
        first = s.recv(300)
        a = array.array("i", [0]); fcntl.ioctl(s.fileno(), termios.FIONREAD, a)
        r, _, _ = select.select([s], [], [], 0)
        rest = b""
        while len(first) + len(rest) < 5100:
            b = s.recv(10000)
            if not b: break
            rest += b
        print("first=%d fionread=%d readable=%d rest=%d" % (len(first), a[0], bool(r), len(rest)))
elif case == "rawnb":
    if role == "server":
        s = listen(); s.sendall(b"h"); time.sleep(1.0); s.sendall(b"a"); time.sleep(4); s.close()
    else:
        s = connect(); fd = s.fileno(); buf = ctypes.create_string_buffer(100)
        libc.recv(fd, buf, 1, 0); libc.recv(fd, buf, 100, 0)   # a blocking wait: "blocking" cached
        libc.syscall(72, fd, 4, os.O_NONBLOCK)                  # SYS_fcntl, F_SETFL: not via the shim
        t = time.time(); r = libc.recv(fd, buf, 100, 0); e = ctypes.get_errno()
        print("rawnb r=%d errno=%s secs=%.2f" % (r, errno.errorcode.get(e, e), time.time() - t))
elif case == "duptrim":
    if role == "server":
        s = listen()
        while True:
            b = s.recv(100)
            if not b: break
            s.sendall(b)
    else:
        s = connect(); d = os.dup(s.fileno()); t0 = time.time(); n = 0
        while time.time() - t0 < 2.5:            # never idle: a record each way every 50 ms
            s.sendall(b"x"); assert s.recv(10) == b"x"; n += 1; time.sleep(0.05)
        print("duptrim rounds=%d" % n); s.close(); os.close(d)
PY

# run_case CASE [ENV...]: server in the background, client in front, both preloaded.
run_case() {
	local c=$1
	shift
	rm -f "$T/$c.port"
	start_bg "$c-srv" preload "$T/$c-srv.log" env "$@" "$PY" "$T/pair.py" "$c" server "$T/$c.port"
	wait_file "$T/$c.port" 10 || bail "$c: server did not start" "$T/$c-srv.err"
	SECSOCK_LOG=${CLIENT_LOG:-info} preload "$T/$c-cli.log" env "$@" "$PY" "$T/pair.py" "$c" client "$T/$c.port" >"$T/$c.out" 2>&1
	stop_pid "$BG_PID"
}

run_case fionread
assert_grep 'secured outbound' "$T/fionread-cli.log" "a: secured" "$T/fionread-cli.log"
read -r first fio readable rest < <(sed -n 's/^first=\([0-9]*\) fionread=\([0-9]*\) readable=\([0-9]\) rest=\([0-9]*\)$/\1 \2 \3 \4/p' "$T/fionread.out")
check "a: all 5100 bytes arrive" test "$((first + rest))" -eq 5100
check "a: select says readable after the first read" test "${readable:-0}" -eq 1
check "a: FIONREAD after a read ending inside a record is not 0 (got ${fio:-none})" test "${fio:-0}" -gt 0
check "a: FIONREAD covers what is left (${fio:-none} >= ${rest:-none})" test "${fio:-0}" -ge "${rest:-1}"

run_case rawnb
assert_grep '^rawnb r=-1 errno=EAGAIN' "$T/rawnb.out" "b: O_NONBLOCK set by raw syscall: recv answers EAGAIN" "$T/rawnb.out"
secs=$(sed -n 's/.*secs=\([0-9.]*\)$/\1/p' "$T/rawnb.out")
check "b: ... at once (${secs:-?} s)" awk -v s="${secs:-9}" 'BEGIN { exit !(s < 0.5) }'

CLIENT_LOG=debug run_case duptrim SECSOCK_IDLE_TRIM_MS=300
assert_grep '^duptrim rounds=[0-9]' "$T/duptrim.out" "c: busy dup'd connection: echo rounds done" "$T/duptrim.out"
assert_grep 'secured outbound' "$T/duptrim-cli.log" "c: secured (debug log written)" "$T/duptrim-cli.log"
assert_no_grep 'idle trim: [1-9]' "$T/duptrim-cli.log" "c: a busy connection with two descriptors is never trimmed"
finish
