#!/usr/bin/env bash
# s45-audit-log.sh — issue 16 "Audit logging", must-show 3: what an admin
# sees, in which form, how much of it, and never a secret.
#   a. default level (SECSOCK_LOG unset, info): a secured connection is
#      logged at info; a clear fallback under `request`
#      (the embedded default) to a plain server is logged, at notice, with
#      its reason; no info line (a secured connection is info).
#   b. SECSOCK_LOG_FORMAT=json: every line of a client's and a server's log
#      parses (json.loads), and the secured, clear and refused events carry
#      event, direction, peer, rule, method / reason, program, pid, level.
#   c. rate limit: 200 refused connects of one process to one peer give 10
#      "refused" lines and one "suppressed 190 similar lines" (at exit); with
#      SECSOCK_LOG_RATE=3/2 a window that ended is reported before the next
#      line of that peer, and the counts add up; 4 threads x 50 count
#      exactly 190; a forked child does not report its parent's count.
#   d. the journal: with no log file the events go to the journal's native
#      socket as KEY=VALUE datagrams (a listener of the test's own through
#      SECSOCK_JOURNAL_SOCKET) with SECSOCK_EVENT, SECSOCK_PEER, PRIORITY...;
#      with no journal there, syslog(3) is used (strace: /dev/log).
#   e. no secret: server and clients at SECSOCK_LOG=debug, in every format
#      (human file, JSON file, journal), with SECSOCK_KEYLOG_FILE capturing
#      the sessions' secrets: no log holds any of them, in hex (either case)
#      or as raw bytes.
. "$(dirname "$0")/../integration/lib.sh"
# the built-in rate limit (10 per 10 s) unless a case sets its own: lib.sh turns it off by default
export SECSOCK_LOG_RATE=
require_lib
require_no_system_policy
unset POLICY
SRV=$REPO/tests/tools/sec_srv.py

# client.py COUNT PORT...: COUNT rounds, each connecting to every PORT once
# and exchanging one line; SLEEP=S before a last round of one connection.
cat >"$T/client.py" <<'EOF'
import os, socket, sys, time
count, ports = int(sys.argv[1]), [int(p) for p in sys.argv[2:]]
def one(p, i):
    try:
        s = socket.create_connection(("127.0.0.1", p), timeout=10)
        s.sendall(b"line-%d\n" % i)
        got = s.recv(100)
        s.close()
        return "ok" if got else "eof"
    except OSError as e:
        return "err %s" % (e.strerror or e)
for i in range(count):
    for p in ports:
        print("conn %d port %d: %s" % (i, p, one(p, i)), flush=True)
if os.environ.get("SLEEP"):
    time.sleep(float(os.environ["SLEEP"]))
    print("late port %d: %s" % (ports[0], one(ports[0], count)), flush=True)
