#!/usr/bin/env bats
# Several hubs end to end (SPEC "Several hubs", "wgn watch"): two or three hubs
# (wireguard-go, each in its own namespace), a node, and a host behind the hubs.
#
#   node (10.0.0.10) --veth 192.0.2.N/24--> hub N (wireguard-go, 10.0.0.N, forwards)
#   hub N --veth 172.16.N.0/24--> back (10.9.0.100 on lo)
#
# The host behind the hubs routes the node's network back through hub 1, else 2, else 3
# (route metrics; a route whose link lost its carrier is ignored), as a routing protocol
# would. A hub "dies" by losing its links (both veths down: a power cut), by its
# daemon killed and its links down, or (the tests at the end, whose hubs masquerade to
# the backend instead) one way at a time: its daemon killed, its veth to the node
# down, its UDP dropped by nftables, its link blackholed one way.

bats_require_minimum_version 1.5.0
load test_helper
load hubs_helper

setup() {
	requires_root
	requires_cmd ip wg wireguard-go python3
	local id
	id="$(printf '%04x%02x' $(($$ % 65536)) $((RANDOM % 256)))"
	NODE_NS="wgf-${id}-n"
	BACK_NS="wgf-${id}-b"
	NODE_IF="wgf${id}"
	HUBS=0
	echo "$NODE_NS $BACK_NS $NODE_IF" >"$BATS_TEST_TMPDIR/names"
	ip netns add "$NODE_NS"
	ip netns add "$BACK_NS"
	ip -n "$NODE_NS" link set lo up
	ip -n "$BACK_NS" link set lo up
	ip -n "$BACK_NS" address add 10.9.0.100/32 dev lo
	for s in all default; do
		ip netns exec "$BACK_NS" sysctl -qw "net.ipv4.conf.$s.ignore_routes_with_linkdown=1"
	done
	KEYS="$BATS_TEST_TMPDIR/keys"
	mkdir -p "$KEYS"
	chmod 700 "$KEYS"
	(umask 077 && wg genkey >"$KEYS/node.key")
	NODE_PUB="$(wg pubkey <"$KEYS/node.key")"
	CONF_DIR="$BATS_TEST_TMPDIR/etc"
	WGN_RUN_DIR="$BATS_TEST_TMPDIR/run"
	WGN_STATE_DIR="$BATS_TEST_TMPDIR/state"
	mkdir -p "$CONF_DIR"
	NODE_CONF="$CONF_DIR/$NODE_IF.toml"
	WATCH_ERR="$BATS_TEST_TMPDIR/watch.err"
}

teardown() {
	if [ -n "${WATCH_PID:-}" ]; then
		kill -TERM "$WATCH_PID" 2>/dev/null || true
		wait "$WATCH_PID" 2>/dev/null || true
	fi
	if [ -n "${FLAP_PID:-}" ]; then
		kill -TERM "$FLAP_PID" 2>/dev/null || true
		wait "$FLAP_PID" 2>/dev/null || true
	fi
	if [ -n "${CLIENT_PID:-}" ]; then
		kill -TERM "$CLIENT_PID" 2>/dev/null || true
		wait "$CLIENT_PID" 2>/dev/null || true
	fi
	[ -f "$BATS_TEST_TMPDIR/names" ] || return 0
	local ns
	for ns in $(ip netns list | awk '{print $1}' | grep "^${NODE_NS%-n}-"); do
		local pid
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null || true
		done
	done
	for ns in $(ip netns list | awk '{print $1}' | grep "^${NODE_NS%-n}-"); do
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -f "$UAPI_DIR/$NODE_IF.sock" "$UAPI_DIR/${NODE_IF}h"*.sock
}

hub_kill() {
	kill -KILL "$(cat "$BATS_TEST_TMPDIR/hub$1.pid")"
	wait "$(cat "$BATS_TEST_TMPDIR/hub$1.pid")" 2>/dev/null || true
	rm -f "$UAPI_DIR/${NODE_IF}h$1.sock"
}

wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

