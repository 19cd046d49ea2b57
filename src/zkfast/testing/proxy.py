"""A fault-injecting loopback TCP proxy for client tests.

Put it between a client and a server (``TcpProxy(server.host, server.port)``, connect
the client to ``proxy.hosts``) and break the path on demand: reset every connection,
black-hole traffic, add latency, throttle, refuse new connections, lose exactly one
ZooKeeper reply frame, or slip forged frames into a live connection (between two
frames, never inside one)::

    with TcpProxy(server.host, server.port) as proxy:
        client = Client(proxy.hosts)
        ...
        proxy.inject_to_client(reply_frame(xid=424242, zxid=0x4242424242424242))

One thread runs a ``selectors`` loop over non-blocking sockets; control methods hand
work to it through a queue and a wake-up socketpair, so all connection state is only
touched by that thread and :meth:`TcpProxy.close` leaves no threads or descriptors.
"""

from __future__ import annotations

import collections
import errno
import ipaddress
import selectors
import socket
import struct
import threading
import time
from typing import Any, Callable, Deque

__all__ = ["TcpProxy", "reply_header", "reply_frame", "request_frame", "FramePredicate"]

FramePredicate = Callable[[bytes], bool]

_CHUNK = 65536
_HIGH_WATER = 1 << 20  # stop reading a side while this much is queued for the other
_MAX_FRAME = 256 << 20  # a "length" beyond this means the stream isn't length-framed (e.g. 4lw)
_LINGER_RST = struct.pack("ii", 1, 0)


def reply_header(body: bytes) -> tuple[int, int, int] | None:
    """(xid, zxid, err) of a ZooKeeper reply frame body, or None if it is too short."""
    if len(body) < 16:
        return None
    xid, zxid, err = struct.unpack_from(">iqi", body)
    return xid, zxid, err


def reply_frame(xid: int, zxid: int, err: int = 0, body: bytes = b"") -> bytes:
    """A whole server->client frame: length, reply header (xid, zxid, err), ``body``.

    For forging replies with :meth:`TcpProxy.inject_to_client`; ``body`` is the jute record
    of the reply (empty for errors and for replies without one, e.g. setWatches).
    """
    return struct.pack(">iiqi", 16 + len(body), xid, zxid, err) + body


def request_frame(xid: int, opcode: int, body: bytes = b"") -> bytes:
    """A whole client->server frame: length, request header (xid, opcode), ``body``."""
    return struct.pack(">iii", 8 + len(body), xid, opcode) + body


def _loopback_target(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"TcpProxy only forwards to loopback addresses, not {host!r}")
    return host


class _Hook:
    """A one-shot frame hook armed by the test; ``fired`` is set when it triggers."""

    __slots__ = ("predicate", "include_connect", "fired", "frame")

    def __init__(self, predicate: FramePredicate | None, include_connect: bool) -> None:
        self.predicate = predicate
        self.include_connect = include_connect
        self.fired = threading.Event()
        self.frame: bytes | None = None  # the frame body it acted on


class _Direction:
    """One way of a connection: bytes read from ``src`` are queued for ``dst``."""

    __slots__ = (
        "src", "dst", "to_server", "queue", "queued", "inbuf", "eof", "shut", "blocked",
        "framed", "in_frame", "hdr", "remaining", "frames", "send_at", "injections",
    )

    def __init__(self, src: socket.socket, dst: socket.socket, to_server: bool) -> None:
        self.src, self.dst, self.to_server = src, dst, to_server
        self.queue: Deque[list[Any]] = collections.deque()  # [release_time, memoryview]
        self.queued = 0
        self.inbuf = bytearray()  # bytes held at a frame boundary while a hook is armed
        self.eof = False  # src sent FIN
        self.shut = False  # FIN passed on to dst
        self.blocked = False  # dst's send buffer is full; wait for writability
        self.framed = True  # still looks like a length-prefixed stream
        self.in_frame = False  # streaming through a frame whose start was forwarded
        self.hdr = bytearray()  # partial length prefix of the frame being streamed
        self.remaining = 0  # body bytes left in the frame being streamed
        self.frames = 0  # complete frames seen
        self.send_at = 0.0  # throttle: monotonic time the next send is allowed
        self.injections: list[bytes] = []  # forged bytes waiting for the next frame boundary


