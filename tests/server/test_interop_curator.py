"""zkfast's recipes next to real Curator 5.4 recipes on the same paths (issue 13).

Each pair is tested two ways: step by step (one side holds, the other must not
get in, and gets in only after the release), and under contention (both sides
loop acquire / hold / release, dozens of times each, and no two holds may
overlap; see ``interop_peers``). The Curator side is ``tests/peers/CuratorPeer.java``.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator, List

import pytest

import zkfast
from zkfast import State
from zkfast.recipe import LeaderLatch, Lock, ReadLock, Semaphore, WriteLock
from zkfast.testing import TcpProxy, ZooKeeperServer

from helpers import wait_until
from interop_peers import (
    Hold,
    Peers,
    assert_exclusive,
    check_clock,
    handoffs,
    max_concurrent,
    run_zkfast,
)

ROUNDS = 20      # per contender; two contenders a side: 40 acquisitions each side
HOLD_MS = 20     # each hold
PAUSE_MS = 20    # at most, between one side's holds


@pytest.fixture
def peers(make_client: Any) -> Iterator[Peers]:
    """Peers of this test; stopped before ``make_client`` removes the test's tree."""
    running = Peers()
    yield running
    running.close()


def _children(zk: zkfast.Client, path: str) -> List[str]:
    try:
        return zk.get_children(path)
    except zkfast.NoNodeError:
        return []


def _lock_acquire(lock: Any) -> bool:
    return bool(lock.acquire(timeout=90))


def _lock_held(lock: Any) -> bool:
    return bool(lock.is_acquired and not lock.lost.is_set())


def _role(lock: Any) -> str:
    return "R" if isinstance(lock, ReadLock) else "W"


def _assert_contended(holds: List[Hold], per_side: int) -> None:
    """Both sides did all their rounds, and each handed the lock to the other."""
    sides = {h.side for h in holds}
    for side in sides:
        assert sum(h.side == side for h in holds) == per_side, side
    turns = handoffs(holds)
    assert len(sides) == 2 and all(turns[(a, b)] > 0 for a in sides for b in sides if a != b), turns


# ---------------------------------------------------------------- Lock / InterProcessMutex


def test_lock_and_curator_mutex_exclude_each_other(zk_server: ZooKeeperServer, zk_chroot: str,
                                                   make_client: Any, peers: Peers) -> None:
    zk = make_client()
    curator = peers.curator(zk_server.hosts, zk_chroot + "/m", "mutex")
    check_clock(curator)

    # Curator holds: zkfast stays out, queues, and gets in only after the release.
    assert curator.acquire() is not None
    lock = Lock(zk, "/m", "zkfast")
    assert lock.acquire(blocking=False) is False, "zkfast took a lock Curator holds"
    got: List[int] = []
    waiter = threading.Thread(target=lambda: lock.acquire(timeout=90) and got.append(time.monotonic_ns()))
    waiter.start()
    wait_until(lambda: len(_children(zk, "/m")) == 2, timeout=30)
    released = curator.release()
    waiter.join(90)
    assert got and got[0] > released, "zkfast held before Curator released"

    # zkfast holds: Curator stays out, queues, and gets in only after the release.
    assert curator.acquire(0, 300) is None, "Curator took a lock zkfast holds"
    curator.send("acquire 0 -1")
    wait_until(lambda: len(_children(zk, "/m")) == 2, timeout=30)
    released = time.monotonic_ns()
    lock.release()
    assert int(curator.expect("ACQUIRED")[2]) > released, "Curator held before zkfast released"
    curator.release()


def test_lock_vs_curator_mutex_under_contention(zk_server: ZooKeeperServer, zk_chroot: str,
                                                make_client: Any, peers: Peers) -> None:
    curator = peers.curator(zk_server.hosts, zk_chroot + "/m", "mutex", "mutex")
    check_clock(curator)
    locks = [(f"zkfast-{i}", Lock(make_client(), "/m", f"zkfast-{i}")) for i in range(2)]
    curator.start_loop(ROUNDS, HOLD_MS, PAUSE_MS)
    holds = run_zkfast(locks, ROUNDS, HOLD_MS / 1000, PAUSE_MS / 1000,
                       _lock_acquire, lambda lk: lk.release(),
                       _lock_held)
    holds += curator.wait_loop()
    assert_exclusive(holds)
    _assert_contended(holds, 2 * ROUNDS)


def _is_lock_create_reply(body: bytes) -> bool:
    # reply header (16 bytes), then the created path as a jute string
    if len(body) < 21 or body[20:21] != b"/":
        return False
    return len(body) == 20 + int.from_bytes(body[16:20], "big") and b"-lock-" in body


