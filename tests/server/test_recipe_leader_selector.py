"""LeaderSelector: one leader at a time, turns that re-queue, and leaders
interrupted when their connection or session goes (both policies)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, List, Tuple

import pytest

from zkfast import AsyncClient, State
from zkfast.recipe import AsyncLeaderSelector, LeaderSelector
from zkfast.testing import TcpProxy, ZooKeeperServer

from helpers import States, expire, wait_until


def _overlaps(intervals: List[Tuple[str, int, int]]) -> List[Any]:
    ordered = sorted(intervals, key=lambda h: h[1])
    return [(a, b) for a, b in zip(ordered, ordered[1:]) if b[1] < a[2]]


def test_one_leader_at_a_time_with_auto_requeue(make_client: Any) -> None:
    holds: List[Tuple[str, int, int]] = []
    guard = threading.Lock()

    def lead_as(name: str) -> Any:
        def lead(selector: LeaderSelector) -> None:
            assert selector.has_leadership
            start = time.monotonic_ns()
            time.sleep(0.01)
            end = time.monotonic_ns()
            with guard:
                holds.append((name, start, end))
        return lead

    selectors = [LeaderSelector(make_client(), "/leader", lead_as(f"s{i}"), f"s{i}",
                                auto_requeue=True) for i in range(3)]
    for s in selectors:
        s.start()
    wait_until(lambda: all(s.leaderships >= 4 for s in selectors), timeout=60)
    for s in selectors:
        assert s.close()
    assert not _overlaps(holds), _overlaps(holds)
    assert {h[0] for h in holds} == {"s0", "s1", "s2"}
    assert selectors[0].client.get_children("/leader") == []


def test_requeue_by_hand_participants_and_errors(make_client: Any) -> None:
    release = threading.Event()
    turns: List[str] = []

    def lead(selector: LeaderSelector) -> None:
        turns.append("lead")
        release.wait(30)
        if len(turns) == 2:
            raise RuntimeError("a leader that fails still gives leadership up")

    first = LeaderSelector(make_client(), "/leader", lead, "first").start()
    wait_until(lambda: first.has_leadership)
    assert first.requeue() is False  # a turn is running
    waiting = LeaderSelector(make_client(), "/leader", lambda s: None, "second").start()
    wait_until(lambda: first.participants() == ["first", "second"])
    release.set()
    wait_until(lambda: waiting.leaderships == 1 and not first.has_leadership)
    wait_until(lambda: first.requeue())  # the turn is over: queue again by hand
    wait_until(lambda: first.leaderships == 2 and first.participants() == [])  # raised, gave up
    assert waiting.close() and first.close()
    with pytest.raises(RuntimeError):
        first.requeue()


def test_leader_interrupted_when_the_connection_is_lost(zk_proxy: TcpProxy, make_client: Any) -> None:
    outcomes: List[str] = []

    def lead(selector: LeaderSelector) -> None:
        interrupted = selector.interrupted.wait(60)
        outcomes.append("interrupted" if interrupted else "timeout")
        assert not selector.has_leadership

    selector = LeaderSelector(make_client(hosts=zk_proxy.hosts), "/leader", lead, "p",
                              auto_requeue=True).start()
    wait_until(lambda: selector.has_leadership)
    zk_proxy.drop_all()
    wait_until(lambda: outcomes == ["interrupted"])
    wait_until(lambda: selector.leaderships == 2 and selector.has_leadership, timeout=30)  # requeued
    assert selector.close()
    assert outcomes == ["interrupted", "interrupted"]  # close interrupts too


def test_lost_policy_leads_through_a_dropped_connection_not_an_expiry(
        zk_server: ZooKeeperServer, zk_proxy: TcpProxy, make_client: Any) -> None:
    client = make_client(hosts=zk_proxy.hosts)
    ended = threading.Event()

    def lead(selector: LeaderSelector) -> None:
        selector.interrupted.wait(60)
        ended.set()

    states = States(client)
    selector = LeaderSelector(client, "/leader", lead, "p", interrupt_on="lost").start()
    wait_until(lambda: selector.has_leadership)
    zk_proxy.drop_all()
    states.wait_for(State.SUSPENDED)
    states.wait_for(State.CONNECTED, timeout=20)  # (a CONNECTED after the drop)
    client.sync("/leader")
    assert selector.has_leadership and not ended.is_set()  # same session: still leads
    other = make_client()
    follower = LeaderSelector(other, "/leader", lambda s: None, "f").start()
    wait_until(lambda: len(other.get_children("/leader")) == 2)
    expire(zk_server.hosts, client)
    assert ended.wait(30) and not selector.has_leadership
    wait_until(lambda: follower.leaderships == 1, timeout=30)
    assert selector.close() and follower.close()


def test_close_while_queued_leaves_no_node(make_client: Any) -> None:
    holder_in = threading.Event()
    leader = LeaderSelector(make_client(), "/leader",
                            lambda s: (holder_in.set(), s.interrupted.wait(60)), "a").start()
    assert holder_in.wait(10)
    queued = LeaderSelector(make_client(), "/leader", lambda s: None, "b").start()
    wait_until(lambda: len(leader.participants()) == 2)
    assert queued.close() and queued.leaderships == 0
    assert leader.participants() == ["a"]
    assert leader.close()
    with pytest.raises(ValueError):
        LeaderSelector(leader.client, "/leader", lambda s: None, interrupt_on="never")
    with pytest.raises(TypeError):
        LeaderSelector(leader.client, "/leader", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        AsyncLeaderSelector(leader.client, "/leader", lambda s: None)


def test_async_selector_cancels_its_leader(zk_server: ZooKeeperServer, make_client: Any,
                                           zk_chroot: str) -> None:
    make_client()

    async def main() -> None:
        hosts = zk_server.hosts + zk_chroot
        async with AsyncClient(hosts) as a, AsyncClient(hosts) as b:
            cancelled: List[str] = []
            holds: List[Tuple[str, int, int]] = []

            async def lead_forever(selector: AsyncLeaderSelector) -> None:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    cancelled.append("cancelled")
                    raise

            async def lead_briefly(selector: AsyncLeaderSelector) -> None:
                start = time.monotonic_ns()
                await asyncio.sleep(0.01)
                holds.append(("b", start, time.monotonic_ns()))

            sa = await AsyncLeaderSelector(a, "/leader", lead_forever, "a").start()
            for _ in range(500):
                if sa.has_leadership:
                    break
                await asyncio.sleep(0.02)
            sb = await AsyncLeaderSelector(b, "/leader", lead_briefly, "b", auto_requeue=True).start()
            for _ in range(500):
                if len(await sa.participants()) == 2:
                    break
                await asyncio.sleep(0.02)
            assert sb.leaderships == 0
            sa.interrupt_leadership()  # cancels lead_forever; b takes over, again and again
            for _ in range(1000):
                if sb.leaderships >= 3:
                    break
                await asyncio.sleep(0.02)
            assert cancelled == ["cancelled"] and sb.leaderships >= 3 and not sa.has_leadership
            assert await sa.close() and await sb.close()
            assert await a.get_children("/leader") == []
    asyncio.run(asyncio.wait_for(main(), 60))