# write_config N [TOML lines...]: N [[hub]] tables, hub 1 preferred.
write_config() {
	local n="$1" i pub
	shift
	cat >"$NODE_CONF" <<TOML
[interface]
private_key_file = "$KEYS/node.key"
address = "10.0.0.10/24"
backend = "userspace"
TOML
	for i in $(seq "$n"); do
		eval "pub=\$HUB${i}_PUB"
		cat >>"$NODE_CONF" <<TOML

[[hub]]
public_key = "$pub"
endpoint = "198.18.$i.1:51820"
allowed_ips = ["10.0.0.0/24", "10.9.0.0/16"]
tunnel_address = "10.0.0.$i"
priority = $((i * 10))
TOML
	done
	cat >>"$NODE_CONF" <<TOML

[connect]
max_retries = 2
initial_backoff = 0.2
max_backoff = 2.0
attempt_timeout = 2.0
timeout = 30

[health]
interval = 2
failures = 3
ping_timeout = 1
failback_after = ${FAILBACK_AFTER:-6}
TOML
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@" >>"$NODE_CONF"
	fi
}

node() {
	ip netns exec "$NODE_NS" "$@"
}

node_wgn() {
	ip netns exec "$NODE_NS" env WGN_RUN_DIR="$WGN_RUN_DIR" WGN_STATE_DIR="$WGN_STATE_DIR" \
		WGN_CONFIG_DIR="$CONF_DIR" "$WGN" "$@"
}

start_watch() {
	(exec ip netns exec "$NODE_NS" env WGN_RUN_DIR="$WGN_RUN_DIR" \
		WGN_STATE_DIR="$WGN_STATE_DIR" WGN_CONFIG_DIR="$CONF_DIR" "$WGN" watch "$NODE_IF") \
		2>"$WATCH_ERR" &
	WATCH_PID=$!
	wait_for 30 node ping -c 1 -W 1 10.9.0.100 || fail "no traffic after watch: $(cat "$WATCH_ERR")"
}

# active_hub: the index (in the config, from 0) of the hub whose peer is active.
active_hub() {
	node_wgn health --format json "$NODE_IF" |
		python3 -c 'import json,sys; h=json.load(sys.stdin)["hubs"]; print([i for i,x in enumerate(h) if x["active"]][0])'
}

is_active() {
	[ "$(active_hub 2>/dev/null)" = "$1" ]
}

# The hub that answers a ping to the backend: the one the backend's reply came back
# through is the one whose peer got rx bytes; simpler: which peer carries 10.9.0.0/16.
peer_of_backend() {
	node wg show "$NODE_IF" allowed-ips | awk '/10\.9\.0\.0\/16/ {print $1}'
}

@test "up activates the preferred hub; standbys carry only their tunnel address" {
	hub_add 1
	hub_add 2
	write_config 2
	run node_wgn up "$NODE_IF"
	assert_success
	[ "$(peer_of_backend)" = "$HUB1_PUB" ]
	run node wg show "$NODE_IF" allowed-ips
	assert_line "$HUB2_PUB	10.0.0.2/32"
	# Every hub answers through the tunnel: the standby too.
	run node ping -c 1 -W 2 10.0.0.2
	assert_success
	run node ping -c 1 -W 2 10.9.0.100
	assert_success
	run node_wgn health --format json "$NODE_IF"
	assert_success
	assert_output --partial '"hub":"198.18.1.1:51820"'
	assert_output --partial '"hubs":[{"endpoint":"198.18.1.1:51820"'
	run node_wgn health --format prometheus "$NODE_IF"
	assert_output --partial "wgn_hub_up{interface=\"$NODE_IF\",hub=\"198.18.2.1:51820\"} 1"
	assert_output --partial "wgn_hub_active{interface=\"$NODE_IF\",hub=\"198.18.1.1:51820\"} 1"
	assert_output --partial "wgn_hub_active{interface=\"$NODE_IF\",hub=\"198.18.2.1:51820\"} 0"
	run python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["active_hub"])' \
		"$WGN_RUN_DIR/$NODE_IF.json"
	assert_output "$HUB1_PUB"
}

