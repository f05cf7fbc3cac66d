# shellcheck shell=bash
# The kernel side of issue 14's up+down target, run as /ktest/suite.sh by
# `tests/kernel/run --bench-updown RUNS`: wgn against wg-quick, both on kernel WireGuard,
# in the node namespace against the kernel hub of hub_setup.
#
#   wgn:       wgn up wg0 --no-register (it waits for the hub's echo itself); wgn down wg0
#   wg-quick:  wg-quick up wg0; ping -c1 -W2 10.0.0.1; wg-quick down wg0
#   floor:     ip link add; wg set (key, port, peer, endpoint, allowed IPs, keepalive);
#              ip addr add; ip link set up; ping -c1 -W2 10.0.0.1; ip link del
#   starts:    wgn --version, wg --version (one process start each)
#
# Same interface name (wg0), key, address, port, peer, endpoint, allowed IPs and
# keepalive for all three. One untimed cycle of each first, with checks (kernel link,
# no wireguard-go, handshake, link gone after down). Then KTEST_UPDOWN_RUNS rounds,
# alternating, inside the node namespace (`ip netns exec node bash THIS --loop`, so every
# command is started the same way, straight from bash): wall time from bash's
# EPOCHREALTIME (no fork), each step's exit status and, untimed between up and down, the
# hub's handshake with the node and the link's kind; after down, that the link is gone.
# Prints "KTEST BENCH ..." lines (median, min, max) and checks that every timed cycle
# succeeded.

# ---------------------------------------------------------------- the timed loop
if [ "${1:-}" = --loop ]; then
	# In the node namespace. One line per step: NAME STATUS MICROSECONDS [NOTE].
	runs="$2" hub_pub="$3"
	rec() { echo "$1 $2 $3${4:+ $4}" >>/tmp/updown.txt; }
	# after_up NAME: untimed; the link is kernel WireGuard and the hub's peer has a
	# handshake (wg show of the node: the latest handshake with the hub is not 0).
	after_up() {
		local kind hs
		kind="$(ip -d link show wg0 2>/dev/null)"
		case "$kind" in *" wireguard "*) ;; *) rec "$1-kind" 1 0 ;; esac
		hs="$(wg show wg0 latest-handshakes 2>/dev/null)"
		hs="${hs##*[[:space:]]}"
		if [ -z "$hs" ] || [ "$hs" = 0 ]; then rec "$1-handshake" 1 0; fi
	}
	# gone NAME: untimed; no wg0 after down.
	gone() { [ ! -e /sys/class/net/wg0 ] || rec "$1-left" 1 0; }
	# start NAME CMD...: one process start, timed.
	start() {
		local n="$1" t0 t1 rc
		shift
		t0=${EPOCHREALTIME/./}
		"$@" >/dev/null 2>&1
		rc=$?
		t1=${EPOCHREALTIME/./}
		rec "$n" "$rc" $((t1 - t0))
	}
	: >/tmp/updown.txt
	for ((i = 1; i <= runs; i++)); do
		t0=${EPOCHREALTIME/./}
		wgn up wg0 --no-register >/tmp/wgn-up.out 2>/tmp/wgn-up.err
		a=$?
		t1=${EPOCHREALTIME/./}
		after_up wgn
		t2=${EPOCHREALTIME/./}
		wgn down wg0 >/tmp/wgn-down.out 2>/tmp/wgn-down.err
		b=$?
		t3=${EPOCHREALTIME/./}
		gone wgn
		# The echo's wait as wgn measured it ("hub 10.0.0.1 answered in X ms, attempt 1/3").
		note="$(</tmp/wgn-up.err)"
		note="${note##*answered in }"
		note="${note%% ms*}|${note##*attempt }"
		rec wgn-up "$a" $((t1 - t0)) "$note"
		rec wgn-down "$b" $((t3 - t2))
		rec wgn "$((a | b))" $((t1 - t0 + t3 - t2))

		t0=${EPOCHREALTIME/./}
		wg-quick up wg0 >/tmp/wq-up.out 2>/tmp/wq-up.err
		a=$?
		t1=${EPOCHREALTIME/./}
		ping -c1 -W2 10.0.0.1 >/tmp/wq-ping.out 2>&1
		p=$?
		t2=${EPOCHREALTIME/./}
		after_up wq
		t3=${EPOCHREALTIME/./}
		wg-quick down wg0 >/tmp/wq-down.out 2>/tmp/wq-down.err
		b=$?
		t4=${EPOCHREALTIME/./}
		gone wq
		rec wq-up "$a" $((t1 - t0))
		rec wq-ping "$p" $((t2 - t1))
		rec wq-down "$b" $((t4 - t3))
		rec wq "$((a | p | b))" $((t2 - t0 + t4 - t3))

		t0=${EPOCHREALTIME/./}
		ip link add wg0 type wireguard &&
			wg set wg0 private-key /etc/wgn/wg0.key listen-port 51821 peer "$hub_pub" \
				endpoint 192.168.77.1:51820 allowed-ips 10.0.0.0/24,fd00::/64,10.1.0.0/16 \
				persistent-keepalive 25 &&
			ip addr add 10.0.0.10/24 dev wg0 &&
			ip link set wg0 up &&
			ping -c1 -W2 10.0.0.1 >/dev/null 2>&1
		a=$?
		t1=${EPOCHREALTIME/./}
		after_up floor
		t2=${EPOCHREALTIME/./}
		ip link del wg0
		b=$?
		t3=${EPOCHREALTIME/./}
		gone floor
		rec floor-up "$a" $((t1 - t0))
		rec floor-down "$b" $((t3 - t2))
		rec floor "$((a | b))" $((t1 - t0 + t3 - t2))

		start wgn-version wgn --version
		start wg-version wg --version
	done
	exit 0
