#!/usr/bin/env bats
# `wgn rotate` end to end: the real control plane (contrib/control-plane on a private
# PostgreSQL, started once for the file), a wireguard-go hub in a namespace whose peers
# only `wgn sync --watch` sets, and a node in another namespace enrolled with its own
# node token (enroll --up), as in sync.bats. The "two hubs" tests add a second hub with
# its own sync before the node enrolls (hub2_setup), so that the node's config has two
# [[hub]] tables.

load test_helper
load cp_helper
load netns_helper

bats_require_minimum_version 1.5.0

setup_file() { cp_suite_start; }
teardown_file() { cp_stop_stack; }

setup() {
	sync_hub_setup
	sync_watch_start
	[[ $BATS_TEST_DESCRIPTION != "two hubs"* ]] || hub2_setup
	node_enroll
}

teardown() {
	sync_hub_teardown
	if [ -n "${HUB2_NS:-}" ]; then
		netns_kill_all "$HUB2_NS"
		ip netns del "$HUB2_NS" 2>/dev/null || true
		rm -f "$UAPI_DIR/$HUB2_IF.sock"
	fi
}

# hub2_setup: a second hub, as failover.bats lays several out: its own namespace and
# underlay (198.18.2.1/24 <-> the node's 198.18.2.2/24), wireguard-go with tunnel address
# 10.0.0.2, added by the administrator with priority 2 (the first hub has 0: it is the
# active one), its peers set only by its own `wgn sync --watch`.
hub2_setup() {
	HUB2_NS="wgn-${NETNS_ID}-hub2"
	HUB2_IF="wgh${NETNS_ID}b"
	HUB2_DIR="$BATS_TEST_TMPDIR/hub2"
	export HUB2_NS HUB2_IF HUB2_DIR
	mkdir -p "$HUB2_DIR/etc"
	ip netns add "$HUB2_NS"
	ip -n "$HUB2_NS" link set lo up
	ip -n "$HUB2_NS" link add vh2 type veth peer name vn2 netns "$NODE_NS"
	ip -n "$HUB2_NS" address add 198.18.2.1/24 dev vh2
	ip -n "$NODE_NS" address add 198.18.2.2/24 dev vn2
	ip -n "$HUB2_NS" link set vh2 up
	ip -n "$NODE_NS" link set vn2 up
	(umask 077 && wg genkey >"$HUB2_DIR/hub.key")
	HUB2_PUB="$(wg pubkey <"$HUB2_DIR/hub.key")"
	rm -f "$UAPI_DIR/$HUB2_IF.sock"
	ip netns exec "$HUB2_NS" env WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 \
		WG_PROCESS_FOREGROUND=1 wireguard-go "$HUB2_IF" >"$HUB2_DIR/wireguard-go.log" 2>&1 3>&- &
	echo $! >"$BATS_TEST_TMPDIR/hub2.pid"
	wait_for 5 test -S "$UAPI_DIR/$HUB2_IF.sock" || fail "hub 2's wireguard-go did not start"
	ip netns exec "$HUB2_NS" wg set "$HUB2_IF" private-key "$HUB2_DIR/hub.key" listen-port 51820
	ip -n "$HUB2_NS" address add 10.0.0.2/24 dev "$HUB2_IF"
	ip -n "$HUB2_NS" link set "$HUB2_IF" mtu 1420 up
	forward "$HUB2_NS"
	local out
	out="$(cp_admin POST /hubs "{\"public_key\":\"$HUB2_PUB\",\"endpoint\":\"198.18.2.1:51820\",\"tunnel_address\":\"10.0.0.2\",\"priority\":2}")"
	(umask 077 && json_field "$out" hub_token >"$HUB2_DIR/hub.token")
	cat >"$HUB2_DIR/etc/$HUB2_IF.toml" <<TOML
[interface]
private_key_file = "$HUB2_DIR/hub.key"
address = "10.0.0.2/24"
listen_port = 51820
backend = "userspace"

[control_plane]
url = "http://127.0.0.1:$CP_PORT"
token_file = "$HUB2_DIR/hub.token"
timeout = 2.0
max_retries = 1
TOML
	ip netns exec "$HUB2_NS" env WGN_RUN_DIR="$HUB2_DIR/run" WGN_STATE_DIR="$HUB2_DIR/state" \
		WGN_CONFIG_DIR="$HUB2_DIR/etc" "$WGN" sync --watch "$HUB2_IF" \
		</dev/null >"$HUB2_DIR/sync.out" 2>>"$HUB2_DIR/sync.log" 3>&- &
	echo $! >"$BATS_TEST_TMPDIR/sync2.pid"
	wait_for 10 test -s "$HUB2_DIR/state/$HUB2_IF.sync.json" ||
		fail "hub 2's sync --watch did not finish a first round: $(cat "$HUB2_DIR/sync.log")"
}

hub2_peers() { ip netns exec "$HUB2_NS" wg show "$HUB2_IF" peers; }

