"""Session behaviour against real servers: pings, reconnects, watch replay,
blackholes, expiry, server restarts, auth replay, TLS, read-only mode, closing,
thread safety and hostile server bytes.

Each scenario runs on both clients (the ``kind`` fixture: Client, and AsyncClient
driven through tests/clients.py's blocking facade), except the few that are about
one client's own machinery; those say why.

Every scenario is bounded in time: short session timeouts on a server with a
small tickTime (minSessionTimeout is 2 ticks), faults from zkfast.testing's
TcpProxy, and waits on observable conditions (never bare sleeps as
synchronization).
"""

from __future__ import annotations

import asyncio
import random
import re
import socket
import ssl
import struct
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

import zkfast
from zkfast import (
    AsyncClient,
    AuthFailedError,
    ClosedError,
    Client,
    ConnectionLossError,
    EventType,
    NoNodeError,
    NotReadOnlyError,
    Perm,
    ResponseTooLargeError,
    SessionExpiredError,
    State,
    WaitTimeoutError,
    ZooKeeperError,
    digest_acl,
)
from zkfast.testing import Ensemble, TcpProxy, ZooKeeperServer, expire_session

from clients import close_all, connection_loop_alive, new_client, tls_peer_cert, workers_alive
from helpers import States, EventLog, wait_until

TICK_MS = 250  # the module server's tickTime: sessions from 0.5 s (2 ticks) to 20 s
POISON_ZXID = 0x4242424242424242  # what a forged reply claims


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def _fast_server() -> Iterator[ZooKeeperServer]:
    with ZooKeeperServer(tick_time=TICK_MS, max_session_timeout=20000) as s:
        yield s


@pytest.fixture
def server(_fast_server: ZooKeeperServer) -> ZooKeeperServer:
    """A standalone server with a small tickTime (running at test start)."""
    _fast_server.start()  # a no-op unless an earlier test left it stopped
    return _fast_server


@pytest.fixture
def proxy(server: ZooKeeperServer) -> Iterator[TcpProxy]:
    with TcpProxy(server.host, server.port) as p:
        yield p


@pytest.fixture
def base(server: ZooKeeperServer, zk_chroot: str) -> Iterator[str]:
    """This test's private chroot, created on the server (removed afterwards)."""
    with Client(server.hosts) as admin:
        admin.ensure_path(zk_chroot)
    yield zk_chroot
    if server.running:
        with Client(server.hosts) as admin:
            admin.delete(zk_chroot, recursive=True)


@pytest.fixture
def clients(kind: str) -> Iterator[Callable[..., Any]]:
    """Factory of clients of this test's kind (a Client, or an AsyncClient behind
    the blocking facade), closed at teardown; ``start=False`` leaves one unstarted."""
    made: List[Any] = []

    def make(hosts: str, *, start: bool = True, start_timeout: float = 15.0, **kw: Any) -> Any:
        c = new_client(kind, hosts, **kw)
        made.append(c)
        if start:
            c.start(start_timeout)
        return c

    yield make
    close_all(made)


def failed_with(fut: Any, *types: type, timeout: float = 10.0) -> BaseException:
    exc = fut.exception(timeout)
    assert isinstance(exc, types), f"expected {types}, got {exc!r}"
    return exc


# ---------------------------------------------------------------------------- 1. pings


def test_pings_keep_an_idle_session_alive(server: ZooKeeperServer, proxy: TcpProxy, base: str,
                                          clients: Callable[..., Any]) -> None:
    zk = clients(proxy.hosts + base, session_timeout=2.0)
    assert zk.negotiated_session_timeout == pytest.approx(2.0)
    states = States(zk)
    zk.create("/eph", b"", ephemeral=True)
    sid = zk.session_id
    frames = proxy.frames_to_server
    t0 = time.monotonic()
    # Idle for three session timeouts; only pings (every ~1/3 of the timeout) cross the proxy.
    wait_until(lambda: time.monotonic() - t0 >= 3 * zk.negotiated_session_timeout, timeout=10)
    pings = proxy.frames_to_server - frames
    assert pings >= 5, f"only {pings} frames in {3 * zk.negotiated_session_timeout}s of idleness"
    assert zk.state == State.CONNECTED and states.seen == []
    assert zk.session_id == sid
    assert proxy.connections_accepted == 1
    with Client(server.hosts + base) as other:
        st = other.exists("/eph")
        assert st is not None and st.ephemeral_owner == sid
    assert zk.get("/eph")[1].ephemeral_owner == sid


def test_a_slow_handshake_does_not_shorten_the_first_read_timeout(clients: Callable[..., Any]
                                                                   ) -> None:
    # The read timeout (2/3 of the session's) runs from the end of the handshake: a
    # server slow to answer the ConnectRequest (busy, or a long TLS/SASL exchange) is
    # alive, and the first ping (half the read timeout after it) must get its chance.
    with FakeServer(connect_delay=1.5, session_timeout_ms=3000) as fake:
        zk = clients(fake.hosts, session_timeout=3.0, connection_timeout=2.5)
        states = States(zk)
        wait_until(lambda: fake.pings >= 2 or states.seen, timeout=15)
        assert states.seen == [], "the fresh connection was declared dead"
        assert len(fake.connects) == 1 and fake.pings >= 2


# ---------------------------------------------------------------------------- 2. drops


def test_dropped_connection_suspends_and_resumes_the_session(proxy: TcpProxy, base: str,
                                                             clients: Callable[..., Any]) -> None:
    zk = clients(proxy.hosts + base, session_timeout=3.0)
    states = States(zk)
    zk.create("/n", b"v")
    sid = zk.session_id

    # In flight when the connection drops: the proxy holds the requests, then resets
    # (and refuses reconnects until the delay is off, so none is held up by it).
    proxy.refuse(True)
    proxy.delay(10)
    futs = [zk.get_async("/n") for _ in range(20)]
    proxy.drop_all()
    for f in futs:
        failed_with(f, ConnectionLossError, timeout=5)
    proxy.delay(0)
    proxy.refuse(False)
    states.wait_for(State.CONNECTED)
    assert states.seen == [State.SUSPENDED, State.CONNECTED]
    assert zk.session_id == sid and zk.get("/n")[0] == b"v"

    # Issued while disconnected: wait for the reconnect, then succeed.
    proxy.refuse(True)
    proxy.drop_all()
    states.wait_for(State.SUSPENDED, 2)
    queued = [zk.get_async("/n") for _ in range(5)] + [zk.set_async("/n", b"w")]
    wait_until(lambda: proxy.connections_refused >= 2)  # the client is retrying meanwhile
    assert not any(f.done() for f in queued)
    proxy.refuse(False)
    assert [f.result(10)[0] for f in queued[:5]] == [b"v"] * 5
    assert queued[5].result(10).version == 1
    states.wait_for(State.CONNECTED, 2)
    assert states.seen == [State.SUSPENDED, State.CONNECTED] * 2
    assert zk.session_id == sid and zk.state == State.CONNECTED


