#!/usr/bin/env bats
# Health reports end to end (SPEC "Health reports"): a node enrolled with the real
# control plane (contrib/control-plane on a private PostgreSQL, started once for the
# file) and up through a wireguard-go hub in a namespace posts its health with
# `wgn health --report` and every loop of `wgn watch`; the administrator sees it in
# GET /api/v1/nodes?status= and GET /metrics. The node reaches the control plane on its
# own loopback through tests/bats/nsforward.py.

load test_helper
load cp_helper
load netns_helper

bats_require_minimum_version 1.5.0

setup_file() { cp_suite_start; }
teardown_file() { cp_stop_stack; }

setup() {
	cp_test_start
	netns_setup
	ip netns exec "$HUB_NS" wg set "$HUB_IF" peer "$NODE_PUB" remove
	forward_port "$NODE_NS" "$CP_PORT"
	enroll_and_up
}

teardown() {
	local f
	for f in "$BATS_TEST_TMPDIR"/*.pid; do
		[ -f "$f" ] && [ "$f" != "$BATS_TEST_TMPDIR/hub.pid" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
	netns_teardown
}

# forward_port NS PORT: loopback PORT of this namespace on NS's loopback.
forward_port() {
	local ready="$BATS_TEST_TMPDIR/fwd-$1-$2.pid"
	python3 "$BATS_TEST_DIRNAME/nsforward.py" "$1" "$2" "$2" "$ready" \
		</dev/null >"$BATS_TEST_TMPDIR/fwd-$1-$2.log" 2>&1 3>&- &
	wait_for 10 test -s "$ready" || fail "nsforward did not start"
}

# The node enrolls (its key, address and node token from the control plane), the hub
# admits it by hand, and the tunnel comes up. Sets NODE_ID and NODE_ADDR.
enroll_and_up() {
	make_hub "$HUB_PUB" "$HUB_ENDPOINT" 10.0.0.1
	make_token "$BATS_TEST_TMPDIR/enroll.token" '{"max_uses": 1}'
	rm -f "$NODE_CONF"
	run --separate-stderr node_wgn enroll "http://127.0.0.1:$CP_PORT" "$NODE_IF" \
		--token-file "$BATS_TEST_TMPDIR/enroll.token" --json
	assert_success
	NODE_ID="$(json_field "$output" node_id)"
	NODE_ADDR="$(json_field "$output" wireguard_address | python3 -c 'import json,sys; print(json.load(sys.stdin)[0].split("/")[0])')"
	ip netns exec "$HUB_NS" wg set "$HUB_IF" peer "$(json_field "$output" public_key)" \
		allowed-ips "$NODE_ADDR/32"
	sed -i -e 's/^\[interface\]$/&\nbackend = "userspace"/' \
		-e 's/^\[control_plane\]$/&\ntimeout = 2.0\nmax_retries = 1/' "$NODE_CONF"
	printf '\n[connect]\ninitial_backoff = 0.2\nmax_backoff = 1.0\n\n[health]\ninterval = 0.5\n' >>"$NODE_CONF"
	run --separate-stderr node_wgn up "$NODE_IF"
	assert_success
	export NODE_ID NODE_ADDR
}

# node_field FIELD: the node as the administrator lists it.
node_field() {
	cp_admin GET "/nodes/$NODE_ID" | python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print("null" if v is None else v)' "$1"
}
# GET /metrics with the admin token (not under /api/v1).
cp_metrics() {
	local hdr="$BATS_TEST_TMPDIR/admin.hdr"
	(umask 077 && echo "Authorization: Bearer $(cat "$CP_ADMIN_TOKEN_FILE")" >"$hdr")
	curl -fsS -H @"$hdr" "$CP_URL/metrics"
}
seen_since() { [ "$(node_field last_seen)" != "$1" ]; }
listed_as() {
	cp_admin GET "/nodes?status=$1" | python3 -c 'import json,sys; print("\n".join(n["node_id"] for n in json.load(sys.stdin)["nodes"]))' | grep -qx "$NODE_ID"
}

@test "health --report: the report lands, GET /nodes?status=healthy and /metrics show the node" {
	[ "$(node_field status)" = null ]
	run --separate-stderr node_wgn health "$NODE_IF" --report --format json
	assert_success
	[ -z "$stderr" ] || fail "stderr: $stderr"
	[ "$(json_field "$output" status)" = healthy ]
	[ "$(json_field "$output" node_id)" = "$NODE_ID" ]
	listed_as healthy
	run ! listed_as unhealthy
	[ "$(node_field status)" = healthy ]
	[ "$(node_field last_seen)" != null ]
	# The body is what --format json printed (the control plane keeps it).
	[ "$(cp_sql "SELECT health->>'interface' || ' ' || (health->>'connected') FROM nodes WHERE node_id = '$NODE_ID'")" = "$NODE_IF true" ]
	run cp_metrics
	assert_line 'wgn_fleet_nodes{status="healthy"} 1'
	assert_line --regexp "^wgn_fleet_last_seen_seconds\\{node_id=\"$NODE_ID\"\\} [0-9.]+\$"

	# The tunnel down: the report says so, and health exits as it would without it.
	ip -n "$HUB_NS" link set dev "$HUB_IF" down
	run --separate-stderr node_wgn health "$NODE_IF" --report --format nagios
	assert_failure 2
	[ -z "$stderr" ] || fail "stderr: $stderr"
	listed_as unhealthy
	# The token is in no output.
	run --separate-stderr node_wgn -v health "$NODE_IF" --report --format json
	refute_output --partial "$(cat "$NODE_CONF_DIR/$NODE_IF.token")"
	[[ "$stderr" != *"$(cat "$NODE_CONF_DIR/$NODE_IF.token")"* ]]
}

@test "health --report with the control plane away: the same exit code and stdout, one line on stderr" {
	run --separate-stderr node_wgn health "$NODE_IF" --format nagios
	assert_success
	local plain="${output%%,*}" # "WGN OK - wgn... healthy": the handshake's age moves on
	cp_stop_app
	run --separate-stderr node_wgn health "$NODE_IF" --report --format nagios
	assert_success
	[ "${output%%,*}" = "$plain" ]
	[ "$(printf '%s\n' "$stderr" | wc -l)" = 1 ] || fail "stderr: $stderr"
	[[ "$stderr" == "wgn: $NODE_IF: health report not sent: "* ]] || fail "stderr: $stderr"
	# Disconnected: still 2, still one line.
	run node_wgn down "$NODE_IF"
	assert_success
	run --separate-stderr node_wgn health "$NODE_IF" --report
	assert_failure 2
	[ "$(printf '%s\n' "$stderr" | wc -l)" = 1 ] || fail "stderr: $stderr"
	[[ "$stderr" == *"health report not sent"* ]]
	cp_start_app
	# Back: the disconnected node says so itself.
	run --separate-stderr node_wgn health "$NODE_IF" --report
	assert_failure 2
	[ -z "$stderr" ] || fail "stderr: $stderr"
	listed_as disconnected
}

@test "watch reports every loop; the control plane away is said once, and its return" {
	ip netns exec "$NODE_NS" env WGN_RUN_DIR="$WGN_RUN_DIR" WGN_STATE_DIR="$WGN_STATE_DIR" \
		WGN_CONFIG_DIR="$NODE_CONF_DIR" "$WGN" watch "$NODE_IF" \
		</dev/null >"$BATS_TEST_TMPDIR/watch.out" 2>"$BATS_TEST_TMPDIR/watch.err" 3>&- &
	echo $! >"$BATS_TEST_TMPDIR/watch.pid"
	wait_for 10 listed_as healthy || fail "no report from watch: $(cat "$BATS_TEST_TMPDIR/watch.err")"
	[ "$(ls "/proc/$(cat "$BATS_TEST_TMPDIR/watch.pid")/task" | wc -l)" = 2 ] # and its reporter
	# interval = 0.5: last_seen moves at every loop; 4 s see at least 5 distinct ones.
	local seen=() t last
	for t in $(seq 40); do
		last="$(node_field last_seen)"
		[ "${#seen[@]}" -gt 0 ] && [ "${seen[-1]}" = "$last" ] || seen+=("$last")
		sleep 0.1
	done
	[ "${#seen[@]}" -ge 5 ] || fail "only ${#seen[@]} reports in 4 s: ${seen[*]}"
	# The hub goes: the next loops report it.
	ip -n "$HUB_NS" link set dev "$HUB_IF" down
	wait_for 10 listed_as unhealthy || fail "status: $(node_field status)"
	ip -n "$HUB_NS" link set dev "$HUB_IF" up
	wait_for 10 listed_as healthy || fail "status: $(node_field status)"

	# The control plane away for 3 s (6 loops): one line; back: one line, reports again.
	cp_stop_app
	sleep 3
	kill -0 "$(cat "$BATS_TEST_TMPDIR/watch.pid")"
	[ "$(grep -c 'health report not sent' "$BATS_TEST_TMPDIR/watch.err")" = 1 ] ||
		fail "$(cat "$BATS_TEST_TMPDIR/watch.err")"
	cp_start_app
	last="$(node_field last_seen)"
	wait_for 10 seen_since "$last" || fail "no report after the return"
	wait_for 5 grep -q 'health reports reach the control plane again' "$BATS_TEST_TMPDIR/watch.err" ||
		fail "$(cat "$BATS_TEST_TMPDIR/watch.err")"
	[ "$(grep -c 'health report not sent' "$BATS_TEST_TMPDIR/watch.err")" = 1 ]
	run cat "$BATS_TEST_TMPDIR/watch.err"
	refute_output --partial "$(cat "$NODE_CONF_DIR/$NODE_IF.token")"
	kill -TERM "$(cat "$BATS_TEST_TMPDIR/watch.pid")"
	wait_for 5 bash -c "! kill -0 $(cat "$BATS_TEST_TMPDIR/watch.pid") 2>/dev/null"
}

@test "watch --no-report sends nothing" {
	ip netns exec "$NODE_NS" env WGN_RUN_DIR="$WGN_RUN_DIR" WGN_STATE_DIR="$WGN_STATE_DIR" \
		WGN_CONFIG_DIR="$NODE_CONF_DIR" "$WGN" watch "$NODE_IF" --no-report \
		</dev/null >/dev/null 2>"$BATS_TEST_TMPDIR/watch.err" 3>&- &
	echo $! >"$BATS_TEST_TMPDIR/watch.pid"
	sleep 2
	kill -0 "$(cat "$BATS_TEST_TMPDIR/watch.pid")"
	# No reporter thread either: the watch is one thread, as without [control_plane].
	[ "$(ls "/proc/$(cat "$BATS_TEST_TMPDIR/watch.pid")/task" | wc -l)" = 1 ]
	[ "$(node_field status)" = null ]
	[ "$(node_field last_seen)" = null ]
}
