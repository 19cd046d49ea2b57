"""The session core both clients share: everything about a connection that is
not how bytes move.

:class:`Session` decides, once for both clients: which server to try next and
how long to back off; the handshake (ConnectResponse, SASL, auth replay,
watch replay, queued requests); what happens to requests when a connection
drops, a handshake fails or the session expires; which state listeners hear
and when; when to ping, when a silent connection is dead, and when to look
for a read-write server while connected to a read-only one; how a close
ends.

It does no I/O itself. The connection logic is a generator
(:meth:`Session.connection_loop`) that yields I/O steps -- :class:`Open`,
:class:`Send`, :class:`Receive`, :class:`Sleep`, :class:`Ready`,
:class:`Serve`, :class:`Close` -- and each client performs them its own way:
:class:`zkfast.client.ThreadSession` with a thread and blocking sockets,
:class:`zkfast.aio.AsyncioSession` with asyncio. The same pattern as the
request steps of :mod:`zkfast.steps`.

A session that finds itself in a child process after ``os.fork()`` refuses
every call with :class:`~zkfast.ClientForkedError` and never touches the
parent's connection (make a new client in the child).
"""

from __future__ import annotations

import os
import time
import weakref
from typing import Any, Callable, ClassVar, Dict, Generator, List, Optional, Tuple, Type

from . import codec
from .config import ClientConfig
from .errors import (
    AuthFailedError,
    ClientForkedError,
    ClosedError,
    ConnectionLossError,
    InvalidArgumentError,
    SessionExpiredError,
    ZooKeeperError,
)
from .events import EventType, State, WatchedEvent
from .hosts import Address, reconnect_delay
from .metrics import RequestRecord, RequestStats, op_name
from .protocol import SessionEngine
from .requests import PendingRequest
from .steps import DONE, advance

__all__ = ["Session", "Open", "Send", "Receive", "Sleep", "Ready", "Serve", "Close",
           "RW_PROBE_INTERVAL", "presumed_lost_in", "HEARTBEAT_DEAD", "HEARTBEAT_PING", "HEARTBEAT_PROBE",
           "HEARTBEAT_WAIT"]

_monotonic = time.monotonic

#: Seconds between ``isro`` probes while connected to a read-only server.
RW_PROBE_INTERVAL = 2.0

# What a connection's timer should do (see Session.heartbeat).
HEARTBEAT_WAIT = 0   # nothing yet: wait for data up to the given time
HEARTBEAT_PING = 1   # send a ping now
HEARTBEAT_PROBE = 2  # look for a read-write server now (connected read-only)
HEARTBEAT_DEAD = 3   # no reply for the read timeout: the connection is dead


# ---------------------------------------------------------------- I/O steps


class Open:
    """Open a connection to ``addr`` within ``timeout`` seconds; the driver
    sends back the link (a socket, a protocol). ``raw``: a plain probe
    connection (four-letter words), not a ZooKeeper session."""

    __slots__ = ("addr", "timeout", "raw")

    def __init__(self, addr: Address, timeout: float, raw: bool = False) -> None:
        self.addr = addr
        self.timeout = timeout
        self.raw = raw


class Send:
    """Write ``data`` on ``link``."""

    __slots__ = ("link", "data")

    def __init__(self, link: Any, data: bytes) -> None:
        self.link = link
        self.data = data


class Receive:
    """Wait up to ``timeout`` seconds for bytes on ``link``; the driver sends
    them back, or throws :class:`ConnectionLossError` (closed, or nothing in time)."""

    __slots__ = ("link", "timeout")

    def __init__(self, link: Any, timeout: float) -> None:
        self.link = link
        self.timeout = timeout


class Sleep:
    """Wait ``delay`` seconds, or less if the client is closing; the driver
    sends back whether it is."""

    __slots__ = ("delay",)

    def __init__(self, delay: float) -> None:
        self.delay = delay


class Ready:
    """The handshake is done: make ``link`` the live connection and, in one
    write and without letting a caller's request in between, send ``frames``
    (the watch replay) and every request queued while disconnected
    (:meth:`Session.ready_frames`); then ``engine.connection_ready()``."""

    __slots__ = ("link", "frames")

    def __init__(self, link: Any, frames: List[bytes]) -> None:
        self.link = link
        self.frames = frames