def test_requests_queued_while_disconnected_wait_at_most_one_session_timeout(
        proxy: TcpProxy, base: str, clients: Callable[..., Any]) -> None:
    zk = clients(proxy.hosts + base, session_timeout=2.0)
    states = States(zk)
    proxy.refuse(True)
    proxy.drop_all()
    states.wait_for(State.SUSPENDED)
    queued = zk.get_async("/")
    err = failed_with(queued, ConnectionLossError, timeout=15)
    assert "session timeout" in str(err)
    # still trying meanwhile (LOST: no server for a session timeout)
    assert zk.state in (State.SUSPENDED, State.LOST) and proxy.connections_refused >= 1
    proxy.refuse(False)
    states.wait_for(State.CONNECTED)  # (likely in a new session: the server expires the old one)
    assert zk.exists("/") is not None


# ---------------------------------------------------------------------------- 3. watch replay


def test_watches_fire_for_changes_made_while_disconnected(server: ZooKeeperServer, proxy: TcpProxy,
                                                          base: str, clients: Callable[..., Any]
                                                          ) -> None:
    other = clients(server.hosts + base)
    for p in ("/data", "/kids", "/gone", "/rec", "/rec/a", "/still"):
        other.create(p, b"0")
    zk = clients(proxy.hosts + base, session_timeout=3.0)
    states = States(zk)
    data_w, kids_w, exist_w, gone_w, rec_w, still_w = (EventLog() for _ in range(6))
    zk.get("/still", watch=still_w)  # unchanged: must not fire (SetWatches uses the last zxid)
    zk.get_children("/still", watch=still_w)
    zk.get("/data", watch=data_w)
    zk.get_children("/kids", watch=kids_w)
    assert zk.exists("/later", watch=exist_w) is None
    zk.exists("/gone", watch=gone_w)
    zk.add_watch("/rec", rec_w, recursive=True)

    proxy.refuse(True)
    proxy.drop_all()
    states.wait_for(State.SUSPENDED)
    other.set("/data", b"1")
    other.create("/kids/k")
    other.create("/later")
    other.delete("/gone")
    other.set("/rec/a", b"1")  # persistent watches are re-added, not replayed (see below)
    proxy.refuse(False)
    states.wait_for(State.CONNECTED)

    assert data_w.wait(1)[0] == (EventType.NODE_DATA_CHANGED, State.CONNECTED, "/data", None)
    assert kids_w.wait(1)[0][:3] == (EventType.NODE_CHILDREN_CHANGED, State.CONNECTED, "/kids")
    assert exist_w.wait(1)[0][:3] == (EventType.NODE_CREATED, State.CONNECTED, "/later")
    assert gone_w.wait(1)[0][:3] == (EventType.NODE_DELETED, State.CONNECTED, "/gone")

    # The persistent recursive watch is back on the server: the next change fires it.
    other.create("/rec/a/b")
    other.set("/rec/a", b"2")
    other.delete("/rec/a/b")
    got = [(e.type, e.path) for e in rec_w.wait(3)]
    # ZooKeeper re-adds persistent watches on SetWatches2 without replaying what they
    # missed (DataTree.setWatches), so a change made while disconnected may be absent.
    assert got[-3:] == [(EventType.NODE_CREATED, "/rec/a/b"), (EventType.NODE_DATA_CHANGED, "/rec/a"),
                        (EventType.NODE_DELETED, "/rec/a/b")]
    assert got[:-3] in ([], [(EventType.NODE_DATA_CHANGED, "/rec/a")])

    # One-shot watches fired once: further changes do not fire them again.
    other.set("/data", b"2")
    other.create("/kids/k2")
    other.delete("/later")
    marker = EventLog()  # notifications arrive in zxid order: the marker's comes last
    zk.exists("/marker", watch=marker)
    other.create("/marker")
    marker.wait(1)
    assert [len(w.events) for w in (data_w, kids_w, exist_w, gone_w)] == [1, 1, 1, 1]
    assert still_w.events == []
    assert zk._engine.watches.snapshot()[:3] == ([base + "/still"], [], [base + "/still"])


def test_many_watches_are_replayed_in_several_set_watches_batches(
        server: ZooKeeperServer, proxy: TcpProxy, base: str, clients: Callable[..., Any]) -> None:
    other = clients(server.hosts + base)
    zk = clients(proxy.hosts + base, session_timeout=4.0)
    states = States(zk)
    names = [f"/{i:04d}-" + "x" * 120 for i in range(1500)]  # > 128 KiB of paths in all
    ev = EventLog()
    futs = [zk.exists_async(n, watch=ev) for n in names]
    assert all(f.result(10) is None for f in futs)
    assert len(zk._engine._set_watches_frames()) >= 2
    proxy.refuse(True)
    proxy.drop_all()
    states.wait_for(State.SUSPENDED)
    changed = names[::300] + [names[-1]]
    for n in changed:
        other.create(n)
    proxy.refuse(False)
    states.wait_for(State.CONNECTED)
    got = ev.wait(len(changed))
    assert sorted(e.path for e in got) == sorted(changed)
    assert all(e.type == EventType.NODE_CREATED for e in got)
    # the rest are still registered on the server: a later create fires too
    other.create(names[1])
    assert ev.wait(len(changed) + 1)[-1].path == names[1]


# ---------------------------------------------------------------------------- 4. blackhole


