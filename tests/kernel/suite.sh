#!/bin/bash
# The kernel end-to-end suite; runs as /ktest/suite.sh inside the VM (see tests/kernel/run).
# Two network namespaces, hub and node, joined by a veth pair. The hub is kernel
# WireGuard set up with ip(8) and wg(8) (scaffolding); the node is whatever `wgn up`
# makes with backend = "kernel". Every check prints "KTEST ok N - ..." or
# "KTEST not ok N - ...", and the suite ends with "KTEST RESULT: P passed, F failed".
set -u
. /etc/ktest-config

. /ktest/guest-lib.sh

in_node() { ip netns exec node "$@"; }
node_ifindex() { in_node cat "/sys/class/net/$1/ifindex" 2>/dev/null; }
# wgn ARGS...: the binary under test in the node namespace, bounded in time.
wgn() { run ip netns exec node timeout 120 /usr/local/sbin/wgn --config-dir /etc/wgn "$@"; }

no_userspace() {
	[ ! -s /tmp/wireguard-go.calls ] && [ ! -e /run/wireguard/wg0.sock ] &&
		! running wireguard-go
}

stamp "suite starts"
check "kernel: the wireguard module is loaded" test -d /sys/module/wireguard

# A tripwire: if wgn ever falls back to the userspace implementation, it runs this.
cat >/usr/local/sbin/wireguard-go <<'EOF'
#!/bin/sh
echo "wireguard-go $*" >>/tmp/wireguard-go.calls
exit 1
EOF
chmod 0755 /usr/local/sbin/wireguard-go
export WG_QUICK_USERSPACE_IMPLEMENTATION=/usr/local/sbin/wireguard-go
# The detectors below must be able to see what they look for.
selftest() {
	wireguard-go selftest >/dev/null 2>&1
	[ -s /tmp/wireguard-go.calls ] && running bash && ! no_userspace &&
		rm -f /tmp/wireguard-go.calls && no_userspace
}
check "self-test: the wireguard-go tripwire and process detection work" selftest

stamp "keys"
hub_setup node

if [ "$KTEST_SMOKE" = 1 ]; then
	completed=1
	exit 0
fi

# ---------------------------------------------------------------- wgn, kernel backend
write_config wg0 192.168.77.1:51820
check "the wgn binary under test runs in the VM" /usr/local/sbin/wgn --version

stamp "wgn up"
wgn up wg0 --no-register
check "wgn up wg0: exit 0 (got $rc)" [ "$rc" = 0 ]
check "node: wg0 link kind is wireguard (kernel) [got: $(link_kind node wg0 || true)]" \
	[ "$(link_kind node wg0)" = wireguard ]
check "no userspace WireGuard: wireguard-go never ran, no UAPI socket" no_userspace
check "node: wg0 is up" eval 'ip -n node link show wg0 | grep -q "[<,]UP[,>]"'
run in_node wg show wg0
check "node: wg show wg0 has the hub peer, its endpoint and port 51821" \
	eval 'has_text "$out" "peer: $HUB_PUB" && has_text "$out" "endpoint: 192.168.77.1:51820" && has_text "$out" "listening port: 51821"'
check "node: allowed ips 10.0.0.0/24, fd00::/64 and 10.1.0.0/16" \
	eval 'has_text "$out" "10.0.0.0/24" && has_text "$out" "fd00::/64" && has_text "$out" "10.1.0.0/16"'
check "node: persistent keepalive 25 s" eval 'has_text "$out" "persistent keepalive: every 25 seconds"'
run ip -n node addr show dev wg0
check "node: addresses 10.0.0.10/24 and fd00::10/64 on wg0" \
	eval 'has_text "$out" "inet 10.0.0.10/24" && has_text "$out" "inet6 fd00::10/64"'
check "node: MTU 1420 (veth 1500 - 80, as wg-quick computes)" \
	eval 'ip -n node link show wg0 | grep -q "mtu 1420 "'
