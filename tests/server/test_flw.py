"""Four-letter words: parsers on captured ZooKeeper 3.8 output, a fake server
for the socket edge cases, and real servers from ``zkfast.testing``.

Real-server tests use the ``zk_server`` / ``zk_ensemble`` fixtures of
``zkfast.testing.pytest_plugin`` (enabled in tests/conftest.py).
"""

from __future__ import annotations

# Real-server fixtures (zk_server, zk_ensemble).  Remove this line once
# tests/conftest.py enables the plugin for the whole suite.

import socket
import struct
import threading
import time
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

import pytest

from zkfast import flw
from zkfast.flw import (
    FLWConnectionError,
    FLWError,
    FLWNotAllowedError,
    FLWNotServingError,
    FLWParseError,
    FLWTimeoutError,
    Mode,
    ServerClients,
    ServerStats,
    command,
    parse_cons,
    parse_mntr,
    parse_properties,
    parse_srvr,
)
from zkfast.hosts import format_address, parse_connect_string

# ---------------------------------------------------------------------------
# Captured replies (ZooKeeper 3.8.0, Debian package)
# ---------------------------------------------------------------------------

SRVR_STANDALONE = (
    "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n"
    "Latency min/avg/max: 1/3.6667/9\n"
    "Received: 15\n"
    "Sent: 14\n"
    "Connections: 2\n"
    "Outstanding: 0\n"
    "Zxid: 0x1\n"
    "Mode: standalone\n"
    "Node count: 5\n"
)

SRVR_LEADER = (
    "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n"
    "Latency min/avg/max: 0/0.0/0\n"
    "Received: 1\n"
    "Sent: 0\n"
    "Connections: 1\n"
    "Outstanding: 0\n"
    "Zxid: 0x100000000\n"
    "Mode: leader\n"
    "Node count: 5\n"
    "Proposal sizes last/min/max: -1/-1/-1\n"
)

SRVR_OLD = (  # ZooKeeper 3.4 style build date
    "Zookeeper version: 3.4.14-4c25d480e66aadd371de8bd2fd8da255ac140bcf, "
    "built on 03/06/2019 16:18 GMT\n"
    "Latency min/avg/max: 0/2/31\n"
    "Received: 7\n"
    "Sent: 6\n"
    "Connections: 1\n"
    "Outstanding: 0\n"
    "Zxid: 0x3000000a2\n"
    "Mode: follower\n"
    "Node count: 42\n"
)

STAT_STANDALONE = (
    "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n"
    "Clients:\n"
    " /127.0.0.1:53112[1](queued=0,recved=3,sent=3)\n"
    " /127.0.0.1:53134[0](queued=0,recved=1,sent=0)\n"
    "\n"
    "Latency min/avg/max: 1/3.6667/9\n"
    "Received: 15\n"
    "Sent: 15\n"
    "Connections: 2\n"
    "Outstanding: 0\n"
    "Zxid: 0x1\n"
    "Mode: standalone\n"
    "Node count: 5\n"
)

CONS = (
    " /127.0.0.1:53120[0](queued=0,recved=1,sent=0)\n"
    " /127.0.0.1:53112[1](queued=0,recved=3,sent=3,sid=0x1000001f4230000,lop=GETD,"
    "est=1795618738783,to=30000,lcxid=0x1,lzxid=0x1,lresp=134153,llat=1,minlat=0,"
    "avglat=3,maxlat=9)\n"
    "\n"
)

CONS_AFTER_CRST = (  # `crst` resets stats: lcxid disappears, lzxid becomes -1
    "\n"
    " /127.0.0.1:53112[1](queued=0,recved=0,sent=0,sid=0x1000001f4230000,lop=NA,"
    "est=1795618738783,to=30000,lzxid=0xffffffffffffffff,lresp=0,llat=0,minlat=0,"
    "avglat=0,maxlat=0)\n"
    " /127.0.0.1:53168[0](queued=0,recved=1,sent=0)\n"
    "\n"
)

