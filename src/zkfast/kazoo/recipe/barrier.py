"""kazoo's barriers.

* :class:`Barrier`: the barrier is up while ``path`` exists.
* :class:`DoubleBarrier`: each member holds an ephemeral ``<path>/<32 hex>``
  (its identifier as data); the member that completes the count creates
  ``<path>/ready``, which lets everyone in. Leaving, members delete their nodes
  and wait until all are gone (the lowest name leaves last).

Unlike kazoo's, the waits here survive a connection loss: a watch that ends
with the connection (a ``NONE`` event) makes the wait look again instead of
waiting forever.

>>> barrier = zk.DoubleBarrier("/start-line", 3)   # doctest: +SKIP
>>> barrier.enter()          # blocks until 3 members entered
>>> barrier.leave()          # blocks until all 3 left
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from functools import partial
from typing import Any, Optional

from ..exceptions import KazooException, NodeExistsError, NoNodeError

__all__ = ["Barrier", "DoubleBarrier"]


def _wake(event: Any, _watched: Any) -> None:
    event.set()


class Barrier:
    """A barrier that is up while its node exists: ``create()``, ``remove()``,
    ``wait(timeout=None)``."""

    def __init__(self, client: Any, path: str) -> None:
        self.client = client
        self.path = path

    def create(self) -> None:
        """Put the barrier up (no error if it is up)."""
        self.client.retry(self.client.ensure_path, self.path)

    def remove(self) -> bool:
        """Take the barrier down; False if it was not up."""
        try:
            self.client.retry(self.client.delete, self.path)
        except NoNodeError:
            return False
        return True

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait until the barrier is down: True, or False after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            woken = self.client.handler.event_object()
            if not self.client.exists(self.path, watch=partial(_wake, woken)):
                return True
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not woken.wait(left):
                return False


class DoubleBarrier:
    """Members ``enter()`` (blocks until ``num_clients`` have entered) and
    ``leave()`` (blocks until all have left). ``participating`` tells whether
    this member is inside. A failure to enter is not raised: ``participating``
    stays False (kazoo's behaviour)."""

    def __init__(self, client: Any, path: str, num_clients: int,
                 identifier: Optional[str] = None) -> None:
        self.client = client
        self.path = path
        self.num_clients = num_clients
        self._identifier = identifier or f"{socket.getfqdn()}-{os.getpid()}"
        self.participating = False
        self.assured_path = False
        self.node_name = uuid.uuid4().hex
        self.create_path = self.path + "/" + self.node_name

    def enter(self) -> None:
        """Enter; returns once ``num_clients`` members have entered."""
        try:
            self.client.retry(self._inner_enter)
            self.participating = True
        except KazooException:
            self._best_effort_cleanup()
            self.participating = False

    def _inner_enter(self) -> bool:
        if not self.assured_path:
            self.client.ensure_path(self.path)
            self.assured_path = True
        try:
            self.client.create(self.create_path, self._identifier.encode("utf-8"), ephemeral=True)
        except NodeExistsError:
            pass
        ready_path = self.path + "/ready"
        while True:
            woken = self.client.handler.event_object()
            if self.client.exists(ready_path, watch=partial(_wake, woken)):
                return True
            members = [c for c in self.client.get_children(self.path) if c != "ready"]
            if len(members) >= self.num_clients:
                self.client.ensure_path(ready_path)
                return True
            woken.wait()

    def leave(self) -> None:
        """Leave; returns once every member has left."""
        try:
            self.client.retry(self._inner_leave)
        except KazooException:
            self._best_effort_cleanup()
        self.participating = False

    def _inner_leave(self) -> bool:
        try:
            self.client.delete(self.path + "/ready")
        except NoNodeError:
            pass
        while True:
            members = sorted(c for c in self.client.get_children(self.path) if c != "ready")
            if not members:
                return True
            if members == [self.node_name]:
                self.client.delete(self.create_path)
                return True
            woken = self.client.handler.event_object()
            if self.node_name == members[0]:
                # lowest: leave last, after the highest is gone
                watched = members[-1]
            else:
                try:
                    self.client.delete(self.create_path)
                except NoNodeError:
                    pass
                watched = members[0]
            if self.client.exists(self.path + "/" + watched, watch=partial(_wake, woken)):
                woken.wait()

    def _best_effort_cleanup(self) -> None:
        try:
            self.client.retry(self.client.delete, self.create_path)
        except NoNodeError:
            pass
        except KazooException:
            pass
