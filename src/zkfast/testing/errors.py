"""Errors the harness raises when ZooKeeper cannot be found or does not come up."""

from __future__ import annotations

__all__ = ["ZooKeeperNotAvailable", "ZooKeeperStartError"]


class ZooKeeperNotAvailable(RuntimeError):
    """Java or the ZooKeeper jars are missing; the message says how to install them."""


class ZooKeeperStartError(RuntimeError):
    """A server process was launched but did not become ready (message has the log tail)."""
