#!/bin/bash
# run-checks.sh — `secsock run` checks before it execs (issue 11 item 8): a
# program the preload cannot reach (static, static-pie, setuid of another
# user, file capabilities) or an invalid policy stops the run with the reason
# on stderr and exit 1 unless --force; a policy that would refuse every TCP
# connection of the program is a warning and the program runs.  Whether the
# program ran is seen by a marker file it creates.
CLI_NAME=run-cli
. "$(dirname "$0")/lib.bash"
# the marker directory is writable by the unprivileged users some cases run as
chmod 755 "$T"; mkdir -m 1777 "$T/w"
EXPECT_BEFORE='rm -f '"$T"'/w/ran'
ran() {
	n=$((n + 1))
	if [ "$1" = yes ] && [ ! -e "$T/w/ran" ]; then
		echo "FAIL: $2: the program did not run"; fails=$((fails + 1))
	elif [ "$1" = no ] && [ -e "$T/w/ran" ]; then
		echo "FAIL: $2: the program ran"; fails=$((fails + 1))
	fi
}
pol() { cat >"$T/$1"; chmod 600 "$T/$1"; }

unset SECSOCK_POLICY
[ -e /etc/secsock/policy.conf ] && { echo "SKIP: /etc/secsock/policy.conf exists"; exit 0; }
MARK=(sh -c ': >"$0"' "$T/w/ran")

# ---- an ordinary program under the embedded default: runs, nothing said
expect 0 "default policy, dynamic program" -- "$S" run -- "${MARK[@]}"
ran yes "default policy"
lacks err "secsock run" "default policy: nothing on stderr"

# ---- static and static-pie programs (a C program that creates the marker)
printf '#include <stdio.h>\nint main(int c, char **v) { if (c > 1) fopen(v[1], "w"); return 0; }\n' >"$T/m.c"
for kind in static static-pie; do
	if ! cc -"$kind" -o "$T/m-$kind" "$T/m.c" 2>"$T/cc.err"; then
		echo "SKIP: cc -$kind: $(head -1 "$T/cc.err")"
		continue
	fi
	expect 1 "$kind program refused" -- "$S" run -- "$T/m-$kind" "$T/w/ran"
	ran no "$kind program refused"
	has err "m-$kind: statically linked" "$kind: the reason is named"
	has err "--force" "$kind: the way round is named"
	expect 0 "$kind program with --force" -- "$S" run --force -- "$T/m-$kind" "$T/w/ran"
	ran yes "$kind with --force"
	has err "warning:" "$kind with --force: still a warning"
done
cc -o "$T/m-dyn" "$T/m.c" && {
	expect 0 "dynamic C program runs" -- "$S" run -- "$T/m-dyn" "$T/w/ran"
	ran yes "dynamic C program"
}

# ---- a Go program: its own system calls.  A dynamic C program given the
# section Go's linker writes (.note.go.buildid, an ELF note owned by "Go")
# stands in for one, so the test needs no Go toolchain.
if [ -x "$T/m-dyn" ] && command -v objcopy >/dev/null; then
	printf '\004\000\000\000\004\000\000\000\004\000\000\000Go\000\000abcd' >"$T/go.note"
	if objcopy --add-section .note.go.buildid="$T/go.note" \
		--set-section-flags .note.go.buildid=alloc,readonly "$T/m-dyn" "$T/m-go" 2>"$T/objcopy.err"; then
		expect 1 "Go program refused" -- "$S" run -- "$T/m-go" "$T/w/ran"
		ran no "Go program refused"
		has err "a Go program" "Go: the reason is named"
		expect 0 "Go program with --force" -- "$S" run --force -- "$T/m-go" "$T/w/ran"
		ran yes "Go with --force"
	else
		echo "SKIP: objcopy: $(head -1 "$T/objcopy.err")"
	fi
