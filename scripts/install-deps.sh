#!/bin/sh
# Install the Debian 12 packages secsock needs to build, test and demo,
# only those that are missing (one dpkg-query, at most one apt-get).
set -eu
PKGS="build-essential pkg-config libssl-dev openssl libsodium-dev libinih-dev
libcriterion-dev clang libclang-rt-14-dev valgrind socat curl python3
iproute2 procps psmisc tshark netcat-openbsd file"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