MNTR = (
    "zk_version\t3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n"
    "zk_server_state\tstandalone\n"
    "zk_ephemerals_count\t0\n"
    "zk_num_alive_connections\t1\n"
    "zk_avg_latency\t3.6667\n"
    "zk_last_client_response_size\t-1\n"
    "zk_peer_state\tfollowing - broadcast\n"
    "zk_avg_snapshottime\t1.0\n"
    "zk_p999_write_commitproc_time_ms\t0\n"
)

CONF_ENSEMBLE = (  # note: no newline after the last line, and a "membership: " line
    "clientPort=48523\nsecureClientPort=-1\ndataDir=/tmp/zkens/n1/data/version-2\n"
    "tickTime=2000\nmaxClientCnxns=0\nserverId=1\ninitLimit=10\nsyncLimit=5\n"
    "electionAlg=3\nelectionPort=51031\nquorumPort=47765\npeerType=0\nmembership: \n"
    "server.1=127.0.0.1:47765:51031:participant\n"
    "server.2=127.0.0.1:56943:34049:participant\n"
    "server.3=127.0.0.1:35653:56939:participant\nversion=0"
)

ENVI = (
    "Environment:\n"
    "zookeeper.version=3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n"
    "host.name=localhost\n"
    "java.version=17.0.15\n"
    "java.io.tmpdir=/tmp\n"
    "java.compiler=<NA>\n"
)

NOT_SERVING = "This ZooKeeper instance is not currently serving requests\n"


# ---------------------------------------------------------------------------
# Parsers
# ---------------------------------------------------------------------------


def test_parse_srvr_standalone() -> None:
    s = parse_srvr(SRVR_STANDALONE, "127.0.0.1:2181")
    assert s == ServerStats(
        server="127.0.0.1:2181",
        sent=14,
        received=15,
        node_count=5,
        min_latency=1,
        avg_latency=3.6667,
        max_latency=9,
        connections=2,
        outstanding=0,
        zxid=1,
        epoch=0,
        counter=1,
        build_time=datetime(2024, 12, 29, 17, 54, tzinfo=timezone.utc),
        mode=Mode.STANDALONE,
        version="3.8.0-${mvngit.commit.id}",
    )
    assert s.error is None and s.clients is None and s.proposal_sizes is None


def test_parse_srvr_leader_extra_line_and_zxid_split() -> None:
    s = parse_srvr(SRVR_LEADER)
    assert s.mode is Mode.LEADER
    assert (s.zxid, s.epoch, s.counter) == (0x100000000, 1, 0)
    assert s.proposal_sizes == (-1, -1, -1)
    assert isinstance(s.avg_latency, float)


def test_parse_srvr_old_format() -> None:
    s = parse_srvr(SRVR_OLD)
    assert s.mode is Mode.FOLLOWER
    assert s.version == "3.4.14-4c25d480e66aadd371de8bd2fd8da255ac140bcf"
    assert s.build_time == datetime(2019, 3, 6, 16, 18, tzinfo=timezone.utc)
    assert (s.epoch, s.counter) == (3, 0xA2)
    assert s.avg_latency == 2.0


def test_parse_srvr_tolerates_extra_and_unknown_lines() -> None:
    text = "Some banner\n" + SRVR_STANDALONE.replace("Mode:", "Future thing: 7\nMode:") + "X: y\n"
    s = parse_srvr(text)
    assert s.mode is Mode.STANDALONE and s.node_count == 5


def test_parse_srvr_unknown_build_date_and_mode() -> None:
    text = SRVR_STANDALONE.replace("2024-12-29 17:54 UTC", "someday").replace(
        "standalone", "galactic"
    )
    s = parse_srvr(text)
    assert s.build_time is None
    assert s.mode is Mode.UNKNOWN


@pytest.mark.parametrize(
    "text",
    [
        "",
        NOT_SERVING,
        SRVR_STANDALONE.replace("Zxid: 0x1\n", ""),
        SRVR_STANDALONE.replace("Received: 15", "Received: many"),
        SRVR_STANDALONE.replace("1/3.6667/9", "1/2"),
    ],
)
def test_parse_srvr_rejects_bad_replies(text: str) -> None:
    with pytest.raises(FLWParseError):
        parse_srvr(text, "s:1")


