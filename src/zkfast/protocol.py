"""The sans-IO session engine: no sockets, no threads, no asyncio.

A client feeds it bytes and asks it for bytes:

* ``connect_frame()`` starts a connection; ``receive_handshake(data)``
  consumes the ConnectResponse; ``auth_replay_frames()`` and
  ``watch_replay_frames()`` give what is sent right after it.
* ``op_*`` methods (from :class:`~zkfast.requests.RequestBuilder`) validate a
  call and build an unsent :class:`PendingRequest`; ``frame_for(req)`` gives
  it an xid and its wire frame and tracks it.
* ``receive(data, complete)`` decodes every complete reply and calls
  ``complete(request, result, exception)`` for each finished request; watch
  notifications are queued as events (``take_events()``).
* ``connection_lost()`` hands back the requests the dropped connection owed.

The engine owns the session's state: the state machine (``transition``),
whether a connection is open (``connection_ready``/``connection_lost``), the
event queue, the requests queued while disconnected, the watch registry and
the last zxid seen. Clients change them only through these methods.

One engine serves both :class:`zkfast.Client` (threads) and
:class:`zkfast.AsyncClient` (asyncio). It is not thread-safe by itself: the
sync client serializes ``frame_for`` and connection changes with its send
lock; ``receive`` runs on whichever thread holds the read token.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, List, Optional, Tuple

from . import codec
from .errors import (
    CODE_RESPONSE_TOO_LARGE,
    AuthFailedError,
    CodecError,
    InvalidArgumentError,
    NoNodeError,
    ProtocolError,
    QueueFullError,
    RequestTooLargeError,
    ResponseTooLargeError,
    SessionExpiredError,
    TransactionFailedError,
    UnimplementedError,
    ZooKeeperError,
    error_for_code,
)
from .events import EventType, State, WatchedEvent
from .paths import join_chroot, strip_chroot
from .records import ConnectResponse
from .requests import PendingRequest, RequestBuilder
from .watches import WATCH_DATA, WATCH_EXIST, WatchRegistry

if TYPE_CHECKING:
    from .arguments import Watcher
    from .config import ClientConfig

log = logging.getLogger("zkfast.protocol")

__all__ = ["SessionEngine", "PendingRequest", "Complete"]

# Size budget of one SetWatches frame (the server's packet limit is 1 MiB;
# stay well under it like the reference client does).
SET_WATCHES_MAX_BYTES = 128 * 1024

# Read coalescing (see SessionEngine.join_batch): at most this many reads in
# one multiRead frame, and at most about this many reply bytes expected of it
# (from the sizes the same paths had when last read in a batch; a path not
# seen yet counts as _UNSEEN_READ_BYTES). Big reads go in small batches.
BATCH_MAX_READS = 128
BATCH_MAX_REPLY_BYTES = 256 * 1024
_UNSEEN_READ_BYTES = 512
_SIZE_HINTS_MAX = 4096

_XID_MAX = (1 << 31) - 1

#: ``complete(request, result, exception)``: how a client finishes a request.
Complete = Callable[[PendingRequest, Any, Optional[BaseException]], None]


def _fresh_kinds() -> Dict[int, int]:
    return {codec.XID_PING: codec.KIND_NONE, codec.XID_AUTH: codec.KIND_NONE,
            codec.XID_SET_WATCHES: codec.KIND_NONE}


class SessionEngine(RequestBuilder):
    """The protocol state of one ZooKeeper session across its connections.

    >>> from zkfast import Client
    >>> engine = SessionEngine(Client("127.0.0.1:2181/app").config)
    >>> frame = engine.connect_frame()           # bytes for a new connection
    >>> req = engine.op_get("/config")
    >>> engine.frame_for(req)[:4]                # after the handshake
    b'\\x00\\x00\\x00\\x17'
    """

    def __init__(self, config: ClientConfig) -> None:
        super().__init__(config.chroot)
        self.session_timeout_ms = int(config.session_timeout * 1000)  # asked for
        self.negotiated_timeout_ms = self.session_timeout_ms            # granted
        self.read_only = config.read_only
        self.max_request_size = config.max_request_size
        self.reader = codec.FrameReader(config.max_buffer_size)
        sid, pw = config.client_id if config.client_id is not None else (0, None)
        self.session_id = int(sid)
        self.passwd: Optional[bytes] = pw
        self.last_zxid = 0
        self._state = State.CONNECTING
        self._announced = State.CONNECTING  # what the client last told listeners
        self.server_read_only = False
        # Has this session been on a read-write server? Until then it is a local
        # session of a read-only server (resumed ids are assumed global).
        self.seen_rw_server = bool(self.session_id)
        self.watches = WatchRegistry()
        self.auth: List[Tuple[str, bytes]] = list(config.auth_data)
        self.pending: Dict[int, PendingRequest] = {}
        self.kinds: Dict[int, int] = _fresh_kinds()
        # add_auth requests awaiting their (xid -4) reply, in order; None for a
        # reconnect's auth replay, whose reply belongs to no caller.
        self.auth_waiters: Deque[Optional[PendingRequest]] = deque()
        # (callback, event) pairs for the client's dispatcher; see take_events()
        self.events: List[Tuple[Watcher, WatchedEvent]] = []
        # requests made while disconnected, with the time each was queued
        self._queued: Deque[Tuple[PendingRequest, float]] = deque()
        self._xid = 0
        self._connected = False
        self.frames_received = 0  # complete reply frames, for the clients' read timeout
        self._stream_error: Optional[ZooKeeperError] = None  # this connection broke
        # True while receive() runs: still True on entry means the last call was
        # interrupted midway (KeyboardInterrupt), so the stream is not trusted.
        self._receiving = False
        # Read coalescing. ``multi_read_ok``: this connection's server answered
        # the multiRead probe sent after the handshake (3.6+); until then, and
        # on older servers, nothing is coalesced.
        self.coalesce_reads = config.coalesce_reads
        self.multi_read_ok = False
        #: the server answered the probe "unimplemented": it closes the connection now
        self.multi_read_unimplemented = False
        self._probe: Optional[PendingRequest] = None
        #: The open batch: reads waiting to go out as one multiRead (read it;
        #: only join_batch/close_batch/frame_for change it).
        self.open_batch: Optional[PendingRequest] = None
        self.open_batch_bytes = 0                          # its expected reply bytes
        self.open_batch_request_bytes = 0                  # its request frame, roughly
        self._size_hints: Dict[str, int] = {}          # server path -> last reply bytes
        self._reply_limit = config.max_buffer_size
        # A getData reply is at most a node's data (capped by the server's
        # jute.maxbuffer, 1 MiB - 1 unless raised there) plus 90 bytes of header
        # and Stat: at a limit of 1 MiB or more any batch of reads fits the
        # batch's allowance (see frame_for), even of nodes at the cap.
        self._any_node_fits = self._reply_limit >= 1 << 20
        # replies whose size is learned for later batches: listings always; data
        # too when the limit is below what a node can hold
        self._learn_ops: frozenset[int] = frozenset() if not self.coalesce_reads else (
            frozenset((codec.OP_GET_CHILDREN,)) if self._any_node_fits
            else frozenset((codec.OP_GET_CHILDREN, codec.OP_GET_DATA)))
        # xid -> largest reply frame accepted for it: a batch of n reads may
        # need up to n replies' worth (the reader consults it only past its limit)
        self._allowances: Dict[int, int] = {}
        self.reader.allowances = self._allowances
        # Requests framed and requests answered (or failed by a drop), counted
        # separately so that senders and the reader never write the same
        # number: in flight = framed_count - answered_count.
        self.framed_count = 0
        self.answered_count = 0
        self.max_queued = config.max_queued
        self.refused_queue_full = 0  # calls refused with QueueFullError
        #: Stamp requests with their framing time and size (someone observes them).
        self.observing = False
        #: Counters: frames sent, batches among them, reads carried by batches.
        self.frames_sent = 0
        self.batches_sent = 0
        self.batched_reads = 0

    # ------------------------------------------------------------ state

    @property
    def state(self) -> State:
        return self._state

    def transition(self, state: State) -> bool:
        """Enter ``state``; True if listeners have not heard it yet (announce it).

        The engine may enter AUTH_FAILED by itself (a failed auth reply); the
        client's next transition(AUTH_FAILED) then announces it.
        """
        self._state = state
        if self._announced == state:
            return False
        self._announced = state
        return True

    @property
    def connected(self) -> bool:
        """A connection is open for requests (the handshake and replay are sent)."""
        return self._connected

    def connection_ready(self) -> None:
        """The handshake and replay went out: requests may be framed and sent."""
        self._connected = True

    def take_events(self) -> List[Tuple[Watcher, WatchedEvent]]:
        """The queued ``(callback, event)`` pairs, oldest first; the queue empties."""
        events, self.events = self.events, []
        return events

    # ------------------------------------------------------------ timing

    @property
    def negotiated_timeout(self) -> float:
        """The session timeout the server granted, in seconds."""
        return self.negotiated_timeout_ms / 1000.0

    @property
    def read_timeout(self) -> float:
        """Seconds without a whole reply frame before the connection is dead."""
        return self.negotiated_timeout_ms * 2 / 3 / 1000.0

    @property
    def ping_interval(self) -> float:
        """Seconds of send idleness after which a ping keeps the session alive."""
        return self.read_timeout / 2

    # ------------------------------------------------------------ requests made while disconnected

    def enqueue(self, req: PendingRequest, now: float) -> None:
        """Keep ``req`` for the next connection (validated: it fails now, not then)."""
        if len(self._queued) >= self.max_queued:
            self.refused_queue_full += 1
            raise QueueFullError(f"{len(self._queued)} requests already wait for a connection "
                                 f"(max_queued={self.max_queued})", path=req.path)
        self.validate_encoding(req)
        self._queued.append((req, now))

    @property
    def in_flight(self) -> int:
        """Requests framed and not yet answered."""
        return self.framed_count - self.answered_count

    @property
    def queued_count(self) -> int:
        return len(self._queued)

    def take_queued(self) -> List[PendingRequest]:
        """Every queued request, oldest first; the queue empties."""
        out = [r for r, _ in self._queued]
        self._queued.clear()
        return out

    def expire_queued(self, queued_before: float) -> List[PendingRequest]:
        """Remove and return the requests queued before ``queued_before``."""
        out = []
        q = self._queued
        while q and q[0][1] < queued_before:
            out.append(q.popleft()[0])
        return out

    # ------------------------------------------------------------ connecting

    def connect_frame(self) -> bytes:
        self.reader.reset()
        self._stream_error = None
        self._receiving = False
        if self.session_id and not self.seen_rw_server:
            # Like the Java client: a session made by a read-only server is local
            # to it and the quorum would only answer "expired"; ask for a new one.
            return codec.encode_connect(self.last_zxid, self.session_timeout_ms, 0, None,
                                        self.read_only)
        return codec.encode_connect(self.last_zxid, self.session_timeout_ms, self.session_id,
                                    self.passwd, self.read_only)

    def receive_handshake(self, data: Any) -> Optional[ConnectResponse]:
        """Feed handshake bytes; the ConnectResponse once complete.

        A timeout of 0 in the response means the server expired the session:
        the engine drops it (next connect starts a new one) and raises
        :class:`SessionExpiredError`.
        """
        resp = self.reader.feed_connect(data)
        if resp is None:
            return None
        if resp.timeout <= 0:
            self.session_id = 0
            self.passwd = None
            self.last_zxid = 0
            raise SessionExpiredError()
        self.session_id = resp.session_id
        self.passwd = resp.passwd
        self.negotiated_timeout_ms = resp.timeout
        self.server_read_only = resp.read_only
        if not resp.read_only:
            self.seen_rw_server = True
        return resp

    def auth_replay_frames(self) -> List[bytes]:
        """The session's identities, sent again on every connection. Their
        replies come back in order (``auth_replay_done`` tells when)."""
        out = [codec.encode_auth(scheme, cred) for scheme, cred in self.auth]
        self.auth_waiters.extend([None] * len(out))
        return out

    @property
    def auth_replay_done(self) -> bool:
        """No reply to an auth replay is outstanding."""
        return None not in self.auth_waiters

    def watch_replay_frames(self) -> List[bytes]:
        """SetWatches batches re-registering every watch, relative to the last zxid."""
        return self._set_watches_frames() if self.watches else []

    def _set_watches_frames(self) -> List[bytes]:
        data, exist, child, persistent, recursive = self.watches.snapshot()
        use2 = bool(persistent or recursive)
        groups = [data, exist, child] + ([persistent, recursive] if use2 else [])
        frames = []
        batch: List[List[str]] = [[] for _ in groups]
        size = 0
        for gi, group in enumerate(groups):
            for p in group:
                n = len(p.encode("utf-8")) + 4
                if size + n > SET_WATCHES_MAX_BYTES and size:
                    frames.append(self._encode_set_watches(batch, use2))
                    batch = [[] for _ in groups]
                    size = 0
                batch[gi].append(p)
                size += n
        if size:
            frames.append(self._encode_set_watches(batch, use2))
        return frames

    def _encode_set_watches(self, batch: List[List[str]], use2: bool) -> bytes:
        if use2:
            return codec.encode_set_watches2(self.last_zxid, *batch)
        return codec.encode_set_watches(self.last_zxid, batch[0], batch[1], batch[2])

    def ping_frame(self) -> bytes:
        return codec.encode_ping()

    def auth_succeeded(self, req: PendingRequest) -> None:
        """Remember a successful add_auth so a reconnect replays it."""
        if req.cookie not in self.auth:
            self.auth.append(req.cookie)

    def sasl_exchange(self, options: Dict[str, Any]) -> Any:
        """The SASL login as a generator of requests (opcode 102), driven by a
        client right after the ConnectResponse on every connection.

        ``options``: ``mechanism`` (default DIGEST-MD5), ``username``,
        ``password``, ``service`` (default "zookeeper"), ``host`` (the server's
        SASL name; "zk-sasl-md5" for DIGEST-MD5), plus any pure-sasl option.
        """
        try:
            from puresasl.client import SASLClient
        except ImportError:  # pragma: no cover - checked when the client is made
            raise InvalidArgumentError(
                "SASL needs the pure-sasl package: pip install 'zkfast[sasl]'") from None
        opts = dict(options)
        mechanism = opts.pop("mechanism", "DIGEST-MD5")
        service = opts.pop("service", "zookeeper")
        host = opts.pop("host", "zk-sasl-md5")
        sasl = SASLClient(host, service=service, mechanism=mechanism, **opts)
        # DIGEST-MD5 starts with an empty token; GSSAPI starts with the client's.
        token = b"" if mechanism.upper() == "DIGEST-MD5" else sasl.process(None)
        while True:
            challenge = yield self.op_sasl(token)
            if sasl.complete and not challenge:
                return True
            token = sasl.process(challenge or b"")
            if sasl.complete and not token:
                return True

    # ------------------------------------------------------------ requests

    def next_xid(self) -> int:
        x = self._xid + 1
        if x > _XID_MAX:
            x = 1
        self._xid = x
        return x

    def frame_for(self, req: PendingRequest) -> bytes:
        """Give ``req`` an xid, encode it and track it as awaiting a reply.

        An open batch of coalesced reads is framed first (the bytes returned
        then hold both frames), so the server sees requests in call order.
        """
        if self.open_batch is not None:
            batch_frame = self.close_batch()
            return batch_frame + self.frame_for(req) if batch_frame else self.frame_for(req)
        if req.op == codec.OP_AUTH:
            frame = req.encode(*req.args)
            self.auth_waiters.append(req)
            return frame
        xid = self.next_xid()
        frame = req.encode(xid, *req.args)
        if len(frame) - 4 > self.max_request_size:
            raise RequestTooLargeError(len(frame) - 4, self.max_request_size, path=req.path)
        req.xid = xid
        self.kinds[xid] = req.kind
        self.pending[xid] = req
        self.frames_sent += 1
        members = req.members
        self.framed_count += 1 if members is None else len(members)
        if self.observing:
            req.sent_at = time.monotonic()
            req.frame_bytes = len(frame)
            if members:
                for m in members:
                    m.sent_at = req.sent_at
        if req.kind == codec.KIND_MULTI and req.op == codec.OP_MULTI_READ:
            n = len(req.args[0])
            if n > 1:  # each read could have come back at the limit on its own
                self._allowances[xid] = n * (self.reader.max_buffer_size + 128) + 64
        return frame

    # ------------------------------------------------------------ read coalescing

    def probe_frames(self) -> List[bytes]:
        """After the handshake: an empty multiRead, to learn whether this server
        has multiRead (3.6+). Reads are coalesced only once it answers."""
        if not self.coalesce_reads:
            return []
        probe = self.op_multi_read([])
        probe.members = []
        self._probe = probe
        return [self.frame_for(probe)]

    @property
    def probe_outstanding(self) -> bool:
        return self._probe is not None

    def can_batch(self, req: PendingRequest) -> bool:
        """May ``req`` wait in a batch? A getData or getChildren without a watch,
        while other requests are in flight, on a server with multiRead, and
        whose reply is known to fit ``max_buffer_size`` on its own: a getData
        when the limit is above what the server lets a node hold (its
        jute.maxbuffer, 1 MiB by default), a getChildren whose last listing
        was well under the limit. A batch may take that much per read, so no
        read fails in a batch that would have succeeded alone."""
        if not (self.multi_read_ok and not req.watch_kind and self.pending):
            return False
        op = req.op
        if op == codec.OP_GET_DATA:
            if self._any_node_fits:
                return True
        elif op != codec.OP_GET_CHILDREN:
            return False
        hint = self._size_hints.get(req.args[0])
        return hint is not None and hint * 2 <= self._reply_limit

    def join_batch(self, req: PendingRequest) -> Optional[bytes]:
        """Add a read to the open batch; returns the frame of the batch it
        closed for lack of room (send it first), or None.

        A batch never crosses another request: ``frame_for`` frames it before
        anything else, so the server sees every read where it was called.
        """
        spath = req.args[0]
        expected = self._size_hints.get(spath, _UNSEEN_READ_BYTES)
        out = None
        batch = self.open_batch
        if batch is not None:
            members = batch.members
            assert members is not None
            if (len(members) >= BATCH_MAX_READS
                    or self.open_batch_bytes + expected > BATCH_MAX_REPLY_BYTES
                    or self.open_batch_request_bytes + len(spath) + 64 > self.max_request_size // 2):
                out = self.close_batch()
                batch = None
        if batch is None:
            batch = PendingRequest(codec.OP_MULTI_READ, codec.KIND_MULTI, None,
                                   codec.encode_multi_read, ())
            batch.members = []
            self.open_batch = batch
            self.open_batch_bytes = self.open_batch_request_bytes = 0
        batch.members.append(req)  # type: ignore[union-attr]  # set just above
        self.open_batch_bytes += expected
        self.open_batch_request_bytes += len(spath) + 32
        return out

    def close_batch(self) -> Optional[bytes]:
        """Frame the open batch (None if there is none). A batch of one read
        goes out as that read."""
        batch = self.open_batch
        if batch is None:
            return None
        self.open_batch = None
        members = batch.members
        assert members is not None
        if len(members) == 1:
            return self.frame_for(members[0])
        batch.args = ([(m.op, m.args[0]) for m in members],)
        frame = self.frame_for(batch)
        self.batches_sent += 1
        self.batched_reads += len(members)
        return frame

    def _finish_batch(self, batch: PendingRequest, err: int, body: Any, complete: Complete) -> None:
        """Complete each read of a batch as its own reply would have."""
        members = batch.members
        assert members is not None
        self._allowances.pop(batch.xid, None)
        if batch is self._probe:
            self._probe = None
            self.multi_read_ok = err == 0
            self.multi_read_unimplemented = err == UnimplementedError.code
            if err:
                log.info("this server has no multiRead (ZooKeeper before 3.6, error %d): "
                         "reads are not coalesced on this connection", err)
            return
        if err or body is None:
            for m in members:
                if err == CODE_RESPONSE_TOO_LARGE:
                    complete(m, None, ResponseTooLargeError(body.size, body.limit, path=m.path))
                else:
                    complete(m, None, error_for_code(err or -5, m.path))
            return
        learn = self._learn
        for m, (op, e, value) in zip(members, body):
            if op == codec.OP_ERROR:
                complete(m, None, error_for_code(e, m.path))
                continue
            # what this path's reply weighs, for sizing later batches
            learn(m.args[0], len(value[0] or b"") + 100 if op == codec.OP_GET_DATA
                  else len(value) * 24 + 20)
            complete(m, value, None)

    def _learn(self, spath: str, reply_bytes: int) -> None:
        hints = self._size_hints
        if len(hints) >= _SIZE_HINTS_MAX:
            hints.clear()
        hints[spath] = reply_bytes

    def forget(self, req: PendingRequest) -> None:
        """Untrack a framed request that was never sent (its sender was
        interrupted): no reply will come for it."""
        if self.pending.pop(req.xid, None) is not None:
            self.framed_count -= 1
        self.kinds.pop(req.xid, None)

    def validate_encoding(self, req: PendingRequest) -> None:
        """Encode once, unsent, so a bad argument fails in the caller before queueing."""
        try:
            frame = req.encode(*req.args) if req.op == codec.OP_AUTH else req.encode(0, *req.args)
        except (TypeError, OverflowError, ValueError) as e:
            if isinstance(e, ZooKeeperError):
                raise
            raise InvalidArgumentError(str(e), path=req.path) from e
        if len(frame) - 4 > self.max_request_size:
            raise RequestTooLargeError(len(frame) - 4, self.max_request_size, path=req.path)

    # ------------------------------------------------------------ receiving

    def receive(self, data: Any, complete: Complete) -> None:
        """Decode the replies in ``data`` and ``complete`` each finished request.

        A request leaves ``pending`` only after ``complete`` has run for it, so
        if this is interrupted midway (KeyboardInterrupt on the thread that
        reads) nothing is lost: the interrupted stream is refused from then
        on, and :meth:`connection_lost` hands back every request not yet
        completed.

        Raises :class:`CodecError` on a corrupt stream and
        :class:`ProtocolError` on a reply nobody asked for, after completing
        the replies decoded before it (the caller must drop the connection).
        """
        if self._receiving:
            self._stream_error = ProtocolError("reading was interrupted midway")
        if self._stream_error is not None:
            # Nothing more from a connection that broke the protocol is trusted
            # (a reply decoded after a bogus one could complete a request).
            raise CodecError(f"connection already failed: {self._stream_error}")
        self._receiving = True
        try:
            replies = self.reader.feed(data, self.kinds)
        except CodecError as e:
            self._stream_error = e
            replies, e.replies = e.replies, []
            self.frames_received += len(replies)
            self._handle(replies, complete)
            self._receiving = False
            raise
        if replies:
            # Liveness is measured in whole frames, not bytes: a server that
            # streams the body of a (claimed) giant frame is not answering pings.
            self.frames_received += len(replies)
            try:
                self._handle(replies, complete)
            except ZooKeeperError as e:  # protocol violation, failed auth replay
                self._stream_error = e
                self._receiving = False
                raise
        self._receiving = False

    def _handle(self, replies: List[Tuple[int, int, int, Any]], complete: Complete) -> None:
        pending = self.pending
        kinds = self.kinds
        for xid, zxid, err, body in replies:
            if xid > 0:
                req = pending.get(xid)
                if req is None:
                    # Not ours: never let it move the last zxid seen (a server
                    # refuses a client that claims a zxid it has not reached).
                    raise ProtocolError(f"reply for xid {xid} that is not outstanding")
                del kinds[xid]
                if zxid > self.last_zxid:
                    self.last_zxid = zxid
                if req.members is not None:
                    self.answered_count += len(req.members)
                    self._finish_batch(req, err, body, complete)
                    del pending[xid]
                    continue
                self.answered_count += 1
                if err:
                    result, exc = self._failed(req, err, body)
                else:
                    if req.watch_kind:
                        self._register_watch(req)
                    fin = req.finish
                    exc = None
                    if req.op in self._learn_ops:
                        self._learn(req.args[0], len(body) * 24 + 20 if req.op == codec.OP_GET_CHILDREN
                                    else len(body[0] or b"") + 100)
                    if fin is None:
                        result = body
                    else:
                        try:
                            result = fin(body)
                        except ZooKeeperError as e:  # a multi whose ops failed
                            result, exc = None, e
                complete(req, result, exc)
                del pending[xid]
            elif xid == codec.XID_NOTIFICATION:
                self._notification(body)
            elif xid == codec.XID_PING:
                pass
            elif xid == codec.XID_AUTH:
                waiter = self.auth_waiters.popleft() if self.auth_waiters else None
                if err:
                    self._state = State.AUTH_FAILED
                    if waiter is None:
                        raise AuthFailedError()
                    complete(waiter, None, AuthFailedError())
                elif waiter is not None:
                    complete(waiter, None, None)
            elif xid == codec.XID_SET_WATCHES:
                if err:
                    log.warning("SetWatches failed with code %d; watches may be lost", err)
            else:
                raise ProtocolError(f"reply with unexpected xid {xid} (err {err})")

    def _failed(self, req: PendingRequest, err: int, body: Any) -> Tuple[Any, Optional[BaseException]]:
        if err == CODE_RESPONSE_TOO_LARGE:
            return None, ResponseTooLargeError(body.size, body.limit, path=req.path)
        if err == NoNodeError.code and req.op == codec.OP_EXISTS:
            # exists() on a missing node is an answer, and leaves an exist watch
            if req.watcher is not None:
                self.watches.add(WATCH_EXIST, self._server_path_of(req), req.watcher)
            return None, None
        if req.op == codec.OP_MULTI and body is not None:
            return None, TransactionFailedError(self._multi_results(req, body), code=err)
        return None, error_for_code(err, req.path)

    @staticmethod
    def _server_path_of(req: PendingRequest) -> str:
        # the first argument of every request that can set a watch is its
        # server path (chroot joined, or not: /zookeeper/config never is)
        return str(req.args[0])

    def _register_watch(self, req: PendingRequest) -> None:
        kind = req.watch_kind
        if req.op == codec.OP_EXISTS:
            kind = WATCH_DATA  # the node exists: it is a data watch now
        # only called for a request that carries a watcher
        self.watches.add(kind, self._server_path_of(req), req.watcher)  # type: ignore[arg-type]

    def _notification(self, ev: Any) -> None:
        path = ev.path
        if path is None:
            return
        client_path = strip_chroot(self.chroot, path)
        try:
            etype = EventType(ev.type)
        except ValueError:
            log.warning("unknown watch event type %d for %s", ev.type, path)
            return
        # a notification comes over a live connection (maybe still finishing
        # its handshake, when the replay fires a watch): that is its state
        state = State.CONNECTED_READ_ONLY if self.server_read_only else State.CONNECTED
        event = WatchedEvent(etype, state, client_path)
        for w in self.watches.triggered(ev.type, path):
            self.events.append((w, event))

    def connection_lost(self) -> List[PendingRequest]:
        """The connection dropped: every request it still owes is returned (to fail).

        Includes requests a reply already completed when the read that
        completed them was interrupted before tidying up (their ``done_flag``
        is set; a client completing them again only runs leftover callbacks).
        """
        self._connected = False
        self.multi_read_ok = self.multi_read_unimplemented = False
        self._probe = None
        lost: List[PendingRequest] = []
        for req in self.pending.values():
            if req.members is not None:  # a batch: its reads are what is owed
                lost.extend(req.members)
            else:
                lost.append(req)
        if self.open_batch is not None:      # reads that waited for a batch never sent
            lost.extend(self.open_batch.members or ())
            self.open_batch = None
        lost.extend(w for w in self.auth_waiters if w is not None)
        self.pending = {}
        self.auth_waiters.clear()
        self.kinds = _fresh_kinds()
        self._allowances.clear()
        self.answered_count = self.framed_count  # every one of them is failed now
        return lost

    def session_ended(self, error: BaseException) -> None:
        """The session is over (expired or closed): end every watch with NOT_WATCHING."""
        state = self._state
        for path, w in self.watches.clear():
            self.events.append((w, WatchedEvent(EventType.NOT_WATCHING, state,
                                                strip_chroot(self.chroot, path), error)))

    def remove_local_watches(self, path: str, watcher_type: int, watcher: Optional[Watcher]) -> int:
        removed = self.watches.remove(join_chroot(self.chroot, path), watcher_type, watcher)
        for w, etype in removed:
            self.events.append((w, WatchedEvent(etype, self._state, path)))
        return len(removed)
