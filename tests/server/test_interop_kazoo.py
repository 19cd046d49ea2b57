"""zkfast's Lock next to kazoo's ``Lock`` on the same path.

kazoo names its lock nodes ``<uuid hex>__lock__<seq>`` and by default counts only
those; its ``extra_lock_patterns`` option (kazoo >= 2.8) adds other clients' names,
here ``-lock-`` for ours. zkfast counts every sequential child, kazoo's included.
kazoo runs in this process (the ``bench`` extra installs it); checks as in
``test_interop_curator``.
"""

from __future__ import annotations

import threading
import time
from typing import Any, List

import zkfast
from zkfast.recipe import Lock
from zkfast.testing import ZooKeeperServer

from helpers import wait_until
from interop_peers import assert_exclusive, handoffs, run_zkfast, unavailable

try:
    from kazoo.client import KazooClient
    from kazoo.recipe.lock import Lock as KazooLock
except ImportError:  # pragma: no cover - depends on the environment
    KazooClient = None

ROUNDS = 20      # per contender; two contenders a side: 40 acquisitions each side
HOLD_MS = 20     # each hold
PAUSE_MS = 20    # at most, between one side's holds
KAZOO_PATTERNS = ["-lock-"]  # zkfast's (and Curator's, go's) lock node names


def _kazoo(hosts: str, made: List[Any]) -> Any:
    if KazooClient is None:
        unavailable("kazoo is not installed (pip install kazoo, or the `bench` extra)")
    client = KazooClient(hosts=hosts, timeout=10.0)
    client.start(30)
    made.append(client)
    return client


def _children(zk: zkfast.Client, path: str) -> List[str]:
    try:
        return zk.get_children(path)
    except zkfast.NoNodeError:
        return []


def test_lock_and_kazoo_lock_exclude_each_other(zk_server: ZooKeeperServer, zk_chroot: str,
                                                make_client: Any) -> None:
    zk = make_client()
    made: List[Any] = []
    try:
        theirs = KazooLock(_kazoo(zk_server.hosts + zk_chroot, made), "/m", "kazoo",
                           extra_lock_patterns=KAZOO_PATTERNS)
        ours = Lock(zk, "/m", "zkfast")

        # kazoo holds: zkfast stays out, queues, and gets in only after the release.
        assert theirs.acquire(timeout=30)
        assert ours.acquire(blocking=False) is False, "zkfast took a lock kazoo holds"
        got: List[int] = []
        waiter = threading.Thread(target=lambda: ours.acquire(timeout=90) and got.append(time.monotonic_ns()))
        waiter.start()
        wait_until(lambda: len(_children(zk, "/m")) == 2, timeout=30)
        released = time.monotonic_ns()
        theirs.release()
        waiter.join(90)
        assert got and got[0] > released, "zkfast held before kazoo released"

        # zkfast holds: kazoo stays out.
        assert theirs.acquire(blocking=False) is False, "kazoo took a lock zkfast holds"
        ours.release()
        assert theirs.acquire(timeout=30)
        theirs.release()
    finally:
        for client in made:
            client.stop()
            client.close()


def test_lock_vs_kazoo_lock_under_contention(zk_server: ZooKeeperServer, zk_chroot: str,
                                             make_client: Any) -> None:
    made: List[Any] = []
    try:
        theirs = [(f"kazoo-{i}", KazooLock(_kazoo(zk_server.hosts + zk_chroot, made), "/m",
                                           f"kazoo-{i}", extra_lock_patterns=KAZOO_PATTERNS))
                  for i in range(2)]
        ours = [(f"zkfast-{i}", Lock(make_client(), "/m", f"zkfast-{i}")) for i in range(2)]
        kazoo_holds: List[Any] = []
        kazoo_side = threading.Thread(target=lambda: kazoo_holds.extend(run_zkfast(
            theirs, ROUNDS, HOLD_MS / 1000, PAUSE_MS / 1000, lambda lk: lk.acquire(timeout=90),
            lambda lk: lk.release(), lambda lk: lk.is_acquired, side="kazoo")))
        kazoo_side.start()
        holds = run_zkfast(ours, ROUNDS, HOLD_MS / 1000, PAUSE_MS / 1000,
                           lambda lk: lk.acquire(timeout=90), lambda lk: lk.release(),
                           lambda lk: lk.is_acquired and not lk.lost.is_set())
        kazoo_side.join(180)
        holds += kazoo_holds
        assert_exclusive(holds)
        assert sum(h.side == "zkfast" for h in holds) == sum(h.side == "kazoo" for h in holds) == 2 * ROUNDS
        turns = handoffs(holds)
        assert turns[("zkfast", "kazoo")] > 0 and turns[("kazoo", "zkfast")] > 0, turns
    finally:
        for client in made:
            client.stop()
            client.close()