@pytest.mark.parametrize(
    "text, mode",
    [
        ("leader", Mode.LEADER),
        ("follower", Mode.FOLLOWER),
        ("observer", Mode.OBSERVER),
        ("standalone", Mode.STANDALONE),
        ("read-only", Mode.READ_ONLY),
        ("READ_ONLY", Mode.READ_ONLY),
        ("", Mode.UNKNOWN),
        ("looking", Mode.UNKNOWN),
    ],
)
def test_mode_from_text(text: str, mode: Mode) -> None:
    assert Mode.from_text(text) is mode
    assert str(Mode.LEADER) == "leader"


def test_parse_stat_clients() -> None:
    s = parse_srvr(STAT_STANDALONE)
    assert s.connections == 2 and s.mode is Mode.STANDALONE
    assert s.clients is not None
    assert [(c.addr, c.interest_ops, c.received, c.sent) for c in s.clients] == [
        ("127.0.0.1:53112", 1, 3, 3),
        ("127.0.0.1:53134", 0, 1, 0),
    ]


def test_parse_cons_session_and_bare_connection() -> None:
    bare, session = parse_cons(CONS)
    assert bare.addr == "127.0.0.1:53120"
    assert (bare.queued, bare.received, bare.sent) == (0, 1, 0)
    assert bare.session_id is None and bare.established is None and bare.error is None

    assert session.addr == "127.0.0.1:53112"
    assert session.interest_ops == 1
    assert session.session_id == 0x1000001F4230000
    assert session.last_operation == "GETD"
    assert session.established == datetime(2026, 11, 25, 14, 58, 58, 783000, tzinfo=timezone.utc)
    assert session.timeout == 30000
    assert (session.last_cxid, session.last_zxid) == (1, 1)
    assert session.last_response == 134153
    assert (session.last_latency, session.min_latency, session.max_latency) == (1, 0, 9)
    assert session.avg_latency == 3.0 and isinstance(session.avg_latency, float)
    assert session.error is None and session.extra == {}


def test_parse_cons_after_crst() -> None:
    session, bare = parse_cons(CONS_AFTER_CRST)
    assert session.last_cxid is None  # not printed after a stats reset
    assert session.last_zxid == -1
    assert session.last_operation == "NA"
    assert bare.session_id is None


def test_parse_cons_variants() -> None:
    text = (
        " localhost/127.0.0.1:1000[1](queued=0,recved=1,sent=1,avglat=0.5,newkey=x)\n"
        " /[0:0:0:0:0:0:0:1]:2000[0](queued=0,recved=1,sent=0)\n"
        "garbage line\n"
        " /127.0.0.1:3000[1](queued=0,recved=zz,sent=1)\n"
    )
    a, b, c = parse_cons(text)
    assert a.addr == "127.0.0.1:1000" and a.avg_latency == 0.5 and a.extra == {"newkey": "x"}
    assert b.addr == "[0:0:0:0:0:0:0:1]:2000"
    assert c.received is None and c.sent == 1 and isinstance(c.error, FLWParseError)
    assert parse_cons("") == [] and parse_cons("\n\n") == []


def test_parse_mntr_types() -> None:
    m = parse_mntr(MNTR)
    assert m["zk_version"] == "3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC"
    assert m["zk_server_state"] == "standalone"
    assert m["zk_ephemerals_count"] == 0 and type(m["zk_ephemerals_count"]) is int
    assert m["zk_avg_latency"] == 3.6667 and type(m["zk_avg_latency"]) is float
    assert m["zk_avg_snapshottime"] == 1.0 and type(m["zk_avg_snapshottime"]) is float
    assert m["zk_last_client_response_size"] == -1
    assert m["zk_peer_state"] == "following - broadcast"
    assert len(m) == 9


def test_parse_properties() -> None:
    c = parse_properties(CONF_ENSEMBLE)
    assert c["clientPort"] == "48523"
    assert c["server.3"] == "127.0.0.1:35653:56939:participant"
    assert c["version"] == "0"
    assert "membership: " not in c and "membership" not in c
    e = parse_properties(ENVI)
    assert e["zookeeper.version"].startswith("3.8.0")
    assert e["java.compiler"] == "<NA>"
    assert "Environment:" not in e
    assert parse_properties("a=b=c\n") == {"a": "b=c"}


