#!/bin/bash
# package.sh — issue 16 must-show 5 (`make check-package`): the Debian
# package made by `make deb` installs with apt-get, works from the installed
# paths alone, and purges without leaving a file behind.
#   - the installed secsock, libraries, man pages, completion and examples;
#   - the demo (scripts/demo.sh) with the installed libsecsock.so, no build
#     tree: its wiretap, tests/tools/ss_relay.c, is compiled here into $T;
#   - `secsock run` finding the installed preload (and its engine) by itself;
#   - a program linked with pkg-config's flags starts (the .pc's rpath);
#   - apt-get purge: package gone, every file it had gone.
# Needs root (it installs and purges a system package) and a machine where
# secsock is not installed as a package already; not in `make check` (see
# README, "The Debian package").
CLI_NAME=package-cli
. "$(dirname "$0")/lib.bash"
REPO=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "package.sh: needs root (apt-get install/purge)"; exit 1; }
arch=$(dpkg --print-architecture)
deb=$(ls "$BUILD"/deb/secsock_*_"$arch".deb 2>/dev/null | tail -n1)
[ -n "$deb" ] || { echo "package.sh: no $BUILD/deb/secsock_*_$arch.deb: run 'make deb' first"; exit 1; }
if dpkg-query -W -f='${Status}' secsock 2>/dev/null | grep -q 'ok installed'; then
	echo "package.sh: a secsock package is installed already; not touching it"
	exit 1
fi
APT=(apt-get -o DPkg::Lock::Timeout=300 -y -q)
export DEBIAN_FRONTEND=noninteractive
version=$(sed -nE 's/^VERSION +:= *//p' "$REPO/Makefile")
purged=0
etc_before=$(ls -ld /etc/secsock 2>&1 | cut -c1-10)
# A failed run must not leave the package installed on the machine.
trap '[ "$purged" = 1 ] || "${APT[@]}" purge secsock >/dev/null 2>&1; rm -rf "$T"' EXIT

# ---- install
expect 0 "apt-get install ./$(basename "$deb")" -- bash -c 'cd "$1" && shift && "$@"' sh "$(dirname "$deb")" \
	"${APT[@]}" install "./$(basename "$deb")"
dpkg -L secsock >"$T/files" 2>&1
check "dpkg -L secsock lists the package's files" grep -qx /usr/bin/secsock "$T/files"
libdir=$(sed -n 's|/libsecsock\.so$||p' "$T/files")
check "libsecsock.so is under the multiarch directory (got '$libdir')" \
	[ "$libdir" = "/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)/secsock" ]
for f in "$libdir/libsecsock.so" "$libdir/libsecsock-engine.so" /usr/bin/secsock /usr/include/secsock.h \
	/usr/share/man/man1/secsock.1.gz /usr/share/man/man3/libsecsock.3.gz /usr/share/man/man5/secsock-policy.5.gz \
	/usr/share/bash-completion/completions/secsock /usr/share/doc/secsock/examples/policy.conf \
	/usr/share/doc/secsock/examples/secsock-dropin.conf /usr/share/doc/secsock/copyright; do
	check "dpkg -L lists $f and it is there" eval 'grep -qx "$f" "$T/files" && [ -f "$f" ]'
done
if [ -f "$REPO/docs/secsock-kds.service" ]; then
	check "the KDS unit is installed" [ -f /usr/lib/systemd/system/secsock-kds.service ]
fi

# ---- the installed command, man pages, examples
expect 0 "/usr/bin/secsock --version" -- /usr/bin/secsock --version
check "--version says secsock $version" grep -qx "secsock $version" "$T/out"
for m in 1:secsock 3:libsecsock 5:secsock-policy 8:secsock-kds; do
	if command -v man >/dev/null; then
		expect 0 "man -w ${m#*:}(${m%%:*})" -- man -w "${m%%:*}" "${m#*:}"
		check "man finds the installed page ($(cat "$T/out"))" grep -q "^/usr/share/man/" "$T/out"
	fi
	check "man page ${m#*:}(${m%%:*}) is a manual page" eval \
		'zcat "/usr/share/man/man${m%%:*}/${m#*:}.${m%%:*}.gz" | grep -q "^\.TH "'
done
expect 0 "secsock policy check on the example policy" -- /usr/bin/secsock policy check /usr/share/doc/secsock/examples/policy.conf
/usr/bin/secsock policy show-default >"$T/default.conf"
check "the example policy is the embedded default" cmp -s "$T/default.conf" /usr/share/doc/secsock/examples/policy.conf
expect 0 "the installed completion completes 'secsock pol'" -- bash -c \
	'. /usr/share/bash-completion/completions/secsock; COMP_WORDS=(secsock pol); COMP_CWORD=1; _secsock; echo "${COMPREPLY[*]}"'