@test "up with the preferred hub down activates the next; repair fails back; all down is 2" {
	hub_add 1
	hub_add 2
	write_config 2
	hub_links 1 down
	run node_wgn up "$NODE_IF"
	assert_success
	[ "$(peer_of_backend)" = "$HUB2_PUB" ]
	run node ping -c 1 -W 2 10.9.0.100
	assert_success
	# On hub 2 while hub 1 is down: hub 2 is the best that answers.
	run node_wgn health "$NODE_IF"
	assert_success
	hub_links 1 up
	# Hub 1 answers again: running on hub 2 is degraded.
	wait_for 10 eval 'node_wgn health "$NODE_IF"; [ $? -eq 1 ]' || fail "not degraded"
	run -1 node_wgn health "$NODE_IF"
	assert_output --partial "running on hub[1] 198.18.2.1:51820"
	local ifindex
	ifindex="$(ip -n "$NODE_NS" -o link show dev "$NODE_IF" | cut -d: -f1)"
	run node_wgn health --repair "$NODE_IF"
	assert_success
	assert_output --partial "failed back from hub[1] 198.18.2.1:51820 to hub[0] 198.18.1.1:51820"
	[ "$(peer_of_backend)" = "$HUB1_PUB" ]
	[ "$(ip -n "$NODE_NS" -o link show dev "$NODE_IF" | cut -d: -f1)" = "$ifindex" ]
	# The active hub dies: repair fails over.
	hub_links 1 down
	run -2 node_wgn health "$NODE_IF"
	run node_wgn health --repair "$NODE_IF"
	assert_success
	assert_output --partial "failed over from hub[0]"
	[ "$(peer_of_backend)" = "$HUB2_PUB" ]
	run node ping -c 1 -W 2 10.9.0.100
	assert_success
	# Every hub down: unhealthy, 2, and each hub says so.
	hub_links 2 down
	run -2 node_wgn health --format json "$NODE_IF"
	assert_output --partial '"can_ping":false'
	refute_output --partial '"can_ping":true'
	run -2 node_wgn health --repair "$NODE_IF"
}

@test "watch: the active hub dies, traffic resumes through the standby within 10 s; failback after failback_after" {
	hub_add 1
	hub_add 2
	FAILBACK_AFTER=6 write_config 2
	start_watch
	[ "$(peer_of_backend)" = "$HUB1_PUB" ]
	local ifindex t0 took
	ifindex="$(ip -n "$NODE_NS" -o link show dev "$NODE_IF" | cut -d: -f1)"
	# Hub 1 dies: its daemon killed and its links down.
	hub_kill 1
	hub_links 1 down
	t0=$SECONDS
	wait_for 20 node ping -c 1 -W 1 10.9.0.100 || fail "no failover: $(cat "$WATCH_ERR")"
	took=$((SECONDS - t0))
	[ "$took" -le 10 ] || fail "traffic resumed after ${took}s: $(cat "$WATCH_ERR")"
	[ "$(peer_of_backend)" = "$HUB2_PUB" ]
	grep -q "failing over from hub\[0\] 198.18.1.1:51820 after 3 misses to hub\[1\]" "$WATCH_ERR" ||
		fail "$(cat "$WATCH_ERR")"
	[ "$(ip -n "$NODE_NS" -o link show dev "$NODE_IF" | cut -d: -f1)" = "$ifindex" ]
	# Hub 1 comes back: once it answers (a new handshake takes up to 5 s), not before
	# failback_after (6 s) less the interval (watch may have heard it up to one look
	# earlier than this test), and not much later than failback_after and two looks.
	hub_links 1 up
	hub_start 1
	wait_for 20 node ping -c 1 -W 1 10.0.0.1 || fail "hub 1 does not answer"
	t0=$SECONDS
	is_active 1 || fail "failed back at once: $(cat "$WATCH_ERR")"
	wait_for 30 is_active 0 || fail "no failback: $(cat "$WATCH_ERR")"
	took=$((SECONDS - t0))
	[ "$took" -ge 3 ] || fail "failed back after ${took}s, before failback_after"
	[ "$took" -le 12 ] || fail "failed back only after ${took}s"
	grep -q "failing back to hub\[0\]" "$WATCH_ERR" || fail "$(cat "$WATCH_ERR")"
	run node ping -c 1 -W 2 10.9.0.100
	assert_success
	[ "$(ip -n "$NODE_NS" -o link show dev "$NODE_IF" | cut -d: -f1)" = "$ifindex" ]
	kill -0 "$WATCH_PID"
}

