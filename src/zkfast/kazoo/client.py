"""kazoo's ``KazooClient`` on the zkfast engine.

Every call goes straight to a :class:`zkfast.Client` (``client.native``); this
layer adds kazoo's argument handling (positional arguments, relative paths
made absolute, its type checks), kazoo's result shapes (:class:`ZnodeStat`,
kazoo's :class:`~zkfast.kazoo.security.ACL`, ``IAsyncResult``), kazoo's
exceptions, kazoo's states and listeners, and kazoo's watch semantics.

>>> zk = KazooClient(hosts="127.0.0.1:2181")     # doctest: +SKIP
>>> zk.start()
>>> zk.create("/app/config", b"v1", makepath=True)
'/app/config'
>>> data, stat = zk.get("/app/config")
>>> zk.stop()

Differences from kazoo that code may notice (see docs/migrating-from-kazoo.md):

* The connection, reconnects and backoff are zkfast's (``connection_retry`` is
  accepted and kept but does not drive reconnects). A request made while
  disconnected waits for the reconnect at most one session timeout, then fails
  with ``ConnectionLoss``.
* State listeners and watch functions run on the zkfast client's dispatcher
  thread, one at a time and in order (kazoo: the connection thread and the
  handler's watch worker). ``rawlink`` callbacks run on the handler's
  completion worker, as in kazoo.
* Only the threading handler exists.
"""

from __future__ import annotations

import inspect
import logging
import os
import socket
import threading
import warnings
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple, Type, Union

from .. import compound
from ..client import Client, Future
from ..errors import ClosedError, ZooKeeperError
from ..errors import NodeExistsError as _NodeExists
from ..events import State
from ..hosts import format_address, parse_connect_string
from . import _tls
from ._errors import kazoo_error, make
from ._hostprovider import KazooHostProvider
from ._results import RequestResult, ResultKinds, adopt, failed_result
from ._transaction import TransactionRequest
from ._watches import CHILD, DATA, WatchTable
from .exceptions import (
    AuthFailedError,
    ConfigurationError,
    ConnectionClosedError,
    ConnectionLoss,
    InvalidACLError,
    KazooException,
    NodeExistsError,
    NoNodeError,
    SessionExpiredError,
    WriterNotClosedException,
)
from .handlers.threading import SequentialThreadingHandler
from .hosts import collect_hosts
from .protocol.connection import _CONNECTION_DROP, _SESSION_EXPIRED
from .protocol.paths import normpath
from .protocol.states import Callback, EventType, KazooState, KeeperState, WatchedEvent, ZnodeStat
from .recipe.barrier import Barrier, DoubleBarrier
from .recipe.counter import Counter
from .recipe.election import Election
from .recipe.lease import MultiNonBlockingLease, NonBlockingLease
from .recipe.lock import Lock, ReadLock, Semaphore, WriteLock
from .recipe.partitioner import SetPartitioner
from .recipe.party import Party, ShallowParty
from .recipe.queue import LockingQueue, Queue
from .recipe.watchers import ChildrenWatch, DataWatch
from .retry import KazooRetry
from .security import ACL, OPEN_ACL_UNSAFE

# kazoo's client module also hands out these names, and code imports them from there
# (``from kazoo.client import KazooClient, KazooState``).
__all__ = ["KazooClient", "TransactionRequest", "KazooState", "KeeperState", "EventType",
           "WatchedEvent", "Callback", "ZnodeStat", "ACL", "OPEN_ACL_UNSAFE", "KazooRetry",
           "AuthFailedError", "ConfigurationError", "ConnectionClosedError", "ConnectionLoss",
           "KazooException", "NoNodeError", "NodeExistsError", "SessionExpiredError",
           "WriterNotClosedException", "SequentialThreadingHandler", "Barrier", "DoubleBarrier",
           "Counter", "Election", "NonBlockingLease", "MultiNonBlockingLease", "Lock", "ReadLock",
           "WriteLock", "Semaphore", "SetPartitioner", "Party", "ShallowParty", "Queue",
           "LockingQueue", "ChildrenWatch", "DataWatch"]

log = logging.getLogger(__name__)

CLOSED_STATES = (KeeperState.EXPIRED_SESSION, KeeperState.AUTH_FAILED, KeeperState.CLOSED)

# zkfast's states as kazoo's session states
_KEEPER = {
    State.CONNECTING: KeeperState.CONNECTING,
    State.CONNECTED: KeeperState.CONNECTED,
    State.CONNECTED_READ_ONLY: KeeperState.CONNECTED_RO,
    State.SUSPENDED: KeeperState.CONNECTING,
    State.LOST: KeeperState.CONNECTING,  # presumed lost: kazoo waits for the server to say so
    State.EXPIRED: KeeperState.EXPIRED_SESSION,
    State.AUTH_FAILED: KeeperState.AUTH_FAILED,
    State.CLOSED: KeeperState.CLOSED,
}

_RETRY_COMPAT = {"max_retries": "max_tries", "retry_delay": "delay", "retry_backoff": "backoff",
                 "retry_max_delay": "max_delay"}
_RETRY_COMPAT_DEFAULTS: Dict[str, Any] = {"max_tries": None, "delay": 0.1, "backoff": 2,
                                          "max_delay": 3600}