run ip -n node route show dev wg0
check "node: route 10.1.0.0/16 dev wg0 (allowed ip not on-link)" eval 'has_text "$out" "10.1.0.0/16"'
run in_hub wg show wg-hub latest-handshakes
check "hub: handshake with the node completed during up" eval '[ "$(echo "$out" | cut -f2)" -gt 0 ] 2>/dev/null'
check "node pings the hub's tunnel address 10.0.0.1" ping_until node 10.0.0.1 2
check "node pings 10.1.0.1 through the route on wg0" ping_until node 10.1.0.1 2
check "node pings the hub's IPv6 tunnel address fd00::1" ping_until node fd00::1 3
check "run state /run/wgn/wg0.json written" eval 'in_node test -s /run/wgn/wg0.json'
run in_node cat /run/wgn/wg0.json
check "run state says the backend is kernel" eval 'printf "%s" "$out" | grep -q "\"backend\": *\"kernel\""'
idx="$(node_ifindex wg0)"

stamp "wgn up again"
wgn up wg0 --no-register
check "wgn up wg0 again: exit 0 (got $rc)" [ "$rc" = 0 ]
check "up again: the link was not recreated (ifindex $idx)" eval '[ -n "$idx" ] && [ "$(node_ifindex wg0)" = "$idx" ]'
check "up again: still no userspace WireGuard" no_userspace

stamp "wgn up (reconcile)"
write_config wg0 192.168.77.1:51820 fd00::11/64
wgn up wg0 --no-register
check "wgn up wg0 with an added address (reconcile): exit 0 (got $rc)" [ "$rc" = 0 ]
check "reconcile: the link was not recreated (ifindex $idx)" eval '[ -n "$idx" ] && [ "$(node_ifindex wg0)" = "$idx" ]'
check "reconcile: fd00::11/64 added" eval 'ip -n node addr show dev wg0 | grep -q "inet6 fd00::11/64"'
check "reconcile: the tunnel still carries traffic" ping_until node 10.0.0.1 2

stamp "wgn health"
wgn health wg0
check "wgn health wg0: exit 0 healthy (got $rc)" [ "$rc" = 0 ]
wgn health wg0 --format json
check "wgn health --format json: status healthy, connected, can_ping_hub" \
	eval 'has_text "$out" "\"healthy\"" && printf "%s" "$out" | grep -q "\"can_ping_hub\": *true" && printf "%s" "$out" | grep -q "\"connected\": *true"'

stamp "wgn down"
wgn down wg0
check "wgn down wg0: exit 0 (got $rc)" [ "$rc" = 0 ]
check "down: wg0 is gone" link_absent node wg0
check "down: run state removed" eval '! in_node test -e /run/wgn/wg0.json'
check "down: no route to 10.1.0.0/16 left" eval '! ip -n node route show | grep -q "10.1.0.0/16"'
wgn down wg0
check "wgn down wg0 again: exit 0 (got $rc)" [ "$rc" = 0 ]
check "down again: a notice on stderr" [ -n "$err" ]
check "health after down: exit 2 (disconnected)" eval 'wgn health wg0; [ "$rc" = 2 ]'

stamp "wgn up, endpoint by name"
# The endpoint as a host name, resolved from /etc/hosts (no DNS in the VM).
echo "192.168.77.1 hub.ktest" >>/etc/hosts
echo "hosts: files" >/etc/nsswitch.conf
write_config wg2 hub.ktest:51820
wgn up wg2 --no-register
check "wgn up wg2 (endpoint hub.ktest:51820 from /etc/hosts): exit 0 (got $rc)" [ "$rc" = 0 ]
check "wg2: kernel link whose endpoint is the resolved address" \
	eval '[ "$(link_kind node wg2)" = wireguard ] && in_node wg show wg2 endpoints | grep -q "192.168.77.1:51820"'
