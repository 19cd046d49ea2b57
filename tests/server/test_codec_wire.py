"""The codec against a real ZooKeeper: every request kind on a bare socket.

No client, engine or connection code here -- only ``zkfast.codec`` (whichever
backend is active) and a socket -- so these tests pin the wire format itself:
what each encoder sends is accepted, and each reply decodes to what the server
meant. Each test works under its own base path (``zk_chroot``).
"""

from __future__ import annotations

import socket
from collections import deque
from typing import Any, Callable, Deque, Iterator, List, Optional, Tuple

import pytest

from zkfast import codec as C
from zkfast.errors import CODE_RESPONSE_TOO_LARGE
from zkfast.records import (
    ACL,
    ClientInfo,
    ConnectResponse,
    Id,
    ResponseTooLarge,
    Stat,
    WatcherEvent,
)

OPEN = [ACL(31, Id("world", "anyone"))]
READ, WRITE, CREATE, DELETE, ADMIN = 1, 2, 4, 8, 16

# watcher event types and the connected state (Watcher.Event)
NODE_CREATED, NODE_DELETED, NODE_DATA_CHANGED, NODE_CHILDREN_CHANGED = 1, 2, 3, 4
SYNC_CONNECTED = 3
# watcher types of removeWatches/checkWatches
WATCH_CHILDREN, WATCH_DATA, WATCH_ANY = 1, 2, 3
WATCH_PERSISTENT, WATCH_PERSISTENT_RECURSIVE = 4, 5  # 3.9+ servers only

NO_NODE, NO_AUTH, BAD_VERSION, NODE_EXISTS, NOT_EMPTY = -101, -102, -103, -110, -111
AUTH_FAILED, NO_WATCHER, RECONFIG_DISABLED, RUNTIME_INCONSISTENCY = -115, -121, -123, -2
MARSHALLING = -5

Reply = Tuple[int, int, int, Any]


class RawSession:
    """A ZooKeeper session on a bare socket, driven by the codec alone."""

    def __init__(self, host: str, port: int, timeout_ms: int = 10000,
                 max_buffer_size: int = C.DEFAULT_MAX_BUFFER_SIZE) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.reader = C.FrameReader(max_buffer_size)
        self.kinds = {C.XID_PING: C.KIND_NONE, C.XID_AUTH: C.KIND_NONE,
                      C.XID_SET_WATCHES: C.KIND_NONE}
        self.replies: Deque[Reply] = deque()
        self.events: List[WatcherEvent] = []
        self.xid = 0
        self.sock.sendall(C.encode_connect(0, timeout_ms, 0, None, False))
        resp = None
        while resp is None:
            resp = self.reader.feed_connect(self._recv())
        self.connect: ConnectResponse = resp
        self._absorb(self.reader.feed(b"", self.kinds))

    # --- plumbing
    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        return data

    def _absorb(self, replies: List[Reply]) -> None:
        for r in replies:
            if r[0] == C.XID_NOTIFICATION:
                assert r[1] == -1 and r[2] == 0
                self.events.append(r[3])
            else:
                self.replies.append(r)

    def _pump(self) -> None:
        self._absorb(self.reader.feed(self._recv(), self.kinds))

    def next_xid(self) -> int:
        self.xid += 1
        return self.xid

    def send(self, frame: bytes, xid: int, kind: int) -> Reply:
        self.kinds[xid] = kind
        self.sock.sendall(frame)
        return self.reply(xid)

    def reply(self, xid: int) -> Reply:
        while True:
            for r in self.replies:
                if r[0] == xid:
                    self.replies.remove(r)
                    return r
            self._pump()

    def call(self, encode: Callable[..., bytes], kind: int, *args: Any) -> Reply:
        """Encode with a fresh xid, send, return (xid, zxid, err, body)."""
        xid = self.next_xid()
        reply = self.send(encode(xid, *args), xid, kind)
        assert reply[0] == xid
        return reply

    def ok(self, encode: Callable[..., bytes], kind: int, *args: Any) -> Any:
        _, _, err, body = self.call(encode, kind, *args)
        assert err == 0, (encode.__name__, args, err)
        return body

    def event(self, pred: Callable[[WatcherEvent], bool] = lambda e: True) -> WatcherEvent:
        while True:
            for e in self.events:
                if pred(e):
                    self.events.remove(e)
                    return e
            self._pump()

    def ping(self) -> None:
        """A round trip that flushes anything the server queued before it."""
        assert self.send(C.encode_ping(), C.XID_PING, C.KIND_NONE)[2:] == (0, None)

    # --- conveniences
    def create(self, path: str, data: Optional[bytes] = b"", flags: int = 0) -> str:
        return self.ok(C.encode_create, C.KIND_STRING, path, data, OPEN, flags)

    def stat(self, path: str) -> Stat:
        return self.ok(C.encode_exists, C.KIND_STAT, path, False)

    def many(self, calls: List[Tuple[Callable[..., bytes], int, tuple]]) -> List[Reply]:
        """Pipeline requests: one send, replies in order (many per recv)."""
        xids, frames = [], []
        for encode, kind, args in calls:
            xid = self.next_xid()
            self.kinds[xid] = kind
            xids.append(xid)
            frames.append(encode(xid, *args))
        self.sock.sendall(b"".join(frames))
        return [self.reply(x) for x in xids]

    def rmr(self, path: str) -> None:
        """Delete a subtree, a level at a time, pipelined."""
        levels = [[path]]
        while levels[-1]:
            replies = self.many([(C.encode_get_children, C.KIND_CHILDREN, (p, False))
                                 for p in levels[-1]])
            levels.append([f"{p}/{c}" for p, r in zip(levels[-1], replies) if r[2] == 0
                           for c in r[3]])
        for level in reversed(levels):
            for i in range(0, len(level), 1000):
                self.many([(C.encode_delete, C.KIND_NONE, (p, -1)) for p in level[i:i + 1000]])

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


