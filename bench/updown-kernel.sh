#!/usr/bin/env bash
# The up+down cycle on kernel WireGuard (issue 14: <= 0.35x of wg-quick), in the qemu VM
# of tests/kernel (the distribution kernel under TCG, no network device; a kernel
# WireGuard hub and the node in two namespaces joined by a veth). bench/updown.sh is the
# same comparison on userspace WireGuard.
#
#   wgn:       wgn up wg0 --no-register (it waits for the hub's echo itself) + wgn down wg0
#   baseline:  wg-quick up wg0 + ping -c1 -W2 10.0.0.1 + wg-quick down wg0
#   floor:     ip link add + wg set + ip addr add + ip link set up + ping + ip link del
#
# RUNS rounds of the three, alternating, timed in the guest with bash's EPOCHREALTIME;
# every step's exit status, the handshake and the link's removal are checked (see
# tests/kernel/updown-bench.sh and tests/kernel/README.md).
#
# Usage: bench/updown-kernel.sh [WGN_BINARY]    (no root needed; qemu, a /boot/vmlinuz-*
#        with wireguard.ko, busybox-static, wireguard-tools and iproute2 on this machine)
# RUNS (default 15); KTEST_UPDOWN_TOOLS=busybox gives wg-quick busybox's stat, readlink,
# sort and ping instead of Debian's. Prints the figures; exits 1 when the ratio of the
# medians is above the target (0.35), 77 when the harness skips.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
WGN="$(realpath "${1:-$here/../build/wgn}")"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
rc=0
"$here/../tests/kernel/run" --bench-updown "${RUNS:-15}" "$WGN" >"$out" 2>&1 || rc=$?
if [ "$rc" != 0 ]; then
	tail -n 40 "$out" >&2
	exit "$rc"
fi
grep -E '^ktest: (load|PASS)' "$out"
sed -n '/^tools: /,$p' "$out"
ratio="$(sed -n 's/^ratio wgn \/ wg-quick (medians): \([0-9.]*\).*/\1/p' "$out")"
[ -n "$ratio" ] || { echo "updown-kernel.sh: no ratio in the output" >&2; exit 1; }
awk -v r="$ratio" 'BEGIN { exit !(r <= 0.35) }'
