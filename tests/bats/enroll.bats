#!/usr/bin/env bats
# `wgn enroll` against the real control plane (contrib/control-plane on a private
# PostgreSQL, started once for the file): the administrator makes a hub and enrollment
# tokens through the API, nodes enroll with them. The root tests put a wireguard-go hub
# and two nodes in network namespaces; each node reaches the control plane on its own
# loopback through tests/bats/nsforward.py. The hub's peers are set by the test from
# the control plane's nodes (as `wgn sync` will).

load test_helper
load cp_helper
load netns_helper

bats_require_minimum_version 1.5.0

setup_file() { cp_suite_start; }
teardown_file() { cp_stop_stack; }

setup() {
	cp_test_start
	export WGN_STATE_DIR="$BATS_TEST_TMPDIR/state" WGN_RUN_DIR="$BATS_TEST_TMPDIR/run"
	CONF_DIR="$BATS_TEST_TMPDIR/etc"
	mkdir -p "$CONF_DIR"
}

teardown() {
	local f
	for f in "$BATS_TEST_TMPDIR"/fwd-*.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	if [ -f "$BATS_TEST_TMPDIR/node2.ns" ]; then
		netns_kill_all "$(cat "$BATS_TEST_TMPDIR/node2.ns")"
		ip netns del "$(cat "$BATS_TEST_TMPDIR/node2.ns")" 2>/dev/null || true
		rm -f "$UAPI_DIR/$(cat "$BATS_TEST_TMPDIR/node2.if").sock"
	fi
	netns_teardown
}

# A hub key for tests without a hub in a namespace.
SOME_HUB=3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=

token_uses() { cp_sql "SELECT coalesce(sum(uses), 0) FROM enrollment_tokens"; }
node_count_is() { [ "$(cp_sql 'SELECT count(*) FROM nodes')" = "$1" ]; }

@test "enroll writes key, token and config from the answer; the node token registers" {
	make_hub "$SOME_HUB" hub.example.com:51820
	make_token "$BATS_TEST_TMPDIR/enroll.token" '{"max_uses": 1, "labels": {"site": "lab"}}'
	run --separate-stderr "$WGN" --config-dir "$CONF_DIR" enroll "$CP_URL" wg0 \
		--token-file "$BATS_TEST_TMPDIR/enroll.token" --label role=worker --json
	assert_success
	[ "$(json_field "$output" success)" = true ]
	node_id="$(json_field "$output" node_id)"
	[[ "$node_id" =~ ^[0-9a-f-]{36}$ ]]
	[ "$(json_field "$output" config_file)" = "$CONF_DIR/wg0.toml" ]
	# The lowest free addresses of the pools: the hub has 10.0.0.1.
	[ "$(json_field "$output" wireguard_address)" = '["10.0.0.2/24", "fd00::1/64"]' ]
	[ "$(stat -c %a "$CONF_DIR/wg0.key")" = 600 ]
	[ "$(stat -c %a "$CONF_DIR/wg0.token")" = 600 ]
	[ "$(stat -c %a "$CONF_DIR/wg0.toml")" = 644 ]
	[ ! -e "$CONF_DIR/wg0.enrolling" ]

	# The control plane has the public key of the key written here, the labels of both.
	pub="$(wg pubkey <"$CONF_DIR/wg0.key")"
	[ "$(json_field "$output" public_key)" = "$pub" ]
	run cp_sql "SELECT node_id, wireguard_public_key, wireguard_address, labels->>'role', labels->>'site' FROM nodes"
	assert_output "$node_id|$pub|{10.0.0.2/24,fd00::1/64}|worker|lab"
	[ "$(token_uses)" = 1 ]

	# The config is one wgn loads: up --dry-run reads it with its key.
	run "$WGN" --config-dir "$CONF_DIR" up --dry-run wg0
	assert_success
	assert_output --partial "private-key (hidden)"
	grep -qx "url = \"$CP_URL\"" "$CONF_DIR/wg0.toml"
	grep -qx "token_file = \"$CONF_DIR/wg0.token\"" "$CONF_DIR/wg0.toml"
	grep -qx 'endpoint = "hub.example.com:51820"' "$CONF_DIR/wg0.toml"
	grep -qx 'role = "worker"' "$CONF_DIR/wg0.toml"
	[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["node_id"])' "$WGN_STATE_DIR/wg0.json")" = "$node_id" ]

	# The node token is the node's own credential: register works with it, same node.
	run --separate-stderr "$WGN" --config-dir "$CONF_DIR" register wg0 --json
	assert_success
	[ "$(json_field "$output" node_id)" = "$node_id" ]
	[ "$(cp_sql 'SELECT count(*) FROM nodes')" = 1 ]
}

