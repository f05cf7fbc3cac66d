#!/usr/bin/env bats
# wgn health as a user runs it. The first tests need no root: configs whose interface
# does not exist (disconnected) or cannot be read (unknown). The root tests build a hub
# and a node in network namespaces and look at a real tunnel.

bats_require_minimum_version 1.5.0
load test_helper

setup() {
	make_config_dir
	export WGN_RUN_DIR="$BATS_TEST_TMPDIR/run" WGN_STATE_DIR="$BATS_TEST_TMPDIR/state"
	unset WGN_CONFIG_DIR
	# Names no host has, so that "disconnected" is true on a laptop as well.
	write_config wgnhx0
	write_config wgnhx1
	PROM_DIR="$BATS_TEST_TMPDIR/prom"
}

# prom_parse: reads the exposition on stdin with the Prometheus project's own parser and
# prints "TYPE family" once per family, then "name{k=v,...} value" per sample, sorted.
# Fails when a family appears twice.
prom_parse() {
	/usr/bin/python3 -c '
import sys
from prometheus_client.parser import text_string_to_metric_families as parse
seen, out = set(), []
for f in parse(sys.stdin.read()):
    assert f.name not in seen, "family %s twice" % f.name
    seen.add(f.name)
    out.append("TYPE %s %s" % (f.name, f.type))
    for s in f.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        out.append("%s{%s} %r" % (s.name, labels, s.value))
print("\n".join(sorted(out)))
'
}

requires_prom_parser() {
	if ! /usr/bin/python3 -c 'import prometheus_client' 2>/dev/null; then
		[ "${CI:-}" = true ] && fail "CI must have python3-prometheus-client"
		skip "needs python3-prometheus-client"
	fi
}

@test "health: a config whose interface does not exist is disconnected (2)" {
	run -2 "$WGN" --config-dir "$CONF_DIR" health wgnhx0
	assert_output "wgnhx0: disconnected: no interface wgnhx0"
}

@test "health --format json: SPEC's fields, nulls for what is not known" {
	run -2 --separate-stderr "$WGN" --config-dir "$CONF_DIR" health wgnhx0 --format json
	[ "${#lines[@]}" -eq 1 ]
	run -0 /usr/bin/python3 -c '
import json, sys
j = json.loads(sys.argv[1])
assert j["status"] == "disconnected", j
assert j["connected"] is False and j["can_ping_hub"] is False, j
for k in ("handshake_age", "uptime_seconds", "node_id", "rtt_ms", "rx_bytes", "tx_bytes"):
    assert k in j and j[k] is None, k
assert j["interface"] == "wgnhx0" and j["exit_code"] == 2, j
' "$output"
}

@test "health --format nagios: one line, CRITICAL, U where nothing was measured" {
	run -2 "$WGN" --config-dir "$CONF_DIR" health wgnhx0 --format nagios
	assert_output "WGN CRITICAL - wgnhx0 disconnected, no interface wgnhx0 | handshake_age=U;180;;0 rtt=U;;;0"
}

@test "health --stale-after sets the warning threshold of the perfdata" {
	run -2 "$WGN" --config-dir "$CONF_DIR" health wgnhx0 --format nagios --stale-after 42
	assert_output --partial "handshake_age=U;42;;0"
}

@test "health: a missing config is UNKNOWN (3) with one sentence" {
	run -3 "$WGN" --config-dir "$CONF_DIR" health nosuch --format nagios
	assert_output --regexp "^WGN UNKNOWN - nosuch unknown, config file .*nosuch.toml not found$"
}

@test "health: an invalid config is UNKNOWN (3) naming file and line" {
	printf '[interface]\nbogus = 1\n' >"$CONF_DIR/broken.toml"
	run -3 "$WGN" --config-dir "$CONF_DIR" health broken
	assert_output --regexp "^broken: unknown: .*broken.toml:2"
}

