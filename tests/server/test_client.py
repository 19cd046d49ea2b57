"""The sync Client against a real server: every call and its error paths.

The tests about the client's life cycle (start, close, resuming a session) run on
both clients (the ``kind`` fixture; AsyncClient through tests/clients.py's blocking
facade); the rest are about the sync API itself.
"""

from __future__ import annotations

import threading
import time

import pytest

import zkfast
from zkfast import (
    ACL,
    BadVersionError,
    Check,
    ClientInfo,
    Create,
    Delete,
    EventType,
    GetChildren,
    GetData,
    Id,
    InvalidACLError,
    InvalidArgumentError,
    InvalidPathError,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    NoChildrenForEphemeralsError,
    Perm,
    ReconfigDisabledError,
    RequestTooLargeError,
    RolledBackError,
    RuntimeInconsistencyError,
    SetData,
    Stat,
    State,
    TransactionFailedError,
    WatcherType,
    digest_acl,
)
from zkfast.testing import ZooKeeperServer

from clients import dispose, new_client, workers_alive
from helpers import EventLog, wait_until


def test_backend_reported() -> None:
    assert zkfast.codec_backend in ("cython", "python")


def test_create_get_set_delete(zk: zkfast.Client) -> None:
    assert zk.create("/n", b"v1") == "/n"
    value, stat = zk.get("/n")
    assert value == b"v1" and isinstance(stat, Stat) and stat.version == 0
    st = zk.set("/n", b"v2")
    assert st.version == 1 and st.data_length == 2
    assert zk.get("/n")[0] == b"v2"
    with pytest.raises(BadVersionError) as ei:
        zk.set("/n", b"v3", version=0)
    assert ei.value.path == "/n" and ei.value.code == -103
    zk.delete("/n", version=1)
    assert zk.exists("/n") is None
    with pytest.raises(NoNodeError):
        zk.delete("/n")


