"""SharedValue and SharedCount: a versioned value everyone shares, with listeners.

Curator's recipes of the same names. The value is one node's data; each
instance keeps a local copy (value + node version) that a watch keeps
current, and listeners hear every change, their own included, on the
client's dispatcher thread (sync) or event loop (async).

* ``set(value)`` writes unconditionally.
* ``try_set(value, expected_version)`` writes only if the node is still at
  ``expected_version`` (take it from ``versioned_value``): True if written;
  False if someone changed it first (the local copy is refreshed, so the
  caller can read ``versioned_value`` again and retry). This is how a
  read-modify-write stays correct with any number of writers.

:class:`SharedCount` stores an int as **4 bytes, big-endian, signed** --
the byte format of Curator's ``SharedCount`` -- so Java services using
Curator share the same counter.

>>> count = SharedCount(zk, "/app/workers", 0).start()     # doctest: +SKIP
>>> while True:                                            # doctest: +SKIP
...     seen = count.versioned_value
...     if count.try_set(seen.value + 1, seen.version):
...         break
"""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
from typing import Any, Callable, Generator, List, NamedTuple, Optional, Sequence

from ..errors import (
    BadVersionError,
    ClosedError,
    ConnectionLossError,
    InvalidArgumentError,
    NodeExistsError,
    NoNodeError,
    SessionExpiredError,
)
from ..events import EventType, State, WatchedEvent
from ..paths import parent, validate_path
from ._drivers import ASYNC, SYNC, Flavor, run_async, run_sync
from ._nodes import acl_or_default, ensure_path
from ._reconcile import Reconciler

__all__ = ["SharedValue", "SharedCount", "AsyncSharedValue", "AsyncSharedCount", "VersionedValue"]

log = logging.getLogger("zkfast.recipe.shared")

_COUNT = struct.Struct(">i")
_IGNORED = (EventType.DATA_WATCH_REMOVED, EventType.CHILD_WATCH_REMOVED,
            EventType.PERSISTENT_WATCH_REMOVED, EventType.NONE)


class VersionedValue(NamedTuple):
    """A value with the node version it was read at (-1: not read yet)."""

    version: int
    value: Any


class _SharedValueCore:
    _flavor: Flavor = SYNC

    def __init__(self, client: Any, path: str, seed: Any, *,
                 acl: Optional[Sequence[Any]] = None) -> None:
        self._flavor.check(client, type(self).__name__)
        validate_path(path)
        self.client = client
        self.path = path
        self.acl = acl
        self._seed = self._encode(seed)
        self._raw = self._seed
        self._version = -1
        self._mzxid = -1
        self._notified = -1  # the mzxid listeners last heard
        self._lock = threading.Lock()
        self._listeners: List[Callable[[VersionedValue], Any]] = []
        self._started = False
        self._closed = False
        self._reconciler = Reconciler(client, self._read_gen, self._on_read, self._on_error)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r} version={self._version}>"

    # ------------------------------------------------------------ format

    def _encode(self, value: Any) -> bytes:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"{type(self).__name__} holds bytes, not {type(value).__name__}")
        return bytes(value)

    def _decode(self, raw: bytes) -> Any:
        return raw

    # ------------------------------------------------------------ local state

    @property
    def versioned_value(self) -> VersionedValue:
        """The local copy: ``VersionedValue(version, value)``."""
        with self._lock:
            raw, version = self._raw, self._version
        return VersionedValue(version, self._decode(raw))

    @property
    def version(self) -> int:
        return self._version

    def add_listener(self, fn: Callable[[VersionedValue], Any]) -> None:
        """``fn(VersionedValue(version, value))`` after every change."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[VersionedValue], Any]) -> None:
        try:
            self._listeners.remove(fn)
        except ValueError:
            pass

    def _update(self, raw: bytes, stat: Any) -> None:
        """Take a read or a write's result if it is newer than what we have."""
        with self._lock:
            if stat.mzxid > self._mzxid:
                self._raw, self._version, self._mzxid = raw, stat.version, stat.mzxid

    # ------------------------------------------------------------ protocol

    def _start_gen(self) -> Generator[Any, Any, None]:
        if self._started:
            raise RuntimeError(f"a {type(self).__name__} can be started once")
        self._started = True
        engine = self.client.requests
        while True:
            try:
                yield engine.op_create(self.path, self._seed, acl_or_default(self.client, self.acl))
            except NodeExistsError:
                pass
            except NoNodeError:
                yield from ensure_path(self.client, parent(self.path), None)
                continue
            break
        self.client.add_listener(self._on_state)
        result = yield from self._read_gen()
        self._on_read(result)

    def _read_gen(self) -> Generator[Any, Any, Optional[bool]]:
        """Read the value with a watch; None if the node is gone (watching for it)."""
        engine = self.client.requests
        while True:
            if self._closed:
                return None
            try:
                raw, stat = yield engine.op_get(self.path, self._on_watch)
            except NoNodeError:
                if (yield engine.op_exists(self.path, self._on_watch)) is None:
                    return None
                continue  # made again between the two reads
            self._update(raw, stat)
            return True

    def _check_started(self) -> None:
        if not self._started or self._closed:
            raise RuntimeError(f"{type(self).__name__} is not started (or closed)")

    def _set_gen(self, value: Any) -> Generator[Any, Any, None]:
        self._check_started()
        raw = self._encode(value)
        stat = yield self.client.requests.op_set(self.path, raw)
        self._update(raw, stat)

    def _try_set_gen(self, value: Any, expected_version: int) -> Generator[Any, Any, bool]:
        self._check_started()
        if isinstance(expected_version, bool) or not isinstance(expected_version, int) \
                or expected_version < 0:
            raise InvalidArgumentError(
                f"expected_version must be a node version (int >= 0), not {expected_version!r}; "
                "take it from versioned_value")
        raw = self._encode(value)
        try:
            stat = yield self.client.requests.op_set(self.path, raw, expected_version)
        except BadVersionError:
            yield from self._read_gen()  # refresh the local copy for the caller's next try
            return False
        self._update(raw, stat)
        return True

    def _close_gen(self) -> Generator[Any, Any, None]:
        self._closed = True
        self._reconciler.stop()
        self.client.remove_listener(self._on_state)
        return
        yield  # a generator, for run_sync/run_async

    # ------------------------------------------------------------ callbacks

    def _on_read(self, result: Optional[bool]) -> Any:
        if not result or self._closed:
            return None
        with self._lock:
            if self._mzxid <= self._notified:
                return None
            self._notified = self._mzxid
            raw, version = self._raw, self._version
        try:
            current = VersionedValue(version, self._decode(raw))
        except ValueError as e:
            log.error("%r: %s", self, e)
            return None
        waits = []
        for fn in list(self._listeners):
            try:
                r = fn(current)
                if asyncio.iscoroutine(r):
                    waits.append(r)
            except Exception:  # noqa: BLE001
                log.exception("%r: listener failed", self)
        return asyncio.gather(*waits) if waits else None

    def _on_error(self, error: BaseException) -> None:
        if isinstance(error, (ConnectionLossError, SessionExpiredError)):
            if self.client.state.is_connected and not self._closed:
                self._reconciler.trigger()
        elif not isinstance(error, ClosedError):
            log.error("%r: reading the value failed", self, exc_info=error)

    def _on_watch(self, event: WatchedEvent) -> None:
        if self._closed or event.type in _IGNORED or event.type == EventType.NOT_WATCHING:
            return  # NOT_WATCHING: the next session's CONNECTED reads again
        self._reconciler.trigger()

    def _on_state(self, state: State) -> None:
        if state.is_connected and not self._closed:
            self._reconciler.trigger()  # what changed while away, and the watch in a new session