@test "health --format json: a path that is not UTF-8 still gives JSON and 3, not an abort" {
	local dir=$'\xff\xfe'
	mkdir -p "$CONF_DIR/$dir"
	printf '[interface]\nbogus = 1\n' >"$CONF_DIR/$dir/bad.toml"
	run -3 --separate-stderr "$WGN" health "$CONF_DIR/$dir/bad.toml" --format json
	run -0 /usr/bin/python3 -c '
import json, sys
j = json.loads(sys.argv[1])
assert j["status"] == "unknown" and j["exit_code"] == 3, j
assert "\ufffd" in json.dumps(j, ensure_ascii=False), j
' "$output"
}

@test "health --all: one result each, exit the worst (2 > 3 > 1 > 0)" {
	printf 'junk\n' >"$CONF_DIR/broken.toml"
	run -2 "$WGN" --config-dir "$CONF_DIR" health --all
	assert_line --index 0 --partial "broken: unknown: "
	assert_line --index 1 "wgnhx0: disconnected: no interface wgnhx0"
	assert_line --index 2 "wgnhx1: disconnected: no interface wgnhx1"
	[ "${#lines[@]}" -eq 3 ]
	# Only the UNKNOWN left: 3.
	rm "$CONF_DIR"/wgnhx*.toml
	run -3 "$WGN" --config-dir "$CONF_DIR" health --all
}

@test "health --all with nagios: one line, labels by interface" {
	run -2 "$WGN" --config-dir "$CONF_DIR" health --all --format nagios
	[ "${#lines[@]}" -eq 1 ]
	assert_output --partial "WGN CRITICAL - wgnhx0 disconnected, no interface wgnhx0 / wgnhx1 disconnected"
	assert_output --partial "| wgnhx0_handshake_age=U;180;;0 wgnhx0_rtt=U;;;0 wgnhx1_handshake_age=U;180;;0"
}

@test "health --all in an empty directory: nothing to check, OK" {
	mkdir "$BATS_TEST_TMPDIR/empty"
	run -0 "$WGN" --config-dir "$BATS_TEST_TMPDIR/empty" health --all --format nagios
	assert_output "WGN OK - no configs to check"
}

@test "health --format prometheus: the official parser reads it, families once with --all" {
	requires_prom_parser
	printf 'junk\n' >"$CONF_DIR/broken.toml"
	run -2 --separate-stderr "$WGN" --config-dir "$CONF_DIR" health --all --format prometheus
	[ "$(grep -c '^# TYPE wgn_up ' <<<"$output")" -eq 1 ]
	[ "$(grep -c '^# HELP wgn_health_status ' <<<"$output")" -eq 1 ]
	run -0 prom_parse <<<"$output"
	assert_line "TYPE wgn_up gauge"
	assert_line "TYPE wgn_health_status gauge"
	assert_line "wgn_up{interface=wgnhx0} 0.0"
	assert_line "wgn_up{interface=wgnhx1} 0.0"
	assert_line "wgn_health_status{interface=wgnhx0,status=disconnected} 1.0"
	assert_line "wgn_health_status{interface=wgnhx0,status=healthy} 0.0"
	assert_line "wgn_health_status{interface=broken,status=unknown} 1.0"
	# What is not known is left out, not made up.
	refute_output --partial "wgn_handshake_age_seconds{"
	refute_output --partial "wgn_up{interface=broken}"
}

@test "health --textfile-dir: wgn_NAME.prom per interface, linked or renamed into place whole, nothing else left" {
	requires_cmd strace
	local trace="$BATS_TEST_TMPDIR/trace" n
	for n in 1 2; do
		run -2 strace -f -qq -o "$trace.$n" \
			-e trace=openat,rename,renameat,renameat2,linkat \
			"$WGN" --config-dir "$CONF_DIR" health --all --textfile-dir "$PROM_DIR"
		run ls -A "$PROM_DIR"
		assert_output "$(printf 'wgn_wgnhx0.prom\nwgn_wgnhx1.prom')"
		# Written into a file without a name (O_TMPFILE), never opened in place.
		run grep -E "openat\(.*\"$PROM_DIR\", O_WRONLY\|O_CLOEXEC\|O_TMPFILE, 0600\)" "$trace.$n"
		[ "${#lines[@]}" = 2 ] || fail "$(cat "$trace.$n")"
		run grep -E "openat\(.*wgn_wgnhx0.prom" "$trace.$n"
		assert_failure
	done
	# The first time, the whole file is linked in under its own name; then it is linked
	# as a temp and renamed over the one there.
	run grep -E "linkat\(AT_FDCWD, \"/proc/self/fd/[0-9]+\", AT_FDCWD, \"$PROM_DIR/wgn_wgnhx0.prom\", AT_SYMLINK_FOLLOW\) = 0" "$trace.1"
	assert_success
	run grep -E "rename\(\"$PROM_DIR/wgn_wgnhx0.prom\.tmp-[0-9]+\.[A-Za-z0-9]{6}\", \"$PROM_DIR/wgn_wgnhx0.prom\"\) = 0" "$trace.2"
	assert_success
	run -0 grep -c '^wgn_health_status{interface="wgnhx0",status="disconnected"} 1$' "$PROM_DIR/wgn_wgnhx0.prom"
	# stdout still has the result in the format asked for.
	run -2 "$WGN" --config-dir "$CONF_DIR" health wgnhx0 --textfile-dir "$PROM_DIR"
	assert_output "wgnhx0: disconnected: no interface wgnhx0"
}