# ---------------------------------------------------------------------------
# A fake four-letter-word server (loopback) for socket edge cases
# ---------------------------------------------------------------------------


@contextmanager
def fake_server(handler: Callable[[socket.socket, bytes], object]) -> Iterator[str]:
    """Listen on 127.0.0.1; for each connection read 4 bytes and call handler."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.05)  # so the accept loop notices `stop`
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def serve_one(conn: socket.socket) -> None:
        with conn:
            try:
                word = b""
                while len(word) < 4:
                    chunk = conn.recv(4 - len(word))
                    if not chunk:
                        return
                    word += chunk
                handler(conn, word)
            except OSError:
                pass

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(10)
            t = threading.Thread(target=serve_one, args=(conn,), daemon=True)
            t.start()
            threads.append(t)

    acceptor = threading.Thread(target=accept_loop, daemon=True)
    acceptor.start()
    try:
        yield "127.0.0.1:%d" % listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        acceptor.join(5)
        for t in threads:
            t.join(5)


@contextmanager
def dead_port() -> Iterator[str]:
    """A loopback port that refuses connections (bound, never listening)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    try:
        yield "127.0.0.1:%d" % s.getsockname()[1]
    finally:
        s.close()


def test_command_reads_long_reply_in_pieces() -> None:
    payload = b"".join(b"line %06d %s\n" % (i, b"x" * 40) for i in range(20000))  # ~1 MiB

    def handler(conn: socket.socket, word: bytes) -> None:
        assert word == b"envi"
        for i in range(0, len(payload), 7000):
            conn.sendall(payload[i : i + 7000])
            if i % 70000 == 0:
                time.sleep(0.005)

    with fake_server(handler) as server:
        assert command(server, "envi") == payload.decode()


def test_command_unknown_word_empty_reply() -> None:
    with fake_server(lambda conn, word: None) as server:
        assert command(server, "abcd") == ""


def test_command_timeout_silent_server() -> None:
    gate = threading.Event()
    with fake_server(lambda conn, word: gate.wait(5)) as server:
        t0 = time.monotonic()
        with pytest.raises(FLWTimeoutError, match=server):
            command(server, "srvr", timeout=0.3)
        assert time.monotonic() - t0 < 2
        gate.set()


def test_command_timeout_is_a_total_deadline() -> None:
    gate = threading.Event()

    def trickle(conn: socket.socket, word: bytes) -> None:
        while not gate.is_set():
            conn.sendall(b"x")
            gate.wait(0.05)

    with fake_server(trickle) as server:
        t0 = time.monotonic()
        with pytest.raises(FLWTimeoutError):
            command(server, "cons", timeout=0.4)
        assert time.monotonic() - t0 < 2
        gate.set()


def test_command_max_size() -> None:
    with fake_server(lambda conn, word: conn.sendall(b"y" * 100_000)) as server:
        with pytest.raises(FLWError, match="exceeds"):
            command(server, "cons", max_size=10_000)


def test_command_connection_refused_names_server() -> None:
    with dead_port() as server:
        with pytest.raises(FLWConnectionError, match=server) as info:
            command(server, "ruok", timeout=2)
    assert info.value.server == server and info.value.word == "ruok"
    assert isinstance(info.value, FLWError) and not isinstance(info.value, FLWTimeoutError)


def test_command_validates_word_and_server() -> None:
    with pytest.raises(ValueError):
        command("127.0.0.1:2181", "ruo")
    with pytest.raises(ValueError):
        command("127.0.0.1:2181", "ru k")
    with pytest.raises(FLWError, match="invalid server"):
        command("127.0.0.1:notaport", "ruok")


