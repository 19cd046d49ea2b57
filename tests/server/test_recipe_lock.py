"""Locks against a real server: exclusion, lost replies, herd-free wakeups, session loss."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any, List

import pytest

import zkfast
from zkfast import CancelledError, LockDeadlockError, NotLockedError, State
from zkfast.recipe import Lock, MultiLock, ReadLock, WriteLock
from zkfast.testing import TcpProxy, ZooKeeperServer

from helpers import wait_until, expire


def _nodes(zk: zkfast.Client, path: str) -> List[str]:
    try:
        return zk.get_children(path)
    except zkfast.NoNodeError:
        return []


def test_acquire_release_and_errors(zk: zkfast.Client) -> None:
    lock = Lock(zk, "/l", "me")
    with pytest.raises(NotLockedError):
        lock.release()
    assert lock.acquire()
    assert lock.is_acquired
    (name,) = zk.get_children("/l")
    assert name.startswith("_c_") and "-lock-" in name and lock.node == "/l/" + name
    assert zk.exists(lock.node).ephemeral_owner == zk.session_id
    with pytest.raises(LockDeadlockError):
        lock.acquire()
    assert lock.contenders() == ["me"]
    assert lock.release() is True
    assert not lock.is_acquired and _nodes(zk, "/l") == []
    with pytest.raises(NotLockedError):
        lock.release()
    with lock:
        assert lock.is_acquired
    assert not lock.is_acquired
    lock.lock()  # go-zookeeper names
    lock.unlock()


def test_nonblocking_and_timeout_leave_no_node(zk: zkfast.Client, make_client) -> None:
    holder = Lock(zk, "/l", "holder")
    assert holder.acquire()
    other = Lock(make_client(), "/l", "other")
    assert other.acquire(blocking=False) is False
    assert other.acquire(timeout=0.3) is False
    assert not other.is_acquired
    assert len(_nodes(zk, "/l")) == 1
    assert holder.contenders() == ["holder"]
    holder.release()
    assert other.acquire(timeout=5)
    other.release()


def test_twenty_contenders_never_overlap(make_client) -> None:
    setup = make_client()
    setup.create("/counter", b"0")
    inside = threading.Lock()  # held by whoever is in the critical section
    overlaps: List[int] = []
    errors: List[BaseException] = []
    rounds = 3

    def worker(i: int) -> None:
        try:
            c = make_client()
            lock = Lock(c, "/mutex", f"w{i}")
            for _ in range(rounds):
                with lock:
                    if not inside.acquire(blocking=False):
                        overlaps.append(i)
                        continue
                    try:
                        value, stat = c.get("/counter")
                        c.set("/counter", b"%d" % (int(value) + 1), version=stat.version)
                    finally:
                        inside.release()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert not overlaps
    assert setup.get("/counter")[0] == b"%d" % (20 * rounds)
    assert _nodes(setup, "/mutex") == []


def _is_lock_create_reply(body: bytes) -> bool:
    # reply header (16 bytes), then the created path as a jute string
    if len(body) < 21 or body[20:21] != b"/":
        return False
    return len(body) == 20 + int.from_bytes(body[16:20], "big") and b"-lock-" in body


def test_lost_create_reply_leaves_no_orphan(zk_server: ZooKeeperServer, zk_proxy: TcpProxy,
                                             zk_chroot: str, make_client) -> None:
    watcher = make_client()
    watcher.ensure_path("/l")
    c = make_client(hosts=zk_proxy.hosts)
    states: List[State] = []
    c.add_listener(states.append)
    fired = zk_proxy.drop_reply(_is_lock_create_reply)
    lock = Lock(c, "/l", "c")
    assert lock.acquire(timeout=20)
    assert fired.is_set() and State.SUSPENDED in states  # the reply really was lost
    assert _nodes(watcher, "/l") == [lock.node.rsplit("/", 1)[1]]  # one node, ours
    lock.release()
    assert _nodes(watcher, "/l") == []
    other = Lock(watcher, "/l")
    assert other.acquire(timeout=5)
    other.release()


def test_lost_create_reply_while_waiting_then_timeout(zk_proxy: TcpProxy, make_client) -> None:
    holder_client = make_client()
    holder = Lock(holder_client, "/l", "holder")
    holder.acquire()
    c = make_client(hosts=zk_proxy.hosts)
    fired = zk_proxy.drop_reply(_is_lock_create_reply)
    waiter = Lock(c, "/l", "waiter")
    assert waiter.acquire(timeout=1.0) is False
    assert fired.is_set()
    # the recovered node was cleaned up, not left queued behind the holder
    wait_until(lambda: _nodes(holder_client, "/l") == [holder.node.rsplit("/", 1)[1]])
    holder.release()


def test_waiters_are_woken_one_at_a_time(make_client) -> None:
    first = Lock(make_client(), "/herd", "holder")
    first.acquire()
    n = 6
    locks = [Lock(make_client(), "/herd", f"w{i}") for i in range(n)]
    acquired: List[int] = []
    go = [threading.Event() for _ in range(n)]

    def worker(i: int) -> None:
        locks[i].acquire()
        acquired.append(i)
        go[i].wait(30)
        locks[i].release()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    wait_until(lambda: all(lk.waiting for lk in locks), timeout=30)  # every watch is set
    assert sum(lk.wakeups for lk in locks) == 0
    first.release()
    for k in range(n):
        wait_until(lambda k=k: len(acquired) == k + 1, timeout=30)
        # exactly one notification per release: only the next waiter's watch fired
        assert sum(lk.wakeups for lk in locks) == k + 1, [lk.wakeups for lk in locks]
        go[acquired[k]].set()
    for t in threads:
        t.join(30)
    assert sorted(acquired) == list(range(n))


def test_holder_session_expiry_hands_over_and_tells_holder(zk_server: ZooKeeperServer,
                                                           make_client) -> None:
    a = make_client()
    states: List[State] = []
    lost_calls: List[int] = []
    lock_a = Lock(a, "/l", "a", listener=states.append, on_lost=lambda: lost_calls.append(1))
    assert lock_a.acquire()
    b = make_client()
    lock_b = Lock(b, "/l", "b")
    got: List[bool] = []
    t = threading.Thread(target=lambda: got.append(lock_b.acquire(timeout=30)))
    t.start()
    wait_until(lambda: len(lock_b.contenders()) == 2)
    expire(zk_server.hosts, a)
    t.join(30)
    assert got == [True] and lock_b.is_acquired
    wait_until(lambda: lock_a.lost.is_set())
    assert not lock_a.is_acquired and State.EXPIRED in states and lost_calls == [1]
    assert lock_a.release() is False  # acknowledging a lost lock does not raise
    # the old holder's client got a new session and can queue again
    wait_until(lambda: a.connected)
    assert lock_a.acquire(blocking=False) is False
    lock_b.release()
    assert lock_a.acquire(timeout=10)
    lock_a.release()


def test_holder_told_of_suspension_and_resumption(zk_proxy: TcpProxy, make_client) -> None:
    c = make_client(hosts=zk_proxy.hosts)
    states: List[State] = []
    lock = Lock(c, "/l", listener=states.append)
    lock.acquire()
    zk_proxy.drop_all()
    wait_until(lambda: State.CONNECTED in states)
    assert states == [State.SUSPENDED, State.CONNECTED]
    assert lock.is_acquired and not lock.lost.is_set() and not lock.suspended
    lock.release()


def test_suspended_longer_than_session_timeout_is_lost(zk_server: ZooKeeperServer,
                                                       zk_proxy: TcpProxy, make_client) -> None:
    """A holder cut off from every server gives the lock up before anyone
    else can take it: the next holder acquires only when the server expires
    the session, one session timeout after it last heard from the holder."""
    import threading
    import time
    c = make_client(hosts=zk_proxy.hosts, session_timeout=4.0)
    states: List[State] = []
    lost_at: List[float] = []
    lock = Lock(c, "/l", listener=states.append, on_lost=lambda: lost_at.append(time.monotonic()))
    lock.acquire()
    other = Lock(make_client(), "/l")
    acquired_at: List[float] = []

    def contend() -> None:
        if other.acquire(timeout=30):
            acquired_at.append(time.monotonic())

    zk_proxy.blackhole(True)
    t = threading.Thread(target=contend)
    t.start()
    # no server contact: the holder must give the lock up on its own
    wait_until(lambda: lock.lost.is_set(), timeout=20)
    assert states[:2] == [State.SUSPENDED, State.EXPIRED] and not lock.is_acquired
    t.join(30)
    assert acquired_at, "the server expired the session too: the other client gets the lock"
    assert lost_at[0] < acquired_at[0], "the holder still assumed the lock when another took it"
    zk_proxy.blackhole(False)
    other.release()


def test_cancel_pending_acquire(zk: zkfast.Client, make_client) -> None:
    holder = Lock(zk, "/l")
    holder.acquire()
    waiter = Lock(make_client(), "/l")
    out: List[Any] = []

    def run() -> None:
        try:
            out.append(waiter.acquire())
        except CancelledError as e:
            out.append(e)

    t = threading.Thread(target=run)
    t.start()
    wait_until(lambda: len(holder.contenders()) == 2)
    waiter.cancel()
    t.join(10)
    assert isinstance(out[0], CancelledError)
    assert len(_nodes(zk, "/l")) == 1
    holder.release()


def test_read_write_lock(zk: zkfast.Client, make_client) -> None:
    r1, r2 = ReadLock(zk, "/rw", "r1"), ReadLock(make_client(), "/rw", "r2")
    assert r1.acquire(timeout=5) and r2.acquire(timeout=5)  # readers share
    w = WriteLock(make_client(), "/rw", "w")
    assert w.acquire(timeout=0.2) is False
    got: List[bool] = []
    t = threading.Thread(target=lambda: got.append(w.acquire(timeout=20)))
    t.start()
    wait_until(lambda: len(r1.contenders()) == 3)
    r3 = ReadLock(make_client(), "/rw", "r3")
    assert r3.acquire(timeout=0.2) is False  # a reader queues behind a waiting writer
    r1.release()
    assert not got
    r2.release()
    t.join(20)
    assert got == [True]
    # an exclusive Lock on the same path excludes the writer too
    assert Lock(make_client(), "/rw").acquire(blocking=False) is False
    w.release()
    assert r3.acquire(timeout=5)
    r3.release()


def test_multilock_all_or_nothing(zk: zkfast.Client, make_client) -> None:
    other = make_client()
    b = Lock(other, "/b")
    b.acquire()
    multi = MultiLock(zk, ["/b", "/a"])
    assert multi.acquire(timeout=0.5) is False
    assert _nodes(zk, "/a") == [] and len(_nodes(zk, "/b")) == 1
    b.release()
    assert multi.acquire(timeout=5)
    assert multi.is_acquired
    assert Lock(other, "/a").acquire(blocking=False) is False
    assert Lock(other, "/b").acquire(blocking=False) is False
    with pytest.raises(LockDeadlockError):
        multi.acquire()
    multi.release()
    assert _nodes(zk, "/a") == [] and _nodes(zk, "/b") == []


def test_sync_lock_refuses_async_client() -> None:
    class FakeAsync:
        is_async = True

    with pytest.raises(TypeError):
        Lock(FakeAsync(), "/x")


def _waiter_queued_behind_a_holder(zk_proxy: TcpProxy, make_client: Any, timeout: float,
                                   **client_kw: Any) -> SimpleNamespace:
    """A holder (direct) and, through the proxy, a waiter queued behind it in a
    thread running ``acquire(timeout=timeout)``. The namespace: ``holder_client``,
    ``holder``, ``client`` (the waiter's), ``waiter``, ``thread``, and ``got``
    (the acquire's result, then the seconds it took)."""
    import time

    holder_client = make_client()
    holder = Lock(holder_client, "/l", "holder")
    holder.acquire()
    c = make_client(hosts=zk_proxy.hosts, **client_kw)
    waiter = Lock(c, "/l", "waiter")
    got: List[Any] = []

    def run() -> None:
        t = time.monotonic()
        got.append(waiter.acquire(timeout=timeout))
        got.append(time.monotonic() - t)

    th = threading.Thread(target=run)
    th.start()
    wait_until(lambda: len(_nodes(holder_client, "/l")) == 2)  # queued behind the holder
    return SimpleNamespace(holder_client=holder_client, holder=holder, client=c, waiter=waiter,
                           thread=th, got=got)


def test_timeout_is_kept_when_the_connection_dies_silently(zk_proxy: TcpProxy, make_client) -> None:
    """The deadline passes while the connection is dead but not yet known to be
    (no FIN: a blackholed peer), so the lock's last check goes out on it. That
    request must not hold the caller until the client's read timeout (2/3 of
    the 30 s session) finds the connection dead: it gets the time left, and at
    least zkfast.compound.TIMED_FLOOR."""
    q = _waiter_queued_behind_a_holder(zk_proxy, make_client, 2.0, session_timeout=30.0)
    zk_proxy.blackhole(True)
    q.thread.join(30)
    zk_proxy.blackhole(False)
    got = q.got
    assert got and got[0] is False
    assert got[1] < 12, f"held {got[1]:.1f}s: the check waited for the connection to be found dead"


def test_timeout_is_kept_while_disconnected(zk_proxy: TcpProxy, make_client) -> None:
    q = _waiter_queued_behind_a_holder(zk_proxy, make_client, 1.5)
    zk_proxy.refuse(True)
    zk_proxy.drop_all()
    q.thread.join(10)
    # returned at its deadline, not after a reconnect or a session timeout (10 s)
    assert q.got[0] is False and q.got[1] < 8
    assert Lock(q.client, "/l").acquire(timeout=0.2) is False  # offline from the start: same
    zk_proxy.refuse(False)
    # the abandoned contender is removed once the connection is back
    wait_until(lambda: _nodes(q.holder_client, "/l") == [q.holder.node.rsplit("/", 1)[1]])
    q.holder.release()
    assert q.waiter.acquire(timeout=5)
    q.waiter.release()


def test_acquire_on_closed_client_raises(make_client) -> None:
    c = make_client()
    c.close()
    with pytest.raises(zkfast.ClosedError):
        Lock(c, "/l").acquire()
