#!/usr/bin/env bash
# s10-connect-addresses — issue 10 findings 01 and 14b: every address the
# kernel connects is decided by the policy like the full, explicit one.
#   a. AF_INET6 with every length the kernel accepts (24 = SIN6_LEN_RFC2133 ..
#      28, and longer up to a sockaddr_storage), AF_INET 16 and longer: under
#      require to a plain server on ::1 / 127.0.0.1, refused, nothing received;
#      lengths the kernel refuses (AF_INET6 < 24, AF_INET < 16, > 128) fail
#      with EINVAL and reach nobody either.
#   b. v4-mapped IPv6 (::ffff:127.0.0.1 from an AF_INET6 socket) is matched as
#      the IPv4 address it reaches: an IPv4-only require rule governs it.
#   c. the unspecified addresses (0.0.0.0, ::, ::ffff:0.0.0.0), which Linux
#      connects to the local host, are matched as loopback: a rule for
#      127.0.0.0/8, ::1 governs them (control: 127.0.0.1 itself).
#   d. `secsock policy explain --to` answers 0.0.0.0 and :: as loopback too.
. "$(dirname "$0")/../integration/lib.sh"
require_lib
require_tools sec_h1_probe
P=$TOOLS/sec_h1_probe
SRV=$REPO/tests/tools/sec_srv.py

start_bg plain4 plain "$PY" "$SRV" record "$T/p4.port" "$T/p4.got"
start_bg plain6 plain "$PY" "$SRV" --host ::1 record "$T/p6.port" "$T/p6.got"
wait_file "$T/p4.port" && wait_file "$T/p6.port" || bail "plain servers did not start"
P4=$(cat "$T/p4.port") P6=$(cat "$T/p6.port")
# control: without the preload the plain servers get the bytes
plain "$P" conn ::1 "$P6" 24 CONTROL6-24 >"$T/c6.out"
plain "$P" conn 127.0.0.1 "$P4" 16 CONTROL4 >"$T/c4.out"
wait_grep CONTROL6-24 "$T/p6.got" 3 || bail "a plain client with length 24 does not reach ::1 at all" "$T/c6.out"
wait_grep CONTROL4 "$T/p4.got" 3 || bail "a plain client does not reach 127.0.0.1" "$T/c4.out"

POLICY=$T/require.conf
write_policy "$POLICY" <<'P'
[defaults]
action = require
auth = anonymous
P

# a. lengths
for len in 24 25 26 27 28 32 64 128; do
	TMO=15 preload "$T/a.log" "$P" conn ::1 "$P6" "$len" "SECRET6-$len" >"$T/a6-$len.out" 2>&1
	assert_grep 'connect\(len=[0-9]+\): -1' "$T/a6-$len.out" "a: AF_INET6 length $len under require to a plain server: connect fails"
done
for len in 16 20 28 128; do
	TMO=15 preload "$T/a.log" "$P" conn 127.0.0.1 "$P4" "$len" "SECRET4-$len" >"$T/a4-$len.out" 2>&1
	assert_grep 'connect\(len=[0-9]+\): -1' "$T/a4-$len.out" "a: AF_INET length $len under require to a plain server: connect fails"
done
for len in 8 20 23 129; do
	TMO=15 preload "$T/a.log" "$P" conn ::1 "$P6" "$len" "SECRET6-$len" >"$T/a6-$len.out" 2>&1
	assert_grep 'Invalid argument' "$T/a6-$len.out" "a: AF_INET6 length $len (the kernel refuses it): EINVAL"
done
for len in 8 15; do
	TMO=15 preload "$T/a.log" "$P" conn 127.0.0.1 "$P4" "$len" "SECRET4-$len" >"$T/a4-$len.out" 2>&1
	assert_grep 'Invalid argument' "$T/a4-$len.out" "a: AF_INET length $len (the kernel refuses it): EINVAL"
done
assert_count 'refused outbound' "$T/a.log" 12 "a: each accepted length was decided (refused by the policy, logged)"

# b. v4-mapped: an IPv4-only rule
POLICY=$T/v4rule.conf
write_policy "$POLICY" <<'P'
[defaults]
action = bypass

[rule lo4]
remote = 127.0.0.0/8
action = require
auth = anonymous
P
for len in 24 28; do
	TMO=15 preload "$T/b.log" "$P" conn ::ffff:127.0.0.1 "$P4" "$len" "SECRET-MAPPED-$len" >"$T/b-$len.out" 2>&1
	assert_grep 'connect\(len=[0-9]+\): -1' "$T/b-$len.out" "b: ::ffff:127.0.0.1 (length $len) is governed by an IPv4 require rule"
done

# c. unspecified addresses under a loopback rule
POLICY=$T/loopback.conf
write_policy "$POLICY" <<'P'
[defaults]
action = bypass

[rule loopback]
remote = 127.0.0.0/8, ::1
action = require
auth = anonymous
P
TMO=15 preload "$T/c.log" "$P" conn 127.0.0.1 "$P4" 16 SECRET-LO >"$T/c-lo.out" 2>&1
assert_grep 'connect\(len=16\): -1' "$T/c-lo.out" "c: control: 127.0.0.1 is governed by the loopback rule"
TMO=15 preload "$T/c.log" "$P" conn 0.0.0.0 "$P4" 16 SECRET-ANY4 >"$T/c-any4.out" 2>&1
assert_grep 'connect\(len=16\): -1' "$T/c-any4.out" "c: 0.0.0.0 is governed by the loopback rule"
for len in 24 28; do
	TMO=15 preload "$T/c.log" "$P" conn :: "$P6" "$len" "SECRET-ANY6-$len" >"$T/c-any6-$len.out" 2>&1
	assert_grep 'connect\(len=[0-9]+\): -1' "$T/c-any6-$len.out" "c: :: (length $len) is governed by the loopback rule"
	TMO=15 preload "$T/c.log" "$P" conn ::ffff:0.0.0.0 "$P4" "$len" "SECRET-ANYM-$len" >"$T/c-anym-$len.out" 2>&1
	assert_grep 'connect\(len=[0-9]+\): -1' "$T/c-anym-$len.out" "c: ::ffff:0.0.0.0 (length $len) is governed by the loopback rule"
done
TMO=15 preload "$T/c.log" "$P" tfo sendto 0.0.0.0 "$P4" SECRET-ANY4-TFO >"$T/c-tfo.out" 2>&1
assert_grep 'tfo sendto: -1' "$T/c-tfo.out" "c: an implicit (MSG_FASTOPEN) connect to 0.0.0.0 is governed too"

# d. policy explain
"$SECSOCK" policy explain --policy "$POLICY" --to 0.0.0.0:80 >"$T/d4.out" 2>&1
"$SECSOCK" policy explain --policy "$POLICY" --to '[::]:80' >"$T/d6.out" 2>&1
assert_grep 'loopback' "$T/d4.out" "d: policy explain --to 0.0.0.0:80 names the loopback rule"
assert_grep 'loopback' "$T/d6.out" "d: policy explain --to [::]:80 names the loopback rule"

sleep 0.3
assert_no_grep 'SECRET' "$T/p4.got" "nothing reached the plain IPv4 server"
assert_no_grep 'SECRET' "$T/p6.got" "nothing reached the plain IPv6 server"
finish
