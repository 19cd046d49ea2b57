"""The watch registry: which callbacks wait for which events, by server path.

The engine keeps one :class:`WatchRegistry` per session. It is filled when a
request that sets a watch succeeds, consulted when a notification arrives,
replayed (as SetWatches) after a reconnect, and emptied when the session ends.
Callers on other threads ask it questions through its query methods
(:meth:`WatchRegistry.has`, :meth:`WatchRegistry.others_need_server_watch`);
its tables are its own.
"""

from __future__ import annotations

import threading
from typing import Dict, List, Optional, Tuple

from .arguments import Watcher
from .events import EventType, WatcherType

__all__ = ["WatchRegistry", "WATCH_DATA", "WATCH_EXIST", "WATCH_CHILD", "WATCH_PERSISTENT",
           "WATCH_RECURSIVE"]

# Where a successful request leaves a one-shot or persistent watch.
WATCH_DATA = 1
WATCH_EXIST = 2
WATCH_CHILD = 3
WATCH_PERSISTENT = 4
WATCH_RECURSIVE = 5

_Table = Dict[str, Dict[Watcher, None]]


class WatchRegistry:
    """The session's watches by server path (chroot included).

    Each table maps a server path to an insertion-ordered dict of watchers
    (a watcher registered twice on one path fires once, as in ZooKeeper).
    Thread-safe: every method takes the registry's own lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: _Table = {}
        self._exist: _Table = {}
        self._child: _Table = {}
        self._persistent: _Table = {}
        self._recursive: _Table = {}

    def _tables_for(self, watcher_type: int, persistent: bool = True) -> List[Tuple[_Table, EventType]]:
        """The tables a ``WatcherType`` names, each with the event its removal reports."""
        out: List[Tuple[_Table, EventType]] = []
        if watcher_type in (WatcherType.DATA, WatcherType.ANY):
            out += [(self._data, EventType.DATA_WATCH_REMOVED),
                    (self._exist, EventType.DATA_WATCH_REMOVED)]
        if watcher_type in (WatcherType.CHILDREN, WatcherType.ANY):
            out.append((self._child, EventType.CHILD_WATCH_REMOVED))
        if persistent and watcher_type in (WatcherType.PERSISTENT, WatcherType.ANY):
            out.append((self._persistent, EventType.PERSISTENT_WATCH_REMOVED))
        if persistent and watcher_type in (WatcherType.PERSISTENT_RECURSIVE, WatcherType.ANY):
            out.append((self._recursive, EventType.PERSISTENT_WATCH_REMOVED))
        return out

    def add(self, kind: int, path: str, watcher: Watcher) -> None:
        """Register ``watcher`` on ``path`` in the table ``kind`` (a ``WATCH_*``)."""
        table = (self._data, self._exist, self._child, self._persistent, self._recursive)[kind - 1]
        with self._lock:
            table.setdefault(path, {})[watcher] = None

    def __bool__(self) -> bool:
        return bool(self._data or self._exist or self._child or self._persistent or self._recursive)

    def triggered(self, etype: int, path: str) -> List[Watcher]:
        """Remove and return the one-shot watchers an event fires, plus the
        persistent ones it reaches (ZooKeeper's client-side materialize)."""
        out: Dict[Watcher, None] = {}
        with self._lock:
            if etype == EventType.NODE_CREATED or etype == EventType.NODE_DATA_CHANGED:
                out.update(self._data.pop(path, {}))
                out.update(self._exist.pop(path, {}))
            elif etype == EventType.NODE_CHILDREN_CHANGED:
                out.update(self._child.pop(path, {}))
            elif etype == EventType.NODE_DELETED:
                out.update(self._data.pop(path, {}))
                out.update(self._exist.pop(path, {}))
                out.update(self._child.pop(path, {}))
            p = self._persistent.get(path)
            if p:
                out.update(p)
            if self._recursive and etype != EventType.NODE_CHILDREN_CHANGED:
                # a recursive watch on any ancestor (or the node) sees the event
                probe = path
                while True:
                    r = self._recursive.get(probe)
                    if r:
                        out.update(r)
                    if probe == "/":
                        break
                    i = probe.rfind("/")
                    probe = probe[:i] if i > 0 else "/"
        return list(out)

    def remove(self, path: str, watcher_type: int, watcher: Optional[Watcher] = None
               ) -> List[Tuple[Watcher, EventType]]:
        """Drop watches on ``path`` locally; returns (watcher, removal event type)."""
        removed: List[Tuple[Watcher, EventType]] = []
        with self._lock:
            for table, etype in self._tables_for(watcher_type):
                ws = table.get(path)
                if not ws:
                    continue
                if watcher is None:
                    del table[path]
                    removed += [(w, etype) for w in ws]
                elif watcher in ws:
                    del ws[watcher]
                    if not ws:
                        del table[path]
                    removed.append((watcher, etype))
        return removed

    def has(self, path: str, watcher_type: int, watcher: Optional[Watcher] = None) -> bool:
        """Is ``watcher`` (None: anyone) watching ``path`` in the way ``watcher_type`` names?"""
        with self._lock:
            for table, _ in self._tables_for(watcher_type):
                ws = table.get(path)
                if ws and (watcher is None or watcher in ws):
                    return True
        return False

    def others_need_server_watch(self, path: str, watcher_type: int, watcher: Optional[Watcher],
                                 one_shot_only: bool = False) -> bool:
        """Does anyone but ``watcher`` still need the server's watch of this type
        on ``path``? (``one_shot_only``: count only one-shot watchers.)"""
        with self._lock:
            return any(set(table.get(path, ())) - {watcher}
                       for table, _ in self._tables_for(watcher_type, persistent=not one_shot_only))

    def clear(self) -> List[Tuple[str, Watcher]]:
        """Forget every watch (session gone); returns (server path, watcher)."""
        with self._lock:
            tables = (self._data, self._exist, self._child, self._persistent, self._recursive)
            out = [(p, w) for t in tables for p, ws in t.items() for w in ws]
            for t in tables:
                t.clear()
        return out

    def snapshot(self) -> Tuple[List[str], List[str], List[str], List[str], List[str]]:
        """The watched paths: (data, exist, child, persistent, recursive)."""
        with self._lock:
            return (list(self._data), list(self._exist), list(self._child),
                    list(self._persistent), list(self._recursive))

    def has_persistent(self) -> bool:
        return bool(self._persistent or self._recursive)