_FOREVER = 1e8  # seconds: "until connected or closed" for the background start
_PATH_CACHE_SIZE = 4096
_znode = tuple.__new__  # tuple.__new__(ZnodeStat, stat): a zkfast Stat as kazoo's ZnodeStat


def _children(value: Any) -> Any:
    if type(value) is tuple:  # include_data
        return value[0], _znode(ZnodeStat, value[1])
    return value


def _path_stat(value: Any) -> Any:
    if type(value) is tuple:  # include_data
        return value[0], _znode(ZnodeStat, value[1])
    return value


def _check_acl_list(acl: Any) -> None:
    """kazoo wants a list or tuple of ACLs, never a single one."""
    if acl and (not isinstance(acl, (tuple, list))
                or (isinstance(acl, tuple) and isinstance(acl[0], int))):
        raise TypeError("Invalid type for 'acl' (acl must be a tuple/list of ACL's)")


class _Offline:
    """Stands in for the zkfast client before ``start()`` and after ``stop()``:
    every call fails as kazoo's do then (ConnectionClosedError)."""

    connected = False
    state = State.CLOSED
    client_id: Tuple[int, Optional[bytes]] = (0, None)
    server = None

    @property
    def requests(self) -> Any:
        raise ClosedError("the client is not started")

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise ClosedError("the client is not started")
        return refuse


_OFFLINE: Any = _Offline()


