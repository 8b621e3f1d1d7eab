#!/usr/bin/env python3
"""sec_h6_peer.py PORTFILE RESULT DELAY [--reply]

Accept one connection on 127.0.0.1 (port written to PORTFILE), read the
first 4 bytes, wait DELAY seconds without reading (so the writer's last
records stay inside its preload), then read to the end and check every byte against the counter
pattern of sec_h6_tail.c: byte i of the stream is byte i%4 of the
big-endian 32-bit number i//4.  With --reply, answer BYE after the end
(the writer half-closed).  RESULT gets one line:
    bytes=N bad=OFFSET|-1 end=EOF|ERROR:reason
"""
import array
import os
import socket
import sys
import time


def expected(n):
    words = array.array("I", range(n // 4 + 1))
    if sys.byteorder == "little":
        words.byteswap()
    return words.tobytes()[:n]


def main():
    portfile, result, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
    reply = "--reply" in sys.argv[4:]
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # a fixed window (no autotuning): the writer's buffer stays full
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 128 * 1024)
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    c, _ = ls.accept()
    c.settimeout(20)
    chunks, end = [], "EOF"
    # The writer's first 4 bytes: reading them completes the handshake
    # (secsock drives an accepted connection's handshake from its reads).
    first = b""
    while len(first) < 4:
        d = c.recv(4 - len(first))
        if not d:
            break
        first += d
    chunks.append(first)
    time.sleep(delay)
    while True:
        try:
            d = c.recv(1 << 20)
        except OSError as e:
            end = "ERROR:" + (e.strerror or str(e)).replace(" ", "_")
            break
        if not d:
            break
        chunks.append(d)
    got = b"".join(chunks)
    want = expected(len(got))
    bad = -1
    if got != want:
        bad = next(i for i in range(len(got)) if got[i] != want[i])
    if reply and end == "EOF":
        try:
            c.sendall(b"BYE")
        except OSError:
            pass
    c.close()
    with open(result + ".tmp", "w") as f:
        f.write("bytes=%d bad=%d end=%s\n" % (len(got), bad, end))
    os.rename(result + ".tmp", result)


if __name__ == "__main__":
    main()
