#!/usr/bin/env python3
"""tag_server.py fork|thread PORT DATA OUT — a socketserver for the fault tests.

GET TAG: send DATA's bytes, close.  PUT TAG N: read N bytes (stored as they
arrive in OUT/TAG.bin), answer their sha256.  Every outcome is one line on
stderr, "PID TAG what ...": sent N, stored N, short N, error ERRNO-NAME, or
"? ..." when the request line itself never came.  fork: one process per
connection (socketserver.ForkingTCPServer: the child reads a moment after
accept); thread: one thread per connection in one process.
"""
import errno
import hashlib
import os
import socketserver
import sys

KIND, PORT, DATA, OUT = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], 'rb').read(), sys.argv[4]


def log(*a):
    print(os.getpid(), *a, file=sys.stderr, flush=True)


class H(socketserver.StreamRequestHandler):
    def handle(self):
        tag = '?'
        try:
            w = self.rfile.readline().decode().split()
            if len(w) < 2:
                log(tag, 'no request')
                return
            tag = w[1]
            if w[0] == 'GET':
                self.wfile.write(DATA)
                self.wfile.flush()
                log(tag, 'sent', len(DATA))
                return
            n, got = int(w[2]), bytearray()
            with open(os.path.join(OUT, tag + '.bin'), 'wb') as f:
                while len(got) < n:
                    b = self.rfile.read1(min(65536, n - len(got)))
                    if not b:
                        break
                    got += b
                    f.write(b)
                    f.flush()
            if len(got) < n:
                log(tag, 'short', len(got))
                return
            self.wfile.write((hashlib.sha256(got).hexdigest() + '\n').encode())
            self.wfile.flush()
            log(tag, 'stored', n)
        except OSError as e:
            log(tag, 'error', errno.errorcode.get(e.errno, type(e).__name__))


BASE = socketserver.ForkingTCPServer if KIND == 'fork' else socketserver.ThreadingTCPServer


class S(BASE):
    allow_reuse_address = True


S(('127.0.0.1', PORT), H).serve_forever()
