#!/usr/bin/env bash
# `wgn sync` on a hub with N nodes (default 10,000) against `wg syncconf` of the same
# peers, and one changed node through `wgn sync --watch`.
#
#   bash bench/sync.sh [WGN] [N] [RUNS]     (root; defaults: build/wgn 10000 10)
#
# A private control plane (contrib/control-plane/scripts/test-stack) and the wireguard-go
# hub of the end-to-end tests in a network namespace (bench/sandbox.bash); the hub
# reaches the control plane on its loopback through tests/bats/nsforward.py (as in
# tests/bats/sync.bats), and its config is the hub's own (no [hub], a hub token).
#
# 1. N nodes go into the nodes table with one SQL INSERT (random keys, 10.x.y.z/8
#    addresses, a revision each from nextval('revision')): setup, not measured.
# 2. hyperfine -N, one run, both from empty: before each run the hub's peers are emptied
#    (`wg setconf` with only its private key and port) and sync's state file removed.
#    `wgn sync HUB` lists the feed (page by page) and applies it in one UAPI set;
#    `wg syncconf HUB FILE` applies a config file of the same N peers, written
#    beforehand from the hub after a first `wgn sync` (wg showconf). Both run under
#    `ip netns exec` in the hub's namespace. Two floors: `wg showconf` of the N peers
#    (one UAPI read), and the feed's N/1000 pages fetched by one curl.
# 3. `wgn sync --watch HUB` runs; bench/sync-change.py registers CHANGES (20) new nodes
#    one at a time through the API and measures, for each, from the control plane's
#    answer to the new key being in the hub's UAPI dump (read in a loop).
# 4. bench/sync-longpoll.js holds HUBS (1000) long polls of the feed on the one app
#    instance, then registers one node: the app's RSS before and with them, and the time
#    from sending the registration to the first and the last long poll answered.
# 5. The kernel side (KERNEL=0: not at all): tests/kernel/sync --bench N boots the
#    distribution kernel under qemu (TCG) with a kernel WireGuard hub and its own control
#    plane of N nodes on this machine, and runs in the VM the same comparison (wgn sync
#    against wg syncconf from empty, KERNEL_RUNS (3) each, timed in the guest) and
#    KERNEL_CHANGES (10) single changes through sync --watch (tests/kernel/sync-bench.sh).
set -euo pipefail
BENCH_NAME=sync.sh
here="$(cd "$(dirname "$0")/.." && pwd)"
WGN="$(readlink -f "${1:-build/wgn}")"
N="${2:-10000}"
RUNS="${3:-10}"
CHANGES="${CHANGES:-20}"
export WGN
stack="$here/contrib/control-plane/scripts/test-stack"
load() { cut -d' ' -f1-3 /proc/loadavg; }

# shellcheck source=sandbox.bash
. "$(dirname "$0")/sandbox.bash"
CP_DIR="$(mktemp -d /tmp/wgn-sync-bench.XXXXXX)"
rmdir "$CP_DIR"
fwd_pid=""
watch_pid=""
bench_cleanup() {
	[ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null
	[ -n "$fwd_pid" ] && kill "$fwd_pid" 2>/dev/null
	"$stack" stop "$CP_DIR" >/dev/null 2>&1 || true
	cleanup
}
trap bench_cleanup EXIT
"$stack" start "$CP_DIR" >&2
# shellcheck source=/dev/null
. "$CP_DIR/env"
export PGHOST PGPORT PGUSER PGDATABASE

# The hub: only sync's peers, its config without [hub], its hub token.
ip netns exec "$HUB_NS" wg set "$HUB_IF" peer "$NODE_PUB" remove
python3 "$here/tests/bats/nsforward.py" "$HUB_NS" "$CP_PORT" "$CP_PORT" "$BATS_TEST_TMPDIR/fwd.ready" \
	</dev/null >"$BATS_TEST_TMPDIR/fwd.log" 2>&1 &
fwd_pid=$!
wait_for 10 test -s "$BATS_TEST_TMPDIR/fwd.ready" || fail "nsforward did not start"
HUB_DIR="$BATS_TEST_TMPDIR/hub"
mkdir -p "$HUB_DIR/etc"
(umask 077 && curl -fsS -X POST -H @<(echo "Authorization: Bearer $(cat "$CP_ADMIN_TOKEN_FILE")") \
	-H 'Content-Type: application/json' \
	-d "{\"public_key\":\"$HUB_PUB\",\"endpoint\":\"$HUB_ENDPOINT\",\"tunnel_address\":\"10.0.0.1\"}" \
	"$CP_URL/api/v1/hubs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hub_token"])' \
	>"$HUB_DIR/hub.token")
