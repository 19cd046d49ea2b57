"""Barriers: :class:`Barrier` (wait until a node is removed) and
:class:`DoubleBarrier` (enter together, leave together; ZooKeeper's recipe).

DoubleBarrier participants create ephemeral nodes under ``path`` (a dead
participant leaves by itself); the one that sees ``num_clients`` of them
creates ``path/ready``, which every waiter watches. Leaving follows the
ZooKeeper recipe: the lowest node waits for the highest, everyone else
deletes its node and waits for the lowest, so each departure wakes one
waiter. Reuse a path only after the previous round has fully left.

>>> barrier = DoubleBarrier(zk, "/jobs/barrier", num_clients=3)   # doctest: +SKIP
>>> barrier.enter()                                               # doctest: +SKIP
>>> compute()                                                     # doctest: +SKIP
>>> barrier.leave()                                               # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Generator, Optional, Sequence

from ..errors import ConnectionLossError, NodeExistsError, NoNodeError
from ..events import WatchedEvent
from ..paths import validate_path
from ._drivers import ASYNC, SYNC, Flavor, Wait, drive, run_async, run_sync
from ._names import join, new_guid, to_bytes
from ._nodes import (
    acl_or_default,
    create_unique,
    deadline_of,
    delete_quietly,
    ensure_connected,
    ensure_path,
    remaining,
)

__all__ = ["Barrier", "DoubleBarrier", "AsyncBarrier", "AsyncDoubleBarrier"]


class _BarrierCore:
    _flavor: Flavor = SYNC

    def __init__(self, client: Any, path: str, *, acl: Optional[Sequence[Any]] = None) -> None:
        self._flavor.check(client, type(self).__name__)
        validate_path(path)
        self.client = client
        self.path = path
        self.acl = acl
        self._wake = self._flavor.event()

    def _on_watch(self, event: WatchedEvent) -> None:
        self._wake.set()

    def _create_gen(self) -> Generator[Any, Any, bool]:
        try:
            yield self.client.requests.op_create(self.path, b"", acl_or_default(self.client, self.acl))
            return True
        except NodeExistsError:
            return False
        except NoNodeError:
            yield from ensure_path(self.client, self.path, self.acl)
            return True

    def _remove_gen(self) -> Generator[Any, Any, bool]:
        try:
            yield self.client.requests.op_delete(self.path)
            return True
        except NoNodeError:
            return False

    def _wait_gen(self, timeout: Optional[float]) -> Generator[Any, Any, bool]:
        deadline = deadline_of(timeout)
        while True:
            if not (yield from ensure_connected(self.client, deadline)):
                return False
            self._wake.clear()
            try:
                stat = yield self.client.requests.op_exists(self.path, self._on_watch)
            except ConnectionLossError:
                continue
            if stat is None:
                return True
            left = remaining(deadline)
            if left == 0:
                return False
            yield Wait(self._wake, left)


class Barrier(_BarrierCore):
    """Block clients until a condition is met: ``create()`` raises the
    barrier (a node), ``remove()`` lowers it, ``wait(timeout)`` blocks until
    it is lowered (True) or the timeout passes (False).

    >>> Barrier(zk, "/gate").wait(30)   # doctest: +SKIP
    True
    """

    def create(self) -> bool:
        """Raise the barrier; False if it was already up."""
        return run_sync(self.client, self._create_gen())

    def remove(self) -> bool:
        """Lower the barrier; False if it was not up."""
        return run_sync(self.client, self._remove_gen())

    def wait(self, timeout: Optional[float] = None) -> bool:
        return run_sync(self.client, self._wait_gen(timeout))


class AsyncBarrier(_BarrierCore):
    """:class:`Barrier` for :class:`~zkfast.AsyncClient`."""

    _flavor = ASYNC

    async def create(self) -> bool:
        return await run_async(self.client, self._create_gen())

    async def remove(self) -> bool:
        return await run_async(self.client, self._remove_gen())

    async def wait(self, timeout: Optional[float] = None) -> bool:
        return await run_async(self.client, self._wait_gen(timeout))


class _DoubleBarrierCore:
    _flavor: Flavor = SYNC

    def __init__(self, client: Any, path: str, num_clients: int, identifier: Any = None, *,
                 acl: Optional[Sequence[Any]] = None) -> None:
        self._flavor.check(client, type(self).__name__)
        validate_path(path)
        if num_clients < 1:
            raise ValueError("num_clients must be positive")
        self.client = client
        self.path = path
        self.num_clients = num_clients
        self.data = to_bytes(identifier)
        self.acl = acl
        self.participating = False
        self.name = ""
        self._ready = join(path, "ready")
        self._wake = self._flavor.event()

    def _on_watch(self, event: WatchedEvent) -> None:
        self._wake.set()

    def _enter_gen(self, timeout: Optional[float]) -> Generator[Any, Any, bool]:
        if self.participating:
            raise RuntimeError("already entered")
        deadline = deadline_of(timeout)
        engine = self.client.requests
        self.name = new_guid()
        node = join(self.path, self.name)
        yield from create_unique(self.client, node, self.data, self.acl, ephemeral=True)
        self.participating = True
        while True:
            if not (yield from ensure_connected(self.client, deadline)):
                drive(self.client, delete_quietly(self.client, node))  # after the reconnect
                self.participating = False
                return False
            self._wake.clear()
            try:
                if (yield engine.op_exists(self._ready, self._on_watch)) is not None:
                    return True
                children = yield engine.op_get_children(self.path)
            except ConnectionLossError:
                continue
            if self.name not in children:  # our session ended: join again
                yield from create_unique(self.client, node, self.data, self.acl, ephemeral=True)
                continue
            if sum(1 for c in children if c != "ready") >= self.num_clients:
                try:
                    yield engine.op_create(self._ready, b"", acl_or_default(self.client, self.acl))
                except (NodeExistsError, ConnectionLossError):
                    continue  # look again: exists() settles it
                return True
            left = remaining(deadline)
            if left == 0:
                yield from delete_quietly(self.client, node)
                self.participating = False
                return False
            yield Wait(self._wake, left)

    def _leave_gen(self, timeout: Optional[float]) -> Generator[Any, Any, bool]:
        if not self.participating:
            raise RuntimeError("not entered")
        deadline = deadline_of(timeout)
        engine = self.client.requests
        node = join(self.path, self.name)
        while True:
            if not (yield from ensure_connected(self.client, deadline)):
                return False
            self._wake.clear()
            try:
                children = yield engine.op_get_children(self.path)
            except ConnectionLossError:
                continue
            members = sorted(c for c in children if c != "ready")
            ours = self.name in members
            if not members or (ours and len(members) == 1):
                if ours:
                    yield from delete_quietly(self.client, node)
                yield from delete_quietly(self.client, self._ready)
                self.participating = False
                return True
            if ours and members[0] == self.name:
                watch = members[-1]  # the lowest waits for the highest
            else:
                if ours:
                    yield from delete_quietly(self.client, node)
                watch = members[0]  # everyone else waits for the lowest
            try:
                if (yield engine.op_exists(join(self.path, watch), self._on_watch)) is None:
                    continue
            except ConnectionLossError:
                continue
            left = remaining(deadline)
            if left == 0:
                return False
            yield Wait(self._wake, left)


class DoubleBarrier(_DoubleBarrierCore):
    """``num_clients`` participants ``enter()`` together and ``leave()`` together.

    Both take a ``timeout`` and return False when it passes (an ``enter``
    that times out withdraws).

    >>> b = DoubleBarrier(zk, "/round/7", num_clients=2)   # doctest: +SKIP
    >>> b.enter(timeout=30) and work() and b.leave(timeout=30)   # doctest: +SKIP
    """

    def enter(self, timeout: Optional[float] = None) -> bool:
        return run_sync(self.client, self._enter_gen(timeout))

    def leave(self, timeout: Optional[float] = None) -> bool:
        return run_sync(self.client, self._leave_gen(timeout))


class AsyncDoubleBarrier(_DoubleBarrierCore):
    """:class:`DoubleBarrier` for :class:`~zkfast.AsyncClient`."""

    _flavor = ASYNC

    async def enter(self, timeout: Optional[float] = None) -> bool:
        return await run_async(self.client, self._enter_gen(timeout))

    async def leave(self, timeout: Optional[float] = None) -> bool:
        return await run_async(self.client, self._leave_gen(timeout))
