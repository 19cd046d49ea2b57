"""GroupMember: each member sees every member and its data, through changes,
session expiry and departures."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import pytest

from zkfast import AsyncClient
from zkfast.recipe import AsyncGroupMember, GroupMember, TreeEvent
from zkfast.testing import ZooKeeperServer

from helpers import expire, wait_until


def _owner(zk: Any, path: str) -> int:
    stat = zk.exists(path)
    return -1 if stat is None else int(stat.ephemeral_owner)


def test_members_see_each_other(zk_server: ZooKeeperServer, make_client: Any) -> None:
    clients = [make_client() for _ in range(3)]
    events: List[TreeEvent] = []
    members = [GroupMember(c, "/group", f"m{i}", f"data-{i}".encode()) for i, c in enumerate(clients)]
    members[0].add_listener(events.append)
    # a member counts itself before anything is on the server
    assert members[0].members() == {"m0": b"data-0"}
    for m in members:
        m.start()
    assert all(m.wait_ready(10) for m in members)
    everyone: Dict[str, bytes] = {f"m{i}": f"data-{i}".encode() for i in range(3)}
    for m in members:
        wait_until(lambda m=m: m.members() == everyone)

    members[1].set_data(b"changed")
    everyone["m1"] = b"changed"
    wait_until(lambda: all(m.members() == everyone for m in members))

    # m2's session expires: it drops out of the group and comes back by itself
    sid = clients[2].session_id
    expire(zk_server.hosts, clients[2])
    wait_until(lambda: clients[2].session_id != sid and clients[2].connected, timeout=30)
    wait_until(lambda: _owner(clients[0], "/group/m2") == clients[2].session_id, timeout=30)
    wait_until(lambda: members[0].members() == everyone)

    members[1].close()
    del everyone["m1"]
    wait_until(lambda: members[0].members() == everyone and members[2].members() == everyone)
    assert any(e.path == "/group/m1" and e.type.name == "NODE_REMOVED" for e in events)
    for m in (members[0], members[2]):
        m.close()
    assert clients[0].get_children("/group") == []


def test_bad_member_ids(make_client: Any) -> None:
    zk = make_client()
    for bad in ("", "a/b", None):
        with pytest.raises(ValueError):
            GroupMember(zk, "/group", bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        AsyncGroupMember(zk, "/group", "x")


def test_async_group_member(zk_server: ZooKeeperServer, make_client: Any, zk_chroot: str) -> None:
    async def main() -> None:
        async with AsyncClient(zk_server.hosts + zk_chroot) as a, \
                AsyncClient(zk_server.hosts + zk_chroot) as b:
            ma = await AsyncGroupMember(a, "/g", "a", b"1").start()
            mb = await AsyncGroupMember(b, "/g", "b", b"2").start()
            assert await ma.wait_ready(10) and await mb.wait_ready(10)
            for _ in range(500):
                if ma.members() == mb.members() == {"a": b"1", "b": b"2"}:
                    break
                await asyncio.sleep(0.02)
            assert ma.members() == {"a": b"1", "b": b"2"}
            assert await mb.set_data(b"3")
            await mb.close()
            for _ in range(500):
                if ma.members() == {"a": b"1"}:
                    break
                await asyncio.sleep(0.02)
            assert ma.members() == {"a": b"1"}
            await ma.close()
    asyncio.run(asyncio.wait_for(main(), 60))
