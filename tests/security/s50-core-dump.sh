#!/usr/bin/env bash
# s50-core-dump — issue 10 item 4: a core dump of a preloaded process with
# secured connections, busy and idle, holds no traffic secret, key or IV
# (core/ss_mem.h: the engine's OpenSSL allocations for secrets come from a
# MADV_DONTDUMP pool and every freed OpenSSL block is wiped; pre_arena.c: the
# record state lives in DONTDUMP slots).
#
# The dump is a real one (gdb's gcore, which leaves out what the kernel's
# core dump leaves out: MADV_DONTDUMP mappings, VmFlags "dd" — checked here
# with a canary page the holder marks so, next to one in its heap that must
# be found).  The values to look for come from two independent sources:
#   a. the peer: openssl s_server (ALPN secsock/1) writes its key log; the
#      keys and IVs follow from the secrets (RFC 8446 §7.3).  This case runs
#      the library under test ($SO, so SECSOCK_SO= shows it failing on an
#      old build): a holder with a busy and an idle connection, then the same
#      after the holder used OpenSSL itself before its first connection (the
#      engine then cannot install its memory functions: the fallback);
#   b. the library: the test-hooks build ($BUILD/testhooks, Makefile; never
#      the release library) reports each secret, key and IV it takes into
#      use, KeyUpdate generations included.  Client (2 busy, 2 idle
#      connections) and server (a Python echo server, 4 accepted
#      connections) are both dumped, for each TLS 1.3 suite, with
#      rekey-after = 300ms, and again with the client using OpenSSL first.
# Last: the release engine carries no trace of the hook.
. "$(dirname "$0")/../integration/lib.sh"
require_lib
require_tools sec_h5_hold sec_h5_scan
require_cmd gcore openssl
unset POLICY
export SECSOCK_IDLE_TRIM_MS=200

cat >"$T/h5.py" <<'PY'
import hashlib, hmac, mmap, os, socket, struct, sys, threading

def hkdf_expand_label(secret, label, length, digest):
    # RFC 8446 §7.1 over RFC 5869 HKDF-Expand; Context is empty here.
    full = b"tls13 " + label
    info = struct.pack(">HB", length, len(full)) + full + b"\x00"
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(secret, t + info + bytes([i]), digest).digest()
        out += t
        i += 1
    return out[:length]

def cmd_keylog(path, keylen):
    # "LABEL client_random secret" lines -> "LABEL-what hex" (secret, key, iv)
    for line in open(path):
        f = line.split()
        if len(f) == 3 and f[0] in ("CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"):
            s = bytes.fromhex(f[2])
            d = hashlib.sha384 if len(s) == 48 else hashlib.sha256
            print(f[0], "secret", s.hex())
            print(f[0], "key", hkdf_expand_label(s, b"key", int(keylen), d).hex())
            print(f[0], "iv", hkdf_expand_label(s, b"iv", 12, d).hex())

def cmd_echo(portfile):
    # the same canaries as sec_h5_hold; the DONTDUMP one is written in two
    # pieces so that no heap object ever holds it whole
    heap = ("S50-HEAP-CANARY-%d" % os.getpid()).encode()
    dd = mmap.mmap(-1, 4096)
    dd.madvise(mmap.MADV_DONTDUMP)
    dd.write(b"S50-DD-CANARY-")
    dd.write(str(os.getpid()).encode())
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    def serve(c):
        while True:
            b = c.recv(65536)
            if not b:
                return
            c.sendall(b)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()

globals()["cmd_" + sys.argv[1]](*sys.argv[2:])
PY

write_policy "$T/require.conf" <<'EOF'
[defaults]
action = require
auth   = anonymous
EOF

# dump NAME PID VALUES: gcore PID, check the dump is a faithful one, then
# that it holds none of the values in VALUES.
dump() {
	local name=$1 pid=$2 values=$3 core found
	core=$T/core-$name
	if ! gcore -o "$core" "$pid" >"$T/gcore-$name.log" 2>&1 || [ ! -s "$core.$pid" ]; then
		fail "$name: gcore of pid $pid" "$T/gcore-$name.log"
		return
	fi
	core=$core.$pid
	printf 'heap %s\ndd %s\n' "$(printf S50-HEAP-CANARY-%s "$pid" | od -An -tx1 | tr -d ' \n')" \
		"$(printf S50-DD-CANARY-%s "$pid" | od -An -tx1 | tr -d ' \n')" |
		"$TOOLS/sec_h5_scan" "$core" >"$T/canary-$name"
	if ! grep -q '^[0-9]* heap ' "$T/canary-$name"; then
		fail "$name: the dump holds the heap canary (it reads the process's memory)" "$T/canary-$name"
	elif grep -q '^[0-9]* dd ' "$T/canary-$name"; then
		fail "$name: the dump leaves out a MADV_DONTDUMP page, like a kernel core dump"
	elif [ "$(grep -vc '^mem ' "$values")" -lt 6 ]; then
		fail "$name: values to look for (got $(grep -vc '^mem ' "$values"))" "$values"
	else
		grep -v '^mem ' "$values" | "$TOOLS/sec_h5_scan" "$core" >"$T/scan-$name"
		found=$(grep -v '^scanned' "$T/scan-$name" | tr '\n' ';')
		if [ -z "$found" ]; then
			pass "$name: no traffic secret, key or IV in the core dump ($(tail -1 "$T/scan-$name"))"
		else
			fail "$name: the core dump holds: $found"
		fi
	fi
	rm -f "$core"
}

