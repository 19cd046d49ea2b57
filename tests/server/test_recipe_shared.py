"""SharedValue / SharedCount: versioned compare-and-set, listeners, Curator's
4-byte count format, and a watch that outlives session expiry."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, List

import pytest

from zkfast import AsyncClient, InvalidArgumentError, NoNodeError
from zkfast.recipe import AsyncSharedCount, SharedCount, SharedValue, VersionedValue
from zkfast.testing import ZooKeeperServer

from helpers import expire, wait_until


def test_shared_value_listeners_and_try_set(make_client: Any) -> None:
    a, b = make_client(), make_client()
    seen: List[VersionedValue] = []
    va = SharedValue(a, "/cfg/mode", b"seed").start()
    vb = SharedValue(b, "/cfg/mode", b"other seed").start()  # the node exists: seed unused
    vb.add_listener(seen.append)
    assert va.value == vb.value == b"seed" and va.version == 0
    va.set(b"one")
    wait_until(lambda: vb.value == b"one")
    assert seen == [VersionedValue(1, b"one")]

    stale = vb.versioned_value
    va.set(b"two")
    assert vb.try_set(b"lost", stale.version) is False  # someone changed it first...
    assert vb.versioned_value == VersionedValue(2, b"two")  # ...and the copy is fresh
    assert vb.try_set(b"three", vb.version) is True
    assert a.get("/cfg/mode")[0] == b"three"
    wait_until(lambda: seen[-1] == VersionedValue(3, b"three"))  # its own change too
    assert [v.version for v in seen] == sorted({v.version for v in seen})  # never twice, in order

    with pytest.raises(InvalidArgumentError):
        vb.try_set(b"x", -1)  # unconditional writes are set()
    with pytest.raises(TypeError):
        vb.set("text")  # bytes only
    va.close()
    vb.close()
    with pytest.raises(RuntimeError):
        vb.set(b"closed")


def test_shared_count_format_is_curators(make_client: Any) -> None:
    zk = make_client()
    count = SharedCount(zk, "/c", 7).start()
    assert zk.get("/c")[0] == b"\x00\x00\x00\x07" and count.count == 7
    count.set(-2)
    assert zk.get("/c")[0] == b"\xff\xff\xff\xfe"
    count.set(2**31 - 1)
    assert zk.get("/c")[0] == b"\x7f\xff\xff\xff"
    with pytest.raises(InvalidArgumentError):
        count.set(2**31)
    with pytest.raises(TypeError):
        count.set(True)
    with pytest.raises(TypeError):
        SharedCount(zk, "/c2", "1")
    zk.set("/c", b"\x00\x01")  # someone wrote something that is no count
    wait_until(lambda: count.version == 3)
    with pytest.raises(ValueError):
        count.count
    count.close()


def test_shared_count_concurrent_increments_lose_nothing(make_client: Any) -> None:
    workers, rounds = 4, 25
    counts = [SharedCount(make_client(), "/n", 0).start() for _ in range(workers)]
    conflicts: List[int] = []
    errors: List[BaseException] = []

    def work(count: SharedCount) -> None:
        try:
            lost = 0
            for _ in range(rounds):
                while True:
                    seen = count.versioned_value
                    if count.try_set(seen.value + 1, seen.version):
                        break
                    lost += 1
            conflicts.append(lost)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(c,)) for c in counts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    # every increment counted (all writes have returned: the server holds the total)
    assert counts[0].client.get("/n")[0] == (workers * rounds).to_bytes(4, "big")
    assert sum(conflicts) > 0  # ...although they really raced
    wait_until(lambda: all(c.count == workers * rounds for c in counts))
    for c in counts:
        c.close()


def test_listener_outlives_session_expiry_and_node_deletion(zk_server: ZooKeeperServer,
                                                            make_client: Any) -> None:
    a, b = make_client(), make_client()
    seen: List[int] = []
    count = SharedCount(a, "/n", 0).start()
    count.add_listener(lambda vv: seen.append(vv.value))
    sid = a.session_id
    expire(zk_server.hosts, a)
    wait_until(lambda: a.session_id != sid and a.connected, timeout=30)
    b.set("/n", (5).to_bytes(4, "big"))
    wait_until(lambda: seen[-1:] == [5] and count.count == 5)
    b.delete("/n")
    b.create("/n", (9).to_bytes(4, "big"))  # made again: a new node, a new version 0
    wait_until(lambda: seen[-1:] == [9] and count.count == 9)
    assert count.version == 0
    b.delete("/n")
    with pytest.raises(NoNodeError):
        count.try_set(1, 0)
    count.close()


def test_async_shared_count(zk_server: ZooKeeperServer, make_client: Any, zk_chroot: str) -> None:
    make_client()

    async def main() -> None:
        async with AsyncClient(zk_server.hosts + zk_chroot) as a, \
                AsyncClient(zk_server.hosts + zk_chroot) as b:
            heard: List[int] = []

            async def on_change(vv: VersionedValue) -> None:
                heard.append(vv.value)

            ca = await AsyncSharedCount(a, "/n", 0).start()
            cb = await AsyncSharedCount(b, "/n", 0).start()
            cb.add_listener(on_change)

            async def bump(c: AsyncSharedCount, n: int) -> None:
                for _ in range(n):
                    while True:
                        seen = c.versioned_value
                        if await c.try_set(seen.value + 1, seen.version):
                            break

            await asyncio.gather(bump(ca, 15), bump(cb, 15))
            for _ in range(500):
                if ca.count == cb.count == 30 and heard[-1:] == [30]:
                    break
                await asyncio.sleep(0.02)
            assert ca.count == cb.count == 30 and heard[-1] == 30
            assert heard == sorted(heard)
            await ca.close()
            await cb.close()
    asyncio.run(asyncio.wait_for(main(), 60))