EOF
# journal.py SOCK OUT: a unix datagram listener standing in for journald;
# each datagram (native protocol, binary fields too) as one JSON line in OUT.
cat >"$T/journal.py" <<'EOF'
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
out = open(sys.argv[2], "a")
while True:
    d, f = s.recv(65536), {}
    while d:
        nl = d.index(b"\n")
        line = d[:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            d = d[nl + 1:]
        else:
            k, n = line, struct.unpack("<Q", d[nl + 1:nl + 9])[0]
            v, d = d[nl + 9:nl + 9 + n], d[nl + 10 + n:]
        f[k.decode()] = v.decode("utf-8", "replace")
    out.write(json.dumps(f) + "\n")
    out.flush()
EOF
# bare [VAR=VALUE...] CMD...: under the preload with nothing of lib.sh's
# preload() (no SECSOCK_LOG, no SECSOCK_LOG_FILE): what the admin gets.
bare() { timeout -k 5 30 env -u SECSOCK_LOG -u SECSOCK_LOG_FILE -u SECSOCK_POLICY LD_PRELOAD="$SO" "$@"; }

start_bg plain plain "$PY" "$SRV" echo "$T/plain.port"
start_bg plain2 plain "$PY" "$SRV" echo "$T/plain2.port"
wait_file "$T/plain.port" 10 && wait_file "$T/plain2.port" 10 || bail "plain servers did not start"
P=$(cat "$T/plain.port") P2=$(cat "$T/plain2.port")

# ---------------------------------------------------------------- a. default level
bare SECSOCK_LOG_FILE="$T/a.log" "$PY" "$T/client.py" 1 "$P" >"$T/a.out" 2>&1
assert_grep 'port [0-9]+: ok' "$T/a.out" "a: request to a plain server: the connection works (clear)" "$T/a.out"
assert_grep '^secsock\[[0-9]+\]: notice: clear outbound .*-> 127\.0\.0\.1:'"$P"' rule=defaults reason="peer does not speak secsock' \
	"$T/a.log" "a: the clear fallback is logged at the default level (notice), with its reason" "$T/a.out"
assert_no_grep ': debug: ' "$T/a.log" "a: no debug lines by default"

# ---------------------------------------------------------------- b. JSON
POL=$T/mixed.conf
write_policy "$POL" <<EOF
[defaults]
action = request
[rule must]
direction = outbound
port = $P2
action = require
EOF
SECSOCK_LOG=debug SECSOCK_LOG_FORMAT=json start_bg sec preload "$T/srv.json" "$PY" "$SRV" echo "$T/sec.port"
SRVPID=$BG_PID
wait_file "$T/sec.port" 10 || bail "secsock server did not start" "$T/sec.err"
S=$(cat "$T/sec.port")
# a. (continued) a secured connection is logged at the default level (info)
bare SECSOCK_LOG_FILE="$T/a2.log" "$PY" "$T/client.py" 1 "$S" >"$T/a2.out" 2>&1
assert_grep '^secsock\[[0-9]+\]: info: secured outbound .*-> 127\.0\.0\.1:'"$S" "$T/a2.log" \
	"a: a secured connection is logged at the default level (info)" "$T/a2.out"
SECSOCK_LOG=debug SECSOCK_LOG_FORMAT=json POLICY=$POL \
	preload "$T/cli.json" "$PY" "$T/client.py" 1 "$S" "$P" "$P2" >"$T/b.out" 2>&1
wait_grep '"event":"secured"' "$T/srv.json" 5 || true
cat >"$T/check_json.py" <<'EOF'
import json, sys
need = {"secured": ["direction", "peer", "rule", "method"], "clear": ["direction", "peer", "rule", "reason"],
        "refused": ["direction", "peer", "rule", "reason"]}
seen, bad = {}, 0
for path in sys.argv[1:]:
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        try:
            o = json.loads(line)
        except ValueError as e:
            print("# %s:%d: not JSON (%s): %r" % (path, n, e, line[:200])); bad += 1; continue
        for k in ("time", "level", "pid", "message"):
            if k not in o:
                print("# %s:%d: no %s" % (path, n, k)); bad += 1
        ev = o.get("event")
        if ev in need:
            miss = [k for k in need[ev] + ["program"] if not o.get(k)]
            if miss:
                print("# %s:%d: %s without %s" % (path, n, ev, miss)); bad += 1
            seen.setdefault(ev, []).append(o)
for ev in need:
    print("%s %d" % (ev, len(seen.get(ev, []))))
for o in seen.get("secured", []):
    print("secured %s %s %s" % (o["direction"], o["method"], o["peer"]))
for o in seen.get("refused", []) + seen.get("clear", []):
    print("%s %s %s %s" % (o["event"], o["direction"], o["peer"], o["reason"]))
print("bad %d" % bad)
EOF
"$PY" "$T/check_json.py" "$T/cli.json" "$T/srv.json" >"$T/b.check" 2>&1
assert_grep '^bad 0$' "$T/b.check" "b: every line of both JSON logs parses and has time, level, pid, message" "$T/b.check"
assert_grep '^secured outbound anonymous 127\.0\.0\.1:'"$S"'$' "$T/b.check" "b: secured event (outbound) with method and peer" "$T/b.check" "$T/cli.json"
assert_grep '^secured inbound anonymous 127\.0\.0\.1:[0-9]+$' "$T/b.check" "b: secured event at the server (inbound)" "$T/b.check" "$T/srv.json"
assert_grep '^clear outbound 127\.0\.0\.1:'"$P"' peer does not speak secsock' "$T/b.check" "b: clear event with its reason" "$T/b.check"
assert_grep '^refused outbound 127\.0\.0\.1:'"$P2"' require: ' "$T/b.check" "b: refused event (rule must) with its reason" "$T/b.check"
assert_grep '"rule":"must"' "$T/cli.json" "b: the rule's name is a field"
assert_grep '"event":"secured".*"cipher":"(aes-128-gcm|aes-256-gcm|chacha20-poly1305)"' "$T/cli.json" "b: a secured event names its cipher"
assert_grep '"program":"[^"]*python3[^"]*"' "$T/cli.json" "b: the program is a field"

# ---------------------------------------------------------------- c. rate limit
POL=$T/require.conf
write_policy "$POL" <<'EOF'
[defaults]
action = require
EOF
POLICY=$POL preload "$T/c.log" "$PY" "$T/client.py" 200 "$P" >"$T/c.out" 2>&1
assert_count 'port [0-9]+: err' "$T/c.out" 200 "c: 200 connects to a plain server under require: all refused" "$T/c.out"
assert_count 'warn: refused outbound .*-> 127\.0\.0\.1:'"$P"' ' "$T/c.log" 10 "c: 10 refused lines (the limit: 10 per 10 s per peer and event)" "$T/c.log"
assert_count 'warn: suppressed 190 similar lines \(event=refused peer=127\.0\.0\.1\)' "$T/c.log" 1 \
	"c: then one line: suppressed 190 similar lines (10 + 190 = 200)" "$T/c.log"
SECSOCK_LOG_RATE=3/2 SLEEP=2.2 POLICY=$POL preload "$T/c2.log" "$PY" "$T/client.py" 10 "$P" >"$T/c2.out" 2>&1
grep -o 'refused outbound\|suppressed [0-9]* similar' "$T/c2.log" | tr '\n' ',' >"$T/c2.seq"
assert_eq "$(cat "$T/c2.seq")" "refused outbound,refused outbound,refused outbound,suppressed 7 similar,refused outbound," \
	"c: SECSOCK_LOG_RATE=3/2: 3 lines, the window ends, 'suppressed 7' comes before the next line (3 + 7 + 1 = 11)" "$T/c2.log"

# threads and fork: 4 threads x 50 refused connects count up to 200 exactly;
# a child forked with 5 lines counted reports none of them (the parent does)
cat >"$T/tf.py" <<'EOF'
import os, socket, sys, threading
port = int(sys.argv[2])
def refuse(n):
    for _ in range(n):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=10).close()
        except OSError:
            pass
