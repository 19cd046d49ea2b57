"""The synchronous, thread-safe client.

Threads: callers encode and send their own requests (under a send lock, so
frames never interleave); one I/O thread connects, reads and decodes every
reply, pings, and detects dead connections; one dispatcher thread runs watch
callbacks, state listeners and future callbacks in order, so a slow callback
never stalls replies.

>>> from zkfast import Client
>>> with Client("127.0.0.1:2181") as zk:                 # doctest: +SKIP
...     zk.create("/demo", b"hello")
...     value, stat = zk.get("/demo")
"""

from __future__ import annotations

import logging
import queue
import select
import socket
import ssl as _ssl
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, Generator, List, Optional, Sequence, Tuple, Type

from . import codec
from ._api import ClientAPI
from .errors import (
    AuthFailedError,
    ClosedError,
    ConnectionLossError,
    InvalidArgumentError,
    NoServerError,
    ProtocolError,
    SessionExpiredError,
    WaitTimeoutError,
    ZooKeeperError,
)
from .events import EventType, State, WatchedEvent
from .hosts import HostProvider, reconnect_delay
from .protocol import PendingRequest
from .steps import Batch, Step

__all__ = ["Client", "Future", "WatchEvent"]

log = logging.getLogger("zkfast.client")

_allocate_lock = threading.Lock
_monotonic = time.monotonic
_RECV_SIZE = 256 * 1024

Address = Tuple[str, int]
SocketFactory = Callable[[Address, float], socket.socket]


class Future:
    """The handle of a request in flight (returned by the ``*_async`` methods).

    ``result(timeout)`` blocks for the reply (raising the request's error);
    ``add_done_callback(fn)`` runs ``fn(future)`` on the dispatcher thread.
    """

    __slots__ = ("_req", "_client")

    def __init__(self, req: PendingRequest, client: Client) -> None:
        self._req = req
        self._client = client

    def done(self) -> bool:
        return self._req.done_flag

    def result(self, timeout: Optional[float] = None) -> Any:
        req = self._req
        if not req.done_flag:
            client = self._client
            if client._outbuf:
                client._flush_out()
            client._lead(req, None if timeout is None else _monotonic() + timeout)
            lock = req.waiter
            if not lock.acquire(True, -1 if timeout is None else timeout):
                raise WaitTimeoutError(f"no reply within {timeout}s", path=req.path)
            lock.release()  # leave it open for other waiters
        if req.exception_value is not None:
            raise req.exception_value
        return req.result_value

    get = result

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        try:
            self.result(timeout)
        except WaitTimeoutError:
            raise
        except BaseException as e:  # noqa: BLE001 - hand back whatever the request failed with
            return e
        return None

    def add_done_callback(self, fn: Callable[[Future], Any]) -> None:
        req = self._req
        with _callback_lock:
            if not req.done_flag:
                if req.callbacks is None:
                    req.callbacks = []
                req.callbacks.append(fn)
                fn = None  # type: ignore[assignment]  # None: "queued, don't run it now" (below)
        if fn is not None:
            self._client._dispatch(fn, self)
        elif req.done_flag:
            self._client._run_callbacks(req)

    rawlink = add_done_callback

    def __repr__(self) -> str:
        state = "done" if self._req.done_flag else "pending"
        return f"<Future {state} {self._req!r}>"


_callback_lock = threading.Lock()


class WatchEvent:
    """The pending event of a ``get_w``/``children_w``/``exists_w`` watch."""

    __slots__ = ("_done", "event")

    def __init__(self) -> None:
        self._done = threading.Event()
        self.event: Optional[WatchedEvent] = None

    def __call__(self, event: WatchedEvent) -> None:
        self.event = event
        self._done.set()

    def wait(self, timeout: Optional[float] = None) -> WatchedEvent:
        """The event; :class:`WaitTimeoutError` if none came within ``timeout``."""
        if not self._done.wait(timeout):
            raise WaitTimeoutError("no watch event yet")
        assert self.event is not None
        return self.event

    def is_set(self) -> bool:
        return self._done.is_set()


