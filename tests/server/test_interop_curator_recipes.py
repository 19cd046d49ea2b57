"""zkfast's issue-18 recipes next to real Curator 5.4 recipes on the same paths:
LeaderSelector, SharedCount, service discovery (curator-x-discovery),
GroupMember and lock revocation -- both directions, under contention, and with
connection loss injected on the zkfast side. Also the connection-loss variants
of the read/write lock, semaphore and LeaderLatch pairs of
``test_interop_curator.py``. The Curator side is ``tests/peers/CuratorPeer.java``.
"""

from __future__ import annotations

import base64
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest

import zkfast
from zkfast import ConnectionLossError, State
from zkfast.recipe import (
    GroupMember,
    LeaderLatch,
    LeaderSelector,
    Lock,
    ReadLock,
    Semaphore,
    SharedCount,
    WriteLock,
    attempt_revoke,
)
from zkfast.recipe.discovery import ServiceDiscovery, ServiceInstance
from zkfast.testing import TcpProxy, ZooKeeperServer

from helpers import expire, wait_until
from interop_peers import (
    Hold,
    Peer,
    Peers,
    assert_exclusive,
    check_clock,
    handoffs,
    max_concurrent,
    run_zkfast,
)

ROUNDS = 20      # per contender; two contenders a side
HOLD_MS = 20
PAUSE_MS = 20


@pytest.fixture
def peers(make_client: Any) -> Iterator[Peers]:
    running = Peers()
    yield running
    running.close()


def _assert_contended(holds: List[Hold], per_side: int) -> None:
    sides = {h.side for h in holds}
    for side in sides:
        assert sum(h.side == side for h in holds) == per_side, side
    turns = handoffs(holds)
    assert len(sides) == 2 and all(turns[(a, b)] > 0 for a in sides for b in sides if a != b), turns


def _faulty_clients(make_client: Any, proxy: TcpProxy, n: int) -> Tuple[List[zkfast.Client], List[State]]:
    """``n`` zkfast clients through ``proxy``, and the SUSPENDED states they report."""
    suspensions: List[State] = []
    clients = []
    for _ in range(n):
        c = make_client(hosts=proxy.hosts)
        c.add_listener(lambda s: s == State.SUSPENDED and suspensions.append(s))
        clients.append(c)
    return clients, suspensions


def _drop_during(proxy: TcpProxy, resets: List[int]) -> Callable[[int, int], None]:
    """A run_zkfast ``during_hold``: cut every zkfast connection in rounds 2, 7, 12, 17
    of the first contender (while it holds)."""
    def drop(worker: int, r: int) -> None:
        if worker == 0 and r % 5 == 2:
            resets.append(proxy.drop_all())
    return drop


# ---------------------------------------------------------------- LeaderSelector


class _SelectorSeat:
    """A zkfast LeaderSelector driven like a lock: acquire = queue (start or
    requeue) and wait until its function runs; release = let the function return."""

    def __init__(self, client: zkfast.Client, path: str, name: str, **kwargs: Any) -> None:
        self.leading = threading.Event()
        self.let_go = threading.Event()
        self.selector = LeaderSelector(client, path, self._lead, name, **kwargs)
        self.started = False

    def _lead(self, selector: LeaderSelector) -> None:
        self.leading.set()
        while not self.let_go.wait(0.005) and not selector.interrupted.is_set():
            pass

    def acquire(self) -> bool:
        self.leading.clear()
        self.let_go.clear()
        if not self.started:
            self.started = True
            self.selector.start()
        else:
            wait_until(self.selector.requeue, timeout=30)  # the last turn may still be ending
        return self.leading.wait(90)

    def held(self) -> bool:
        return self.selector.has_leadership

    def release(self) -> None:
        self.let_go.set()


