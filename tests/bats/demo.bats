#!/usr/bin/env bats
# scripts/demo, the README's first command, as root on the wgn under test (it does not
# install packages or build here: WGN_DEMO_SKIP_BUILD=1). It must show every step, and
# leave nothing behind, whether it succeeds, fails half-way or is terminated.

load test_helper
load cp_helper

bats_require_minimum_version 1.5.0

setup() {
	requires_root
	requires_cmd ip wg wireguard-go ping python3
	cp_requires
}

demo() {
	WGN_DEMO_SKIP_BUILD=1 WGN="${DEMO_WGN:-$WGN}" "$WGN_SOURCE_DIR/scripts/demo" "$@"
}

# Sets DEMO_ID and DEMO_DIR from the demo's output ($output).
demo_names() {
	[[ "$output" =~ wgn-demo-([0-9a-f]{4})-hub ]] || fail "no namespace names in: $output"
	DEMO_ID="${BASH_REMATCH[1]}"
	[[ "$output" =~ (/tmp/wgn-demo\.[A-Za-z0-9]{6}) ]] || fail "no sandbox in: $output"
	DEMO_DIR="${BASH_REMATCH[1]}"
}

# Processes whose command line or environment names DIR: PostgreSQL (-D DIR/cp/pg), the
# control plane's app (WGN_CP_TOKEN_FILE=DIR/cp/token), wgn and its daemons.
processes_of() {
	local p text
	for p in /proc/[0-9]*; do
		text="$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)$(tr '\0' ' ' <"$p/environ" 2>/dev/null)" || true
		[[ "$text" != *"$1"* ]] || echo "${p#/proc/}: $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)"
	done
}

# Nothing of the demo is left: namespaces, daemons, sockets, processes, the sandbox.
assert_demo_gone() {
	demo_names
	local left
	left="$(ip netns list | grep "^wgn-demo-$DEMO_ID-" || true)"
	[ -z "$left" ] || fail "namespaces left: $left"
	[ ! -e "$DEMO_DIR" ] || fail "$DEMO_DIR is left"
	left="$(pgrep -af "wireguard-go (wghub|wgdemo)$DEMO_ID" || true)"
	[ -z "$left" ] || fail "wireguard-go left: $left"
	[ ! -e "/var/run/wireguard/wghub$DEMO_ID.sock" ] || fail "the hub's UAPI socket is left"
	[ ! -e "/var/run/wireguard/wgdemo$DEMO_ID.sock" ] || fail "the node's UAPI socket is left"
	left="$(processes_of "$DEMO_DIR")"
	[ -z "$left" ] || fail "processes of the demo left: $left"
}

@test "the demo shows up, a ping, health in 4 formats, register, the node listed, down" {
	run demo
	assert_success
	demo_names
	local name="wgdemo$DEMO_ID"

	assert_line "node# wgn -v up $name"
	assert_line --regexp "^\[#\] ip -4 address add 10\.0\.0\.10/24 dev $name$"
	assert_line --regexp "^wgn: $name is up \(created, (kernel|userspace)\); hub 10\.0\.0\.1 answered"
	assert_line --regexp '^\[#\] POST https://127\.0\.0\.1:[0-9]+/api/v1/nodes/register '
	assert_line --partial "3 packets transmitted, 3 received, 0% packet loss"

	assert_line --regexp "^$name: healthy: handshake [0-9]+s ago, hub 10\.0\.0\.1 answered"
	assert_line --regexp "^\{\"status\":\"healthy\",\"interface\":\"$name\",\"connected\":true,\"can_ping_hub\":true,"
	assert_line --regexp "^WGN OK - $name healthy, handshake [0-9]+s ago \| "
	assert_line "wgn_health_status{interface=\"$name\",status=\"healthy\"} 1"
	assert_line "wgn_up{interface=\"$name\"} 1"

	# register --json: a node_id, the one the control plane then lists for this node.
	local reg node_id
	reg="$(grep '^{"attempts":' <<<"$output")" || fail "no register --json output"
	node_id="$(python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert j["success"]; print(j["node_id"])' "$reg")"
	[[ "$node_id" =~ ^[0-9a-f-]{36}$ ]] || fail "node_id: $node_id"
	assert_line "            \"node_id\": \"$node_id\","
	assert_line "            \"interface_name\": \"$name\","
	assert_line --regexp '^node# curl .* -H @/tmp/wgn-demo\.[A-Za-z0-9]+/auth\.header https://127\.0\.0\.1:[0-9]+/api/v1/nodes '

	assert_line "node# wgn -v down $name"
	assert_line "wgn: $name is down"
	assert_line "==> Done: every step succeeded"
	assert_line "removed wgn-demo-$DEMO_ID-hub, wgn-demo-$DEMO_ID-node and $DEMO_DIR"
	assert_demo_gone
}

