#!/usr/bin/env bash
# Control-plane throughput: registrations and enrollments per second at concurrency 1,
# 8, 32 and 128, with one and with two app instances on one PostgreSQL, p50/p99 of the
# answers' latency (bench/cp-load.js). Starts a private stack with
# contrib/control-plane/scripts/test-stack, prints a Markdown table for RESULTS.md with
# the machine's load before and after each cell, and stops the stack.
#
#   bash bench/cp.sh [SECONDS per cell, default 5]
#
# CPU ms per 2xx: the CPU time that the app instances and PostgreSQL (the postmaster
# and its backends) used during the cell, divided by the answers: what a request
# costs, which a machine shared with other work changes less than requests/s.
#
# Each cell starts from an empty nodes table (the hub and the tokens stay), so that
# cells compare; WGN_CP_POOLS is 10.0.0.0/8,fd00::/64 so that enrollment never runs
# out of addresses. No retries: a 503 (backpressure, WGN_CP_MAX_IN_FLIGHT) is counted
# in the last column.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
stack="$here/contrib/control-plane/scripts/test-stack"
secs="${1:-5}"

dir="$(mktemp -d /tmp/wgn-cp-bench.XXXXXX)"
rmdir "$dir"
trap '"$stack" stop "$dir" >/dev/null 2>&1 || true' EXIT
# Every instance must have the same pools (start-app passes the variable through).
export WGN_CP_POOLS=10.0.0.0/8,fd00::/64
"$stack" start "$dir" >&2
# shellcheck source=/dev/null
. "$dir/env"
export PGHOST PGPORT PGUSER PGDATABASE

admin() {
	curl -fsS -X POST -H @<(echo "Authorization: Bearer $(cat "$CP_ADMIN_TOKEN_FILE")") \
		-H 'Content-Type: application/json' -d "$2" "$CP_URL/api/v1$1"
}
admin /hubs '{"public_key":"3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=","endpoint":"hub.example.com:51820","tunnel_address":"10.0.0.1"}' >/dev/null
(umask 077 && admin /enrollment-tokens '{"max_uses": 1000000}' |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' >"$dir/enroll.token")

load() { cut -d' ' -f1 /proc/loadavg; }

# cpu PID...: CPU seconds used so far by these processes and their descendants (alive,
# or exited and waited for), as "app postgres" for the app pids and the postmaster.
cpu() {
	python3 - "$@" <<'PY'
import os, sys
tck = os.sysconf("SC_CLK_TCK")
kids = {}
for p in filter(str.isdigit, os.listdir("/proc")):
    try:
        st = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    kids.setdefault(st[1], []).append((p, st))
def tree(pid, st=None):
    if st is None:
        try:
            st = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            return 0
    t = sum(int(x) for x in st[11:15])
    return t + sum(tree(c, cs) for c, cs in kids.get(pid, []))
app = sum(tree(p) for p in sys.argv[1].split(",") if p)
pg = tree(sys.argv[2])
print(f"{app / tck:.2f} {pg / tck:.2f}")
PY
}
app_pids() { cat "$dir"/app*.pid | paste -sd,; }
pg_pid() { head -n 1 "$dir/pg/postmaster.pid"; }

echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r), $(nproc) CPUs, ${secs} s per cell, node $(node --version), $(psql -XAtc 'SHOW server_version')"
echo
echo "| kind | instances | concurrency | 2xx/s | p50 ms | p99 ms | CPU ms per 2xx: app + PostgreSQL | load before → after | other answers |"
echo "|---|---|---|---|---|---|---|---|---|"
for instances in 1 2; do
	urls="$CP_URL"
	if [ "$instances" = 2 ]; then
		"$stack" start-app "$dir" 2 >&2
		# shellcheck source=/dev/null
		. "$dir/env"
		urls="$CP_URL,$CP_URL_2"
	fi
	for kind in register enroll; do
		token="$CP_TOKEN_FILE"
		[ "$kind" = enroll ] && token="$dir/enroll.token"
		for c in 1 8 32 128; do
			psql -XAtq -c 'DELETE FROM allocations WHERE node_id IS NOT NULL; DELETE FROM nodes'
			before="$(load)"
			cpu0="$(cpu "$(app_pids)" "$(pg_pid)")"
			out="$(node "$here/bench/cp-load.js" --kind "$kind" --urls "$urls" \
				--token-file "$token" --concurrency "$c" --duration "$secs")"
			cpu1="$(cpu "$(app_pids)" "$(pg_pid)")"
			python3 - "$out" "$before" "$(load)" "$cpu0" "$cpu1" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
other = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()) if not k.startswith("2"))
for k, v in r.get("samples", {}).items():
    print(f"{r['kind']} x{r['instances']} c{r['concurrency']}: first {k}: {v}", file=sys.stderr)
a0, p0 = map(float, sys.argv[4].split())
a1, p1 = map(float, sys.argv[5].split())
ok = max(r["ok"], 1)
cpu = f"{1000 * (a1 - a0) / ok:.1f} + {1000 * (p1 - p0) / ok:.1f}"
print(f"| {r['kind']} | {r['instances']} | {r['concurrency']} | {r['per_second']} | "
      f"{r['p50_ms']} | {r['p99_ms']} | {cpu} | {sys.argv[2]} → {sys.argv[3]} | {other or '-'} |")
PY
		done
	done
done