# ---------------------------------------------------------------- a. s_server's key log
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=peer.test \
	-keyout "$T/srv.key" -out "$T/srv.crt" >/dev/null 2>&1 || bail "openssl could not make a certificate"

for variant in plain openssl-first; do
	ports=()
	for role in busy idle; do
		port=$(free_port)
		rm -f "$T/keylog-$role"
		# stdin kept open and silent: s_server reads it to send
		start_bg "s_server-$role-$variant" plain sh -c "sleep 60 | exec openssl s_server -accept 127.0.0.1:$port \
			-tls1_3 -alpn secsock/1 -ciphersuites TLS_AES_128_GCM_SHA256 -cert $T/srv.crt -key $T/srv.key \
			-keylogfile $T/keylog-$role -quiet"
		wait_listen "$port" 10 "$BG_PID" || bail "openssl s_server did not start" "$T/s_server-$role-$variant.err"
		ports+=("$port:$role")
	done
	opt=()
	[ $variant = openssl-first ] && opt=(-o)
	rm -f "$T/ready"
	POLICY=$T/require.conf start_bg "hold-a-$variant" preload "$T/hold-a-$variant.log" \
		"$TOOLS/sec_h5_hold" "${opt[@]}" "$T/ready" 700 "${ports[@]}"
	holder=$BG_PID
	if ! wait_file "$T/ready" 15; then
		fail "a-$variant: the holder's connections to openssl s_server" "$T/hold-a-$variant.err" "$T/hold-a-$variant.log"
		stop_pid "$holder"
		continue
	fi
	cat "$T/keylog-busy" "$T/keylog-idle" >"$T/keylog-a" 2>/dev/null
	"$PY" "$T/h5.py" keylog "$T/keylog-a" 16 >"$T/values-a-$variant"
	dump "a-$variant-client" "$(cat "$T/ready")" "$T/values-a-$variant"
	stop_pid "$holder"
done

# ---------------------------------------------------------------- b. the test-hooks build
if [ -n "${SECSOCK_SO:-}" ]; then
	echo "# b. skipped: SECSOCK_SO=$SECSOCK_SO has no test-hooks build next to it"
else
	HOOKED=$BUILD/testhooks/libsecsock.so
	[ -f "$HOOKED" ] && [ -f "$BUILD/testhooks/libsecsock-engine.so" ] ||
		bail "$BUILD/testhooks is missing (make BUILD=$BUILD all builds it)"
	for suite in aes-128-gcm aes-256-gcm chacha20-poly1305; do
		write_policy "$T/b-$suite.conf" <<EOF
[defaults]
action      = require
auth        = anonymous
ciphers     = $suite
rekey-after = 300ms
EOF
		for variant in plain openssl-first; do
			name=b-$suite-$variant
			rm -f "$T/port" "$T/ready"
			: >"$T/srv.secrets"
			: >"$T/cli.secrets"
			SO=$HOOKED POLICY=$T/b-$suite.conf SECSOCK_TEST_SECRETS_FD=7 start_bg "echo" \
				preload "$T/echo.log" "$PY" "$T/h5.py" echo "$T/port" 7>>"$T/srv.secrets"
			server=$BG_PID
			wait_file "$T/port" 10 || bail "$name: the echo server did not start" "$T/echo.err"
			port=$(cat "$T/port")
			opt=()
			[ $variant = openssl-first ] && opt=(-o)
			SO=$HOOKED POLICY=$T/b-$suite.conf SECSOCK_TEST_SECRETS_FD=7 start_bg "hold-b" \
				preload "$T/hold-b.log" "$TOOLS/sec_h5_hold" "${opt[@]}" "$T/ready" 700 \
				"$port:busy" "$port:idle" "$port:busy" "$port:idle" 7>>"$T/cli.secrets"
			holder=$BG_PID
			if ! wait_file "$T/ready" 15; then
				fail "$name: the holder's connections" "$T/hold-b.err" "$T/hold-b.log"
			else
				want=private
				[ $variant = openssl-first ] && want=shared
				assert_grep "^mem $want\$" "$T/cli.secrets" "$name: client engine memory mode is '$want'"
				cat "$T/cli.secrets" "$T/srv.secrets" >"$T/values-b"
				dump "$name-client" "$(cat "$T/ready")" "$T/values-b"
				dump "$name-server" "$server" "$T/values-b"
			fi
			stop_pid "$holder"
			stop_pid "$server"
		done
	done
fi

# ---------------------------------------------------------------- the release engine
if [ -z "${SECSOCK_SO:-}" ]; then
	if grep -aq SECSOCK_TEST_SECRETS_FD "$BUILD/libsecsock-engine.so" "$BUILD/libsecsock.so"; then
		fail "the release libraries carry no test hook"
	else
		pass "the release libraries carry no test hook"
	fi
	check "the release libraries export only what they should" \
		sh "$REPO/scripts/check-exports.sh" "$BUILD/libsecsock.so" "$BUILD/libsecsock-engine.so"
fi
finish
