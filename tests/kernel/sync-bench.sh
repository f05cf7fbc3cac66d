# shellcheck shell=bash
# The kernel side of bench/sync.sh, sourced by /ktest/suite.sh (tests/kernel/sync.sh)
# once the hub's config and the control plane are there; the control plane holds
# KTEST_SYNC_BENCH nodes (inserted by tests/kernel/sync before the boot). Prints
# "KTEST BENCH ..." lines (the host script shows them) and checks as it goes.
#
# 1. `wgn sync wg-hub` from empty, then the same peers as a config file (wg showconf).
# 2. KTEST_SYNC_RUNS times, alternating: the hub emptied (`wg setconf` with only its key
#    and port, and sync's state removed), `wgn sync wg-hub`; the hub emptied, `wg syncconf
#    wg-hub FILE`; `wg showconf wg-hub` (one netlink dump of the N peers) and the feed's
#    N/1000 pages by one curl (through the relay and the guestfwd): two floors.
#    Wall time from bash's EPOCHREALTIME around each command; median, min, max.
# 3. `wgn sync --watch wg-hub`; KTEST_SYNC_CHANGES times one node registered through the
#    API (curl, the shared token): from the control plane's answer (after its COMMIT) to
#    the watch's round line ("1 added"), which it prints after the netlink set and the
#    state file's fsync (an upper bound); then one dump checks that the peer is there.
# From sync.sh: hub_env, HUB_CONF, HAND_PUB, wait_until, and guest-lib.sh's helpers.
# shellcheck disable=SC2154
N="$KTEST_SYNC_BENCH"
us() { echo "${EPOCHREALTIME/./}"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
hubrun() { "${hub_env[@]}" /usr/local/sbin/wgn --config-dir "$HUB_CONF" "$@"; }

stamp "bench: $N nodes"
run in_hub wg set wg-hub peer "$HAND_PUB" remove
printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\n' "$(cat /etc/ktest/hub.key)" >/tmp/empty.conf
chmod 600 /tmp/empty.conf
in_hub wg setconf wg-hub /tmp/empty.conf
t0=$(us)
hubrun sync wg-hub >/tmp/first.out 2>/tmp/first.err
rc=$?
t1=$(us)
cat /tmp/first.err
check "bench: the first wgn sync of $N nodes: exit 0 (got $rc)" [ "$rc" = 0 ]
check "bench: the hub has $N peers" eval '[ "$(in_hub wg show wg-hub peers | wc -l)" = "$N" ]'
bench "first wgn sync: $(((t1 - t0) / 1000)) ms; $(cat /tmp/first.out)"
in_hub wg showconf wg-hub >/tmp/full.conf
chmod 600 /tmp/full.conf

# The floor of the listing: the feed's pages (1000 nodes each) by one curl, compressed
# as wgn asks for them, through the same relay and guestfwd.
echo "Authorization: Bearer $(cat "$HUB_CONF/hub.token")" >/tmp/hub.hdr
pages="http://127.0.0.1:8080/api/v1/nodes?since=0&limit=1000"
for ((k = 1000; k < N; k += 1000)); do
	pages+=" http://127.0.0.1:8080/api/v1/nodes?since=$k&limit=1000"
done
bench "load before: $(load)"
s=() c=() f=() p=()
for i in $(seq "$KTEST_SYNC_RUNS"); do
	in_hub wg setconf wg-hub /tmp/empty.conf
	rm -f /var/lib/wgn-hub/wg-hub.sync.json
	t0=$(us); hubrun sync wg-hub >/dev/null 2>&1; t1=$(us); s+=($((t1 - t0)))
	in_hub wg setconf wg-hub /tmp/empty.conf
	t0=$(us); in_hub wg syncconf wg-hub /tmp/full.conf; t1=$(us); c+=($((t1 - t0)))
	t0=$(us); in_hub wg showconf wg-hub >/dev/null; t1=$(us); f+=($((t1 - t0)))
	t0=$(us); in_hub curl -fsS --compressed -H @/tmp/hub.hdr $pages >/dev/null; t1=$(us); p+=($((t1 - t0)))
done
bench "load after: $(load)"
stats "wgn sync ($N nodes, from empty)" "${s[@]}"
sync_med=$med
stats "wg syncconf ($N peers, from empty)" "${c[@]}"
syncconf_med=$med
stats "floor: wg showconf ($N peers)" "${f[@]}"
stats "floor: the feed's pages by curl" "${p[@]}"
bench "ratio wgn sync / wg syncconf (medians): $(awk -v a="$sync_med" -v b="$syncconf_med" 'BEGIN { printf "%.2f", a / b }')"
check "bench: the hub has $N peers after the runs" eval '[ "$(in_hub wg show wg-hub peers | wc -l)" = "$N" ]'

stamp "bench: single changes"
"${hub_env[@]}" /usr/local/sbin/wgn --config-dir "$HUB_CONF" sync --watch wg-hub \
	</dev/null >/dev/null 2>/tmp/watch.log &
watch_pid=$!
wait_until 120 test -s /var/lib/wgn-hub/wg-hub.sync.json
sleep 1
mkfifo /tmp/tick
exec 5<>/tmp/tick
exec 3</tmp/watch.log
echo "Authorization: Bearer $(cat /etc/ktest/cp/token)" >/tmp/shared.hdr
bench "load before: $(load)"
lat=()
ok_changes=0
for i in $(seq "$KTEST_SYNC_CHANGES"); do
	key="$(wg genkey | wg pubkey)"
	body="{\"hostname\":\"change-$i\",\"wireguard_public_key\":\"$key\",\"interface_name\":\"wg0\",\"wireguard_address\":[\"fd00::3:$i/64\"],\"hub_endpoint\":\"192.0.2.1:51820\",\"labels\":{},\"wgn_version\":\"bench\",\"registered_at\":\"2026-12-03T00:00:00Z\"}"
	while IFS= read -r -u 3 _; do :; done # skip what the log has so far
	in_hub curl -sS -f -o /dev/null -H @/tmp/shared.hdr -H 'Content-Type: application/json' \
		-H "dbos-idempotency-key: change-$i-$RANDOM$RANDOM" -d "$body" \
		http://127.0.0.1:8080/api/v1/nodes/register || continue
	t0=$(us)
	seen=0
	while [ $(($(us) - t0)) -lt 60000000 ]; do
		if IFS= read -r -u 3 line; then
			case "$line" in *" added,"*) seen=1; break ;; esac
		else
			read -r -t 0.001 -u 5 _
		fi
	done
	t1=$(us)
	[ "$seen" = 1 ] && in_hub wg show wg-hub peers | grep -qxF -- "$key" && ok_changes=$((ok_changes + 1))
	lat+=($((t1 - t0)))
	sleep 0.3
done
bench "load after: $(load)"
stats "one change through sync --watch" "${lat[@]}"
check "bench: every change reached the hub ($ok_changes of $KTEST_SYNC_CHANGES)" [ "$ok_changes" = "$KTEST_SYNC_CHANGES" ]
kill -TERM "$watch_pid"
wait "$watch_pid"
