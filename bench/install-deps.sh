#!/bin/sh
# Install what the benchmark compares secsock against (and what it measures
# with), only what is missing: scripts/install-deps.sh does the work.
set -eu
exec "$(dirname "$0")/../scripts/install-deps.sh" iperf3 stunnel4 spiped redis-server \
	redis-tools hyperfine gnuplot-nox openssl socat procps psmisc build-essential jq \
	python3 iproute2 coreutils
