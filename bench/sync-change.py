#!/usr/bin/env python3
"""sync-change.py URL TOKEN_FILE UAPI_SOCKET COUNT [LOG]: the latency of one change
through `wgn sync --watch` (bench/sync.sh). COUNT times: registers one new node with the
shared token (POST /api/v1/nodes/register, a fresh random key, address fd00::3:N/64),
takes the time when the request is sent and when the control plane's answer (after its
COMMIT) has arrived, then waits for the peer on the hub:
- without LOG, reads the hub's peers through its UAPI socket (get=1) in a loop until the
  new key is there: the resolution is one UAPI read, 0.3 s with 10,000 peers;
- with LOG (sync --watch's stderr), watches the file every 0.5 ms for the round's line
  ("... (1 added, ..."), which sync prints after the set and the state file's fsync: an
  upper bound of when the peer was there; one UAPI read then checks that it is.
Prints one line per change (ms) and a summary: median, max, and the median cost of one
UAPI read; then the same from the request sent, an upper bound of the time from the
commit (the round may end before the answer reaches this client: the time from the
answer is then near zero). The token is read from the file."""
import base64
import json
import os
import socket
import statistics
import sys
import time
import urllib.request


def uapi_get(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(b"get=1\n\n")
    buf = bytearray()
    while not buf.endswith(b"\n\n"):
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        buf += chunk
    s.close()
    return bytes(buf)


def register(url, token, n):
    key = os.urandom(32)
    body = {
        "hostname": f"change-{n}",
        "wireguard_public_key": base64.b64encode(key).decode(),
        "interface_name": "wg0",
        "wireguard_address": [f"fd00::3:{n:x}/64"],
        "hub_endpoint": "192.0.2.1:51820",
        "labels": {},
        "wgn_version": "bench",
        "registered_at": "2026-12-03T00:00:00Z",
    }
    req = urllib.request.Request(
        url + "/api/v1/nodes/register", data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json",
                 "dbos-idempotency-key": os.urandom(16).hex()}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read()
    return b"public_key=" + key.hex().encode() + b"\n"


def main():
    url, token_file, sock, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    log = sys.argv[5] if len(sys.argv) > 5 else None
    with open(token_file) as f:
        token = f.read().strip()
    lat, reads, whole, answer = [], [], [], []
    for n in range(1, count + 1):
        mark = os.path.getsize(log) if log else 0
        sent = time.monotonic()
        needle = register(url, token, n)
        t0 = time.monotonic()
        while log:
            with open(log, "rb") as f:
                f.seek(mark)
                if b" added," in f.read():
                    break
            if time.monotonic() - t0 > 60:
                sys.exit(f"change {n}: no round line in {log} after 60 s")
            time.sleep(0.0005)
        while True:
            r0 = time.monotonic()
            dump = uapi_get(sock)
            reads.append(time.monotonic() - r0)
            if needle in dump:
                break
            if time.monotonic() - t0 > 60:
                sys.exit(f"change {n}: the peer is not on the hub after 60 s")
            if log:
                sys.exit(f"change {n}: the round's line came, but the peer is not on the hub")
        done = time.monotonic() - (reads[-1] if log else 0)
        lat.append((done - t0) * 1e3)
        whole.append((done - sent) * 1e3)
        answer.append((t0 - sent) * 1e3)
        print(f"change {n}: {lat[-1]:.1f} ms after the answer, {whole[-1]:.1f} ms after the "
              f"request was sent (the answer took {answer[-1]:.1f} ms)", file=sys.stderr)
        time.sleep(0.3)
    print(f"{count} changes: median {statistics.median(lat):.1f} ms, "
          f"min {min(lat):.1f} ms, max {max(lat):.1f} ms; "
          f"one UAPI read of the hub's peers: median {statistics.median(reads) * 1e3:.1f} ms")
    print(f"from the request sent (an upper bound of the time from the commit): median "
          f"{statistics.median(whole):.1f} ms, min {min(whole):.1f} ms, max {max(whole):.1f} ms; "
          f"the registration's own answer: median {statistics.median(answer):.1f} ms")


if __name__ == "__main__":
    main()
