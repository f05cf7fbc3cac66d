#!/usr/bin/env bats
# Packaging: the systemd units verify, `cmake --install` lays the files out, and the
# Debian package builds from a clean copy, passes lintian without errors and holds
# what it should. The package is built once per run, in setup_file (it compiles wgn
# again: minutes on two cores); WGN_DEB_DIR may name the output of an earlier
# `packaging/build-deb DIR` to skip that.

load test_helper

UNITS=(wgn@.service wgn-health@.service wgn-health@.timer wgn-watch@.service wgn-sync@.service
	wgn-rotate@.service wgn-rotate@.timer)
MANS=(man8/wgn.8 man8/wgn-up.8 man8/wgn-down.8 man8/wgn-health.8 man8/wgn-register.8
	man8/wgn-enroll.8 man8/wgn-watch.8 man8/wgn-sync.8 man8/wgn-rotate.8 man5/wgn.toml.5)
COMPLETIONS=(usr/share/bash-completion/completions/wgn usr/share/zsh/vendor-completions/_wgn
	usr/share/fish/vendor_completions.d/wgn.fish)

setup_file() {
	export DEB_OUT="${WGN_DEB_DIR:-$BATS_FILE_TMPDIR/deb}"
	export DEB_ROOT="$BATS_FILE_TMPDIR/root"
	if [ -z "${WGN_DEB_DIR:-}" ]; then
		for c in dpkg-buildpackage dh lintian; do
			command -v "$c" >/dev/null || return 0 # the tests say what is missing
		done
		"$WGN_SOURCE_DIR/packaging/build-deb" "$DEB_OUT" >"$BATS_FILE_TMPDIR/build-deb.log" 2>&1 ||
			echo "failed" >"$BATS_FILE_TMPDIR/build-deb.failed"
	fi
	local deb
	deb="$(ls "$DEB_OUT"/wgn_*.deb 2>/dev/null | head -n 1)"
	if [ -n "$deb" ]; then
		mkdir -p "$DEB_ROOT"
		dpkg -x "$deb" "$DEB_ROOT"
	fi
}

# The package, built; fails (or skips on a laptop without the tools) otherwise.
requires_deb() {
	[ -n "${WGN_DEB_DIR:-}" ] || requires_cmd dpkg-buildpackage dh lintian
	if [ -e "$BATS_FILE_TMPDIR/build-deb.failed" ]; then
		cat "$BATS_FILE_TMPDIR/build-deb.log" >&2
		fail "packaging/build-deb failed (its output is above)"
	fi
	DEB="$(ls "$DEB_OUT"/wgn_*.deb 2>/dev/null | head -n 1)"
	[ -n "$DEB" ] || fail "no wgn_*.deb in $DEB_OUT"
}

