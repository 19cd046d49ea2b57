"""The asyncio client: the same engine, session core and API as
:class:`zkfast.Client`, awaited.

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

A client belongs to the event loop it was started on: a call from another
loop raises :class:`~zkfast.WrongEventLoopError` and changes nothing, and
``close()`` still works after that loop has closed. Only portable loop
features are used (stream transports, ``BufferedProtocol``), so the Windows
proactor loop works too.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from asyncio import events as _asyncio_events
from collections import deque
from typing import Any, Awaitable, Callable, Deque, Dict, List, Optional, Tuple, Type, cast

from ._api import ClientAPI
from .errors import (
    AuthFailedError,
    ClientForkedError,
    ClosedError,
    ConnectionLossError,
    ProtocolError,
    RequestTimeoutError,
    WaitTimeoutError,
    WrongEventLoopError,
    ZooKeeperError,
)
from .events import State, WatchedEvent
from .hosts import Address
from .requests import PendingRequest
from .session import (
    HEARTBEAT_DEAD,
    HEARTBEAT_PING,
    HEARTBEAT_PROBE,
    Close,
    Open,
    Ready,
    Receive,
    Send,
    Serve,
    Session,
    Sleep,
)
from .steps import DONE, Batch, Done, StepGen, Timed, Wait, WaitConnected, advance

__all__ = ["AsyncClient", "AsyncioSession"]

_monotonic = time.monotonic
_running_loop = _asyncio_events._get_running_loop  # C; None outside a running loop
_NO_LOCK = contextlib.nullcontext()


class _Connection(asyncio.BufferedProtocol):
    """One TCP connection. During the handshake its bytes are buffered for the
    session's :class:`Receive` steps; once serving, they go straight to the
    engine. A BufferedProtocol, so the transport reads into one reused buffer
    instead of allocating 256 KiB of fresh bytes for every recv."""

    def __init__(self, session: AsyncioSession) -> None:
        self.session = session
        self._rbuf = bytearray(256 * 1024)
        self._rview = memoryview(self._rbuf)
        self.transport: Optional[asyncio.Transport] = None
        loop = session._loop
        self.closed: asyncio.Future[Optional[BaseException]] = loop.create_future()
        self.serving = False
        self._pending = bytearray()       # handshake bytes not yet received by a step
        self._arrived: Optional[asyncio.Future[None]] = None
        self.last_recv = _monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream connection's transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._rview

    def buffer_updated(self, nbytes: int) -> None:
        if self.serving:
            self.session._data_received(self, self._rview[:nbytes])
            return
        self._pending += self._rview[:nbytes]
        self._wake()

    def eof_received(self) -> Optional[bool]:
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)
        self._wake()

    def _wake(self) -> None:
        arrived = self._arrived
        if arrived is not None and not arrived.done():
            arrived.set_result(None)

    async def receive(self, timeout: float) -> bytes:
        """Bytes that arrived during the handshake (waiting up to ``timeout``)."""
        deadline = _monotonic() + timeout
        while not self._pending:
            if self.closed.done():
                raise ConnectionLossError("server closed the connection during the handshake")
            remaining = deadline - _monotonic()
            if remaining <= 0:
                raise ConnectionLossError(f"no answer within {timeout:.1f}s")
            self._arrived = self.session._loop.create_future()
            try:
                await asyncio.wait_for(asyncio.shield(self._arrived), remaining)
            except TimeoutError:
                pass
        data = bytes(self._pending)
        self._pending.clear()
        return data

    def start_serving(self) -> bytes:
        """From now on bytes go to the engine; returns what was already buffered."""
        self.serving = True
        data = bytes(self._pending)
        self._pending.clear()
        return data

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def abort(self, error: Optional[BaseException] = None) -> None:
        if not self.closed.done():
            self.closed.set_result(error)
        if self.transport is not None:
            self.transport.abort()


class _ProbeLink:
    """A plain stream connection for a four-letter-word probe."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer


