"""Leader election: kazoo's blocking :class:`Election` and Curator's
event-driven :class:`LeaderLatch`.

Both queue on protected ephemeral sequential nodes (``_c_<guid>-lock-`` for
Election, ``_c_<guid>-latch-`` for LeaderLatch); the first in line leads and
every other contender watches only its predecessor. A leader never keeps
acting on a dead session: Election's ``lost`` event / ``on_lost`` fire (see
:class:`~zkfast.recipe.Lock`), and LeaderLatch drops ``has_leadership`` as
soon as the connection is suspended (or, with
``relinquish_on_suspend=False``, once it stayed down for a session timeout)
and re-joins by itself after a session expiry.

>>> latch = LeaderLatch(zk, "/app/leader", "node-1",
...                     listener=lambda leading: print("leader?", leading))  # doctest: +SKIP
>>> latch.start()                                                            # doctest: +SKIP
>>> if latch.await_leadership(timeout=30):                                   # doctest: +SKIP
...     serve_as_leader()
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Callable, Generator, List, Optional, Sequence, cast

from ..errors import (
    ClosedError,
    ConnectionLossError,
    NoNodeError,
    SessionExpiredError,
    ZooKeeperError,
)
from ..events import EventType, State, WatchedEvent
from ..paths import basename, validate_path
from ..steps import PROTECTED_PREFIX, Batch
from ._drivers import ASYNC, SYNC, Flavor, run_async, run_sync
from ._names import join, new_guid, queue_order, to_bytes
from ._nodes import create_protected, discard_prefixed, presumed_lost_in
from ._reconcile import Reconciler
from .lock import AsyncLock, Lock

__all__ = ["Election", "AsyncElection", "LeaderLatch", "AsyncLeaderLatch"]

log = logging.getLogger("zkfast.recipe.election")


# ---------------------------------------------------------------- Election

class Election:
    """Run a function while leader (kazoo's Election), on top of :class:`Lock`.

    ``run(func, *args, **kwargs)`` blocks until this contender is elected,
    calls ``func`` and gives leadership up when it returns (or raises).
    ``cancel()`` ends a pending ``run``; ``contenders()`` lists identifiers
    in line. While ``func`` runs, ``is_leader`` turns False and ``lost`` is
    set if the session is lost; ``listener``/``on_lost`` are told (the
    leader should stop when it sees ``State.SUSPENDED``).

    >>> election = Election(zk, "/app/election", "host-1")   # doctest: +SKIP
    >>> election.run(be_the_leader)                          # doctest: +SKIP
    """

    _lock_cls: Any = Lock

    def __init__(self, client: Any, path: str, identifier: Any = None, *,
                 acl: Optional[Sequence[Any]] = None,
                 listener: Optional[Callable[[State], Any]] = None,
                 on_lost: Optional[Callable[[], Any]] = None) -> None:
        self.client = client
        self.path = path
        self.identifier = identifier
        self.lock = self._lock_cls(client, path, identifier, acl=acl, listener=listener,
                                   on_lost=on_lost)

    @property
    def is_leader(self) -> bool:
        return bool(self.lock.is_acquired)

    @property
    def lost(self) -> Any:
        """Event set when leadership was lost to a session problem."""
        return self.lock.lost

    def run(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Wait to be elected, then return ``func(*args, **kwargs)``.
        Raises :class:`~zkfast.CancelledError` if ``cancel()`` was called."""
        with self.lock:
            return func(*args, **kwargs)

    def cancel(self) -> None:
        self.lock.cancel()

    def contenders(self) -> List[str]:
        return cast(List[str], self.lock.contenders())


class AsyncElection(Election):
    """:class:`Election` for :class:`~zkfast.AsyncClient`; ``func`` may be a
    coroutine function.

    >>> await AsyncElection(zk, "/app/election", "host-1").run(lead)   # doctest: +SKIP
    """

    _lock_cls = AsyncLock

    async def run(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        async with self.lock:
            r = func(*args, **kwargs)
            if asyncio.iscoroutine(r) or isinstance(r, asyncio.Future):
                r = await r
            return r

    async def contenders(self) -> List[str]:  # type: ignore[override]  # the async twin
        return cast(List[str], await self.lock.contenders())


# ---------------------------------------------------------------- LeaderLatch

class _LatchCore:
    _flavor: Flavor = SYNC
    node_name = "latch-"

    def __init__(self, client: Any, path: str, identifier: Any = None, *,
                 acl: Optional[Sequence[Any]] = None,
                 listener: Optional[Callable[[bool], Any]] = None,
                 relinquish_on_suspend: bool = True) -> None:
        self._flavor.check(client, type(self).__name__)
        validate_path(path)
        self.client = client
        self.path = path
        self.identifier = identifier
        self.data = to_bytes(identifier)
        self.acl = acl
        self.relinquish_on_suspend = relinquish_on_suspend
        #: True while this latch leads
        self.has_leadership = False
        #: our latch node, once created
        self.node: Optional[str] = None
        self._listeners: List[Callable[[bool], Any]] = [listener] if listener else []
        self._leader_event = self._flavor.event()
        self._changed = self._flavor.event()
        self._lock = threading.Lock()
        self._started = False
        self._closed = False
        self._suspended = False
        self._sid = 0
        self._guid = new_guid()
        self._timer: Any = None
        self._reconciler = Reconciler(client, self._check_gen, self._on_result, self._on_error)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r} leader={self.has_leadership}>"

    def add_listener(self, fn: Callable[[bool], Any]) -> None:
        """``fn(True)`` on gaining leadership, ``fn(False)`` on losing it."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[bool], Any]) -> None:
        try:
            self._listeners.remove(fn)
        except ValueError:
            pass

    # ------------------------------------------------------------ protocol

    def _start(self) -> None:
        if self._started:
            raise RuntimeError("a LeaderLatch can be started once")
        self._started = True
        self.client.add_listener(self._on_state)
        self._reconciler.trigger()

    def _check_gen(self) -> Generator[Any, Any, Optional[bool]]:
        engine = self.client.requests
        while True:
            if self._closed:
                return None
            node = self.node
            if node is None:
                node = yield from create_protected(self.client, join(self.path, self.node_name),
                                                   self.data, self.acl, self._guid, block=False)
                assert node is not None  # block=False never gives up
                self._sid = self.client.session_id
                if self._closed:  # closed meanwhile: close() may have missed it
                    yield engine.op_delete(node)
                    return None
                self.node = node
            children = yield engine.op_get_children(self.path)
            name = basename(node)
            if name not in children:
                self.node = None  # gone with an old session: queue again
                continue
            line = queue_order(children)  # every member, whatever its name form
            idx = line.index(name)
            if idx == 0:
                return True
            try:
                yield engine.op_get(join(self.path, line[idx - 1]), self._on_watch)
                return False
            except NoNodeError:
                continue

    def _on_result(self, verdict: Optional[bool]) -> None:
        if verdict is None:
            return
        ok = bool(verdict) and self.client.session_id == self._sid and not self._closed
        if ok and self._suspended and self.relinquish_on_suspend:
            ok = False
        self._set_leader(ok)

    def _on_error(self, error: BaseException) -> None:
        if isinstance(error, (ConnectionLossError, SessionExpiredError)):
            # a state listener triggers again on reconnect; if that already
            # happened, go again now
            if self.client.state.is_connected and not self._closed:
                self._reconciler.trigger()
        elif isinstance(error, ClosedError):
            pass
        else:
            log.error("leader latch check of %s failed", self.path, exc_info=error)

    def _on_watch(self, event: WatchedEvent) -> None:
        if event.type == EventType.NOT_WATCHING:
            self.node = None
        self._reconciler.trigger()

    def _on_state(self, state: State) -> None:
        if self._closed:
            return
        if state == State.SUSPENDED:
            self._suspended = True
            if self.relinquish_on_suspend:
                self._set_leader(False)
            elif self._timer is None:
                self._timer = self._flavor.call_later(self.client, presumed_lost_in(self.client),
                                                      self._on_timeout)
        elif state.is_connected:
            self._cancel_timer()
            self._suspended = False
            if self.client.session_id != self._sid:
                self.node = None
                self._set_leader(False)
            self._reconciler.trigger()
        elif state == State.LOST:
            self._on_timeout()
        elif state in (State.EXPIRED, State.CLOSED, State.AUTH_FAILED):
            self._cancel_timer()
            self.node = None
            self._set_leader(False)

    def _on_timeout(self) -> None:
        self._timer = None
        if self._suspended:
            self._set_leader(False)

    def _cancel_timer(self) -> None:
        t, self._timer = self._timer, None
        if t is not None:
            t.cancel()

    def _set_leader(self, value: bool) -> None:
        with self._lock:
            if value == self.has_leadership:
                return
            self.has_leadership = value
        if value:
            self._leader_event.set()
        else:
            self._leader_event.clear()
        for fn in list(self._listeners):
            try:
                fn(value)
            except Exception:  # noqa: BLE001
                log.exception("leader latch listener failed")

    def _close_gen(self) -> Generator[Any, Any, None]:
        self._closed = True
        self._reconciler.stop()
        self._cancel_timer()
        self.client.remove_listener(self._on_state)
        self._set_leader(False)
        self.node = None
        try:
            yield from discard_prefixed(self.client, self.path, f"{PROTECTED_PREFIX}{self._guid}-")
        except ZooKeeperError as e:
            log.debug("latch cleanup failed: %s", e)

    def _participants_gen(self) -> Generator[Any, Any, List[str]]:
        engine = self.client.requests
        try:
            children = yield engine.op_get_children(self.path)
        except NoNodeError:
            return []
        line = queue_order(children)  # every member, whatever its name form
        results = yield Batch([engine.op_get(join(self.path, c)) for c in line])
        return [r[0].decode("utf-8", "replace") for r in results
                if not isinstance(r, BaseException)]


class LeaderLatch(_LatchCore):
    """Curator-style leader latch: ``start()`` joins, ``has_leadership`` tells,
    listeners hear ``True``/``False`` as leadership comes and goes,
    ``await_leadership(timeout)`` blocks until leading, ``close()`` leaves.

    Leadership is dropped when the connection is suspended (the default;
    with ``relinquish_on_suspend=False``: when it stayed down for a whole
    session timeout) and when the session expires; the latch then queues
    again by itself. Listeners run on the client's dispatcher thread.

    >>> latch = LeaderLatch(zk, "/app/leader", "n1").start()   # doctest: +SKIP
    >>> latch.await_leadership(10)                             # doctest: +SKIP
    True
    """

    def start(self) -> LeaderLatch:
        self._start()
        return self

    def await_leadership(self, timeout: Optional[float] = None) -> bool:
        self._leader_event.wait(timeout)
        return self.has_leadership

    def participants(self) -> List[str]:
        """Identifiers of every latch member, the leader first."""
        return run_sync(self.client, self._participants_gen())

    def close(self) -> None:
        run_sync(self.client, self._close_gen())

    def __enter__(self) -> LeaderLatch:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncLeaderLatch(_LatchCore):
    """:class:`LeaderLatch` for :class:`~zkfast.AsyncClient`."""

    _flavor = ASYNC

    async def start(self) -> AsyncLeaderLatch:
        self._start()
        return self

    async def await_leadership(self, timeout: Optional[float] = None) -> bool:
        try:
            await asyncio.wait_for(self._leader_event.wait(), timeout)
        except TimeoutError:
            pass
        return self.has_leadership

    async def participants(self) -> List[str]:
        return await run_async(self.client, self._participants_gen())

    async def close(self) -> None:
        await run_async(self.client, self._close_gen())

    async def __aenter__(self) -> AsyncLeaderLatch:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
