# Sourced by the benchmarks: the hub and node of the end-to-end tests
# (tests/bats/netns_helper.bash), outside bats. Set BENCH_NAME first (for messages).
# Afterwards BATS_TEST_TMPDIR and everything netns_setup sets exist, and `cleanup`
# (the EXIT trap) removes them all.

# netns_helper.bash is written for bats; these are the few bats functions it uses.
requires_root() { :; }
requires_cmd() { :; }
fail() {
	echo "$BENCH_NAME: $*" >&2
	exit 1
}
BATS_TEST_TMPDIR="$(mktemp -d /tmp/wgn-bench.XXXXXX)"
export BATS_TEST_TMPDIR
# shellcheck source=../tests/bats/netns_helper.bash
. "$(dirname "${BASH_SOURCE[0]}")/../tests/bats/netns_helper.bash"
cleanup() {
	# A run cut short leaves the node's interface and daemon; the namespaces take them
	# with them.
	netns_teardown
	rm -rf "$BATS_TEST_TMPDIR"
}
trap cleanup EXIT
netns_setup
