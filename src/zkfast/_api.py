"""The ZooKeeper API written once for both clients.

:class:`ClientAPI` is what a user holds: :class:`zkfast.Client` and
:class:`zkfast.AsyncClient` are ClientAPIs over a different session
(:class:`zkfast.client.ThreadSession`, :class:`zkfast.aio.AsyncioSession`).
Every public call builds a request with the engine and hands it to
``self._call`` (the sync client returns the result, the async client an
awaitable). Calls that take several round trips are step generators
(:mod:`zkfast.compound`, :mod:`zkfast.tree`) that ``self._run`` drives,
blocking or awaiting. So a fix here is a fix for both clients.

The constructor's defaults are written here, once, for both clients; each
option is described in :class:`zkfast.config.ClientConfig`.
"""

from __future__ import annotations

import logging
import ssl
import warnings
from typing import Any, Callable, ClassVar, Dict, Optional, Sequence, Tuple, Type, Union

from . import compound, tree
from .config import DEFAULT_MAX_REQUEST_SIZE, ClientConfig, SocketFactory
from .errors import ConnectionLossError, NoWatcherError, ProtocolError
from .events import State, WatchedEvent, WatcherType
from .hosts import Address, HostProvider, parse_connect_string
from .interface import RequestFactory
from .paths import validate_path
from .requests import PendingRequest
from .session import Session
from .steps import Done, StepGen
from .transaction import Transaction

__all__ = ["ClientAPI"]


