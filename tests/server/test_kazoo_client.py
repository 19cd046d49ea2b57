"""zkfast.kazoo's KazooClient against a real server: what kazoo code relies on
and kazoo's own suite does not pin down -- kazoo's watch semantics on a
disconnect, its argument forms (positional create, host lists, relative
paths), its results (ZnodeStat, version tuples, IAsyncResult), its states,
set_hosts, and that every call goes to the zkfast client underneath.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Iterator, List

import pytest

import zkfast
from zkfast.events import WatcherType
from zkfast.kazoo import exceptions as ke
from zkfast.kazoo.client import KazooClient
from zkfast.kazoo.handlers.threading import KazooTimeoutError, SequentialThreadingHandler
from zkfast.kazoo.protocol.states import EventType, KazooState, KeeperState, WatchedEvent, ZnodeStat
from zkfast.kazoo.recipe.cache import TreeCache, TreeEvent
from zkfast.kazoo.security import OPEN_ACL_UNSAFE, make_digest_acl
from zkfast.testing import TcpProxy, ZooKeeperServer

from helpers import EventLog, expire, wait_until


@pytest.fixture
def kazoo(zk_server: ZooKeeperServer, zk_chroot: str, make_client: Any) -> Iterator[Any]:
    """``kazoo(hosts=None, **kw)``: a started zkfast.kazoo client chrooted to this test."""
    make_client()  # creates the chroot
    made: List[KazooClient] = []

    def make(hosts: Any = None, start: bool = True, **kw: Any) -> KazooClient:
        client = KazooClient(hosts or zk_server.hosts + zk_chroot, **kw)
        made.append(client)
        if start:
            client.start(30)
        return client

    yield make
    for client in made:
        client.stop()
        client.close()


class States:
    """A kazoo state listener that records what it hears."""

    def __init__(self, client: KazooClient) -> None:
        self.seen: List[str] = []
        self.cond = threading.Condition()
        client.add_listener(self)

    def __call__(self, state: str) -> None:
        with self.cond:
            self.seen.append(state)
            self.cond.notify_all()

    def wait_for(self, state: str, timeout: float = 30) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: state in self.seen, timeout), self.seen


# ---------------------------------------------------------------- arguments and results


def test_kazoo_call_forms(kazoo: Any) -> None:
    zk = kazoo()
    # kafka-utils style: create(path, value, acl, ephemeral, sequence, makepath)
    path = zk.create("/a/b/seq-", b"v", None, True, True, True)
    assert path.startswith("/a/b/seq-") and len(path) == len("/a/b/seq-") + 10
    assert zk.create("rel/x", b"1", makepath=True) == "/rel/x"      # relative: from the root
    assert zk.get("rel//x/")[0] == b"1"                              # kazoo normalises
    data, stat = zk.get("/rel/x")
    assert isinstance(stat, ZnodeStat) and stat.dataLength == 1 and stat.numChildren == 0
    created, stat2 = zk.create("/withstat", b"", include_data=True)
    assert created == "/withstat" and isinstance(stat2, ZnodeStat)
    assert zk.create("/nulldata", None) == "/nulldata" and zk.get("/nulldata")[0] is None
    kids, pstat = zk.get_children("/a", include_data=True)
    assert kids == ["b"] and isinstance(pstat, ZnodeStat)
    assert zk.ensure_path("/a/b") is True and zk.ensure_path("/new/node") == "/new/node"
    assert zk.delete("/withstat") is True
    assert isinstance(zk.set("/rel/x", b"2"), ZnodeStat)
    with pytest.raises(TypeError):
        zk.create("/x", "text")           # kazoo: values are bytes
    with pytest.raises(TypeError):
        zk.create("/x", acl=OPEN_ACL_UNSAFE[0])
    with pytest.raises(ValueError):
        zk.get("/a/../b")
    with pytest.raises(ke.BadArgumentsError):
        zk.create("/bad\x01")             # what the server would answer
    with pytest.raises(ke.NoNodeError):
        zk.get("/missing")
    with pytest.raises(ke.NodeExistsError):
        zk.create("/rel/x")


def test_hosts_as_a_list_and_server_version_tuple(zk_server: ZooKeeperServer, zk_chroot: str,
                                                  kazoo: Any) -> None:
    zk = kazoo([zk_server.hosts, zk_chroot])
    assert zk.hosts == [("127.0.0.1", zk_server.port)] and zk.chroot == zk_chroot
    version = zk.server_version()
    assert isinstance(version, tuple) and len(version) >= 2 and all(isinstance(v, int) for v in version)
    assert zk.command(b"ruok") == "imok"
    assert isinstance(zk.native, zkfast.Client) and zk.native.connected


def test_acls_are_kazoos(kazoo: Any) -> None:
    zk = kazoo()
    acl = make_digest_acl("u", "p", all=True)
    zk.add_auth("digest", "u:p")
    zk.create("/secret", b"s", [acl])
    acls, stat = zk.get_acls("/secret")
    assert acls == [acl] and repr(acls[0]).startswith("ACL(perms=31, acl_list=['ALL']")
    with pytest.raises(ke.InvalidACLError):
        zk.set_acls("/secret", [])
    assert isinstance(zk.set_acls("/secret", OPEN_ACL_UNSAFE), ZnodeStat)


def test_async_results(kazoo: Any, zk_proxy: TcpProxy, zk_chroot: str) -> None:
    zk = kazoo(zk_proxy.hosts + zk_chroot)
    zk.create("/n", b"v")
    result = zk.get_async("/n")
    assert result.get(timeout=10)[0] == b"v" and result.ready() and result.successful()
    assert result.value[0] == b"v" and result.exception is None
    assert isinstance(result, zkfast.Future)  # the request's own future, adopted: no second object
    failed = zk.get_async("/missing")
    assert failed.wait(10) is True and not failed.successful()
    assert isinstance(failed.exception, ke.NoNodeError) and failed.exception is failed.exception
    with pytest.raises(ke.NoNodeError) as raised:
        failed.get()
    assert raised.value is failed.exception  # kazoo raises the one stored exception
    with pytest.raises(TypeError):
        result.set(1)  # this result completes with its request

    # a request the server does not answer yet: not ready, waits time out
    zk_proxy.blackhole()
    pending = zk.get_async("/n")
    with pytest.raises(KazooTimeoutError):
        pending.get_nowait()
    assert pending.wait(0.2) is False and not pending.ready()
    where: List[str] = []
    done = threading.Event()
    pending.rawlink(lambda r: (where.append(threading.current_thread().name), done.set()))
    twice: List[Any] = []
    pending.rawlink(twice.append)
    pending.rawlink(twice.append)  # the same callback once
    unlinked: List[Any] = []
    pending.unlink(unlinked.append)
    pending.rawlink(unlinked.append)
    pending.unlink(unlinked.append)
    zk_proxy.blackhole(False)
    assert done.wait(30)
    assert pending.get()[0] == b"v"
    assert where == ["zkfast.kazoo-completion"]  # kazoo runs completions on the handler's worker
    assert unlinked == []
    wait_until(lambda: twice == [pending], timeout=30)


def test_transaction_context_and_operations(kazoo: Any) -> None:
    zk = kazoo()
    with zk.transaction() as t:
        t.create("/t1", b"1")
        t.create("/t2", b"2")
    assert [type(op).__name__ for op in t.operations] == ["Create", "Create"]
    assert t.operations[0].path.endswith("/t1")  # kazoo's records carry the server path
    assert zk.get("/t2")[0] == b"2"
    t = zk.transaction()
    t.check("/t1", 0)
    t.set_data("/t1", b"x")
    t.delete("/nope")
    results = t.commit()
    assert [type(r) for r in results] == [ke.RolledBackError, ke.RolledBackError, ke.NoNodeError]
    with pytest.raises(ValueError):
        t.commit()


# ---------------------------------------------------------------- states and lifecycle


def test_states_and_stop(kazoo: Any) -> None:
    zk = kazoo()
    states = States(zk)
    assert zk.state == KazooState.CONNECTED == "CONNECTED"
    assert zk.client_state == KeeperState.CONNECTED
    session = zk.client_id
    assert session is not None and len(session[1]) == 16
    zk.stop()
    assert states.seen == [KazooState.LOST]  # heard before stop() returned
    assert zk.state == "LOST" and zk.client_state == KeeperState.CLOSED
    assert zk.client_id is None and not zk.connected
    with pytest.raises(ke.ConnectionClosedError):
        zk.get("/")
    assert isinstance(zk.get_async("/").exception, ke.ConnectionClosedError)
    zk.start()
    assert zk.client_id is not None and zk.client_id[0] != session[0]  # a new session
    assert states.seen == [KazooState.LOST, KazooState.CONNECTED]


def test_listener_returning_true_is_removed(kazoo: Any, zk_proxy: TcpProxy, zk_chroot: str) -> None:
    zk = kazoo(zk_proxy.hosts + zk_chroot)
    once: List[str] = []
    zk.add_listener(lambda s: once.append(s) or True)
    states = States(zk)
    zk_proxy.drop_all()
    states.wait_for(KazooState.CONNECTED)
    assert once == [KazooState.SUSPENDED]
    with pytest.raises(ke.ConfigurationError):
        zk.add_listener(42)  # type: ignore[arg-type]


def test_start_timeout_and_handler_checks(zk_server: ZooKeeperServer) -> None:
    with TcpProxy(zk_server.host, zk_server.port) as proxy:
        proxy.refuse()
        zk = KazooClient(proxy.hosts)
        with pytest.raises(KazooTimeoutError):
            zk.start(0.5)
        assert not zk.connected
    with pytest.raises(ke.ConfigurationError):
        KazooClient(handler=SequentialThreadingHandler)  # the class, not an instance
    with pytest.raises(TypeError):
        KazooClient(no_such_option=1)
    for bad in (0, -1, "10", None):
        with pytest.raises(ke.ConfigurationError):
            KazooClient(timeout=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        KazooClient(hosts="host:notaport")
    with pytest.raises(TypeError):
        KazooClient(hosts=42)  # type: ignore[arg-type]


def test_set_hosts_takes_effect_at_the_next_connect(zk_server: ZooKeeperServer, kazoo: Any) -> None:
    with TcpProxy(zk_server.host, zk_server.port) as first, \
            TcpProxy(zk_server.host, zk_server.port) as second:
        zk = kazoo(first.hosts, randomize_hosts=False)
        zk.create("/h", b"1")
        zk.set_hosts(second.hosts)
        assert zk.connected and zk.hosts == [("127.0.0.1", second.port)]
        states = States(zk)
        first.refuse()
        first.drop_all()
        states.wait_for(KazooState.CONNECTED)
        assert zk.get("/h")[0] == b"1"
        assert second.active_connections == 1
        with pytest.raises(ke.ConfigurationError):
            zk.set_hosts(second.hosts + "/another-chroot")


# ---------------------------------------------------------------- kazoo's watch semantics


def test_watch_gets_none_on_disconnect_and_is_then_forgotten(kazoo: Any, zk_proxy: TcpProxy,
                                                             zk_chroot: str) -> None:
    """kazoo calls pending one-shot watches with EventType.NONE when the connection
    drops and does not set them again; zkfast's own API keeps them across reconnects."""
    zk = kazoo(zk_proxy.hosts + zk_chroot)
    zk.create("/w", b"0")
    data_log, child_log = EventLog(), EventLog()
    zk.get("/w", watch=data_log)
    zk.get_children("/w", watch=child_log)
    states = States(zk)
    zk_proxy.drop_all()
    states.wait_for(KazooState.CONNECTED)
    assert data_log.wait(1) == [WatchedEvent(EventType.NONE, KeeperState.CONNECTING, None)]
    assert child_log.wait(1) == [WatchedEvent(EventType.NONE, KeeperState.CONNECTING, None)]
    # zkfast stopped tracking them: nothing re-registers them
    for kind in (WatcherType.DATA, WatcherType.CHILDREN):
        with pytest.raises(zkfast.NoWatcherError):
            zk.native.remove_watches("/w", kind, local=True)
    zk.set("/w", b"1")
    zk.create("/w/c")
    time.sleep(0.5)  # give a (wrong) late delivery the chance to show
    assert len(data_log.events) == len(child_log.events) == 1


