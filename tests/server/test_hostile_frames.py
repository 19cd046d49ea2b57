"""A forged reply on a live connection (through zkfast.testing's proxy) must
not poison the session: the last zxid seen advances only with replies to our
own requests, so the session reconnects and carries on."""

from __future__ import annotations

import asyncio
from typing import List

import pytest

from zkfast import AsyncClient, Client, State
from zkfast.testing import TcpProxy, ZooKeeperServer, reply_frame

from helpers import States, wait_until

POISON_ZXID = 0x4242424242424242


@pytest.fixture
def base(base: str, zk_server: ZooKeeperServer) -> str:
    """conftest's ``base``, with a node ``/n`` holding ``b"v"``."""
    with Client(zk_server.hosts) as admin:
        admin.create(base + "/n", b"v")
    return base


def test_a_forged_reply_drops_the_connection_but_not_the_session(zk_proxy: TcpProxy,
                                                                 base: str) -> None:
    with Client(zk_proxy.hosts + base, session_timeout=6.0) as zk:
        states = States(zk)
        session = zk.session_id
        zxid_before = zk._engine.last_zxid
        assert zk_proxy.inject_to_client(reply_frame(0x7777, POISON_ZXID, 0, b"")) >= 1
        states.wait_for(State.SUSPENDED)
        states.wait_for(State.CONNECTED)  # back, same session
        assert zk.session_id == session
        assert zk._engine.last_zxid < POISON_ZXID and zk._engine.last_zxid >= zxid_before
        assert zk.get("/n")[0] == b"v"
        assert states.count(State.EXPIRED) == 0


def test_a_forged_reply_on_an_async_client(zk_proxy: TcpProxy, base: str) -> None:
    async def main() -> None:
        async with AsyncClient(zk_proxy.hosts + base, session_timeout=6.0) as zk:
            session = zk.session_id
            seen = []
            zk.add_listener(seen.append)
            zk_proxy.inject_to_client(reply_frame(0x7777, POISON_ZXID, 0, b""))
            for _ in range(1000):
                if State.SUSPENDED in seen and zk.connected:
                    break
                await asyncio.sleep(0.01)
            assert State.SUSPENDED in seen and zk.connected and zk.session_id == session
            assert zk._engine.last_zxid < POISON_ZXID
            assert (await zk.get("/n"))[0] == b"v"

    asyncio.run(main())


def test_the_engine_ignores_the_zxid_of_notifications_and_pings(zk_proxy: TcpProxy, base: str) -> None:
    """Notifications and pings carry no zxid the session may adopt."""
    with Client(zk_proxy.hosts + base, session_timeout=6.0) as zk:
        zk.sync("/n")
        before = zk._engine.last_zxid
        zk_proxy.inject_to_client(reply_frame(-2, POISON_ZXID, 0, b""))   # a "ping" reply
        zk.sync("/n")
        wait_until(lambda: zk._engine.last_zxid >= before)
        assert zk._engine.last_zxid < POISON_ZXID and zk.connected


def test_a_session_cut_off_is_presumed_lost_before_the_server_expires_it(
        zk_proxy: TcpProxy, zk_server: ZooKeeperServer, base: str) -> None:
    """LOST comes when no server has been heard for a session timeout, before
    the server expires the session (an ephemeral of it vanishing shows when);
    after the network heals, the server's verdict follows: EXPIRED, then a new
    session."""
    import threading
    import time
    from zkfast import EventType
    lost_at: List[float] = []
    gone_at: List[float] = []
    with Client(zk_proxy.hosts + base, session_timeout=4.0) as zk, \
            Client(zk_server.hosts + base) as watcher:
        states = States(zk)
        zk.add_listener(lambda s: lost_at.append(time.monotonic()) if s == State.LOST else None)
        zk.create("/mine", ephemeral=True)
        gone = threading.Event()

        def on_gone(event: object) -> None:
            if getattr(event, "type", None) == EventType.NODE_DELETED:
                gone_at.append(time.monotonic())
                gone.set()
        watcher.exists("/mine", watch=on_gone)
        session = zk.session_id
        zk_proxy.blackhole(True)
        states.wait_for(State.SUSPENDED, timeout=10)
        states.wait_for(State.LOST, timeout=10)
        assert gone.wait(20), "the server expired the session"
        assert lost_at[0] < gone_at[0], "LOST came after the server had expired the session"
        zk_proxy.blackhole(False)
        zk_proxy.drop_all()
        states.wait_for(State.EXPIRED, timeout=20)
        states.wait_for(State.CONNECTED, timeout=20)
        assert zk.session_id != session
        assert states.seen.index(State.LOST) < states.seen.index(State.EXPIRED)
