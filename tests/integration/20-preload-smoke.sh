#!/bin/bash
# 20-preload-smoke.sh — the preload's own socket-semantics checks, in one
# preloaded python3 process (server thread + client): secsock_query through
# ctypes, MSG_PEEK, MSG_WAITALL, non-blocking EAGAIN, FIONREAD, the program's
# SO_RCVLOWAT virtualised, dup sharing one connection, sendfile, shutdown →
# EOF, a small read of a big record (partial-plaintext cache), and
# `secsock run` warnings for programs the preload cannot reach.
. "$(dirname "$0")/lib.sh"
require_lib
require_no_system_policy

cat >"$T/smoke.py" <<'PY'
import ctypes, fcntl, os, socket, struct, sys, termios, threading
lib = ctypes.CDLL(sys.argv[1], use_errno=True)
class Info(ctypes.Structure):
    _fields_ = [("state", ctypes.c_int), ("outbound", ctypes.c_int),
                ("cipher", ctypes.c_char * 32), ("group", ctypes.c_char * 16),
                ("auth", ctypes.c_char * 16), ("peer", ctypes.c_char * 256),
                ("rule", ctypes.c_char * 64), ("mutual", ctypes.c_int),
                ("standard_tls", ctypes.c_int), ("handshake_usec", ctypes.c_uint64),
                ("flags", ctypes.c_uint), ("peer_fingerprint", ctypes.c_char * 52),
                ("expiry", ctypes.c_int64), ("resumed", ctypes.c_int)]
V1 = Info.resumed.offset + ctypes.sizeof(ctypes.c_int)   # SECSOCK_INFO_V1_SIZE
def query(fd):
    i = Info(); r = lib.secsock_query(fd, ctypes.byref(i)); return r, i
def out(k, v): print("%s: %s" % (k, v), flush=True)

big = os.urandom(40000)
path = sys.argv[2]
with open(path, "wb") as f: f.write(big)
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(1)
port = ls.getsockname()[1]
got = {}
ready = threading.Event()   # the client has checked EAGAIN: the server may answer
def server():
    c, _ = ls.accept()
    got["peek"] = c.recv(5, socket.MSG_PEEK)
    got["read"] = c.recv(5)
    r, i = query(c.fileno()); got["srv_state"] = i.state; got["srv_out"] = i.outbound
    # small read of a big record: cache then the rest
    got["small"] = c.recv(3)
    buf = b""
    while len(buf) < 39997:
        b = c.recv(65536)
        if not b: break
        buf += b
    got["big"] = got["small"] + buf
    ready.wait(10)
    c.sendall(b"pong")
    # sendfile from the server side
    with open(path, "rb") as f:
        got["sf"] = c.sendfile(f)
    c.shutdown(socket.SHUT_WR)
    got["eof"] = c.recv(10)
    c.close()
t = threading.Thread(target=server); t.start()
s = socket.socket()
out("badfd", lib.secsock_query(9999, ctypes.byref(Info())))
s.connect(("127.0.0.1", port))
r, i = query(s.fileno())
out("query", "%d %d %d %s %s %s %s" % (r, i.state, i.outbound, i.cipher.decode(), i.group.decode(), i.auth.decode(), i.rule.decode()))
# a caller built against the first header: secsock_query writes V1 bytes, not one more
buf = ctypes.create_string_buffer(b"\xa5" * (V1 + 256), V1 + 256)
lib.secsock_query(s.fileno(), buf)
out("canary", "intact" if buf.raw[V1:] == b"\xa5" * 256 else "overwritten")
lib.secsock_query_ex.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
out("query_ex_small", "%d %d" % (lib.secsock_query_ex(s.fileno(), buf, V1 - 1), ctypes.get_errno()))
buf2 = ctypes.create_string_buffer(b"\xa5" * (V1 + 256), V1 + 256)
out("query_ex", "%d %s" % (lib.secsock_query_ex(s.fileno(), buf2, V1 + 256), "filled" if buf2.raw[:4] == buf.raw[:4] else "differs"))
s.sendall(b"hello")
s.sendall(big[:40000])
# program's SO_RCVLOWAT is kept and reported back
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 7)
out("rcvlowat", s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT))
# dup shares the connection
d = os.dup(s.fileno())
r, i = query(d); out("dupstate", i.state)
# non-blocking read before the server answered: EAGAIN
s.setblocking(False)
try:
    s.recv(10); out("eagain", "no")
except BlockingIOError:
    out("eagain", "yes")