@test "refused tokens are 77: unknown, expired, used up, and other roles" {
	make_hub "$SOME_HUB"
	local t="$BATS_TEST_TMPDIR/t"
	enroll_with() {
		cp "$1" "$t" && chmod 600 "$t"
		run --separate-stderr "$WGN" --config-dir "$CONF_DIR/$2" enroll "$CP_URL" wg0 \
			--token-file "$t" --json
	}

	echo "wgn-enroll-not-a-token" >"$BATS_TEST_TMPDIR/unknown"
	enroll_with "$BATS_TEST_TMPDIR/unknown" a
	assert_failure 77
	[[ "$stderr" == *"refused the token (HTTP 401)"* ]]
	[ "$(json_field "$output" attempts)" = 1 ]

	make_token "$BATS_TEST_TMPDIR/expired" '{"max_uses": 5}'
	cp_sql "UPDATE enrollment_tokens SET expires_at = now() - interval '1 minute'"
	enroll_with "$BATS_TEST_TMPDIR/expired" b
	assert_failure 77
	[[ "$stderr" == *"expired"* ]]
	[ ! -e "$CONF_DIR/b/wg0.toml" ]

	make_token "$BATS_TEST_TMPDIR/once" '{"max_uses": 1}'
	enroll_with "$BATS_TEST_TMPDIR/once" c
	assert_success
	enroll_with "$BATS_TEST_TMPDIR/once" d
	assert_failure 77
	[[ "$stderr" == *"used up"* ]]
	[ ! -e "$CONF_DIR/d/wg0.toml" ]
	# --up changes none of it: refused, nothing written, nothing brought up.
	run --separate-stderr "$WGN" --config-dir "$CONF_DIR/d" enroll "$CP_URL" wg0 \
		--token-file "$t" --up --json
	assert_failure 77
	[ "$(json_field "$output" up)" = null ]
	if [ "$(id -u)" = 0 ]; then
		[[ "$stderr" == *"used up"* ]]
	else
		[[ "$stderr" == *"CAP_NET_ADMIN"* ]]
	fi
	[ ! -e "$CONF_DIR/d/wg0.toml" ]

	# The admin token, the shared registration token, a hub token and a node token are
	# not enrollment tokens.
	enroll_with "$CP_ADMIN_TOKEN_FILE" e
	assert_failure 77
	enroll_with "$CP_TOKEN_FILE" f
	assert_failure 77
	out="$(cp_admin POST /hubs '{"public_key":"HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=","endpoint":"hub2.example.com:51820","tunnel_address":"10.0.0.254"}')"
	(umask 077 && json_field "$out" hub_token >"$BATS_TEST_TMPDIR/hub.token")
	enroll_with "$BATS_TEST_TMPDIR/hub.token" g
	assert_failure 77
	enroll_with "$CONF_DIR/c/wg0.token" h
	assert_failure 77
	[[ "$stderr" != *"$(cat "$t")"* ]]
	for d in e f g h; do
		[ ! -e "$CONF_DIR/$d/wg0.toml" ] || fail "$d wrote a config"
	done
	[ "$(cp_sql 'SELECT count(*) FROM nodes')" = 1 ]
	[ "$(token_uses)" = 1 ]
}

