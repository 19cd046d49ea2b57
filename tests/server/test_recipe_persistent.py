"""PersistentNode and PersistentTtlNode against a real server: the node stays
(with its data) through deletion by others, lost replies, dropped connections
and session expiry, until closed."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any, Iterator, List

import pytest

import zkfast
from zkfast import AsyncClient, InvalidArgumentError
from zkfast.recipe import (
    AsyncPersistentNode,
    AsyncPersistentTtlNode,
    PersistentNode,
    PersistentTtlNode,
)
from zkfast.testing import TcpProxy, ZooKeeperServer

from helpers import expire, wait_until


def _data(zk: zkfast.Client, path: str) -> Any:
    try:
        return zk.get(path)
    except zkfast.NoNodeError:
        return None


def _created_reply(marker: bytes) -> Any:
    """A proxy predicate: the reply to a create whose path contains ``marker``."""
    def match(body: bytes) -> bool:
        if len(body) < 21 or body[20:21] != b"/":
            return False
        return len(body) == 20 + int.from_bytes(body[16:20], "big") and marker in body
    return match


def test_ephemeral_node_comes_back_until_closed(make_client: Any) -> None:
    owner, other = make_client(), make_client()
    created: List[str] = []
    node = PersistentNode(owner, "/grp/me", b"v1", listener=created.append)
    with pytest.raises(RuntimeError):
        node.wait_for_initial_create(0)  # not started
    node.start()
    assert node.wait_for_initial_create(10)
    value, stat = other.get("/grp/me")
    assert value == b"v1" and stat.ephemeral_owner == owner.session_id
    assert node.path == "/grp/me" and node.is_ours and created == ["/grp/me"]

    other.delete("/grp/me")
    wait_until(lambda: _data(other, "/grp/me") is not None, timeout=20)
    assert other.get("/grp/me")[0] == b"v1"
    wait_until(lambda: created == ["/grp/me", "/grp/me"])

    assert node.set_data(b"v2") is True
    assert other.get("/grp/me")[0] == b"v2"
    other.set("/grp/me", b"theirs")  # a write by someone else stands...
    other.delete("/grp/me")          # ...until the node has to be made again
    wait_until(lambda: (_data(other, "/grp/me") or [None])[0] == b"v2", timeout=20)

    node.close()
    assert other.exists("/grp/me") is None
    other.create("/grp/me", b"after")  # closed: no longer kept, and nothing fights
    other.delete("/grp/me")
    owner.sync("/grp")
    assert owner.exists("/grp/me") is None
    with pytest.raises(RuntimeError):
        node.start()


def test_node_is_made_again_in_a_new_session(zk_server: ZooKeeperServer, make_client: Any) -> None:
    owner, other = make_client(), make_client()
    node = PersistentNode(owner, "/grp/me", b"mine").start()
    assert node.wait_for_initial_create(10)
    first = owner.session_id
    expire(zk_server.hosts, owner)
    wait_until(lambda: owner.session_id != first and owner.connected, timeout=30)
    wait_until(lambda: (_data(other, "/grp/me") or (None, None))[1] is not None
               and other.get("/grp/me")[1].ephemeral_owner == owner.session_id, timeout=30)
    assert other.get("/grp/me")[0] == b"mine"
    node.close()
    assert other.exists("/grp/me") is None


def test_lost_create_reply_and_dropped_connections(zk_proxy: TcpProxy, make_client: Any) -> None:
    owner = make_client(hosts=zk_proxy.hosts)
    other = make_client()
    lost = zk_proxy.drop_reply(_created_reply(b"member-"))
    node = PersistentNode(owner, "/grp/member-", b"seq", sequence=True).start()
    assert node.wait_for_initial_create(30)
    assert lost.is_set()
    children = other.get_children("/grp")
    assert len(children) == 1, children  # the lost reply left no second node
    name = children[0]
    assert re.fullmatch(r"_c_[0-9a-f]{32}-member-\d{10}", name) and node.path == f"/grp/{name}"
    for _ in range(3):
        zk_proxy.drop_all()
        wait_until(lambda: owner.connected, timeout=20)
    assert other.get_children("/grp") == [name]
    # deleted by someone: made again under the same name, not a new sequence number
    other.delete(f"/grp/{name}")
    wait_until(lambda: other.get_children("/grp") == [name], timeout=20)
    node.close()
    assert other.get_children("/grp") == []


def test_close_while_disconnected_deletes_after_the_reconnect(zk_proxy: TcpProxy,
                                                             make_client: Any) -> None:
    owner, other = make_client(hosts=zk_proxy.hosts), make_client()
    node = PersistentNode(owner, "/grp/me", b"x").start()
    assert node.wait_for_initial_create(10)
    zk_proxy.refuse(True)
    zk_proxy.drop_all()
    wait_until(lambda: not owner.connected)
    node.close()  # does not wait for the connection: the delete goes on in the background
    assert not owner.connected and other.exists("/grp/me") is not None
    zk_proxy.refuse(False)
    wait_until(lambda: other.exists("/grp/me") is None, timeout=30)  # same session: deleted
    never_started = PersistentNode(owner, "/grp/keep", ephemeral=False)
    other.create("/grp/keep", b"theirs")
    never_started.close()  # never started: nothing of anyone's is touched
    assert other.get("/grp/keep")[0] == b"theirs"


def test_another_sessions_ephemeral_is_waited_out(make_client: Any) -> None:
    squatter, owner, other = make_client(), make_client(), make_client()
    squatter.create("/grp/me", b"squatter", ephemeral=True, makepath=True)
    node = PersistentNode(owner, "/grp/me", b"mine").start()
    assert node.wait_for_initial_create(0.5) is False
    assert node.set_data(b"still mine") is False  # not written into someone else's node
    assert other.get("/grp/me")[0] == b"squatter" and not node.is_ours
    squatter.close()  # its ephemeral goes: ours takes its place
    assert node.wait_for_initial_create(20)
    value, stat = other.get("/grp/me")
    assert value == b"still mine" and stat.ephemeral_owner == owner.session_id
    node.close()


def test_persistent_node_adopts_and_outlives_the_session(zk_server: ZooKeeperServer,
                                                         make_client: Any) -> None:
    owner, other = make_client(), make_client()
    other.create("/cfg/x", b"old", makepath=True)
    node = PersistentNode(owner, "/cfg/x", b"new", ephemeral=False).start()
    assert node.wait_for_initial_create(10)
    wait_until(lambda: other.get("/cfg/x")[0] == b"new")  # adopted: our data written
    expire(zk_server.hosts, owner)
    wait_until(lambda: owner.connected, timeout=30)
    assert other.get("/cfg/x")[0] == b"new"
    other.delete("/cfg/x")
    wait_until(lambda: _data(other, "/cfg/x") is not None, timeout=20)
    node.close()
    assert other.exists("/cfg/x") is None


def test_bad_arguments(make_client: Any) -> None:
    zk = make_client()
    with pytest.raises(InvalidArgumentError):
        PersistentNode(zk, "/x", ttl=5)  # ephemeral TTL node
    with pytest.raises(InvalidArgumentError):
        PersistentNode(zk, "/x", ephemeral=False, ttl=-1)
    with pytest.raises(ValueError):
        PersistentNode(zk, "/x", protected=True)
    with pytest.raises(ValueError):
        PersistentNode(zk, "/x/", sequence=True)
    with pytest.raises(zkfast.InvalidPathError):
        PersistentNode(zk, "x")
    with pytest.raises(TypeError):
        AsyncPersistentNode(zk, "/x")
    with pytest.raises(InvalidArgumentError):
        PersistentTtlNode(zk, "/x", ttl=0)
    with pytest.raises(ValueError):
        PersistentTtlNode(zk, "/x", ttl=1, touch_factor=1)


# ---------------------------------------------------------------- TTL


@pytest.fixture(scope="module")
def ttl_server() -> Iterator[ZooKeeperServer]:
    """A server that looks for expired TTL nodes every 100 ms (default: 60 s)."""
    server = ZooKeeperServer(jvm_flags=["-Dznode.container.checkIntervalMs=100"])
    server.start()
    yield server
    server.close()


def test_ttl_node_lives_while_touched_and_expires_after_close(ttl_server: ZooKeeperServer) -> None:
    with zkfast.Client(ttl_server.hosts) as owner, zkfast.Client(ttl_server.hosts) as other:
        other.delete("/ttl", recursive=True) if other.exists("/ttl") else None
        node = PersistentTtlNode(owner, "/ttl/alive", ttl=0.5, data=b"up").start()
        assert node.wait_for_initial_create(10)
        # Several TTLs pass (each touch is a quarter... half a TTL): the node stays.
        wait_until(lambda: node.touches >= 6, timeout=30)
        value, stat = other.get("/ttl/alive")
        assert value == b"up" and stat.ephemeral_owner != owner.session_id  # a TTL node
        assert other.exists("/ttl/alive/touch") is not None
        node.close()
        # untouched: the child expires, then the parent (checked every 100 ms)
        wait_until(lambda: other.exists("/ttl/alive") is None, timeout=30)
        other.delete("/ttl", recursive=True)


def test_async_persistent_and_ttl_nodes(zk_server: ZooKeeperServer, ttl_server: ZooKeeperServer,
                                        make_client: Any, zk_chroot: str) -> None:
    other = make_client()

    async def main() -> None:
        async with AsyncClient(zk_server.hosts + zk_chroot) as owner:
            made: List[str] = []

            async def on_created(path: str) -> None:
                made.append(path)

            node = await AsyncPersistentNode(owner, "/grp/a-", b"x", sequence=True,
                                             listener=on_created).start()
            assert await node.wait_for_initial_create(10)
            path = node.path
            assert path is not None and made == [path]
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, other.delete, path)
            for _ in range(1000):
                if len(made) == 2 and await owner.exists(path) is not None:
                    break
                await asyncio.sleep(0.02)
            assert made == [path, path]
            sid = owner.session_id
            await loop.run_in_executor(None, expire, zk_server.hosts, owner)
            for _ in range(1500):
                stat = await owner.exists(path) if owner.connected else None
                if owner.session_id != sid and stat is not None and stat.ephemeral_owner == owner.session_id:
                    break
                await asyncio.sleep(0.02)
            assert (await owner.get(path))[1].ephemeral_owner == owner.session_id
            assert await node.set_data(b"y") is True and (await owner.get(path))[0] == b"y"
            await node.close()
            assert await owner.exists(path) is None
        async with AsyncClient(ttl_server.hosts) as owner:
            ttl_node = await AsyncPersistentTtlNode(owner, zk_chroot + "/t", ttl=0.5).start()
            assert await ttl_node.wait_for_initial_create(10)
            while ttl_node.touches < 3:
                await asyncio.sleep(0.05)
            assert await owner.exists(zk_chroot + "/t") is not None
            await ttl_node.close()
            for _ in range(1500):
                if await owner.exists(zk_chroot + "/t") is None:
                    break
                await asyncio.sleep(0.02)
            assert await owner.exists(zk_chroot + "/t") is None
            await owner.delete(zk_chroot, recursive=True)

    asyncio.run(asyncio.wait_for(main(), 90))


def test_sync_close_from_another_thread_races_a_pass(make_client: Any) -> None:
    """close() while passes run (deletions by someone else keep triggering them)
    leaves no node behind."""
    owner, other = make_client(), make_client()
    for round_ in range(5):
        node = PersistentNode(owner, f"/race/n{round_}", b"r").start()
        stop = threading.Event()

        def churn(path: str = f"/race/n{round_}") -> None:
            while not stop.is_set():
                try:
                    other.delete(path)
                except zkfast.NoNodeError:
                    pass
        t = threading.Thread(target=churn)
        t.start()
        node.wait_for_initial_create(10)
        node.close()
        stop.set()
        t.join()
        owner.sync("/race")
        wait_until(lambda r=round_: other.exists(f"/race/n{r}") is None, timeout=10)