s.setblocking(True)
ready.set()
out("pong", s.recv(4, socket.MSG_WAITALL).decode())
os.close(d)
data = b""
while len(data) < 40000:
    import select; select.select([s], [], [], 5)
    n = struct.unpack("i", fcntl.ioctl(s.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
    if n > 0: got["fionread"] = n
    b = s.recv(65536)
    if not b: break
    data += b
out("sendfile", "ok" if data == big else "bad %d" % len(data))
out("eofread", repr(s.recv(10)))
s.shutdown(socket.SHUT_WR)
t.join()
out("peek", got["peek"].decode()); out("read", got["read"].decode())
out("srv", "%d %d" % (got["srv_state"], got["srv_out"]))
out("big", "ok" if got["big"] == big else "bad")
out("fionread", "positive" if got.get("fionread", 0) > 0 else "zero")
out("srveof", repr(got["eof"]))
PY

preload "$T/smoke.log" "$PY" "$T/smoke.py" "$SO" "$T/big.bin" >"$T/smoke.out" 2>"$T/smoke.err"
rc=$?
assert_eq "$rc" 0 "smoke script exits 0" "$T/smoke.err" "$T/smoke.log"
f() { sed -n "s/^$1: //p" "$T/smoke.out"; }
assert_eq "$(f badfd)" "-1" "secsock_query on a closed fd fails"
assert_eq "$(f query)" "0 3 1 aes-128-gcm x25519 anonymous defaults" "secsock_query: secured outbound, cipher, group, auth, rule"
assert_eq "$(f canary)" "intact" "secsock_query writes SECSOCK_INFO_V1_SIZE bytes only (a caller of the first header keeps its memory)"
assert_eq "$(f query_ex_small)" "-1 90" "secsock_query_ex below SECSOCK_INFO_V1_SIZE: EMSGSIZE"
assert_eq "$(f query_ex)" "0 filled" "secsock_query_ex with a larger size fills the struct"
assert_eq "$(f srv)" "3 0" "secsock_query on the accepted socket: secured inbound"
assert_eq "$(f peek)" "hello" "MSG_PEEK returns the plaintext"
assert_eq "$(f read)" "hello" "the peeked bytes are read again"
assert_eq "$(f rcvlowat)" "7" "the program's SO_RCVLOWAT is virtualised"
assert_eq "$(f dupstate)" "3" "dup shares the secured connection"
assert_eq "$(f eagain)" "yes" "non-blocking read with nothing queued: EAGAIN"
assert_eq "$(f pong)" "pong" "MSG_WAITALL read"
assert_eq "$(f big)" "ok" "3-byte read of a big record, then the rest, byte-exact"
assert_eq "$(f sendfile)" "ok" "sendfile to a secured socket arrives byte-exact"
assert_eq "$(f fionread)" "positive" "FIONREAD reports plaintext available"
assert_eq "$(f eofread)" "b''" "shutdown(SHUT_WR) → close_notify → EOF"
assert_eq "$(f srveof)" "b''" "client shutdown → server EOF"
assert_count "secured outbound" "$T/smoke.log" 1 "one secured outbound line"
assert_count "secured inbound" "$T/smoke.log" 1 "one secured inbound line"

# secsock run: warnings for programs the preload cannot reach
if command -v gcc >/dev/null; then
	printf 'int main(void){return 0;}\n' >"$T/st.c"
	if gcc -static -o "$T/st" "$T/st.c" 2>/dev/null; then
		"$SECSOCK" run -- "$T/st" 2>"$T/st.err"
		assert_grep "statically linked" "$T/st.err" "secsock run warns for a static binary"
	fi
fi
"$SECSOCK" run -- su --version >/dev/null 2>"$T/su.err"
assert_grep "setuid" "$T/su.err" "secsock run warns for a setuid program"
# secsock run end to end: a plain server process, a client under `secsock run`
port=$(free_port)
start_bg run-srv preload "$T/run-srv.log" "$PY" -c "
import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $port)); s.listen(1); a,_=s.accept(); a.sendall(a.recv(5)); a.close()"
wait_listen "$port" 10 "$BG_PID" || bail "run server did not listen"
TMO=20 "$SECSOCK" run --log info --log-file "$T/run.log" -- "$PY" -c "
import socket; c=socket.create_connection(('127.0.0.1', $port)); c.sendall(b'xyzzy'); print(c.recv(5).decode())" >"$T/run.out" 2>&1
assert_eq "$(cat "$T/run.out")" "xyzzy" "secsock run: the program runs and talks" "$T/run.out" "$T/run.log"
assert_grep "secured outbound" "$T/run.log" "secsock run: its connection was secured"
finish