def test_a_function_watches_a_path_once(kazoo: Any) -> None:
    zk = kazoo()
    zk.create("/once", b"0")
    log = EventLog()
    zk.get("/once", watch=log)
    zk.exists("/once", watch=log)
    zk.get("/once", watch=log)
    zk.set("/once", b"1")
    assert log.wait(1)[0] == WatchedEvent(EventType.CHANGED, KeeperState.CONNECTED, "/once")
    zk.set("/once", b"2")
    time.sleep(0.3)
    assert len(log.events) == 1


def test_watch_gets_none_when_the_session_expires(kazoo: Any, zk_server: ZooKeeperServer) -> None:
    zk = kazoo()
    zk.create("/e", b"0")
    log = EventLog()
    zk.exists("/e", watch=log)
    states = States(zk)
    expire(zk_server.hosts, zk.native)
    states.wait_for(KazooState.LOST)
    states.wait_for(KazooState.CONNECTED)
    event = log.wait(1)[0]
    assert event.type == EventType.NONE and event.path is None
    assert KazooState.SUSPENDED in states.seen  # a real expiry: the connection dropped first


def test_native_presumed_loss_stays_suspended_as_in_kazoo(kazoo: Any, zk_proxy: TcpProxy, zk_chroot: str,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """zkfast's client-side LOST (no server heard for a session timeout) has no kazoo
    counterpart: kazoo stays SUSPENDED until a server says the session expired, and
    so does this layer (its listeners see neither an error nor an early LOST)."""
    zk = kazoo(zk_proxy.hosts + zk_chroot, timeout=4.0)
    states = States(zk)
    native_states: List[zkfast.State] = []
    zk.native.add_listener(native_states.append)
    zk_proxy.blackhole()
    try:
        states.wait_for(KazooState.SUSPENDED)
        wait_until(lambda: zkfast.State.LOST in native_states, timeout=30)
        assert zk.state == KazooState.SUSPENDED
        assert zk.client_state == KeeperState.CONNECTING
    finally:
        zk_proxy.blackhole(False)
    # the server expired the session meanwhile (or not): kazoo's states follow it
    states.wait_for(KazooState.CONNECTED)
    assert states.seen[0] == KazooState.SUSPENDED
    assert set(states.seen) <= {KazooState.SUSPENDED, KazooState.LOST, KazooState.CONNECTED}
    assert zk.exists("/") is not None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_harness_expiry_reports_lost_without_suspended(kazoo: Any, zk_server: ZooKeeperServer) -> None:
    zk = kazoo()
    states = States(zk)
    zk._expire_session(zk_server.hosts)
    states.wait_for(KazooState.CONNECTED)
    assert states.seen == [KazooState.LOST, KazooState.CONNECTED]


# ---------------------------------------------------------------- recipes that differ from kazoo


def test_lock_timeout_raises(kazoo: Any) -> None:
    holder = kazoo().Lock("/lk", "holder")
    assert holder.acquire()
    waiter = kazoo().Lock("/lk", "waiter")
    with pytest.raises(ke.LockTimeout):
        waiter.acquire(timeout=0.5)
    assert holder.contenders() == ["holder"]  # the timed-out attempt left nothing behind
    holder.release()
    assert waiter.acquire(timeout=30)
    waiter.release()


def test_a_second_acquire_waits_for_the_release(kazoo: Any) -> None:
    lock = kazoo().Lock("/lk2", "x")
    assert lock.acquire()
    assert lock.acquire(timeout=0.2) is False and lock.acquire(blocking=False) is False
    got = threading.Event()
    t = threading.Thread(target=lambda: lock.acquire() and got.set())
    t.start()
    assert not got.wait(0.3)
    lock.release()
    assert got.wait(30)
    t.join(30)
    lock.release()


def test_treecache_after_a_restart_reports_the_differences(kazoo: Any) -> None:
    zk, other = kazoo(), kazoo()
    for p in ("/tc/keep", "/tc/change", "/tc/drop"):
        other.create(p, b"0", makepath=True)
    events: List[Any] = []
    cond = threading.Condition()

    def listen(event: Any) -> None:
        with cond:
            events.append(event)
            cond.notify_all()

    def wait_for(etype: int, count: int = 1) -> None:
        with cond:
            assert cond.wait_for(lambda: sum(e.event_type == etype for e in events) >= count, 30), events

    cache = TreeCache(zk, "/tc")
    cache.listen(listen)
    cache.start()
    wait_for(TreeEvent.INITIALIZED)
    assert cache.get_children("/tc") == frozenset({"keep", "change", "drop"})
    assert cache.get_data("/tc/keep").data == b"0"
    zk.stop()
    other.set("/tc/change", b"1")
    other.delete("/tc/drop")
    other.create("/tc/new", b"n")
    with cond:
        events.clear()
    zk.start()
    wait_for(TreeEvent.INITIALIZED)
    changes = {(e.event_type, e.event_data.path) for e in events if e.event_data is not None}
    assert changes == {(TreeEvent.NODE_UPDATED, "/tc/change"), (TreeEvent.NODE_REMOVED, "/tc/drop"),
                       (TreeEvent.NODE_ADDED, "/tc/new")}
    assert cache.get_data("/tc/change").data == b"1"
    with pytest.raises(ValueError):
        cache.get_data("/elsewhere")
    cache.close()


# ---------------------------------------------------------------- nothing leaks, nothing grows


def _threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("zkfast"))