@test "health --textfile-dir that cannot be written: said on stderr, exit at least 3" {
	touch "$BATS_TEST_TMPDIR/notadir"
	run -3 --separate-stderr "$WGN" --config-dir "$CONF_DIR" health broken-or-missing \
		--textfile-dir "$BATS_TEST_TMPDIR/notadir"
	run -2 --separate-stderr "$WGN" --config-dir "$CONF_DIR" health wgnhx0 \
		--textfile-dir "$BATS_TEST_TMPDIR/notadir"
	[[ "$stderr" == *"cannot write $BATS_TEST_TMPDIR/notadir/wgn_wgnhx0.prom"* ]]
}

@test "health: usage errors exit 64" {
	run -64 "$WGN" health
	run -64 "$WGN" health wg0 --all
	run -64 "$WGN" health wg0 --format xml
	run -64 "$WGN" health wg0 --stale-after -1
}

@test "health without --repair changes nothing: no run or state directory appears" {
	run -2 "$WGN" --config-dir "$CONF_DIR" health wgnhx0
	[ ! -e "$WGN_RUN_DIR" ]
	[ ! -e "$WGN_STATE_DIR" ]
}

# ---- end to end, as root: a wireguard-go hub and the node in network namespaces ----

load netns_helper

teardown() {
	netns_teardown
	[ -z "${HOSTS_DIR:-}" ] || rm -rf "$HOSTS_DIR"
}

# e2e_up [TOML lines...]: namespaces, the node's config (a short echo wait, so that the
# unhealthy cases are quick) and `wgn up`.
e2e_up() {
	netns_setup
	export NODE_CONFIG_ADDRESS='"10.0.0.10/24"'
	node_write_config "$@" "[health]" "ping_timeout = 0.5"
	run -0 node_wgn -q up "$NODE_IF" --no-register
	# setup's configs share the directory: --all must see only this one.
	rm -f "$NODE_CONF_DIR"/wgnhx*.toml
}

@test "e2e health: healthy (0) with every field filled in" {
	e2e_up
	run -0 node_wgn health "$NODE_IF"
	assert_output --regexp "^$NODE_IF: healthy: handshake [0-9]+s ago, hub 10\.0\.0\.1 answered in [0-9.]+ ms, up [0-9]+s, rx [0-9.]+ (B|KiB), tx [0-9.]+ (B|KiB)$"
	run -0 --separate-stderr node_wgn health "$NODE_IF" --format json
	run -0 /usr/bin/python3 -c '
import json, sys
j = json.loads(sys.argv[1])
assert j["status"] == "healthy" and j["exit_code"] == 0, j
assert j["connected"] is True and j["can_ping_hub"] is True, j
assert isinstance(j["handshake_age"], int) and 0 <= j["handshake_age"] < 30, j
assert isinstance(j["uptime_seconds"], int) and 0 <= j["uptime_seconds"] < 60, j
assert 0 < j["rtt_ms"] < 500, j
assert j["rx_bytes"] > 0 and j["tx_bytes"] > 0, j
assert j["backend"] == "userspace" and j["endpoint"] == "192.0.2.1:51820", j
assert j["node_id"] is None, j
' "$output"
	run -0 node_wgn health "$NODE_IF" --format nagios
	assert_output --regexp "^WGN OK - $NODE_IF healthy, handshake [0-9]+s ago \| handshake_age=[0-9]+s;180;;0 rtt=[0-9.]+ms;;;0 uptime=[0-9]+s;;;0$"
}

