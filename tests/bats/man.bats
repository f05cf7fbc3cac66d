#!/usr/bin/env bats
# The man pages: each renders without a single warning, carries the sections an
# administrator looks for, and documents what the binary and SPEC actually offer.

load test_helper

PAGES=(wgn.8 wgn-up.8 wgn-down.8 wgn-health.8 wgn-register.8 wgn-watch.8 wgn-enroll.8 wgn-sync.8 wgn-rotate.8 wgn.toml.5)

setup() {
	requires_cmd man groff lexgrog
	MAN_DIR="$WGN_SOURCE_DIR/man"
}

# render PAGE [WIDTH]: the page as text in $output; fails on any warning.
render() {
	local page="$MAN_DIR/$1" width="${2:-80}"
	local err="$BATS_TEST_TMPDIR/stderr"
	[ -f "$page" ] || fail "missing man page $page"
	output="$(LC_ALL=C.UTF-8 MANWIDTH="$width" MAN_KEEP_FORMATTING= man --warnings -l "$page" 2>"$err")" ||
		fail "man -l $1 failed: $(cat "$err")"
	if [ -s "$err" ]; then
		fail "man --warnings -l $1 (MANWIDTH=$width) warned: $(cat "$err")"
	fi
}

@test "every page renders with no warning at 80 columns" {
	for p in "${PAGES[@]}"; do
		render "$p" 80
		[ -n "$output" ]
	done
}

@test "every page renders with no warning at 60 and 132 columns" {
	for p in "${PAGES[@]}"; do
		render "$p" 60
		render "$p" 132
	done
}

@test "every page has a NAME line that whatis and apropos understand" {
	for p in "${PAGES[@]}"; do
		run lexgrog "$MAN_DIR/$p"
		assert_success
		assert_output --regexp ": \"${p%.*} - .+\"$"
	done
}

@test "the section 8 pages have the sections of wg(8) and wg-quick(8)" {
	for p in wgn.8 wgn-up.8 wgn-down.8 wgn-health.8 wgn-register.8 wgn-watch.8 wgn-enroll.8 wgn-sync.8 wgn-rotate.8; do
		render "$p"
		for s in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" ENVIRONMENT FILES \
			EXAMPLES "SEE ALSO"; do
			grep -qx "$s" <<<"$output" || fail "$p has no $s section"
		done
	done
}

@test "wgn.toml(5) has its sections" {
	render wgn.toml.5
	for s in NAME SYNOPSIS DESCRIPTION EXAMPLES FILES "SEE ALSO"; do
		grep -qx "$s" <<<"$output" || fail "wgn.toml.5 has no $s section"
	done
}

@test "wgn(8) has every exit code of SPEC, for up/down/register and for health" {
	render wgn.8
	local section
	section="$(sed -n '/^EXIT STATUS$/,/^ENVIRONMENT$/p' <<<"$output")"
	for code in 0 64 65 66 69 70 71 73 75 76 77 78 1 2 3; do
		grep -qE "^ {7}$code( |$)" <<<"$section" || fail "wgn(8) EXIT STATUS lacks $code"
	done
}

@test "the pages name the environment and the files of SPEC" {
	render wgn.8
	for v in WGN_CONFIG_DIR WGN_RUN_DIR WGN_STATE_DIR WG_QUICK_USERSPACE_IMPLEMENTATION \
		WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD /etc/wgn/NAME.toml /run/wgn/NAME.json \
		/run/wgn/NAME.lock /var/lib/wgn/NAME.json; do
		grep -qF -- "$v" <<<"$output" || fail "wgn(8) does not mention $v"
	done
}

@test "every option that --help shows is in the command's man page" {
	[ -x "$WGN" ] || skip "no wgn binary at $WGN"
	local cmd page opt
	for cmd in "" up down health register watch enroll sync rotate; do
		if [ -z "$cmd" ]; then page=wgn.8; else page="wgn-$cmd.8"; fi
		render "$page" 200
		# shellcheck disable=SC2086
		run "$WGN" $cmd --help
		assert_success
		for opt in $(grep -oE -- '--[a-z][a-z-]+' <<<"$output" | sort -u); do
			render "$page" 200
			grep -qF -- "$opt" <<<"$output" || fail "$page does not document $opt"
		done
	done
}

@test "wgn-health(8) documents every format, JSON field and metric" {
	render wgn-health.8 200
	for w in human json nagios prometheus --textfile-dir --stale-after --repair --all \
		status connected can_ping_hub handshake_age uptime_seconds node_id rtt_ms \
		rx_bytes tx_bytes backend endpoint \
		wgn_up wgn_health_status wgn_handshake_age_seconds wgn_ping_rtt_seconds \
		wgn_uptime_seconds wgn_receive_bytes_total wgn_transmit_bytes_total \
		"WGN OK - wg0 healthy" "handshake_age=5s;180;;0" CAP_NET_ADMIN CAP_NET_RAW \
		ping_group_range "define command" "command_line" \
		"--collector.textfile.directory" "* * * * *"; do
		grep -qF -- "$w" <<<"$output" || fail "wgn-health(8) does not mention $w"
	done
}

@test "wgn.toml(5) documents every key of SPEC with its range" {
	render wgn.toml.5 200
	for k in "[interface]" "[hub]" "[connect]" "[health]" "[control_plane]" \
		name private_key private_key_file address listen_port mtu fwmark backend \
		public_key endpoint allowed_ips persistent_keepalive preshared_key_file \
		tunnel_address max_retries initial_backoff max_backoff attempt_timeout timeout \
		stale_handshake ping_timeout url token_file ca_file labels \
		"576–9000" "1–65535" "0–1000" "0–65535" 0.0.0.0/0 ::/0 loopback 0600; do
		grep -qF -- "$k" <<<"$output" || fail "wgn.toml(5) does not mention $k"
	done
}

@test "the configuration examples of wgn.toml(5) are valid (wgn up --dry-run)" {
	[ -x "$WGN" ] || skip "no wgn binary at $WGN"
	render wgn.toml.5 200
	local dir="$BATS_TEST_TMPDIR/etc"
	mkdir -p "$dir"
	(umask 077; echo 'dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=' >"$dir/wg0.key")
	# The two example files: from a line "[interface]" to the blank line before the next
	# paragraph, indented by 11 columns in the rendering.
	local ind="           "
	awk -v dir="$dir" -v ind="$ind" '
		$0 == ind "[interface]" { n++; f = dir "/ex" n ".toml"; on = 1 }
		on && $0 != "" && substr($0, 1, 11) != ind { on = 0 }
		on { sub("^" ind, ""); sub("/etc/wgn/wg0.key", "wg0.key"); print > f }
	' <<<"$output"
	[ -f "$dir/ex1.toml" ] && [ -f "$dir/ex2.toml" ] || fail "examples not found"
	for f in "$dir"/ex1.toml "$dir"/ex2.toml; do
		run "$WGN" up --dry-run "$f"
		assert_success
		assert_output --partial "private-key (hidden)"
	done
}

@test "every wgn page a page refers to exists" {
	local p ref
	for p in "${PAGES[@]}"; do
		for ref in $(grep -ohE '^\.BR? wgn(\\-[a-z]+|\.toml)? \([58]\)' "$MAN_DIR/$p" |
			sed -E 's/^\.BR? //; s/\\-/-/g; s/ \(([58])\)/.\1/'); do
			[ -f "$MAN_DIR/$ref" ] || fail "$p refers to $ref, which does not exist"
		done
	done
	# And the references are there to be checked.
	run grep -c '^\.BR wgn\\-health (8)' "$MAN_DIR/wgn.8"
	assert_success
}