fi
# ---- scripts are what their #! interpreter is: directly and through env
if [ -x "$T/m-static" ]; then
	printf '#!%s\n' "$T/m-static" >"$T/s-static"; chmod 755 "$T/s-static"
	expect 1 "script run by a static interpreter refused" -- "$S" run -- "$T/s-static" "$T/w/ran"
	ran no "script with a static interpreter"
	has err "statically linked" "script: the interpreter's reason is named"
	printf '#!/usr/bin/env %s\n' "$T/m-static" >"$T/s-env"; chmod 755 "$T/s-env"
	expect 1 "script through env to a static program refused" -- "$S" run -- "$T/s-env" "$T/w/ran"
	ran no "script through env"
	has err "statically linked" "env script: the reason is named"
	printf '#!/bin/sh\n: >"$1"\n' >"$T/s-sh"; chmod 755 "$T/s-sh"
	expect 0 "script run by /bin/sh runs" -- "$S" run -- "$T/s-sh" "$T/w/ran"
	ran yes "shell script"
fi

# ---- setuid to another user, file capabilities (the loader's secure mode)
if [ "$(id -u)" = 0 ] && [ -x "$T/m-dyn" ]; then
	cp "$T/m-dyn" "$T/m-suid"; chown nobody "$T/m-suid"; chmod 4755 "$T/m-suid"
	if findmnt -no OPTIONS -T "$T" | grep -qw nosuid; then
		echo "SKIP: $T is on a nosuid mount"
	else
		expect 1 "setuid-other-user program refused" -- "$S" run -- "$T/m-suid" "$T/w/ran"
		ran no "setuid refused"
		has err "set-user-ID" "setuid: the reason is named"
		cp "$T/m-dyn" "$T/m-sgid"; chgrp nogroup "$T/m-sgid"; chmod 2755 "$T/m-sgid"
		expect 1 "setgid-other-group program refused" -- "$S" run -- "$T/m-sgid" "$T/w/ran"
		ran no "setgid refused"
		has err "set-group-ID" "setgid: the reason is named"
	fi
	if command -v setcap >/dev/null && command -v setpriv >/dev/null; then
		cp "$T/m-dyn" "$T/m-cap"; chmod 755 "$T/m-cap"
		if setcap cap_net_bind_service+ep "$T/m-cap" 2>/dev/null; then
			expect 1 "file-capability program refused (non-root)" -- \
				setpriv --reuid=65534 --regid=65534 --clear-groups "$S" run -- "$T/m-cap" "$T/w/ran"
			ran no "file capabilities refused"
			has err "file capabilities" "file capabilities: the reason is named"
		else
			echo "SKIP: setcap not supported on $T"
		fi
	fi
fi

# ---- invalid policy: refused before the exec
pol bad.conf <<'EOF'
[rule x]
action = maybe
EOF
expect 1 "invalid policy refused" -- "$S" run --policy "$T/bad.conf" -- "${MARK[@]}"
ran no "invalid policy"
has err "bad value for 'action'" "invalid policy: the parser's message"
has err "invalid policy" "invalid policy: said so"
cp "$T/bad.conf" "$T/ww.conf"; chmod 666 "$T/ww.conf"
expect 1 "world-writable policy refused" -- "$S" run --policy "$T/ww.conf" -- "${MARK[@]}"
ran no "world-writable policy"
has err "writable by everyone" "world-writable: the reason"
SECSOCK_POLICY=$T/bad.conf expect 1 "invalid \$SECSOCK_POLICY refused" -- "$S" run -- "${MARK[@]}"
ran no "invalid SECSOCK_POLICY"
expect 0 "invalid policy with --force" -- "$S" run --force --policy "$T/bad.conf" -- "${MARK[@]}"
ran yes "invalid policy with --force"

# ---- every connection refused: a warning, the program runs
pol block.conf <<'EOF'
[defaults]
action = block
[rule web]
port = 80
action = block
EOF
expect 0 "all-block policy runs" -- "$S" run --policy "$T/block.conf" -- "${MARK[@]}"
ran yes "all-block policy"
has err "every TCP connection" "all-block policy: warned"