@test "an existing config is kept without --force: 73, no request; --force is a new node" {
	make_hub "$SOME_HUB"
	make_token "$BATS_TEST_TMPDIR/enroll.token" '{"max_uses": 2}'
	echo "# mine" >"$CONF_DIR/wg0.toml"
	run "$WGN" --config-dir "$CONF_DIR" enroll "$CP_URL" wg0 --token-file "$BATS_TEST_TMPDIR/enroll.token"
	assert_failure 73
	assert_output "wgn: wg0: cannot enroll: $CONF_DIR/wg0.toml exists; wgn enroll replaces a config only with --force"
	[ "$(cat "$CONF_DIR/wg0.toml")" = "# mine" ]
	[ "$(ls "$CONF_DIR")" = wg0.toml ]
	[ "$(token_uses)" = 0 ]

	WGN_CONFIG_DIR="$CONF_DIR" run "$WGN" enroll "$CP_URL" wg0 \
		--token-file "$BATS_TEST_TMPDIR/enroll.token" --force
	assert_success
	assert_output --regexp "^wg0: enrolled as [0-9a-f-]{36} with $CP_URL: address 10.0.0.2/24, fd00::1/64; hub 192.0.2.1:51820; wrote $CONF_DIR/wg0.toml$"
	run "$WGN" --config-dir "$CONF_DIR" up --dry-run wg0
	assert_success
	[ "$(token_uses)" = 1 ]
}

@test "an answer lost after the control plane acted: the re-run is the same node" {
	make_hub "$SOME_HUB"
	make_token "$BATS_TEST_TMPDIR/enroll.token" '{"max_uses": 1}'
	# Through a proxy that passes the request on and swallows the answer: wgn waits
	# while the control plane enrolls, and is killed (a crash, a reboot, a lost link).
	local port ready="$BATS_TEST_TMPDIR/fwd-swallow.pid"
	port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
	python3 "$BATS_TEST_DIRNAME/nsforward.py" - "$port" "$CP_PORT" "$ready" --swallow \
		</dev/null >"$BATS_TEST_TMPDIR/fwd.log" 2>&1 3>&- &
	wait_for 10 test -s "$ready" || fail "nsforward did not start"
	"$WGN" --config-dir "$CONF_DIR" enroll "http://127.0.0.1:$port" wg0 \
		--token-file "$BATS_TEST_TMPDIR/enroll.token" >/dev/null 2>&1 3>&- &
	local pid=$!
	wait_for 10 node_count_is 1 || fail "no node enrolled"
	kill -KILL "$pid"
	wait "$pid" || true
	first="$(cp_sql 'SELECT node_id, wireguard_public_key, wireguard_address FROM nodes')"
	[ "$(token_uses)" = 1 ]
	[ "$(ls "$CONF_DIR")" = wg0.enrolling ]
	[ "$(stat -c %a "$CONF_DIR/wg0.enrolling")" = 600 ]

	# The same command again, straight to the control plane: the same key, so the same
	# idempotency key, node, address and token; the token used once.
	run --separate-stderr "$WGN" --config-dir "$CONF_DIR" enroll "$CP_URL" wg0 \
		--token-file "$BATS_TEST_TMPDIR/enroll.token" --json
	assert_success
	[ "$(cp_sql 'SELECT node_id, wireguard_public_key, wireguard_address FROM nodes')" = "$first" ]
	[ "$(json_field "$output" node_id)" = "${first%%|*}" ]
	[ "$(cp_sql 'SELECT wireguard_public_key FROM nodes')" = "$(wg pubkey <"$CONF_DIR/wg0.key")" ]
	[ "$(token_uses)" = 1 ]
	[ ! -e "$CONF_DIR/wg0.enrolling" ]
}

