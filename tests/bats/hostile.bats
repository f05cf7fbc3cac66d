#!/usr/bin/env bats
# Files that are not what they should be, as bad luck or an attacker leaves them: a
# FIFO, a device, a directory, a huge file where a config, a key, a token or a state
# file belongs. Each gives one sentence and SPEC's exit code, at once (`timeout 5`:
# a hang fails the test with 124). None of it needs root.

load test_helper

setup() {
	make_config_dir
	write_config wg0
	export WGN_RUN_DIR="$BATS_TEST_TMPDIR/run" WGN_STATE_DIR="$BATS_TEST_TMPDIR/state"
	mkdir -p "$WGN_RUN_DIR" "$WGN_STATE_DIR"
}

@test "a config that is a FIFO is refused at once: 78, and UNKNOWN (3) for health" {
	rm "$CONF_DIR/wg0.toml"
	mkfifo "$CONF_DIR/wg0.toml"
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" up wg0
	assert_failure 78
	assert_output "wgn: config file $CONF_DIR/wg0.toml is a FIFO, not a regular file"
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" up --dry-run wg0
	assert_failure 78
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" down wg0
	assert_failure 78
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" health wg0
	assert_failure 3
	assert_output --partial "is a FIFO, not a regular file"
}

@test "health --all reports a *.toml that is a FIFO or a directory instead of skipping it" {
	rm "$CONF_DIR/wg0.toml"
	mkfifo "$CONF_DIR/pipe.toml"
	# Alone, it is the result: UNKNOWN (3), one line naming the file (not "no configs").
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" health --all --format nagios
	assert_failure 3
	[ "${#lines[@]}" -eq 1 ]
	assert_output "WGN UNKNOWN - pipe unknown, config file $CONF_DIR/pipe.toml is a FIFO, not a regular file"
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" health --all
	assert_failure 3
	assert_output "pipe: unknown: config file $CONF_DIR/pipe.toml is a FIFO, not a regular file"

	# Beside a tunnel that is down (2), it is one line of its own; the worst code wins.
	rm "$CONF_DIR/pipe.toml"
	mkdir "$CONF_DIR/dir.toml"
	write_config wgnhz0
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" health --all
	assert_failure 2
	[ "${#lines[@]}" -eq 2 ]
	assert_line --index 0 "dir: unknown: config file $CONF_DIR/dir.toml is a directory, not a regular file"
	assert_line --index 1 "wgnhz0: disconnected: no interface wgnhz0"
}

@test "a config that links to /dev/zero is refused without reading it: 78" {
	rm "$CONF_DIR/wg0.toml"
	ln -s /dev/zero "$CONF_DIR/wg0.toml"
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" up --dry-run wg0
	assert_failure 78
	assert_output "wgn: config file $CONF_DIR/wg0.toml is a character device, not a regular file"
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" health wg0
	assert_failure 3
	assert_output --partial "is a character device, not a regular file"
}

@test "a config that is a directory is said to be one: 78" {
	rm "$CONF_DIR/wg0.toml"
	mkdir "$CONF_DIR/wg0.toml"
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" up --dry-run wg0
	assert_failure 78
	assert_output "wgn: config file $CONF_DIR/wg0.toml is a directory, not a regular file"
	refute_output --partial "the table is missing"
}

@test "a config over 1 MiB is refused unread; one of 1 MiB is read" {
	# Sparse: 100 MB on paper, nothing on disk.
	truncate -s 100M "$CONF_DIR/big.toml"
	run timeout 5 "$WGN" up --dry-run "$CONF_DIR/big.toml"
	assert_failure 78
	assert_output "wgn: config file $CONF_DIR/big.toml is larger than 1 MiB, the most wgn reads of a config file"

	# Exactly the cap: a valid config padded with a comment is accepted.
	local size pad
	size=$(stat -c %s "$CONF_DIR/wg0.toml")
	pad=$((1048576 - size - 3))
	{ printf '# '; head -c "$pad" /dev/zero | tr '\0' x; echo; } >>"$CONF_DIR/wg0.toml"
	[ "$(stat -c %s "$CONF_DIR/wg0.toml")" -eq 1048576 ]
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" up --dry-run wg0
	assert_success
	echo x >>"$CONF_DIR/wg0.toml"
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" up --dry-run wg0
	assert_failure 78
	assert_output --partial "is larger than 1 MiB"
}

@test "a symlinked config is followed, as /etc/wgn often has them" {
	mv "$CONF_DIR/wg0.toml" "$CONF_DIR/real.toml"
	ln -s real.toml "$CONF_DIR/wg0.toml"
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" up --dry-run wg0
	assert_success
}