def test_lock_vs_curator_mutex_with_connection_loss(zk_server: ZooKeeperServer, zk_proxy: TcpProxy,
                                                    zk_chroot: str, make_client: Any,
                                                    peers: Peers) -> None:
    """The zkfast contenders talk through a proxy that loses a lock-create reply
    and resets every zkfast connection four times while they contend; Curator
    is connected directly."""
    curator = peers.curator(zk_server.hosts, zk_chroot + "/m", "mutex", "mutex")
    check_clock(curator)
    suspensions: List[State] = []
    locks = []
    for i in range(2):
        client = make_client(hosts=zk_proxy.hosts)
        client.add_listener(lambda s: s == State.SUSPENDED and suspensions.append(s))
        locks.append((f"zkfast-{i}", Lock(client, "/m", f"zkfast-{i}")))
    resets: List[int] = []

    def reset_while_holding(worker: int, r: int) -> None:
        if worker == 0 and r % 5 == 2:  # rounds 2, 7, 12, 17 of the first contender
            resets.append(zk_proxy.drop_all())

    lost_reply = zk_proxy.drop_reply(_is_lock_create_reply)
    curator.start_loop(ROUNDS, HOLD_MS, PAUSE_MS)
    holds = run_zkfast(locks, ROUNDS, HOLD_MS / 1000, PAUSE_MS / 1000,
                       _lock_acquire, lambda lk: lk.release(),
                       _lock_held, during_hold=reset_while_holding)
    holds += curator.wait_loop()
    assert lost_reply.is_set() and len(resets) == 4 and sum(resets) >= 4
    assert len(suspensions) >= 5  # the faults really cut zkfast's connections
    assert_exclusive(holds)
    _assert_contended(holds, 2 * ROUNDS)


# ------------------------------------------------ ReadLock, WriteLock / InterProcessReadWriteLock


def test_rw_locks_and_curator_rw_lock_exclude_each_other(zk_server: ZooKeeperServer, zk_chroot: str,
                                                         make_client: Any, peers: Peers) -> None:
    zk = make_client()
    curator = peers.curator(zk_server.hosts, zk_chroot + "/rw", "read", "write")
    reader, writer = ReadLock(zk, "/rw", "zr"), WriteLock(zk, "/rw", "zw")

    # A Curator reader holds: zkfast readers share it, zkfast writers stay out.
    assert curator.acquire(0) is not None
    assert reader.acquire(blocking=False), "a zkfast reader could not share a Curator read hold"
    reader.release()
    assert writer.acquire(blocking=False) is False, "zkfast writer inside a Curator read hold"
    curator.release(0)

    # A Curator writer holds: every zkfast side stays out.
    assert curator.acquire(1) is not None
    assert reader.acquire(blocking=False) is False, "zkfast reader inside a Curator write hold"
    assert writer.acquire(blocking=False) is False, "zkfast writer inside a Curator write hold"
    curator.release(1)

    # A zkfast writer holds: every Curator side stays out.
    assert writer.acquire(blocking=False)
    assert curator.acquire(0, 300) is None, "Curator reader inside a zkfast write hold"
    assert curator.acquire(1, 300) is None, "Curator writer inside a zkfast write hold"
    writer.release()

    # A zkfast reader holds: Curator readers share it, Curator writers stay out.
    assert reader.acquire(blocking=False)
    assert curator.acquire(0, 30_000) is not None, "a Curator reader could not share a zkfast read hold"
    assert curator.acquire(1, 300) is None, "Curator writer inside a zkfast read hold"
    curator.release(0)
    reader.release()


def test_rw_locks_vs_curator_rw_lock_under_contention(zk_server: ZooKeeperServer, zk_chroot: str,
                                                      make_client: Any, peers: Peers) -> None:
    curator = peers.curator(zk_server.hosts, zk_chroot + "/rw", "read", "write")
    check_clock(curator)
    locks = [("zkfast-r", ReadLock(make_client(), "/rw", "zkfast-r")),
             ("zkfast-w", WriteLock(make_client(), "/rw", "zkfast-w"))]
    curator.start_loop(ROUNDS, HOLD_MS, PAUSE_MS)
    holds = run_zkfast(locks, ROUNDS, HOLD_MS / 1000, PAUSE_MS / 1000,
                       _lock_acquire, lambda lk: lk.release(),
                       _lock_held, role=_role)
    holds += curator.wait_loop()
    assert_exclusive(holds)  # a writer overlaps nothing; readers may overlap each other
    _assert_contended(holds, 2 * ROUNDS)


# ---------------------------------------------------------------- Semaphore / InterProcessSemaphoreV2


def test_semaphore_vs_curator_semaphore_under_contention(zk_server: ZooKeeperServer, zk_chroot: str,
                                                         make_client: Any, peers: Peers) -> None:
    curator = peers.curator(zk_server.hosts, zk_chroot + "/sem", "semaphore:2", "semaphore:2")
    check_clock(curator)
    sems = [(f"zkfast-{i}", Semaphore(make_client(), "/sem", f"zkfast-{i}", max_leases=2))
            for i in range(2)]
    curator.start_loop(ROUNDS, HOLD_MS, PAUSE_MS)
    holds = run_zkfast(sems, ROUNDS, HOLD_MS / 1000, PAUSE_MS / 1000,
                       _lock_acquire, lambda s: s.release(),
                       _lock_held, role=lambda s: "S")
    holds += curator.wait_loop()
    most, at_once = max_concurrent(holds)
    assert most <= 2, f"{most} lease holders at once: {[h.holder for h in at_once]}"
    assert sum(h.side == "zkfast" for h in holds) == sum(h.side == "curator" for h in holds) == 2 * ROUNDS


