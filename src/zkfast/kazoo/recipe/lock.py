"""kazoo's locks and semaphore, with kazoo's node layouts, so kazoo processes
and zkfast.kazoo processes exclude each other on the same paths.

Layouts (checked against kazoo 2.11's source and tested against it in
``tests/server/test_kazoo_fleet.py``):

* :class:`Lock` / :class:`WriteLock`: an ephemeral sequential node
  ``<path>/<32 hex>__lock__<seq>`` with the identifier as data. A contender
  waits for the nearest lower sequence among ``__lock__`` nodes (plus
  ``extra_lock_patterns``); a :class:`WriteLock` also for ``__rlock__`` nodes.
* :class:`ReadLock`: ``<path>/<32 hex>__rlock__<seq>``; waits only for lower
  ``__lock__`` nodes.
* :class:`Semaphore`: the data of ``<path>`` is ``max_leases`` (ASCII); a
  holder has an ephemeral ``<path>/<32 hex>`` (identifier as data); acquirers
  line up on a :class:`Lock` at the sibling ``<path>-__lock__``.

Differences from kazoo, all in the safe direction:

* ``acquire(timeout=...)`` keeps one deadline for the whole call and raises
  :class:`~zkfast.kazoo.exceptions.LockTimeout` when it passes (kazoo restarts
  the timeout on each wait, and returns False when it runs out while
  retrying a lost connection).
* A second ``acquire`` on an instance that holds the lock waits for its
  release on a condition (kazoo polls with a growing backoff).
* Each acquire names its node with a fresh uuid; if the cleanup after a
  failed acquire cannot reach the server, it finishes after the reconnect,
  so an abandoned node cannot block the line for the rest of the session.

>>> lock = zk.Lock("/locks/report", "worker-1")     # doctest: +SKIP
>>> with lock:
...     build_report()
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from typing import Any, List, Optional, Pattern, Sequence

from ..exceptions import CancelledError, KazooException, LockTimeout, NoNodeError
from ..protocol.states import KazooState
from ..retry import ForceRetryError, KazooRetry, RetryFailedError

__all__ = ["Lock", "ReadLock", "WriteLock", "Semaphore"]

log = logging.getLogger(__name__)


def _contenders_pattern(names: Sequence[str]) -> Pattern[str]:
    # kazoo's rule: a contender's name ends with one of the names, then its sequence
    return re.compile(r"(?:{})(-?\d{{10}})$".format("|".join(names)))


def _deadline(timeout: Optional[float]) -> Optional[float]:
    return None if timeout is None else time.monotonic() + max(0.0, timeout)


def _left(deadline: Optional[float]) -> Optional[float]:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _connected_by(client: Any, deadline: Optional[float]) -> None:
    """Wait, at most until ``deadline``, for the client to be connected; raise
    LockTimeout when it passes first. (A request made while disconnected waits
    for the reconnect, up to a session timeout: a deadline must not.)"""
    if deadline is None or client.connected:
        return
    live = getattr(client, "_live", None)  # zkfast.kazoo's connected event
    while not client.connected:
        left = _left(deadline)
        if left == 0:
            raise LockTimeout("not connected within the timeout")
        if live is not None:
            live.wait(left)
        else:
            time.sleep(min(0.05, left or 0.05))


class Lock:
    """kazoo's exclusive lock (see the module docstring for the node layout).

    ``acquire(blocking=True, timeout=None, ephemeral=True)`` returns True once
    held; False if ``blocking`` is False and the lock is taken, or if this
    instance already holds it and it is not released in time; raises
    :class:`~zkfast.kazoo.exceptions.LockTimeout` when ``timeout`` passes
    first. ``cancel()`` makes a waiting acquire raise
    :class:`~zkfast.kazoo.exceptions.CancelledError`. ``contenders()`` lists
    the identifiers in line. Not re-entrant: acquiring again from the holding
    thread waits for a release that never comes, as in kazoo.

    ``ephemeral=False`` makes a node that outlives the session: then only
    ``release()`` (or a delete) frees the lock.
    """

    _NODE_NAME = "__lock__"
    _EXCLUDE_NAMES = ["__lock__"]

    def __init__(self, client: Any, path: str, identifier: Optional[str] = None,
                 extra_lock_patterns: Sequence[str] = ()) -> None:
        self.client = client
        self.path = path
        self._exclude_names = set(self._EXCLUDE_NAMES + list(extra_lock_patterns))
        self._contenders_re = _contenders_pattern(sorted(self._exclude_names))
        #: what contenders() reports for this contender
        self.data = str(identifier or "").encode("utf-8")
        #: our node's name while acquiring or holding
        self.node: Optional[str] = None
        #: set by the predecessor's watch, a state change or cancel()
        self.wake_event = client.handler.event_object()
        self.prefix = uuid.uuid4().hex + self._NODE_NAME
        self.create_path = self.path + "/" + self.prefix
        self.create_tried = False
        self.is_acquired = False
        self.assured_path = False
        self.cancelled = False
        self._retry = KazooRetry(max_tries=None, sleep_func=client.handler.sleep_func)
        self._turn = threading.Condition()
        self._acquiring = False

    def _ensure_path(self) -> None:
        self.client.ensure_path(self.path)
        self.assured_path = True

    def cancel(self) -> None:
        """Make a pending ``acquire`` raise CancelledError."""
        self.cancelled = True
        self.wake_event.set()

    def acquire(self, blocking: bool = True, timeout: Optional[float] = None,
                ephemeral: bool = True) -> bool:
        deadline = _deadline(timeout)
        with self._turn:
            # One acquire per instance at a time; while it holds the lock, wait for the release.
            while self._acquiring or self.is_acquired:
                if not blocking:
                    return False
                left = _left(deadline)
                if left == 0 or not self._turn.wait(left):
                    if self._acquiring or self.is_acquired:
                        return False
            self._acquiring = True
        try:
            self.prefix = uuid.uuid4().hex + self._NODE_NAME
            self.create_path = self.path + "/" + self.prefix
            self.create_tried = False
            retry = self._retry.copy()
            retry.deadline = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                gotten = retry(self._inner_acquire, blocking, deadline, ephemeral)
            except RetryFailedError:
                gotten = False
                if blocking and deadline is not None:
                    self._best_effort_cleanup()
                    raise LockTimeout(f"Failed to acquire lock on {self.path} after {timeout} "
                                      f"seconds") from None
            except KazooException:
                self._best_effort_cleanup()
                self.cancelled = False
                raise
            if gotten:
                self.is_acquired = True
            else:
                self._best_effort_cleanup()
            return bool(gotten)
        finally:
            with self._turn:
                self._acquiring = False
                self._turn.notify_all()

    def _watch_session(self, state: str) -> bool:
        self.wake_event.set()
        return True

    def _inner_acquire(self, blocking: bool, deadline: Optional[float], ephemeral: bool) -> bool:
        _connected_by(self.client, deadline)
        if not self.assured_path:
            self._ensure_path()
        node = None
        if self.create_tried:
            node = self._find_node()  # our create may have applied although its reply was lost
        else:
            self.create_tried = True
        if not node:
            created = self.client.create(self.create_path, self.data, ephemeral=ephemeral,
                                         sequence=True)
            node = created[len(self.path.rstrip("/")) + 1:]
        self.node = node
        while True:
            self.wake_event.clear()
            if self.cancelled:
                raise CancelledError(f"acquiring {self.path} was cancelled")
            _connected_by(self.client, deadline)
            predecessor = self._get_predecessor(node)
            if predecessor is None:
                return True
            if not blocking:
                return False
            self.client.add_listener(self._watch_session)
            try:
                self.client.get(self.path + "/" + predecessor, self._watch_predecessor)
            except NoNodeError:
                continue  # gone already: look again
            else:
                left = _left(deadline)
                if left == 0 or not self.wake_event.wait(left):
                    raise LockTimeout(f"Failed to acquire lock on {self.path} within the timeout")
            finally:
                self.client.remove_listener(self._watch_session)

    def _watch_predecessor(self, event: Any) -> None:
        self.wake_event.set()

    def _get_predecessor(self, node: str) -> Optional[str]:
        """The contender just ahead of ``node`` (None: ``node`` goes first).

        kazoo's rule, which interoperation depends on: contenders are the
        children matching the exclusion names; lower sequence (compared as the
        10-digit strings) goes first; our own node must still be there.
        """
        sequence = node[len(self.prefix):]
        children = self.client.get_children(self.path)
        if node not in children:
            # our node is gone (the session that owned it ended): start over
            raise ForceRetryError()
        ahead = []
        for child in children:
            m = self._contenders_re.search(child)
            if m is not None and m.group(1) < sequence:
                ahead.append((m.groups(), child))
        if not ahead:
            return None
        return str(max(ahead)[1])

    def _find_node(self) -> Optional[str]:
        for child in self.client.get_children(self.path):
            if child.startswith(self.prefix):
                return str(child)
        return None

    def _delete_node(self, node: str) -> None:
        self.client.delete(self.path + "/" + node)

    def _best_effort_cleanup(self) -> None:
        prefix, node = self.prefix, self.node
        self.node = None
        if not self.client.connected:
            # don't hold the caller until the reconnect: finish it then
            _CleanupAfterReconnect(self.client, self.path, prefix).arm()
            return
        try:
            node = node or self._find_node()
            if node:
                self._delete_node(node)
        except NoNodeError:
            pass
        except KazooException:
            # Unreachable now; the node may still be in line: delete it once connected.
            _CleanupAfterReconnect(self.client, self.path, prefix).arm()

    def release(self) -> bool:
        """Release the lock; True if this instance held it."""
        try:
            return bool(self.client.retry(self._inner_release))
        finally:
            with self._turn:
                self._turn.notify_all()

    def _inner_release(self) -> bool:
        if not self.is_acquired:
            return False
        try:
            if self.node is not None:
                self._delete_node(self.node)
        except NoNodeError:
            pass
        self.is_acquired = False
        self.node = None
        return True

    def contenders(self) -> List[str]:
        """The identifiers of everyone holding or waiting, in line order (an
        unnamed contender is an empty string)."""
        if not self.assured_path:
            self._ensure_path()
        pattern = _contenders_pattern(sorted(self._exclude_names | {self._NODE_NAME}))
        found = []
        for child in self.client.get_children(self.path):
            m = pattern.search(child)
            if m is not None:
                found.append((m.groups(), child))
        out = []
        for _seq, child in sorted(found):
            try:
                data, _stat = self.client.get(self.path + "/" + child)
            except NoNodeError:
                continue
            if data is not None:
                out.append(data.decode("utf-8"))
        return out

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        self.release()


class WriteLock(Lock):
    """The exclusive side of a read/write lock: waits for every earlier reader
    and writer (and kazoo :class:`Lock` holders, which share its node name)."""

    _NODE_NAME = "__lock__"
    _EXCLUDE_NAMES = ["__lock__", "__rlock__"]


class ReadLock(Lock):
    """The shared side of a read/write lock: waits only for earlier writers
    (``__lock__`` nodes); any number of readers hold it together."""

    _NODE_NAME = "__rlock__"
    _EXCLUDE_NAMES = ["__lock__"]


class _CleanupAfterReconnect:
    """Deletes the nodes of an abandoned acquire (``prefix*`` under ``path``)
    once the client is connected again; at most once, then it unhooks."""

    def __init__(self, client: Any, path: str, prefix: str) -> None:
        self.client = client
        self.path = path
        self.prefix = prefix

    def arm(self) -> None:
        self.client.add_listener(self._on_state)
        if self.client.connected:
            self._on_state(KazooState.CONNECTED)

    def _on_state(self, state: str) -> bool:
        if state == KazooState.LOST:
            return True  # the session and its ephemeral nodes are gone
        if state == KazooState.CONNECTED:
            self.client.remove_listener(self._on_state)
            self.client.handler.spawn(self._run)
            return True
        return False

    def _run(self) -> None:
        try:
            for child in self.client.get_children(self.path):
                if child.startswith(self.prefix):
                    self.client.delete(self.path + "/" + child)
        except KazooException as e:
            log.debug("cleanup of %s/%s* failed: %s", self.path, self.prefix, e)


class Semaphore:
    """kazoo's semaphore: at most ``max_leases`` holders at a time (layout in
    the module docstring). ``max_leases`` is checked against the number stored
    in ``path`` on the first acquire (ValueError if they differ).

    ``acquire(blocking=True, timeout=None)`` returns True once a lease is held
    (again True if this instance holds one); False when ``blocking`` is False
    and none is free; :class:`~zkfast.kazoo.exceptions.LockTimeout` when the
    timeout passes. ``release()``, ``cancel()``, ``lease_holders()``.
    """

    def __init__(self, client: Any, path: str, identifier: Optional[str] = None,
                 max_leases: int = 1) -> None:
        self.client = client
        self.path = path
        self.data = str(identifier or "").encode("utf-8")
        self.max_leases = max_leases
        #: set when the leases change, the session is lost or cancel() is called
        self.wake_event = client.handler.event_object()
        self.create_path = self.path + "/" + uuid.uuid4().hex
        self.lock_path = path + "-" + "__lock__"
        self.is_acquired = False
        self.assured_path = False
        self.cancelled = False
        self._session_expired = False

    def _ensure_path(self) -> None:
        existed = self.client.ensure_path(self.path) is True
        self.assured_path = True
        if not existed:
            self.client.set(self.path, str(self.max_leases).encode("utf-8"))
            return
        data, _stat = self.client.get(self.path)
        try:
            leases = int((data or b"").decode("utf-8"))
        except ValueError:
            return  # the node's data is someone else's business
        if leases != self.max_leases:
            raise ValueError(f"Inconsistent max leases: {leases}, expected: {self.max_leases}")

    def cancel(self) -> None:
        """Make a pending ``acquire`` raise CancelledError."""
        self.cancelled = True
        self.wake_event.set()

    def acquire(self, blocking: bool = True, timeout: Optional[float] = None) -> bool:
        self.cancelled = False
        deadline = _deadline(timeout)
        try:
            self.is_acquired = bool(self.client.retry(self._inner_acquire, blocking, deadline))
        except KazooException:
            self._best_effort_cleanup()
            self.cancelled = False
            raise
        return self.is_acquired

    def _inner_acquire(self, blocking: bool, deadline: Optional[float]) -> bool:
        _connected_by(self.client, deadline)
        self._session_expired = False
        self.client.add_listener(self._watch_session)
        if not self.assured_path:
            self._ensure_path()
        if self.client.exists(self.create_path):
            return True  # this instance holds a lease
        lock = self.client.Lock(self.lock_path, self.data)
        try:
            if not lock.acquire(blocking=blocking, timeout=_left(deadline)):
                return False
            while True:
                self.wake_event.clear()
                _connected_by(self.client, deadline)
                if self._get_lease():
                    return True
                if not blocking:
                    return False
                left = _left(deadline)
                if left == 0 or not self.wake_event.wait(left):
                    raise LockTimeout(f"Failed to acquire semaphore on {self.path} within the "
                                      "timeout")
        finally:
            lock.release()

    def _watch_lease_change(self, event: Any) -> None:
        self.wake_event.set()

    def _get_lease(self) -> bool:
        if self._session_expired:
            raise ForceRetryError("session lost: start over")
        if self.cancelled:
            raise CancelledError(f"acquiring {self.path} was cancelled")
        holders = self.client.get_children(self.path, self._watch_lease_change)
        if len(holders) < self.max_leases:
            self.client.create(self.create_path, self.data, ephemeral=True)
        self.is_acquired = self.client.exists(self.create_path) is not None
        return self.is_acquired

    def _watch_session(self, state: str) -> Optional[bool]:
        if state == KazooState.LOST:
            self._session_expired = True
            self.wake_event.set()
            return True
        return None

    def _best_effort_cleanup(self) -> None:
        try:
            self.client.delete(self.create_path)
        except KazooException:
            pass

    def release(self) -> bool:
        """Give the lease back; True if this instance held one."""
        return bool(self.client.retry(self._inner_release))

    def _inner_release(self) -> bool:
        if not self.is_acquired:
            return False
        try:
            self.client.delete(self.create_path)
        except NoNodeError:
            pass
        self.is_acquired = False
        return True

    def lease_holders(self) -> List[str]:
        """The identifiers of the current holders (unordered)."""
        if not self.client.exists(self.path):
            return []
        holders = []
        for child in self.client.get_children(self.path):
            try:
                data, _stat = self.client.get(self.path + "/" + child)
            except NoNodeError:
                continue
            holders.append((data or b"").decode("utf-8"))
        return holders

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        self.release()