def test_not_allowed_and_not_serving_replies() -> None:
    replies = {
        b"cons": b"cons is not executed because it is not in the whitelist.\n",
        b"srvr": NOT_SERVING.encode(),
        b"ruok": b"imok",
    }
    with fake_server(lambda conn, word: conn.sendall(replies[word])) as server:
        with pytest.raises(FLWNotAllowedError, match="whitelist") as info:
            command(server, "cons")
        assert info.value.server == server
        with pytest.raises(FLWNotServingError):
            command(server, "srvr")
        assert isinstance(flw.srvr([server])[server].error, FLWNotServingError)
        assert isinstance(flw.cons([server])[server].error, FLWNotAllowedError)
        assert flw.ruok([server]) == {server: True}
    assert issubclass(FLWNotAllowedError, FLWError) and issubclass(FLWError, Exception)


def test_helpers_run_in_parallel_and_keep_order() -> None:
    def slow(conn: socket.socket, word: bytes) -> None:
        time.sleep(0.5)
        conn.sendall(b"imok")

    with ExitStack() as stack:
        servers = [stack.enter_context(fake_server(slow)) for _ in range(6)]
        dead = stack.enter_context(dead_port())
        query = [servers[3], dead, *servers, servers[0]]  # duplicate collapses
        t0 = time.monotonic()
        result = flw.ruok(query, timeout=5)
        elapsed = time.monotonic() - t0
    assert list(result) == [servers[3], dead, servers[0], servers[1], servers[2], servers[4], servers[5]]
    assert result[dead] is False
    assert all(result[s] for s in servers)
    assert elapsed < 2.0, f"not parallel: {elapsed:.2f}s"


def test_helpers_with_no_servers() -> None:
    assert flw.ruok([]) == {}
    assert flw.srvr(iter(())) == {}


def test_helpers_take_a_connect_string() -> None:
    """A connect string, as ``--hosts`` takes it, names servers; it is not a list of
    one-character "servers" (issue 13.2)."""
    with fake_server(lambda conn, word: conn.sendall(b"imok")) as s1:
        with fake_server(lambda conn, word: conn.sendall(b"imok")) as s2:
            assert flw.ruok(s1) == {s1: True}
            assert flw.ruok(f"{s1},{s2}/some/chroot") == {s1: True, s2: True}  # chroot ignored
            assert flw.ruok((s for s in [s2])) == {s2: True}  # any iterable of servers
            entry = flw.mntr(f"{s1}/chroot")[s1]
            assert isinstance(entry, dict)  # parsed (empty: not mntr lines), not an error
    port = s1.rsplit(":", 1)[1]
    assert list(flw.ruok(f"localhost:{port},[::1]:{port}", timeout=1)) == [
        f"localhost:{port}", f"[::1]:{port}"]
    with pytest.raises(ValueError):
        flw.ruok("")
    with pytest.raises(ValueError):
        flw.srvr("host:notaport")


@pytest.mark.parametrize("helper", [flw.ruok, flw.srvr, flw.stat, flw.cons, flw.mntr,
                                    flw.envi, flw.conf])
@pytest.mark.parametrize("bad", [None, 2181, b"127.0.0.1:2181", [b"127.0.0.1:2181"],
                                 ["127.0.0.1:2181", None]])
def test_helpers_reject_what_is_not_servers(helper: Callable[..., Any], bad: Any) -> None:
    with pytest.raises(TypeError, match="connect string"):
        helper(bad, timeout=0.1)


def test_ruok_wrong_answer_is_false() -> None:
    refusal = b"ruok is not executed because it is not in the whitelist."
    with fake_server(lambda conn, word: conn.sendall(refusal)) as s1:
        with fake_server(lambda conn, word: conn.sendall(b"nope")) as s2:
            assert flw.ruok([s1, s2]) == {s1: False, s2: False}


def test_parse_error_lands_in_entry() -> None:
    with fake_server(lambda conn, word: conn.sendall(b"hello\n")) as server:
        entry = flw.srvr([server])[server]
    assert isinstance(entry.error, FLWParseError)
    assert entry.server == server


# ---------------------------------------------------------------------------
# Real servers
# ---------------------------------------------------------------------------


def servers_of(zk: Any) -> list[str]:
    """``host:port`` strings from a testing server/ensemble's ``.hosts``."""
    addresses, _chroot = parse_connect_string(zk.hosts)
    return [format_address(a) for a in addresses]


