"""The sans-IO session engine: no sockets, no threads, no asyncio.

A client feeds it bytes and asks it for bytes:

* ``connect_frame()`` starts a connection; ``receive_handshake(data)``
  consumes the ConnectResponse; ``handshake_frames()`` gives the auth replay
  and SetWatches batches to send right after it.
* ``op_*`` methods validate a call and build an unsent :class:`PendingRequest`;
  ``frame_for(req)`` gives it an xid and its wire frame and tracks it.
* ``receive(data)`` decodes every complete reply and returns the finished
  requests as ``(request, result, exception)`` triples; watch notifications
  and state changes are queued on ``events`` for the client to dispatch.
* ``connection_lost()`` hands back the requests the dropped connection owed.

One engine serves both :class:`zkfast.Client` (threads) and
:class:`zkfast.AsyncClient` (asyncio). It is not thread-safe by itself: the
sync client serializes ``frame_for`` and connection changes with its send
lock; ``receive`` runs on the one reader.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Sequence, Tuple

from . import codec
from .acl import OPEN_ACL_UNSAFE
from .errors import (
    CODE_RESPONSE_TOO_LARGE,
    AuthFailedError,
    CodecError,
    InvalidArgumentError,
    NoNodeError,
    ProtocolError,
    RequestTooLargeError,
    ResponseTooLargeError,
    RolledBackError,
    RuntimeInconsistencyError,
    SessionExpiredError,
    TransactionFailedError,
    ZooKeeperError,
    error_for_code,
)
from .events import EventType, State, WatchedEvent, WatcherType
from .paths import join_chroot, normalize_chroot, strip_chroot, validate_path
from .records import ConnectResponse, Stat

log = logging.getLogger("zkfast.protocol")

__all__ = ["SessionEngine", "PendingRequest", "WatchRegistry", "Completion"]

# Create flags (CreateMode codes)
MODE_PERSISTENT = 0
MODE_EPHEMERAL = 1
MODE_PERSISTENT_SEQUENTIAL = 2
MODE_EPHEMERAL_SEQUENTIAL = 3
MODE_CONTAINER = 4
MODE_PERSISTENT_WITH_TTL = 5
MODE_PERSISTENT_SEQUENTIAL_WITH_TTL = 6

# Where a successful request leaves a one-shot or persistent watch.
WATCH_DATA = 1
WATCH_EXIST = 2
WATCH_CHILD = 3
WATCH_PERSISTENT = 4
WATCH_RECURSIVE = 5

# Size budget of one SetWatches frame (the server's packet limit is 1 MiB;
# stay well under it like the reference client does).
SET_WATCHES_MAX_BYTES = 128 * 1024

_XID_MAX = (1 << 31) - 1
_PATH_CACHE_SIZE = 4096  # validated paths remembered (cleared whole when full)

Watcher = Callable[[WatchedEvent], Any]
Completion = Tuple["PendingRequest", Any, Optional[BaseException]]


class PendingRequest:
    """One request from the moment a call builds it until its reply is handled.

    Clients attach their own waiting mechanism in ``waiter`` (a lock for the
    sync client, an asyncio future for the async one).
    """

    __slots__ = ("op", "kind", "path", "encode", "args", "finish", "xid",
                 "watch_kind", "watcher", "waiter", "callbacks", "result_value",
                 "exception_value", "done_flag", "cookie")

    def __init__(self, op: int, kind: int, path: Optional[str], encode: Callable[..., bytes],
                 args: Tuple[Any, ...], finish: Optional[Callable[[Any], Any]] = None,
                 watch_kind: int = 0, watcher: Optional[Watcher] = None) -> None:
        self.op = op
        self.kind = kind
        self.path = path
        self.encode = encode
        self.args = args
        self.finish = finish
        self.xid = 0
        self.watch_kind = watch_kind
        self.watcher = watcher
        self.waiter: Any = None
        self.callbacks: Optional[List[Callable[..., Any]]] = None
        self.result_value: Any = None
        self.exception_value: Optional[BaseException] = None
        self.done_flag = False
        self.cookie: Any = None

    def __repr__(self) -> str:
        return f"<PendingRequest op={self.op} xid={self.xid} path={self.path!r}>"


class WatchRegistry:
    """The client's watches by server path, kept so they can be re-registered
    after a reconnect and fired when a notification arrives.

    Each table maps a server path to an insertion-ordered dict of watchers
    (a watcher registered twice on one path fires once, as in ZooKeeper).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.data: Dict[str, Dict[Watcher, None]] = {}
        self.exist: Dict[str, Dict[Watcher, None]] = {}
        self.child: Dict[str, Dict[Watcher, None]] = {}
        self.persistent: Dict[str, Dict[Watcher, None]] = {}
        self.recursive: Dict[str, Dict[Watcher, None]] = {}

    def table(self, kind: int) -> Dict[str, Dict[Watcher, None]]:
        return (self.data, self.exist, self.child, self.persistent, self.recursive)[kind - 1]

    def add(self, kind: int, path: str, watcher: Watcher) -> None:
        with self.lock:
            self.table(kind).setdefault(path, {})[watcher] = None

    def __bool__(self) -> bool:
        return bool(self.data or self.exist or self.child or self.persistent or self.recursive)

    def has_persistent(self) -> bool:
        return bool(self.persistent or self.recursive)

    def triggered(self, etype: int, path: str) -> List[Watcher]:
        """Remove and return the one-shot watchers an event fires, plus the
        persistent ones it reaches (ZooKeeper's client-side materialize)."""
        out: Dict[Watcher, None] = {}
        with self.lock:
            if etype == EventType.NODE_CREATED or etype == EventType.NODE_DATA_CHANGED:
                out.update(self.data.pop(path, {}))
                out.update(self.exist.pop(path, {}))
            elif etype == EventType.NODE_CHILDREN_CHANGED:
                out.update(self.child.pop(path, {}))
            elif etype == EventType.NODE_DELETED:
                out.update(self.data.pop(path, {}))
                out.update(self.exist.pop(path, {}))
                out.update(self.child.pop(path, {}))
            p = self.persistent.get(path)
            if p:
                out.update(p)
            if self.recursive and etype != EventType.NODE_CHILDREN_CHANGED:
                # a recursive watch on any ancestor (or the node) sees the event
                probe = path
                while True:
                    r = self.recursive.get(probe)
                    if r:
                        out.update(r)
                    if probe == "/":
                        break
                    i = probe.rfind("/")
                    probe = probe[:i] if i > 0 else "/"
        return list(out)

    def remove(self, path: str, watcher_type: int, watcher: Optional[Watcher] = None
               ) -> List[Tuple[Watcher, EventType]]:
        """Drop watches on ``path`` locally; returns (watcher, removal event type)."""
        removed: List[Tuple[Watcher, EventType]] = []
        with self.lock:
            tables: List[Tuple[Dict[str, Dict[Watcher, None]], EventType]] = []
            if watcher_type in (WatcherType.DATA, WatcherType.ANY):
                tables += [(self.data, EventType.DATA_WATCH_REMOVED),
                           (self.exist, EventType.DATA_WATCH_REMOVED)]
            if watcher_type in (WatcherType.CHILDREN, WatcherType.ANY):
                tables.append((self.child, EventType.CHILD_WATCH_REMOVED))
            if watcher_type in (WatcherType.PERSISTENT, WatcherType.ANY):
                tables.append((self.persistent, EventType.PERSISTENT_WATCH_REMOVED))
            if watcher_type in (WatcherType.PERSISTENT_RECURSIVE, WatcherType.ANY):
                tables.append((self.recursive, EventType.PERSISTENT_WATCH_REMOVED))
            for table, etype in tables:
                ws = table.get(path)
                if not ws:
                    continue
                if watcher is None:
                    del table[path]
                    removed += [(w, etype) for w in ws]
                elif watcher in ws:
                    del ws[watcher]
                    if not ws:
                        del table[path]
                    removed.append((watcher, etype))
        return removed

    def has(self, path: str, watcher_type: int, watcher: Optional[Watcher] = None) -> bool:
        with self.lock:
            tables = []
            if watcher_type in (WatcherType.DATA, WatcherType.ANY):
                tables += [self.data, self.exist]
            if watcher_type in (WatcherType.CHILDREN, WatcherType.ANY):
                tables.append(self.child)
            if watcher_type in (WatcherType.PERSISTENT, WatcherType.ANY):
                tables.append(self.persistent)
            if watcher_type in (WatcherType.PERSISTENT_RECURSIVE, WatcherType.ANY):
                tables.append(self.recursive)
            for t in tables:
                ws = t.get(path)
                if ws and (watcher is None or watcher in ws):
                    return True
        return False

    def clear(self) -> List[Tuple[str, Watcher]]:
        """Forget every watch (session gone); returns (server path, watcher)."""
        with self.lock:
            out = [(p, w) for t in (self.data, self.exist, self.child, self.persistent,
                                    self.recursive) for p, ws in t.items() for w in ws]
            for t in (self.data, self.exist, self.child, self.persistent, self.recursive):
                t.clear()
        return out

    def snapshot(self) -> Tuple[List[str], List[str], List[str], List[str], List[str]]:
        with self.lock:
            return (list(self.data), list(self.exist), list(self.child),
                    list(self.persistent), list(self.recursive))


