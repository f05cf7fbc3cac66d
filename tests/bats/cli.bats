#!/usr/bin/env bats
# The command-line contract as a user meets it: help, version, usage errors (64),
# missing config (66), bad configs (78) and dry runs. None of it needs root.

load test_helper

setup() {
	make_config_dir
	write_config wg0
}

@test "--version prints the version and exits 0" {
	run "$WGN" --version
	assert_success
	assert_output --regexp '^wgn [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "libcrypto and libcurl are loaded only by a command that uses them" {
	# --version derives no key and talks no HTTP: neither library is opened (issue 14:
	# libcrypto's relocations were most of the loader's work for every run).
	run env LD_DEBUG=files "$WGN" --version
	assert_success
	refute_output --partial "file=libcrypto"
	refute_output --partial "file=libcurl"
	run readelf -d "$WGN"
	refute_output --partial "libcrypto"
	refute_output --partial "libcurl"
	# up --dry-run derives the node's public key: libcrypto comes when it is needed.
	run env LD_DEBUG=files "$WGN" --config-dir "$CONF_DIR" up --dry-run wg0
	assert_success
	assert_output --partial "file=libcrypto.so.3"
	refute_output --partial "file=libcurl"
}

@test "--help lists the five commands" {
	run "$WGN" --help
	assert_success
	for c in up down health register watch; do
		assert_output --partial "$c"
	done
}

@test "each command has --help" {
	for c in up down health register watch; do
		run "$WGN" "$c" --help
		assert_success
		assert_output --partial "Usage: wgn $c [OPTIONS]"
	done
}

@test "no command is a usage error (64)" {
	run "$WGN"
	assert_failure 64
	assert_output --partial "a command is required"
}

@test "an unknown command suggests the nearest one" {
	run "$WGN" helth
	assert_failure 64
	assert_line --index 0 "wgn: 'helth' is not a wgn command; did you mean 'health'?"
	assert_line --index 1 "Try 'wgn --help' for more information."
}

@test "an unknown option is a usage error with a hint" {
	run "$WGN" up wg0 --bogus
	assert_failure 64
	assert_output --partial "--bogus"
	assert_output --partial "Try 'wgn up --help'"
}

@test "a missing argument is a usage error" {
	run "$WGN" up
	assert_failure 64
	run "$WGN" down
	assert_failure 64
	run "$WGN" register
	assert_failure 64
}

@test "a bad option value is a usage error" {
	run "$WGN" health wg0 --format xml
	assert_failure 64
	run "$WGN" up wg0 --max-retries many
	assert_failure 64
	run "$WGN" up wg0 --timeout -5
	assert_failure 64
}

@test "seconds on the command line: nan, inf, negative, zero and huge are refused with 64" {
	local v
	for v in nan NaN inf -inf infinity -5 0 1e308 1e999 31536001 5s ""; do
		run "$WGN" --config-dir "$CONF_DIR" up --dry-run wg0 --timeout "$v"
		assert_failure 64
		# One sentence naming the option and the value, then the usual hint.
		assert_line --index 0 "wgn: --timeout: '$v' is not a number of seconds above 0 and at most 31536000 (a year)"
		assert_line --index 1 "Try 'wgn up --help' for more information."
		[ "${#lines[@]}" -eq 2 ]
		run "$WGN" --config-dir "$CONF_DIR" health wg0 --stale-after "$v"
		assert_failure 64
		assert_output --partial "--stale-after: '$v' is not a number of seconds above 0"
	done
	# A year, fractions, exponents: accepted.
	for v in 31536000 0.5 1e2; do
		run "$WGN" --config-dir "$CONF_DIR" up --dry-run wg0 --timeout "$v"
		assert_success
	done
}

@test "--verbose and --quiet together are a usage error" {
	run "$WGN" -v -q --config-dir "$CONF_DIR" up --dry-run wg0
	assert_failure 64
}

@test "an argument that is neither a name nor a file is a usage error" {
	run "$WGN" up 'no such name'
	assert_failure 64
	assert_output --partial "is neither a config file nor an interface name"
}

@test "a missing config file exits 66 and names it" {
	run "$WGN" --config-dir "$CONF_DIR" up --dry-run nope
	assert_failure 66
	assert_output "wgn: config file $CONF_DIR/nope.toml not found"
	run "$WGN" up --dry-run "$BATS_TEST_TMPDIR/missing.toml"
	assert_failure 66
}

@test "WGN_CONFIG_DIR finds NAME, and --config-dir overrides it" {
	WGN_CONFIG_DIR="$CONF_DIR" run "$WGN" up --dry-run wg0
	assert_success
	WGN_CONFIG_DIR=/nonexistent run "$WGN" --config-dir "$CONF_DIR" up --dry-run wg0
	assert_success
	WGN_CONFIG_DIR=/nonexistent run "$WGN" up --dry-run wg0
	assert_failure 66
}