def _fds() -> int:
    import os
    return len(os.listdir("/proc/self/fd"))


def test_start_stop_cycles_leak_no_threads_or_fds(zk_server: ZooKeeperServer) -> None:
    base_threads, base_fds = _threads(), _fds()
    zk = KazooClient(zk_server.hosts, timeout=4)
    for _ in range(15):          # the same client, restarted
        zk.start()
        zk.exists("/")
        zk.stop()
        zk.close()
    for _ in range(15):          # fresh clients
        other = KazooClient(zk_server.hosts, timeout=4)
        other.start()
        other.get_async("/").get()
        other.stop()
        other.close()
    deadline = time.monotonic() + 30
    while (_threads() > base_threads or _fds() > base_fds) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _threads() <= base_threads, [t.name for t in threading.enumerate()]
    assert _fds() <= base_fds


def test_repeated_disconnects_keep_one_watch(kazoo: Any, zk_proxy: TcpProxy, zk_chroot: str) -> None:
    """Every disconnect drops the pending watch and DataWatch sets a new one:
    neither this layer's table nor zkfast's registry may keep the old ones."""
    zk = kazoo(zk_proxy.hosts + zk_chroot)
    zk.create("/dw", b"0")
    seen: List[Any] = []
    zk.DataWatch("/dw", lambda data, stat: seen.append(data))
    states = States(zk)
    for i in range(20):
        with states.cond:
            states.seen.clear()
        zk_proxy.drop_all()
        states.wait_for(KazooState.CONNECTED)
        deadline = time.monotonic() + 30
        while len(zk._watches) != 1 and time.monotonic() < deadline:
            time.sleep(0.01)  # DataWatch re-reads (and re-watches) after the reconnect
        assert len(zk._watches) == 1
    registry = zk.native._engine.watches  # white box: zkfast's own table of this path
    spath = zk_chroot + "/dw"
    assert len(registry._data.get(spath, {})) + len(registry._exist.get(spath, {})) == 1


