#!/usr/bin/env bats
# `wgn register` against the real control plane: the DBOS app of contrib/control-plane
# on a private PostgreSQL, both started here. Rows and workflows are checked with psql.
# The `wgn up` tests (root) run a second stack inside the node's network namespace,
# whose loopback is the only one wgn sees there.

load test_helper
load cp_helper
load netns_helper

bats_require_minimum_version 1.5.0

setup_file() { cp_suite_start; }
teardown_file() { cp_stop_stack; }

setup() {
	cp_test_start nodes
	export WGN_STATE_DIR="$BATS_TEST_TMPDIR/state" WGN_RUN_DIR="$BATS_TEST_TMPDIR/run"
}

teardown() {
	if [ -n "${FAULT_MNT:-}" ]; then
		umount "$FAULT_MNT" 2>/dev/null || true
	fi
	if [ -f "$BATS_TEST_TMPDIR/node-cp.dir" ]; then
		node "$CP_SCRIPT" stop "$(cat "$BATS_TEST_TMPDIR/node-cp.dir")" || true
	fi
	netns_teardown
}

# A hub and a node (netns_helper), and a control plane on the node's loopback.
up_setup() {
	netns_setup
	NODE_CP_DIR="$(mktemp -d /tmp/wgn-cp-node.XXXXXX)"
	rmdir "$NODE_CP_DIR"
	echo "$NODE_CP_DIR" >"$BATS_TEST_TMPDIR/node-cp.dir"
	node "$CP_SCRIPT" start "$NODE_CP_DIR"
	install -m 600 "$NODE_CP_DIR/token" "$NODE_CONF_DIR/token"
	node_write_config '[control_plane]' \
		"url = \"$(. "$NODE_CP_DIR/env" && echo "$CP_URL")\"" \
		"token_file = \"$NODE_CONF_DIR/token\"" 'max_retries = 1'
}

# node_sql QUERY: psql against the node namespace's stack.
node_sql() {
	(. "$NODE_CP_DIR/env" && node psql -X -Atq -v ON_ERROR_STOP=1 -c "$1")
}

# The idempotency key of the last registration of NAME, from its state file.
state_field() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
		"$WGN_STATE_DIR/$1.json" "$2"
}

json_field() {
	python3 -c 'import json,sys; v=json.loads(sys.argv[1])[sys.argv[2]]; print(json.dumps(v) if not isinstance(v, str) else v)' "$1" "$2"
}

