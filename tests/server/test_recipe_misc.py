"""Counter, barriers, parties and queues against a real server."""

from __future__ import annotations

import threading
from typing import List, Optional

import pytest

import zkfast
from zkfast import ConnectionLossError
from zkfast.recipe import (
    Barrier,
    Counter,
    DoubleBarrier,
    LockingQueue,
    Party,
    Queue,
    ShallowParty,
)
from zkfast.testing import TcpProxy, ZooKeeperServer

from helpers import wait_until, expire


# ---------------------------------------------------------------- Counter

def test_counter_basics(zk: zkfast.Client) -> None:
    c = Counter(zk, "/stats/hits")
    assert c.value == 0
    c += 5
    assert c.value == 5 and (c.pre_value, c.post_value) == (0, 5)
    c -= 2
    assert c.value == 3 and c.add(10) == 13
    assert zk.get("/stats/hits")[0] == b"13"  # kazoo's format
    f = Counter(zk, "/stats/load", default=0.5)
    f += 1.25
    assert f.value == 1.75
    with pytest.raises(TypeError):
        c.add(1.5)
    with pytest.raises(TypeError):
        Counter(zk, "/x", default="0")  # type: ignore[arg-type]


def test_counter_concurrent_increments_lose_nothing(make_client) -> None:
    workers, per = 6, 25
    errors: List[BaseException] = []

    def work() -> None:
        try:
            c = Counter(make_client(), "/count")
            for _ in range(per):
                c += 1
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert Counter(make_client(), "/count").value == workers * per


def test_counter_lost_write_reply_is_not_retried_blindly(zk_proxy: TcpProxy, make_client) -> None:
    zk = make_client(hosts=zk_proxy.hosts)
    c = Counter(zk, "/n")
    c += 1

    def set_reply(body: bytes) -> bool:  # a setData reply: header + Stat (68 bytes)
        return len(body) == 16 + 68

    zk_proxy.drop_reply(set_reply)
    with pytest.raises(ConnectionLossError):
        c += 1
    wait_until(lambda: zk.connected)
    assert c.value == 2  # applied once, not twice


# ---------------------------------------------------------------- barriers

def test_barrier(zk: zkfast.Client, make_client) -> None:
    b = Barrier(zk, "/gate")
    assert b.wait(0.1) is True  # no barrier: nothing to wait for
    assert b.create() is True and b.create() is False
    other = Barrier(make_client(), "/gate")
    assert other.wait(0.2) is False
    out: List[bool] = []
    t = threading.Thread(target=lambda: out.append(other.wait(20)))
    t.start()
    assert b.remove() is True and b.remove() is False
    t.join(20)
    assert out == [True]


def test_double_barrier(make_client) -> None:
    n = 3
    log: List[str] = []
    guard = threading.Lock()
    errors: List[BaseException] = []

    def participant(i: int) -> None:
        try:
            b = DoubleBarrier(make_client(), "/db", n, f"p{i}")
            assert b.enter(timeout=20)
            with guard:
                log.append("in")
            assert b.leave(timeout=20)
            with guard:
                log.append("out")
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=participant, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert log == ["in"] * n + ["out"] * n  # nobody left before everyone entered
    lone = DoubleBarrier(make_client(), "/db2", 2)
    assert lone.enter(timeout=0.3) is False  # withdraws on timeout
    assert lone.client.get_children("/db2") == []


# ---------------------------------------------------------------- parties

@pytest.mark.parametrize("cls", [Party, ShallowParty])
def test_party_membership(cls: type, make_client) -> None:
    a, b = cls(make_client(), "/party", "a"), cls(make_client(), "/party", "b")
    assert len(a) == 0
    a.join()
    b.join()
    assert sorted(a) == ["a", "b"] and len(b) == 2
    b.leave()
    assert list(a) == ["a"]
    a.leave()
    assert len(a) == 0


def test_party_rejoins_after_session_expiry(zk_server: ZooKeeperServer, make_client) -> None:
    c = make_client()
    p = Party(c, "/party", "me")
    p.join()
    watcher = Party(make_client(), "/party")
    assert watcher.members() == ["me"]
    expire(zk_server.hosts, c)
    wait_until(lambda: c.connected and watcher.members() == ["me"])
    p.leave()
    assert watcher.members() == []


# ---------------------------------------------------------------- queues

def test_queue_priorities_and_order(zk: zkfast.Client) -> None:
    q = Queue(zk, "/q")
    assert q.get() is None and len(q) == 0
    for i in range(5):
        q.put(b"n%d" % i)
    q.put(b"urgent", priority=1)
    q.put_all([b"late1", b"late2"], priority=500)
    assert len(q) == 8
    got = [q.get() for _ in range(8)]
    assert got == [b"urgent", b"n0", b"n1", b"n2", b"n3", b"n4", b"late1", b"late2"]
    assert q.get() is None
    with pytest.raises(ValueError):
        q.put(b"x", priority=1000)


def test_queue_concurrent_consumers_get_each_item_once(make_client) -> None:
    Queue(make_client(), "/q").put_all([b"%d" % i for i in range(60)])
    got: List[bytes] = []
    guard = threading.Lock()

    def consume() -> None:
        q = Queue(make_client(), "/q")
        while True:
            item = q.get()
            if item is None:
                return
            with guard:
                got.append(item)

    threads = [threading.Thread(target=consume) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(got, key=int) == [b"%d" % i for i in range(60)]


def test_queue_put_with_lost_reply_enqueues_once(zk_proxy: TcpProxy, make_client) -> None:
    zk = make_client(hosts=zk_proxy.hosts)
    q = Queue(zk, "/q")
    q.put(b"first")

    def create_reply(body: bytes) -> bool:
        return len(body) > 21 and body[20:21] == b"/" and b"entry-" in body

    fired = zk_proxy.drop_reply(create_reply)
    q.put(b"second")
    assert fired.is_set()
    assert len(q) == 2 and q.get() == b"first" and q.get() == b"second" and q.get() is None


def test_locking_queue(make_client) -> None:
    producer = LockingQueue(make_client(), "/lq")
    producer.put(b"a")
    producer.put(b"b", priority=50)
    w1, w2 = LockingQueue(make_client(), "/lq"), LockingQueue(make_client(), "/lq")
    assert w1.get(timeout=5) == b"b" and w1.holds_lock()
    with pytest.raises(RuntimeError):
        w1.get()
    assert w2.get(timeout=5) == b"a"
    assert w2.release() is True  # hand it back
    assert w1.consume() is True and not w1.holds_lock()
    assert len(producer) == 1
    out: List[Optional[bytes]] = []
    w3 = LockingQueue(make_client(), "/lq")
    assert w3.get(timeout=5) == b"a"
    t = threading.Thread(target=lambda: out.append(w2.get(timeout=20)))
    t.start()
    producer.put(b"c")
    t.join(20)
    assert out == [b"c"]
    assert w3.consume() and w2.consume()
    assert len(producer) == 0


def test_locking_queue_item_returns_when_holder_dies(zk_server: ZooKeeperServer, make_client) -> None:
    producer = LockingQueue(make_client(), "/lq")
    producer.put(b"job")
    dying = make_client()
    w1 = LockingQueue(dying, "/lq")
    assert w1.get(timeout=5) == b"job"
    w2 = LockingQueue(make_client(), "/lq")
    assert w2.get(timeout=0.2) is None
    expire(zk_server.hosts, dying)
    assert w2.get(timeout=20) == b"job"
    wait_until(lambda: dying.connected)
    assert w1.consume() is False  # its claim was lost
    assert w2.consume() is True and len(producer) == 0