check "wg2: node pings the hub through it" ping_until node 10.0.0.1 2
wgn down wg2
check "wgn down wg2: exit 0 (got $rc), link gone" eval '[ "$rc" = 0 ] && link_absent node wg2'

stamp "wgn up, unreachable hub"
# Nobody listens on port 51999: handshakes go unanswered.
write_config wg1 192.168.77.1:51999
sed -i 's/^listen_port = .*/listen_port = 51822/; s/^max_retries = .*/max_retries = 1/; s/^attempt_timeout = .*/attempt_timeout = 2.0/' /etc/wgn/wg1.toml
wgn up wg1 --no-register
check "wgn up wg1 (unreachable hub): exit 69 (got $rc)" [ "$rc" = 69 ]
check "unreachable: wg1 is gone" link_absent node wg1
check "unreachable: no run state left" eval '! in_node test -e /run/wgn/wg1.json'
check "unreachable: no address or route left" \
	eval '! ip -n node addr show | grep -q "10.0.0.10" && ! ip -n node route show | grep -q "10.1.0.0/16"'
stamp "SIGTERM during retries"
sed -i 's/^max_retries = .*/max_retries = 10/' /etc/wgn/wg1.toml
# ip netns exec execs wgn, so $! is wgn itself.
ip netns exec node /usr/local/sbin/wgn --config-dir /etc/wgn up wg1 --no-register \
	>/tmp/term.out 2>/tmp/term.err &
pid=$!
for i in $(seq 100); do
	grep -q "attempt 1/" /tmp/term.err 2>/dev/null && break
	sleep 0.1
done
check "SIGTERM: wgn was retrying with wg1 in place" eval 'grep -q "attempt 1/" /tmp/term.err && ip -n node link show wg1 >/dev/null 2>&1'
kill -TERM "$pid"
wait "$pid"
rc=$?
sed 's/^/#   err: /' /tmp/term.err
check "SIGTERM during retries: wgn exits non-zero (got $rc)" [ "$rc" != 0 ]
check "SIGTERM: wg1, its addresses, routes and run state are gone" \
	eval 'link_absent node wg1 && ! in_node test -e /run/wgn/wg1.json && ! ip -n node route show | grep -q "10.1.0.0/16"'
stamp "wgn watch: failover between two kernel WireGuard hubs"
# A second hub, hub2 (kernel WireGuard too, 192.168.78.1, tunnel 10.0.0.2), with the
# same network behind it (10.1.0.1/16 on its link, as on hub 1). The node's wgf has both
# as [[hub]]s; wgn watch runs on hub 1 until hub 1's veth goes down, then must move
# allowed_ips to hub 2 in place (same kernel link), and 10.1.0.1 answers through hub 2.
setup_ok=1
umask 077
wg genkey >/etc/ktest/hub2.key
umask 022
HUB2_PUB="$(wg pubkey </etc/ktest/hub2.key)"
step ip netns add hub2
step ip -n hub2 link set lo up
step ip -n hub2 link add veth-hub2 type veth peer name veth-node2 netns node
step ip -n hub2 addr add 192.168.78.1/24 dev veth-hub2
step ip -n node addr add 192.168.78.2/24 dev veth-node2
step ip -n hub2 link set veth-hub2 up
step ip -n node link set veth-node2 up
step ip -n hub2 link add wg-hub2 type wireguard
step ip netns exec hub2 wg set wg-hub2 private-key /etc/ktest/hub2.key listen-port 51820 \
	peer "$NODE_PUB" allowed-ips 10.0.0.10/32
step ip -n hub2 addr add 10.0.0.2/24 dev wg-hub2
step ip -n hub2 addr add 10.1.0.1/16 dev wg-hub2
step ip -n hub2 link set wg-hub2 up
check "hub2: a second kernel WireGuard hub configured with ip and wg" [ "$setup_ok" = 1 ]
cat >/etc/wgn/wgf.toml <<TOML
[interface]
private_key_file = "/etc/wgn/wg0.key"
address = "10.0.0.10/24"
backend = "kernel"