def test_leader_selector_and_curator_selector_take_turns(zk_server: ZooKeeperServer, zk_chroot: str,
                                                         make_client: Any, peers: Peers) -> None:
    zk = make_client()
    curator = peers.curator(zk_server.hosts, zk_chroot + "/leader", "selector")
    check_clock(curator)

    # Curator leads: zkfast queues and leads only after Curator's turn ended.
    assert curator.acquire() is not None
    seat = _SelectorSeat(zk, "/leader", "zkfast")
    led: List[int] = []
    t = threading.Thread(target=lambda: seat.acquire() and led.append(time.monotonic_ns()))
    t.start()
    wait_until(lambda: len(zk.get_children("/leader")) == 2, timeout=30)
    assert seat.selector.participants() == ["curator-0", "zkfast"]  # Curator's ids, our reader
    assert not seat.leading.is_set()
    released = curator.release()
    t.join(90)
    assert led and led[0] > released, "zkfast led before Curator's turn ended"

    # zkfast leads: Curator queues and leads only after zkfast's turn ended.
    assert curator.acquire(0, 500) is None, "Curator leads next to a zkfast leader"
    curator.send("acquire 0 -1")  # the same (still queued) turn
    released = time.monotonic_ns()
    seat.release()
    assert int(curator.expect("ACQUIRED")[2]) > released, "Curator led before zkfast's turn ended"
    curator.release()
    assert seat.selector.close()


@pytest.mark.parametrize("faults", [False, True], ids=["plain", "connection-loss"])
def test_leader_selector_vs_curator_selector_under_contention(
        faults: bool, zk_server: ZooKeeperServer, zk_proxy: TcpProxy, zk_chroot: str,
        make_client: Any, peers: Peers) -> None:
    """Dozens of turns a side. With faults, the zkfast contenders talk through a proxy
    that cuts their connections four times while one of them leads; they use the
    "lost" policy (Curator's SessionConnectionStateErrorPolicy): leadership continues
    through a dropped connection whose session survives, so exclusion then rests on
    the node alone."""
    curator = peers.curator(zk_server.hosts, zk_chroot + "/leader", "selector", "selector")
    check_clock(curator)
    resets: List[int] = []
    if faults:
        clients, suspensions = _faulty_clients(make_client, zk_proxy, 2)
        kwargs: Dict[str, Any] = {"interrupt_on": "lost"}
    else:
        clients, suspensions = [make_client(), make_client()], []
        kwargs = {}
    seats = [(f"zkfast-{i}", _SelectorSeat(c, "/leader", f"zkfast-{i}", **kwargs))
             for i, c in enumerate(clients)]
    rounds = ROUNDS // 2 if faults else ROUNDS
    curator.start_loop(rounds, HOLD_MS, PAUSE_MS)
    holds = run_zkfast(seats, rounds, HOLD_MS / 1000, PAUSE_MS / 1000,
                       lambda s: s.acquire(), lambda s: s.release(), lambda s: s.held(),
                       during_hold=_drop_during(zk_proxy, resets) if faults else None)
    holds += curator.wait_loop()
    for _, seat in seats:
        assert seat.selector.close()
    if faults:
        assert len(resets) == 2 and sum(resets) >= 2 and len(suspensions) >= 2
    assert_exclusive(holds)
    _assert_contended(holds, 2 * rounds)


# ---------------------------------------------------------------- SharedCount


def test_shared_count_values_hold_both_ways(zk_server: ZooKeeperServer, zk_chroot: str,
                                            make_client: Any, peers: Peers) -> None:
    zk = make_client()
    count = SharedCount(zk, "/count", 0).start()  # zkfast makes the node: Curator reads it
    curator = peers.curator(zk_server.hosts, zk_chroot + "/count", "count:99", "count:99")
    curator.send("get 0")
    assert curator.expect("VALUE", index=0)[2:] == ["0", "0"]
    count.set(41)
    curator.send("await 0 41")
    curator.expect("SEEN", index=0)
    seen: List[int] = []
    count.add_listener(lambda vv: seen.append(vv.value))
    curator.send("set 1 -7")
    curator.expect("SET", index=1)
    wait_until(lambda: count.count == -7 and seen[-1:] == [-7])
    assert zk.get("/count")[0] == b"\xff\xff\xff\xf9"
    count.close()


