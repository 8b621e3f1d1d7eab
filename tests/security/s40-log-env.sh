#!/usr/bin/env bash
# s40-log-env.sh — issue 10, finding 8: the environment of a privileged
# program belongs to whoever runs it, and the log file must never be one
# that somebody else chose.
#
# With libsecsock installed system-wide (/etc/ld.so.preload, set up in a
# private mount namespace with an overlay on /etc; the real /etc is not
# touched), uid 65534 runs secure-execution programs — setuid root, setgid
# root, and one with a file capability (cap_dac_override) — with
# SECSOCK_LOG=debug and SECSOCK_LOG_FILE naming a file in a root-only
# directory, or a symlink the user planted to a root-owned file.  No such
# file may be created or written: the log settings are ignored there.  Also
# SECSOCK_INHERIT naming an attacker's memfd (called secsock-inherit) is not
# acted on: the descriptor is neither read nor closed.
# Then a root program (not setuid) whose SECSOCK_LOG_FILE goes through things
# another user controls: a symlink as the last component, a symlinked
# directory on the way, a FIFO (must not hang), a file the other user owns.
# None is written.  Controls: an ordinary program run by the same user logs
# to the file it names; a root program creates its own file (mode 0600).
. "$(dirname "$0")/../integration/lib.sh"
require_lib
require_tools sec_h4_suid errno_peer
if [ "$(id -u)" != 0 ]; then
	echo "ok - skipped (needs root: setuid programs and a mount namespace)"
	finish
fi
require_cmd setpriv unshare mount setcap mkfifo
require_no_system_policy
NOBODY=65534
as_nobody() { setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$@"; }

# ---------------------------------------------------------------- the files
chmod 711 "$T"
mkdir -m 755 "$T/pub" "$T/up" "$T/work"
mkdir -m 700 "$T/rootonly"
mkdir -m 770 "$T/grouponly"          # root:root; an egid-0 program may create here
mkdir -m 755 "$T/user"; chown $NOBODY:$NOBODY "$T/user"
for f in target target2 target3; do echo ORIGINAL >"$T/rootonly/$f"; chmod 600 "$T/rootonly/$f"; done
install -o root -g root -m 4755 "$TOOLS/sec_h4_suid" "$T/pub/suid"
install -o root -g root -m 2755 "$TOOLS/sec_h4_suid" "$T/pub/sgid"
install -o root -g root -m 0755 "$TOOLS/sec_h4_suid" "$T/pub/fcap"
install -o root -g root -m 0755 "$TOOLS/sec_h4_suid" "$T/pub/ordinary"
setcap cap_dac_override+ep "$T/pub/fcap" || bail "setcap cap_dac_override+ep failed"
# An attacker's launcher: a memfd named like ours, SECSOCK_INHERIT naming it,
# then execve of the setuid program.  Static, so no preload runs in it.
cat >"$T/launch.c" <<'C'
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	char hdr[64] = "SSINHv1", fdarg[16], env[40];
	int fd = memfd_create("secsock-inherit", 0);
	if (argc < 3 || fd < 0)
		return 2;
	memset(hdr + 8, 'A', sizeof hdr - 8);
	if (write(fd, hdr, sizeof hdr) != (ssize_t)sizeof hdr)
		return 2;
	snprintf(fdarg, sizeof fdarg, "%d", fd);
	snprintf(env, sizeof env, "SECSOCK_INHERIT=%d", fd);
	char *nargv[] = { argv[1], argv[2], fdarg, NULL };
	char *nenv[] = { "PATH=/usr/bin:/bin", env, NULL };
	execve(argv[1], nargv, nenv);
	return 127;
}
C
cc -static -O1 -o "$T/pub/inherit-launch" "$T/launch.c" || bail "cannot build a static launcher (libc6-dev has libc.a)"
as_nobody ln -s "$T/rootonly/target" "$T/user/link"
as_nobody ln -s "$T/rootonly/target2" "$T/user/link2"
as_nobody ln -s "$T/rootonly" "$T/user/dirlink"
as_nobody mkfifo "$T/user/fifo"
as_nobody sh -c "echo THEIRS >'$T/user/theirs.log'"
as_nobody test -r "$SO" || bail "$SO is not readable by uid $NOBODY (the setuid programs could not load it)"
echo "$SO" >"$T/up/ld.so.preload"

# A plain server that speaks first (a non-TLS answer ends a probe at once).
cat >"$T/plain.py" <<'EOF'
import socket, sys, threading
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
def serve(c):
    try:
        c.sendall(b"220 plain\r\n")
        while c.recv(4096):
            pass
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
start_bg plain plain "$PY" "$T/plain.py" "$T/plain.port"
wait_file "$T/plain.port" 10 || bail "plain server did not start" "$T/plain.err"
P=$(cat "$T/plain.port")