class ClientAPI:
    """Public methods shared by :class:`Client` and :class:`AsyncClient`."""

    #: True for :class:`zkfast.AsyncClient`: calls return awaitables.
    is_async: ClassVar[bool] = False
    _session_class: ClassVar[Type[Session]]
    _session: Session

    def __init__(self, hosts: Union[str, Sequence[str]] = "127.0.0.1:2181",
                 session_timeout: float = 10.0, *,
                 connection_timeout: Optional[float] = None,
                 auth_data: Optional[Sequence[Tuple[str, Any]]] = None,
                 default_acl: Optional[Sequence[Any]] = None,
                 read_only: bool = False,
                 ssl_context: Optional[ssl.SSLContext] = None,
                 host_provider: Optional[HostProvider] = None,
                 connect: Optional[SocketFactory] = None,
                 max_buffer_size: Optional[int] = None,
                 max_request_size: int = DEFAULT_MAX_REQUEST_SIZE,
                 client_id: Optional[Tuple[int, bytes]] = None,
                 sasl_options: Optional[Dict[str, Any]] = None,
                 logger: Optional[logging.Logger] = None,
                 event_callback: Optional[Callable[[WatchedEvent], Any]] = None,
                 name: Optional[str] = None,
                 coalesce_reads: bool = True,
                 max_in_flight: Optional[int] = 10_000,
                 max_queued: int = 10_000,
                 request_timeout: Optional[float] = None,
                 track_ensemble: bool = False,
                 observer: Optional[Callable[[Any], Any]] = None,
                 request_stats: bool = False) -> None:
        config = ClientConfig.build(
            hosts, session_timeout, connection_timeout=connection_timeout, auth_data=auth_data,
            default_acl=default_acl, read_only=read_only, ssl_context=ssl_context,
            host_provider=host_provider, connect=connect, max_buffer_size=max_buffer_size,
            max_request_size=max_request_size, client_id=client_id, sasl_options=sasl_options,
            logger=logger, event_callback=event_callback, name=name,
            coalesce_reads=coalesce_reads, max_in_flight=max_in_flight, max_queued=max_queued,
            request_timeout=request_timeout, track_ensemble=track_ensemble, observer=observer,
            request_stats=request_stats)
        session = self._session_class(config)
        #: The client's configuration (:class:`zkfast.config.ClientConfig`).
        self.config = config
        #: The ACL ``create`` uses when none is given (may be changed).
        self.default_acl: Optional[Sequence[Any]] = config.default_acl
        self.log = config.logger
        self._session = session
        self._engine = session.engine
        #: The engine's request builders (:class:`zkfast.interface.RequestFactory`).
        self.requests: RequestFactory = session.engine
        # Bound methods of the session, looked up once (the hot path).
        self._call: Callable[..., Any] = session.call
        self._submit: Callable[[PendingRequest], Any] = session.submit
        self._run: Callable[[StepGen], Any] = session.run_steps

    _how_to_close = "close() it (or use a with block)"

    def __del__(self) -> None:
        # A client dropped unclosed: warn as an unclosed file does, and close it
        # (the threads and tasks hold only the session, so this can happen).
        session = self.__dict__.get("_session")
        if session is None or not session.started or session._closed or session._forked \
                or session._closing:
            return
        warnings.warn(f"unclosed {self!r}: {self._how_to_close}", ResourceWarning,
                      stacklevel=2, source=self)
        session.close_in_background()

    def __repr__(self) -> str:
        engine = self.__dict__.get("_engine")
        if engine is None:
            return f"<zkfast.{type(self).__name__} (not configured)>"
        return (f"<zkfast.{type(self).__name__} hosts={self.config.hosts!r} "
                f"state={engine.state.value} session=0x{engine.session_id:x}>")

    # ------------------------------------------------------------ the recipe interface
    # (zkfast.interface.SessionClient: what recipes and multi-step calls use)

    def run_steps(self, gen: StepGen) -> Any:
        """Drive a step generator (:mod:`zkfast.steps`) to its end: its result
        (Client) or an awaitable of it (AsyncClient)."""
        return self._run(gen)

    def submit(self, req: PendingRequest) -> Any:
        """Send one request built with ``client.requests``: a :class:`zkfast.Future`
        (Client) or an asyncio future (AsyncClient)."""
        return self._submit(req)

    def run_in_background(self, gen: StepGen, done: Optional[Done] = None) -> None:
        """Drive a step generator without blocking; ``done(result, error)`` hears the end."""
        self._session.run_in_background(gen, done)

    def call_later(self, delay: float, fn: Callable[[], Any]) -> Any:
        """Run ``fn()`` after ``delay`` seconds (a timer thread, or the event loop)."""
        return self._session.call_later(delay, fn)

    def new_event(self) -> Any:
        """A ``threading.Event`` (Client) or an ``asyncio.Event`` (AsyncClient)."""
        return self._session.new_event()

    def wait_connected(self, timeout: Optional[float] = None) -> Any:
        """Whether the client is connected within ``timeout`` (awaitable on AsyncClient)."""
        return self._session.wait_connected(timeout)

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
    def hosts(self) -> str:
        return self.config.hosts

    @property
    def session_timeout(self) -> float:
        """The session timeout asked for, in seconds."""
        return self.config.session_timeout

    @property
    def negotiated_session_timeout(self) -> float:
        """The session timeout the server granted, in seconds."""
        return self._engine.negotiated_timeout

    @property
    def connection_timeout(self) -> float:
        return self.config.connection_timeout

    @property
    def read_only(self) -> bool:
        return self.config.read_only

    @property
    def ssl_context(self) -> Optional[ssl.SSLContext]:
        return self.config.ssl_context

    @property
    def sasl_options(self) -> Optional[Dict[str, Any]]:
        return self.config.sasl_options

    @property
    def server(self) -> Optional[Address]:
        """``(host, port)`` of the server of the current (or last) connection."""
        return self._session.server

    @property
    def last_heard(self) -> float:
        """``time.monotonic()`` when a reply last came from a server (0.0 before
        the first). The server expires the session one session timeout after it
        last heard from the client: ``last_heard + negotiated_session_timeout``
        is the earliest the session may be gone."""
        return self._session.last_heard

    @property
    def last_error(self) -> Optional[BaseException]:
        """Why the last connection (or connection attempt) ended."""
        return self._session.last_error

    def stats(self) -> Dict[str, Any]:
        """What this client has done: ``state``; ``in_flight`` (requests awaiting
        a reply) and ``queued`` (made while disconnected); ``frames_sent``,
        ``batches_sent`` (multiRead frames of coalesced reads) and
        ``batched_reads`` (the reads they carried); ``bytes_sent`` and
        ``bytes_received``; ``connects``, ``reconnects`` and ``state_changes``;
        ``refused_queue_full`` (calls refused with QueueFullError);
        with ``request_stats=True`` also ``requests``: per operation the count,
        errors by type and latency percentiles (seconds)."""
        return self._session.stats()

    def add_observer(self, fn: Callable[[Any], Any]) -> None:
        """Also call ``fn(record)`` (a :class:`zkfast.metrics.RequestRecord`) as
        each request finishes from now on, like ``observer=``."""
        self._session.add_observer(fn)

    def add_listener(self, fn: Callable[[State], Any]) -> None:
        """Call ``fn(state)`` at every state change, in order, on the client's
        dispatcher (AsyncClient awaits it if it is a coroutine function)."""
        self._session.add_listener(fn)

    def remove_listener(self, fn: Callable[[State], Any]) -> None:
        self._session.remove_listener(fn)

    def _acl(self, acl: Optional[Sequence[Any]]) -> Optional[Sequence[Any]]:
        return acl if acl is not None else self.default_acl

    # ------------------------------------------------------------ CRUD

    def create(self, path: str, value: bytes = b"", acl: Optional[Sequence[Any]] = None, *,
               ephemeral: bool = False, sequence: bool = False, makepath: bool = False,
               container: bool = False, ttl: Optional[float] = None,
               include_data: bool = False, timeout: Optional[float] = None) -> Any:
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
            return self._call(req, timeout)
        first = [req]

        def build_once() -> PendingRequest:  # the request already built, then fresh ones
            return first.pop() if first else build()
        return self._run(compound.create_makepath(self, build_once, path, acl))

    def ensure_path(self, path: str, acl: Optional[Sequence[Any]] = None) -> Any:
        """Create ``path`` and any missing parents; existing nodes are fine."""
        validate_path(path)
        return self._run(compound.ensure_path(self, path, acl))

    def get(self, path: str, watch: Optional[Callable[..., Any]] = None,
            *, timeout: Optional[float] = None) -> Any:
        """``(value, Stat)`` of a node; ``watch`` fires once on its next change."""
        return self._call(self._engine.op_get(path, watch), timeout)

    def exists(self, path: str, watch: Optional[Callable[..., Any]] = None,
               *, timeout: Optional[float] = None) -> Any:
        """The node's ``Stat``, or ``None``; ``watch`` fires on create/change/delete."""
        return self._call(self._engine.op_exists(path, watch), timeout)

    def get_children(self, path: str, watch: Optional[Callable[..., Any]] = None,
                     include_data: bool = False, *, timeout: Optional[float] = None) -> Any:
        """Child names (unsorted); ``(names, Stat)`` with ``include_data``."""
        return self._call(self._engine.op_get_children(path, watch, include_data), timeout)

    def set(self, path: str, value: bytes, version: int = -1, *, timeout: Optional[float] = None) -> Any:
        """Replace a node's value (only at ``version`` unless -1); returns the new Stat."""
        return self._call(self._engine.op_set(path, value, version), timeout)

    set_data = set

    def delete(self, path: str, version: int = -1, recursive: bool = False, *,
               timeout: Optional[float] = None) -> Any:
        """Delete a node (with ``recursive``, its whole subtree, children first)."""
        req = self._engine.op_delete(path, version)
        if not recursive:
            return self._call(req, timeout)
        if version == -1:
            # pipelined: list breadth first, delete deepest first in multi batches
            return self._run(tree.delete_tree(self, path))
        return self._run(compound.delete_recursive(self, path, version))

    def sync(self, path: str, *, timeout: Optional[float] = None) -> Any:
        """Let this server catch up with the leader for ``path`` before the next read."""
        return self._call(self._engine.op_sync(path), timeout)

    def get_acls(self, path: str, *, timeout: Optional[float] = None) -> Any:
        """``(list of ACL, Stat)``."""
        return self._call(self._engine.op_get_acls(path), timeout)

    def set_acls(self, path: str, acls: Sequence[Any], version: int = -1,
                 *, timeout: Optional[float] = None) -> Any:
        return self._call(self._engine.op_set_acls(path, acls, version), timeout)

    def get_ephemerals(self, prefix: str = "/", *, timeout: Optional[float] = None) -> Any:
        """Paths of this session's ephemeral nodes under ``prefix``."""
        return self._call(self._engine.op_get_ephemerals(prefix), timeout)

    def count_children(self, path: str, *, timeout: Optional[float] = None) -> Any:
        """Number of all descendants of ``path`` (getAllChildrenNumber)."""
        return self._call(self._engine.op_count_children(path), timeout)

    def whoami(self, *, timeout: Optional[float] = None) -> Any:
        """The identities of this session (list of ``ClientInfo``)."""
        return self._call(self._engine.op_whoami(), timeout)

    def reconfig(self, joining: Optional[str] = None, leaving: Optional[str] = None,
                 new_members: Optional[str] = None, from_config: int = -1,
                 *, timeout: Optional[float] = None) -> Any:
        """Change the ensemble; returns ``(config bytes, Stat)``."""
        return self._call(self._engine.op_reconfig(joining, leaving, new_members, from_config), timeout)

    def get_config(self, watch: Optional[Callable[..., Any]] = None) -> Any:
        """The ensemble's dynamic configuration (:class:`zkfast.ensemble.EnsembleConfig`:
        members with their roles and addresses, and the config's version), read
        from ``/zookeeper/config`` whatever the chroot; ``watch`` fires on its
        next change (event path ``/zookeeper/config``)."""
        return self._run(_config_steps(self._engine.op_get_config(watch)))

    def update_server_list(self, hosts: Union[str, Sequence[str]]) -> Optional[Address]:
        """Take a new list of servers (a connect string or a list; a chroot in
        it is ignored) without ending the session. To keep the load even across
        the ensemble, the client may move to another server
        (:func:`zkfast.hosts.rebalance`); it returns where, or None."""
        servers, _chroot = parse_connect_string(hosts)
        return self._session.update_server_list(servers)

    def add_auth(self, scheme: str, credential: Union[str, bytes]) -> Any:
        """Add an identity to the session (``"digest", "user:password"``); replayed on reconnect."""
        return self._run(self._add_auth(scheme, credential))

    def _add_auth(self, scheme: str, credential: Union[str, bytes]) -> StepGen:
        req = self._engine.op_auth(scheme, credential)
        yield req
        self._engine.auth_succeeded(req)
        return True

    # ------------------------------------------------------------ transactions

    def transaction(self) -> Transaction[Any]:
        """A builder: ``zk.transaction().check(p, 3).set_data(p, b"x").commit()``."""
        return Transaction(self)

    def multi(self, *ops: Any, timeout: Optional[float] = None) -> Any:
        """Apply ops atomically; raises :class:`TransactionFailedError` (with
        per-op ``results``) if any op fails."""
        return self._call(self._engine.op_multi(ops), timeout)

    def multi_read(self, *ops: Any, timeout: Optional[float] = None) -> Any:
        """Several reads in one round trip (3.6+); each result is ``(value, Stat)``,
        a list of children, or the exception for that op."""
        return self._call(self._engine.op_multi_read(ops), timeout)

    # ------------------------------------------------------------ watches

    def add_watch(self, path: str, watch: Callable[..., Any], recursive: bool = False,
                  *, timeout: Optional[float] = None) -> Any:
        """A persistent watch (3.6+): fires on every change to ``path`` (and with
        ``recursive`` every node below it) until removed. Survives reconnects."""
        return self._call(self._engine.op_add_watch(path, watch, recursive), timeout)

    def remove_watches(self, path: str, watcher_type: int = WatcherType.ANY,
                       watch: Optional[Callable[..., Any]] = None, local: bool = False) -> Any:
        """Remove watches on ``path`` from the server (and locally), each watcher
        getting a *_WATCH_REMOVED event. ``local=True`` removes them only here,
        even while disconnected."""
        validate_path(path)
        return self._run(self.remove_watches_steps(path, WatcherType(watcher_type), watch, local))

    def remove_watches_steps(self, path: str, watcher_type: int,
                             watch: Optional[Callable[..., Any]], local: bool) -> StepGen:
        """:meth:`remove_watches` as a step generator (for recipes to ``yield from``)."""
        engine = self._engine
        watches = engine.watches
        spath = engine.server_path(path)
        if not watches.has(spath, watcher_type, watch):
            raise NoWatcherError(path=path)
        if not local and (watch is None
                          or not watches.others_need_server_watch(spath, watcher_type, watch)):
            server_type: Optional[int] = watcher_type
            if watcher_type in (WatcherType.PERSISTENT, WatcherType.PERSISTENT_RECURSIVE):
                # 3.6-3.8 servers take only CHILDREN/DATA/ANY here; ANY would also drop
                # the one-shot watches on this path, so keep the server's watch while
                # any remain and just stop delivering its events.
                server_type = WatcherType.ANY
                if watches.others_need_server_watch(spath, WatcherType.ANY, None, one_shot_only=True):
                    server_type = None
            if server_type is not None:
                yield engine.op_remove_watches(path, server_type)
        engine.remove_local_watches(path, watcher_type, watch)
        self._session.flush_events()
        return True

    # go-zookeeper style: the result plus an object that completes with the event

    def get_w(self, path: str) -> Any:
        """``(value, Stat, watch)`` where ``watch`` completes with the node's next
        change (go's GetW): ``watch.wait(timeout)`` on Client, ``await watch`` on AsyncClient."""
        watcher, watch = self._session.new_watch_future()
        return self._run(compound.with_watch(self._engine.op_get(path, watcher), watch))

    def children_w(self, path: str) -> Any:
        """``(children, Stat, watch)`` (go's ChildrenW)."""
        watcher, watch = self._session.new_watch_future()
        return self._run(compound.with_watch(self._engine.op_get_children(path, watcher, True), watch))

    def exists_w(self, path: str) -> Any:
        """``(Stat or None, watch)`` (go's ExistsW)."""
        watcher, watch = self._session.new_watch_future()
        return self._run(compound.with_watch(self._engine.op_exists(path, watcher), watch))

    # ------------------------------------------------------------ protected creates

    def create_protected_ephemeral_sequential(self, path: str, value: bytes = b"",
                                              acl: Optional[Sequence[Any]] = None) -> Any:
        """Create an ephemeral sequential node that survives a lost reply.

        The name gets a ``_c_<guid>-`` prefix; if the connection drops before the
        reply, the retry first looks for a child carrying our guid, so one call
        never leaves two nodes behind.
        """
        validate_path(path, sequential=True)
        return self._run(compound.create_protected(self, path, value, acl, ephemeral=True))

    # ------------------------------------------------------------ extras

    def _server_version(self, timeout: float) -> Any:
        """The server's version, read with the ``srvr`` four-letter word (runs
        as a plain blocking call on Client; AsyncClient runs it in an executor)."""
        from . import flw
        server = self.server
        if server is None or not self.connected:
            raise ConnectionLossError("not connected to a server")
        host, port = server
        stats = flw.srvr([f"{host}:{port}"], timeout=timeout)
        st = next(iter(stats.values()))
        if st.error is not None:
            raise ProtocolError(f"srvr failed on {host}:{port}: {st.error}")
        return str(st.version)

