"""Coordination recipes that stay correct under failure, for both clients.

Every recipe's protocol is written once (as generators of requests, see
``_base``) and offered as a sync class for :class:`zkfast.Client` and an
``Async*`` twin for :class:`zkfast.AsyncClient`:

========================  =====================================================
Lock / AsyncLock          exclusive lock (Curator/go-zookeeper node layout)
ReadLock / WriteLock      shared/exclusive lock on one path
MultiLock                 several locks, all or nothing
Semaphore                 up to N holders
Election                  kazoo-style ``run(func)`` while leader
LeaderLatch               Curator-style ``has_leadership`` + listener
Counter                   int/float counter, compare-and-set
Barrier / DoubleBarrier   wait for removal / enter and leave together
Party / ShallowParty      group membership
Queue / LockingQueue      priority queues (take / take-work-consume)
DataWatch / ChildrenWatch decorator-style watchers (kazoo)
TreeCache                 local mirror of a subtree on ONE recursive watch
walk / get_tree /         bulk reads and deletes with a bounded window of
delete_tree               pipelined requests
========================  =====================================================

>>> from zkfast.recipe import Lock, TreeCache
>>> with Lock(zk, "/app/lock"):                      # doctest: +SKIP
...     ...
"""

from typing import Any, Callable

from .barrier import AsyncBarrier, AsyncDoubleBarrier, Barrier, DoubleBarrier
from .bulk import delete_tree, delete_tree_async, get_tree, get_tree_async, walk, walk_async
from .cache import AsyncTreeCache, NodeData, TreeCache, TreeEvent, TreeEventType
from .counter import AsyncCounter, Counter
from .election import AsyncElection, AsyncLeaderLatch, Election, LeaderLatch
from .lock import (
    AsyncLock,
    AsyncMultiLock,
    AsyncReadLock,
    AsyncWriteLock,
    Lock,
    MultiLock,
    ReadLock,
    WriteLock,
)
from .party import AsyncParty, AsyncShallowParty, Party, ShallowParty
from .queue import AsyncLockingQueue, AsyncQueue, LockingQueue, Queue
from .semaphore import AsyncSemaphore, Semaphore
from .watchers import AsyncChildrenWatch, AsyncDataWatch, ChildrenWatch, DataWatch

__all__ = [
    "Lock", "ReadLock", "WriteLock", "MultiLock", "Semaphore", "Election", "LeaderLatch",
    "Counter", "Barrier", "DoubleBarrier", "Party", "ShallowParty", "Queue", "LockingQueue",
    "DataWatch", "ChildrenWatch", "TreeCache", "TreeEvent", "TreeEventType", "NodeData",
    "walk", "get_tree", "delete_tree",
    "AsyncLock", "AsyncReadLock", "AsyncWriteLock", "AsyncMultiLock", "AsyncSemaphore",
    "AsyncElection", "AsyncLeaderLatch", "AsyncCounter", "AsyncBarrier", "AsyncDoubleBarrier",
    "AsyncParty", "AsyncShallowParty", "AsyncQueue", "AsyncLockingQueue", "AsyncDataWatch",
    "AsyncChildrenWatch", "AsyncTreeCache", "walk_async", "get_tree_async", "delete_tree_async",
    "RecipeMethods",
]

_SYNC_ASYNC = {
    "Lock": ("Lock", "AsyncLock"), "ReadLock": ("ReadLock", "AsyncReadLock"),
    "WriteLock": ("WriteLock", "AsyncWriteLock"), "MultiLock": ("MultiLock", "AsyncMultiLock"),
    "Semaphore": ("Semaphore", "AsyncSemaphore"), "Election": ("Election", "AsyncElection"),
    "LeaderLatch": ("LeaderLatch", "AsyncLeaderLatch"), "Counter": ("Counter", "AsyncCounter"),
    "Barrier": ("Barrier", "AsyncBarrier"), "DoubleBarrier": ("DoubleBarrier", "AsyncDoubleBarrier"),
    "Party": ("Party", "AsyncParty"), "ShallowParty": ("ShallowParty", "AsyncShallowParty"),
    "Queue": ("Queue", "AsyncQueue"), "LockingQueue": ("LockingQueue", "AsyncLockingQueue"),
    "DataWatch": ("DataWatch", "AsyncDataWatch"),
    "ChildrenWatch": ("ChildrenWatch", "AsyncChildrenWatch"),
    "TreeCache": ("TreeCache", "AsyncTreeCache"),
}


def _factory(name: str) -> Callable[..., Any]:
    sync_name, async_name = _SYNC_ASYNC[name]

    def make(self: Any, *args: Any, **kwargs: Any) -> Any:
        from ._base import is_async_client
        cls = globals()[async_name if is_async_client(self) else sync_name]
        return cls(self, *args, **kwargs)

    make.__name__ = name
    make.__doc__ = (f"``zk.{name}(...)`` is ``zkfast.recipe.{sync_name}(zk, ...)`` "
                    f"(``{async_name}`` on an AsyncClient).")
    return make


class RecipeMethods:
    """kazoo-style factories (``zk.Lock(path)``, ``zk.TreeCache(path)``, ...):
    a mixin for the client classes; each picks the sync or async recipe."""


for _name in _SYNC_ASYNC:
    setattr(RecipeMethods, _name, _factory(_name))
del _name
