#!/usr/bin/env bats
# `wgn sync` end to end: the real control plane (contrib/control-plane on a private
# PostgreSQL, started once for the file), a wireguard-go hub in a namespace whose peers
# only `wgn sync` sets, and a node in another namespace that registers and comes up.
# Both reach the control plane on their own loopback through tests/bats/nsforward.py.

load test_helper
load cp_helper
load netns_helper

bats_require_minimum_version 1.5.0

setup_file() { cp_suite_start; }
teardown_file() { cp_stop_stack; }

setup() {
	sync_hub_setup
}

teardown() {
	# A test's mounts over the hub's state directory (read-only, full), one at a time.
	if [ -n "${FAULT_MNT:-}" ]; then
		while mountpoint -q "$FAULT_MNT"; do umount "$FAULT_MNT" || break; done
	fi
	sync_hub_teardown
}

# The node's config with [control_plane] and the shared registration token.
node_register_config() {
	install -m 600 "$CP_TOKEN_FILE" "$BATS_TEST_TMPDIR/node.token"
	node_write_config '[control_plane]' "url = \"http://127.0.0.1:$CP_PORT\"" \
		"token_file = \"$BATS_TEST_TMPDIR/node.token\"" 'max_retries = 1'
}

live_node_keys() { cp_sql 'SELECT wireguard_public_key FROM nodes WHERE NOT deleted ORDER BY 1'; }

@test "a registered node is admitted within 2 s and pings the hub; a deleted one is cut off within 2 s" {
	sync_watch_start
	[ -z "$(hub_peers)" ]
	node_register_config
	run --separate-stderr node_wgn register "$NODE_IF" --json
	assert_success
	node_id="$(json_field "$output" node_id)"
	wait_for 2 hub_has_peer "$NODE_PUB" || fail "the hub has no peer for the node after 2 s: $(cat "$HUB_DIR/sync.log")"
	run ip netns exec "$HUB_NS" wg show "$HUB_IF" allowed-ips
	assert_output "$NODE_PUB	10.0.0.10/32"
	# No endpoint, no keepalive: the node dials in.
	run ip netns exec "$HUB_NS" wg show "$HUB_IF" persistent-keepalive
	assert_output "$NODE_PUB	off"
	run node_wgn up "$NODE_IF" --no-register
	assert_success
	node ping -c 1 -W 2 10.0.0.1
	ip netns exec "$HUB_NS" ping -c 1 -W 2 10.0.0.10

	cp_admin DELETE "/nodes/$node_id"
	wait_for 2 hub_lacks_peer "$NODE_PUB" || fail "the deleted node is still a peer after 2 s"
	run node ping -c 1 -W 1 10.0.0.1
	assert_failure
	# The watch said what it did, with public keys only.
	grep -q "revision" "$HUB_DIR/sync.log"
	run cat "$HUB_DIR/sync.log"
	refute_output --partial "$(cat "$HUB_DIR/hub.token")"
}

@test "control plane away: every peer stays and traffic flows; back: sync resumes from its revision" {
	node_register_config
	run node_wgn register "$NODE_IF"
	assert_success
	sync_watch_start -v
	wait_for 2 hub_has_peer "$NODE_PUB"
	run node_wgn up "$NODE_IF" --no-register
	assert_success

	cp_stop_app
	sleep 3
	hub_has_peer "$NODE_PUB"
	node ping -c 1 -W 2 10.0.0.1
	grep -q "peers kept as they are" "$HUB_DIR/sync.log" ||
		fail "no round failed while the control plane was away: $(cat "$HUB_DIR/sync.log")"
	kill -0 "$(cat "$BATS_TEST_TMPDIR/sync.pid")"

	cp_start_app
	run python3 "$BATS_TEST_DIRNAME/register_many.py" "$CP_URL" "$CP_TOKEN_FILE" 1
	assert_success
	local pub="${output#* }"
	wait_for 5 hub_has_peer "$pub" || fail "the node registered after the restart was not admitted: $(cat "$HUB_DIR/sync.log")"
	hub_has_peer "$NODE_PUB"
	# One full listing, the first round; every later one asked from a revision.
	[ "$(grep -c 'since=0&' "$HUB_DIR/sync.log")" = 1 ] ||
		fail "sync listed every node again: $(grep -c 'since=0&' "$HUB_DIR/sync.log") times"
	grep -q 'since=[1-9][0-9]*&limit=1000&wait=' "$HUB_DIR/sync.log"

	# A restarted sync resumes from its state: no full listing either.
	kill -TERM "$(cat "$BATS_TEST_TMPDIR/sync.pid")"
	wait_for 5 bash -c "! kill -0 $(cat "$BATS_TEST_TMPDIR/sync.pid") 2>/dev/null"
	run --separate-stderr hub_wgn -v sync "$HUB_IF" --json
	assert_success
	[ "$(json_field "$output" unchanged)" = 2 ]
	[[ "$stderr" == *"since="* ]]
	[[ "$stderr" != *"since=0&"* ]]
}

