"""Coordination recipes that stay correct under failure, for both clients.

Every recipe's protocol is written once (as step generators, see
:mod:`zkfast.steps`) on the client interface of :mod:`zkfast.interface`,
and offered as a sync class for :class:`zkfast.Client` and an
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
                          (with Curator's filters: depth, accept, traverse)
walk / get_tree /         bulk reads and deletes with a bounded window of
delete_tree               pipelined requests
PersistentNode            a node kept in place (with its data) until closed
PersistentTtlNode         a TTL node kept alive while the process runs
GroupMember               membership with data and a live view of the members
PersistentWatcher         a persistent/recursive watch kept through expiry
SharedValue / SharedCount versioned shared value (Curator's 4-byte count)
LeaderSelector            run a function while leading (Curator's layout)
Fence                     writes applied only while a hold is still held
attempt_revoke            Curator's lock revocation (``Lock(on_revoke=...)``)
discovery                 service discovery compatible with curator-x-discovery
========================  =====================================================

>>> from zkfast.recipe import Lock, TreeCache
>>> with Lock(zk, "/app/lock"):                      # doctest: +SKIP
...     ...
"""

from .barrier import AsyncBarrier, AsyncDoubleBarrier, Barrier, DoubleBarrier
from .bulk import delete_tree, delete_tree_async, get_tree, get_tree_async, walk, walk_async
from .cache import AsyncTreeCache, NodeData, TreeCache, TreeEvent, TreeEventType
from .counter import AsyncCounter, Counter
from .discovery import (
    AsyncServiceDiscovery,
    AsyncServiceProvider,
    ServiceDiscovery,
    ServiceInstance,
    ServiceProvider,
    ServiceType,
)
from .election import AsyncElection, AsyncLeaderLatch, Election, LeaderLatch
from .fence import Fence
from .group import AsyncGroupMember, GroupMember
from .leader_selector import AsyncLeaderSelector, LeaderSelector
from .lock import (
    AsyncLock,
    AsyncMultiLock,
    AsyncReadLock,
    AsyncWriteLock,
    Lock,
    MultiLock,
    ReadLock,
    WriteLock,
    attempt_revoke,
)
from .party import AsyncParty, AsyncShallowParty, Party, ShallowParty
from .persistent import AsyncPersistentNode, PersistentNode
from .persistent_watcher import AsyncPersistentWatcher, PersistentWatcher
from .queue import AsyncLockingQueue, AsyncQueue, LockingQueue, Queue
from .semaphore import AsyncSemaphore, Semaphore
from .shared import AsyncSharedCount, AsyncSharedValue, SharedCount, SharedValue, VersionedValue
from .ttl_node import AsyncPersistentTtlNode, PersistentTtlNode
from .watchers import AsyncChildrenWatch, AsyncDataWatch, ChildrenWatch, DataWatch

__all__ = [
    "Lock", "ReadLock", "WriteLock", "MultiLock", "Semaphore", "Election", "LeaderLatch",
    "Counter", "Barrier", "DoubleBarrier", "Party", "ShallowParty", "Queue", "LockingQueue",
    "DataWatch", "ChildrenWatch", "TreeCache", "TreeEvent", "TreeEventType", "NodeData",
    "walk", "get_tree", "delete_tree", "PersistentNode", "PersistentTtlNode",
    "PersistentWatcher", "GroupMember", "SharedValue", "SharedCount", "VersionedValue",
    "LeaderSelector", "Fence", "attempt_revoke", "ServiceDiscovery", "ServiceInstance",
    "ServiceType", "ServiceProvider",
    "AsyncLock", "AsyncReadLock", "AsyncWriteLock", "AsyncMultiLock", "AsyncSemaphore",
    "AsyncElection", "AsyncLeaderLatch", "AsyncCounter", "AsyncBarrier", "AsyncDoubleBarrier",
    "AsyncParty", "AsyncShallowParty", "AsyncQueue", "AsyncLockingQueue", "AsyncDataWatch",
    "AsyncChildrenWatch", "AsyncTreeCache", "walk_async", "get_tree_async", "delete_tree_async",
    "AsyncPersistentNode", "AsyncPersistentTtlNode", "AsyncPersistentWatcher",
    "AsyncGroupMember", "AsyncSharedValue", "AsyncSharedCount",
    "AsyncLeaderSelector", "AsyncServiceDiscovery", "AsyncServiceProvider",
]
