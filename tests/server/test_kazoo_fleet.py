"""A mixed fleet: real kazoo and zkfast.kazoo processes' recipes on the same paths.

A rolling migration runs both at once, so each recipe must exclude, elect and
count across the two. Both clients run in this process (kazoo comes with the
``test`` extra). Exclusion is checked on hold intervals on the monotonic clock,
as in ``test_interop_curator`` (``interop_peers.assert_exclusive``), in both
directions: each side must wait for the other's holder, and the line must
hand over both ways.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest

from zkfast.kazoo.client import KazooClient
from zkfast.testing import ZooKeeperServer

from helpers import wait_until
from interop_peers import Hold, assert_exclusive, handoffs, max_concurrent, run_zkfast, unavailable

try:
    from kazoo.client import KazooClient as RealKazooClient
except ImportError:  # pragma: no cover - depends on the environment
    RealKazooClient = None

ROUNDS = 12     # per contender
HOLD = 0.02     # seconds each hold lasts
PAUSE = 0.02    # at most, between one contender's holds
SIDES = ("kazoo", "zkfast")

Factory = Callable[[str], Any]


@pytest.fixture
def fleet(zk_server: ZooKeeperServer, zk_chroot: str, make_client: Any) -> Iterator[Factory]:
    """``fleet("kazoo")`` / ``fleet("zkfast")``: a started client of that kind,
    chrooted to this test's path (kazoo's KazooClient or zkfast.kazoo's)."""
    if RealKazooClient is None:
        unavailable("kazoo is not installed (pip install kazoo, or the `test` extra)")
    make_client()  # creates the chroot
    made: List[Any] = []

    def make(side: str) -> Any:
        cls = RealKazooClient if side == "kazoo" else KazooClient
        client = cls(hosts=zk_server.hosts + zk_chroot, timeout=10.0)
        client.start(30)
        made.append(client)
        return client

    yield make
    for client in made:
        client.stop()
        client.close()


def _two_each(fleet: Factory, build: Callable[[Any, str], Any]) -> Dict[str, List[Tuple[str, Any]]]:
    """Two contenders a side, each on its own client (own session)."""
    return {side: [(f"{side}-{i}", build(fleet(side), f"{side}-{i}")) for i in range(2)]
            for side in SIDES}


def _in_threads(target: Callable[..., Any], calls: List[Tuple[Any, ...]], timeout: float = 240,
                while_running: Callable[[], Any] = lambda: None) -> None:
    """``target(*args)`` for each ``args`` of ``calls``, each in its own thread, all at
    once; ``while_running()`` meanwhile. The first error of any thread is raised."""
    errors: List[BaseException] = []

    def run(*args: Any) -> None:
        try:
            target(*args)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=args) for args in calls]
    for t in threads:
        t.start()
    while_running()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), f"{target.__name__}{calls[threads.index(t)]} hangs"
    if errors:
        raise errors[0]


def _contend(contenders: Dict[str, List[Tuple[str, Any]]], acquire: Callable[[Any], Any],
             release: Callable[[Any], Any], role: Callable[[Any], str] = lambda r: "W"
             ) -> List[Hold]:
    """Every side loops acquire / hold / release at once; every hold interval."""
    holds: List[Hold] = []

    def side_run(side: str) -> None:
        holds.extend(run_zkfast(contenders[side], ROUNDS, HOLD, PAUSE, acquire, release,
                                role=role, side=side))

    _in_threads(side_run, [(side,) for side in contenders])
    for side, those in contenders.items():
        assert sum(h.side == side for h in holds) == len(those) * ROUNDS, side
    return holds


def _waits_for(holder: Any, waiter: Any, acquire: Callable[[Any], Any]) -> None:
    """``holder`` holds; ``waiter`` (the other side) stays out, lines up and gets
    in only after the release."""
    assert waiter.acquire(blocking=False) is False, "took a lock the other side holds"
    got: List[int] = []
    t = threading.Thread(target=lambda: acquire(waiter) and got.append(time.monotonic_ns()))
    t.start()
    wait_until(lambda: len(holder.contenders()) == 2 or got, timeout=30)  # lined up
    assert not got, "got in while the other side held"
    released = time.monotonic_ns()
    holder.release()
    t.join(60)
    assert got and got[0] > released, "did not get in after the release"