# The node enrolls with an enrollment token and comes up (the hub's sync admits it);
# its config gets quick retries and a timeout of ROTATE_TIMEOUT (default 20) seconds.
node_enroll() {
	make_token "$BATS_TEST_TMPDIR/enroll.token"
	rm -f "$NODE_CONF"
	run --separate-stderr node_wgn enroll "http://127.0.0.1:$CP_PORT" "$NODE_IF" \
		--token-file "$BATS_TEST_TMPDIR/enroll.token" --json
	assert_success
	NODE_ID="$(json_field "$output" node_id)"
	KEY_FILE="$NODE_CONF_DIR/$NODE_IF.key"
	sed -i 's/^\[interface\]$/[interface]\nbackend = "userspace"/' "$NODE_CONF"
	cat >>"$NODE_CONF" <<TOML

[connect]
max_retries = 5
initial_backoff = 0.2
max_backoff = 1.0
attempt_timeout = 1.0
timeout = ${ROTATE_TIMEOUT:-20}
TOML
	run --separate-stderr node_wgn up "$NODE_IF"
	assert_success
	OLD_PUB="$(wg pubkey <"$KEY_FILE")"
	NODE_ADDR="$(cp_sql "SELECT wireguard_address FROM nodes WHERE node_id = '$NODE_ID'")"
	export NODE_ID KEY_FILE OLD_PUB NODE_ADDR
	wait_for 5 hub_has_peer "$OLD_PUB" || fail "the hub did not admit the node"
	node ping -c 1 -W 2 10.0.0.1 >/dev/null
}

cp_key() { cp_sql "SELECT wireguard_public_key FROM nodes WHERE node_id = '$NODE_ID'"; }
iface_pub() { node wg show "$NODE_IF" public-key; }

# The node works on the key in its key file: the control plane, the interface and the
# hub (its only peer) all have it, and the hub answers.
assert_works_on_key_file() {
	local pub
	pub="$(wg pubkey <"$KEY_FILE")"
	[ ! -e "$KEY_FILE.new" ] || fail "$KEY_FILE.new is left"
	[ "$(cp_key)" = "$pub" ] || fail "the control plane has $(cp_key), the key file $pub"
	[ "$(iface_pub)" = "$pub" ] || fail "the interface has $(iface_pub), the key file $pub"
	wait_for 5 test "$(hub_peers)" = "$pub" || fail "the hub's peers: $(hub_peers); the key file: $pub"
	wait_for 15 node ping -c 1 -W 1 10.0.0.1 >/dev/null || fail "the hub does not answer"
	[ "$(cp_sql "SELECT wireguard_address FROM nodes WHERE node_id = '$NODE_ID'")" = "$NODE_ADDR" ]
	[ "$(cp_sql 'SELECT count(*) FROM nodes')" = 1 ]
}

@test "rotate while pinging the hub: success, at most 20 of the 100 ms pings lost, same node" {
	(exec ip netns exec "$NODE_NS" ping -i 0.1 -W 1 10.0.0.1 >"$BATS_TEST_TMPDIR/ping.out" 2>&1 3>&-) &
	local ping=$!
	echo "$ping" >"$BATS_TEST_TMPDIR/ping.pid"
	sleep 1
	run --separate-stderr node_wgn rotate "$NODE_IF" --json
	sleep 1
	kill -INT "$ping"
	wait "$ping" || true
	assert_success
	local new_pub sent got
	new_pub="$(wg pubkey <"$KEY_FILE")"
	[ "$new_pub" != "$OLD_PUB" ]
	[ "$(json_field "$output" success)" = true ]
	[ "$(json_field "$output" node_id)" = "$NODE_ID" ]
	[ "$(json_field "$output" old_public_key)" = "$OLD_PUB" ]
	[ "$(json_field "$output" new_public_key)" = "$new_pub" ]
	[ "$(json_field "$output" step)" = committed ]
	[ "$(stat -c %a "$KEY_FILE")" = 600 ]
	assert_works_on_key_file
	# The hub has exactly one peer for the node: the new key, with the node's address.
	run ip netns exec "$HUB_NS" wg show "$HUB_IF" allowed-ips
	[ "${#lines[@]}" = 1 ] && [[ $output == "$new_pub	10.0.0."*/32* ]] || fail "$output"
	sent="$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$BATS_TEST_TMPDIR/ping.out")"
	got="$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$BATS_TEST_TMPDIR/ping.out")"
	echo "# pings: $sent sent, $got received" >&3
	[ "$sent" -ge 15 ]
	[ $((sent - got)) -le 20 ] || fail "$((sent - got)) pings lost: $(tail -3 "$BATS_TEST_TMPDIR/ping.out")"
	# up afterwards: already up with this configuration (the run state knows the key).
	run --separate-stderr node_wgn up "$NODE_IF"
	assert_success
	[[ $stderr == *"already up with this configuration"* ]] || fail "$stderr"
}

