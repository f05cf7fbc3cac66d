#!/usr/bin/env bats
# wgn watch end to end: a hub (wireguard-go) and a node in network namespaces, the
# watch in the node namespace speaking sd_notify to a socket the test listens on.

bats_require_minimum_version 1.5.0
load test_helper
load netns_helper

setup() {
	requires_cmd python3
	netns_setup
	node_write_config "[health]" "interval = 1"
	NOTIFY_SOCK="$BATS_TEST_TMPDIR/notify.sock"
	NOTIFY_LOG="$BATS_TEST_TMPDIR/notify.log"
	WATCH_ERR="$BATS_TEST_TMPDIR/watch.err"
	: >"$NOTIFY_LOG"
	# The service manager's end: each datagram one line, its newlines as '|'.
	/usr/bin/env python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        f.write(s.recv(4096).decode().replace("\n", "|") + "\n")
' "$NOTIFY_SOCK" "$NOTIFY_LOG" &
	LISTENER_PID=$!
	wait_for 5 test -S "$NOTIFY_SOCK" || fail "the notify listener did not start"
}

teardown() {
	if [ -n "${WATCH_PID:-}" ]; then
		kill -TERM "$WATCH_PID" 2>/dev/null || true
		wait "$WATCH_PID" 2>/dev/null || true
	fi
	if [ -n "${LISTENER_PID:-}" ]; then
		kill -TERM "$LISTENER_PID" 2>/dev/null || true
		wait "$LISTENER_PID" 2>/dev/null || true
	fi
	netns_teardown
}

# start_watch [VAR=VALUE...]: wgn watch in the node namespace, in the background, its
# pid in WATCH_PID (wgn's own: the subshell execs it), with NOTIFY_SOCKET and VARs.
start_watch() {
	(
		export NOTIFY_SOCKET="$NOTIFY_SOCK"
		for v in "$@"; do export "${v?}"; done
		node_wgn_exec watch "$NODE_IF"
	) 2>"$WATCH_ERR" &
	WATCH_PID=$!
}

# at_least N PATTERN: the notify log has N lines matching PATTERN (for wait_for).
at_least() {
	[ "$(grep -c -- "$2" "$NOTIFY_LOG")" -ge "$1" ]
}

wait_ready() {
	wait_for 40 grep -q '^READY=1|STATUS=' "$NOTIFY_LOG" ||
		fail "no READY=1: $(cat "$NOTIFY_LOG") / $(cat "$WATCH_ERR")"
}

@test "watch brings the tunnel up, says READY=1 with a STATUS, and SIGTERM leaves it up" {
	start_watch
	wait_ready
	run grep -m1 '^READY=1|STATUS=' "$NOTIFY_LOG"
	assert_output --regexp "^READY=1\|STATUS=$NODE_IF: healthy: handshake [0-9]+s ago"
	run node ping -c 1 -W 2 10.0.0.1
	assert_success
	# A STATUS every loop (interval = 1).
	wait_for 10 at_least 3 'STATUS=' || fail "$(cat "$NOTIFY_LOG")"
	refute grep -q WATCHDOG "$NOTIFY_LOG" # no watchdog asked for
	local ifindex
	ifindex="$(node_ifindex)"
	kill -TERM "$WATCH_PID"
	local rc=0
	wait "$WATCH_PID" || rc=$?
	WATCH_PID=
	[ "$rc" -eq 0 ] || fail "exit $rc: $(cat "$WATCH_ERR")"
	grep -q "watch ended by SIGTERM.*the tunnel stays up" "$WATCH_ERR" || fail "$(cat "$WATCH_ERR")"
	# The same interface, still carrying traffic, its daemon still running.
	[ "$(node_ifindex)" = "$ifindex" ]
	run node ping -c 1 -W 2 10.0.0.1
	assert_success
	run node_wgn health "$NODE_IF"
	assert_success
}

