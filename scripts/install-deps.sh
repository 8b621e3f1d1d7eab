#!/bin/sh
# Install the Debian 12 packages secsock needs to build, test and demo —
# plus any package names given as arguments (bench/install-deps.sh passes the
# benchmark's contenders) — only those that are missing: one dpkg-query per
# package, at most one apt-get.  `install-deps.sh --compat` installs the
# programs of `make compat` (tests/compat/) instead: only its runner asks.
set -eu
COMPAT_PKGS="ruby php-cli openjdk-17-jdk-headless nodejs memcached libmemcached-tools
haproxy ucspi-tcp mosquitto mosquitto-clients vsftpd lighttpd rsync git wget
swaks postgresql postgresql-client perl netcat-openbsd socat curl python3
nginx-light redis-server redis-tools"
if [ "${1:-}" = --compat ]; then
	shift
	set -- $COMPAT_PKGS "$@"
fi
PKGS="build-essential pkg-config libssl-dev openssl libsodium-dev libinih-dev
libcriterion-dev clang libclang-rt-14-dev valgrind socat curl python3
iproute2 procps psmisc tshark netcat-openbsd file libcap2-bin util-linux
nginx-light haproxy redis-server redis-tools iperf3 universal-ctags $*"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# Answer the packages' questions without a prompt: no setuid capture for
# non-root users (tshark), no system iperf3 daemon.
printf '%s\n' "wireshark-common wireshark-common/install-setuid boolean false" \
	"iperf3 iperf3/start_daemon boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
# Debian starts redis-server (and sometimes iperf3, nginx) as services; tests
# and benchmarks run their own instances on free ports, so stop the system
# ones to keep the machine quiet.  Harmless where there is no init system.
for s in redis-server iperf3 nginx memcached mosquitto vsftpd lighttpd haproxy postgresql; do
	$SUDO systemctl stop "$s" 2>/dev/null || $SUDO service "$s" stop 2>/dev/null || true
done
