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
	assert_output --partial "WGN CRITICAL - wgnhx0 disconnected, no interface wgnhx0; wgnhx1 disconnected"
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

@test "health --textfile-dir: wgn_NAME.prom per interface, renamed into place, nothing else left" {
	requires_cmd strace
	run -2 strace -f -qq -o "$BATS_TEST_TMPDIR/trace" -e trace=openat,rename,renameat,renameat2 \
		"$WGN" --config-dir "$CONF_DIR" health --all --textfile-dir "$PROM_DIR"
	run ls -A "$PROM_DIR"
	assert_output "$(printf 'wgn_wgnhx0.prom\nwgn_wgnhx1.prom')"
	# Written through a temp file and a rename, never opened in place.
	run grep -E "rename.*wgn_wgnhx0.prom\.[A-Za-z0-9]{6}\".*wgn_wgnhx0.prom\"" "$BATS_TEST_TMPDIR/trace"
	assert_success
	run grep -E "openat\(.*wgn_wgnhx0.prom\"" "$BATS_TEST_TMPDIR/trace"
	assert_failure
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