class AsyncioSession(Session):
    """The session core on an asyncio event loop."""

    is_async = True

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._out: List[bytes] = []
        self._flush_scheduled = False
        self._conn: Optional[_Connection] = None
        # set by start(), before anything uses them
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._main_task: Optional[asyncio.Task[None]] = None
        self._dispatch_task: Optional[asyncio.Task[None]] = None
        self._dispatch_q: Optional[asyncio.Queue[Any]] = None
        self._state_changed: Optional[asyncio.Event] = None
        self._wake: Optional[asyncio.Event] = None
        self._tasks: set[asyncio.Task[Any]] = set()  # background step runs, kept referenced
        self._max_in_flight = config.max_in_flight
        self._request_timeout = config.request_timeout
        self._waiting: Deque[PendingRequest] = deque()  # calls waiting for room (max_in_flight)
        self._close_task: Optional[asyncio.Task[None]] = None
        self._closing_from_dispatcher = False

    # ------------------------------------------------------------ hooks for Session

    def _io_lock(self) -> Any:
        return _NO_LOCK

    def _enter_state(self, state: State) -> bool:
        changed = self.engine.transition(state)
        if self._state_changed is not None:
            self._state_changed.set()
        return changed

    def _dispatch(self, fn: Callable[[Any], Any], arg: Any) -> None:
        if self._dispatch_q is not None:
            self._dispatch_q.put_nowait((fn, arg))

    def _complete(self, req: PendingRequest, result: Any, exc: Optional[BaseException]) -> None:
        if req.done_flag:
            return
        req.result_value = result
        req.exception_value = exc
        req.done_flag = True
        if self._observers is not None:
            self._observe(req, result, exc)
        fut = req.waiter
        if fut is None or fut.done():
            return
        if fut.get_loop().is_closed():
            return  # its loop is gone: nobody can await it any more
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)

    def _detach(self) -> List[PendingRequest]:
        if self._closing and self._waiting:  # closing: those waiting for room fail too
            waiting = list(self._waiting)
            self._waiting.clear()
            for req in waiting:
                self._complete(req, None, ClosedError(path=req.path))
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.abort()
            except RuntimeError:  # the loop is closed
                pass
        self._out = []
        return self.engine.connection_lost()

    # ------------------------------------------------------------ the loop this client belongs to

    def _check_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            self.check_usable()
            raise ClosedError("AsyncClient is not started (await start() or use async with)")
        if _running_loop() is not loop:
            if self._forked:
                raise ClientForkedError()
            raise WrongEventLoopError(
                "this AsyncClient was started on another event loop"
                + (" (which is closed)" if loop.is_closed() else ""))
        return loop

    # ------------------------------------------------------------ lifecycle

    @property
    def started(self) -> bool:
        return self._main_task is not None

    async def start(self, timeout: float) -> None:
        self.check_usable()
        if self._main_task is None:
            loop = self._loop = asyncio.get_running_loop()
            self._dispatch_q = asyncio.Queue()
            self._state_changed = asyncio.Event()
            self._wake = asyncio.Event()
            name = self.config.name
            self._dispatch_task = loop.create_task(self._dispatch_main(),
                                                   name=f"zkfast-dispatch[{name}]")
            self._main_task = loop.create_task(self._connection_main(),
                                               name=f"zkfast-connect[{name}]")
        else:
            self._check_loop()
        if not await self.wait_connected(timeout):
            err = self.last_error
            auth_failed = self.engine.state == State.AUTH_FAILED
            await self.close()
            if auth_failed:
                raise AuthFailedError()
            raise WaitTimeoutError(f"could not connect to {self.config.hosts} within {timeout}s"
                                   + (f" (last error: {err})" if err else ""))

    async def wait_connected(self, timeout: Optional[float] = None) -> bool:
        self._check_loop()
        deadline = None if timeout is None else _monotonic() + timeout
        changed = self._state_changed
        assert changed is not None
        while not self.engine.state.is_connected:
            if self._closing or self._closed or self.engine.state == State.AUTH_FAILED:
                return False
            remaining = None if deadline is None else deadline - _monotonic()
            if remaining is not None and remaining <= 0:
                return False
            changed.clear()
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                return False
        return True

    async def close(self, timeout: float = 2.0) -> None:
        if self._closed:
            return
        if self._forked:
            self._close_forked()
            return
        self._close_requested = True  # from now on new calls fail with ClosedError
        loop = self._loop
        if loop is None:  # never started
            self.finish_close()
            return
        running = _running_loop()
        if running is not loop:
            if not loop.is_closed() and loop.is_running():
                # the client's loop runs in another thread: close there
                fut = asyncio.run_coroutine_threadsafe(self.close(timeout), loop)
                await asyncio.wrap_future(fut)
            else:
                self._close_without_loop()
            return
        if asyncio.current_task() is self._dispatch_task:
            # a callback closing: the close must not wait for the callback to end
            self._closing_from_dispatcher = True
        task = self._close_task
        if task is None:
            # One close, whoever asks and however often; a caller cancelled while
            # it waits stops waiting, and the close goes on.
            task = self._close_task = loop.create_task(self._close(timeout),
                                                       name=f"zkfast-close[{self.config.name}]")
        await asyncio.shield(task)

    async def _close(self, timeout: float) -> None:
        conn = self._conn
        if conn is not None and self.engine.state.is_connected:
            self._session_closing = True
            try:
                await asyncio.wait_for(self.call(self.engine.op_close()), timeout)
            except (TimeoutError, ZooKeeperError):
                pass
        self._closing = True
        if self._wake is not None:
            self._wake.set()
        conn = self._conn
        if conn is not None:
            conn.abort()
        main = self._main_task
        if main is not None:
            main.cancel()
            await asyncio.wait({main})  # its end, whatever it ended with
        self.finish_close()
        dt = self._dispatch_task
        if dt is not None and self._dispatch_q is not None:
            self._dispatch_q.put_nowait(None)
            if not self._closing_from_dispatcher:  # else it ends after the callback
                done, _ = await asyncio.wait({dt}, timeout=timeout + 5)
                if not done:
                    dt.cancel()

    def _close_without_loop(self) -> None:
        """close() after the client's loop has stopped or closed: free the
        socket and finish without running anything on that loop."""
        self._closing = True
        self._dispatch_q = None  # no dispatcher will run again
        self.finish_close()

    def _drop_connection(self, reason: str) -> None:
        conn = self._conn
        if conn is not None:
            conn.abort(ConnectionLossError(reason))

    def _close_forked(self) -> None:
        """close() in a child process after fork: touch nothing shared with the parent."""
        self._closing = True
        self._closed = True
        self._conn = None

    def close_in_background(self) -> None:
        """Close without waiting (garbage collection of an unclosed client)."""
        self._close_requested = True
        loop = self._loop
        if self._closed or self._forked or loop is None:
            return
        if loop.is_closed() or not loop.is_running():
            self._close_without_loop()
            return
        try:
            loop.call_soon_threadsafe(lambda: loop.create_task(self.close()))
        except RuntimeError:
            self._close_without_loop()

    # ------------------------------------------------------------ sending

    def call(self, req: PendingRequest, timeout: Optional[float] = None) -> Any:
        """Send ``req``: a future of its result (pipelined: nothing waits), or,
        with a ``timeout`` (default: the client's ``request_timeout``), an
        awaitable that gives up after it with RequestTimeoutError."""
        fut = self.submit(req)
        if timeout is None:
            timeout = self._request_timeout
        if timeout is None:
            return fut
        return self._with_deadline(fut, req, timeout)

    def submit(self, req: PendingRequest) -> asyncio.Future[Any]:
        """Send ``req``: a future of its result."""
        loop = self._check_loop()
        engine = self.engine
        limit = self._max_in_flight
        if limit is not None and (self._waiting or engine.framed_count - engine.answered_count >= limit):
            # no room: it waits, unframed and in call order, for replies to make room
            self.check_usable()
            fut = loop.create_future()
            req.waiter = fut
            self._waiting.append(req)
            return fut
        self._send(req)
        fut = loop.create_future()
        req.waiter = fut
        return fut

    def _send(self, req: PendingRequest) -> None:
        if self.engine.can_batch(req):
            # a read while others are in flight: one multiRead per loop iteration
            frame = self.join_batch(req)
        else:
            frame = self.frame_or_queue(req)
        if frame is not None:
            self._out.append(frame)
        if not self._flush_scheduled and (frame is not None or self.engine.open_batch is not None):
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _admit_waiting(self) -> None:
        """Send the requests that waited for room, in order, while there is room."""
        engine = self.engine
        limit = self._max_in_flight
        waiting = self._waiting
        while waiting and (limit is None or engine.framed_count - engine.answered_count < limit):
            req = waiting.popleft()
            if req.waiter is not None and req.waiter.done():  # cancelled or timed out meanwhile
                continue
            try:
                self._send(req)
            except ZooKeeperError as e:
                self._complete(req, None, e)

    async def _with_deadline(self, fut: asyncio.Future[Any], req: PendingRequest, timeout: float) -> Any:
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise RequestTimeoutError(f"no reply within {timeout:g}s; the request may still be "
                                      "applied by the server", path=req.path) from None

    def _flush(self) -> None:
        self._flush_scheduled = False
        out = self._out
        if self.engine.open_batch is not None:
            batch = self.engine.close_batch()
            if batch:
                out.append(batch)
        if not out:
            return
        self._out = []
        conn = self._conn
        if conn is None:
            return  # the requests stay pending and fail with the connection
        data = out[0] if len(out) == 1 else b"".join(out)
        conn.write(data)
        self._last_send = _monotonic()
        self.bytes_sent += len(data)

    def _data_received(self, conn: _Connection, data: Any) -> None:
        engine = self.engine
        self.bytes_received += len(data)
        frames = engine.frames_received
        try:
            engine.receive(data, self._complete)
        except ZooKeeperError as e:  # corrupt stream / protocol violation
            self.flush_events()
            conn.abort(e)
            return
        if engine.frames_received != frames:
            # whole frames prove the server alive, not the bytes of a giant one
            conn.last_recv = self.last_heard = _monotonic()
        if engine.events:
            self.flush_events()
        if self._waiting:
            self._admit_waiting()
        if engine.state == State.AUTH_FAILED:
            conn.abort(AuthFailedError())

    # ------------------------------------------------------------ the connection task

    async def _connection_main(self) -> None:
        try:
            await self._drive_io(self.connection_loop())
        except asyncio.CancelledError:
            if not self._closing:
                # the loop is shutting down under us (asyncio.run ended): the
                # client cannot live on without it
                self._closing = True
                self.finish_close()
            raise
        finally:
            conn = self._conn
            if conn is not None and conn.transport is not None:
                conn.transport.abort()
            if self._state_changed is not None:
                self._state_changed.set()

    async def _drive(self, gen: Any, perform: Callable[[Any], Awaitable[Any]],
                     errors: Tuple[Type[BaseException], ...]) -> Any:
        """Run a generator to its end, awaiting: each step it yields is done by
        ``perform``, its result sent back or its error (of ``errors``) thrown in."""
        value: Any = None
        error: Optional[BaseException] = None
        while True:
            step, result = advance(gen, value, error)
            if step is DONE:
                return result
            value = error = None
            try:
                value = await perform(step)
            except errors as e:
                error = e

    async def _drive_io(self, gen: Any) -> Any:
        """Perform the I/O steps of a session generator (see zkfast.session)."""
        return await self._drive(gen, self._perform, (OSError, ValueError, ZooKeeperError))

    async def _perform(self, step: Any) -> Any:
        t = type(step)
        if t is Send:
            link = step.link
            if isinstance(link, _ProbeLink):
                link.writer.write(step.data)
            else:
                link.write(step.data)
            return None
        if t is Receive:
            link = step.link
            if isinstance(link, _ProbeLink):
                try:
                    data = await asyncio.wait_for(link.reader.read(16), step.timeout)
                except TimeoutError:
                    raise ConnectionLossError(f"no answer within {step.timeout:.1f}s") from None
                if not data:
                    raise ConnectionLossError("connection closed")
                return data
            return await link.receive(step.timeout)
        if t is Open:
            return await self._open(step.addr, step.timeout, step.raw)
        if t is Ready:
            return self._ready(step.link, step.frames)
        if t is Serve:
            return await self._serve(step.link)
        if t is Sleep:
            wake = self._wake
            assert wake is not None
            try:
                await asyncio.wait_for(wake.wait(), step.delay)
            except TimeoutError:
                pass
            wake.clear()
            return self.stopping
        if t is Close:
            link = step.link
            if isinstance(link, _ProbeLink):
                link.writer.close()
            else:
                link.abort()
            return None
        raise ProtocolError(f"unknown I/O step {step!r}")

    async def _open(self, addr: Address, timeout: float, raw: bool) -> Any:
        loop = self._loop
        kw: Dict[str, Any] = {}
        if self.config.ssl_context is not None:
            kw = {"ssl": self.config.ssl_context, "server_hostname": self.tls_hostname(addr)}
        factory = self.config.connect
        if factory is not None:
            sock = await loop.run_in_executor(None, factory, addr, timeout)
            sock.setblocking(False)
            target: Dict[str, Any] = {"sock": sock}
        else:
            target = {"host": addr[0], "port": addr[1]}
        if raw:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(**target, **kw), timeout)
            return _ProbeLink(reader, writer)
        _, conn = await asyncio.wait_for(
            loop.create_connection(lambda: _Connection(self), **target, **kw), timeout)
        return conn

    def _ready(self, conn: _Connection, frames: List[bytes]) -> None:
        frames = self.ready_frames(frames)
        if frames:
            conn.write(b"".join(frames))
        # the read timeout counts from now, not from when the handshake began
        conn.last_recv = self.last_heard = _monotonic()
        self._conn = conn
        self.engine.connection_ready()
        self._last_send = _monotonic()
        leftover = conn.start_serving()
        if leftover:  # replies that arrived together with the last handshake bytes
            self._data_received(conn, leftover)

    async def _serve(self, conn: _Connection) -> BaseException:
        heartbeat = self._loop.create_task(self._heartbeat(conn),
                                           name=f"zkfast-heartbeat[{self.config.name}]")
        try:
            error = await conn.closed
        finally:
            heartbeat.cancel()
        return error if error is not None else ConnectionLossError("connection closed")

    async def _heartbeat(self, conn: _Connection) -> None:
        engine = self.engine
        while True:
            action, wait = self.heartbeat(_monotonic(), conn.last_recv)
            if action == HEARTBEAT_DEAD:
                conn.abort(ConnectionLossError(f"no reply from the server for {wait:.1f}s"))
                return
            if action == HEARTBEAT_PING:
                conn.write(engine.ping_frame())
                self._last_send = _monotonic()
                continue
            if action == HEARTBEAT_PROBE:
                found = await self._drive_io(self.probe_rw_server())
                if found is not None:
                    conn.abort(ConnectionLossError(
                        f"leaving the read-only server for read-write {found[0]}:{found[1]}"))
                    return
                continue
            await asyncio.sleep(wait)

    # ------------------------------------------------------------ dispatching

    async def _dispatch_main(self) -> None:
        q = self._dispatch_q
        assert q is not None
        while True:
            item = await q.get()
            if item is None:
                return
            fn, arg = item
            try:
                r = fn(arg)
                if inspect.isawaitable(r):
                    await r
            except ClosedError:
                if not (self._closing or self._closed):
                    self.log.exception("callback %r raised", fn)
            except Exception:  # noqa: BLE001 - a user callback must not kill the dispatcher
                self.log.exception("callback %r raised", fn)

    # ------------------------------------------------------------ steps (see zkfast.steps)

    async def run_steps(self, gen: StepGen) -> Any:
        """Drive a step generator (zkfast.steps) to its end, awaiting; its result."""
        return await self._drive(gen, self._perform_step, (ZooKeeperError,))

    async def _perform_step(self, step: Any) -> Any:
        t = type(step)
        if t is PendingRequest:
            return await self.call(step)
        if t is Batch:
            futs: List[Any] = []
            for req in step:
                try:
                    futs.append(self.submit(req))
                except ZooKeeperError as e:
                    failed = self._loop.create_future()
                    failed.set_exception(e)
                    futs.append(failed)
            return await asyncio.gather(*futs, return_exceptions=True)
        if t is Wait:
            if step.event.is_set():
                return True
            try:
                await asyncio.wait_for(step.event.wait(), step.timeout)
                return True
            except TimeoutError:
                return False
        if t is WaitConnected:
            return await self.wait_connected(step.timeout)
        if t is Timed:
            return await self.call(step.req, step.timeout)
        raise TypeError(f"not a step: {step!r}")

    def run_in_background(self, gen: StepGen, done: Optional[Done] = None) -> None:
        task = self._check_loop().create_task(self.run_steps(gen))
        self._tasks.add(task)

        def finished(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            exc: Optional[BaseException]
            if t.cancelled():
                res, exc = None, ClosedError("cancelled")
            else:
                exc = t.exception()
                res = None if exc is not None else t.result()
            if done is not None:
                done(res, exc)
            elif exc is not None and not isinstance(exc, ZooKeeperError):
                self.log.error("background step generator failed", exc_info=exc)

        task.add_done_callback(finished)

    def call_later(self, delay: float, fn: Callable[[], Any]) -> asyncio.TimerHandle:
        return self._loop.call_later(delay, fn)

    def new_event(self) -> asyncio.Event:
        return asyncio.Event()

    def new_watch_future(self) -> Tuple[Callable[[WatchedEvent], Any], asyncio.Future[WatchedEvent]]:
        """(the watcher to register, the future the caller awaits)."""
        fut: asyncio.Future[WatchedEvent] = self._check_loop().create_future()

        def fire(event: WatchedEvent) -> None:
            if not fut.done():
                fut.set_result(event)
        return fire, fut


class AsyncClient(ClientAPI):
    """A ZooKeeper client for asyncio; every API method is awaited.

    Takes the same arguments as :class:`zkfast.Client`. Methods that need one
    round trip return an awaitable future immediately (bad arguments raise at
    the call), so ``asyncio.gather`` pipelines them on one connection.
    """

    is_async = True
    _session: AsyncioSession
    _session_class = AsyncioSession
    _how_to_close = "await close() (or use async with)"

    async def start(self, timeout: float = 15.0) -> AsyncClient:
        """Connect (on the running loop, which the client then belongs to)."""
        await self._session.start(timeout)
        return self

    async def wait_connected(self, timeout: Optional[float] = None) -> bool:
        return await self._session.wait_connected(timeout)

    async def close(self, timeout: float = 2.0) -> None:
        """End the session and stop the client's tasks; calls in flight fail
        with :class:`ClosedError`. Works from any loop, and after the client's
        own loop has closed."""
        await self._session.close(timeout)

    stop = close

    async def __aenter__(self) -> AsyncClient:
        if not self._session.started:
            await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


    async def server_version(self, timeout: float = 5.0) -> str:
        """The version string of the server this client is connected to
        (from the ``srvr`` four-letter word, which the server must allow)."""
        loop = asyncio.get_running_loop()
        return cast(str, await loop.run_in_executor(None, self._server_version, timeout))
