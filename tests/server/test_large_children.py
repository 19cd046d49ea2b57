"""Big child lists work with default settings: listed, walked, cached and
deleted, on both clients.

The default suite uses 60,000 children (a 1.2 MB listing, over the old 1 MiB
default); ``ZKFAST_BIG_TESTS=1`` runs the same with 1,000,000 (an 18 MB
listing; about a minute per client to create and delete).
"""

from __future__ import annotations

import asyncio
import os
from typing import Iterator

import pytest

from zkfast import AsyncClient, Client
from zkfast.recipe import TreeCache, walk
from zkfast.testing import ZooKeeperServer

N = 1_000_000 if os.environ.get("ZKFAST_BIG_TESTS", "") not in ("", "0") else 60_000


def _create_children(zk: Client, parent: str, n: int) -> None:
    zk.ensure_path(parent)
    window = []
    for i in range(n):
        window.append(zk.create_async(f"{parent}/child-{i:010d}"))
        if len(window) >= 5000:
            for f in window:
                f.result(60)
            window = []
    for f in window:
        f.result(60)


@pytest.fixture(scope="module")
def big(zk_server: ZooKeeperServer) -> Iterator[str]:
    """A node with N children (built once for the module)."""
    with Client(zk_server.hosts) as zk:
        _create_children(zk, "/big-children", N)
        yield "/big-children"
        if zk.exists("/big-children") is not None:
            zk.delete("/big-children", recursive=True)


def test_a_big_listing_with_default_settings(zk_server: ZooKeeperServer, big: str) -> None:
    with Client(zk_server.hosts) as zk:
        names = zk.get_children(big)
        assert len(names) == N and names[0].startswith("child-")
        assert zk.exists(big).num_children == N


def test_a_big_listing_on_the_async_client(zk_server: ZooKeeperServer, big: str) -> None:
    async def main() -> None:
        async with AsyncClient(zk_server.hosts) as zk:
            assert len(await zk.get_children(big)) == N
    asyncio.run(main())


def test_a_big_node_is_walked_and_cached(zk_server: ZooKeeperServer, big: str) -> None:
    with Client(zk_server.hosts) as zk:
        seen = {path: len(children) for path, children in walk(zk, big)}
        assert seen[big] == N and len(seen) == N + 1
        with TreeCache(zk, big) as cache:
            assert cache.wait_initialized(300)
            assert len(cache.get_children(big) or ()) == N


def test_a_big_node_is_deleted_recursively(zk_server: ZooKeeperServer) -> None:
    with Client(zk_server.hosts) as zk:
        _create_children(zk, "/doomed", N // 4)
        zk.delete("/doomed", recursive=True)
        assert zk.exists("/doomed") is None