# ---------------------------------------------------------------- locks


@pytest.mark.parametrize("first", SIDES)
def test_lock_excludes_the_other_side(fleet: Factory, first: str) -> None:
    second = "zkfast" if first == "kazoo" else "kazoo"
    holder = fleet(first).Lock("/lock", first)
    waiter = fleet(second).Lock("/lock", second)
    assert holder.acquire(timeout=30)
    assert waiter.contenders() == [first]
    _waits_for(holder, waiter, lambda lk: lk.acquire(timeout=60))
    assert holder.contenders() == [second]
    waiter.release()


def test_lock_contention_across_sides(fleet: Factory) -> None:
    contenders = _two_each(fleet, lambda c, name: c.Lock("/lock", name))
    holds = _contend(contenders, lambda lk: lk.acquire(timeout=60), lambda lk: lk.release())
    assert_exclusive(holds)
    turns = handoffs(holds)
    assert turns[("kazoo", "zkfast")] > 0 and turns[("zkfast", "kazoo")] > 0, turns


@pytest.mark.parametrize("first", SIDES)
def test_write_lock_and_read_lock_exclude_the_other_side(fleet: Factory, first: str) -> None:
    second = "zkfast" if first == "kazoo" else "kazoo"
    a, b = fleet(first), fleet(second)
    # a writer keeps the other side's reader out
    writer, reader = a.WriteLock("/rw", "w"), b.ReadLock("/rw", "r")
    assert writer.acquire(timeout=30)
    _waits_for(writer, reader, lambda lk: lk.acquire(timeout=60))
    # a reader keeps the other side's writer out, but lets its reader in
    other_writer = a.WriteLock("/rw", "w2")
    other_reader = a.ReadLock("/rw", "r2")
    assert other_reader.acquire(blocking=False), "readers of the two sides must share"
    other_reader.release()
    _waits_for(reader, other_writer, lambda lk: lk.acquire(timeout=60))
    other_writer.release()


def test_read_write_contention_across_sides(fleet: Factory) -> None:
    def build(client: Any, name: str) -> Any:
        return client.ReadLock("/rw", name) if name.endswith("0") else client.WriteLock("/rw", name)
    contenders = _two_each(fleet, build)
    roles = {id(lk): ("R" if name.endswith("0") else "W")
             for side in SIDES for name, lk in contenders[side]}
    holds = _contend(contenders, lambda lk: lk.acquire(timeout=60), lambda lk: lk.release(),
                     role=lambda lk: roles[id(lk)])
    assert_exclusive(holds)  # a writer overlaps nobody; readers may overlap each other
    assert {h.role for h in holds} == {"R", "W"}


def test_kazoo_lock_and_write_lock_share_a_line(fleet: Factory) -> None:
    """kazoo's Lock and WriteLock use the same node name: they exclude each other
    across the two implementations too."""
    lock = fleet("kazoo").Lock("/mixed", "lock")
    writer = fleet("zkfast").WriteLock("/mixed", "writer")
    assert lock.acquire(timeout=30)
    _waits_for(lock, writer, lambda lk: lk.acquire(timeout=60))
    writer.release()


# ---------------------------------------------------------------- semaphore


def test_semaphore_leases_across_sides(fleet: Factory) -> None:
    leases = 2
    contenders = _two_each(fleet, lambda c, name: c.Semaphore("/sem", name, max_leases=leases))
    contenders["zkfast"].append(("zkfast-2", fleet("zkfast").Semaphore("/sem", "zkfast-2",
                                                                       max_leases=leases)))
    holds = _contend(contenders, lambda s: s.acquire(timeout=60), lambda s: s.release(),
                     role=lambda s: "S")
    most, at_once = max_concurrent(holds)
    assert most <= leases, f"{most} holders at once: {[h.holder for h in at_once]}"
    assert most == leases, "the semaphore never had all its leases in use"
    assert {h.side for h in holds} == set(SIDES)


