"""Fenced writes (a multi with a check of the holder's node) and revocable locks."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, List

import pytest

import zkfast
from zkfast import AsyncClient, Delete, HoldLostError, NodeExistsError, SetData
from zkfast.recipe import (
    AsyncLock,
    Fence,
    LeaderLatch,
    LeaderSelector,
    Lock,
    Semaphore,
    attempt_revoke,
)
from zkfast.testing import ZooKeeperServer

from helpers import expire, wait_until


def test_fenced_writes_while_held(make_client: Any) -> None:
    zk = make_client()
    zk.create("/data", b"")
    lock = Lock(zk, "/lock", "me")
    fence = Fence(lock)
    with pytest.raises(HoldLostError):
        fence.set("/data", b"not held yet")
    with lock:
        assert fence.create("/data/a", b"1") == "/data/a"
        assert fence.set("/data/a", b"2").version == 1
        results = fence.multi(SetData("/data/a", b"3"), Delete("/data/a"))
        assert len(results) == 2 and results[0].version == 2 and results[1] is True
        assert zk.exists("/data/a") is None
        with pytest.raises(NodeExistsError):  # a failing op raises its own error
            fence.create("/data")
        with pytest.raises(zkfast.TransactionFailedError):
            fence.multi(SetData("/data", b"x"), Delete("/nope"))
        assert zk.get("/data")[0] == b""  # all or nothing
        assert fence.delete("/data") is True
    with pytest.raises(HoldLostError):
        fence.create("/data", b"after release")  # known lost: refused without a round trip
    assert zk.exists("/data") is None
    with pytest.raises(TypeError):
        Fence(object())


def test_stale_holder_cannot_write(make_client: Any) -> None:
    """The holder still believes it holds, but its node is gone (its session
    ended on the server, here simulated by deleting the node): a fenced write
    is refused by the server and changes nothing."""
    holder, admin = make_client(), make_client()
    admin.create("/data", b"v0")
    lock = Lock(holder, "/lock", "holder")
    assert lock.acquire(timeout=10)
    fence = Fence(lock)
    assert fence.set("/data", b"v1").version == 1
    admin.delete(lock.node)       # the hold is gone; the holder has not noticed
    assert lock.is_acquired       # (it really has not)
    other = Lock(admin, "/lock", "next")
    assert other.acquire(timeout=10)  # and someone else holds the lock now
    with pytest.raises(HoldLostError) as info:
        fence.set("/data", b"stale write")
    assert info.value.path == lock.node
    assert admin.get("/data")[0] == b"v1"
    other.release()


def test_fence_on_session_loss_and_other_holders(zk_server: ZooKeeperServer, make_client: Any) -> None:
    zk, admin = make_client(), make_client()
    admin.create("/data", b"")
    lock = Lock(zk, "/lock")
    assert lock.acquire(timeout=10)
    expire(zk_server.hosts, zk)
    wait_until(lambda: lock.lost.is_set(), timeout=30)
    with pytest.raises(HoldLostError):
        Fence(lock).set("/data", b"x")

    latch = LeaderLatch(zk, "/latch", "l").start()
    assert latch.await_leadership(10)
    assert Fence(latch).set("/data", b"latch").version >= 1
    latch.close()
    with pytest.raises(HoldLostError):
        Fence(latch).set("/data", b"x")

    sem = Semaphore(zk, "/sem", "s", max_leases=2)
    with sem:
        Fence(sem).set("/data", b"sem")
    selector_wrote = threading.Event()

    def lead(selector: LeaderSelector) -> None:
        Fence(selector).set("/data", b"selector")
        selector_wrote.set()
    selector = LeaderSelector(zk, "/sel", lead).start()
    assert selector_wrote.wait(10) and selector.close()
    assert admin.get("/data")[0] == b"selector"
    with pytest.raises(HoldLostError):
        Fence(selector).set("/data", b"x")


def test_revocation_asks_the_holder_to_let_go(make_client: Any) -> None:
    a, b = make_client(), make_client()
    revoked: List[Any] = []

    def let_go(lock: Lock) -> None:
        revoked.append(lock)
        threading.Thread(target=lock.release).start()  # not on the dispatcher thread

    holder = Lock(a, "/lock", "holder", on_revoke=let_go)
    assert holder.acquire(timeout=10)
    waiter = Lock(b, "/lock", "waiter", on_revoke=revoked.append)
    got: List[bool] = []
    t = threading.Thread(target=lambda: got.append(waiter.acquire(timeout=30)))
    t.start()
    wait_until(lambda: len(holder.participant_nodes()) == 2)
    nodes = holder.participant_nodes()
    assert nodes[0] == holder.node and nodes[1] == waiter.node
    assert attempt_revoke(b, nodes[0]) is True
    t.join(30)
    assert got == [True] and revoked == [holder]
    # a waiter is told too; asking twice tells it once
    third = Lock(a, "/lock", "third", on_revoke=revoked.append)
    t = threading.Thread(target=third.acquire, kwargs={"timeout": 30})
    t.start()
    wait_until(lambda: len(waiter.participant_nodes()) == 2)
    assert attempt_revoke(b, third.participant_nodes()[1]) is True
    assert attempt_revoke(b, third.participant_nodes()[1]) is True
    wait_until(lambda: revoked == [holder, third])
    waiter.release()
    t.join(30)
    assert third.is_acquired
    third.release()
    assert attempt_revoke(b, "/lock/_c_0123-nope") is False
    with pytest.raises(TypeError):
        Lock(a, "/lock", on_revoke="release")  # type: ignore[arg-type]


def test_async_fence_and_revocation(zk_server: ZooKeeperServer, make_client: Any,
                                    zk_chroot: str) -> None:
    make_client()

    async def main() -> None:
        hosts = zk_server.hosts + zk_chroot
        async with AsyncClient(hosts) as a, AsyncClient(hosts) as b:
            released = asyncio.Event()

            async def let_go(lock: AsyncLock) -> None:
                await lock.release()
                released.set()

            lock = AsyncLock(a, "/lock", "a", on_revoke=let_go)
            assert await lock.acquire(timeout=10)
            fence = Fence(lock)
            assert await fence.create("/x", b"1") == "/x"
            nodes = await lock.participant_nodes()
            assert await attempt_revoke(b, nodes[0]) is True
            await asyncio.wait_for(released.wait(), 20)
            with pytest.raises(HoldLostError):
                await fence.set("/x", b"2")
            assert (await b.get("/x"))[0] == b"1"
    asyncio.run(asyncio.wait_for(main(), 60))