@test "up --dry-run prints the whole plan with the key hidden" {
	run "$WGN" --config-dir "$CONF_DIR" up --dry-run wg0
	assert_success
	assert_line --index 0 --regexp '^\[#\] (ip link add wg0 type wireguard|wireguard-go wg0)$'
	assert_line --partial "private-key (hidden)"
	assert_line --partial "endpoint hub.example.com:51820"
	assert_line "[#] ip -4 address add 10.0.0.10/24 dev wg0"
	assert_line "[#] ip -6 address add fd00::10/64 dev wg0"
	assert_line --regexp '^\[#\] ip link set mtu [0-9]+ dev wg0$'
	assert_line "[#] ip link set up dev wg0"
	assert_line "[#] ip -4 route add 10.1.0.0/16 dev wg0"
	assert_line "[#] ping -c 1 -W 5.0 -I wg0 10.0.0.1"
	refute_output --partial "$PRIV_KEY"
}

@test "down --dry-run changes nothing and exits 0" {
	run "$WGN" --config-dir "$CONF_DIR" down --dry-run wg0
	assert_success
}

@test "dry runs need no privilege" {
	requires_root
	# A directory nobody can reach (the bats temp dir is private to root).
	local dir
	dir=$(mktemp -d /tmp/wgn-unprivileged.XXXXXX)
	chmod 755 "$dir"
	cp -p "$PRIV_KEY_FILE" "$dir/wg0.key"
	sed "s|$PRIV_KEY_FILE|$dir/wg0.key|" "$CONF_DIR/wg0.toml" >"$dir/wg0.toml"
	chown nobody "$dir/wg0.key" "$dir/wg0.toml"
	run setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
		"$WGN" --config-dir "$dir" up --dry-run wg0
	rm -rf "$dir"
	assert_success
	assert_output --partial "private-key (hidden)"
}

# Bad configs: exit 78, one sentence naming file, line and key, never the key itself.
bad_config() {
	local line="$1" key="$2" says="$3"
	run "$WGN" --config-dir "$CONF_DIR" up --dry-run wg0
	assert_failure 78
	assert_output --partial "$CONF_DIR/wg0.toml:$line: $key: $says"
	assert_equal "${#lines[@]}" 1
	refute_output --partial "$PRIV_KEY"
}

@test "bad config: unknown key" {
	write_config wg0 '[connect]' 'retries = 3'
	bad_config 13 connect.retries "unknown key"
}

@test "bad config: wrong type" {
	write_config wg0 '[connect]' 'timeout = "long"'
	bad_config 13 connect.timeout "expected seconds, found a string"
}

@test "bad config: bad public key" {
	write_config wg0
	sed -i 's|^public_key = .*|public_key = "not-a-key"|' "$CONF_DIR/wg0.toml"
	bad_config 7 hub.public_key "key is not the correct length or format: \`not-a-key'"
}

@test "bad config: bad CIDR" {
	sed -i 's|^allowed_ips = .*|allowed_ips = ["10.0.0.0/40"]|' "$CONF_DIR/wg0.toml"
	bad_config 9 hub.allowed_ips "\`10.0.0.0/40' is not a CIDR prefix"
}

@test "bad config: bad port" {
	sed -i 's|^listen_port = .*|listen_port = 70000|' "$CONF_DIR/wg0.toml"
	bad_config 4 interface.listen_port "70000 is out of range (1 to 65535)"
}

@test "bad config: bad endpoint" {
	sed -i 's|^endpoint = .*|endpoint = "2001:db8::1:51820"|' "$CONF_DIR/wg0.toml"
	bad_config 8 hub.endpoint "\`2001:db8::1:51820': an IPv6 address needs brackets"
}

@test "bad config: missing required key" {
	sed -i '/^endpoint = /d' "$CONF_DIR/wg0.toml"
	bad_config 6 hub.endpoint "required key is missing"
}

@test "bad config: default route refused with an explanation" {
	sed -i 's|^allowed_ips = .*|allowed_ips = ["0.0.0.0/0"]|' "$CONF_DIR/wg0.toml"
	bad_config 9 hub.allowed_ips "\`0.0.0.0/0' is a default route"
}

@test "bad config: plain http to a remote control plane" {
	write_config wg0 '[control_plane]' 'url = "http://cp.example.com"'
	bad_config 13 control_plane.url "\`http://cp.example.com' uses plain http to a host that is not loopback"
}

@test "bad config: TOML syntax error" {
	write_config wg0 '[connect' 'timeout = 1'
	run "$WGN" --config-dir "$CONF_DIR" up --dry-run wg0
	assert_failure 78
	assert_output --regexp "^wgn: $CONF_DIR/wg0.toml:12: "
}

@test "bad config: a private key readable by others is refused" {
	chmod 644 "$PRIV_KEY_FILE"
	bad_config 2 interface.private_key_file "private key file $PRIV_KEY_FILE has mode 0644"
}

@test "bad config: an inline private key in a world-readable config is refused" {
	key=$(cat "$PRIV_KEY_FILE")
	sed -i "s|^private_key_file = .*|private_key = \"$key\"|" "$CONF_DIR/wg0.toml"
	chmod 644 "$CONF_DIR/wg0.toml"
	bad_config 2 interface.private_key "the config holds a private key but has mode 0644"
	chmod 600 "$CONF_DIR/wg0.toml"
	run "$WGN" --config-dir "$CONF_DIR" up --dry-run wg0
	assert_success
}

@test "bad config: a missing key file" {
	rm "$PRIV_KEY_FILE"
	bad_config 2 interface.private_key_file "cannot read private key file"
}