def open_session(server: str, timeout_ms: int = 10000) -> tuple[socket.socket, int, int]:
    """Open a raw ZooKeeper session (hand-encoded ConnectRequest).

    Returns (socket, session_id, negotiated timeout).  Independent of zkfast's
    codec so this module only tests flw.
    """
    host, port = parse_connect_string(server)[0][0]
    sock = socket.create_connection((host, port), timeout=10)
    body = struct.pack(">iqiqi", 0, 0, timeout_ms, 0, 16) + b"\0" * 16 + b"\0"
    sock.sendall(struct.pack(">i", len(body)) + body)
    header = recv_exact(sock, 4)
    (length,) = struct.unpack(">i", header)
    reply = recv_exact(sock, length)
    _proto, negotiated, session_id = struct.unpack(">iiq", reply[:16])
    return sock, session_id, negotiated


def recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def ping(sock: socket.socket) -> None:
    body = struct.pack(">ii", -2, 11)
    sock.sendall(struct.pack(">i", len(body)) + body)
    (length,) = struct.unpack(">i", recv_exact(sock, 4))
    recv_exact(sock, length)


def close_session(sock: socket.socket) -> None:
    try:
        body = struct.pack(">ii", 1, -11)
        sock.sendall(struct.pack(">i", len(body)) + body)
        (length,) = struct.unpack(">i", recv_exact(sock, 4))
        recv_exact(sock, length)
    except OSError:
        pass
    finally:
        sock.close()


def test_real_ruok_live_and_dead(zk_server: Any) -> None:
    (server,) = servers_of(zk_server)
    with dead_port() as dead:
        result = flw.ruok([server, dead], timeout=5)
    assert result == {server: True, dead: False}
    assert command(server, "ruok") == "imok"


def test_real_srvr_standalone(zk_server: Any) -> None:
    (server,) = servers_of(zk_server)
    with dead_port() as dead:
        result = flw.srvr([server, dead])
    s = result[server]
    assert s.error is None, s.error
    assert s.server == server
    assert s.mode is Mode.STANDALONE
    assert s.version.startswith("3.")
    assert isinstance(s.build_time, datetime)
    assert s.node_count >= 4  # /, /zookeeper, /zookeeper/quota, /zookeeper/config
    assert s.connections >= 1  # at least this query's connection
    assert s.received >= 1 and s.outstanding >= 0
    assert s.min_latency <= s.max_latency and isinstance(s.avg_latency, float)
    assert (s.epoch << 32) | s.counter == s.zxid
    assert s.proposal_sizes is None

    d = result[dead]
    assert isinstance(d.error, FLWConnectionError) and dead in str(d.error)
    assert d.mode is Mode.UNKNOWN


def test_real_stat_lists_clients(zk_server: Any) -> None:
    (server,) = servers_of(zk_server)
    s = flw.stat([server])[server]
    assert s.error is None, s.error
    assert s.mode is Mode.STANDALONE
    assert s.clients  # at least the stat connection itself
    assert all(c.addr.startswith("127.0.0.1:") and c.received is not None for c in s.clients)


def test_real_cons_lists_our_session(zk_server: Any) -> None:
    (server,) = servers_of(zk_server)
    before = datetime.now(timezone.utc)
    sock, session_id, negotiated = open_session(server, timeout_ms=10000)
    try:
        ping(sock)
        local = "%s:%d" % sock.getsockname()[:2]
        result = flw.cons([server])
        assert isinstance(result[server], ServerClients)
        assert result[server].error is None
        by_addr = {c.addr: c for c in result[server].clients}
        assert local in by_addr, (local, list(by_addr))
        me = by_addr[local]
        assert me.session_id == session_id
        assert me.timeout == negotiated
        assert me.last_operation == "PING"
        assert me.received is not None and me.received >= 2  # connect + ping
        assert me.sent is not None and me.sent >= 2
        assert me.established is not None
        assert (before - timedelta(seconds=5) <= me.established
                <= datetime.now(timezone.utc) + timedelta(seconds=5))
        assert me.last_zxid is not None and me.last_response is not None
        assert me.avg_latency is not None and me.error is None
        # The cons query's own connection is listed too, without a session.
        assert any(c.session_id is None for c in result[server].clients)
    finally:
        close_session(sock)