@test "control plane down: 75, the old key stays and works; once it is back, rotate finishes" {
	cp_stop_app
	run --separate-stderr node_wgn rotate "$NODE_IF"
	cp_start_app
	assert_failure 75
	[[ $stderr == *"is kept"* ]] || fail "$stderr"
	[ "$(wg pubkey <"$KEY_FILE")" = "$OLD_PUB" ]
	[ "$(iface_pub)" = "$OLD_PUB" ]
	[ -f "$KEY_FILE.new" ] && [ "$(stat -c %a "$KEY_FILE.new")" = 600 ]
	node ping -c 1 -W 2 10.0.0.1 >/dev/null
	[ "$(cp_key)" = "$OLD_PUB" ]

	local pending
	pending="$(wg pubkey <"$KEY_FILE.new")"
	run --separate-stderr node_wgn rotate "$NODE_IF" --json
	assert_success
	[ "$(json_field "$output" resumed)" = true ]
	[ "$(wg pubkey <"$KEY_FILE")" = "$pending" ]
	assert_works_on_key_file
}

@test "hub sync stopped: rotate fails after its timeout, the old key is back and works" {
	kill -9 "$(cat "$BATS_TEST_TMPDIR/sync.pid")"
	wait_for 5 test -z "$(ip netns pids "$HUB_NS" | grep -vx "$HUB_PID")" || true
	SECONDS=0
	run --separate-stderr node_wgn rotate "$NODE_IF" --json
	assert_failure 69
	[ "$SECONDS" -ge 15 ] && [ "$SECONDS" -le 40 ] || fail "rotate took $SECONDS s (timeout 20)"
	[ "$(json_field "$output" rolled_back)" = true ]
	[ "$(json_field "$output" reregistered)" = true ]
	[[ $stderr == *"did not answer through the new key"* ]] || fail "$stderr"
	[ "$(wg pubkey <"$KEY_FILE")" = "$OLD_PUB" ]
	assert_works_on_key_file
}

# rotate_killed_at STEP: wgn -v rotate in the node namespace, SIGKILLed by strace at the
# first system call after STEP (none of them is a wgn test hook: they are the calls
# rotate makes anyway, the same on every run):
#   locked       the 1st connect(2): the UAPI socket, to read the device after flock
#   key_written  the 2nd connect(2): the registration's, after NAME.key.new's rename and
#                fsync (not a count of write(2): UBSan's type checks write to a pipe of
#                their own, as many times as their cache misses, in a sanitized build)
#   registered   the 3rd connect(2): the UAPI socket for the switch (the 2nd was the
#                registration's), after the registration state was saved
#   switched     the first socket(2) after the daemon's "errno=0" to the switch: every
#                socket(2) is held 1 s (delay_enter), and the test kills wgn there
#   verified     the 2nd rename(2): NAME.key.new over NAME.key (the 1st: the registration
#                state's temp over the state; the pending key, new, is linked in whole
#                without a rename: fsutil.h)
#   committed    the 3rd rename(2): the run state for the new key, the key file replaced
# Sets KILLED_RC (137: killed) and KILLED_OUT.
rotate_killed_at() {
	local step="$1" inject trace="$BATS_TEST_TMPDIR/rotate.$1.trace"
	case "$step" in
	locked) inject=connect:signal=SIGKILL:when=1 ;;
	key_written) inject=connect:signal=SIGKILL:when=2 ;;
	registered) inject=connect:signal=SIGKILL:when=3 ;;
	switched) inject=socket:delay_enter=1000000 ;;
	verified) inject=rename:signal=SIGKILL:when=2 ;;
	committed) inject=rename:signal=SIGKILL:when=3 ;;
	*) fail "no such step: $step" ;;
	esac
	KILLED_OUT="$BATS_TEST_TMPDIR/rotate.$step.out"
	KILLED_RC=0
	rm -f "$trace"
	ip netns exec "$NODE_NS" env WGN_RUN_DIR="$WGN_RUN_DIR" WGN_STATE_DIR="$WGN_STATE_DIR" \
		WGN_CONFIG_DIR="$NODE_CONF_DIR" \
		strace -qq -yy -s 16 -o "$trace" -e trace=connect,write,rename,socket,sendto,recvfrom \
		-e inject="$inject" "$WGN" -v rotate "$NODE_IF" >"$KILLED_OUT" 2>&1 </dev/null 3>&- &
	local pid=$!
	echo "$pid" >"$BATS_TEST_TMPDIR/strace.pid"
	if [ "$step" = switched ]; then
		# The switch is the UAPI "set=1" request; its answer is "errno=0".
		wait_for 30 grep -q 'recvfrom(.*UNIX.*"errno=0\\n\\n"' "$trace" ||
			fail "rotate did not switch: $(cat "$KILLED_OUT")"
		kill -9 "$(ip netns pids "$NODE_NS" | while read -r p; do
			[ "$(cat "/proc/$p/comm" 2>/dev/null)" = wgn ] && echo "$p"; done)"
	fi
	wait "$pid" || KILLED_RC=$?
}

