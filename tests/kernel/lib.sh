# shellcheck shell=bash
# The host side shared by tests/kernel/run (the kernel WireGuard suite in an initramfs)
# and tests/kernel/units (the systemd units under systemd as PID 1): prerequisites,
# the kernel and its modules, the initramfs, the qemu boot and the verdict.
# Sourced; the caller sets `here` (this directory) and `keep` (0 or 1).

log() { printf 'ktest: %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }
# A prerequisite of the test itself is missing: fail in CI, skip elsewhere.
missing() {
	if [ "${CI:-}" = true ]; then
		log "FAIL: $* (CI=true: this suite must run; install what is missing)"
		exit 1
	fi
	log "SKIP: $*"
	exit 77
}

# ktest_prereqs: qemu, busybox, cpio, ldd, timeout, iproute2's ip and wg; sets qemu,
# busybox, ip_bin, wg_bin, bash_bin.
ktest_prereqs() {
	local t
	qemu="$(command -v "${KTEST_QEMU:-qemu-system-x86_64}" || true)"
	[ -n "$qemu" ] || missing "${KTEST_QEMU:-qemu-system-x86_64} not found (Debian: qemu-system-x86)"
	for t in cpio ldd timeout; do
		command -v "$t" >/dev/null || missing "$t not found"
	done
	busybox="$(command -v busybox || true)"
	[ -n "$busybox" ] || missing "busybox not found (Debian: busybox-static)"
	ip_bin="$(tool_path ip)"
	wg_bin="$(tool_path wg)"
	bash_bin="$(command -v bash)"
	[ -n "$ip_bin" ] || missing "ip not found (Debian: iproute2)"
	[ -n "$wg_bin" ] || missing "wg not found (Debian: wireguard-tools)"
	# iproute2's ip must know netns and the wireguard kind; busybox's does not.
	# (No `| grep -q` under pipefail: an early exit of grep would be a SIGPIPE failure.)
	case "$("$ip_bin" -V 2>&1)" in
	*iproute2*) ;;
	*) missing "$ip_bin is not iproute2's ip" ;;
	esac
}
tool_path() { PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" command -v "$1" || true; }

# ktest_pick_kernel: sets kernel, kver, moddir (KTEST_KERNEL, KTEST_MODULES_DIR).
ktest_pick_kernel() {
	local k v best=""
	kernel=""
	if [ -n "${KTEST_KERNEL:-}" ]; then
		case "$KTEST_KERNEL" in
		/*) kernel="$KTEST_KERNEL" ;;
		*) kernel="/boot/vmlinuz-$KTEST_KERNEL" ;;
		esac
		[ -f "$kernel" ] || missing "KTEST_KERNEL=$KTEST_KERNEL: no such kernel image $kernel"
	else
		for k in /boot/vmlinuz-*; do
			[ -f "$k" ] || continue
			v="${k#/boot/vmlinuz-}"
			[ -f "/usr/lib/modules/$v/modules.dep" ] || continue
			best="$(printf '%s\n%s\n' "$best" "$v" | sed '/^$/d' | sort -V | tail -n1)"
		done
		[ -n "$best" ] && kernel="/boot/vmlinuz-$best"
	fi
	[ -n "$kernel" ] || missing "no /boot/vmlinuz-* with modules in /usr/lib/modules (Debian: linux-image-amd64)"
	[ -r "$kernel" ] || missing "$kernel is not readable by $(id -un)"
	kver="${kernel#/boot/vmlinuz-}"
	moddir="${KTEST_MODULES_DIR:-/usr/lib/modules/$kver}"
	[ -f "$moddir/modules.dep" ] || missing "kernel $kver has no $moddir/modules.dep (its modules are not installed)"
}

# ktest_each_kernel SCRIPT ARGS...: KTEST_KERNEL=all runs SCRIPT once per installed
# kernel that has modules and exits with the worst status; otherwise returns.
ktest_each_kernel() {
	[ "${KTEST_KERNEL:-}" = all ] || return 0
	local script="$1" k rc=0 ran=0 r
	shift
	for k in /boot/vmlinuz-*; do
		[ -f "/usr/lib/modules/${k#/boot/vmlinuz-}/modules.dep" ] || continue
		ran=1
		KTEST_KERNEL="$k" "$script" "$@" || { r=$?; [ "$rc" = 1 ] || rc=$r; }
	done
	[ "$ran" = 1 ] || missing "no /boot/vmlinuz-* with modules in /usr/lib/modules"
	exit "$rc"
}

# ktest_workdir: a temp dir (work) with the image tree (root), removed on exit unless
# keep=1.
ktest_workdir() {
	work="$(mktemp -d "${KTEST_TMPDIR:-${TMPDIR:-/tmp}}/wgn-ktest.XXXXXX")"
	trap ktest_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	root="$work/root"
	mkdir -p "$root"/usr/{bin,sbin,lib,lib64} "$root"/{proc,sys,dev,tmp,run,etc,ktest,root} \
		"$root"/var/lib "$root"/usr/local/sbin "$root"/lib/modules/ktest
	ln -s usr/bin "$root/bin"
	ln -s usr/sbin "$root/sbin"
	ln -s usr/lib64 "$root/lib64"
	# /lib is a real directory holding modules and libraries copied to their host paths.
	ln -s ../run "$root/var/run"
}
ktest_cleanup() {
	local rc=$?
	if [ "$keep" = 1 ]; then
		log "kept $work (initramfs in root/, image initramfs.cpio, serial log serial.log)"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}

# copy_file HOSTPATH: copy (dereferenced) to the same path inside the image.
copy_file() {
	local f="$1" d
	d="$root$(dirname "$f")"
	mkdir -p "$d"
	[ -e "$d/$(basename "$f")" ] || cp -L "$f" "$d/"
}
# copy_libs BINARY: its shared libraries and the dynamic loader, from ldd.
copy_libs() {
	local out line lib
	if ! out="$(ldd "$1" 2>&1)"; then
		# A static executable: nothing to copy.
		case "$out" in
		*"not a dynamic executable"* | *"statically linked"*) return 0 ;;
		*) die "ldd $1 failed: $out" ;;
		esac
	fi
	while IFS= read -r line; do
		case "$line" in
		*"not found"*) die "$1 needs a library that is missing: $line" ;;
		*"=> /"*) lib="${line#*=> }"; lib="${lib%% (*}" ;;
		*/*" ("*) lib="${line#"${line%%[![:space:]]*}"}"; lib="${lib%% (*}" ;;
		*) continue ;;
		esac
		copy_file "$lib"
	done <<<"$out"
}
# install_tool HOSTPATH NAME: into /usr/local/sbin (first in PATH), replacing any
# busybox applet of that name.
install_tool() {
	local f="$1" name="$2" d
	cp -L "$f" "$root/usr/local/sbin/$name"
	# Debug sections only make the image bigger (a RelWithDebInfo wgn is ~25 MB).
	if command -v strip >/dev/null; then
		strip --strip-debug "$root/usr/local/sbin/$name" 2>/dev/null || true
	fi
	chmod 0755 "$root/usr/local/sbin/$name"
	copy_libs "$f"
	for d in usr/bin usr/sbin; do
		if [ -L "$root/$d/$name" ]; then
			ln -sf "/usr/local/sbin/$name" "$root/$d/$name"
		fi
	done
}