def _config_steps(req: PendingRequest) -> StepGen:
    from .ensemble import EnsembleConfig
    data, _stat = yield req
    return EnsembleConfig.parse(data or b"")


def _recipe_factory(name: str) -> Callable[..., Any]:
    def make(self: ClientAPI, *args: Any, **kwargs: Any) -> Any:
        from . import recipe  # lazy: `import zkfast` does not load the recipes
        cls = getattr(recipe, f"Async{name}" if self.is_async else name)
        return cls(self, *args, **kwargs)
    make.__name__ = make.__qualname__ = name
    make.__doc__ = (f"``zk.{name}(...)`` is ``zkfast.recipe.{name}(zk, ...)`` "
                    f"(``Async{name}`` on an AsyncClient).")
    return make


for _name in ("Lock", "ReadLock", "WriteLock", "MultiLock", "Semaphore", "Election",
              "LeaderLatch", "Counter", "Barrier", "DoubleBarrier", "Party", "ShallowParty",
              "Queue", "LockingQueue", "DataWatch", "ChildrenWatch", "TreeCache",
              "PersistentNode", "PersistentTtlNode", "PersistentWatcher", "GroupMember",
              "SharedValue", "SharedCount", "LeaderSelector", "ServiceDiscovery"):
    setattr(ClientAPI, _name, _recipe_factory(_name))
del _name