fi

# ---------------------------------------------------------------- set-up and checks
. /etc/ktest-config
. /ktest/guest-lib.sh
RUNS="${KTEST_UPDOWN_RUNS:-10}"
stamp "updown bench: $RUNS rounds"
# wg-quick's process substitution (wg setconf IF /dev/fd/63) needs /dev/fd.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
# A tripwire: wg-quick falls back to this when `ip link add type wireguard` fails.
cat >/usr/local/sbin/wireguard-go-tripwire <<'EOF'
#!/bin/sh
echo "$*" >>/tmp/wireguard-go.calls
exit 1
EOF
chmod 0755 /usr/local/sbin/wireguard-go-tripwire
export WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go-tripwire

hub_setup node
write_config wg0 192.168.77.1:51820
mkdir -p /etc/wireguard
chmod 0700 /etc/wireguard
(
	umask 077
	cat >/etc/wireguard/wg0.conf <<EOF
[Interface]
PrivateKey = $(cat /etc/wgn/wg0.key)
Address = 10.0.0.10/24, fd00::10/64
ListenPort = 51821

[Peer]
PublicKey = $HUB_PUB
Endpoint = 192.168.77.1:51820
AllowedIPs = 10.0.0.0/24, fd00::/64, 10.1.0.0/16
PersistentKeepalive = 25
EOF
)
bench "tools: wg-quick $(command -v wg-quick), ping $(readlink -f "$(command -v ping)")," \
	"stat $(readlink -f "$(command -v stat)"), wgn $(wgn --version 2>&1 | head -n1)"

# One cycle of each, untimed, with checks: a broken set-up fails loudly, not timed.
run in_ns node wgn up wg0 --no-register
check "wgn up wg0 (kernel) → 0" [ "$rc" = 0 ]
check "wgn: link kind wireguard" [ "$(link_kind node wg0)" = wireguard ]
run in_ns node wgn down wg0
check "wgn down wg0 → 0, link gone" eval '[ "$rc" = 0 ] && link_absent node wg0'
run in_ns node wg-quick up wg0
check "wg-quick up wg0 → 0" [ "$rc" = 0 ]
check "wg-quick: link kind wireguard (kernel)" [ "$(link_kind node wg0)" = wireguard ]
check "wg-quick: MTU 1420, as wgn's" eval 'nsip node link show wg0 | grep -q "mtu 1420 "'
check "wg-quick: ping through the tunnel" in_ns node ping -c1 -W2 10.0.0.1
run in_ns node wg-quick down wg0
check "wg-quick down wg0 → 0, link gone" eval '[ "$rc" = 0 ] && link_absent node wg0'

bench "load before: $(cut -d' ' -f1-3 /proc/loadavg) (the guest's; the host's is printed by run)"
stamp "updown bench: timed rounds"
in_ns node bash /ktest/suite.sh --loop "$RUNS" "$HUB_PUB"
stamp "updown bench: done"
while read -r name st us note; do
	echo "# $name $st $us${note:+ $note}"
done </tmp/updown.txt

# times_of NAME: the times (µs) of the lines NAME.
times_of() { awk -v n="$1" '$1 == n { print $3 }' /tmp/updown.txt; }
stats "wgn up + wgn down" $(times_of wgn)
wgn_med=$med
stats "  wgn up" $(times_of wgn-up)
stats "  wgn down" $(times_of wgn-down)
stats "wg-quick up + ping + wg-quick down" $(times_of wq)
wq_med=$med
stats "  wg-quick up" $(times_of wq-up)
stats "  ping -c1 -W2" $(times_of wq-ping)
stats "  wg-quick down" $(times_of wq-down)
stats "floor: ip link add, wg set, ip x2, ping, ip del" $(times_of floor)
floor_med=$med
stats "  ip link add, wg set, ip x2, ping" $(times_of floor-up)
stats "  ip link del" $(times_of floor-down)
stats "wgn --version" $(times_of wgn-version)
stats "wg --version" $(times_of wg-version)
echo_ms="$(awk '$1 == "wgn-up" { split($4, a, "|"); print a[1] }' /tmp/updown.txt | sort -n |
	awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
bench "wgn up's echo (handshake + echo, as wgn reports it): median $echo_ms ms"
bench "ratio wgn / wg-quick (medians): $(awk -v a="$wgn_med" -v b="$wq_med" 'BEGIN { printf "%.3f", a / b }') (target <= 0.35)"
bench "ratio wgn / floor (medians): $(awk -v a="$wgn_med" -v b="$floor_med" 'BEGIN { printf "%.3f", a / b }')"
bench "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

bad="$(awk '$2 != 0' /tmp/updown.txt)"
check "every timed step exited 0, every up had a handshake, every down left no link" [ -z "$bad" ]
[ -z "$bad" ] || while read -r l; do echo "# failed: $l"; done <<<"$bad"
retried="$(awk '$1 == "wgn-up" && index($4, "|1/") == 0' /tmp/updown.txt)"
check "every wgn up answered at its first attempt" [ -z "$retried" ]
check "$RUNS rounds of each" [ "$(awk '$1 == "wq"' /tmp/updown.txt | wc -l)" = "$RUNS" ]
check "no wireguard-go was called" [ ! -e /tmp/wireguard-go.calls ]
completed=1