@pytest.fixture
def session_factory(zk_server) -> Iterator[Callable[..., RawSession]]:
    made: List[RawSession] = []

    def make(**kw: Any) -> RawSession:
        s = RawSession(zk_server.host, zk_server.port, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture
def zk(session_factory, zk_chroot) -> Iterator[Tuple[RawSession, str]]:
    """A raw session and this test's own base path (created, removed after)."""
    s = session_factory()
    assert s.create(zk_chroot) == zk_chroot
    yield s, zk_chroot
    cleaner = session_factory()
    cleaner.rmr(zk_chroot)


# ===================================================================== sessions

def test_connect_response(session_factory):
    s = session_factory(timeout_ms=12000)
    assert type(s.connect) is ConnectResponse
    assert s.connect.protocol_version == 0
    assert s.connect.timeout == 12000          # within the server's 4 s .. 40 s bounds
    assert s.connect.session_id != 0
    assert len(s.connect.passwd) == 16
    assert s.connect.read_only is False


def test_reconnect_with_session_id_and_passwd(session_factory, zk_server):
    first = session_factory()
    sock = socket.create_connection((zk_server.host, zk_server.port), timeout=10)
    try:
        sock.sendall(C.encode_connect(0, 10000, first.connect.session_id, first.connect.passwd, False))
        reader = C.FrameReader()
        resp = None
        while resp is None:
            resp = reader.feed_connect(sock.recv(65536))
        assert resp.session_id == first.connect.session_id and resp.timeout > 0
    finally:
        sock.close()


def test_ping(session_factory):
    s = session_factory()
    xid, _zxid, err, body = s.send(C.encode_ping(), C.XID_PING, C.KIND_NONE)
    assert (xid, err, body) == (C.XID_PING, 0, None)


def test_close_session(zk, session_factory):
    s, base = zk
    s.create(f"{base}/e", b"", 1)
    assert s.call(C.encode_close, C.KIND_NONE)[2:] == (0, None)
    with pytest.raises(ConnectionError):
        s._pump()                                  # the server hangs up after it
    other = session_factory()
    assert other.call(C.encode_exists, C.KIND_STAT, f"{base}/e", False)[2:] == (NO_NODE, None)


# ===================================================================== create family

def test_create_modes(zk):
    s, base = zk
    assert s.create(f"{base}/p", b"x", 0) == f"{base}/p"
    assert s.create(f"{base}/e", b"x", 1) == f"{base}/e"
    seq = s.create(f"{base}/s-", b"", 2)
    assert seq.startswith(f"{base}/s-") and len(seq) == len(f"{base}/s-") + 10
    eseq = s.create(f"{base}/es-", b"", 3)
    assert eseq[-10:].isdigit() and int(eseq[-10:]) == int(seq[-10:]) + 1
    assert s.stat(f"{base}/e").ephemeral_owner == s.connect.session_id
    assert s.stat(f"{base}/p").ephemeral_owner == 0


def test_create_errors(zk):
    s, base = zk
    s.create(f"{base}/a")
    assert s.call(C.encode_create, C.KIND_STRING, f"{base}/a", b"", OPEN, 0)[2:] == (NODE_EXISTS, None)
    assert s.call(C.encode_create, C.KIND_STRING, f"{base}/x/y", b"", OPEN, 0)[2:] == (NO_NODE, None)


def test_create_unicode_path_and_null_data(zk):
    s, base = zk
    path = f"{base}/\u00e9t\u00e9-\u2603"
    assert s.create(path, None) == path
    data, st = s.ok(C.encode_get_data, C.KIND_DATA_STAT, path, False)
    assert data is None and st.data_length == 0
    assert s.ok(C.encode_get_children, C.KIND_CHILDREN, base, False) == ["\u00e9t\u00e9-\u2603"]


def test_create2(zk):
    s, base = zk
    _xid, zxid, err, (path, st) = s.call(C.encode_create2, C.KIND_STRING_STAT, f"{base}/c", b"hello", OPEN, 0)
    assert err == 0 and path == f"{base}/c"
    assert type(st) is Stat
    assert st.czxid == st.mzxid == st.pzxid == zxid      # the reply header carries the txn's zxid
    assert (st.version, st.cversion, st.aversion, st.data_length, st.num_children) == (0, 0, 0, 5, 0)
    assert st.ctime == st.mtime > 0
    assert st == s.stat(f"{base}/c")


def test_create_ttl(zk):
    s, base = zk
    path, st = s.ok(C.encode_create_ttl, C.KIND_STRING_STAT, f"{base}/t", b"", OPEN, 5, 60000)
    assert path == f"{base}/t" and st.czxid > 0
    # the server marks TTL nodes in ephemeralOwner internally but shows clients 0
    assert st.ephemeral_owner == 0
    path, _ = s.ok(C.encode_create_ttl, C.KIND_STRING_STAT, f"{base}/ts-", b"", OPEN, 6, 60000)
    assert path[-10:].isdigit()


def test_create_container(zk):
    s, base = zk
    path, st = s.ok(C.encode_create_container, C.KIND_STRING_STAT, f"{base}/box", b"d", OPEN)
    assert path == f"{base}/box" and st.data_length == 1
    assert st.ephemeral_owner == 0               # the container marker is not shown to clients


# ===================================================================== reads and writes

def test_delete(zk):
    s, base = zk
    s.create(f"{base}/d")
    s.create(f"{base}/d/child")
    assert s.call(C.encode_delete, C.KIND_NONE, f"{base}/d", -1)[2:] == (NOT_EMPTY, None)
    assert s.call(C.encode_delete, C.KIND_NONE, f"{base}/d/child", 5)[2:] == (BAD_VERSION, None)
    assert s.call(C.encode_delete, C.KIND_NONE, f"{base}/d/child", 0)[2:] == (0, None)
    assert s.call(C.encode_delete, C.KIND_NONE, f"{base}/d/child", -1)[2:] == (NO_NODE, None)


def test_exists(zk):
    s, base = zk
    s.create(f"{base}/x", b"12345")
    st = s.ok(C.encode_exists, C.KIND_STAT, f"{base}/x", False)
    assert st.data_length == 5
    assert s.call(C.encode_exists, C.KIND_STAT, f"{base}/none", False)[2:] == (NO_NODE, None)


def test_get_and_set_data(zk):
    s, base = zk
    s.create(f"{base}/d", b"one")
    data, st = s.ok(C.encode_get_data, C.KIND_DATA_STAT, f"{base}/d", False)
    assert data == b"one" and st.version == 0
    st2 = s.ok(C.encode_set_data, C.KIND_STAT, f"{base}/d", b"two!", 0)
    assert st2.version == 1 and st2.data_length == 4 and st2.mzxid > st.mzxid
    assert s.call(C.encode_set_data, C.KIND_STAT, f"{base}/d", b"x", 0)[2:] == (BAD_VERSION, None)
    assert s.ok(C.encode_get_data, C.KIND_DATA_STAT, f"{base}/d", False) == (b"two!", st2)
    # data of every byte value, as bytearray and memoryview
    blob = bytes(range(256)) * 4
    s.ok(C.encode_set_data, C.KIND_STAT, f"{base}/d", memoryview(bytearray(blob)), -1)
    assert s.ok(C.encode_get_data, C.KIND_DATA_STAT, f"{base}/d", False)[0] == blob
    assert s.call(C.encode_get_data, C.KIND_DATA_STAT, f"{base}/none", False)[2:] == (NO_NODE, None)


def test_large_data_spans_many_reads(zk):
    s, base = zk
    blob = bytes(range(251)) * 3000        # ~750 KB: arrives in many recv() pieces
    s.create(f"{base}/big", blob)
    data, st = s.ok(C.encode_get_data, C.KIND_DATA_STAT, f"{base}/big", False)
    assert data == blob and st.data_length == len(blob)
    assert s.reader.buffered == 0


def test_reply_over_max_buffer_size_fails_only_that_request(zk, session_factory):
    s, base = zk
    s.create(f"{base}/big", b"z" * 200_000)
    small = session_factory(max_buffer_size=100_000)
    _xid, _zxid, err, body = small.call(C.encode_get_data, C.KIND_DATA_STAT, f"{base}/big", False)
    assert err == CODE_RESPONSE_TOO_LARGE
    assert body == ResponseTooLarge(16 + 4 + 200_000 + 68, 100_000)
    assert small.reader.buffered < 100_000
    # the session goes on
    assert small.stat(f"{base}/big").data_length == 200_000
    small.ping()


def test_acls(zk):
    s, base = zk
    s.create(f"{base}/a")
    acls, _st = s.ok(C.encode_get_acl, C.KIND_ACL_STAT, f"{base}/a")
    assert acls == OPEN and type(acls[0]) is ACL and type(acls[0].id) is Id
    new = [ACL(READ | WRITE, Id("world", "anyone")), ACL(31, Id("ip", "127.0.0.1"))]
    st2 = s.ok(C.encode_set_acl, C.KIND_STAT, f"{base}/a", new, 0)
    assert st2.aversion == 1
    assert s.ok(C.encode_get_acl, C.KIND_ACL_STAT, f"{base}/a") == (new, st2)
    assert s.call(C.encode_set_acl, C.KIND_STAT, f"{base}/a", OPEN, 0)[2:] == (BAD_VERSION, None)


def test_children(zk):
    s, base = zk
    names = ["b", "a", "c-\u00fc"]
    for n in names:
        s.create(f"{base}/{n}")
    assert sorted(s.ok(C.encode_get_children, C.KIND_CHILDREN, base, False)) == sorted(names)
    children, st = s.ok(C.encode_get_children2, C.KIND_CHILDREN_STAT, base, False)
    assert sorted(children) == sorted(names) and st.num_children == 3 and st.cversion == 3
    assert s.ok(C.encode_get_children, C.KIND_CHILDREN, f"{base}/a", False) == []
    assert s.call(C.encode_get_children2, C.KIND_CHILDREN_STAT, f"{base}/no", False)[2:] == (NO_NODE, None)


def test_many_children(zk):
    s, base = zk
    names = [f"child-{i:05d}" for i in range(2000)]
    for i in range(0, len(names), 250):
        ops = [(C.OP_CREATE, f"{base}/{n}", b"", OPEN, 0) for n in names[i:i + 250]]
        assert all(r[1] == 0 for r in s.ok(C.encode_multi, C.KIND_MULTI, ops))
    assert sorted(s.ok(C.encode_get_children, C.KIND_CHILDREN, base, False)) == names
    assert s.ok(C.encode_get_all_children_number, C.KIND_INT, base) == 2000


def test_sync(zk):
    s, base = zk
    assert s.ok(C.encode_sync, C.KIND_STRING, base) == base


def test_check(zk):
    s, base = zk
    s.create(f"{base}/v")
    assert s.call(C.encode_check, C.KIND_NONE, f"{base}/v", 3)[2:] == (BAD_VERSION, None)
    # ZooKeeper 3.8 answers a standalone check only when it fails: one that
    # passes gets no reply at all (replies come in order, so none came before
    # the ping's). Clients should check versions inside a multi instead.
    xid = s.next_xid()
    s.kinds[xid] = C.KIND_NONE
    s.sock.sendall(C.encode_check(xid, f"{base}/v", 0))
    s.ping()
    assert not any(r[0] == xid for r in s.replies)
    assert s.ok(C.encode_multi, C.KIND_MULTI, [(C.OP_CHECK, f"{base}/v", 0)]) == [(13, 0, None)]


def test_get_ephemerals_and_all_children_number(zk, session_factory):
    s, base = zk
    s.create(f"{base}/p")
    s.create(f"{base}/p/e1", b"", 1)
    s.create(f"{base}/p/q")
    s.create(f"{base}/p/q/e2", b"", 1)
    other = session_factory()
    other.create(f"{base}/p/theirs", b"", 1)
    # only this session's ephemerals, as full paths
    assert sorted(s.ok(C.encode_get_ephemerals, C.KIND_CHILDREN, base)) == [
        f"{base}/p/e1", f"{base}/p/q/e2"]
    assert s.ok(C.encode_get_ephemerals, C.KIND_CHILDREN, f"{base}/nothing-here") == []
    assert s.ok(C.encode_get_all_children_number, C.KIND_INT, base) == 5
    assert s.ok(C.encode_get_all_children_number, C.KIND_INT, f"{base}/p/q") == 1


# ===================================================================== multi

def test_multi(zk):
    s, base = zk
    s.create(f"{base}/old", b"o")
    results = s.ok(C.encode_multi, C.KIND_MULTI, [
        (C.OP_CREATE, f"{base}/a", b"1", OPEN, 0),
        (C.OP_CREATE2, f"{base}/b", b"22", OPEN, 0),
        (C.OP_CREATE_CONTAINER, f"{base}/box", b"", OPEN),
        (C.OP_CREATE_TTL, f"{base}/ttl", b"", OPEN, 5, 60000),
        (C.OP_SET_DATA, f"{base}/old", b"new", 0),
        (C.OP_CHECK, f"{base}/old", 1),
        (C.OP_DELETE, f"{base}/a", 0),
    ])
    # ZooKeeper 3.8 answers a create2 op inside a multi like a plain create
    # (path only), while createContainer and createTTL get create2's path + Stat
    assert [r[:2] for r in results] == [(1, 0), (1, 0), (15, 0), (15, 0), (5, 0), (13, 0), (2, 0)]
    assert results[0][2] == f"{base}/a"
    assert results[1][2] == f"{base}/b"
    path, st = results[2][2]
    assert path == f"{base}/box" and type(st) is Stat and st.czxid > 0
    assert results[3][2][0] == f"{base}/ttl"
    assert results[4][2].version == 1
    assert results[5][2] is None and results[6][2] is None


def test_failed_multi_reports_each_op(zk):
    s, base = zk
    s.create(f"{base}/v")
    _xid, _zxid, err, results = s.call(C.encode_multi, C.KIND_MULTI, [
        (C.OP_CREATE, f"{base}/n1", b"", OPEN, 0),
        (C.OP_CHECK, f"{base}/v", 7),
        (C.OP_CREATE, f"{base}/n2", b"", OPEN, 0),
    ])
    # 3.8 answers a failed multi with err 0 in the header: the per-op results tell
    assert err in (0, BAD_VERSION)
    assert results == [(-1, 0, None), (-1, BAD_VERSION, None), (-1, RUNTIME_INCONSISTENCY, None)]
    assert s.call(C.encode_exists, C.KIND_STAT, f"{base}/n1", False)[2] == NO_NODE


def test_empty_multi(zk):
    s, _ = zk
    assert s.ok(C.encode_multi, C.KIND_MULTI, []) == []


def test_multi_read(zk):
    s, base = zk
    s.create(f"{base}/r", b"data")
    s.create(f"{base}/r/k")
    results = s.ok(C.encode_multi_read, C.KIND_MULTI, [
        (C.OP_GET_DATA, f"{base}/r"),
        (C.OP_GET_CHILDREN, f"{base}/r"),
        (C.OP_GET_DATA, f"{base}/missing"),
        (C.OP_GET_CHILDREN, f"{base}/missing"),
    ])
    assert results[0][:2] == (4, 0) and results[0][2][0] == b"data"
    assert results[0][2][1] == s.stat(f"{base}/r")
    assert results[1] == (8, 0, ["k"])
    assert results[2] == (-1, NO_NODE, None) and results[3] == (-1, NO_NODE, None)


# ===================================================================== auth and identity

def test_who_am_i_and_auth(session_factory):
    s = session_factory()
    assert s.ok(C.encode_who_am_i, C.KIND_CLIENT_INFO) == [ClientInfo("ip", "127.0.0.1")]
    xid, _zxid, err, body = s.send(C.encode_auth("digest", b"bob:secret"), C.XID_AUTH, C.KIND_NONE)
    assert (xid, err, body) == (C.XID_AUTH, 0, None)
    infos = s.ok(C.encode_who_am_i, C.KIND_CLIENT_INFO)
    assert ClientInfo("ip", "127.0.0.1") in infos
    assert any(i.auth_scheme == "digest" and i.user.startswith("bob") for i in infos)
    assert all(type(i) is ClientInfo for i in infos)


def test_auth_acl(zk, session_factory):
    s, base = zk
    s.send(C.encode_auth("digest", b"bob:secret"), C.XID_AUTH, C.KIND_NONE)
    # the "auth" scheme means: whoever this session authenticated as
    s.ok(C.encode_create, C.KIND_STRING, f"{base}/mine", b"s", [ACL(31, Id("auth", ""))], 0)
    acls, _ = s.ok(C.encode_get_acl, C.KIND_ACL_STAT, f"{base}/mine")
    assert [a.id.scheme for a in acls] == ["digest"] and acls[0].id.id.startswith("bob:")
    other = session_factory()
    assert other.call(C.encode_get_data, C.KIND_DATA_STAT, f"{base}/mine", False)[2:] == (NO_AUTH, None)
    assert s.ok(C.encode_get_data, C.KIND_DATA_STAT, f"{base}/mine", False)[0] == b"s"
    s.ok(C.encode_set_acl, C.KIND_STAT, f"{base}/mine", OPEN, -1)   # so the fixture can clean up


def test_auth_failure_closes_the_connection(session_factory):
    s = session_factory()
    xid, _zxid, err, body = s.send(C.encode_auth("no-such-scheme", b"x"), C.XID_AUTH, C.KIND_NONE)
    assert (xid, err, body) == (C.XID_AUTH, AUTH_FAILED, None)
    with pytest.raises((ConnectionError, OSError)):
        for _ in range(10):
            s.ping()


# ===================================================================== watches

def test_watch_events(zk):
    s, base = zk
    p = f"{base}/w"
    assert s.call(C.encode_exists, C.KIND_STAT, p, True)[2] == NO_NODE   # watch a missing node
    s.create(p, b"0")
    assert s.event() == WatcherEvent(NODE_CREATED, SYNC_CONNECTED, p)
    s.ok(C.encode_get_data, C.KIND_DATA_STAT, p, True)
    s.ok(C.encode_get_children, C.KIND_CHILDREN, p, True)
    s.ok(C.encode_set_data, C.KIND_STAT, p, b"1", -1)
    assert s.event() == WatcherEvent(NODE_DATA_CHANGED, SYNC_CONNECTED, p)
    s.create(f"{p}/kid")
    assert s.event() == WatcherEvent(NODE_CHILDREN_CHANGED, SYNC_CONNECTED, p)
    s.ok(C.encode_get_data, C.KIND_DATA_STAT, p, True)
    s.rmr(p)
    assert s.event() == WatcherEvent(NODE_DELETED, SYNC_CONNECTED, p)


def test_add_watch_persistent_recursive(zk):
    s, base = zk
    assert s.ok(C.encode_add_watch, C.KIND_INT, base, 1) == 0     # ErrorResponse{0}
    s.create(f"{base}/a")
    s.create(f"{base}/a/b")
    s.ok(C.encode_set_data, C.KIND_STAT, f"{base}/a/b", b"1", -1)
    s.ok(C.encode_set_data, C.KIND_STAT, f"{base}/a/b", b"2", -1)   # fires again: persistent
    got = [s.event() for _ in range(4)]
    assert got == [
        WatcherEvent(NODE_CREATED, SYNC_CONNECTED, f"{base}/a"),
        WatcherEvent(NODE_CREATED, SYNC_CONNECTED, f"{base}/a/b"),
        WatcherEvent(NODE_DATA_CHANGED, SYNC_CONNECTED, f"{base}/a/b"),
        WatcherEvent(NODE_DATA_CHANGED, SYNC_CONNECTED, f"{base}/a/b"),
    ]


def test_add_watch_persistent(zk):
    s, base = zk
    s.create(f"{base}/p")
    assert s.ok(C.encode_add_watch, C.KIND_INT, f"{base}/p", 0) == 0
    for v in (b"1", b"2"):
        s.ok(C.encode_set_data, C.KIND_STAT, f"{base}/p", v, -1)
        assert s.event() == WatcherEvent(NODE_DATA_CHANGED, SYNC_CONNECTED, f"{base}/p")


def test_remove_and_check_watches(zk):
    s, base = zk
    p = f"{base}/r"
    s.create(p)
    assert s.call(C.encode_check_watches, C.KIND_NONE, p, WATCH_DATA)[2:] == (NO_WATCHER, None)
    s.ok(C.encode_get_data, C.KIND_DATA_STAT, p, True)
    assert s.call(C.encode_check_watches, C.KIND_NONE, p, WATCH_DATA)[2:] == (0, None)
    assert s.call(C.encode_check_watches, C.KIND_NONE, p, WATCH_CHILDREN)[2:] == (NO_WATCHER, None)
    assert s.call(C.encode_remove_watches, C.KIND_NONE, p, WATCH_ANY)[2:] == (0, None)
    assert s.call(C.encode_remove_watches, C.KIND_NONE, p, WATCH_ANY)[2:] == (NO_WATCHER, None)
    s.ok(C.encode_set_data, C.KIND_STAT, p, b"x", -1)
    s.ping()
    assert s.events == []                       # the removed watch did not fire


def test_remove_watches_refuses_the_persistent_types(zk):
    """A 3.6-3.8 server's removeWatches takes CHILDREN, DATA and ANY only: PERSISTENT (4)
    and PERSISTENT_RECURSIVE (5) get MARSHALLINGERROR, and the watch stays (why the
    client sends ANY for them; docs/reliability.md, "Known limits")."""
    s, base = zk
    p = f"{base}/pr"
    s.create(p)
    assert s.ok(C.encode_add_watch, C.KIND_INT, p, 1) == 0      # AddWatchMode PERSISTENT_RECURSIVE
    for persistent_type in (WATCH_PERSISTENT, WATCH_PERSISTENT_RECURSIVE):
        assert s.call(C.encode_remove_watches, C.KIND_NONE, p, persistent_type)[2:] == (MARSHALLING, None)
    s.ok(C.encode_set_data, C.KIND_STAT, p, b"x", -1)
    assert s.event() == WatcherEvent(NODE_DATA_CHANGED, SYNC_CONNECTED, p)   # still watched
    assert s.call(C.encode_remove_watches, C.KIND_NONE, p, WATCH_ANY)[2:] == (0, None)


def test_set_watches_replays_missed_changes(zk, session_factory):
    s, base = zk
    p = f"{base}/sw"
    s.create(p, b"0")
    before = s.stat(p).mzxid
    s.ok(C.encode_set_data, C.KIND_STAT, p, b"1", -1)
    s.create(f"{base}/gone")
    s.call(C.encode_delete, C.KIND_NONE, f"{base}/gone", -1)
    # a new session registers watches "as of" an older zxid (as on reconnect):
    # the server fires at once for what changed since
    other = session_factory()
    reply = other.send(C.encode_set_watches(before, [p], [f"{base}/later"], [base]),
                       C.XID_SET_WATCHES, C.KIND_NONE)
    assert reply[0] == C.XID_SET_WATCHES and reply[2:] == (0, None)
    got = {other.event(), other.event()}
    assert got == {WatcherEvent(NODE_DATA_CHANGED, SYNC_CONNECTED, p),
                   WatcherEvent(NODE_CHILDREN_CHANGED, SYNC_CONNECTED, base)}
    # the exist watch on a node that still does not exist stays armed
    other.ping()
    assert other.events == []
    s.create(f"{base}/later")
    assert other.event() == WatcherEvent(NODE_CREATED, SYNC_CONNECTED, f"{base}/later")


def test_set_watches_up_to_date_then_fire(zk, session_factory):
    s, base = zk
    p = f"{base}/sw"
    s.create(p, b"0")
    other = session_factory()
    now = other.stat(p).mzxid
    other.send(C.encode_set_watches(now, [p], [], []), C.XID_SET_WATCHES, C.KIND_NONE)
    other.ping()
    assert other.events == []
    s.ok(C.encode_set_data, C.KIND_STAT, p, b"1", -1)
    assert other.event() == WatcherEvent(NODE_DATA_CHANGED, SYNC_CONNECTED, p)


def test_set_watches2_persistent(zk, session_factory):
    s, base = zk
    p = f"{base}/sw2"
    s.create(p, b"0")
    other = session_factory()
    now = other.stat(p).mzxid
    reply = other.send(C.encode_set_watches2(now, [], [], [], [p], [base]),
                       C.XID_SET_WATCHES, C.KIND_NONE)
    assert reply[2:] == (0, None)
    for v in (b"1", b"2"):
        s.ok(C.encode_set_data, C.KIND_STAT, p, v, -1)
        # the persistent watch on p and the recursive one on base both see it
        assert other.event() == WatcherEvent(NODE_DATA_CHANGED, SYNC_CONNECTED, p)
    s.create(f"{p}/deep")
    assert other.event() == WatcherEvent(NODE_CREATED, SYNC_CONNECTED, f"{p}/deep")


# ===================================================================== reconfig

def test_reconfig_is_disabled(session_factory):
    s = session_factory()
    _xid, _zxid, err, body = s.call(C.encode_reconfig, C.KIND_DATA_STAT, None, None, None, -1)
    assert (err, body) == (RECONFIG_DISABLED, None)
