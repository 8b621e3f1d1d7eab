#!/usr/bin/env python3
"""sec_srv.py MODE PORTFILE [ARGS] — loopback peers for tests/security.

Listens on 127.0.0.1 (or ::1 with --host ::1) on a free port, writes the port
to PORTFILE (atomically), and serves every connection in a thread until
killed.  Run it plain for a server that does not speak secsock, or under the
preload for a secsock one.

  record OUT       append every byte received to OUT, echo it back
  echo             echo
  mute             accept and say nothing, read nothing
  echo1            echo the first message, then stay silent
  pieces           read the first message, wait 0.7 s, send 20000 bytes
                   ('A' + i % 26)
  sink OUT         read one byte, wait 2.5 s without reading, then read to EOF, checking
                   byte i == i * 7 % 251; writes "received N bad M" to OUT
  splitrelay TPORT forward to 127.0.0.1:TPORT; server->client bytes that
                   arrive 0.5 s or more after the connection was made go out
                   as 3000 bytes, then (2.5 s later) the rest
"""
import os
import socket
import sys
import threading
import time

args = sys.argv[1:]
host = "127.0.0.1"
if "--host" in args:
    i = args.index("--host")
    host = args[i + 1]
    del args[i:i + 2]
mode, portfile, rest = args[0], args[1], args[2:]
lock = threading.Lock()


def recv_all(c, f):
    while True:
        b = c.recv(65536)
        if not b:
            return
        f(b)


def serve(c):
    t0 = time.monotonic()
    with c:
        try:
            if mode == "record":
                def keep(b):
                    with lock, open(rest[0], "ab") as f:
                        f.write(b)
                    c.sendall(b)
                recv_all(c, keep)
            elif mode == "echo":
                recv_all(c, c.sendall)
            elif mode == "mute":
                time.sleep(60)
            elif mode == "echo1":
                b = c.recv(65536)
                c.sendall(b)
                time.sleep(60)
            elif mode == "pieces":
                c.recv(100)
                time.sleep(0.7)
                c.sendall(bytes(ord("A") + i % 26 for i in range(20000)))
                time.sleep(30)
            elif mode == "sink":
                n = bad = 0
                first = True
                while True:
                    b = c.recv(1 if first else 1 << 20)
                    if first:
                        time.sleep(2.5)   # the handshake is done: now stall
                        first = False
                    if not b:
                        break
                    for j, x in enumerate(b):
                        if x != (n + j) * 7 % 251:
                            bad += 1
                    n += len(b)
                with open(rest[0] + ".tmp", "w") as f:
                    f.write("received %d bad %d\n" % (n, bad))
                os.rename(rest[0] + ".tmp", rest[0])
            elif mode == "splitrelay":
                u = socket.create_connection(("127.0.0.1", int(rest[0])))
                def up():
                    try:
                        recv_all(c, u.sendall)
                    finally:
                        u.shutdown(socket.SHUT_WR)
                threading.Thread(target=up, daemon=True).start()
                def down(b):
                    if time.monotonic() - t0 >= 0.5 and len(b) > 3000:
                        c.sendall(b[:3000])
                        time.sleep(2.5)
                        b = b[3000:]
                    c.sendall(b)
                recv_all(u, down)
        except OSError:
            pass


ls = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((host, 0))
ls.listen(32)
with open(portfile + ".tmp", "w") as f:
    f.write(str(ls.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
while True:
    conn, _ = ls.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
