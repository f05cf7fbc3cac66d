#!/usr/bin/env bash
# wgn health against the check people write today (wg show + ping in a shell script),
# side by side in one hyperfine run, on the same namespace hub; and the peak RSS of each.
#
# Usage (root): bench/health.sh [WGN] [RESULTS.md]
#   WGN        the binary (default: build/wgn)
#   RESULTS.md where to append the figures (default: print them only)
# Needs: ip, wg, wireguard-go, hyperfine, /usr/bin/time (GNU), ping.
set -euo pipefail
cd "$(dirname "$0")/.."
WGN="$(realpath "${1:-build/wgn}")"
RESULTS="${2:-}"
[ "$(id -u)" -eq 0 ] || { echo "bench/health.sh: needs root (network namespaces)" >&2; exit 77; }

id="$(printf '%04x' $(($$ % 65536)))"
HUB_NS="wgnb-$id-hub" NODE_NS="wgnb-$id-node" HUB_IF="wgbh$id" NODE_IF="wgbn$id"
TMP="$(mktemp -d)"
HUB_PID=""
cleanup() {
	local ns p
	for ns in "$NODE_NS" "$HUB_NS"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
	done
	[ -z "$HUB_PID" ] || wait "$HUB_PID" 2>/dev/null || true
	ip netns del "$NODE_NS" 2>/dev/null || true
	ip netns del "$HUB_NS" 2>/dev/null || true
	rm -f "/var/run/wireguard/$HUB_IF.sock" "/var/run/wireguard/$NODE_IF.sock"
	rm -rf "$TMP"
}
trap cleanup EXIT

# The same topology as tests/bats/netns_helper.bash: a veth underlay, a wireguard-go hub.
ip netns add "$HUB_NS"
ip netns add "$NODE_NS"
ip -n "$HUB_NS" link set lo up
ip -n "$NODE_NS" link set lo up
ip -n "$HUB_NS" link add vh type veth peer name vn netns "$NODE_NS"
ip -n "$HUB_NS" address add 192.0.2.1/24 dev vh
ip -n "$NODE_NS" address add 192.0.2.2/24 dev vn
ip -n "$HUB_NS" link set vh up
ip -n "$NODE_NS" link set vn up
(umask 077 && wg genkey >"$TMP/hub.key" && wg genkey >"$TMP/node.key")
ip netns exec "$HUB_NS" env WG_PROCESS_FOREGROUND=1 \
	WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 wireguard-go "$HUB_IF" >"$TMP/hub.log" 2>&1 &
HUB_PID=$!
for _ in $(seq 250); do [ -S "/var/run/wireguard/$HUB_IF.sock" ] && break; sleep 0.02; done
ip netns exec "$HUB_NS" wg set "$HUB_IF" private-key "$TMP/hub.key" listen-port 51820 \
	peer "$(wg pubkey <"$TMP/node.key")" allowed-ips 10.0.0.10/32
ip -n "$HUB_NS" address add 10.0.0.1/24 dev "$HUB_IF"
ip -n "$HUB_NS" link set "$HUB_IF" up

mkdir -p "$TMP/etc" "$TMP/run" "$TMP/state"
cat >"$TMP/etc/$NODE_IF.toml" <<TOML
[interface]
private_key_file = "$TMP/node.key"
address = "10.0.0.10/24"
backend = "userspace"
[hub]
public_key = "$(wg pubkey <"$TMP/hub.key")"
endpoint = "192.0.2.1:51820"
allowed_ips = "10.0.0.0/24"
persistent_keepalive = 25
tunnel_address = "10.0.0.1"
TOML
export WGN_RUN_DIR="$TMP/run" WGN_STATE_DIR="$TMP/state" WGN_CONFIG_DIR="$TMP/etc"
ip netns exec "$NODE_NS" "$WGN" -q up "$NODE_IF" --no-register

# The script people write today: the handshake from wg(8), then one ping.
cat >"$TMP/check.sh" <<'SH'
#!/bin/sh
# check.sh IFACE HUB: 0 healthy, 1 stale handshake, 2 hub does not answer.
hs=$(wg show "$1" latest-handshakes | awk '{ print $2; exit }')
[ -n "$hs" ] && [ "$hs" -ne 0 ] || exit 2
ping -c1 -W2 -I "$1" "$2" >/dev/null 2>&1 || exit 2
[ $(( $(date +%s) - hs )) -le 180 ] || exit 1
exit 0
SH
chmod +x "$TMP/check.sh"

in_node() { ip netns exec "$NODE_NS" "$@"; }
in_node "$WGN" health "$NODE_IF" >&2 # healthy, or the benchmark means nothing
in_node "$TMP/check.sh" "$NODE_IF" 10.0.0.1

# Inside the namespace, so that neither side pays for `ip netns exec`. No shell
# between hyperfine and each command (-N): the script's shell is part of its cost.
in_node hyperfine -N --warmup 10 --runs "${RUNS:-200}" \
	--export-json "$TMP/hf.json" \
	-n "wgn health" "$WGN health $NODE_IF" \
	-n "wg show + ping (sh)" "$TMP/check.sh $NODE_IF 10.0.0.1" >&2

rss() { # peak RSS in KiB of CMD... (the largest of the process and its children)
	in_node /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1
}
rss_wgn="$(rss "$WGN" health "$NODE_IF")"
rss_sh="$(rss "$TMP/check.sh" "$NODE_IF" 10.0.0.1)"

report="$(python3 - "$TMP/hf.json" "$rss_wgn" "$rss_sh" <<'PY'
import json, sys, platform
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
w, s = r["wgn health"], r["wg show + ping (sh)"]
ratio = w["median"] / s["median"]
ms = lambda v: "%.2f ms" % (v * 1000)
print("| command | median | mean ± σ | min | peak RSS |")
print("|---|---|---|---|---|")
for name, x, rss in (("`wgn health`", w, sys.argv[2]), ("`wg show` + `ping -c1` (sh)", s, sys.argv[3])):
    print("| %s | %s | %s ± %s | %s | %s KiB |" % (name, ms(x["median"]), ms(x["mean"]),
          ms(x["stddev"]), ms(x["min"]), rss))
print()
print("Ratio of medians (wgn / script): **%.3f×** (target ≤ 0.25×): %s." %
      (ratio, "met" if ratio <= 0.25 else "NOT met"))
PY
)"
echo "$report"
if [ -n "$RESULTS" ]; then
	{
		echo
		echo "## wgn health vs. wg show + ping ($(date -u +%Y-%m-%d), $(uname -r), $(nproc) CPUs)"
		echo
		echo "\`bench/health.sh\`: hyperfine -N, ${RUNS:-200} runs after 10 warm-ups, both inside the"
		echo "node namespace against a wireguard-go hub over a veth; userspace node backend (UAPI)."
		echo "Peak RSS: GNU time's maximum resident set size (for the script, its largest child)."
		echo
		echo "$report"
	} >>"$RESULTS"
fi
