"""kazoo's one-shot watch semantics on zkfast.

zkfast keeps a session's watches across reconnects (it re-registers them with
SetWatches). kazoo does not: when the connection drops, every pending watch
function is called once with ``WatchedEvent(EventType.NONE, state, None)`` and
forgotten, and recipes set new watches after the reconnect. zkfast.kazoo
behaves like kazoo. Each watch function is wrapped in a :class:`OneShot` that
the :class:`WatchTable` tracks; on a disconnect or a lost session the table
fires every live wrapper with ``NONE`` and removes it from zkfast's registry
(locally, so nothing re-registers it).

A function watches a path once per kind, as in kazoo: ``get`` and ``exists``
share the data kind, ``get_children`` has its own; registering it again while
it watches returns the same wrapper, so one change calls it once.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, List, Tuple

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
    """The zkfast watcher standing for one kazoo watch function (see module docstring)."""

    __slots__ = ("table", "key", "fn", "status")

    def __init__(self, table: WatchTable, key: Key) -> None:
        self.table = table
        self.key = key
        self.fn = key[2]
        self.status = _NEW

    def __call__(self, event: Any) -> None:
        name = _NAMES.get(event.type)
        if name is not None:
            if self.table.take(self):
                self.fn(WatchedEvent(name, self.table.keeper_state(), event.path))
            return
        if event.type == ZkEvent.NOT_WATCHING and self.table.take(self):
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

    def watcher(self, kind: int, path: str, fn: Callable[..., Any]) -> OneShot:
        """The wrapper to register ``fn`` with: the live one if it already watches ``path``."""
        key = (kind, path, fn)
        live = self._live.get(key)
        if live is not None and live.status == _LIVE:
            return live
        return OneShot(self, key)

    def registered(self, w: OneShot) -> None:
        """The request that set ``w`` succeeded: it is live now (unless it fired already)."""
        with self._lock:
            if w.status == _NEW:
                w.status = _LIVE
                self._live[w.key] = w

    def take(self, w: OneShot) -> bool:
        """``w`` fires: True if it was not fired or dropped before."""
        with self._lock:
            if w.status == _DEAD:
                return False
            w.status = _DEAD
            if self._live.get(w.key) is w:
                del self._live[w.key]
            return True

    def drop_all(self, native: Any, state: str, notify: bool = True) -> None:
        """Forget every live watch (kazoo does this when the connection drops or
        the session ends): each function hears ``NONE`` with ``state`` once (unless
        ``notify`` is False), and zkfast stops tracking its wrapper."""
        with self._lock:
            dropped: List[OneShot] = list(self._live.values())
            self._live.clear()
            for w in dropped:
                w.status = _DEAD
        for w in dropped:
            kind, path, _fn = w.key
            try:
                native.remove_watches(path, WatcherType.DATA if kind == DATA else WatcherType.CHILDREN,
                                      w, local=True)
            except ZooKeeperError:
                pass  # already gone from zkfast's registry (fired, or the session ended)
        if notify:
            event = WatchedEvent(EventType.NONE, state, None)
            for w in dropped:
                try:
                    w.fn(event)
                except Exception:  # noqa: BLE001 - one watch function must not stop the others
                    log.exception("watch function %r raised", w.fn)

    def __len__(self) -> int:
        return len(self._live)