pol nopsk.conf <<EOF
[defaults]
action = require
auth = psk
psk-file = $T/missing.psk
EOF
expect 0 "require with a missing psk-file runs" -- "$S" run --policy "$T/nopsk.conf" -- "${MARK[@]}"
ran yes "missing psk-file"
has err "[defaults]: psk-file $T/missing.psk: No such file or directory" "missing psk-file: named"
has err "every TCP connection" "missing psk-file: every connection refused"

pol nocert.conf <<EOF
[rule db]
port = 5432
action = require
auth = certificate
ca-file = $T/missing-ca.pem
[defaults]
action = block
EOF
expect 0 "require with a missing ca-file runs" -- "$S" run --policy "$T/nocert.conf" -- "${MARK[@]}"
has err "rule db: ca-file $T/missing-ca.pem" "missing ca-file: the rule named"
has err "every TCP connection" "missing ca-file + block: every connection refused"

# a policy with one rule that can work: no "every connection" warning
pol some.conf <<EOF
[rule ssh]
port = 22
action = bypass
[rule db]
port = 5432
action = require
auth = psk
psk-file = $T/missing.psk
[defaults]
action = block
EOF
expect 0 "policy with one usable rule" -- "$S" run --policy "$T/some.conf" -- "${MARK[@]}"
has err "rule db: psk-file" "one usable rule: the impossible rule still named"
lacks err "every TCP connection" "one usable rule: no every-connection warning"

# a rule for another program does not save this one
pol other.conf <<'EOF'
[rule ssh-only]
program = ssh
action = bypass
[defaults]
action = block
EOF
expect 0 "usable rule for another program only" -- "$S" run --policy "$T/other.conf" -- "${MARK[@]}"
has err "every TCP connection" "rule for another program: warned"

# ---- --explain: the checks and the rules for this program, nothing run
pol explain.conf <<'EOF'
[rule ssh]
port = 22
action = bypass
[rule db]
port = 5432-5433
remote = 10.0.0.0/8, fd00::/8
direction = outbound
action = require
auth = host-key, anonymous
[rule web-server]
program = nginx
action = block
[defaults]
action = request
EOF
expect 0 "--explain exits 0" -- "$S" run --policy "$T/explain.conf" --explain -- "${MARK[@]}"
ran no "--explain does not run the program"
has out "program: $(readlink -f "$(command -v sh)")" "--explain names the program"
has out "rule db                -> require, auth = host-key, anonymous" "--explain: the rule's effect"
has out "when outbound, port 5432-5433, remote 10.0.0.0/8,fd00::/8" "--explain: what the rule matches"
lacks out "web-server" "--explain: a rule for another program is not listed"
has out "[defaults]             -> request, auth = anonymous" "--explain: the defaults"
shb=$(basename "$(readlink -f "$(command -v sh)")")
sed "s/program = nginx/program = $shb/" "$T/explain.conf" | pol explain2.conf
expect 0 "--explain for a program a rule names" -- "$S" run --policy "$T/explain2.conf" --explain -- "${MARK[@]}"
has out "port any, remote any, program $shb" "--explain: the program's rule listed"
expect 1 "--explain with an invalid policy" -- "$S" run --policy "$T/bad.conf" --explain -- "${MARK[@]}"
ran no "--explain with an invalid policy"
if [ -x "$T/m-static" ]; then
	expect 1 "--explain of an unreachable program" -- "$S" run --explain -- "$T/m-static"
	has err "statically linked" "--explain: the program check"
fi
# ---- help and man page name --force and --explain
expect 0 "run --help" -- "$S" run --help
has out "--force" "run --help documents --force"
here=$(cd "$(dirname "$0")/../.." && pwd)
n=$((n + 1))
grep -q 'force' "$here/docs/man/secsock.1" || { echo "FAIL: secsock.1 lacks --force"; fails=$((fails + 1)); }
has out "--explain" "run --help documents --explain"
n=$((n + 1))
grep -q -- '-explain' "$here/docs/man/secsock.1" || { echo "FAIL: secsock.1 lacks --explain"; fails=$((fails + 1)); }

cli_done run-checks.sh