def _check_bytes(value: Any, name: str = "value") -> Any:
    if value is None or isinstance(value, (bytes, bytearray, memoryview)):
        return value
    raise InvalidArgumentError(f"{name} must be bytes, not {type(value).__name__}")


def _check_version(version: Any) -> int:
    if type(version) is not int or not -1 <= version <= _XID_MAX:
        raise InvalidArgumentError(f"version must be an int >= -1, not {version!r}")
    return version


def _check_acl(acl: Any) -> Sequence[Any]:
    if acl is None:
        return OPEN_ACL_UNSAFE
    if isinstance(acl, tuple) and len(acl) == 2 and isinstance(acl[0], int):
        acl = [acl]  # a single ACL entry
    try:
        items = list(acl)
    except TypeError:
        raise InvalidArgumentError(f"acl must be a list of ACL entries, not {type(acl).__name__}") from None
    if not items:
        raise InvalidArgumentError("acl must not be empty (the server refuses it)")
    for a in items:
        try:
            perms, (scheme, ident) = a
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"bad ACL entry {a!r}: want ACL(perms, Id(scheme, id))") from None
        if type(perms) is not int and not isinstance(perms, int) or not 0 <= int(perms) <= 31:
            raise InvalidArgumentError(f"bad ACL perms {perms!r}: want 0..31")
        if not isinstance(scheme, str) or not isinstance(ident, str):
            raise InvalidArgumentError(f"bad ACL id {(scheme, ident)!r}: want two strings")
    return items