@test "a first registration creates one row and saves the node_id" {
	cp_write_config wg0
	run --separate-stderr "$WGN" --config-dir "$CONF_DIR" register wg0 --json
	assert_success
	[ "$(json_field "$output" success)" = true ]
	[ "$(json_field "$output" interface)" = wg0 ]
	[ "$(json_field "$output" attempts)" = 1 ]
	[ "$(json_field "$output" connected_at)" = null ]
	node_id="$(json_field "$output" node_id)"
	[[ "$node_id" =~ ^[0-9a-f-]{36}$ ]]
	[ -n "$(json_field "$output" registered_at)" ]

	[ "$(cp_sql 'SELECT count(*) FROM nodes')" = 1 ]
	run cp_sql "SELECT node_id, hostname, interface_name, wireguard_address, hub_endpoint FROM nodes"
	assert_output "$node_id|$(hostname)|wg0|{10.0.0.10/24,fd00::10/64}|hub.example.com:51820"
	[ "$(cp_sql "SELECT wireguard_public_key FROM nodes")" = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=" ]

	[ "$(state_field wg0 node_id)" = "$node_id" ]
	[ "$(state_field wg0 control_plane_url)" = "$CP_URL" ]
	[ "$(stat -c %a "$WGN_STATE_DIR/wg0.json")" = 644 ]
	# The workflow ID is the idempotency key, and it ran to completion once.
	key="$(state_field wg0 idempotency_key)"
	[ "$(cp_sys_sql "SELECT status FROM dbos.workflow_status WHERE workflow_uuid = '$key'")" = SUCCESS ]
}

@test "a retry with the same content is one row and one workflow" {
	cp_write_config wg0
	run "$WGN" --config-dir "$CONF_DIR" register wg0
	assert_success
	assert_output --regexp '^wg0: registered as [0-9a-f-]{36} with http://127\.0\.0\.1:[0-9]+$'
	first="$(state_field wg0 node_id)"
	key="$(state_field wg0 idempotency_key)"
	before="$(cp_sys_sql 'SELECT count(*) FROM dbos.workflow_status')"
	# The same registration again, and again without the known node_id (a lost state
	# file): the key is the same, so DBOS answers from the recorded workflow.
	run "$WGN" --config-dir "$CONF_DIR" register wg0
	assert_success
	rm "$WGN_STATE_DIR/wg0.json"
	run "$WGN" --config-dir "$CONF_DIR" register wg0
	assert_success
	[ "$(state_field wg0 node_id)" = "$first" ]
	[ "$(state_field wg0 idempotency_key)" = "$key" ]
	[ "$(cp_sql 'SELECT count(*) FROM nodes')" = 1 ]
	[ "$(cp_sys_sql "SELECT count(*) FROM dbos.workflow_status WHERE workflow_uuid = '$key'")" = 1 ]
	[ "$(cp_sys_sql 'SELECT count(*) FROM dbos.workflow_status')" = "$before" ]
}

@test "a changed address updates the row and keeps the node_id" {
	cp_write_config wg0
	run "$WGN" --config-dir "$CONF_DIR" register wg0
	assert_success
	first="$(state_field wg0 node_id)"
	key1="$(state_field wg0 idempotency_key)"
	sed -i 's#^address = .*#address = ["10.0.0.77/24"]#' "$CONF_DIR/wg0.toml"
	run --separate-stderr "$WGN" --config-dir "$CONF_DIR" register wg0 --json
	assert_success
	[ "$(json_field "$output" node_id)" = "$first" ]
	key2="$(state_field wg0 idempotency_key)"
	[ "$key1" != "$key2" ]
	[ "$(cp_sql 'SELECT count(*) FROM nodes')" = 1 ]
	[ "$(cp_sql 'SELECT node_id, wireguard_address FROM nodes')" = "$first|{10.0.0.77/24}" ]
	[ "$(cp_sys_sql "SELECT count(*) FROM dbos.workflow_status WHERE workflow_uuid IN ('$key1', '$key2') AND status = 'SUCCESS'")" = 2 ]
}

@test "operators see the node through the API" {
	cp_write_config wg0
	run "$WGN" --config-dir "$CONF_DIR" register wg0
	assert_success
	node_id="$(state_field wg0 node_id)"
	# Reading the fleet is the admin token's work; the shared registration token
	# registers and nothing else.
	printf 'Authorization: Bearer %s\n' "$(cat "$CP_ADMIN_TOKEN_FILE")" >"$BATS_TEST_TMPDIR/auth"
	run curl -fsS -H @"$BATS_TEST_TMPDIR/auth" "$CP_URL/api/v1/nodes/$node_id"
	assert_success
	[ "$(json_field "$output" interface_name)" = wg0 ]
	run curl -fsS -H @"$BATS_TEST_TMPDIR/auth" "$CP_URL/api/v1/nodes"
	assert_success
	assert_output --partial "\"node_id\":\"$node_id\""
	run curl -sS -o /dev/null -w '%{http_code}' "$CP_URL/api/v1/nodes"
	assert_output 401
	printf 'Authorization: Bearer %s\n' "$(cat "$CP_TEST_TOKEN")" >"$BATS_TEST_TMPDIR/auth"
	run curl -sS -o /dev/null -w '%{http_code}' -H @"$BATS_TEST_TMPDIR/auth" "$CP_URL/api/v1/nodes"
	assert_output 403
}

@test "data the control plane rejects is 65, not retried" {
	CP_LABEL_LINES="note = \"$(printf 'x%.0s' $(seq 300))\"" cp_write_config wg0
	run --separate-stderr "$WGN" --config-dir "$CONF_DIR" register wg0
	assert_failure 65
	[[ "$stderr" == *"rejected the registration (HTTP 422): label note is longer than 255 characters"* ]]
	[[ "$stderr" != *retrying* ]]
	[ "$(cp_sql 'SELECT count(*) FROM nodes')" = 0 ]
}

@test "the app answers 400 for a malformed body and 422 for invalid values" {
	printf 'Authorization: Bearer %s\ndbos-idempotency-key: %s\nContent-Type: application/json\n' \
		"$(cat "$CP_TOKEN_FILE")" "test-$RANDOM$RANDOM" >"$BATS_TEST_TMPDIR/h"
	post() {
		curl -sS -o /dev/null -w '%{http_code}' -H @"$BATS_TEST_TMPDIR/h" \
			--data-binary "$1" "$CP_URL/api/v1/nodes/register"
	}
	local good='"hostname":"h","wireguard_public_key":"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=","interface_name":"wg0","hub_endpoint":"hub:51820"'
	[ "$(post '{bad json')" = 400 ]
	[ "$(post '[1,2]')" = 400 ]
	[ "$(post "{$good}")" = 400 ]
	[ "$(post "{$good,\"wireguard_address\":\"10.0.0.1/24\"}")" = 400 ]
	[ "$(post "{$good,\"wireguard_address\":[\"10.0.0.1/33\"]}")" = 422 ]
	[ "$(post "{$good,\"wireguard_address\":[\"10.0.0.1/24\"],\"node_id\":\"nope\"}")" = 422 ]
	[ "$(post "{${good/hSDw/hSD},\"wireguard_address\":[\"10.0.0.1/24\"]}")" = 422 ]
	# Without the idempotency key there is no workflow ID: refused.
	sed -i '/dbos-idempotency-key/d' "$BATS_TEST_TMPDIR/h"
	[ "$(post "{$good,\"wireguard_address\":[\"10.0.0.1/24\"]}")" = 400 ]
	[ "$(cp_sql 'SELECT count(*) FROM nodes')" = 0 ]
}

@test "https: the certificate is verified against ca_file" {
	CP_CONFIG_URL="$CP_TLS_URL" cp_write_config wg0 "ca_file = \"$CP_CA_FILE\""
	run "$WGN" --config-dir "$CONF_DIR" register wg0
	assert_success
	assert_output --partial "with $CP_TLS_URL"
	[ "$(cp_sql 'SELECT count(*) FROM nodes')" = 1 ]
}

@test "https: a certificate the system does not trust is 76, not retried" {
	CP_CONFIG_URL="$CP_TLS_URL" cp_write_config wg0
	run "$WGN" --config-dir "$CONF_DIR" register wg0
	assert_failure 76
	assert_output --partial "TLS certificate of $CP_TLS_URL/api/v1/nodes/register not trusted"
	refute_output --partial "retrying"
	[ "$(cp_sql 'SELECT count(*) FROM nodes')" = 0 ]
	# A CA that did not sign it is no better.
	cp /etc/ssl/certs/ca-certificates.crt "$CONF_DIR/other-ca.pem" 2>/dev/null ||
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
			-subj /CN=other -keyout "$CONF_DIR/other.key" -out "$CONF_DIR/other-ca.pem" 2>/dev/null
	CP_CONFIG_URL="$CP_TLS_URL" cp_write_config wg0 "ca_file = \"$CONF_DIR/other-ca.pem\""
	run "$WGN" --config-dir "$CONF_DIR" register wg0
	assert_failure 76
}

@test "a wrong token is refused: 77, no row, no state" {
	cp_write_config wg0
	echo not-the-token >"$CP_TEST_TOKEN"
	run --separate-stderr "$WGN" --config-dir "$CONF_DIR" register wg0 --json
	assert_failure 77
	[ "$(json_field "$output" success)" = false ]
	[ "$(json_field "$output" attempts)" = 1 ]
	[[ "$stderr" == *"refused the token (HTTP 401)"* ]]
	[[ "$stderr" != *not-the-token* ]]
	[ "$(cp_sql 'SELECT count(*) FROM nodes')" = 0 ]
	[ ! -e "$WGN_STATE_DIR/wg0.json" ]
}

@test "a token file readable by others is refused before any request: 78" {
	cp_write_config wg0
	chmod 644 "$CP_TEST_TOKEN"
	run "$WGN" --config-dir "$CONF_DIR" register wg0
	assert_failure 78
	assert_output --partial "readable by group or others"
	rm "$CP_TEST_TOKEN"
	run "$WGN" --config-dir "$CONF_DIR" register wg0
	assert_failure 78
	[ "$(cp_sql 'SELECT count(*) FROM nodes')" = 0 ]
}

@test "register without [control_plane] is a configuration error: 78" {
	make_config_dir
	write_config wg0
	run "$WGN" --config-dir "$CONF_DIR" register wg0
	assert_failure 78
	assert_output --partial "no [control_plane]"
}

@test "a URL the app does not serve is outside the protocol: 76, no retry" {
	CP_CONFIG_URL="$CP_URL/elsewhere" cp_write_config wg0
	run "$WGN" --config-dir "$CONF_DIR" register wg0
	assert_failure 76
	assert_output --partial "HTTP 404"
	refute_output --partial "retrying"
}

@test "the app stopped: 75 after the retries, one line per failed attempt" {
	cp_write_config wg0
	cp_stop_app
	run --separate-stderr "$WGN" --config-dir "$CONF_DIR" register wg0 --json
	assert_failure 75
	[ "$(json_field "$output" attempts)" = 3 ]
	[ "$(grep -c 'registration attempt [12]/3 failed: .*; retrying in 0\.[0-9]s' <<<"$stderr")" = 2 ]
	[[ "$stderr" == *"unavailable after 3 attempts"* ]]
	[ ! -e "$WGN_STATE_DIR/wg0.json" ]
	cp_start_app
}

@test "the app started while wgn is still retrying: 0, and the row is there" {
	CP_RETRIES=40 cp_write_config wg0
	cp_stop_app
	"$WGN" --config-dir "$CONF_DIR" register wg0 --json \
		>"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	pid=$!
	for _ in $(seq 1 100); do
		grep -q 'attempt 2/41 failed' "$BATS_TEST_TMPDIR/err" && break
		sleep 0.1
	done
	grep -q 'attempt 2/41 failed' "$BATS_TEST_TMPDIR/err"
	cp_start_app
	rc=0
	wait "$pid" || rc=$?
	cat "$BATS_TEST_TMPDIR/err"
	[ "$rc" = 0 ]
	out="$(cat "$BATS_TEST_TMPDIR/out")"
	[ "$(json_field "$out" success)" = true ]
	[ "$(json_field "$out" attempts)" -ge 3 ]
	node_id="$(json_field "$out" node_id)"
	[ "$(cp_sql "SELECT count(*) FROM nodes WHERE node_id = '$node_id'")" = 1 ]
}

@test "the token is in no argv, environment, output or state" {
	requires_cmd strace
	cp_write_config wg0
	token="$(cat "$CP_TEST_TOKEN")"
	run strace -f -qq -v -s 4096 -e trace=execve -o "$BATS_TEST_TMPDIR/trace" \
		"$WGN" -v --config-dir "$CONF_DIR" register wg0 --json
	assert_success
	grep -q 'execve(' "$BATS_TEST_TMPDIR/trace"
	run grep -F -- "$token" "$BATS_TEST_TMPDIR/trace"
	assert_failure
	run "$WGN" -v --config-dir "$CONF_DIR" register wg0 --json
	assert_success
	refute_output --partial "$token"
	run grep -rF -- "$token" "$WGN_STATE_DIR"
	assert_failure
}

@test "wgn up registers after a verified tunnel, once per content" {
	up_setup
	run --separate-stderr node_wgn up "$NODE_IF" --json
	assert_success
	[ "$(json_field "$output" success)" = true ]
	[ "$(json_field "$output" registered)" = true ]
	node_id="$(json_field "$output" node_id)"
	[[ "$node_id" =~ ^[0-9a-f-]{36}$ ]]
	[ "$(node_sql "SELECT node_id FROM nodes WHERE wireguard_public_key = '$NODE_PUB'")" = "$node_id" ]
	[ "$(state_field "$NODE_IF" node_id)" = "$node_id" ]

	# Already up and registered: nothing to do, and the JSON still names the node.
	run --separate-stderr node_wgn up "$NODE_IF" --json
	assert_success
	[ "$(json_field "$output" change)" = unchanged ]
	[ "$(json_field "$output" registered)" = false ]
	[ "$(json_field "$output" node_id)" = "$node_id" ]
	[ "$(node_sql 'SELECT count(*) FROM nodes')" = 1 ]

	run node_wgn down "$NODE_IF"
	assert_success
}

@test "wgn up --no-register does not register; a failed registration keeps the tunnel" {
	up_setup
	run --separate-stderr node_wgn up "$NODE_IF" --no-register --json
	assert_success
	[ "$(json_field "$output" node_id)" = null ]
	[ "$(json_field "$output" registered)" = false ]
	[ "$(node_sql 'SELECT count(*) FROM nodes')" = 0 ]
	[ ! -e "$WGN_STATE_DIR/$NODE_IF.json" ]
	run node_wgn down "$NODE_IF"
	assert_success

	# The control plane down: the verified tunnel stays up, and up says so and exits 75.
	node "$CP_SCRIPT" stop-app "$NODE_CP_DIR"
	run --separate-stderr node_wgn up "$NODE_IF"
	assert_failure 75
	[[ "$stderr" == *"$NODE_IF: tunnel up; registration failed: "*"; run wgn register"* ]]
	run node ping -c 1 -W 2 10.0.0.1
	assert_success
	[ "$(node_sql 'SELECT count(*) FROM nodes')" = 0 ]

	# Up again once the control plane is back: the tunnel is unchanged, but its
	# content was never registered, so up registers it now.
	node "$CP_SCRIPT" start-app "$NODE_CP_DIR"
	run --separate-stderr node_wgn up "$NODE_IF" --json
	assert_success
	[ "$(json_field "$output" change)" = unchanged ]
	[ "$(json_field "$output" registered)" = true ]
	[ "$(node_sql 'SELECT count(*) FROM nodes')" = 1 ]
	run node_wgn down "$NODE_IF"
	assert_success
}

@test "register killed with SIGKILL at each write: register again is one row, a whole state" {
	requires_cmd strace
	cp_write_config wg0
	local n steps=0 rc first=""
	# strace injects SIGKILL at the Nth write(2) of register -v: before the request,
	# after the answer, inside the state file's write. Each N starts without a state file.
	for n in $(seq 1 40); do
		rm -f "$WGN_STATE_DIR/wg0.json"
		rc=0
		strace -o /dev/null -e trace=write -e inject=write:signal=SIGKILL:when="$n" \
			"$WGN" -v --config-dir "$CONF_DIR" register wg0 \
			>"$BATS_TEST_TMPDIR/k$n.out" 2>&1 </dev/null || rc=$?
		if [ "$rc" -ne 137 ]; then
			[ "$rc" -eq 0 ] || fail "register at N=$n exited $rc: $(cat "$BATS_TEST_TMPDIR/k$n.out")"
			break
		fi
		steps=$n
		# A killed writer leaves no torn state: none, or a whole one.
		if [ -e "$WGN_STATE_DIR/wg0.json" ]; then
			state_field wg0 node_id >/dev/null || fail "a torn state after a kill at write $n"
		fi
		run "$WGN" --config-dir "$CONF_DIR" register wg0
		[ "$status" -eq 0 ] || fail "register again after a kill at write $n: $status $output"
		[ -n "$first" ] || first="$(state_field wg0 node_id)"
		[ "$(state_field wg0 node_id)" = "$first" ]
		[ "$(cp_sql 'SELECT count(*) FROM nodes')" = 1 ]
		[ -z "$(find "$WGN_STATE_DIR" -name '*.tmp-*')" ] ||
			fail "a temp file left after a kill at write $n: $(ls "$WGN_STATE_DIR")"
	done
	[ "$steps" -ge 2 ] || fail "register was stopped at only $steps writes: $(cat "$BATS_TEST_TMPDIR/k$n.out")"
}

@test "a full state directory: register exits 73 with one line, no temp; with room, the same node" {
	requires_root
	cp_write_config wg0
	FAULT_MNT="$BATS_TEST_TMPDIR/full"
	mkdir -p "$FAULT_MNT"
	mount -t tmpfs -o size=64k tmpfs "$FAULT_MNT"
	export WGN_STATE_DIR="$FAULT_MNT"
	dd if=/dev/zero of="$FAULT_MNT/filler" bs=4k 2>/dev/null || true
	run --separate-stderr "$WGN" --config-dir "$CONF_DIR" register wg0
	[ "$status" -eq 73 ] || fail "exit $status: $stderr"
	[ "$(wc -l <<<"$stderr")" -eq 1 ] || fail "$stderr"
	[[ "$stderr" == *"No space left on device"* ]] || fail "$stderr"
	[ "$(ls "$FAULT_MNT")" = filler ] || fail "left: $(ls "$FAULT_MNT")"
	# The control plane has the node; with room again, the same command records it.
	local id
	id="$(cp_sql 'SELECT node_id FROM nodes')"
	rm "$FAULT_MNT/filler"
	run "$WGN" --config-dir "$CONF_DIR" register wg0
	assert_success
	[ "$(state_field wg0 node_id)" = "$id" ]
	[ "$(cp_sql 'SELECT count(*) FROM nodes')" = 1 ]
}

# hostile_cp MODE: tests/bats/hostile_http.py answering as MODE on a loopback port of
# its own, and a config for wg0 pointing at it (one retry, 1 s per attempt).
hostile_cp() {
	local ready="$BATS_TEST_TMPDIR/hostile.port"
	python3 "$BATS_TEST_DIRNAME/hostile_http.py" "$1" "$ready" </dev/null >/dev/null 2>&1 3>&- &
	echo $! >"$BATS_TEST_TMPDIR/hostile.pid"
	local i
	for i in $(seq 1 100); do
		[ -s "$ready" ] && break
		sleep 0.05
	done
	[ -s "$ready" ] || fail "hostile_http.py did not listen"
	CP_CONFIG_URL="http://127.0.0.1:$(cat "$ready")" CP_TIMEOUT=1.0 CP_RETRIES=1 cp_write_config wg0
}

hostile_stop() { kill "$(cat "$BATS_TEST_TMPDIR/hostile.pid")" 2>/dev/null || true; }

# hostile_run MODE STATUS: wgn register wg0 --json against it exits STATUS, with one line
# per attempt on stderr, a JSON summary on stdout whatever the answer's bytes, and no
# state recorded.
hostile_run() {
	hostile_cp "$1"
	local start=$SECONDS
	run --separate-stderr "$WGN" --config-dir "$CONF_DIR" register wg0 --json
	hostile_stop
	echo "# $1: exit $status in $((SECONDS - start)) s: $(tail -1 <<<"$stderr")" >&3
	[ $((SECONDS - start)) -le 10 ] || fail "$1: took $((SECONDS - start)) s"
	python3 -c 'import json,sys; json.loads(sys.argv[1])' "$output" || fail "$1: not JSON: $output"
	[ ! -e "$WGN_STATE_DIR/wg0.json" ] || fail "$1: a state was recorded"
	[ "$(wc -l <<<"$stderr")" -le 3 ] || fail "$1: more than a line per attempt: $stderr"
	[ "$status" -eq "$2" ] || fail "$1: exit $status, not $2: $stderr"
}

@test "a control plane that never answers: 75 after its timeouts, no state" {
	hostile_run slow 75
}

@test "a control plane that resets the connection: 75, no state" {
	hostile_run reset 75
}

@test "a control plane that answers 64 MiB: refused over the cap, 76, no state" {
	hostile_run big 76
}

@test "a control plane whose error is not UTF-8: 75, JSON and one line per attempt, no abort" {
	hostile_run nonutf8 75
}
