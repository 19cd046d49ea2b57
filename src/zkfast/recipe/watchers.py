"""kazoo-style watchers that keep calling a function as a node changes:
:class:`DataWatch` (data and Stat of one node) and :class:`ChildrenWatch`
(its child list).

They use one-shot watches, re-armed on every read, so they coexist with
anything else (ZooKeeper 3.6-3.8 keeps one watch *mode* per path and
session: a persistent watch on the same path would be replaced by a
one-shot one, and vice versa). Across a reconnect the server replays what
was missed (SetWatches); after a session expiry the watch is re-established
in the new session and the function hears the current state. The function
is called only when something changed (a different ``mzxid``/``cversion``,
or the node appearing/disappearing), never twice for the same state.

Callbacks: the first call happens in the caller (sync) / a task (async); later
ones on the client's dispatcher thread / event loop, one at a time, in
order. Returning ``False`` stops the watch; so does ``stop()``.
(:class:`ChildrenWatch` reports changes of the *set* of children.)

>>> @DataWatch(zk, "/app/config")                 # doctest: +SKIP
... def on_config(data, stat):
...     print("config is now", data)
>>> @ChildrenWatch(zk, "/app/workers")            # doctest: +SKIP
... def on_workers(children):
...     print(sorted(children))
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Callable, Generator, Optional

from ..errors import (
    ClosedError,
    ConnectionLossError,
    NoNodeError,
    SessionExpiredError,
)
from ..events import EventType, State, WatchedEvent
from ..paths import validate_path
from ._drivers import ASYNC, SYNC, Flavor
from ._reconcile import Reconciler

__all__ = ["DataWatch", "ChildrenWatch", "AsyncDataWatch", "AsyncChildrenWatch"]

log = logging.getLogger("zkfast.recipe.watchers")

_UNSET = object()
_IGNORED = (EventType.DATA_WATCH_REMOVED, EventType.CHILD_WATCH_REMOVED,
            EventType.PERSISTENT_WATCH_REMOVED)


def _positional_params(func: Callable[..., Any]) -> int:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return 2
    n = 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return 99
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return n


class _WatchCore:
    _flavor: Flavor = SYNC

    def __init__(self, client: Any, path: str, func: Optional[Callable[..., Any]] = None) -> None:
        self._flavor.check(client, type(self).__name__)
        validate_path(path)
        self.client = client
        self.path = path
        self.func: Optional[Callable[..., Any]] = None
        self.stopped = False
        self._last: Any = _UNSET
        self._event: Optional[WatchedEvent] = None
        self._sid = 0
        self._nargs = 0
        self._reconciler = Reconciler(client, self._fetch_gen, self._deliver, self._on_error)
        if func is not None:
            self(func)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r}{' stopped' if self.stopped else ''}>"

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if self.func is not None:
            raise RuntimeError("this watch already has a function")
        self.func = func
        self._nargs = _positional_params(func)
        self.client.add_listener(self._on_state)
        self._begin()
        return func

    def _begin(self) -> None:
        if self._flavor.is_async:
            self._reconciler.trigger()
        else:
            self._reconciler.run_blocking()

    def stop(self) -> None:
        """No more calls (the server-side one-shot watch fires once more, unheard)."""
        self.stopped = True
        self._reconciler.stop()
        self.client.remove_listener(self._on_state)

    # ------------------------------------------------------------ plumbing

    def _watcher(self, event: WatchedEvent) -> None:
        if self.stopped or event.type in _IGNORED:
            return
        self._event = event
        self._reconciler.trigger()

    def _on_state(self, state: State) -> None:
        if self.stopped:
            return
        if state.is_connected and self.client.session_id != self._sid:
            self._reconciler.trigger()  # a new session: our watch is gone, set it again
        elif state == State.CLOSED:
            self.stop()

    def _on_error(self, error: BaseException) -> None:
        if isinstance(error, (ConnectionLossError, SessionExpiredError)):
            if self.client.state.is_connected and not self.stopped:
                self._reconciler.trigger()
        elif isinstance(error, ClosedError):
            self.stopped = True
        else:
            log.error("%r failed", self, exc_info=error)

    def _deliver(self, result: Any) -> Any:
        key, args = result
        if self.stopped or (self._last is not _UNSET and key == self._last):
            return None
        self._last = key
        assert self.func is not None
        try:
            r = self.func(*args)
        except Exception:  # noqa: BLE001
            log.exception("%r function raised", self)
            return None
        if inspect.isawaitable(r):
            return self._await_result(r)
        if r is False:
            self.stop()
        return None

    async def _await_result(self, r: Any) -> None:
        try:
            if (await r) is False:
                self.stop()
        except Exception:  # noqa: BLE001
            log.exception("%r function raised", self)

    def _fetch_gen(self) -> Generator[Any, Any, Any]:  # pragma: no cover - abstract
        raise NotImplementedError


class _DataWatchCore(_WatchCore):
    def _fetch_gen(self) -> Generator[Any, Any, Any]:
        engine = self.client.requests
        event, self._event = self._event, None
        while True:
            try:
                data, stat = yield engine.op_get(self.path, self._watcher)
                break
            except NoNodeError:
                pass
            stat = yield engine.op_exists(self.path, self._watcher)
            if stat is None:
                data = None
                break
            # created between the two reads: read it
        self._sid = self.client.session_id
        key = None if stat is None else (stat.czxid, stat.mzxid)
        args = (data, stat, event)[:min(3, max(2, self._nargs))]
        return key, args


class _ChildrenWatchCore(_WatchCore):
    def _fetch_gen(self) -> Generator[Any, Any, Any]:
        engine = self.client.requests
        event, self._event = self._event, None
        while True:
            try:
                children, stat = yield engine.op_get_children(self.path, self._watcher, True)
                break
            except NoNodeError:
                pass
            stat = yield engine.op_exists(self.path, self._watcher)
            if stat is None:
                children = []
                break
        self._sid = self.client.session_id
        key = frozenset(children)  # a missing node reads as no children
        args = (children, event)[:min(2, max(1, self._nargs))]
        return key, args


class DataWatch(_DataWatchCore):
    """Call ``func(data, stat)`` -- or ``func(data, stat, event)`` if it takes
    three arguments -- now and whenever ``path`` changes; ``(None, None)``
    while it does not exist. Use as a decorator or pass ``func``.

    >>> DataWatch(zk, "/cfg", lambda data, stat: print(data))   # doctest: +SKIP
    """


class ChildrenWatch(_ChildrenWatchCore):
    """Call ``func(children)`` -- or ``func(children, event)`` -- now and
    whenever the set of children of ``path`` changes; a missing node counts
    as having none (and it keeps watching for the node to appear).

    >>> ChildrenWatch(zk, "/workers", lambda names: print(names))   # doctest: +SKIP
    """


class AsyncDataWatch(_DataWatchCore):
    """:class:`DataWatch` for :class:`~zkfast.AsyncClient`; ``func`` may be a
    coroutine function. The first call happens in a task right after
    decoration."""

    _flavor = ASYNC


class AsyncChildrenWatch(_ChildrenWatchCore):
    """:class:`ChildrenWatch` for :class:`~zkfast.AsyncClient`."""

    _flavor = ASYNC
