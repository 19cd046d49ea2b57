"""The asyncio client: the same engine and API as :class:`zkfast.Client`, awaited.

>>> import asyncio
>>> from zkfast import AsyncClient
>>> async def main():
...     async with AsyncClient("127.0.0.1:2181") as zk:
...         await zk.create("/demo", b"hi")
...         values = await asyncio.gather(*(zk.get("/demo") for _ in range(1000)))
>>> asyncio.run(main())                      # doctest: +SKIP

Requests pipeline naturally: frames written in the same loop iteration go out
in one ``send``. Watch callbacks and state listeners (plain functions or
coroutine functions) run in order on a dispatcher task, never inside
``data_received``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import ssl as _ssl
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, Generator, List, Optional, Sequence, Tuple, Type, cast

from . import codec
from ._api import ClientAPI
from .errors import (
    AuthFailedError,
    ClosedError,
    ConnectionLossError,
    InvalidArgumentError,
    SessionExpiredError,
    WaitTimeoutError,
    ZooKeeperError,
)
from .events import EventType, State, WatchedEvent
from .hosts import HostProvider, reconnect_delay
from .protocol import PendingRequest
from .steps import Batch, Step

__all__ = ["AsyncClient"]

_RW_PROBE_INTERVAL = 2.0  # seconds between isro probes while connected read-only

log = logging.getLogger("zkfast.aio")
_monotonic = time.monotonic
Address = Tuple[str, int]


class _Connection(asyncio.BufferedProtocol):
    """One TCP connection: feeds the engine, completes futures.

    A BufferedProtocol, so the transport reads into one reused buffer instead
    of allocating 256 KiB of fresh bytes for every recv."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self._rbuf = bytearray(256 * 1024)
        self._rview = memoryview(self._rbuf)
        self.transport: Optional[asyncio.Transport] = None
        self.handshake: asyncio.Future[Any] = client._loop.create_future()
        self.closed: asyncio.Future[Optional[BaseException]] = client._loop.create_future()
        self.handshaking = True
        self.last_recv = _monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream connection's transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._rview

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._rview[:nbytes])

    def eof_received(self) -> Optional[bool]:
        return False  # close the transport; connection_lost follows

    def data_received(self, data: Any) -> None:
        client = self.client
        engine = client._engine
        if self.handshaking:
            try:
                resp = engine.receive_handshake(data)
            except BaseException as e:  # noqa: BLE001 - handed to the connect task
                if not self.handshake.done():
                    self.handshake.set_exception(e)
                return
            if resp is None:
                return
            self.last_recv = _monotonic()
            self.handshaking = False
            if not self.handshake.done():
                self.handshake.set_result(resp)
            data = b""
        frames = engine.frames_received
        try:
            done = engine.receive(data)
        except ZooKeeperError as e:  # corrupt stream / protocol violation
            for req, result, exc in engine.take_corrupt_completions():
                client._complete(req, result, exc)
            client._flush_events()
            self.abort(e)
            return
        if engine.frames_received != frames:
            # whole frames prove the server alive, not the bytes of a giant one
            self.last_recv = _monotonic()
        complete = client._complete
        for req, result, exc in done:
            complete(req, result, exc)
        if engine.events:
            client._flush_events()
        if engine.state == State.AUTH_FAILED:
            self.abort(AuthFailedError())

    def abort(self, error: BaseException) -> None:
        if not self.closed.done():
            self.closed.set_result(error)
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionLossError(
                f"connection closed during the handshake{f': {exc}' if exc else ''}"))
        if not self.closed.done():
            self.closed.set_result(exc)


