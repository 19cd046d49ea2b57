"""A counting semaphore: up to ``max_leases`` holders at once.

Layout (Curator's InterProcessSemaphoreV2): ``<path>/locks`` is a
:class:`~zkfast.recipe.Lock` that lines would-be holders up, ``<path>/leases``
holds one protected ephemeral sequential node per lease. Only the lock's
holder looks at the leases (one children watch), so a release wakes one
waiter, never a herd; everyone else waits in the lock's queue, each watching
its predecessor. The lease nodes whose sequence is among the first
``max_leases`` are the holders. ``<path>``'s data records ``max_leases``; a
semaphore opened with a different number raises ``ValueError``.

>>> sem = Semaphore(zk, "/pools/db", "worker-3", max_leases=4)   # doctest: +SKIP
>>> with sem:                                                    # doctest: +SKIP
...     use_one_of_four_connections()
"""

from __future__ import annotations

from typing import Any, Callable, Generator, List, Optional, Sequence

from ..errors import (
    CancelledError,
    ConnectionLossError,
    LockDeadlockError,
    NodeExistsError,
    NoNodeError,
    NotLockedError,
    SessionExpiredError,
    ZooKeeperError,
)
from ..events import State, WatchedEvent
from ..paths import basename, validate_path
from ..steps import PROTECTED_PREFIX, Batch
from ._drivers import ASYNC, SYNC, Flavor, Wait, drive, run_async, run_sync
from ._holder import Holder
from ._names import join, new_guid, seq_of, to_bytes
from ._nodes import (
    acl_or_default,
    create_protected,
    deadline_of,
    discard_prefixed,
    ensure_connected,
    ensure_path,
    remaining,
)
from .lock import AsyncLock, Lock

__all__ = ["Semaphore", "AsyncSemaphore"]


class _SemaphoreCore(Holder):
    _flavor: Flavor = SYNC
    _lock_cls: Any = Lock

    def __init__(self, client: Any, path: str, identifier: Any = None, max_leases: int = 1, *,
                 acl: Optional[Sequence[Any]] = None,
                 listener: Optional[Callable[[State], Any]] = None,
                 on_lost: Optional[Callable[[], Any]] = None) -> None:
        self._flavor.check(client, type(self).__name__)
        validate_path(path)
        if not isinstance(max_leases, int) or max_leases < 1:
            raise ValueError("max_leases must be a positive int")
        self.path = path
        self.leases_path = join(path, "leases")
        self.identifier = identifier
        self.data = to_bytes(identifier)
        self.max_leases = max_leases
        self.acl = acl
        self._init_holder(client, listener, on_lost)
        self._lock = self._lock_cls(client, join(path, "locks"), identifier, acl=acl)
        self.cancelled = False
        self._wake = self._flavor.event()
        self._guid = ""

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.path!r} max_leases={self.max_leases} "
                f"{'held' if self.is_acquired else 'free'}>")

    def _check_max_gen(self) -> Generator[Any, Any, None]:
        engine = self.client.requests
        want = str(self.max_leases).encode()
        while True:
            try:
                data, _ = yield engine.op_get(self.path)
            except NoNodeError:
                try:
                    yield from ensure_path(self.client, self.path.rsplit("/", 1)[0] or "/", None)
                    yield engine.op_create(self.path, want, acl_or_default(self.client, self.acl))
                    return
                except NodeExistsError:
                    continue
            except ConnectionLossError:
                continue
            if not data:
                yield engine.op_set(self.path, want)
                return
            if data != want:
                raise ValueError(f"semaphore {self.path} has max_leases {data.decode()!r}, "
                                 f"not {self.max_leases}")
            return

    def _acquire_gen(self, blocking: bool, timeout: Optional[float]) -> Generator[Any, Any, bool]:
        deadline = deadline_of(timeout)
        with self._mutex:
            if self._owned or self._acquiring:
                raise LockDeadlockError(path=self.path)
            self._acquiring = True
            self.cancelled = False
        self._guid = new_guid()
        try:
            yield from self._check_max_gen()
            if not (yield from self._lock._acquire_gen(blocking, remaining(deadline))):
                self._acquiring = False
                return False
            got = yield from self._lease_loop(blocking, deadline)
        except Exception:
            self._acquiring = False
            yield from self._cleanup_gen()
            raise
        if not got:
            self._acquiring = False
            yield from self._cleanup_gen(lease=True)
        else:
            yield from self._release_lock_gen()
        return got

    def _lease_loop(self, blocking: bool, deadline: Optional[float]) -> Generator[Any, Any, bool]:
        client = self.client
        engine = client.requests
        node: Optional[str] = None
        sid = 0
        while True:
            if self.cancelled:
                raise CancelledError(path=self.path)
            if not (yield from ensure_connected(client, deadline)):
                return False
            if node is None:
                try:
                    node = yield from create_protected(client, join(self.leases_path, "lease-"),
                                                       self.data, self.acl, self._guid,
                                                       deadline=deadline)
                except SessionExpiredError:
                    continue
                if node is None:
                    return False
                sid = client.session_id
                self.node = node
            self._wake.clear()
            try:
                children = yield engine.op_get_children(self.leases_path, self._on_watch)
            except ConnectionLossError:
                if remaining(deadline) == 0:
                    return False
                continue
            except SessionExpiredError:
                node = None
                continue
            name = basename(node)
            if name not in children:
                node = None
                continue
            leases = sorted((c for c in children if seq_of(c) >= 0), key=seq_of)
            if leases.index(name) < self.max_leases and client.session_id == sid:
                self._mark_held(node, sid)
                return True
            if not blocking:
                return False
            left = remaining(deadline)
            if left == 0:
                return False
            if self.cancelled:  # cancel() may have set _wake before the clear() above
                raise CancelledError(path=self.path)
            yield Wait(self._wake, left)

    def _release_lock_gen(self) -> Generator[Any, Any, None]:
        if self._lock._owned:
            try:
                yield from self._lock._release_gen()
            except ZooKeeperError:
                pass

    def _cleanup_gen(self, lease: bool = True) -> Generator[Any, Any, None]:
        if lease and self._guid:
            try:
                yield from discard_prefixed(self.client, self.leases_path,
                                            f"{PROTECTED_PREFIX}{self._guid}-")
            except ZooKeeperError:
                pass
        self.node = None
        yield from self._release_lock_gen()

    def _release_gen(self) -> Generator[Any, Any, bool]:
        node, held = self._take_for_release(lambda: NotLockedError(path=self.path))
        if node is None or not held:
            return False
        yield from self._delete_node_gen(node)
        return True

    def _holders_gen(self) -> Generator[Any, Any, List[str]]:
        engine = self.client.requests
        try:
            children = yield engine.op_get_children(self.leases_path)
        except NoNodeError:
            return []
        leases = sorted((c for c in children if seq_of(c) >= 0), key=seq_of)[:self.max_leases]
        results = yield Batch([engine.op_get(join(self.leases_path, c)) for c in leases])
        return [r[0].decode("utf-8", "replace") for r in results
                if not isinstance(r, BaseException)]

    def _on_watch(self, event: WatchedEvent) -> None:
        self._wake.set()

    def _abandon(self) -> None:
        self._acquiring = False
        if self._guid:
            drive(self.client, discard_prefixed(self.client, self.leases_path,
                                                f"{PROTECTED_PREFIX}{self._guid}-"))
        self._lock._abandon()
        with self._mutex:
            self.is_acquired = self._owned = False
        self._tracker.stop()


