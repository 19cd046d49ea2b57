"""kazoo's queues.

* :class:`Queue`: items are persistent sequential nodes
  ``<path>/entry-<priority:03d>-<seq>``; the lowest name (priority, then
  insertion order) comes out first; ``get`` reads and deletes it.
* :class:`LockingQueue`: items are ``<path>/entries/entry-<priority:03d>-<seq>``;
  a consumer claims one with an ephemeral ``<path>/taken/<item name>`` holding
  its 32-hex id, and ``consume()`` deletes both in one transaction, so an
  item whose consumer dies goes back to the queue.

>>> q = zk.LockingQueue("/jobs")          # doctest: +SKIP
>>> q.put(b"job-1")
>>> job = q.get(timeout=5)                # claimed
>>> q.consume()                           # done: gone for good
True
"""

from __future__ import annotations

import time
import uuid
from functools import partial
from typing import Any, List, Optional, Tuple

from ..exceptions import NodeExistsError, NoNodeError
from ..retry import ForceRetryError

__all__ = ["Queue", "LockingQueue"]


def _wake(event: Any, _watched: Any) -> None:
    event.set()


def _check_priority(priority: Any) -> None:
    if not isinstance(priority, int):
        raise TypeError("priority must be an int")
    if priority < 0 or priority > 999:
        raise ValueError("priority must be between 0 and 999")


class BaseQueue:
    """What both queues share: the structure nodes and ``len()``."""

    def __init__(self, client: Any, path: str) -> None:
        self.client = client
        self.path = path
        self._entries_path = path
        self.structure_paths: Tuple[str, ...] = (self.path,)
        self.ensured_path = False

    def _check_put_arguments(self, value: Any, priority: Any = 100) -> None:
        if not isinstance(value, bytes):
            raise TypeError("value must be a byte string")
        _check_priority(priority)

    def _ensure_paths(self) -> None:
        if not self.ensured_path:
            for path in self.structure_paths:
                self.client.ensure_path(path)
            self.ensured_path = True

    def __len__(self) -> int:
        """How many items (for a LockingQueue: claimed ones included)."""
        self._ensure_paths()
        _data, stat = self.client.retry(self.client.get, self._entries_path)
        return int(stat.children_count)


class Queue(BaseQueue):
    """A queue with priorities; an item is removed when it is taken (not
    reliable: a consumer that dies after ``get`` loses the item)."""

    prefix = "entry-"

    def __init__(self, client: Any, path: str) -> None:
        super().__init__(client, path)
        self._children: List[str] = []

    def get(self) -> Optional[bytes]:
        """Take the first item; None if the queue is empty."""
        self._ensure_paths()
        return self.client.retry(self._inner_get)  # type: ignore[no-any-return]

    def _inner_get(self) -> Optional[bytes]:
        if not self._children:
            self._children = sorted(self.client.retry(self.client.get_children, self.path))
        if not self._children:
            return None
        name = self._children[0]
        try:
            data, _stat = self.client.get(self.path + "/" + name)
            self.client.delete(self.path + "/" + name)
        except NoNodeError:
            # another consumer took it first: list again
            self._children = []
            raise ForceRetryError() from None
        self._children.pop(0)
        return data  # type: ignore[no-any-return]

    def put(self, value: bytes, priority: int = 100) -> None:
        """Add an item; lower ``priority`` (0-999) comes out first."""
        self._check_put_arguments(value, priority)
        self._ensure_paths()
        self.client.create(f"{self.path}/{self.prefix}{priority:03d}-", value, sequence=True)


class LockingQueue(BaseQueue):
    """A queue whose items are claimed, not removed, by ``get``: ``consume()``
    removes the claimed item, ``release()`` hands it back, ``holds_lock()``
    checks the claim is still ours. A claim is an ephemeral node: it goes
    with the session, and the item becomes available again."""

    lock = "/taken"
    entries = "/entries"
    entry = "entry"

    def __init__(self, client: Any, path: str) -> None:
        super().__init__(client, path)
        self.id = uuid.uuid4().hex.encode()
        self.processing_element: Optional[Tuple[str, bytes]] = None
        self._lock_path = self.path + self.lock
        self._entries_path = self.path + self.entries
        self.structure_paths = (self._lock_path, self._entries_path)

    def _entry_prefix(self, priority: int) -> str:
        return f"{self._entries_path}/{self.entry}-{priority:03d}-"

    def put(self, value: bytes, priority: int = 100) -> None:
        """Add an item; lower ``priority`` (0-999) comes out first."""
        self._check_put_arguments(value, priority)
        self._ensure_paths()
        self.client.create(self._entry_prefix(priority), value, sequence=True)

    def put_all(self, values: List[bytes], priority: int = 100) -> None:
        """Add several items in one transaction (all or none)."""
        if not isinstance(values, list):
            raise TypeError("values must be a list of byte strings")
        _check_priority(priority)
        self._ensure_paths()
        with self.client.transaction() as transaction:
            for value in values:
                if not isinstance(value, bytes):
                    raise TypeError("value must be a byte string")
                transaction.create(self._entry_prefix(priority), value, sequence=True)

    def get(self, timeout: Optional[float] = None) -> Optional[bytes]:
        """Claim the first free item and return it; the item claimed before
        if it was not consumed yet; None after ``timeout`` seconds."""
        self._ensure_paths()
        if self.processing_element is not None:
            return self.processing_element[1]
        return self._inner_get(timeout)

    def holds_lock(self) -> bool:
        """Whether our claim on the current item still stands (asks the server)."""
        if self.processing_element is None:
            return False
        lock_path = f"{self._lock_path}/{self.processing_element[0]}"
        self.client.sync(lock_path)
        try:
            value, _stat = self.client.retry(self.client.get, lock_path)
        except NoNodeError:
            return False
        return bool(value == self.id)

    def consume(self) -> bool:
        """Remove the claimed item for good; False if there is none or the claim was lost."""
        if self.processing_element is None or not self.holds_lock():
            return False
        name = self.processing_element[0]
        with self.client.transaction() as transaction:
            transaction.delete(f"{self._entries_path}/{name}")
            transaction.delete(f"{self._lock_path}/{name}")
        self.processing_element = None
        return True

    def release(self) -> bool:
        """Hand the claimed item back unconsumed; False if there is none or the claim was lost."""
        if self.processing_element is None or not self.holds_lock():
            return False
        with self.client.transaction() as transaction:
            transaction.delete(f"{self._lock_path}/{self.processing_element[0]}")
        self.processing_element = None
        return True

    def _inner_get(self, timeout: Optional[float]) -> Optional[bytes]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            woken = self.client.handler.event_object()
            watch = partial(_wake, woken)
            entries = self.client.retry(self.client.get_children, self._entries_path, watch)
            taken = set(self.client.retry(self.client.get_children, self._lock_path, watch))
            for name in sorted(entries):
                if name in taken:
                    continue
                claimed = self._take(name)
                if claimed is not None:
                    self.processing_element = claimed
                    return claimed[1]
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if left == 0 or not woken.wait(left):
                return None

    def _take(self, name: str) -> Optional[Tuple[str, bytes]]:
        lock_path = f"{self._lock_path}/{name}"
        try:
            self.client.create(lock_path, self.id, ephemeral=True)
        except NodeExistsError:
            return None  # someone claimed it first
        try:
            value, _stat = self.client.retry(self.client.get, f"{self._entries_path}/{name}")
        except NoNodeError:
            self.client.delete(lock_path)  # consumed meanwhile
            return None
        return name, value

