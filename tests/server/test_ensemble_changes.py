"""Clients that follow a real ensemble as it is reconfigured (``track_ensemble``,
``update_server_list``, ``get_config``), on both clients.

One ensemble (``reconfigEnabled=true``) grows from 3 members to 5 (one joins as
a participant, one as an observer) and shrinks back, while 20 tracking clients
(10 ``Client``, 10 ``AsyncClient``) and two writers keep working:

- after the growth, the two added servers carry their share of the clients
  (the reference client's rule: each client of a kept server moves with
  probability 1 - 3/5), and every client that did not move kept its connection;
- after the shrink, every client is on one of the three members left, and
  every client's server list is exactly those three;
- a chrooted client reads the configuration (and is told when it changes);
- no acknowledged write is lost.

The distribution is asserted within generous bounds, never a timing: where each
client is connected (``client.server``) once every client has settled.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from concurrent.futures import Future
from contextlib import ExitStack
from typing import Any, Coroutine, Iterator, List, NamedTuple, Optional, TypeVar

import pytest

from zkfast import AsyncClient, Client, ConnectionLossError, State, ZooKeeperError
from zkfast.ensemble import EnsembleConfig
from zkfast.events import EventType, WatchedEvent
from zkfast.hosts import Address, DNSHostProvider, PreferredHostProvider
from zkfast.testing import Ensemble, expire_session

from helpers import wait_until

T = TypeVar("T")

SETTLE = 90.0  # generous: five JVMs and twenty clients on two shared cores


class Recording:
    """Records each change of server list a provider takes: the list before
    and after, where the client was, and where it was told to move (None:
    stay). Mixed into the providers the clients use."""

    updates: List[Update]

    def update_server_list(self, servers: List[Address], current: Optional[Address]) -> Optional[Address]:
        before = sorted(self.addresses)  # type: ignore[attr-defined]
        target: Optional[Address] = super().update_server_list(servers, current)  # type: ignore[misc]
        with _record_lock:
            self.updates.append(Update(before, sorted(servers), current, target))
        return target

    def last_update(self) -> Optional[Update]:
        with _record_lock:
            return self.updates[-1] if self.updates else None


_record_lock = threading.Lock()


# A server that just joined refuses clients for a moment (an observer restarts
# in its new role when the reconfig commits); on two loaded cores that moment
# can last seconds. A client that gave up on it meanwhile would stay where it
# fell back (as it should), leaving the test nothing to check: the providers
# here insist on a move's target for longer than the default
# (zkfast.hosts.MOVE_RETRY_SECONDS), well under the session timeout.
MOVE_RETRY = 5.0


class RecordingProvider(Recording, DNSHostProvider):
    """The default provider, recording."""

    def __init__(self) -> None:
        super().__init__(move_retry=MOVE_RETRY)
        self.updates = []


class RecordingPreferred(Recording, PreferredHostProvider):
    """PreferredHostProvider, recording."""

    def __init__(self, preferred: List[str]) -> None:
        super().__init__(preferred, move_retry=MOVE_RETRY)
        self.updates = []


class Update(NamedTuple):
    before: List[Address]
    after: List[Address]
    current: Optional[Address]
    target: Optional[Address]

    def destinations(self) -> List[Address]:
        """Where the client may end up: where it was told to stay; if told to
        move, any server of the target's kind (added or kept), as the provider
        tries those first should the target refuse it for a moment; if it was
        disconnected, anywhere."""
        if self.current is None:
            return self.after
        if self.target is None:
            return [self.current]
        was_old = self.target in self.before
        return [a for a in self.after if (a in self.before) == was_old]


class LoopThread:
    """An asyncio loop on a thread of its own, for AsyncClients next to Clients."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class Tracked:
    """One tracking client (either kind) and its recording provider."""

    def __init__(self, client: Any, provider: Any) -> None:
        self.client = client
        self.provider = provider

    @property
    def server(self) -> Optional[Address]:
        return self.client.server  # type: ignore[no-any-return]

    @property
    def connected(self) -> bool:
        return bool(self.client.state == State.CONNECTED)

    def servers(self) -> List[Address]:
        return sorted(self.provider.addresses)

    def settled(self, members: List[Address]) -> bool:
        """It took the server list ``members`` and is connected where that
        told it to be."""
        update = self.provider.last_update()
        if update is None or update.after != members or not self.connected:
            return False
        return self.server in update.destinations()


def _addresses(ens: Ensemble, indices: List[int]) -> List[Address]:
    return sorted(("127.0.0.1", ens[i].port) for i in indices)