@test "no hub yet: 75; once there is one, the same command is the same node" {
	make_token "$BATS_TEST_TMPDIR/enroll.token"
	run --separate-stderr "$WGN" --config-dir "$CONF_DIR" enroll "$CP_URL" wg0 \
		--token-file "$BATS_TEST_TMPDIR/enroll.token"
	assert_failure 75
	[[ "$stderr" == *"knows no hub yet"* ]]
	[ "$(ls "$CONF_DIR")" = wg0.enrolling ]
	first="$(cp_sql 'SELECT node_id, wireguard_address FROM nodes')"
	[ -n "$first" ]

	# (10.0.0.1 is the node's now: nothing kept it for a hub.)
	make_hub "$SOME_HUB" hub.example.com:51820 10.0.0.254
	run --separate-stderr "$WGN" --config-dir "$CONF_DIR" enroll "$CP_URL" wg0 \
		--token-file "$BATS_TEST_TMPDIR/enroll.token"
	assert_success
	[ "$(cp_sql 'SELECT node_id, wireguard_address FROM nodes')" = "$first" ]
	[ "$(token_uses)" = 1 ]
	grep -qx "public_key = \"$SOME_HUB\"" "$CONF_DIR/wg0.toml"
}

@test "bad arguments: 64 for the URL and labels, 78 for an open token file" {
	make_token "$BATS_TEST_TMPDIR/enroll.token"
	run "$WGN" --config-dir "$CONF_DIR" enroll http://cp.example.com wg0 \
		--token-file "$BATS_TEST_TMPDIR/enroll.token"
	assert_failure 64
	assert_output --partial "plain http to a host that is not loopback"
	run "$WGN" --config-dir "$CONF_DIR" enroll "$CP_URL" wg0 \
		--token-file "$BATS_TEST_TMPDIR/enroll.token" --label 'bad key=1'
	assert_failure 64
	run "$WGN" --config-dir "$CONF_DIR" enroll "$CP_URL" wg0
	assert_failure 64
	assert_output --partial "--token-file is required"
	chmod 644 "$BATS_TEST_TMPDIR/enroll.token"
	run "$WGN" --config-dir "$CONF_DIR" enroll "$CP_URL" wg0 \
		--token-file "$BATS_TEST_TMPDIR/enroll.token"
	assert_failure 78
	assert_output --partial "readable by group or others"
	[ -z "$(ls "$CONF_DIR")" ]
	[ "$(token_uses)" = 0 ]
}

@test "https: the control plane's certificate is verified against --ca-file" {
	[ -n "${CP_TLS_URL:-}" ] || fail "the test stack has no TLS listener"
	make_hub "$SOME_HUB"
	make_token "$BATS_TEST_TMPDIR/enroll.token"
	run "$WGN" --config-dir "$CONF_DIR" enroll "$CP_TLS_URL" wg0 \
		--token-file "$BATS_TEST_TMPDIR/enroll.token"
	assert_failure 76
	assert_output --partial "not trusted"
	[ "$(token_uses)" = 0 ]
	run "$WGN" --config-dir "$CONF_DIR" enroll "$CP_TLS_URL" wg0 \
		--token-file "$BATS_TEST_TMPDIR/enroll.token" --ca-file "$CP_CA_FILE"
	assert_success
	grep -qx "ca_file = \"$CP_CA_FILE\"" "$CONF_DIR/wg0.toml"
	run "$WGN" --config-dir "$CONF_DIR" register wg0
	assert_success
}

# --- end to end, as root: a hub and two nodes in namespaces --------------------------

# A second node namespace on the hub's underlay: a bridge in the hub namespace joins
# both veth pairs (node 1 is 192.0.2.2, node 2 192.0.2.3, the hub 192.0.2.1).
node2_setup() {
	NODE2_NS="wgn-${NETNS_ID}-nd2"
	NODE2_IF="wgm${NETNS_ID}"
	echo "$NODE2_NS" >"$BATS_TEST_TMPDIR/node2.ns"
	echo "$NODE2_IF" >"$BATS_TEST_TMPDIR/node2.if"
	ip netns add "$NODE2_NS"
	ip -n "$NODE2_NS" link set lo up
	ip -n "$HUB_NS" link add br0 type bridge
	ip -n "$HUB_NS" address del 192.0.2.1/24 dev vh
	ip -n "$HUB_NS" link set vh master br0
	ip -n "$HUB_NS" address add 192.0.2.1/24 dev br0
	ip -n "$HUB_NS" link set br0 up
	ip -n "$HUB_NS" link add vh2 type veth peer name vn netns "$NODE2_NS"
	ip -n "$HUB_NS" link set vh2 master br0
	ip -n "$HUB_NS" link set vh2 up
	ip -n "$NODE2_NS" address add 192.0.2.3/24 dev vn
	ip -n "$NODE2_NS" link set vn up
	# The preset peer of netns_setup is not an enrolled node.
	ip netns exec "$HUB_NS" wg set "$HUB_IF" peer "$NODE_PUB" remove
}