@test "a hand-made peer survives sync and goes with --prune; --dry-run changes nothing" {
	local hand
	hand="$(wg genkey | wg pubkey)"
	ip netns exec "$HUB_NS" wg set "$HUB_IF" peer "$hand" allowed-ips 10.0.0.99/32
	node_register_config
	run node_wgn register "$NODE_IF"
	assert_success

	run --separate-stderr hub_wgn sync "$HUB_IF" --dry-run
	assert_success
	assert_output "wg set $HUB_IF peer $NODE_PUB allowed-ips 10.0.0.10/32   # add node $(cp_sql 'SELECT node_id FROM nodes')"
	hub_lacks_peer "$NODE_PUB"
	[ ! -e "$HUB_DIR/state/$HUB_IF.sync.json" ]

	run --separate-stderr hub_wgn sync "$HUB_IF" --json
	assert_success
	[ "$(json_field "$output" added)" = 1 ]
	hub_has_peer "$NODE_PUB"
	hub_has_peer "$hand"
	# The state is not secret, and says which peers are sync's.
	[ "$(stat -c %a "$HUB_DIR/state/$HUB_IF.sync.json")" = 644 ]
	grep -qF "$NODE_PUB" "$HUB_DIR/state/$HUB_IF.sync.json"
	! grep -qF "$hand" "$HUB_DIR/state/$HUB_IF.sync.json"

	run hub_wgn sync "$HUB_IF"
	assert_success
	assert_output --regexp "^$HUB_IF: revision [0-9]+: 0 added, 0 updated, 0 removed, 1 unchanged$"
	hub_has_peer "$hand"

	run hub_wgn sync "$HUB_IF" --prune
	assert_success
	hub_lacks_peer "$hand"
	hub_has_peer "$NODE_PUB"
}

@test "an address routed already is left out and reported (65); the rest is applied" {
	local hand
	hand="$(wg genkey | wg pubkey)"
	ip netns exec "$HUB_NS" wg set "$HUB_IF" peer "$hand" allowed-ips 10.0.0.0/28
	node_register_config
	run node_wgn register "$NODE_IF"
	assert_success
	run python3 "$BATS_TEST_DIRNAME/register_many.py" "$CP_URL" "$CP_TOKEN_FILE" 1
	assert_success
	local other="${output#* }"

	run --separate-stderr hub_wgn sync "$HUB_IF"
	assert_failure 65
	[[ "$stderr" == *"address 10.0.0.10/32 is routed to peer $hand already (10.0.0.0/28)"* ]]
	hub_lacks_peer "$NODE_PUB"
	hub_has_peer "$other"
	run ip netns exec "$HUB_NS" wg show "$HUB_IF" allowed-ips
	assert_line "$hand	10.0.0.0/28"
}