# The node's state after a kill at STEP: what that step did is done, the next is not.
assert_killed_after() {
	local step="$1" pending=""
	[ "$KILLED_RC" = 137 ] || fail "rotate was not killed at $step ($KILLED_RC): $(cat "$KILLED_OUT")"
	[ -e "$KEY_FILE.new" ] && pending="$(wg pubkey <"$KEY_FILE.new")"
	local file_pub
	file_pub="$(wg pubkey <"$KEY_FILE")"
	case "$step" in
	locked)
		[ -z "$pending" ] && [ "$(cp_key)" = "$file_pub" ] && [ "$(iface_pub)" = "$file_pub" ] ;;
	key_written)
		[ -n "$pending" ] && [ "$(cp_key)" = "$file_pub" ] && [ "$(iface_pub)" = "$file_pub" ] ;;
	registered)
		[ -n "$pending" ] && [ "$(cp_key)" = "$pending" ] && [ "$(iface_pub)" = "$file_pub" ] ;;
	switched | verified)
		[ -n "$pending" ] && [ "$(cp_key)" = "$pending" ] && [ "$(iface_pub)" = "$pending" ] ;;
	committed)
		[ -z "$pending" ] && [ "$(cp_key)" = "$file_pub" ] && [ "$(iface_pub)" = "$file_pub" ] &&
			[ "$file_pub" != "$KEY_BEFORE" ] ;;
	esac || fail "after a kill at $step: key file $file_pub, pending ${pending:-none}, control plane $(cp_key), interface $(iface_pub)"
	# No temp file of a key is left behind.
	! compgen -G "$KEY_FILE.new.tmp-*" >/dev/null || fail "a temp of the pending key is left"
}

@test "kill -9 at each step of rotate (strace), then wgn up: a working tunnel on the key file's key" {
	requires_cmd strace
	local step
	for step in locked key_written registered switched verified committed; do
		KEY_BEFORE="$(wg pubkey <"$KEY_FILE")"
		rotate_killed_at "$step"
		assert_killed_after "$step"
		run --separate-stderr node_wgn up "$NODE_IF"
		[ "$status" = 0 ] || fail "up after a kill at $step: $status: $stderr"
		echo "# $step: $(tail -1 <<<"$stderr")" >&3
		assert_works_on_key_file
	done
	# Each kill from key_written on left a key that up took: five new keys.
	[ "$(wg pubkey <"$KEY_FILE")" != "$OLD_PUB" ]
}

# key_write_killed [STRACE ARGS...]: wgn -v rotate in the node namespace, SIGKILLed by
# strace at its 1st write(2), the new private key into its file (the trace: openat and
# write). Sets KILLED_RC, KILLED_TRACE.
key_write_killed() {
	KILLED_TRACE="$BATS_TEST_TMPDIR/keywrite.trace"
	KILLED_RC=0
	ip netns exec "$NODE_NS" env WGN_RUN_DIR="$WGN_RUN_DIR" WGN_STATE_DIR="$WGN_STATE_DIR" \
		WGN_CONFIG_DIR="$NODE_CONF_DIR" \
		strace -qq -yy -s 0 -o "$KILLED_TRACE" -e trace=openat,write "$@" \
		-e inject=write:signal=SIGKILL:when=1 "$WGN" -v rotate "$NODE_IF" \
		>"$BATS_TEST_TMPDIR/keywrite.out" 2>&1 </dev/null 3>&- || KILLED_RC=$?
	[ "$KILLED_RC" = 137 ] || fail "rotate was not killed ($KILLED_RC): $(cat "$BATS_TEST_TMPDIR/keywrite.out")"
	# The write stopped is the key's: 44 characters of base64 and a newline, into a
	# file in the key's directory.
	grep -qE "^write\([0-9]+<$NODE_CONF_DIR/[^>]*>(\(deleted\))?, \"\"\.\.\., 45\)" "$KILLED_TRACE" ||
		fail "not the key's write: $(grep ^write "$KILLED_TRACE")"
}

