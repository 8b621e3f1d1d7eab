#!/usr/bin/python3
"""tap.py — the recording tap of `make compat` (tests/compat/README.md).

  tap.py relay DIR LHOST LPORT THOST TPORT
      A loopback TCP relay: accepts on LHOST:LPORT (0 = pick a port; the port
      is written to DIR/port once listening), connects each connection to
      THOST:TPORT and copies bytes both ways, recording what each side sent
      as DIR/conn-N.c2s and DIR/conn-N.s2c (N from 1).  EOF is passed on as a
      half-close (shutdown SHUT_WR), a reset as a close of the other side.
      It runs without the preload, so it records the wire as TCP carries it.

  tap.py check MARKER DIR...
      The wire check of a both-ends-preloaded run: every recorded connection
      that carried bytes starts, in each direction that carried any, with a
      TLS handshake record header (0x16 0x03: RFC 8446 section 5.1,
      ContentType handshake, legacy_record_version 0x03xx), and MARKER occurs
      in no recorded byte stream.  Prints one line per connection and a
      summary; exit 0 when all hold and at least one connection was seen.

  tap.py clear MARKER DIR...
      The opposite, for one-sided runs that must fall back to clear: MARKER
      occurs on the wire (the fallback carried the payload in clear).
"""
import glob
import os
import socket
import sys
import threading

BUF = 65536


def pump(src, dst, path, peer_closed):
    with open(path, "wb", buffering=0) as rec:
        while True:
            try:
                data = src.recv(BUF)
            except OSError:
                data = None
            if not data:
                break
            rec.write(data)
            try:
                dst.sendall(data)
            except OSError:
                break
    if data is None:
        # a reset on one side: reset the other (SO_LINGER 0) so the program sees it
        try:
            dst.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            dst.close()
        except OSError:
            pass
        return
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    peer_closed.set()


def serve(cli, n, target, rdir):
    try:
        up = socket.create_connection(target)
    except OSError as e:
        sys.stderr.write("tap: conn-%d: connect %s:%d: %s\n" % (n, target[0], target[1], e))
        cli.close()
        return
    base = os.path.join(rdir, "conn-%d" % n)
    done = [threading.Event(), threading.Event()]
    t = [threading.Thread(target=pump, args=(cli, up, base + ".c2s", done[0]), daemon=True),
         threading.Thread(target=pump, args=(up, cli, base + ".s2c", done[1]), daemon=True)]
    for x in t:
        x.start()
    for x in t:
        x.join()
    cli.close()
    up.close()


def relay(rdir, lhost, lport, thost, tport):
    os.makedirs(rdir, exist_ok=True)
    fam = socket.AF_INET6 if ":" in lhost else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((lhost, int(lport)))
    ls.listen(128)
    tmp = os.path.join(rdir, "port.tmp")
    with open(tmp, "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(tmp, os.path.join(rdir, "port"))
    n = 0
    while True:
        c, _ = ls.accept()
        n += 1
        threading.Thread(target=serve, args=(c, n, (thost, int(tport)), rdir), daemon=True).start()


def streams(dirs):
    out = []
    for d in dirs:
        for c2s in sorted(glob.glob(os.path.join(d, "conn-*.c2s"))):
            base = c2s[:-4]
            parts = []
            for suf in ("c2s", "s2c"):
                try:
                    with open(base + "." + suf, "rb") as f:
                        parts.append(f.read())
                except OSError:
                    parts.append(b"")
            out.append((os.path.relpath(base, os.path.dirname(d)), parts))
    return out


def check(marker, dirs, want_tls):
    m = marker.encode()
    bad = 0
    seen = 0
    found = False
    for name, parts in streams(dirs):
        if not parts[0] and not parts[1]:
            print("  %s: no bytes either way" % name)
            continue
        seen += 1
        heads = []
        for suf, data in zip(("c2s", "s2c"), parts):
            if data:
                heads.append("%s %dB first %s" % (suf, len(data), data[:2].hex()))
                if want_tls and data[:2] != b"\x16\x03":
                    heads[-1] += " NOT-TLS"
                    bad += 1
            if m in data:
                found = True
                heads.append("MARKER in " + suf)
                if want_tls:
                    bad += 1
        print("  %s: %s" % (name, ", ".join(heads)))
    if want_tls:
        ok = seen > 0 and bad == 0
        print("tap check: %d connections, %s" % (seen, "all TLS, marker absent" if ok else
              "%d problems" % bad if seen else "none recorded"))
    else:
        ok = found
        print("tap clear: %d connections, marker %s" % (seen, "on the wire" if found else "not seen"))
    return 0 if ok else 1


def main(argv):
    if len(argv) == 7 and argv[1] == "relay":
        relay(*argv[2:])
        return 0
    if len(argv) >= 4 and argv[1] in ("check", "clear"):
        return check(argv[2], argv[3:], argv[1] == "check")
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
