#!/usr/bin/env bats
# The data-plane library on real links, through the test-only driver wgn-nltool:
# rtnetlink on a tun link that wireguard-go creates, the UAPI backend against
# wireguard-go itself (cross-checked with wg(8), an independent implementation of the
# protocol), and starting and stopping the daemon. Every test runs in a network
# namespace of its own; packets go nowhere but its loopback.

load test_helper

setup() {
	requires_root
	requires_cmd ip wireguard-go wg setpriv
	: "${NLTOOL:=$(dirname "$WGN")/wgn-nltool}"
	[ -x "$NLTOOL" ] || fail "no $NLTOOL: build the wgn-nltool target"
	# /var/run/wireguard is shared by every namespace: names unique to this run.
	IF="wgnl${BATS_TEST_NUMBER}x$$"
	NS="wgn-nl-$$-$BATS_TEST_NUMBER"
	ip netns add "$NS"
	ip -n "$NS" link set lo up
	export WGN_RUN_DIR="$BATS_TEST_TMPDIR/run"
	export IF NS NLTOOL
	DAEMON_PID=
}

teardown() {
	if [ -n "${DAEMON_PID:-}" ] && [ "$(cat /proc/"$DAEMON_PID"/comm 2>/dev/null)" = wireguard-go ]; then
		kill "$DAEMON_PID" 2>/dev/null || true
	fi
	ip netns del "$NS" 2>/dev/null || true
	rm -f "/var/run/wireguard/$IF.sock"
}

nl() { ip netns exec "$NS" "$NLTOOL" "$@"; }
in_ns() { ip netns exec "$NS" "$@"; }

start_daemon() {
	# fd 9 stands for `up`'s lock: inherited by nltool, it must not reach the daemon.
	run nl start-daemon "$IF" 5 9>"$BATS_TEST_TMPDIR/held.lock"
	assert_success
	DAEMON_PID="$output"
	[[ "$DAEMON_PID" =~ ^[0-9]+$ ]] || fail "start-daemon printed '$output'"
}

@test "rtnl: a tun link made by wireguard-go: up, MTU, addresses, routes" {
	start_daemon
	run nl link "$IF"
	assert_success
	assert_output --regexp "^ifindex=[0-9]+ kind=tun up=0 mtu=1420$"

	nl up "$IF"
	nl mtu "$IF" 1380
	run in_ns ip -o link show dev "$IF"
	assert_output --partial "mtu 1380"
	assert_output --partial "UP"
	run nl link "$IF"
	assert_output --regexp "up=1 mtu=1380$"

	nl addr-add "$IF" 10.0.0.10/24
	nl addr-add "$IF" 10.0.0.10/24 # already there: done, not an error
	nl addr-add "$IF" fd00::10/64
	run in_ns ip -o addr show dev "$IF"
	assert_output --partial "inet 10.0.0.10/24"
	assert_output --partial "inet6 fd00::10/64"
	refute_output --partial "tentative" # IFA_F_NODAD
	run nl addrs "$IF"
	assert_success
	# Global addresses only: the fe80:: of the link is not listed.
	assert_equal "$(echo "$output" | sort | tr '\n' ' ')" "10.0.0.10/24 fd00::10/64 "

	nl route-add "$IF" 10.1.2.3/16
	nl route-add "$IF" 10.1.0.0/16
	nl route-add "$IF" fd01::/64
	run in_ns ip -d route show dev "$IF"
	assert_output --partial "unicast 10.1.0.0/16 proto boot scope link"
	run in_ns ip -d -6 route show dev "$IF"
	assert_output --partial "unicast fd01::/64 proto boot"
	run nl routes "$IF"
	assert_success
	# Not the connected routes of the addresses (proto kernel), not fe80::/64.
	assert_equal "$(echo "$output" | sort | tr '\n' ' ')" "10.1.0.0/16 fd01::/64 "

	# The connected route of an address is there already: done. A route to the same
	# prefix via another device is not ours: an error, not a silent success.
	nl route-add "$IF" 10.0.0.0/24
	in_ns ip link add nlveth0 type veth peer name nlveth1
	in_ns ip link set nlveth0 up
	in_ns ip route add 10.9.0.0/16 dev nlveth0
	run nl route-add "$IF" 10.9.0.0/16
	assert_failure 71
	assert_output --partial "a route to it already exists via another device"

	run nl route-mtu 10.1.2.3:51820
	assert_output 1380
	run nl route-mtu 192.0.2.1:51820 # no route to it
	assert_success
	assert_output 0

	nl route-del "$IF" 10.1.0.0/16
	nl route-del "$IF" 10.1.0.0/16 # gone already: done
	nl addr-del "$IF" fd00::10/64
	run nl routes "$IF"
	assert_output "fd01::/64"
	run in_ns ip -o -6 addr show dev "$IF" scope global
	assert_output ""

	nl down "$IF"
	run nl link "$IF"
	assert_output --regexp "up=0 mtu=1380$"
}