[[hub]]
public_key = "$HUB_PUB"
endpoint = "192.168.77.1:51820"
allowed_ips = ["10.0.0.0/24", "10.1.0.0/16"]
tunnel_address = "10.0.0.1"
priority = 10

[[hub]]
public_key = "$HUB2_PUB"
endpoint = "192.168.78.1:51820"
allowed_ips = ["10.0.0.0/24", "10.1.0.0/16"]
tunnel_address = "10.0.0.2"
priority = 20

[connect]
max_retries = 2
initial_backoff = 0.5
max_backoff = 2.0
attempt_timeout = 5.0
timeout = 90.0

[health]
interval = 1
ping_timeout = 1
failures = 3
failback_after = 600
TOML
# The peer that carries 10.1.0.0/16 on the node's wgf.
carrier() { in_node wg show wgf allowed-ips 2>/dev/null | awk '/10\.1\.0\.0\/16/ {print $1}'; }
hub2_rx() { ip netns exec hub2 wg show wg-hub2 transfer | cut -f2; }
wait_secs() { # SECONDS CMD...: until CMD succeeds, polling every 0.2 s
	local end
	end=$(($(cut -d. -f1 /proc/uptime) + $1))
	shift
	until "$@"; do
		[ "$(cut -d. -f1 /proc/uptime)" -ge "$end" ] && return 1
		sleep 0.2
	done
}
ip netns exec node /usr/local/sbin/wgn --config-dir /etc/wgn watch wgf --no-register \
	>/tmp/watch.out 2>/tmp/watch.err &
watch_pid=$!
wait_secs 60 eval '[ "$(carrier)" = "$HUB_PUB" ] && in_node ping -c 1 -W 1 10.1.0.1 >/dev/null 2>&1'
check "watch: wgf up on hub 1, a kernel link, hub 2 standing by with 10.0.0.2/32" \
	eval '[ "$(carrier)" = "$HUB_PUB" ] && [ "$(link_kind node wgf)" = wireguard ] && in_node wg show wgf allowed-ips | grep -q "$HUB2_PUB	10.0.0.2/32"'
check "watch: hub 2 answers through the tunnel as a standby" ping_until node 10.0.0.2 2
idx="$(node_ifindex wgf)"
rx2="$(hub2_rx)"
read -r t0 _ </proc/uptime
step ip -n hub link set veth-hub down
wait_secs 30 eval '[ "$(carrier)" = "$HUB2_PUB" ]'
read -r t1 _ </proc/uptime
sed 's/^/#   watch: /' /tmp/watch.err
check "watch: hub 1's veth down -> allowed IPs on hub 2 after $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s" \
	eval '[ "$(carrier)" = "$HUB2_PUB" ] && grep -q "failing over from hub\[0\]" /tmp/watch.err'
check "failover: 10.1.0.1 answers through hub 2" ping_until node 10.1.0.1 3
check "failover: hub 2 received the node's traffic" eval '[ "$(hub2_rx)" -gt "$rx2" ]'
check "failover: the same kernel link (ifindex $idx), no userspace WireGuard" \
	eval '[ "$(node_ifindex wgf)" = "$idx" ] && [ "$(link_kind node wgf)" = wireguard ] && no_userspace'
kill -TERM "$watch_pid"
wait "$watch_pid"
rc=$?
check "watch: SIGTERM ends it (status $rc) and leaves wgf up" eval '[ "$rc" = 0 ] && [ "$(node_ifindex wgf)" = "$idx" ]'
wgn down wgf
check "wgn down wgf: exit 0 (got $rc), link gone" eval '[ "$rc" = 0 ] && link_absent node wgf'
step ip -n hub link set veth-hub up

check "no userspace WireGuard at any point" no_userspace
check "no wgn process left" eval '! running wgn'

stamp "suite ends"
completed=1
