"""Locks: an exclusive :class:`Lock`, shared/exclusive :class:`ReadLock` /
:class:`WriteLock`, and the all-or-nothing :class:`MultiLock`.

Each contender creates a *protected* ephemeral sequential node
``<path>/_c_<guid>-lock-<seq>`` (``__READ__``/``__WRIT__`` for the read/write
locks -- the names Curator and go-zookeeper use, so their locks and ours
exclude each other). The lowest sequence holds the lock; every other waiter
watches only the node just before it (a reader: the nearest writer before
it), so a release wakes one waiter, not a herd. A create whose reply is lost
is found again by its guid instead of being left behind, and an acquire that
gives up (timeout, cancel, error) deletes every node of its attempt.

The holder learns when its session is in doubt or gone: ``listener(state)``
gets ``State.SUSPENDED`` (connection lost: stop acting until it comes back),
``State.CONNECTED`` (same session again: still held) and ``State.EXPIRED``
(the lock is lost: the session expired, the client closed, or the
connection stayed down for a whole session timeout); then ``lost`` is set,
``on_lost()`` runs and ``is_acquired`` is False.

>>> lock = Lock(zk, "/app/lock", "worker-1")          # doctest: +SKIP
>>> with lock:                                        # doctest: +SKIP
...     do_work()
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Callable, Generator, List, Optional, Sequence

from ..errors import (
    CancelledError,
    ConnectionLossError,
    LockDeadlockError,
    NoNodeError,
    NotLockedError,
    RequestTimeoutError,
    SessionExpiredError,
    ZooKeeperError,
)
from ..events import EventType, State, WatchedEvent
from ..paths import basename, validate_path
from ..steps import PROTECTED_PREFIX, Batch
from ._drivers import ASYNC, SYNC, Flavor, Wait, drive, run_async, run_sync, spawn
from ._holder import Holder
from ._names import join, new_guid, queue_order, strip_protected, to_bytes
from ._nodes import (
    create_protected,
    deadline_of,
    delete_quietly,
    discard_prefixed,
    ensure_connected,
    remaining,
    timed,
)

__all__ = ["Lock", "ReadLock", "WriteLock", "MultiLock",
           "AsyncLock", "AsyncReadLock", "AsyncWriteLock", "AsyncMultiLock",
           "attempt_revoke", "REVOKE_MESSAGE"]

log = logging.getLogger("zkfast.recipe.lock")


def _is_reader(name: str) -> bool:
    # A name we cannot parse counts as a writer: it may delay a reader, never admit one early.
    return strip_protected(name).startswith("__READ__")


def sorted_contenders(children: Sequence[str]) -> List[str]:
    """Lock contender names among ``children``, in queue order: every
    sequential child, whoever made it (Curator's and go-zookeeper's rule)."""
    return queue_order(children)


class _LockCore(Holder):
    """The protocol of every lock here, as step generators (see ``_base``)."""

    _flavor: Flavor = SYNC
    node_name = "lock-"
    shared = False  # a reader: only blocked by writers before it

    def __init__(self, client: Any, path: str, identifier: Any = None, *,
                 acl: Optional[Sequence[Any]] = None,
                 listener: Optional[Callable[[State], Any]] = None,
                 on_lost: Optional[Callable[[], Any]] = None,
                 on_revoke: Optional[Callable[[Any], Any]] = None) -> None:
        self._flavor.check(client, type(self).__name__)
        validate_path(path)
        if on_revoke is not None and not callable(on_revoke):
            raise TypeError("on_revoke must be callable")
        #: ``on_revoke(lock)``: someone asked this contender to let go (see :func:`attempt_revoke`)
        self.on_revoke = on_revoke
        self._revoked_node: Optional[str] = None
        self.path = path
        self.identifier = identifier
        self.data = to_bytes(identifier)
        self.acl = acl
        self._init_holder(client, listener, on_lost)
        self.cancelled = False
        #: watch notifications this instance received while waiting
        self.wakeups = 0
        #: True while blocked on its predecessor's watch
        self.waiting = False
        self._wake = self._flavor.event()
        self._guid = ""

    def __repr__(self) -> str:
        state = "held" if self.is_acquired else ("acquiring" if self._acquiring else "free")
        return f"<{type(self).__name__} {self.path!r} {state}>"

    # ------------------------------------------------------------ protocol

    def _acquire_gen(self, blocking: bool, timeout: Optional[float]) -> Generator[Any, Any, bool]:
        deadline = deadline_of(timeout)
        with self._mutex:
            if self.is_acquired or self._acquiring:
                raise LockDeadlockError(path=self.path)
            self._acquiring = True
            self.cancelled = False
        self._guid = new_guid()
        try:
            got = yield from self._acquire_loop(blocking, deadline)
        except Exception:
            self._acquiring = False
            yield from self._discard_attempt()
            raise
        if not got:
            self._acquiring = False
            yield from self._discard_attempt()
        return got

    def _acquire_loop(self, blocking: bool, deadline: Optional[float]) -> Generator[Any, Any, bool]:
        client = self.client
        node: Optional[str] = None
        sid = 0
        while True:
            if self.cancelled or self._should_abort():
                raise CancelledError(path=self.path)
            if not (yield from ensure_connected(client, deadline)):
                return False
            if node is None:
                try:
                    node = yield from create_protected(client, join(self.path, self.node_name),
                                                       self.data, self.acl, self._guid,
                                                       deadline=deadline)
                except SessionExpiredError:
                    continue  # the client is making a new session; try again in it
                if node is None:
                    return False
                sid = client.session_id
                self.node = node
            self._wake.clear()
            try:
                if self.on_revoke is not None:
                    yield from self._revocation_gen(node)
                verdict = yield from self._check(node, deadline)
            except (ConnectionLossError, RequestTimeoutError):
                if remaining(deadline) == 0:
                    return False
                continue  # requests wait for the reconnect; no spinning
            except SessionExpiredError:
                node = None
                continue
            if verdict is None:  # our node is gone: the session that owned it ended
                node = None
                continue
            if verdict:
                if client.session_id != sid:
                    node = None
                    continue
                self._mark_held(node, sid)
                return True
            if not blocking:
                return False
            left = remaining(deadline)
            if left == 0:
                return False
            if self.cancelled or self._should_abort():  # woken before the clear() above
                raise CancelledError(path=self.path)
            self.waiting = True
            try:
                yield Wait(self._wake, left)
            finally:
                self.waiting = False

    def _check(self, node: str, deadline: Optional[float] = None
               ) -> Generator[Any, Any, Optional[bool]]:
        """True: ours is first; False: waiting, a watch is set on our blocker;
        None: our node no longer exists. With a ``deadline`` the requests keep
        it (see :func:`timed`): one issued just as the connection drops would
        otherwise wait for the reconnect."""
        engine = self.client.requests
        name = basename(node)
        while True:
            children = yield timed(engine.op_get_children(self.path), deadline)
            if name not in children:
                return None
            contenders = sorted_contenders(children)
            blocker = self._blocker(contenders, contenders.index(name))
            if blocker is None:
                return True
            try:
                # get (not exists): a vanished blocker leaves no watch behind
                yield timed(engine.op_get(join(self.path, blocker), self._on_watch), deadline)
                return False
            except NoNodeError:
                continue

    # ------------------------------------------------------------ revocation

    def _revocation_gen(self, node: str) -> Generator[Any, Any, None]:
        """Read our node with a data watch: a revoker writes ``__REVOKE__`` into
        it (Curator's ``Revoker.attemptRevoke``); the watch re-arms itself."""
        try:
            data, _ = yield self.client.requests.op_get(node, self._on_revoke_watch)
        except NoNodeError:
            return  # gone: the caller finds out
        if data == REVOKE_MESSAGE and node == self.node:
            self._revoke_requested(node)

    def _on_revoke_watch(self, event: WatchedEvent) -> None:
        node = self.node
        if event.type != EventType.NODE_DATA_CHANGED or node is None or event.path != node:
            return
        drive(self.client, self._revocation_gen(node))

    def _revoke_requested(self, node: str) -> None:
        with self._mutex:
            if self._revoked_node == node:
                return  # once per node
            self._revoked_node = node
        fn = self.on_revoke
        if fn is None:
            return
        try:
            r = fn(self)
            if inspect.isawaitable(r):
                spawn(r)
        except Exception:  # noqa: BLE001
            log.exception("on_revoke callback failed")

    def _participant_nodes_gen(self) -> Generator[Any, Any, List[str]]:
        try:
            children = yield self.client.requests.op_get_children(self.path)
        except NoNodeError:
            return []
        return [join(self.path, c) for c in sorted_contenders(children)]

    def _should_abort(self) -> bool:
        """An owner's standing request to give up (a recipe built on the lock,
        e.g. a closed LeaderSelector): unlike ``cancelled`` it is not reset
        by a new ``acquire``, so it cannot be lost in a race with one."""
        return False

    def _blocker(self, contenders: List[str], idx: int) -> Optional[str]:
        if not self.shared:
            return contenders[idx - 1] if idx > 0 else None
        for j in range(idx - 1, -1, -1):
            if not _is_reader(contenders[j]):
                return contenders[j]
        return None

    def _discard_attempt(self) -> Generator[Any, Any, None]:
        if self._guid:
            try:
                yield from discard_prefixed(self.client, self.path,
                                            f"{PROTECTED_PREFIX}{self._guid}-")
            except ZooKeeperError as e:  # best effort; ephemeral nodes die with the session
                log.debug("cleanup of %s failed: %s", self.path, e)
        self.node = None

    def _release_gen(self) -> Generator[Any, Any, bool]:
        node, held = self._take_for_release(lambda: NotLockedError(path=self.path))
        if node is None or not held:
            return False  # lost earlier; its cleanup is already under way
        yield from self._delete_node_gen(node)
        return True

    def _contenders_gen(self) -> Generator[Any, Any, List[str]]:
        engine = self.client.requests
        try:
            children = yield engine.op_get_children(self.path)
        except NoNodeError:
            return []
        names = sorted_contenders(children)
        results = yield Batch([engine.op_get(join(self.path, c)) for c in names])
        return [r[0].decode("utf-8", "replace") for r in results
                if not isinstance(r, BaseException)]

    # ------------------------------------------------------------ callbacks

    def _on_watch(self, event: WatchedEvent) -> None:
        if event.type not in (EventType.DATA_WATCH_REMOVED, EventType.CHILD_WATCH_REMOVED):
            self.wakeups += 1
        self._wake.set()

    def _abandon(self) -> None:
        """The caller was interrupted mid-way: clean up in the background."""
        self._acquiring = False
        guid = self._guid
        with self._mutex:
            held = self.is_acquired
            self.is_acquired = self._owned = False
        self._tracker.stop()
        if guid:
            drive(self.client, discard_prefixed(self.client, self.path,
                                                f"{PROTECTED_PREFIX}{guid}-"))
        elif held and self.node:
            drive(self.client, delete_quietly(self.client, self.node))
        self.node = None


class Lock(_LockCore):
    """An exclusive lock over ``path`` (Curator/go-zookeeper compatible nodes).

    ``acquire(blocking=True, timeout=None)`` returns True once held, False on
    timeout (or at once when ``blocking=False`` and it is taken); acquiring
    again on the same instance raises :class:`~zkfast.LockDeadlockError`,
    releasing what this instance does not hold raises
    :class:`~zkfast.NotLockedError`. ``cancel()`` (from another thread) makes a
    pending acquire raise :class:`~zkfast.CancelledError`. ``lock()`` /
    ``unlock()`` are go-zookeeper's names.

    >>> lock = Lock(zk, "/locks/report", identifier="host-7")   # doctest: +SKIP
    >>> if lock.acquire(timeout=5):                             # doctest: +SKIP
    ...     try:
    ...         build_report()
    ...     finally:
    ...         lock.release()
    """

    def acquire(self, blocking: bool = True, timeout: Optional[float] = None) -> bool:
        return run_sync(self.client, self._acquire_gen(blocking, timeout), self._abandon)

    def release(self) -> bool:
        """Give the lock up; True if it was still held (False if it had been lost)."""
        return run_sync(self.client, self._release_gen())

    def contenders(self) -> List[str]:
        """Identifiers of everyone holding or waiting, in queue order."""
        return run_sync(self.client, self._contenders_gen())

    def participant_nodes(self) -> List[str]:
        """Paths of everyone's nodes (holder first): what :func:`attempt_revoke` takes."""
        return run_sync(self.client, self._participant_nodes_gen())

    def cancel(self) -> None:
        """Make a pending ``acquire`` (in another thread) give up."""
        self.cancelled = True
        self._wake.set()

    def lock(self) -> None:
        """go-zookeeper's ``Lock()``: block until held."""
        self.acquire()

    def unlock(self) -> None:
        """go-zookeeper's ``Unlock()``."""
        self.release()

    def __enter__(self) -> Lock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._owned:
            self.release()


class WriteLock(Lock):
    """The exclusive side of a read/write lock on ``path`` (``__WRIT__`` nodes):
    waits for every earlier reader and writer.

    >>> with WriteLock(zk, "/cfg/rw"):                  # doctest: +SKIP
    ...     rewrite_config()
    """

    node_name = "__WRIT__"


class ReadLock(Lock):
    """The shared side of a read/write lock on ``path`` (``__READ__`` nodes):
    any number of readers hold it together; only earlier writers block one.

    >>> with ReadLock(zk, "/cfg/rw"):                   # doctest: +SKIP
    ...     read_config()
    """

    node_name = "__READ__"
    shared = True


class AsyncLock(_LockCore):
    """:class:`Lock` for :class:`~zkfast.AsyncClient`; the same protocol, awaited.

    >>> async with AsyncLock(zk, "/locks/report"):      # doctest: +SKIP
    ...     await build_report()
    """

    _flavor = ASYNC

    async def acquire(self, blocking: bool = True, timeout: Optional[float] = None) -> bool:
        return await run_async(self.client, self._acquire_gen(blocking, timeout), self._abandon)

    async def release(self) -> bool:
        return await run_async(self.client, self._release_gen())

    async def contenders(self) -> List[str]:
        return await run_async(self.client, self._contenders_gen())

    async def participant_nodes(self) -> List[str]:
        return await run_async(self.client, self._participant_nodes_gen())

    def cancel(self) -> None:
        """Make a pending ``acquire`` give up (call it on the event loop)."""
        self.cancelled = True
        self._wake.set()

    lock = acquire
    unlock = release

    async def __aenter__(self) -> AsyncLock:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._owned:
            await self.release()


class AsyncWriteLock(AsyncLock):
    """:class:`WriteLock` for :class:`~zkfast.AsyncClient`."""

    node_name = "__WRIT__"


class AsyncReadLock(AsyncLock):
    """:class:`ReadLock` for :class:`~zkfast.AsyncClient`."""

    node_name = "__READ__"
    shared = True


# ---------------------------------------------------------------- revocation

#: What a revoker writes into a contender's node (Curator's LockInternals.REVOKE_MESSAGE).
REVOKE_MESSAGE = b"__REVOKE__"


def attempt_revoke(client: Any, node: str) -> Any:
    """Ask the holder (or waiter) of the lock node ``node`` to let go, the way
    Curator's ``Revoker.attemptRevoke`` does: write ``__REVOKE__`` into it.
    A contender made with ``on_revoke`` (zkfast) or ``makeRevocable``
    (Curator) is told; it decides what to do (usually: release). Returns
    whether the node existed (awaitable on an AsyncClient). Revocation is a
    request, not a takeover: exclusion still rests on the node alone.

    >>> attempt_revoke(zk, lock.participant_nodes()[0])     # doctest: +SKIP
    True
    """
    validate_path(node)

    def revoke() -> Generator[Any, Any, bool]:
        try:
            yield client.requests.op_set(node, REVOKE_MESSAGE)
        except NoNodeError:
            return False
        return True
    return client.run_steps(revoke())


# ---------------------------------------------------------------- MultiLock

class _MultiLockCore:
    _flavor: Flavor = SYNC
    _lock_cls: Any = Lock

    def __init__(self, client: Any, paths: Sequence[Any], identifier: Any = None, *,
                 acl: Optional[Sequence[Any]] = None,
                 on_lost: Optional[Callable[[], Any]] = None) -> None:
        self._flavor.check(client, type(self).__name__)
        self.client = client
        self.on_lost = on_lost
        self.lost = self._flavor.event()
        locks = []
        for p in paths:
            if isinstance(p, _LockCore):
                locks.append(p)
            else:
                locks.append(self._lock_cls(client, p, identifier, acl=acl,
                                            on_lost=self._one_lost))
        # One global order: two MultiLocks over overlapping paths never deadlock.
        self.locks: List[Any] = sorted(locks, key=lambda lk: lk.path)
        if len({lk.path for lk in self.locks}) != len(self.locks):
            raise ValueError("MultiLock paths must be distinct")

    @property
    def is_acquired(self) -> bool:
        return all(lk.is_acquired for lk in self.locks)

    def _one_lost(self) -> None:
        if not self.lost.is_set():
            self.lost.set()
            if self.on_lost is not None:
                try:
                    self.on_lost()
                except Exception:  # noqa: BLE001
                    log.exception("on_lost callback failed")

    def _acquire_gen(self, blocking: bool, timeout: Optional[float]) -> Generator[Any, Any, bool]:
        deadline = deadline_of(timeout)
        if any(lk._owned or lk._acquiring for lk in self.locks):
            raise LockDeadlockError(path=",".join(lk.path for lk in self.locks))
        self.lost.clear()
        held: List[Any] = []
        try:
            for lk in self.locks:
                left = remaining(deadline)
                ok = yield from lk._acquire_gen(blocking, left)
                if not ok:
                    break
                held.append(lk)
            else:
                return True
        except Exception:
            for lk in reversed(held):
                yield from lk._release_gen()
            raise
        for lk in reversed(held):  # all or nothing
            yield from lk._release_gen()
        return False

    def _release_gen(self) -> Generator[Any, Any, bool]:
        if not any(lk._owned for lk in self.locks):
            raise NotLockedError(path=",".join(lk.path for lk in self.locks))
        ok = True
        for lk in reversed(self.locks):
            if lk._owned:
                ok = (yield from lk._release_gen()) and ok
        return ok

    def _abandon(self) -> None:
        for lk in self.locks:
            if lk._owned or lk._acquiring:
                lk._abandon()


class MultiLock(_MultiLockCore):
    """Several locks taken as one: all of them, or none (Curator's
    InterProcessMultiLock). Locks are taken in path order, so overlapping
    MultiLocks cannot deadlock; a timeout covers the whole acquisition.
    ``lost`` is set when any of them is lost.

    >>> with MultiLock(zk, ["/locks/a", "/locks/b"]):    # doctest: +SKIP
    ...     move_between_a_and_b()
    """

    def acquire(self, blocking: bool = True, timeout: Optional[float] = None) -> bool:
        return run_sync(self.client, self._acquire_gen(blocking, timeout), self._abandon)

    def release(self) -> bool:
        return run_sync(self.client, self._release_gen())

    def __enter__(self) -> MultiLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        if any(lk._owned for lk in self.locks):
            self.release()


class AsyncMultiLock(_MultiLockCore):
    """:class:`MultiLock` for :class:`~zkfast.AsyncClient`."""

    _flavor = ASYNC
    _lock_cls = AsyncLock

    async def acquire(self, blocking: bool = True, timeout: Optional[float] = None) -> bool:
        return await run_async(self.client, self._acquire_gen(blocking, timeout), self._abandon)

    async def release(self) -> bool:
        return await run_async(self.client, self._release_gen())

    async def __aenter__(self) -> AsyncMultiLock:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if any(lk._owned for lk in self.locks):
            await self.release()