# verify_units DIR BINARY: systemd-analyze verify of the units in DIR, with
# /usr/sbin/wgn replaced by BINARY (the units name the installed path, which a build
# tree or a scratch root does not have). Needs no running systemd.
verify_units() {
	local dir="$1" bin tmp="$BATS_TEST_TMPDIR/units" man="$BATS_TEST_TMPDIR/man"
	bin="$(readlink -f "$2")"
	mkdir -p "$tmp" "$man/man8" "$man/man5"
	for u in "${UNITS[@]}"; do
		[ -f "$dir/$u" ] || fail "no unit $dir/$u"
		sed "s#/usr/sbin/wgn#$bin#g" "$dir/$u" >"$tmp/$u"
	done
	# Documentation= is checked too: man:wgn-up(8) and the others must exist.
	cp "$WGN_SOURCE_DIR"/man/*.8 "$man/man8/"
	cp "$WGN_SOURCE_DIR"/man/*.5 "$man/man5/"
	cd "$tmp"
	run env MANPATH="$man" SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=yes \
		./wgn@wg0.service ./wgn-health@wg0.service ./wgn-health@wg0.timer \
		./wgn-watch@wg0.service ./wgn-sync@wgh.service ./wgn-rotate@wg0.service \
		./wgn-rotate@wg0.timer
	cd - >/dev/null
	assert_success
	# Unknown keys and bad values are only warnings to systemd; here they fail.
	assert_output ""
}

@test "systemd-analyze verify passes on the units" {
	requires_cmd systemd-analyze
	[ -x "$WGN" ] || fail "no wgn binary at $WGN"
	verify_units "$WGN_SOURCE_DIR/packaging/systemd" "$WGN"
}

@test "systemd-analyze verify catches a broken unit (the check can fail)" {
	requires_cmd systemd-analyze
	local bad="$BATS_TEST_TMPDIR/bad"
	mkdir -p "$bad"
	cp "$WGN_SOURCE_DIR"/packaging/systemd/* "$bad/"
	sed -i 's/^Type=oneshot$/Type=oneshoot/' "$bad/wgn@.service"
	run verify_units "$bad" "$WGN"
	assert_failure
}

@test "the units are hardened to least privilege" {
	requires_cmd systemd-analyze
	local u f
	for u in wgn@.service wgn-health@.service wgn-watch@.service; do
		f="$WGN_SOURCE_DIR/packaging/systemd/$u"
		for d in "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW" \
			"NoNewPrivileges=yes" "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes" \
			"RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6" \
			"DeviceAllow=/dev/net/tun rw" "ReadWritePaths=/run/wgn /run/wireguard /var/lib/wgn"; do
			grep -qF -- "$d" "$f" || fail "$u lacks $d"
		done
	done
	f="$WGN_SOURCE_DIR/packaging/systemd/wgn@.service"
	for d in "RemainAfterExit=yes" "ExecStart=/usr/sbin/wgn up %i" "ExecStop=/usr/sbin/wgn down %i" \
		"ExecReload=/usr/sbin/wgn up %i" "After=network-online.target nss-lookup.target"; do
		grep -qxF -- "$d" "$f" || fail "wgn@.service lacks $d"
	done
	grep -qxF "ExecStart=/usr/sbin/wgn health %i --repair --textfile-dir /var/lib/prometheus/node-exporter" \
		"$WGN_SOURCE_DIR/packaging/systemd/wgn-health@.service"
	grep -qxF "OnCalendar=minutely" "$WGN_SOURCE_DIR/packaging/systemd/wgn-health@.timer"
	grep -qxF "Type=oneshot" "$WGN_SOURCE_DIR/packaging/systemd/wgn@.service"
	grep -qxF "Type=oneshot" "$WGN_SOURCE_DIR/packaging/systemd/wgn-health@.service"
	f="$WGN_SOURCE_DIR/packaging/systemd/wgn-watch@.service"
	for d in "Type=notify" "NotifyAccess=main" "ExecStart=/usr/sbin/wgn watch %i" \
		"ExecReload=/bin/kill -HUP \$MAINPID" "ExecStopPost=/usr/sbin/wgn down %i" \
		"Conflicts=wgn@%i.service"; do
		grep -qxF -- "$d" "$f" || fail "wgn-watch@.service lacks $d"
	done
	grep -qE '^WatchdogSec=[1-9]' "$f" || fail "wgn-watch@.service has no WatchdogSec"
	f="$WGN_SOURCE_DIR/packaging/systemd/wgn-sync@.service"
	for d in "Type=notify" "NotifyAccess=main" "ExecStart=/usr/sbin/wgn sync --watch %i" \
		"ExecReload=/bin/kill -HUP \$MAINPID" "CapabilityBoundingSet=CAP_NET_ADMIN" \
		"NoNewPrivileges=yes" "ProtectSystem=strict" "PrivateDevices=yes" \
		"RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6"; do
		grep -qxF -- "$d" "$f" || fail "wgn-sync@.service lacks $d"
	done
	grep -qE '^WatchdogSec=[1-9]' "$f" || fail "wgn-sync@.service has no WatchdogSec"
	f="$WGN_SOURCE_DIR/packaging/systemd/wgn-rotate@.service"
	for d in "Type=oneshot" "ExecStart=/usr/sbin/wgn rotate %i" \
		"CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW" "NoNewPrivileges=yes" \
		"ProtectSystem=strict" "ReadWritePaths=/etc/wgn /run/wgn /var/lib/wgn -/run/wireguard" \
		"UMask=0077"; do
		grep -qxF -- "$d" "$f" || fail "wgn-rotate@.service lacks $d"
	done
	f="$WGN_SOURCE_DIR/packaging/systemd/wgn-rotate@.timer"
	for d in "OnCalendar=monthly" "Persistent=true" "WantedBy=timers.target"; do
		grep -qxF -- "$d" "$f" || fail "wgn-rotate@.timer lacks $d"
	done
	grep -qE '^RandomizedDelaySec=[1-9]' "$f" || fail "wgn-rotate@.timer has no RandomizedDelaySec"
	# systemd's own exposure score (0 safest, 10 unsafe): "OK" or better.
	local tmp="$BATS_TEST_TMPDIR/sec"
	mkdir -p "$tmp"
	for u in wgn@.service wgn-health@.service wgn-watch@.service wgn-sync@.service \
		wgn-rotate@.service; do
		sed "s#/usr/sbin/wgn#$(readlink -f "$WGN")#g" "$WGN_SOURCE_DIR/packaging/systemd/$u" >"$tmp/$u"
	done
	cd "$tmp"
	run systemd-analyze security --offline=yes --threshold=40 ./wgn@wg0.service ./wgn-health@wg0.service \
		./wgn-watch@wg0.service ./wgn-sync@wgh.service ./wgn-rotate@wg0.service
	cd - >/dev/null
	assert_success
}

@test "cmake --install puts every file where GNUInstallDirs says" {
	[ -x "$WGN" ] || fail "no wgn binary at $WGN"
	local build dest="$BATS_TEST_TMPDIR/dest"
	build="$(dirname "$WGN")"
	[ -f "$build/cmake_install.cmake" ] || skip "$WGN is not in a CMake build directory"
	# The configured prefix (/usr/local unless told otherwise), since the units'
	# ExecStart is written for it at configure time.
	local prefix
	prefix="$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")"
	[ -n "$prefix" ] || prefix=/usr/local
	run env DESTDIR="$dest" cmake --install "$build"
	assert_success
	local p="${prefix#/}"
	[ -x "$dest/$p/sbin/wgn" ]
	for m in "${MANS[@]}"; do [ -f "$dest/$p/share/man/$m" ] || fail "no $p/share/man/$m"; done
	for c in "${COMPLETIONS[@]}"; do
		[ -f "$dest/${c/usr/$p}" ] || fail "no ${c/usr/$p}"
	done
	for u in "${UNITS[@]}"; do [ -f "$dest/$p/lib/systemd/system/$u" ] || fail "no unit $u"; done
	[ -f "$dest/$p/share/doc/wgn/examples/wg0.toml" ]
	# The units follow the prefix: ExecStart names the binary where it was installed.
	run grep -h '^Exec' "$dest/$p/lib/systemd/system/wgn@.service"
	assert_line "ExecStart=$prefix/sbin/wgn up %i"
	assert_line "ExecStop=$prefix/sbin/wgn down %i"
}

@test "the package builds from a clean copy and lintian reports no error" {
	requires_deb
	[ -f "$DEB_OUT/lintian.txt" ] || fail "no lintian.txt in $DEB_OUT"
	run grep '^E: ' "$DEB_OUT/lintian.txt"
	assert_failure
	# Warnings are allowed, but shown.
	grep '^W: ' "$DEB_OUT/lintian.txt" >&3 || true
	# And lintian itself, on the .deb, agrees.
	requires_cmd lintian
	run lintian --fail-on error --allow-root "$DEB"
	assert_success
	if grep -q '^E: ' <<<"$output"; then fail "lintian: $output"; fi
}

@test "the package's control fields: Depends, Recommends, Suggests" {
	requires_deb
	run dpkg-deb -f "$DEB" Package Architecture Depends Recommends Suggests Section
	assert_success
	assert_line "Package: wgn"
	assert_line --regexp '^Depends: .*libc6'
	# libcurl is dlopen()ed, so the control file names it (shlibs cannot see it).
	assert_line --regexp '^Depends: .*libcurl4 \(>= 7\.85'
	# So is libcrypto (lib/core/keys.cpp): libssl3 holds libcrypto.so.3.
	assert_line --regexp '^Depends: .*libssl3'
	refute_output --partial '${'
	assert_line --regexp '^Recommends: .*wireguard-tools'
	assert_line --regexp '^Suggests: .*wireguard-go'
	assert_line "Section: net"
}

@test "the package holds the binary, 7 man pages, 3 completions, 4 units and the example" {
	requires_deb
	local r="$DEB_ROOT"
	[ -x "$r/usr/sbin/wgn" ] || fail "no /usr/sbin/wgn"
	for m in "${MANS[@]}"; do
		[ -f "$r/usr/share/man/$m.gz" ] || fail "no /usr/share/man/$m.gz"
	done
	for c in "${COMPLETIONS[@]}"; do [ -f "$r/$c" ] || fail "no /$c"; done
	for u in "${UNITS[@]}"; do
		[ -f "$r/lib/systemd/system/$u" ] || [ -f "$r/usr/lib/systemd/system/$u" ] ||
			fail "no unit $u"
	done
	[ -f "$r/usr/share/doc/wgn/examples/wg0.toml" ] || fail "no example config"
	[ -f "$r/usr/share/doc/wgn/copyright" ] || fail "no copyright"
	# Nothing from a build tree or the tests.
	run find "$r" -name '*.bats' -o -name 'CMakeCache.txt' -o -name '*.o'
	assert_output ""
}

@test "the packaged binary runs and has the package's version" {
	requires_deb
	run "$DEB_ROOT/usr/sbin/wgn" --version
	assert_success
	local v
	v="$(dpkg-deb -f "$DEB" Version)"
	assert_output "wgn ${v%%-*}"
	run "$DEB_ROOT/usr/sbin/wgn" --help
	assert_success
	assert_output --partial "wgn(8)"
}

@test "the packaged man pages render without warnings" {
	requires_deb
	requires_cmd man
	for m in "${MANS[@]}"; do
		run bash -c "MANWIDTH=80 man --warnings -l '$DEB_ROOT/usr/share/man/$m.gz' 2>&1 >/dev/null"
		assert_success
		assert_output ""
	done
}

@test "the packaged units verify against the packaged binary" {
	requires_deb
	requires_cmd systemd-analyze
	local d="$DEB_ROOT/lib/systemd/system"
	[ -d "$d" ] || d="$DEB_ROOT/usr/lib/systemd/system"
	verify_units "$d" "$DEB_ROOT/usr/sbin/wgn"
}

@test "the packaged example config is valid (wgn up --dry-run)" {
	requires_deb
	local dir="$BATS_TEST_TMPDIR/etc"
	mkdir -p "$dir"
	(umask 077; echo 'dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=' >"$dir/wg0.key")
	sed "s#/etc/wgn/wg0.key#$dir/wg0.key#" "$DEB_ROOT/usr/share/doc/wgn/examples/wg0.toml" \
		>"$dir/wg0.toml"
	run "$DEB_ROOT/usr/sbin/wgn" up --dry-run --config-dir "$dir" wg0
	assert_success
	assert_output --partial "private-key (hidden)"
	# With its [control_plane] comments removed, too.
	sed -i 's/^# \(\[control_plane\|url\|token_file\|ca_file\|timeout\|max_retries\|role\)/\1/' \
		"$dir/wg0.toml"
	grep -q '^\[control_plane\]' "$dir/wg0.toml"
	run "$DEB_ROOT/usr/sbin/wgn" up --dry-run --config-dir "$dir" wg0
	assert_success
}

@test "the packaged bash completion completes" {
	requires_deb
	run bash -c "
		source '$DEB_ROOT/usr/share/bash-completion/completions/wgn'
		COMP_WORDS=(wgn health --format '')
		COMP_CWORD=3
		_wgn
		echo \"\${COMPREPLY[*]}\""
	assert_success
	assert_output "human json nagios prometheus"
}

@test "versions agree: debian/changelog, CMake project(), wgn --version" {
	requires_cmd dpkg-parsechangelog
	local deb_v cmake_v
	deb_v="$(dpkg-parsechangelog -l "$WGN_SOURCE_DIR/packaging/debian/changelog" -S Version)"
	cmake_v="$(sed -n 's/^project(wgn VERSION \([0-9.]*\).*/\1/p' "$WGN_SOURCE_DIR/CMakeLists.txt")"
	[ -n "$cmake_v" ] || fail "no project(wgn VERSION ...) in CMakeLists.txt"
	assert_equal "${deb_v%%-*}" "$cmake_v"
	if [ -x "$WGN" ]; then
		run "$WGN" --version
		assert_output "wgn $cmake_v"
	fi
}
