# shellcheck shell=bash
# Inside the VM: the result protocol and the hub, shared by /ktest/suite.sh (the kernel
# suite) and /ktest/units.sh (the systemd units). Sourced by bash.
#
# Every check prints "KTEST ok N - ..." or "KTEST not ok N - ...", and the suite ends
# with "KTEST RESULT: P passed, F failed" (from the EXIT trap, with a failed check first
# when the suite did not set completed=1).

passed=0
failed=0
n=0
completed=0
ok() { n=$((n + 1)); passed=$((passed + 1)); echo "KTEST ok $n - $*"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "KTEST not ok $n - $*"; }
# check MESSAGE CMD...: one check, passed when CMD succeeds.
check() {
	local msg="$1"
	shift
	if "$@"; then ok "$msg"; else notok "$msg"; fi
}
finish() {
	if [ "$completed" != 1 ]; then
		notok "the suite stopped before its end (last command status $1)"
	fi
	echo "KTEST RESULT: $passed passed, $failed failed"
}
trap 'finish $?' EXIT
stamp() { local t; read -r t _ </proc/uptime; echo "KTEST STAGE ${t}s: $*"; }

# Benchmarks (sync-bench.sh, updown-bench.sh): "KTEST BENCH ..." lines, which the host
# script repeats. stats LABEL US...: the median, min and max in ms of times in
# microseconds, as one line; sets med (the median in ms: the middle one, or the mean of
# the two middle ones).
bench() { echo "KTEST BENCH $*"; }
stats() {
	local label="$1" sorted
	shift
	sorted="$(printf '%s\n' "$@" | sort -n)"
	med="$(echo "$sorted" | awk '{ a[NR] = $1 } END { if (NR % 2) m = a[(NR + 1) / 2]; else m = (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f", m / 1000 }')"
	bench "$(printf '%-44s median %8s ms  min %8.1f ms  max %8.1f ms  (%d runs)' "$label" "$med" \
		"$(echo "$sorted" | head -n1 | awk '{ print $1 / 1000 }')" \
		"$(echo "$sorted" | tail -n1 | awk '{ print $1 / 1000 }')" "$#")"
}

# run CMD...: run, keep status/stdout/stderr in rc/out/err, and echo them for the log.
run() {
	local l t
	read -r t _ </proc/uptime
	echo "# [$t] \$ $*"
	"$@" >/tmp/ktest.out 2>/tmp/ktest.err
	rc=$?
	out="$(</tmp/ktest.out)"
	err="$(</tmp/ktest.err)"
	[ -n "$out" ] && while IFS= read -r l; do echo "#   out: $l"; done <<<"$out"
	[ -n "$err" ] && while IFS= read -r l; do echo "#   err: $l"; done <<<"$err"
	echo "#   status $rc"
	return 0
}
# nsip NS ARGS...: ip in namespace NS ("" = this one). in_ns NS CMD...: the same for CMD.
nsip() { if [ -n "$1" ]; then ip -n "$@"; else shift; ip "$@"; fi; }
in_ns() { if [ -n "$1" ]; then ip netns exec "$@"; else shift; "$@"; fi; }
in_hub() { ip netns exec hub "$@"; }
# ping_until NS ADDR [TRIES]: one echo at a time until one is answered.
ping_until() {
	local ns="$1" addr="$2" tries="${3:-5}" i
	for i in $(seq "$tries"); do
		in_ns "$ns" ping -c 1 -W 3 "$addr" >/dev/null 2>&1 && return 0
	done
	return 1
}
link_kind() { nsip "$1" -d -j link show "$2" 2>/dev/null | grep -o '"info_kind":"[a-z]*"' | cut -d'"' -f4; }
link_absent() { ! nsip "$1" link show "$2" >/dev/null 2>&1; }
has_text() { printf '%s\n' "$1" | grep -qF -- "$2"; }
# running NAME: a process whose comm is NAME exists.
running() { grep -qx -- "$1" /proc/[0-9]*/comm 2>/dev/null; }