@test "a TCP connection through the tunnel survives a failover" {
	hub_add 1
	hub_add 2
	write_config 2
	start_watch
	# An echo server behind the hubs, and a client on the node that sends a line every
	# 100 ms on one connection and counts the lines that come back.
	ip netns exec "$BACK_NS" python3 -c '
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.9.0.100", 5000)); s.listen(1)
c, _ = s.accept()
while True:
    d = c.recv(4096)
    if not d: break
    c.sendall(d)
' &
	local server=$!
	wait_for 5 eval 'ip netns exec "$BACK_NS" ss -ltn | grep -q 10.9.0.100:5000'
	node python3 -c '
import socket, sys, time
s = socket.create_connection(("10.9.0.100", 5000), timeout=5)
s.settimeout(0.05)
out = open(sys.argv[1], "w", buffering=1)
got = 0; buf = b""
while True:
    try:
        s.sendall(b"x" * 99 + b"\n")
    except OSError as e:
        out.write("ERROR %s\n" % e); break
    try:
        d = s.recv(65536)
        if not d:
            out.write("EOF\n"); break
        got += d.count(b"\n"); out.write("%d\n" % got)
    except socket.timeout:
        pass
    time.sleep(0.1)
' "$BATS_TEST_TMPDIR/client.log" &
	CLIENT_PID=$!
	wait_for 5 eval '[ "$(tail -n1 "$BATS_TEST_TMPDIR/client.log" 2>/dev/null || echo 0)" -ge 10 ]' ||
		fail "the stream does not flow: $(tail -n3 "$BATS_TEST_TMPDIR/client.log")"
	hub_links 1 down
	local before
	before="$(tail -n1 "$BATS_TEST_TMPDIR/client.log")"
	wait_for 20 is_active 1 || fail "no failover: $(cat "$WATCH_ERR")"
	# The same connection carries bytes again (TCP retransmits into the new path).
	wait_for 30 eval '[ "$(tail -n1 "$BATS_TEST_TMPDIR/client.log")" -ge $((before + 20)) ]' ||
		fail "the stream stopped at $(tail -n1 "$BATS_TEST_TMPDIR/client.log") (was $before)"
	run grep -c -e ERROR -e EOF "$BATS_TEST_TMPDIR/client.log"
	assert_output 0
	kill "$CLIENT_PID" "$server" 2>/dev/null || true
	wait "$server" 2>/dev/null || true
}

@test "three hubs: watch goes to the next best as hubs die, and says 2 when all are down" {
	hub_add 1
	hub_add 2
	hub_add 3
	FAILBACK_AFTER=600 write_config 3
	start_watch
	hub_links 1 down
	wait_for 15 is_active 1 || fail "not on hub 2: $(cat "$WATCH_ERR")"
	wait_for 5 node ping -c 1 -W 1 10.9.0.100
	hub_links 2 down
	wait_for 15 is_active 2 || fail "not on hub 3: $(cat "$WATCH_ERR")"
	wait_for 5 node ping -c 1 -W 1 10.9.0.100 || fail "no traffic through hub 3"
	[ "$(peer_of_backend)" = "$HUB3_PUB" ]
	hub_links 3 down
	run -2 node_wgn health "$NODE_IF"
	# Watch keeps going.
	sleep 3
	kill -0 "$WATCH_PID"
	grep -q "no hub answers\|unhealthy" "$WATCH_ERR" || fail "$(cat "$WATCH_ERR")"
	# Hub 2 comes back: watch fails over to it (the best that answers).
	hub_links 2 up
	wait_for 15 is_active 1 || fail "not back on hub 2: $(cat "$WATCH_ERR")"
	wait_for 5 node ping -c 1 -W 1 10.9.0.100
}

