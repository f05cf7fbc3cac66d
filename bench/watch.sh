#!/usr/bin/env bash
# The idle cost of `wgn watch`: CPU per hour and peak RSS of a watch looking at a
# healthy, idle tunnel, next to the node's own wireguard-go over the same time.
#   bench/watch.sh [WGN] [SECONDS] [INTERVAL]     (root; defaults: build/wgn 60 5)
# A hub and a node in network namespaces (bench/sandbox.bash); the watch starts after
# the tunnel is up (an `up` first, so that the bring-up is not counted), runs SECONDS,
# and its utime+stime (/proc/PID/stat) and VmHWM (/proc/PID/status) are read.
set -euo pipefail
BENCH_NAME=watch.sh
WGN="$(readlink -f "${1:-build/wgn}")"
DURATION="${2:-60}"
INTERVAL="${3:-5}"
export WGN
# shellcheck source=sandbox.bash
. "$(dirname "$0")/sandbox.bash"
node_write_config "[health]" "interval = $INTERVAL"

ticks() { # PID: utime + stime in clock ticks, all threads
	awk '{print $14 + $15}' "/proc/$1/stat"
}
ns() { # PID: time on a CPU in ns (the scheduler's; wgn is one thread)
	awk '{print $1}' "/proc/$1/schedstat"
}
node_wgn up "$NODE_IF" 2>/dev/null
daemon="$(ip netns pids "$NODE_NS" | head -n 1)"
(node_wgn_exec watch "$NODE_IF") 2>"$BATS_TEST_TMPDIR/watch.err" &
pid=$!
sleep 1 # the first look
w0=$(ticks "$pid") n0=$(ns "$pid") d0=$(ticks "$daemon") t0=$(date +%s.%N)
sleep "$DURATION"
w1=$(ticks "$pid") n1=$(ns "$pid") d1=$(ticks "$daemon") t1=$(date +%s.%N)
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
dhwm=$(awk '/^VmHWM/ {print $2}' "/proc/$daemon/status")
kill -TERM "$pid"
wait "$pid" || true
hz=$(getconf CLK_TCK)
awk -v w=$((w1 - w0)) -v n=$((n1 - n0)) -v d=$((d1 - d0)) -v hz="$hz" -v t0="$t0" -v t1="$t1" \
	-v hwm="$hwm" -v dhwm="$dhwm" -v iv="$INTERVAL" 'BEGIN {
	el = t1 - t0
	printf "interval %s s, %.1f s measured (%d looks)\n", iv, el, el / iv
	printf "wgn watch:    %.2f CPU-s/hour (schedstat %.1f ms; %d ticks), peak RSS %d KiB\n", n / 1e9 * 3600 / el, n / 1e6, w, hwm
	printf "wireguard-go: %.2f CPU-s/hour (%d ticks), peak RSS %d KiB\n", d / hz * 3600 / el, d, dhwm
}'
