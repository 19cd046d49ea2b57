"""kazoo's one-shot watch semantics on zkfast.

zkfast keeps a session's watches across reconnects (it re-registers them with
SetWatches). kazoo does not: when the connection drops, every pending watch
function is called once with ``WatchedEvent(EventType.NONE, state, None)`` and
forgotten, and recipes set new watches after the reconnect. zkfast.kazoo
behaves like kazoo. Each request that sets a watch registers a fresh
:class:`OneShot` wrapper with zkfast; the :class:`WatchTable` tracks the live
ones and, on a disconnect or a lost session, fires each with ``NONE`` and takes
it out of zkfast's registry (locally), so nothing re-registers it.

A function watches a path once per kind, as in kazoo (``get`` and ``exists``
share the data kind, ``get_children`` has its own): when a newer request for
the same function and path succeeds, the older wrapper leaves zkfast's
registry, and an event that still reaches two wrappers of one function (they
overlapped for an instant) calls the function once.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..errors import SessionExpiredError, ZooKeeperError
from ..events import EventType as ZkEvent
from ..events import WatcherType
from .protocol.states import EventType, KeeperState, WatchedEvent

__all__ = ["WatchTable", "OneShot", "DATA", "CHILD"]

log = logging.getLogger("zkfast.kazoo.client")

DATA = 0   # get, exists
CHILD = 1  # get_children

_NAMES = {ZkEvent.NODE_CREATED: EventType.CREATED, ZkEvent.NODE_DELETED: EventType.DELETED,
          ZkEvent.NODE_DATA_CHANGED: EventType.CHANGED,
          ZkEvent.NODE_CHILDREN_CHANGED: EventType.CHILD}
_NEW, _LIVE, _DEAD = 0, 1, 2

Key = Tuple[int, str, Callable[..., Any]]


class OneShot:
    """The zkfast watcher standing for one kazoo watch (see module docstring)."""

    __slots__ = ("table", "key", "fn", "status")

    def __init__(self, table: WatchTable, key: Key) -> None:
        self.table = table
        self.key = key
        self.fn = key[2]
        self.status = _NEW

    def __call__(self, event: Any) -> None:
        name = _NAMES.get(event.type)
        if name is not None:
            if self.table.take(self, event):
                self.fn(WatchedEvent(name, self.table.keeper_state(), event.path))
            return
        if event.type == ZkEvent.NOT_WATCHING and self.table.take(self, event):
            # the session ended with the watch still pending (not after a disconnect)
            state = (KeeperState.EXPIRED_SESSION if isinstance(event.error, SessionExpiredError)
                     else self.table.keeper_state())
            self.fn(WatchedEvent(EventType.NONE, state, None))
        # *_WATCH_REMOVED: our own local removal of a dropped watch; nothing to report


class WatchTable:
    """The client's live kazoo watches (see module docstring)."""

    def __init__(self, keeper_state: Callable[[], str]) -> None:
        self.keeper_state = keeper_state
        self._lock = threading.Lock()
        self._live: Dict[Key, OneShot] = {}
        # (key, zkfast event) last delivered: one notification reaches all of a
        # path's watchers in a row, so a duplicate comes right after the original
        self._last: Optional[Tuple[Key, Any]] = None

    def watcher(self, kind: int, path: str, fn: Callable[..., Any]) -> OneShot:
        """A new wrapper for a request setting ``fn`` on ``path``."""
        return OneShot(self, (kind, path, fn))

    def registered(self, w: OneShot, native: Any) -> None:
        """The request that set ``w`` succeeded (zkfast holds ``w`` now): it is
        the function's live watch; an older one of the same function and path
        leaves zkfast's registry (the server's watch is the same)."""
        older = None
        with self._lock:
            if w.status != _NEW:
                return  # it fired (or was dropped) already
            w.status = _LIVE
            older = self._live.get(w.key)
            self._live[w.key] = w
            if older is not None:
                older.status = _DEAD
        if older is not None:
            self._forget(native, older)

    def take(self, w: OneShot, event: Any) -> bool:
        """``w`` fires with ``event``: True if its function should hear it (not
        fired or dropped before, and not a duplicate of the same notification)."""
        with self._lock:
            if w.status == _DEAD:
                return False
            w.status = _DEAD
            if self._live.get(w.key) is w:
                del self._live[w.key]
            last = self._last
            if last is not None and last[0] == w.key and last[1] is event:
                return False
            self._last = (w.key, event)
            return True

    def drop_all(self, native: Any, state: str, notify: bool = True) -> None:
        """Forget every live watch (kazoo does this when the connection drops or
        the session ends): each function hears ``NONE`` with ``state`` once (unless
        ``notify`` is False), and zkfast stops tracking its wrapper."""
        with self._lock:
            dropped: List[OneShot] = list(self._live.values())
            self._live.clear()
            self._last = None
            for w in dropped:
                w.status = _DEAD
        for w in dropped:
            self._forget(native, w)
        if notify:
            event = WatchedEvent(EventType.NONE, state, None)
            for w in dropped:
                try:
                    w.fn(event)
                except Exception:  # noqa: BLE001 - one watch function must not stop the others
                    log.exception("watch function %r raised", w.fn)

    @staticmethod
    def _forget(native: Any, w: OneShot) -> None:
        """Take ``w`` out of zkfast's registry (locally: the server's watch fires
        into nothing, or goes with the connection)."""
        kind, path, _fn = w.key
        try:
            native.remove_watches(path, WatcherType.DATA if kind == DATA else WatcherType.CHILDREN,
                                  w, local=True)
        except ZooKeeperError:
            pass  # already gone from zkfast's registry (fired, or the session ended)

    def __len__(self) -> int:
        return len(self._live)