# wgn-rotate(8): the new key is written into a file without a name (O_TMPFILE) that is
# linked in as NAME.key.new once whole and on disk: a rotate killed meanwhile leaves no
# file of the key at all (it left NAME.key.new.tmp-PID.XXXXXX, 0600, until the next
# rotate).
@test "kill -9 while rotate writes the new key: no file of it is left, not even a temp; up works on the key file's key" {
	requires_cmd strace
	local before
	before="$(ls -A "$NODE_CONF_DIR")"
	key_write_killed
	[ "$(ls -A "$NODE_CONF_DIR")" = "$before" ] || fail "left in $NODE_CONF_DIR: $(ls -A "$NODE_CONF_DIR")"
	grep -qE "^openat\(.*\"$NODE_CONF_DIR\", O_WRONLY\|O_CLOEXEC\|O_TMPFILE, 0600\) = [0-9]+<$NODE_CONF_DIR/#[0-9]+>\(deleted\)" \
		"$KILLED_TRACE" || fail "the key's file has a name: $(grep ^openat "$KILLED_TRACE" | tail -3)"
	[ "$(cp_key)" = "$OLD_PUB" ] && [ "$(iface_pub)" = "$OLD_PUB" ]
	run --separate-stderr node_wgn up "$NODE_IF"
	assert_success
	[ "$(wg pubkey <"$KEY_FILE")" = "$OLD_PUB" ]
	assert_works_on_key_file
	[ "$(ls -A "$NODE_CONF_DIR")" = "$before" ] || fail "left in $NODE_CONF_DIR: $(ls -A "$NODE_CONF_DIR")"
}

