# Loaded by every bats file: `load test_helper`.
# WGN is the binary under test (ctest sets it); WGN_SOURCE_DIR the source tree.

: "${WGN_SOURCE_DIR:=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}"
: "${WGN:=$WGN_SOURCE_DIR/build/wgn}"
export WGN WGN_SOURCE_DIR

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

# On a laptop, tests that need root skip; in CI (CI=true) they fail instead, so that
# nothing silently stops being tested.
requires_root() {
	if [ "$(id -u)" -ne 0 ]; then
		if [ "${CI:-}" = true ]; then
			fail "this test needs root, and CI must run it"
		fi
		skip "needs root"
	fi
}

# requires_cmd CMD...: the same rule for tools a test needs.
requires_cmd() {
	local c
	for c in "$@"; do
		if ! command -v "$c" >/dev/null 2>&1; then
			[ "${CI:-}" = true ] && fail "this test needs $c, and CI must have it"
			skip "needs $c"
		fi
	done
}

# A private config directory with a valid config NAME.toml and its key; echoes nothing.
# Sets CONF_DIR, PRIV_KEY_FILE, PRIV_KEY (its content) and HUB_PUB.
make_config_dir() {
	CONF_DIR="$BATS_TEST_TMPDIR/etc"
	mkdir -p "$CONF_DIR"
	PRIV_KEY_FILE="$CONF_DIR/wg0.key"
	# A fixed test key (RFC 7748's Alice), never used outside tests.
	(umask 077; echo 'dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=' >"$PRIV_KEY_FILE")
	PRIV_KEY=$(cat "$PRIV_KEY_FILE")
	HUB_PUB='3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08='
	export CONF_DIR PRIV_KEY_FILE PRIV_KEY HUB_PUB
}

# write_config NAME [extra TOML appended]: a valid config for interface NAME.
write_config() {
	local name="$1"
	shift
	cat >"$CONF_DIR/$name.toml" <<TOML
[interface]
private_key_file = "$PRIV_KEY_FILE"
address = ["10.0.0.10/24", "fd00::10/64"]
listen_port = 51821

[hub]
public_key = "$HUB_PUB"
endpoint = "hub.example.com:51820"
allowed_ips = ["10.0.0.0/24", "10.1.0.0/16"]
persistent_keepalive = 25
tunnel_address = "10.0.0.1"
TOML
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@" >>"$CONF_DIR/$name.toml"
	fi
}

# assert_refused_73 NAMED WORDS: the last `run --separate-stderr` exited 73 (SPEC: a file
# it cannot write) with one line on stderr, naming NAMED (the path) and saying WORDS
# (the error's, e.g. "Read-only file system").
assert_refused_73() {
	[ "$status" -eq 73 ] || fail "exit $status: $stderr"
	[ "$(wc -l <<<"$stderr")" -eq 1 ] || fail "not one line: $stderr"
	[[ "$stderr" == *"$1"* ]] || fail "$1 is not named: $stderr"
	[[ "$stderr" == *"$2"* ]] || fail "no \"$2\": $stderr"
}