def test_semaphore_and_curator_semaphore_count_each_others_leases(
        zk_server: ZooKeeperServer, zk_chroot: str, make_client: Any, peers: Peers) -> None:
    zk = make_client()
    curator = peers.curator(zk_server.hosts, zk_chroot + "/sem",
                            "semaphore:2", "semaphore:2", "semaphore:2")
    sem = Semaphore(zk, "/sem", "zkfast", max_leases=2)

    # Curator holds both leases: no third for zkfast.
    assert curator.acquire(0) is not None and curator.acquire(1) is not None
    assert sem.acquire(blocking=False) is False, "zkfast took a third lease"

    # The semaphore's own lock (<path>/locks) lines contenders up across clients: while
    # a Curator contender waits for a lease holding that lock, zkfast must not even
    # reach the leases (each lease node made or deleted moves the parent's cversion).
    curator.send("acquire 2 -1")
    wait_until(lambda: len(_children(zk, "/sem/leases")) == 3 and len(_children(zk, "/sem/locks")) == 1,
               timeout=30)
    before = zk.exists("/sem/leases").cversion
    assert sem.acquire(blocking=False) is False
    assert zk.exists("/sem/leases").cversion == before, \
        "zkfast made a lease node while a Curator contender held the semaphore's lock"
    released = curator.release(0)
    assert int(curator.expect("ACQUIRED", index=2)[2]) > released

    # zkfast and Curator hold one lease each: no third for Curator.
    curator.release(1)
    assert sem.acquire(timeout=30)
    assert curator.acquire(0, 300) is None, "Curator took a third lease"
    sem.release()
    curator.release(2)


# ---------------------------------------------------------------- LeaderLatch / LeaderLatch


class _LatchSeat:
    """A zkfast contender for leadership: a fresh LeaderLatch per turn, as Curator's peer does."""

    def __init__(self, client: zkfast.Client, path: str, name: str) -> None:
        self.client, self.path, self.name = client, path, name
        self.latch: Any = None
        self.led_at: List[int] = []

    def acquire(self) -> bool:
        self.latch = LeaderLatch(self.client, self.path, self.name,
                                 listener=lambda leading: leading and self.led_at.append(time.monotonic_ns()))
        self.latch.start()
        return bool(self.latch.await_leadership(90))

    def held(self) -> bool:
        return bool(self.latch.has_leadership)

    def release(self) -> None:
        self.latch.close()


def test_leader_latch_and_curator_latch_never_both_lead(zk_server: ZooKeeperServer, zk_chroot: str,
                                                        make_client: Any, peers: Peers) -> None:
    curator = peers.curator(zk_server.hosts, zk_chroot + "/leader", "latch")
    check_clock(curator)
    seat = _LatchSeat(make_client(), "/leader", "zkfast")

    # Curator leads: zkfast joins and does not lead until Curator leaves.
    assert curator.acquire() is not None
    seat.latch = LeaderLatch(seat.client, "/leader", "zkfast",
                             listener=lambda leading: leading and seat.led_at.append(time.monotonic_ns()))
    seat.latch.start()
    assert seat.latch.await_leadership(1.0) is False, "zkfast leads next to a Curator leader"
    left = curator.release()
    assert seat.latch.await_leadership(60)
    assert seat.led_at[0] > left, "zkfast led before Curator left"

    # zkfast leads: Curator joins and does not lead until zkfast leaves.
    assert curator.acquire(0, 500) is None, "Curator leads next to a zkfast leader"
    curator.send("acquire 0 -1")  # the same latch, still in line
    left = time.monotonic_ns()
    seat.release()
    assert int(curator.expect("ACQUIRED")[2]) > left, "Curator led before zkfast left"
    curator.release()


def test_leader_latch_vs_curator_latch_under_contention(zk_server: ZooKeeperServer, zk_chroot: str,
                                                        make_client: Any, peers: Peers) -> None:
    rounds = ROUNDS // 2  # a turn is a whole latch: create, elect, close
    curator = peers.curator(zk_server.hosts, zk_chroot + "/leader", "latch", "latch")
    check_clock(curator)
    seats = [(f"zkfast-{i}", _LatchSeat(make_client(), "/leader", f"zkfast-{i}")) for i in range(2)]
    curator.start_loop(rounds, HOLD_MS, PAUSE_MS)
    holds = run_zkfast(seats, rounds, HOLD_MS / 1000, PAUSE_MS / 1000,
                       lambda s: s.acquire(), lambda s: s.release(),
                       lambda s: s.held())
    holds += curator.wait_loop()
    assert_exclusive(holds)
    _assert_contended(holds, 2 * rounds)
