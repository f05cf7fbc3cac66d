#!/usr/bin/env bats
# Faults, end to end in network namespaces (issue 13): wgn killed with SIGKILL at each
# step of its work, then run again; its daemon frozen; its directories read-only or
# full; two runs at once. After any of them, the next run converges and nothing is left
# half-done: no stray link, daemon, socket, run state or temp file.
#
# "At each step" without guessing times: strace injects SIGKILL at the Nth write(2) of
# wgn -v. Every progress line and every "[#]" line (one per change, printed before it
# is made) is one write on unbuffered stderr, and the state files are written with
# write(2) too, so N = 1, 2, ... stops wgn before each change in turn and inside each
# state file write, until a run gets through without being stopped.

bats_require_minimum_version 1.5.0
load test_helper
load netns_helper

setup() {
	requires_cmd strace
	netns_setup
}

teardown() {
	netns_teardown
	if [ -n "${FAULT_MNT:-}" ]; then
		umount "$FAULT_MNT" 2>/dev/null || true
	fi
}

# killed_at N ARGS...: wgn -v ARGS in the node namespace, SIGKILLed by strace at its Nth
# write(2). Sets KILLED_RC (137 when it was killed) and KILLED_OUT (what it printed).
killed_at() {
	local n="$1"
	shift
	KILLED_RC=0
	KILLED_OUT="$BATS_TEST_TMPDIR/killed-$n.out"
	ip netns exec "$NODE_NS" env WGN_RUN_DIR="$WGN_RUN_DIR" WGN_STATE_DIR="$WGN_STATE_DIR" \
		WGN_CONFIG_DIR="$NODE_CONF_DIR" \
		strace -o /dev/null -e trace=write -e inject=write:signal=SIGKILL:when="$n" \
		"$WGN" -v "$@" >"$KILLED_OUT" 2>&1 </dev/null || KILLED_RC=$?
}