# Where the key's directory has no O_TMPFILE (overlayfs before Linux 6.7, NFS, vfat;
# made here by strace failing that open with EOPNOTSUPP), the temp is named from the
# start and a kill leaves it: up and down remove it once its writer is dead (the
# regular files named exactly NAME.key.new.tmp-PID.XXXXXX of a PID that runs nothing),
# never anything else.
@test "no O_TMPFILE for the key: a kill at its write leaves a named temp, which up and down remove, and nothing else" {
	requires_cmd strace
	local k leftover dead cmd f
	# Which openat(2) is the O_TMPFILE one: a rotation killed at the same write makes
	# the same calls up to there.
	key_write_killed
	k="$(grep -c '^openat(' <(sed -n '1,/O_TMPFILE/p' "$KILLED_TRACE"))"
	grep -q 'O_TMPFILE' "$KILLED_TRACE" || fail "no O_TMPFILE open: $(cat "$KILLED_TRACE")"
	for cmd in up down; do
		key_write_killed -e inject=openat:error=EOPNOTSUPP:when="$k"
		grep -q 'O_TMPFILE, 0600) = -1 EOPNOTSUPP (Operation not supported) (INJECTED)' "$KILLED_TRACE" ||
			fail "the O_TMPFILE open was not failed: $(grep ^openat "$KILLED_TRACE" | tail -3)"
		leftover="$(compgen -G "$KEY_FILE.new.tmp-*")" || fail "no temp left: $(ls -A "$NODE_CONF_DIR")"
		[ "$(stat -c %a "$leftover")" = 600 ]
		dead="${leftover#"$KEY_FILE.new.tmp-"}"
		dead="${dead%%.*}"
		! kill -0 "$dead" 2>/dev/null || fail "the killed rotate's pid $dead runs"
		# Alike, but not a dead rotation's temp of this interface's key: all stay.
		echo precious >"$BATS_TEST_TMPDIR/precious"
		ln -sf "$BATS_TEST_TMPDIR/precious" "$KEY_FILE.new.tmp-$dead.Symlnk"
		touch "$KEY_FILE.new.tmp-$$.Alive1" "$KEY_FILE.new.tmp-$dead.Ab12Cd.bak" \
			"$KEY_FILE.new.tmp-$dead.Ab12" "$NODE_CONF_DIR/wgother.key.new.tmp-$dead.Ab12Cd"
		mkdir -p "$KEY_FILE.new.tmp-$dead.Dir123"
		run --separate-stderr node_wgn "$cmd" "$NODE_IF"
		assert_success
		[ ! -e "$leftover" ] || fail "$cmd left $leftover"
		for f in "$KEY_FILE.new.tmp-$dead.Symlnk" "$KEY_FILE.new.tmp-$$.Alive1" \
			"$KEY_FILE.new.tmp-$dead.Ab12Cd.bak" "$KEY_FILE.new.tmp-$dead.Ab12" \
			"$NODE_CONF_DIR/wgother.key.new.tmp-$dead.Ab12Cd" "$KEY_FILE.new.tmp-$dead.Dir123"; do
			[ -e "$f" ] || [ -L "$f" ] || fail "$cmd removed $f"
		done
		[ "$(cat "$BATS_TEST_TMPDIR/precious")" = precious ]
		rm -rf "$NODE_CONF_DIR"/*.tmp-*
	done
	run --separate-stderr node_wgn up "$NODE_IF"
	assert_success
	[ "$(wg pubkey <"$KEY_FILE")" = "$OLD_PUB" ]
	assert_works_on_key_file
}

# The control plane took the new key, rotate was killed, and the control plane is gone
# before `up`: the hub answers only the pending key, and up finds it (SPEC: never
# neither). Then once more from a fresh interface (a reboot): down, up.
@test "killed after the registration, then up without a control plane: the pending key, adopted" {
	requires_cmd strace
	local step pending
	for step in registered switched reboot; do
		KEY_BEFORE="$(wg pubkey <"$KEY_FILE")"
		rotate_killed_at "${step/reboot/registered}"
		assert_killed_after "${step/reboot/registered}"
		pending="$(wg pubkey <"$KEY_FILE.new")"
		cp_stop_app
		[ "$step" != reboot ] || node_wgn down "$NODE_IF"
		SECONDS=0
		run --separate-stderr node_wgn up "$NODE_IF"
		local took=$SECONDS
		cp_start_app
		echo "# $step: up in ${took}s: $(tail -1 <<<"$stderr")" >&3
		[ "$status" = 0 ] || fail "up after a kill at $step without the control plane: $status: $stderr"
		[[ $stderr == *"did not answer"* ]] || fail "$stderr"
		[[ $stderr == *"trying the pending key $pending"* ]] || fail "$stderr"
		[[ $stderr == *"finished the interrupted rotation without the control plane"* ]] || fail "$stderr"
		[ "$took" -le 25 ] || fail "up took $took s (connect.timeout 20)"
		[ "$(wg pubkey <"$KEY_FILE")" = "$pending" ]
		[ "$(stat -c %a "$KEY_FILE")" = 600 ]
		assert_works_on_key_file
		# Recorded for the new key: the next up is a no-op.
		run --separate-stderr node_wgn up "$NODE_IF"
		assert_success
		[[ $stderr == *"already up with this configuration"* ]] || fail "$stderr"
	done
}

lock_held() {
	local i
	i="$(stat -c %i "$1" 2>/dev/null)" || return 1
	grep -qE "FLOCK +ADVISORY +WRITE +[0-9]+ +[0-9a-f]+:[0-9a-f]+:$i " /proc/locks
}

# first_holding_lock ARGS...: wgn ARGS in the node namespace, in the background (FIRST:
# its pid), its flock(2) of the interface lock returning 3 s late (strace delay_exit):
# it holds the lock meanwhile. Returns once the lock is held.
first_holding_lock() {
	FIRST_ARGS="$*"
	ip netns exec "$NODE_NS" env WGN_RUN_DIR="$WGN_RUN_DIR" WGN_STATE_DIR="$WGN_STATE_DIR" \
		WGN_CONFIG_DIR="$NODE_CONF_DIR" strace -qq -o /dev/null -e trace=flock \
		-e inject=flock:delay_exit=3000000:when=1 "$WGN" "$@" \
		>"$BATS_TEST_TMPDIR/first.out" 2>"$BATS_TEST_TMPDIR/first.err" </dev/null 3>&- &
	FIRST=$!
	# Seen in /proc/locks, never by taking the lock (which could make wgn wait).
	wait_for 10 lock_held "$WGN_RUN_DIR/$NODE_IF.lock" ||
		fail "wgn $* did not take the lock: $(cat "$BATS_TEST_TMPDIR/first.err")"
}

# second_waits ARGS...: wgn ARGS while FIRST holds the lock: it says that it waits, and
# runs once FIRST is done, which succeeded. Sets status, output and stderr of the second.
second_waits() {
	run --separate-stderr node_wgn "$@"
	local first_rc=0
	wait "$FIRST" || first_rc=$?
	[ "$first_rc" = 0 ] ||
		fail "wgn $FIRST_ARGS: $first_rc: $(cat "$BATS_TEST_TMPDIR/first.err")"
	[[ $stderr == *"waiting for another wgn working on $NODE_IF"* ]] ||
		fail "wgn $* did not wait for the lock: $stderr"
}

# SPEC "Files": one up/down/rotate/sync change per interface at a time; wgn-up(8): a
# second one waits for the first, then sees what it left.
@test "rotate, then up while it holds the lock: up waits and finds the new key up; one key everywhere" {
	first_holding_lock rotate "$NODE_IF"
	second_waits up "$NODE_IF"
	[ "$status" = 0 ] || fail "up: $status: $stderr"
	[ "$(wg pubkey <"$KEY_FILE")" != "$OLD_PUB" ]
	assert_works_on_key_file
}

@test "up, then rotate while it holds the lock: rotate waits, then rotates; one key everywhere" {
	first_holding_lock up "$NODE_IF"
	second_waits rotate "$NODE_IF"
	[ "$status" = 0 ] || fail "rotate: $status: $stderr"
	[ "$(wg pubkey <"$KEY_FILE")" != "$OLD_PUB" ]
	assert_works_on_key_file
}

@test "rotate, then down while it holds the lock: down waits and takes the new key's tunnel down; up works on it" {
	first_holding_lock rotate "$NODE_IF"
	second_waits down "$NODE_IF"
	[ "$status" = 0 ] || fail "down: $status: $stderr"
	! ip -n "$NODE_NS" link show dev "$NODE_IF" 2>/dev/null || fail "$NODE_IF is still there"
	local new_pub
	new_pub="$(wg pubkey <"$KEY_FILE")"
	[ "$new_pub" != "$OLD_PUB" ] && [ "$(cp_key)" = "$new_pub" ] && [ ! -e "$KEY_FILE.new" ]
	run --separate-stderr node_wgn up "$NODE_IF"
	assert_success
	assert_works_on_key_file
}

@test "down, then rotate while it holds the lock: rotate waits, then 69 (not up), nothing changed" {
	first_holding_lock down "$NODE_IF"
	second_waits rotate "$NODE_IF"
	[ "$status" = 69 ] || fail "rotate: $status: $stderr"
	[[ $stderr == *"is not up"* ]] || fail "$stderr"
	[ "$(wg pubkey <"$KEY_FILE")" = "$OLD_PUB" ] && [ "$(cp_key)" = "$OLD_PUB" ] && [ ! -e "$KEY_FILE.new" ]
	run --separate-stderr node_wgn up "$NODE_IF"
	assert_success
	assert_works_on_key_file
}

@test "rotate, then rotate while it holds the lock: the second waits and rotates from the first's key; one key everywhere" {
	first_holding_lock rotate "$NODE_IF" --json
	second_waits rotate "$NODE_IF" --json
	[ "$status" = 0 ] || fail "rotate 2: $status: $stderr"
	local first_new
	first_new="$(json_field "$(cat "$BATS_TEST_TMPDIR/first.out")" new_public_key)"
	[ "$(json_field "$(cat "$BATS_TEST_TMPDIR/first.out")" old_public_key)" = "$OLD_PUB" ]
	[ "$(json_field "$output" old_public_key)" = "$first_new" ] || fail "$output"
	[ "$(json_field "$output" new_public_key)" = "$(wg pubkey <"$KEY_FILE")" ]
	[ "$(wg pubkey <"$KEY_FILE")" != "$first_new" ]
	assert_works_on_key_file
	run --separate-stderr node_wgn up "$NODE_IF"
	assert_success
	[[ $stderr == *"already up with this configuration"* ]] || fail "$stderr"
}

# SPEC "Several hubs" and "Key rotation": every hub converges on the new key, the
# active one is verified.
@test "two hubs: rotate; each hub has exactly one peer for the node, the new key; traffic through both" {
	grep -q '^\[\[hub\]\]' "$NODE_CONF" || fail "the enrolled config has one hub: $(cat "$NODE_CONF")"
	wait_for 5 test "$(hub2_peers)" = "$OLD_PUB" || fail "hub 2's peers: $(hub2_peers)"
	node ping -c 1 -W 2 10.0.0.2 >/dev/null
	run --separate-stderr node_wgn rotate "$NODE_IF" --json
	assert_success
	local new_pub n
	new_pub="$(wg pubkey <"$KEY_FILE")"
	[ "$new_pub" != "$OLD_PUB" ]
	[ "$(json_field "$output" new_public_key)" = "$new_pub" ]
	[ "$(json_field "$output" node_id)" = "$NODE_ID" ]
	# The active hub (the first, priority 0) is the one verified.
	[ "$(json_field "$output" hub)" = "$HUB_ENDPOINT" ] || fail "$output"
	assert_works_on_key_file
	wait_for 5 test "$(hub2_peers)" = "$new_pub" || fail "hub 2's peers: $(hub2_peers); new key: $new_pub"
	for n in 1 2; do
		if [ "$n" = 1 ]; then
			run ip netns exec "$HUB_NS" wg show "$HUB_IF" allowed-ips
		else
			run ip netns exec "$HUB2_NS" wg show "$HUB2_IF" allowed-ips
		fi
		[ "${#lines[@]}" = 1 ] && [[ $output == "$new_pub	10.0.0."*/32* ]] ||
			fail "hub $n: $output (the node is ${NODE_ADDR})"
	done
	# Traffic through both: the active hub carries the network, the standby answers on
	# its tunnel address, each through the new key.
	wait_for 15 node ping -c 1 -W 1 10.0.0.1 >/dev/null || fail "hub 1 does not answer"
	wait_for 15 node ping -c 1 -W 1 10.0.0.2 >/dev/null || fail "hub 2 does not answer"
	run --separate-stderr node_wgn up "$NODE_IF"
	assert_success
	[[ $stderr == *"already up with this configuration"* ]] || fail "$stderr"
}