@pytest.mark.parametrize("first", SIDES)
def test_semaphore_max_leases_is_shared(fleet: Factory, first: str) -> None:
    second = "zkfast" if first == "kazoo" else "kazoo"
    held = fleet(first).Semaphore("/sem", "a", max_leases=1)
    assert held.acquire(timeout=30)
    waiter = fleet(second).Semaphore("/sem", "b", max_leases=1)
    assert waiter.acquire(blocking=False) is False
    assert waiter.lease_holders() == ["a"]
    with pytest.raises(ValueError):  # the other side wrote max_leases=1 into the node
        fleet(second).Semaphore("/sem", "c", max_leases=3).acquire(blocking=False)
    held.release()
    assert waiter.acquire(timeout=30)
    waiter.release()


# ---------------------------------------------------------------- election


def test_election_has_one_leader_across_sides(fleet: Factory) -> None:
    terms = 6  # leaderships per contender
    holds: List[Hold] = []
    guard = threading.Lock()

    def contender(side: str, name: str) -> None:
        election = fleet(side).Election("/election", name)
        for _ in range(terms):
            def lead() -> None:
                start = time.monotonic_ns()
                time.sleep(HOLD)
                with guard:
                    holds.append(Hold(side, name, "W", start, time.monotonic_ns()))
            election.run(lead)

    watcher = fleet("kazoo").Election("/election")
    _in_threads(contender, [(side, f"{side}-{i}") for side in SIDES for i in range(2)],
                while_running=lambda: wait_until(
                    lambda: len(watcher.contenders()) >= 2 or len(holds) >= 4 * terms, timeout=30))
    assert len(holds) == 4 * terms
    assert_exclusive(holds)
    turns = handoffs(holds)
    assert turns[("kazoo", "zkfast")] > 0 and turns[("zkfast", "kazoo")] > 0, turns


def test_election_contenders_seen_from_both_sides(fleet: Factory) -> None:
    ours = fleet("zkfast").Election("/election", "zkfast-leader")
    theirs = fleet("kazoo").Election("/election", "kazoo-follower")
    leading = threading.Event()
    done = threading.Event()
    t1 = threading.Thread(target=ours.run, args=(lambda: (leading.set(), done.wait(30)),))
    t1.start()
    assert leading.wait(30)
    t2 = threading.Thread(target=theirs.run, args=(lambda: None,))
    t2.start()
    wait_until(lambda: len(theirs.contenders()) == 2, timeout=30)
    assert theirs.contenders() == ours.contenders() == ["zkfast-leader", "kazoo-follower"]
    done.set()
    t1.join(30)
    t2.join(30)


# ---------------------------------------------------------------- counter


@pytest.mark.parametrize("curator", [False, True], ids=["ascii", "curator"])
def test_counter_counts_every_increment_across_sides(fleet: Factory, curator: bool) -> None:
    per_thread, threads_per_side = 15, 2

    def bump(side: str) -> None:
        counter = fleet(side).Counter("/count", support_curator=curator)
        for _ in range(per_thread):
            counter += 1

    _in_threads(bump, [(side,) for side in SIDES for _ in range(threads_per_side)], timeout=120)
    expected = per_thread * threads_per_side * len(SIDES)
    assert fleet("kazoo").Counter("/count", support_curator=curator).value == expected
    assert fleet("zkfast").Counter("/count", support_curator=curator).value == expected


def test_float_counter_format_is_shared(fleet: Factory) -> None:
    theirs = fleet("kazoo").Counter("/f", default=0.0)
    ours = fleet("zkfast").Counter("/f", default=0.0)
    theirs += 1.5
    ours += 2.25
    assert theirs.value == ours.value == 3.75


# ---------------------------------------------------------------- queues


