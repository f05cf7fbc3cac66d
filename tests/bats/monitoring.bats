#!/usr/bin/env bats
# wgn's monitoring outputs read by the real clients, not by our idea of them:
# - Prometheus' promtool (`check metrics`: the parser and the linter of the Prometheus
#   project) on every exposition wgn produces: `health --format prometheus`,
#   `health --textfile-dir`, watch's textfile and the control plane's GET /metrics;
# - Debian's prometheus-node-exporter serving a textfile directory that wgn writes,
#   scraped over HTTP on 127.0.0.1;
# - Nagios Core (Debian's nagios4) running `health --format nagios` as a service check,
#   and the monitoring-plugins output grammar checked strictly besides (Nagios takes
#   any text, so the perfdata grammar needs its own check).
# Each tool is required: a test skips without it on a laptop and fails when CI=true.

bats_require_minimum_version 1.5.0
load test_helper
load netns_helper
load cp_helper

setup() {
	export WGN_RUN_DIR="$BATS_TEST_TMPDIR/run" WGN_STATE_DIR="$BATS_TEST_TMPDIR/state"
	unset WGN_CONFIG_DIR
	PROM_DIR="$BATS_TEST_TMPDIR/prom"
	mkdir -p "$PROM_DIR"
}

teardown() {
	local p
	for p in ${WATCH_PID:-} ${EXPORTER_PID:-} ${NAGIOS_PID:-}; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	netns_teardown
	if [ -n "${CP_DIR:-}" ]; then
		cp_stop_stack || true
	fi
}

# promtool_ok: the exposition on stdin passes `promtool check metrics` (parse and lint)
# with nothing to say.
promtool_ok() {
	local out rc=0
	out="$(promtool check metrics 2>&1)" || rc=$?
	[ "$rc" -eq 0 ] && [ -z "$out" ] || fail "promtool check metrics: exit $rc: $out"
}

# nagios_grammar CODE OUTPUT: OUTPUT is one line in the grammar of the monitoring-plugins
# development guidelines: "WGN STATE - text" (STATE the name of exit CODE, no '|' in the
# text), then optionally " | " and space-separated performance data, each
# 'label'=value[UOM];[warn];[crit];[min];[max] with value a number or U, UOM one of
# s ms us % B KB MB TB c, warn and crit ranges ([@][start:][end]), min and max numbers.
nagios_grammar() {
	/usr/bin/python3 - "$1" "$2" <<'PY'
import re, sys
code, out = int(sys.argv[1]), sys.argv[2]
state = ["OK", "WARNING", "CRITICAL", "UNKNOWN"][code]
assert "\n" not in out and "\r" not in out, "not one line: %r" % out
m = re.fullmatch(r"WGN (OK|WARNING|CRITICAL|UNKNOWN) - ([^|]+?)(?: \| (.+))?", out)
assert m, "not 'WGN STATE - text [| perfdata]': %r" % out
assert m.group(1) == state, "exit %d but the text says %s" % (code, m.group(1))
num = r"-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
rng = r"@?(?:(?:%s|~):)?(?:%s)?" % (num, num)
item = (r"(?:'(?:[^']|'')+'|[^\s'=]+)=(?:U|%s(?:s|ms|us|%%|B|KB|MB|TB|c)?)"
        r"(?:;(?:%s)(?:;(?:%s)(?:;(?:%s)?(?:;(?:%s)?)?)?)?)?") % (num, rng, rng, num, num)
labels = []
perf = m.group(3) or ""
items = re.findall(r"'(?:[^']|'')+'=\S*|\S+", perf)
assert " ".join(items) == perf, "performance data not separated by single spaces: %r" % out
for p in items:
    assert re.fullmatch(item, p), "bad performance data %r in %r" % (p, out)
    labels.append(p.split("=")[0])
assert len(labels) == len(set(labels)), "a label twice: %r" % out
PY
}