# The ways a hub dies, each on its own (the test above kills the daemon and takes the
# links down together). Each hub masquerades what it forwards to the backend, so the
# backend's replies go back through whichever hub carried the request: traffic resumes
# only when the node itself has moved to the standby, and the test touches the
# backend's routes not at all.
hubs_masquerade() {
	local n
	for n in $(seq "$HUBS"); do
		ip netns exec "${NODE_NS%-n}-h$n" nft -f - <<NFT || fail "nft in hub $n"
table ip wgn_nat {
	chain post { type nat hook postrouting priority srcnat; oifname "vb" masquerade; }
}
NFT
	done
}

# fails_over FAULT...: two hubs, watch on hub 1; FAULT (a command) kills hub 1 its
# way; the host behind the hubs answers again within 10 s, through hub 2, on the same
# interface, and watch said it failed over after health.failures misses.
fails_over() {
	hub_add 1
	hub_add 2
	hubs_masquerade
	write_config 2
	start_watch
	[ "$(peer_of_backend)" = "$HUB1_PUB" ]
	local ifindex t0 took
	ifindex="$(ip -n "$NODE_NS" -o link show dev "$NODE_IF" | cut -d: -f1)"
	t0="$(date +%s.%N)"
	"$@"
	# Hub 1 is dead for the node: nothing through it (its tunnel address included).
	run node ping -c 1 -W 1 10.0.0.1
	assert_failure
	wait_for 20 node ping -c 1 -W 1 10.9.0.100 || fail "no failover: $(cat "$WATCH_ERR")"
	took="$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
	echo "# traffic through the standby ${took}s after the fault" >&3
	awk -v t="$took" 'BEGIN { exit !(t <= 10) }' ||
		fail "traffic resumed after ${took}s: $(cat "$WATCH_ERR")"
	[ "$(peer_of_backend)" = "$HUB2_PUB" ]
	grep -q "failing over from hub\[0\] 198.18.1.1:51820 after 3 misses to hub\[1\]" "$WATCH_ERR" ||
		fail "$(cat "$WATCH_ERR")"
	[ "$(ip -n "$NODE_NS" -o link show dev "$NODE_IF" | cut -d: -f1)" = "$ifindex" ]
	kill -0 "$WATCH_PID"
}

@test "watch: the active hub's daemon killed (its links up): traffic through the standby within 10 s" {
	requires_cmd nft
	fails_over hub_kill 1
}

@test "watch: the active hub's veth to the node down (its backend link up): the standby within 10 s" {
	requires_cmd nft
	fails_over ip -n "${NODE_NS%-n}-h1" link set vu down
}

drop_udp() { # N: hub N drops WireGuard's UDP both ways (a firewall change)
	ip netns exec "${NODE_NS%-n}-h$1" nft -f - <<NFT
table inet wgn_drop {
	chain in { type filter hook input priority filter; udp dport 51820 counter drop; }
	chain out { type filter hook output priority filter; udp sport 51820 counter drop; }
}
NFT
}

@test "watch: the active hub's UDP dropped by nftables: traffic through the standby within 10 s" {
	requires_cmd nft
	fails_over drop_udp 1
	# The rule did it: hub 1 dropped the node's packets, and its daemon still runs.
	local dropped
	dropped="$(ip netns exec "${NODE_NS%-n}-h1" nft list chain inet wgn_drop in |
		grep -o 'packets [0-9]*' | cut -d' ' -f2)"
	[ "${dropped:-0}" -gt 0 ] || fail "hub 1 dropped nothing"
	kill -0 "$(cat "$BATS_TEST_TMPDIR/hub1.pid")"
}

# blackhole N: what hub N sends to the node vanishes on its link (netdev egress, after
# routing: a blackhole route would not do, as wireguard-go sends with the interface
# pinned). The link stays up, the hub still hears the node: a one-way failure.
blackhole() {
	ip netns exec "${NODE_NS%-n}-h$1" nft -f - <<NFT
table netdev wgn_blackhole {
	chain out { type filter hook egress device "vu" priority filter; udp sport 51820 counter drop; }
}
NFT
}