@test "kill -9 of sync mid-apply, then sync again: the hub converges on the control plane" {
	run python3 "$BATS_TEST_DIRNAME/register_many.py" "$CP_URL" "$CP_TOKEN_FILE" 300
	assert_success
	local delay
	for delay in 0.05 0.15 0.3; do
		(exec ip netns exec "$HUB_NS" env WGN_RUN_DIR="$HUB_DIR/run" WGN_STATE_DIR="$HUB_DIR/state" \
			WGN_CONFIG_DIR="$HUB_DIR/etc" "$WGN" sync "$HUB_IF") </dev/null >/dev/null 2>&1 3>&- &
		local pid=$!
		sleep "$delay"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		# Nothing torn: the state is absent or whole JSON.
		if [ -e "$HUB_DIR/state/$HUB_IF.sync.json" ]; then
			python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$HUB_DIR/state/$HUB_IF.sync.json"
		fi
		run hub_wgn sync "$HUB_IF"
		assert_success
		diff <(hub_peers | sort) <(live_node_keys) || fail "the hub's peers are not the control plane's nodes"
		# Half of them deleted before the next round: removals get interrupted too.
		local id
		for id in $(cp_sql 'SELECT node_id FROM nodes WHERE NOT deleted ORDER BY node_id LIMIT 50'); do
			cp_admin DELETE "/nodes/$id"
		done
	done
}

@test "a read-only or full state directory: 73 naming the file, no peer changed; writable again, sync converges" {
	requires_root
	node_register_config
	run node_wgn register "$NODE_IF" --json
	assert_success
	local first_id other third
	first_id="$(json_field "$output" node_id)"
	run hub_wgn sync "$HUB_IF"
	assert_success
	hub_has_peer "$NODE_PUB"

	# Pending: a node to add and one to remove. The state directory read-only (a
	# read-only bind mount of itself): refused before any peer changes, since a peer
	# sync cannot record is one it would never remove.
	run python3 "$BATS_TEST_DIRNAME/register_many.py" "$CP_URL" "$CP_TOKEN_FILE" 1
	assert_success
	other="${output#* }"
	cp_admin DELETE "/nodes/$first_id"
	FAULT_MNT="$HUB_DIR/state"
	mount --bind "$FAULT_MNT" "$FAULT_MNT"
	mount -o remount,bind,ro "$FAULT_MNT"
	local before
	before="$(hub_peers | sort)"
	run --separate-stderr hub_wgn sync "$HUB_IF"
	assert_refused_73 "$HUB_DIR/state/$HUB_IF.sync." "Read-only file system"
	[ "$(hub_peers | sort)" = "$before" ] || fail "peers changed: $(hub_peers)"
	umount "$FAULT_MNT"
	run hub_wgn sync "$HUB_IF"
	assert_success
	diff <(hub_peers | sort) <(live_node_keys) || fail "the hub's peers are not the control plane's nodes"
	hub_lacks_peer "$NODE_PUB"
	hub_has_peer "$other"

	# Full (a tmpfs of 64 KiB, filled; no state on it yet): the same, ENOSPC, no temp.
	run python3 "$BATS_TEST_DIRNAME/register_many.py" "$CP_URL" "$CP_TOKEN_FILE" 1 2
	assert_success
	third="${output#* }"
	mount -t tmpfs -o size=64k tmpfs "$FAULT_MNT"
	dd if=/dev/zero of="$FAULT_MNT/filler" bs=4k 2>/dev/null || true
	before="$(hub_peers | sort)"
	run --separate-stderr hub_wgn sync "$HUB_IF"
	assert_refused_73 "$HUB_DIR/state/$HUB_IF.sync.json" "No space left on device"
	[ "$(hub_peers | sort)" = "$before" ] || fail "peers changed: $(hub_peers)"
	[ "$(ls "$FAULT_MNT")" = filler ] || fail "left: $(ls "$FAULT_MNT")"
	rm "$FAULT_MNT/filler"
	run hub_wgn sync "$HUB_IF"
	assert_success
	diff <(hub_peers | sort) <(live_node_keys) || fail "the hub's peers are not the control plane's nodes"
	hub_has_peer "$third"
}

