"""Overload stays bounded: max_in_flight, max_queued, deadlines."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from typing import List

import pytest

from zkfast import (
    AsyncClient,
    Client,
    QueueFullError,
    RequestTimeoutError,
    State,
)
from zkfast.testing import TcpProxy, ZooKeeperServer

from helpers import States


@pytest.fixture
def base(base: str, zk_server: ZooKeeperServer) -> str:
    """conftest's ``base``, with a node ``/n`` holding ``b"v"``."""
    with Client(zk_server.hosts) as admin:
        admin.create(base + "/n", b"v")
    return base


class _Watermark:
    """Samples a client's requests in flight from another thread."""

    def __init__(self, zk: object) -> None:
        self.engine = zk._engine  # type: ignore[attr-defined]
        self.high = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.high = max(self.high, self.engine.in_flight)
            self._stop.wait(0.0005)

    def stop(self) -> int:
        self._stop.set()
        self._t.join(5)
        return self.high


@pytest.mark.parametrize("coalesce", [True, False])
def test_max_in_flight_holds_under_100k_pipelined_requests(zk_server: ZooKeeperServer, base: str,
                                                           coalesce: bool) -> None:
    limit = 1000
    with Client(zk_server.hosts + base, max_in_flight=limit, coalesce_reads=coalesce) as zk:
        mark = _Watermark(zk)
        futs = [zk.get_async("/n") for _ in range(100_000)]
        assert all(f.result(60)[0] == b"v" for f in futs)
        high = mark.stop()
        # framed-and-unanswered requests never pass the bound (one batch of
        # coalesced reads may be framed at once: at most 128 over)
        assert 0 < high <= limit + 128, high
        assert zk._engine.in_flight == 0 and not zk._engine.pending


def test_max_in_flight_on_the_async_client(zk_server: ZooKeeperServer, base: str) -> None:
    async def main() -> None:
        async with AsyncClient(zk_server.hosts + base, max_in_flight=500) as zk:
            engine = zk._engine
            high = 0

            async def sample() -> None:
                nonlocal high
                while True:
                    high = max(high, engine.in_flight)
                    await asyncio.sleep(0)

            sampler = asyncio.get_running_loop().create_task(sample())
            got = await asyncio.gather(*(zk.get("/n") for _ in range(50_000)))
            sampler.cancel()
            assert all(v[0] == b"v" for v in got) and len(got) == 50_000
            assert 0 < high <= 500 + 128, high
    asyncio.run(main())


def test_a_stopped_server_times_calls_out_and_the_session_lives_on(zk_server: ZooKeeperServer,
                                                                    base: str) -> None:
    with Client(zk_server.hosts + base, session_timeout=10.0) as zk:
        states = States(zk)
        assert zk_server.pid is not None
        os.kill(zk_server.pid, signal.SIGSTOP)
        try:
            with pytest.raises(RequestTimeoutError, match="may still be applied"):
                zk.get("/n", timeout=0.5)
            with pytest.raises(RequestTimeoutError):
                zk.set("/n", b"w", timeout=0.3)
        finally:
            os.kill(zk_server.pid, signal.SIGCONT)
        assert zk.get("/n", timeout=10)[0] in (b"v", b"w")
        assert zk.state == State.CONNECTED and State.EXPIRED not in states.seen


def test_request_timeout_applies_to_every_call(zk_server: ZooKeeperServer, base: str) -> None:
    async def main() -> None:
        async with AsyncClient(zk_server.hosts + base, request_timeout=0.5) as zk:
            assert zk_server.pid is not None
            os.kill(zk_server.pid, signal.SIGSTOP)
            try:
                with pytest.raises(RequestTimeoutError):
                    await zk.get("/n")
            finally:
                os.kill(zk_server.pid, signal.SIGCONT)
            assert (await zk.get("/n", timeout=10))[0] in (b"v", b"w")
    asyncio.run(main())


def test_requests_queued_while_disconnected_are_bounded(zk_proxy: TcpProxy, base: str) -> None:
    with Client(zk_proxy.hosts + base, session_timeout=10.0, max_queued=5) as zk:
        states = States(zk)
        zk_proxy.refuse(True)
        zk_proxy.drop_all()
        states.wait_for(State.SUSPENDED)
        queued = [zk.get_async("/n") for _ in range(5)]
        with pytest.raises(QueueFullError, match="max_queued=5"):
            zk.get_async("/n")
        zk_proxy.refuse(False)
        assert all(f.result(20)[0] == b"v" for f in queued)
        results: List[bytes] = [zk.get("/n")[0]]
        assert results == [b"v"]