def test_real_mntr_typed(zk_server: Any) -> None:
    (server,) = servers_of(zk_server)
    with dead_port() as dead:
        result = flw.mntr([server, dead])
    m = result[server]
    assert isinstance(m, dict)
    assert m["zk_server_state"] == "standalone"
    assert isinstance(m["zk_version"], str) and m["zk_version"].startswith("3.")
    assert type(m["zk_znode_count"]) is int and m["zk_znode_count"] >= 4
    assert type(m["zk_num_alive_connections"]) is int and m["zk_num_alive_connections"] >= 1
    assert type(m["zk_avg_latency"]) is float
    assert isinstance(result[dead], FLWConnectionError)


def test_real_long_replies_read_whole(zk_server: Any) -> None:
    (server,) = servers_of(zk_server)
    # mntr on 3.8 is ~20 KB: well past any 8 KiB read.
    text = command(server, "mntr")
    assert len(text) > 8192
    assert text.endswith("\n")
    lines = [line for line in text.splitlines() if line]
    assert len(parse_mntr(text)) == len(lines)

    # cons with many connections: every one of them is listed.
    host, port = parse_connect_string(server)[0][0]
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.create_connection((host, port), timeout=10)) for _ in range(250)]
        wanted = {"%s:%d" % s.getsockname()[:2] for s in socks}
        deadline = time.monotonic() + 10
        while True:
            text = command(server, "cons")
            listed = {c.addr for c in parse_cons(text)}
            if wanted <= listed or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert len(text.encode()) > 8192
        assert wanted <= listed, f"{len(wanted - listed)} connections missing"
        assert flw.srvr([server])[server].connections >= 250


def test_real_conf_and_envi(zk_server: Any) -> None:
    (server,) = servers_of(zk_server)
    port = server.rsplit(":", 1)[1]
    c = flw.conf([server])[server]
    assert isinstance(c, dict) and c["clientPort"] == port
    e = flw.envi([server])[server]
    assert isinstance(e, dict)
    assert e["zookeeper.version"].startswith("3.")
    assert "java.version" in e


def test_real_unknown_word(zk_server: Any) -> None:
    (server,) = servers_of(zk_server)
    assert command(server, "zzzz") == ""


def test_real_whitelist_refusal() -> None:
    from zkfast.testing.server import ZooKeeperServer

    with ZooKeeperServer(extra_config={"4lw.commands.whitelist": "srvr,ruok"}) as zk:
        (server,) = servers_of(zk)
        assert flw.ruok([server]) == {server: True}
        assert flw.srvr([server])[server].mode is Mode.STANDALONE
        with pytest.raises(FLWNotAllowedError, match="cons") as info:
            command(server, "cons")
        assert info.value.server == server and info.value.word == "cons"
        assert isinstance(flw.cons([server])[server].error, FLWNotAllowedError)
        assert isinstance(flw.mntr([server])[server], FLWNotAllowedError)
        assert isinstance(flw.stat([server])[server].error, FLWNotAllowedError)


def test_real_ensemble_modes(zk_ensemble: Any) -> None:
    servers = servers_of(zk_ensemble)
    assert len(servers) == 3
    deadline = time.monotonic() + 30
    while True:  # the fixture should hand over a ready ensemble; tolerate a late one
        stats = flw.srvr(servers)
        if all(s.error is None for s in stats.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert list(stats) == servers
    for s in stats.values():
        assert s.error is None, s.error
    modes = sorted(s.mode.value for s in stats.values())
    assert modes == ["follower", "follower", "leader"]
    (leader,) = [s for s in stats.values() if s.mode is Mode.LEADER]
    assert leader.proposal_sizes is not None
    assert leader.epoch >= 1
    for s in stats.values():
        assert s.proposal_sizes is None or s is leader

    states = flw.mntr(servers)
    for server, s in stats.items():
        m = states[server]
        assert isinstance(m, dict)
        assert m["zk_server_state"] == s.mode.value

    confs = flw.conf(servers)
    for c in confs.values():
        assert isinstance(c, dict)
        assert {"server.1", "server.2", "server.3"} <= set(c)