@test "a private key file that is a FIFO or /dev/zero is refused at once: 78" {
	rm "$PRIV_KEY_FILE"
	mkfifo -m 600 "$PRIV_KEY_FILE"
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" up --dry-run wg0
	assert_failure 78
	assert_output --partial "interface.private_key_file: private key file $PRIV_KEY_FILE is a FIFO, not a regular file"
	rm "$PRIV_KEY_FILE"
	ln -s /dev/zero "$PRIV_KEY_FILE"
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" up --dry-run wg0
	assert_failure 78
	assert_output --partial "is a character device, not a regular file"
}

@test "a key file larger than 4 KiB is refused unread: 78" {
	(umask 077; { cat "$PRIV_KEY_FILE"; head -c 5000 /dev/zero | tr '\0' '\n'; } >"$CONF_DIR/k2")
	mv "$CONF_DIR/k2" "$PRIV_KEY_FILE"
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" up --dry-run wg0
	assert_failure 78
	assert_output --partial "private key file $PRIV_KEY_FILE is larger than 4 KiB"
}

@test "a preshared key file that is a FIFO is refused at once: 78" {
	mkfifo -m 600 "$CONF_DIR/wg0.psk"
	write_config wg0
	sed -i "/^tunnel_address/a preshared_key_file = \"$CONF_DIR/wg0.psk\"" "$CONF_DIR/wg0.toml"
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" up --dry-run wg0
	assert_failure 78
	assert_output --partial "hub.preshared_key_file: preshared key file $CONF_DIR/wg0.psk is a FIFO"
}

@test "a token file that is a FIFO is refused before any request: 78" {
	mkfifo -m 600 "$CONF_DIR/token"
	write_config wg0 '[control_plane]' 'url = "http://127.0.0.1:9"' \
		"token_file = \"$CONF_DIR/token\""
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" register wg0
	assert_failure 78
	assert_output --partial "token file $CONF_DIR/token is a FIFO, not a regular file"
}

@test "a run state that is a FIFO, a directory or damaged JSON is set aside with one sentence" {
	mkfifo "$WGN_RUN_DIR/wg0.json"
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" down --dry-run wg0
	assert_success
	assert_output --partial "wgn: run state $WGN_RUN_DIR/wg0.json is a FIFO, not a regular file; ignoring it"
	rm "$WGN_RUN_DIR/wg0.json"

	mkdir "$WGN_RUN_DIR/wg0.json"
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" down --dry-run wg0
	assert_success
	assert_output --partial "is a directory, not a regular file"
	rmdir "$WGN_RUN_DIR/wg0.json"

	# Floats where integers belong: converting them would be undefined behaviour.
	local bad
	for bad in '"connected_at": 1e300' '"connected_at": -5' '"daemon_pid": 1.5' \
		'"attempts": 1e19' '"daemon_pid": "12"' '"interface": ["wg0"]'; do
		echo "{\"interface\": \"wg0\", \"backend\": \"userspace\", $bad}" >"$WGN_RUN_DIR/wg0.json"
		run timeout 5 "$WGN" --config-dir "$CONF_DIR" down --dry-run wg0
		assert_success
		assert_output --partial "wgn: ignoring $WGN_RUN_DIR/wg0.json: not a wgn run state ("
	done

	truncate -s 2M "$WGN_RUN_DIR/wg0.json"
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" down --dry-run wg0
	assert_success
	assert_output --partial "is larger than 1 MiB"
}

@test "an interface name beginning with - is refused: as NAME (64), in the config or its file name (78)" {
	# wireguard-go would read `-f' or `--foreground' as an option, stall, and leave files.
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" up --dry-run -- -f
	assert_failure 64
	assert_output "wgn: \`-f' is not an interface name: it begins with \`-', which wireguard-go and other tools read as an option"
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" down -- --foreground
	assert_failure 64
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" health -- -f
	assert_failure 3

	sed -i '/^\[interface\]/a name = "--foreground"' "$CONF_DIR/wg0.toml"
	run timeout 5 "$WGN" --config-dir "$CONF_DIR" up --dry-run wg0
	assert_failure 78
	assert_output --partial "interface.name: \`--foreground' is not an interface name: it begins with \`-'"

	write_config wg0
	cp "$CONF_DIR/wg0.toml" "$CONF_DIR/-f.toml"
	run timeout 5 "$WGN" up --dry-run "$CONF_DIR/-f.toml"
	assert_failure 78
	assert_output --partial "the file name \`-f' is not an interface name: it begins with \`-'"
	# `..toml': the stem is `.', which the kernel refuses as a name.
	cp "$CONF_DIR/wg0.toml" "$CONF_DIR/..toml"
	run timeout 5 "$WGN" up --dry-run "$CONF_DIR/..toml"
	assert_failure 78
	assert_output --partial "the file name \`.' is not an interface name (the kernel refuses . and ..)"
}