class KazooClient:
    """kazoo's client (same constructor, methods and attributes) on zkfast.

    See the module docstring for what differs. ``native`` is the
    :class:`zkfast.Client` underneath while started.
    """

    def __init__(self, hosts: Union[str, Sequence[str]] = "127.0.0.1:2181", timeout: float = 10.0,
                 client_id: Optional[Tuple[int, bytes]] = None, handler: Any = None,
                 default_acl: Optional[Sequence[Any]] = None,
                 auth_data: Optional[Sequence[Tuple[str, str]]] = None,
                 sasl_options: Optional[Dict[str, Any]] = None, read_only: Optional[bool] = None,
                 randomize_hosts: bool = True, connection_retry: Any = None,
                 command_retry: Any = None, logger: Optional[logging.Logger] = None,
                 keyfile: Optional[str] = None, keyfile_password: Optional[str] = None,
                 certfile: Optional[str] = None, ca: Optional[str] = None, use_ssl: bool = False,
                 verify_certs: bool = True, check_hostname: bool = False, **kwargs: Any) -> None:
        self.logger = logger or log
        self.handler = self._check_handler(handler)
        self._results = ResultKinds(self.handler)
        self.auth_data: Set[Tuple[str, str]] = set(auth_data) if auth_data else set()
        self.default_acl = default_acl
        self.randomize_hosts = randomize_hosts
        self.hosts: List[Tuple[str, int]] = []
        self.chroot: Optional[str] = None
        self._provider = KazooHostProvider(randomize_hosts)
        self.set_hosts(hosts)
        self.use_ssl = use_ssl
        self.verify_certs = verify_certs
        self.check_hostname = check_hostname
        self.certfile = certfile
        self.keyfile = keyfile
        self.keyfile_password = keyfile_password
        self.ca = ca
        if use_ssl:  # a bad TLS setup fails here, not at the first connect
            _tls.ssl_context(ca, certfile, keyfile, keyfile_password, verify_certs, check_hostname)
        self.read_only = read_only
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ConfigurationError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self._session_timeout = int(timeout * 1000)  # kazoo keeps milliseconds
        self._timeout = float(timeout)
        self._client_id = client_id

        self._state = KeeperState.CLOSED
        #: :class:`KazooState` as listeners last heard it
        self.state = KazooState.LOST
        self.state_listeners: Set[Callable[[str], Any]] = set()
        self._live = self.handler.event_object()
        self._settled = threading.Event()  # connected, or can never connect (auth failed)
        self._auth_failed = False
        self._stopped = self.handler.event_object()
        self._stopped.set()
        self._state_lock = threading.RLock()
        self._start_lock = threading.Lock()
        self._native: Any = _OFFLINE
        self._watches = WatchTable(lambda: self._state)
        self._paths: Dict[Any, str] = {}
        self._sockets: Dict[int, Any] = {}  # descriptor -> peer of each connection opened
        self._expect_expiry = False

        self._conn_retry, self._retry = self._retries(connection_retry, command_retry, kwargs)
        self._conn_retry.interrupt = self._stopped.is_set
        self._sasl_options = self._sasl(sasl_options)

        self.Barrier = partial(Barrier, self)
        self.Counter = partial(Counter, self)
        self.DoubleBarrier = partial(DoubleBarrier, self)
        self.ChildrenWatch = partial(ChildrenWatch, self)
        self.DataWatch = partial(DataWatch, self)
        self.Election = partial(Election, self)
        self.NonBlockingLease = partial(NonBlockingLease, self)
        self.MultiNonBlockingLease = partial(MultiNonBlockingLease, self)
        self.Lock = partial(Lock, self)
        self.ReadLock = partial(ReadLock, self)
        self.WriteLock = partial(WriteLock, self)
        self.Party = partial(Party, self)
        self.Queue = partial(Queue, self)
        self.LockingQueue = partial(LockingQueue, self)
        self.SetPartitioner = partial(SetPartitioner, self)
        self.Semaphore = partial(Semaphore, self)
        self.ShallowParty = partial(ShallowParty, self)

        if kwargs:
            raise TypeError(f"__init__() got unexpected keyword arguments: {sorted(kwargs)}")

    # ------------------------------------------------------------ construction helpers

    @staticmethod
    def _check_handler(handler: Any) -> Any:
        if handler is None:
            return SequentialThreadingHandler()
        if inspect.isclass(handler):
            raise ConfigurationError(
                f"Handler must be an instance of a class, not the class: {handler}")
        name = getattr(handler, "name", "") or type(handler).__name__
        if "gevent" in name.lower() or "eventlet" in name.lower():
            raise ConfigurationError(
                f"zkfast.kazoo supports only the threading handler, not {type(handler).__name__}")
        for attr in ("event_object", "async_result", "spawn", "sleep_func", "timeout_exception",
                     "start", "stop"):
            if not hasattr(handler, attr):
                raise ConfigurationError(f"handler {handler!r} has no {attr!r}: not a kazoo handler")
        return handler

    def _retries(self, connection_retry: Any, command_retry: Any,
                 kwargs: Dict[str, Any]) -> Tuple[KazooRetry, Callable[..., Any]]:
        conn = KazooRetry(**connection_retry) if type(connection_retry) is dict else connection_retry
        command = KazooRetry(**command_retry) if type(command_retry) is dict else command_retry
        sleep = self.handler.sleep_func
        for label, r in (("Retry handler", conn), ("Command retry handler", command)):
            if isinstance(r, KazooRetry) and r.sleep_func != sleep:
                raise ConfigurationError(f"{label} and event handler must use the same sleep func")
        if not isinstance(conn, KazooRetry) or not isinstance(command, KazooRetry):
            settings = dict(_RETRY_COMPAT_DEFAULTS)
            for old, new in _RETRY_COMPAT.items():
                if old in kwargs:
                    settings[new] = kwargs.pop(old)
                    warnings.warn(f"Passing retry configuration param {old} to the client directly "
                                  f"is deprecated, please pass a configured retry object "
                                  f"(using param {new})", DeprecationWarning, stacklevel=3)
            if not isinstance(conn, KazooRetry):
                conn = KazooRetry(sleep_func=sleep, **settings)
            if not isinstance(command, KazooRetry):
                command = KazooRetry(sleep_func=sleep, **settings)
        command_template = command

        def retry(func: Callable[..., Any], *args: Any, **kw: Any) -> Any:
            """``func(*args, **kw)`` retried on connection loss (a fresh
            :class:`KazooRetry` per call, set by ``command_retry``)."""
            return command_template.copy()(func, *args, **kw)

        self.retry = retry
        return conn, command_template

    def _sasl(self, sasl_options: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
        # kazoo's legacy spelling: ("sasl", "user:password") in auth_data
        for scheme, credential in list(self.auth_data):
            if scheme != "sasl":
                continue
            if sasl_options:
                raise ConfigurationError("Multiple SASL configurations provided")
            warnings.warn("Passing SASL configuration as part of the auth_data is deprecated, "
                          "please use the sasl_options configuration instead",
                          DeprecationWarning, stacklevel=3)
            username, password = credential.split(":", 1)
            sasl_options = {"mechanism": "DIGEST-MD5", "username": username, "password": password,
                            "service": "zookeeper", "principal": "zk-sasl-md5"}
        self.auth_data = {(s, c) for s, c in self.auth_data if s != "sasl"}
        if sasl_options is None:
            return None
        options = dict(sasl_options)
        options.setdefault("mechanism", "DIGEST-MD5")
        if options["mechanism"].upper() != "DIGEST-MD5":
            options.setdefault("host", self.hosts[0][0])  # kazoo names the server host
        return options

    # ------------------------------------------------------------ session properties

    @property
    def native(self) -> Optional[Client]:
        """The :class:`zkfast.Client` doing the work while started (None before
        the first ``start()``): for moving to zkfast's API name by name."""
        n = self._native
        return None if n is _OFFLINE else n

    @property
    def last_zxid(self) -> int:
        """The last zxid seen from the server (0 before the first reply)."""
        return int(getattr(self._native.requests, "last_zxid", 0)) if self._native is not _OFFLINE else 0

    @property
    def client_state(self) -> str:
        """The session state (:class:`KeeperState`)."""
        return self._state

    @property
    def client_id(self) -> Optional[Tuple[int, Optional[bytes]]]:
        """``(session id, password)`` while connected, else None."""
        if self._live.is_set():
            cid: Tuple[int, Optional[bytes]] = self._native.client_id
            return cid
        return None

    @property
    def connected(self) -> bool:
        return bool(self._live.is_set())

    def set_hosts(self, hosts: Union[str, Sequence[str]], randomize_hosts: Optional[bool] = None) -> None:
        """Use ``hosts`` from the next connection attempt on (the live
        connection stays). The chroot cannot change (ConfigurationError)."""
        if randomize_hosts is not None:
            self.randomize_hosts = randomize_hosts
        servers, chroot = collect_hosts(hosts)
        new_chroot = normpath(chroot) if chroot else ""
        if self.chroot is not None and new_chroot != self.chroot:
            raise ConfigurationError("Changing chroot at runtime is not currently supported")
        connect = ",".join(format_address(s) for s in servers) + new_chroot
        try:
            parse_connect_string(connect)  # what the zkfast client will be given
        except ValueError as e:
            raise ValueError(f"bad hosts {hosts!r}: {e}") from None
        self.hosts = servers
        self.chroot = new_chroot
        self._provider.randomize = self.randomize_hosts
        self._provider.set_hosts(servers)

    def add_listener(self, listener: Callable[[str], Any]) -> None:
        """Call ``listener(KazooState)`` at every state change; a listener that
        returns True is removed. It runs on the zkfast dispatcher thread: keep
        it short (spawn work with ``handler.spawn``)."""
        if not callable(listener):
            raise ConfigurationError("listener must be callable")
        self.state_listeners.add(listener)

    def remove_listener(self, listener: Callable[[str], Any]) -> None:
        self.state_listeners.discard(listener)

    # ------------------------------------------------------------ states

    def _make_state_change(self, state: str) -> None:
        """Tell the listeners about a new :class:`KazooState` (once per change)."""
        with self._state_lock:
            if self.state == state:
                return
            self.state = state
            for listener in list(self.state_listeners):
                try:
                    if listener(state) is True:
                        self.remove_listener(listener)
                except Exception:  # noqa: BLE001 - as kazoo: log it, tell the others
                    self.logger.exception("Error in connection state listener")

    def _on_native_state(self, native: Any, state: State) -> None:
        """A zkfast state change (on its dispatcher thread)."""
        if native is not self._native:
            return  # a client of an earlier start
        if self._expect_expiry:
            # The harness expires the session: report it as kazoo's hook does,
            # LOST then CONNECTED, without the disconnects (and the reconnects
            # within the dying session) that come first.
            if state != State.EXPIRED and state not in (State.CLOSED, State.AUTH_FAILED):
                return
            self._expect_expiry = False
        self._session_callback(_KEEPER[state])

    def _session_callback(self, state: str) -> None:
        with self._state_lock:
            if state == self._state:
                return
            was_closed = self._state in CLOSED_STATES
            self._state = state
            if was_closed and state == KeeperState.CONNECTING:
                return  # a new session starting: nothing to tell yet
            if state in (KeeperState.CONNECTED, KeeperState.CONNECTED_RO):
                self.logger.info("Zookeeper connection established, state: %s", state)
                self._live.set()
                self._settled.set()
                self._make_state_change(KazooState.CONNECTED)
                return
            self._live.clear()
            if state == KeeperState.AUTH_FAILED:
                self._auth_failed = True
                self._settled.set()
            elif state == KeeperState.CONNECTING:
                self._settled.clear()
            if state in CLOSED_STATES:
                self.logger.info("Zookeeper session closed, state: %s", state)
                self._make_state_change(KazooState.LOST)
            else:
                self.logger.info("Zookeeper connection lost")
                self._make_state_change(KazooState.SUSPENDED)
            native = self._native
        # kazoo forgets one-shot watches on a disconnect or a lost session
        self._watches.drop_all(native, state, notify=state != KeeperState.CLOSED)

    # ------------------------------------------------------------ lifecycle

    def _new_native(self) -> Client:
        chroot = self.chroot
        # kazoo lets code set client.chroot; a relative one is taken from the root
        chroot = normpath("/" + chroot.lstrip("/")) if chroot else ""
        connect = ",".join(format_address(s) for s in self.hosts) + (chroot if chroot != "/" else "")
        ssl_context = None
        if self.use_ssl:
            ssl_context = _tls.ssl_context(self.ca, self.certfile, self.keyfile,
                                           self.keyfile_password, self.verify_certs,
                                           self.check_hostname)
        client_id, self._client_id = self._client_id, None  # the given session, first start only
        self._provider.randomize = self.randomize_hosts
        native = Client(connect, self._timeout, client_id=client_id,
                        auth_data=sorted(self.auth_data), read_only=bool(self.read_only),
                        ssl_context=ssl_context, host_provider=self._provider,
                        connect=self._open_socket, sasl_options=self._sasl_options,
                        logger=self.logger)
        native.add_listener(partial(self._on_native_state, native))
        return native

    def _open_socket(self, address: Tuple[str, int], timeout: float) -> socket.socket:
        sock = socket.create_connection(address, timeout)
        # Remembered for the harness's connection loss: the descriptor and the peer,
        # since a TLS wrapper takes the socket object's descriptor over.
        sockets = self._sockets
        fd = sock.fileno()
        sockets.pop(fd, None)
        sockets[fd] = sock.getpeername()
        while len(sockets) > 8:  # the live connection is among the latest few
            del sockets[next(iter(sockets))]
        return sock

    def start(self, timeout: float = 15) -> None:
        """Connect; raises the handler's timeout exception (KazooTimeoutError)
        if not connected within ``timeout`` seconds, or AuthFailedError if the
        server refused the credentials (the client is then stopped)."""
        self.start_async()
        self._settled.wait(timeout)
        if not self.connected:
            auth_failed = self._auth_failed
            self.stop()
            self.close()
            if auth_failed:
                raise make(AuthFailedError, "authentication failed")
            raise self.handler.timeout_exception("Connection time-out")
        if self.chroot and not self.exists("/"):
            warnings.warn("No chroot path exists, the chroot path should be created before "
                          "normal use.", stacklevel=2)

    def start_async(self) -> Any:
        """Start connecting without waiting; returns an event set while connected."""
        if self._live.is_set():
            return self._live
        with self._start_lock:
            native = self._native
            if native is not _OFFLINE and native.state not in (State.CLOSED, State.AUTH_FAILED):
                return self._live  # already connecting
            native = self._new_native()
            self._stopped.clear()
            self._settled.clear()
            self._auth_failed = False
            self.handler.start()
            self._native = native
            threading.Thread(target=self._connect, args=(native,), daemon=True,
                             name="zkfast.kazoo-start").start()
        return self._live

    def _connect(self, native: Client) -> None:
        try:
            native.start(_FOREVER)  # returns once connected, or when closed / refused
        except ZooKeeperError as e:
            self.logger.debug("connecting ended: %s", e)

    def stop(self) -> None:
        """End the session (its ephemeral nodes go at once) and stop connecting.
        ``start()`` may be called again (a new session)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        with self._start_lock:
            native, self._native = self._native, _OFFLINE
        self._watches.drop_all(native, KeeperState.CLOSED, notify=False)
        native.close()
        self._expect_expiry = False
        self._session_callback(KeeperState.CLOSED)
        self.handler.stop()

    def restart(self) -> None:
        """``stop()`` then ``start()``."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Free what a stopped client holds; the client may be started again.
        On a started client this raises (stop it first), as in kazoo."""
        if not self._stopped.is_set():
            raise KazooException("Cannot close connection until it is stopped")
        self._sockets.clear()

    def _call(self, request: Any, async_object: Any) -> Optional[bool]:
        """kazoo's test hooks: ``_CONNECTION_DROP`` drops the connection (the
        client reconnects in the same session); ``_SESSION_EXPIRED`` has the
        server expire the session. Other requests are not accepted here."""
        if request is _CONNECTION_DROP:
            self._drop_connection()
        elif request is _SESSION_EXPIRED:
            self._expire_session(",".join(format_address(s) for s in self.hosts))
        else:
            raise TypeError("KazooClient._call only takes kazoo's test hooks here")
        return None

    def _drop_connection(self) -> None:
        """Cut the live connection from this side (the test harness's connection loss)."""
        for fd, peer in list(self._sockets.items()):
            try:
                probe = socket.socket(fileno=os.dup(fd))  # the same connection, TLS or not
            except OSError:
                del self._sockets[fd]  # closed meanwhile
                continue
            try:
                if probe.getpeername() == peer:  # still ours, not a reused descriptor
                    probe.shutdown(socket.SHUT_RDWR)
                else:
                    del self._sockets[fd]
            except OSError:
                del self._sockets[fd]
            finally:
                probe.close()

    def _expire_session(self, plain_hosts: str) -> None:
        """Have the server expire this client's session (the test harness's
        expiry), reporting LOST then CONNECTED as kazoo's harness does."""
        from ..testing.rawsession import expire_session
        native = self._native
        session_id, passwd = native.client_id
        if not session_id or passwd is None:
            raise ConnectionLoss("not connected: no session to expire")
        self._expect_expiry = True
        try:
            for attempt in range(10):
                try:
                    # generous: a freshly started or busy ensemble can be slow to confirm it;
                    # False means the server had expired it already: the client hears that too
                    expire_session(plain_hosts, session_id, passwd, timeout=30.0)
                    return
                except ConnectionError:
                    # This client reconnected (moving the session back) before the
                    # close went through: try again.
                    if attempt == 9:
                        raise
        except BaseException:
            self._expect_expiry = False
            raise

    # ------------------------------------------------------------ four-letter words

    def command(self, cmd: bytes = b"ruok") -> str:
        """Send a four-letter word (``b"ruok"``, ``b"envi"``, ``b"stat"``...) to
        the server of the live connection; its text reply."""
        server = self._native.server if self._live.is_set() else None
        if server is None:
            raise make(ConnectionLoss, "No connection to server")
        sock = _tls.open_connection(server, self._timeout, hostname=self._provider.origin(server),
                                    use_ssl=self.use_ssl, ca=self.ca, certfile=self.certfile,
                                    keyfile=self.keyfile, keyfile_password=self.keyfile_password,
                                    verify_certs=self.verify_certs,
                                    check_hostname=self.check_hostname)
        try:
            sock.sendall(cmd)
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            sock.close()
        return b"".join(chunks).decode("utf-8", "replace")

    def server_version(self, retries: int = 3) -> Tuple[int, ...]:
        """The server's version as a tuple of ints, e.g. ``(3, 8, 0)`` (from ``envi``)."""
        for _ in range(1 + max(0, retries)):
            version = self._parse_version(self.command(b"envi"))
            if version is not None and len(version) > 1:
                return version
        raise KazooException(f"Unable to fetch useable server version after trying "
                             f"{1 + max(0, retries)} times")

    @staticmethod
    def _parse_version(envi: str) -> Optional[Tuple[int, ...]]:
        for line in envi.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() == "zookeeper.version":
                digits = ""
                for ch in value.strip():
                    if not (ch.isdigit() or ch == "."):
                        break
                    digits += ch
                try:
                    return tuple(int(d) for d in digits.split("."))
                except ValueError:
                    return None
        return None

    # ------------------------------------------------------------ paths

    def _norm(self, path: Any) -> str:
        """kazoo's path rules: relative paths are made absolute, empty segments
        dropped, ``.``/``..`` refused (ValueError). Cached."""
        if not isinstance(path, str):
            raise TypeError("Invalid type for 'path' (string expected)")
        norm = normpath("/" + path.lstrip("/"))
        paths = self._paths
        if len(paths) >= _PATH_CACHE_SIZE:
            paths.clear()
        paths[path] = norm
        return norm

    def unchroot(self, path: str) -> str:
        """``path`` without the chroot (paths this client returns have none already)."""
        chroot = self.chroot
        if not chroot:
            return path
        if path == chroot:
            return "/"
        if path.startswith(chroot):
            return path[len(chroot):]
        return path

    # ------------------------------------------------------------ reading

    def exists(self, path: str, watch: Optional[Callable[..., Any]] = None) -> Any:
        """The node's :class:`ZnodeStat`, or None; ``watch(event)`` once on its
        creation, change or deletion."""
        try:
            p = self._paths[path]
        except (KeyError, TypeError):
            p = self._norm(path)
        if not watch:
            try:
                stat = self._native.exists(p)
            except ZooKeeperError as e:
                raise kazoo_error(e) from e
            return None if stat is None else _znode(ZnodeStat, stat)
        w = self._watcher(DATA, p, watch)
        native = self._native
        try:
            stat = native.exists(p, w)
        except ZooKeeperError as e:
            raise kazoo_error(e) from e
        self._watches.registered(w, native)
        return None if stat is None else _znode(ZnodeStat, stat)

    def exists_async(self, path: str, watch: Optional[Callable[..., Any]] = None) -> Any:
        return self._submit("exists_async", DATA, path, watch, self._results.stat)

    def get(self, path: str, watch: Optional[Callable[..., Any]] = None) -> Tuple[Optional[bytes], Any]:
        """``(value, ZnodeStat)``; ``watch(event)`` once on its change or deletion."""
        try:
            p = self._paths[path]
        except (KeyError, TypeError):
            p = self._norm(path)
        if not watch:
            try:
                data, stat = self._native.get(p)
            except ZooKeeperError as e:
                raise kazoo_error(e) from e
            return data, _znode(ZnodeStat, stat)
        w = self._watcher(DATA, p, watch)
        native = self._native
        try:
            data, stat = native.get(p, w)
        except ZooKeeperError as e:
            raise kazoo_error(e) from e
        self._watches.registered(w, native)
        return data, _znode(ZnodeStat, stat)

    def get_async(self, path: str, watch: Optional[Callable[..., Any]] = None) -> Any:
        if not watch:
            try:
                p = self._paths[path]
            except (KeyError, TypeError):
                p = self._norm(path)
            try:
                fut = self._native.get_async(p)
            except ZooKeeperError as e:
                return failed_result(self.handler, kazoo_error(e))
            fut.__class__ = self._results.data  # adopt(), inlined on the hottest path
            return fut
        return self._submit("get_async", DATA, path, watch, self._results.data)

    def get_children(self, path: str, watch: Optional[Callable[..., Any]] = None,
                     include_data: bool = False) -> Any:
        """Child names (unsorted); ``(names, ZnodeStat)`` with ``include_data``;
        ``watch(event)`` once when a child comes or goes, or the node is deleted."""
        if not isinstance(include_data, bool):
            raise TypeError("Invalid type for 'include_data' (bool expected)")
        try:
            p = self._paths[path]
        except (KeyError, TypeError):
            p = self._norm(path)
        w = self._watcher(CHILD, p, watch) if watch else None
        native = self._native
        try:
            value = native.get_children(p, w, include_data)
        except ZooKeeperError as e:
            raise kazoo_error(e) from e
        if w is not None:
            self._watches.registered(w, native)
        return _children(value)

    def get_children_async(self, path: str, watch: Optional[Callable[..., Any]] = None,
                           include_data: bool = False) -> Any:
        if not isinstance(include_data, bool):
            raise TypeError("Invalid type for 'include_data' (bool expected)")
        return self._submit("get_children_async", CHILD, path, watch, self._results.children,
                            include_data)

    def get_acls(self, path: str) -> Tuple[List[ACL], Any]:
        """``([ACL, ...], ZnodeStat)`` of the node."""
        acls: Tuple[List[ACL], Any] = self._sync(self.get_acls_async(path))
        return acls

    def get_acls_async(self, path: str) -> Any:
        return self._submit("get_acls_async", None, path, None, self._results.acls)

    def _watcher(self, kind: int, path: str, watch: Any) -> Any:
        if not callable(watch):
            raise TypeError("Invalid type for 'watch' (must be a callable)")
        return self._watches.watcher(kind, path, watch)

    def _submit(self, method: str, kind: Optional[int], path: Any, watch: Any,
                result: Type[RequestResult], *args: Any) -> Any:
        """A read's async form: the request sent, the watch tracked once it is set."""
        try:
            p = self._paths[path]
        except (KeyError, TypeError):
            p = self._norm(path)
        w = self._watcher(kind, p, watch) if watch and kind is not None else None
        native = self._native
        try:
            fut = getattr(native, method)(p, w, *args) if kind is not None else \
                getattr(native, method)(p)
        except ZooKeeperError as e:
            return failed_result(self.handler, kazoo_error(e))
        if w is not None:
            watches = self._watches

            def set_once_done(f: Any) -> None:
                # Future's own exception(): f may already be adopted as a result
                if Future.exception(f) is None:
                    watches.registered(w, native)
            fut.add_done_callback(set_once_done)
        return adopt(fut, result)

    @staticmethod
    def _sync(result: Any) -> Any:
        return result.get()

    # ------------------------------------------------------------ writing

    def create(self, path: str, value: Optional[bytes] = b"", acl: Optional[Sequence[Any]] = None,
               ephemeral: bool = False, sequence: bool = False, makepath: bool = False,
               include_data: bool = False) -> Any:
        """Create a node; its path (``(path, ZnodeStat)`` with ``include_data``).
        ``makepath`` creates missing parents (with the same ACL)."""
        acl = acl or self.default_acl
        p = self._create_args(path, value, acl, ephemeral, sequence, makepath, include_data)
        try:
            return _path_stat(self._native.create(p, value, acl or OPEN_ACL_UNSAFE,
                                                  ephemeral=ephemeral, sequence=sequence,
                                                  makepath=makepath, include_data=include_data))
        except ZooKeeperError as e:
            raise kazoo_error(e) from e

    def create_async(self, path: str, value: Optional[bytes] = b"",
                     acl: Optional[Sequence[Any]] = None, ephemeral: bool = False,
                     sequence: bool = False, makepath: bool = False,
                     include_data: bool = False) -> Any:
        if acl is None and self.default_acl:
            acl = self.default_acl
        p = self._create_args(path, value, acl, ephemeral, sequence, makepath, include_data)
        acl = acl or OPEN_ACL_UNSAFE
        native = self._native
        if makepath:
            def build() -> Any:
                return native.requests.op_create(p, value, acl, ephemeral=ephemeral,
                                                 sequence=sequence, include_data=include_data)
            return self._background(compound.create_makepath(native, build, p, acl), _path_stat)
        try:
            fut = native.create_async(p, value, acl, ephemeral=ephemeral, sequence=sequence,
                                      include_data=include_data)
        except ZooKeeperError as e:
            return failed_result(self.handler, kazoo_error(e))
        return adopt(fut, self._results.path)

    def _create_args(self, path: Any, value: Any, acl: Any, ephemeral: Any, sequence: Any,
                     makepath: Any, include_data: Any) -> str:
        if not isinstance(path, str):
            raise TypeError("Invalid type for 'path' (string expected)")
        _check_acl_list(acl)
        if value is not None and not isinstance(value, bytes):
            raise TypeError("Invalid type for 'value' (must be a byte string)")
        for name, flag in (("ephemeral", ephemeral), ("sequence", sequence),
                           ("makepath", makepath), ("include_data", include_data)):
            if not isinstance(flag, bool):
                raise TypeError(f"Invalid type for '{name}' (bool expected)")
        if sequence:
            return normpath("/" + path.lstrip("/"), trailing=True)
        try:
            return self._paths[path]
        except KeyError:
            return self._norm(path)

    def ensure_path(self, path: str, acl: Optional[Sequence[Any]] = None) -> Any:
        """Create ``path`` and missing parents; True if it existed, else its path."""
        return self._sync(self.ensure_path_async(path, acl))

    def ensure_path_async(self, path: str, acl: Optional[Sequence[Any]] = None) -> Any:
        acl = acl or self.default_acl or OPEN_ACL_UNSAFE
        return self._background(self._ensure_steps(self._native, self._norm(path), acl), None)

    @staticmethod
    def _ensure_steps(native: Any, path: str, acl: Any) -> Any:
        """kazoo's ensure_path: True if the node exists, else create it (and
        its parents first); the created path, or True if someone else did."""
        requests = native.requests
        if (yield requests.op_exists(path)) is not None:
            return True
        parent = path.rsplit("/", 1)[0] or "/"
        if parent != "/":
            yield from KazooClient._ensure_steps(native, parent, acl)
        try:
            return (yield requests.op_create(path, b"", acl))
        except _NodeExists:
            return True

    def _background(self, gen: Any, conv: Optional[Callable[[Any], Any]]) -> Any:
        """Run a step generator on the zkfast client without blocking; a settable result."""
        result = self.handler.async_result()

        def done(value: Any, error: Optional[BaseException]) -> None:
            if error is not None:
                result.set_exception(kazoo_error(error))
            else:
                try:
                    result.set(value if conv is None else conv(value))
                except Exception as e:  # noqa: BLE001 - handed to the result
                    result.set_exception(e)
        try:
            self._native.run_in_background(gen, done)
        except ZooKeeperError as e:
            result.set_exception(kazoo_error(e))
        return result

    def set(self, path: str, value: Optional[bytes], version: int = -1) -> Any:
        """Replace the node's value (only at ``version`` unless -1); the new :class:`ZnodeStat`."""
        p = self._set_args(path, value, version)
        try:
            return _znode(ZnodeStat, self._native.set(p, value, version))
        except ZooKeeperError as e:
            raise kazoo_error(e) from e

    def set_async(self, path: str, value: Optional[bytes], version: int = -1) -> Any:
        p = self._set_args(path, value, version)
        try:
            fut = self._native.set_async(p, value, version)
        except ZooKeeperError as e:
            return failed_result(self.handler, kazoo_error(e))
        return adopt(fut, self._results.stat)

    def _set_args(self, path: Any, value: Any, version: Any) -> str:
        if value is not None and not isinstance(value, bytes):
            raise TypeError("Invalid type for 'value' (must be a byte string)")
        if not isinstance(version, int):
            raise TypeError("Invalid type for 'version' (int expected)")
        try:
            return self._paths[path]
        except (KeyError, TypeError):
            return self._norm(path)

    def set_acls(self, path: str, acls: Sequence[Any], version: int = -1) -> Any:
        """Replace the node's ACL (only at ``version`` unless -1); its :class:`ZnodeStat`."""
        return self._sync(self.set_acls_async(path, acls, version))

    def set_acls_async(self, path: str, acls: Sequence[Any], version: int = -1) -> Any:
        p = self._norm(path)
        if isinstance(acls, ACL) or not isinstance(acls, (tuple, list)) or \
                (isinstance(acls, tuple) and acls and isinstance(acls[0], int)):
            raise TypeError("Invalid type for 'acl' (acl must be a tuple/list of ACL's)")
        if not isinstance(version, int):
            raise TypeError("Invalid type for 'version' (int expected)")
        if not acls:  # the server refuses it; zkfast would not send it
            return failed_result(self.handler, make(InvalidACLError, "empty ACL", p))
        try:
            fut = self._native.set_acls_async(p, list(acls), version)
        except ZooKeeperError as e:
            return failed_result(self.handler, kazoo_error(e))
        return adopt(fut, self._results.stat)

    def delete(self, path: str, version: int = -1, recursive: bool = False) -> Any:
        """Delete the node (at ``version`` unless -1); with ``recursive`` its
        subtree too (any version). True; a recursive delete returns None."""
        if not isinstance(recursive, bool):
            raise TypeError("Invalid type for 'recursive' (bool expected)")
        if not recursive:
            return self._sync(self.delete_async(path, version))
        p = self._norm(path)
        try:
            if self._native.exists(p) is None:
                return True
            self._native.delete(p, recursive=True)
        except ZooKeeperError as e:
            error = kazoo_error(e)
            if isinstance(error, NoNodeError):
                return None
            raise error from e
        return None

    def delete_async(self, path: str, version: int = -1) -> Any:
        if not isinstance(version, int):
            raise TypeError("Invalid type for 'version' (int expected)")
        p = self._norm(path)
        try:
            fut = self._native.delete_async(p, version)
        except ZooKeeperError as e:
            return failed_result(self.handler, kazoo_error(e))
        return adopt(fut, self._results.true)

    def sync(self, path: str) -> str:
        """Let the server catch up with the leader on ``path``; returns ``path``."""
        return self._sync(self.sync_async(path))  # type: ignore[no-any-return]

    def sync_async(self, path: str) -> Any:
        p = self._norm(path)
        try:
            fut = self._native.sync_async(p)
        except ZooKeeperError as e:
            return failed_result(self.handler, kazoo_error(e))
        return adopt(fut, self._results.plain)

    def add_auth(self, scheme: str, credential: str) -> bool:
        """Add an identity to the session (``"digest", "user:password"``);
        replayed on reconnects and restarts."""
        return self._sync(self.add_auth_async(scheme, credential))  # type: ignore[no-any-return]

    def add_auth_async(self, scheme: str, credential: str) -> Any:
        if not isinstance(scheme, str):
            raise TypeError("Invalid type for 'scheme' (string expected)")
        if not isinstance(credential, str):
            raise TypeError("Invalid type for 'credential' (string expected)")
        self.auth_data.add((scheme, credential))
        result = self.handler.async_result()
        native = self._native

        def run() -> None:
            try:
                result.set(native.add_auth(scheme, credential))
            except ZooKeeperError as e:
                result.set_exception(kazoo_error(e))
        self.handler.spawn(run)
        return result

    def reconfig(self, joining: Optional[str], leaving: Optional[str],
                 new_members: Optional[str], from_config: int = -1) -> Tuple[bytes, Any]:
        """Change the ensemble's membership; ``(config bytes, ZnodeStat)``."""
        return self._sync(self.reconfig_async(joining, leaving, new_members, from_config))  # type: ignore[no-any-return]

    def reconfig_async(self, joining: Optional[str], leaving: Optional[str],
                       new_members: Optional[str], from_config: int) -> Any:
        for name, value in (("joining", joining), ("leaving", leaving), ("new_members", new_members)):
            if value and not isinstance(value, str):
                raise TypeError(f"Invalid type for '{name}' (string expected)")
        if not isinstance(from_config, int):
            raise TypeError("Invalid type for 'from_config' (int expected)")
        native = self._native
        try:
            fut = native.submit(native.requests.op_reconfig(joining, leaving, new_members,
                                                            from_config))
        except ZooKeeperError as e:
            return failed_result(self.handler, kazoo_error(e))
        return adopt(fut, self._results.data)

    def transaction(self) -> TransactionRequest:
        """A builder of one atomic multi: ``create``, ``delete``, ``set_data``,
        ``check``, then ``commit()``; also a context manager that commits on exit."""
        return TransactionRequest(self)
