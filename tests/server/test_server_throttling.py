"""A server that refuses or throttles clients gets backoff, not a storm, and
pipelined work against it stays bounded and complete; sync and async clients.

- ``maxClientCnxns``: the server closes every connection past the limit at
  once. The refused clients retry with capped exponential backoff
  (``zkfast.hosts.reconnect_delay``); the connection attempts counted at a
  ``TcpProxy`` stay under the bound that rule allows, whatever the time taken.
- ``globalOutstandingLimit``: the server stops reading from connections while
  too much is outstanding. Pipelined requests slow down; none is lost or
  duplicated and no connection is mistaken for dead (liveness counts replies).
- ``zookeeper.throttled_op_wait_time`` (3.7+): requests that waited too long
  in the server's throttle queue are answered with ZTHROTTLEDOP (-127):
  ``ThrottledError`` for those calls, and the session carries on.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Iterator, List

import pytest

from zkfast import AsyncClient, Client, State, ThrottledError
from zkfast.hosts import reconnect_delay
from zkfast.testing import TcpProxy, ZooKeeperServer

from helpers import wait_until


def max_attempts(seconds: float) -> int:
    """The most connection attempts one client can make in ``seconds`` while
    every attempt fails: the first at once, each later one after a backoff of
    at least the smallest ``reconnect_delay`` can draw (its ceiling less the
    jitter), the ceiling doubling from 50 ms to 1 s."""
    attempts, spent = 1, 0.0
    while True:
        shortest = reconnect_delay(attempts - 1, jitter=0) * 0.5
        if spent + shortest > seconds:
            return attempts
        spent += shortest
        attempts += 1


def test_the_bound_follows_the_backoff_rule() -> None:
    assert max_attempts(0.0) == 1
    assert max_attempts(0.025) == 2  # after 25 ms at the earliest
    assert max_attempts(0.775) == 6  # 25 + 50 + 100 + 200 + 400 ms
    assert max_attempts(10.775) == 26  # then one every 500 ms at most


@pytest.fixture
def refusing_server() -> Iterator[ZooKeeperServer]:
    with ZooKeeperServer(extra_config={"maxClientCnxns": 4}) as server:
        yield server


def test_refused_clients_back_off_instead_of_storming(refusing_server: ZooKeeperServer,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """Against a server taking 4 connections from an address, 4 clients are
    connected; 4 more (2 sync, 2 async) are refused over and over while the
    test watches. (The server counts an address's connections a moment after
    accepting them, so the first 4 connect one after the other.)"""
    caplog.set_level(logging.WARNING, logger="zkfast.client")
    loop = asyncio.new_event_loop()
    loop_thread = threading.Thread(target=loop.run_forever, daemon=True)
    loop_thread.start()

    def close(c: object) -> None:
        if isinstance(c, AsyncClient):
            asyncio.run_coroutine_threadsafe(c.close(), loop).result(30)
        else:
            c.close()  # type: ignore[attr-defined]

    with TcpProxy(refusing_server.host, refusing_server.port) as proxy:
        first = [Client(proxy.hosts, name=f"first{i}").start(60) for i in range(4)]
        accepted_before = proxy.connections_accepted
        warned_before = len(caplog.records)
        started = time.monotonic()
        refused_sync = [Client(proxy.hosts, name=f"refused-s{i}") for i in range(2)]
        starters = [threading.Thread(target=c.start, args=(120,), daemon=True) for c in refused_sync]
        for t in starters:
            t.start()
        refused_async = [AsyncClient(proxy.hosts, name=f"refused-a{i}") for i in range(2)]
        async_starts = [asyncio.run_coroutine_threadsafe(c.start(120), loop) for c in refused_async]
        refused: List[object] = [*refused_sync, *refused_async]

        def connected(clients: List[object]) -> int:
            return sum(c.state == State.CONNECTED for c in clients)  # type: ignore[attr-defined]

        wait_until(lambda: proxy.connections_accepted - accepted_before >= 12, timeout=60)
        time.sleep(2.0)  # let them retry for a while (not a check)
        attempts = proxy.connections_accepted - accepted_before
        elapsed = time.monotonic() - started
        assert connected(refused) == 0 and connected(first) == 4  # the limit held
        # at most what backoff allows four clients in that time; a storm
        # (reconnecting at once) makes thousands
        bound = 4 * max_attempts(elapsed)
        assert attempts <= bound, (attempts, bound, elapsed)
        # one warning per refused client for the whole outage, not one per attempt
        warnings = [r.getMessage() for r in caplog.records[warned_before:]]
        assert len(warnings) == 4 and all("cannot connect" in w for w in warnings), warnings

        # room again: the refused clients get in within their (capped) backoff
        for c in first:
            c.close()
        wait_until(lambda: connected(refused) == 4, timeout=60)
        assert all(f.result(30) is c for f, c in zip(async_starts, refused_async))
        for t in starters:
            t.join(30)
        for c in refused:
            close(c)
    loop.call_soon_threadsafe(loop.stop)
    loop_thread.join(10)
    loop.close()


@pytest.fixture
def throttling_server() -> Iterator[ZooKeeperServer]:
    with ZooKeeperServer(extra_config={"globalOutstandingLimit": 10}) as server:
        yield server


def test_pipelining_into_a_throttling_server_stays_bounded_and_complete(
        throttling_server: ZooKeeperServer) -> None:
    hosts = throttling_server.hosts
    with Client(hosts) as admin:
        admin.create("/t", b"v")

    def sync_worker(w: int, results: List[int]) -> None:
        with Client(hosts, max_in_flight=1000) as zk:
            futs = [zk.create_async(f"/t/s{w}-{i:05d}", b"x") for i in range(5000)]
            got = [f.result(120) for f in futs]
            assert got == [f"/t/s{w}-{i:05d}" for i in range(5000)]
            assert sum(zk.get(f"/t/s{w}-{i:05d}")[0] == b"x" for i in range(0, 5000, 500)) == 10
            results.append(zk.stats()["connects"])

    async def async_worker() -> int:
        async with AsyncClient(hosts, max_in_flight=1000) as zk:
            got = await asyncio.gather(*(zk.get("/t") for _ in range(20_000)))
            assert len(got) == 20_000 and all(v[0] == b"v" for v in got)
            return int(zk.stats()["connects"])

    results: List[int] = []
    threads = [threading.Thread(target=sync_worker, args=(w, results)) for w in range(2)]
    for t in threads:
        t.start()
    async_connects = asyncio.run(async_worker())
    for t in threads:
        t.join(180)
    assert results == [1, 1] and async_connects == 1  # no connection was given up on
    with Client(hosts) as admin:
        children = admin.get_children("/t")
        assert len(children) == 10_000  # each create once: nothing lost, nothing twice
        assert admin.count_children("/t") == 10_000


@pytest.fixture
def op_throttling_server() -> Iterator[ZooKeeperServer]:
    flags = ["-Dzookeeper.request_throttle_max_requests=2", "-Dzookeeper.throttled_op_wait_time=5"]
    with ZooKeeperServer(jvm_flags=flags) as server:
        yield server


def test_throttled_requests_fail_typed_and_the_session_carries_on(
        op_throttling_server: ZooKeeperServer) -> None:
    hosts = op_throttling_server.hosts
    with Client(hosts) as zk:
        zk.create("/n", b"v")
        futs = [zk.get_async("/n") for _ in range(5000)]
        outcomes = [f.exception(120) for f in futs]
        throttled = sum(isinstance(e, ThrottledError) for e in outcomes)
        assert all(e is None or isinstance(e, ThrottledError) for e in outcomes), \
            {type(e).__name__ for e in outcomes}
        assert throttled > 0, "the server throttled nothing: the scenario did not happen"
        assert throttled < 5000 or zk.get("/n")[0] == b"v"
        stats = zk.stats()
        assert stats["connects"] == 1 and zk.state == State.CONNECTED
        # the session goes on: a call at a time is not throttled
        wait_until(lambda: _succeeds(zk), timeout=30)

    async def main() -> None:
        async with AsyncClient(hosts) as az:
            results = await asyncio.gather(*(az.get("/n") for _ in range(5000)),
                                           return_exceptions=True)
            assert all(isinstance(r, (tuple, ThrottledError)) for r in results)
            assert any(isinstance(r, ThrottledError) for r in results)
            assert az.stats()["connects"] == 1
            assert (await az.get("/n"))[0] == b"v"
    asyncio.run(main())


def _succeeds(zk: Client) -> bool:
    try:
        return bool(zk.get("/n")[0] == b"v")
    except ThrottledError:
        return False
