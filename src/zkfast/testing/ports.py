"""The loopback address every harness server binds, and free ports to bind it on."""

from __future__ import annotations

import socket
import threading

__all__ = ["HOST", "free_ports"]

HOST = "127.0.0.1"

_port_lock = threading.Lock()
_ports_handed_out: set[int] = set()


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports, never handed out twice by this process.

    All sockets stay bound until every port is picked so the kernel cannot repeat one;
    remembering them keeps two harness objects in one process from colliding after close.
    """
    socks: list[socket.socket] = []
    ports: list[int] = []
    try:
        with _port_lock:
            while len(ports) < n:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind((HOST, 0))
                p = s.getsockname()[1]
                if p not in _ports_handed_out:
                    _ports_handed_out.add(p)
                    ports.append(p)
    finally:
        for s in socks:
            s.close()
    return ports
