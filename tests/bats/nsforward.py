#!/usr/bin/env python3
"""nsforward.py NETNS PORT TARGET_PORT READY_FILE [--swallow]

Listens on 127.0.0.1:PORT inside the network namespace NETNS (/run/netns/NETNS; "-":
the namespace it was started in) and forwards each connection to 127.0.0.1:TARGET_PORT
of the namespace it was started in. A test control plane on the host's loopback so
becomes a loopback control plane of the node namespace too, which is where wgn accepts
plain http. With --swallow, requests reach the server but its answers never come back
(the client waits): an answer lost after the server acted. Writes READY_FILE once it
listens; runs until killed. For tests only.
"""
import ctypes
import os
import socket
import sys
import threading

CLONE_NEWNET = 0x40000000


def setns(fd):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "setns: " + os.strerror(err))


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def drain(src):
    try:
        while src.recv(65536):
            pass
    except OSError:
        pass


def serve(client, target_port, swallow):
    try:
        upstream = socket.create_connection(("127.0.0.1", target_port))
    except OSError:
        client.close()
        return
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    if swallow:
        drain(upstream)
    else:
        pipe(upstream, client)


def main():
    netns, port, target_port, ready = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    swallow = "--swallow" in sys.argv[5:]
    here = os.open("/proc/self/ns/net", os.O_RDONLY)
    there = os.open("/run/netns/" + netns, os.O_RDONLY) if netns != "-" else None
    # Only the listening socket lives in the node's namespace; the process (and every
    # thread it starts, and so every upstream connection) stays in its own.
    if there is not None:
        setns(there)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    if there is not None:
        setns(here)
        os.close(there)
    with open(ready, "w") as f:
        f.write(str(os.getpid()) + "\n")
    while True:
        client, _ = listener.accept()
        threading.Thread(target=serve, args=(client, target_port, swallow), daemon=True).start()


if __name__ == "__main__":
    main()
