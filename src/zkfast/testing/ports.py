"""The loopback address every harness server binds, and free ports to bind it on."""

from __future__ import annotations

import socket
import threading

__all__ = ["HOST", "free_ports", "port_is_free", "reserve_ports"]

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


def reserve_ports(ports: list[int]) -> None:
    """Never hand these out from :func:`free_ports` (ports a caller chose itself)."""
    with _port_lock:
        _ports_handed_out.update(ports)


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``HOST:port`` now.

    Binds with SO_REUSEADDR as ZooKeeper's listeners do, so connections of an earlier
    server still in TIME_WAIT do not count as taken; a listening socket does.
    """
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((HOST, port))
    except OSError:
        return False
    finally:
        s.close()
    return True
