"""kazoo's set partitioner: members of a party split a set of items so each
item has one owner, and split it again when members come or go.

Layout: members join a :class:`~zkfast.kazoo.recipe.party.ShallowParty` at
``<path>/party``; an owner holds a kazoo :class:`~zkfast.kazoo.recipe.lock.Lock`
at ``<path>/locks/<item>`` for each of its items. The default split: items
and member identifiers sorted, member *i* of *n* takes items *i*, *i + n*, ...

States (``state``, also ``allocating`` / ``acquired`` / ``release`` /
``failed``): ALLOCATING -> ACQUIRED once the party has been stable for
``time_boundary`` seconds and this member holds its items' locks; ACQUIRED ->
RELEASE when the party changes or the connection drops (call
``release_set()``, which goes back to ALLOCATING); any -> FAILURE when the
session is lost or ``finish()`` is called (then make a new partitioner).

>>> qp = zk.SetPartitioner("/work", set=("q1", "q2", "q3"))   # doctest: +SKIP
>>> while True:
...     if qp.failed: raise SystemExit("lost the partition")
...     elif qp.release: qp.release_set()
...     elif qp.acquired: do_work(list(qp))
...     elif qp.allocating: qp.wait_for_acquire()
"""

from __future__ import annotations

import logging
import os
import socket
from functools import partial
from typing import Any, Callable, Iterable, Iterator, List, Optional

from ..exceptions import KazooException, LockTimeout
from ..protocol.states import KazooState
from .watchers import PatientChildrenWatch

__all__ = ["PartitionState", "SetPartitioner"]

log = logging.getLogger(__name__)


class PartitionState:
    """The states of a :class:`SetPartitioner` (see the module docstring)."""

    ALLOCATING = "ALLOCATING"
    ACQUIRED = "ACQUIRED"
    RELEASE = "RELEASE"
    FAILURE = "FAILURE"