class Writers:
    """A sync and an async writer creating sequential nodes until stopped;
    what the server acknowledged is recorded (a ConnectionLossError leaves a
    write unknown: it is neither counted nor retried)."""

    def __init__(self, sync_client: Client, async_client: AsyncClient, loop: LoopThread) -> None:
        self.acked: List[str] = []
        self.unknown = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._sync_writer, args=(sync_client,), daemon=True)
        self._thread.start()
        self._async = loop.submit(self._async_writer(async_client))

    def _record(self, path: Optional[str], error: Optional[BaseException]) -> None:
        with self._lock:
            if path is not None:
                self.acked.append(path)
            elif isinstance(error, ConnectionLossError):
                self.unknown += 1

    def _sync_writer(self, zk: Client) -> None:
        while not self._stop.is_set():
            try:
                self._record(zk.create("/w/s-", b"x", sequence=True, timeout=30), None)
            except ZooKeeperError as e:
                self._record(None, e)
                zk.wait_connected(30)

    async def _async_writer(self, zk: AsyncClient) -> None:
        while not self._stop.is_set():
            try:
                self._record(await zk.create("/w/a-", b"x", sequence=True, timeout=30), None)
            except ZooKeeperError as e:
                self._record(None, e)
                await zk.wait_connected(30)

    def count(self) -> int:
        with self._lock:
            return len(self.acked)

    def stop(self) -> List[str]:
        self._stop.set()
        self._thread.join(60)
        self._async.result(60)
        with self._lock:
            return list(self.acked)


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


def _config_members(cfg: EnsembleConfig) -> dict[int, str]:
    return {m.id: m.line().split("=", 1)[1] for m in cfg.members}


def _wait_all(tracked: List[Tracked], members: List[Address], what: str) -> None:
    def done() -> bool:
        return all(t.settled(members) for t in tracked)
    try:
        wait_until(done, timeout=SETTLE, interval=0.05)
    except AssertionError:
        details = [(t.client.config.name, t.client.state, t.server, t.provider.last_update())
                   for t in tracked if not t.settled(members)]
        raise AssertionError(f"{what}: clients not settled on {members}: {details}") from None


@pytest.mark.slow  # five JVMs, twenty clients: ~1 minute on a quiet 2-core machine
def test_tracking_clients_follow_the_ensemble_as_it_grows_and_shrinks(loop: LoopThread) -> None:
    with Ensemble(3, reconfig=True) as ens, ExitStack() as cleanup:
        # (closed whatever happens: clients left running would retry a gone ensemble)
        admin = cleanup.enter_context(Client(ens.hosts))
        admin.ensure_path("/w")
        admin.ensure_path("/app")
        first = _addresses(ens, [0, 1, 2])

        tracked: List[Tracked] = []
        for i in range(10):
            provider = RecordingProvider()
            # one of them chrooted: the config is read outside any chroot
            chroot = "/app" if i == 5 else ""
            c = Client(ens.hosts + chroot, track_ensemble=True, host_provider=provider, name=f"sync{i}")
            cleanup.callback(c.close)
            c.start()
            tracked.append(Tracked(c, provider))

        async def start_async(i: int) -> Tracked:
            provider = RecordingProvider()
            c = AsyncClient(ens.hosts, track_ensemble=True, host_provider=provider, name=f"async{i}")
            cleanup.callback(lambda: loop.run(c.close()))
            await c.start()
            return Tracked(c, provider)

        for i in range(10):
            tracked.append(loop.run(start_async(i)))
        assert all(t.connected and t.server in first for t in tracked)
        assert all(t.provider.updates == [] for t in tracked)  # the config matched the connect string

        # a chrooted client, sync and async: the config is outside any chroot
        chrooted = Client(ens.hosts + "/app")
        cleanup.callback(chrooted.close)
        chrooted.start()
        changes: List[WatchedEvent] = []
        changed = threading.Event()

        def on_change(event: WatchedEvent) -> None:
            changes.append(event)
            changed.set()

        members0, version0 = ens.current_config()
        chrooted.sync("/")
        cfg0 = chrooted.get_config(watch=on_change)
        assert (_config_members(cfg0), cfg0.version) == (members0, version0)
        assert [m.role for m in cfg0.members] == ["participant"] * 3
        assert sorted(cfg0.client_addresses()) == first

        async def async_config() -> EnsembleConfig:
            async with AsyncClient(ens.hosts + "/app") as az:
                await az.sync("/")
                return await az.get_config()  # type: ignore[no-any-return]

        assert loop.run(async_config()) == cfg0

        # writers on tracking clients, through every change
        writers = Writers(tracked[0].client, tracked[10].client, loop)
        cleanup.callback(writers.stop)
        wait_until(lambda: writers.count() >= 20, timeout=30)

        # ---- grow: 3 -> 5, one participant and one observer
        joiner = ens.add_server(start=False)
        observer = ens.add_server(observer=True, start=False)
        for i in (joiner, observer):
            ens[i].start(wait=False)
        for i in (joiner, observer):
            ens[i].wait_serving(60)
        # a client that prefers the observer (serving reads near it, say): not
        # a member yet, so it connects elsewhere, and moves there once it is
        observer_address = ("127.0.0.1", ens[observer].port)
        prefers = RecordingPreferred([f"127.0.0.1:{ens[observer].port}"])
        near = Client(",".join(f"{h}:{p}" for h, p in first), track_ensemble=True,
                      host_provider=prefers, name="near-observer")
        cleanup.callback(near.close)
        near.start()
        near_tracked = Tracked(near, prefers)
        assert near.server in first
        connects_before = [t.client.stats()["connects"] for t in tracked]
        admin.reconfig(joining=f"{ens.config_line(joiner)},{ens.config_line(observer)}")
        grown = _addresses(ens, [0, 1, 2, joiner, observer])
        added = set(grown) - set(first)

        assert changed.wait(30), "the chrooted client's config watch did not fire"
        assert changes[0].type == EventType.NODE_DATA_CHANGED and changes[0].path == "/zookeeper/config"
        chrooted.sync("/")
        cfg1 = chrooted.get_config()
        # the member asked may not have applied the committed change yet: wait for it
        members1, version1 = wait_until(
            lambda: (c := ens.current_config())[1] == cfg1.version and c, timeout=30)
        assert (_config_members(cfg1), cfg1.version) == (members1, version1)
        assert cfg1.version > cfg0.version
        assert [m.role for m in cfg1.members] == ["participant"] * 4 + ["observer"]
        assert sorted(cfg1.client_addresses()) == grown

        _wait_all(tracked, grown, "after growing to 5")
        _wait_all([near_tracked], grown, "the client preferring the observer")
        assert near.server == observer_address
        assert all(t.servers() == grown for t in tracked)
        load = Counter(t.server for t in tracked)
        on_added = sum(load[a] for a in added)
        movers = [t for t in tracked if t.provider.last_update().target is not None]  # type: ignore[union-attr]
        # Each client of a kept server moves with probability 1 - 3/5 = 0.4, to
        # an added server: on_added ~ Binomial(20, 0.4), mean 8. Without
        # rebalancing it is 0; if everyone moved, 20. P(outside [2, 16]) < 0.001.
        assert 2 <= on_added <= 16, load
        assert len(movers) == on_added and all(t.server in added for t in movers)
        # the clients told to stay kept their connection
        for t, before in zip(tracked, connects_before):
            if t not in movers:
                assert t.client.stats()["connects"] == before, t.client.config.name
        # both kinds of client rebalance
        assert {t.client.is_async for t in tracked if t.provider.updates} == {False, True}

        # ---- tracking survives expiry: two clients (one of each kind) lose
        # their sessions; their new sessions follow the shrink below all the same
        expired = [tracked[1], tracked[11]]
        old_sessions = [t.client.session_id for t in expired]
        for t in expired:
            expire_session(ens.hosts, *t.client.client_id)
        wait_until(lambda: all(t.connected and t.client.session_id != old
                               for t, old in zip(expired, old_sessions)), timeout=SETTLE)

        # ---- shrink: 5 -> 3 (the two new members leave)
        writes_before_shrink = writers.count()
        admin.reconfig(leaving=f"{ens.myid(joiner)},{ens.myid(observer)}")
        _wait_all(tracked, first, "after shrinking to 3")
        _wait_all([near_tracked], first, "the client preferring the observer, after it left")
        assert near.server in first
        assert all(t.servers() == first for t in tracked)
        assert all(t.server in first for t in tracked)
        assert all(t.client.session_id != old for t, old in zip(expired, old_sessions))
        ens.remove_server(observer)
        ens.remove_server(joiner)
        wait_until(lambda: writers.count() >= writes_before_shrink + 20, timeout=60)

        # nothing acknowledged was lost
        acked = writers.stop()
        admin.sync("/w")
        present = {"/w/" + name for name in admin.get_children("/w")}
        missing = sorted(set(acked) - present)
        assert not missing, f"{len(missing)} acknowledged writes lost: {missing[:5]}"
        assert len(acked) == len(set(acked))
        assert len(present) >= len(acked)  # unknown outcomes may have been applied too