cat >"$HUB_DIR/etc/$HUB_IF.toml" <<TOML
[interface]
private_key_file = "$BATS_TEST_TMPDIR/keys/hub.key"
address = ["10.0.0.1/24", "fd00::1/64"]
listen_port = 51820
backend = "userspace"

[control_plane]
url = "http://127.0.0.1:$CP_PORT"
token_file = "$HUB_DIR/hub.token"
timeout = 30.0
TOML
hub_env=(ip netns exec "$HUB_NS" env WGN_RUN_DIR="$HUB_DIR/run" WGN_STATE_DIR="$HUB_DIR/state"
	WGN_CONFIG_DIR="$HUB_DIR/etc")

# 1. N nodes, straight into the table.
python3 - "$N" >"$BATS_TEST_TMPDIR/nodes.sql" <<'PY'
import base64, os, sys
n = int(sys.argv[1])
print("INSERT INTO nodes (node_id, wireguard_public_key, hostname, interface_name,"
      " wireguard_address, hub_endpoint, labels, wgn_version, revision) VALUES")
rows = []
for i in range(1, n + 1):
    key = base64.b64encode(os.urandom(32)).decode()
    a = 0x0a400000 + i  # 10.64.0.1 onwards
    addr = f"{a >> 24}.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}/8"
    rows.append(f"(gen_random_uuid(), '{key}', 'bench-{i}', 'wg0', ARRAY['{addr}'],"
                f" '192.0.2.1:51820', '{{}}', 'bench', nextval('revision'))")
print(",\n".join(rows) + ";")
PY
psql -X -q -v ON_ERROR_STOP=1 -f "$BATS_TEST_TMPDIR/nodes.sql"
echo "nodes in the control plane: $(psql -X -Atq -c 'SELECT count(*) FROM nodes WHERE NOT deleted')" >&2

# The same peers as a wg config: the hub's own after a first sync.
"${hub_env[@]}" "$WGN" sync "$HUB_IF" >/dev/null
peers="$(ip netns exec "$HUB_NS" wg show "$HUB_IF" peers | wc -l)"
[ "$peers" -eq "$N" ] || fail "the first sync left $peers peers, not $N"
ip netns exec "$HUB_NS" wg showconf "$HUB_IF" >"$BATS_TEST_TMPDIR/full.conf"
printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\n' "$(cat "$BATS_TEST_TMPDIR/keys/hub.key")" \
	>"$BATS_TEST_TMPDIR/empty.conf"
