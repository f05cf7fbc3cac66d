#!/usr/bin/env bash
# `wgn rotate` N times (default 20) on a node whose hub runs `wgn sync --watch`, with
# an ICMP echo to the hub every 100 ms throughout: pings lost and wall time per
# rotation, median and max.
#
#   bash bench/rotate.sh [WGN] [N]     (root; defaults: build/wgn 20)
#
# The set-up of tests/bats/rotate.bats outside bats: a private control plane
# (contrib/control-plane/scripts/test-stack), the wireguard-go hub and the node of the
# end-to-end tests in network namespaces (bench/sandbox.bash), both reaching the control
# plane on their loopback through tests/bats/nsforward.py; the hub added by the admin
# API, its own config (no [hub], a hub token) and `wgn sync --watch`; the node enrolled
# with an enrollment token (`wgn enroll`, then `wgn up`), userspace backend.
# Each rotation: `ping -i 0.1` starts 1 s before `wgn rotate NAME --json` and ends 1 s
# after it (SIGINT); lost = transmitted - received. The wall time is rotate's own
# (`seconds` of --json: from the lock to the key file replaced) and the process's.
set -euo pipefail
BENCH_NAME=rotate.sh
here="$(cd "$(dirname "$0")/.." && pwd)"
WGN="$(readlink -f "${1:-build/wgn}")"
N="${2:-20}"
export WGN
stack="$here/contrib/control-plane/scripts/test-stack"

# shellcheck source=sandbox.bash
. "$(dirname "$0")/sandbox.bash"
CP_DIR="$(mktemp -d /tmp/wgn-rotate-bench.XXXXXX)"
rmdir "$CP_DIR"
pids=()
bench_cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	"$stack" stop "$CP_DIR" >/dev/null 2>&1 || true
	cleanup
}
trap bench_cleanup EXIT
"$stack" start "$CP_DIR" >&2
# shellcheck source=/dev/null
. "$CP_DIR/env"
export PGHOST PGPORT PGUSER PGDATABASE

admin() {
	curl -fsS -X POST -H @<(echo "Authorization: Bearer $(cat "$CP_ADMIN_TOKEN_FILE")") \
		-H 'Content-Type: application/json' -d "$2" "$CP_URL/api/v1$1"
}
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

ip netns exec "$HUB_NS" wg set "$HUB_IF" peer "$NODE_PUB" remove
for ns in "$HUB_NS" "$NODE_NS"; do
	python3 "$here/tests/bats/nsforward.py" "$ns" "$CP_PORT" "$CP_PORT" "$BATS_TEST_TMPDIR/fwd-$ns" \
		</dev/null >"$BATS_TEST_TMPDIR/fwd-$ns.log" 2>&1 &
	pids+=($!)
	wait_for 10 test -s "$BATS_TEST_TMPDIR/fwd-$ns" || fail "nsforward did not start"
done

HUB_DIR="$BATS_TEST_TMPDIR/hub"
mkdir -p "$HUB_DIR/etc"
(umask 077 && admin /hubs "{\"public_key\":\"$HUB_PUB\",\"endpoint\":\"$HUB_ENDPOINT\",\"tunnel_address\":\"10.0.0.1\"}" |
	field hub_token >"$HUB_DIR/hub.token")
cat >"$HUB_DIR/etc/$HUB_IF.toml" <<TOML
[interface]
private_key_file = "$BATS_TEST_TMPDIR/keys/hub.key"
address = ["10.0.0.1/24", "fd00::1/64"]
listen_port = 51820
backend = "userspace"

[control_plane]
url = "http://127.0.0.1:$CP_PORT"
token_file = "$HUB_DIR/hub.token"
TOML
ip netns exec "$HUB_NS" env WGN_RUN_DIR="$HUB_DIR/run" WGN_STATE_DIR="$HUB_DIR/state" \
	WGN_CONFIG_DIR="$HUB_DIR/etc" "$WGN" sync --watch "$HUB_IF" \
	</dev/null >/dev/null 2>"$HUB_DIR/sync.log" &
pids+=($!)
wait_for 10 test -s "$HUB_DIR/state/$HUB_IF.sync.json" || fail "sync --watch did not start"

(umask 077 && admin /enrollment-tokens '{}' | field token >"$BATS_TEST_TMPDIR/enroll.token")
rm -f "$NODE_CONF"
node_wgn enroll "http://127.0.0.1:$CP_PORT" "$NODE_IF" --token-file "$BATS_TEST_TMPDIR/enroll.token" >&2
sed -i 's/^\[interface\]$/[interface]\nbackend = "userspace"/' "$NODE_CONF"
node_wgn up "$NODE_IF" >&2
key_file="$NODE_CONF_DIR/$NODE_IF.key"

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
: >"$BATS_TEST_TMPDIR/results"
for i in $(seq "$N"); do
	(exec ip netns exec "$NODE_NS" ping -i 0.1 -W 1 10.0.0.1 >"$BATS_TEST_TMPDIR/ping" 2>&1) &
	ping_pid=$!
	sleep 1
	t0=$(date +%s.%N)
	node_wgn rotate "$NODE_IF" --json >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" ||
		fail "rotation $i failed: $(cat "$BATS_TEST_TMPDIR/err")"
	t1=$(date +%s.%N)
	sleep 1
	kill -INT "$ping_pid"
	wait "$ping_pid" || true
	sent="$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$BATS_TEST_TMPDIR/ping")"
	got="$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$BATS_TEST_TMPDIR/ping")"
	own="$(field seconds <"$BATS_TEST_TMPDIR/out")"
	[ "$(wg pubkey <"$key_file")" = "$(field new_public_key <"$BATS_TEST_TMPDIR/out")" ] ||
		fail "rotation $i: the key file does not hold the new key"
	echo "$((sent - got)) $own $(echo "$t1 - $t0" | bc)" >>"$BATS_TEST_TMPDIR/results"
	echo "rotation $i: $((sent - got)) of $sent pings lost, ${own}s (process $(echo "$t1 - $t0" | bc)s)" >&2
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$BATS_TEST_TMPDIR/results" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
lost, own, proc = zip(*rows)
print(f"{len(rows)} rotations")
print(f"pings lost (100 ms):   median {statistics.median(lost):.0f}  max {max(lost):.0f}")
print(f"rotate (its seconds):  median {statistics.median(own):.2f} s  max {max(own):.2f} s")
print(f"process wall time:     median {statistics.median(proc):.2f} s  max {max(proc):.2f} s")
PY
