"""The sync client without epoll: the standard ``selectors`` waiter that
Windows and macOS wheels use, forced here on Linux."""

from __future__ import annotations

import threading
from typing import Iterator

import pytest

import zkfast.client
from zkfast import Client, ConnectionLossError, State
from zkfast.testing import TcpProxy, ZooKeeperServer

from helpers import EventLog, States


@pytest.fixture(autouse=True)
def portable_io(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(zkfast.client, "_USE_EPOLL", False)
    yield


def test_the_selector_waiter_is_in_use(zk_server: ZooKeeperServer, base: str) -> None:
    with Client(zk_server.hosts + base) as zk:
        zk.create("/n", b"v")
        assert isinstance(zk._session._waiter, zkfast.client._SelectorWaiter)
        assert zk.get("/n")[0] == b"v"


def test_calls_pipelining_watches_and_many_threads(zk_server: ZooKeeperServer, base: str) -> None:
    with Client(zk_server.hosts + base) as zk:
        zk.create("/n", b"v")
        futs = [zk.get_async("/n") for _ in range(2000)]
        assert all(f.result(30)[0] == b"v" for f in futs)
        log = EventLog()
        zk.get("/n", watch=log)
        errors = []

        def worker(i: int) -> None:
            try:
                for j in range(200):
                    zk.set("/n", b"%d-%d" % (i, j))
                    zk.get("/n")
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors and not any(t.is_alive() for t in threads)
        assert log.wait(1)[0].path == "/n"


def test_a_dropped_connection_comes_back(zk_proxy: TcpProxy, base: str) -> None:
    with Client(zk_proxy.hosts + base, session_timeout=6.0) as zk:
        states = States(zk)
        zk.create("/n", b"v")
        zk_proxy.drop_all()
        states.wait_for(State.SUSPENDED)
        states.wait_for(State.CONNECTED)
        for _ in range(3):
            try:
                assert zk.get("/n")[0] == b"v"
                break
            except ConnectionLossError:
                zk.wait_connected(10)