class SetPartitioner:
    """Partitions ``set`` among the members of the party at ``path`` (see the
    module docstring). ``partition_func(identifier, members, items)`` may
    replace the default split; ``max_reaction_time`` bounds each lock wait, so
    a party change during allocation is noticed; ``state_change_event`` is set
    at every state change."""

    def __init__(self, client: Any, path: str, set: Iterable[Any],
                 partition_func: Optional[Callable[[str, List[str], Any], List[Any]]] = None,
                 identifier: Optional[str] = None, time_boundary: float = 30,
                 max_reaction_time: float = 1, state_change_event: Any = None) -> None:
        self.state_id = 0  # tells apart two visits of the same state
        self.state = PartitionState.ALLOCATING
        self.state_change_event = state_change_event or client.handler.event_object()
        self._client = client
        self._path = path
        self._set = set
        self._partition_set: List[Any] = []
        self._partition_func = partition_func or self._partitioner
        self._identifier = identifier or f"{socket.getfqdn()}-{os.getpid()}"
        self._locks: List[Any] = []
        self._lock_path = path + "/locks"
        self._party_path = path + "/party"
        self._time_boundary = time_boundary
        self._max_reaction_time = max_reaction_time
        self._acquire_event = client.handler.event_object()
        client.ensure_path(path)
        client.ensure_path(self._lock_path)
        client.ensure_path(self._party_path)
        self._party = client.ShallowParty(self._party_path, identifier=self._identifier)
        self._party.join()
        self._state_change = client.handler.rlock_object()
        client.add_listener(self._establish_sessionwatch)
        self._child_watching(self._allocate_transition)

    def __iter__(self) -> Iterator[Any]:
        """This member's items (while ACQUIRED)."""
        return iter(list(self._partition_set))

    @property
    def failed(self) -> bool:
        return self.state == PartitionState.FAILURE

    @property
    def release(self) -> bool:
        return self.state == PartitionState.RELEASE

    @property
    def allocating(self) -> bool:
        return self.state == PartitionState.ALLOCATING

    @property
    def acquired(self) -> bool:
        return self.state == PartitionState.ACQUIRED

    def wait_for_acquire(self, timeout: float = 30) -> None:
        """Wait (at most ``timeout`` seconds) until the set is partitioned and acquired."""
        self._acquire_event.wait(timeout)

    def release_set(self) -> None:
        """Release this member's items and start allocating again."""
        self._release_locks()
        if self._locks:
            self._fail_out()  # could not release them all
            return
        with self._state_change:
            if self.failed:
                return
            self._set_state(PartitionState.ALLOCATING)
        self._child_watching(self._allocate_transition)

    def finish(self) -> None:
        """Release the items and leave the party (state FAILURE: done)."""
        self._release_locks()
        self._fail_out()

    def _fail_out(self) -> None:
        with self._state_change:
            self._set_state(PartitionState.FAILURE)
        if self._party.participating:
            try:
                self._party.leave()
            except KazooException:
                pass

    def _allocate_transition(self, result: Any) -> None:
        """The party has been stable for ``time_boundary``: take our items' locks."""
        if result.exception:
            self._fail_out()
            return
        _members, party_changed = result.get()
        changed = self._client.handler.event_object()

        def on_party_change(_result: Any) -> None:
            with self._state_change:
                changed.set()
                if self.acquired:
                    self._set_state(PartitionState.RELEASE)

        with self._state_change:
            if not self.allocating:
                return  # the connection dropped meanwhile
            state_id = self.state_id
            party_changed.rawlink(on_party_change)

        def should_abort() -> bool:
            if self.state_id != state_id:
                # a reconnect and a new allocation started meanwhile: let that one do it
                if self.allocating or self.acquired:
                    with self._state_change:
                        self._set_state(PartitionState.RELEASE)
                return True
            if changed.is_set():
                self._abort_lock_acquisition()
                return True
            return False

        mine = self._partition_func(self._identifier, list(self._party), self._set)
        for item in mine:
            lock = self._client.Lock(self._lock_path + "/" + str(item))
            while True:
                try:
                    # bounded waits: a party change must not leave us waiting for a lock forever
                    lock.acquire(timeout=self._max_reaction_time)
                except LockTimeout:
                    if should_abort():
                        return
                except KazooException:
                    self.finish()
                    return
                else:
                    break
            self._locks.append(lock)
            if should_abort():
                return
        with self._state_change:
            if self.state_id == state_id and not changed.is_set():
                self._partition_set = mine
                self._set_state(PartitionState.ACQUIRED)
                self._acquire_event.set()
                return
        if not should_abort():
            self._fail_out()  # cannot happen: the state moved without a party change

    def _release_locks(self) -> None:
        self._acquire_event.clear()
        for lock in list(self._locks):
            try:
                lock.release()
            except KazooException:
                continue  # keep it: release_set fails out
            self._locks.remove(lock)

    def _abort_lock_acquisition(self) -> None:
        self._release_locks()
        if self._locks:
            self._fail_out()
            return
        self._child_watching(self._allocate_transition)

    def _child_watching(self, func: Optional[Callable[[Any], Any]] = None) -> Any:
        """Wait for the party to settle in the background; ``func(result)`` runs
        on its own thread afterwards (its lock waits must not block others)."""
        result = PatientChildrenWatch(self._client, self._party_path, self._time_boundary).start()
        if func is not None:
            result.rawlink(partial(self._client.handler.spawn, func))
        return result

    def _establish_sessionwatch(self, state: str) -> bool:
        with self._state_change:
            if self.failed:
                pass
            elif state == KazooState.LOST:
                self._client.handler.spawn(self._fail_out)
            elif not self.release:
                self._set_state(PartitionState.RELEASE)
        return state == KazooState.LOST

    @staticmethod
    def _partitioner(identifier: str, members: List[str], partitions: Any) -> List[Any]:
        items = sorted(partitions)
        workers = sorted(members)
        i = workers.index(identifier)
        return items[i::len(workers)]

    def _set_state(self, state: str) -> None:
        self.state = state
        self.state_id += 1
        self.state_change_event.set()
