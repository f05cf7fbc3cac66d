# Hubs for the several-hub tests and benchmarks (tests/bats/failover.bats,
# bench/failover.sh): hub N is a wireguard-go in its own namespace, between the node
# and the host behind the hubs (see failover.bats). The caller has made the node's
# and the backend's namespaces and sets NODE_NS (ending in -n: the hubs' namespaces are
# its prefix + -hN), BACK_NS, NODE_IF, KEYS (a private directory), NODE_PUB and
# BATS_TEST_TMPDIR (logs, pids); and defines fail and wait_for.

: "${UAPI_DIR:=/var/run/wireguard}"
HUBS=0

# hub_add N: hub N in namespace ${id}-hN: underlay 198.18.N.1 <-> node 198.18.N.2,
# tunnel 10.0.0.N, backend link 172.16.N.1 <-> 172.16.N.2 (back), back routing
# 10.0.0.0/24 through it with metric 10 N. Sets HUBN_PUB.
hub_add() {
	local n="$1" ns="${NODE_NS%-n}-h$1" ifn="${NODE_IF}h$1"
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
	ip -n "$ns" link add vu type veth peer name "vu$n" netns "$NODE_NS"
	ip -n "$ns" address add "198.18.$n.1/24" dev vu
	ip -n "$NODE_NS" address add "198.18.$n.2/24" dev "vu$n"
	ip -n "$ns" link set vu up
	ip -n "$NODE_NS" link set "vu$n" up
	ip -n "$ns" link add vb type veth peer name "vb$n" netns "$BACK_NS"
	ip -n "$ns" address add "172.16.$n.1/24" dev vb
	ip -n "$BACK_NS" address add "172.16.$n.2/24" dev "vb$n"
	ip -n "$ns" link set vb up
	ip -n "$BACK_NS" link set "vb$n" up
	ip -n "$ns" route add 10.9.0.0/16 via "172.16.$n.2"
	ip -n "$BACK_NS" route add 10.0.0.0/24 via "172.16.$n.1" metric "$((10 * n))"
	(umask 077 && wg genkey >"$KEYS/hub$n.key")
	eval "HUB${n}_PUB=\$(wg pubkey <\"\$KEYS/hub$n.key\")"
	hub_start "$n"
	HUBS=$((HUBS > n ? HUBS : n))
}

# hub_start N: (re)starts hub N's wireguard-go and configures it.
hub_start() {
	local n="$1" ns="${NODE_NS%-n}-h$1" ifn="${NODE_IF}h$1"
	rm -f "$UAPI_DIR/$ifn.sock" # a daemon killed with -9 leaves it; the wait would see it
	ip netns exec "$ns" env WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 \
		WG_PROCESS_FOREGROUND=1 wireguard-go "$ifn" >>"$BATS_TEST_TMPDIR/hub$n.log" 2>&1 &
	echo $! >"$BATS_TEST_TMPDIR/hub$n.pid"
	wait_for 5 test -S "$UAPI_DIR/$ifn.sock" || fail "hub $n did not start"
	ip netns exec "$ns" wg set "$ifn" private-key "$KEYS/hub$n.key" listen-port 51820 \
		peer "$NODE_PUB" allowed-ips 10.0.0.10/32
	ip -n "$ns" address add "10.0.0.$n/24" dev "$ifn"
	ip -n "$ns" link set "$ifn" mtu 1420 up
}

# hub_links N up|down: both links of hub N (a power cut, or its return).
hub_links() {
	local ns="${NODE_NS%-n}-h$1"
	ip -n "$ns" link set vu "$2"
	ip -n "$ns" link set vb "$2"
	# A link set down loses its routes: put the one to the backend back.
	[ "$2" = down ] || ip -n "$ns" route replace 10.9.0.0/16 via "172.16.$1.2"
}