# Right after a kill: every state file there is whole JSON (a writer killed mid-write
# may leave its temp, never a torn state).
assert_state_whole() {
	local f
	for f in "$WGN_RUN_DIR"/*.json "$WGN_STATE_DIR"/*.json; do
		[ -e "$f" ] || continue
		python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$f" ||
			fail "$f is torn: $(cat "$f")"
	done
}

# After the next run: nothing left behind in the run and state directories but the
# lock, the daemon's log (wgn-up(8)) and whole state files; no temp of a killed writer.
assert_no_torn_files() {
	assert_state_whole
	local f
	for f in "$WGN_RUN_DIR"/* "$WGN_STATE_DIR"/*; do
		[ -e "$f" ] || continue
		case "$f" in
		*.lock | *.daemon.log | *.json) ;;
		*) fail "$f is left behind ($(wc -c <"$f") bytes)" ;;
		esac
	done
}

# The tunnel works: up's run state, one daemon, the hub answers through it.
assert_node_up() {
	[ -f "$WGN_RUN_DIR/$NODE_IF.json" ] || fail "no run state"
	[ "$(ip netns pids "$NODE_NS" | wc -l)" -eq 1 ] ||
		fail "not one daemon: $(ip netns pids "$NODE_NS" | tr '\n' ' ')"
	run node ping -c 1 -W 2 10.0.0.1
	assert_success
}

@test "up killed with SIGKILL at each step: up again converges, down leaves nothing" {
	local n steps=0
	for n in $(seq 1 80); do
		killed_at "$n" up "$NODE_IF"
		if [ "$KILLED_RC" -ne 137 ]; then
			[ "$KILLED_RC" -eq 0 ] || fail "up at N=$n exited $KILLED_RC: $(cat "$KILLED_OUT")"
			break
		fi
		steps=$n
		assert_state_whole
		# Odd: the next up repairs what is there; even: down removes it.
		if [ $((n % 2)) -eq 1 ]; then
			run --separate-stderr node_wgn up "$NODE_IF" --json
			[ "$status" -eq 0 ] || fail "up after a kill at write $n: $status $stderr"
			assert_output --partial '"success":true'
			assert_node_up
			assert_no_torn_files
		fi
		run node_wgn down "$NODE_IF"
		[ "$status" -eq 0 ] || fail "down after a kill at write $n: $output"
		assert_node_clean
		assert_no_torn_files
	done
	# The loop stopped up before each of its changes, not just once.
	[ "$steps" -ge 8 ] || fail "up was stopped at only $steps writes: $(cat "$KILLED_OUT")"
	assert_node_up
}

@test "down killed with SIGKILL at each step: down again leaves nothing, up works after" {
	local n steps=0
	for n in $(seq 1 40); do
		node_wgn up "$NODE_IF"
		killed_at "$n" down "$NODE_IF"
		if [ "$KILLED_RC" -ne 137 ]; then
			[ "$KILLED_RC" -eq 0 ] || fail "down at N=$n exited $KILLED_RC: $(cat "$KILLED_OUT")"
			assert_node_clean
			break
		fi
		steps=$n
		assert_state_whole
		if [ $((n % 2)) -eq 1 ]; then
			run node_wgn down "$NODE_IF"
			[ "$status" -eq 0 ] || fail "down after a kill at write $n: $output"
		else
			# up over what a killed down left: a working tunnel again.
			run --separate-stderr node_wgn up "$NODE_IF"
			[ "$status" -eq 0 ] || fail "up after a kill of down at write $n: $stderr"
			assert_node_up
			node_wgn down "$NODE_IF"
		fi
		assert_node_clean
		assert_no_torn_files
	done
	[ "$steps" -ge 2 ] || fail "down was stopped at only $steps writes"
}

@test "up killed with SIGKILL while it holds the lock: a waiting up takes over" {
	ip -n "$HUB_NS" link set vh down
	NODE_CONFIG_ATTEMPT_TIMEOUT=0.3 NODE_CONFIG_BACKOFF=0.1 NODE_CONFIG_RETRIES=50 \
		NODE_CONFIG_TIMEOUT=60 node_write_config
	local err="$BATS_TEST_TMPDIR/first.err" err2="$BATS_TEST_TMPDIR/second.err"
	node_wgn_exec up "$NODE_IF" 2>"$err" &
	local first=$!
	wait_for 15 grep -q "attempt 1/51 failed" "$err" || fail "no attempt: $(cat "$err")"
	node_wgn_exec up "$NODE_IF" --max-retries 20 2>"$err2" &
	local second=$!
	wait_for 10 grep -q "waiting for another wgn" "$err2" || fail "$(cat "$err2")"
	ip -n "$HUB_NS" link set vh up
	kill -KILL "$first"
	wait "$first" || true
	local rc=0
	wait "$second" || rc=$?
	[ "$rc" -eq 0 ] || fail "the waiting up exited $rc: $(cat "$err2")"
	assert_node_up
	node_wgn down "$NODE_IF"
	assert_node_clean
}

@test "the daemon frozen with SIGSTOP: health says so within its timeout, 2" {
	node_wgn up "$NODE_IF"
	local daemon
	daemon="$(ip netns pids "$NODE_NS")"
	[ -n "$daemon" ]
	kill -STOP "$daemon"
	local start=$SECONDS
	run --separate-stderr node_wgn health "$NODE_IF" --format json
	local took=$((SECONDS - start))
	kill -CONT "$daemon"
	[ "$status" -eq 2 ] || fail "health exited $status: $output $stderr"
	[ "$took" -le 10 ] || fail "health took ${took}s with the daemon stopped"
	[[ "$output" == *'"status":"unhealthy"'* ]] || fail "$output"
	[[ "$stderr$output" == *"$NODE_IF"* ]]
	# Woken up, it is healthy again.
	run node_wgn health "$NODE_IF"
	assert_success
}

@test "a read-only run directory: up exits 73 with one line and creates nothing" {
	FAULT_MNT="$BATS_TEST_TMPDIR/ro"
	mkdir -p "$FAULT_MNT"
	mount -t tmpfs -o size=1m,ro tmpfs "$FAULT_MNT"
	WGN_RUN_DIR="$FAULT_MNT"
	run --separate-stderr node_wgn up "$NODE_IF"
	assert_refused_73 "$FAULT_MNT" "Read-only file system"
	assert_node_clean
}

@test "a full run directory: up exits 73 with one line, rolls back and leaves no file" {
	FAULT_MNT="$BATS_TEST_TMPDIR/full"
	mkdir -p "$FAULT_MNT"
	mount -t tmpfs -o size=64k tmpfs "$FAULT_MNT"
	WGN_RUN_DIR="$FAULT_MNT"
	# The lock file (empty) can still be made; the run state cannot be written.
	touch "$FAULT_MNT/$NODE_IF.lock"
	dd if=/dev/zero of="$FAULT_MNT/filler" bs=4k 2>/dev/null || true
	run --separate-stderr node_wgn up "$NODE_IF"
	rm -f "$FAULT_MNT/filler"
	[ "$status" -eq 73 ] || fail "exit $status: $stderr"
	[[ "$stderr" == *"No space left on device"* ]] || fail "$stderr"
	[ "$(grep -c '^wgn: .*No space' <<<"$stderr")" -eq 1 ] || fail "$stderr"
	assert_node_clean
	assert_no_torn_files
}

@test "a read-only state directory: down still removes the tunnel" {
	node_wgn up "$NODE_IF"
	FAULT_MNT="$BATS_TEST_TMPDIR/ro-state"
	mkdir -p "$FAULT_MNT"
	mount -t tmpfs -o size=1m,ro tmpfs "$FAULT_MNT"
	WGN_STATE_DIR="$FAULT_MNT"
	run node_wgn down "$NODE_IF"
	assert_success
	assert_node_clean
}
