"""TreeCache: a local mirror of a subtree, kept current by ONE persistent
recursive watch (ZooKeeper 3.6+ ``addWatch``), not a watch per node.

How it stays right:

* **Load.** The watch is added first, then the tree is read breadth-first
  with batched ``multi_read`` requests (hundreds of reads per request, a
  bounded number of requests in flight), listing children only of nodes
  whose Stat says they have some. Watch events that arrive meanwhile are
  held and replayed afterwards.
* **Steady state.** Each event (created / changed / deleted under the root)
  triggers a re-read of that node -- coalesced, batched, one batch in
  flight -- and the reply decides: newer ``mzxid`` -> updated, gone ->
  removed with its subtree, new -> added. Replies and events are handled in
  the order they arrive, and a read never overrides a newer one.
* **Reconnect.** The server does *not* replay a persistent watch's missed
  events after a disconnect (``setWatches`` just re-adds it), so after every
  reconnect the cache *resyncs*: it re-reads each cached node's Stat
  (small nodes with their data in the same ``multi_read``; nodes over
  ``large_node`` bytes as a bare ``exists``, their data only if ``mzxid``
  moved), lists children only where ``pzxid`` moved, and reports only the
  differences. Nothing is thrown away and rebuilt.
* **Session expiry.** The watch ends (NOT_WATCHING); in the new session the
  cache adds it again and resyncs the same way.
* **Filters** (Curator's TreeCacheSelector and maxDepth): ``max_depth``
  (the root is depth 0), ``traverse_children(path)`` (False: that node's
  children are neither listed nor cached) and ``accept_child(path)`` (False:
  that node, and so its subtree, is not cached). They decide what is read and
  kept; the server still sends the recursive watch's events for the whole
  subtree, and the cache drops those outside the filters without a read.

Listeners get :class:`TreeEvent` records: NODE_ADDED / NODE_UPDATED /
NODE_REMOVED (with the node's data and Stat), INITIALIZED after the first
load, and CONNECTION_SUSPENDED / CONNECTION_RECONNECTED / CONNECTION_LOST.
They run on the client's dispatcher thread (sync) or event loop (async).

The cached Stat's child fields (``cversion``, ``num_children``, ``pzxid``)
are those of the node's last read: a recursive watch reports no
children-changed events, so they go stale between reads;
``get_children`` is always current.

>>> cache = TreeCache(zk, "/app").start()        # doctest: +SKIP
>>> cache.wait_initialized(30)                   # doctest: +SKIP
True
>>> cache.get_data("/app/config").data           # doctest: +SKIP
b'...'
>>> sorted(cache.get_children("/app"))           # doctest: +SKIP
['config', 'workers']
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
from collections import deque
from typing import Any, Callable, Deque, Dict, FrozenSet, Generator, List, NamedTuple, Optional, Set, cast

from ..errors import (
    ClosedError,
    ConnectionLossError,
    NoNodeError,
    NoWatcherError,
    ResponseTooLargeError,
    SessionExpiredError,
)
from ..events import EventType, State, WatchedEvent, WatcherType
from ..paths import validate_path
from ..records import Stat
from ..steps import Batch
from ..transaction import GetChildren, GetData
from ._drivers import ASYNC, SYNC, Flavor, drive, run_async, run_sync, spawn

__all__ = ["TreeCache", "AsyncTreeCache", "TreeEvent", "TreeEventType", "NodeData"]

log = logging.getLogger("zkfast.recipe.cache")


class TreeEventType(enum.Enum):
    NODE_ADDED = "NODE_ADDED"
    NODE_UPDATED = "NODE_UPDATED"
    NODE_REMOVED = "NODE_REMOVED"
    INITIALIZED = "INITIALIZED"
    CONNECTION_SUSPENDED = "CONNECTION_SUSPENDED"
    CONNECTION_RECONNECTED = "CONNECTION_RECONNECTED"
    CONNECTION_LOST = "CONNECTION_LOST"


class NodeData(NamedTuple):
    """A cached node: its data and the Stat it was read with."""

    data: bytes
    stat: Stat


class TreeEvent(NamedTuple):
    """What a TreeCache listener receives (``path``/``data``/``stat`` are None
    for INITIALIZED and connection events; for NODE_REMOVED they are the
    last cached values)."""

    type: TreeEventType
    path: Optional[str] = None
    data: Optional[bytes] = None
    stat: Optional[Stat] = None


_IGNORED = (EventType.PERSISTENT_WATCH_REMOVED, EventType.DATA_WATCH_REMOVED,
            EventType.CHILD_WATCH_REMOVED, EventType.NONE)


class _TreeCacheCore:
    _flavor: Flavor = SYNC

    def __init__(self, client: Any, path: str, *, ops_per_request: int = 256,
                 max_requests: int = 16, large_node: int = 4096,
                 max_depth: Optional[int] = None,
                 accept_child: Optional[Callable[[str], bool]] = None,
                 traverse_children: Optional[Callable[[str], bool]] = None) -> None:
        """``ops_per_request`` reads go in one ``multi_read``, at most
        ``max_requests`` requests are in flight (memory and load stay
        bounded); nodes larger than ``large_node`` bytes are resynced with a
        bare ``exists`` first. ``max_depth``, ``accept_child`` and
        ``traverse_children`` choose which nodes are cached (module docs)."""
        self._flavor.check(client, type(self).__name__)
        validate_path(path)
        if max_depth is not None and (isinstance(max_depth, bool) or not isinstance(max_depth, int)
                                      or max_depth < 0):
            raise ValueError(f"max_depth must be an int >= 0 or None, not {max_depth!r}")
        for name, fn in (("accept_child", accept_child), ("traverse_children", traverse_children)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be a callable taking a path")
        self.client = client
        self.path = path
        self.max_depth = max_depth
        self.accept_child = accept_child
        self.traverse_children = traverse_children
        self._filtered = (max_depth is not None or accept_child is not None
                          or traverse_children is not None)
        self.ops_per_request = max(1, ops_per_request)
        self.max_requests = max(1, max_requests)
        self.large_node = large_node
        self._nodes: Dict[str, NodeData] = {}
        self._children: Dict[str, Set[str]] = {}
        self._listeners: List[Callable[[TreeEvent], Any]] = []
        self._lock = threading.RLock()
        self._initialized = False
        self._initialized_event = self._flavor.event()
        self._started = False
        self._closed = False
        # sync passes
        self._syncing = False
        self._sync_running = False
        self._sync_again = False
        self._need_watch = True
        self._dirty = True
        self._gen = 0
        self._held: List[str] = []
        # event-driven refreshes
        self._pending: Dict[str, None] = {}
        self._refreshing = False
        #: how many full/diff sync passes ran, and how many nodes they read (for tests/metrics)
        self.sync_passes = 0
        self.last_sync_reads = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r} nodes={len(self._nodes)}>"

    # ------------------------------------------------------------ public reads

    @property
    def initialized(self) -> bool:
        return self._initialized

    def get_data(self, path: str) -> Optional[NodeData]:
        """The cached ``NodeData(data, stat)`` of ``path``, or None."""
        return self._nodes.get(path)

    def get_children(self, path: str) -> Optional[FrozenSet[str]]:
        """Names of ``path``'s cached children, or None if ``path`` is not cached."""
        with self._lock:
            if path not in self._nodes:
                return None
            return frozenset(self._children.get(path, ()))

    def __contains__(self, path: object) -> bool:
        return path in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def snapshot(self) -> Dict[str, NodeData]:
        """A copy of the whole cache: path -> NodeData."""
        with self._lock:
            return dict(self._nodes)

    def add_listener(self, fn: Callable[[TreeEvent], Any]) -> None:
        self._listeners.append(fn)

    listen = add_listener

    def remove_listener(self, fn: Callable[[TreeEvent], Any]) -> None:
        try:
            self._listeners.remove(fn)
        except ValueError:
            pass

    # ------------------------------------------------------------ lifecycle

    def _start(self) -> None:
        if self._started:
            raise RuntimeError("a TreeCache can be started once")
        self._started = True
        self._syncing = True
        self.client.add_listener(self._on_state)
        self._kick()

    def _close_gen(self) -> Generator[Any, Any, None]:
        if self._closed:
            return
        self._closed = True
        self.client.remove_listener(self._on_state)
        try:
            yield from self.client.remove_watches_steps(self.path, WatcherType.PERSISTENT_RECURSIVE,
                                                   self._on_watch, False)
        except (NoWatcherError, ConnectionLossError, SessionExpiredError, ClosedError):
            pass

    # ------------------------------------------------------------ filters

    def _depth(self, p: str) -> int:
        """Depth below the root (the root is 0); -1 if ``p`` is not in the tree."""
        root = self.path
        if p == root:
            return 0
        if root == "/":
            return p.count("/")
        if not p.startswith(root + "/"):
            return -1
        return p.count("/") - root.count("/")

    def _lists(self, p: str) -> bool:
        """Whether ``p``'s children are listed (and so cached)."""
        if not self._filtered:
            return True
        if self.max_depth is not None and self._depth(p) >= self.max_depth:
            return False
        return self.traverse_children is None or bool(self.traverse_children(p))

    def _accepts(self, p: str) -> bool:
        """Whether a child ``p`` of a listed node is cached."""
        return self.accept_child is None or p == self.path or bool(self.accept_child(p))

    def _wanted(self, p: str) -> bool:
        """Whether an event's ``p`` is inside the filters: every ancestor
        accepted and listed, ``p`` accepted."""
        if not self._filtered or p == self.path:
            return True
        depth = self._depth(p)
        if depth < 0 or (self.max_depth is not None and depth > self.max_depth):
            return False
        i = p.rfind("/")
        par = p[:i] or "/"
        while True:
            if not self._lists(par):
                return False
            if par == self.path:
                break
            if not self._accepts(par):
                return False
            i = par.rfind("/")
            par = par[:i] or "/"
        return self._accepts(p)

    # ------------------------------------------------------------ events in

    def _emit(self, etype: TreeEventType, path: Optional[str] = None,
              nd: Optional[NodeData] = None) -> None:
        if not self._listeners:
            return
        ev = TreeEvent(etype, path, nd.data if nd else None, nd.stat if nd else None)
        for fn in list(self._listeners):
            try:
                r = fn(ev)
                if asyncio.iscoroutine(r):
                    spawn(r)
            except Exception:  # noqa: BLE001
                log.exception("TreeCache listener failed")

    def _on_watch(self, event: WatchedEvent) -> None:
        if self._closed:
            return
        etype = event.type
        if etype == EventType.NOT_WATCHING:  # the session ended: add it again in the next one
            self._need_watch = True
            self._dirty = True
            self._syncing = True
            if self.client.state.is_connected:
                self._kick()
            return
        if etype in _IGNORED or event.path is None:
            return
        if self._filtered and not self._wanted(event.path):
            return
        if self._syncing:
            self._held.append(event.path)
            return
        self._refresh(event.path)

    def _on_state(self, state: State) -> None:
        if self._closed:
            return
        if state == State.SUSPENDED:
            self._dirty = True  # events during the outage are not replayed: resync after it
            self._emit(TreeEventType.CONNECTION_SUSPENDED)
        elif state == State.EXPIRED:
            self._need_watch = True
            self._dirty = True
            self._emit(TreeEventType.CONNECTION_LOST)
        elif state.is_connected:
            self._emit(TreeEventType.CONNECTION_RECONNECTED)
            if self._dirty:
                self._syncing = True
                self._kick()
        elif state == State.CLOSED:
            self._closed = True

    # ------------------------------------------------------------ sync passes

    def _kick(self) -> None:
        """Run a sync pass now, or once more after the one in flight."""
        with self._lock:
            if self._closed:
                return
            if self._sync_running:
                self._sync_again = True
                return
            self._sync_running = True
        drive(self.client, self._sync_gen(), self._sync_done)

    def _sync_done(self, result: Any, error: Optional[BaseException]) -> None:
        again = False
        if error is not None:
            self._dirty = True
            if isinstance(error, (ConnectionLossError, SessionExpiredError)):
                log.debug("TreeCache %s: sync interrupted (%s); resyncing on reconnect",
                          self.path, error)
                again = self.client.state.is_connected
            elif not isinstance(error, ClosedError):
                log.error("TreeCache %s: sync failed", self.path, exc_info=error)
        else:
            held, self._held = self._held, []
            self._syncing = False
            if not self._initialized:
                self._initialized = True
                self._initialized_event.set()
                self._emit(TreeEventType.INITIALIZED)
            for p in held:
                self._refresh(p)
        with self._lock:
            again = (again or self._sync_again) and not self._closed
            self._sync_again = False
            if not again:
                self._sync_running = False
        if again:
            self._syncing = True
            drive(self.client, self._sync_gen(), self._sync_done)

    def _sync_gen(self) -> Generator[Any, Any, None]:
        """Bring the cache in line with the server, emitting only differences."""
        engine = self.client.requests
        self._gen += 1
        self._pending.clear()  # in-flight refreshes of the old generation are dropped
        if self._need_watch:
            yield engine.op_add_watch(self.path, self._on_watch, True)
            self._need_watch = False
        self._dirty = False
        self.sync_passes += 1
        reads = 0
        to_get: Deque[str] = deque()
        to_stat: Deque[str] = deque()
        to_list: Deque[str] = deque()
        solo_get: Deque[str] = deque()
        solo_list: Deque[str] = deque()
        nodes = self._nodes
        large = self.large_node

        def route(p: str) -> None:
            nd = nodes.get(p)
            if nd is not None and nd.stat.data_length > large:
                to_stat.append(p)
            else:
                to_get.append(p)

        def children_of(p: str, stat: Stat, old: Optional[NodeData]) -> None:
            if self._filtered and not self._lists(p):
                return
            if old is None or old.stat.czxid != stat.czxid or old.stat.pzxid != stat.pzxid:
                if stat.num_children or self._children.get(p):
                    to_list.append(p)
            else:
                for name in self._children.get(p, ()):
                    route(_join(p, name))

        route(self.path)
        per = self.ops_per_request
        while to_get or to_stat or to_list or solo_get or solo_list:
            reqs: List[Any] = []
            kinds: List[Any] = []
            while to_list and len(reqs) < self.max_requests:
                chunk: List[str] = []
                budget = 0
                while to_list and len(chunk) < per and budget < 20000:
                    p = to_list.popleft()
                    nd = nodes.get(p)
                    budget += (nd.stat.num_children if nd else 0) + 1
                    chunk.append(p)
                reqs.append(engine.op_multi_read([GetChildren(p) for p in chunk]))
                kinds.append(("L", chunk))
            while to_get and len(reqs) < self.max_requests:
                chunk = []
                budget = 0
                while to_get and len(chunk) < per and budget < 256 * 1024:
                    p = to_get.popleft()
                    nd = nodes.get(p)
                    budget += (nd.stat.data_length if nd else 1024) + 100
                    chunk.append(p)
                reqs.append(engine.op_multi_read([GetData(p) for p in chunk]))
                kinds.append(("G", chunk))
            while solo_list and len(reqs) < self.max_requests * 4:
                p = solo_list.popleft()
                reqs.append(engine.op_get_children(p))
                kinds.append(("l", [p]))
            while solo_get and len(reqs) < self.max_requests * 4:
                p = solo_get.popleft()
                reqs.append(engine.op_get(p))
                kinds.append(("g", [p]))
            while to_stat and len(reqs) < self.max_requests * 8:
                p = to_stat.popleft()
                reqs.append(engine.op_exists(p))
                kinds.append(("S", [p]))
            results = yield Batch(reqs)
            for (kind, paths), res in zip(kinds, results):
                if isinstance(res, (ConnectionLossError, SessionExpiredError, ClosedError)):
                    raise res
                if kind in ("G", "L"):
                    if isinstance(res, ResponseTooLargeError):
                        (solo_get if kind == "G" else solo_list).extend(paths)
                        continue
                    if isinstance(res, BaseException):
                        raise res
                    items = zip(paths, res)
                else:
                    items = zip(paths, (res,))
                reads += len(paths)
                for p, r in items:
                    if kind in ("G", "g"):
                        if isinstance(r, NoNodeError):
                            self._remove(p)
                        elif isinstance(r, ResponseTooLargeError):
                            log.warning("TreeCache: %s is larger than max_buffer_size; "
                                        "not cached", p)
                        elif isinstance(r, BaseException):
                            raise r
                        else:
                            data, stat = r
                            old = nodes.get(p)
                            self._store(p, data, stat, old)
                            children_of(p, stat, old)
                    elif kind == "S":
                        old = nodes.get(p)
                        if r is None:
                            self._remove(p)
                        elif old is None or old.stat.czxid != r.czxid or old.stat.mzxid != r.mzxid:
                            to_get.append(p)  # changed: read its data too
                        else:
                            if old.stat != r:
                                with self._lock:
                                    nodes[p] = NodeData(old.data, r)
                            children_of(p, r, old)
                    else:  # a child list
                        if isinstance(r, NoNodeError):
                            self._remove(p)
                            continue
                        if isinstance(r, ResponseTooLargeError):
                            log.warning("TreeCache: children of %s exceed max_buffer_size; "
                                        "raise it to cache them", p)
                            continue
                        if isinstance(r, BaseException):
                            raise r
                        have = self._children.get(p, set())
                        names = set(r)
                        for gone in [n for n in have if n not in names]:
                            self._remove(_join(p, gone))
                        for name in r:
                            c = _join(p, name)
                            if self._filtered and not self._accepts(c):
                                continue
                            route(c)
        self.last_sync_reads = reads

    # ------------------------------------------------------------ cache updates

    def _store(self, p: str, data: bytes, stat: Stat, old: Optional[NodeData]) -> None:
        """Apply a read of ``p``; emits ADDED/UPDATED if it is news."""
        if old is not None:
            ostat = old.stat
            if stat.czxid < ostat.czxid or (stat.czxid == ostat.czxid
                                            and stat.mzxid < ostat.mzxid):
                return  # older than what we have
            if stat.czxid == ostat.czxid and stat.mzxid == ostat.mzxid:
                if stat != ostat:
                    with self._lock:
                        self._nodes[p] = NodeData(old.data, stat)
                return
        nd = NodeData(data, stat)
        with self._lock:
            self._nodes[p] = nd
            if p != self.path:
                i = p.rfind("/")
                par = p[:i] or "/"
                kids = self._children.get(par)
                if kids is None:
                    self._children[par] = {p[i + 1:]}
                else:
                    kids.add(p[i + 1:])
        if self._listeners:
            self._emit(TreeEventType.NODE_ADDED if old is None else TreeEventType.NODE_UPDATED,
                       p, nd)

    def _remove(self, p: str) -> None:
        """Drop ``p`` and everything below it (deepest first, REMOVED each)."""
        with self._lock:
            if p not in self._nodes and p not in self._children:
                return
            order: List[str] = []
            stack = [p]
            while stack:
                q = stack.pop()
                order.append(q)
                for name in self._children.get(q, ()):
                    stack.append(_join(q, name))
            removed = []
            for q in reversed(order):
                nd = self._nodes.pop(q, None)
                self._children.pop(q, None)
                if nd is not None:
                    removed.append((q, nd))
            if p != self.path:
                i = p.rfind("/")
                kids = self._children.get(p[:i] or "/")
                if kids is not None:
                    kids.discard(p[i + 1:])
        if self._listeners:
            for q, nd in removed:
                self._emit(TreeEventType.NODE_REMOVED, q, nd)

    # ------------------------------------------------------------ event-driven refreshes

    def _refresh(self, path: str) -> None:
        self._pending[path] = None
        if not self._refreshing:
            self._refreshing = True
            drive(self.client, self._refresh_gen(self._gen), self._refresh_done)

    def _refresh_done(self, result: Any, error: Optional[BaseException]) -> None:
        self._refreshing = False
        if error is not None:
            if isinstance(error, (ConnectionLossError, SessionExpiredError, ClosedError)):
                return  # the resync after the reconnect covers these nodes
            log.error("TreeCache %s: refresh failed", self.path, exc_info=error)
            return
        if self._pending and not self._syncing:
            self._refreshing = True
            drive(self.client, self._refresh_gen(self._gen), self._refresh_done)

    def _refresh_gen(self, gen: int) -> Generator[Any, Any, None]:
        engine = self.client.requests
        per = self.ops_per_request
        while self._pending and gen == self._gen and not self._syncing:
            batch: List[List[str]] = []
            pending = self._pending
            for _ in range(self.max_requests):
                if not pending:
                    break
                chunk: List[str] = []
                while pending and len(chunk) < per:
                    p = next(iter(pending))
                    del pending[p]
                    chunk.append(p)
                batch.append(chunk)
            results = yield Batch([engine.op_multi_read([GetData(p) for p in chunk])
                                   for chunk in batch])
            if gen != self._gen:
                return  # a sync pass started meanwhile; it supersedes these reads
            for chunk, res in zip(batch, results):
                if isinstance(res, ResponseTooLargeError):
                    for p in chunk:
                        try:
                            one = yield engine.op_get(p)
                        except NoNodeError as e:
                            one = e
                        except ResponseTooLargeError:
                            log.warning("TreeCache: %s is larger than max_buffer_size", p)
                            continue
                        if gen != self._gen:
                            return
                        self._apply_read(p, one)
                    continue
                if isinstance(res, BaseException):
                    raise res
                for p, r in zip(chunk, res):
                    self._apply_read(p, r)

    def _apply_read(self, p: str, r: Any) -> None:
        if isinstance(r, NoNodeError):
            self._remove(p)
        elif isinstance(r, BaseException):
            log.warning("TreeCache: reading %s failed: %s", p, r)
        else:
            data, stat = r
            self._store(p, data, stat, self._nodes.get(p))


