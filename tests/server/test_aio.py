"""AsyncClient against a real server: the same API, awaited, and what only
asyncio has (gather pipelining, coroutine callbacks, cancellation).

The session scenarios (drops, reconnects, expiry, closing, start timeouts...)
run on both clients in test_session.py, test_reliability.py and test_client.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Awaitable, Callable, List

import pytest

import zkfast
from zkfast import (
    AsyncClient,
    BadVersionError,
    Check,
    Create,
    EventType,
    GetChildren,
    GetData,
    InvalidPathError,
    NodeExistsError,
    NoNodeError,
    SetData,
    State,
    Stat,
    TransactionFailedError,
    WatcherType,
)
from zkfast.testing import ZooKeeperServer


def run(coro_fn: Callable[[], Awaitable[Any]], timeout: float = 60) -> Any:
    async def guarded() -> Any:
        return await asyncio.wait_for(coro_fn(), timeout)
    return asyncio.run(guarded())


@pytest.fixture
def hosts(make_client, zk_server: ZooKeeperServer, zk_chroot: str) -> str:
    make_client()  # creates the test's chroot and removes it afterwards
    return zk_server.hosts + zk_chroot


def test_crud_and_errors(hosts: str) -> None:
    async def main() -> None:
        async with AsyncClient(hosts) as zk:
            assert zk.state == State.CONNECTED
            assert await zk.create("/a", b"1") == "/a"
            value, stat = await zk.get("/a")
            assert value == b"1" and isinstance(stat, Stat)
            assert (await zk.set("/a", b"2")).version == 1
            with pytest.raises(BadVersionError):
                await zk.set("/a", b"3", version=0)
            with pytest.raises(NodeExistsError):
                await zk.create("/a")
            with pytest.raises(NoNodeError):
                await zk.get("/missing")
            assert await zk.exists("/missing") is None
            with pytest.raises(InvalidPathError):
                zk.get("bad")
            await zk.ensure_path("/x/y/z")
            assert await zk.create("/x/y/z/s-", sequence=True, ephemeral=True) == "/x/y/z/s-0000000000"
            assert sorted(await zk.get_children("/x/y/z")) == ["s-0000000000"]
            assert await zk.count_children("/x") == 3
            await zk.delete("/x", recursive=True)
            assert await zk.exists("/x") is None
            assert await zk.sync("/a") == "/a"
            who = await zk.whoami()
            assert who[0].auth_scheme == "ip"
    run(main)


def test_pipelined_gather(hosts: str) -> None:
    async def main() -> None:
        async with AsyncClient(hosts) as zk:
            await zk.create("/p")
            paths = await asyncio.gather(*(zk.create(f"/p/n{i}", b"%d" % i) for i in range(2000)))
            assert paths == [f"/p/n{i}" for i in range(2000)]
            got = await asyncio.gather(*(zk.get(f"/p/n{i}") for i in range(2000)))
            assert [g[0] for g in got] == [b"%d" % i for i in range(2000)]
            assert len(await zk.get_children("/p")) == 2000
            await zk.delete("/p", recursive=True)
    run(main)


def test_transactions_and_multi_read(hosts: str) -> None:
    async def main() -> None:
        async with AsyncClient(hosts) as zk:
            await zk.create("/m", b"0")
            res = await zk.multi(Check("/m", 0), SetData("/m", b"1"), Create("/m/c"))
            assert res[0] is True and res[2] == "/m/c"
            with pytest.raises(TransactionFailedError):
                await zk.multi(Check("/m", 0), Create("/m/d"))
            results = await zk.transaction().check("/m", 5).create("/m/e").commit()
            assert isinstance(results[0], BadVersionError)
            r = await zk.multi_read(GetData("/m"), GetChildren("/m"))
            assert r[0][0] == b"1" and r[1] == ["c"]
    run(main)


def test_watches_sync_and_coroutine_callbacks(hosts: str) -> None:
    async def main() -> None:
        async with AsyncClient(hosts) as zk:
            await zk.create("/w")
            seen: List[Any] = []
            got = asyncio.Event()

            async def coro_cb(event: zkfast.WatchedEvent) -> None:
                await asyncio.sleep(0)
                seen.append(("coro", event.type, event.path))
                got.set()

            await zk.get("/w", watch=lambda e: seen.append(("fn", e.type, e.path)))
            await zk.add_watch("/w", coro_cb, recursive=True)
            await zk.set("/w", b"x")
            await asyncio.wait_for(got.wait(), 10)
            assert ("fn", EventType.NODE_DATA_CHANGED, "/w") in seen
            assert ("coro", EventType.NODE_DATA_CHANGED, "/w") in seen
            await zk.remove_watches("/w", WatcherType.PERSISTENT_RECURSIVE)
    run(main)


def test_go_style_watch_futures(hosts: str) -> None:
    async def main() -> None:
        async with AsyncClient(hosts) as zk:
            await zk.create("/gw", b"1")
            value, stat, w = await zk.get_w("/gw")
            st, ew = await zk.exists_w("/gw/x")
            assert value == b"1" and st is None and not w.done()
            await zk.set("/gw", b"2")
            await zk.create("/gw/x")
            assert (await asyncio.wait_for(w, 10)).type == EventType.NODE_DATA_CHANGED
            assert (await asyncio.wait_for(ew, 10)).type == EventType.NODE_CREATED
    run(main)


def test_coroutine_callbacks_run_in_order_while_replies_flow(hosts: str) -> None:
    # A callback that waits does not hold up replies, nor the callbacks queued behind it.
    async def main() -> None:
        async with AsyncClient(hosts) as zk:
            await zk.create("/order")
            seen: List[str] = []
            release = asyncio.Event()

            async def slow(event: zkfast.WatchedEvent) -> None:
                seen.append(event.path)
                await release.wait()

            await zk.add_watch("/order", slow, recursive=True)
            for i in range(10):
                await zk.create(f"/order/n{i}")
            # the first callback is stuck; replies still come
            got = await asyncio.gather(*(zk.get("/order") for _ in range(20)))
            assert len(got) == 20
            while not seen:
                await asyncio.sleep(0.01)
            assert seen == ["/order/n0"]  # one at a time: the rest wait their turn
            release.set()
            while len(seen) < 10:
                await asyncio.sleep(0.01)
            assert seen == [f"/order/n{i}" for i in range(10)]
    run(main)


def test_cancelled_calls_leave_the_session_usable(hosts: str) -> None:
    async def main() -> None:
        async with AsyncClient(hosts) as zk:
            await zk.create("/c", b"v")
            waiting = [asyncio.ensure_future(zk.get("/c")) for _ in range(100)]
            for w in waiting[::2]:
                w.cancel()  # their replies still arrive, and are dropped
            done = await asyncio.gather(*waiting, return_exceptions=True)
            assert all(isinstance(d, asyncio.CancelledError) for d in done[::2])
            assert all(d[0] == b"v" for d in done[1::2])
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(zk.get_w("/c"), 0)  # a multi-step call cancelled at once
            assert (await zk.get("/c"))[0] == b"v" and zk.state == State.CONNECTED
    run(main)


def test_a_close_during_a_close_returns_once_closed(hosts: str) -> None:
    async def main() -> None:
        zk = AsyncClient(hosts)
        await zk.start()
        first = asyncio.ensure_future(zk.close())
        # until the first close is past closeSession and stopping the client's tasks
        while not zk._session._closing:
            await asyncio.sleep(0)
        await zk.close()
        state = zk.state
        await first
        assert state == State.CLOSED
    run(main)


def test_cancelling_a_close_cancels_the_caller_not_the_close(hosts: str) -> None:
    async def main() -> None:
        zk = AsyncClient(hosts)
        await zk.start()
        closing = asyncio.ensure_future(zk.close())
        while not zk._session._closing:  # past closeSession, stopping the client's tasks
            await asyncio.sleep(0)
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        while zk.state != State.CLOSED:
            await asyncio.sleep(0.01)
    run(main)


def test_a_cancelled_close_leaves_no_half_closed_client(hosts: str) -> None:
    async def main() -> None:
        zk = AsyncClient(hosts)
        await zk.start()
        states: List[State] = []
        zk.add_listener(states.append)
        closing = asyncio.ensure_future(zk.close())
        while not zk._session._session_closing:  # closeSession sent, its reply not read yet
            await asyncio.sleep(0)
        closing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await closing
        with pytest.raises(zkfast.ClosedError):  # close() was called: no new calls
            zk.exists("/")
        # ... so the close goes on to its end: the state and the listeners say so. (Its
        # connection task ends once the server answers closeSession and hangs up; what
        # is left then takes no round trip.)
        main = zk._session._main_task
        assert main is not None
        await asyncio.wait([main], timeout=10)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3
        while not (zk.state == State.CLOSED and states[-1:] == [State.CLOSED]) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        assert zk.state == State.CLOSED and states[-1:] == [State.CLOSED], (zk.state, states)
        await zk.close()
    run(main)