# forward NS [PORT]: the control plane instance on PORT (default CP_PORT) on NS's
# loopback, same port (nsforward.py).
forward() {
	local ready="$BATS_TEST_TMPDIR/fwd-$1.pid" port="${2:-$CP_PORT}"
	python3 "$BATS_TEST_DIRNAME/nsforward.py" "$1" "$port" "$port" "$ready" \
		</dev/null >"$BATS_TEST_TMPDIR/fwd-$1.log" 2>&1 3>&- &
	wait_for 10 test -s "$ready" || fail "nsforward did not start: $(cat "$BATS_TEST_TMPDIR/fwd-$1.log")"
}

# Admits every live node of the control plane on the hub: its key, its addresses as
# host routes. What `wgn sync` will do; idempotent.
hub_admit() {
	local pub addrs a allowed
	while IFS='|' read -r pub addrs; do
		[ -n "$pub" ] || continue
		allowed=
		for a in $(tr -d '{}' <<<"$addrs" | tr , ' '); do
			a="${a%/*}"
			if [[ $a == *:* ]]; then a="$a/128"; else a="$a/32"; fi
			allowed="${allowed:+$allowed,}$a"
		done
		ip netns exec "$HUB_NS" wg set "$HUB_IF" peer "$pub" allowed-ips "$allowed"
	done < <(cp_sql 'SELECT wireguard_public_key, wireguard_address FROM nodes WHERE NOT deleted')
}

# wgn_in NS CONF_DIR ARGS...: wgn in namespace NS with its own directories.
wgn_in() {
	local ns="$1" dir="$2"
	shift 2
	ip netns exec "$ns" env WGN_RUN_DIR="$dir/run" WGN_STATE_DIR="$dir/state" \
		WGN_CONFIG_DIR="$dir/etc" "$WGN" "$@"
}

# enroll_up_bg NS DIR IFNAME URL: `wgn enroll URL IFNAME --up --json` in NS, in the
# background (its pid in $!), output in DIR/out and DIR/err.
enroll_up_bg() {
	wgn_in "$1" "$2" enroll "$4" "$3" --token-file "$BATS_TEST_TMPDIR/enroll.token" \
		--up --json >"$2/out" 2>"$2/err" 3>&- &
}

# The hub admits nodes as they appear, as `wgn sync --watch` will; until N are there.
admit_until() {
	wait_for 30 node_count_is "$1" || return 1
	hub_admit
}

