"""AsyncClient against a real server: the same API, awaited."""

from __future__ import annotations

import asyncio
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
from zkfast.testing import TcpProxy, ZooKeeperServer


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


def test_reconnect_keeps_session_and_watches(zk_server: ZooKeeperServer, hosts: str) -> None:
    chroot = hosts[len(zk_server.hosts):]

    async def main() -> None:
        with TcpProxy(zk_server.host, zk_server.port) as proxy:
            async with AsyncClient(proxy.hosts + chroot, session_timeout=6) as zk, \
                    AsyncClient(hosts) as other:
                states: List[State] = []
                zk.add_listener(states.append)
                await zk.create("/r", b"0")
                fired = asyncio.Event()
                await zk.get("/r", watch=lambda e: fired.set())
                sid = zk.session_id
                proxy.refuse(True)
                proxy.drop_all()
                while zk.state != State.SUSPENDED:
                    await asyncio.sleep(0.01)
                await other.set("/r", b"changed while disconnected")
                pending = zk.get("/r")  # queued until the reconnect
                proxy.refuse(False)
                value, _ = await asyncio.wait_for(pending, 15)
                assert value == b"changed while disconnected"
                await asyncio.wait_for(fired.wait(), 10)
                assert zk.session_id == sid and zk.state == State.CONNECTED
                assert State.SUSPENDED in states
    run(main)


def test_in_flight_requests_fail_on_connection_loss(zk_server: ZooKeeperServer, hosts: str) -> None:
    chroot = hosts[len(zk_server.hosts):]

    async def main() -> None:
        with TcpProxy(zk_server.host, zk_server.port) as proxy:
            async with AsyncClient(proxy.hosts + chroot, session_timeout=6) as zk:
                await zk.create("/f")
                proxy.blackhole(True)
                futs = [zk.get("/f") for _ in range(50)]
                await asyncio.sleep(0.1)
                proxy.drop_all()
                proxy.blackhole(False)
                results = await asyncio.gather(*futs, return_exceptions=True)
                assert all(isinstance(r, zkfast.ConnectionLossError) or isinstance(r, tuple)
                           for r in results)
                assert any(isinstance(r, zkfast.ConnectionLossError) for r in results)
                assert (await zk.get("/f"))[0] == b""
    run(main)


def test_close_fails_queued_and_is_idempotent(hosts: str) -> None:
    async def main() -> None:
        zk = AsyncClient(hosts)
        await zk.start()
        await zk.create("/e", ephemeral=True)
        await zk.close()
        assert zk.state == State.CLOSED
        with pytest.raises(zkfast.ClosedError):
            zk.get("/e")
        await zk.close()
        async with AsyncClient(hosts) as other:
            assert await other.exists("/e") is None
    run(main)


def test_start_timeout() -> None:
    async def main() -> None:
        zk = AsyncClient("127.0.0.1:1", connection_timeout=0.2)
        with pytest.raises(zkfast.WaitTimeoutError):
            await zk.start(timeout=1.0)
        assert zk.state == State.CLOSED
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