@test "rtnl: the kernel's own words reach the error, with the exit code" {
	start_daemon
	run nl mtu "$IF" 10
	assert_failure 71
	assert_output --partial "cannot set mtu 10 on dev #"
	assert_output --partial "(kernel: "
	run nl delete wgnl-nothere0
	assert_failure 71
	assert_output --partial "No such device"
	# Without CAP_NET_ADMIN: 77, and it says what is missing.
	run in_ns setpriv --reuid=65534 --regid=65534 --clear-groups "$NLTOOL" mtu "$IF" 1300
	assert_failure 77
	assert_output --partial "needs CAP_NET_ADMIN"
}

@test "rtnl: default route MTU, as wg-quick falls back to it" {
	run nl default-mtu
	assert_output 0 # a fresh namespace has no default route
	in_ns ip link add nlveth0 type veth peer name nlveth1
	in_ns ip link set nlveth0 mtu 1480 up
	in_ns ip route add default dev nlveth0
	run nl default-mtu
	assert_output 1480
	run nl route-mtu 198.51.100.7:51820
	assert_output 1480
	in_ns ip route add 198.51.100.0/24 dev nlveth0 mtu 1400
	run nl route-mtu 198.51.100.7:51820
	assert_output 1400 # the route's own MTU wins
}

@test "uapi: set through the library, read back by wg(8) and by the library" {
	start_daemon
	make_config_dir
	(umask 077; echo 'FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=' >"$CONF_DIR/psk")
	nl set "$IF" private_key_file="$PRIV_KEY_FILE" listen_port=51999 fwmark=0x2a \
		peer="$HUB_PUB" psk_file="$CONF_DIR/psk" endpoint=127.0.0.1:51820 keepalive=25 \
		replace_allowed_ips allowed_ip=10.0.0.0/24 allowed_ip=fd00::/64

	run in_ns wg show "$IF" dump
	assert_success
	local dev peer
	dev="$(echo "$output" | sed -n 1p)"
	peer="$(echo "$output" | sed -n 2p)"
	# private, public, port, fwmark
	assert_equal "$(echo "$dev" | cut -f2-4)" "$(wg pubkey <"$PRIV_KEY_FILE")	51999	0x2a"
	# public, psk, endpoint, allowed ips, handshake, rx, tx, keepalive
	assert_equal "$(echo "$peer" | cut -f1)" "$HUB_PUB"
	assert_equal "$(echo "$peer" | cut -f2)" "FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE="
	assert_equal "$(echo "$peer" | cut -f3)" "127.0.0.1:51820"
	assert_equal "$(echo "$peer" | cut -f4)" "10.0.0.0/24,fd00::/64"
	assert_equal "$(echo "$peer" | cut -f8)" "25"

	run nl get "$IF"
	assert_success
	assert_line "has_private_key=1"
	assert_line "public_key=$(wg pubkey <"$PRIV_KEY_FILE")"
	assert_line "listen_port=51999"
	assert_line "fwmark=42"
	assert_line "peer=$HUB_PUB"
	assert_line "  preshared_key=(set)"
	assert_line "  endpoint=127.0.0.1:51820"
	assert_line "  keepalive=25"
	assert_line "  allowed_ip=10.0.0.0/24"
	assert_line "  allowed_ip=fd00::/64"
	# The library's own output carries no secret.
	refute_output --partial "$(cat "$PRIV_KEY_FILE")"
	refute_output --partial "FpCyhws9cxwWoV4xELtfJvjJN"
}

@test "uapi: set by wg(8), read by the library; replace and remove" {
	start_daemon
	local p1 p2
	p1="$(wg genkey | wg pubkey)"
	p2="$(wg genkey | wg pubkey)"
	in_ns wg set "$IF" listen-port 52000 peer "$p1" allowed-ips 10.5.0.0/16,10.6.0.0/16 \
		peer "$p2" endpoint '[::1]:51820' allowed-ips fd05::/64
	run nl get "$IF"
	assert_success
	assert_line "listen_port=52000"
	assert_line "has_private_key=0"
	assert_line "peer=$p1"
	assert_line "  allowed_ip=10.5.0.0/16"
	assert_line "  allowed_ip=10.6.0.0/16"
	assert_line "peer=$p2"
	assert_line "  endpoint=[::1]:51820"

	# Without replace_allowed_ips the IPs add up; with it they are replaced.
	nl set "$IF" peer="$p1" allowed_ip=10.7.0.0/16
	run in_ns wg show "$IF" allowed-ips
	assert_line --partial "$p1	10.5.0.0/16 10.6.0.0/16 10.7.0.0/16"
	nl set "$IF" peer="$p1" replace_allowed_ips allowed_ip=10.8.0.0/16
	run in_ns wg show "$IF" allowed-ips
	assert_line "$p1	10.8.0.0/16"

	nl set "$IF" peer="$p2" remove
	run in_ns wg show "$IF" peers
	assert_output "$p1"
	nl set "$IF" replace_peers
	run in_ns wg show "$IF" peers
	assert_output ""
}