def test_blackholed_connection_is_detected_within_the_read_timeout(
        server: ZooKeeperServer, base: str, clients: Callable[..., Any]) -> None:
    with TcpProxy(server.host, server.port) as p1, TcpProxy(server.host, server.port) as p2:
        proxies = {p1.port: p1, p2.port: p2}
        zk = clients(f"{p1.hosts},{p2.hosts}{base}", session_timeout=4.0)
        states = States(zk)
        other = clients(server.hosts + base)
        other.create("/w", b"0")
        ev = EventLog()
        zk.get("/w", watch=ev)
        sid = zk.session_id
        assert zk.server is not None
        first = proxies[zk.server[1]]
        read_timeout = zk.negotiated_session_timeout * 2 / 3

        t0 = time.monotonic()
        first.blackhole()
        states.wait_for(State.SUSPENDED, timeout=read_timeout + 3)
        detected = time.monotonic() - t0
        assert detected < read_timeout + 3, detected
        states.wait_for(State.CONNECTED, timeout=10)
        assert zk.server is not None and zk.server[1] != first.port  # the other proxy
        assert zk.session_id == sid
        other.set("/w", b"1")
        assert ev.wait(1)[0][:3] == (EventType.NODE_DATA_CHANGED, State.CONNECTED, "/w")
        assert zk.get("/w")[0] == b"1"
        first.blackhole(False)


def test_blackhole_then_heal_on_a_single_server(proxy: TcpProxy, base: str,
                                                clients: Callable[..., Any]) -> None:
    zk = clients(proxy.hosts + base, session_timeout=3.0)
    states = States(zk)
    zk.create("/w")
    ev = EventLog()
    zk.exists("/w", watch=ev)
    sid = zk.session_id
    t0 = time.monotonic()
    proxy.blackhole()
    fut = zk.get_async("/w")  # in flight on the dead connection
    failed_with(fut, ConnectionLossError, timeout=2 + 3)
    states.wait_for(State.SUSPENDED)
    assert time.monotonic() - t0 < 2 + 3
    proxy.blackhole(False)  # a reconnect attempt held meanwhile goes through (or is retried)
    states.wait_for(State.CONNECTED)
    assert zk.session_id == sid
    zk.set("/w", b"x")
    assert ev.wait(1)[0].type == EventType.NODE_DATA_CHANGED


# ---------------------------------------------------------------------------- 5. expiry


def test_session_expiry_ends_watches_and_starts_a_new_session(
        server: ZooKeeperServer, proxy: TcpProxy, base: str, clients: Callable[..., Any]) -> None:
    zk = clients(proxy.hosts + base, session_timeout=3.0)
    states = States(zk)
    other = clients(server.hosts + base)
    other.create("/d", b"0")
    zk.create("/eph", ephemeral=True)
    data_w, exist_w, child_w, rec_w = (EventLog() for _ in range(4))
    zk.get("/d", watch=data_w)
    zk.exists("/nothing", watch=exist_w)
    zk.get_children("/d", watch=child_w)
    zk.add_watch("/d", rec_w, recursive=True)
    sid, passwd = zk.client_id
    assert passwd is not None

    proxy.refuse(True)  # the client cannot reconnect until we let it
    assert expire_session(server.hosts, sid, passwd)
    states.wait_for(State.SUSPENDED)
    queued = [zk.get_async("/d"), zk.create_async("/x")]
    wait_until(lambda: proxy.connections_refused >= 1)
    assert not any(f.done() for f in queued)
    proxy.refuse(False)

    states.wait_for(State.EXPIRED)
    for f in queued:
        failed_with(f, SessionExpiredError, ConnectionLossError)
    for w in (data_w, exist_w, child_w, rec_w):
        evs = w.wait(1)
        assert len(evs) == 1 and evs[0].type == EventType.NOT_WATCHING, evs
        assert isinstance(evs[0].error, SessionExpiredError)
    assert {e.path for w in (data_w, child_w, rec_w) for e in w.events} == {"/d"}
    assert exist_w.events[0].path == "/nothing"

    states.wait_for(State.CONNECTED)
    assert states.seen == [State.SUSPENDED, State.EXPIRED, State.CONNECTING, State.CONNECTED]
    assert zk.session_id not in (0, sid)
    assert other.exists("/eph") is None  # the old session's ephemeral is gone
    zk.create("/eph", ephemeral=True)  # the new session works
    assert other.exists("/eph").ephemeral_owner == zk.session_id
    # Old watches are gone: a change fires nothing.
    other.set("/d", b"1")
    marker = EventLog()
    zk.exists("/marker", watch=marker)
    other.create("/marker")
    marker.wait(1)
    assert [len(w.events) for w in (data_w, exist_w, child_w, rec_w)] == [1, 1, 1, 1]


# ---------------------------------------------------------------------------- 6. restart


@pytest.mark.parametrize("kill", [False, True], ids=["stop", "kill-9"])
def test_session_survives_a_server_restart(kill: bool, server: ZooKeeperServer, base: str,
                                           clients: Callable[..., Any]) -> None:
    zk = clients(server.hosts + base, session_timeout=10.0)
    states = States(zk)
    zk.create("/eph", b"mine", ephemeral=True)
    ev = EventLog()
    zk.get("/eph", watch=ev)
    sid = zk.session_id
    server.restart(kill=kill)  # SIGTERM or SIGKILL; same ports and data
    states.wait_for(State.CONNECTED, timeout=15)
    assert states.seen == [State.SUSPENDED, State.CONNECTED]
    assert zk.session_id == sid
    value, stat = zk.get("/eph")
    assert value == b"mine" and stat.ephemeral_owner == sid
    with Client(server.hosts + base) as other:
        other.set("/eph", b"changed")
    assert ev.wait(1)[0].type == EventType.NODE_DATA_CHANGED


