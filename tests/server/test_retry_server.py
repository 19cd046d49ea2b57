"""zkfast.retry against a real server: a reply lost with its connection is
repeated (an idempotent read and write), on both clients."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from zkfast import AsyncClient, ConnectionLossError
from zkfast.retry import Retry
from zkfast.testing import TcpProxy, reply_header


def _reply_to_get_of(marker: bytes) -> Any:
    def match(body: bytes) -> bool:  # the getData reply carries the node's value
        header = reply_header(body)
        return header is not None and header[0] > 0 and marker in body
    return match


def test_retry_repeats_a_read_whose_reply_was_lost(zk_proxy: TcpProxy, make_client: Any) -> None:
    zk = make_client(hosts=zk_proxy.hosts)
    zk.create("/cfg", b"marker-1")
    lost = zk_proxy.drop_reply(_reply_to_get_of(b"marker-1"))
    with pytest.raises(ConnectionLossError):
        zk.get("/cfg")  # without a retry the caller sees the loss
    assert lost.is_set()
    lost = zk_proxy.drop_reply(_reply_to_get_of(b"marker-1"))
    value, _ = Retry(max_tries=3, delay=0.01).run(zk.get, "/cfg")
    assert value == b"marker-1" and lost.is_set()

    @Retry(max_tries=3, delay=0.01)
    def write_fixed_value() -> Any:  # idempotent: the same value whatever happened before
        return zk.set("/cfg", b"marker-2")

    lost = zk_proxy.drop_reply(lambda body: (reply_header(body) or (0,))[0] > 0)
    assert write_fixed_value().version >= 1 and lost.is_set()
    assert zk.get("/cfg")[0] == b"marker-2"


def test_async_retry_repeats_a_lost_read(zk_proxy: TcpProxy, make_client: Any, zk_chroot: str) -> None:
    make_client().create("/cfg", b"marker-a")

    async def main() -> None:
        async with AsyncClient(zk_proxy.hosts + zk_chroot) as zk:
            lost = zk_proxy.drop_reply(_reply_to_get_of(b"marker-a"))
            value, _ = await Retry(max_tries=3, delay=0.01).run_async(zk.get, "/cfg")
            assert value == b"marker-a" and lost.is_set()
            lost = zk_proxy.drop_reply(_reply_to_get_of(b"marker-a"))
            async for attempt in Retry(max_tries=3, delay=0.01).attempts_async():
                with attempt:
                    value, _ = await zk.get("/cfg")
            assert value == b"marker-a" and lost.is_set() and attempt.number == 2
    asyncio.run(asyncio.wait_for(main(), 60))