@pytest.mark.parametrize("producer", SIDES)
def test_queue_order_across_sides(fleet: Factory, producer: str) -> None:
    consumer = "zkfast" if producer == "kazoo" else "kazoo"
    q_in = fleet(producer).Queue("/q")
    q_out = fleet(consumer).Queue("/q")
    q_in.put(b"late", priority=200)
    q_in.put(b"first", priority=1)
    q_in.put(b"second", priority=1)
    q_in.put(b"normal")
    assert len(q_out) == 4
    assert [q_out.get() for _ in range(4)] == [b"first", b"second", b"normal", b"late"]
    assert q_out.get() is None


def test_locking_queue_gives_each_item_once_across_sides(fleet: Factory) -> None:
    items = [f"item-{i}".encode() for i in range(20)]
    fleet("kazoo").LockingQueue("/lq").put_all(items[:10])
    for item in items[10:]:
        fleet("zkfast").LockingQueue("/lq").put(item)
    consumed: Dict[str, List[bytes]] = {side: [] for side in SIDES}

    def consume(side: str) -> None:
        q = fleet(side).LockingQueue("/lq")
        while True:
            item = q.get(1)
            if item is None:
                return
            consumed[side].append(item)
            assert q.consume()

    _in_threads(consume, [(side,) for side in SIDES for _ in range(2)], timeout=120)
    got = consumed["kazoo"] + consumed["zkfast"]
    assert sorted(got) == sorted(items), "an item was lost or consumed twice"
    # Which side wins the race above is up to the scheduler (one may take all 20):
    # that each side takes and consumes what the other put is checked in turn.
    fleet("kazoo").LockingQueue("/lq").put(b"from-kazoo")
    fleet("zkfast").LockingQueue("/lq").put(b"from-zkfast")
    taken = {}
    for side in SIDES:
        q = fleet(side).LockingQueue("/lq")
        taken[side] = q.get(5)
        assert q.consume(), side
    assert sorted(taken.values()) == [b"from-kazoo", b"from-zkfast"], taken


def test_locking_queue_claim_holds_across_sides(fleet: Factory) -> None:
    theirs = fleet("kazoo").LockingQueue("/lq")
    ours = fleet("zkfast").LockingQueue("/lq")
    theirs.put(b"only")
    assert ours.get(5) == b"only"
    assert theirs.get(0.5) is None, "kazoo got an item zkfast.kazoo had claimed"
    assert ours.release()
    assert theirs.get(5) == b"only"
    assert ours.get(0.5) is None, "zkfast.kazoo got an item kazoo had claimed"
    assert theirs.consume()
    assert len(ours) == 0


# ---------------------------------------------------------------- moving on to zkfast's own recipes


@pytest.mark.parametrize("kazoo_side", SIDES)
def test_kazoo_api_lock_with_extra_patterns_excludes_native_lock(fleet: Factory, make_client: Any,
                                                                 kazoo_side: str) -> None:
    """Step 2 of a migration: zkfast.recipe.Lock (Curator's layout) counts every
    sequential child, kazoo's included; kazoo's Lock (either implementation)
    counts zkfast's nodes only with ``extra_lock_patterns=["-lock-"]``. With it,
    the two exclude each other both ways and contend fairly."""
    from zkfast.recipe import Lock as NativeLock

    theirs = fleet(kazoo_side).Lock("/step2", kazoo_side, extra_lock_patterns=["-lock-"])
    ours = NativeLock(make_client(), "/step2", "native")
    assert theirs.acquire(timeout=30)
    _waits_for(theirs, ours, lambda lk: lk.acquire(timeout=60))
    assert theirs.acquire(blocking=False) is False, "kazoo's API took a lock zkfast holds"
    ours.release()
    contenders = {kazoo_side: [(f"{kazoo_side}-{i}", fleet(kazoo_side).Lock(
                      "/step2", f"{kazoo_side}-{i}", extra_lock_patterns=["-lock-"])) for i in range(2)],
                  "native": [(f"native-{i}", NativeLock(make_client(), "/step2", f"native-{i}"))
                             for i in range(2)]}
    holds = _contend(contenders, lambda lk: lk.acquire(timeout=60), lambda lk: lk.release())
    assert_exclusive(holds)
    turns = handoffs(holds)
    assert turns[(kazoo_side, "native")] > 0 and turns[("native", kazoo_side)] > 0, turns
