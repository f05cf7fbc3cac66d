#!/bin/bash
# `wgn sync` on kernel WireGuard; runs as /ktest/suite.sh inside the VM of
# tests/kernel/sync. The hub of hub_setup (kernel WireGuard wg-hub in namespace hub,
# made with ip and wg) reaches the real control plane, which runs on the host, at
# 10.0.2.100:8080 (qemu's user network, restrict=on, one guestfwd; the NIC is moved into
# the hub namespace). Test: two nodes registered with `wgn register` are admitted by
# `wgn sync --watch` with their /32 and /128; node wg0 comes up with kernel WireGuard
# and pings the hub; a deleted node's peer goes; a hand-made peer stays, and goes with
# --prune. Bench (KTEST_SYNC_BENCH=N): the kernel side of bench/sync.sh.
set -u
. /etc/ktest-config
. /ktest/guest-lib.sh

# The hub's loopback port 8080 relayed to the guestfwd (busybox nc, one per connection):
# a control plane over plain http must be on loopback (wgn refuses it elsewhere).
CP=http://127.0.0.1:8080
HUB_CONF=/etc/wgn-hub
hub_env=(ip netns exec hub env WGN_STATE_DIR=/var/lib/wgn-hub WGN_RUN_DIR=/run/wgn-hub)
hubwgn() { run "${hub_env[@]}" timeout 120 /usr/local/sbin/wgn --config-dir "$HUB_CONF" "$@"; }
# cp_admin METHOD PATH [JSON]: the admin API, from the hub namespace (the token in a
# header file, not in argv).
cp_admin() {
	in_hub curl -sS -f -X "$1" -H @/etc/ktest/cp/admin.hdr -H 'Content-Type: application/json' \
		${3:+-d "$3"} "$CP/api/v1$2"
}
json_str() { printf '%s' "$1" | grep -o "\"$2\":\"[^\"]*\"" | head -n1 | cut -d'"' -f4; }
# now_ms: the guest's clock in milliseconds (bash's EPOCHREALTIME).
now_ms() { local t="${EPOCHREALTIME/./}"; echo $((t / 1000)); }
wait_until() { # SECONDS CMD...: CMD every 0.1 s until it succeeds
	local end=$(($(now_ms) + $1 * 1000))
	shift
	while ! "$@"; do
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.1
	done
}
hub_peers() { in_hub wg show wg-hub peers; }
hub_has() { hub_peers | grep -qxF -- "$1"; }
hub_lacks() { ! hub_has "$1"; }
allowed_of() { in_hub wg show wg-hub allowed-ips | awk -v k="$1" '$1 == k { $1 = ""; print substr($0, 2) }'; }

stamp "sync suite starts"
check "kernel: the wireguard module is loaded" test -d /sys/module/wireguard
hub_setup node
# Only sync admits nodes: not the peer hub_setup presets.
run in_hub wg set wg-hub peer "$NODE_PUB" remove
HAND_PUB="$(wg genkey | wg pubkey)"
run in_hub wg set wg-hub peer "$HAND_PUB" allowed-ips 10.0.0.99/32
check "hub: a hand-made peer (10.0.0.99/32) and no other" eval '[ "$(hub_peers)" = "$HAND_PUB" ]'