@test "watch: the active hub's link blackholed one way (it still hears the node): the standby within 10 s" {
	requires_cmd nft
	fails_over blackhole 1
	local dropped rx
	dropped="$(ip netns exec "${NODE_NS%-n}-h1" nft list chain netdev wgn_blackhole out |
		grep -o 'packets [0-9]*' | cut -d' ' -f2)"
	[ "${dropped:-0}" -gt 0 ] || fail "nothing vanished on hub 1's link"
	# One way only: the node's packets (its echoes to the standby hub 1) still reach it.
	rx="$(ip netns exec "${NODE_NS%-n}-h1" wg show "${NODE_IF}h1" transfer | cut -f2)"
	wait_for 10 eval '[ "$(ip netns exec "${NODE_NS%-n}-h1" wg show "${NODE_IF}h1" transfer | cut -f2)" -gt "$rx" ]' ||
		fail "hub 1 hears nothing from the node"
}

@test "watch: all hubs down: health 2, looks every interval, re-resolves with backoff; the first hub back carries the traffic" {
	hub_add 1
	hub_add 2
	write_config 2
	sed -i 's/^initial_backoff = .*/initial_backoff = 1.0/; s/^max_backoff = .*/max_backoff = 4.0/' \
		"$NODE_CONF"
	# The service manager's end of sd_notify: each datagram one line.
	local sock="$BATS_TEST_TMPDIR/notify.sock" log="$BATS_TEST_TMPDIR/notify.log"
	: >"$log"
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        f.write(s.recv(4096).decode().replace("\n", "|") + "\n")
' "$sock" "$log" &
	CLIENT_PID=$! # the teardown ends it
	wait_for 5 test -S "$sock" || fail "the notify listener did not start"
	(exec ip netns exec "$NODE_NS" env NOTIFY_SOCKET="$sock" WGN_RUN_DIR="$WGN_RUN_DIR" \
		WGN_STATE_DIR="$WGN_STATE_DIR" WGN_CONFIG_DIR="$CONF_DIR" "$WGN" watch "$NODE_IF") \
		2>"$WATCH_ERR" &
	WATCH_PID=$!
	wait_for 30 node ping -c 1 -W 1 10.9.0.100 || fail "no traffic after watch: $(cat "$WATCH_ERR")"
	hub_links 1 down
	hub_links 2 down
	run -2 node_wgn health "$NODE_IF"
	# Re-resolves after 1, 2, 4, 4 ... s (each +-20%), not at every look: wait for four.
	wait_for 40 eval '[ "$(grep -c "next re-resolve in" "$log")" -ge 4 ]' ||
		fail "$(tail -n 5 "$log") / $(cat "$WATCH_ERR")"
	local delays looks resolves
	delays="$(grep -o 'next re-resolve in [0-9.]*s' "$log" | grep -o '[0-9.]*' | head -n 3 | tr '\n' ' ')"
	echo "# re-resolve delays: $delays" >&3
	# shellcheck disable=SC2086
	awk -v d="$delays" 'BEGIN { split(d, v, " ");
		exit !(v[1] >= 0.8 && v[1] <= 1.2 && v[2] >= 1.6 && v[2] <= 2.4 && v[3] >= 3.2 && v[3] <= 4.8) }' ||
		fail "re-resolve delays $delays, not 1, 2, 4 s"
	# Between them the looks go on, every interval: more looks than re-resolves.
	looks="$(grep -c 'no hub answers' "$log")"
	resolves="$(grep -c 'next re-resolve in' "$log")"
	[ "$looks" -gt "$resolves" ] || fail "$looks looks, $resolves re-resolves"
	run -2 node_wgn health "$NODE_IF"
	kill -0 "$WATCH_PID"
	# Hub 2 returns first: watch moves there (the best that answers), traffic flows.
	hub_links 2 up
	wait_for 20 is_active 1 || fail "not on hub 2: $(cat "$WATCH_ERR")"
	wait_for 10 node ping -c 1 -W 1 10.9.0.100 || fail "no traffic through hub 2"
}

