"""zkfast's Lock next to go-zookeeper's ``zk.NewLock`` on the same path, and all
three clients (zkfast, go-zookeeper, Curator) on one lock at once.

The go side is ``tests/peers/gopeer/main.go``; checks as in ``test_interop_curator``.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator, List

import pytest

import zkfast
from zkfast.recipe import Lock
from zkfast.testing import ZooKeeperServer

from helpers import wait_until
from interop_peers import Peers, assert_exclusive, check_clock, handoffs, run_zkfast

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


def _held(lock: Lock) -> bool:
    return lock.is_acquired and not lock.lost.is_set()


def test_lock_and_go_lock_exclude_each_other(zk_server: ZooKeeperServer, zk_chroot: str,
                                             make_client: Any, peers: Peers) -> None:
    zk = make_client()
    go = peers.go(zk_server.hosts, zk_chroot + "/m")
    check_clock(go)

    # go holds: zkfast stays out, queues, and gets in only after the release.
    assert go.acquire() is not None
    lock = Lock(zk, "/m", "zkfast")
    assert lock.acquire(blocking=False) is False, "zkfast took a lock go-zookeeper holds"
    got: List[int] = []
    waiter = threading.Thread(target=lambda: lock.acquire(timeout=90) and got.append(time.monotonic_ns()))
    waiter.start()
    wait_until(lambda: len(_children(zk, "/m")) == 2, timeout=30)
    released = go.release()
    waiter.join(90)
    assert got and got[0] > released, "zkfast held before go-zookeeper released"

    # zkfast holds: go queues and gets in only after the release (zk.Lock cannot time out).
    go.send("acquire 0 -1")
    wait_until(lambda: len(_children(zk, "/m")) == 2, timeout=30)
    released = time.monotonic_ns()
    lock.release()
    assert int(go.expect("ACQUIRED", index=0)[2]) > released, "go-zookeeper held before zkfast released"
    go.release()


def test_lock_vs_go_lock_under_contention(zk_server: ZooKeeperServer, zk_chroot: str,
                                          make_client: Any, peers: Peers) -> None:
    go = peers.go(zk_server.hosts, zk_chroot + "/m", instances=2)
    check_clock(go)
    locks = [(f"zkfast-{i}", Lock(make_client(), "/m", f"zkfast-{i}")) for i in range(2)]
    go.start_loop(ROUNDS, HOLD_MS, PAUSE_MS)
    holds = run_zkfast(locks, ROUNDS, HOLD_MS / 1000, PAUSE_MS / 1000,
                       lambda lk: lk.acquire(timeout=90),
                       lambda lk: lk.release(), _held)
    holds += go.wait_loop()
    assert_exclusive(holds)
    assert sum(h.side == "zkfast" for h in holds) == sum(h.side == "go" for h in holds) == 2 * ROUNDS
    turns = handoffs(holds)
    assert turns[("zkfast", "go")] > 0 and turns[("go", "zkfast")] > 0, turns


def test_lock_with_curator_and_go_on_one_lock(zk_server: ZooKeeperServer, zk_chroot: str,
                                              make_client: Any, peers: Peers) -> None:
    """Curator's InterProcessMutex, go's zk.NewLock and zkfast's Lock all name their
    nodes ``_c_<guid>-lock-<seq>``: one line, three clients."""
    curator = peers.curator(zk_server.hosts, zk_chroot + "/m", "mutex", "mutex")
    go = peers.go(zk_server.hosts, zk_chroot + "/m", instances=2)
    check_clock(curator)
    check_clock(go)
    rounds = ROUNDS // 2
    locks = [(f"zkfast-{i}", Lock(make_client(), "/m", f"zkfast-{i}")) for i in range(2)]
    curator.start_loop(rounds, HOLD_MS, PAUSE_MS)
    go.start_loop(rounds, HOLD_MS, PAUSE_MS)
    holds = run_zkfast(locks, rounds, HOLD_MS / 1000, PAUSE_MS / 1000,
                       lambda lk: lk.acquire(timeout=90),
                       lambda lk: lk.release(), _held)
    holds += curator.wait_loop() + go.wait_loop()
    assert_exclusive(holds)
    for side in ("zkfast", "curator", "go"):
        assert sum(h.side == side for h in holds) == 2 * rounds, side
    turns = handoffs(holds)
    assert all(sum(n for (a, _), n in turns.items() if a == side) > 0
               for side in ("zkfast", "curator", "go")), turns


def test_lock_vs_go_lock_with_connection_loss(zk_server: ZooKeeperServer, zk_proxy: Any,
                                              zk_chroot: str, make_client: Any, peers: Peers) -> None:
    """The zkfast contenders talk through a proxy that resets their connections four
    times while one of them holds; go-zookeeper is connected directly."""
    from zkfast import State
    go = peers.go(zk_server.hosts, zk_chroot + "/m", instances=2)
    check_clock(go)
    suspensions: List[State] = []
    locks = []
    for i in range(2):
        client = make_client(hosts=zk_proxy.hosts)
        client.add_listener(lambda s: s == State.SUSPENDED and suspensions.append(s))
        locks.append((f"zkfast-{i}", Lock(client, "/m", f"zkfast-{i}")))
    resets: List[int] = []

    def reset_while_holding(worker: int, r: int) -> None:
        if worker == 0 and r % 5 == 2:
            resets.append(zk_proxy.drop_all())

    go.start_loop(ROUNDS, HOLD_MS, PAUSE_MS)
    holds = run_zkfast(locks, ROUNDS, HOLD_MS / 1000, PAUSE_MS / 1000,
                       lambda lk: lk.acquire(timeout=90), lambda lk: lk.release(), _held,
                       during_hold=reset_while_holding)
    holds += go.wait_loop()
    assert len(resets) == 4 and len(suspensions) >= 4
    assert_exclusive(holds)
    assert sum(h.side == "zkfast" for h in holds) == sum(h.side == "go" for h in holds) == 2 * ROUNDS
    turns = handoffs(holds)
    assert turns[("zkfast", "go")] > 0 and turns[("go", "zkfast")] > 0, turns
