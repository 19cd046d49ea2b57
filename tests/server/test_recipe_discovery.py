"""Service discovery against a real server: registration kept through session
loss and deletion, queries, the cached provider and its strategies."""

from __future__ import annotations

import asyncio
import re
from typing import Any, List

import pytest

from zkfast import AsyncClient, WaitTimeoutError
from zkfast.recipe.discovery import (
    AsyncServiceDiscovery,
    InvalidInstanceError,
    ServiceDiscovery,
    ServiceInstance,
    ServiceType,
)
from zkfast.testing import ZooKeeperServer

from helpers import expire, wait_until


def _ids(instances: List[ServiceInstance]) -> List[str]:
    return sorted(i.id for i in instances)


def test_register_query_update_unregister(make_client: Any) -> None:
    a, b = make_client(), make_client()
    da, db = ServiceDiscovery(a, "/services"), ServiceDiscovery(b, "/services")
    assert da.query_for_names() == [] and da.query_for_instances("web") == []
    web1 = ServiceInstance("web", "w1", "10.0.0.1", 80, payload={"zone": "a"},
                           uri_spec="{scheme}://{address}:{port}")
    web2 = ServiceInstance("web", "w2", "10.0.0.2", 80)
    db_inst = ServiceInstance("db", "d1", "10.0.0.9", 5432, service_type=ServiceType.STATIC)
    da.register(web1)
    db.register(web2)
    db.register(db_inst)
    assert da.query_for_names() == ["db", "web"]
    assert _ids(db.query_for_instances("web")) == ["w1", "w2"]
    got = db.query_for_instance("web", "w1")
    assert got == web1 and got is not None and got.build_uri() == "http://10.0.0.1:80"
    assert a.get("/services/web/w1")[1].ephemeral_owner == a.session_id
    assert a.get("/services/db/d1")[1].ephemeral_owner == 0  # STATIC: persistent

    moved = web1.with_changes(address="10.0.0.3")
    da.update(moved)
    assert db.query_for_instance("web", "w1") == moved
    da.register(moved.with_changes(port=81))  # registering an id again updates it
    assert db.query_for_instance("web", "w1").port == 81  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        da.update(web2)  # not registered here
    with pytest.raises(ValueError):
        da.update(web1.with_changes(service_type=ServiceType.STATIC))

    assert da.unregister("w1") is True and da.unregister("w1") is False
    assert _ids(db.query_for_instances("web")) == ["w2"]
    assert db.query_for_instance("web", "w1") is None
    b.close()  # closed without unregistering: the dynamic instance goes, the static one stays
    assert _ids(da.query_for_instances("web")) == [] and _ids(da.query_for_instances("db")) == ["d1"]
    a.create("/services/db/junk", b"{not json")
    assert _ids(da.query_for_instances("db")) == ["d1"]  # skipped (and logged)
    with pytest.raises(InvalidInstanceError):
        da.query_for_instance("db", "junk")
    with pytest.raises(ValueError):
        da.query_for_instances("a/b")


def test_instances_come_back_after_session_loss_and_deletion(zk_server: ZooKeeperServer,
                                                             make_client: Any) -> None:
    owner, other = make_client(), make_client()
    discovery = ServiceDiscovery(owner, "/services")
    look = ServiceDiscovery(other, "/services")
    discovery.register(ServiceInstance("api", "a1", "h", 1))
    seq = ServiceInstance("api", "s-7c1e", "h", 2, service_type=ServiceType.DYNAMIC_SEQUENTIAL)
    discovery.register(seq)
    names = other.get_children("/services/api")
    assert "a1" in names and any(re.fullmatch(r"s-7c1e\d{10}", n) for n in names)
    assert _ids(look.query_for_instances("api")) == ["a1", "s-7c1e"]  # ids from the JSON

    sid = owner.session_id
    expire(zk_server.hosts, owner)
    wait_until(lambda: owner.session_id != sid and owner.connected, timeout=30)
    wait_until(lambda: _ids(look.query_for_instances("api")) == ["a1", "s-7c1e"], timeout=30)
    assert other.get("/services/api/a1")[1].ephemeral_owner == owner.session_id

    other.delete("/services/api/a1")  # deleted by someone: registered again
    wait_until(lambda: "a1" in _ids(look.query_for_instances("api")), timeout=20)
    discovery.close()
    assert look.query_for_instances("api") == []


def test_register_times_out_behind_another_sessions_node(make_client: Any) -> None:
    squatter, owner = make_client(), make_client()
    squatter.create("/services/web/w1", b"{}", ephemeral=True, makepath=True)
    discovery = ServiceDiscovery(owner, "/services")
    with pytest.raises(WaitTimeoutError):
        discovery.register(ServiceInstance("web", "w1", "h", 1), timeout=0.5)
    squatter.close()  # its node goes: the registration (still active) takes the place
    wait_until(lambda: discovery.query_for_instance("web", "w1") is not None, timeout=20)
    discovery.close()


def test_provider_strategies_and_down_instances(make_client: Any) -> None:
    zk, other = make_client(), make_client()
    registry = ServiceDiscovery(other, "/services")
    for i in range(3):
        registry.register(ServiceInstance("web", f"w{i}", "h", 8000 + i))
    discovery = ServiceDiscovery(zk, "/services")
    with discovery.service_provider("web") as rr, discovery.service_provider("web", "sticky") as sticky:
        assert rr.wait_initialized(10) and sticky.wait_initialized(10)
        wait_until(lambda: len(rr.get_all_instances()) == 3)
        assert [rr.get_instance().id for _ in range(6)] == ["w0", "w1", "w2"] * 2  # type: ignore[union-attr]
        first = sticky.get_instance()
        assert first is not None and all(sticky.get_instance() == first for _ in range(5))
        registry.unregister(first.id)
        wait_until(lambda: sticky.get_instance() not in (None, first))
        rr.note_error(rr.get_all_instances()[0])
        rr.note_error(rr.get_all_instances()[0])  # two errors: down for 30 s
        assert len(rr.get_all_instances()) == 1
        (last,) = rr.get_all_instances()
        registry.update(last.with_changes(enabled=False))
        wait_until(lambda: len(rr.get_all_instances()) == 0)
        assert rr.get_instance() is None
    with pytest.raises(ValueError):
        discovery.service_provider("web", "fastest")
    registry.close()


def test_async_discovery(zk_server: ZooKeeperServer, make_client: Any, zk_chroot: str) -> None:
    make_client()

    async def main() -> None:
        hosts = zk_server.hosts + zk_chroot
        async with AsyncClient(hosts) as a, AsyncClient(hosts) as b:
            da, db = AsyncServiceDiscovery(a, "/services"), AsyncServiceDiscovery(b, "/services")
            await da.register(ServiceInstance("web", "w1", "h", 1, payload=["x"]))
            provider = await db.service_provider("web", "random").start()
            assert await provider.wait_initialized(10)
            for _ in range(500):
                if provider.get_instance() is not None:
                    break
                await asyncio.sleep(0.02)
            got = provider.get_instance()
            assert got is not None and got.id == "w1" and got.payload == ["x"]
            assert await db.query_for_names() == ["web"]
            assert _ids(await db.query_for_instances("web")) == ["w1"]
            await da.close()
            assert await db.query_for_instance("web", "w1") is None
            for _ in range(500):
                if provider.get_instance() is None:
                    break
                await asyncio.sleep(0.02)
            assert provider.get_instance() is None
            await provider.close()
    asyncio.run(asyncio.wait_for(main(), 60))