@test "e2e health: prometheus output of a live tunnel, parsed, every family there" {
	requires_prom_parser
	e2e_up
	run -0 --separate-stderr node_wgn health "$NODE_IF" --format prometheus
	run -0 prom_parse <<<"$output"
	assert_line "wgn_up{interface=$NODE_IF} 1.0"
	assert_line "wgn_health_status{interface=$NODE_IF,status=healthy} 1.0"
	assert_line "wgn_can_ping_hub{interface=$NODE_IF} 1.0"
	assert_line --regexp "^wgn_handshake_age_seconds\{interface=$NODE_IF\} [0-9]+\.0$"
	assert_line --regexp "^wgn_ping_rtt_seconds\{interface=$NODE_IF\} [0-9.e-]+$"
	assert_line --regexp "^wgn_uptime_seconds\{interface=$NODE_IF\} [0-9]+\.0$"
	assert_line --regexp "^wgn_receive_bytes_total\{interface=$NODE_IF\} [1-9][0-9]*\.0$"
	assert_line --regexp "^wgn_transmit_bytes_total\{interface=$NODE_IF\} [1-9][0-9]*\.0$"
	assert_line "TYPE wgn_receive_bytes counter"
	assert_line "wgn_info{backend=userspace,interface=$NODE_IF,node_id=} 1.0"
}

@test "e2e health: a check loads neither libcrypto nor libcurl (cron runs it every minute)" {
	e2e_up
	# The dynamic loader names every library it maps; reading the device (UAPI) once
	# derived the node's public key, which loaded libcrypto on every check.
	run -0 --separate-stderr ip netns exec "$NODE_NS" env LD_DEBUG=files \
		WGN_RUN_DIR="$WGN_RUN_DIR" WGN_STATE_DIR="$WGN_STATE_DIR" \
		WGN_CONFIG_DIR="$NODE_CONF_DIR" "$WGN" health "$NODE_IF"
	assert_output --regexp "^$NODE_IF: healthy: "
	[[ "$stderr" == *"file=libstdc++.so.6"* ]] # the loader did speak
	[[ "$stderr" != *libcrypto* ]]
	[[ "$stderr" != *libcurl* ]]
}

@test "e2e health: degraded (1) when the handshake is older than a small --stale-after" {
	e2e_up
	sleep 1.2 # the handshake must be a whole second old
	run -1 node_wgn health "$NODE_IF" --stale-after 0.5 --format nagios
	assert_output --regexp "^WGN WARNING - $NODE_IF degraded, handshake [0-9]+s ago \(stale after 0.5s\) \| handshake_age=[0-9]+s;0\.500;;0 rtt="
	run -0 node_wgn health "$NODE_IF" --stale-after 600
}

@test "e2e health: unhealthy (2) once the hub's interface is gone" {
	e2e_up
	ip -n "$HUB_NS" link del "$HUB_IF"
	run -2 node_wgn health "$NODE_IF"
	assert_output --regexp "^$NODE_IF: unhealthy: hub 10\.0\.0\.1 did not answer within 0\.5s, handshake [0-9]+s ago"
	run -2 --separate-stderr node_wgn health "$NODE_IF" --format json
	[[ "$output" == *'"status":"unhealthy"'*'"can_ping_hub":false'* ]]
	[[ "$output" == *'"rtt_ms":null'* ]]
}

@test "e2e health: disconnected (2) after down" {
	e2e_up
	run -0 node_wgn -q down "$NODE_IF"
	run -2 node_wgn health "$NODE_IF" --format nagios
	assert_output "WGN CRITICAL - $NODE_IF disconnected, no interface $NODE_IF | handshake_age=U;180;;0 rtt=U;;;0"
}