@test "daemon: its pid is recorded, its environment is built, stop leaves nothing" {
	# Started by a process that ignores SIGTERM (as `up` may while it cleans up), the
	# daemon still does not: ignored signals would survive exec.
	run in_ns bash -c 'trap "" TERM HUP; exec "$NLTOOL" start-daemon "$IF" 5 9>"$1"' _ \
		"$BATS_TEST_TMPDIR/held.lock"
	assert_success
	DAEMON_PID="$output"
	local ign
	ign="$(awk '/^SigIgn:/ {print $2}' /proc/"$DAEMON_PID"/status)"
	[ $(( (0x$ign >> 14) & 1 )) -eq 0 ] # SIGTERM (15) not ignored
	[ $(( (0x$ign >> 0) & 1 )) -eq 0 ]  # SIGHUP (1) not ignored
	[ "$(cat /proc/"$DAEMON_PID"/comm)" = wireguard-go ]
	# Its own session, stdin from /dev/null, an environment of our making.
	[ "$(cut -d' ' -f6 /proc/"$DAEMON_PID"/stat)" = "$DAEMON_PID" ] # session id
	[ "$(readlink /proc/"$DAEMON_PID"/fd/0)" = /dev/null ]
	run bash -c "tr '\0' '\n' </proc/$DAEMON_PID/environ | cut -d= -f1 | sort | tr '\n' ' '"
	assert_output "PATH WG_PROCESS_FOREGROUND "
	# No fd of ours crossed exec (`up` holds its lock on one).
	run bash -c "for f in /proc/$DAEMON_PID/fd/*; do readlink \"\$f\"; done"
	assert_success
	refute_output --partial "held.lock"
	assert_output --partial "$IF.daemon.log"
	[ -S "/var/run/wireguard/$IF.sock" ]
	[ -f "$WGN_RUN_DIR/$IF.daemon.log" ]

	run nl backend "$IF"
	assert_output uapi
	run nl stop-daemon "$IF" "$DAEMON_PID" 3
	assert_success
	run nl link "$IF"
	assert_output absent
	[ ! -e "/var/run/wireguard/$IF.sock" ]
	[ ! -e "$WGN_RUN_DIR/$IF.daemon.log" ]
	[ "$(cat /proc/"$DAEMON_PID"/comm 2>/dev/null)" != wireguard-go ] ||
		grep -q '^State:.*Z' /proc/"$DAEMON_PID"/status
	# Stopping again is fine.
	run nl stop-daemon "$IF" "$DAEMON_PID" 1
	assert_success
}

@test "daemon: a daemon that dies first fails with what it said" {
	local fake="$BATS_TEST_TMPDIR/fake-wg"
	printf '#!/bin/sh\necho "cannot make tun for $1" >&2\nexit 3\n' >"$fake"
	chmod +x "$fake"
	WG_QUICK_USERSPACE_IMPLEMENTATION="$fake" run nl start-daemon "$IF" 5
	assert_failure 71
	assert_output --partial "exited with status 3"
	assert_output --partial "cannot make tun for $IF"

	WG_QUICK_USERSPACE_IMPLEMENTATION=wgn-no-such-daemon run nl start-daemon "$IF" 5
	assert_failure 71
	assert_output --partial "No such file or directory"
}

@test "daemon: one that never opens its socket is killed at the timeout" {
	local fake="$BATS_TEST_TMPDIR/slow-wg"
	printf '#!/bin/sh\necho $$ >"%s"\nexec sleep 300\n' "$BATS_TEST_TMPDIR/slow.pid" >"$fake"
	chmod +x "$fake"
	local t0=$SECONDS
	WG_QUICK_USERSPACE_IMPLEMENTATION="$fake" run nl start-daemon "$IF" 0.5
	assert_failure 71
	assert_output --partial "did not answer within 0.5s"
	[ $((SECONDS - t0)) -lt 5 ]
	# Killed and reaped: the pid is gone, not even a zombie.
	local pid
	pid="$(cat "$BATS_TEST_TMPDIR/slow.pid")"
	[ -n "$pid" ]
	run kill -0 "$pid"
	assert_failure
}