# nagios_check COMMAND_LINE: Nagios Core, configured in the test's directory, runs
# COMMAND_LINE as the check of service "wgn" once (a forced check through its command
# file); prints what it recorded in status.dat: current_state, plugin_output,
# long_plugin_output and performance_data, one KEY=VALUE line each.
nagios_check() {
	local d="$BATS_TEST_TMPDIR/nagios"
	mkdir -p "$d/checkresults"
	cat >"$d/nagios.cfg" <<EOF
log_file=$d/nagios.log
cfg_file=$d/objects.cfg
object_cache_file=$d/objects.cache
precached_object_file=$d/objects.precache
status_file=$d/status.dat
status_update_interval=1
nagios_user=$(id -un)
nagios_group=$(id -gn)
check_external_commands=1
command_file=$d/nagios.cmd
lock_file=$d/nagios.lock
temp_file=$d/nagios.tmp
temp_path=$d
check_result_path=$d/checkresults
check_result_reaper_frequency=1
retain_state_information=0
state_retention_file=$d/retention.dat
interval_length=1
enable_notifications=0
use_syslog=0
EOF
	cat >"$d/objects.cfg" <<EOF
define timeperiod {
	timeperiod_name always
	alias always
	sunday 00:00-24:00
	monday 00:00-24:00
	tuesday 00:00-24:00
	wednesday 00:00-24:00
	thursday 00:00-24:00
	friday 00:00-24:00
	saturday 00:00-24:00
}
define command {
	command_name check_wgn
	command_line $1
}
define command {
	command_name check_none
	command_line /bin/true
}
define contact {
	contact_name nobody
	host_notifications_enabled 0
	service_notifications_enabled 0
	host_notification_period always
	service_notification_period always
	host_notification_options n
	service_notification_options n
	host_notification_commands check_none
	service_notification_commands check_none
}
define host {
	host_name node
	address 127.0.0.1
	check_command check_none
	max_check_attempts 1
	check_period always
	notification_period always
	contacts nobody
}
define service {
	host_name node
	service_description wgn
	check_command check_wgn
	max_check_attempts 1
	check_interval 3600
	retry_interval 3600
	notification_interval 0
	check_period always
	notification_period always
	contacts nobody
}
EOF
	nagios4 -v "$d/nagios.cfg" >"$d/verify.log" 2>&1 ||
		fail "nagios4 -v refuses the test's config: $(cat "$d/verify.log")"
	nagios4 "$d/nagios.cfg" >"$d/run.log" 2>&1 &
	NAGIOS_PID=$!
	wait_for 20 test -p "$d/nagios.cmd" || fail "nagios did not start: $(cat "$d/run.log")"
	local now
	now="$(date +%s)"
	echo "[$now] SCHEDULE_FORCED_SVC_CHECK;node;wgn;$now" | timeout 10 tee "$d/nagios.cmd" >/dev/null
	wait_for 60 nagios_checked "$d/status.dat" || fail "nagios ran no check: $(cat "$d/nagios.log")"
	awk '/^servicestatus \{/,/\}/' "$d/status.dat" | sed -n 's/^[[:space:]]*//p' |
		grep -E '^(current_state|plugin_output|long_plugin_output|performance_data)='
	kill -TERM "$NAGIOS_PID"
	wait "$NAGIOS_PID" || true
	NAGIOS_PID=
}

nagios_checked() {
	[ -f "$1" ] && awk '/^servicestatus \{/,/\}/' "$1" | grep -q 'has_been_checked=1'
}

# exporter_start DIR: prometheus-node-exporter with only the textfile collector, reading
# DIR, on a port of 127.0.0.1 that the kernel chose; sets EXPORTER_PID and EXPORTER_URL.
exporter_start() {
	prometheus-node-exporter --web.listen-address=127.0.0.1:0 --collector.disable-defaults \
		--collector.textfile --collector.textfile.directory="$1" \
		>"$BATS_TEST_TMPDIR/exporter.log" 2>&1 &
	EXPORTER_PID=$!
	wait_for 20 exporter_port || fail "node_exporter did not listen: $(cat "$BATS_TEST_TMPDIR/exporter.log")"
	EXPORTER_URL="http://127.0.0.1:$(exporter_port)/metrics"
}

exporter_port() {
	ss -Hltnp | awk -v p="pid=$EXPORTER_PID," 'index($0, p) { n = split($4, a, ":"); print a[n]; f = 1 } END { exit !f }'
}

@test "promtool: health --format prometheus and --textfile-dir, disconnected and unknown" {
	requires_cmd promtool
	make_config_dir
	write_config wgnmx0
	write_config wgnmx1
	printf 'junk\n' >"$CONF_DIR/broken.toml"
	run -2 --separate-stderr "$WGN" --config-dir "$CONF_DIR" health --all --format prometheus \
		--textfile-dir "$PROM_DIR"
	assert_line 'wgn_health_status{interface="wgnmx0",status="disconnected"} 1'
	promtool_ok <<<"$output"
	local f
	for f in wgnmx0 wgnmx1 broken; do
		promtool_ok <"$PROM_DIR/wgn_$f.prom"
	done
	run -0 grep -c '^wgn_health_status{interface="broken",status="unknown"} 1$' "$PROM_DIR/wgn_broken.prom"
	run -3 --separate-stderr "$WGN" --config-dir "$CONF_DIR" health broken --format prometheus
	promtool_ok <<<"$output"
}

