"""Semaphore, Election and LeaderLatch against a real server, including session loss."""

from __future__ import annotations

import threading
from typing import Any, List

import pytest

from zkfast import CancelledError, NotLockedError, State
from zkfast.recipe import Election, LeaderLatch, Semaphore
from zkfast.testing import TcpProxy, ZooKeeperServer

from helpers import wait_until, expire


# ---------------------------------------------------------------- Semaphore

def test_semaphore_limits_holders(make_client) -> None:
    sems = [Semaphore(make_client(), "/sem", f"s{i}", max_leases=3) for i in range(5)]
    with pytest.raises(NotLockedError):
        sems[0].release()
    assert all(s.acquire(timeout=5) for s in sems[:3])
    assert sems[3].acquire(timeout=0.3) is False
    assert sems[3].acquire(blocking=False) is False
    assert sems[0].lease_holders() == ["s0", "s1", "s2"]
    got: List[bool] = []
    t = threading.Thread(target=lambda: got.append(sems[4].acquire(timeout=20)))
    t.start()
    wait_until(lambda: len(sems[0].client.get_children("/sem/leases")) == 4)
    sems[1].release()
    t.join(20)
    assert got == [True]
    assert sorted(sems[0].lease_holders()) == ["s0", "s2", "s4"]
    for s in (sems[0], sems[2], sems[4]):
        s.release()
    assert sems[0].client.get_children("/sem/leases") == []
    assert sems[0].client.get_children("/sem/locks") == []
    with pytest.raises(ValueError):
        Semaphore(sems[0].client, "/sem", max_leases=2).acquire()


def test_semaphore_concurrent_holders_never_exceed_max(make_client) -> None:
    max_leases = 2
    active: List[int] = []
    peak: List[int] = []
    guard = threading.Lock()
    errors: List[BaseException] = []

    def worker(i: int) -> None:
        try:
            sem = Semaphore(make_client(), "/sem", f"w{i}", max_leases=max_leases)
            for _ in range(3):
                with sem:
                    with guard:
                        active.append(i)
                        peak.append(len(active))
                    with guard:
                        active.remove(i)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(peak) == 18 and max(peak) <= max_leases


def test_semaphore_holder_expiry_frees_lease(zk_server: ZooKeeperServer, make_client) -> None:
    a = make_client()
    sem_a = Semaphore(a, "/sem", "a", max_leases=1)
    sem_a.acquire()
    sem_b = Semaphore(make_client(), "/sem", "b", max_leases=1)
    got: List[bool] = []
    t = threading.Thread(target=lambda: got.append(sem_b.acquire(timeout=30)))
    t.start()
    wait_until(lambda: len(a.get_children("/sem/leases")) == 2)
    expire(zk_server.hosts, a)
    t.join(30)
    assert got == [True]
    wait_until(lambda: sem_a.lost.is_set())
    assert not sem_a.is_acquired
    sem_b.release()


# ---------------------------------------------------------------- Election