class Client(ClientAPI):
    """A ZooKeeper client for threaded code.

    ``hosts`` is a connect string (``"h1:2181,h2:2181/chroot"``). Times are
    seconds. The client reconnects by itself and keeps its session (and
    watches) across reconnects; ``add_listener`` tells about state changes.
    """

    def __init__(self, hosts: str = "127.0.0.1:2181", session_timeout: float = 10.0, *,
                 connection_timeout: Optional[float] = None,
                 auth_data: Optional[Sequence[Tuple[str, Any]]] = None,
                 default_acl: Optional[Sequence[Any]] = None,
                 read_only: bool = False,
                 ssl_context: Optional[_ssl.SSLContext] = None,
                 host_provider: Optional[HostProvider] = None,
                 connect: Optional[SocketFactory] = None,
                 max_buffer_size: int = codec.DEFAULT_MAX_BUFFER_SIZE,
                 max_request_size: int = 0xFFFFF,
                 client_id: Optional[Tuple[int, bytes]] = None,
                 sasl_options: Optional[Dict[str, Any]] = None,
                 logger: Optional[logging.Logger] = None,
                 event_callback: Optional[Callable[[WatchedEvent], Any]] = None) -> None:
        self._configure(hosts, session_timeout, connection_timeout, auth_data, default_acl,
                        read_only, ssl_context, host_provider, max_buffer_size, max_request_size,
                        client_id, sasl_options, logger or log, event_callback)
        self._connect_factory = connect
        self._send_lock = threading.Lock()
        self._read_token = threading.Lock()  # held by whichever thread reads the socket
        self._rbuf = bytearray(_RECV_SIZE)     # the token holder's receive buffer
        self._rview = memoryview(self._rbuf)
        self._epoll: Optional[Tuple[Any, socket.socket]] = None
        self._outbuf: List[bytes] = []  # frames held back while others are in flight
        self._outbytes = 0
        self._last_recv = 0.0
        self._state_cond = threading.Condition(threading.Lock())
        self._sock: Optional[socket.socket] = None
        self._queue: Deque[Tuple[PendingRequest, float]] = deque()
        self._dispatch_q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._io_thread: Optional[threading.Thread] = None
        self._dispatch_thread: Optional[threading.Thread] = None
        self._closing = False
        self._session_closing = False  # closeSession sent: don't reconnect
        self._closed = False
        self._wake = threading.Event()
        self._last_send = 0.0
        self._disconnected_at: Optional[float] = None
        # Read-only mode: where an ``isro`` probe found a read-write server.
        self._rw_server: Optional[Address] = None
        self._next_rw_probe = 0.0

    # ------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 15.0) -> Client:
        """Connect; returns once connected. On timeout the client is closed and
        :class:`WaitTimeoutError` raised."""
        if self._closed:
            raise ClosedError()
        if self._io_thread is None:
            self._dispatch_thread = threading.Thread(target=self._dispatch_main,
                                                     name="zkfast-dispatch", daemon=True)
            self._dispatch_thread.start()
            self._io_thread = threading.Thread(target=self._io_main, name="zkfast-io", daemon=True)
            self._io_thread.start()
        if not self.wait_connected(timeout):
            err = self.last_error
            auth_failed = self._engine.state == State.AUTH_FAILED
            self.close()
            if auth_failed:
                raise AuthFailedError()
            raise WaitTimeoutError(f"could not connect to {self.hosts} within {timeout}s"
                                   + (f" (last error: {err})" if err else ""))
        return self

    def wait_connected(self, timeout: Optional[float] = None) -> bool:
        """Block until connected (True) or ``timeout`` passes / the client dies (False)."""
        deadline = None if timeout is None else _monotonic() + timeout
        with self._state_cond:
            while not self._engine.state.is_connected:
                if self._closing or self._engine.state == State.AUTH_FAILED:
                    return False
                remaining = None if deadline is None else deadline - _monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._state_cond.wait(remaining)
        return True

    def stop(self) -> None:
        """Close the session (ephemeral nodes go away) and stop all threads."""
        self.close()

    def close(self, timeout: float = 2.0) -> None:
        if self._closed:
            return
        if self._engine.state.is_connected and self._sock is not None:
            # End the session first (its ephemeral nodes go now, not at expiry);
            # the I/O thread stops reconnecting once it sees _session_closing.
            self._session_closing = True
            try:
                req = self._engine.op_close()
                req.waiter = _allocate_lock()
                req.waiter.acquire()
                self._send(req)
                if not req.done_flag:
                    self._lead(req, _monotonic() + timeout)
                req.waiter.acquire(True, timeout)
            except ZooKeeperError:
                pass
        self._closing = True
        self._wake.set()
        sock = self._sock
        if sock is not None:
            _shutdown(sock)
        io = self._io_thread
        if io is not None and io is not threading.current_thread():
            io.join(timeout + 5)
        with self._send_lock:
            lost = self._engine.connection_lost()
            queued = [r for r, _ in self._queue]
            self._queue.clear()
        for req in lost + queued:
            self._complete(req, None, ClosedError())
        self._closed = True
        self._set_state(State.CLOSED)
        self._engine.session_ended(ClosedError())
        self._flush_events()
        self._dispatch_q.put(None)
        dt = self._dispatch_thread
        if dt is not None and dt is not threading.current_thread():
            dt.join(timeout + 5)

    def __enter__(self) -> Client:
        if self._io_thread is None:
            self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<zkfast.Client hosts={self.hosts!r} state={self._engine.state.value} "
                f"session=0x{self._engine.session_id:x}>")

    # ------------------------------------------------------------ sending

    def _call(self, req: PendingRequest) -> Any:
        lock = _allocate_lock()
        lock.acquire()
        req.waiter = lock
        # Take the read token (and mute the I/O thread) before sending, so the
        # reply doesn't wake the I/O thread first; send; read the reply here.
        self._lead(req, None, self._send)
        lock.acquire()
        if req.exception_value is not None:
            raise req.exception_value
        return req.result_value

    def _submit(self, req: PendingRequest) -> Future:
        lock = _allocate_lock()
        lock.acquire()
        req.waiter = lock
        self._send(req, False)
        return Future(req, self)

    def _flush_out(self) -> None:
        """Send the frames that were held back while other requests were in flight."""
        with self._send_lock:
            sock = self._sock
            if sock is not None:
                self._write_locked(sock, [])

    def _write_locked(self, sock: socket.socket, frames: List[bytes]) -> None:
        """Send the held-back frames, then ``frames``, in one ``sendall``; the
        caller holds the send lock. On a send error the requests stay pending:
        the I/O thread fails them with ConnectionLossError when it sees the
        connection die."""
        out = self._outbuf
        if out:
            frames = out + frames
            out.clear()
            self._outbytes = 0
        if not frames:
            return
        try:
            sock.sendall(frames[0] if len(frames) == 1 else b"".join(frames))
        except OSError as e:
            self.log.debug("send failed: %s", e)
            _shutdown(sock)
        self._last_send = _monotonic()

    def _submit_many(self, reqs: Sequence[PendingRequest]) -> List[Future]:
        """Send several requests with one send-lock hold and one ``sendall``."""
        for req in reqs:
            lock = _allocate_lock()
            lock.acquire()
            req.waiter = lock
        with self._send_lock:
            sock = self._sock
            if sock is None or not self._engine.connected:
                sock = None
            frames = []
            for req in reqs:
                if sock is None:
                    if self._closing or self._closed:
                        self._complete(req, None, ClosedError())
                        continue
                    try:
                        self._engine.validate_encoding(req)
                    except ZooKeeperError as e:
                        self._complete(req, None, e)
                        continue
                    self._queue.append((req, _monotonic()))
                    continue
                try:
                    frames.append(self._engine.frame_for(req))
                except ZooKeeperError as e:
                    self._complete(req, None, e)
                except (TypeError, OverflowError, ValueError) as e:
                    self._complete(req, None, InvalidArgumentError(str(e), path=req.path))
            if sock is not None:
                self._write_locked(sock, frames)
        return [Future(req, self) for req in reqs]

    def _send(self, req: PendingRequest, flush: bool = True) -> None:
        """Frame ``req`` and send it (or queue it while disconnected).

        With ``flush`` False and other requests already in flight, the frame is
        held back: the next reply read (see ``_read_some``), a waiting
        ``Future.result()`` or 64 KiB of held frames sends them all in one
        ``sendall``; one syscall per request would cap pipelined throughput.
        """
        with self._send_lock:
            sock = self._sock
            if sock is None or not self._engine.connected:
                if self._closing or self._closed:
                    raise ClosedError()
                if self._engine.state == State.AUTH_FAILED:
                    # terminal: no reconnect would ever send a queued request
                    raise AuthFailedError(path=req.path)
                self._engine.validate_encoding(req)
                self._queue.append((req, _monotonic()))
                return
            try:
                frame = self._engine.frame_for(req)
            except (TypeError, OverflowError, ValueError) as e:
                if isinstance(e, ZooKeeperError):
                    raise
                raise InvalidArgumentError(str(e), path=req.path) from e
            if not flush and len(self._engine.pending) > 1:
                self._outbuf.append(frame)
                self._outbytes += len(frame)
                if self._outbytes >= _COALESCE_BYTES:
                    self._write_locked(sock, [])
                return
            self._write_locked(sock, [frame])

    def _watch_future(self) -> Tuple[Callable[[Any], Any], Any]:
        w = WatchEvent()
        return w, w

    def _run(self, gen: Generator[Step, Any, Any]) -> Any:
        value: Any = None
        error: Optional[BaseException] = None
        while True:
            try:
                step = gen.throw(error) if error is not None else gen.send(value)
            except StopIteration as stop:
                return stop.value
            value = error = None
            if isinstance(step, Batch):
                futures = self._submit_many(step)
                value = [f.exception() or f._req.result_value for f in futures]
            else:
                try:
                    value = self._call(step)
                except ZooKeeperError as e:
                    error = e

    # ------------------------------------------------------------ non-blocking forms

    def create_async(self, path: str, value: bytes = b"", acl: Optional[Sequence[Any]] = None,
                     **kw: Any) -> Future:
        return self._submit(self._engine.op_create(path, value, self._acl(acl), **kw))

    def get_async(self, path: str, watch: Optional[Callable[..., Any]] = None) -> Future:
        return self._submit(self._engine.op_get(path, watch))

    def exists_async(self, path: str, watch: Optional[Callable[..., Any]] = None) -> Future:
        return self._submit(self._engine.op_exists(path, watch))

    def get_children_async(self, path: str, watch: Optional[Callable[..., Any]] = None,
                           include_data: bool = False) -> Future:
        return self._submit(self._engine.op_get_children(path, watch, include_data))

    def set_async(self, path: str, value: bytes, version: int = -1) -> Future:
        return self._submit(self._engine.op_set(path, value, version))

    def delete_async(self, path: str, version: int = -1) -> Future:
        return self._submit(self._engine.op_delete(path, version))

    def sync_async(self, path: str) -> Future:
        return self._submit(self._engine.op_sync(path))

    def get_acls_async(self, path: str) -> Future:
        return self._submit(self._engine.op_get_acls(path))

    def set_acls_async(self, path: str, acls: Sequence[Any], version: int = -1) -> Future:
        return self._submit(self._engine.op_set_acls(path, acls, version))

    def multi_async(self, *ops: Any) -> Future:
        return self._submit(self._engine.op_multi(ops))

    def multi_read_async(self, *ops: Any) -> Future:
        return self._submit(self._engine.op_multi_read(ops))

    def count_children_async(self, path: str) -> Future:
        return self._submit(self._engine.op_count_children(path))

    def get_ephemerals_async(self, prefix: str = "/") -> Future:
        return self._submit(self._engine.op_get_ephemerals(prefix))

    def whoami_async(self) -> Future:
        return self._submit(self._engine.op_whoami())

    def add_watch_async(self, path: str, watch: Callable[..., Any], recursive: bool = False) -> Future:
        return self._submit(self._engine.op_add_watch(path, watch, recursive))

    # ------------------------------------------------------------ completion

    def _complete(self, req: PendingRequest, result: Any, exc: Optional[BaseException]) -> None:
        req.result_value = result
        req.exception_value = exc
        req.done_flag = True
        w = req.waiter
        if w is not None:
            try:
                w.release()
            except RuntimeError:  # already released (completed twice on close races)
                pass
        if req.callbacks is not None:
            self._run_callbacks(req)

    def _run_callbacks(self, req: PendingRequest) -> None:
        with _callback_lock:
            cbs, req.callbacks = req.callbacks, None
        if cbs:
            fut = Future(req, self)
            for cb in cbs:
                self._dispatch_q.put((cb, fut))

    def _dispatch(self, fn: Callable[..., Any], arg: Any) -> None:
        self._dispatch_q.put((fn, arg))

    def _flush_events(self) -> None:
        events = self._engine.events
        if events:
            self._engine.events = []
            put = self._dispatch_q.put
            for item in events:
                put(item)

    def _dispatch_main(self) -> None:
        get = self._dispatch_q.get
        while True:
            item = get()
            if item is None:
                return
            fn, arg = item
            try:
                fn(arg)
            except Exception:  # noqa: BLE001 - a user callback must not kill the dispatcher
                self.log.exception("callback %r raised", fn)

    def _set_state(self, state: State) -> None:
        with self._state_cond:
            # Compared with what listeners last heard, not with the engine's
            # state: the engine sets AUTH_FAILED itself when an auth reply fails.
            if self._announced_state == state:
                return
            self._engine.state = state
            self._announced_state = state
            self._state_cond.notify_all()
        self.log.debug("state -> %s", state.value)
        for fn in list(self._listeners):
            self._dispatch_q.put((fn, state))
        if self._event_callback is not None:
            self._dispatch_q.put((self._event_callback, WatchedEvent(EventType.NONE, state, None)))

    # ------------------------------------------------------------ I/O thread

    def _open_socket(self, addr: Address) -> socket.socket:
        timeout = self.connection_timeout
        if self._connect_factory is not None:
            sock = self._connect_factory(addr, timeout)
        else:
            sock = socket.create_connection(addr, timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_hostname=self._tls_hostname(addr))
        return sock

    def _io_main(self) -> None:
        attempt = 0
        try:
            while not (self._closing or self._session_closing):
                if self._rw_server is not None:  # leaving a read-only server for it
                    addr, retry_start, self._rw_server = self._rw_server, False, None
                else:
                    addr, retry_start = self._host_provider.next()
                if retry_start:
                    delay = reconnect_delay(attempt)
                    attempt += 1
                    if self._wait_or_close(delay):
                        break
                self._expire_queue()
                try:
                    sock = self._open_socket(addr)
                except (OSError, ValueError) as e:
                    self.last_error = e
                    self.log.debug("connect to %s:%d failed: %s", addr[0], addr[1], e)
                    continue
                try:
                    ok = self._handshake(sock, addr)
                except SessionExpiredError as e:
                    _close(sock)
                    self._on_expired(e)
                    continue
                except (OSError, ZooKeeperError) as e:
                    self.last_error = e
                    self.log.debug("handshake with %s:%d failed: %s", addr[0], addr[1], e)
                    _close(sock)
                    # Requests the handshake already sent (queued ones, SASL) are
                    # owed by this dead connection: fail them like any drop.
                    with self._send_lock:
                        lost = self._engine.connection_lost()
                    for req in lost:
                        self._complete(req, None, ConnectionLossError(str(e), path=req.path))
                    if self._engine.state == State.AUTH_FAILED:
                        self._set_state(State.AUTH_FAILED)
                        break
                    continue
                if not ok:
                    _close(sock)
                    continue
                attempt = 0
                self._host_provider.connected()
                error: BaseException
                try:
                    self._read_loop(sock)
                    error = ConnectionLossError("connection closed")
                except (OSError, ZooKeeperError) as e:
                    error = e
                self.last_error = error
                self._connection_dropped(sock, error)
                if isinstance(error, AuthFailedError) or self._engine.state == State.AUTH_FAILED:
                    self._set_state(State.AUTH_FAILED)
                    self._fail_queue(AuthFailedError)
                    break
        except BaseException:  # noqa: BLE001 - never leave callers hanging
            self.log.exception("I/O thread crashed")
            self._closing = True
        finally:
            with self._send_lock:
                lost = self._engine.connection_lost()
                self._sock = None
            for req in lost:
                self._complete(req, None, ClosedError() if self._closing else ConnectionLossError())
            if self._engine.state == State.AUTH_FAILED:
                self._fail_queue(AuthFailedError)
            with self._state_cond:
                self._state_cond.notify_all()

    def _wait_or_close(self, delay: float) -> bool:
        self._wake.wait(delay)
        self._wake.clear()
        return self._closing

    def _handshake(self, sock: socket.socket, addr: Address) -> bool:
        engine = self._engine
        sock.settimeout(self.connection_timeout)
        sock.sendall(engine.connect_frame())
        deadline = _monotonic() + self.connection_timeout
        resp = None
        while resp is None:
            if _monotonic() > deadline:
                raise ConnectionLossError("no ConnectResponse in time")
            data = sock.recv(_RECV_SIZE)
            if not data:
                raise ConnectionLossError("server closed the connection during the handshake")
            resp = engine.receive_handshake(data)
        if resp.read_only and not self.read_only:
            return False
        if self.sasl_options:
            self._handshake_run(sock, engine.sasl_exchange(self.sasl_options))
        # Blocking mode from here on: with a timeout set, CPython polls before
        # every send and recv. A stuck send cannot hang forever: the I/O
        # thread's read-timeout watchdog shuts the socket down, failing it.
        sock.settimeout(None)
        with self._send_lock:
            frames = engine.handshake_frames()
            queued = list(self._queue)
            self._queue.clear()
            for req, _ in queued:
                try:
                    frames.append(engine.frame_for(req))
                except (ZooKeeperError, TypeError, ValueError, OverflowError) as e:
                    self._complete(req, None, e)
            if frames:
                sock.sendall(b"".join(frames))
            self._sock = sock
            engine.connected = True
            self._last_send = _monotonic()
        self.server = addr
        self._disconnected_at = None
        self._next_rw_probe = _monotonic() + _RW_PROBE_INTERVAL / 4
        self._set_state(State.CONNECTED_READ_ONLY if resp.read_only else State.CONNECTED)
        self.log.info("connected to %s:%d session 0x%x (timeout %dms)%s", addr[0], addr[1],
                      engine.session_id, engine.negotiated_timeout_ms,
                      " read-only" if resp.read_only else "")
        return True

    def _handshake_run(self, sock: socket.socket, gen: Generator[Any, Any, Any]) -> Any:
        """Drive a request generator on a connection not yet open to callers."""
        engine = self._engine
        value: Any = None
        error: Optional[BaseException] = None
        while True:
            try:
                req = gen.throw(error) if error is not None else gen.send(value)
            except StopIteration as stop:
                return stop.value
            with self._send_lock:
                sock.sendall(engine.frame_for(req))
            while not req.done_flag:
                data = sock.recv(_RECV_SIZE)
                if not data:
                    raise ConnectionLossError("server closed the connection during the handshake")
                for r, result, exc in engine.receive(data):
                    self._complete(r, result, exc)
            if engine.events:
                self._flush_events()
            value, error = req.result_value, req.exception_value
            if isinstance(error, AuthFailedError):
                self._set_state(State.AUTH_FAILED)
                raise error

    def _read_loop(self, sock: socket.socket) -> None:
        """The I/O thread's half of reading: wait for data without the read
        token, then take the token to read it. A caller that is waiting for its
        own reply usually holds the token and reads itself (see ``_lead``);
        then this thread just keeps the timers: pings and the read timeout."""
        engine = self._engine
        read_timeout = engine.read_timeout
        ping_interval = engine.ping_interval
        if _HAVE_EPOLL:
            # epoll, because a leading caller can mute the socket in it (see
            # _lead) so this thread doesn't wake for replies the caller reads.
            ep = select.epoll()
            ep.register(sock.fileno(), _READ_EVENTS)
            self._epoll = (ep, sock)

            def poll(ms: int, /) -> Any:  # positional-only, as select.poll().poll
                return ep.poll(ms / 1000.0)
        else:
            poller = select.poll()
            poller.register(sock, select.POLLIN | select.POLLPRI)
            poll = poller.poll
        token = self._read_token
        tls = isinstance(sock, _ssl.SSLSocket)
        self._last_recv = _monotonic()
        while not self._closing:
            now = _monotonic()
            idle_recv = now - self._last_recv
            if idle_recv >= read_timeout:
                raise ConnectionLossError(f"no reply from the server for {idle_recv:.1f}s")
            until_ping = self._last_send + ping_interval - now
            if until_ping <= 0:
                if self._send_lock.acquire(True, 0.05):
                    try:
                        sock.sendall(engine.ping_frame())
                        self._last_send = now
                    finally:
                        self._send_lock.release()
                until_ping = ping_interval
            if engine.server_read_only and now >= self._next_rw_probe:
                found = self._probe_rw_server()
                if found is not None:
                    self._rw_server = found
                    raise ConnectionLossError(
                        f"leaving the read-only server for read-write {found[0]}:{found[1]}")
            wait = max(0.001, min(until_ping, read_timeout - idle_recv))
            if not (tls and sock.pending()):  # type: ignore[attr-defined]  # tls: it is an SSLSocket
                if not poll(int(wait * 1000) + 1):
                    continue
            if not token.acquire(True, wait):
                continue  # a caller has been reading for a while; go see to the timers
            try:
                if self._sock is not sock:
                    break
                # the caller that held the token may have read it all
                if (tls and sock.pending()) or poll(0):  # type: ignore[attr-defined]  # as above
                    if not self._read_some(sock):
                        raise ConnectionLossError("server closed the connection")
            finally:
                token.release()
            if engine.state == State.AUTH_FAILED:
                raise AuthFailedError()

    def _probe_rw_server(self) -> Optional[Address]:
        """While connected read-only, ask one other server whether it is
        read-write (the ``isro`` four-letter word, like the Java client's
        pingRwServer). Called from the read loop every _RW_PROBE_INTERVAL;
        the probe's short timeout bounds how long it holds up the loop."""
        self._next_rw_probe = _monotonic() + _RW_PROBE_INTERVAL
        addr = self._next_rw_probe_target()
        if addr is None:
            return None
        timeout = min(1.0, max(0.1, self._engine.read_timeout / 4))
        socks: List[socket.socket] = []
        answer = b""
        try:
            if self._connect_factory is not None:
                sock = self._connect_factory(addr, timeout)
            else:
                sock = socket.create_connection(addr, timeout=timeout)
            socks.append(sock)
            sock.settimeout(timeout)
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(sock, server_hostname=self._tls_hostname(addr))
                socks.append(sock)
            sock.sendall(b"isro")
            while len(answer) < 2:
                chunk = sock.recv(16)
                if not chunk:
                    break
                answer += chunk
        except (OSError, ValueError) as e:
            self.log.debug("isro probe of %s:%d failed: %s", addr[0], addr[1], e)
            return None
        finally:
            for s in socks:
                _close(s)
        if answer[:2] == b"rw":
            self.log.info("read-write server found at %s:%d", addr[0], addr[1])
            return addr
        return None

    def _close_epoll(self) -> None:
        with self._read_token:
            pair, self._epoll = self._epoll, None
        if pair is not None:
            pair[0].close()

    def _read_some(self, sock: socket.socket) -> bool:
        """One recv and everything it completes; the caller holds the read token.
        False when the server closed the connection."""
        # recv_into a reused buffer: a fresh 256 KiB bytes per recv costs an
        # mmap/munmap pair in malloc, more than the whole decode of a small reply.
        n = sock.recv_into(self._rbuf)
        if not n:
            return False
        data = self._rview[:n]
        engine = self._engine
        complete = self._complete
        frames = engine.frames_received
        try:
            done = engine.receive(data)
        except ZooKeeperError:  # corrupt stream / protocol violation: finish what came before
            for req, result, exc in engine.take_corrupt_completions():
                complete(req, result, exc)
            self._flush_events()
            raise
        if engine.frames_received != frames:
            # only whole frames prove the server alive (not the bytes of a giant one)
            self._last_recv = _monotonic()
        for req, result, exc in done:
            complete(req, result, exc)
        if engine.events:
            self._flush_events()
        if self._outbuf:
            self._flush_out()
        return True

    def _lead(self, req: PendingRequest, deadline: Optional[float] = None,
              send: Optional[Callable[[PendingRequest], None]] = None) -> None:
        """Read replies on the calling thread until ``req`` is done (leader/follower).

        Saves the hand-off from the I/O thread (two thread wake-ups a call). Only
        one thread reads at a time: whoever holds the read token. On any trouble
        the socket is shut down and the I/O thread takes over reconnecting.
        """
        token = self._read_token
        if not token.acquire(False):
            if send is not None:
                send(req)
            return
        try:
            sock = self._sock
            if sock is None or isinstance(sock, _ssl.SSLSocket):
                # TLS: keep one reader (SSL objects dislike thread hopping mid-record)
                if send is not None:
                    send(req)
                return
            pair = self._epoll
            muted = pair is not None and pair[1] is sock and _set_events(pair[0], sock, 0)
            try:
                if send is not None:
                    send(req)
                if not req.done_flag and self._sock is sock:
                    self._lead_loop(req, sock, deadline)
            finally:
                if muted:
                    _set_events(pair[0], sock, _READ_EVENTS)  # type: ignore[index]  # muted: pair is set
        finally:
            token.release()

    def _lead_loop(self, req: PendingRequest, sock: socket.socket, deadline: Optional[float]) -> None:
        while not req.done_flag:
            if deadline is not None:
                remaining = deadline - _monotonic()
                if remaining <= 0 or not select.select([sock], [], [], remaining)[0]:
                    return
            if self._sock is not sock:
                return
            try:
                if not self._read_some(sock):
                    _shutdown(sock)
                    return
            except (OSError, ZooKeeperError):
                _shutdown(sock)
                return

    def _connection_dropped(self, sock: socket.socket, error: BaseException) -> None:
        _shutdown(sock)  # a caller reading this socket returns at once
        self._close_epoll()
        with self._read_token, self._send_lock:
            self._sock = None
            self._outbuf.clear()  # their requests fail below; never resend on a new connection
            self._outbytes = 0
            lost = self._engine.connection_lost()
        _close(sock)
        closing = self._closing or self._session_closing
        for req in lost:
            if req.op == codec.OP_CLOSE_SESSION and closing:
                self._complete(req, None, None)
            else:
                self._complete(req, None, ConnectionLossError(str(error) if error else None,
                                                              path=req.path))
        if closing:
            return
        self._disconnected_at = _monotonic()
        if self._engine.state != State.AUTH_FAILED:
            self._set_state(State.SUSPENDED)
            self.log.info("disconnected: %s", error)

    def _fail_queue(self, error_type: Type[ZooKeeperError]) -> None:
        with self._send_lock:
            queued = [r for r, _ in self._queue]
            self._queue.clear()
        for req in queued:
            self._complete(req, None, error_type(path=req.path))

    def _expire_queue(self) -> None:
        """Requests queued while disconnected wait at most one session timeout."""
        if not self._queue:
            return
        limit = _monotonic() - self.session_timeout
        expired = []
        with self._send_lock:
            while self._queue and self._queue[0][1] < limit:
                expired.append(self._queue.popleft()[0])
        for req in expired:
            self._complete(req, None, ConnectionLossError(
                "not connected within the session timeout", path=req.path))

    # ------------------------------------------------------------ extras

    def server_version(self, timeout: float = 5.0) -> str:
        """The version string of the server this client is connected to."""
        from . import flw
        if self.server is None:
            raise NoServerError()
        host, port = self.server
        stats = flw.srvr([f"{host}:{port}"], timeout=timeout)
        st = next(iter(stats.values()))
        if st.error is not None:
            raise ProtocolError(f"srvr failed: {st.error}")
        return str(st.version)


_COALESCE_BYTES = 64 * 1024  # held-back frames are sent at the latest at this size
_HAVE_EPOLL = hasattr(select, "epoll")
_RW_PROBE_INTERVAL = 2.0  # seconds between isro probes while connected read-only
_READ_EVENTS = (select.EPOLLIN | select.EPOLLPRI) if _HAVE_EPOLL else 0


def _set_events(ep: Any, sock: socket.socket, events: int) -> bool:
    try:
        ep.modify(sock.fileno(), events)
        return True
    except (OSError, ValueError):
        return False


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
