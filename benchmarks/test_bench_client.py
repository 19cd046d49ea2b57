"""pytest-benchmark suite for the client hot paths (one real ZooKeeper per module).

    PYTHONPATH=src python -m pytest benchmarks/test_bench_client.py --benchmark-only
    ZKFAST_NO_EXTENSIONS=1 PYTHONPATH=src python -m pytest benchmarks/test_bench_client.py

The codec backend is fixed per process (``ZKFAST_NO_EXTENSIONS``); each result records
it in ``extra_info``. For the comparison with kazoo, aiozk and the raw-socket ceiling use
``benchmarks/compare.py``.
"""

from __future__ import annotations

import asyncio
from typing import Iterator

import pytest

import zkfast
from zkfast.testing import ZooKeeperServer

pytest.importorskip("pytest_benchmark")

PATH = "/bench-hot/d100"
BATCH = 1000


@pytest.fixture(scope="module")
def server() -> Iterator[ZooKeeperServer]:
    with ZooKeeperServer() as s:
        yield s


@pytest.fixture(scope="module")
def zk(server: ZooKeeperServer) -> Iterator[zkfast.Client]:
    c = zkfast.Client(server.hosts)
    c.start()
    c.create(PATH, b"x" * 100, makepath=True)
    yield c
    c.close()


@pytest.fixture(scope="module")
def aio(server: ZooKeeperServer, zk: zkfast.Client) -> Iterator[tuple]:
    loop = asyncio.new_event_loop()
    c = zkfast.AsyncClient(server.hosts)
    loop.run_until_complete(c.start())
    yield loop, c
    loop.run_until_complete(c.close())
    loop.close()


def _tag(benchmark, ops: int) -> None:
    benchmark.extra_info["codec_backend"] = zkfast.codec_backend
    benchmark.extra_info["requests_per_round"] = ops


def test_sync_get(benchmark, zk: zkfast.Client) -> None:
    _tag(benchmark, 1)
    value, _ = benchmark(zk.get, PATH)
    assert value == b"x" * 100


def test_pipelined_get_batch(benchmark, zk: zkfast.Client) -> None:
    _tag(benchmark, BATCH)
    get_async = zk.get_async

    def batch() -> list:
        fs = [get_async(PATH) for _ in range(BATCH)]
        return [f.result() for f in fs]

    out = benchmark(batch)
    assert len(out) == BATCH and out[-1][0] == b"x" * 100


def test_async_get(benchmark, aio: tuple) -> None:
    loop, c = aio
    _tag(benchmark, 1)
    async def one() -> tuple:
        return await c.get(PATH)  # a call starts when made: make it on the client's loop

    value, _ = benchmark(lambda: loop.run_until_complete(one()))
    assert value == b"x" * 100


def test_async_gather_batch(benchmark, aio: tuple) -> None:
    loop, c = aio
    _tag(benchmark, BATCH)

    async def batch() -> list:
        return await asyncio.gather(*[c.get(PATH) for _ in range(BATCH)])

    out = benchmark(lambda: loop.run_until_complete(batch()))
    assert len(out) == BATCH