@test "the interface deleted under watch is recreated and carries traffic again" {
	start_watch
	wait_ready
	local before
	before="$(node_ifindex)"
	ip -n "$NODE_NS" link del "$NODE_IF"
	# Within a few intervals (interval = 1) plus one bring-up.
	wait_for 20 node ping -c 1 -W 1 10.0.0.1 ||
		fail "no ping after the link was deleted: $(cat "$WATCH_ERR")"
	[ "$(node_ifindex)" != "$before" ] # a new interface, not the old one
	grep -q "bringing the tunnel up again" "$WATCH_ERR" || fail "$(cat "$WATCH_ERR")"
	wait_for 10 grep -q "brought up again" "$NOTIFY_LOG" || fail "$(cat "$NOTIFY_LOG")"
	kill -0 "$WATCH_PID" # still watching
}

@test "SIGHUP applies a changed config in place: same interface, new keepalive" {
	start_watch
	wait_ready
	local ifindex
	ifindex="$(node_ifindex)"
	run node wg show "$NODE_IF" persistent-keepalive
	assert_output --partial "off"
	sed -i 's/^tunnel_address = .*/&\npersistent_keepalive = 7/' "$NODE_CONF"
	kill -HUP "$WATCH_PID"
	wait_for 15 eval 'node wg show "$NODE_IF" persistent-keepalive | grep -q "[[:space:]]7$"' ||
		fail "keepalive not applied: $(node wg show "$NODE_IF") / $(cat "$WATCH_ERR")"
	[ "$(node_ifindex)" = "$ifindex" ] || fail "the interface was recreated"
	grep -q "configuration reloaded" "$WATCH_ERR" || fail "$(cat "$WATCH_ERR")"
	wait_for 10 grep -q '^RELOADING=1|MONOTONIC_USEC=[0-9]*$' "$NOTIFY_LOG" ||
		fail "$(cat "$NOTIFY_LOG")"
	kill -0 "$WATCH_PID"
	run node ping -c 1 -W 2 10.0.0.1
	assert_success
}

@test "SIGHUP with a broken config keeps the tunnel and the watch as they are" {
	start_watch
	wait_ready
	local ifindex
	ifindex="$(node_ifindex)"
	echo "bogus = 1" >>"$NODE_CONF"
	kill -HUP "$WATCH_PID"
	wait_for 10 grep -q "keeping the configuration in use" "$WATCH_ERR" || fail "$(cat "$WATCH_ERR")"
	grep -q "health.bogus: unknown key" "$WATCH_ERR" || fail "$(cat "$WATCH_ERR")"
	kill -0 "$WATCH_PID"
	[ "$(node_ifindex)" = "$ifindex" ]
	run node ping -c 1 -W 2 10.0.0.1
	assert_success
}

@test "WATCHDOG=1 arrives when WATCHDOG_USEC is set, and not for another WATCHDOG_PID" {
	start_watch WATCHDOG_USEC=2000000
	wait_ready
	wait_for 10 at_least 4 'WATCHDOG=1' || fail "$(cat "$NOTIFY_LOG")"
	# The daemon that watch started does not inherit the variables.
	local daemon
	daemon="$(ip netns pids "$NODE_NS" | grep -vx "$WATCH_PID" | head -n 1)"
	[ -n "$daemon" ] || fail "no daemon in $NODE_NS"
	run grep -z -e NOTIFY_SOCKET -e WATCHDOG_USEC "/proc/$daemon/environ"
	assert_failure
	kill -TERM "$WATCH_PID"
	wait "$WATCH_PID"
	WATCH_PID=
	: >"$NOTIFY_LOG"
	start_watch WATCHDOG_USEC=2000000 WATCHDOG_PID=1
	wait_ready
	sleep 2
	refute grep -q WATCHDOG "$NOTIFY_LOG"
}

@test "watch exits as up does when the hub does not answer" {
	NODE_CONFIG_ENDPOINT=192.0.2.99:51820 NODE_CONFIG_RETRIES=1 NODE_CONFIG_ATTEMPT_TIMEOUT=0.5 \
		node_write_config
	run -69 node_wgn watch "$NODE_IF"
	assert_output --partial "did not answer"
	refute grep -q READY "$NOTIFY_LOG"
	assert_node_clean
}
