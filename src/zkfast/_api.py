"""The ZooKeeper API written once for both clients.

Every public call builds a request with the engine and hands it to
``self._call`` (the sync client returns the result, the async client an
awaitable). Calls that take several round trips (``ensure_path``, recursive
delete, protected creates) are generators that yield requests and receive
results; ``self._run`` drives them, blocking or awaiting. So a fix in the
logic here is a fix for both clients.
"""

from __future__ import annotations

import logging
import ssl
import uuid
from typing import Any, Callable, Dict, Generator, List, Optional, Sequence, Tuple, Type, Union

from .errors import (
    ConnectionLossError,
    InvalidArgumentError,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    SessionExpiredError,
    TransactionFailedError,
    ZooKeeperError,
)
from .events import State, WatchedEvent, WatcherType
from .hosts import DNSHostProvider, HostProvider, parse_connect_string
from .paths import basename, parent, validate_path
from .protocol import PendingRequest, SessionEngine
from .steps import PROTECTED_PREFIX, Batch, Step
from .transaction import Transaction

__all__ = ["ClientAPI", "Batch", "PROTECTED_PREFIX"]



class ClientAPI:
    """Public methods shared by :class:`Client` and :class:`AsyncClient`."""

    _engine: SessionEngine
    default_acl: Optional[Sequence[Any]]
    _rw_probe_index = 0

    def _configure(self, hosts: str, session_timeout: float, connection_timeout: Optional[float],
                   auth_data: Optional[Sequence[Tuple[str, Any]]],
                   default_acl: Optional[Sequence[Any]], read_only: bool,
                   ssl_context: Optional[ssl.SSLContext], host_provider: Optional[HostProvider],
                   max_buffer_size: int, max_request_size: int,
                   client_id: Optional[Tuple[int, bytes]], sasl_options: Optional[Dict[str, Any]],
                   logger: logging.Logger,
                   event_callback: Optional[Callable[[WatchedEvent], Any]]) -> None:
        """The constructor arguments both clients share (see :class:`zkfast.Client`)."""
        servers, chroot = parse_connect_string(hosts)
        if session_timeout <= 0:
            raise InvalidArgumentError("session_timeout must be positive")
        self.hosts = hosts
        self.session_timeout = float(session_timeout)
        self.default_acl = default_acl
        self.read_only = read_only
        self.ssl_context = ssl_context
        self.sasl_options = sasl_options
        self.log = logger
        self._servers = servers
        # "is not None": a provider with no servers yet has len() 0, so it is falsy
        self._host_provider: HostProvider = (host_provider if host_provider is not None
                                             else DNSHostProvider())
        self._host_provider.init(servers)
        # Each host gets its share of the session timeout (like the reference client),
        # but never all of it: a server can accept a connection and then neither answer
        # nor close it (ZooKeeper does this to a connection taken in the instant between
        # binding its port and loading its database, ZOOKEEPER-5051). Waiting the whole
        # session timeout there leaves no time to resume the session once it is up.
        self.connection_timeout = (float(connection_timeout) if connection_timeout is not None
                                   else max(1.0, self.session_timeout / max(2, len(servers))))
        sid, pw = client_id if client_id is not None else (0, None)
        self._engine = SessionEngine(chroot=chroot, session_timeout_ms=int(session_timeout * 1000),
                                     read_only=read_only, max_buffer_size=max_buffer_size,
                                     max_request_size=max_request_size,
                                     auth_data=auth_data or (), session_id=sid, session_passwd=pw)
        self._listeners: List[Callable[[State], Any]] = []
        self._event_callback = event_callback
        self._announced_state = self._engine.state  # what listeners last heard
        self.server: Optional[Tuple[str, int]] = None
        self.last_error: Optional[BaseException] = None

    def _next_rw_probe_target(self) -> Optional[Tuple[str, int]]:
        """While connected read-only: the next other server to ask ``isro``
        (round robin over the provider's addresses)."""
        provider_addrs = getattr(self._host_provider, "addresses", None)
        candidates = [a for a in (provider_addrs or self._servers) if tuple(a) != self.server]
        if not candidates:
            return None
        index = self._rw_probe_index
        self._rw_probe_index = index + 1
        host, port = candidates[index % len(candidates)]
        return (host, port)

    # provided by the concrete client
    def _set_state(self, state: State) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _fail_queue(self, error_type: Type[ZooKeeperError]) -> None:  # pragma: no cover
        raise NotImplementedError

    def _on_expired(self, error: SessionExpiredError) -> None:
        """The server said the session is gone: tell listeners, end every watch
        with NOT_WATCHING, fail what was queued, and start over with a new session."""
        self.log.warning("session expired")
        self._set_state(State.EXPIRED)
        self._engine.session_ended(error)
        self._flush_events()
        self._fail_queue(SessionExpiredError)
        self._set_state(State.CONNECTING)

    def _tls_hostname(self, addr: Tuple[str, int]) -> str:
        """The name a TLS certificate is checked against: the host name as the
        connect string gave it, not the address it resolved to."""
        origin = getattr(self._host_provider, "origin", None)
        return str(origin(addr)) if origin is not None else addr[0]

    # ------------------------------------------------------------ session properties

    @property
    def state(self) -> State:
        return self._engine.state

    @property
    def connected(self) -> bool:
        return self._engine.state.is_connected

    @property
    def session_id(self) -> int:
        return self._engine.session_id

    @property
    def client_id(self) -> Tuple[int, Optional[bytes]]:
        """``(session id, password)``: pass as ``client_id=`` to resume the session."""
        return (self._engine.session_id, self._engine.passwd)

    @property
    def chroot(self) -> str:
        return self._engine.chroot

    @property
    def negotiated_session_timeout(self) -> float:
        return self._engine.negotiated_timeout_ms / 1000.0

    def add_listener(self, fn: Callable[[State], Any]) -> None:
        """Call ``fn(state)`` at every state change, in order, on the client's
        dispatcher (AsyncClient awaits it if it is a coroutine function)."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[State], Any]) -> None:
        try:
            self._listeners.remove(fn)
        except ValueError:
            pass

    # provided by the concrete client
    def _call(self, req: PendingRequest) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _run(self, gen: Generator[Step, Any, Any]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _acl(self, acl: Optional[Sequence[Any]]) -> Optional[Sequence[Any]]:
        return acl if acl is not None else self.default_acl

    # ------------------------------------------------------------ CRUD

    def create(self, path: str, value: bytes = b"", acl: Optional[Sequence[Any]] = None, *,
               ephemeral: bool = False, sequence: bool = False, makepath: bool = False,
               container: bool = False, ttl: Optional[float] = None,
               include_data: bool = False) -> Any:
        """Create a node; returns its path (``(path, Stat)`` with ``include_data``).

        ``sequence`` appends a 10-digit counter; ``ttl`` (seconds) makes a TTL
        node; ``container`` a container node; ``makepath`` creates missing
        parents first.

        >>> zk.create("/app/config", b"v1", makepath=True)   # doctest: +SKIP
        '/app/config'
        """
        def build() -> PendingRequest:
            return self._engine.op_create(path, value, self._acl(acl), ephemeral=ephemeral,
                                          sequence=sequence, container=container, ttl=ttl,
                                          include_data=include_data)
        req = build()
        if not makepath:
            return self._call(req)
        return self._run(self._create_makepath(req, build, path, acl))

    def _create_makepath(self, req: PendingRequest, build: Callable[[], PendingRequest],
                         path: str, acl: Optional[Sequence[Any]]) -> Generator[Step, Any, Any]:
        try:
            return (yield req)
        except NoNodeError:
            pass
        yield from self._ensure_path(parent(path), acl)
        return (yield build())

    def ensure_path(self, path: str, acl: Optional[Sequence[Any]] = None) -> Any:
        """Create ``path`` and any missing parents; existing nodes are fine."""
        validate_path(path)
        return self._run(self._ensure_path(path, acl))

    def _ensure_path(self, path: str, acl: Optional[Sequence[Any]]) -> Generator[Step, Any, Any]:
        if path == "/":
            return True
        try:
            yield self._engine.op_create(path, b"", self._acl(acl))
            return True
        except NodeExistsError:
            return True
        except NoNodeError:
            pass
        yield from self._ensure_path(parent(path), acl)
        try:
            yield self._engine.op_create(path, b"", self._acl(acl))
        except NodeExistsError:
            pass
        return True

    def get(self, path: str, watch: Optional[Callable[..., Any]] = None) -> Any:
        """``(value, Stat)`` of a node; ``watch`` fires once on its next change."""
        return self._call(self._engine.op_get(path, watch))

    def exists(self, path: str, watch: Optional[Callable[..., Any]] = None) -> Any:
        """The node's ``Stat``, or ``None``; ``watch`` fires on create/change/delete."""
        return self._call(self._engine.op_exists(path, watch))

    def get_children(self, path: str, watch: Optional[Callable[..., Any]] = None,
                     include_data: bool = False) -> Any:
        """Child names (unsorted); ``(names, Stat)`` with ``include_data``."""
        return self._call(self._engine.op_get_children(path, watch, include_data))

    def set(self, path: str, value: bytes, version: int = -1) -> Any:
        """Replace a node's value (only at ``version`` unless -1); returns the new Stat."""
        return self._call(self._engine.op_set(path, value, version))

    set_data = set

    def delete(self, path: str, version: int = -1, recursive: bool = False) -> Any:
        """Delete a node (with ``recursive``, its whole subtree, children first)."""
        req = self._engine.op_delete(path, version)
        if not recursive:
            return self._call(req)
        if version == -1:
            # pipelined: list breadth first, delete deepest first in multi batches
            from .recipe.bulk import MAX_REQUESTS, OPS_PER_REQUEST, _delete_tree_gen
            return self._run(_delete_tree_gen(self, path, OPS_PER_REQUEST, MAX_REQUESTS))
        return self._run(self._delete_recursive(path, version))

    def _delete_recursive(self, path: str, version: int = -1) -> Generator[Step, Any, Any]:
        # Depth first; each level's children are deleted as one pipelined batch.
        while True:
            try:
                children = yield self._engine.op_get_children(path)
            except NoNodeError:
                return True
            except NoAuthError:
                children = []  # unreadable, but deletable if it has no children
            sep = "" if path == "/" else "/"
            for name in children:
                yield from self._delete_recursive(f"{path}{sep}{name}")
            if path == "/":
                return True
            try:
                yield self._engine.op_delete(path, version)
                return True
            except NoNodeError:
                return True
            except NotEmptyError:
                continue  # a child appeared meanwhile: go again

    def sync(self, path: str) -> Any:
        """Let this server catch up with the leader for ``path`` before the next read."""
        return self._call(self._engine.op_sync(path))

    def get_acls(self, path: str) -> Any:
        """``(list of ACL, Stat)``."""
        return self._call(self._engine.op_get_acls(path))

    def set_acls(self, path: str, acls: Sequence[Any], version: int = -1) -> Any:
        return self._call(self._engine.op_set_acls(path, acls, version))

    def get_ephemerals(self, prefix: str = "/") -> Any:
        """Paths of this session's ephemeral nodes under ``prefix``."""
        return self._call(self._engine.op_get_ephemerals(prefix))

    def count_children(self, path: str) -> Any:
        """Number of all descendants of ``path`` (getAllChildrenNumber)."""
        return self._call(self._engine.op_count_children(path))

    def whoami(self) -> Any:
        """The identities of this session (list of ``ClientInfo``)."""
        return self._call(self._engine.op_whoami())

    def reconfig(self, joining: Optional[str] = None, leaving: Optional[str] = None,
                 new_members: Optional[str] = None, from_config: int = -1) -> Any:
        """Change the ensemble; returns ``(config bytes, Stat)``."""
        return self._call(self._engine.op_reconfig(joining, leaving, new_members, from_config))

    def add_auth(self, scheme: str, credential: Union[str, bytes]) -> Any:
        """Add an identity to the session (``"digest", "user:password"``); replayed on reconnect."""
        return self._run(self._add_auth(scheme, credential))

    def _add_auth(self, scheme: str, credential: Union[str, bytes]) -> Generator[Step, Any, Any]:
        req = self._engine.op_auth(scheme, credential)
        yield req
        self._engine.auth_succeeded(req)
        return True

    # ------------------------------------------------------------ transactions

    def transaction(self) -> Transaction[Any]:
        """A builder: ``zk.transaction().check(p, 3).set_data(p, b"x").commit()``."""
        return Transaction(self)

    def _commit(self, ops: Sequence[Any]) -> Any:
        return self._run(self._commit_gen(ops))

    def _commit_gen(self, ops: Sequence[Any]) -> Generator[Step, Any, Any]:
        try:
            return (yield self._engine.op_multi(ops))
        except TransactionFailedError as e:
            return e.results

    def multi(self, *ops: Any) -> Any:
        """Apply ops atomically; raises :class:`TransactionFailedError` (with
        per-op ``results``) if any op fails."""
        return self._call(self._engine.op_multi(ops))

    def multi_read(self, *ops: Any) -> Any:
        """Several reads in one round trip (3.6+); each result is ``(value, Stat)``,
        a list of children, or the exception for that op."""
        return self._call(self._engine.op_multi_read(ops))

    # ------------------------------------------------------------ watches

    def add_watch(self, path: str, watch: Callable[..., Any], recursive: bool = False) -> Any:
        """A persistent watch (3.6+): fires on every change to ``path`` (and with
        ``recursive`` every node below it) until removed. Survives reconnects."""
        return self._call(self._engine.op_add_watch(path, watch, recursive))

    def remove_watches(self, path: str, watcher_type: int = WatcherType.ANY,
                       watch: Optional[Callable[..., Any]] = None, local: bool = False) -> Any:
        """Remove watches on ``path`` from the server (and locally), each watcher
        getting a *_WATCH_REMOVED event. ``local=True`` removes them only here,
        even while disconnected."""
        validate_path(path)
        return self._run(self._remove_watches(path, WatcherType(watcher_type), watch, local))

    def _remove_watches(self, path: str, watcher_type: WatcherType,
                        watch: Optional[Callable[..., Any]], local: bool
                        ) -> Generator[Step, Any, Any]:
        engine = self._engine
        if not engine.watches.has(engine._path(path), watcher_type, watch):
            from .errors import NoWatcherError
            raise NoWatcherError(path=path)
        if not local and (watch is None or not self._other_watchers(path, watcher_type, watch)):
            server_type: Optional[WatcherType] = watcher_type
            if watcher_type in (WatcherType.PERSISTENT, WatcherType.PERSISTENT_RECURSIVE):
                # 3.6-3.8 servers take only CHILDREN/DATA/ANY here; ANY would also drop
                # the one-shot watches on this path, so keep the server's watch while
                # any remain and just stop delivering its events.
                server_type = WatcherType.ANY
                if self._other_watchers(path, WatcherType.ANY, None, exclude=watcher_type):
                    server_type = None
            if server_type is not None:
                yield engine.op_remove_watches(path, server_type)
        engine.remove_local_watches(path, watcher_type, watch)
        self._flush_events()
        return True

    def _other_watchers(self, path: str, watcher_type: WatcherType, watch: Any,
                        exclude: Optional[WatcherType] = None) -> bool:
        """Does anyone but ``watch`` still need the server-side watch?
        (``exclude``: leave that kind of watch out of the question.)"""
        w = self._engine.watches
        spath = self._engine._path(path)
        tables = []
        if watcher_type in (WatcherType.DATA, WatcherType.ANY):
            tables += [w.data, w.exist]
        if watcher_type in (WatcherType.CHILDREN, WatcherType.ANY):
            tables.append(w.child)
        if watcher_type in (WatcherType.PERSISTENT, WatcherType.ANY) and exclude is None:
            tables.append(w.persistent)
        if watcher_type in (WatcherType.PERSISTENT_RECURSIVE, WatcherType.ANY) and exclude is None:
            tables.append(w.recursive)
        with w.lock:
            return any(set(t.get(spath, ())) - {watch} for t in tables)

    def _flush_events(self) -> None:  # pragma: no cover - provided by clients
        raise NotImplementedError

    # go-zookeeper style: the result plus an object that completes with the event

    def _watch_future(self) -> Tuple[Callable[[Any], Any], Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _with_watch(self, req: PendingRequest, fut: Any) -> Generator[Step, Any, Any]:
        result = yield req
        return (*result, fut) if isinstance(result, tuple) else (result, fut)

    def get_w(self, path: str) -> Any:
        """``(value, Stat, watch)`` where ``watch`` completes with the node's next
        change (go's GetW): ``watch.wait(timeout)`` on Client, ``await watch`` on AsyncClient."""
        cb, fut = self._watch_future()
        return self._run(self._with_watch(self._engine.op_get(path, cb), fut))

    def children_w(self, path: str) -> Any:
        """``(children, Stat, watch)`` (go's ChildrenW)."""
        cb, fut = self._watch_future()
        return self._run(self._with_watch(self._engine.op_get_children(path, cb, True), fut))

    def exists_w(self, path: str) -> Any:
        """``(Stat or None, watch)`` (go's ExistsW)."""
        cb, fut = self._watch_future()
        return self._run(self._with_watch(self._engine.op_exists(path, cb), fut))

    # ------------------------------------------------------------ recipes' helpers

    def create_protected_ephemeral_sequential(self, path: str, value: bytes = b"",
                                              acl: Optional[Sequence[Any]] = None) -> Any:
        """Create an ephemeral sequential node that survives a lost reply.

        The name gets a ``_c_<guid>-`` prefix; if the connection drops before the
        reply, the retry first looks for a child carrying our guid, so one call
        never leaves two nodes behind.
        """
        validate_path(path, sequential=True)
        return self._run(self._create_protected(path, value, acl, ephemeral=True))

    def _create_protected(self, path: str, value: bytes, acl: Optional[Sequence[Any]],
                          ephemeral: bool = True, guid: Optional[str] = None
                          ) -> Generator[Step, Any, Any]:
        guid = guid or uuid.uuid4().hex
        par = parent(path)
        prefix = f"{PROTECTED_PREFIX}{guid}-"
        full = f"{'' if par == '/' else par}/{prefix}{basename(path)}"
        first = True
        while True:
            if not first:
                try:
                    children = yield self._engine.op_get_children(par)
                except ConnectionLossError:
                    continue
                for name in children:
                    if name.startswith(prefix):
                        return f"{'' if par == '/' else par}/{name}"
            first = False
            try:
                return (yield self._engine.op_create(full, value, self._acl(acl),
                                                     ephemeral=ephemeral, sequence=True))
            except ConnectionLossError:
                continue



def _recipe_factory(name: str) -> Callable[..., Any]:
    def make(self: ClientAPI, *args: Any, **kwargs: Any) -> Any:
        from . import recipe  # lazy: `import zkfast` does not load the recipes
        return getattr(recipe.RecipeMethods, name)(self, *args, **kwargs)
    make.__name__ = make.__qualname__ = name
    make.__doc__ = f"``zk.{name}(...)``: the :mod:`zkfast.recipe` {name} on this client."
    return make


for _name in ("Lock", "ReadLock", "WriteLock", "MultiLock", "Semaphore", "Election",
              "LeaderLatch", "Counter", "Barrier", "DoubleBarrier", "Party", "ShallowParty",
              "Queue", "LockingQueue", "DataWatch", "ChildrenWatch", "TreeCache"):
    setattr(ClientAPI, _name, _recipe_factory(_name))
del _name
