"""The sans-IO session engine, driven with bytes alone (no sockets, no threads).

Frames are built by hand with ``jute_builders`` (independent of both codec
backends); the engine's output frames are checked byte for byte.
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

import pytest

import jute_builders as jb
from zkfast import Client, EventType, State, WatchedEvent
from zkfast.errors import (
    AuthFailedError,
    CodecError,
    ConnectionLossError,
    InvalidArgumentError,
    NoNodeError,
    ProtocolError,
    SessionExpiredError,
)
from zkfast.protocol import SessionEngine
from zkfast.requests import PendingRequest
from zkfast.transaction import Create, Delete

OP_GET_DATA, OP_CREATE, OP_GET_CHILDREN, OP_SET_WATCHES, OP_SET_WATCHES2 = 4, 1, 8, 101, 105
XID_NOTIFICATION, XID_PING, XID_AUTH = -1, -2, -4
SID = 0x1000ABCDEF0001
PASSWD = b"\x5a" * 16
STAT = jb.sample_stat(czxid=5, mzxid=6, version=1)


def make_engine(hosts: str = "127.0.0.1:2181", **kw: Any) -> SessionEngine:
    return SessionEngine(Client(hosts, **kw).config)


class Completions:
    """The ``complete`` callback: records what each request finished with."""

    def __init__(self) -> None:
        self.done: List[Tuple[PendingRequest, Any, Optional[BaseException]]] = []

    def __call__(self, req: PendingRequest, result: Any, exc: Optional[BaseException]) -> None:
        req.done_flag = True
        self.done.append((req, result, exc))

    def only(self) -> Tuple[PendingRequest, Any, Optional[BaseException]]:
        assert len(self.done) == 1, self.done
        return self.done[0]


def connected(engine: SessionEngine, timeout_ms: int = 6000) -> SessionEngine:
    engine.connect_frame()
    assert engine.receive_handshake(jb.connect_response(timeout=timeout_ms, session_id=SID,
                                                        passwd=PASSWD)) is not None
    engine.connection_ready()
    return engine


def watcher_log() -> Tuple[List[WatchedEvent], Any]:
    seen: List[WatchedEvent] = []
    return seen, seen.append


# ---------------------------------------------------------------- handshake


def test_connect_frame_of_a_new_session() -> None:
    engine = make_engine(session_timeout=6.0)
    expected = jb.frame(jb.i32(0) + jb.i64(0) + jb.i32(6000) + jb.i64(0) + jb.buffer(b"\0" * 16)
                        + jb.boolean(False))
    assert engine.connect_frame() == expected


def test_handshake_split_across_reads_and_resumed_session() -> None:
    engine = make_engine(session_timeout=6.0)
    engine.connect_frame()
    resp = jb.connect_response(timeout=4000, session_id=SID, passwd=PASSWD)
    assert engine.receive_handshake(resp[:7]) is None          # half a frame: nothing yet
    got = engine.receive_handshake(resp[7:])
    assert got is not None and got.session_id == SID
    assert engine.negotiated_timeout == 4.0
    assert engine.read_timeout == pytest.approx(4.0 * 2 / 3)
    assert engine.ping_interval == pytest.approx(engine.read_timeout / 2)
    # the next connection asks to resume that session, with the last zxid seen
    engine.last_zxid = 0x33
    expected = jb.frame(jb.i32(0) + jb.i64(0x33) + jb.i32(6000) + jb.i64(SID) + jb.buffer(PASSWD)
                        + jb.boolean(False))
    assert engine.connect_frame() == expected


def test_a_zero_timeout_means_the_session_expired() -> None:
    engine = make_engine()
    engine.session_id, engine.passwd, engine.last_zxid = SID, PASSWD, 9
    engine.connect_frame()
    with pytest.raises(SessionExpiredError):
        engine.receive_handshake(jb.connect_response(timeout=0))
    assert (engine.session_id, engine.passwd, engine.last_zxid) == (0, None, 0)


# ---------------------------------------------------------------- requests and replies


def test_a_get_goes_out_as_bytes_and_its_reply_completes_it() -> None:
    engine = connected(make_engine())
    req = engine.op_get("/a")
    frame = engine.frame_for(req)
    assert frame == jb.request(1, OP_GET_DATA, jb.string("/a") + jb.boolean(False))
    done = Completions()
    engine.receive(jb.reply(1, zxid=0x20, body=jb.buffer(b"v") + jb.stat(STAT)), done)
    r, result, exc = done.only()
    assert r is req and exc is None and result == (b"v", STAT)
    assert engine.pending == {} and engine.last_zxid == 0x20


def test_replies_in_pieces_and_many_in_one_read() -> None:
    engine = connected(make_engine())
    reqs = [engine.op_get(f"/n{i}") for i in range(3)]
    for r in reqs:
        engine.frame_for(r)
    stream = b"".join(jb.reply(i + 1, zxid=i + 1, body=jb.buffer(b"%d" % i) + jb.stat(STAT))
                      for i in range(3))
    done = Completions()
    engine.receive(stream[:5], done)
    assert done.done == []
    engine.receive(stream[5:], done)
    assert [r for r, _, _ in done.done] == reqs
    assert [res[0] for _, res, _ in done.done] == [b"0", b"1", b"2"]


def test_a_server_error_becomes_the_typed_exception() -> None:
    engine = connected(make_engine())
    req = engine.op_get("/missing")
    engine.frame_for(req)
    done = Completions()
    engine.receive(jb.reply(1, zxid=3, err=-101), done)
    _, _, exc = done.only()
    assert isinstance(exc, NoNodeError) and exc.path == "/missing"


def test_ping_replies_complete_nothing_and_never_move_the_zxid() -> None:
    engine = connected(make_engine())
    assert engine.ping_frame() == jb.request(XID_PING, 11)
    done = Completions()
    engine.receive(jb.reply(XID_PING, zxid=0x4242), done)
    assert done.done == [] and engine.last_zxid == 0


def test_a_reply_nobody_asked_for_is_refused_without_touching_the_session() -> None:
    """A forged frame (unknown xid, huge zxid) must not become the last zxid
    seen: the server would then refuse every reconnect of this session."""
    engine = connected(make_engine())
    engine.frame_for(engine.op_get("/a"))
    done = Completions()
    engine.receive(jb.reply(1, zxid=5, body=jb.buffer(b"") + jb.stat(STAT)), done)
    with pytest.raises(ProtocolError):
        engine.receive(jb.reply(77, zxid=0x4242424242424242, body=b""), done)
    assert engine.last_zxid == 5 and engine.session_id == SID
    with pytest.raises(CodecError):  # nothing more from that connection is trusted
        engine.receive(b"", done)
    engine.connection_lost()
    assert engine.connect_frame()[8:16] == jb.i64(5)  # the next connect claims zxid 5


def test_a_corrupt_stream_completes_what_came_before_it() -> None:
    engine = connected(make_engine())
    a, b = engine.op_get("/a"), engine.op_get("/b")
    engine.frame_for(a)
    engine.frame_for(b)
    done = Completions()
    good = jb.reply(1, zxid=2, body=jb.buffer(b"x") + jb.stat(STAT))
    with pytest.raises(CodecError):
        engine.receive(good + jb.i32(-5) + b"junk", done)
    assert [r for r, _, _ in done.done] == [a]
    assert engine.connection_lost() == [b]


def test_a_drop_hands_back_every_request_in_flight() -> None:
    engine = connected(make_engine())
    reqs = [engine.op_get("/a"), engine.op_set("/b", b"1"), engine.op_delete("/c")]
    for r in reqs:
        engine.frame_for(r)
    lost = engine.connection_lost()
    assert lost == reqs and engine.pending == {} and not engine.connected


def test_a_read_interrupted_midway_loses_no_request() -> None:
    """KeyboardInterrupt while replies are handed out: the requests not yet
    completed stay owed, the stream is refused, and the drop returns them."""
    engine = connected(make_engine())
    reqs = [engine.op_get(f"/n{i}") for i in range(4)]
    for r in reqs:
        engine.frame_for(r)
    stream = b"".join(jb.reply(i + 1, zxid=i + 1, body=jb.buffer(b"") + jb.stat(STAT))
                      for i in range(4))
    done = Completions()

    def complete(req: PendingRequest, result: Any, exc: Optional[BaseException]) -> None:
        done(req, result, exc)
        if len(done.done) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        engine.receive(stream, complete)
    with pytest.raises(CodecError):
        engine.receive(b"", done)
    lost = engine.connection_lost()
    assert [r for r in lost if not r.done_flag] == reqs[2:]
    assert all(r.done_flag for r in reqs[:2])


# ---------------------------------------------------------------- watches


def test_watch_registered_on_success_fires_once_and_is_replayed() -> None:
    engine = connected(make_engine())
    seen, w = watcher_log()
    req = engine.op_get("/w", w)
    assert engine.frame_for(req) == jb.request(1, OP_GET_DATA, jb.string("/w") + jb.boolean(True))
    engine.receive(jb.reply(1, zxid=7, body=jb.buffer(b"") + jb.stat(STAT)), Completions())
    # after a reconnect the watch goes back to the server, relative to zxid 7
    assert engine.watch_replay_frames() == [jb.request(
        -8, OP_SET_WATCHES, jb.i64(7) + jb.strings(["/w"]) + jb.strings([]) + jb.strings([]))]
    notification = jb.reply(XID_NOTIFICATION, zxid=-1,
                            body=jb.watcher_event(EventType.NODE_DATA_CHANGED, 3, "/w"))
    engine.receive(notification, Completions())
    events = engine.take_events()
    assert [(fn, ev.type, ev.path) for fn, ev in events] == [(w, EventType.NODE_DATA_CHANGED, "/w")]
    engine.receive(notification, Completions())
    assert engine.take_events() == []  # one-shot: gone after firing
    assert engine.watch_replay_frames() == []


def test_a_failed_request_leaves_no_watch_but_exists_on_a_missing_node_does() -> None:
    engine = connected(make_engine())
    _, w = watcher_log()
    engine.frame_for(engine.op_get("/gone", w))
    engine.frame_for(engine.op_exists("/later", w))
    done = Completions()
    engine.receive(jb.reply(1, zxid=2, err=-101) + jb.reply(2, zxid=2, err=-101), done)
    assert isinstance(done.done[0][2], NoNodeError)
    assert done.done[1][1:] == (None, None)  # exists(): None, an answer
    assert engine.watches.snapshot()[:3] == ([], ["/later"], [])


def test_persistent_and_recursive_watches_use_set_watches2() -> None:
    engine = connected(make_engine())
    _, w = watcher_log()
    engine.frame_for(engine.op_add_watch("/p", w))
    engine.frame_for(engine.op_add_watch("/r", w, recursive=True))
    engine.receive(jb.reply(1, zxid=3, body=jb.i32(0)) + jb.reply(2, zxid=4, body=jb.i32(0)),
                   Completions())
    assert engine.watch_replay_frames() == [jb.request(
        -8, OP_SET_WATCHES2, jb.i64(4) + jb.strings([]) * 3 + jb.strings(["/p"]) + jb.strings(["/r"]))]
    # a recursive watch sees events anywhere below it, and stays
    ev = jb.reply(XID_NOTIFICATION, zxid=-1, body=jb.watcher_event(EventType.NODE_CREATED, 3, "/r/x/y"))
    engine.receive(ev, Completions())
    engine.receive(ev, Completions())
    assert [e.path for _, e in engine.take_events()] == ["/r/x/y", "/r/x/y"]


def test_expiry_ends_every_watch_with_not_watching() -> None:
    engine = connected(make_engine())
    seen, w = watcher_log()
    engine.frame_for(engine.op_get_children("/c", w))
    engine.receive(jb.reply(1, zxid=2, body=jb.strings(["x"])), Completions())
    engine.transition(State.EXPIRED)
    engine.session_ended(SessionExpiredError())
    [(fn, ev)] = engine.take_events()
    assert fn is w and ev.type == EventType.NOT_WATCHING and ev.path == "/c"
    assert isinstance(ev.error, SessionExpiredError)
    assert engine.watch_replay_frames() == []


def test_many_watches_replay_in_batches_under_the_frame_budget() -> None:
    engine = connected(make_engine())
    _, w = watcher_log()
    for i in range(6000):  # ~240 KB of paths
        engine.watches.add(1, f"/some/fairly/long/path/number/{i:06d}", w)
    frames = engine.watch_replay_frames()
    assert len(frames) >= 2 and all(len(f) < 130 * 1024 for f in frames)


# ---------------------------------------------------------------- chroot


def test_the_chroot_goes_out_and_comes_back_off() -> None:
    engine = connected(make_engine("127.0.0.1:2181/app"))
    seen, w = watcher_log()
    req = engine.op_create("/n", b"v")
    assert engine.frame_for(req)[12:12 + 4 + 6] == jb.string("/app/n")
    get = engine.op_get("/n", w)
    engine.frame_for(get)
    done = Completions()
    engine.receive(jb.reply(1, zxid=2, body=jb.string("/app/n"))
                   + jb.reply(2, zxid=3, body=jb.buffer(b"v") + jb.stat(STAT)), done)
    assert done.done[0][1] == "/n"
    engine.receive(jb.reply(XID_NOTIFICATION, zxid=-1,
                            body=jb.watcher_event(EventType.NODE_DELETED, 3, "/app/n")), done)
    assert [ev.path for _, ev in engine.take_events()] == ["/n"]
    assert engine.server_path("/") == "/app"


# ---------------------------------------------------------------- auth, state, queue


def test_auth_replay_and_a_refused_identity() -> None:
    engine = connected(make_engine(auth_data=[("digest", "u:p"), ("foo", "bar")]))
    frames = engine.auth_replay_frames()
    assert frames[0] == jb.frame(jb.i32(XID_AUTH) + jb.i32(100) + jb.i32(0) + jb.string("digest")
                                 + jb.buffer(b"u:p"))
    assert not engine.auth_replay_done
    engine.receive(jb.reply(XID_AUTH, zxid=0), Completions())
    assert not engine.auth_replay_done
    with pytest.raises(AuthFailedError):
        engine.receive(jb.reply(XID_AUTH, zxid=0, err=-115), Completions())
    assert engine.state == State.AUTH_FAILED


def test_state_transitions_are_announced_once() -> None:
    engine = make_engine()
    assert engine.state == State.CONNECTING
    assert engine.transition(State.CONNECTED) is True
    assert engine.transition(State.CONNECTED) is False
    assert engine.transition(State.SUSPENDED) is True


def test_requests_made_while_disconnected_queue_and_expire() -> None:
    engine = make_engine()
    a, b = engine.op_get("/a"), engine.op_get("/b")
    engine.enqueue(a, now=10.0)
    engine.enqueue(b, now=20.0)
    assert engine.queued_count == 2
    assert engine.expire_queued(queued_before=15.0) == [a]
    assert engine.take_queued() == [b] and engine.queued_count == 0
    with pytest.raises(InvalidArgumentError):  # checked when queued, not when sent
        engine.enqueue(engine.op_multi([Create("/x"), Delete("/y", version=-7)]), now=0)


def test_multi_takes_only_op_records() -> None:
    engine = make_engine()
    with pytest.raises(InvalidArgumentError, match="op records"):
        engine.op_multi(["create /x"])


def test_connection_loss_error_carries_the_path() -> None:
    err = ConnectionLossError("gone", path="/a")
    assert err.path == "/a"