def test_create_errors(zk: zkfast.Client) -> None:
    zk.create("/e")
    with pytest.raises(NodeExistsError):
        zk.create("/e")
    with pytest.raises(NoNodeError):
        zk.create("/missing/child")
    zk.create("/eph", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create("/eph/child")
    zk.create("/e/c")
    with pytest.raises(NotEmptyError):
        zk.delete("/e")


def test_create_include_data_and_makepath(zk: zkfast.Client) -> None:
    path, stat = zk.create("/a/b/c", b"x", makepath=True, include_data=True)
    assert path == "/a/b/c" and stat.data_length == 1
    assert zk.exists("/a/b") is not None
    assert zk.create("/a/b/d", makepath=True) == "/a/b/d"


def test_sequential_and_ephemeral(zk: zkfast.Client) -> None:
    zk.create("/q")
    p1 = zk.create("/q/item-", b"", sequence=True)
    p2 = zk.create("/q/item-", b"", sequence=True)
    assert p1 == "/q/item-0000000000" and p2 == "/q/item-0000000001"
    e = zk.create("/q/e-", ephemeral=True, sequence=True)
    assert zk.exists(e).ephemeral_owner == zk.session_id
    assert zk.get_ephemerals() == [e]
    assert zk.get_ephemerals("/q/e") == [e]
    # a sequential create may end in '/'
    zk.create("/q/dir")
    assert zk.create("/q/dir/", sequence=True) == "/q/dir/0000000000"


def test_ensure_path_and_recursive_delete(zk: zkfast.Client) -> None:
    zk.ensure_path("/x/y/z")
    zk.ensure_path("/x/y/z")  # idempotent
    for i in range(30):
        zk.create(f"/x/y/n{i}", b"d")
        zk.create(f"/x/y/n{i}/leaf")
    assert zk.count_children("/x") == 62
    zk.delete("/x", recursive=True)
    assert zk.exists("/x") is None
    zk.delete("/x", recursive=True)  # missing is fine


def test_get_children(zk: zkfast.Client) -> None:
    zk.create("/p")
    names = {f"c{i}" for i in range(50)}
    for n in names:
        zk.create(f"/p/{n}")
    assert set(zk.get_children("/p")) == names
    children, stat = zk.get_children("/p", include_data=True)
    assert set(children) == names and stat.num_children == 50
    with pytest.raises(NoNodeError):
        zk.get_children("/nope")


def test_exists_stat_fields(zk: zkfast.Client) -> None:
    zk.create("/s", b"abc")
    st = zk.exists("/s")
    assert st.data_length == 3 and st.num_children == 0 and st.ephemeral_owner == 0
    assert st.czxid == st.mzxid and st.ctime > 0 and abs(st.created - time.time()) < 600


def test_null_and_binary_data(zk: zkfast.Client) -> None:
    blob = bytes(range(256)) * 10
    zk.create("/b", blob)
    assert zk.get("/b")[0] == blob
    zk.set("/b", bytearray(b"ba"))
    assert zk.get("/b")[0] == b"ba"
    zk.set("/b", memoryview(b"mv"))
    assert zk.get("/b")[0] == b"mv"


def test_bad_input_raises_before_sending(zk: zkfast.Client) -> None:
    for bad in ("", "noslash", "/trailing/", "/a//b", "/a/./b", "/a/../b", "/a\x00b", "/\x01"):
        with pytest.raises(InvalidPathError):
            zk.get(bad)
    with pytest.raises(InvalidPathError):
        zk.create(123)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        zk.create("/v", "text not bytes")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        zk.set("/v", b"x", version=-5)
    with pytest.raises(InvalidArgumentError):
        zk.create("/v", acl=[])
    with pytest.raises(InvalidArgumentError):
        zk.create("/v", acl=[("junk",)])
    with pytest.raises(InvalidArgumentError):
        zk.get("/v", watch="not callable")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        zk.create("/v", ephemeral=True, ttl=5)
    with pytest.raises(RequestTooLargeError) as ei:
        zk.create("/big", b"x" * (1 << 20))
    assert ei.value.size > ei.value.limit
    # nothing was created and the session is still fine
    assert zk.exists("/v") is None and zk.exists("/big") is None
    assert zk.create("/ok") == "/ok"


def test_unknown_acl_scheme_is_refused(zk: zkfast.Client) -> None:
    with pytest.raises(InvalidACLError):
        zk.create("/bad-acl", acl=[ACL(31, Id("no-such-scheme", "x"))])


def test_acls_and_digest_auth(zk: zkfast.Client, make_client) -> None:
    acl = [digest_acl(Perm.ALL, "bob", "secret")]
    zk.add_auth("digest", "bob:secret")
    zk.create("/secret", b"s", acl=acl)
    acls, stat = zk.get_acls("/secret")
    assert acls == acl and stat.aversion == 0
    other = make_client()
    with pytest.raises(NoAuthError):
        other.get("/secret")
    other.add_auth("digest", "bob:secret")
    assert other.get("/secret")[0] == b"s"
    st = zk.set_acls("/secret", zkfast.OPEN_ACL_UNSAFE, version=0)
    assert st.aversion == 1
    assert make_client().get("/secret")[0] == b"s"
    who = zk.whoami()
    assert ClientInfo("digest", "bob") in who


def test_auth_data_option_and_creator_acl(make_client) -> None:
    c = make_client(auth_data=[("digest", "alice:pw")])
    c.create("/mine", b"m", acl=zkfast.CREATOR_ALL_ACL)
    acls, _ = c.get_acls("/mine")
    assert acls[0].id == Id("digest", zkfast.make_digest_id("alice", "pw"))
    with pytest.raises(NoAuthError):
        make_client().get("/mine")


def test_sync_and_count(zk: zkfast.Client) -> None:
    zk.create("/c")
    assert zk.sync("/c") == "/c"
    assert zk.count_children("/c") == 0


def test_multi_success_and_failure(zk: zkfast.Client) -> None:
    zk.create("/m", b"0")
    res = zk.multi(Check("/m", 0), SetData("/m", b"1"), Create("/m/a", b"x"), Create("/m/s-", sequence=True))
    assert res[0] is True and isinstance(res[1], Stat) and res[2] == "/m/a"
    assert res[3] == "/m/s-0000000001"
    with pytest.raises(TransactionFailedError) as ei:
        zk.multi(Create("/m/b"), Check("/m", 0), Delete("/m/a"))
    r = ei.value.results
    assert isinstance(r[0], RolledBackError)
    assert isinstance(r[1], BadVersionError) and r[1].path == "/m"
    assert isinstance(r[2], RuntimeInconsistencyError)
    assert isinstance(ei.value.failure, BadVersionError)
    assert zk.exists("/m/b") is None  # nothing applied


def test_transaction_builder(zk: zkfast.Client) -> None:
    zk.create("/t")
    results = zk.transaction().create("/t/a").set_data("/t", b"x").check("/t", 1).delete("/t/a").commit()
    assert results[0] == "/t/a" and isinstance(results[1], Stat) and results[2] is True and results[3] is True
    failed = zk.transaction().create("/t/b").check("/t", 99).commit()
    assert isinstance(failed[0], RolledBackError) and isinstance(failed[1], BadVersionError)


def test_multi_read(zk: zkfast.Client) -> None:
    zk.create("/r", b"rv")
    zk.create("/r/k1")
    res = zk.multi_read(GetData("/r"), GetChildren("/r"), GetData("/r/missing"))
    assert res[0][0] == b"rv" and isinstance(res[0][1], Stat)
    assert res[1] == ["k1"]
    assert isinstance(res[2], NoNodeError)


def test_ttl_and_container_nodes(zk: zkfast.Client) -> None:
    p = zk.create("/ttl", b"t", ttl=0.5)
    assert p == "/ttl"
    seq = zk.create("/ttl-s-", ttl=10, sequence=True)
    assert seq.startswith("/ttl-s-")
    assert zk.create("/cont", container=True) == "/cont"
    zk.create("/cont/child")
    zk.delete("/cont/child")
    # The server's container/TTL reaper runs every few seconds here
    # (znode.container.checkIntervalMs); both nodes go away by themselves.
    wait_until(lambda: zk.exists("/cont") is None and zk.exists("/ttl") is None, timeout=60, interval=0.5)


def test_reconfig_disabled(zk: zkfast.Client) -> None:
    with pytest.raises(ReconfigDisabledError):
        zk.reconfig(joining="server.9=127.0.0.1:1:2;3")


def test_one_shot_watches(zk: zkfast.Client, events) -> None:
    zk.create("/w", b"0")
    data_ev, child_ev, exist_ev = events(), events(), events()
    zk.get("/w", watch=data_ev)
    zk.get_children("/w", watch=child_ev)
    assert zk.exists("/w/new", watch=exist_ev) is None
    zk.set("/w", b"1")
    zk.set("/w", b"2")  # one-shot: only the first change fires
    zk.create("/w/new")
    assert data_ev.wait(1)[0] == zkfast.WatchedEvent(EventType.NODE_DATA_CHANGED, State.CONNECTED, "/w")
    assert exist_ev.wait(1)[0].type == EventType.NODE_CREATED and exist_ev.events[0].path == "/w/new"
    assert child_ev.wait(1)[0].type == EventType.NODE_CHILDREN_CHANGED
    time.sleep(0.2)
    assert len(data_ev.events) == 1 and len(child_ev.events) == 1 and len(exist_ev.events) == 1


def test_delete_fires_data_and_child_watches(zk: zkfast.Client, events) -> None:
    zk.create("/d")
    ev = events()
    zk.get("/d", watch=ev)
    zk.get_children("/d", watch=ev)  # same watcher on two tables: one event per table semantics
    zk.delete("/d")
    got = ev.wait(1)
    assert got[0].type == EventType.NODE_DELETED and got[0].path == "/d"
    time.sleep(0.2)
    assert len(ev.events) == 1  # a watcher fires once per event even if registered twice


def test_persistent_and_recursive_watches(zk: zkfast.Client, make_client, events) -> None:
    # The server keeps one watch mode per path and session, so the recursive
    # watch on the same path lives on a second session.
    zk.create("/pw")
    other = make_client()
    p, r = events(), events()
    zk.add_watch("/pw", p)
    other.add_watch("/pw", r, recursive=True)
    zk.set("/pw", b"1")
    zk.set("/pw", b"2")
    zk.create("/pw/a")
    zk.create("/pw/a/b")
    zk.set("/pw/a/b", b"x")
    zk.delete("/pw/a/b")
    pt = [(e.type, e.path) for e in p.wait(3)]
    assert pt[:3] == [(EventType.NODE_DATA_CHANGED, "/pw"), (EventType.NODE_DATA_CHANGED, "/pw"),
                      (EventType.NODE_CHILDREN_CHANGED, "/pw")]
    rt = [(e.type, e.path) for e in r.wait(6)]
    assert rt == [(EventType.NODE_DATA_CHANGED, "/pw"), (EventType.NODE_DATA_CHANGED, "/pw"),
                  (EventType.NODE_CREATED, "/pw/a"), (EventType.NODE_CREATED, "/pw/a/b"),
                  (EventType.NODE_DATA_CHANGED, "/pw/a/b"), (EventType.NODE_DELETED, "/pw/a/b")]
    # removal: the watcher is told, and no more events come
    other.remove_watches("/pw", WatcherType.PERSISTENT_RECURSIVE)
    wait_until(lambda: any(e.type == EventType.PERSISTENT_WATCH_REMOVED for e in r.events))
    n = len(r.events)
    zk.set("/pw", b"3")
    p.wait(4)
    time.sleep(0.2)
    assert len(r.events) == n


def test_remove_one_shot_watch(zk: zkfast.Client, events) -> None:
    zk.create("/rw")
    ev = events()
    zk.get("/rw", watch=ev)
    zk.remove_watches("/rw", WatcherType.DATA)
    assert ev.wait(1)[0].type == EventType.DATA_WATCH_REMOVED
    zk.set("/rw", b"x")
    time.sleep(0.2)
    assert len(ev.events) == 1
    with pytest.raises(zkfast.NoWatcherError):
        zk.remove_watches("/rw", WatcherType.DATA)
    ev2 = events()
    zk.get_children("/rw", watch=ev2)
    zk.remove_watches("/rw", WatcherType.CHILDREN, local=True)
    assert ev2.wait(1)[0].type == EventType.CHILD_WATCH_REMOVED


def test_chroot_is_stripped_everywhere(zk: zkfast.Client, zk_server: ZooKeeperServer, zk_chroot: str,
                                       events) -> None:
    assert zk.chroot == zk_chroot
    assert zk.create("/cr", b"") == "/cr"
    assert zk.create("/cr/s-", sequence=True, include_data=True)[0] == "/cr/s-0000000000"
    assert zk.sync("/cr") == "/cr"
    e = zk.create("/cr/eph", ephemeral=True)
    assert zk.get_ephemerals() == [e]
    ev = events()
    zk.add_watch("/", ev, recursive=True)
    zk.set("/cr", b"z")
    assert ev.wait(1)[0].path == "/cr"
    assert zk.multi(Create("/cr/m"))[0] == "/cr/m"
    # the node really lives under the chroot
    raw = zkfast.Client(zk_server.hosts).start()
    try:
        assert raw.exists(zk_chroot + "/cr/m") is not None
    finally:
        raw.close()


# sync-only: a sleeping plain callback would stall AsyncClient's loop by design
# (its twin with coroutine callbacks is in test_aio.py)
def test_watch_callbacks_run_in_order_off_the_io_thread(zk: zkfast.Client) -> None:
    zk.create("/order")
    seen = []
    io_threads = []

    def cb(event):
        seen.append(event.path)
        io_threads.append(threading.current_thread().name)
        time.sleep(0.05)  # a slow callback must not stall replies

    zk.add_watch("/order", cb, recursive=True)
    for i in range(10):
        zk.create(f"/order/n{i}")
    # replies keep flowing while callbacks are still sleeping
    t = time.monotonic()
    for _ in range(20):
        zk.get("/order")
    assert time.monotonic() - t < 0.05 * 10 + 5
    wait_until(lambda: len(seen) == 10)
    assert seen == [f"/order/n{i}" for i in range(10)]
    assert {n.split("[")[0] for n in io_threads} == {"zkfast-dispatch"}


# sync-only: threads sharing one Client (AsyncClient's pipelining: test_aio.py's gather test)
def test_pipelined_async_from_many_threads(zk: zkfast.Client) -> None:
    zk.create("/pipe", b"v")
    errors = []

    def worker(k: int) -> None:
        try:
            futs = [zk.create_async(f"/pipe/t{k}-{i}", b"%d" % i) for i in range(300)]
            assert [f.result(30) for f in futs] == [f"/pipe/t{k}-{i}" for i in range(300)]
            gets = [zk.get_async(f"/pipe/t{k}-{i}") for i in range(300)]
            assert [g.result(30)[0] for g in gets] == [b"%d" % i for i in range(300)]
            dels = [zk.delete_async(f"/pipe/t{k}-{i}") for i in range(300)]
            for d in dels:
                d.result(30)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert zk.get_children("/pipe") == []


def test_future_callbacks_and_exceptions(zk: zkfast.Client) -> None:
    done = threading.Event()
    got = []
    fut = zk.get_async("/missing")
    fut.add_done_callback(lambda f: (got.append(f.exception()), done.set()))
    assert done.wait(10)
    assert isinstance(got[0], NoNodeError)
    with pytest.raises(NoNodeError):
        fut.result()
    f2 = zk.exists_async("/")
    assert f2.result(10) is not None and f2.done()
    late = []
    f2.add_done_callback(late.append)  # already done: still called
    wait_until(lambda: late)


def test_state_listener_and_close(kind: str, make_client) -> None:
    states = []
    c = make_client(start=False, kind=kind)
    c.add_listener(states.append)
    c.start()
    assert c.state == State.CONNECTED and c.connected
    c.create("/eph", ephemeral=True)
    sid = c.session_id
    c.close()
    assert c.state == State.CLOSED
    assert states[0] == State.CONNECTED and states[-1] == State.CLOSED
    with pytest.raises(zkfast.ClosedError):
        c.get("/")
    other = make_client()
    assert other.exists("/eph") is None  # closing ended the session
    assert other.session_id != sid
    c.close()  # twice is fine
    assert c.state == State.CLOSED and not workers_alive(c)


def test_close_leaves_no_threads(make_client) -> None:
    before = set(threading.enumerate())
    for _ in range(5):
        c = make_client()
        c.get("/")
        c.close()
    wait_until(lambda: set(threading.enumerate()) <= before, timeout=10)


@pytest.mark.parametrize("kind", ["async"])  # the twin of the test above: tasks, not threads
def test_close_leaves_no_tasks(kind: str, make_client) -> None:
    made = []
    for _ in range(5):
        c = make_client(kind=kind)
        c.get("/")
        c.close()
        made.append(c)
    wait_until(lambda: not any(workers_alive(c) for c in made), timeout=10)


def test_resume_session_with_client_id(kind: str, make_client) -> None:
    a = make_client(kind=kind)
    a.create("/keep", ephemeral=True)
    sid, pw = a.client_id
    b = make_client(client_id=(sid, pw), kind=kind)
    assert b.session_id == sid
    assert b.exists("/keep").ephemeral_owner == sid


def test_server_version(zk: zkfast.Client) -> None:
    assert zk.server_version().startswith("3.")


def test_start_timeout_on_dead_server(kind: str) -> None:
    c = new_client(kind, "127.0.0.1:1", connection_timeout=0.2)
    try:
        with pytest.raises(zkfast.WaitTimeoutError):
            c.start(timeout=1.0)
        assert c.state == State.CLOSED
        assert not workers_alive(c)
    finally:
        dispose(c)


def test_go_style_watch_objects(zk: zkfast.Client) -> None:
    zk.create("/gw", b"1")
    value, stat, w = zk.get_w("/gw")
    assert value == b"1" and not w.is_set()
    children, _, cw = zk.children_w("/gw")
    st, ew = zk.exists_w("/gw/new")
    assert children == [] and st is None
    with pytest.raises(zkfast.WaitTimeoutError):
        w.wait(0.05)
    zk.set("/gw", b"2")
    zk.create("/gw/new")
    assert w.wait(10).type == EventType.NODE_DATA_CHANGED
    assert cw.wait(10).type == EventType.NODE_CHILDREN_CHANGED
    assert ew.wait(10).type == EventType.NODE_CREATED


def test_close_ends_the_session_every_time(kind: str, make_client) -> None:
    # closeSession must reach the server on every close: the ephemeral node is gone
    # at once, not at session expiry
    watcher = make_client()
    for i in range(15):
        c = make_client(session_timeout=30, kind=kind)
        c.create(f"/eph{i}", ephemeral=True)
        c.close()
        assert watcher.exists(f"/eph{i}") is None


def test_remaining_async_forms(zk: zkfast.Client, events) -> None:
    eph = zk.create("/ae", ephemeral=True)
    assert zk.get_ephemerals_async().result(10) == [eph]
    assert zk.whoami_async().result(10)[0].auth_scheme == "ip"
    ev = events()
    assert zk.add_watch_async("/ae", ev).result(10) is None
    zk.set("/ae", b"x")
    assert ev.wait(1)[0].type == EventType.NODE_DATA_CHANGED


def test_recipe_factories_and_big_recursive_delete(zk: zkfast.Client) -> None:
    lock = zk.Lock("/locks/a")
    with lock:
        assert lock.is_acquired
    futs = [zk.create_async(f"/big/n{i}", makepath=False) for i in range(0)]
    zk.ensure_path("/big")
    futs = [zk.create_async(f"/big/n{i}") for i in range(3000)]
    for f in futs:
        f.result(30)
    zk.create("/big/n0/deeper")
    zk.delete("/big", recursive=True)
    assert zk.exists("/big") is None


# sync-only: about Client's leader/follower reads (a caller reading its own reply mutes the I/O thread)
@pytest.mark.parametrize("calls", [1, 3000], ids=["one-call", "burst"])
def test_what_arrives_after_sync_calls_is_read_at_once(make_client, calls: int) -> None:
    # A caller waiting for its reply reads the socket itself and mutes it in the I/O
    # thread's epoll meanwhile. What arrives after the last call (a watch event, a
    # reply with only a done-callback) must still be read then, not at the next
    # ping: with a 40 s session that is ~13 s away, so the 6 s bounds below only
    # fail when nobody reads (a mute left behind).
    zk = make_client(session_timeout=40.0)
    other = make_client()
    zk.create("/w", b"0")
    for round_ in range(3):
        log = EventLog()
        for _ in range(calls):
            zk.get("/w")
        zk.exists("/w", watch=log)
        other.set("/w", str(round_).encode())
        assert log.wait(1, timeout=6)[0].type == EventType.NODE_DATA_CHANGED
        done = threading.Event()
        for _ in range(calls):
            zk.exists("/w")
        zk.get_async("/w").add_done_callback(lambda f: done.set())
        assert done.wait(6), "a reply nobody waited on was not read"