# hub_setup NODE_NS: keys (/etc/ktest/hub.key, the node's /etc/wgn/wg0.key; HUB_PUB,
# NODE_PUB), a namespace "hub" joined to NODE_NS ("" = this namespace; else it is
# made) by a veth pair (hub 192.168.77.1, node 192.168.77.2), and the hub: kernel
# WireGuard wg-hub made with ip and wg (10.0.0.1/24, fd00::1/64, 10.1.0.1/16, port
# 51820, the node's peer with 10.0.0.10 and fd00::10). A reference node made with ip
# and wg pings it first, so that a failure of wgn is told apart from a VM that cannot
# carry WireGuard at all; then the hub is left as new. Checks as it goes.
hub_setup() {
	local node="$1"
	umask 077
	mkdir -p /etc/wgn /etc/ktest
	wg genkey >/etc/ktest/hub.key
	HUB_PUB="$(wg pubkey </etc/ktest/hub.key)"
	wg genkey >/etc/wgn/wg0.key
	NODE_PUB="$(wg pubkey </etc/wgn/wg0.key)"
	umask 022

	setup_ok=1
	step ip netns add hub
	step ip -n hub link set lo up
	if [ -n "$node" ]; then
		step ip netns add "$node"
		step ip -n "$node" link set lo up
		step ip -n hub link add veth-hub type veth peer name veth-node netns "$node"
	else
		step ip link add veth-node type veth peer name veth-hub netns hub
	fi
	step ip -n hub addr add 192.168.77.1/24 dev veth-hub
	step nsip "$node" addr add 192.168.77.2/24 dev veth-node
	step ip -n hub link set veth-hub up
	step nsip "$node" link set veth-node up
	check "namespaces hub and ${node:-root} joined by veth" [ "$setup_ok" = 1 ]
	check "veth: node reaches the hub's underlay address" ping_until "$node" 192.168.77.1 3

	setup_ok=1
	step ip -n hub link add wg-hub type wireguard
	step in_hub wg set wg-hub private-key /etc/ktest/hub.key listen-port 51820
	step hub_peer
	step ip -n hub addr add 10.0.0.1/24 dev wg-hub
	step ip -n hub addr add fd00::1/64 dev wg-hub
	step ip -n hub addr add 10.1.0.1/16 dev wg-hub
	step ip -n hub link set wg-hub up
	check "hub: kernel WireGuard link configured with ip and wg" [ "$setup_ok" = 1 ]
	check "hub: link kind is wireguard" [ "$(link_kind hub wg-hub)" = wireguard ]
	run in_hub wg show wg-hub
	check "hub: wg show (generic netlink) lists port 51820 and the node's peer" \
		eval 'has_text "$out" "listening port: 51820" && has_text "$out" "peer: $NODE_PUB"'

	setup_ok=1
	step nsip "$node" link add wgref type wireguard
	step in_ns "$node" wg set wgref private-key /etc/wgn/wg0.key peer "$HUB_PUB" \
		endpoint 192.168.77.1:51820 allowed-ips 10.0.0.0/24
	step nsip "$node" addr add 10.0.0.10/24 dev wgref
	step nsip "$node" link set wgref up
	check "reference node (ip + wg) configured" [ "$setup_ok" = 1 ]
	stamp "reference ping"
	check "reference node pings the hub's tunnel address through kernel WireGuard" \
		ping_until "$node" 10.0.0.1 5
	run in_hub wg show wg-hub latest-handshakes
	check "hub: handshake with the reference node" eval '[ "$(echo "$out" | cut -f2)" -gt 0 ] 2>/dev/null'
	# Leave the hub as new: no node link, no handshake state for the node's peer.
	step nsip "$node" link del wgref
	step in_hub wg set wg-hub peer "$NODE_PUB" remove
	step hub_peer
	stamp "reference done"
}
step() { run "$@"; [ "$rc" = 0 ] || setup_ok=0; }
hub_peer() {
	in_hub wg set wg-hub peer "$NODE_PUB" allowed-ips 10.0.0.10/32,fd00::10/128
}

# write_config NAME ENDPOINT [ADDRESS]: /etc/wgn/NAME.toml for the hub of hub_setup,
# backend kernel, port 51821, with ADDRESS added to the interface's addresses.
write_config() { # NAME ENDPOINT [extra address]
	cat >"/etc/wgn/$1.toml" <<EOF
[interface]
private_key_file = "/etc/wgn/wg0.key"
address = ["10.0.0.10/24", "fd00::10/64"${3:+, \"$3\"}]
listen_port = 51821
backend = "kernel"

[hub]
public_key = "$HUB_PUB"
endpoint = "$2"
allowed_ips = ["10.0.0.0/24", "fd00::/64", "10.1.0.0/16"]
persistent_keepalive = 25
tunnel_address = "10.0.0.1"

[connect]
max_retries = 2
initial_backoff = 0.5
max_backoff = 2.0
attempt_timeout = 5.0
timeout = 90.0
EOF
}