class AsyncClient(ClientAPI):
    """A ZooKeeper client for asyncio; every API method is awaited.

    Takes the same arguments as :class:`zkfast.Client`. Methods that need one
    round trip return an awaitable future immediately (bad arguments raise at
    the call), so ``asyncio.gather`` pipelines them on one connection.
    """

    def __init__(self, hosts: str = "127.0.0.1:2181", session_timeout: float = 10.0, *,
                 connection_timeout: Optional[float] = None,
                 auth_data: Optional[Sequence[Tuple[str, Any]]] = None,
                 default_acl: Optional[Sequence[Any]] = None,
                 read_only: bool = False,
                 ssl_context: Optional[_ssl.SSLContext] = None,
                 host_provider: Optional[HostProvider] = None,
                 max_buffer_size: int = codec.DEFAULT_MAX_BUFFER_SIZE,
                 max_request_size: int = 0xFFFFF,
                 client_id: Optional[Tuple[int, bytes]] = None,
                 sasl_options: Optional[Dict[str, Any]] = None,
                 logger: Optional[logging.Logger] = None,
                 event_callback: Optional[Callable[[WatchedEvent], Any]] = None) -> None:
        self._configure(hosts, session_timeout, connection_timeout, auth_data, default_acl,
                        read_only, ssl_context, host_provider, max_buffer_size, max_request_size,
                        client_id, sasl_options, logger or log, event_callback)
        self._queue: Deque[Tuple[PendingRequest, float]] = deque()
        self._out: List[bytes] = []
        self._flush_scheduled = False
        self._conn: Optional[_Connection] = None
        # _loop and _dispatch_q are set by start(), before anything uses them
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._main_task: Optional[asyncio.Task[None]] = None
        self._dispatch_task: Optional[asyncio.Task[None]] = None
        self._dispatch_q: asyncio.Queue[Any] = None  # type: ignore[assignment]  # (see _loop)
        self._state_changed: Optional[asyncio.Event] = None
        self._closing = False
        self._closed = False
        self._last_send = 0.0
        self._rw_server: Optional[Address] = None  # read-write server an isro probe found
        self._next_rw_probe = 0.0

    # ------------------------------------------------------------ lifecycle

    async def start(self, timeout: float = 15.0) -> AsyncClient:
        if self._closed:
            raise ClosedError()
        if self._main_task is None:
            self._loop = asyncio.get_running_loop()
            self._dispatch_q = asyncio.Queue()
            self._state_changed = asyncio.Event()
            self._dispatch_task = self._loop.create_task(self._dispatch_main())
            self._main_task = self._loop.create_task(self._connect_main())
        if not await self.wait_connected(timeout):
            err = self.last_error
            auth_failed = self._engine.state == State.AUTH_FAILED
            await self.close()
            if auth_failed:
                raise AuthFailedError()
            raise WaitTimeoutError(f"could not connect to {self.hosts} within {timeout}s"
                                   + (f" (last error: {err})" if err else ""))
        return self

    async def wait_connected(self, timeout: Optional[float] = None) -> bool:
        deadline = None if timeout is None else _monotonic() + timeout
        assert self._state_changed is not None
        while not self._engine.state.is_connected:
            if self._closing or self._engine.state == State.AUTH_FAILED:
                return False
            remaining = None if deadline is None else deadline - _monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self._state_changed.clear()
            try:
                await asyncio.wait_for(self._state_changed.wait(), remaining)
            except asyncio.TimeoutError:
                return False
        return True

    async def close(self, timeout: float = 2.0) -> None:
        if self._closed:
            return
        self._closing = True
        conn = self._conn
        if conn is not None and self._engine.state.is_connected:
            try:
                await asyncio.wait_for(self._call(self._engine.op_close()), timeout)
            except (ZooKeeperError, asyncio.TimeoutError):
                pass
        conn = self._conn
        if conn is not None and conn.transport is not None:
            conn.transport.abort()
        if self._main_task is not None:
            self._main_task.cancel()
            try:
                await self._main_task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        lost = self._engine.connection_lost()
        queued = [r for r, _ in self._queue]
        self._queue.clear()
        for req in lost + queued:
            self._complete(req, None, ClosedError())
        self._closed = True
        self._set_state(State.CLOSED)
        self._engine.session_ended(ClosedError())
        self._flush_events()
        if self._dispatch_task is not None:
            self._dispatch_q.put_nowait(None)
            try:
                await asyncio.wait_for(self._dispatch_task, timeout + 5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._dispatch_task.cancel()

    stop = close

    async def __aenter__(self) -> AsyncClient:
        if self._main_task is None:
            await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (f"<zkfast.AsyncClient hosts={self.hosts!r} state={self._engine.state.value} "
                f"session=0x{self._engine.session_id:x}>")

    # ------------------------------------------------------------ sending

    def _call(self, req: PendingRequest) -> asyncio.Future[Any]:
        loop = self._loop
        if loop is None:
            raise ClosedError("AsyncClient is not started")
        fut = loop.create_future()
        req.waiter = fut
        conn = self._conn
        if conn is None or not self._engine.connected:
            if self._closing or self._closed:
                raise ClosedError()
            if self._engine.state == State.AUTH_FAILED:
                raise AuthFailedError(path=req.path)  # terminal: nothing queued would be sent
            self._engine.validate_encoding(req)
            self._queue.append((req, _monotonic()))
            return fut
        try:
            frame = self._engine.frame_for(req)
        except (TypeError, OverflowError, ValueError) as e:
            if isinstance(e, ZooKeeperError):
                raise
            raise InvalidArgumentError(str(e), path=req.path) from e
        self._out.append(frame)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return fut

    _submit = _call

    def _flush(self) -> None:
        self._flush_scheduled = False
        out = self._out
        if not out:
            return
        self._out = []
        conn = self._conn
        if conn is None or conn.transport is None:
            return  # the requests stay pending and fail with the connection
        conn.transport.write(out[0] if len(out) == 1 else b"".join(out))
        self._last_send = _monotonic()

    def _watch_future(self) -> Tuple[Callable[[Any], Any], Any]:
        fut: asyncio.Future[WatchedEvent] = self._loop.create_future()

        def fire(event: WatchedEvent) -> None:
            if not fut.done():
                fut.set_result(event)
        return fire, fut

    async def _run(self, gen: Generator[Step, Any, Any]) -> Any:
        value: Any = None
        error: Optional[BaseException] = None
        while True:
            try:
                step = gen.throw(error) if error is not None else gen.send(value)
            except StopIteration as stop:
                return stop.value
            value = error = None
            if isinstance(step, Batch):
                futs = [self._call(r) for r in step]
                value = await asyncio.gather(*futs, return_exceptions=True)
            else:
                try:
                    value = await self._call(step)
                except ZooKeeperError as e:
                    error = e

    # ------------------------------------------------------------ completion

    def _complete(self, req: PendingRequest, result: Any, exc: Optional[BaseException]) -> None:
        req.done_flag = True
        fut = req.waiter
        if fut is None or fut.done():
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)

    def _flush_events(self) -> None:
        events = self._engine.events
        if events and self._dispatch_q is not None:
            self._engine.events = []
            for item in events:
                self._dispatch_q.put_nowait(item)

    async def _dispatch_main(self) -> None:
        q = self._dispatch_q
        while True:
            item = await q.get()
            if item is None:
                return
            fn, arg = item
            try:
                r = fn(arg)
                if inspect.isawaitable(r):
                    await r
            except Exception:  # noqa: BLE001 - a user callback must not kill the dispatcher
                self.log.exception("callback %r raised", fn)

    def _set_state(self, state: State) -> None:
        # Compared with what listeners last heard: the engine sets AUTH_FAILED itself.
        if self._announced_state == state:
            return
        self._announced_state = state
        self._engine.state = state
        if self._state_changed is not None:
            self._state_changed.set()
        self.log.debug("state -> %s", state.value)
        if self._dispatch_q is not None:
            for fn in list(self._listeners):
                self._dispatch_q.put_nowait((fn, state))
            if self._event_callback is not None:
                self._dispatch_q.put_nowait(
                    (self._event_callback, WatchedEvent(EventType.NONE, state, None)))

    # ------------------------------------------------------------ connection task

    async def _connect_main(self) -> None:
        attempt = 0
        try:
            while not self._closing:
                if self._rw_server is not None:  # leaving a read-only server for it
                    addr, retry_start, self._rw_server = self._rw_server, False, None
                else:
                    addr, retry_start = self._host_provider.next()
                if retry_start:
                    await asyncio.sleep(reconnect_delay(attempt))
                    attempt += 1
                self._expire_queue()
                try:
                    conn = await self._open(addr)
                except SessionExpiredError as e:
                    self._on_expired(e)
                    continue
                except (OSError, asyncio.TimeoutError, ZooKeeperError) as e:
                    self.last_error = e
                    self.log.debug("connect to %s:%d failed: %s", addr[0], addr[1], e)
                    # requests a failed handshake sent (SASL, auth) must not stay pending
                    for req in self._engine.connection_lost():
                        self._complete(req, None, e if isinstance(e, ZooKeeperError)
                                       else ConnectionLossError(str(e), path=req.path))
                    if self._engine.state == State.AUTH_FAILED:
                        self._set_state(State.AUTH_FAILED)
                        self._fail_queue(AuthFailedError)
                        break
                    continue
                if conn is None:
                    continue
                attempt = 0
                self._host_provider.connected()
                heartbeat = self._loop.create_task(self._heartbeat(conn))
                try:
                    error = await conn.closed
                finally:
                    heartbeat.cancel()
                self._connection_dropped(conn, error)
                if isinstance(error, AuthFailedError) or self._engine.state == State.AUTH_FAILED:
                    self._set_state(State.AUTH_FAILED)
                    self._fail_queue(AuthFailedError)
                    break
        finally:
            if self._conn is not None and self._conn.transport is not None:
                self._conn.transport.abort()
            if self._state_changed is not None:
                self._state_changed.set()

    async def _open(self, addr: Address) -> Optional[_Connection]:
        engine = self._engine
        loop = self._loop
        kw: Dict[str, Any] = {}
        if self.ssl_context is not None:
            kw = {"ssl": self.ssl_context, "server_hostname": self._tls_hostname(addr)}
        _, conn = await asyncio.wait_for(
            loop.create_connection(lambda: _Connection(self), addr[0], addr[1], **kw),
            self.connection_timeout)
        assert conn.transport is not None
        try:
            conn.transport.write(engine.connect_frame())
            resp = await asyncio.wait_for(asyncio.shield(conn.handshake), self.connection_timeout)
        except BaseException:
            conn.transport.abort()
            raise
        if resp.read_only and not self.read_only:
            conn.transport.abort()
            return None
        if self.sasl_options:
            try:
                await self._handshake_run(conn, engine.sasl_exchange(self.sasl_options))
            except BaseException:
                conn.transport.abort()
                raise
        frames = engine.handshake_frames()
        queued = list(self._queue)
        self._queue.clear()
        for req, _ in queued:
            try:
                frames.append(engine.frame_for(req))
            except (ZooKeeperError, TypeError, ValueError, OverflowError) as e:
                self._complete(req, None, e)
        if frames:
            conn.transport.write(b"".join(frames))
        self._conn = conn
        engine.connected = True
        self._last_send = _monotonic()
        self.server = addr
        # replies that arrived together with the ConnectResponse
        conn.data_received(b"")
        self._next_rw_probe = _monotonic() + _RW_PROBE_INTERVAL / 4
        self._set_state(State.CONNECTED_READ_ONLY if resp.read_only else State.CONNECTED)
        self.log.info("connected to %s:%d session 0x%x", addr[0], addr[1], engine.session_id)
        return conn

    async def _handshake_run(self, conn: _Connection, gen: Generator[Any, Any, Any]) -> Any:
        """Drive a request generator on a connection not yet open to callers."""
        value: Any = None
        error: Optional[BaseException] = None
        while True:
            try:
                req = gen.throw(error) if error is not None else gen.send(value)
            except StopIteration as stop:
                return stop.value
            fut = self._loop.create_future()
            req.waiter = fut
            assert conn.transport is not None
            conn.transport.write(self._engine.frame_for(req))
            value = error = None
            try:
                value = await asyncio.wait_for(asyncio.shield(fut), self.connection_timeout)
            except AuthFailedError as e:
                self._set_state(State.AUTH_FAILED)
                raise e
            except ZooKeeperError as e:
                error = e

    async def _heartbeat(self, conn: _Connection) -> None:
        engine = self._engine
        read_timeout = engine.read_timeout
        ping_interval = engine.ping_interval
        while True:
            now = _monotonic()
            idle = now - conn.last_recv
            if idle >= read_timeout:
                conn.abort(ConnectionLossError(f"no reply from the server for {idle:.1f}s"))
                return
            until_ping = self._last_send + ping_interval - now
            if until_ping <= 0:
                if conn.transport is not None:
                    conn.transport.write(engine.ping_frame())
                self._last_send = now
                until_ping = ping_interval
            if engine.server_read_only and now >= self._next_rw_probe:
                # keep looking for a read-write server, like the sync client
                self._next_rw_probe = now + _RW_PROBE_INTERVAL
                found = await self._probe_rw_server()
                if found is not None:
                    self._rw_server = found
                    conn.abort(ConnectionLossError(
                        f"leaving the read-only server for read-write {found[0]}:{found[1]}"))
                    return
                continue
            await asyncio.sleep(max(0.001, min(until_ping, read_timeout - idle,
                                               _RW_PROBE_INTERVAL if engine.server_read_only
                                               else until_ping)))

    async def _probe_rw_server(self) -> Optional[Address]:
        """Ask one other server whether it is read-write (``isro`` answers "rw")."""
        addr = self._next_rw_probe_target()
        if addr is None:
            return None
        timeout = min(1.0, max(0.1, self._engine.read_timeout / 4))
        writer = None
        try:
            kw: Dict[str, Any] = {}
            if self.ssl_context is not None:
                kw = {"ssl": self.ssl_context, "server_hostname": self._tls_hostname(addr)}
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(addr[0], addr[1], **kw), timeout)
            writer.write(b"isro")
            answer = await asyncio.wait_for(reader.read(16), timeout)
        except (OSError, asyncio.TimeoutError) as e:
            self.log.debug("isro probe of %s:%d failed: %s", addr[0], addr[1], e)
            return None
        finally:
            if writer is not None:
                writer.close()
        if answer[:2] == b"rw":
            self.log.info("read-write server found at %s:%d", addr[0], addr[1])
            return addr
        return None

    def _connection_dropped(self, conn: _Connection, error: Optional[BaseException]) -> None:
        if conn.transport is not None:
            conn.transport.abort()
        self._conn = None
        self._out = []
        lost = self._engine.connection_lost()
        for req in lost:
            if req.op == codec.OP_CLOSE_SESSION and self._closing:
                self._complete(req, None, None)
            else:
                self._complete(req, None, ConnectionLossError(str(error) if error else None,
                                                              path=req.path))
        self.last_error = error
        if self._closing:
            return
        if self._engine.state != State.AUTH_FAILED:
            self._set_state(State.SUSPENDED)
            self.log.info("disconnected: %s", error)

    def _fail_queue(self, error_type: Type[ZooKeeperError]) -> None:
        queued = [r for r, _ in self._queue]
        self._queue.clear()
        for req in queued:
            self._complete(req, None, error_type(path=req.path))

    def _expire_queue(self) -> None:
        limit = _monotonic() - self.session_timeout
        while self._queue and self._queue[0][1] < limit:
            req = self._queue.popleft()[0]
            self._complete(req, None, ConnectionLossError(
                "not connected within the session timeout", path=req.path))

    async def server_version(self, timeout: float = 5.0) -> str:
        from . import flw
        if self.server is None:
            raise ConnectionLossError("not connected")
        host, port = self.server
        stats = await self._loop.run_in_executor(None, lambda: flw.srvr([f"{host}:{port}"], timeout))
        st = next(iter(stats.values()))
        if st.error is not None:
            raise ConnectionLossError(f"srvr failed: {st.error}")
        return str(st.version)