def _check_watcher(watch: object) -> Optional[Watcher]:
    if watch is None or callable(watch):
        return watch
    raise InvalidArgumentError(f"watch must be a callable taking a WatchedEvent, not {type(watch).__name__}")


def _result_to_exception(op: int, err: int, path: Optional[str]) -> ZooKeeperError:
    if err == 0:
        return RolledBackError(path=path)
    if err == -2:
        return RuntimeInconsistencyError(path=path)
    return error_for_code(err, path)


class SessionEngine:
    """The protocol state of one ZooKeeper session across its connections."""

    def __init__(self, *, chroot: Optional[str] = None, session_timeout_ms: int = 10000,
                 read_only: bool = False, max_buffer_size: int = codec.DEFAULT_MAX_BUFFER_SIZE,
                 max_request_size: int = 0xFFFFF,
                 auth_data: Iterable[Tuple[str, Any]] = (),
                 session_id: int = 0, session_passwd: Optional[bytes] = None) -> None:
        self.chroot = normalize_chroot(chroot)
        self.session_timeout_ms = int(session_timeout_ms)
        self.negotiated_timeout_ms = int(session_timeout_ms)
        self.read_only = bool(read_only)
        self.max_request_size = int(max_request_size)
        self.reader = codec.FrameReader(max_buffer_size)
        self.session_id = int(session_id)
        self.passwd: Optional[bytes] = session_passwd
        self.last_zxid = 0
        self.state = State.CONNECTING
        self.server_read_only = False
        # Has this session been on a read-write server? Until then it is a local
        # session of a read-only server (resumed ids are assumed global).
        self.seen_rw_server = bool(self.session_id)
        self.watches = WatchRegistry()
        self.auth: List[Tuple[str, bytes]] = []
        for scheme, cred in auth_data:
            self.auth.append((scheme, cred.encode() if isinstance(cred, str) else bytes(cred)))
        self.pending: Dict[int, PendingRequest] = {}
        self.kinds: Dict[int, int] = {codec.XID_PING: codec.KIND_NONE,
                                      codec.XID_AUTH: codec.KIND_NONE,
                                      codec.XID_SET_WATCHES: codec.KIND_NONE}
        # add_auth requests awaiting their (xid -4) reply, in order; None for a
        # reconnect's auth replay, whose reply belongs to no caller.
        self.auth_waiters: Deque[Optional[PendingRequest]] = deque()
        self.events: List[Tuple[Watcher, WatchedEvent]] = []
        self._xid = 0
        self._path_cache: Dict[str, str] = {}
        self.connected = False
        self.frames_received = 0  # complete reply frames, for the clients' read timeout
        self._stream_error: Optional[ZooKeeperError] = None  # this connection broke
        self._corrupt_done: List[Completion] = []

    # ------------------------------------------------------------ timing

    @property
    def read_timeout(self) -> float:
        """Seconds without any byte from the server before the connection is dead."""
        return self.negotiated_timeout_ms * 2 / 3 / 1000.0

    @property
    def ping_interval(self) -> float:
        """Seconds of send idleness after which a ping keeps the session alive."""
        return self.read_timeout / 2

    # ------------------------------------------------------------ connecting

    def connect_frame(self) -> bytes:
        self.reader.reset()
        self._stream_error = None
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

    def handshake_frames(self) -> List[bytes]:
        """What follows a ConnectResponse: the auth replay, then SetWatches batches.

        Replies to these come back in order before anything sent later.
        """
        out = [codec.encode_auth(scheme, cred) for scheme, cred in self.auth]
        # their replies come before those of any add_auth queued meanwhile
        self.auth_waiters.extend([None] * len(out))
        if self.watches:
            out.extend(self._set_watches_frames())
        return out

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

    # ------------------------------------------------------------ requests

    def next_xid(self) -> int:
        x = self._xid + 1
        if x > _XID_MAX:
            x = 1
        self._xid = x
        return x

    def frame_for(self, req: PendingRequest) -> bytes:
        """Give ``req`` an xid, encode it and track it as awaiting a reply."""
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
        return frame

    def validate_encoding(self, req: PendingRequest) -> None:
        """Encode once, unsent, so a bad argument fails in the caller before queueing."""
        try:
            frame = req.encode(*req.args) if req.op == codec.OP_AUTH else req.encode(0, *req.args)
        except (TypeError, OverflowError, ValueError) as e:
            raise InvalidArgumentError(str(e), path=req.path) from e
        if len(frame) - 4 > self.max_request_size:
            raise RequestTooLargeError(len(frame) - 4, self.max_request_size, path=req.path)

    # ------------------------------------------------------------ receiving

    def receive(self, data: Any) -> List[Completion]:
        """Decode the replies in ``data``; return the finished requests.

        Raises :class:`CodecError` on a corrupt stream after handling the
        replies decoded before the corruption (the caller must drop the
        connection).
        """
        if self._stream_error is not None:
            # Nothing more from a connection that broke the protocol is trusted
            # (a reply decoded after a bogus one could complete a request).
            raise CodecError(f"connection already failed: {self._stream_error}")
        try:
            replies = self.reader.feed(data, self.kinds)
        except CodecError as e:
            self._stream_error = e
            replies, e.replies = e.replies, []
            self.frames_received += len(replies)
            self._corrupt_done = self._handle(replies)
            raise
        if replies:
            # Liveness is measured in whole frames, not bytes: a server that
            # streams the body of a (claimed) giant frame is not answering pings.
            self.frames_received += len(replies)
        try:
            return self._handle(replies)
        except ZooKeeperError as e:  # protocol violation, failed auth replay
            self._stream_error = e
            raise

    def take_corrupt_completions(self) -> List[Completion]:
        """After ``receive`` raised (corrupt stream, protocol violation, failed
        auth replay): the requests that input finished before the error."""
        done = getattr(self, "_corrupt_done", [])
        self._corrupt_done = []
        return done

    def _handle(self, replies: List[Tuple[int, int, int, Any]]) -> List[Completion]:
        out: List[Completion] = []
        pending = self.pending
        kinds = self.kinds
        for xid, zxid, err, body in replies:
            if xid > 0:
                req = pending.pop(xid, None)
                kinds.pop(xid, None)
                if zxid > self.last_zxid:
                    self.last_zxid = zxid
                if req is None:
                    self._corrupt_done = out  # what this batch finished still counts
                    raise ProtocolError(f"reply for xid {xid} that is not outstanding")
                if err:
                    out.append(self._failed(req, err, body))
                    continue
                if req.watch_kind:
                    self._register_watch(req)
                fin = req.finish
                if fin is None:
                    out.append((req, body, None))
                    continue
                try:
                    out.append((req, fin(body), None))
                except ZooKeeperError as e:  # a multi whose ops failed
                    out.append((req, None, e))
            elif xid == codec.XID_NOTIFICATION:
                self._notification(body)
            elif xid == codec.XID_PING:
                pass
            elif xid == codec.XID_AUTH:
                waiter = self.auth_waiters.popleft() if self.auth_waiters else None
                if err:
                    self.state = State.AUTH_FAILED
                    exc = AuthFailedError()
                    if waiter is not None:
                        out.append((waiter, None, exc))
                    else:
                        self._corrupt_done = out
                        raise exc
                elif waiter is not None:
                    out.append((waiter, None, None))
            elif xid == codec.XID_SET_WATCHES:
                if err:
                    log.warning("SetWatches failed with code %d; watches may be lost", err)
            else:
                log.warning("reply with unexpected xid %d (err %d) ignored", xid, err)
        return out

    def _failed(self, req: PendingRequest, err: int, body: Any) -> Completion:
        if err == CODE_RESPONSE_TOO_LARGE:
            return (req, None, ResponseTooLargeError(body.size, body.limit, path=req.path))
        if err == NoNodeError.code and req.op == codec.OP_EXISTS:
            # exists() on a missing node is an answer, and leaves an exist watch
            if req.watcher is not None:
                self.watches.add(WATCH_EXIST, self._server_path(req), req.watcher)
            return (req, None, None)
        if req.op == codec.OP_MULTI and body is not None:
            return (req, None, TransactionFailedError(self._multi_results(req, body), code=err))
        return (req, None, error_for_code(err, req.path))

    def _server_path(self, req: PendingRequest) -> str:
        return join_chroot(self.chroot, req.path) if req.path is not None else "/"

    def _register_watch(self, req: PendingRequest) -> None:
        kind = req.watch_kind
        if req.op == codec.OP_EXISTS:
            kind = WATCH_DATA  # the node exists: it is a data watch now
        # only called for a request that carries a watcher
        self.watches.add(kind, self._server_path(req), req.watcher)  # type: ignore[arg-type]

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
        event = WatchedEvent(etype, self.state, client_path)
        for w in self.watches.triggered(ev.type, path):
            self.events.append((w, event))

    def connection_lost(self) -> List[PendingRequest]:
        """The connection dropped: every request it owed a reply is returned (to fail)."""
        self.connected = False
        lost = list(self.pending.values())
        lost.extend(w for w in self.auth_waiters if w is not None)
        self.pending = {}
        self.auth_waiters.clear()
        self.kinds = {codec.XID_PING: codec.KIND_NONE, codec.XID_AUTH: codec.KIND_NONE,
                      codec.XID_SET_WATCHES: codec.KIND_NONE}
        return lost

    def session_ended(self, error: BaseException) -> None:
        """The session is over (expired or closed): end every watch with NOT_WATCHING."""
        state = self.state
        for path, w in self.watches.clear():
            self.events.append((w, WatchedEvent(EventType.NOT_WATCHING, state,
                                                strip_chroot(self.chroot, path), error)))

    def remove_local_watches(self, path: str, watcher_type: int, watcher: Optional[Watcher]) -> int:
        removed = self.watches.remove(join_chroot(self.chroot, path), watcher_type, watcher)
        for w, etype in removed:
            self.events.append((w, WatchedEvent(etype, self.state, path)))
        return len(removed)

    # ------------------------------------------------------------ result shaping

    def _strip(self, server_path: Any) -> Any:
        return strip_chroot(self.chroot, server_path)

    def _strip_with_stat(self, body: Tuple[str, Stat]) -> Tuple[Any, Stat]:
        return (strip_chroot(self.chroot, body[0]), body[1])

    def _strip_list(self, paths: List[str]) -> List[Any]:
        if not self.chroot:
            return paths
        return [strip_chroot(self.chroot, p) for p in paths]

    def _multi_results(self, req: PendingRequest, body: List[Tuple[int, int, Any]]) -> List[Any]:
        ops = req.cookie or []
        results: List[Any] = []
        for i, (op, err, value) in enumerate(body):
            path = ops[i][1] if i < len(ops) else None
            if op == codec.OP_ERROR:
                results.append(_result_to_exception(op, err, path))
            elif op == codec.OP_CREATE:
                results.append(self._strip(value))
            elif op == codec.OP_CREATE2:
                results.append(self._strip_with_stat(value))
            elif op == codec.OP_SET_DATA:
                results.append(value)
            elif op == codec.OP_GET_DATA or op == codec.OP_GET_CHILDREN:
                results.append(value)
            else:  # delete, check
                results.append(True)
        return results

    def _finish_multi(self, req: PendingRequest) -> Callable[[Any], Any]:
        def finish(body: Any) -> Any:
            results = self._multi_results(req, body)
            # A failed multi has err 0 in its header; the failure is in the ops.
            if req.op == codec.OP_MULTI and any(isinstance(r, ZooKeeperError) for r in results):
                raise TransactionFailedError(results)
            return results
        return finish

    # ------------------------------------------------------------ op builders

    def _path(self, path: Any, sequential: bool = False) -> str:
        """The server path for a client path, validated (the check is cached:
        hot paths are asked for over and over)."""
        cache = self._path_cache
        if not sequential and type(path) is str:
            spath = cache.get(path)
            if spath is not None:
                return spath
        validate_path(path, sequential)
        spath = join_chroot(self.chroot, path)
        if not sequential:
            if len(cache) >= _PATH_CACHE_SIZE:
                cache.clear()
            cache[path] = spath
        return spath

    def op_create(self, path: str, value: Any = b"", acl: Any = None, *, ephemeral: bool = False,
                  sequence: bool = False, container: bool = False, ttl: Optional[float] = None,
                  include_data: bool = False) -> PendingRequest:
        spath = self._path(path, sequence)
        _check_bytes(value)
        acls = _check_acl(acl)
        flags = self.create_flags(ephemeral=ephemeral, sequence=sequence, container=container,
                                  ttl=ttl)
        if ttl is not None:
            ttl_ms = self._ttl_ms(ttl)
            return PendingRequest(codec.OP_CREATE_TTL, codec.KIND_STRING_STAT, path,
                                  codec.encode_create_ttl, (spath, value, acls, flags, ttl_ms),
                                  self._strip_with_stat if include_data else self._strip_first)
        if container:
            return PendingRequest(codec.OP_CREATE_CONTAINER, codec.KIND_STRING_STAT, path,
                                  codec.encode_create_container, (spath, value, acls),
                                  self._strip_with_stat if include_data else self._strip_first)
        if include_data:
            return PendingRequest(codec.OP_CREATE2, codec.KIND_STRING_STAT, path,
                                  codec.encode_create2, (spath, value, acls, flags),
                                  self._strip_with_stat)
        return PendingRequest(codec.OP_CREATE, codec.KIND_STRING, path, codec.encode_create,
                              (spath, value, acls, flags), self._strip if self.chroot else None)

    def _strip_first(self, body: Tuple[str, Stat]) -> Any:
        return strip_chroot(self.chroot, body[0])

    @staticmethod
    def _ttl_ms(ttl: Any) -> int:
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0:
            raise InvalidArgumentError(f"ttl must be a positive number of seconds, not {ttl!r}")
        ms = int(ttl * 1000)
        if ms < 1 or ms > 0xFFFFFFFFFF:  # the server's TTL field limit (EphemeralType)
            raise InvalidArgumentError(f"ttl {ttl!r}s is out of range")
        return ms

    @staticmethod
    def create_flags(*, ephemeral: bool = False, sequence: bool = False, container: bool = False,
                     ttl: Optional[float] = None) -> int:
        if container:
            if ephemeral or sequence or ttl is not None:
                raise InvalidArgumentError("a container node cannot be ephemeral, sequential or have a TTL")
            return MODE_CONTAINER
        if ttl is not None:
            if ephemeral:
                raise InvalidArgumentError("a TTL node cannot be ephemeral")
            return MODE_PERSISTENT_SEQUENTIAL_WITH_TTL if sequence else MODE_PERSISTENT_WITH_TTL
        return (MODE_EPHEMERAL if ephemeral else 0) | (MODE_PERSISTENT_SEQUENTIAL if sequence else 0)

    def op_delete(self, path: str, version: int = -1) -> PendingRequest:
        spath = self._path(path)
        return PendingRequest(codec.OP_DELETE, codec.KIND_NONE, path, codec.encode_delete,
                              (spath, _check_version(version)))

    def op_exists(self, path: str, watch: Any = None) -> PendingRequest:
        spath = self._path(path)
        w = _check_watcher(watch)
        return PendingRequest(codec.OP_EXISTS, codec.KIND_STAT, path, codec.encode_exists,
                              (spath, w is not None), None, WATCH_EXIST if w else 0, w)

    def op_get(self, path: str, watch: Any = None) -> PendingRequest:
        spath = self._path(path)
        if watch is None:
            return PendingRequest(codec.OP_GET_DATA, codec.KIND_DATA_STAT, path,
                                  codec.encode_get_data, (spath, False))
        w = _check_watcher(watch)
        return PendingRequest(codec.OP_GET_DATA, codec.KIND_DATA_STAT, path,
                              codec.encode_get_data, (spath, True), None, WATCH_DATA, w)

    def op_set(self, path: str, value: Any, version: int = -1) -> PendingRequest:
        spath = self._path(path)
        _check_bytes(value)
        return PendingRequest(codec.OP_SET_DATA, codec.KIND_STAT, path, codec.encode_set_data,
                              (spath, value, _check_version(version)))

    def op_get_children(self, path: str, watch: Any = None, include_data: bool = False) -> PendingRequest:
        spath = self._path(path)
        w = _check_watcher(watch)
        if include_data:
            return PendingRequest(codec.OP_GET_CHILDREN2, codec.KIND_CHILDREN_STAT, path,
                                  codec.encode_get_children2, (spath, w is not None), None,
                                  WATCH_CHILD if w else 0, w)
        return PendingRequest(codec.OP_GET_CHILDREN, codec.KIND_CHILDREN, path,
                              codec.encode_get_children, (spath, w is not None), None,
                              WATCH_CHILD if w else 0, w)

    def op_sync(self, path: str) -> PendingRequest:
        spath = self._path(path)
        return PendingRequest(codec.OP_SYNC, codec.KIND_STRING, path, codec.encode_sync,
                              (spath,), self._strip)

    def op_get_acls(self, path: str) -> PendingRequest:
        spath = self._path(path)
        return PendingRequest(codec.OP_GET_ACL, codec.KIND_ACL_STAT, path, codec.encode_get_acl,
                              (spath,))

    def op_set_acls(self, path: str, acls: Any, version: int = -1) -> PendingRequest:
        spath = self._path(path)
        if acls is None:
            raise InvalidArgumentError("acls must be given")
        return PendingRequest(codec.OP_SET_ACL, codec.KIND_STAT, path, codec.encode_set_acl,
                              (spath, _check_acl(acls), _check_version(version)))

    def op_get_ephemerals(self, prefix: str = "/") -> PendingRequest:
        spath = self._path(prefix)
        return PendingRequest(codec.OP_GET_EPHEMERALS, codec.KIND_CHILDREN, prefix,
                              codec.encode_get_ephemerals, (spath,), self._strip_list)

    def op_count_children(self, path: str) -> PendingRequest:
        spath = self._path(path)
        return PendingRequest(codec.OP_GET_ALL_CHILDREN_NUMBER, codec.KIND_INT, path,
                              codec.encode_get_all_children_number, (spath,))

    def op_whoami(self) -> PendingRequest:
        return PendingRequest(codec.OP_WHO_AM_I, codec.KIND_CLIENT_INFO, None,
                              codec.encode_who_am_i, ())

    def op_add_watch(self, path: str, watch: Any, recursive: bool = False) -> PendingRequest:
        spath = self._path(path)
        w = _check_watcher(watch)
        if w is None:
            raise InvalidArgumentError("add_watch needs a callback")
        mode = 1 if recursive else 0
        return PendingRequest(codec.OP_ADD_WATCH, codec.KIND_INT, path, codec.encode_add_watch,
                              (spath, mode), _none, WATCH_RECURSIVE if recursive else WATCH_PERSISTENT, w)

    def op_remove_watches(self, path: str, watcher_type: int) -> PendingRequest:
        spath = self._path(path)
        wt = int(WatcherType(watcher_type))
        return PendingRequest(codec.OP_REMOVE_WATCHES, codec.KIND_NONE, path,
                              codec.encode_remove_watches, (spath, wt))

    def op_check_watches(self, path: str, watcher_type: int) -> PendingRequest:
        spath = self._path(path)
        wt = int(WatcherType(watcher_type))
        return PendingRequest(codec.OP_CHECK_WATCHES, codec.KIND_NONE, path,
                              codec.encode_check_watches, (spath, wt))

    def op_reconfig(self, joining: Optional[str], leaving: Optional[str],
                    new_members: Optional[str], from_config: int = -1) -> PendingRequest:
        return PendingRequest(codec.OP_RECONFIG, codec.KIND_DATA_STAT, None, codec.encode_reconfig,
                              (joining, leaving, new_members, int(from_config)))

    def op_sasl(self, token: Optional[bytes]) -> PendingRequest:
        return PendingRequest(codec.OP_SASL, codec.KIND_BUFFER, None, codec.encode_sasl, (token,))

    def op_auth(self, scheme: str, credential: Any) -> PendingRequest:
        if not isinstance(scheme, str) or not scheme:
            raise InvalidArgumentError("auth scheme must be a non-empty str")
        cred = credential.encode("utf-8") if isinstance(credential, str) else credential
        _check_bytes(cred, "credential")
        req = PendingRequest(codec.OP_AUTH, codec.KIND_NONE, None, codec.encode_auth,
                             (scheme, bytes(cred)))
        req.cookie = (scheme, bytes(cred))
        return req

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
        except ImportError:  # pragma: no cover - depends on the environment
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

    def op_close(self) -> PendingRequest:
        return PendingRequest(codec.OP_CLOSE_SESSION, codec.KIND_NONE, None, codec.encode_close, ())

    def op_multi(self, ops: Sequence[Any]) -> PendingRequest:
        """``ops`` are :mod:`zkfast.transaction` op records (Create, Delete, SetData, Check)."""
        wire = []
        for op in ops:
            wire.append(op.to_wire(self))
        req = PendingRequest(codec.OP_MULTI, codec.KIND_MULTI, None, codec.encode_multi,
                             (wire,))
        req.cookie = [(o[0], getattr(op, "path", None)) for o, op in zip(wire, ops)]
        req.finish = self._finish_multi(req)
        return req

    def op_multi_read(self, ops: Sequence[Any]) -> PendingRequest:
        wire = [op.to_wire(self) for op in ops]
        req = PendingRequest(codec.OP_MULTI_READ, codec.KIND_MULTI, None, codec.encode_multi_read,
                             (wire,))
        req.cookie = [(o[0], getattr(op, "path", None)) for o, op in zip(wire, ops)]
        req.finish = self._finish_multi(req)
        return req


def _none(_: Any) -> None:
    return None
