#!/usr/bin/env bats
# wgn up and wgn down end to end, as root, against a WireGuard hub in a network
# namespace (netns_helper.bash). By default hub and node are wireguard-go, which every
# machine has.

bats_require_minimum_version 1.5.0
load test_helper
load netns_helper

# WGN_TEST_BACKEND=kernel (tests/kernel, under qemu) runs the same tests with kernel
# WireGuard on both hub and node.
setup() {
	: "${WGN_TEST_BACKEND:=userspace}"
	netns_setup "$WGN_TEST_BACKEND"
	NODE_CONFIG_BACKEND="$WGN_TEST_BACKEND"
	export NODE_CONFIG_BACKEND
	node_write_config
}

teardown() {
	netns_teardown
}

# An endpoint on the veth subnet where nobody listens: the hub never answers.
unreachable_config() {
	NODE_CONFIG_ENDPOINT="192.0.2.99:51820" NODE_CONFIG_ATTEMPT_TIMEOUT=0.3 \
		NODE_CONFIG_BACKOFF=0.1 NODE_CONFIG_RETRIES="${1:-1}" NODE_CONFIG_TIMEOUT="${2:-30}" \
		node_write_config
}

@test "up, ping through the tunnel, up again changes nothing, down, down again" {
	run node_wgn up "$NODE_IF" --json
	assert_success
	assert_line --partial '"success":true'
	assert_line --partial '"change":"created"'
	assert_line --partial '"attempts":1'
	assert_line --partial "\"interface\":\"$NODE_IF\""
	[ -f "$WGN_RUN_DIR/$NODE_IF.json" ]
	grep -q '"backend": "'"$WGN_TEST_BACKEND"'"' "$WGN_RUN_DIR/$NODE_IF.json"

	run node ping -c 1 -W 2 10.0.0.1
	assert_success
	# MTU as wg-quick computes it: the veth's 1500 minus 80.
	run ip -n "$NODE_NS" -o link show dev "$NODE_IF"
	assert_output --partial "mtu 1420"
	assert_output --partial ",UP"
	local before
	before="$(node_ifindex)"

	run node_wgn -v up "$NODE_IF" --json
	assert_success
	assert_line --partial '"change":"unchanged"'
	assert_output --partial "already up"
	refute_output --partial "[#]"
	[ "$(node_ifindex)" = "$before" ]

	run node_wgn -v down "$NODE_IF" --json
	assert_success
	assert_line --partial '"was_up":true'
	assert_output --partial "[#] "
	assert_node_clean

	run --separate-stderr node_wgn down "$NODE_IF"
	assert_success
	[ -z "$output" ]
	[ "$stderr" = "wgn: $NODE_IF is not up" ]
}

# hub_ignore_echoes 1|0: whether the hub's kernel answers ICMP echoes (per namespace).
hub_ignore_echoes() {
	ip netns exec "$HUB_NS" sh -c "echo $1 >/proc/sys/net/ipv4/icmp_echo_ignore_all"
}