@test "the demo never shows the token or a private key" {
	# A wgn that keeps a copy of the secrets before `down` (the sandbox goes with them).
	DEMO_WGN="$BATS_TEST_TMPDIR/wgn"
	cat >"$DEMO_WGN" <<'SH'
#!/bin/sh
for a; do
	[ "$a" != down ] || cp "$WGN_CONFIG_DIR"/token "$WGN_CONFIG_DIR"/*.key \
		"$WGN_CONFIG_DIR"/../hub/hub.key "$SECRETS/"
done
exec "$REAL_WGN" "$@"
SH
	chmod 755 "$DEMO_WGN"
	mkdir -m 700 "$BATS_TEST_TMPDIR/secrets"
	SECRETS="$BATS_TEST_TMPDIR/secrets" REAL_WGN="$WGN" run demo
	assert_success
	local f n=0
	for f in "$BATS_TEST_TMPDIR"/secrets/*; do
		[ -s "$f" ] || fail "empty secret $f"
		refute_output --partial "$(cat "$f")"
		n=$((n + 1))
	done
	[ "$n" -eq 3 ] || fail "expected the token and two private keys, got $n files"
	refute_output --partial "Bearer"
	assert_demo_gone
}

@test "a step that fails makes the demo fail, and it still cleans up" {
	# A wgn whose health check fails: the tunnel is up and the stack runs by then.
	DEMO_WGN="$BATS_TEST_TMPDIR/wgn"
	cat >"$DEMO_WGN" <<'SH'
#!/bin/sh
for a; do
	[ "$a" != health ] || { echo "fake: health fails" >&2; exit 2; }
done
exec "$REAL_WGN" "$@"
SH
	chmod 755 "$DEMO_WGN"
	REAL_WGN="$WGN" run demo
	assert_failure 2
	assert_line "fake: health fails"
	assert_line 'demo: FAILED during "wgn health, in each format (exit 0: healthy)" (exit 2)'
	refute_line --partial "Done"
	assert_line --regexp "^removed wgn-demo-[0-9a-f]{4}-hub, "
	assert_demo_gone
}

@test "SIGTERM during the demo: it stops and cleans up" {
	local log="$BATS_TEST_TMPDIR/demo.log"
	# A simple command, so that $! is the demo's own pid.
	WGN_DEMO_SKIP_BUILD=1 "$WGN_SOURCE_DIR/scripts/demo" >"$log" 2>&1 3>&- &
	local pid=$!
	local deadline=$((SECONDS + 120))
	until grep -q '^==> A ping through the tunnel' "$log"; do
		kill -0 "$pid" 2>/dev/null || fail "the demo ended early: $(cat "$log")"
		[ "$SECONDS" -lt "$deadline" ] || { kill -KILL "$pid"; fail "the demo hung: $(cat "$log")"; }
		sleep 0.1
	done
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	run cat "$log"
	[ "$rc" -eq 143 ] || fail "exit $rc, not 143: $output"
	assert_line --regexp "^removed wgn-demo-[0-9a-f]{4}-hub, "
	refute_line --partial "Done"
	assert_demo_gone
}