@test "two nodes enroll --up through two control-plane instances and ping the hub" {
	netns_setup
	node2_setup
	"$CP_SCRIPT" start-app "$CP_DIR" 2
	cp_load_env
	local port2
	port2="$(. "$CP_DIR/env" && echo "$CP_PORT_2")"
	[ -n "$port2" ] && [ "$port2" != "$CP_PORT" ]
	forward "$NODE_NS"
	forward "$NODE2_NS" "$port2"
	make_hub "$HUB_PUB"
	make_token "$BATS_TEST_TMPDIR/enroll.token" '{"max_uses": 2}'
	local n1="$BATS_TEST_TMPDIR/n1" n2="$BATS_TEST_TMPDIR/n2"
	mkdir -p "$n1/etc" "$n2/etc"

	# Both at once, each in its namespace, each to its own instance; each brings its
	# tunnel up right after, and its verification retries until the hub admits it.
	enroll_up_bg "$NODE_NS" "$n1" "$NODE_IF" "http://127.0.0.1:$CP_PORT"
	local p1=$!
	enroll_up_bg "$NODE2_NS" "$n2" "$NODE2_IF" "http://127.0.0.1:$port2"
	local p2=$!
	admit_until 2 || fail "the nodes did not enroll: $(cat "$n1/err" "$n2/err")"
	local s1=0 s2=0
	wait "$p1" || s1=$?
	wait "$p2" || s2=$?
	[ "$s1" = 0 ] || fail "node 1: exit $s1: $(cat "$n1/out" "$n1/err")"
	[ "$s2" = 0 ] || fail "node 2: exit $s2: $(cat "$n2/out" "$n2/err")"
	[ "$(cp_sql 'SELECT count(DISTINCT wireguard_address) FROM nodes')" = 2 ]
	[ "$(token_uses)" = 2 ]

	local n up a
	for n in "$n1" "$n2"; do
		[ "$(json_field "$(cat "$n/out")" success)" = true ]
		up="$(json_field "$(cat "$n/out")" up)"
		[ "$(json_field "$up" success)" = true ]
		[ "$(json_field "$up" change)" = created ]
		[ "$(json_field "$up" registered)" = true ]
		[ "$(json_field "$up" node_id)" = "$(json_field "$(cat "$n/out")" node_id)" ]
		grep -q "is up (created" "$n/err" || fail "no up line: $(cat "$n/err")"
	done
	ip netns exec "$NODE_NS" ping -c 1 -W 2 10.0.0.1
	ip netns exec "$NODE2_NS" ping -c 1 -W 2 10.0.0.1
	for n in "$n1" "$n2"; do
		a="$(json_field "$(cat "$n/out")" wireguard_address | python3 -c 'import json,sys; print(json.load(sys.stdin)[0].split("/")[0])')"
		ip netns exec "$HUB_NS" ping -c 1 -W 2 "$a"
	done
	run wgn_in "$NODE2_NS" "$n2" health "$NODE2_IF"
	assert_success
	# up registered each node with its node token: the same two nodes, now with the
	# hub they use.
	run cp_sql 'SELECT DISTINCT hub_endpoint FROM nodes'
	assert_output "192.0.2.1:51820"
	[ "$(cp_sql 'SELECT count(*) FROM nodes')" = 2 ]
	"$CP_SCRIPT" stop-app "$CP_DIR" 2
}

@test "enroll --up whose up fails: the node stays enrolled, the files stay, wgn up later" {
	netns_setup
	forward "$NODE_NS"
	ip netns exec "$HUB_NS" wg set "$HUB_IF" peer "$NODE_PUB" remove
	make_hub "$HUB_PUB"
	make_token "$BATS_TEST_TMPDIR/enroll.token"
	local n="$BATS_TEST_TMPDIR/n1"
	mkdir -p "$n/etc"
	# A link of another kind (a bridge) has the name: up fails at once (71), after enrolling.
	ip -n "$NODE_NS" link add "$NODE_IF" type bridge
	run --separate-stderr wgn_in "$NODE_NS" "$n" enroll "http://127.0.0.1:$CP_PORT" "$NODE_IF" \
		--token-file "$BATS_TEST_TMPDIR/enroll.token" --up
	assert_failure 71
	assert_output --regexp "^$NODE_IF: enrolled as [0-9a-f-]{36} with "
	node_id="$(cp_sql 'SELECT node_id FROM nodes')"
	[ "$(tail -n 1 <<<"$stderr")" = "wgn: $NODE_IF: enrolled as $node_id; its files stay: run \`wgn up $NODE_IF' once the cause is fixed" ]
	[ -f "$n/etc/$NODE_IF.toml" ] && [ -f "$n/etc/$NODE_IF.key" ] && [ -f "$n/etc/$NODE_IF.token" ]
	[ "$(ip -n "$NODE_NS" -d link show "$NODE_IF" | grep -c bridge)" -ge 1 ]

	# The administrator fixes the cause and runs up: the same node, now up and registered.
	ip -n "$NODE_NS" link del "$NODE_IF"
	hub_admit
	run wgn_in "$NODE_NS" "$n" up "$NODE_IF"
	assert_success
	ip netns exec "$NODE_NS" ping -c 1 -W 2 10.0.0.1
	[ "$(cp_sql 'SELECT node_id, hub_endpoint FROM nodes')" = "$node_id|192.0.2.1:51820" ]
	[ "$(token_uses)" = 1 ]
}