@test "e2e health --repair: brings a downed tunnel back, exit is the state after" {
	e2e_up
	run -0 node_wgn -q down "$NODE_IF"
	run -0 --separate-stderr node_wgn health "$NODE_IF" --repair
	[[ "$stderr" == *"$NODE_IF: brought the tunnel up"* ]]
	assert_output --regexp "^$NODE_IF: healthy: "
	run -0 ip -n "$NODE_NS" link show dev "$NODE_IF"
	# Healthy: --repair does nothing and says nothing.
	run -0 --separate-stderr node_wgn health "$NODE_IF" --repair
	[ -z "$stderr" ]
}

@test "e2e health --repair: re-resolves a name endpoint and points the peer at it" {
	# ip netns exec bind-mounts /etc/netns/NS/hosts over /etc/hosts: a name only the
	# node's processes resolve.
	netns_setup
	export NODE_CONFIG_ADDRESS='"10.0.0.10/24"'
	HOSTS_DIR="/etc/netns/$NODE_NS"
	mkdir -p "$HOSTS_DIR"
	printf '192.0.2.1 hub.wgn.test\n' >"$HOSTS_DIR/hosts"
	NODE_CONFIG_ENDPOINT="hub.wgn.test:51820" node_write_config "[health]" "ping_timeout = 0.5"
	run -0 node_wgn -q up "$NODE_IF" --no-register
	# The peer points somewhere else, as after the hub moved and the name followed it.
	node wg set "$NODE_IF" peer "$HUB_PUB" endpoint 192.0.2.99:51820
	run -2 node_wgn health "$NODE_IF"
	# Without --repair nothing changed.
	run -0 node wg show "$NODE_IF" endpoints
	assert_output --partial "192.0.2.99:51820"
	run -0 --separate-stderr node_wgn health "$NODE_IF" --repair
	[[ "$stderr" == *"$NODE_IF: re-resolved hub.wgn.test:51820: hub endpoint 192.0.2.99:51820 -> 192.0.2.1:51820"* ]]
	assert_output --regexp "^$NODE_IF: healthy: "
	run -0 node wg show "$NODE_IF" endpoints
	assert_output --partial "192.0.2.1:51820"
}

@test "e2e health --all: one result per config, exit the worst" {
	e2e_up
	run -0 node_wgn health --all
	[ "${#lines[@]}" -eq 1 ]
	# A second config whose tunnel is not up.
	sed "s/^\[interface\]/[interface]\nname = \"wgo$NETNS_ID\"/" "$NODE_CONF" >"$NODE_CONF_DIR/other.toml"
	run -2 node_wgn health --all
	assert_line --index 0 "wgo$NETNS_ID: disconnected: no interface wgo$NETNS_ID"
	assert_line --index 1 --regexp "^$NODE_IF: healthy: "
	run -2 node_wgn health --all --format nagios
	assert_output --regexp "^WGN CRITICAL - wgo$NETNS_ID disconnected, no interface wgo$NETNS_ID / $NODE_IF healthy, handshake [0-9]+s ago \| wgo${NETNS_ID}_handshake_age=U;180;;0 wgo${NETNS_ID}_rtt=U;;;0 ${NODE_IF}_handshake_age=[0-9]+s;180;;0 ${NODE_IF}_rtt="
}

@test "e2e health --textfile-dir: the file of a live tunnel, atomically, nothing else left" {
	requires_prom_parser
	e2e_up
	run -0 node_wgn health "$NODE_IF" --textfile-dir "$PROM_DIR" --format nagios
	run ls -A "$PROM_DIR"
	assert_output "wgn_$NODE_IF.prom"
	run -0 prom_parse <"$PROM_DIR/wgn_$NODE_IF.prom"
	assert_line "wgn_up{interface=$NODE_IF} 1.0"
	assert_line "wgn_health_status{interface=$NODE_IF,status=healthy} 1.0"
	[ "$(stat -c %a "$PROM_DIR/wgn_$NODE_IF.prom")" = 644 ]
	# A healthy tunnel whose textfile cannot be written: UNKNOWN, the file's fault said.
	touch "$BATS_TEST_TMPDIR/notadir"
	run -3 --separate-stderr node_wgn health "$NODE_IF" --textfile-dir "$BATS_TEST_TMPDIR/notadir"
	assert_output --regexp "^$NODE_IF: healthy: "
	[[ "$stderr" == *"cannot write $BATS_TEST_TMPDIR/notadir/wgn_$NODE_IF.prom"* ]]
}