def test_election_runs_leaders_one_at_a_time(make_client) -> None:
    order: List[str] = []
    running = threading.Lock()
    overlaps: List[str] = []
    elections = [Election(make_client(), "/elect", f"e{i}") for i in range(4)]

    def lead(name: str) -> None:
        if not running.acquire(blocking=False):
            overlaps.append(name)
            return
        order.append(name)
        running.release()

    threads = [threading.Thread(target=e.run, args=(lead, f"e{i}")) for i, e in enumerate(elections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(order) == ["e0", "e1", "e2", "e3"] and not overlaps
    assert elections[0].contenders() == []


def test_election_cancel_and_contenders(make_client) -> None:
    leader = Election(make_client(), "/elect", "leader")
    inside = threading.Event()
    stop = threading.Event()
    t1 = threading.Thread(target=leader.run, args=(lambda: (inside.set(), stop.wait(30)),))
    t1.start()
    assert inside.wait(10) and leader.is_leader
    other = Election(make_client(), "/elect", "other")
    out: List[Any] = []

    def run_other() -> None:
        try:
            other.run(lambda: out.append("ran"))
        except CancelledError as e:
            out.append(e)

    t2 = threading.Thread(target=run_other)
    t2.start()
    wait_until(lambda: leader.contenders() == ["leader", "other"])
    other.cancel()
    t2.join(10)
    assert isinstance(out[0], CancelledError)
    assert leader.contenders() == ["leader"]
    stop.set()
    t1.join(10)


def test_election_leader_session_expiry(zk_server: ZooKeeperServer, make_client) -> None:
    a = make_client()
    states: List[State] = []
    first = Election(a, "/elect", "a", listener=states.append)
    leading = threading.Event()
    t1 = threading.Thread(target=first.run,
                          args=(lambda: (leading.set(), first.lost.wait(30)),))
    t1.start()
    assert leading.wait(10)
    second = Election(make_client(), "/elect", "b")
    second_ran = threading.Event()
    t2 = threading.Thread(target=second.run, args=(second_ran.set,))
    t2.start()
    wait_until(lambda: len(first.contenders()) == 2)
    expire(zk_server.hosts, a)
    assert second_ran.wait(20)  # the next contender took over
    t1.join(20)                 # ...and the old leader was told (its func returned)
    assert first.lost.is_set() and not first.is_leader and State.EXPIRED in states
    t2.join(10)


# ---------------------------------------------------------------- LeaderLatch

def test_leader_latch_hands_over_in_order(make_client) -> None:
    events: List[tuple] = []
    latches = [LeaderLatch(make_client(), "/latch", f"l{i}",
                           listener=lambda v, i=i: events.append((i, v))) for i in range(3)]
    latches[0].start()
    assert latches[0].await_leadership(10)
    for k, lt in enumerate(latches[1:], start=2):
        lt.start()  # returns at once; queue them in a known order
        wait_until(lambda k=k: len(latches[0].participants()) == k)
    assert latches[0].participants() == ["l0", "l1", "l2"]
    assert not latches[1].has_leadership and not latches[2].has_leadership
    assert latches[1].await_leadership(0.1) is False
    latches[0].close()
    assert latches[1].await_leadership(10) and not latches[2].has_leadership
    latches[1].close()
    assert latches[2].await_leadership(10)
    latches[2].close()
    assert events == [(0, True), (0, False), (1, True), (1, False), (2, True), (2, False)]
    assert latches[0].client.get_children("/latch") == []


def test_leader_latch_relinquishes_on_suspend_and_regains(zk_proxy: TcpProxy, make_client) -> None:
    seen: List[bool] = []
    latch = LeaderLatch(make_client(hosts=zk_proxy.hosts), "/latch", "p", listener=seen.append)
    latch.start()
    assert latch.await_leadership(10)
    zk_proxy.drop_all()
    # suspended: gives leadership up at once; same session back: leads again
    wait_until(lambda: seen == [True, False, True])
    assert latch.has_leadership
    latch.close()


def test_leader_latch_session_expiry(zk_server: ZooKeeperServer, make_client) -> None:
    a = make_client()
    seen_a: List[bool] = []
    latch_a = LeaderLatch(a, "/latch", "a", listener=seen_a.append).start()
    assert latch_a.await_leadership(10)
    latch_b = LeaderLatch(make_client(), "/latch", "b").start()
    wait_until(lambda: len(latch_b.participants()) == 2)
    expire(zk_server.hosts, a)
    assert latch_b.await_leadership(20)
    # (a may briefly lead again if it reconnects to the still-open session before
    # the close commits: expire_session first moves the session to its own socket)
    wait_until(lambda: seen_a[-1] is False and not latch_a.has_leadership)
    assert seen_a[:2] == [True, False]
    # a re-joined in its new session, behind b
    wait_until(lambda: latch_b.participants() == ["b", "a"])
    latch_b.close()
    assert latch_a.await_leadership(10)
    latch_a.close()