# ktest_busybox: static busybox with its applets symlinked.
ktest_busybox() {
	local a
	cp -L "$busybox" "$root/usr/bin/busybox"
	copy_libs "$busybox"
	"$busybox" --list-full | while IFS= read -r a; do
		a="${a#/}"
		case "$a" in
		sbin/* | bin/*) a="usr/$a" ;;
		esac
		[ "$a" = usr/bin/busybox ] && continue
		mkdir -p "$root/$(dirname "$a")"
		ln -sf /usr/bin/busybox "$root/$a"
	done
	[ -e "$root/usr/bin/sh" ] || ln -s busybox "$root/usr/bin/sh"
	for a in insmod poweroff mount timeout ping switch_root; do
		[ -e "$root/usr/bin/$a" ] || [ -e "$root/usr/sbin/$a" ] ||
			missing "$busybox has no $a applet (Debian: busybox-static)"
	done
}

# builtin_has NAME: the kernel has the module built in (no .ko needed).
builtin_has() {
	[ -f "$moddir/modules.builtin" ] &&
		grep -Eq "(^|/)$1\.ko$" "$moddir/modules.builtin"
}
# dep_line NAME: the modules.dep line of module NAME (path: deps...).
dep_line() {
	awk -F: -v m="$1" '{ n = $1; sub(/.*\//, "", n); sub(/\.ko(\.xz|\.zst|\.gz)?$/, "", n) }
		n == m { print; exit }' "$moddir/modules.dep"
}
# resolve RELPATH: add RELPATH after its dependencies, each once.
resolve() {
	local rel="$1" line dep
	[ -n "${seen[$rel]:-}" ] && return 0
	seen[$rel]=1
	line="$(awk -F: -v r="$rel" '$1 == r { print; exit }' "$moddir/modules.dep")"
	[ -n "$line" ] || die "$rel is not in $moddir/modules.dep"
	for dep in ${line#*:}; do
		resolve "$dep"
	done
	load_order+=("$rel")
}
# ktest_modules NAME...: each module and its dependencies, from modules.dep (nothing
# hard-coded), unpacked into /lib/modules/ktest, their load order in /etc/ktest-modules.
ktest_modules() {
	local m line rel f name
	declare -gA seen=()
	load_order=()
	for m in "$@"; do
		line="$(dep_line "$m")"
		if [ -n "$line" ]; then
			resolve "${line%%:*}"
		elif builtin_has "$m"; then
			log "$m is built into $kver"
		elif [ "$m" = wireguard ]; then
			missing "kernel $kver ships no wireguard module: no wireguard.ko* in $moddir/modules.dep and not built in (kernel package without WireGuard?)"
		else
			missing "kernel $kver has no $m module"
		fi
	done
	: >"$root/etc/ktest-modules"
	for rel in "${load_order[@]}"; do
		f="$moddir/$rel"
		[ -f "$f" ] || die "$f is listed in modules.dep but missing"
		name="$(basename "$rel")"
		case "$name" in
		*.ko.xz) command -v xz >/dev/null || missing "xz (Debian: xz-utils) to unpack $name"
			xz -dc "$f" >"$root/lib/modules/ktest/${name%.xz}"; name="${name%.xz}" ;;
		*.ko.zst) command -v zstd >/dev/null || missing "zstd (Debian: zstd) to unpack $name"
			zstd -qdc "$f" >"$root/lib/modules/ktest/${name%.zst}"; name="${name%.zst}" ;;
		*.ko.gz) gzip -dc "$f" >"$root/lib/modules/ktest/${name%.gz}"; name="${name%.gz}" ;;
		*.ko) cp "$f" "$root/lib/modules/ktest/$name" ;;
		*) die "unexpected module file $f" ;;
		esac
		echo "$name" >>"$root/etc/ktest-modules"
	done
	log "kernel $kver; modules: $(tr '\n' ' ' <"$root/etc/ktest-modules")"
}

# ktest_image MODE: /init, the guest library, the basic /etc and the config
# (KTEST_MODE, CI, and whatever the caller already put in etc/ktest-config), packed
# into $work/initramfs.cpio.
ktest_image() {
	cp "$here/init" "$root/init"
	cp "$here/guest-lib.sh" "$root/ktest/guest-lib.sh"
	chmod 0755 "$root/init"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
	printf 'root:x:0:\n' >"$root/etc/group"
	printf 'ktest\n' >"$root/etc/hostname"
	printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
	echo "KTEST_MODE=$1" >>"$root/etc/ktest-config"
	echo "CI=${CI:-}" >>"$root/etc/ktest-config"
	img="$work/initramfs.cpio"
	(cd "$root" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc -R 0:0 --quiet) >"$img"
	log "initramfs $(du -h "$img" | cut -f1) in $SECONDS s"
}

# ktest_boot APPEND QEMU-ARGS...: boot the kernel with the image and this command line
# (after console=ttyS0 panic=-1 quiet oops=panic), the serial console into
# $work/serial.log and on stdout; sets elapsed and qrc. No network device at all
# (-nodefaults, -nic none): nothing leaves the VM.
ktest_boot() {
	local append="$1" accel cpu tmo rcs t0
	shift
	accel="${KTEST_ACCEL:-tcg}"
	if [ "$accel" = auto ]; then
		accel=tcg
		if [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -Eqw 'vmx|svm' /proc/cpuinfo; then
			accel=kvm
		fi
	fi
	case "$accel" in
	kvm) cpu=host ;;
	tcg) cpu=max ;;
	*) die "KTEST_ACCEL must be tcg, kvm or auto, not $accel" ;;
	esac
	tmo="${KTEST_TIMEOUT:-400}"
	serial="$work/serial.log"
	log "booting $kernel (accel $accel, timeout ${tmo}s)"
	ktest_accel="$accel"
	t0=$SECONDS
	set +e
	timeout -k 10 "$tmo" "$qemu" \
		-nodefaults -no-user-config -display none -no-reboot \
		-machine pc -accel "$accel" -cpu "$cpu" -smp 1 -m "${KTEST_MEM:-512}" \
		-nic none \
		-serial stdio \
		-kernel "$kernel" -initrd "$img" \
		-append "console=ttyS0 panic=-1 quiet oops=panic${append:+ $append}" \
		"$@" \
		</dev/null 2>&1 | tr -d '\r' | tee "$serial"
	rcs=("${PIPESTATUS[@]}")
	set -e
	elapsed=$((SECONDS - t0))
	qrc="${rcs[0]}"
	if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
		die "the VM did not finish within ${tmo}s (KTEST_TIMEOUT); the serial log is above"
	fi
	[ "$qrc" = 0 ] || log "qemu exited with status $qrc"
}

# ktest_verdict LOG: exactly one "KTEST RESULT: P passed, F failed" line, whose counts
# match the "KTEST ok"/"KTEST not ok" lines, F = 0 and P > 0; exits 1 otherwise.
ktest_verdict() {
	local f="$1" results n passed failed oks notoks
	results="$(grep -E '^KTEST RESULT: ' "$f" || true)"
	n="$(printf '%s' "$results" | grep -c . || true)"
	[ "$n" = 1 ] || die "expected one 'KTEST RESULT:' line from the VM, got $n (qemu status $qrc, ${elapsed}s)"
	if ! [[ "$results" =~ ^KTEST\ RESULT:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		die "malformed result line: $results"
	fi
	passed="${BASH_REMATCH[1]}"
	failed="${BASH_REMATCH[2]}"
	oks="$(grep -cE '^KTEST ok ' "$f" || true)"
	notoks="$(grep -cE '^KTEST not ok ' "$f" || true)"
	[ "$oks" = "$passed" ] && [ "$notoks" = "$failed" ] ||
		die "result line says $passed passed, $failed failed, but the log has $oks ok and $notoks not ok"
	if [ "$failed" != 0 ]; then
		log "FAIL: $failed of $((passed + failed)) checks failed (kernel $kver, ${elapsed}s in the VM):"
		grep -E '^KTEST not ok ' "$f" >&2
		exit 1
	fi
	[ "$passed" -gt 0 ] || die "no check ran"
	log "PASS: $passed checks (kernel $kver, accel $ktest_accel, ${elapsed}s in the VM, ${SECONDS}s in all)"
}