@test "two hubs, the first one's link down: rotate verifies through the second (active); the first converges and answers once back" {
	# The first hub loses its underlay; a new up finds the second the best that answers.
	ip -n "$HUB_NS" link set vh down
	node_wgn down "$NODE_IF"
	run --separate-stderr node_wgn up "$NODE_IF" --json
	assert_success
	[[ $stderr == *"hub[1] 198.18.2.1:51820 is active"* ]] || fail "$stderr"
	run --separate-stderr node_wgn rotate "$NODE_IF" --json
	assert_success
	[ "$(json_field "$output" hub)" = "198.18.2.1:51820" ] || fail "$output"
	local new_pub
	new_pub="$(wg pubkey <"$KEY_FILE")"
	[ "$(json_field "$output" new_public_key)" = "$new_pub" ]
	[ "$(iface_pub)" = "$new_pub" ]
	[ "$(cp_key)" = "$new_pub" ]
	# Both hubs' syncs follow the control plane, the unreachable one too.
	wait_for 5 test "$(hub2_peers)" = "$new_pub" || fail "hub 2's peers: $(hub2_peers)"
	wait_for 5 test "$(hub_peers)" = "$new_pub" || fail "hub 1's peers: $(hub_peers)"
	node ping -c 1 -W 2 10.0.0.2 >/dev/null
	# The first hub back: it answers the new key on its tunnel address.
	ip -n "$HUB_NS" link set vh up
	wait_for 15 node ping -c 1 -W 1 10.0.0.1 >/dev/null || fail "hub 1 does not answer the new key"
}

