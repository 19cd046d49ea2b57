"""PersistentWatcher: one persistent (optionally recursive) watch that outlives sessions.

``client.add_watch`` keeps a persistent watch across reconnects of one
session, but a session expiry ends it (NOT_WATCHING), and even a reconnect
within the session loses events: ZooKeeper 3.6-3.8 re-adds the watch
(setWatches) without replaying what changed while the client was away.
:class:`PersistentWatcher` (Curator's recipe of the same name) adds the
watch, adds it again in every new session, and tells the application each
time events may have been missed -- ``on_reset(reason)`` -- so it can
re-read what it cares about:

* ``"reconnected"``: the same session is back; the server re-added the
  watch, but changes made while disconnected were not reported;
* ``"new_session"``: the old session expired and the watch was added again
  in the new one; changes in between were not reported.

``listener(event)`` receives every :class:`~zkfast.WatchedEvent` (NODE_CREATED,
NODE_DELETED, NODE_DATA_CHANGED, and for a non-recursive watch
NODE_CHILDREN_CHANGED). A persistent and a one-shot watch on the *same* path
in the same session interfere on ZooKeeper 3.6-3.8 (the server keeps one
watch mode per path and session): don't mix them on one path.

>>> w = PersistentWatcher(zk, "/app", recursive=True,
...                       listener=lambda e: print(e.type.name, e.path),
...                       on_reset=lambda why: resync_everything()).start()   # doctest: +SKIP
>>> w.close()                                                                 # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Generator, List, Optional

from ..errors import (
    ClosedError,
    ConnectionLossError,
    NoWatcherError,
    SessionExpiredError,
)
from ..events import EventType, State, WatchedEvent, WatcherType
from ..paths import validate_path
from ._drivers import ASYNC, SYNC, Flavor, drive, run_async, run_sync, spawn

__all__ = ["PersistentWatcher", "AsyncPersistentWatcher", "RESET_RECONNECTED", "RESET_NEW_SESSION"]

log = logging.getLogger("zkfast.recipe.persistent_watcher")

#: ``on_reset`` reasons: events may have been missed.
RESET_RECONNECTED = "reconnected"
RESET_NEW_SESSION = "new_session"


class _PersistentWatcherCore:
    _flavor: Flavor = SYNC

    def __init__(self, client: Any, path: str, *, recursive: bool = False,
                 listener: Optional[Callable[[WatchedEvent], Any]] = None,
                 on_reset: Optional[Callable[[str], Any]] = None) -> None:
        self._flavor.check(client, type(self).__name__)
        validate_path(path)
        self.client = client
        self.path = path
        self.recursive = recursive
        self._listeners: List[Callable[[WatchedEvent], Any]] = [listener] if listener else []
        self._reset_listeners: List[Callable[[str], Any]] = [on_reset] if on_reset else []
        self._started = False
        self._closed = False
        self._sid = 0           # the session the watch was last added in
        self._adding = False    # an add is in flight
        #: how often the watch had to be reset (events may have been missed)
        self.resets = 0

    def __repr__(self) -> str:
        kind = "recursive" if self.recursive else "persistent"
        return f"<{type(self).__name__} {self.path!r} {kind}>"

    def add_listener(self, fn: Callable[[WatchedEvent], Any]) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[WatchedEvent], Any]) -> None:
        try:
            self._listeners.remove(fn)
        except ValueError:
            pass

    def add_reset_listener(self, fn: Callable[[str], Any]) -> None:
        """``fn(reason)`` whenever events may have been missed (module docs)."""
        self._reset_listeners.append(fn)

    # ------------------------------------------------------------ lifecycle

    def _start_gen(self) -> Generator[Any, Any, None]:
        if self._started:
            raise RuntimeError(f"a {type(self).__name__} can be started once")
        self._started = True
        self.client.add_listener(self._on_state)
        self._adding = True
        try:
            yield self.client.requests.op_add_watch(self.path, self._on_watch, self.recursive)
        finally:
            self._adding = False
        self._sid = self.client.session_id

    def _close_gen(self) -> Generator[Any, Any, None]:
        if self._closed or not self._started:
            self._closed = True
            return
        self._closed = True
        self.client.remove_listener(self._on_state)
        kind = WatcherType.PERSISTENT_RECURSIVE if self.recursive else WatcherType.PERSISTENT
        try:
            yield from self.client.remove_watches_steps(self.path, kind, self._on_watch, False)
        except (NoWatcherError, ConnectionLossError, SessionExpiredError, ClosedError):
            pass  # gone already, or gone with the session

    # ------------------------------------------------------------ keeping it

    def _readd(self) -> None:
        """Add the watch again in the current (new) session, in the background."""
        if self._closed or self._adding:
            return
        self._adding = True
        sid = self.client.session_id

        def add() -> Generator[Any, Any, None]:
            yield self.client.requests.op_add_watch(self.path, self._on_watch, self.recursive)

        def done(_result: Any, error: Optional[BaseException]) -> None:
            self._adding = False
            if self._closed:
                return
            if error is None:
                self._sid = sid
                self._reset(RESET_NEW_SESSION)
            elif isinstance(error, (ConnectionLossError, SessionExpiredError)):
                if self.client.state.is_connected and self.client.session_id != self._sid:
                    self._readd()  # else the next CONNECTED does it
            elif not isinstance(error, ClosedError):
                log.error("%r: could not add the watch again: %s", self, error)
        drive(self.client, add(), done)

    def _on_state(self, state: State) -> None:
        if self._closed or not self._started:
            return
        if state.is_connected:
            if self.client.session_id != self._sid:
                self._readd()
            else:
                self._reset(RESET_RECONNECTED)
        elif state == State.CLOSED:
            self._closed = True

    def _on_watch(self, event: WatchedEvent) -> None:
        if self._closed:
            return
        if event.type == EventType.NOT_WATCHING:
            # the session ended; add it again once a new one is there
            if self.client.state.is_connected and self.client.session_id != self._sid:
                self._readd()
            return
        if event.type in (EventType.PERSISTENT_WATCH_REMOVED, EventType.NONE):
            return
        for fn in list(self._listeners):
            try:
                r = fn(event)
                if asyncio.iscoroutine(r):
                    spawn(r)
            except Exception:  # noqa: BLE001
                log.exception("%r: listener failed", self)

    def _reset(self, reason: str) -> None:
        self.resets += 1
        for fn in list(self._reset_listeners):
            try:
                r = fn(reason)
                if asyncio.iscoroutine(r):
                    spawn(r)
            except Exception:  # noqa: BLE001
                log.exception("%r: reset listener failed", self)


class PersistentWatcher(_PersistentWatcherCore):
    """A persistent (``recursive=True``: recursive) watch on ``path`` that
    survives session expiry; see the module docs. ``start()`` returns once the
    watch is in place; listeners run on the client's dispatcher thread."""

    def start(self) -> PersistentWatcher:
        run_sync(self.client, self._start_gen())
        return self

    def close(self) -> None:
        run_sync(self.client, self._close_gen())

    def __enter__(self) -> PersistentWatcher:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncPersistentWatcher(_PersistentWatcherCore):
    """:class:`PersistentWatcher` for :class:`~zkfast.AsyncClient`; listeners
    may be coroutine functions."""

    _flavor = ASYNC

    async def start(self) -> AsyncPersistentWatcher:
        await run_async(self.client, self._start_gen())
        return self

    async def close(self) -> None:
        await run_async(self.client, self._close_gen())

    async def __aenter__(self) -> AsyncPersistentWatcher:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

