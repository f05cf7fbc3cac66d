# The real control plane for registration tests: a private PostgreSQL and the DBOS app
# (contrib/control-plane), started once per file by cp_start_stack in setup_file and
# stopped by cp_stop_stack in teardown_file.

CP_SCRIPT="$WGN_SOURCE_DIR/contrib/control-plane/scripts/test-stack"

cp_requires() {
	requires_cmd node npm psql curl ss openssl
	[ -x /usr/lib/postgresql/15/bin/initdb ] || {
		[ "${CI:-}" = true ] && fail "needs PostgreSQL 15 server binaries, and CI must have them"
		skip "needs PostgreSQL 15 server binaries"
	}
}

# PostgreSQL must be able to reach its directory, so it is not under BATS' private tmp.
cp_start_stack() {
	CP_DIR="$(mktemp -d /tmp/wgn-cp-test.XXXXXX)"
	export CP_DIR
	rmdir "$CP_DIR"
	"$CP_SCRIPT" start "$CP_DIR"
	cp_load_env
}

cp_load_env() {
	# shellcheck source=/dev/null
	. "$CP_DIR/env"
	export PGHOST PGPORT PGUSER PGDATABASE CP_URL CP_PORT CP_TOKEN_FILE CP_SYS_DATABASE
	export CP_TLS_URL CP_TLS_PORT CP_CA_FILE
}

cp_stop_stack() {
	[ -n "${CP_DIR:-}" ] && [ -d "$CP_DIR" ] || return 0
	if [ -f "$CP_DIR/app.log" ] && [ -n "${BATS_SUITE_TMPDIR:-}" ]; then
		cp "$CP_DIR/app.log" "$BATS_SUITE_TMPDIR/cp-app.log" 2>/dev/null || true
	fi
	"$CP_SCRIPT" stop "$CP_DIR"
}

# A file that tests against the control plane runs one stack (its setup_file calls
# cp_suite_start, its teardown_file cp_stop_stack) and, before each test, cp_test_start
# [TABLES]: the stack's environment and admin token, the app running (a test that
# stopped it may have failed before starting it again), TABLES emptied (default: all).
cp_suite_start() {
	cp_requires
	cp_start_stack
}

cp_test_start() {
	cp_requires
	cp_load_env
	export CP_ADMIN_TOKEN_FILE
	[ -n "${CP_ADMIN_TOKEN_FILE:-}" ] && [ -f "$CP_ADMIN_TOKEN_FILE" ] ||
		fail "the control plane's test stack has no admin token (CP_ADMIN_TOKEN_FILE)"
	cp_app_running || cp_start_app
	cp_sql "TRUNCATE ${1:-nodes, hubs, enrollment_tokens, allocations}"
}

cp_stop_app() { "$CP_SCRIPT" stop-app "$CP_DIR"; }
cp_start_app() { "$CP_SCRIPT" start-app "$CP_DIR"; }
cp_app_running() { [ -f "$CP_DIR/app.pid" ] && kill -0 "$(cat "$CP_DIR/app.pid")" 2>/dev/null; }

# cp_sql QUERY: one value per line from the application database.
cp_sql() { psql -X -Atq -v ON_ERROR_STOP=1 -c "$1"; }
# cp_sys_sql QUERY: the same in the DBOS system database (workflow status).
cp_sys_sql() { psql -X -Atq -v ON_ERROR_STOP=1 -d "$CP_SYS_DATABASE" -c "$1"; }

# cp_write_config NAME [extra [control_plane] keys]: a valid config for NAME registering
# with the test control plane: its own token copy (0600), fast retries, and a label
# unique to the test so that no two tests share a registration (DBOS remembers
# workflows across tests). CP_CONFIG_URL, CP_TIMEOUT and CP_RETRIES override url, timeout
# and max_retries; CP_LABEL_LINES adds lines to [control_plane.labels].
cp_write_config() {
	local name="$1"
	shift
	make_config_dir
	CP_TEST_TOKEN="$CONF_DIR/token"
	install -m 600 "$CP_TOKEN_FILE" "$CP_TEST_TOKEN"
	write_config "$name" \
		'[connect]' 'initial_backoff = 0.2' 'max_backoff = 0.5' \
		'[control_plane]' "url = \"${CP_CONFIG_URL:-$CP_URL}\"" \
		"token_file = \"$CP_TEST_TOKEN\"" "timeout = ${CP_TIMEOUT:-5.0}" "max_retries = ${CP_RETRIES:-2}" "$@" \
		'[control_plane.labels]' "test = \"$BATS_SUITE_TEST_NUMBER-$$-$RANDOM\"" \
		${CP_LABEL_LINES:+"$CP_LABEL_LINES"}
	export CP_TEST_TOKEN
}

# The administrator's side, shared by enroll.bats and cp-faults.bats.

# cp_admin METHOD PATH [JSON]: the admin API; the token goes in a header file, not argv.
cp_admin() {
	local hdr="$BATS_TEST_TMPDIR/admin.hdr"
	(umask 077 && echo "Authorization: Bearer $(cat "$CP_ADMIN_TOKEN_FILE")" >"$hdr")
	curl -fsS -X "$1" -H @"$hdr" -H 'Content-Type: application/json' ${3:+-d "$3"} \
		"$CP_URL/api/v1$2"
}