# ---------------------------------------------------------------- secure-execution programs
cat >"$T/ns.sh" <<EOF
mount -t overlay overlay -o lowerdir=/etc,upperdir=$T/up,workdir=$T/work /etc || exit 3
u() { setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups env -i PATH=/usr/bin:/bin SECSOCK_LOG=debug "\$@"; }
echo "suid-root: \$(u SECSOCK_LOG_FILE=$T/rootonly/suid.log timeout 15 $T/pub/suid $P)"
echo "suid-link: \$(u SECSOCK_LOG_FILE=$T/user/link timeout 15 $T/pub/suid $P)"
echo "sgid-group: \$(u SECSOCK_LOG_FILE=$T/grouponly/sgid.log timeout 15 $T/pub/sgid $P)"
echo "fcap-root: \$(u SECSOCK_LOG_FILE=$T/rootonly/fcap.log timeout 15 $T/pub/fcap $P)"
# (the launcher is a static binary: no preload runs in it — an attacker need
# not use a preloaded libc, and ours strips the variable from every exec it
# sees, syscall(SYS_execve) included)
echo "suid-inherit: \$(u timeout 15 $T/pub/inherit-launch $T/pub/suid $P)"
echo "ordinary: \$(u SECSOCK_LOG_FILE=$T/user/own.log timeout 15 $T/pub/ordinary $P)"
EOF
unshare -m --propagation private bash "$T/ns.sh" >"$T/ns.out" 2>"$T/ns.err"
rc=$?
[ $rc = 3 ] && { echo "ok - skipped (cannot mount an overlay on /etc in a mount namespace: $(head -1 "$T/ns.err"))"; finish; }
line() { sed -n "s/^$1: //p" "$T/ns.out"; }
for p in suid-root:'euid=0 ' sgid-group:'egid=0 ' fcap-root:'secure=1'; do
	grep -q "^${p%%:*}: .*${p#*:}.*preloaded=yes" "$T/ns.out" ||
		bail "${p%%:*}: not a preloaded secure-execution program ($(line "${p%%:*}"))" "$T/ns.out" "$T/ns.err"
done
grep -q '^suid-root: .*secure=1' "$T/ns.out" || bail "the setuid program did not run in secure-execution mode" "$T/ns.out"

check "setuid root, SECSOCK_LOG_FILE in a root-only directory: no file created" test ! -e "$T/rootonly/suid.log"
assert_eq "$(cat "$T/rootonly/target")" ORIGINAL "setuid root, SECSOCK_LOG_FILE = the user's symlink to a root file: file untouched"
check "setgid root, SECSOCK_LOG_FILE in a directory only group root may write: no file created" test ! -e "$T/grouponly/sgid.log"
check "file capability cap_dac_override, SECSOCK_LOG_FILE in a root-only directory: no file created" test ! -e "$T/rootonly/fcap.log"
assert_grep '^suid-inherit: .*preloaded=yes fd=open inherit=set$' "$T/ns.out" \
	"setuid root, SECSOCK_INHERIT = an attacker's memfd: not acted on (descriptor not read or closed)" "$T/ns.out"
assert_grep '^ordinary: .*secure=0 preloaded=yes' "$T/ns.out" "control: the same program without privileges is preloaded" "$T/ns.out"
assert_grep 'secsock\[[0-9]+\]: (debug|info|warn): ' "$T/user/own.log" \
	"control: an ordinary program logs to the SECSOCK_LOG_FILE its user names (at SECSOCK_LOG=debug)" "$T/ns.out"

# ---------------------------------------------------------------- a root program, paths others control
POLICY=$T/require.conf
write_policy "$POLICY" <<'EOF'
[defaults]
action = require
EOF
EP=$TOOLS/errno_peer
run_root() { TMO=${2:-15} preload "$1" "$EP" -T 10 connect 127.0.0.1 "$P" 'send:x\n' >>"$T/root.out" 2>&1; }
run_root "$T/user/link2"
assert_eq "$(cat "$T/rootonly/target2")" ORIGINAL "root program, SECSOCK_LOG_FILE = a symlink another user planted: target untouched"
run_root "$T/user/dirlink/new.log"
check "root program, SECSOCK_LOG_FILE through a directory symlink another user planted: no file created" \
	test ! -e "$T/rootonly/new.log"
run_root "$T/user/theirs.log"
assert_eq "$(cat "$T/user/theirs.log")" THEIRS "root program, SECSOCK_LOG_FILE = a file another user owns: nothing written to it"
t0=$(ms_now)
run_root "$T/user/fifo" 8
rc=$?
t1=$(ms_now)
check "root program, SECSOCK_LOG_FILE = a FIFO another user made: the program is not held (exit $rc, $((t1 - t0)) ms)" \
	test "$rc" != 124 -a "$rc" != 137
run_root "$T/root.log"
assert_grep 'secsock\[[0-9]+\]: warn: refused outbound' "$T/root.log" "control: a root program logs to a new file of its own" "$T/root.out"
assert_eq "$(stat -c '%U %a' "$T/root.log" 2>/dev/null)" "root 600" "control: the file it created is root's, mode 0600"
run_root "$T/root.log"
assert_count 'refused outbound' "$T/root.log" 2 "control: the next line is appended to it"
unset POLICY
finish