class _SharedCountCore(_SharedValueCore):
    def _encode(self, value: Any) -> bytes:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"a SharedCount holds an int, not {type(value).__name__}")
        if not -2**31 <= value < 2**31:
            raise InvalidArgumentError(f"{value} does not fit a SharedCount (a 32-bit signed int)")
        return _COUNT.pack(value)

    def _decode(self, raw: bytes) -> int:
        if len(raw) != 4:
            raise ValueError(f"{self.path} holds {len(raw)} bytes, not a SharedCount's 4")
        return int(_COUNT.unpack(raw)[0])

    @property
    def count(self) -> int:
        """The local copy of the count (ValueError if the node holds no 4-byte count)."""
        return self._decode(self._raw)


class SharedValue(_SharedValueCore):
    """A shared ``bytes`` value at ``path`` (``seed`` when first made).

    >>> shared = SharedValue(zk, "/app/mode", b"normal").start()   # doctest: +SKIP
    >>> shared.add_listener(lambda vv: print("now", vv.value))     # doctest: +SKIP
    >>> shared.set(b"maintenance")                                 # doctest: +SKIP
    """

    def start(self) -> SharedValue:
        """Make the node (with the seed) if missing, read it, start watching."""
        run_sync(self.client, self._start_gen())
        return self

    @property
    def value(self) -> Any:
        return self.versioned_value.value

    def set(self, value: Any) -> None:
        """Write ``value`` whatever the node's version."""
        run_sync(self.client, self._set_gen(value))

    def try_set(self, value: Any, expected_version: int) -> bool:
        """Write ``value`` only if the node is at ``expected_version``."""
        return run_sync(self.client, self._try_set_gen(value, expected_version))

    def close(self) -> None:
        run_sync(self.client, self._close_gen())

    def __enter__(self) -> SharedValue:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


class SharedCount(_SharedCountCore, SharedValue):
    """A shared int in Curator's SharedCount format (4 bytes, big-endian).

    >>> workers = SharedCount(zk, "/app/workers", 0).start()   # doctest: +SKIP
    >>> workers.count                                          # doctest: +SKIP
    0
    """


class AsyncSharedValue(_SharedValueCore):
    """:class:`SharedValue` for :class:`~zkfast.AsyncClient`; listeners may be
    coroutine functions."""

    _flavor = ASYNC

    async def start(self) -> AsyncSharedValue:
        await run_async(self.client, self._start_gen())
        return self

    @property
    def value(self) -> Any:
        return self.versioned_value.value

    async def set(self, value: Any) -> None:
        await run_async(self.client, self._set_gen(value))

    async def try_set(self, value: Any, expected_version: int) -> bool:
        return await run_async(self.client, self._try_set_gen(value, expected_version))

    async def close(self) -> None:
        await run_async(self.client, self._close_gen())

    async def __aenter__(self) -> AsyncSharedValue:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class AsyncSharedCount(_SharedCountCore, AsyncSharedValue):
    """:class:`SharedCount` for :class:`~zkfast.AsyncClient`."""