has out policy "completion offers policy"

# ---- secsock run finds the installed preload
expect 0 "secsock run sets LD_PRELOAD to the installed library" -- \
	env -u LD_PRELOAD /usr/bin/secsock run -- /bin/sh -c 'echo "$LD_PRELOAD"'
check "LD_PRELOAD=$libdir/libsecsock.so (got $(cat "$T/out"))" grep -qx "$libdir/libsecsock.so" "$T/out"
mkdir -p "$T/www" "$T/xdg" && chmod 700 "$T/xdg"
echo "package test page" >"$T/www/index.html"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
XDG_RUNTIME_DIR=$T/xdg env -u SECSOCK_POLICY setsid /usr/bin/secsock run --log info --log-file "$T/server.log" -- \
	/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$port" >/dev/null 2>&1 &
spid=$!
for _ in $(seq 100); do ss -ltn "sport = :$port" | grep -q LISTEN && break; sleep 0.1; done
expect 0 "curl under the installed secsock run fetches the page" -- env -u SECSOCK_POLICY XDG_RUNTIME_DIR="$T/xdg" \
	timeout 30 /usr/bin/secsock run --log info --log-file "$T/client.log" -- curl -sS "http://127.0.0.1:$port/"
has out "package test page" "the page arrived"
for _ in $(seq 50); do grep -q 'secured inbound' "$T/server.log" 2>/dev/null && break; sleep 0.1; done
kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
check "client logged 'secured outbound' (engine loaded from $libdir)" grep -q 'info: secured outbound .*cipher=' "$T/client.log"
check "server logged 'secured inbound'" grep -q 'info: secured inbound .*cipher=' "$T/server.log"

# ---- the demo, from the installed paths: no build tree
mkdir -p "$T/nobuild/tools"
check "the demo's wiretap compiles from tests/tools/ss_relay.c" \
	cc -std=c17 -D_GNU_SOURCE -O2 -o "$T/nobuild/tools/ss_relay" "$REPO/tests/tools/ss_relay.c" -lpthread
expect 0 "scripts/demo.sh with the installed libsecsock.so (proof holds)" -- \
	env BUILD="$T/nobuild" SECSOCK_SO="$libdir/libsecsock.so" bash "$REPO/scripts/demo.sh"
cp "$T/out" "$T/demo.out"
has demo.out "library:  $libdir/libsecsock.so" "the demo used the installed library"
has demo.out "Proof holds." "the demo's proof holds"
line demo.out "found in plaintext payload on the wire: no" "the marker is not on the secured wire"

# ---- a program linked against the library starts (pkg-config's rpath)
printf '#include <secsock.h>\nint main(void) { return 0; }\n' >"$T/linked.c"
check "cc \$(pkg-config --cflags --libs secsock) links" eval \
	'cc -o "$T/linked" "$T/linked.c" -Wl,--no-as-needed $(pkg-config --cflags --libs secsock)'
check "the linked program needs libsecsock.so" eval 'readelf -d "$T/linked" | grep -q "NEEDED.*libsecsock.so"'
expect 0 "the linked program starts (the loader finds the library)" -- "$T/linked"

# ---- purge
expect 0 "apt-get purge secsock" -- "${APT[@]}" purge secsock
purged=1
expect 1 "dpkg -s secsock: not installed" -- dpkg -s secsock
expect 1 "dpkg -L secsock: nothing" -- dpkg -L secsock
left=0
# the shared directories the package has files in stay (other packages' too)
triplet=$(basename "$(dirname "$libdir")")
shared=" /. /usr /usr/bin /usr/include /usr/lib /usr/lib/$triplet /usr/lib/$triplet/pkgconfig /usr/share
 /usr/share/doc /usr/share/man /usr/share/man/man1 /usr/share/man/man3 /usr/share/man/man5 /usr/share/man/man8
 /usr/share/bash-completion /usr/share/bash-completion/completions /usr/lib/systemd /usr/lib/systemd/system "
shared=" ${shared//$'\n'/ } "
while IFS= read -r f; do
	case $shared in *" $f "*) continue ;; esac
	[ -e "$f" ] || [ -L "$f" ] || continue
	echo "  left after purge: $f"
	left=$((left + 1))
done <"$T/files"
check "nothing the package installed is left ($left left)" [ "$left" = 0 ]
check "/etc/secsock as before the install ($etc_before)" [ "$(ls -ld /etc/secsock 2>&1 | cut -c1-10)" = "$etc_before" ]

cli_done package
