#!/bin/sh
# Install the tools the benchmark compares secsock against, only those that
# are missing (one dpkg-query per package, at most one apt-get).  Debian 12.
set -eu
PKGS="iperf3 stunnel4 spiped redis-server redis-tools hyperfine gnuplot-nox
openssl socat procps psmisc build-essential jq python3 iproute2 coreutils"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "bench/install-deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# iperf3 asks whether to start a system daemon; we only want the binary.
echo "iperf3 iperf3/start_daemon boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
# Debian starts redis-server and (sometimes) iperf3 as services; the bench
# runs its own instances on free ports, so stop the system ones to keep the
# machine quiet.  Failure here is harmless (no systemd in containers).
for s in redis-server iperf3; do
	$SUDO systemctl stop "$s" 2>/dev/null || $SUDO service "$s" stop 2>/dev/null || true
done