@test "daemon: stop does not kill a pid that is not the daemon" {
	sleep 300 &
	local victim=$!
	run nl stop-daemon "$IF" "$victim" 1
	assert_success
	kill -0 "$victim"
	kill "$victim"
}

@test "daemon: stop without a pid waits for a self-daemonized wireguard-go" {
	in_ns env WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 wireguard-go "$IF"
	[ -S "/var/run/wireguard/$IF.sock" ]
	run nl stop-daemon "$IF" - 3
	assert_success
	run nl link "$IF"
	assert_output absent
	[ ! -e "/var/run/wireguard/$IF.sock" ]
	# No process is left that serves it (procps may be missing: read /proc).
	local f left=
	for f in /proc/[0-9]*/cmdline; do
		[ "$(tr '\0' ' ' <"$f" 2>/dev/null)" = "wireguard-go $IF " ] && left="$left $f"
	done
	assert_equal "$left" ""
}

@test "observe: unprivileged, the device is unreadable but the link is seen" {
	start_daemon
	nl up "$IF"
	nl addr-add "$IF" 10.0.0.10/24
	run nl observe "$IF"
	assert_success
	assert_line "exists=1 wireguard=1 userspace=1 up=1 mtu=1420 device=read"
	assert_line "address=10.0.0.10/24"
	run in_ns setpriv --reuid=65534 --regid=65534 --clear-groups "$NLTOOL" observe "$IF"
	assert_success
	assert_line "exists=1 wireguard=1 userspace=1 up=1 mtu=1420 device=unreadable"
	assert_line "address=10.0.0.10/24"
}

@test "genl: the kernel backend where the kernel has WireGuard, a clear error where not" {
	if [ ! -d /sys/module/wireguard ] && ! modprobe -q wireguard 2>/dev/null; then
		run nl create-wg "$IF"
		assert_failure 71
		assert_output --partial "cannot create WireGuard link $IF"
		assert_output --partial "(kernel: "
		run nl backend "$IF"
		assert_output genl
		run nl get "$IF"
		assert_failure 71
		return
	fi
	make_config_dir
	nl create-wg "$IF"
	run nl link "$IF"
	assert_output --regexp "kind=wireguard up=0"
	run nl create-wg "$IF"
	assert_failure 71
	assert_output --partial "File exists"
	local p1
	p1="$(wg genkey | wg pubkey)"
	nl set "$IF" private_key_file="$PRIV_KEY_FILE" listen_port=51999 \
		peer="$p1" endpoint=127.0.0.1:51820 keepalive=25 replace_allowed_ips \
		allowed_ip=10.0.0.0/24 allowed_ip=fd00::/64
	run in_ns wg show "$IF" dump
	assert_line --index 0 --partial "$(wg pubkey <"$PRIV_KEY_FILE")	51999"
	assert_line --index 1 --partial "$p1	(none)	127.0.0.1:51820	10.0.0.0/24,fd00::/64"
	run nl get "$IF"
	assert_line "public_key=$(wg pubkey <"$PRIV_KEY_FILE")"
	assert_line "peer=$p1"
	assert_line "  allowed_ip=fd00::/64"
	nl delete "$IF"
	run nl link "$IF"
	assert_output absent
}

@test "daemon: an implementation that daemonizes itself is waited for, pid unknown" {
	local fake="$BATS_TEST_TMPDIR/bg-wg"
	# wireguard-go without WG_PROCESS_FOREGROUND: its first process exits once the
	# device is up, as boringtun does without --foreground.
	printf '#!/bin/sh\nunset WG_PROCESS_FOREGROUND\nexec wireguard-go "$1"\n' >"$fake"
	chmod +x "$fake"
	WG_QUICK_USERSPACE_IMPLEMENTATION="$fake" run nl start-daemon "$IF" 5
	assert_success
	# 0 when its first process left before the socket answered; otherwise that
	# process's pid, which is about to go: either way stop must go by the socket.
	local pid="$output"
	[[ "$pid" =~ ^[0-9]+$ ]]
	[ -S "/var/run/wireguard/$IF.sock" ]
	run nl link "$IF"
	assert_output --regexp "kind=tun"
	run nl stop-daemon "$IF" "$pid" 3
	assert_success
	run nl link "$IF"
	assert_output absent
	[ ! -e "/var/run/wireguard/$IF.sock" ]
}
