#!/usr/bin/env python3
"""register_many.py URL TOKEN_FILE COUNT [FIRST]: registers COUNT nodes with the shared
token, 8 at a time, each with a random 32-byte key and the address fd00::2:N/64
(N = FIRST, FIRST+1, ...). Prints one "node_id public_key" line per node. For tests
that need many nodes on the change feed quickly; the token is read from the file, never
taken from argv."""
import base64
import concurrent.futures
import hashlib
import json
import os
import sys
import urllib.request


def register(url, token, n):
    body = {
        "hostname": f"bulk-{n}",
        "wireguard_public_key": base64.b64encode(os.urandom(32)).decode(),
        "interface_name": "wg0",
        "wireguard_address": [f"fd00::2:{n:x}/64"],
        "hub_endpoint": "192.0.2.1:51820",
        "labels": {"bulk": str(n)},
        "wgn_version": "test",
    }
    key = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    body["registered_at"] = "2026-12-03T00:00:00Z"
    req = urllib.request.Request(
        url + "/api/v1/nodes/register",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": "Bearer " + token,
            "Content-Type": "application/json",
            "dbos-idempotency-key": key,
        },
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)["node_id"], body["wireguard_public_key"]


def main():
    url, token_file, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    first = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    with open(token_file) as f:
        token = f.read().strip()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for node_id, pub in pool.map(lambda n: register(url, token, n), range(first, first + count)):
            print(node_id, pub)


if __name__ == "__main__":
    main()