class Semaphore(_SemaphoreCore):
    """Up to ``max_leases`` concurrent holders of ``path`` (kazoo/Curator style).

    ``acquire(blocking=True, timeout=None) -> bool``, ``release()``, context
    manager, ``lease_holders()``; session loss is reported exactly as for
    :class:`~zkfast.recipe.Lock` (``listener``, ``on_lost``, ``lost``).

    >>> sem = Semaphore(zk, "/pools/db", max_leases=4)   # doctest: +SKIP
    >>> if sem.acquire(timeout=10):                      # doctest: +SKIP
    ...     try: query()
    ...     finally: sem.release()
    """

    def acquire(self, blocking: bool = True, timeout: Optional[float] = None) -> bool:
        return run_sync(self.client, self._acquire_gen(blocking, timeout), self._abandon)

    def release(self) -> bool:
        return run_sync(self.client, self._release_gen())

    def lease_holders(self) -> List[str]:
        """Identifiers of the current lease holders, in order."""
        return run_sync(self.client, self._holders_gen())

    def cancel(self) -> None:
        self.cancelled = True
        self._lock.cancel()
        self._wake.set()
        self._wake.set()

    def __enter__(self) -> Semaphore:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._owned:
            self.release()


class AsyncSemaphore(_SemaphoreCore):
    """:class:`Semaphore` for :class:`~zkfast.AsyncClient`."""

    _flavor = ASYNC
    _lock_cls = AsyncLock

    async def acquire(self, blocking: bool = True, timeout: Optional[float] = None) -> bool:
        return await run_async(self.client, self._acquire_gen(blocking, timeout), self._abandon)

    async def release(self) -> bool:
        return await run_async(self.client, self._release_gen())

    async def lease_holders(self) -> List[str]:
        return await run_async(self.client, self._holders_gen())

    def cancel(self) -> None:
        self.cancelled = True
        self._lock.cancel()
        self._wake.set()
        self._wake.set()

    async def __aenter__(self) -> AsyncSemaphore:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._owned:
            await self.release()