# ---------------------------------------------------------------- the control plane
stamp "control plane"
nic=""
for d in /sys/class/net/*; do
	case "${d##*/}" in lo | veth* | wg*) ;; *) nic="${d##*/}"; break ;; esac
done
step_ok=1
run ip link set "$nic" netns hub
[ "$rc" = 0 ] || step_ok=0
run ip -n hub addr add 10.0.2.15/24 dev "$nic"
[ "$rc" = 0 ] || step_ok=0
run ip -n hub link set "$nic" up
[ "$rc" = 0 ] || step_ok=0
check "hub: the user-network NIC ($nic) in the hub namespace, 10.0.2.15/24" [ "$step_ok" = 1 ]
run in_hub curl -sS -f --max-time 30 --retry 5 --retry-connrefused http://10.0.2.100:8080/healthz
check "hub: the control plane answers /healthz through the guestfwd" [ "$rc" = 0 ]
in_hub nc -ll -p 8080 -e nc 10.0.2.100 8080 </dev/null >/dev/null 2>&1 &
relay_pid=$!
run in_hub curl -sS -f --max-time 30 --retry 5 --retry-connrefused "$CP/healthz"
check "hub: the control plane answers on the hub's loopback (nc relay)" [ "$rc" = 0 ]
(umask 077 && echo "Authorization: Bearer $(cat /etc/ktest/cp/admin-token)" >/etc/ktest/cp/admin.hdr)
out="$(cp_admin POST /hubs "{\"public_key\":\"$HUB_PUB\",\"endpoint\":\"192.168.77.1:51820\",\"tunnel_address\":\"10.0.0.1\"}")"
mkdir -p "$HUB_CONF" /var/lib/wgn-hub
(umask 077 && json_str "$out" hub_token >"$HUB_CONF/hub.token")
check "the administrator added the hub (a hub token)" test -s "$HUB_CONF/hub.token"
cat >"$HUB_CONF/wg-hub.toml" <<TOML
[interface]
private_key_file = "/etc/ktest/hub.key"
address = ["10.0.0.1/24", "fd00::1/64", "10.1.0.1/16"]
listen_port = 51820
backend = "kernel"

[control_plane]
url = "$CP"
token_file = "$HUB_CONF/hub.token"
timeout = 30.0
max_retries = 1
TOML

if [ "$KTEST_SYNC_BENCH" -gt 0 ]; then
	# shellcheck source=tests/kernel/sync-bench.sh
	. /ktest/sync-bench.sh
	completed=1
	exit 0
fi

# ---------------------------------------------------------------- sync --watch
stamp "sync --watch"
"${hub_env[@]}" /usr/local/sbin/wgn --config-dir "$HUB_CONF" -v sync --watch wg-hub \
	</dev/null >/tmp/sync.out 2>/tmp/sync.log &
sync_pid=$!
check "wgn sync --watch wg-hub: a first round (state file written)" \
	wait_until 60 test -s /var/lib/wgn-hub/wg-hub.sync.json
check "the hand-made peer is still there after the first round" hub_has "$HAND_PUB"

# Two nodes, registered by `wgn register` with the shared token (from the hub's
# namespace: the node's has no way to the control plane, and registration touches no
# interface). wg0 is the node hub_setup keyed; wgb a second one, with IPv6.
cp_conf() { # NAME
	cat >>"/etc/wgn/$1.toml" <<TOML

[control_plane]
url = "$CP"
token_file = "/etc/wgn/cp.token"
timeout = 30.0
max_retries = 1
TOML
}
cp /etc/ktest/cp/token /etc/wgn/cp.token && chmod 600 /etc/wgn/cp.token
write_config wg0 192.168.77.1:51820
cp_conf wg0
(umask 077 && wg genkey >/etc/wgn/wgb.key)
B_PUB="$(wg pubkey </etc/wgn/wgb.key)"
write_config wgb 192.168.77.1:51820
sed -i 's|/etc/wgn/wg0.key|/etc/wgn/wgb.key|; s|"10.0.0.10/24", "fd00::10/64"|"10.0.0.11/24", "fd00::11/64"|' /etc/wgn/wgb.toml
cp_conf wgb
regwgn() { run ip netns exec hub timeout 120 /usr/local/sbin/wgn --config-dir /etc/wgn "$@"; }
stamp "register"
t0="$(now_ms)"
regwgn register wg0 --json
check "wgn register wg0: exit 0 (got $rc)" [ "$rc" = 0 ]
check "wgn register wg0: a node id" [ -n "$(json_str "$out" node_id)" ]
regwgn register wgb --json
check "wgn register wgb: exit 0 (got $rc)" [ "$rc" = 0 ]
B_ID="$(json_str "$out" node_id)"
check "sync admitted node wg0 within 10 s" wait_until 10 hub_has "$NODE_PUB"
check "sync admitted node wgb within 10 s" wait_until 10 hub_has "$B_PUB"
echo "# admitted $(($(now_ms) - t0)) ms after the first registration started"
run in_hub wg show wg-hub allowed-ips
check "wg0's allowed ips: 10.0.0.10/32 fd00::10/128 [got: $(allowed_of "$NODE_PUB")]" \
	eval '[ "$(allowed_of "$NODE_PUB" | tr " " "\n" | sort | tr "\n" " ")" = "10.0.0.10/32 fd00::10/128 " ]'
check "wgb's allowed ips: 10.0.0.11/32 fd00::11/128 [got: $(allowed_of "$B_PUB")]" \
	eval '[ "$(allowed_of "$B_PUB" | tr " " "\n" | sort | tr "\n" " ")" = "10.0.0.11/32 fd00::11/128 " ]'
run in_hub wg show wg-hub persistent-keepalive
check "no keepalive on sync's peers (nodes keep the NAT open)" \
	eval 'has_text "$out" "$NODE_PUB	off" && has_text "$out" "$B_PUB	off"'
check "the hand-made peer survives sync" hub_has "$HAND_PUB"
check "hub: still kernel WireGuard, no UAPI socket" \
	eval '[ "$(link_kind hub wg-hub)" = wireguard ] && [ ! -e /run/wireguard/wg-hub.sock ]'

stamp "node up"
run ip netns exec node timeout 120 /usr/local/sbin/wgn --config-dir /etc/wgn up wg0 --no-register
check "node: wgn up wg0 (kernel) through the peer sync made: exit 0 (got $rc)" [ "$rc" = 0 ]
check "node pings the hub's tunnel address 10.0.0.1" ping_until node 10.0.0.1 3
check "node pings the hub's fd00::1 (the /128 sync gave it)" ping_until node fd00::1 3

stamp "delete"
run cp_admin DELETE "/nodes/$B_ID"
check "the administrator deleted node wgb: exit 0 (got $rc)" [ "$rc" = 0 ]
t0="$(now_ms)"
check "sync removed wgb's peer within 10 s" wait_until 10 hub_lacks "$B_PUB"
echo "# removed $(($(now_ms) - t0)) ms after the DELETE answered"
check "wg0's peer and the hand-made peer stay" eval 'hub_has "$NODE_PUB" && hub_has "$HAND_PUB"'
check "node wg0 still pings the hub" ping_until node 10.0.0.1 3
check "sync --watch is still running" kill -0 "$sync_pid"
kill -TERM "$sync_pid"
wait "$sync_pid"
rc=$?
sed 's/^/#   sync: /' /tmp/sync.log
check "sync --watch ends on SIGTERM with 0 (got $rc)" [ "$rc" = 0 ]
check "the watch's log has no token" eval '! grep -qF "$(cat "$HUB_CONF/hub.token")" /tmp/sync.log'

stamp "prune"
hubwgn sync wg-hub --prune
check "wgn sync wg-hub --prune: exit 0 (got $rc)" [ "$rc" = 0 ]
check "--prune removed the hand-made peer and kept wg0's" \
	eval 'hub_lacks "$HAND_PUB" && hub_has "$NODE_PUB" && [ "$(hub_peers | wc -l)" = 1 ]'
run ip netns exec node timeout 60 /usr/local/sbin/wgn --config-dir /etc/wgn down wg0
check "node: wgn down wg0: exit 0 (got $rc)" [ "$rc" = 0 ]
check "no wgn process left" eval '! running wgn'
kill "$relay_pid" 2>/dev/null
stamp "sync suite ends"
completed=1