def test_a_silent_server_does_not_use_up_the_session_timeout(proxy: TcpProxy, base: str,
                                                             clients: Callable[..., Any]) -> None:
    # ZooKeeper can accept a connection and then neither answer nor close it: one taken
    # between binding its port and loading its database, i.e. while it restarts (an NPE
    # in ZooKeeperServer.removeCnxn, ZOOKEEPER-5051). Waiting the whole session timeout
    # for that ConnectResponse left no time to resume the session once the server was
    # up: the restarted server had expired it by then (the restart test's flake).
    tarpit = socket.socket()
    tarpit.bind(("127.0.0.1", 0))
    tarpit.listen(8)  # never accepted: connects complete and nothing is ever said
    silent = threading.Event()
    calls: List[float] = []

    def connect(addr: Any, timeout: float) -> socket.socket:
        calls.append(time.monotonic())
        if silent.is_set():
            silent.clear()
            return socket.create_connection(tarpit.getsockname(), timeout=timeout)
        return socket.create_connection(addr, timeout=timeout)

    try:
        zk = clients(proxy.hosts + base, session_timeout=4.0, connect=connect)
        states = States(zk)
        sid = zk.session_id
        silent.set()
        n = len(calls)
        proxy.drop_all()
        states.wait_for(State.CONNECTED, timeout=10)
        assert calls[n + 1] - calls[n] < 0.6 * 4.0, "the silent connect held on too long"
        assert states.seen == [State.SUSPENDED, State.CONNECTED]
        assert zk.session_id == sid
    finally:
        tarpit.close()


# ---------------------------------------------------------------------------- 7. auth


def test_auth_is_replayed_after_a_reconnect(server: ZooKeeperServer, proxy: TcpProxy, base: str,
                                            clients: Callable[..., Any]) -> None:
    zk = clients(proxy.hosts + base, session_timeout=3.0)
    states = States(zk)
    zk.add_auth("digest", "bob:secret")
    zk.create("/private", b"s3cret", acl=[digest_acl(Perm.ALL, "bob", "secret")])
    assert zk.get("/private")[0] == b"s3cret"
    with Client(server.hosts + base) as stranger:
        with pytest.raises(zkfast.NoAuthError):
            stranger.get("/private")
    sid = zk.session_id
    for n in (1, 2):
        proxy.drop_all()
        states.wait_for(State.CONNECTED, n)
        assert zk.get("/private")[0] == b"s3cret"
    assert zk.session_id == sid
    assert ("digest", "bob") in {(i.auth_scheme, i.user) for i in zk.whoami()}


def test_unknown_auth_scheme_fails_the_client(proxy: TcpProxy, base: str,
                                              clients: Callable[..., Any]) -> None:
    # ZooKeeper accepts any digest credential; it fails auth only for a scheme it has
    # no provider for: a reply with err -115 (AUTHFAILED), then it closes the
    # connection. Like the Java client, zkfast treats that as terminal.
    zk = clients(proxy.hosts + base, session_timeout=3.0)
    states = States(zk)
    zk.create("/n")
    with pytest.raises(AuthFailedError):
        zk.add_auth("nosuchscheme", "whatever")
    states.wait_for(State.AUTH_FAILED, timeout=5)
    assert zk.state == State.AUTH_FAILED
    # A dead session does not swallow calls: they fail at once, typed.
    for call in (lambda: zk.get("/n"), lambda: zk.get_async("/n").result(5)):
        with pytest.raises(AuthFailedError):
            call()
    assert zk.wait_connected(0.5) is False
    t0 = time.monotonic()
    zk.close()
    assert time.monotonic() - t0 < 3 and zk.state == State.CLOSED


# ---------------------------------------------------------------------------- 8. TLS


def test_tls_connection(zk_tls_server: ZooKeeperServer, zk_chroot: str,
                        clients: Callable[..., Any]) -> None:
    ctx = zk_tls_server.ssl_context()
    zk = clients(zk_tls_server.secure_hosts, ssl_context=ctx)
    assert tls_peer_cert(zk)
    zk.ensure_path(zk_chroot)
    ev = EventLog()
    zk.create(zk_chroot + "/n", b"over tls")
    assert zk.get(zk_chroot + "/n", watch=ev)[0] == b"over tls"
    with Client(zk_tls_server.hosts) as plain:  # the same data on the plain port
        plain.set(zk_chroot + "/n", b"changed")
    assert ev.wait(1)[0][:3] == (EventType.NODE_DATA_CHANGED, State.CONNECTED, zk_chroot + "/n")
    # bigger than one TLS record, pipelined
    big = bytes(range(256)) * 400
    zk.set(zk_chroot + "/n", big)
    futs = [zk.get_async(zk_chroot + "/n") for _ in range(50)]
    assert all(f.result(10)[0] == big for f in futs)
    zk.delete(zk_chroot, recursive=True)


def test_tls_with_an_untrusted_server_fails_to_start(zk_tls_server: ZooKeeperServer,
                                                     clients: Callable[..., Any]) -> None:
    untrusting = ssl.create_default_context()  # system CAs only: not the test CA
    zk = clients(zk_tls_server.secure_hosts, ssl_context=untrusting, start=False,
                 connection_timeout=1.0)
    with pytest.raises(WaitTimeoutError, match="CERTIFICATE_VERIFY_FAILED"):
        zk.start(timeout=3)
    assert isinstance(zk.last_error, ssl.SSLCertVerificationError)
    assert zk.state == State.CLOSED
    wait_until(lambda: not workers_alive(zk), timeout=5)


# ---------------------------------------------------------------------------- fake server


def _frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return buf


