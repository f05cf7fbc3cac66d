# A hub and a node in two network namespaces joined by a veth pair, for end-to-end
# tests as root. Load it after test_helper:
#
#	load test_helper
#	load netns_helper
#	setup() { netns_setup; }
#	teardown() { netns_teardown; }
#
# Every name is unique to the test run (tests of other files may run at the same time on
# the same machine), and teardown removes all of it: daemons, namespaces, sockets.
#
#   underlay  veth 192.0.2.1/24 (hub, $HUB_NS) <-> 192.0.2.2/24 (node, $NODE_NS)
#   tunnel    10.0.0.1/24, fd00::1/64 (hub, $HUB_IF) <-> 10.0.0.10, fd00::10 (node)
#
# The hub is wireguard-go configured with wg(8) and ip(8): it is the test's, not wgn's.
# The node runs wgn inside $NODE_NS (node_wgn), with WGN_RUN_DIR, WGN_STATE_DIR and
# WGN_CONFIG_DIR under $BATS_TEST_TMPDIR.
#
# Variables set by netns_setup: HUB_NS NODE_NS HUB_IF NODE_IF HUB_PUB NODE_PUB
# NODE_KEY_FILE NODE_PRIV (base64; for tests that must prove it never leaks)
# HUB_ENDPOINT NODE_CONF_DIR NODE_CONF WGN_RUN_DIR WGN_STATE_DIR HUB_PID.

: "${UAPI_DIR:=/var/run/wireguard}"

# netns_setup [kernel]: with "kernel", the hub is kernel WireGuard instead of
# wireguard-go (for the qemu suite).
netns_setup() {
	requires_root
	requires_cmd ip wg
	local hub_kind="${1:-userspace}"
	[ "$hub_kind" = kernel ] || requires_cmd wireguard-go

	# Interface names are at most 15 characters, and UAPI sockets live in one
	# directory for every namespace: both must be unique to this run.
	local id
	id="$(printf '%04x%02x' $(($$ % 65536)) $((RANDOM % 256)))"
	NETNS_ID="$id"
	HUB_NS="wgn-${id}-hub"
	NODE_NS="wgn-${id}-node"
	HUB_IF="wgh${id}"
	NODE_IF="wgn${id}"
	HUB_ENDPOINT="192.0.2.1:51820"
	export NETNS_ID HUB_NS NODE_NS HUB_IF NODE_IF HUB_ENDPOINT
	# Recorded first, so that teardown cleans up even after a setup that failed.
	echo "$HUB_NS $NODE_NS $HUB_IF $NODE_IF" >"$BATS_TEST_TMPDIR/netns.names"

	ip netns add "$HUB_NS"
	ip netns add "$NODE_NS"
	ip -n "$HUB_NS" link set lo up
	ip -n "$NODE_NS" link set lo up
	ip -n "$HUB_NS" link add vh type veth peer name vn netns "$NODE_NS"
	ip -n "$HUB_NS" address add 192.0.2.1/24 dev vh
	ip -n "$NODE_NS" address add 192.0.2.2/24 dev vn
	ip -n "$HUB_NS" link set vh up
	ip -n "$NODE_NS" link set vn up

	local keys="$BATS_TEST_TMPDIR/keys"
	mkdir -p "$keys"
	chmod 700 "$keys"
	(umask 077 && wg genkey >"$keys/hub.key" && wg genkey >"$keys/node.key")
	HUB_PUB="$(wg pubkey <"$keys/hub.key")"
	NODE_PUB="$(wg pubkey <"$keys/node.key")"
	NODE_PRIV="$(cat "$keys/node.key")"
	NODE_KEY_FILE="$keys/node.key"
	# NODE_PRIV stays unexported: a test that looks for it in children's
	# environments must not find it put there by the test itself.
	export HUB_PUB NODE_PUB NODE_KEY_FILE

	if [ "$hub_kind" = kernel ]; then
		ip -n "$HUB_NS" link add "$HUB_IF" type wireguard
		HUB_PID=""
	else
		hub_start_userspace
	fi
	ip netns exec "$HUB_NS" wg set "$HUB_IF" private-key "$keys/hub.key" listen-port 51820 \
		peer "$NODE_PUB" allowed-ips 10.0.0.10/32,fd00::10/128
	ip -n "$HUB_NS" address add 10.0.0.1/24 dev "$HUB_IF"
	ip -n "$HUB_NS" address add fd00::1/64 nodad dev "$HUB_IF"
	ip -n "$HUB_NS" link set "$HUB_IF" mtu 1420 up

	NODE_CONF_DIR="$BATS_TEST_TMPDIR/etc"
	WGN_RUN_DIR="$BATS_TEST_TMPDIR/run"
	WGN_STATE_DIR="$BATS_TEST_TMPDIR/state"
	mkdir -p "$NODE_CONF_DIR"
	NODE_CONF="$NODE_CONF_DIR/$NODE_IF.toml"
	export NODE_CONF_DIR NODE_CONF WGN_RUN_DIR WGN_STATE_DIR
	node_write_config
}

