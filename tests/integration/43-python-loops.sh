#!/usr/bin/env bash
# 43-python-loops — issue 5, must-show 4: python3 event loops, both ends
# preloaded, 10 MB echoed byte-exact:
#   a. asyncio (epoll selector) echo server + asyncio client that writes
#      while it reads;
#   b. select.epoll with EPOLLET on both ends: non-blocking sockets, every
#      wakeup reads (and writes) until EAGAIN and then waits for the next
#      edge — a library that left deliverable plaintext without a further
#      edge would hang this test (the time limit turns that into a failure).
. "$(dirname "$0")/lib.sh"
require_lib
require_no_system_policy

cat >"$T/aio.py" <<'PY'
import asyncio, hashlib, os, sys

async def handle(r, w):
    while True:
        b = await r.read(65536)
        if not b:
            break
        w.write(b)
        await w.drain()
    w.close()
    await w.wait_closed()

async def server(port_file):
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(srv.sockets[0].getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    async with srv:
        await srv.serve_forever()

async def client(port, data_file, out_file):
    data = open(data_file, "rb").read()
    r, w = await asyncio.open_connection("127.0.0.1", port)
    async def send():
        for i in range(0, len(data), 100000):   # odd chunk size: records do not line up
            w.write(data[i:i + 100000])
            await w.drain()
        w.write_eof()
    t = asyncio.ensure_future(send())
    got = bytearray()
    while True:
        b = await r.read(1 << 20)
        if not b:
            break
        got += b
    await t
    w.close()
    open(out_file, "wb").write(got)

if sys.argv[1] == "server":
    asyncio.run(server(sys.argv[2]))
else:
    asyncio.run(client(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
PY

cat >"$T/et.py" <<'PY'
# Edge-triggered epoll on both ends.  Echo server: one connection; client:
# sends the file and reads the echo back, all non-blocking.
import errno, os, select, socket, sys

ET = select.EPOLLET

def drain_read(s, sink):
    """Read until EAGAIN (the ET contract). Returns False on EOF."""
    while True:
        try:
            b = s.recv(65536 + 123)
        except BlockingIOError:
            return True
        if not b:
            return False
        sink(b)

def flush(s, buf):
    """Write until EAGAIN or empty. Returns the unsent rest."""
    while buf:
        try:
            n = s.send(buf[:1 << 18])
        except BlockingIOError:
            break
        buf = buf[n:]
    return buf

def server(port_file):
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0)); ls.listen(4)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    c, _ = ls.accept()
    c.setblocking(False)
    ep = select.epoll()
    ep.register(c, select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP | ET)
    out = bytearray(); eof = False; wakeups = 0
    while True:
        ev = ep.poll(20)
        if not ev:
            sys.exit("server: no edge for 20 s with %d bytes pending, eof=%s" % (len(out), eof))
        wakeups += 1
        for _, m in ev:
            if m & (select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP) and not eof:
                eof = not drain_read(c, out.extend)
            out = bytearray(flush(c, bytes(out))) if out else out
        if eof and not out:
            c.shutdown(socket.SHUT_WR)
            break
    # wait for the client to close
    c.setblocking(True)
    c.recv(1)
    c.close()
    print("server wakeups", wakeups)

def client(port, data_file, out_file):
    data = open(data_file, "rb").read()
    s = socket.socket()
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    ep = select.epoll()
    ep.register(s, select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP | ET)
    got = bytearray(); pend = data; shut = False; eof = False
    while not eof:
        ev = ep.poll(20)
        if not ev:
            sys.exit("client: no edge for 20 s: got %d of %d" % (len(got), len(data)))
        for _, m in ev:
            if m & select.EPOLLOUT and pend:
                pend = flush(s, pend)
            if not pend and not shut:
                s.shutdown(socket.SHUT_WR); shut = True
            if m & (select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP):
                eof = not drain_read(s, got.extend)
    s.close()
    open(out_file, "wb").write(got)

if sys.argv[1] == "server":
    server(sys.argv[2])
else:
    client(int(sys.argv[2]), sys.argv[3], sys.argv[4])
PY

make_data "$T/data.bin" $((10 * 1024 * 1024))

for kind in aio et; do
	rm -f "$T/$kind.port"
	start_bg "$kind-server" preload "$T/$kind-server.log" "$PY" "$T/$kind.py" server "$T/$kind.port"
	SRV=$BG_PID
	wait_file "$T/$kind.port" 10 || bail "$kind server did not start" "$T/$kind-server.err"
	TMO=40 preload "$T/$kind-client.log" "$PY" "$T/$kind.py" client "$(cat "$T/$kind.port")" \
		"$T/data.bin" "$T/$kind-got.bin" 2>"$T/$kind-client.err"
	check "$kind client: exit 0" [ $? -eq 0 ]
	assert_same_file "$T/$kind-got.bin" "$T/data.bin" "$kind: 10 MB echoed byte-exact"
	assert_grep "secured outbound" "$T/$kind-client.log" "$kind client: secured"
	wait_grep "secured inbound" "$T/$kind-server.log" 5
	assert_grep "secured inbound" "$T/$kind-server.log" "$kind server: secured"
	assert_no_grep "torn down|refused" "$T/$kind-server.log" "$kind server: nothing torn down"
	if [ "$kind" = et ]; then
		wait_gone "$SRV" 10
		assert_grep "server wakeups" "$T/et-server.out" "et server finished its loop" "$T/et-server.err"
	fi
	stop_pid "$SRV"
done
finish