class FakeServer:
    """Just enough of a ZooKeeper server on loopback to misbehave on purpose.

    Every connection gets a correct ConnectResponse (after ``connect_delay``
    seconds; or is closed at once in mode "down"); pings are answered (and
    counted). Each other request is answered as ``mode`` says: "ok" (err NoNode,
    or success for closeSession), or one of the corruptions in :meth:`corrupt`.
    ``isro`` is answered with ``isro``. Every session gets ``session_timeout_ms``.
    """

    def __init__(self, mode: str = "ok", isro: bytes = b"rw", *, connect_delay: float = 0.0,
                 session_timeout_ms: int = 2000) -> None:
        self.mode = mode
        self.isro = isro
        self.connect_delay = connect_delay
        self.session_timeout_ms = session_timeout_ms
        self.connects: List[tuple] = []  # (session_id, passwd, read_only) per ConnectRequest
        self.requests = 0
        # Like a real server, the fake has a last zxid and (with check_zxid)
        # refuses a client that claims to have seen a later one: the session is
        # then locked out.
        self.zxid = 100
        self.check_zxid = False
        self.refused_zxids: List[int] = []
        self.pings = 0
        self._sid = 0x5A5A000000000000
        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind(("127.0.0.1", 0))
        self._lsock.listen(16)
        self.port = self._lsock.getsockname()[1]
        self.hosts = f"127.0.0.1:{self.port}"
        self._conns: List[socket.socket] = []
        self._stop = False
        self._thread = threading.Thread(target=self._accept_loop, name="fake-zk", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop = True
        try:
            self._lsock.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone does not)
        except OSError:
            pass
        self._lsock.close()
        self.drop_all()
        self._thread.join(5)
        assert not self._thread.is_alive(), "the fake server's accept loop did not end"

    def drop_all(self) -> None:
        """Close every client connection now."""
        for c in list(self._conns):
            _close_quietly(c)

    def __enter__(self) -> "FakeServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._lsock.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), name="fake-zk-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            with conn:
                head = _recv_exact(conn, 4)
                if head == b"isro":
                    conn.sendall(self.isro)
                    return
                if self.mode == "down":
                    return
                (n,) = struct.unpack(">i", head)
                body = _recv_exact(conn, n)
                _pv, last_zxid, _timeout, sid, plen = struct.unpack_from(">iqiqi", body)
                if self.check_zxid and last_zxid > self.zxid:
                    self.refused_zxids.append(last_zxid)
                    return  # "has seen zxid ..., our last zxid is ...": hang up
                passwd = body[28:28 + plen]
                ro = bool(body[28 + plen]) if len(body) > 28 + plen else False
                self.connects.append((sid, passwd, ro))
                if sid == 0:
                    self._sid += 1
                    sid, passwd = self._sid, b"\x07" * 16
                if self.connect_delay:
                    time.sleep(self.connect_delay)  # a server slow to answer (busy, loading)
                conn.sendall(_frame(struct.pack(">iiqi", 0, self.session_timeout_ms, sid, 16)
                                    + passwd + b"\x00"))
                while not self._stop:
                    (n,) = struct.unpack(">i", _recv_exact(conn, 4))
                    req = _recv_exact(conn, n)
                    xid, op = struct.unpack_from(">ii", req)
                    if op == 11:  # ping
                        self.pings += 1
                        conn.sendall(_frame(struct.pack(">iqi", -2, self.zxid, 0)))
                        continue
                    self.requests += 1
                    self.zxid += 1
                    zxid = self.zxid
                    mode = self.mode
                    if mode == "ok":
                        err = 0 if op == -11 else -101
                        conn.sendall(_frame(struct.pack(">iqi", xid, zxid, err)))
                        if op == -11:
                            return
                        continue
                    if not self.corrupt(conn, mode, xid, zxid):
                        return
        except (OSError, struct.error, IndexError):
            pass
        finally:
            if conn in self._conns:
                self._conns.remove(conn)

    @staticmethod
    def corrupt(conn: socket.socket, mode: str, xid: int, zxid: int) -> bool:
        """Send one hostile answer to request ``xid``; True to keep the connection."""
        header = struct.pack(">iqi", xid, zxid, 0)
        if mode == "negative_length":
            conn.sendall(struct.pack(">i", -7) + b"\x00" * 32)
            return True  # the client must hang up itself
        if mode == "short_frame":
            conn.sendall(_frame(b"\x00" * 8))
            return True
        if mode == "oversize":
            # A 2 GiB frame for this request; 4 MiB of it, then silence: the client
            # must fail the request without buffering it, then time out the connection.
            conn.sendall(struct.pack(">i", 0x7FFFFFF0) + header)
            chunk = b"\xab" * 65536
            for _ in range(64):
                conn.sendall(chunk)
            return True
        if mode == "lying_length":
            # getData reply whose data buffer claims far more bytes than the frame holds
            conn.sendall(_frame(header + struct.pack(">i", 0x7FFFFF00) + b"\x01" * 40))
            return True
        if mode == "bad_utf8":
            # getChildren reply with a name that is not UTF-8
            conn.sendall(_frame(header + struct.pack(">ii", 1, 2) + b"\xff\xfe"))
            return True
        if mode == "ok_then_unknown_xid":
            # a good reply and, in the same write, one for a request never sent,
            # claiming a zxid far beyond the server's: adopting it would lock the
            # session out (the fake refuses such reconnects, as ZooKeeper does)
            conn.sendall(_frame(struct.pack(">iqi", xid, zxid, -101))
                         + _frame(struct.pack(">iqi", xid + 1000, POISON_ZXID, -101)))
            return True
        if mode == "unknown_xid":
            conn.sendall(_frame(struct.pack(">iqi", xid + 1000, POISON_ZXID, 0) + struct.pack(">i", -1)
                                + b"\x00" * 68))
            return True
        if mode == "random":
            rng = random.Random(xid)
            conn.sendall(bytes(rng.getrandbits(8) for _ in range(3000)))
            return False
        if mode == "truncated":
            conn.sendall(_frame(header + b"\x00" * 100)[:50])
            return False
        raise AssertionError(f"unknown mode {mode}")