# sync_killed_at CALL N: wgn -v sync on the hub, SIGKILLed by strace at its Nth CALL
# system call (write: each progress and "wg set" line, the journal's line or a temp's
# content; sendto: each request to the control plane and to the hub's daemon; fdatasync
# and fsync; linkat: a state file that was not there gets its name, whole, fsutil.h).
# Sets KILLED_RC (137 when it was killed).
sync_killed_at() {
	KILLED_RC=0
	ip netns exec "$HUB_NS" env WGN_RUN_DIR="$HUB_DIR/run" WGN_STATE_DIR="$HUB_DIR/state" \
		WGN_CONFIG_DIR="$HUB_DIR/etc" \
		strace -o /dev/null -e trace="$1" -e inject="$1":signal=SIGKILL:when="$2" \
		"$WGN" -v sync "$HUB_IF" >"$BATS_TEST_TMPDIR/killed-$1-$2.out" 2>&1 </dev/null ||
		KILLED_RC=$?
}

# Right after a kill: the snapshot is absent or whole JSON, and every whole line of the
# journal is JSON (a last line cut short is allowed: the next run ignores it).
assert_sync_state_whole() {
	local snap="$HUB_DIR/state/$HUB_IF.sync.json" journal="$HUB_DIR/state/$HUB_IF.sync.journal"
	if [ -e "$snap" ]; then
		python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$snap" || fail "$snap is torn"
	fi
	if [ -e "$journal" ]; then
		python3 -c '
import json, sys
text = open(sys.argv[1]).read()
for line in text.split("\n")[:-1]:
    json.loads(line)' "$journal" || fail "$journal has a torn line before its last: $(cat "$journal")"
	fi
}

@test "kill -9 at every step of sync (strace), then sync again: converges, nothing left behind" {
	requires_cmd strace
	local next=1 call n steps total=0 mode id
	# pending [fresh]: two nodes to register (and, unless fresh, the oldest live one
	# deleted) before the killed run: each kill stops a round of several changes.
	pending() {
		run python3 "$BATS_TEST_DIRNAME/register_many.py" "$CP_URL" "$CP_TOKEN_FILE" 2 "$next"
		assert_success
		next=$((next + 2))
		if [ "${1:-}" != fresh ]; then
			id="$(cp_sql 'SELECT node_id FROM nodes WHERE NOT deleted ORDER BY revision LIMIT 1')"
			cp_admin DELETE "/nodes/$id"
		fi
	}
	pending fresh
	run hub_wgn sync "$HUB_IF"
	assert_success
	# journal: the state has a snapshot and each round appends a line (the first one
	# creates the journal: a file linked in whole). fresh: the state removed before each
	# run (peers are all live nodes then), so that the round writes a snapshot; only
	# additions are pending, since a removed state forgets what sync managed.
	for mode in journal:write journal:sendto journal:fdatasync fresh:write fresh:fsync fresh:linkat; do
		call="${mode#*:}"
		steps=0
		for n in $(seq 1 40); do
			if [ "${mode%%:*}" = fresh ]; then
				pending fresh
				rm -f "$HUB_DIR/state/$HUB_IF".sync.*
			else
				pending
			fi
			sync_killed_at "$call" "$n"
			if [ "$KILLED_RC" -ne 137 ]; then
				[ "$KILLED_RC" -eq 0 ] ||
					fail "sync at $call #$n exited $KILLED_RC: $(cat "$BATS_TEST_TMPDIR/killed-$call-$n.out")"
				break
			fi
			steps=$n
			assert_sync_state_whole
			# One of the killed round's new nodes deleted before the next run: if the
			# killed run had added its peer without recording it, nothing would ever
			# remove it.
			id="$(cp_sql 'SELECT node_id FROM nodes WHERE NOT deleted ORDER BY revision DESC LIMIT 1')"
			cp_admin DELETE "/nodes/$id"
			run --separate-stderr hub_wgn sync "$HUB_IF"
			[ "$status" -eq 0 ] || fail "sync after a kill at $call #$n ($mode): $status $stderr"
			diff <(hub_peers | sort) <(live_node_keys) ||
				fail "after a kill at $call #$n ($mode), the hub's peers are not the control plane's nodes"
			[ -z "$(find "$HUB_DIR/state" -name '*.tmp-*')" ] ||
				fail "a temp file left after a kill at $call #$n ($mode): $(ls "$HUB_DIR/state")"
		done
		echo "# $mode: killed at $steps steps" >&3
		total=$((total + steps))
		case "$mode" in
		journal:write | fresh:write) [ "$steps" -ge 5 ] || fail "$mode: stopped at only $steps steps" ;;
		*) [ "$steps" -ge 1 ] || fail "$mode: never stopped" ;;
		esac
	done
	# Every peer that sync added is one it manages, whatever the kills: with every node
	# deleted, sync removes them all.
	for id in $(cp_sql 'SELECT node_id FROM nodes WHERE NOT deleted'); do
		cp_admin DELETE "/nodes/$id"
	done
	run hub_wgn sync "$HUB_IF"
	assert_success
	[ -z "$(hub_peers)" ] || fail "peers left that sync does not manage: $(hub_peers)"
	[ -z "$(find "$HUB_DIR/state" -name '*.tmp-*')" ]
}