chmod 600 "$BATS_TEST_TMPDIR"/*.conf

# The floor of the listing: the same pages as sync asks for (1000 nodes each, compressed),
# by one curl from the hub's namespace through the same forwarder.
base=$(psql -X -Atq -c 'SELECT min(revision) - 1 FROM nodes')
(umask 077 && echo "Authorization: Bearer $(cat "$HUB_DIR/hub.token")" >"$BATS_TEST_TMPDIR/hub.hdr")
urls="http://127.0.0.1:$CP_PORT/api/v1/nodes?since=0&limit=1000"
for ((k = 1000; k < N; k += 1000)); do
	urls+=" http://127.0.0.1:$CP_PORT/api/v1/nodes?since=$((base + k))&limit=1000"
done

# With STRACE=1: where one run from empty spends its wall time (strace -f -c -w), and
# the times of its requests and UAPI exchanges (strace -f -tt), before the runs.
if [ -n "${STRACE:-}" ]; then
	ip netns exec "$HUB_NS" wg setconf "$HUB_IF" "$BATS_TEST_TMPDIR/empty.conf"
	rm -f "$HUB_DIR/state/$HUB_IF.sync.json"
	strace -f -c -w -o "$BATS_TEST_TMPDIR/strace.c" "${hub_env[@]}" "$WGN" sync "$HUB_IF" >/dev/null
	head -n 14 "$BATS_TEST_TMPDIR/strace.c" >&2
	ip netns exec "$HUB_NS" wg setconf "$HUB_IF" "$BATS_TEST_TMPDIR/empty.conf"
	rm -f "$HUB_DIR/state/$HUB_IF.sync.json"
	strace -f -tt -e trace=connect,sendto,recvfrom,send,recv -o "$BATS_TEST_TMPDIR/strace.tt" \
		"${hub_env[@]}" "$WGN" sync "$HUB_IF" >/dev/null
	grep -E 'connect\(|GET /|HTTP/1.1 200|errno=' "$BATS_TEST_TMPDIR/strace.tt" | cut -c1-150 >&2 || true
fi

# 2. From empty, side by side (RUNS=0: not at all).
empty="ip netns exec $HUB_NS wg setconf $HUB_IF $BATS_TEST_TMPDIR/empty.conf"
if [ "$RUNS" -gt 0 ]; then
echo "load before: $(load)" >&2
hyperfine -N --runs "$RUNS" --warmup 1 --export-markdown "$BATS_TEST_TMPDIR/hf.md" \
	--prepare "sh -c '$empty && rm -f $HUB_DIR/state/$HUB_IF.sync.json'" \
	--prepare "$empty" \
	--prepare "ip netns exec $HUB_NS wg syncconf $HUB_IF $BATS_TEST_TMPDIR/full.conf" \
	--prepare "true" \
	-n "wgn sync ($N nodes)" "${hub_env[*]} $WGN sync $HUB_IF" \
	-n "wg syncconf ($N peers)" "ip netns exec $HUB_NS wg syncconf $HUB_IF $BATS_TEST_TMPDIR/full.conf" \
	-n "floor: wg showconf ($N peers)" "ip netns exec $HUB_NS wg showconf $HUB_IF" \
	-n "floor: the feed's pages by curl" "ip netns exec $HUB_NS curl -fsS --compressed -H @$BATS_TEST_TMPDIR/hub.hdr $urls" \
	>&2
echo "load after: $(load)" >&2
cat "$BATS_TEST_TMPDIR/hf.md"
fi
peers="$(ip netns exec "$HUB_NS" wg show "$HUB_IF" peers | wc -l)"
[ "$peers" -eq "$N" ] || fail "the hub has $peers peers after the runs, not $N"

# 3. One changed node at a time, with --watch.
rm -f "$HUB_DIR/state/$HUB_IF.sync.json"
"${hub_env[@]}" "$WGN" sync --watch "$HUB_IF" </dev/null >/dev/null 2>"$BATS_TEST_TMPDIR/watch.log" &
watch_pid=$!
wait_for 60 test -s "$HUB_DIR/state/$HUB_IF.sync.json" || fail "sync --watch did not finish a first round"
sleep 1
echo "load before: $(load)" >&2
python3 "$here/bench/sync-change.py" "$CP_URL" "$CP_TOKEN_FILE" "$UAPI_DIR/$HUB_IF.sock" "$CHANGES" \
	"$BATS_TEST_TMPDIR/watch.log"
echo "load after: $(load)" >&2

# 4. HUBS (1000) long polls on the one app instance, and one change reaching them all.
if [ "${HUBS:-1000}" -gt 0 ]; then
	kill "$watch_pid" && wait "$watch_pid" || true
	watch_pid=""
	head=$(psql -X -Atq -c 'SELECT max(revision) FROM nodes')
	echo "load before: $(load)" >&2
	command node "$here/bench/sync-longpoll.js" "$CP_URL" "$HUB_DIR/hub.token" "$CP_TOKEN_FILE" "${HUBS:-1000}" \
		"$head" "$(cat "$CP_DIR/app.pid")"
	echo "load after: $(load)" >&2
fi

# 5. The same on kernel WireGuard, in the qemu VM.
if [ "${KERNEL:-1}" = 1 ]; then
	echo "kernel WireGuard (qemu, TCG): load before: $(load)" >&2
	RUNS="${KERNEL_RUNS:-3}" CHANGES="${KERNEL_CHANGES:-10}" "$here/tests/kernel/sync" --bench "$N" "$WGN" \
		>"$BATS_TEST_TMPDIR/kernel.log" 2>&1 ||
		{ tail -n 40 "$BATS_TEST_TMPDIR/kernel.log" >&2; fail "the kernel side failed"; }
	grep -E '^KTEST BENCH |^ktest: PASS' "$BATS_TEST_TMPDIR/kernel.log" | sed 's/^KTEST BENCH /kernel: /'
	echo "load after: $(load)" >&2
fi