# wireguard-go for the hub, in the hub namespace, in the foreground (so its pid is the
# daemon's), waiting for its socket without a fixed sleep. A daemon killed with -9
# leaves its socket behind: removed first, or the wait would see the dead one.
hub_start_userspace() {
	rm -f "$UAPI_DIR/$HUB_IF.sock"
	ip netns exec "$HUB_NS" env WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 \
		WG_PROCESS_FOREGROUND=1 wireguard-go "$HUB_IF" \
		>"$BATS_TEST_TMPDIR/hub.log" 2>&1 &
	HUB_PID=$!
	export HUB_PID
	echo "$HUB_PID" >"$BATS_TEST_TMPDIR/hub.pid"
	wait_for 5 test -S "$UAPI_DIR/$HUB_IF.sock" ||
		fail "the hub's wireguard-go did not start: $(cat "$BATS_TEST_TMPDIR/hub.log")"
}

# wait_for SECONDS CMD...: runs CMD until it succeeds, at most SECONDS.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.02
	done
}

# node_write_config [TOML lines...]: the node's config, $NODE_CONF, with quick retries;
# extra lines are appended (a later table may follow them). NODE_CONFIG_* variables
# override single values.
node_write_config() {
	local address='["10.0.0.10/24"]'
	[ -z "${NODE_CONFIG_ADDRESS:-}" ] || address="$NODE_CONFIG_ADDRESS"
	cat >"$NODE_CONF" <<TOML
[interface]
private_key_file = "$NODE_KEY_FILE"
address = $address
backend = "${NODE_CONFIG_BACKEND:-userspace}"

[hub]
public_key = "$HUB_PUB"
endpoint = "${NODE_CONFIG_ENDPOINT:-$HUB_ENDPOINT}"
allowed_ips = ["10.0.0.0/24", "fd00::/64"]
tunnel_address = "10.0.0.1"

[connect]
max_retries = ${NODE_CONFIG_RETRIES:-3}
initial_backoff = ${NODE_CONFIG_BACKOFF:-0.2}
max_backoff = 2.0
attempt_timeout = ${NODE_CONFIG_ATTEMPT_TIMEOUT:-2.0}
timeout = ${NODE_CONFIG_TIMEOUT:-30}
TOML
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@" >>"$NODE_CONF"
	fi
}

# node_wgn ARGS...: wgn in the node namespace with the test's directories.
node_wgn() {
	ip netns exec "$NODE_NS" env WGN_RUN_DIR="$WGN_RUN_DIR" WGN_STATE_DIR="$WGN_STATE_DIR" \
		WGN_CONFIG_DIR="$NODE_CONF_DIR" "$WGN" "$@"
}

# node_wgn_exec ARGS...: the same, replacing the calling (sub)shell, so that after
# `node_wgn_exec up X &` the pid in $! is wgn's own and a signal sent there reaches it.
node_wgn_exec() {
	exec ip netns exec "$NODE_NS" env WGN_RUN_DIR="$WGN_RUN_DIR" \
		WGN_STATE_DIR="$WGN_STATE_DIR" WGN_CONFIG_DIR="$NODE_CONF_DIR" "$WGN" "$@"
}

# node ARGS...: any command in the node namespace.
node() {
	ip netns exec "$NODE_NS" "$@"
}

node_ifindex() {
	ip -n "$NODE_NS" -o link show dev "$NODE_IF" | cut -d: -f1
}

# Succeeds when nothing of the node's tunnel is left: no link, no process in the
# namespace (the daemon), no UAPI socket, no run state.
assert_node_clean() {
	run ip -n "$NODE_NS" link show dev "$NODE_IF"
	[ "$status" -ne 0 ] || fail "$NODE_IF is still there: $output"
	local pids
	pids="$(ip netns pids "$NODE_NS")"
	[ -z "$pids" ] || fail "processes left in $NODE_NS: $(ps -o pid=,args= -p ${pids//$'\n'/,})"
	[ ! -e "$UAPI_DIR/$NODE_IF.sock" ] || fail "$UAPI_DIR/$NODE_IF.sock is left"
	[ ! -e "$WGN_RUN_DIR/$NODE_IF.json" ] || fail "run state left: $(cat "$WGN_RUN_DIR/$NODE_IF.json")"
}

# Kills every process in namespace NS, by pid (these are the test's own daemons).
netns_kill_all() {
	local ns="$1" pid
	for pid in $(ip netns pids "$ns" 2>/dev/null); do
		kill -TERM "$pid" 2>/dev/null || true
	done
	local i
	for i in $(seq 50); do
		[ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && return 0
		sleep 0.02
	done
	for pid in $(ip netns pids "$ns" 2>/dev/null); do
		kill -KILL "$pid" 2>/dev/null || true
	done
}

netns_teardown() {
	[ -f "$BATS_TEST_TMPDIR/netns.names" ] || return 0
	local hub_ns node_ns hub_if node_if
	read -r hub_ns node_ns hub_if node_if <"$BATS_TEST_TMPDIR/netns.names"
	netns_kill_all "$node_ns"
	netns_kill_all "$hub_ns"
	if [ -f "$BATS_TEST_TMPDIR/hub.pid" ]; then
		wait "$(cat "$BATS_TEST_TMPDIR/hub.pid")" 2>/dev/null || true
	fi
	ip netns del "$node_ns" 2>/dev/null || true
	ip netns del "$hub_ns" 2>/dev/null || true
	rm -f "$UAPI_DIR/$hub_if.sock" "$UAPI_DIR/$node_if.sock"
	rm -f "$BATS_TEST_TMPDIR/netns.names"
}
