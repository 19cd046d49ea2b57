"""The Async* recipes on AsyncClient: the same protocol code, awaited."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, List

import pytest
from helpers import expire

from zkfast import AsyncClient, LockDeadlockError, NotLockedError, State
from zkfast.recipe import (
    AsyncBarrier,
    AsyncChildrenWatch,
    AsyncCounter,
    AsyncDataWatch,
    AsyncDoubleBarrier,
    AsyncElection,
    AsyncLeaderLatch,
    AsyncLock,
    AsyncLockingQueue,
    AsyncMultiLock,
    AsyncParty,
    AsyncQueue,
    AsyncReadLock,
    AsyncSemaphore,
    AsyncTreeCache,
    AsyncWriteLock,
    Lock,
    TreeEventType,
    delete_tree_async,
    get_tree_async,
    walk_async,
)
from zkfast.testing import ZooKeeperServer


def run(coro_fn: Callable[[], Awaitable[Any]], timeout: float = 60) -> Any:
    async def guarded() -> Any:
        return await asyncio.wait_for(coro_fn(), timeout)
    return asyncio.run(guarded())


async def until(pred: Callable[[], Any], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)


@pytest.fixture
def hosts(make_client, zk_server: ZooKeeperServer, zk_chroot: str) -> str:
    make_client()  # creates the test's chroot and removes it afterwards
    return zk_server.hosts + zk_chroot


def test_async_lock_exclusion_and_errors(hosts: str) -> None:
    async def main() -> None:
        async with AsyncClient(hosts) as a, AsyncClient(hosts) as b:
            la, lb = AsyncLock(a, "/l", "a"), AsyncLock(b, "/l", "b")
            with pytest.raises(NotLockedError):
                await la.release()
            assert await la.acquire()
            with pytest.raises(LockDeadlockError):
                await la.acquire()
            assert await lb.acquire(timeout=0.2) is False
            assert await la.contenders() == ["a"]
            waiter = asyncio.ensure_future(lb.acquire())
            await until(lambda: lb.waiting)
            await la.release()
            assert await waiter and lb.wakeups == 1
            await lb.release()
            inside: List[str] = []

            async def worker(lock: AsyncLock, name: str) -> None:
                for _ in range(5):
                    async with lock:
                        inside.append(name)
                        assert len(inside) == 1
                        await asyncio.sleep(0)
                        inside.remove(name)

            await asyncio.gather(worker(la, "a"), worker(lb, "b"))
            assert await a.get_children("/l") == []
    run(main)


def test_async_lock_cancelled_task_leaves_no_node(hosts: str) -> None:
    async def main() -> None:
        async with AsyncClient(hosts) as a, AsyncClient(hosts) as b:
            holder = AsyncLock(a, "/l")
            await holder.acquire()
            waiter = AsyncLock(b, "/l")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(waiter.acquire(), 0.3)  # cancels the acquiring task
            # the abandoned attempt is cleaned up in the background
            for _ in range(500):
                if len(await a.get_children("/l")) == 1:
                    break
                await asyncio.sleep(0.02)
            assert len(await a.get_children("/l")) == 1 and not waiter.is_acquired
            await holder.release()
    run(main)


def test_async_lock_holder_expiry(zk_server: ZooKeeperServer, hosts: str) -> None:
    async def main() -> None:
        async with AsyncClient(hosts) as a, AsyncClient(hosts) as b:
            states: List[State] = []
            la = AsyncLock(a, "/l", listener=states.append)
            await la.acquire()
            lb = AsyncLock(b, "/l")
            waiter = asyncio.ensure_future(lb.acquire())
            await until(lambda: lb.node is not None)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, expire, zk_server.hosts, a)
            assert await asyncio.wait_for(waiter, 20)
            await asyncio.wait_for(la.lost.wait(), 20)
            assert not la.is_acquired and State.EXPIRED in states
            await lb.release()
    run(main)


def test_async_rw_multi_semaphore(hosts: str) -> None:
    async def main() -> None:
        async with AsyncClient(hosts) as a, AsyncClient(hosts) as b:
            r1, r2 = AsyncReadLock(a, "/rw"), AsyncReadLock(b, "/rw")
            assert await r1.acquire(timeout=5) and await r2.acquire(timeout=5)
            w = AsyncWriteLock(b, "/rw")
            assert await w.acquire(timeout=0.2) is False
            await r1.release()
            await r2.release()
            assert await w.acquire(timeout=5)
            await w.release()
            m = AsyncMultiLock(a, ["/m1", "/m2"])
            async with m:
                assert m.is_acquired
                assert await AsyncLock(b, "/m2").acquire(blocking=False) is False
            s1, s2, s3 = (AsyncSemaphore(c, "/sem", n, max_leases=2)
                          for c, n in ((a, "s1"), (b, "s2"), (a, "s3")))
            assert await s1.acquire() and await s2.acquire()
            assert await s3.acquire(timeout=0.2) is False
            assert sorted(await s1.lease_holders()) == ["s1", "s2"]
            await s1.release()
            assert await s3.acquire(timeout=5)
            await s2.release()
            await s3.release()
    run(main)


def test_async_election_and_latch(zk_server: ZooKeeperServer, hosts: str) -> None:
    async def main() -> None:
        async with AsyncClient(hosts) as a, AsyncClient(hosts) as b:
            ran: List[str] = []

            async def lead(name: str) -> str:
                ran.append(name)
                await asyncio.sleep(0.01)
                return name

            results = await asyncio.gather(AsyncElection(a, "/el", "a").run(lead, "a"),
                                           AsyncElection(b, "/el", "b").run(lead, "b"))
            assert sorted(results) == ["a", "b"] and sorted(ran) == ["a", "b"]
            seen: List[bool] = []
            la = await AsyncLeaderLatch(a, "/latch", "a", listener=seen.append).start()
            assert await la.await_leadership(10)
            lb = await AsyncLeaderLatch(b, "/latch", "b").start()
            await until(lambda: lb.node is not None)
            assert await lb.await_leadership(0.1) is False
            assert await la.participants() == ["a", "b"]
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, expire, zk_server.hosts, a)
            assert await lb.await_leadership(20)
            await until(lambda: seen[-1] is False and not la.has_leadership)
            assert seen[:2] == [True, False]
            await lb.close()
            assert await la.await_leadership(20)  # re-joined in its new session
            await la.close()
    run(main)


def test_async_counter_barriers_party_queues(hosts: str) -> None:
    async def main() -> None:
        async with AsyncClient(hosts) as a, AsyncClient(hosts) as b:
            ca, cb = AsyncCounter(a, "/cnt"), AsyncCounter(b, "/cnt")
            await asyncio.gather(*(c.add(1) for c in (ca, cb) for _ in range(20)))
            assert await ca.get() == 40
            bar = AsyncBarrier(a, "/gate")
            await bar.create()
            waiting = asyncio.ensure_future(AsyncBarrier(b, "/gate").wait(10))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            await bar.remove()
            assert await waiting
            d1, d2 = AsyncDoubleBarrier(a, "/db", 2), AsyncDoubleBarrier(b, "/db", 2)
            assert all(await asyncio.gather(d1.enter(10), d2.enter(10)))
            assert all(await asyncio.gather(d1.leave(10), d2.leave(10)))
            pa, pb = AsyncParty(a, "/party", "a"), AsyncParty(b, "/party", "b")
            await pa.join()
            await pb.join()
            assert sorted(await pa.members()) == ["a", "b"]
            await pb.leave()
            assert await pa.members() == ["a"]
            q = AsyncQueue(a, "/q")
            await q.put(b"low", priority=200)
            await q.put_all([b"x", b"y"])
            assert [await q.get() for _ in range(4)] == [b"x", b"y", b"low", None]
            lq1, lq2 = AsyncLockingQueue(a, "/lq"), AsyncLockingQueue(b, "/lq")
            getter = asyncio.ensure_future(lq2.get(timeout=10))
            await asyncio.sleep(0.05)
            await lq1.put(b"job")
            assert await getter == b"job"
            assert await lq1.get(timeout=0.1) is None  # taken
            assert await lq2.consume() and await lq1.length() == 0
    run(main)


def test_async_watchers_cache_and_bulk(hosts: str) -> None:
    async def main() -> None:
        async with AsyncClient(hosts) as a, AsyncClient(hosts) as b:
            data_seen: List[Any] = []
            kids_seen: List[List[str]] = []

            @AsyncDataWatch(a, "/w")
            async def on_data(data: Any, stat: Any) -> Any:
                data_seen.append(data)
                return data != b"stop"

            AsyncChildrenWatch(a, "/w", lambda ch: kids_seen.append(sorted(ch)))
            await until(lambda: data_seen == [None] and kids_seen == [[]])
            await b.create("/w", b"1")
            await until(lambda: data_seen[-1:] == [b"1"])
            await b.create("/w/k")
            await until(lambda: kids_seen[-1:] == [["k"]])
            await b.set("/w", b"stop")
            await until(lambda: data_seen[-1:] == [b"stop"])
            await b.set("/w", b"ignored")
            await b.sync("/w")
            await asyncio.sleep(0.05)
            assert data_seen == [None, b"1", b"stop"]

            for i in range(30):
                await b.create(f"/w/k/n{i}", b"%d" % i)
            events: List[Any] = []
            cache = AsyncTreeCache(a, "/w")
            cache.add_listener(events.append)
            await cache.start()
            assert await cache.wait_initialized(10)
            assert len(cache) == 32 and cache.get_data("/w/k/n7").data == b"7"
            await b.set("/w/k/n7", b"seven")
            await b.delete("/w/k/n8")
            await until(lambda: cache.get_data("/w/k/n7").data == b"seven" and "/w/k/n8" not in cache)
            assert TreeEventType.INITIALIZED in [e.type for e in events]
            await cache.close()

            walked = [p async for p, _ in walk_async(a, "/w")]
            assert len(walked) == 31
            tree = await get_tree_async(a, "/w")
            assert set(tree) == set(walked) and tree["/w/k/n7"].data == b"seven"
            assert await delete_tree_async(a, "/w") == 31
            assert await a.exists("/w") is None
    run(main)


def test_flavor_mismatch_and_factories(hosts: str, make_client) -> None:
    zk = make_client()
    with pytest.raises(TypeError):
        AsyncLock(zk, "/x")

    async def main() -> None:
        async with AsyncClient(hosts) as a:
            with pytest.raises(TypeError):
                Lock(a, "/x")
            lock = a.Lock("/f")
            assert isinstance(lock, AsyncLock)
    run(main)
    assert type(zk.Lock("/f")) is Lock


def test_async_lock_timeout_is_kept_when_the_connection_dies_silently(
        make_client, zk_server: ZooKeeperServer, zk_chroot: str, zk_proxy: Any) -> None:
    """AsyncLock's twin of test_recipe_lock's: the deadline passes while the
    connection is dead but not yet known to be (a blackholed peer); the lock's
    requests keep the deadline (steps.Timed) instead of waiting for the read
    timeout (2/3 of the 30 s session)."""
    holder = Lock(make_client(), "/l", "holder")  # the sync recipe, on its own client
    assert holder.acquire()

    async def main() -> None:
        zk = AsyncClient(zk_proxy.hosts + zk_chroot, session_timeout=30.0)
        await zk.start()
        try:
            waiter = AsyncLock(zk, "/l", "waiter")
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            attempt = asyncio.ensure_future(waiter.acquire(timeout=2.0))
            await until(lambda: len(holder.contenders()) == 2)  # queued behind the holder
            zk_proxy.blackhole(True)
            try:
                got = await asyncio.wait_for(attempt, 30)
            finally:
                zk_proxy.blackhole(False)
            held = loop.time() - t0
            assert got is False
            assert held < 12, f"held {held:.1f}s: a request waited for the connection to be found dead"
        finally:
            await zk.close()

    run(main)
    holder.release()
