#!/usr/bin/env bash
# wgn health against the check people write today (wg show + ping in a shell script)
# and against the bare ping it must send at least, side by side in one hyperfine run,
# on the same namespace hub; and the peak RSS of each.
#
# Usage (root): bench/health.sh [WGN] [RESULTS.md]
#   WGN        the binary (default: build/wgn)
#   RESULTS.md where to append the figures (default: print them only)
# Needs: ip, wg, wireguard-go, hyperfine, /usr/bin/time (GNU), ping.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
WGN="$(realpath "${1:-build/wgn}")"
RESULTS="${2:-}"
[ "$(id -u)" -eq 0 ] || { echo "bench/health.sh: needs root (network namespaces)" >&2; exit 77; }
export WGN

BENCH_NAME=bench/health.sh
# shellcheck source=sandbox.bash
. "$here/sandbox.bash"
TMP="$BATS_TEST_TMPDIR"
export WGN_RUN_DIR WGN_STATE_DIR WGN_CONFIG_DIR="$NODE_CONF_DIR"
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
	-n "wg show + ping (sh)" "$TMP/check.sh $NODE_IF 10.0.0.1" \
	-n "ping -c1 -W2" "ping -c1 -W2 -I $NODE_IF 10.0.0.1" >&2

rss() { # peak RSS in KiB of CMD... (the largest of the process and its children)
	in_node /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1
}
rss_wgn="$(rss "$WGN" health "$NODE_IF")"
rss_sh="$(rss "$TMP/check.sh" "$NODE_IF" 10.0.0.1)"
rss_ping="$(rss ping -c1 -W2 -I "$NODE_IF" 10.0.0.1)"

report="$(python3 - "$TMP/hf.json" "$rss_wgn" "$rss_sh" "$rss_ping" <<'PY'
import json, sys, os
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
w, s, p = r["wgn health"], r["wg show + ping (sh)"], r["ping -c1 -W2"]
ratio, ratio_ping = w["median"] / s["median"], w["median"] / p["median"]
ms = lambda v: "%.2f ms" % (v * 1000)
print("| command | median | mean ± σ | min | peak RSS |")
print("|---|---|---|---|---|")
for name, x, rss in (("`wgn health`", w, sys.argv[2]), ("`wg show` + `ping -c1` (sh)", s, sys.argv[3]),
                     ("`ping -c1 -W2` (floor)", p, sys.argv[4])):
    print("| %s | %s | %s ± %s | %s | %s KiB |" % (name, ms(x["median"]), ms(x["mean"]),
          ms(x["stddev"]), ms(x["min"]), rss))
print()
print("Ratio of medians, wgn / script: **%.3f×** (target ≤ 0.4×): %s; wgn / ping: **%.3f×**"
      " (target ≤ 1.5×): %s. Peak RSS target ≤ 4096 KiB: %s. Load average at the end: %s." %
      (ratio, "met" if ratio <= 0.4 else "NOT met", ratio_ping,
       "met" if ratio_ping <= 1.5 else "NOT met",
       "met" if int(sys.argv[2]) <= 4096 else "NOT met", " ".join(open("/proc/loadavg").read().split()[:3])))
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
