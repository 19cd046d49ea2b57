"""The synchronous, thread-safe client.

Threads: callers encode and send their own requests (under a send lock, so
frames never interleave) and usually read their own replies (leader/follower,
below); one I/O thread connects, reads what no caller is reading, pings, and
detects dead connections; one dispatcher thread runs watch callbacks, state
listeners and future callbacks in order, so a slow callback never stalls
replies. Everything about the session that is not threads and sockets is in
:mod:`zkfast.session`, shared with the asyncio client.

>>> from zkfast import Client
>>> with Client("127.0.0.1:2181") as zk:                 # doctest: +SKIP
...     zk.create("/demo", b"hello")
...     value, stat = zk.get("/demo")
"""

from __future__ import annotations

import os
import queue
import select
import selectors
import socket
import ssl as _ssl
import threading
import time
from typing import Any, Callable, List, Optional, Sequence, Tuple, Type

from ._api import ClientAPI
from .errors import (
    ClientForkedError,
    ClosedError,
    ConnectionLossError,
    ProtocolError,
    RequestTimeoutError,
    WaitTimeoutError,
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
from .steps import DONE, Batch, CallbackDriver, Done, StepGen, Timed, Wait, WaitConnected, advance

__all__ = ["Client", "Future", "WatchEvent", "ThreadSession"]

_allocate_lock = threading.Lock
_monotonic = time.monotonic
_RECV_SIZE = 256 * 1024
_COALESCE_BYTES = 64 * 1024  # held-back frames are sent at the latest at this size
_MAIN_THREAD = threading.main_thread().ident
_IO_ERRORS = (OSError, ValueError, ZooKeeperError)  # thrown into the connection logic
_CALL_ERRORS = (ZooKeeperError,)                   # thrown into a step generator

# epoll where it exists (a leading caller mutes the socket in it cheaply);
# the standard selectors elsewhere (Windows has neither epoll nor poll). The
# test suite also runs the portable path on Linux with ZKFAST_PORTABLE_IO=1.
_USE_EPOLL = hasattr(select, "epoll") and os.environ.get("ZKFAST_PORTABLE_IO", "") in ("", "0")
_EPOLL_IN = (select.EPOLLIN | select.EPOLLPRI) if hasattr(select, "epoll") else 0


class Future:
    """The handle of a request in flight (returned by the ``*_async`` methods).

    ``result(timeout)`` blocks for the reply (raising the request's error);
    ``add_done_callback(fn)`` runs ``fn(future)`` on the dispatcher thread.
    """

    __slots__ = ("_req", "_session")

    def __init__(self, req: PendingRequest, session: ThreadSession) -> None:
        self._req = req
        self._session = session

    def done(self) -> bool:
        return self._req.done_flag

    def result(self, timeout: Optional[float] = None) -> Any:
        req = self._req
        if not req.done_flag:
            session = self._session
            if session._forked:
                raise ClientForkedError()
            if session._outbuf or session.engine.open_batch is not None:
                session._flush_out()
            session._lead(req, None if timeout is None else _monotonic() + timeout)
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
                return
        self._session._dispatch(fn, self)

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


# ---------------------------------------------------------------- waiting for a readable socket


class _EpollWaiter:
    """The I/O thread's wait for data. A caller that reads its own reply
    mutes the socket here first, so the I/O thread sleeps through it."""

    def __init__(self, sock: socket.socket) -> None:
        self._ep = select.epoll()
        self._fd = sock.fileno()
        self._ep.register(self._fd, _EPOLL_IN)
        self.muted = False

    def wait(self, timeout: float) -> bool:
        return bool(self._ep.poll(timeout))

    def mute(self) -> bool:
        self.muted = True
        try:
            self._ep.modify(self._fd, 0)
        except (OSError, ValueError):
            self.muted = False
        return self.muted

    def unmute(self) -> None:
        try:
            self._ep.modify(self._fd, _EPOLL_IN)
        except (OSError, ValueError):
            pass
        self.muted = False

    def close(self) -> None:
        self._ep.close()


class _SelectorWaiter:
    """The portable waiter (``selectors``: kqueue, poll or select); muting
    takes the socket out of the selector."""

    def __init__(self, sock: socket.socket) -> None:
        self._sel = selectors.DefaultSelector()
        self._sock = sock
        self._sel.register(sock, selectors.EVENT_READ)
        self.muted = False

    def wait(self, timeout: float) -> bool:
        if self.muted:
            time.sleep(min(timeout, 0.05))  # nothing to wait on while a caller reads
            return False
        return bool(self._sel.select(timeout))

    def mute(self) -> bool:
        self.muted = True
        try:
            self._sel.unregister(self._sock)
        except (KeyError, ValueError, OSError):
            pass
        return True

    def unmute(self) -> None:
        try:
            self._sel.register(self._sock, selectors.EVENT_READ)
        except (KeyError, ValueError, OSError):
            pass
        self.muted = False

    def close(self) -> None:
        self._sel.close()


class _ReadableCheck:
    """A caller's wait for one socket to be readable (any fd number: poll
    where it exists, else select). Used only under the read token."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._poll: Any = None
        if hasattr(select, "poll"):
            self._poll = select.poll()
            self._poll.register(sock, select.POLLIN | select.POLLPRI)

    def sock_is_not(self, sock: socket.socket) -> bool:
        return self._sock is not sock

    def __call__(self, timeout: float) -> bool:
        if self._poll is not None:
            return bool(self._poll.poll(max(0, int(timeout * 1000)) + 1))
        return bool(select.select([self._sock], [], [], timeout)[0])


def _shutdown(sock: Any) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _close(sock: Any) -> None:
    try:
        sock.close()
    except OSError:
        pass


# ---------------------------------------------------------------- the threaded session


class ThreadSession(Session):
    """The session core with threads and blocking sockets."""

    is_async = False

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        # RLocks: the owner is known, so close() can tell that a signal
        # handler interrupted this very thread while it held one.
        self._send_lock = threading.RLock()
        self._read_token = threading.RLock()  # held by whichever thread reads the socket
        self._rbuf = bytearray(_RECV_SIZE)     # the token holder's receive buffer
        self._rview = memoryview(self._rbuf)
        self._waiter: Any = None               # the I/O thread's wait for data
        self._readable: Optional[_ReadableCheck] = None  # a leading caller's, for this socket
        self._outbuf: List[bytes] = []         # frames held back while others are in flight
        self._outbytes = 0
        # The thread sending held-back frames outside the send lock (see _flush_out),
        # or None. While it is set, nobody else writes to the socket: frames go to
        # _outbuf and that thread sends them after its own, in order.
        self._sender: Optional[int] = None
        self._state_cond = threading.Condition(threading.Lock())
        self._sock: Optional[socket.socket] = None
        self._tls = config.ssl_context is not None
        self._dispatch_q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._io_thread: Optional[threading.Thread] = None
        self._dispatch_thread: Optional[threading.Thread] = None
        self._wake = threading.Event()
        self._close_lock = threading.Lock()
        self._closed_event = threading.Event()
        self._closer: Optional[threading.Thread] = None
        self._connecting: Optional[socket.socket] = None  # the socket of a handshake in progress
        # max_in_flight: callers wait on _room for replies to make room
        self._max_in_flight = config.max_in_flight
        self._request_timeout = config.request_timeout
        self._room = threading.Condition(threading.Lock())
        self._room_waiters = 0

    # ------------------------------------------------------------ hooks for Session

    def _io_lock(self) -> Any:
        return self._send_lock

    def _enter_state(self, state: State) -> bool:
        with self._state_cond:
            changed = self.engine.transition(state)
            self._state_cond.notify_all()
        return changed

    def _dispatch(self, fn: Callable[[Any], Any], arg: Any) -> None:
        self._dispatch_q.put((fn, arg))

    def _complete(self, req: PendingRequest, result: Any, exc: Optional[BaseException]) -> None:
        if req.done_flag:  # completed before; a drop only owes it its callbacks
            if req.callbacks is not None:
                self._run_callbacks(req)
            return
        req.result_value = result
        req.exception_value = exc
        req.done_flag = True
        w = req.waiter
        if w is not None:
            try:
                w.release()
            except RuntimeError:  # released already
                pass
        if req.callbacks is not None:
            self._run_callbacks(req)
        if self._observers is not None:
            self._observe(req, result, exc)

    def _run_callbacks(self, req: PendingRequest) -> None:
        with _callback_lock:
            cbs, req.callbacks = req.callbacks, None
        if cbs:
            fut = Future(req, self)
            for cb in cbs:
                self._dispatch_q.put((cb, fut))

    def _detach(self) -> List[PendingRequest]:
        sock = self._sock
        if sock is not None:
            _shutdown(sock)  # a caller reading this socket returns at once
        with self._read_token, self._send_lock:
            self._sock = None
            self._outbuf.clear()  # their requests fail now; never resend on a new connection
            self._outbytes = 0
            lost = self.engine.connection_lost()
        if sock is not None:
            _close(sock)
        return lost

    # ------------------------------------------------------------ lifecycle

    @property
    def started(self) -> bool:
        return self._io_thread is not None

    def start(self, timeout: float) -> None:
        self.check_usable()
        if self._io_thread is None:
            name = self.config.name
            self._dispatch_thread = threading.Thread(target=self._dispatch_main,
                                                     name=f"zkfast-dispatch[{name}]", daemon=True)
            self._dispatch_thread.start()
            self._io_thread = threading.Thread(target=self._io_main, name=f"zkfast-io[{name}]",
                                               daemon=True)
            self._io_thread.start()
        if not self.wait_connected(timeout):
            err = self.last_error
            auth_failed = self.engine.state == State.AUTH_FAILED
            self.close()
            if auth_failed:
                from .errors import AuthFailedError
                raise AuthFailedError()
            raise WaitTimeoutError(f"could not connect to {self.config.hosts} within {timeout}s"
                                   + (f" (last error: {err})" if err else ""))

    def wait_connected(self, timeout: Optional[float] = None) -> bool:
        deadline = None if timeout is None else _monotonic() + timeout
        with self._state_cond:
            while not self.engine.state.is_connected:
                if self._closing or self._forked or self.engine.state == State.AUTH_FAILED:
                    return False
                remaining = None if deadline is None else deadline - _monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._state_cond.wait(remaining)
        return True

    def close(self, timeout: float = 2.0) -> None:
        if self._closed:
            return
        if self._forked:
            self._close_forked()
            return
        self._close_requested = True  # from now on new calls fail with ClosedError
        if (self._send_lock._is_owned() or self._read_token._is_owned()  # type: ignore[attr-defined]
                or self._sender == threading.get_ident()):
            # A signal handler (or a callback) interrupted this thread inside
            # this client's own send or read: nothing may be written or waited
            # for here. A helper thread closes as soon as the interrupted call
            # unwinds (not a daemon: interpreter exit waits for it).
            self.close_in_background(timeout)
            return
        if not self._close_lock.acquire(False):
            # Another thread is closing; wait for it unless it waits for us.
            if threading.current_thread() not in (self._io_thread, self._dispatch_thread):
                self._closed_event.wait(timeout + 10)
            return
        try:
            self._close(timeout)
        finally:
            self._close_lock.release()

    def close_in_background(self, timeout: float = 2.0) -> None:
        """Close on a helper thread; returns at once."""
        self._close_requested = True
        if self._closer is not None or self._closed:
            return
        self._closer = threading.Thread(target=self.close, args=(timeout,),
                                        name=f"zkfast-close[{self.config.name}]", daemon=False)
        try:
            self._closer.start()
        except RuntimeError:  # interpreter shutdown: no new threads
            self._closing = True
            self._wake.set()

    def _close(self, timeout: float) -> None:
        engine = self.engine
        if engine.state.is_connected and self._sock is not None:
            # End the session first (its ephemeral nodes go now, not at expiry);
            # the I/O thread stops reconnecting once it sees _session_closing.
            self._session_closing = True
            try:
                req = engine.op_close()
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
        for sock in (self._sock, self._connecting):
            if sock is not None:
                _shutdown(sock)
        io = self._io_thread
        if io is not None and io is not threading.current_thread():
            io.join(timeout + 5)
        self.finish_close()
        self._dispatch_q.put(None)
        dt = self._dispatch_thread
        if dt is not None and dt is not threading.current_thread():
            dt.join(timeout + 5)
        self._closed_event.set()

    def _drop_connection(self, reason: str) -> None:
        sock = self._sock
        if sock is not None:
            self.log.debug("dropping the connection: %s", reason)
            _shutdown(sock)

    def _close_forked(self) -> None:
        """close() in a child process: end nothing of the parent's. The I/O
        and dispatcher threads do not exist here; only this process's copy of
        the socket is closed (never shut down: that would cut the parent's
        connection too)."""
        self._closing = True
        self._closed = True
        sock, self._sock = self._sock, None
        if sock is not None:
            _close(sock)
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            try:
                waiter.close()
            except OSError:
                pass

    # ------------------------------------------------------------ sending

    def call(self, req: PendingRequest, timeout: Optional[float] = None) -> Any:
        """Send ``req`` and block for its result (raising its error); at most
        ``timeout`` seconds (default: the client's ``request_timeout``)."""
        if self._forked or self._io_thread is None:
            self._not_usable()
        limit = self._max_in_flight
        if limit is not None and self.engine.framed_count - self.engine.answered_count >= limit:
            self._wait_for_room(limit)
        lock = _allocate_lock()
        lock.acquire()
        req.waiter = lock
        if timeout is None:
            timeout = self._request_timeout
        if timeout is None:
            # Take the read token (and mute the I/O thread) before sending, so the
            # reply doesn't wake the I/O thread first; send; read the reply here.
            self._lead(req, None, self._send)
            lock.acquire()
        else:
            deadline = _monotonic() + timeout
            self._lead(req, deadline, self._send)
            if not lock.acquire(True, max(0.0, deadline - _monotonic())):
                raise RequestTimeoutError(f"no reply within {timeout:g}s; the request may "
                                          "still be applied by the server", path=req.path)
        if req.exception_value is not None:
            raise req.exception_value
        return req.result_value

    def _not_usable(self) -> None:
        if self._forked:
            raise ClientForkedError()
        raise ClosedError("the Client is not started: start() it (or use a with block)")

    def _wait_for_room(self, limit: int) -> None:
        """Block until fewer than ``limit`` requests await a reply."""
        self._flush_out()  # held-back frames must go out, or no reply would make room
        engine = self.engine
        with self._room:
            self._room_waiters += 1
            try:
                while (engine.framed_count - engine.answered_count >= limit and engine.connected
                       and not (self._close_requested or self._forked)):
                    self._room.wait(0.05)
            finally:
                self._room_waiters -= 1

    def submit(self, req: PendingRequest) -> Future:
        """Send ``req`` (pipelined); its :class:`Future`."""
        if self._forked or self._io_thread is None:
            self._not_usable()
        limit = self._max_in_flight
        if limit is not None and self.engine.framed_count - self.engine.answered_count >= limit:
            self._wait_for_room(limit)
        lock = _allocate_lock()
        lock.acquire()
        req.waiter = lock
        self._send(req, False)
        return Future(req, self)

    def submit_many(self, reqs: Sequence[PendingRequest]) -> List[Future]:
        """Send several requests with one send-lock hold and one ``sendall``;
        a request that cannot be sent fails in its future."""
        if self._forked or self._io_thread is None:
            self._not_usable()
        limit = self._max_in_flight
        if limit is not None and self.engine.framed_count - self.engine.answered_count >= limit:
            self._wait_for_room(limit)
        for req in reqs:
            lock = _allocate_lock()
            lock.acquire()
            req.waiter = lock
        with self._send_lock:
            frames = []
            engine = self.engine
            for req in reqs:
                try:
                    if engine.can_batch(req):  # reads among them go out as multiReads
                        frame = self.join_batch(req)
                    else:
                        frame = self.frame_or_queue(req)
                except ZooKeeperError as e:
                    self._complete(req, None, e)
                    continue
                if frame is not None:
                    frames.append(frame)
            if frames or engine.open_batch is not None:
                sock = self._sock
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
            handed = False  # the frame is out, held back or queued: no longer ours to undo
            try:
                engine = self.engine
                if engine.can_batch(req):
                    # A read while others are in flight: it waits in the open batch,
                    # which the next reply read (or result(), or 64 KiB) sends.
                    handed = True
                    closed = self.join_batch(req)
                    if closed is not None:
                        self._hold_locked(closed)
                    return
                frame = self.frame_or_queue(req)
                if frame is None:
                    return
                sock = self._sock
                if sock is None:  # connected implies a socket; be safe
                    return
                if not flush and len(engine.pending) > 1:
                    self._outbuf.append(frame)
                    handed = True
                    self._outbytes += len(frame)
                    if self._outbytes >= _COALESCE_BYTES:
                        self._write_locked(sock, [])
                    return
                handed = True
                self._write_locked(sock, [frame])
            except BaseException:
                # Interrupted between framing and sending: the server will
                # never answer it, so it must not stay pending.
                if not handed and req.xid:
                    self.engine.forget(req)
                raise

    def _hold_locked(self, frame: bytes) -> None:
        """Hold ``frame`` back with the others (sent at 64 KiB at the latest)."""
        self._outbuf.append(frame)
        self._outbytes += len(frame)
        if self._outbytes >= _COALESCE_BYTES:
            sock = self._sock
            if sock is not None:
                self._write_locked(sock, [])

    def _flush_out(self) -> None:
        """Send the frames that were held back while other requests were in flight.

        The reader calls this after every read, while the callers it just woke
        frame their next requests: so the ``sendall`` runs outside the send lock
        (holding it there made most of those callers block on it, two thread
        switches each). Frames framed meanwhile join ``_outbuf``, and this
        thread sends them too before it gives up the sender role.
        """
        lock = self._send_lock
        if lock._is_owned():  # type: ignore[attr-defined]  # nested: cannot send outside it
            held = self._sock
            if held is not None:
                self._write_locked(held, [])
            return
        me = threading.get_ident()
        claimed = unsent = False
        sock: Optional[socket.socket] = None
        try:
            with lock:
                sock = self._sock
                if self._sender is not None or sock is None:
                    return  # the sender sends them; or the connection is gone
                claimed = True  # first: an interrupt before the next line clears nothing of others'
                self._sender = me
                unsent = True  # before taking: frames taken and lost would never be answered
                data = self._take_out()
                if data is None:
                    unsent = False
                    self._sender = None
                    return
            while True:
                try:
                    sock.sendall(data)
                except OSError as e:
                    self.log.debug("send failed: %s", e)
                    _shutdown(sock)
                else:
                    self._last_send = _monotonic()
                    self.bytes_sent += len(data)
                unsent = False
                with lock:
                    sock = self._sock  # frames held back since are for the connection now
                    unsent = True
                    more = self._take_out() if sock is not None else None
                    if more is None or sock is None:
                        unsent = False
                        self._sender = None
                        return
                    data = more
        except BaseException:
            # Interrupted (KeyboardInterrupt) with frames taken and perhaps half
            # sent: nothing more may follow on this connection.
            if unsent and sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            if claimed:
                with lock:
                    if self._sender == me:
                        self._sender = None
            raise

    def _take_out(self) -> Optional[bytes]:
        """The held-back frames and the open batch, as one buffer (None if none);
        the caller holds the send lock."""
        out = self._outbuf
        frames = list(out) if out else []
        if out:
            out.clear()
            self._outbytes = 0
        if self.engine.open_batch is not None:
            # the newest requests of all: after everything framed before them
            batch = self.engine.close_batch()
            if batch:
                frames.append(batch)
        if not frames:
            return None
        return frames[0] if len(frames) == 1 else b"".join(frames)

    def _write_locked(self, sock: socket.socket, frames: List[bytes]) -> None:
        """Send the held-back frames, then ``frames``, in one ``sendall``; the
        caller holds the send lock. On a send error the requests stay pending:
        the I/O thread fails them with ConnectionLossError when it sees the
        connection die. While another thread sends outside the lock (see
        ``_flush_out``), ``frames`` join the held-back ones: it sends them next."""
        out = self._outbuf
        if frames:
            out.extend(frames)
        if self._sender is not None:
            self._outbytes += sum(map(len, frames))
            return
        sent = 0
        try:
            data = self._take_out()
            if data is None:
                return
            sock.sendall(data)
            sent = len(data)
        except OSError as e:
            self.log.debug("send failed: %s", e)
            _shutdown(sock)
        except BaseException:
            # Interrupted (KeyboardInterrupt) with frames taken and perhaps
            # half sent: nothing more may follow on this connection.
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            raise
        self._last_send = _monotonic()
        self.bytes_sent += sent

    # ------------------------------------------------------------ reading on the caller's thread

    def _lead(self, req: PendingRequest, deadline: Optional[float] = None,
              send: Optional[Callable[[PendingRequest], None]] = None) -> None:
        """Read replies on the calling thread until ``req`` is done (leader/follower).

        Saves the hand-off from the I/O thread (two thread wake-ups a call). Only
        one thread reads at a time: whoever holds the read token. Whatever
        exception arrives (KeyboardInterrupt included), the token is released
        and the socket unmuted on the way out.
        """
        token = self._read_token
        if token._is_owned():  # type: ignore[attr-defined]  # a handler interrupted this thread's read
            if send is not None:
                send(req)
            return
        try:
            if not token.acquire(False):
                if send is not None:
                    send(req)
                return
            sock = self._sock
            waiter = self._waiter
            if sock is None or self._tls or waiter is None:
                # TLS: keep one reader (SSL objects dislike thread hopping mid-record)
                if send is not None:
                    send(req)
                return
            muted = waiter.mute()
            try:
                if send is not None:
                    send(req)
                if not req.done_flag and self._sock is sock:
                    self._lead_loop(req, sock, deadline)
            finally:
                if muted:
                    waiter.unmute()
        finally:
            try:
                token.release()
            except RuntimeError:  # not ours: acquire(False) failed
                pass

    def _lead_loop(self, req: PendingRequest, sock: socket.socket, deadline: Optional[float]) -> None:
        # The main thread (where KeyboardInterrupt and signal handlers land)
        # waits for data before reading it: interrupted while waiting it has
        # consumed nothing and the connection lives on. Bytes recv()ed but not
        # yet handed to the engine cannot be kept across an interrupt, so
        # _read_some drops the connection in that (short) window.
        on_main = threading.get_ident() == _MAIN_THREAD
        readable = self._readable
        while not req.done_flag:
            if readable is None or readable.sock_is_not(sock):
                return
            if deadline is not None:
                remaining = deadline - _monotonic()
                if remaining <= 0 or not readable(remaining):
                    return
            elif on_main and not readable(3600.0):
                continue
            if self._sock is not sock:
                return
            try:
                if not self._read_some(sock):
                    _shutdown(sock)
                    return
            except (OSError, ZooKeeperError):
                _shutdown(sock)
                return

    def _read_some(self, sock: socket.socket) -> bool:
        """One recv and everything it completes; the caller holds the read token.
        False when the server closed the connection."""
        engine = self.engine
        frames = engine.frames_received
        try:
            # recv_into a reused buffer: a fresh 256 KiB bytes per recv costs an
            # mmap/munmap pair in malloc, more than the whole decode of a small reply.
            n = sock.recv_into(self._rbuf)
            if not n:
                return False
            self.bytes_received += n
            engine.receive(self._rview[:n], self._complete)
        except (OSError, ZooKeeperError):  # a dead socket, a corrupt stream, a protocol violation
            self.flush_events()
            raise
        except BaseException:
            # Interrupted (KeyboardInterrupt) after bytes left the socket and
            # before the engine took them all: the stream cannot be trusted
            # any more. End it; the drop fails what the connection owed.
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            raise
        if engine.frames_received != frames:
            # only whole frames prove the server alive (not the bytes of a giant one)
            self.last_heard = _monotonic()
        if engine.events:
            self.flush_events()
        if self._room_waiters:
            with self._room:
                self._room.notify_all()
        if self._outbuf or engine.open_batch is not None:
            self._flush_out()
        return True

    # ------------------------------------------------------------ the I/O thread

    def _io_main(self) -> None:
        try:
            self._drive_io(self.connection_loop())
        except BaseException:  # noqa: BLE001 - never leave callers hanging
            if not self._forked:
                self.log.exception("I/O thread crashed")
            self._closing = True
        finally:
            if not self._forked:
                lost = self._detach()
                for req in lost:
                    self._complete(req, None, ClosedError(path=req.path) if self._closing
                                   else ConnectionLossError(path=req.path))
                if self.engine.state == State.AUTH_FAILED:
                    from .errors import AuthFailedError
                    self.fail_queued(AuthFailedError)
            with self._state_cond:
                self._state_cond.notify_all()

    def _drive(self, gen: Any, perform: Callable[[Any], Any],
               errors: Tuple[Type[BaseException], ...]) -> Any:
        """Run a generator to its end, blocking: each step it yields is done by
        ``perform``, its result sent back or its error (of ``errors``) thrown in."""
        value: Any = None
        error: Optional[BaseException] = None
        while True:
            step, result = advance(gen, value, error)
            if step is DONE:
                return result
            value = error = None
            try:
                value = perform(step)
            except errors as e:
                error = e

    def _drive_io(self, gen: Any) -> Any:
        """Perform the I/O steps of a session generator (see zkfast.session)."""
        return self._drive(gen, self._perform, _IO_ERRORS)

    def _perform(self, step: Any) -> Any:
        t = type(step)
        if t is Send:
            step.link.sendall(step.data)
            return None
        if t is Receive:
            link = step.link
            link.settimeout(step.timeout)
            try:
                data = link.recv(_RECV_SIZE)
            except TimeoutError:
                raise ConnectionLossError(f"no answer within {step.timeout:.1f}s") from None
            if not data:
                raise ConnectionLossError("server closed the connection during the handshake")
            return data
        if t is Open:
            return self._open_socket(step.addr, step.timeout, step.raw)
        if t is Ready:
            return self._ready(step.link, step.frames)
        if t is Serve:
            try:
                self._serve(step.link)
                return ConnectionLossError("connection closed")
            except (OSError, ZooKeeperError) as e:
                return e
        if t is Sleep:
            self._wake.wait(step.delay)
            self._wake.clear()
            return self.stopping
        if t is Close:
            _close(step.link)
            return None
        raise ProtocolError(f"unknown I/O step {step!r}")

    def _open_socket(self, addr: Address, timeout: float, raw: bool) -> socket.socket:
        factory = self.config.connect
        if factory is not None:
            sock: socket.socket = factory(addr, timeout)
        else:
            sock = socket.create_connection(addr, timeout=timeout)
        if not raw:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        ctx = self.config.ssl_context
        if ctx is not None:
            try:
                sock = ctx.wrap_socket(sock, server_hostname=self.tls_hostname(addr))
            except BaseException:
                _close(sock)
                raise
        sock.settimeout(timeout)
        if not raw:
            self._connecting = sock  # close() ends a handshake in progress through it
        return sock

    def _ready(self, sock: socket.socket, frames: List[bytes]) -> None:
        # Blocking mode from here on: with a timeout set, CPython polls before
        # every send and recv. A stuck send cannot hang forever: the I/O
        # thread's read timeout shuts the socket down, failing it.
        sock.settimeout(None)
        with self._send_lock:
            frames = self.ready_frames(frames)
            if frames:
                sock.sendall(b"".join(frames))
            self._readable = _ReadableCheck(sock)
            self._connecting = None
            self._sock = sock
            self.engine.connection_ready()
            self._last_send = _monotonic()

    def _serve(self, sock: socket.socket) -> None:
        """The I/O thread's half of reading: wait for data without the read
        token, then take the token to read it. A caller waiting for its own
        reply usually holds the token and reads itself (see ``_lead``); then
        this thread just keeps the timers: pings and the read timeout."""
        engine = self.engine
        waiter = _EpollWaiter(sock) if _USE_EPOLL else _SelectorWaiter(sock)
        self._waiter = waiter
        token = self._read_token
        tls = isinstance(sock, _ssl.SSLSocket)
        self.last_heard = _monotonic()
        try:
            while not self._closing and not self._forked:
                action, wait = self.heartbeat(_monotonic(), self.last_heard)
                if action == HEARTBEAT_DEAD:
                    raise ConnectionLossError(f"no reply from the server for {wait:.1f}s")
                if action == HEARTBEAT_PING:
                    if self._send_lock.acquire(True, 0.05):
                        try:
                            if self._sender is not None:  # it sends the ping after its frames
                                self._outbuf.append(engine.ping_frame())
                            else:
                                sock.sendall(engine.ping_frame())
                                self._last_send = _monotonic()
                        finally:
                            self._send_lock.release()
                    continue
                if action == HEARTBEAT_PROBE:
                    found = self._drive_io(self.probe_rw_server())
                    if found is not None:
                        raise ConnectionLossError(
                            f"leaving the read-only server for read-write {found[0]}:{found[1]}")
                    continue
                if waiter.muted and token.acquire(False):
                    # muted with nobody reading: a leader was interrupted before unmuting
                    try:
                        if waiter.muted:
                            waiter.unmute()
                    finally:
                        token.release()
                if not (tls and sock.pending()):  # type: ignore[attr-defined]  # tls: an SSLSocket
                    if not waiter.wait(wait):
                        continue
                if not token.acquire(True, wait):
                    continue  # a caller has been reading for a while; go see to the timers
                try:
                    if self._sock is not sock:
                        break
                    # the caller that held the token may have read it all
                    if (tls and sock.pending()) or waiter.wait(0):  # type: ignore[attr-defined]
                        if not self._read_some(sock):
                            raise ConnectionLossError("server closed the connection")
                finally:
                    token.release()
                if engine.state == State.AUTH_FAILED:
                    from .errors import AuthFailedError
                    raise AuthFailedError()
        finally:
            _shutdown(sock)  # first: a caller blocked reading it returns, freeing the token
            with self._read_token:
                self._waiter = None
            waiter.close()

    # ------------------------------------------------------------ dispatching

    def _dispatch_main(self) -> None:
        get = self._dispatch_q.get
        while True:
            item = get()
            if item is None:
                return
            fn, arg = item
            try:
                fn(arg)
            except ClosedError:
                if not (self._closing or self._closed):
                    self.log.exception("callback %r raised", fn)
                # else: a callback reacting to the close (re-arming a watch) -- expected
            except Exception:  # noqa: BLE001 - a user callback must not kill the dispatcher
                self.log.exception("callback %r raised", fn)

    # ------------------------------------------------------------ steps (see zkfast.steps)

    def run_steps(self, gen: StepGen) -> Any:
        """Drive a step generator (zkfast.steps) to its end, blocking; its result."""
        return self._drive(gen, self._perform_step, _CALL_ERRORS)

    def _perform_step(self, step: Any) -> Any:
        t = type(step)
        if t is PendingRequest:
            return self.call(step)
        if t is Batch:
            futures = self.submit_many(step)
            return [f.exception() or f._req.result_value for f in futures]
        if t is Wait:
            return step.event.wait(step.timeout)
        if t is WaitConnected:
            return self.wait_connected(step.timeout)
        if t is Timed:
            return self.call(step.req, step.timeout)
        raise TypeError(f"not a step: {step!r}")

    def run_in_background(self, gen: StepGen, done: Optional[Done] = None) -> None:
        CallbackDriver(self.submit, gen, done).start()

    def call_later(self, delay: float, fn: Callable[[], Any]) -> threading.Timer:
        t = threading.Timer(delay, fn)
        t.daemon = True
        t.name = f"zkfast-timer[{self.config.name}]"
        t.start()
        return t

    def new_event(self) -> threading.Event:
        return threading.Event()

    def new_watch_future(self) -> Tuple[Callable[[WatchedEvent], Any], WatchEvent]:
        """(the watcher to register, what the caller waits on)."""
        w = WatchEvent()
        return w, w


class Client(ClientAPI):
    """A ZooKeeper client for threaded code.

    ``hosts`` is a connect string (``"h1:2181,h2:2181/chroot"``) or a list of
    servers. Times are seconds. The client reconnects by itself and keeps its
    session (and watches) across reconnects; ``add_listener`` tells about
    state changes. Every option is described in :class:`zkfast.config.ClientConfig`.

    Close a client when done (``close()`` or a ``with`` block): a client that
    is dropped unclosed is closed when it is garbage collected, with a
    ``ResourceWarning``, as an unclosed file is -- unless its own callbacks or
    recipes still refer to it, which keeps it alive.
    """

    is_async = False
    _session: ThreadSession
    _session_class = ThreadSession
    _submit: Callable[[PendingRequest], Future]

    # ------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 15.0) -> Client:
        """Connect; returns once connected. On timeout the client is closed and
        :class:`WaitTimeoutError` raised (:class:`AuthFailedError` if the
        server refused the client's identity)."""
        self._session.start(timeout)
        return self

    def wait_connected(self, timeout: Optional[float] = None) -> bool:
        """Block until connected (True) or ``timeout`` passes / the client dies (False)."""
        return self._session.wait_connected(timeout)

    def close(self, timeout: float = 2.0) -> None:
        """End the session (its ephemeral nodes go at once) and stop all threads.

        Safe from any thread, a callback or a signal handler. Calls still in
        flight fail with :class:`ClosedError`. In a child process after
        ``os.fork()`` it only lets go of the inherited copy: the parent's
        session is untouched.
        """
        self._session.close(timeout)

    def stop(self) -> None:
        """Same as :meth:`close`."""
        self.close()

    def __enter__(self) -> Client:
        if not self._session.started:
            self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


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

    # ------------------------------------------------------------ extras

    def server_version(self, timeout: float = 5.0) -> str:
        """The version string of the server this client is connected to
        (from the ``srvr`` four-letter word, which the server must allow)."""
        return str(self._server_version(timeout))