@test "nagios: Nagios Core reads health's CRITICAL and UNKNOWN; the grammar strictly" {
	requires_cmd nagios4
	make_config_dir
	write_config wgnmx0
	write_config wgnmx1
	run -2 "$WGN" --config-dir "$CONF_DIR" health wgnmx0 --format nagios
	nagios_grammar 2 "$output"
	run -2 "$WGN" --config-dir "$CONF_DIR" health --all --format nagios
	nagios_grammar 2 "$output"
	local all="$output"
	run -0 nagios_check "$WGN --config-dir $CONF_DIR health --all --format nagios"
	assert_line "current_state=2"
	assert_line "plugin_output=${all%% | *}"
	assert_line "performance_data=${all#* | }"
	assert_line "long_plugin_output="
	assert_line --partial "performance_data=wgnmx0_handshake_age=U;180;;0 "

	printf 'junk\n' >"$CONF_DIR/wgnmx0.toml"
	run -3 "$WGN" --config-dir "$CONF_DIR" health wgnmx0 --format nagios
	nagios_grammar 3 "$output"
	local unknown="$output"
	run -0 nagios_check "$WGN --config-dir $CONF_DIR health wgnmx0 --format nagios"
	assert_line "current_state=3"
	assert_line "plugin_output=$unknown"
	assert_line "performance_data="

	# The grammar check itself refuses what a consumer would misread.
	run nagios_grammar 0 "WGN CRITICAL - x"
	assert_failure
	run nagios_grammar 0 "WGN OK - x | rtt=1.0 msec;;;0"
	assert_failure
	run nagios_grammar 0 "WGN OK - x | a=1 a=2"
	assert_failure
	run nagios_grammar 0 "WGN OK - x | rtt=1.5ms;;;0 'a b'=U;180;;0"
	assert_success
}

@test "a real tunnel: watch's textfile through node_exporter over HTTP; promtool and Nagios on healthy" {
	requires_cmd promtool prometheus-node-exporter nagios4 curl ss
	netns_setup
	node_write_config "[health]" "interval = 1" "textfile_dir = \"$PROM_DIR\""
	(node_wgn_exec watch "$NODE_IF") 2>"$BATS_TEST_TMPDIR/watch.err" &
	WATCH_PID=$!
	local prom="$PROM_DIR/wgn_$NODE_IF.prom"
	wait_for 60 grep -qs "^wgn_health_status{interface=\"$NODE_IF\",status=\"healthy\"} 1$" "$prom" ||
		fail "no healthy textfile: $(cat "$prom" "$BATS_TEST_TMPDIR/watch.err" 2>&1)"
	promtool_ok <"$prom"
	# Only the finished file: no temporary file of the atomic write is left to be read.
	run ls -A "$PROM_DIR"
	assert_output "wgn_$NODE_IF.prom"

	exporter_start "$PROM_DIR"
	run -0 curl -fsS --max-time 10 "$EXPORTER_URL"
	assert_line 'node_textfile_scrape_error 0'
	assert_line "wgn_up{interface=\"$NODE_IF\"} 1"
	assert_line "wgn_health_status{interface=\"$NODE_IF\",status=\"healthy\"} 1"
	assert_line --regexp "^wgn_handshake_age_seconds\\{interface=\"$NODE_IF\"\\} [0-9.e+-]+$"
	assert_line --regexp "^node_textfile_mtime_seconds\\{file=\"[^\"]*wgn_$NODE_IF.prom\"\\} "
	# Every wgn family wgn wrote is in the scrape.
	local fam
	for fam in $(sed -n 's/^# TYPE \(wgn_[a-z_]*\) .*/\1/p' "$prom"); do
		assert_line --regexp "^# TYPE $fam "
	done

	run -0 --separate-stderr node_wgn health "$NODE_IF" --format prometheus
	assert_line "wgn_up{interface=\"$NODE_IF\"} 1"
	promtool_ok <<<"$output"

	run -0 --separate-stderr node_wgn health "$NODE_IF" --format nagios
	nagios_grammar 0 "$output"
	assert_output --regexp "\\| handshake_age=[0-9]+s;180;;0 rtt=[0-9.]+ms;;;0 "
	run -0 nagios_check "/usr/bin/ip netns exec $NODE_NS /usr/bin/env WGN_RUN_DIR=$WGN_RUN_DIR WGN_STATE_DIR=$WGN_STATE_DIR $WGN --config-dir $NODE_CONF_DIR health $NODE_IF --format nagios"
	assert_line "current_state=0"
	assert_line --regexp "^plugin_output=WGN OK - $NODE_IF healthy"
	assert_line --regexp "^performance_data=handshake_age=[0-9]+s;180;;0 rtt=[0-9.]+ms;;;0 "
}

@test "promtool: the control plane's GET /metrics, with a node and a last_seen" {
	requires_cmd promtool
	cp_requires
	cp_start_stack
	cp_write_config wgnmx0
	run -0 "$WGN" --config-dir "$CONF_DIR" register wgnmx0
	cp_sql "UPDATE nodes SET status = 'healthy', last_seen = now()"
	local admin
	admin="$(cat "$CP_ADMIN_TOKEN_FILE")"
	run -0 curl -fsS --max-time 10 -H "Authorization: Bearer $admin" "$CP_URL/metrics"
	assert_line 'wgn_fleet_nodes{status="healthy"} 1'
	assert_line --regexp '^wgn_fleet_last_seen_seconds\{node_id="[0-9a-f-]{36}"\} [0-9]+\.[0-9]{3}$'
	promtool_ok <<<"$output"
}