@test "enroll --up without CAP_NET_ADMIN: 77 before any request, the token unspent" {
	requires_root
	requires_cmd setpriv
	make_hub "$SOME_HUB"
	make_token "$BATS_TEST_TMPDIR/enroll.token"
	run setpriv --bounding-set -net_admin --inh-caps -all -- \
		"$WGN" --config-dir "$CONF_DIR" enroll "$CP_URL" wg0 \
		--token-file "$BATS_TEST_TMPDIR/enroll.token" --up
	assert_failure 77
	assert_output --partial "CAP_NET_ADMIN"
	[ -z "$(ls "$CONF_DIR")" ]
	[ "$(token_uses)" = 0 ]
	node_count_is 0
}

@test "the private key is in no argv, environment or output, and never leaves the node" {
	requires_cmd strace pg_dump
	netns_setup
	forward "$NODE_NS"
	ip netns exec "$HUB_NS" wg set "$HUB_IF" peer "$NODE_PUB" remove
	make_hub "$HUB_PUB"
	make_token "$BATS_TEST_TMPDIR/enroll.token"
	local n="$BATS_TEST_TMPDIR/n1"
	mkdir -p "$n/etc"
	# enroll, then up (which starts wireguard-go: an execve a leak would show in).
	# strace -f follows the daemon, which outlives up: once wgn has exited (its shell
	# writes the status), stopping strace detaches it and flushes the trace.
	traced() {
		local what="$1" spid
		strace -I 1 -f -v -s 65535 -e trace=execve -o "$n/trace.$what" \
			sh -c 'd="$1"; w="$2"; shift 2; ip netns exec "$NODE_NS" env WGN_RUN_DIR="$d/run" \
				WGN_STATE_DIR="$d/state" WGN_CONFIG_DIR="$d/etc" "$WGN" -v "$w" "$@" \
				>"$d/out.$w" 2>"$d/err.$w"; echo $? >"$d/rc.$w"' sh "$n" "$@" 3>&- &
		spid=$!
		wait_for 60 test -s "$n/rc.$what" || fail "$what did not finish: $(cat "$n/err.$what")"
		kill -TERM "$spid" 2>/dev/null || true
		wait "$spid" || true
		[ "$(cat "$n/rc.$what")" = 0 ] || fail "$what failed: $(cat "$n/out.$what" "$n/err.$what")"
	}
	traced enroll "http://127.0.0.1:$CP_PORT" "$NODE_IF" \
		--token-file "$BATS_TEST_TMPDIR/enroll.token" --json
	hub_admit
	traced up "$NODE_IF" --json

	local priv pub token enroll_token hex
	priv="$(cat "$n/etc/$NODE_IF.key")"
	pub="$(wg pubkey <"$n/etc/$NODE_IF.key")"
	token="$(cat "$n/etc/$NODE_IF.token")"
	enroll_token="$(cat "$BATS_TEST_TMPDIR/enroll.token")"
	[ ${#priv} = 44 ]
	hex="$(base64 -d <<<"$priv" | od -An -tx1 | tr -d ' \n')"
	[ ${#hex} = 64 ]
	grep -q "execve(\"$WGN\"" "$n/trace.enroll"
	grep -q 'execve("[^"]*wireguard-go"' "$n/trace.up" || fail "no wireguard-go in the trace"
	! grep -qiF -- "$hex" "$n"/trace.* || fail "the hex private key is in an execve"
	for secret in "$priv" "$token" "$enroll_token"; do
		! grep -qF -- "$secret" "$n"/trace.* "$n"/out.* "$n"/err.* || fail "a secret leaked"
		! grep -rqF -- "$secret" "$n/state" "$n/run" || fail "a secret is in a state file"
	done
	! grep -qF -- "$priv" "$n/etc/$NODE_IF.toml" || fail "the key is in the config"
	ip netns exec "$NODE_NS" ping -c 1 -W 2 10.0.0.1

	# The control plane's databases (its own and DBOS's) hold the public key only.
	pg_dump -d wgn_cp >"$BATS_TEST_TMPDIR/cp.sql"
	pg_dump -d "$CP_SYS_DATABASE" >"$BATS_TEST_TMPDIR/sys.sql"
	grep -qF -- "$pub" "$BATS_TEST_TMPDIR/cp.sql"
	! grep -qF -- "$priv" "$BATS_TEST_TMPDIR/cp.sql" "$BATS_TEST_TMPDIR/sys.sql" ||
		fail "the control plane's databases hold $priv"
	! grep -qF -- "$token" "$BATS_TEST_TMPDIR/cp.sql" "$BATS_TEST_TMPDIR/sys.sql" ||
		fail "the control plane's databases hold $token"
	! grep -qF -- "$enroll_token" "$BATS_TEST_TMPDIR/cp.sql" "$BATS_TEST_TMPDIR/sys.sql" ||
		fail "the control plane's databases hold $enroll_token"
}

@test "enroll killed with SIGKILL at each write: the same command again is the same node" {
	requires_cmd strace
	make_hub "$SOME_HUB"
	local n steps=0 rc dir tok nodes=0 pub
	# strace injects SIGKILL at the Nth write(2) of enroll -v: before the request, while
	# its key is pending in NAME.enrolling, after the control plane answered, and inside
	# each file it writes. Each N is its own enrollment, with its own token and directory.
	for n in $(seq 1 60); do
		dir="$BATS_TEST_TMPDIR/k$n" tok="$BATS_TEST_TMPDIR/k$n.token"
		mkdir -p "$dir"
		make_token "$tok" '{"max_uses": 1}'
		rc=0
		strace -o /dev/null -e trace=write -e inject=write:signal=SIGKILL:when="$n" \
			"$WGN" -v --config-dir "$dir" enroll "$CP_URL" wg0 --token-file "$tok" \
			>"$BATS_TEST_TMPDIR/k$n.out" 2>&1 </dev/null || rc=$?
		if [ "$rc" -ne 137 ]; then
			[ "$rc" -eq 0 ] || fail "enroll at N=$n exited $rc: $(cat "$BATS_TEST_TMPDIR/k$n.out")"
			break
		fi
		steps=$n
		run --separate-stderr "$WGN" --config-dir "$dir" enroll "$CP_URL" wg0 \
			--token-file "$tok" --json
		if [ -e "$dir/wg0.toml" ] && [ ! -e "$dir/wg0.enrolling" ] &&
			[ "$status" -eq 73 ]; then
			# Killed after it finished (printing its last line): a complete node, kept.
			run cp_sql "SELECT node_id FROM nodes WHERE wireguard_public_key = '$(wg pubkey <"$dir/wg0.key")'"
			output="{\"node_id\":\"$output\"}"
		else
			[ "$status" -eq 0 ] || fail "enroll again after a kill at write $n: $status $stderr"
		fi
		nodes=$((nodes + 1))
		# One node per enrollment, whatever the moment of the kill; its token used once.
		node_count_is "$nodes" || fail "after a kill at write $n: $(cp_sql 'SELECT count(*) FROM nodes') nodes, not $nodes"
		[ "$(token_uses)" = "$nodes" ] || fail "after a kill at write $n: tokens used $(token_uses) times"
		pub="$(wg pubkey <"$dir/wg0.key")"
		[ "$(cp_sql "SELECT wireguard_public_key FROM nodes WHERE node_id = '$(json_field "$output" node_id)'")" = "$pub" ] ||
			fail "after a kill at write $n: the key file is not the node's key"
		[ "$(stat -c %a "$dir/wg0.key")" = 600 ]
		# Nothing pending, no temp file: the config, its key and its token.
		[ "$(ls "$dir" | tr '\n' ' ')" = "wg0.key wg0.token wg0.toml " ] ||
			fail "after a kill at write $n, left in the directory: $(ls "$dir")"
	done
	[ "$steps" -ge 4 ] || fail "enroll was stopped at only $steps writes: $(cat "$BATS_TEST_TMPDIR/k$n.out")"
}