@pytest.mark.parametrize("faults", [False, True], ids=["plain", "connection-loss"])
def test_shared_count_increments_from_both_sides(faults: bool, zk_server: ZooKeeperServer,
                                                 zk_proxy: TcpProxy, zk_chroot: str,
                                                 make_client: Any, peers: Peers) -> None:
    """Compare-and-set increments race from two Curator and two zkfast instances.
    Without faults nothing is lost or doubled. With zkfast's connections cut now and
    then, a zkfast write whose reply is lost may or may not have applied: the total
    must lie between the confirmed increments and those plus the unknown ones."""
    per_instance = 25
    if faults:
        clients, _ = _faulty_clients(make_client, zk_proxy, 2)
    else:
        clients = [make_client(), make_client()]
    counts = [SharedCount(c, "/count", 0).start() for c in clients]
    curator = peers.curator(zk_server.hosts, zk_chroot + "/count", "count:0", "count:0")
    confirmed: List[int] = []
    unknown: List[int] = []
    errors: List[BaseException] = []

    def bump(count: SharedCount, worker: int) -> None:
        ok = maybe = 0
        try:
            while ok + maybe < per_instance:
                seen = count.versioned_value
                try:
                    if count.try_set(seen.value + 1, seen.version):
                        ok += 1
                except ConnectionLossError:
                    maybe += 1  # may have applied: never retried blindly
                if faults and worker == 0 and (ok + maybe) % 8 == 4:
                    zk_proxy.drop_all()
            confirmed.append(ok)
            unknown.append(maybe)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    for i in range(2):
        curator.send(f"incr {i} {per_instance}")
    threads = [threading.Thread(target=bump, args=(c, i)) for i, c in enumerate(counts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    conflicts = [int(curator.expect("INCREMENTED", index=i)[2]) for i in range(2)]
    assert not errors
    total = int.from_bytes(make_client().get("/count")[0], "big", signed=True)
    java = 2 * per_instance
    assert java + sum(confirmed) <= total <= java + sum(confirmed) + sum(unknown), \
        (total, confirmed, unknown)
    if not faults:
        assert total == 4 * per_instance and sum(unknown) == 0
        assert sum(conflicts) > 0  # the sides really raced
    curator.send(f"await 0 {total}")
    curator.expect("SEEN", index=0)
    wait_until(lambda: all(c.count == total for c in counts), timeout=30)
    for c in counts:
        c.close()


# ---------------------------------------------------------------- service discovery


def _curator_instances(curator: Peer, name: str) -> List[ServiceInstance]:
    curator.send(f"query 0 {name}")
    w = curator.expect("INSTANCES", index=0)
    assert int(w[2]) == len(w) - 3
    return sorted((ServiceInstance.from_json(base64.b64decode(b)) for b in w[3:]), key=lambda i: i.id)


def test_discovery_both_ways(zk_server: ZooKeeperServer, zk_proxy: TcpProxy, zk_chroot: str,
                             make_client: Any, peers: Peers) -> None:
    owner = make_client(hosts=zk_proxy.hosts)  # the zkfast side's registrations ride the proxy
    looker = make_client()
    curator = peers.curator(zk_server.hosts, zk_chroot + "/services", "discovery")

    # Curator registers (a Map payload): zkfast finds it, payload and all.
    curator.send('register 0 web java-1 8081 {"zone":"a","weight":3}')
    curator.expect("REGISTERED", index=0)
    discovery = ServiceDiscovery(looker, "/services")
    (java,) = discovery.query_for_instances("web")
    assert (java.name, java.id, java.address, java.port) == ("web", "java-1", "127.0.0.1", 8081)
    assert java.payload == {"zone": "a", "weight": 3}
    assert java.payload_type == "java.util.LinkedHashMap" and java.enabled

    # zkfast registers: Curator's queryForInstances reads every field back.
    registry = ServiceDiscovery(owner, "/services")
    mine = [ServiceInstance("web", f"py-{i}", "127.0.0.1", 9000 + i, ssl_port=9443,
                            payload={"zone": "b", "tags": ["x", "y"]},
                            uri_spec="{scheme}://{address}:{ssl-port}/api") for i in range(2)]
    for inst in mine:
        registry.register(inst)
    seen = _curator_instances(curator, "web")
    assert [i.id for i in seen] == ["java-1", "py-0", "py-1"]
    # (Java read our object payload as a LinkedHashMap and says so when it writes it)
    assert all(i.payload_type == "java.util.LinkedHashMap" for i in seen[1:])
    assert [i.with_changes(payload_type=None) for i in seen[1:]] == mine
    assert seen[1].build_uri() == "https://127.0.0.1:9443/api"

    # Curator's ServiceProvider (round robin) hands out zkfast's instances too.
    curator.send("provider 0 web round_robin")
    curator.expect("PROVIDER", index=0)
    picked = set()
    for _ in range(9):
        curator.send("pick 0")
        picked.add(curator.expect("PICKED", index=0)[2])
    assert picked == {"java-1", "py-0", "py-1"}

    # Connection loss on the zkfast side: the registrations stay throughout.
    for _ in range(3):
        zk_proxy.drop_all()
        assert [i.id for i in _curator_instances(curator, "web")] == ["java-1", "py-0", "py-1"]
        wait_until(lambda: owner.connected, timeout=20)
    # Session loss: the instances come back by themselves, Curator sees them again.
    sid = owner.session_id
    expire(zk_server.hosts, owner)
    wait_until(lambda: owner.session_id != sid, timeout=30)
    wait_until(lambda: [i.id for i in _curator_instances(curator, "web")] == ["java-1", "py-0", "py-1"],
               timeout=30)
    assert looker.get("/services/web/py-0")[1].ephemeral_owner == owner.session_id

    # zkfast's provider sees Curator's unregister.
    with discovery.service_provider("web") as provider:
        assert provider.wait_initialized(10)
        wait_until(lambda: len(provider.get_all_instances()) == 3)
        curator.send("unregister 0 web java-1")
        curator.expect("UNREGISTERED", index=0)
        wait_until(lambda: sorted(i.id for i in provider.get_all_instances()) == ["py-0", "py-1"])
    registry.close()
    assert _curator_instances(curator, "web") == []


# ---------------------------------------------------------------- GroupMember


def _curator_members(curator: Peer, i: int) -> Dict[str, str]:
    curator.send(f"members {i}")
    w = curator.expect("MEMBERS", index=i)
    return dict(kv.split("=", 1) for kv in w[2].split(",")) if len(w) > 2 else {}


def test_group_member_and_curator_group_member(zk_server: ZooKeeperServer, zk_proxy: TcpProxy,
                                               zk_chroot: str, make_client: Any, peers: Peers) -> None:
    client = make_client(hosts=zk_proxy.hosts)
    curator = peers.curator(zk_server.hosts, zk_chroot + "/group", "member:j1", "member:j2")
    member = GroupMember(client, "/group", "z1", b"z1").start()
    assert member.wait_ready(10)
    everyone = {"j1": "j1", "j2": "j2", "z1": "z1"}
    wait_until(lambda: {k: v.decode() for k, v in member.members().items()} == everyone)
    wait_until(lambda: _curator_members(curator, 0) == everyone == _curator_members(curator, 1))
    member.set_data(b"z1-busy")
    wait_until(lambda: _curator_members(curator, 0).get("z1") == "z1-busy")
    for _ in range(2):
        zk_proxy.drop_all()
        wait_until(lambda: client.connected, timeout=20)
    sid = client.session_id
    expire(zk_server.hosts, client)
    wait_until(lambda: client.session_id != sid, timeout=30)
    wait_until(lambda: _curator_members(curator, 1).get("z1") == "z1-busy", timeout=30)
    curator.close()  # both Curator members leave with their session
    wait_until(lambda: set(member.members()) == {"z1"}, timeout=30)
    member.close()


# ---------------------------------------------------------------- revocation


def test_revocation_both_ways(zk_server: ZooKeeperServer, zk_chroot: str, make_client: Any,
                              peers: Peers) -> None:
    zk = make_client()
    curator = peers.curator(zk_server.hosts, zk_chroot + "/lock", "revocable", "mutex")

    # zkfast revokes a Curator holder: it lets go, zkfast gets the lock.
    assert curator.acquire(0) is not None
    (node,) = zk.get_children("/lock")
    lock = Lock(zk, "/lock", "zkfast", on_revoke=lambda lk: threading.Thread(target=lk.release).start())
    assert lock.acquire(blocking=False) is False
    assert attempt_revoke(zk, f"/lock/{node}") is True
    revoked_at = int(curator.expect("REVOKED", index=0)[2])
    assert lock.acquire(timeout=30)
    assert time.monotonic_ns() > revoked_at

    # Curator revokes the zkfast holder (Revoker.attemptRevoke): zkfast lets go.
    curator.send("acquire 1 -1")
    wait_until(lambda: len(zk.get_children("/lock")) == 2, timeout=30)
    curator.send(f"revoke {zk_chroot}{lock.node}")
    curator.expect("REVOKE_SENT")
    acquired = int(curator.expect("ACQUIRED", index=1)[2])
    assert not lock.is_acquired and acquired > 0
    curator.release(1)


# ------------------------------------- the other pairs, with connection loss on the zkfast side


def _lock_acquire(lock: Any) -> bool:
    return bool(lock.acquire(timeout=90))


def _lock_held(lock: Any) -> bool:
    return bool(lock.is_acquired and not lock.lost.is_set())


def test_rw_locks_vs_curator_with_connection_loss(zk_server: ZooKeeperServer, zk_proxy: TcpProxy,
                                                  zk_chroot: str, make_client: Any,
                                                  peers: Peers) -> None:
    curator = peers.curator(zk_server.hosts, zk_chroot + "/rw", "read", "write")
    check_clock(curator)
    (cr, cw), suspensions = _faulty_clients(make_client, zk_proxy, 2)
    locks = [("zkfast-w", WriteLock(cw, "/rw", "zkfast-w")), ("zkfast-r", ReadLock(cr, "/rw", "zkfast-r"))]
    resets: List[int] = []
    curator.start_loop(ROUNDS, HOLD_MS, PAUSE_MS)
    holds = run_zkfast(locks, ROUNDS, HOLD_MS / 1000, PAUSE_MS / 1000, _lock_acquire,
                       lambda lk: lk.release(), _lock_held,
                       role=lambda lk: "R" if isinstance(lk, ReadLock) else "W",
                       during_hold=_drop_during(zk_proxy, resets))
    holds += curator.wait_loop()
    assert len(resets) == 4 and len(suspensions) >= 4
    assert_exclusive(holds)
    _assert_contended(holds, 2 * ROUNDS)


def test_semaphore_vs_curator_with_connection_loss(zk_server: ZooKeeperServer, zk_proxy: TcpProxy,
                                                   zk_chroot: str, make_client: Any,
                                                   peers: Peers) -> None:
    curator = peers.curator(zk_server.hosts, zk_chroot + "/sem", "semaphore:2", "semaphore:2")
    check_clock(curator)
    clients, suspensions = _faulty_clients(make_client, zk_proxy, 2)
    sems = [(f"zkfast-{i}", Semaphore(c, "/sem", f"zkfast-{i}", max_leases=2)) for i, c in enumerate(clients)]
    resets: List[int] = []
    curator.start_loop(ROUNDS, HOLD_MS, PAUSE_MS)
    holds = run_zkfast(sems, ROUNDS, HOLD_MS / 1000, PAUSE_MS / 1000, _lock_acquire,
                       lambda s: s.release(), _lock_held, role=lambda s: "S",
                       during_hold=_drop_during(zk_proxy, resets))
    holds += curator.wait_loop()
    assert len(resets) == 4 and len(suspensions) >= 4
    most, at_once = max_concurrent(holds)
    assert most <= 2, f"{most} lease holders at once: {[h.holder for h in at_once]}"
    assert sum(h.side == "zkfast" for h in holds) == sum(h.side == "curator" for h in holds) == 2 * ROUNDS


class _LatchSeat:
    """A fresh LeaderLatch per turn, kept through a dropped connection whose session
    survives (relinquish_on_suspend=False: leadership ends only with the session)."""

    def __init__(self, client: zkfast.Client, path: str, name: str) -> None:
        self.client, self.path, self.name = client, path, name
        self.latch: Any = None

    def acquire(self) -> bool:
        self.latch = LeaderLatch(self.client, self.path, self.name, relinquish_on_suspend=False)
        self.latch.start()
        return bool(self.latch.await_leadership(90))

    def held(self) -> bool:
        return bool(self.latch.has_leadership)

    def release(self) -> None:
        self.latch.close()


def test_leader_latch_vs_curator_with_connection_loss(zk_server: ZooKeeperServer, zk_proxy: TcpProxy,
                                                      zk_chroot: str, make_client: Any,
                                                      peers: Peers) -> None:
    rounds = ROUNDS // 2
    curator = peers.curator(zk_server.hosts, zk_chroot + "/leader", "latch", "latch")
    check_clock(curator)
    clients, suspensions = _faulty_clients(make_client, zk_proxy, 2)
    seats = [(f"zkfast-{i}", _LatchSeat(c, "/leader", f"zkfast-{i}")) for i, c in enumerate(clients)]
    resets: List[int] = []
    curator.start_loop(rounds, HOLD_MS, PAUSE_MS)
    holds = run_zkfast(seats, rounds, HOLD_MS / 1000, PAUSE_MS / 1000, lambda s: s.acquire(),
                       lambda s: s.release(), lambda s: s.held(),
                       during_hold=_drop_during(zk_proxy, resets))
    holds += curator.wait_loop()
    assert len(resets) == 2 and len(suspensions) >= 2
    assert_exclusive(holds)
    _assert_contended(holds, 2 * rounds)


# ---------------------------------------------------------------- the checks can fail


def test_the_interop_checks_catch_broken_exclusion(monkeypatch: pytest.MonkeyPatch,
                                                   zk_server: ZooKeeperServer, zk_chroot: str,
                                                   make_client: Any, peers: Peers) -> None:
    """Proof that the interop tests can fail: zkfast is made to ignore Curator's
    contender nodes (dashed-UUID protected names -- the defect issue 13.1b fixed),
    which breaks exclusion between the two clients only. The step-by-step mutex test
    then fails, and the hold-interval checker finds overlaps under contention."""
    import zkfast.recipe.lock as lock_module
    from test_interop_curator import test_lock_and_curator_mutex_exclude_each_other
    from zkfast.recipe._names import protected_guid

    real = lock_module.sorted_contenders

    def blind_to_curator(children: Any) -> List[str]:
        return [c for c in real(children) if "-" not in (protected_guid(c) or "")]

    monkeypatch.setattr(lock_module, "sorted_contenders", blind_to_curator)
    with pytest.raises(AssertionError, match="zkfast took a lock Curator holds"):
        test_lock_and_curator_mutex_exclude_each_other(zk_server, zk_chroot, make_client, peers)

    curator = peers.curator(zk_server.hosts, zk_chroot + "/m2", "mutex")
    check_clock(curator)
    rounds = 10
    curator.start_loop(rounds, HOLD_MS, 0)
    holds = run_zkfast([("zkfast-0", Lock(make_client(), "/m2", "zkfast-0"))], rounds,
                       HOLD_MS / 1000, 0, _lock_acquire, lambda lk: lk.release(), _lock_held)
    holds += curator.wait_loop()
    with pytest.raises(AssertionError, match="overlapping holds"):
        assert_exclusive(holds)
