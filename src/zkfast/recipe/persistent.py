"""PersistentNode: a node that stays in place, with its data, until closed.

Curator's PersistentNode, on the zkfast recipe machinery. ``start()`` creates
the node in the background and from then on the recipe keeps it existing
whatever happens: a lost create reply, a dropped connection, a session
expiry (an ephemeral node goes with its session; it is made again in the
next one), or someone deleting it. ``close()`` deletes it (if it is ours).

What can be kept:

* an **ephemeral** node at ``path`` (the default);
* an **ephemeral sequential** node, its name **protected**:
  ``<parent>/_c_<guid>-<name><seq>`` (Curator's layout). A lost create reply
  is found again by the guid. Once created, the node keeps its name: it is
  made again under the same name (without a new sequence number), so its
  identity is stable -- which also means it is no place in a line;
* a **persistent** node (``ephemeral=False``), optionally with a **TTL**
  (``ttl=`` seconds; see :class:`~zkfast.recipe.PersistentTtlNode` for one
  that outlives its TTL while the process runs).

How it works: one background pass at a time (coalesced) reads the node with
a watch; a missing node is created, an existing one is adopted if it is ours
(persistent, or ephemeral of our session), our data is written where it has
to be. The watch (deleted, changed), every reconnect and every new session
start another pass. An ephemeral node owned by *another* session is left
alone: the recipe waits (watching) for it to go, then creates its own.

Others may write the node: their data stands until ``set_data`` or until the
node has to be made again. ``listener(path)`` hears each creation by the
recipe; ``wait_for_initial_create(timeout)`` waits for the first.

>>> node = PersistentNode(zk, "/services/web/host-1", b"10.0.0.7:80").start()   # doctest: +SKIP
>>> node.wait_for_initial_create(10)                                            # doctest: +SKIP
True
>>> node.close()                                                                # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Callable, Generator, Optional, Sequence

from ..arguments import create_mode, ttl_ms
from ..errors import (
    BadVersionError,
    ClosedError,
    ConnectionLossError,
    NodeExistsError,
    NoNodeError,
    SessionExpiredError,
    ZooKeeperError,
)
from ..events import EventType, State, WatchedEvent
from ..paths import basename, parent, validate_path
from ..steps import PROTECTED_PREFIX
from ._drivers import ASYNC, SYNC, Flavor, drive, run_async, run_sync
from ._names import join, new_guid, seq_of, to_bytes
from ._nodes import acl_or_default, discard_prefixed, ensure_path
from ._reconcile import Reconciler

__all__ = ["PersistentNode", "AsyncPersistentNode"]

log = logging.getLogger("zkfast.recipe.persistent")

_IGNORED = (EventType.DATA_WATCH_REMOVED, EventType.CHILD_WATCH_REMOVED,
            EventType.PERSISTENT_WATCH_REMOVED, EventType.NONE)


class _PersistentNodeCore:
    _flavor: Flavor = SYNC
    #: whether close() deletes the node (PersistentTtlNode leaves it to its TTL)
    delete_on_close = True

    def __init__(self, client: Any, path: str, data: Any = b"", *, ephemeral: bool = True,
                 sequence: bool = False, protected: Optional[bool] = None,
                 ttl: Optional[float] = None, acl: Optional[Sequence[Any]] = None,
                 makepath: bool = True, listener: Optional[Callable[[str], Any]] = None) -> None:
        self._flavor.check(client, type(self).__name__)
        validate_path(path, sequential=sequence)
        create_mode(ephemeral=ephemeral, sequence=sequence, ttl=ttl)  # refuses bad combinations
        if ttl is not None:
            ttl_ms(ttl)
        if protected is None:
            protected = sequence
        if protected and not sequence:
            raise ValueError("protected names are for sequential nodes (sequence=True)")
        if sequence and path.endswith("/"):
            raise ValueError("a sequential PersistentNode needs a name before the sequence "
                             "(e.g. '/group/member-'), not a trailing '/'")
        self.client = client
        #: the path given (for sequential nodes: parent and name prefix)
        self.base_path = path
        self.ephemeral = ephemeral
        self.sequence = sequence
        self.protected = protected
        self.ttl = ttl
        self.acl = acl
        self.makepath = makepath
        self._data = to_bytes(data)
        self._listeners: list[Callable[[str], Any]] = [listener] if listener else []
        self._guid = new_guid()
        #: the node's actual path once created (sequential nodes: with guid and sequence)
        self._node: Optional[str] = None
        self._ours = False          # the last pass found the node and it is ours
        self._adopted = False       # the node existed when we came to create it
        self._just_created = False  # this pass created it (listeners to be told)
        self._exists_expected = False  # False: the next pass creates before it reads
        self._data_gen = 0          # bumped by set_data
        self._written_gen = -1      # the data generation last written to the node
        self._mutex = threading.Lock()
        self._created = self._flavor.event()
        self._started = False
        self._closed = False
        self._foreign_owner = 0
        #: the last error a background pass ended with (None once a pass succeeds)
        self.last_error: Optional[BaseException] = None
        self._reconciler = Reconciler(client, self._ensure_gen, self._on_result, self._on_error)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path or self.base_path!r} ours={self._ours}>"

    # ------------------------------------------------------------ public state

    @property
    def path(self) -> Optional[str]:
        """The node's path once created (for a sequential node, with its
        protected prefix and sequence number); None before."""
        return self._node

    @property
    def data(self) -> bytes:
        """The data the recipe keeps in the node."""
        return self._data

    @property
    def is_ours(self) -> bool:
        """True while the last check found the node in place and ours."""
        return self._ours

    def add_listener(self, fn: Callable[[str], Any]) -> None:
        """``fn(path)`` each time the recipe creates the node."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[str], Any]) -> None:
        try:
            self._listeners.remove(fn)
        except ValueError:
            pass

    # ------------------------------------------------------------ lifecycle

    def _start(self) -> None:
        if self._started:
            raise RuntimeError(f"a {type(self).__name__} can be started once")
        self._started = True
        self.client.add_listener(self._on_state)
        self._reconciler.trigger()

    def _check_started(self) -> None:
        if not self._started:
            raise RuntimeError(f"{type(self).__name__} is not started")

    def _set_data(self, data: Any) -> Generator[Any, Any, bool]:
        """Keep ``data`` from now on; write it now if the node is ours and we
        are connected (True), else leave it to the background pass (False)."""
        value = to_bytes(data)
        with self._mutex:
            self._data = value
            self._data_gen += 1
            gen = self._data_gen
        node = self._node
        if self._closed or not self._ours or node is None or not self.client.connected:
            self._reconciler.trigger()
            return False
        try:
            # unconditional: the background pass writes with the version it read,
            # so an older write of its own cannot land after this one
            yield self.client.requests.op_set(node, value)
        except (NoNodeError, ConnectionLossError, SessionExpiredError):
            self._reconciler.trigger()  # made again (with this data) or written after the reconnect
            return False
        with self._mutex:
            if self._written_gen < gen:
                self._written_gen = gen
        return True

    def _close_gen(self) -> Generator[Any, Any, None]:
        if self._closed:
            return
        self._closed = True
        self._reconciler.stop()
        self.client.remove_listener(self._on_state)
        if not self.delete_on_close or not self._started:
            return
        node = self._node
        if node is None and not self.sequence:
            node = self.base_path  # a first create may be in flight
        if node is not None and not self.client.connected:
            # don't hold the caller until the reconnect: finish in the background
            drive(self.client, self._delete_quietly_gen(node))
            return
        try:
            if node is not None:
                yield from self._delete_if_ours(node)
            else:  # a first sequential create may be in flight: find it by its prefix
                yield from discard_prefixed(self.client, parent(self.base_path),
                                            self._sequential_prefix())
        except (ConnectionLossError, SessionExpiredError, ClosedError) as e:
            log.debug("%r: delete on close failed (%s); an ephemeral node goes with its session",
                      self, e)
            if node is not None:
                drive(self.client, self._delete_quietly_gen(node))

    def _delete_quietly_gen(self, node: str) -> Generator[Any, Any, None]:
        """:meth:`_delete_if_ours`, for the background: repeated after a lost
        reply, given up when the session or the client ends."""
        while True:
            try:
                yield from self._delete_if_ours(node)
                return
            except ConnectionLossError:
                continue
            except (SessionExpiredError, ClosedError):
                return

    def _delete_if_ours(self, node: str) -> Generator[Any, Any, None]:
        engine = self.client.requests
        while True:
            stat = yield engine.op_exists(node)
            if stat is None:
                return
            if self.ephemeral and stat.ephemeral_owner != self.client.session_id:
                return  # someone else's: not ours to delete
            try:
                yield engine.op_delete(node, stat.version)
                return
            except (NoNodeError, BadVersionError):
                continue

    # ------------------------------------------------------------ the background pass

    def _sequential_prefix(self) -> str:
        """What a sequential node's name is before its sequence: unique to us."""
        name = basename(self.base_path)
        return f"{PROTECTED_PREFIX}{self._guid}-{name}" if self.protected else name

    def _ensure_gen(self) -> Generator[Any, Any, Optional[str]]:
        """One pass: make the server hold our node with our data. Returns
        "ours", "foreign" (another session's ephemeral is in the way) or
        None (closed)."""
        engine = self.client.requests
        while True:
            if self._closed:
                return None
            node = self._node
            if node is None or not self._exists_expected:
                node = yield from self._create_gen()
                if self._closed:
                    yield from self._delete_if_ours(node)
                    return None
            try:
                data, stat = yield engine.op_get(node, self._on_watch)
            except NoNodeError:
                self._ours = False
                self._exists_expected = False  # deleted (by someone, or with our old session)
                continue
            if self.ephemeral and stat.ephemeral_owner != self.client.session_id:
                self._ours = False
                if self._foreign_owner != stat.ephemeral_owner:
                    self._foreign_owner = stat.ephemeral_owner
                    log.warning("%s exists as an ephemeral node of session 0x%x, not ours "
                                "(0x%x): waiting for it to go", node, stat.ephemeral_owner,
                                self.client.session_id)
                return "foreign"  # our watch hears when it goes
            self._foreign_owner = 0
            with self._mutex:
                gen, value = self._data_gen, self._data
                push = self._written_gen != gen or (self._adopted and data != value)
            if push:
                try:
                    yield engine.op_set(node, value, stat.version)
                except (BadVersionError, NoNodeError):
                    continue  # changed or gone meanwhile: look again
                with self._mutex:
                    if self._written_gen < gen:
                        self._written_gen = gen
                    again = self._written_gen != self._data_gen
                if again:
                    continue
            self._adopted = False
            self._ours = True
            return "ours"

    def _create_gen(self) -> Generator[Any, Any, str]:
        """Create the node (or find that it exists); its path."""
        engine = self.client.requests
        acl = acl_or_default(self.client, self.acl)
        if self.sequence and self._node is None:
            created = yield from self._create_sequential()
        else:
            target = self._node or self.base_path  # a sequential node keeps its first name
            while True:
                with self._mutex:
                    gen, value = self._data_gen, self._data
                try:
                    created = yield engine.op_create(target, value, acl, ephemeral=self.ephemeral,
                                                     ttl=self.ttl)
                    self._written_gen = gen
                    self._adopted = False
                    self._just_created = True
                except NodeExistsError:
                    created = target
                    self._adopted = True  # ours or not: the check decides
                except ConnectionLossError:
                    created = target      # maybe applied: the check decides
                    self._adopted = True
                except NoNodeError:
                    if not self.makepath:
                        raise
                    yield from ensure_path(self.client, parent(target), None)
                    continue
                break
        self._node = created
        self._exists_expected = True
        return created

    def _create_sequential(self) -> Generator[Any, Any, str]:
        """The first create of a sequential node; a lost reply is found again
        by its unique name prefix (the protected guid, or the caller's own
        unique name when ``protected=False``)."""
        engine = self.client.requests
        acl = acl_or_default(self.client, self.acl)
        par = parent(self.base_path)
        prefix = self._sequential_prefix()
        full = join(par, prefix)
        maybe_applied = False
        while True:
            if maybe_applied:
                try:
                    children = yield engine.op_get_children(par)
                except NoNodeError:
                    children = []
                for c in children:
                    if c.startswith(prefix) and len(c) == len(prefix) + 10 and seq_of(c) >= 0:
                        self._adopted = True
                        return join(par, c)
            with self._mutex:
                gen, value = self._data_gen, self._data
            try:
                created: str = yield engine.op_create(full, value, acl, ephemeral=self.ephemeral,
                                                      sequence=True, ttl=self.ttl)
            except ConnectionLossError:
                maybe_applied = True
                continue
            except NoNodeError:
                if not self.makepath:
                    raise
                yield from ensure_path(self.client, par, None)
                continue
            self._written_gen = gen
            self._adopted = False
            self._just_created = True
            return created

    # ------------------------------------------------------------ callbacks

    def _on_result(self, verdict: Optional[str]) -> Any:
        if verdict is None or self._closed:
            return None
        self.last_error = None
        if verdict != "ours":
            return None
        self._created.set()
        if not self._just_created:
            return None
        self._just_created = False
        path = self._node
        assert path is not None
        waits = []
        for fn in list(self._listeners):
            try:
                r = fn(path)
                if asyncio.iscoroutine(r):
                    waits.append(r)
            except Exception:  # noqa: BLE001
                log.exception("%r: listener failed", self)
        if waits:
            return asyncio.gather(*waits)
        return None

    def _on_error(self, error: BaseException) -> None:
        if self._closed:
            return
        self.last_error = error
        if isinstance(error, (ConnectionLossError, SessionExpiredError)):
            if self.client.state.is_connected:
                self._reconciler.trigger()  # else the reconnect triggers the next pass
        elif isinstance(error, ClosedError):
            pass
        elif isinstance(error, ZooKeeperError):
            log.error("%r: cannot keep the node: %s", self, error)
        else:
            log.error("%r: background pass failed", self, exc_info=error)

    def _on_watch(self, event: WatchedEvent) -> None:
        if self._closed or event.type in _IGNORED:
            return
        if event.type == EventType.NOT_WATCHING:
            self._ours = False  # the session ended; the next one's pass takes over
            return
        self._reconciler.trigger()

    def _on_state(self, state: State) -> None:
        if self._closed:
            return
        if state.is_connected:
            self._reconciler.trigger()  # the same session: a cheap re-check; a new one: make it again
        elif state in (State.LOST, State.EXPIRED, State.CLOSED, State.AUTH_FAILED):
            if self.ephemeral:
                self._ours = False  # LOST: presumed gone; the next CONNECTED finds out