def _join(parent: str, name: str) -> str:
    return f"/{name}" if parent == "/" else f"{parent}/{name}"


class TreeCache(_TreeCacheCore):
    """A live local copy of the subtree at ``path`` (see the module docs).

    ``start()`` begins loading and returns at once; ``wait_initialized()``
    blocks until the first load is done. Reads (``get_data``,
    ``get_children``, ``snapshot``) never touch the network.

    >>> cache = TreeCache(zk, "/services").start()   # doctest: +SKIP
    >>> cache.wait_initialized(30)                   # doctest: +SKIP
    True
    """

    def start(self) -> TreeCache:
        self._start()
        return self

    def wait_initialized(self, timeout: Optional[float] = None) -> bool:
        return cast(bool, self._initialized_event.wait(timeout))  # a threading.Event here

    def close(self) -> None:
        run_sync(self.client, self._close_gen())

    def __enter__(self) -> TreeCache:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncTreeCache(_TreeCacheCore):
    """:class:`TreeCache` for :class:`~zkfast.AsyncClient`.

    >>> cache = await AsyncTreeCache(zk, "/services").start()   # doctest: +SKIP
    >>> await cache.wait_initialized(30)                        # doctest: +SKIP
    True
    """

    _flavor = ASYNC

    async def start(self) -> AsyncTreeCache:
        self._start()
        return self

    async def wait_initialized(self, timeout: Optional[float] = None) -> bool:
        try:
            await asyncio.wait_for(self._initialized_event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        await run_async(self.client, self._close_gen())

    async def __aenter__(self) -> AsyncTreeCache:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