json_field() {
	python3 -c 'import json,sys; v=json.loads(sys.argv[1])[sys.argv[2]]; print(json.dumps(v) if not isinstance(v, str) else v)' "$1" "$2"
}

# make_hub PUBLIC_KEY [ENDPOINT [TUNNEL_ADDRESS]]: the hub of the network, as the administrator adds it.
make_hub() {
	cp_admin POST /hubs "{\"public_key\":\"$1\",\"endpoint\":\"${2:-192.0.2.1:51820}\",\"tunnel_address\":\"${3:-10.0.0.1}\"}" >/dev/null
}

# make_token FILE [JSON]: an enrollment token made by the administrator, in FILE (0600).
make_token() {
	local out body="${2:-}"
	[ -n "$body" ] || body='{}'
	out="$(cp_admin POST /enrollment-tokens "$body")"
	(umask 077 && json_field "$out" token >"$1")
}

# A hub in a namespace whose peers only `wgn sync` sets (sync.bats, rotate.bats): after
# netns_setup, the control plane forwarded into the namespaces, hub_setup, then
# sync_watch_start.

# sync_hub_setup: an empty control plane (app running, admin token), the namespaces of
# netns_helper without the node peer netns_setup presets, the control plane forwarded
# into both, the hub added by the administrator (hub_setup).
sync_hub_setup() {
	cp_test_start
	netns_setup
	# Only sync admits nodes here: not the peer that netns_setup presets.
	ip netns exec "$HUB_NS" wg set "$HUB_IF" peer "$NODE_PUB" remove
	forward "$HUB_NS"
	forward "$NODE_NS"
	hub_setup
}

# sync_hub_teardown: the test's background processes (BATS_TEST_TMPDIR/*.pid), then
# the namespaces.
sync_hub_teardown() {
	local f
	for f in "$BATS_TEST_TMPDIR"/*.pid; do
		[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
	netns_teardown
}

# forward NS: the control plane on NS's loopback, same port (nsforward.py).
forward() { forward_port "$1" "$CP_PORT"; }

# forward_port NS PORT: loopback PORT of this namespace on NS's loopback.
forward_port() {
	local ready="$BATS_TEST_TMPDIR/fwd-$1-$2.pid"
	python3 "$BATS_TEST_DIRNAME/nsforward.py" "$1" "$2" "$2" "$ready" \
		</dev/null >"$BATS_TEST_TMPDIR/fwd-$1-$2.log" 2>&1 3>&- &
	wait_for 10 test -s "$ready" || fail "nsforward did not start"
}

# The hub as the administrator adds it (its hub token in HUB_DIR/hub.token), and the
# hub's own config: no [hub] table, [control_plane] with the hub token.
hub_setup() {
	HUB_DIR="$BATS_TEST_TMPDIR/hub"
	mkdir -p "$HUB_DIR/etc"
	local out
	out="$(cp_admin POST /hubs "{\"public_key\":\"$HUB_PUB\",\"endpoint\":\"$HUB_ENDPOINT\",\"tunnel_address\":\"10.0.0.1\"}")"
	(umask 077 && json_field "$out" hub_token >"$HUB_DIR/hub.token")
	cat >"$HUB_DIR/etc/$HUB_IF.toml" <<TOML
[interface]
private_key_file = "$BATS_TEST_TMPDIR/keys/hub.key"
address = ["10.0.0.1/24", "fd00::1/64"]
listen_port = 51820
backend = "userspace"

[connect]
initial_backoff = 0.2
max_backoff = 1.0

[control_plane]
url = "http://127.0.0.1:$CP_PORT"
token_file = "$HUB_DIR/hub.token"
timeout = 2.0
max_retries = 1
TOML
	export HUB_DIR
}

hub_wgn() {
	ip netns exec "$HUB_NS" env WGN_RUN_DIR="$HUB_DIR/run" WGN_STATE_DIR="$HUB_DIR/state" \
		WGN_CONFIG_DIR="$HUB_DIR/etc" "$WGN" "$@"
}

# sync_watch_start [wgn options]: `wgn sync --watch` on the hub, in the background, its
# stderr in HUB_DIR/sync.log; returns once its first round is done.
sync_watch_start() {
	ip netns exec "$HUB_NS" env WGN_RUN_DIR="$HUB_DIR/run" WGN_STATE_DIR="$HUB_DIR/state" \
		WGN_CONFIG_DIR="$HUB_DIR/etc" "$WGN" "$@" sync --watch "$HUB_IF" \
		</dev/null >"$HUB_DIR/sync.out" 2>>"$HUB_DIR/sync.log" 3>&- &
	echo $! >"$BATS_TEST_TMPDIR/sync.pid"
	wait_for 10 test -s "$HUB_DIR/state/$HUB_IF.sync.json" ||
		fail "sync --watch did not finish a first round: $(cat "$HUB_DIR/sync.log")"
}

hub_peers() { ip netns exec "$HUB_NS" wg show "$HUB_IF" peers; }
hub_has_peer() { hub_peers | grep -qxF -- "$1"; }
hub_lacks_peer() { ! hub_has_peer "$1"; }