class PersistentNode(_PersistentNodeCore):
    """Keep a node at ``path`` (with ``data``) until :meth:`close`; see the module docs.

    ``ephemeral=True`` (default), ``sequence=True`` for a protected
    ephemeral-sequential name, ``ephemeral=False`` for a persistent node,
    ``ttl=`` seconds for a TTL node (persistent; needs the server's
    ``extendedTypesEnabled``). ``set_data(data)`` changes the kept data.

    >>> with PersistentNode(zk, "/workers/w1", b"busy") as node:   # doctest: +SKIP
    ...     node.wait_for_initial_create(10)
    ...     do_work()
    """

    def start(self) -> PersistentNode:
        self._start()
        return self

    def wait_for_initial_create(self, timeout: Optional[float] = None) -> bool:
        """True once the node has been created (or adopted) the first time."""
        self._check_started()
        return bool(self._created.wait(timeout))

    def set_data(self, data: Any) -> bool:
        """Keep ``data`` in the node from now on. True if written at once;
        False if the background pass writes it (not connected, node missing)."""
        return run_sync(self.client, self._set_data(data))

    def close(self) -> None:
        """Stop keeping the node and delete it (if it is ours)."""
        run_sync(self.client, self._close_gen())

    def __enter__(self) -> PersistentNode:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncPersistentNode(_PersistentNodeCore):
    """:class:`PersistentNode` for :class:`~zkfast.AsyncClient`; listeners may
    be coroutine functions.

    >>> node = await AsyncPersistentNode(zk, "/workers/w1", b"busy").start()   # doctest: +SKIP
    >>> await node.wait_for_initial_create(10)                                 # doctest: +SKIP
    True
    """

    _flavor = ASYNC

    async def start(self) -> AsyncPersistentNode:
        self._start()
        return self

    async def wait_for_initial_create(self, timeout: Optional[float] = None) -> bool:
        self._check_started()
        try:
            await asyncio.wait_for(self._created.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def set_data(self, data: Any) -> bool:
        return await run_async(self.client, self._set_data(data))

    async def close(self) -> None:
        await run_async(self.client, self._close_gen())

    async def __aenter__(self) -> AsyncPersistentNode:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