@test "watch: the interface deleted under watch is recreated, the preferred hub active, the standby standing by" {
	hub_add 1
	hub_add 2
	write_config 2
	start_watch
	local before
	before="$(ip -n "$NODE_NS" -o link show dev "$NODE_IF" | cut -d: -f1)"
	ip -n "$NODE_NS" link del "$NODE_IF"
	wait_for 20 node ping -c 1 -W 1 10.9.0.100 ||
		fail "no traffic after the link was deleted: $(cat "$WATCH_ERR")"
	[ "$(ip -n "$NODE_NS" -o link show dev "$NODE_IF" | cut -d: -f1)" != "$before" ]
	grep -q "bringing the tunnel up again" "$WATCH_ERR" || fail "$(cat "$WATCH_ERR")"
	[ "$(peer_of_backend)" = "$HUB1_PUB" ]
	run node wg show "$NODE_IF" allowed-ips
	assert_line "$HUB2_PUB	10.0.0.2/32"
	# And it still fails over from the new interface.
	hub_links 1 down
	wait_for 15 is_active 1 || fail "no failover after the bring-up: $(cat "$WATCH_ERR")"
	wait_for 10 node ping -c 1 -W 1 10.9.0.100 || fail "no traffic through hub 2"
	kill -0 "$WATCH_PID"
}

# flap N DOWN UP: hub N's links go down for DOWN seconds and up for UP seconds, again
# and again, in the background (FLAP_PID) until flap_stop, which leaves them up.
flap() {
	(
		trap 'hub_links "$1" up; exit 0' TERM
		while :; do
			hub_links "$1" down
			sleep "$2"
			hub_links "$1" up
			sleep "$3"
		done
	) &
	FLAP_PID=$!
}
flap_stop() {
	kill -TERM "$FLAP_PID"
	wait "$FLAP_PID" 2>/dev/null || true
	FLAP_PID=""
}

@test "watch: no flapping: short outages of the active hub cause no failover, a flapping preferred hub no failback" {
	requires_cmd nft
	hub_add 1
	hub_add 2
	hubs_masquerade # the backend answers through the hub the node uses, not hub 1's link
	FAILBACK_AFTER=6 write_config 2
	start_watch
	# Hub 1 (active) drops out for 0.8 s of every 2.5 s: the looks (every 2 s) fall into
	# an outage every few times, and the look that confirms the miss, 1 s later, finds
	# it back: a miss, never health.failures (3) in a row, so watch stays on it.
	flap 1 0.8 1.7
	sleep 25
	flap_stop
	grep -q "unhealthy: hub 10.0.0.1 did not answer" "$WATCH_ERR" ||
		fail "no look fell into an outage: $(cat "$WATCH_ERR")"
	[ "$(grep -c "failing over" "$WATCH_ERR")" = 0 ] || fail "failed over: $(cat "$WATCH_ERR")"
	is_active 0 || fail "not on hub 1: $(cat "$WATCH_ERR")"
	# Hub 1 dies for good: over to hub 2.
	hub_links 1 down
	wait_for 15 is_active 1 || fail "no failover: $(cat "$WATCH_ERR")"
	local before
	before="$(grep -c "degraded: running on hub\[1\]" "$WATCH_ERR" || true)"
	# Hub 1 comes back flapping, up 1.5 s of every 3 s: it answers some looks, but one
	# look of every three misses it, so it never answers for failback_after (6 s) in a
	# row: watch stays on hub 2, and the traffic with it.
	flap 1 1.5 1.5
	sleep 24
	flap_stop
	[ "$(grep -c "degraded: running on hub\[1\]" "$WATCH_ERR")" -gt "$before" ] ||
		fail "hub 1 never answered while flapping: $(cat "$WATCH_ERR")"
	[ "$(grep -c "failing back" "$WATCH_ERR")" = 0 ] || fail "failed back: $(cat "$WATCH_ERR")"
	is_active 1 || fail "not on hub 2: $(cat "$WATCH_ERR")"
	node ping -c 1 -W 2 10.9.0.100 || fail "no traffic through hub 2"
	# Hub 1 steady again: back to it after failback_after.
	wait_for 20 is_active 0 || fail "no failback: $(cat "$WATCH_ERR")"
	[ "$(grep -c "failing over" "$WATCH_ERR")" = 1 ]
	[ "$(grep -c "failing back" "$WATCH_ERR")" = 1 ]
}
