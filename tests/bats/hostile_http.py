#!/usr/bin/env python3
"""A control plane gone bad, for register.bats: hostile_http.py MODE PORTFILE.

Listens on a free loopback port, writes it to PORTFILE once it listens, and answers
every request as MODE says:
  slow     reads the request and never answers
  reset    reads the request and resets the connection (RST)
  big      200 with a JSON body of 64 MiB
  nonutf8  503 with a body that is not UTF-8 (cut inside a multi-byte character)
"""
import os
import socket
import struct
import sys
import threading
import time

mode, portfile = sys.argv[1], sys.argv[2]
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(16)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)


def read_request(c):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = c.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            want = int(line.split(b":")[1])
            while len(body) < want:
                chunk = c.recv(65536)
                if not chunk:
                    return
                body += chunk


def serve(c):
    try:
        read_request(c)
        if mode == "slow":
            time.sleep(600)
        elif mode == "reset":
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif mode == "big":
            size = 64 << 20
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % size)
            c.sendall(b'{"node_id":"' + b"a" * (size - 15) + b'"}\n')
        elif mode == "nonutf8":
            body = b'{"error":"maintenance \xc3\xa9t\xc3'
            c.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body)
    except OSError:
        pass
    finally:
        c.close()


while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