@test "the private keys are in no argv, environment, output or state file (strace)" {
	requires_cmd strace
	local old_priv old_hex
	old_priv="$(cat "$KEY_FILE")"
	strace -f -v -yy -s 65535 -e trace=execve,write -o "$BATS_TEST_TMPDIR/trace" \
		ip netns exec "$NODE_NS" env WGN_RUN_DIR="$WGN_RUN_DIR" WGN_STATE_DIR="$WGN_STATE_DIR" \
		WGN_CONFIG_DIR="$NODE_CONF_DIR" "$WGN" -v rotate "$NODE_IF" --json \
		>"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
	local new_priv secret hex
	new_priv="$(cat "$KEY_FILE")"
	[ "$new_priv" != "$old_priv" ]
	grep -q "execve(\"$WGN\"" "$BATS_TEST_TMPDIR/trace"
	# The only write of a private key is the new key into a file without a name
	# (O_TMPFILE) in the key's directory, linked in as NAME.key.new once whole.
	for secret in "$old_priv" "$new_priv" "$(cat "$NODE_CONF_DIR/$NODE_IF.token")"; do
		hex="$(base64 -d <<<"$secret" 2>/dev/null | od -An -tx1 | tr -d ' \n')"
		run grep -F -e "$secret" "$BATS_TEST_TMPDIR/trace"
		if [ "$secret" = "$new_priv" ]; then
			[ "${#lines[@]}" = 1 ] && [[ ${lines[0]} == *"write("*"<$NODE_CONF_DIR/#"*">(deleted), "* ]] ||
				fail "the new key is written elsewhere: $output"
		else
			[ "${#lines[@]}" = 0 ] || fail "a secret is in the trace: $output"
		fi
		[ ${#hex} -lt 64 ] || ! grep -qiF -e "$hex" "$BATS_TEST_TMPDIR/trace" ||
			fail "a secret is in the trace in hex"
		! grep -qF -e "$secret" "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err" \
			"$WGN_RUN_DIR"/* "$WGN_STATE_DIR"/* || fail "a secret is in the output or state"
	done
	grep -q "private-key (the $(wg pubkey <"$KEY_FILE") key)" "$BATS_TEST_TMPDIR/err"
}

@test "rotate without private_key_file or [control_plane]: 78; a hub's config: 78; not up: 69" {
	run --separate-stderr node_wgn rotate "$HUB_DIR/etc/$HUB_IF.toml"
	assert_failure 78
	sed -i '/^\[control_plane\]/,$d' "$NODE_CONF"
	run --separate-stderr node_wgn rotate "$NODE_IF"
	assert_failure 78
	[[ $stderr == *"needs [control_plane]"* ]] || fail "$stderr"
	printf '[interface]\nprivate_key = "%s"\naddress = "10.0.0.9/24"\n[hub]\npublic_key = "%s"\nendpoint = "192.0.2.1:51820"\nallowed_ips = "10.0.0.0/24"\n[control_plane]\nurl = "http://127.0.0.1:1"\n' \
		"$(wg genkey)" "$HUB_PUB" >"$BATS_TEST_TMPDIR/inline.toml"
	chmod 600 "$BATS_TEST_TMPDIR/inline.toml"
	run --separate-stderr node_wgn rotate "$BATS_TEST_TMPDIR/inline.toml"
	assert_failure 78
	[[ $stderr == *"needs [interface] private_key_file"* ]] || fail "$stderr"
	node_wgn down "$NODE_IF"
	printf '\n[control_plane]\nurl = "http://127.0.0.1:%s"\ntoken_file = "%s"\n' "$CP_PORT" \
		"$NODE_CONF_DIR/$NODE_IF.token" >>"$NODE_CONF"
	run --separate-stderr node_wgn rotate "$NODE_IF"
	assert_failure 69
	[[ $stderr == *"is not up"* ]] || fail "$stderr"
	[ ! -e "$KEY_FILE.new" ]
	[ "$(cp_key)" = "$OLD_PUB" ]
}