@test "e2e health: one process, no child, no sleep" {
	requires_cmd strace
	e2e_up
	run -0 node strace -f -qq -o "$BATS_TEST_TMPDIR/trace" \
		-e trace=execve,clone,clone3,fork,vfork,nanosleep,clock_nanosleep \
		env WGN_RUN_DIR="$WGN_RUN_DIR" "$WGN" --config-dir "$NODE_CONF_DIR" health "$NODE_IF"
	run grep -vE '^[0-9]+ +\+\+\+ exited' "$BATS_TEST_TMPDIR/trace"
	# env's execve of wgn, and nothing else.
	[ "$(grep -c 'execve(' <<<"$output")" -eq 2 ]
	refute_output --regexp "[0-9] +(clone3?|v?fork|(clock_)?nanosleep)\\("
}

# nonroot_prepare: lets user nobody read the node's config (not its key) and reach the
# test's directories, as a monitoring user is set up.
nonroot_prepare() {
	local d="$NODE_CONF_DIR"
	while [ "$d" != / ] && [ "$d" != /tmp ]; do
		chmod o+x "$d"
		d="$(dirname "$d")"
	done
	chmod o+r "$NODE_CONF"
	chmod o+rx "$WGN_RUN_DIR" 2>/dev/null || true
}

# as_nobody CAPS ARGS...: wgn as user nobody in the node namespace with only CAPS
# (e.g. "+net_admin,+net_raw", or "" for none) in its inheritable and ambient sets.
as_nobody() {
	local caps="$1"
	shift
	local capargs=()
	[ -n "$caps" ] && capargs=(--inh-caps="$caps" --ambient-caps="$caps")
	node setpriv --reuid=nobody --regid=nogroup --clear-groups "${capargs[@]}" \
		env WGN_RUN_DIR="$WGN_RUN_DIR" WGN_STATE_DIR="$WGN_STATE_DIR" \
		"$WGN" --config-dir "$NODE_CONF_DIR" "$@"
}

@test "e2e health as non-root: CAP_NET_ADMIN and CAP_NET_RAW, no key read" {
	requires_cmd setpriv
	e2e_up
	nonroot_prepare
	# The key file stays root's alone: health does not read it.
	[ "$(stat -c %a "$NODE_KEY_FILE")" = 600 ]
	# wireguard-go's UAPI socket is root's, mode 0700, and the daemon exits when the
	# socket's attributes change (it watches them), so a non-root check of a userspace
	# device also needs CAP_DAC_OVERRIDE to connect; a kernel device needs only
	# CAP_NET_ADMIN. Without it: UNKNOWN, not CRITICAL, naming the socket.
	run -3 as_nobody "+net_admin,+net_raw" health "$NODE_IF"
	assert_output --regexp "^$NODE_IF: unknown: .*$NODE_IF.sock"
	run -0 as_nobody "+net_admin,+net_raw,+dac_override" health "$NODE_IF" --format json
	[[ "$output" == *'"status":"healthy"'*'"can_ping_hub":true'* ]]
	# No capability at all: still one sentence and UNKNOWN.
	run -3 as_nobody "" health "$NODE_IF" --format nagios
	assert_output --regexp "^WGN UNKNOWN - $NODE_IF unknown, "
}

@test "e2e health as non-root without CAP_NET_RAW: UNKNOWN (3), one sentence" {
	requires_cmd setpriv
	e2e_up
	nonroot_prepare
	# When ping_group_range admits nobody's group an ICMP socket needs no capability.
	read -r lo hi <"/proc/sys/net/ipv4/ping_group_range"
	gid="$(getent group nogroup | cut -d: -f3)"
	if [ "$gid" -ge "$lo" ] && [ "$gid" -le "$hi" ]; then
		skip "net.ipv4.ping_group_range admits nogroup here"
	fi
	run -3 as_nobody "+net_admin,+dac_override" health "$NODE_IF" --format nagios
	assert_output --regexp "^WGN UNKNOWN - $NODE_IF unknown, .*ICMP socket.*CAP_NET_RAW"
}
