"""Errors the harness raises when ZooKeeper cannot be found or does not come up."""

from __future__ import annotations

__all__ = ["PortInUseError", "ZooKeeperNotAvailable", "ZooKeeperStartError"]


class ZooKeeperNotAvailable(RuntimeError):
    """Java or the ZooKeeper jars are missing; the message says how to install them."""


class ZooKeeperStartError(RuntimeError):
    """A server process was launched but did not become ready (message has the log tail)."""


class PortInUseError(ZooKeeperStartError):
    """A port the server must listen on (one given as ``port=``, or one a restart must
    keep) is taken on 127.0.0.1, e.g. by another ZooKeeper."""

    def __init__(self, port: int, detail: str = "") -> None:
        super().__init__(f"port {port} on 127.0.0.1 is already in use (another ZooKeeper?)" + detail)
        self.port = port
