"""Distributed queues: :class:`Queue` (take-and-delete) and
:class:`LockingQueue` (take, work, then ``consume()``; an item whose taker
dies goes back to the queue).

Items are persistent sequential nodes ``entry-<priority:03d>-<seq>`` served
lowest priority number first, then in insertion order (kazoo's layout), with
a protected ``_c_<guid>-`` prefix so a ``put`` whose reply is lost is found
again instead of enqueued twice; ``put_all`` is one atomic multi.

Delivery: a :class:`Queue` ``get`` whose delete reply is lost and finds the
item gone returns it (it is ours, unless another consumer raced us to it in
that same instant: at-least-once). :class:`LockingQueue` takes an item by
creating an ephemeral ``taken/<entry>`` node first, so nothing is lost when
a consumer dies mid-work.

>>> q = LockingQueue(zk, "/jobs")            # doctest: +SKIP
>>> q.put(b"job-1", priority=10)             # doctest: +SKIP
>>> job = q.get(timeout=30)                  # doctest: +SKIP
>>> run(job); q.consume()                    # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Generator, List, Optional, Sequence, Tuple

from ..errors import (
    ConnectionLossError,
    NodeExistsError,
    NoNodeError,
    SessionExpiredError,
    TransactionFailedError,
)
from ..events import WatchedEvent
from ..paths import validate_path
from ..records import Stat
from ..steps import PROTECTED_PREFIX
from ..transaction import Create, Delete
from ._drivers import ASYNC, SYNC, Flavor, Wait, run_async, run_sync
from ._names import join, new_guid, seq_of, strip_protected
from ._nodes import (
    acl_or_default,
    create_protected,
    deadline_of,
    delete_quietly,
    ensure_connected,
    ensure_path,
    remaining,
)

__all__ = ["Queue", "LockingQueue", "AsyncQueue", "AsyncLockingQueue"]


def _entry_key(name: str) -> Tuple[int, int]:
    """(priority, sequence) of ``[_c_<guid>-]entry-PPP-SSSSSSSSSS``."""
    bare = strip_protected(name)
    try:
        return (int(bare[6:9]), seq_of(bare))
    except ValueError:
        return (999, seq_of(bare))


def _is_entry(name: str) -> bool:
    return strip_protected(name).startswith("entry-") and seq_of(name) >= 0


def _check_priority(priority: int) -> int:
    if not isinstance(priority, int) or not 0 <= priority <= 999:
        raise ValueError("priority must be an int from 0 to 999")
    return priority


def _check_value(value: Any) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError("queue items must be bytes")
    return bytes(value)


class _QueueBase:
    _flavor: Flavor = SYNC

    def __init__(self, client: Any, path: str, *, acl: Optional[Sequence[Any]] = None) -> None:
        self._flavor.check(client, type(self).__name__)
        validate_path(path)
        self.client = client
        self.path = path
        self.acl = acl
        self.entries_path = path

    def _put_gen(self, value: bytes, priority: int) -> Generator[Any, Any, str]:
        value = _check_value(value)
        prefix = join(self.entries_path, f"entry-{_check_priority(priority):03d}-")
        path = yield from create_protected(self.client, prefix, value, self.acl, new_guid(),
                                           ephemeral=False)
        assert path is not None  # no deadline: it waits for the connection
        return path

    def _put_all_gen(self, values: Sequence[bytes], priority: int) -> Generator[Any, Any, List[str]]:
        vals = [_check_value(v) for v in values]
        if not vals:
            return []
        guid = new_guid()
        mark = f"{PROTECTED_PREFIX}{guid}-"
        name = f"{mark}entry-{_check_priority(priority):03d}-"
        ops = [Create(join(self.entries_path, name), v, self.acl, sequence=True) for v in vals]
        engine = self.client.requests
        retried = False
        while True:
            try:
                created: List[str] = yield engine.op_multi(ops)
                return created
            except ConnectionLossError:
                retried = True
            except TransactionFailedError as e:
                if isinstance(e.failure, NoNodeError):
                    yield from ensure_path(self.client, self.entries_path, None)
                    continue
                raise
            if retried:  # did the lost multi apply? (all or nothing: look for our guid)
                try:
                    children = yield engine.op_get_children(self.entries_path)
                except (ConnectionLossError, NoNodeError):
                    continue
                mine = sorted((c for c in children if c.startswith(mark)), key=seq_of)
                if mine:
                    return [join(self.entries_path, c) for c in mine]

    def _sorted_entries_gen(self, watch: Any = None) -> Generator[Any, Any, List[str]]:
        try:
            children = yield self.client.requests.op_get_children(self.entries_path, watch)
        except NoNodeError:
            if watch is not None:  # wait for the queue to appear
                yield from ensure_path(self.client, self.entries_path, None)
                return (yield from self._sorted_entries_gen(watch))
            return []
        return sorted((c for c in children if _is_entry(c)), key=_entry_key)

    def _len_gen(self) -> Generator[Any, Any, int]:
        return len((yield from self._sorted_entries_gen()))


class _QueueCore(_QueueBase):
    def _get_gen(self) -> Generator[Any, Any, Optional[bytes]]:
        engine = self.client.requests
        data: Optional[bytes]
        while True:
            names = yield from self._sorted_entries_gen()
            if not names:
                return None
            for name in names:
                path = join(self.path, name)
                try:
                    data, _ = yield engine.op_get(path)
                except NoNodeError:
                    continue
                while True:
                    try:
                        yield engine.op_delete(path)
                        return data
                    except NoNodeError:
                        break  # another consumer took it
                    except ConnectionLossError:
                        try:
                            if (yield engine.op_exists(path)) is None:
                                return data  # gone: our delete applied (see module doc)
                        except ConnectionLossError:
                            pass


class Queue(_QueueCore):
    """A priority queue of byte strings at ``path`` (kazoo's Queue).

    ``put(value, priority=100)`` (lower numbers first), ``put_all(values,
    priority)``, ``get()`` takes the next item or returns None, ``len(q)``.

    >>> q = Queue(zk, "/q"); q.put(b"a"); q.get()   # doctest: +SKIP
    b'a'
    """

    def put(self, value: bytes, priority: int = 100) -> str:
        return run_sync(self.client, self._put_gen(value, priority))

    def put_all(self, values: Sequence[bytes], priority: int = 100) -> List[str]:
        return run_sync(self.client, self._put_all_gen(values, priority))

    def get(self) -> Optional[bytes]:
        return run_sync(self.client, self._get_gen())

    def __len__(self) -> int:
        return run_sync(self.client, self._len_gen())


class AsyncQueue(_QueueCore):
    """:class:`Queue` for :class:`~zkfast.AsyncClient` (``await q.length()``)."""

    _flavor = ASYNC

    async def put(self, value: bytes, priority: int = 100) -> str:
        return await run_async(self.client, self._put_gen(value, priority))

    async def put_all(self, values: Sequence[bytes], priority: int = 100) -> List[str]:
        return await run_async(self.client, self._put_all_gen(values, priority))

    async def get(self) -> Optional[bytes]:
        return await run_async(self.client, self._get_gen())

    async def length(self) -> int:
        return await run_async(self.client, self._len_gen())


class _LockingQueueCore(_QueueBase):
    def __init__(self, client: Any, path: str, *, acl: Optional[Sequence[Any]] = None) -> None:
        super().__init__(client, path, acl=acl)
        self.entries_path = join(path, "entries")
        self.taken_path = join(path, "taken")
        self.id = new_guid().encode()
        #: the entry name this instance holds, if any
        self.processing: Optional[str] = None
        self._wake = self._flavor.event()

    def _on_watch(self, event: WatchedEvent) -> None:
        self._wake.set()

    def holds_lock(self) -> bool:
        return self.processing is not None

    def _take_gen(self, name: str) -> Generator[Any, Any, bool]:
        """Claim ``name`` with an ephemeral ``taken/<name>`` node holding our id."""
        engine = self.client.requests
        taken = join(self.taken_path, name)
        data: Optional[bytes]
        stat: Stat
        while True:
            try:
                yield engine.op_create(taken, self.id, acl_or_default(self.client, self.acl), ephemeral=True)
                return True
            except NoNodeError:
                yield from ensure_path(self.client, self.taken_path, None)
            except NodeExistsError:
                pass
            except ConnectionLossError:
                pass
            try:  # exists already (or unknown): is it ours?
                data, stat = yield engine.op_get(taken)
            except NoNodeError:
                continue
            except ConnectionLossError:
                continue
            return data == self.id and stat.ephemeral_owner == self.client.session_id

    def _get_gen(self, timeout: Optional[float]) -> Generator[Any, Any, Optional[bytes]]:
        if self.processing is not None:
            raise RuntimeError("this LockingQueue already holds an item: consume() or release() it")
        deadline = deadline_of(timeout)
        engine = self.client.requests
        data: Optional[bytes]
        while True:
            if not (yield from ensure_connected(self.client, deadline)):
                return None
            self._wake.clear()
            try:
                names = yield from self._sorted_entries_gen(self._on_watch)
                try:
                    taken = set((yield engine.op_get_children(self.taken_path, self._on_watch)))
                except NoNodeError:
                    yield from ensure_path(self.client, self.taken_path, None)
                    continue
            except ConnectionLossError:
                continue
            for name in names:
                if name in taken:
                    continue
                if not (yield from self._take_gen(name)):
                    continue
                try:
                    data, _ = yield engine.op_get(join(self.entries_path, name))
                except NoNodeError:  # consumed meanwhile by a holder that lost its claim
                    yield from delete_quietly(self.client, join(self.taken_path, name))
                    continue
                self.processing = name
                return data
            left = remaining(deadline)
            if left == 0:
                return None
            yield Wait(self._wake, left)

    def _consume_gen(self) -> Generator[Any, Any, bool]:
        """Remove the held item; False if our claim had been lost (our session
        ended, so the item went back to the queue and may be someone else's)."""
        name = self.processing
        if name is None:
            return False
        engine = self.client.requests
        entry, taken = join(self.entries_path, name), join(self.taken_path, name)
        retried = False
        while True:
            try:
                data, stat = yield engine.op_get(taken)
                ours = data == self.id and stat.ephemeral_owner == self.client.session_id
            except NoNodeError:
                ours = False
                if retried:  # our lost multi may have applied
                    try:
                        ours = (yield engine.op_exists(entry)) is None
                    except ConnectionLossError:
                        continue
                    if ours:
                        self.processing = None
                        return True
            except ConnectionLossError:
                continue
            except SessionExpiredError:  # our session (and so our claim) ended meanwhile
                ours = False
            if not ours:
                self.processing = None
                return False
            try:
                yield engine.op_multi([Delete(entry), Delete(taken)])
            except ConnectionLossError:
                retried = True
                continue
            except TransactionFailedError:  # the entry was deleted by hand: drop our claim
                yield from delete_quietly(self.client, taken)
            self.processing = None
            return True

    def _release_gen(self) -> Generator[Any, Any, bool]:
        name = self.processing
        if name is None:
            return False
        yield from delete_quietly(self.client, join(self.taken_path, name))
        self.processing = None
        return True


class LockingQueue(_LockingQueueCore):
    """A queue whose items are held while being worked on (kazoo's LockingQueue).

    ``get(timeout=None)`` blocks until it can take an item and returns its
    value (None on timeout); the item stays in the queue, claimed by this
    instance, until ``consume()`` removes it or ``release()`` hands it back
    (also what happens when our session dies). One held item at a time;
    ``consume()`` returns False if the claim was lost meanwhile. Waiting
    consumers all wake on each put (they race for the item).

    >>> q = LockingQueue(zk, "/jobs")                        # doctest: +SKIP
    >>> job = q.get(); work(job); q.consume()                # doctest: +SKIP
    """

    def put(self, value: bytes, priority: int = 100) -> str:
        return run_sync(self.client, self._put_gen(value, priority))

    def put_all(self, values: Sequence[bytes], priority: int = 100) -> List[str]:
        return run_sync(self.client, self._put_all_gen(values, priority))

    def get(self, timeout: Optional[float] = None) -> Optional[bytes]:
        return run_sync(self.client, self._get_gen(timeout))

    def consume(self) -> bool:
        return run_sync(self.client, self._consume_gen())

    def release(self) -> bool:
        return run_sync(self.client, self._release_gen())

    def __len__(self) -> int:
        return run_sync(self.client, self._len_gen())


class AsyncLockingQueue(_LockingQueueCore):
    """:class:`LockingQueue` for :class:`~zkfast.AsyncClient`."""

    _flavor = ASYNC

    async def put(self, value: bytes, priority: int = 100) -> str:
        return await run_async(self.client, self._put_gen(value, priority))

    async def put_all(self, values: Sequence[bytes], priority: int = 100) -> List[str]:
        return await run_async(self.client, self._put_all_gen(values, priority))

    async def get(self, timeout: Optional[float] = None) -> Optional[bytes]:
        return await run_async(self.client, self._get_gen(timeout))

    async def consume(self) -> bool:
        return await run_async(self.client, self._consume_gen())

    async def release(self) -> bool:
        return await run_async(self.client, self._release_gen())

    async def length(self) -> int:
        return await run_async(self.client, self._len_gen())