@test "a damaged, huge or hostile sync state or journal: 73 with one line naming it, no peer changed" {
	node_register_config
	run node_wgn register "$NODE_IF"
	assert_success
	run hub_wgn sync "$HUB_IF"
	assert_success
	# A round of changes: the journal has a header and a line.
	run python3 "$BATS_TEST_DIRNAME/register_many.py" "$CP_URL" "$CP_TOKEN_FILE" 1 1
	assert_success
	run hub_wgn sync "$HUB_IF"
	assert_success
	local snap="$HUB_DIR/state/$HUB_IF.sync.json" journal="$HUB_DIR/state/$HUB_IF.sync.journal"
	[ "$(wc -l <"$journal")" -eq 2 ]
	cp "$snap" "$BATS_TEST_TMPDIR/good.json"
	cp "$journal" "$BATS_TEST_TMPDIR/good.journal"
	# Pending: one more node, which no refused run may add.
	run python3 "$BATS_TEST_DIRNAME/register_many.py" "$CP_URL" "$CP_TOKEN_FILE" 1 2
	assert_success
	local pending="${output#* }" before damage file start
	before="$(hub_peers | sort)"
	for damage in snap:cut snap:not-json snap:fifo snap:dir snap:huge snap:dev-zero \
		journal:fifo journal:dir journal:huge journal:no-header journal:bad-middle journal:not-json; do
		rm -rf "$snap" "$journal"
		cp "$BATS_TEST_TMPDIR/good.json" "$snap"
		cp "$BATS_TEST_TMPDIR/good.journal" "$journal"
		file="$snap"
		[ "${damage%%:*}" = snap ] || file="$journal"
		case "${damage#*:}" in
		cut) head -c 100 "$BATS_TEST_TMPDIR/good.json" >"$file" ;;
		not-json) printf 'not json\n' >"$file" ;;
		fifo) rm "$file" && mkfifo "$file" ;;
		dir) rm "$file" && mkdir "$file" ;;
		huge) truncate -s 65M "$file" ;;
		dev-zero) rm "$file" && ln -s /dev/zero "$file" ;;
		no-header) tail -n +2 "$BATS_TEST_TMPDIR/good.journal" >"$file" ;;
		bad-middle) { head -n 1 "$BATS_TEST_TMPDIR/good.journal"; echo '{"revision":'; tail -n 1 "$BATS_TEST_TMPDIR/good.journal"; } >"$file" ;;
		esac
		start=$SECONDS
		run --separate-stderr hub_wgn sync "$HUB_IF"
		[ "$status" -eq 73 ] || fail "$damage: exit $status: $stderr"
		[ $((SECONDS - start)) -le 5 ] || fail "$damage: took $((SECONDS - start)) s"
		[ "$(wc -l <<<"$stderr")" -eq 1 ] || fail "$damage: not one line: $stderr"
		[[ "$stderr" == *"$file"* ]] || fail "$damage: the file is not named: $stderr"
		[ "$(hub_peers | sort)" = "$before" ] || fail "$damage: peers changed: $(hub_peers)"
	done
	# A journal whose last line was cut short (a writer killed mid-line) is no damage:
	# that round is fetched again.
	rm -rf "$snap" "$journal"
	cp "$BATS_TEST_TMPDIR/good.json" "$snap"
	head -c -20 "$BATS_TEST_TMPDIR/good.journal" >"$journal"
	run --separate-stderr hub_wgn sync "$HUB_IF"
	assert_success
	diff <(hub_peers | sort) <(live_node_keys)
	# Both removed, as the refusals say: sync starts afresh with a full listing.
	rm -f "$snap" "$journal"
	run --separate-stderr hub_wgn -v sync "$HUB_IF"
	assert_success
	[[ "$stderr" == *"since=0&"* ]]
	diff <(hub_peers | sort) <(live_node_keys)
	hub_has_peer "$pending"
}