if sys.argv[1] == "threads":
    ts = [threading.Thread(target=refuse, args=(50,)) for _ in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
else:
    refuse(15)
    pid = os.fork()
    if pid == 0:
        sys.exit(0)        # exit(): the child's destructors run
    os.waitpid(pid, 0)
EOF
POLICY=$POL preload "$T/c3.log" "$PY" "$T/tf.py" threads "$P" >"$T/c3.out" 2>&1
assert_count 'refused outbound' "$T/c3.log" 10 "c: 4 threads x 50 refused connects: 10 lines" "$T/c3.log"
assert_count 'suppressed 190 similar lines \(event=refused' "$T/c3.log" 1 "c: ... and suppressed 190 (the count is exact across threads)" "$T/c3.log"
POLICY=$POL preload "$T/c4.log" "$PY" "$T/tf.py" fork "$P" >"$T/c4.out" 2>&1
ppid=$(sed -n 's/^secsock\[\([0-9]*\)\]: warn: refused.*/\1/p' "$T/c4.log" | head -1)
assert_count 'suppressed [0-9]+ similar' "$T/c4.log" 1 "c: fork with 5 lines counted: reported once, not by both processes" "$T/c4.log"
assert_grep "^secsock\\[$ppid\\]: warn: suppressed 5 similar" "$T/c4.log" "c: ... by the parent, which counted them" "$T/c4.log"

# ---------------------------------------------------------------- d. the journal, syslog
start_bg journal plain "$PY" "$T/journal.py" "$T/j.sock" "$T/journal.out"
for _ in $(seq 100); do [ -S "$T/j.sock" ] && break; sleep 0.05; done
[ -S "$T/j.sock" ] || bail "journal listener did not start" "$T/journal.err"
bare SECSOCK_JOURNAL_SOCKET="$T/j.sock" SECSOCK_POLICY="$T/mixed.conf" "$PY" "$T/client.py" 1 "$P" "$P2" >"$T/d.out" 2>&1
wait_grep '"SECSOCK_EVENT": "refused"' "$T/journal.out" 5 || true
cat >"$T/check_journal.py" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    f = json.loads(line)
    print(" ".join("%s=%s" % (k, f.get(k, "-")) for k in
          ("SECSOCK_EVENT", "PRIORITY", "SYSLOG_IDENTIFIER", "SYSLOG_FACILITY", "SECSOCK_DIRECTION", "SECSOCK_PEER",
           "SECSOCK_RULE")), "|", f.get("SECSOCK_REASON", "-"), "|", f.get("SECSOCK_PROGRAM", "-"), "|",
          f.get("MESSAGE", "-"), "| pid", f.get("SYSLOG_PID", "-"))
EOF
"$PY" "$T/check_journal.py" "$T/journal.out" >"$T/d.check" 2>&1
assert_grep '^SECSOCK_EVENT=clear PRIORITY=5 SYSLOG_IDENTIFIER=secsock SYSLOG_FACILITY=3 SECSOCK_DIRECTION=outbound SECSOCK_PEER=127\.0\.0\.1:'"$P"' SECSOCK_RULE=defaults \| peer does not speak secsock.* \| [^ ]*python3[^ ]* \| clear outbound .* \| pid [0-9]+$' \
	"$T/d.check" "d: journal: the clear fallback as structured fields (EVENT, PRIORITY=5 notice, PEER, RULE, REASON, PROGRAM, MESSAGE, PID)" "$T/d.check" "$T/journal.err"
assert_grep '^SECSOCK_EVENT=refused PRIORITY=4 .*SECSOCK_PEER=127\.0\.0\.1:'"$P2"' SECSOCK_RULE=must \| require: ' \
	"$T/d.check" "d: journal: the refusal at warning (PRIORITY=4)" "$T/d.check"
if command -v strace >/dev/null; then
	bare SECSOCK_JOURNAL_SOCKET="$T/no-journal.sock" strace -f -e trace=connect,sendto -o "$T/d.strace" \
		"$PY" "$T/client.py" 1 "$P" >"$T/d2.out" 2>&1
	assert_grep 'sendto\(.*no-journal\.sock.*ENOENT' "$T/d.strace" "d: no journal at the socket: the datagram fails (ENOENT)" "$T/d.strace"
	assert_grep 'connect\(.*"/dev/log"' "$T/d.strace" "d: ... and the line goes to syslog(3) (/dev/log)" "$T/d.strace"
else
	echo "ok - skipped: syslog fallback (no strace to see the /dev/log connect)"
fi

# ---------------------------------------------------------------- e. no secret in any log
stop_pid "$SRVPID"
SECSOCK_LOG=debug SECSOCK_KEYLOG_FILE=$T/srv.keys start_bg sec2 preload "$T/e-srv.log" "$PY" "$SRV" echo "$T/sec2.port"
wait_file "$T/sec2.port" 10 || bail "secsock server did not start" "$T/sec2.err"
S2=$(cat "$T/sec2.port")
SECSOCK_LOG=debug SECSOCK_KEYLOG_FILE=$T/cli.keys preload "$T/e-human.log" "$PY" "$T/client.py" 3 "$S2" "$P" >"$T/e1.out" 2>&1
SECSOCK_LOG=debug SECSOCK_LOG_FORMAT=json SECSOCK_KEYLOG_FILE=$T/cli.keys \
	preload "$T/e-json.log" "$PY" "$T/client.py" 3 "$S2" "$P" >"$T/e2.out" 2>&1
: >"$T/journal.out"
bare SECSOCK_LOG=debug SECSOCK_JOURNAL_SOCKET="$T/j.sock" SECSOCK_KEYLOG_FILE=$T/cli.keys \
	"$PY" "$T/client.py" 3 "$S2" "$P" >"$T/e3.out" 2>&1
wait_grep 'secured' "$T/journal.out" 5 || true
sleep 0.3
assert_count 'secured outbound' "$T/e-human.log" 3 "e: human log at debug: three secured connections" "$T/e-human.log"
assert_count '"event":"secured"' "$T/e-json.log" 3 "e: JSON log at debug: three secured connections" "$T/e-json.log"
assert_count '"SECSOCK_EVENT": "secured"' "$T/journal.out" 3 "e: journal at debug: three secured connections" "$T/journal.out"
cat >"$T/secrets.py" <<'EOF'
import sys
keys, logs = sys.argv[1].split(","), sys.argv[2:]
secrets = set()
for k in keys:
    for line in open(k):
        f = line.split()
        if len(f) == 3 and len(f[2]) >= 32:
            secrets.add(bytes.fromhex(f[2]))
blobs = {p: open(p, "rb").read() for p in logs}
found = 0
for s in secrets:
    h = s.hex().encode()
    for p, b in blobs.items():
        low = b.lower()
        for needle, what in ((h, "hex"), (h[:16], "hex prefix"), (h[-16:], "hex suffix"), (s, "raw"), (s[:8], "raw prefix")):
            if needle in (low if what.startswith("hex") else b):
                print("# secret %s... found in %s (%s)" % (h[:12].decode(), p, what)); found += 1
print("secrets %d logs %d found %d" % (len(secrets), len(blobs), found))
EOF
"$PY" "$T/secrets.py" "$T/srv.keys,$T/cli.keys" "$T/e-srv.log" "$T/e-human.log" "$T/e-json.log" "$T/journal.out" \
	"$T/a.log" "$T/cli.json" "$T/srv.json" >"$T/e.check" 2>&1
assert_grep '^secrets ([3-9][0-9]|[1-9][0-9]{2,}) logs 7 found 0$' "$T/e.check" \
	"e: no secret of the key logs (at least 30 of them) in any log, hex or raw: $(tail -1 "$T/e.check")" "$T/e.check"
finish