@test "an echo the hub did not answer is sent again within the same attempt" {
	# The hub ignores echoes for its first 0.6 s, as wireguard-go drops what it reads
	# before it has seen its link come up: one lost echo must not cost an attempt.
	hub_ignore_echoes 1
	(
		sleep 0.6
		hub_ignore_echoes 0
	) &
	local flip=$!
	run node_wgn up "$NODE_IF" --json
	wait "$flip"
	assert_success
	assert_line --partial '"attempts":1'
	refute_output --partial "attempt 1/4 failed"
	# The round trip is that of the echo that was answered, not since the first.
	[[ "${lines[-1]}" =~ \"rtt_ms\":([0-9]+) ]] || fail "no rtt_ms: ${lines[-1]}"
	[ "${BASH_REMATCH[1]}" -lt 500 ] || fail "rtt_ms ${BASH_REMATCH[1]} counts from the unanswered echo"
}

@test "a changed config is reconciled in place: the link stays, the new address works" {
	run node_wgn up "$NODE_IF"
	assert_success
	local before
	before="$(node_ifindex)"
	local pid_before
	pid_before="$(ip netns pids "$NODE_NS")"

	NODE_CONFIG_ADDRESS='["10.0.0.10/24", "fd00::10/64"]' node_write_config
	run node_wgn -v up "$NODE_IF" --json
	assert_success
	assert_line --partial '"change":"reconciled"'
	assert_output --partial "[#] ip -6 address add fd00::10/64 dev $NODE_IF"
	refute_output --partial "wireguard-go $NODE_IF"
	[ "$(node_ifindex)" = "$before" ]
	[ "$(ip netns pids "$NODE_NS")" = "$pid_before" ]
	run ip -n "$NODE_NS" -o address show dev "$NODE_IF"
	assert_output --partial "fd00::10/64"
	assert_output --partial "10.0.0.10/24"
	run node ping -6 -c 1 -W 2 fd00::1
	assert_success

	# The reconciled state is the new "same config".
	run node_wgn up "$NODE_IF" --json
	assert_success
	assert_line --partial '"change":"unchanged"'
}

@test "a reconcile that fails verification restores the previous configuration" {
	run node_wgn up "$NODE_IF"
	assert_success
	local before
	before="$(node_ifindex)"

	NODE_CONFIG_ADDRESS='["10.0.0.10/24", "fd00::10/64"]' unreachable_config 1
	run node_wgn up "$NODE_IF"
	assert_failure 69
	assert_output --partial "previous configuration is restored"
	[ "$(node_ifindex)" = "$before" ]
	run ip -n "$NODE_NS" -o address show dev "$NODE_IF"
	refute_output --partial "fd00::10"
	run node wg show "$NODE_IF" endpoints
	assert_output --partial "$HUB_ENDPOINT"
	run node ping -c 1 -W 2 10.0.0.1
	assert_success
}

@test "a reconcile to a key the hub does not know restores the previous key" {
	run node_wgn up "$NODE_IF"
	assert_success

	# The hub knows only the node's first key: with another one no handshake completes.
	(umask 077 && wg genkey >"$BATS_TEST_TMPDIR/other.key")
	local first_key_file="$NODE_KEY_FILE"
	NODE_KEY_FILE="$BATS_TEST_TMPDIR/other.key" NODE_CONFIG_ATTEMPT_TIMEOUT=0.5 \
		NODE_CONFIG_BACKOFF=0.1 NODE_CONFIG_RETRIES=1 node_write_config
	run node_wgn up "$NODE_IF"
	assert_failure 69
	assert_output --partial "previous configuration is restored"
	run node wg show "$NODE_IF" public-key
	assert_output "$NODE_PUB"
	run node ping -c 1 -W 2 10.0.0.1
	assert_success
	NODE_KEY_FILE="$first_key_file"
}

@test "an unreachable hub exits 69 and leaves nothing behind" {
	unreachable_config 1
	run --separate-stderr node_wgn up "$NODE_IF"
	assert_failure 69
	[ -z "$output" ]
	[[ "$stderr" == *"$NODE_IF: attempt 1/2 failed: hub 10.0.0.1 did not answer within 0.3s; retrying in "*s* ]]
	[[ "$stderr" == *"$NODE_IF: attempt 2/2 failed: hub 10.0.0.1 did not answer within 0.3s"* ]]
	assert_node_clean
}

@test "the overall timeout exits 75 and leaves nothing behind" {
	unreachable_config 50
	local t0=$SECONDS
	run node_wgn up "$NODE_IF" --timeout 1.5 --json
	assert_failure 75
	assert_line --partial '"success":false'
	assert_line --partial '"exit_code":75'
	assert_output --partial "timed out after 1.5s"
	[ $((SECONDS - t0)) -le 4 ]
	assert_node_clean
}

@test "--max-retries overrides the config" {
	unreachable_config 5
	run node_wgn up "$NODE_IF" --max-retries 0
	assert_failure 69
	assert_output --partial "attempt 1/1 failed"
	refute_output --partial "retrying"
	assert_node_clean
}

@test "SIGTERM during the retries rolls everything back" {
	unreachable_config 50 60
	local err="$BATS_TEST_TMPDIR/up.err"
	node_wgn_exec up "$NODE_IF" 2>"$err" &
	local pid=$!
	wait_for 10 grep -q "attempt 1/51 failed" "$err" || fail "no attempt: $(cat "$err")"
	# The link and the daemon exist while it retries.
	ip -n "$NODE_NS" link show dev "$NODE_IF" >/dev/null
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 143 ] || fail "exit $rc: $(cat "$err")"
	grep -q "interrupted" "$err" || fail "$(cat "$err")"
	assert_node_clean
}

@test "two concurrent ups: one waits for the other, and both see one tunnel" {
	node_wgn up "$NODE_IF" --json >"$BATS_TEST_TMPDIR/a.out" 2>"$BATS_TEST_TMPDIR/a.err" &
	local a=$!
	node_wgn up "$NODE_IF" --json >"$BATS_TEST_TMPDIR/b.out" 2>"$BATS_TEST_TMPDIR/b.err" &
	local b=$!
	local ra=0 rb=0
	wait "$a" || ra=$?
	wait "$b" || rb=$?
	[ "$ra" -eq 0 ] || fail "first: $ra $(cat "$BATS_TEST_TMPDIR/a.err")"
	[ "$rb" -eq 0 ] || fail "second: $rb $(cat "$BATS_TEST_TMPDIR/b.err")"
	run cat "$BATS_TEST_TMPDIR/a.out" "$BATS_TEST_TMPDIR/b.out"
	[ "$(grep -c '"change":"created"' <<<"$output")" -eq 1 ]
	[ "$(grep -c '"change":"unchanged"' <<<"$output")" -eq 1 ]
	# One daemon, one link, and it carries traffic.
	[ "$(ip netns pids "$NODE_NS" | wc -l)" -eq 1 ]
	run node ping -c 1 -W 2 10.0.0.1
	assert_success
}

@test "up waits for the interface lock, and then does its work" {
	requires_cmd flock
	mkdir -p "$WGN_RUN_DIR"
	local lock="$WGN_RUN_DIR/$NODE_IF.lock" err="$BATS_TEST_TMPDIR/up.err"
	exec {held}>"$lock"
	flock -x "$held"
	# The child must not inherit the descriptor, or it would hold the lock itself.
	node_wgn_exec up "$NODE_IF" {held}>&- 2>"$err" &
	local pid=$!
	wait_for 10 grep -q "waiting for another wgn" "$err" || fail "$(cat "$err")"
	# Nothing happens while it waits.
	run ip -n "$NODE_NS" link show dev "$NODE_IF"
	assert_failure
	exec {held}>&-
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ] || fail "exit $rc: $(cat "$err")"
	run node ping -c 1 -W 2 10.0.0.1
	assert_success
}