def _close_quietly(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


def call_error(fn: Callable[[], Any], timeout: float = 10.0) -> Optional[BaseException]:
    """The ZooKeeperError ``fn`` raises (None if it returns); fails the test on a hang."""
    try:
        call_with_timeout(fn, timeout)
    except ZooKeeperError as e:
        return e
    return None


def call_with_timeout(fn: Callable[[], Any], timeout: float) -> Any:
    """Run ``fn`` on a helper thread; fail the test (not hang) if it takes longer."""
    box: List[Any] = []

    def run() -> None:
        try:
            box.append((True, fn()))
        except BaseException as e:  # noqa: BLE001
            box.append((False, e))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert box, f"call did not return within {timeout}s"
    ok, value = box[0]
    if not ok:
        raise value
    return value


# ---------------------------------------------------------------------------- 9. read-only


@pytest.fixture(scope="module")
def ro_ensemble() -> Iterator[Ensemble]:
    with Ensemble(3, read_only=True, tick_time=500) as e:
        yield e


def _zxid(server: ZooKeeperServer) -> Optional[str]:
    try:
        m = re.search(r"^Zxid: (0x[0-9a-f]+)", server.four_letter("srvr", 2.0), re.MULTILINE)
    except OSError:
        return None
    return m.group(1) if m else None


def _minority(e: Ensemble) -> ZooKeeperServer:
    """Leave member 2 alone and read-only (members 0 and 1 killed), with /ro on it.
    A no-op when an earlier test left the ensemble that way."""
    survivor = e[2]
    if not e[0].running and not e[1].running and survivor.mode() == "read-only":
        return survivor
    e.ensure_running()
    with Client(e.hosts) as admin:
        if admin.exists("/ro") is None:
            admin.create("/ro", b"data")
    # Kill only quiet members: a member killed while it writes its transaction log
    # can leave a log file without a header, and then it never starts again.
    wait_until(lambda: len({_zxid(s) for s in e}) == 1 and None not in {_zxid(s) for s in e},
               timeout=30, interval=0.1)
    for i in (0, 1):
        e.kill(i)
    wait_until(lambda: survivor.mode() == "read-only", timeout=30, interval=0.1)
    return survivor


def test_read_only_mode_on_a_minority_server(ro_ensemble: Ensemble, clients: Callable[..., Any]
                                             ) -> None:
    survivor = _minority(ro_ensemble)

    zk = clients(survivor.hosts, read_only=True, session_timeout=4.0)
    assert zk.state == State.CONNECTED_READ_ONLY
    assert zk.get("/ro")[0] in (b"data", b"written")
    assert "ro" in zk.get_children("/")
    assert zk.exists("/ro", watch=EventLog()) is not None
    with pytest.raises(NotReadOnlyError):
        zk.create("/ro/x")
    with pytest.raises(NotReadOnlyError):
        zk.set("/ro", b"other")
    assert zk.state == State.CONNECTED_READ_ONLY  # a refused write does not break the session

    rw = clients(survivor.hosts, start=False, session_timeout=4.0, connection_timeout=1.0)
    with pytest.raises(WaitTimeoutError):
        rw.start(timeout=2)

    # The read-only client keeps looking for a read-write server (isro probes) and
    # moves to one when it appears, asking for a new (global) session there.
    with FakeServer(mode="down", isro=b"ro") as fake:
        seeker = clients(f"{survivor.hosts},{fake.hosts}", read_only=True, session_timeout=4.0)
        states = States(seeker)
        assert seeker.state == State.CONNECTED_READ_ONLY and seeker.server[1] == survivor.port
        ro_session = seeker.session_id
        fake.mode, fake.isro = "ok", b"rw"
        states.wait_for(State.CONNECTED, timeout=10)
        assert seeker.server == ("127.0.0.1", fake.port)
        assert fake.connects[-1][0] == 0  # not the read-only server's local session
        assert seeker.session_id != ro_session
        with pytest.raises(NoNodeError):  # the fake answers everything with NoNode
            seeker.get("/anything")
        assert states.seen == [State.SUSPENDED, State.CONNECTED]


def test_read_only_client_moves_to_the_quorum_when_it_returns(ro_ensemble: Ensemble,
                                                              clients: Callable[..., Any]) -> None:
    _minority(ro_ensemble)
    zk = clients(ro_ensemble.hosts, read_only=True, session_timeout=4.0, start_timeout=30)
    states = States(zk)
    assert zk.state == State.CONNECTED_READ_ONLY
    for i in (0, 1):
        ro_ensemble.start(i, wait=False)
    states.wait_for(State.CONNECTED, timeout=60)
    # no EXPIRED: the read-only server's local session is not offered to the quorum
    assert State.EXPIRED not in states.seen
    zk.set("/ro", b"written")
    assert zk.get("/ro")[0] == b"written"
    ro_ensemble.wait_for_quorum(60, need_all=True)


# ---------------------------------------------------------------------------- 10. closing


@pytest.mark.parametrize("stuck", [False, True], ids=["live", "blackholed"])
def test_close_with_a_thousand_requests_in_flight(stuck: bool, proxy: TcpProxy, base: str,
                                                  clients: Callable[..., Any]) -> None:
    zk = clients(proxy.hosts + base, session_timeout=3.0)
    zk.create("/n", b"x" * 100)
    if stuck:
        proxy.blackhole()  # nothing will ever answer: close must not wait for it
    futs = [zk.get_async("/n") for _ in range(1000)]
    t0 = time.monotonic()
    zk.close()
    assert time.monotonic() - t0 < 5
    for f in futs:
        exc = f.exception(timeout=1)  # all done already; the timeout only guards a hang
        assert exc is None or isinstance(exc, (ClosedError, ConnectionLossError)), exc
        if exc is None:
            assert f.result()[0] == b"x" * 100
    if stuck:
        assert all(f.exception(0) is not None for f in futs)
    assert zk.state == State.CLOSED
    wait_until(lambda: not workers_alive(zk), timeout=5)
    with pytest.raises(ClosedError):
        zk.get_async("/n")
    proxy.blackhole(False)


def test_close_while_disconnected_fails_queued_requests(proxy: TcpProxy, base: str,
                                                        clients: Callable[..., Any]) -> None:
    zk = clients(proxy.hosts + base, session_timeout=3.0)
    states = States(zk)
    proxy.refuse(True)
    proxy.drop_all()
    states.wait_for(State.SUSPENDED)
    futs = [zk.get_async("/") for _ in range(100)]
    t0 = time.monotonic()
    zk.close()
    assert time.monotonic() - t0 < 3
    for f in futs:
        failed_with(f, ClosedError, timeout=1)
    wait_until(lambda: not workers_alive(zk), timeout=5)


def test_close_during_a_reconnect_handshake_ends_it(clients: Callable[..., Any]) -> None:
    with FakeServer() as fake:
        zk = clients(fake.hosts, session_timeout=6.0, connection_timeout=3.0)
        states = States(zk)
        fake.connect_delay = 1.5  # from now on the server is slow to answer a ConnectRequest
        reconnects = len(fake.connects)
        fake.drop_all()
        wait_until(lambda: len(fake.connects) > reconnects)  # the reconnect's handshake is under way
        seen_before_close = len(states.seen)
        zk.close()
        assert states.seen[:seen_before_close] == [State.SUSPENDED]
        assert states.seen[seen_before_close:] == [State.CLOSED]


def test_a_call_before_start_fails_at_once(server: ZooKeeperServer, clients: Callable[..., Any]) -> None:
    zk = clients(server.hosts, start=False)
    with pytest.raises(ClosedError):
        zk.exists_async("/")
    with pytest.raises(ClosedError):
        call_with_timeout(lambda: zk.exists("/"), 10)
    zk.start()  # the client itself is fine
    assert zk.exists("/") is not None


# ---------------------------------------------------------------------------- 11. threads


def _drop_twice_under_load(proxy: TcpProxy, states: States, progress: List[int]) -> None:
    """Twice: let the workers make 200 calls, drop every connection, wait for the
    reconnect; then 200 calls more."""
    for n in (1, 2):
        mark = sum(progress)
        wait_until(lambda m=mark: sum(progress) >= m + 200, timeout=30)
        proxy.drop_all()
        states.wait_for(State.CONNECTED, n, timeout=15)
    mark = sum(progress)
    wait_until(lambda: sum(progress) >= mark + 200, timeout=30)


@pytest.mark.parametrize("kind", ["sync"])  # threads sharing one Client; tasks on an AsyncClient below
def test_many_threads_share_a_client_across_connection_drops(proxy: TcpProxy, base: str,
                                                             clients: Callable[..., Any]) -> None:
    zk = clients(proxy.hosts + base, session_timeout=4.0)
    states = States(zk)
    stop = threading.Event()
    progress = [0] * 8
    unexpected: List[BaseException] = []
    typed: List[BaseException] = []

    def worker(i: int) -> None:
        path = f"/w{i}"
        rng = random.Random(i)
        try:
            while not stop.is_set():
                try:
                    op = rng.randrange(6)
                    if op == 0:
                        zk.ensure_path(path)
                    elif op == 1:
                        zk.set(path, str(progress[i]).encode())
                    elif op == 2:
                        zk.get(path)
                    elif op == 3:
                        futs = [zk.get_async(path) for _ in range(20)]
                        for f in futs:
                            f.result(15)  # WaitTimeoutError (a hang) is not a ZooKeeperError
                    elif op == 4:
                        futs = [zk.exists_async(path), zk.get_children_async("/"),
                                zk.create_async(f"{path}-s", sequence=True, ephemeral=True)]
                        for f in futs:
                            f.result(15)
                    else:
                        zk.exists(path, watch=lambda e: None)
                    progress[i] += 1
                except WaitTimeoutError as e:
                    unexpected.append(e)
                    return
                except NoNodeError:
                    progress[i] += 1  # set/get racing the first ensure_path
                except ZooKeeperError as e:
                    typed.append(e)
        except BaseException as e:  # noqa: BLE001
            unexpected.append(e)

    threads = [threading.Thread(target=worker, args=(i,), name=f"worker-{i}") for i in range(8)]
    for t in threads:
        t.start()
    try:
        _drop_twice_under_load(proxy, states, progress)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not any(t.is_alive() for t in threads), "a worker hangs"
    assert not unexpected, unexpected[:5]
    assert all(isinstance(e, ConnectionLossError) for e in typed), typed[:5]
    assert all(p > 0 for p in progress), progress
    assert states.seen == [State.SUSPENDED, State.CONNECTED] * 2
    assert zk.state == State.CONNECTED
    zk.sync("/")


@pytest.mark.parametrize("kind", ["async"])  # the asyncio twin of the threads scenario above
def test_many_tasks_share_an_async_client_across_connection_drops(proxy: TcpProxy, base: str,
                                                                  clients: Callable[..., Any]) -> None:
    zk = clients(proxy.hosts + base, session_timeout=4.0)
    states = States(zk)
    stop = threading.Event()
    progress = [0] * 8
    unexpected: List[BaseException] = []
    typed: List[BaseException] = []

    async def first_error(*calls: Any) -> None:
        # all of them pipelined; raise the first failure, as a loop over futures would
        for r in await asyncio.gather(*calls, return_exceptions=True):
            if isinstance(r, BaseException):
                raise r

    async def one_op(c: AsyncClient, i: int, op: int) -> None:
        path = f"/w{i}"
        if op == 0:
            await c.ensure_path(path)
        elif op == 1:
            await c.set(path, str(progress[i]).encode())
        elif op == 2:
            await c.get(path)
        elif op == 3:
            await first_error(*(c.get(path) for _ in range(20)))
        elif op == 4:
            await first_error(c.exists(path), c.get_children("/"),
                              c.create(f"{path}-s", sequence=True, ephemeral=True))
        else:
            await c.exists(path, watch=lambda e: None)

    async def worker(c: AsyncClient, i: int) -> None:
        rng = random.Random(i)
        try:
            while not stop.is_set():
                try:
                    # a hang is an asyncio.TimeoutError, not a ZooKeeperError
                    await asyncio.wait_for(one_op(c, i, rng.randrange(6)), 15)
                    progress[i] += 1
                except asyncio.TimeoutError as e:
                    unexpected.append(e)
                    return
                except NoNodeError:
                    progress[i] += 1  # set/get racing the first ensure_path
                except ZooKeeperError as e:
                    typed.append(e)
        except BaseException as e:  # noqa: BLE001
            unexpected.append(e)

    async def workers(c: AsyncClient) -> None:
        await asyncio.gather(*(worker(c, i) for i in range(8)))

    running = zk.spawn(workers)
    try:
        _drop_twice_under_load(proxy, states, progress)
    finally:
        stop.set()
        running.result(30)  # concurrent.futures.TimeoutError here: a worker hangs
    assert not unexpected, unexpected[:5]
    assert all(isinstance(e, ConnectionLossError) for e in typed), typed[:5]
    assert all(p > 0 for p in progress), progress
    assert states.seen == [State.SUSPENDED, State.CONNECTED] * 2
    assert zk.state == State.CONNECTED
    zk.sync("/")


# ---------------------------------------------------------------------------- 12. hostile bytes


CORRUPTIONS = ["negative_length", "short_frame", "oversize", "lying_length", "bad_utf8",
               "unknown_xid", "ok_then_unknown_xid", "random", "truncated"]


def test_corrupt_server_stream(clients: Callable[..., Any]) -> None:
    with FakeServer() as fake:
        fake.check_zxid = True
        zk = clients(fake.hosts, session_timeout=2.0, max_buffer_size=64 * 1024)
        states = States(zk)
        sid = zk.session_id
        with pytest.raises(NoNodeError):
            zk.get("/x")
        for n, mode in enumerate(CORRUPTIONS, 1):
            fake.mode = mode
            # The typed errors a request may get: the connection's loss, its own
            # reply too large (it was skipped), or its real answer when that
            # came before the corruption.
            allowed = (ConnectionLossError, ResponseTooLargeError) + (
                (NoNodeError,) if mode.startswith("ok_") else ())
            # pipelined async calls and one sync call (which reads its own reply)
            futs = [zk.get_async("/x"), zk.get_children_async("/"), zk.exists_async("/y")]
            with pytest.raises(ZooKeeperError) as ei:
                call_with_timeout(lambda: zk.get("/x"), 10)
            assert isinstance(ei.value, allowed), (mode, ei.value)
            for i, f in enumerate(futs):
                exc = f.exception(10)
                if exc is None and i == 2 and mode.startswith("ok_"):
                    # exists(): when its real answer (NoNode) came before the
                    # corruption, that answer is None, not an exception
                    assert f.result() is None
                    continue
                assert isinstance(exc, allowed), (mode, i, exc, exc or f.result())
            if mode == "ok_then_unknown_xid":
                assert isinstance(futs[0].exception(), NoNodeError)
            fake.mode = "ok"
            states.wait_for(State.CONNECTED, n, timeout=10)
            # Usable again. (A corruption may cost more than one connection, so the
            # first call can still meet the tail of it; a clean reply proves the
            # stream is sane from there on.)
            wait_until(lambda: isinstance(call_error(lambda: zk.get("/x")), NoNodeError), timeout=15)
            assert connection_loop_alive(zk)
        assert zk.session_id == sid  # the fake keeps the session, so does the client
        assert all(c[0] == sid for c in fake.connects[1:])
        assert fake.refused_zxids == []  # no forged zxid was adopted
        assert zk._engine.reader.buffered <= 64 * 1024


def test_reply_larger_than_max_buffer_size(server: ZooKeeperServer, base: str,
                                           clients: Callable[..., Any]) -> None:
    writer = clients(server.hosts + base)
    writer.create("/big", b"b" * 20000)
    writer.create("/small", b"s")
    zk = clients(server.hosts + base, session_timeout=3.0, max_buffer_size=4096)
    states = States(zk)
    sid = zk.session_id
    futs = [zk.get_async("/small"), zk.get_async("/big"), zk.get_async("/small"),
            zk.get_children_async("/")]
    assert futs[0].result(5)[0] == b"s"
    err = failed_with(futs[1], ResponseTooLargeError)
    assert err.path == "/big" and err.size > 20000 and err.limit == 4096
    assert futs[2].result(5)[0] == b"s"
    assert sorted(futs[3].result(5)) == ["big", "small"]
    with pytest.raises(ResponseTooLargeError):
        zk.get("/big")  # the sync path too
    assert zk.get("/small")[0] == b"s"
    assert zk.state == State.CONNECTED and zk.session_id == sid and states.seen == []


def test_add_auth_queued_while_disconnected_gets_its_own_reply(proxy: TcpProxy, base: str,
                                                               clients: Callable[..., Any]) -> None:
    # The reconnect replays the session's auth first; those replies must not be
    # mistaken for the reply to an add_auth that was waiting for the connection.
    zk = clients(proxy.hosts + base, session_timeout=3.0, auth_data=[("digest", "bob:secret")])
    states = States(zk)
    proxy.refuse(True)
    proxy.drop_all()
    states.wait_for(State.SUSPENDED)
    box: List[BaseException] = []
    t = threading.Thread(target=lambda: box.append(
        pytest.raises(AuthFailedError, zk.add_auth, "nosuchscheme", "x").value))
    t.start()
    wait_until(lambda: zk._engine.queued_count == 1)
    proxy.refuse(False)
    t.join(10)
    assert not t.is_alive() and box, "add_auth returned without failing"
    states.wait_for(State.AUTH_FAILED)


class _FlakySocket(socket.socket):
    """A client socket whose second write raises while ``plan["armed"]`` (a
    connection that dies right after the ConnectResponse, while the handshake's
    frames go out); the first to do so disarms the plan and sets ``plan["fired"]``.
    Client writes with ``sendall``, AsyncClient's transport with ``send``."""

    plan: Dict[str, bool] = {}
    sends = 0

    def _count_send(self) -> None:
        self.sends += 1
        # 1: ConnectRequest; 2: auth replay + SetWatches + queued requests
        if self.sends == 2 and self.plan.get("armed"):
            self.plan["armed"], self.plan["fired"] = False, True
            self.shutdown(socket.SHUT_RDWR)
            raise BrokenPipeError(32, "injected: connection died during the handshake")

    def sendall(self, data: Any, *args: Any) -> None:  # type: ignore[override]
        self._count_send()
        super().sendall(data, *args)

    def send(self, data: Any, *args: Any) -> int:  # type: ignore[override]
        self._count_send()
        return super().send(data, *args)


def test_requests_sent_by_a_failed_handshake_do_not_hang(proxy: TcpProxy, base: str,
                                                         clients: Callable[..., Any]) -> None:
    plan = {"armed": False, "fired": False}

    def connect(addr: Any, timeout: float) -> socket.socket:
        raw = socket.create_connection(addr, timeout=timeout)
        s = _FlakySocket(fileno=raw.detach())
        s.settimeout(timeout)
        s.plan = plan
        return s

    zk = clients(proxy.hosts + base, session_timeout=3.0, connect=connect)
    states = States(zk)
    zk.create("/n", b"v")
    ev = EventLog()
    zk.get("/n", watch=ev)
    proxy.refuse(True)
    proxy.drop_all()
    states.wait_for(State.SUSPENDED)
    queued = [zk.get_async("/n") for _ in range(3)]
    plan["armed"] = True  # refused connections never get to a second write
    proxy.refuse(False)
    for f in queued:  # sent on the connection that died: lost, not forgotten
        exc = f.exception(10)
        assert exc is None or isinstance(exc, ConnectionLossError), exc
    states.wait_for(State.CONNECTED)
    assert plan["fired"], "no handshake failed"
    # AsyncClient may report CONNECTED for the connection whose write failed, then lose
    # it (asyncio reports write errors a moment later): a call may meet that loss once.
    wait_until(lambda: call_error(lambda: zk.get("/n")) is None, timeout=15)
    assert zk.get("/n")[0] == b"v"
    zk.set("/n", b"w")  # the watch made it through the second handshake
    assert ev.wait(1)[0].type == EventType.NODE_DATA_CHANGED
