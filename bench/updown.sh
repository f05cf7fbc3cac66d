#!/usr/bin/env bash
# One verified up+down cycle, wgn against wg-quick, side by side in one hyperfine run,
# against a wireguard-go hub in a network namespace (tests/bats/netns_helper.bash).
# Both nodes use wireguard-go (userspace), so the comparison is of the tools, not of
# kernel against userspace WireGuard. The same on kernel WireGuard, in the qemu VM of
# tests/kernel: bench/updown-kernel.sh.
#
#   wgn:       wgn up (which waits for the hub's ICMP answer itself) && wgn down
#   baseline:  wg-quick up && ping until the hub answers && wg-quick down
#
# Usage (root): bench/updown.sh [WGN_BINARY] [extra hyperfine options]
# Prints hyperfine's table and the ratio of the medians; exits 1 when the ratio is
# above the target (0.45, issue 14). RUNS (default 30) and RESULTS_DIR (keep the JSON) apply.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
WGN="$(realpath "${1:-$here/../build/wgn}")"
shift || true
[ "$(id -u)" -eq 0 ] || {
	echo "updown.sh: needs root (network namespaces)" >&2
	exit 77
}
for c in hyperfine wg-quick wg wireguard-go ip jq; do
	command -v "$c" >/dev/null || {
		echo "updown.sh: needs $c" >&2
		exit 69
	}
done
[ -x "$WGN" ] || {
	echo "updown.sh: no wgn binary at $WGN (build first, or pass its path)" >&2
	exit 66
}
export WGN

BENCH_NAME=updown.sh
# shellcheck source=sandbox.bash
. "$here/sandbox.bash"
# /run is a tmpfs on a real system, where the run state and lock live; here it may be
# on disk, where each fsync of the run state would cost milliseconds that no user sees.
if [ -d /dev/shm ] && [ "$(stat -f -c %T /dev/shm)" = tmpfs ]; then
	WGN_RUN_DIR="$(mktemp -d /dev/shm/wgn-bench-run.XXXXXX)"
	trap 'cleanup; rm -rf "$WGN_RUN_DIR"' EXIT
fi
NODE_CONFIG_RETRIES=10 NODE_CONFIG_BACKOFF=0.05 NODE_CONFIG_ATTEMPT_TIMEOUT=1.0 node_write_config

# wg-quick's config: the same key and hub, under another interface name.
WQ_IF="wq${NETNS_ID}"
WQ_CONF="$BATS_TEST_TMPDIR/$WQ_IF.conf"
(
	umask 077
	cat >"$WQ_CONF" <<EOF
[Interface]
PrivateKey = $NODE_PRIV
Address = 10.0.0.10/24

[Peer]
PublicKey = $HUB_PUB
Endpoint = $HUB_ENDPOINT
AllowedIPs = 10.0.0.0/24, fd00::/64
EOF
)

export WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go
export WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1
ns="ip netns exec $NODE_NS"
# Through the environment, as an administrator's shell would have them: no env(1) in
# the timed command.
export WGN_RUN_DIR WGN_STATE_DIR WGN_CONFIG_DIR="$NODE_CONF_DIR"
wgn_cmd="$ns $WGN -q up $NODE_IF && $ns $WGN -q down $NODE_IF"
# ping -W is whole seconds; the loop makes "until the hub answers" exact.
wq_cmd="$ns wg-quick up $WQ_CONF 2>/dev/null && until $ns ping -c 1 -W 1 -q 10.0.0.1 >/dev/null; do :; done && $ns wg-quick down $WQ_CONF 2>/dev/null"

# The floor both pay: start wireguard-go, wait for its socket, delete the link, wait
# for the daemon to exit. Neither tool can be faster than this.
FL_IF="wf${NETNS_ID}"
floor_cmd="$ns sh -c 'WG_PROCESS_FOREGROUND=1 wireguard-go $FL_IF >/dev/null 2>&1 & until [ -S $UAPI_DIR/$FL_IF.sock ]; do :; done; ip link del $FL_IF; wait; rm -f $UAPI_DIR/$FL_IF.sock'"

# One cycle of each first, outside the measurements, so that a broken setup fails
# loudly instead of being timed.
sh -c "$wgn_cmd" || fail "wgn cycle failed"
sh -c "$wq_cmd" || fail "wg-quick cycle failed"

# RESULTS_DIR keeps hyperfine's JSON and Markdown; by default they go with the run.
out="${RESULTS_DIR:-$BATS_TEST_TMPDIR}"
mkdir -p "$out"
json="$out/updown.json"
hyperfine --warmup 3 --runs "${RUNS:-30}" \
	--export-json "$json" --export-markdown "$out/updown.md" "$@" \
	-n "wgn up+down (verified)" "$wgn_cmd" \
	-n "wg-quick up + ping + wg-quick down" "$wq_cmd" \
	-n "floor: wireguard-go start + link delete" "$floor_cmd"

wgn_median="$(jq '.results[0].median' "$json")"
wq_median="$(jq '.results[1].median' "$json")"
cat "$out/updown.md"
floor_median="$(jq '.results[2].median' "$json")"
ratio="$(jq -n "$wgn_median / $wq_median")"
printf 'median: wgn %.1f ms, wg-quick %.1f ms, ratio %.2f (target <= 0.45)\n' \
	"$(jq -n "$wgn_median * 1000")" "$(jq -n "$wq_median * 1000")" "$ratio"
printf 'above the floor (%.1f ms): wgn %.1f ms, wg-quick %.1f ms, ratio %.2f\n' \
	"$(jq -n "$floor_median * 1000")" "$(jq -n "($wgn_median - $floor_median) * 1000")" \
	"$(jq -n "($wq_median - $floor_median) * 1000")" \
	"$(jq -n "($wgn_median - $floor_median) / ($wq_median - $floor_median)")"
jq -n -e "$ratio <= 0.45" >/dev/null