@test "the private key appears in no argv and no environment of any process up runs" {
	requires_cmd strace
	local trace="$BATS_TEST_TMPDIR/execve.trace" out="$BATS_TEST_TMPDIR/up.out"
	local rc_file="$BATS_TEST_TMPDIR/up.rc"
	# strace -f follows the daemon, which outlives up: once up has exited (its shell
	# writes the status), stopping strace detaches it from the daemon and flushes the
	# trace.
	strace -I 1 -f -v -e trace=execve -s 4096 -o "$trace" \
		sh -c 'ip netns exec "$1" env WGN_RUN_DIR="$2" WGN_STATE_DIR="$3" "$4" -v up "$5" \
			>"$6" 2>&1; echo $? >"$7"' \
		sh "$NODE_NS" "$WGN_RUN_DIR" "$WGN_STATE_DIR" "$WGN" "$NODE_CONF" "$out" "$rc_file" &
	local spid=$!
	wait_for 30 test -s "$rc_file" || fail "up did not finish: $(cat "$out")"
	kill -TERM "$spid"
	wait "$spid" || true
	[ "$(cat "$rc_file")" = 0 ] || fail "up failed: $(cat "$out")"
	output="$(cat "$out")"
	# The trace saw wgn and the daemon it started, so the check below means something.
	grep -q "execve(\"$WGN\"" "$trace"
	grep -q 'wireguard-go' "$trace" || [ "$WGN_TEST_BACKEND" = kernel ]
	local hex
	hex="$(base64 -d <<<"$NODE_PRIV" | od -An -tx1 | tr -d ' \n')"
	[ ${#hex} -eq 64 ]
	! grep -qF "$NODE_PRIV" "$trace" || fail "base64 private key in an execve"
	! grep -qiF "$hex" "$trace" || fail "hex private key in an execve"
	# Nor in what up printed, or the files it left.
	! grep -qF "$NODE_PRIV" <<<"$output"
	! grep -rqF -e "$NODE_PRIV" -e "$hex" "$WGN_RUN_DIR"
}

@test "--dry-run prints the plan and changes nothing; on a tunnel that is up, nothing to do" {
	run --separate-stderr node_wgn up "$NODE_IF" --dry-run
	assert_success
	if [ "$WGN_TEST_BACKEND" = kernel ]; then
		assert_line "[#] ip link add $NODE_IF type wireguard"
	else
		assert_line "[#] wireguard-go $NODE_IF"
	fi
	assert_line "[#] ip -4 address add 10.0.0.10/24 dev $NODE_IF"
	assert_line --partial "private-key (hidden)"
	assert_node_clean

	node_wgn up "$NODE_IF"
	run --separate-stderr node_wgn up "$NODE_IF" --dry-run
	assert_success
	[ -z "$output" ]
	[[ "$stderr" == *"nothing to do"* ]]
	run --separate-stderr node_wgn down "$NODE_IF" --dry-run
	assert_success
	assert_line "[#] ip link delete dev $NODE_IF"
	ip -n "$NODE_NS" link show dev "$NODE_IF" >/dev/null
}

@test "without CAP_NET_ADMIN up and down exit 77 and change nothing" {
	requires_cmd capsh
	run ip netns exec "$NODE_NS" env WGN_RUN_DIR="$WGN_RUN_DIR" \
		capsh --drop=cap_net_admin -- -c "exec \"$WGN\" up \"$NODE_CONF\""
	assert_failure 77
	assert_output --partial "CAP_NET_ADMIN"
	assert_node_clean
	run ip netns exec "$NODE_NS" capsh --drop=cap_net_admin -- -c "exec \"$WGN\" down \"$NODE_CONF\""
	assert_failure 77
}

@test "down stops a daemon whose link was deleted by hand" {
	node_wgn up "$NODE_IF"
	ip -n "$NODE_NS" link del dev "$NODE_IF"
	run node_wgn down "$NODE_IF"
	assert_success
	assert_node_clean
}

@test "down does not read the key file: it takes the tunnel down when the key is gone" {
	node_wgn up "$NODE_IF"
	mv "$NODE_KEY_FILE" "$NODE_KEY_FILE.away"
	run node_wgn down "$NODE_IF"
	mv "$NODE_KEY_FILE.away" "$NODE_KEY_FILE"
	assert_success
	assert_node_clean
}

# up killed with SIGKILL while it retries leaves a link and a daemon and no run state:
# no rollback ran. The next up must not take that link for a finished one.
kill9_up_during_retries() {
	local err="$BATS_TEST_TMPDIR/killed.err"
	node_wgn_exec up "$NODE_IF" 2>"$err" &
	local pid=$!
	wait_for 15 grep -q "attempt 1/51 failed" "$err" || fail "no attempt: $(cat "$err")"
	kill -KILL "$pid"
	wait "$pid" || true
	ip -n "$NODE_NS" link show dev "$NODE_IF" >/dev/null
	[ ! -e "$WGN_RUN_DIR/$NODE_IF.json" ]
}

@test "after kill -9 of up during its retries, up against a silent hub does not say 'already up'" {
	ip -n "$HUB_NS" link set vh down
	NODE_CONFIG_ATTEMPT_TIMEOUT=0.3 NODE_CONFIG_BACKOFF=0.1 NODE_CONFIG_RETRIES=50 \
		NODE_CONFIG_TIMEOUT=60 node_write_config
	kill9_up_during_retries

	run --separate-stderr node_wgn up "$NODE_IF" --max-retries 1 --timeout 5 --json
	assert_failure 69
	[[ "$stderr" != *"already up"* ]] || fail "$stderr"
	[[ "$stderr" == *"attempt 2/2 failed"* ]] || fail "$stderr"
	assert_line --partial '"success":false'
	# What the killed up left is gone, as its rollback would have removed it.
	assert_node_clean
}

@test "after kill -9 of up during its retries, up verifies the tunnel it finds and records it" {
	ip -n "$HUB_NS" link set vh down
	NODE_CONFIG_ATTEMPT_TIMEOUT=0.3 NODE_CONFIG_BACKOFF=0.1 NODE_CONFIG_RETRIES=50 \
		NODE_CONFIG_TIMEOUT=60 node_write_config
	kill9_up_during_retries
	local before
	before="$(node_ifindex)"
	ip -n "$HUB_NS" link set vh up

	run --separate-stderr node_wgn up "$NODE_IF" --max-retries 5 --json
	assert_success
	[[ "$stderr" != *"already up"* ]] || fail "$stderr"
	[[ "$stderr" == *"is up (unchanged"* ]] || fail "$stderr"
	assert_line --partial '"success":true'
	assert_line --partial '"change":"unchanged"'
	refute_line --partial '"attempts":0'
	[ "$(node_ifindex)" = "$before" ]
	[ -f "$WGN_RUN_DIR/$NODE_IF.json" ]
	grep -q '"connected_at": [1-9]' "$WGN_RUN_DIR/$NODE_IF.json" ||
		fail "$(cat "$WGN_RUN_DIR/$NODE_IF.json")"

	# Now recorded: the next up is the no-op, and down leaves nothing.
	run node_wgn up "$NODE_IF" --json
	assert_success
	assert_output --partial "already up"
	run node_wgn down "$NODE_IF"
	assert_success
	assert_node_clean
}
