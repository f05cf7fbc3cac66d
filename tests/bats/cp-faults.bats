#!/usr/bin/env bats
# The control plane under faults, end to end: many `wgn enroll` processes against two
# app instances on one PostgreSQL (contrib/control-plane/scripts/test-stack), while an
# instance is killed with SIGKILL or PostgreSQL restarts. Nothing that a node was told
# is lost: every enrollment that wgn reports done is in the database exactly once, as
# wgn was told, and wgn's retries (same idempotency key) get the same node and address.

load test_helper
load cp_helper
load netns_helper # wait_for

bats_require_minimum_version 1.5.0

setup_file() {
	cp_requires
	cp_start_stack
	"$CP_SCRIPT" start-app "$CP_DIR" 2
}

teardown_file() {
	cp_stop_stack
}

setup() {
	cp_requires
	cp_load_env
	# shellcheck source=/dev/null
	. "$CP_DIR/env"
	export CP_ADMIN_TOKEN_FILE CP_URL_2
	[ -n "${CP_URL_2:-}" ] || fail "the test stack has no second instance"
	cp_app_running || cp_start_app
	app2_running || "$CP_SCRIPT" start-app "$CP_DIR" 2
	cp_sql 'TRUNCATE nodes, hubs, enrollment_tokens, allocations'
	make_hub 3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08= hub.example.com:51820
	W="$BATS_TEST_TMPDIR/w"
	mkdir -p "$W"
}

app2_running() { [ -f "$CP_DIR/app2.pid" ] && kill -0 "$(cat "$CP_DIR/app2.pid")" 2>/dev/null; }
node_count() { cp_sql 'SELECT count(*) FROM nodes'; }
at_least() { [ "$(node_count)" -ge "$1" ]; }

# enroll_many N CONCURRENCY: N `wgn enroll --json` processes, odd ones through instance
# 1 and even ones through instance 2, at most CONCURRENCY at a time and one every 20 ms
# at most (so that the load lasts at least N/50 s, however fast the machine, and the
# fault comes during it); each in W/I with its own config and state directories, its
# JSON in W/I/out and its status in W/I/rc.
enroll_many() {
	local n="$1" c="$2" i url
	for i in $(seq 1 "$n"); do
		while [ "$(jobs -rp | wc -l)" -ge "$c" ]; do wait -n || true; done
		sleep 0.02
		url="$CP_URL"
		[ $((i % 2)) = 0 ] && url="$CP_URL_2"
		mkdir -p "$W/$i/etc"
		(
			rc=0
			WGN_STATE_DIR="$W/$i/state" "$WGN" --config-dir "$W/$i/etc" enroll "$url" wg0 \
				--token-file "$W/enroll.token" --json >"$W/$i/out" 2>"$W/$i/err" || rc=$?
			echo "$rc" >"$W/$i/rc"
		) 3>&- &
	done
	wait
}

# check_enrolled N: all N wgn runs succeeded; the database has exactly their N nodes,
# each once, with the node id, key and addresses that wgn was told; distinct addresses;
# N uses of the token. Echoes the number of runs that needed more than one request.
check_enrolled() {
	local n="$1" i bad=0
	for i in $(seq 1 "$n"); do
		[ "$(cat "$W/$i/rc" 2>/dev/null)" = 0 ] || {
			echo "run $i: exit $(cat "$W/$i/rc" 2>/dev/null): $(cat "$W/$i/out" "$W/$i/err")" >&2
			bad=1
		}
	done
	[ "$bad" = 0 ] || return 1
	[ "$(node_count)" = "$n" ] || { echo "$(node_count) nodes, not $n" >&2; return 1; }
	[ "$(cp_sql 'SELECT count(DISTINCT wireguard_address) FROM nodes')" = "$n" ] ||
		{ echo "addresses are not distinct" >&2; return 1; }
	[ "$(cp_sql 'SELECT count(DISTINCT a) FROM nodes, unnest(wireguard_address) a')" = $((2 * n)) ] ||
		{ echo "an address is in two nodes" >&2; return 1; }
	[ "$(cp_sql 'SELECT coalesce(sum(uses), 0) FROM enrollment_tokens')" = "$n" ] ||
		{ echo "the token was used $(cp_sql 'SELECT sum(uses) FROM enrollment_tokens') times" >&2; return 1; }
	# What wgn was told, and what the database holds, keyed by the idempotency key.
	cp_sql "SELECT enroll_workflow_id || ' ' || node_id || ' ' || wireguard_public_key || ' ' ||
		array_to_string(wireguard_address, ',') FROM nodes ORDER BY 1" >"$W/db.txt"
	python3 - "$W" "$n" >"$W/told.txt" <<'PY'
import json, sys
w, n = sys.argv[1], int(sys.argv[2])
rows = []
for i in range(1, n + 1):
    o = json.load(open(f"{w}/{i}/out"))
    rows.append(" ".join([o["idempotency_key"], o["node_id"], o["public_key"],
                          ",".join(o["wireguard_address"])]))
print("\n".join(sorted(rows)))
PY
	diff -u "$W/told.txt" "$W/db.txt" >&2 || { echo "the database is not what wgn was told" >&2; return 1; }
	python3 -c 'import json,sys; print(sum(json.load(open(f"{sys.argv[1]}/{i}/out"))["attempts"] > 1 for i in range(1, int(sys.argv[2]) + 1)))' "$W" "$n"
}

