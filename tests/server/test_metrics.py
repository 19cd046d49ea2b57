"""stats() and the request observer report exactly what was done."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import List

import pytest

from zkfast import AsyncClient, Client, NoNodeError
from zkfast.metrics import RequestRecord
from zkfast.testing import TcpProxy, ZooKeeperServer


def _user_ops(records: List[RequestRecord]) -> Counter:
    return Counter(r.op for r in records if r.op not in ("multi_read", "close_session"))


@pytest.mark.parametrize("coalesce", [True, False])
def test_the_observer_sees_every_request_once(zk_server: ZooKeeperServer, base: str,
                                              coalesce: bool) -> None:
    records: List[RequestRecord] = []
    with Client(zk_server.hosts + base, observer=records.append, request_stats=True,
                coalesce_reads=coalesce) as zk:
        zk.create("/n", b"12345")
        futs = [zk.get_async("/n") for _ in range(3000)] + [zk.get_async("/none") for _ in range(7)]
        for f in futs:
            f.exception(30)
        zk.set("/n", b"x")
        zk.get_children("/")
        with pytest.raises(NoNodeError):
            zk.delete("/none")
        stats = zk.stats()
    assert _user_ops(records) == Counter(create=1, get_data=3007, set_data=1, get_children=1, delete=1)
    gets = [r for r in records if r.op == "get_data"]
    assert sum(r.error == "NoNodeError" for r in gets) == 7
    assert all(r.latency is not None and r.latency >= 0 for r in gets)
    assert {r.reply_bytes for r in gets if r.error is None} == {5}
    assert any(r.batched for r in gets) == coalesce
    req = stats["requests"]
    assert req["get_data"]["count"] == 3007 and req["get_data"]["errors"] == {"NoNodeError": 7}
    assert req["delete"]["errors"] == {"NoNodeError": 1}
    assert 0 < req["get_data"]["p50"] <= req["get_data"]["p99"] <= req["get_data"]["max"]
    assert stats["bytes_sent"] > 3007 * 20 and stats["bytes_received"] > 3007 * 20
    assert stats["connects"] == 1 and stats["in_flight"] == 0
    if coalesce:
        assert stats["batches_sent"] > 0 and stats["batched_reads"] > stats["batches_sent"]
        assert stats["frames_sent"] < 3007


def test_stats_count_reconnects_and_failures(zk_proxy: TcpProxy, base: str) -> None:
    records: List[RequestRecord] = []
    with Client(zk_proxy.hosts + base, observer=records.append) as zk:
        zk.create("/n")
        zk_proxy.drop_all()
        zk.wait_connected(15)
        for _ in range(3):
            try:
                zk.get("/n")
                break
            except Exception:  # noqa: BLE001 - a call racing the reconnect
                zk.wait_connected(15)
        stats = zk.stats()
    assert stats["connects"] >= 2 and stats["reconnects"] >= 1 and stats["state_changes"] >= 3
    assert "requests" not in stats  # request_stats off


def test_the_async_client_reports_the_same(zk_server: ZooKeeperServer, base: str) -> None:
    async def main() -> None:
        records: List[RequestRecord] = []
        async with AsyncClient(zk_server.hosts + base, observer=records.append,
                               request_stats=True) as zk:
            await zk.create("/n", b"v")
            await asyncio.gather(*(zk.get("/n") for _ in range(2000)))
            stats = zk.stats()
        assert _user_ops(records) == Counter(create=1, get_data=2000)
        assert stats["requests"]["get_data"]["count"] == 2000
    asyncio.run(main())