@test "fail static: garbage, a revision going backwards or a refused token change no peer" {
	node_register_config
	run node_wgn register "$NODE_IF"
	assert_success
	run hub_wgn sync "$HUB_IF"
	assert_success
	hub_has_peer "$NODE_PUB"

	# The control plane restored from an older backup: its revision is behind ours.
	cp_sql "DELETE FROM nodes" >/dev/null
	run --separate-stderr hub_wgn sync "$HUB_IF"
	assert_failure 76
	hub_has_peer "$NODE_PUB"

	# Not JSON, from something that is not the control plane.
	# Its port is written once it listens (a loaded machine starts python slowly).
	local port ready="$BATS_TEST_TMPDIR/garbage.port"
	python3 -c '
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Type", "text/html"); self.end_headers()
        self.wfile.write(b"<html>maintenance</html>")
    def log_message(self, *a): pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[1] + ".tmp", "w") as f: f.write(str(srv.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()' "$ready" 3>&- &
	echo $! >"$BATS_TEST_TMPDIR/garbage.pid"
	wait_for 10 test -s "$ready"
	port="$(cat "$ready")"
	sed -i "s#^url = .*#url = \"http://127.0.0.1:$port\"#" "$HUB_DIR/etc/$HUB_IF.toml"
	forward_port "$HUB_NS" "$port"
	run --separate-stderr hub_wgn sync "$HUB_IF"
	assert_failure 76
	hub_has_peer "$NODE_PUB"

	# A token the control plane does not know: 77.
	sed -i "s#^url = .*#url = \"http://127.0.0.1:$CP_PORT\"#" "$HUB_DIR/etc/$HUB_IF.toml"
	echo "wgnh_not_a_token" >"$HUB_DIR/hub.token"
	run --separate-stderr hub_wgn sync "$HUB_IF"
	assert_failure 77
	hub_has_peer "$NODE_PUB"
}

@test "the hub's daemon restarted under sync --watch: the next change puts every peer back" {
	node_register_config
	run node_wgn register "$NODE_IF"
	assert_success
	sync_watch_start -v
	wait_for 2 hub_has_peer "$NODE_PUB" || fail "the node was not admitted: $(cat "$HUB_DIR/sync.log")"

	# A new daemon: a new interface without peers (sync keeps its copy of the device
	# between rounds; the interface's new index must make it read the device again).
	kill -9 "$HUB_PID"
	wait_for 5 bash -c "! ip -n $HUB_NS link show dev $HUB_IF 2>/dev/null"
	hub_start_userspace
	ip netns exec "$HUB_NS" wg set "$HUB_IF" private-key "$BATS_TEST_TMPDIR/keys/hub.key" listen-port 51820
	[ -z "$(hub_peers)" ]

	run python3 "$BATS_TEST_DIRNAME/register_many.py" "$CP_URL" "$CP_TOKEN_FILE" 1
	assert_success
	local pub="${output#* }"
	wait_for 2 hub_has_peer "$pub" || fail "the new node was not admitted: $(cat "$HUB_DIR/sync.log")"
	hub_has_peer "$NODE_PUB" || fail "the peer lost with the old daemon was not put back: $(hub_peers)"
}

@test "up on a hub's config creates its interface, verifies nothing, and a reconcile keeps the peers" {
	local ifn="${HUB_IF}x" hand
	sed -e "s#^listen_port = .*#listen_port = 51821#" \
		-e 's#^address = .*#address = ["10.9.0.1/24"]#' \
		"$HUB_DIR/etc/$HUB_IF.toml" >"$HUB_DIR/etc/$ifn.toml"
	run --separate-stderr hub_wgn up "$ifn" --json
	assert_success
	[ "$(json_field "$output" success)" = true ]
	[[ "$stderr" == *"is up as a hub"* ]]
	run ip netns exec "$HUB_NS" wg show "$ifn" listen-port
	assert_output 51821
	run ip netns exec "$HUB_NS" wg show "$ifn" public-key
	assert_output "$HUB_PUB"
	[ -z "$(ip netns exec "$HUB_NS" wg show "$ifn" peers)" ]
	ip -n "$HUB_NS" -o address show dev "$ifn" | grep -qF 10.9.0.1/24
	ip -n "$HUB_NS" -o link show dev "$ifn" | grep -q ',UP'

	# Peers are sync's (or the administrator's): a reconcile leaves them.
	hand="$(wg genkey | wg pubkey)"
	ip netns exec "$HUB_NS" wg set "$ifn" peer "$hand" allowed-ips 10.9.0.5/32
	sed -i "s#^listen_port = .*#listen_port = 51822#" "$HUB_DIR/etc/$ifn.toml"
	run hub_wgn up "$ifn"
	assert_success
	run ip netns exec "$HUB_NS" wg show "$ifn" listen-port
	assert_output 51822
	run ip netns exec "$HUB_NS" wg show "$ifn" allowed-ips
	assert_output "$hand	10.9.0.5/32"
	run hub_wgn up "$ifn"
	assert_success

	run hub_wgn down "$ifn"
	assert_success
	run ip -n "$HUB_NS" link show dev "$ifn"
	assert_failure
}

@test "health on a hub's config: 0 with its peers and those that handshook; 2 when down or gone" {
	requires_cmd promtool
	node_register_config
	run --separate-stderr node_wgn register "$NODE_IF"
	assert_success
	run --separate-stderr hub_wgn sync "$HUB_IF"
	assert_success
	run node_wgn up "$NODE_IF" --no-register
	assert_success
	# A hand-made peer that never handshook counts as a peer, not as a recent one.
	ip netns exec "$HUB_NS" wg set "$HUB_IF" peer "$(wg genkey | wg pubkey)" allowed-ips 10.0.0.99/32
	node ping -c 1 -W 2 10.0.0.1

	run --separate-stderr hub_wgn health "$HUB_IF" --format json
	assert_success
	[ "$(json_field "$output" status)" = healthy ]
	[ "$(json_field "$output" role)" = hub ]
	[ "$(json_field "$output" peers)" = 2 ]
	[ "$(json_field "$output" peers_recent)" = 1 ]
	[ "$(json_field "$output" connected)" = true ]
	run --separate-stderr hub_wgn health "$HUB_IF" --format nagios
	assert_success
	assert_output --regexp "^WGN OK - $HUB_IF healthy, hub of 2 peers, 1 handshook within 3m \| peers=2;;;0 peers_recent=1;;;0\$"
	run --separate-stderr hub_wgn health "$HUB_IF" --format prometheus
	assert_success
	assert_line "wgn_hub_peers{interface=\"$HUB_IF\"} 2"
	assert_line "wgn_hub_peers_recent{interface=\"$HUB_IF\"} 1"
	local lint rc=0
	lint="$(promtool check metrics <<<"$output" 2>&1)" || rc=$?
	[ "$rc" -eq 0 ] && [ -z "$lint" ] || fail "promtool check metrics: exit $rc: $lint"

	# The link down: CRITICAL, whatever the peers.
	ip -n "$HUB_NS" link set dev "$HUB_IF" down
	run --separate-stderr hub_wgn health "$HUB_IF" --format json
	assert_failure 2
	[ "$(json_field "$output" status)" = unhealthy ]
	ip -n "$HUB_NS" link set dev "$HUB_IF" up
	run --separate-stderr hub_wgn health "$HUB_IF"
	assert_success
	# No interface at all: CRITICAL too.
	sed -e 's#^\[interface\]#[interface]\nname = "wgnnohub0"#' "$HUB_DIR/etc/$HUB_IF.toml" >"$HUB_DIR/etc/gone.toml"
	run --separate-stderr hub_wgn health gone --format nagios
	assert_failure 2
	assert_output --partial "wgnnohub0 disconnected"
}