@test "kill -9 of one of two instances during 100 enrollments loses none" {
	make_token "$W/enroll.token" '{"max_uses": 100}'
	local pid2
	pid2="$(cat "$CP_DIR/app2.pid")"
	enroll_many 100 16 3>&- &
	local driver=$!
	wait_for 60 at_least 20 || fail "the enrollments did not start: $(cat "$W"/1/err)"
	kill -KILL "$pid2"
	local killed_at
	killed_at="$(node_count)"
	# Instance 2 comes back under its own executor ID; wgn's retries find it, and DBOS
	# finishes what it left pending.
	rm -f "$CP_DIR/app2.pid"
	"$CP_SCRIPT" start-app "$CP_DIR" 2
	wait "$driver"
	[ "$killed_at" -lt 100 ] || fail "the kill came after the load"
	run --separate-stderr check_enrolled 100
	[ "$status" = 0 ] || fail "$stderr"
	# Some runs met the dead instance and retried with the same key.
	[ "$output" -ge 1 ] || fail "no enrollment was retried: the kill missed the load"
	echo "# killed at $killed_at nodes; $output runs retried" >&3
}

@test "PostgreSQL restarted during enrollments: the apps keep running, 503 + Retry-After, none lost" {
	make_token "$W/enroll.token" '{"max_uses": 60}'
	local pid1 pid2
	pid1="$(cat "$CP_DIR/app.pid")"
	pid2="$(cat "$CP_DIR/app2.pid")"
	enroll_many 60 8 3>&- &
	local driver=$!
	wait_for 60 at_least 10 || fail "the enrollments did not start: $(cat "$W"/1/err)"
	"$CP_SCRIPT" stop-pg "$CP_DIR"
	local down=$SECONDS
	# While it is away, both instances answer at once: 503 with Retry-After.
	local url hdr="$W/enroll.hdr"
	(umask 077 && echo "Authorization: Bearer $(cat "$W/enroll.token")" >"$hdr")
	for url in "$CP_URL" "$CP_URL_2"; do
		run curl -sS -m 5 -o /dev/null -D - -H @"$hdr" -H 'Content-Type: application/json' \
			-H 'dbos-idempotency-key: cp-faults-probe' -d '{}' "$url/api/v1/nodes/enroll"
		assert_success
		assert_line --regexp '^HTTP/1.1 503'
		assert_line --regexp '^[Rr]etry-[Aa]fter: [0-9]+'
		run curl -sS -m 5 -o /dev/null -w '%{http_code}' "$url/healthz"
		assert_output 503
	done
	while [ $((SECONDS - down)) -lt 3 ]; do sleep 0.2; done
	"$CP_SCRIPT" start-pg "$CP_DIR"
	wait "$driver"
	# The same processes, alive.
	[ "$(cat "$CP_DIR/app.pid")" = "$pid1" ] && kill -0 "$pid1"
	[ "$(cat "$CP_DIR/app2.pid")" = "$pid2" ] && kill -0 "$pid2"
	run --separate-stderr check_enrolled 60
	[ "$status" = 0 ] || fail "$stderr"
	[ "$output" -ge 1 ] || fail "no enrollment met the restart"
	echo "# $output runs retried across the restart" >&3
}
