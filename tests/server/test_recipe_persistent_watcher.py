"""PersistentWatcher: events keep coming through reconnects and session expiry,
and every time some may have been missed the application is told (on_reset)."""

from __future__ import annotations

import asyncio
from typing import Any, List, Tuple

import pytest

from zkfast import AsyncClient, EventType, WatchedEvent
from zkfast.recipe import AsyncPersistentWatcher, PersistentWatcher
from zkfast.testing import TcpProxy, ZooKeeperServer

from helpers import expire, wait_until


def _seen(events: List[WatchedEvent]) -> List[Tuple[str, Any]]:
    return [(e.type.name, e.path) for e in events]


def test_recursive_watch_survives_reconnects_and_expiry(zk_server: ZooKeeperServer,
                                                        zk_proxy: TcpProxy, make_client: Any) -> None:
    owner = make_client(hosts=zk_proxy.hosts)
    other = make_client()
    other.create("/app", b"")
    events: List[WatchedEvent] = []
    resets: List[str] = []
    watcher = PersistentWatcher(owner, "/app", recursive=True, listener=events.append,
                                on_reset=resets.append).start()
    other.create("/app/a", b"1")
    other.set("/app/a", b"2")
    wait_until(lambda: len(events) == 2)
    assert _seen(events) == [("NODE_CREATED", "/app/a"), ("NODE_DATA_CHANGED", "/app/a")]

    # a dropped connection: same session; the watch is back, but told that events may be missing
    zk_proxy.drop_all()
    wait_until(lambda: resets == ["reconnected"], timeout=20)
    other.create("/app/b", b"")
    wait_until(lambda: ("NODE_CREATED", "/app/b") in _seen(events))

    # an expired session: the watch is added again in the new one
    sid = owner.session_id
    expire(zk_server.hosts, owner)
    wait_until(lambda: "new_session" in resets and owner.session_id != sid, timeout=30)
    events.clear()
    other.delete("/app/a")
    wait_until(lambda: _seen(events) == [("NODE_DELETED", "/app/a")])
    assert watcher.resets == len(resets)

    watcher.close()
    other.create("/app/c", b"")
    other.sync("/app")
    owner.sync("/app")
    assert ("NODE_CREATED", "/app/c") not in _seen(events)
    with pytest.raises(RuntimeError):
        watcher.start()


def test_plain_persistent_watch_sees_children_changes(make_client: Any) -> None:
    zk = make_client()
    events: List[WatchedEvent] = []
    with PersistentWatcher(zk, "/p", listener=events.append):
        zk.create("/p", b"")
        zk.create("/p/kid", b"")
        zk.create("/p/kid/grandkid", b"")  # not recursive: unseen
        zk.set("/p", b"x")
        wait_until(lambda: len(events) == 3)
    assert [e.type for e in events] == [EventType.NODE_CREATED, EventType.NODE_CHILDREN_CHANGED,
                                        EventType.NODE_DATA_CHANGED]


def test_async_persistent_watcher(zk_server: ZooKeeperServer, make_client: Any,
                                  zk_chroot: str) -> None:
    other = make_client()
    other.create("/w", b"")

    async def main() -> None:
        async with AsyncClient(zk_server.hosts + zk_chroot) as owner:
            events: List[Tuple[str, Any]] = []
            resets: List[str] = []

            async def on_event(e: WatchedEvent) -> None:
                events.append((e.type.name, e.path))

            watcher = await AsyncPersistentWatcher(owner, "/w", recursive=True, listener=on_event,
                                                   on_reset=resets.append).start()
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, other.create, "/w/x", b"")
            for _ in range(500):  # (an event still on its way when the session ends is lost)
                if events:
                    break
                await asyncio.sleep(0.02)
            await loop.run_in_executor(None, expire, zk_server.hosts, owner)
            for _ in range(1500):
                if "new_session" in resets:
                    break
                await asyncio.sleep(0.02)
            assert "new_session" in resets
            await loop.run_in_executor(None, other.create, "/w/y", b"")
            for _ in range(500):
                if ("NODE_CREATED", "/w/y") in events:
                    break
                await asyncio.sleep(0.02)
            assert events == [("NODE_CREATED", "/w/x"), ("NODE_CREATED", "/w/y")]
            await watcher.close()
    asyncio.run(asyncio.wait_for(main(), 60))