def test_tls_arguments_and_the_harness_connection_loss(zk_tls_server: ZooKeeperServer) -> None:
    zk = KazooClient(zk_tls_server.secure_hosts, use_ssl=True, ca=zk_tls_server.ca_file,
                     certfile=zk_tls_server.client_cert_file, keyfile=zk_tls_server.client_key_file)
    try:
        zk.start(30)
        zk.ensure_path("/tls")
        assert zk.command(b"ruok") == "imok"  # the four-letter word goes over TLS too
        states = States(zk)
        zk._drop_connection()  # TLS owns the socket: cut through a duplicate descriptor
        states.wait_for(KazooState.CONNECTED)
        assert states.seen[0] == KazooState.SUSPENDED and zk.exists("/tls") is not None
    finally:
        zk.stop()
    with pytest.raises(ValueError):
        KazooClient(zk_tls_server.secure_hosts, use_ssl=True, verify_certs=False, check_hostname=True)


def test_lock_timeout_holds_while_disconnected_and_cleanup_follows(kazoo: Any, zk_proxy: TcpProxy,
                                                                   zk_chroot: str) -> None:
    """A waiting acquire whose deadline passes while the client is disconnected
    raises LockTimeout then, not a session timeout later (its requests would wait
    for the reconnect); its node is deleted once the client is back."""
    holder = kazoo().Lock("/dl", "holder")
    assert holder.acquire()
    waiter_client = kazoo(zk_proxy.hosts + zk_chroot, timeout=30)
    waiter = waiter_client.Lock("/dl", "waiter")
    outcome: List[Any] = []

    def wait_in_line() -> None:
        try:
            outcome.append(waiter.acquire(timeout=3))
        except ke.LockTimeout as e:
            outcome.append(e)
    t = threading.Thread(target=wait_in_line)
    t.start()
    deadline = time.monotonic() + 30
    while holder.contenders() != ["holder", "waiter"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert holder.contenders() == ["holder", "waiter"]
    zk_proxy.refuse()
    zk_proxy.drop_all()
    t.join(20)  # the network stays down meanwhile; a request would wait up to 30 s
    assert not t.is_alive(), "the acquire outlived its deadline while disconnected"
    assert len(outcome) == 1 and isinstance(outcome[0], ke.LockTimeout), outcome
    assert not waiter_client.connected
    zk_proxy.refuse(False)
    deadline = time.monotonic() + 30
    while holder.contenders() != ["holder"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert holder.contenders() == ["holder"], "the abandoned contender stayed in line"
    holder.release()