class Serve:
    """Read replies on ``link``, ping and watch the timers (:meth:`Session.heartbeat`)
    until the connection ends; the driver sends back the error that ended it."""

    __slots__ = ("link",)

    def __init__(self, link: Any) -> None:
        self.link = link


class Close:
    """Close ``link`` (quietly)."""

    __slots__ = ("link",)

    def __init__(self, link: Any) -> None:
        self.link = link


IOStep = Any
IOGen = Generator[IOStep, Any, Any]


def presumed_lost_in(last_heard: float, session_timeout: float) -> float:
    """Seconds from now until a session must be presumed lost if no server is
    heard meanwhile: one session timeout after the last reply (the server
    expires a session one timeout after it last heard from the client, which
    is just before that reply arrived), less a tenth of it (at most 1 s) for
    that reply's travel."""
    now = time.monotonic()
    heard = last_heard or now
    return max(0.0, heard + session_timeout - min(0.1 * session_timeout, 1.0) - now)

# Sessions alive in this process, so a fork can disarm them in the child.
_sessions: weakref.WeakSet[Session] = weakref.WeakSet()


def _disarm_after_fork() -> None:
    for session in list(_sessions):
        session._forked = True


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_disarm_after_fork)


class Session:
    """The shared session core; a client's I/O layer subclasses it.

    The I/O layer provides: ``_complete`` (finish a request and wake whoever
    waits for it; completing a request twice must only run leftover
    callbacks), ``_dispatch`` (run a callback on the dispatcher), ``_enter_state``
    (engine.transition under the layer's state lock, waking state waiters),
    ``_detach`` (forget the live connection under the layer's locks; returns
    ``engine.connection_lost()``), ``_io_lock`` (a context manager held while
    touching the queue or framing requests) and the I/O driver for the
    steps above.
    """

    is_async: ClassVar[bool] = False

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.log = config.logger
        self.engine = SessionEngine(config)
        self.read_only = config.read_only
        self._host_provider = config.host_provider
        self._servers: List[Address] = list(config.servers)  # what the provider was last given
        self._config_version = -1  # the newest ensemble config applied (track_ensemble)
        self._listeners: List[Callable[[State], Any]] = []
        self._event_callback = config.event_callback
        #: ``(host, port)`` of the server of the current or last connection.
        self.server: Optional[Address] = None
        #: Why the last connection or connection attempt ended.
        self.last_error: Optional[BaseException] = None
        self._close_requested = False  # close() was called: no new requests
        self._closing = False          # closing: stop reconnecting
        self._session_closing = False  # closeSession sent: a drop now is the close
        self._closed = False
        self._forked = False           # inherited by a child process: unusable there
        self._last_send = 0.0
        #: ``time.monotonic()`` when a whole reply frame last came from a server
        #: (0.0 before the first). The server expires the session one session
        #: timeout after it last heard from the client, which is never much
        #: later than this.
        self.last_heard = 0.0
        self._disconnected_at: Optional[float] = None
        # connect to this one next, without backing off: a read-write server an
        # isro probe found, or the server just found to lack multiRead
        self._next_addr: Optional[Address] = None
        self._next_rw_probe = 0.0
        self._rw_probe_index = 0
        self._failed_rounds = 0        # full rounds of failed connects since the last success
        self._lost_timer: Any = None   # reports LOST while disconnected (see _arm_lost_timer)
        # counters for stats(); the I/O layers add the bytes
        self.bytes_sent = 0
        self.bytes_received = 0
        self.connects = 0
        self.state_changes = 0
        # per-request observation (metrics.py): the user's observer and/or the stats
        self.request_stats = RequestStats() if config.request_stats else None
        observers = [o for o in (config.observer, self.request_stats) if o is not None]
        self._observers: Optional[List[Callable[[RequestRecord], Any]]] = observers or None
        self.engine.observing = bool(observers)
        # servers that dropped the connection while asked whether they have
        # multiRead (older servers may): not asked again
        self._no_multi_read: set[Address] = set()
        _sessions.add(self)

    # ------------------------------------------------------------ hooks (the I/O layer's)

    def _complete(self, req: PendingRequest, result: Any, exc: Optional[BaseException]) -> None:
        raise NotImplementedError

    def _dispatch(self, fn: Callable[[Any], Any], arg: Any) -> None:
        raise NotImplementedError

    def _enter_state(self, state: State) -> bool:
        raise NotImplementedError

    def _detach(self) -> List[PendingRequest]:
        raise NotImplementedError

    def _io_lock(self) -> Any:
        raise NotImplementedError

    # ------------------------------------------------------------ what the I/O layer offers the API

    @property
    def started(self) -> bool:
        raise NotImplementedError

    def call(self, req: PendingRequest) -> Any:
        """Send ``req``; its result (blocking) or an awaitable of it."""
        raise NotImplementedError

    def submit(self, req: PendingRequest) -> Any:
        """Send ``req`` pipelined; a future of its result."""
        raise NotImplementedError

    def run_steps(self, gen: Generator[Any, Any, Any]) -> Any:
        """Drive a step generator (:mod:`zkfast.steps`): blocking or awaitable."""
        raise NotImplementedError

    def run_in_background(self, gen: Generator[Any, Any, Any],
                          done: Optional[Callable[[Any, Optional[BaseException]], Any]] = None) -> None:
        raise NotImplementedError

    def call_later(self, delay: float, fn: Callable[[], Any]) -> Any:
        raise NotImplementedError

    def new_event(self) -> Any:
        raise NotImplementedError

    def new_watch_future(self) -> Tuple[Callable[[WatchedEvent], Any], Any]:
        """(the watcher to register, what the caller waits on or awaits)."""
        raise NotImplementedError

    def wait_connected(self, timeout: Optional[float] = None) -> Any:
        raise NotImplementedError

    def close_in_background(self) -> None:
        """Close without waiting for it (a dropped client, a signal handler)."""
        raise NotImplementedError

    def _drop_connection(self, reason: str) -> None:
        """End the live connection now (the connection loop reconnects)."""
        raise NotImplementedError

    # ------------------------------------------------------------ the ensemble

    def update_server_list(self, servers: List[Address]) -> Optional[Address]:
        """Take a new server list without ending the session; move to another
        server if that is this client's share of rebalancing
        (:func:`zkfast.hosts.rebalance`). Returns where it moves, or None."""
        provider = self._host_provider
        current = self.server if self.engine.connected else None
        update = getattr(provider, "update_server_list", None)
        if update is None:  # a provider of the user's without rebalancing
            provider.init(servers)
            target = None
        else:
            target = update(servers, current)
        self._servers = list(servers)
        if target is not None and target != current and current is not None:
            self.log.info("moving from %s:%d to %s:%d: the ensemble changed", *current, *target)
            self._next_addr = target
            self._drop_connection(f"moving to {target[0]}:{target[1]} to balance the ensemble")
        return target

    def _track_ensemble(self) -> Generator[Any, Any, None]:
        """Read the ensemble's config with a watch on it, and follow it."""
        data, _stat = yield self.engine.op_get_config(self._on_config_event)
        self._apply_config(data)

    def _start_tracking(self, _: Any = None) -> None:
        if not self.stopping:
            self.run_in_background(self._track_ensemble(), self._tracking_done)

    def _tracking_done(self, _result: Any, error: Optional[BaseException]) -> None:
        if error is not None and not isinstance(error, (ConnectionLossError, SessionExpiredError,
                                                        ClosedError)):
            self.log.warning("reading the ensemble config failed: %s", error)

    def _on_config_event(self, event: WatchedEvent) -> None:
        if event.type in (EventType.NODE_DATA_CHANGED, EventType.NODE_CREATED):
            self._start_tracking()

    def _apply_config(self, data: Optional[bytes]) -> None:
        from .ensemble import EnsembleConfig
        try:
            cfg = EnsembleConfig.parse(data or b"")
        except InvalidArgumentError as e:
            self.log.warning("ignoring an ensemble config that does not parse: %s", e)
            return
        addresses = cfg.client_addresses()
        if not addresses or cfg.version <= self._config_version:
            return
        self._config_version = cfg.version
        # the provider's addresses are resolved: a connect string of names that
        # resolve to exactly these servers needs no change (nor losing its names)
        current = set(getattr(self._host_provider, "addresses", None) or self._servers)
        if set(addresses) != current and set(addresses) != set(self._servers):
            self.log.info("ensemble config version %x: servers %s", cfg.version, cfg.connect_string())
            self.update_server_list(addresses)

    # ------------------------------------------------------------ observing requests

    def _observe(self, req: PendingRequest, result: Any, exc: Optional[BaseException]) -> None:
        """Tell the observers about a finished request (called by ``_complete``
        on the thread or loop that completed it)."""
        sent = req.sent_at
        reply_bytes = None
        if exc is None and req.op == codec.OP_GET_DATA and isinstance(result, tuple):
            reply_bytes = len(result[0] or b"")
        record = RequestRecord(op_name(req.op), req.path,
                               _monotonic() - sent if sent else None,
                               type(exc).__name__ if exc is not None else None,
                               req.frame_bytes or None, reply_bytes, req.xid == 0 and bool(sent))
        for observe in self._observers or ():
            try:
                observe(record)
            except Exception:  # noqa: BLE001 - an observer must not break completions
                self.log.exception("request observer %r failed", observe)

    def add_observer(self, fn: Callable[[RequestRecord], Any]) -> None:
        """Also tell ``fn`` about every request from now on (see ``observer=``)."""
        self._observers = [*(self._observers or ()), fn]
        self.engine.observing = True

    def stats(self) -> Dict[str, Any]:
        """The counters ``Client.stats()`` shows."""
        engine = self.engine
        out: Dict[str, Any] = {
            "state": engine.state.value, "in_flight": engine.in_flight,
            "queued": engine.queued_count, "frames_sent": engine.frames_sent,
            "batches_sent": engine.batches_sent, "batched_reads": engine.batched_reads,
            "bytes_sent": self.bytes_sent, "bytes_received": self.bytes_received,
            "connects": self.connects, "reconnects": max(0, self.connects - 1),
            "state_changes": self.state_changes, "refused_queue_full": engine.refused_queue_full,
        }
        if self.request_stats is not None:
            out["requests"] = self.request_stats.snapshot()
        return out

    # ------------------------------------------------------------ states and events

    def announce(self, state: State) -> None:
        """Enter ``state`` and tell listeners (once per change)."""
        if not self._enter_state(state):
            return
        self.state_changes += 1
        self.log.debug("state -> %s", state.value)
        for fn in list(self._listeners):
            self._dispatch(fn, state)
        if self._event_callback is not None:
            self._dispatch(self._event_callback, WatchedEvent(EventType.NONE, state, None))

    def add_listener(self, fn: Callable[[State], Any]) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[State], Any]) -> None:
        try:
            self._listeners.remove(fn)
        except ValueError:
            pass

    def flush_events(self) -> None:
        """Hand the engine's queued watch events to the dispatcher."""
        if self.engine.events:
            dispatch = self._dispatch
            for fn, event in self.engine.take_events():
                dispatch(fn, event)

    # ------------------------------------------------------------ requests

    def check_usable(self) -> None:
        """Raise if no call may be made on this client any more."""
        if self._forked:
            raise ClientForkedError()
        if self._close_requested or self._closing or self._closed:
            raise ClosedError()

    def frame_or_queue(self, req: PendingRequest) -> Optional[bytes]:
        """A request's fate: its frame, to send now, or None: queued until the
        next connection. Call with the I/O lock held."""
        engine = self.engine
        if self._close_requested or self._forked:
            if req.op != codec.OP_CLOSE_SESSION or self._forked:
                self.check_usable()
        if not engine.connected:
            self.check_usable()
            if engine.state == State.AUTH_FAILED:
                # terminal: no reconnect would ever send a queued request
                raise AuthFailedError(path=req.path)
            engine.enqueue(req, _monotonic())
            return None
        try:
            return engine.frame_for(req)
        except (TypeError, OverflowError, ValueError) as e:
            if isinstance(e, ZooKeeperError):
                raise
            raise InvalidArgumentError(str(e), path=req.path) from e

    def join_batch(self, req: PendingRequest) -> Optional[bytes]:
        """A read that ``engine.can_batch`` allows joins the open batch (it goes
        out with it at the next flush); returns the frame of a batch closed for
        lack of room, to send first. Call with the I/O lock held."""
        if self._close_requested or self._forked:
            self.check_usable()
        return self.engine.join_batch(req)

    def ready_frames(self, frames: List[bytes]) -> List[bytes]:
        """``frames`` followed by every queued request, framed (the I/O lock held)."""
        engine = self.engine
        for req in engine.take_queued():
            try:
                frames.append(engine.frame_for(req))
            except ZooKeeperError as e:
                self._complete(req, None, e)
            except (TypeError, ValueError, OverflowError) as e:
                self._complete(req, None, InvalidArgumentError(str(e), path=req.path))
        return frames

    def fail_queued(self, error_type: Type[ZooKeeperError]) -> None:
        with self._io_lock():
            queued = self.engine.take_queued()
        for req in queued:
            self._complete(req, None, error_type(path=req.path))

    def expire_queued(self) -> None:
        """Requests queued while disconnected wait at most one session timeout."""
        engine = self.engine
        if not engine.queued_count:
            return
        with self._io_lock():
            expired = engine.expire_queued(_monotonic() - engine.negotiated_timeout)
        for req in expired:
            self._complete(req, None, ConnectionLossError(
                "not connected within the session timeout", path=req.path))

    # ------------------------------------------------------------ the connection loop

    @property
    def stopping(self) -> bool:
        return self._closing or self._session_closing or self._forked

    def connection_loop(self) -> IOGen:
        """Connect, serve, reconnect -- until the client closes or auth fails."""
        attempt = 0
        while not self.stopping:
            if self._next_addr is not None:  # see __init__
                addr, retry_start, self._next_addr = self._next_addr, False, None
            else:
                addr, retry_start = self._host_provider.next()
            if retry_start:
                self._round_failed()
                if (yield Sleep(reconnect_delay(attempt))):
                    return
                attempt += 1
            self.expire_queued()
            try:
                link = yield Open(addr, self.config.connection_timeout)
            except (OSError, ValueError, ZooKeeperError) as e:
                self.last_error = e
                self.log.debug("connect to %s:%d failed: %s", addr[0], addr[1], e)
                continue
            try:
                ready = yield from self._handshake(link, addr)
            except SessionExpiredError as e:
                yield Close(link)
                self.on_expired(e)
                continue
            except (OSError, ZooKeeperError) as e:
                yield Close(link)
                self._handshake_failed(addr, e)
                if self.engine.state == State.AUTH_FAILED:
                    self.auth_failed()
                    return
                continue
            if not ready:
                yield Close(link)
                continue
            attempt = 0
            self._host_provider.connected()
            error = yield Serve(link)
            self.connection_dropped(error)
            if isinstance(error, AuthFailedError) or self.engine.state == State.AUTH_FAILED:
                self.auth_failed()
                return

    def _handshake(self, link: Any, addr: Address) -> Generator[IOStep, Any, bool]:
        engine = self.engine
        timeout = self.config.connection_timeout
        yield Send(link, engine.connect_frame())
        resp = None
        while resp is None:
            resp = engine.receive_handshake((yield Receive(link, timeout)))
        if resp.read_only and not self.read_only:
            self.log.debug("%s:%d is read-only; looking for a read-write server", *addr)
            return False
        if self.config.sasl_options:
            yield from self._sasl(link, timeout)
        if engine.auth:
            # Wait for the auth replies before anything else: a refused identity
            # fails the connection here (AUTH_FAILED), not a later call.
            yield Send(link, b"".join(engine.auth_replay_frames()))
            while not engine.auth_replay_done:
                engine.receive((yield Receive(link, timeout)), self._complete)
        # The watches go back first, relative to the last zxid seen before this
        # connection: any reply read now would move it past changes they missed.
        replay = engine.watch_replay_frames()
        if engine.coalesce_reads and addr not in self._no_multi_read:
            # Does this server have multiRead (3.6+)? Asked before any request of
            # the caller's goes out: an older server answers "unimplemented" and
            # closes the connection, which must cost no request.
            yield Send(link, b"".join(replay + engine.probe_frames()))
            replay = []
            while engine.probe_outstanding:
                engine.receive((yield Receive(link, timeout)), self._complete)
            if not engine.multi_read_ok:
                self._no_multi_read.add(addr)
                if engine.multi_read_unimplemented:  # the server hangs up after saying so
                    self._next_addr = addr
                    raise ConnectionLossError("the server has no multiRead; reconnecting without it")
        yield Ready(link, replay)
        self.server = addr
        self._disconnected_at = None
        self._next_rw_probe = _monotonic() + RW_PROBE_INTERVAL / 4
        if self.stopping:  # closed meanwhile: never announce a connection nobody will use
            return False
        if self._failed_rounds:
            self.log.info("connected again after %d failed round(s) of connects", self._failed_rounds)
            self._failed_rounds = 0
        self._cancel_lost_timer()
        self.connects += 1
        self.announce(State.CONNECTED_READ_ONLY if resp.read_only else State.CONNECTED)
        self.flush_events()  # watches the replay fired while connecting
        if self.config.track_ensemble:  # from the dispatcher: it may wait for room
            self._dispatch(self._start_tracking, None)
        self.log.info("connected to %s:%d session 0x%x (timeout %dms)%s", addr[0], addr[1],
                      engine.session_id, engine.negotiated_timeout_ms,
                      " read-only" if resp.read_only else "")
        return True

    def _sasl(self, link: Any, timeout: float) -> IOGen:
        """The SASL login on a connection not yet open to callers."""
        engine = self.engine
        gen = engine.sasl_exchange(self.config.sasl_options or {})
        value: Any = None
        error: Optional[BaseException] = None
        while True:
            step, _ = advance(gen, value, error)
            if step is DONE:
                return
            yield Send(link, engine.frame_for(step))
            while not step.done_flag:
                engine.receive((yield Receive(link, timeout)), self._complete)
            value, error = step.result_value, step.exception_value
            if isinstance(error, AuthFailedError):
                self.announce(State.AUTH_FAILED)
                raise error

    def _round_failed(self) -> None:
        """Every server was tried once without success."""
        self._failed_rounds += 1
        if self._failed_rounds == 1:
            # One warning per outage; the attempts themselves are logged at DEBUG.
            self.log.warning("cannot connect to any of %s (last error: %s); retrying",
                             self.config.hosts, self.last_error)

    def _handshake_failed(self, addr: Address, error: BaseException) -> None:
        if self.engine.probe_outstanding:  # it hung up on the multiRead question
            self._no_multi_read.add(addr)
        self.last_error = error
        self.log.debug("handshake with %s:%d failed: %s", addr[0], addr[1], error)
        # Requests the handshake sent (SASL, auth replay) are owed by the dead
        # connection: they fail like those of any drop.
        for req in self._detach():
            self._complete(req, None, ConnectionLossError(str(error), path=req.path))

    def connection_dropped(self, error: Optional[BaseException]) -> None:
        """The live connection ended: fail what it owed, report SUSPENDED."""
        lost = self._detach()
        closing = self._closing or self._session_closing
        for req in lost:
            if closing:
                # the client is closing: that is what these callers need to hear
                self._complete(req, None, None if req.op == codec.OP_CLOSE_SESSION
                               else ClosedError(path=req.path))
            else:
                self._complete(req, None, ConnectionLossError(str(error) if error else None,
                                                              path=req.path))
        self.last_error = error
        if closing:
            return
        self._disconnected_at = _monotonic()
        if self.engine.state != State.AUTH_FAILED:
            self.announce(State.SUSPENDED)
            self.log.info("disconnected: %s", error)
            self._arm_lost_timer()

    def _arm_lost_timer(self) -> None:
        """While disconnected: report LOST once a session timeout has passed
        since the last reply (see :class:`~zkfast.State`)."""
        session_id = self.engine.session_id
        if not session_id or self._lost_timer is not None:
            return
        delay = presumed_lost_in(self.last_heard, self.engine.negotiated_timeout)
        try:
            self._lost_timer = self.call_later(delay, lambda: self._presumed_lost(session_id))
        except RuntimeError:  # no loop or thread to run it (closing)
            self._lost_timer = None

    def _presumed_lost(self, session_id: int) -> None:
        self._lost_timer = None
        engine = self.engine
        if (engine.state == State.SUSPENDED and not engine.connected and not self.stopping
                and engine.session_id == session_id):
            self.log.warning("session 0x%x presumed lost: no server heard for %.1fs",
                             session_id, engine.negotiated_timeout)
            self.announce(State.LOST)

    def _cancel_lost_timer(self) -> None:
        timer, self._lost_timer = self._lost_timer, None
        if timer is not None:
            timer.cancel()

    def on_expired(self, error: SessionExpiredError) -> None:
        """The server said the session is gone: tell listeners, end every watch
        with NOT_WATCHING, fail what was queued, and start a new session."""
        self.log.warning("session 0x%x expired", self.engine.session_id)
        self._cancel_lost_timer()
        self.announce(State.EXPIRED)
        self.engine.session_ended(error)
        self.flush_events()
        self.fail_queued(SessionExpiredError)
        self.announce(State.CONNECTING)

    def auth_failed(self) -> None:
        """Authentication failed: terminal. Everything queued fails."""
        self.announce(State.AUTH_FAILED)
        self.fail_queued(AuthFailedError)
        self.log.error("authentication failed; the client will not reconnect")

    # ------------------------------------------------------------ timers of a live connection

    def heartbeat(self, now: float, last_recv: float) -> Tuple[int, float]:
        """What a live connection's timer should do now, and how long it may
        then wait for data: ``(HEARTBEAT_*, seconds)``.

        Dead after the read timeout (2/3 of the session timeout) without a
        whole reply frame; a ping after half of that without sending; an
        ``isro`` probe every RW_PROBE_INTERVAL while read-only.
        """
        engine = self.engine
        read_timeout = engine.read_timeout
        idle = now - last_recv
        if idle >= read_timeout:
            return HEARTBEAT_DEAD, idle
        until_ping = self._last_send + engine.ping_interval - now
        if until_ping <= 0:
            return HEARTBEAT_PING, 0.0
        wait = min(until_ping, read_timeout - idle)
        if engine.server_read_only:
            if now >= self._next_rw_probe:
                return HEARTBEAT_PROBE, 0.0
            wait = min(wait, self._next_rw_probe - now)
        return HEARTBEAT_WAIT, max(0.001, wait)

    def probe_rw_server(self) -> IOGen:
        """While connected read-only, ask one other server whether it is
        read-write (the ``isro`` four-letter word, like the Java client's
        pingRwServer). The generator returns its address if it is. Short
        timeouts bound how long it holds up the connection's timer."""
        self._next_rw_probe = _monotonic() + RW_PROBE_INTERVAL
        addr = self._next_rw_probe_target()
        if addr is None:
            return None
        timeout = min(1.0, max(0.1, self.engine.read_timeout / 4))
        try:
            link = yield Open(addr, timeout, raw=True)
        except (OSError, ValueError, ZooKeeperError) as e:
            self.log.debug("isro probe of %s:%d failed: %s", addr[0], addr[1], e)
            return None
        answer = b""
        try:
            yield Send(link, b"isro")
            while len(answer) < 2:
                answer += yield Receive(link, timeout)
        except (OSError, ZooKeeperError) as e:
            self.log.debug("isro probe of %s:%d failed: %s", addr[0], addr[1], e)
        yield Close(link)
        if answer[:2] == b"rw":
            self.log.info("read-write server found at %s:%d", addr[0], addr[1])
            self._next_addr = addr
            return addr
        return None

    def _next_rw_probe_target(self) -> Optional[Address]:
        """The next other server to ask ``isro`` (round robin)."""
        provider_addrs = getattr(self._host_provider, "addresses", None)
        candidates = [a for a in (provider_addrs or self._servers) if tuple(a) != self.server]
        if not candidates:
            return None
        index = self._rw_probe_index
        self._rw_probe_index = index + 1
        host, port = candidates[index % len(candidates)]
        return (host, port)

    def tls_hostname(self, addr: Address) -> str:
        """The name a TLS certificate is checked against: the host name as the
        connect string gave it, not the address it resolved to."""
        origin = getattr(self._host_provider, "origin", None)
        return str(origin(addr)) if origin is not None else addr[0]

    # ------------------------------------------------------------ closing

    def finish_close(self) -> None:
        """The last part of every close: fail what is left with ClosedError,
        end every watch with NOT_WATCHING, report CLOSED."""
        if self._closed:
            return
        self._closing = True
        self._cancel_lost_timer()
        lost = self._detach()
        with self._io_lock():
            lost += self.engine.take_queued()
        for req in lost:
            self._complete(req, None, ClosedError(path=req.path))
        self._closed = True
        self.announce(State.CLOSED)
        self.engine.session_ended(ClosedError())
        self.flush_events()
