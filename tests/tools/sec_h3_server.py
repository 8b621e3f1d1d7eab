#!/usr/bin/env python3
"""sec_h3_server.py PORTFILE OUTDIR PAYLOAD — the server of tests/security/s30..s32.

Run under the preload (a `require` policy): accepts connections on
127.0.0.1 (port written to PORTFILE), one thread each.  A connection that
starts with "R\\n" is answered with PAYLOAD, one that starts with "Q" gets
nothing back; any other bytes are echoed.
Everything a connection delivered (plaintext, after the preload) goes to
OUTDIR/conn-N.in when it ends, and a line "conn-N eof" or "conn-N error E"
to OUTDIR/ends.
"""
import os, socket, sys, threading

pf, out, payload = sys.argv[1], sys.argv[2], sys.argv[3].encode()
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(64)
with open(pf + ".tmp", "w") as f:
    f.write(str(ls.getsockname()[1]))
os.rename(pf + ".tmp", pf)
lock = threading.Lock()


def serve(s, n):
    data, answered, end = b"", False, "eof"
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
            if data.startswith(b"R\n"):
                if not answered:
                    s.sendall(payload)
                    answered = True
            elif not data.startswith(b"Q"):
                s.sendall(b)
    except OSError as e:
        end = "error %s" % (e.strerror or e)
    with open(os.path.join(out, "conn-%d.in" % n), "wb") as f:
        f.write(data)
    with lock, open(os.path.join(out, "ends"), "a") as f:
        f.write("conn-%d %s\n" % (n, end))
    s.close()


n = 0
while True:
    s, _ = ls.accept()
    n += 1
    threading.Thread(target=serve, args=(s, n), daemon=True).start()