def test_update_server_list_keeps_the_session(zk_ensemble: Ensemble, loop: LoopThread) -> None:
    """``update_server_list`` with a list that drops the current server moves the
    client without ending its session (an ephemeral node stays), on both clients."""
    ens = zk_ensemble
    servers = _addresses(ens, [0, 1, 2])
    with Client(ens.hosts) as zk:
        zk.create("/eph-sync", ephemeral=True)
        session = zk.client_id
        here = zk.server
        assert here is not None
        others = [a for a in servers if a != here]
        target = zk.update_server_list([f"{h}:{p}" for h, p in others])
        assert target in others
        # (there if it answers in time; else on the other server of the new list)
        wait_until(lambda: zk.state == State.CONNECTED and zk.server in others, timeout=30)
        assert zk.client_id == session and zk.exists("/eph-sync") is not None
        assert sorted(zk.config.host_provider.addresses) == others  # type: ignore[attr-defined]
        # the same list again: nothing to do
        assert zk.update_server_list(",".join(f"{h}:{p}" for h, p in others)) is None
        with pytest.raises(ValueError):
            zk.update_server_list("")

    async def main() -> None:
        async with AsyncClient(ens.hosts) as az:
            await az.create("/eph-async", ephemeral=True)
            session = az.client_id
            here = az.server
            others = [a for a in servers if a != here]
            target = az.update_server_list(f"{others[0][0]}:{others[0][1]}")
            assert target == others[0]
            for _ in range(600):
                if az.state == State.CONNECTED and az.server == target:
                    break
                await asyncio.sleep(0.05)
            assert az.server == target and az.client_id == session
            assert await az.exists("/eph-async") is not None

    loop.run(main())

