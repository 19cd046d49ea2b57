"""A server that stops answering (SIGSTOP: a GC pause, a frozen VM) long enough
to trip the client's read timeout, on both clients.

Shorter than the session timeout: the connection is declared dead (SUSPENDED),
what it owed fails with ConnectionLossError, calls with a deadline fail with
RequestTimeoutError, and after SIGCONT the client resumes the *same* session
(its ephemeral node is still there) and sends what was queued meanwhile.

Longer than the session timeout: the client announces LOST while the server is
still stopped; after SIGCONT the server's verdict follows (the session expired,
or a reconnect beat the server's expiry sweep and it lives on) and the states
say which.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import threading
from typing import Any, List

import pytest

from zkfast import (
    AsyncClient,
    Client,
    ConnectionLossError,
    RequestTimeoutError,
    State,
)
from zkfast.testing import ZooKeeperServer

from helpers import States

# The session timeout asked for; the server grants it (tickTime 2 s: 4-40 s).
# The read timeout is 2/3 of it: 5.3 s. The server is resumed as soon as the
# client reports SUSPENDED, well before the session could expire.
SESSION_TIMEOUT = 8.0


@pytest.fixture
def base(base: str, zk_server: ZooKeeperServer) -> str:
    """conftest's ``base``, with a node ``/n`` holding ``b"v"``."""
    with Client(zk_server.hosts) as admin:
        admin.create(base + "/n", b"v")
    return base


class Stopped:
    """SIGSTOP the server; SIGCONT it on resume() or, whatever happens, on exit."""

    def __init__(self, server: ZooKeeperServer) -> None:
        assert server.pid is not None
        self.pid = server.pid
        self.stopped = False

    def __enter__(self) -> Stopped:
        os.kill(self.pid, signal.SIGSTOP)
        self.stopped = True
        # kill() returns before every thread of the JVM has stopped: wait until
        # the kernel says the process is stopped, so nothing sent from now on
        # can be answered before resume()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{self.pid}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] == "T":
                        break
            except OSError:
                break
            time.sleep(0.005)
        return self

    def resume(self) -> None:
        if self.stopped:
            os.kill(self.pid, signal.SIGCONT)
            self.stopped = False

    def __exit__(self, *exc: Any) -> None:
        self.resume()


class AsyncStates:
    """States of an AsyncClient, awaitable."""

    def __init__(self, client: AsyncClient) -> None:
        self.seen: List[State] = []
        self._changed = asyncio.Event()
        client.add_listener(self)

    def __call__(self, state: State) -> None:
        self.seen.append(state)
        self._changed.set()

    async def wait_for(self, state: State, count: int = 1, timeout: float = 30.0) -> None:
        async def reached() -> None:
            while self.seen.count(state) < count:
                self._changed.clear()
                await self._changed.wait()
        try:
            await asyncio.wait_for(reached(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"state {state.value} x{count} not reached in {timeout}s: "
                                 f"{self.seen}") from None


def test_a_sync_client_rides_out_a_pause_past_its_read_timeout(zk_server: ZooKeeperServer,
                                                                base: str) -> None:
    with Client(zk_server.hosts + base, session_timeout=SESSION_TIMEOUT) as zk:
        assert zk.negotiated_session_timeout == SESSION_TIMEOUT
        states = States(zk)
        zk.create("/mine", ephemeral=True)
        session = zk.client_id
        with Stopped(zk_server) as pause:
            owed = [zk.get_async("/n") for _ in range(100)]  # sent, never answered
            with pytest.raises(RequestTimeoutError, match="may still be applied"):
                zk.get("/n", timeout=0.5)
            states.wait_for(State.SUSPENDED, timeout=30)
            # the connection was declared dead: what it owed failed, typed
            assert all(isinstance(f.exception(10), ConnectionLossError) for f in owed)
            queued = zk.set_async("/n", b"while-paused")  # waits for the next connection
            pause.resume()
            states.wait_for(State.CONNECTED, timeout=30)  # (listening since after the first)
        assert queued.result(30) is not None
        assert zk.client_id == session  # the same session
        assert zk.exists("/mine") is not None  # and its ephemeral
        assert zk.get("/n")[0] == b"while-paused"
        assert State.LOST not in states.seen and State.EXPIRED not in states.seen
        assert states.seen == [State.SUSPENDED, State.CONNECTED]
        stats = zk.stats()
        assert stats["connects"] == 2 and stats["reconnects"] == 1 and stats["queued"] == 0


def test_an_async_client_rides_out_a_pause_past_its_read_timeout(zk_server: ZooKeeperServer,
                                                                  base: str) -> None:
    async def main() -> None:
        async with AsyncClient(zk_server.hosts + base, session_timeout=SESSION_TIMEOUT) as zk:
            states = AsyncStates(zk)
            await zk.create("/mine", ephemeral=True)
            session = zk.client_id
            with Stopped(zk_server) as pause:
                owed = [asyncio.ensure_future(zk.get("/n")) for _ in range(100)]
                with pytest.raises(RequestTimeoutError, match="may still be applied"):
                    await zk.get("/n", timeout=0.5)
                await states.wait_for(State.SUSPENDED)
                results = await asyncio.gather(*owed, return_exceptions=True)
                assert all(isinstance(r, ConnectionLossError) for r in results), results[:3]
                queued = asyncio.ensure_future(zk.set("/n", b"while-paused"))
                await asyncio.sleep(0)  # made while disconnected: queued
                pause.resume()
                await states.wait_for(State.CONNECTED)
            assert (await asyncio.wait_for(queued, 30)) is not None
            assert zk.client_id == session
            assert await zk.exists("/mine") is not None
            assert (await zk.get("/n"))[0] == b"while-paused"
            assert states.seen == [State.SUSPENDED, State.CONNECTED]
            assert zk.stats()["reconnects"] == 1
    asyncio.run(main())


def test_a_pause_past_the_session_timeout_is_reported_lost_then_settled(
        zk_server: ZooKeeperServer, base: str) -> None:
    """LOST comes while the server is still stopped (the client cannot know
    whether its session lives); after SIGCONT the server decides."""
    with Client(zk_server.hosts + base, session_timeout=4.0) as zk:
        states = States(zk)
        session = zk.session_id
        lost = threading.Event()
        zk.add_listener(lambda s: lost.set() if s == State.LOST else None)
        with Stopped(zk_server):
            states.wait_for(State.SUSPENDED, timeout=30)
            assert lost.wait(30), f"no LOST while the server was stopped: {states.seen}"
        states.wait_for(State.CONNECTED, timeout=60)
        seen = list(states.seen)
        assert seen[:2] == [State.SUSPENDED, State.LOST], seen
        if State.EXPIRED in seen:  # the server's expiry sweep ran first
            assert seen[2:] == [State.EXPIRED, State.CONNECTING, State.CONNECTED], seen
            assert zk.session_id != session
        else:  # the reconnect touched the session first: it lives on
            assert seen[2:] == [State.CONNECTED], seen
            assert zk.session_id == session
        assert zk.get("/n")[0] == b"v"