class _Conn:
    __slots__ = ("client", "server", "c2s", "s2c", "closing", "closed")

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client, self.server = client, server
        self.c2s = _Direction(client, server, True)
        self.s2c = _Direction(server, client, False)
        self.closing = False  # a hook fired: flush what is queued for the client, then close
        self.closed = False


class TcpProxy:
    """Loopback TCP proxy to ``target_host:target_port`` with fault injection.

    Counters (read any time): ``connections_accepted``, ``connections_refused``,
    ``frames_to_server``, ``frames_to_client``, ``bytes_to_server``, ``bytes_to_client``;
    ``active_connections`` is the number of open proxied connections. Frames are counted
    while a stream parses as 4-byte-length frames (ZooKeeper's framing).
    ``injected_to_client``/``injected_to_server`` count injections that went into a stream.
    """

    def __init__(self, target_host: str, target_port: int, *, port: int = 0) -> None:
        self.target_host = _loopback_target(target_host)
        self.target_port = int(target_port)
        self.host = "127.0.0.1"
        self._listen_port = port
        self.port = 0

        self.connections_accepted = 0
        self.connections_refused = 0
        self.frames_to_server = 0
        self.frames_to_client = 0
        self.bytes_to_server = 0
        self.bytes_to_client = 0
        self.injected_to_server = 0
        self.injected_to_client = 0
        self.errors: list[BaseException] = []  # unexpected exceptions inside the loop

        self._blackhole = False
        self._refuse = False
        self._delay = 0.0
        self._rate: float | None = None
        self._drop_hook: _Hook | None = None
        self._cut_hook: _Hook | None = None

        self._lock = threading.Lock()
        self._commands: list[Callable[[], None]] = []
        self._conns: list[_Conn] = []
        self._owner: dict[socket.socket, _Conn] = {}
        self._interest: dict[socket.socket, int] = {}
        self._listener: socket.socket | None = None
        self._sel: selectors.BaseSelector | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- public control --------------------------------------------------------------------

    @property
    def hosts(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def active_connections(self) -> int:
        return len(self._conns)

    def start(self) -> TcpProxy:
        if self._thread is not None:
            return self
        lst = self._bind_listener()
        try:
            lst.listen(128)
            lst.setblocking(False)
            self._wake_r, self._wake_w = socket.socketpair()
        except BaseException:
            lst.close()
            raise
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._listener = lst
        self.port = lst.getsockname()[1]
        self._listen_port = self.port  # a restart after close() reuses the port
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._wake_r, selectors.EVENT_READ)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"TcpProxy-{self.port}", daemon=True)
        self._thread.start()
        return self

    def _bind_listener(self) -> socket.socket:
        """Bind the listening socket, never on the target's own address: a proxy whose
        ephemeral port happened to equal a (dead) target port would forward to itself."""
        for _ in range(10):
            lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                lst.bind((self.host, self._listen_port))
            except BaseException:
                lst.close()
                raise
            if (lst.getsockname()[1] != self.target_port
                    or self.target_host not in (self.host, "::ffff:127.0.0.1")):
                return lst
            lst.close()
            if self._listen_port:
                raise ValueError("TcpProxy cannot listen on its own target address")
        raise OSError("could not find a listening port different from the target's")

    def close(self) -> None:
        """Close every connection and the listener, and join the loop thread."""
        if self._thread is None:
            return
        self._stopping = True
        self._wake()
        self._thread.join(10)
        if self._thread.is_alive():
            raise RuntimeError("TcpProxy loop thread did not stop")
        self._thread = None
        for s in (self._wake_r, self._wake_w):
            if s is not None:
                s.close()
        self._wake_r = self._wake_w = None

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<TcpProxy {self.hosts} -> {self.target_host}:{self.target_port} conns={len(self._conns)}>"

    def drop_all(self) -> int:
        """Reset (RST) every open connection now, on both sides. Returns how many."""
        return self._call(lambda: self._drop_all())

    def blackhole(self, on: bool = True) -> None:
        """Stop forwarding (and accepting) without closing anything: connections hang, like
        a network partition. Held data flows again when turned off, as TCP would deliver it."""
        self._set("_blackhole", bool(on))

    def refuse(self, on: bool = True) -> None:
        """Accept new connections and close them at once (existing ones are untouched)."""
        self._set("_refuse", bool(on))

    def delay(self, seconds: float) -> None:
        """Hold every chunk read from either side this long before forwarding it (0: off)."""
        self._set("_delay", max(0.0, float(seconds)))

    def throttle(self, bytes_per_second: float | None) -> None:
        """Limit each direction of each connection to this rate (None or 0: unlimited)."""
        self._set("_rate", float(bytes_per_second) if bytes_per_second else None)

    def drop_reply(
        self, predicate: FramePredicate | None = None, *, xid: int | None = None,
        include_connect: bool = False,
    ) -> threading.Event:
        """Swallow the next server->client frame whose body satisfies ``predicate`` (or whose
        reply xid is ``xid``; any frame if neither), then close that connection: a reply
        lost after the server applied the request. The first frame of a connection (the
        ConnectResponse, which has no reply header) is skipped unless ``include_connect``.
        Returns an Event set when it fires; :func:`reply_header` helps write predicates."""
        if xid is not None:
            if predicate is not None:
                raise ValueError("give predicate or xid, not both")
            wanted = xid

            def predicate(body: bytes) -> bool:
                header = reply_header(body)
                return header is not None and header[0] == wanted

        hook = _Hook(predicate, include_connect)
        self._set("_drop_hook", hook)
        return hook.fired

    def cut_next_frame(self, predicate: FramePredicate | None = None) -> threading.Event:
        """Forward only the first half of the next server->client frame (matching
        ``predicate``, if given; the ConnectResponse included), then close the connection."""
        hook = _Hook(predicate, True)
        self._set("_cut_hook", hook)
        return hook.fired

    def inject_to_client(self, data: bytes) -> int:
        """Send ``data`` to the client of every open connection as if the server had sent it.

        It goes in at a frame boundary of the server->client stream: after the
        ConnectResponse, and never inside a reply being forwarded (it waits for that reply's
        last byte). Returns the number of connections it was queued on; streams that are
        not length-framed (four-letter words) are skipped. :func:`reply_frame` builds a reply.
        """
        return self._call(lambda: self._inject(bytes(data), to_server=False))

    def inject_to_server(self, data: bytes) -> int:
        """Send ``data`` to the server on every open connection as if the client had sent it,
        at a frame boundary after the ConnectRequest (see :meth:`inject_to_client`).
        :func:`request_frame` builds a request; the server's reply reaches the client."""
        return self._call(lambda: self._inject(bytes(data), to_server=True))

    def reset_faults(self) -> None:
        """Turn off every fault: blackhole, refuse, delay, throttle and armed hooks."""
        with self._lock:
            self._blackhole = self._refuse = False
            self._delay = 0.0
            self._rate = None
            self._drop_hook = self._cut_hook = None
        self._wake()

    def stats(self) -> dict[str, int]:
        return {
            "connections_accepted": self.connections_accepted,
            "connections_refused": self.connections_refused,
            "active_connections": len(self._conns),
            "frames_to_server": self.frames_to_server,
            "frames_to_client": self.frames_to_client,
            "bytes_to_server": self.bytes_to_server,
            "bytes_to_client": self.bytes_to_client,
            "injected_to_server": self.injected_to_server,
            "injected_to_client": self.injected_to_client,
        }

    # -- plumbing between caller threads and the loop ---------------------------------------

    def _set(self, name: str, value: object) -> None:
        with self._lock:
            setattr(self, name, value)
        self._wake()

    def _wake(self) -> None:
        w = self._wake_w
        if w is not None:
            try:
                w.send(b"\0")
            except (BlockingIOError, OSError):
                pass  # buffer full means a wake-up is already pending

    def _call(self, fn: Callable[[], int]) -> int:
        if self._thread is None:
            raise RuntimeError("TcpProxy is not started")
        done = threading.Event()
        box: list[int] = []

        def run() -> None:
            try:
                box.append(fn())
            finally:
                done.set()

        with self._lock:
            self._commands.append(run)
        self._wake()
        if not done.wait(10):
            raise RuntimeError("TcpProxy loop did not respond")
        return box[0] if box else 0

    # -- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        assert self._sel is not None
        try:
            while not self._stopping:
                with self._lock:
                    commands, self._commands = self._commands, []
                for fn in commands:
                    fn()
                now = time.monotonic()
                for conn in list(self._conns):
                    self._pump(conn, now)
                self._update_interest()
                timeout = self._next_timer(time.monotonic())
                for key, mask in self._sel.select(timeout):
                    try:
                        self._on_event(key.fileobj, mask)  # type: ignore[arg-type]  # only sockets registered
                    except Exception as e:  # never let one socket kill the loop
                        self.errors.append(e)
        except Exception as e:
            self.errors.append(e)
        finally:
            with self._lock:
                commands, self._commands = self._commands, []
            for fn in commands:  # unblock callers waiting on the loop
                fn()
            for conn in list(self._conns):
                self._close_conn(conn, rst=True)
            if self._listener is not None:
                self._unregister(self._listener)
                self._listener.close()
                self._listener = None
            self._sel.close()
            self._sel = None
            self._interest.clear()

    def _on_event(self, sock: socket.socket, mask: int) -> None:
        if sock is self._wake_r:
            try:
                while sock.recv(4096):
                    pass
            except BlockingIOError:
                pass
            return
        if sock is self._listener:
            self._accept()
            return
        conn = self._owner.get(sock)
        if conn is None or conn.closed:
            return
        if mask & selectors.EVENT_WRITE:
            (conn.s2c if sock is conn.client else conn.c2s).blocked = False
        if mask & selectors.EVENT_READ:
            self._read(conn, conn.c2s if sock is conn.client else conn.s2c)
        self._pump(conn, time.monotonic())

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ECONNABORTED):
                    return
                raise
            self.connections_accepted += 1
            if self._refuse:
                self.connections_refused += 1
                client.close()
                continue
            try:
                # Loopback connects complete (or are refused) immediately.
                server = socket.create_connection((self.target_host, self.target_port), timeout=2.0)
            except OSError:
                # Target down: a reset is the closest thing to "connection refused".
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
                client.close()
                continue
            for s in (client, server):
                s.setblocking(False)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(client, server)
            self._conns.append(conn)
            self._owner[client] = self._owner[server] = conn

    def _read(self, conn: _Conn, d: _Direction) -> None:
        try:
            data = d.src.recv(_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close_conn(conn, rst=True)  # pass a reset on as a reset
            return
        if not data:
            d.eof = True
            self._ingest(conn, d, b"", final=True)
            return
        if d.to_server:
            self.bytes_to_server += len(data)
        else:
            self.bytes_to_client += len(data)
        self._ingest(conn, d, data)

    # -- framing & hooks --------------------------------------------------------------------

    def _count_frame(self, d: _Direction) -> None:
        d.frames += 1
        if d.to_server:
            self.frames_to_server += 1
        else:
            self.frames_to_client += 1

    def _armed_hook(self, d: _Direction) -> tuple[str, _Hook] | None:
        if d.to_server:
            return None
        cut, drop = self._cut_hook, self._drop_hook
        if cut is not None:
            return "cut", cut
        if drop is not None and (drop.include_connect or d.frames > 0):
            return "drop", drop
        return None

    def _ingest(self, conn: _Conn, d: _Direction, data: bytes, final: bool = False) -> None:
        """Split what ``src`` sent at frame boundaries, apply armed hooks, queue the rest.

        Without an armed hook bytes are forwarded as they arrive (frames only counted);
        with one, bytes from a frame boundary on are held until the whole frame is here.
        """
        if conn.closing or conn.closed:
            return
        buf = d.inbuf
        buf += data
        out = bytearray()
        i = 0
        n = len(buf)
        while i < n:
            if not d.framed:
                out += buf[i:]
                i = n
                break
            if d.in_frame:  # stream the rest of a frame that was started unhooked
                if len(d.hdr) < 4:
                    take = min(4 - len(d.hdr), n - i)
                    d.hdr += buf[i:i + take]
                    out += buf[i:i + take]
                    i += take
                    if len(d.hdr) == 4:
                        (length,) = struct.unpack(">i", d.hdr)
                        if length < 0 or length > _MAX_FRAME:
                            d.framed = False
                            continue
                        d.remaining = length
                        if length == 0:
                            d.in_frame = False
                            d.hdr = bytearray()
                            self._count_frame(d)
                            self._take_injections(d, out)
                    continue
                take = min(d.remaining, n - i)
                out += buf[i:i + take]
                i += take
                d.remaining -= take
                if d.remaining == 0:
                    d.in_frame = False
                    d.hdr = bytearray()
                    self._count_frame(d)
                    self._take_injections(d, out)
                continue
            armed = self._armed_hook(d)
            if armed is None:
                d.in_frame = True  # at a boundary, nothing armed: stream this frame
                continue
            # A hook is armed: only whole frames pass this point.
            if n - i < 4:
                break
            (length,) = struct.unpack_from(">i", buf, i)
            if length < 0 or length > _MAX_FRAME:
                d.framed = False
                continue
            if n - i < 4 + length:
                break
            frame = bytes(buf[i:i + 4 + length])
            i += 4 + length
            kind, hook = armed
            hit = True
            if hook.predicate is not None:
                try:
                    hit = bool(hook.predicate(frame[4:]))
                except Exception as e:  # a broken predicate must not break the proxy
                    self.errors.append(e)
                    hit = False
            self._count_frame(d)
            if not hit:
                out += frame
                self._take_injections(d, out)
                continue
            with self._lock:
                if kind == "cut" and self._cut_hook is hook:
                    self._cut_hook = None
                elif kind == "drop" and self._drop_hook is hook:
                    self._drop_hook = None
                else:  # re-armed or cleared meanwhile
                    out += frame
                    self._take_injections(d, out)
                    continue
            hook.frame = frame[4:]
            if kind == "cut":
                out += frame[: max(1, len(frame) // 2)]
            self._enqueue(d, bytes(out))
            out = bytearray()
            d.inbuf = bytearray()
            self._close_after_flush(conn)
            hook.fired.set()
            return
        del buf[:i]
        if final and buf:
            out += buf  # the stream ended mid-frame: pass the fragment on as TCP would
            del buf[:]
        if out:
            self._enqueue(d, bytes(out))

    # -- injection --------------------------------------------------------------------------

    @staticmethod
    def _at_boundary(d: _Direction) -> bool:
        """Whether forged bytes may go in now: the stream is length-framed, its handshake
        frame has passed, and nothing of a frame is half forwarded. (Bytes held in
        ``inbuf`` start at a boundary and have not been forwarded, so they don't count.)"""
        return d.framed and d.frames > 0 and not d.in_frame

    def _inject(self, data: bytes, to_server: bool) -> int:
        queued = 0
        for conn in self._conns:
            if conn.closing or conn.closed:
                continue
            d = conn.c2s if to_server else conn.s2c
            if not d.framed:
                continue
            d.injections.append(data)
            queued += 1
            if self._at_boundary(d):
                out = bytearray()
                self._take_injections(d, out)
                self._enqueue(d, bytes(out))
        return queued

    def _take_injections(self, d: _Direction, out: bytearray) -> None:
        """Append the injections waiting on ``d`` to ``out`` if ``d`` is at a boundary."""
        if not d.injections or not self._at_boundary(d):
            return
        for data in d.injections:
            out += data
        if d.to_server:
            self.injected_to_server += len(d.injections)
        else:
            self.injected_to_client += len(d.injections)
        d.injections.clear()

    def _enqueue(self, d: _Direction, data: bytes) -> None:
        if not data:
            return
        now = time.monotonic()
        release = now + self._delay
        if d.queue and d.queue[-1][0] > release:
            release = d.queue[-1][0]  # never reorder when the delay shrinks
        d.queue.append([release, memoryview(data)])
        d.queued += len(data)

    def _close_after_flush(self, conn: _Conn) -> None:
        """After a hook: nothing more goes to the server; close once the client got its bytes."""
        conn.closing = True
        conn.c2s.queue.clear()
        conn.c2s.queued = 0
        conn.c2s.inbuf = bytearray()

    # -- sending ----------------------------------------------------------------------------

    def _pump(self, conn: _Conn, now: float) -> None:
        if conn.closed:
            return
        if not self._blackhole:
            for d in (conn.c2s, conn.s2c):
                if d.inbuf and not conn.closing:
                    self._ingest(conn, d, b"", final=d.eof)  # a hook may have been disarmed
                if not self._send(conn, d, now):
                    return
        if conn.closing:
            if not conn.s2c.queue:
                self._close_conn(conn, rst=False)
            return
        for d in (conn.c2s, conn.s2c):
            if d.eof and not d.shut and not d.queue and not d.inbuf:
                d.shut = True
                try:
                    d.dst.shutdown(socket.SHUT_WR)  # pass the half-close on
                except OSError:
                    pass
        if conn.c2s.shut and conn.s2c.shut:
            self._close_conn(conn, rst=False)

    def _send(self, conn: _Conn, d: _Direction, now: float) -> bool:
        """Send what is due. Returns False if the connection was closed."""
        rate = self._rate
        while d.queue and not d.blocked:
            release, view = d.queue[0]
            if release > now or (rate and d.send_at > now):
                break
            chunk = view
            if rate:
                chunk = view[: max(1, int(rate / 20))]  # ~50 ms worth per send
            try:
                sent = d.dst.send(chunk)
            except (BlockingIOError, InterruptedError):
                d.blocked = True
                break
            except OSError:
                self._close_conn(conn, rst=True)
                return False
            if rate:
                d.send_at = max(d.send_at, now) + sent / rate
            d.queued -= sent
            if sent == len(view):
                d.queue.popleft()
            else:
                d.queue[0][1] = view[sent:]
                if sent < len(chunk):
                    d.blocked = True
        return True

    def _next_timer(self, now: float) -> float | None:
        if self._blackhole:
            return None
        soonest: float | None = None
        for conn in self._conns:
            for d in (conn.c2s, conn.s2c):
                if d.queue and not d.blocked:
                    t = d.queue[0][0]
                    if self._rate:
                        t = max(t, d.send_at)
                    soonest = t if soonest is None else min(soonest, t)
        if soonest is None:
            return None
        return max(0.0, soonest - now)

    # -- selector bookkeeping ---------------------------------------------------------------

    def _update_interest(self) -> None:
        assert self._sel is not None
        want: dict[socket.socket, int] = {}
        if self._listener is not None:
            want[self._listener] = 0 if self._blackhole else selectors.EVENT_READ
        for conn in self._conns:
            for d in (conn.c2s, conn.s2c):
                ev = 0
                if not self._blackhole and not conn.closing and not d.eof and d.queued < _HIGH_WATER:
                    ev |= selectors.EVENT_READ
                want[d.src] = want.get(d.src, 0) | ev
                if d.blocked and not self._blackhole:
                    want[d.dst] = want.get(d.dst, 0) | selectors.EVENT_WRITE
                else:
                    want.setdefault(d.dst, 0)
        for sock, ev in want.items():
            old = self._interest.get(sock, 0)
            if ev == old:
                continue
            if old and ev:
                self._sel.modify(sock, ev)
            elif ev:
                self._sel.register(sock, ev)
            else:
                self._sel.unregister(sock)
            if ev:
                self._interest[sock] = ev
            else:
                self._interest.pop(sock, None)

    def _unregister(self, sock: socket.socket) -> None:
        if self._interest.pop(sock, 0) and self._sel is not None:
            try:
                self._sel.unregister(sock)
            except (KeyError, ValueError):
                pass

    def _close_conn(self, conn: _Conn, rst: bool) -> None:
        if conn.closed:
            return
        conn.closed = True
        for s in (conn.client, conn.server):
            self._unregister(s)
            self._owner.pop(s, None)
            if rst:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
                except OSError:
                    pass
            s.close()
        try:
            self._conns.remove(conn)
        except ValueError:
            pass

    def _drop_all(self) -> int:
        conns = list(self._conns)
        for conn in conns:
            self._close_conn(conn, rst=True)
        return len(conns)
