"""zkfast.kazoo's pieces that need no server: kazoo's exceptions, error
translation, paths, hosts, ACLs, states, retry and async results."""

from __future__ import annotations

import threading
from typing import Any, List

import pytest

from zkfast import errors as zk
from zkfast.kazoo import exceptions as ke
from zkfast.kazoo import retry as kr
from zkfast.kazoo._errors import kazoo_error
from zkfast.kazoo.handlers.threading import AsyncResult, KazooTimeoutError, SequentialThreadingHandler
from zkfast.kazoo.handlers.utils import capture_exceptions, wrap
from zkfast.kazoo.hosts import collect_hosts
from zkfast.kazoo.protocol import paths
from zkfast.kazoo.protocol.serialization import Create, write_buffer, write_string
from zkfast.kazoo.protocol.states import EventType, KazooState, KeeperState, ZnodeStat
from zkfast.kazoo.security import ACL, Id, Permissions, make_acl, make_digest_acl

# ---------------------------------------------------------------- exceptions


def test_every_server_code_has_kazoos_class_and_kazoos_hierarchy() -> None:
    codes = {0, -1, -2, -3, -4, -5, -6, -7, -8, -12, -13, -14, -100, -101, -102, -103, -108,
             -110, -111, -112, -113, -114, -115, -118, -119, -120, -121, -122, -123, -124,
             -125, -127}
    assert set(ke.EXCEPTIONS) == codes
    for code, cls in ke.EXCEPTIONS.items():
        assert cls.code == code
        assert cls.__bases__ == (ke.ZookeeperError,), cls  # flat, as in kazoo
        assert cls().args == ()
    assert issubclass(ke.ConnectionClosedError, ke.SessionExpiredError)
    assert issubclass(ke.ZookeeperError, ke.KazooException)
    for cls in (ke.CancelledError, ke.ConfigurationError, ke.LockTimeout, ke.SASLException,
                ke.WriterNotClosedException, ke.ZookeeperStoppedError, ke.ConnectionDropped):
        assert cls.__bases__ == (ke.KazooException,)
    with pytest.raises(RuntimeError):
        ke.EXCEPTIONS[666]


def test_c_library_aliases() -> None:
    assert ke.NoNodeException is ke.NoNodeError
    assert ke.ConnectionLossException is ke.ConnectionLoss
    assert ke.ApiErrorException is ke.APIError
    assert ke.SystemErrorException is ke.SystemZookeeperError
    assert ke.InvalidCallbackException is ke.InvalidCallbackError


@pytest.mark.parametrize("zk_cls", [c for c in vars(zk).values()
                                    if isinstance(c, type) and issubclass(c, zk.ZooKeeperError)
                                    and c.code is not None])
def test_server_errors_translate_by_code(zk_cls: Any) -> None:
    e = zk_cls(path="/p")
    k = kazoo_error(e)
    assert type(k) is ke.EXCEPTIONS[zk_cls.code]
    assert k.path == "/p" and k.__cause__ is e


@pytest.mark.parametrize("zk_error, kazoo_cls", [
    (zk.ClosedError(), ke.ConnectionClosedError),
    (zk.ClientForkedError(), ke.ConnectionClosedError),
    (zk.WaitTimeoutError(), KazooTimeoutError),
    (zk.CancelledError(), ke.CancelledError),
    (zk.RequestTooLargeError(2 << 20, 1 << 20), ke.ConnectionLoss),
    (zk.InvalidPathError(path="/a\x00"), ke.BadArgumentsError),
    (zk.UnknownServerError(code=-999), ke.ZookeeperError),
    (zk.ResponseTooLargeError(2 << 20, 1 << 20), ke.ZookeeperError),
    (zk.TransactionFailedError([zk.RolledBackError(), zk.NoNodeError()]), ke.NoNodeError),
])
def test_client_side_errors_translate(zk_error: Any, kazoo_cls: type) -> None:
    assert type(kazoo_error(zk_error)) is kazoo_cls


def test_non_zkfast_errors_pass_through() -> None:
    e = ValueError("x")
    assert kazoo_error(e) is e


# ---------------------------------------------------------------- paths and hosts


@pytest.mark.parametrize("path, want", [
    ("/a/b", "/a/b"), ("", ""), ("/", "/"), ("//", "/"), ("//a////b///c/", "/a/b/c"),
    ("/\xe4/b", "/\xe4/b"), ("/a./b../c", "/a./b../c"), ("a/b", "a/b"),
])
def test_normpath(path: str, want: str) -> None:
    assert paths.normpath(path) == want


@pytest.mark.parametrize("path", ["./a", "/a/../b", "/.", "a/.."])
def test_normpath_refuses_relative_segments(path: str) -> None:
    with pytest.raises(ValueError):
        paths.normpath(path)


def test_prefix_root_and_trailing_slash() -> None:
    assert paths._prefix_root("/a/", "b/c") == "/a/b/c"
    assert paths._prefix_root("", "/") == "/"
    assert paths._prefix_root("/a", "/") == "/a"
    assert paths.normpath("/folder/", trailing=True) == "/folder/"
    assert paths.join("/a", "b", "/c", "d") == "/c/d"
    assert paths.basename("/a/b") == "b" and paths.isabs("/x") and not paths.isabs("x")


def test_collect_hosts_forms() -> None:
    assert collect_hosts("h1, h2:2182/app/x") == ([("h1", 2181), ("h2", 2182)], "/app/x")
    assert collect_hosts(["h1:1", "[::1]:2", "/c"]) == ([("h1", 1), ("::1", 2)], "/c")
    assert collect_hosts("h1:2181/") == ([("h1", 2181)], None)
    with pytest.raises(ValueError):
        collect_hosts("/only/a/chroot")
    with pytest.raises(TypeError):
        collect_hosts(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------- ACLs, states, records


def test_acl_printed_form_and_perms() -> None:
    acl = make_digest_acl("bob", "secret", read=True, write=True)
    assert acl.perms == Permissions.READ | Permissions.WRITE
    assert acl.id.scheme == "digest" and acl.id.id.startswith("bob:")
    assert repr(ACL(16, "fred")).startswith("ACL(perms=16, acl_list=['ADMIN']")
    assert make_acl("world", "anyone", all=True).acl_list == ["ALL"]
    # a kazoo ACL and a zkfast ACL with the same values are equal (either API takes either)
    import zkfast
    assert make_acl("world", "anyone", all=True) == zkfast.ACL(31, zkfast.Id("world", "anyone"))
    assert Id("ip", "10.0.0.1") == zkfast.Id("ip", "10.0.0.1")


def test_states_are_kazoos_strings() -> None:
    assert KazooState.LOST == "LOST" and KazooState.SUSPENDED == "SUSPENDED"
    assert KeeperState.CONNECTED_RO == "CONNECTED_RO"
    assert KeeperState.EXPIRED_SESSION == "EXPIRED_SESSION"
    assert EventType.NONE == "NONE" and EventType.CHILD == "CHILD"


def test_znodestat_names_and_properties() -> None:
    st = ZnodeStat(1, 2, 3000, 4000, 5, 6, 7, 8, 9, 10, 11)
    assert (st.ephemeralOwner, st.dataLength, st.numChildren) == (8, 9, 10)
    assert st.created == 3.0 and st.last_modified == 4.0 and st.owner_session_id == 8
    assert st.creation_transaction_id == 1 and st.last_modified_transaction_id == 2
    assert st.children_count == st.num_children == 10 and st.data_length == 9
    assert ZnodeStat(*([0] * 11)).owner_session_id is None


def test_serialization_records() -> None:
    assert write_string("ab") == b"\x00\x00\x00\x02ab"
    assert write_string(None) == b"\xff\xff\xff\xff"
    assert write_buffer(b"x") == b"\x00\x00\x00\x01x"
    assert Create("/a", b"", [], 1).type == 1


# ---------------------------------------------------------------- retry


def test_retry_backs_off_and_gives_up() -> None:
    sleeps: List[float] = []
    calls = []

    def fails() -> None:
        calls.append(1)
        raise ke.ConnectionLoss()
    retry = kr.KazooRetry(max_tries=4, delay=1, backoff=2, max_jitter=0, sleep_func=sleeps.append)
    with pytest.raises(kr.RetryFailedError):
        retry(fails)
    assert len(calls) == 4 and sleeps == [1, 2, 4]


def test_retry_never_retries_a_closed_client_and_respects_interrupt() -> None:
    retry = kr.KazooRetry(max_tries=None, delay=0.01, sleep_func=lambda s: None)
    with pytest.raises(ke.ConnectionClosedError):
        retry(lambda: (_ for _ in ()).throw(ke.ConnectionClosedError()))
    interrupted = kr.KazooRetry(max_tries=None, delay=0.5, max_jitter=0, sleep_func=lambda s: None,
                                interrupt=lambda: True)
    with pytest.raises(kr.InterruptedError):
        interrupted(lambda: (_ for _ in ()).throw(ke.ConnectionLoss()))
    expire = kr.KazooRetry(max_tries=2, ignore_expire=False, sleep_func=lambda s: None)
    with pytest.raises(ke.SessionExpiredError):
        expire(lambda: (_ for _ in ()).throw(ke.SessionExpiredError()))


def test_retry_deadline() -> None:
    retry = kr.KazooRetry(max_tries=None, delay=10, max_jitter=0, deadline=0.5,
                          sleep_func=lambda s: None)
    with pytest.raises(kr.RetryFailedError):
        retry(lambda: (_ for _ in ()).throw(kr.ForceRetryError()))


# ---------------------------------------------------------------- settable async results


def test_async_result_get_set_timeout_and_callbacks() -> None:
    handler = SequentialThreadingHandler()
    result = handler.async_result()
    assert isinstance(result, AsyncResult) and not result.ready()
    with pytest.raises(KazooTimeoutError):
        result.get(block=False)
    assert result.wait(0.01) is False
    seen: List[Any] = []
    result.rawlink(seen.append)
    result.unlink(seen.append)
    result.rawlink(lambda r: seen.append(r.value))
    result.set(42)
    assert seen == [42] and result.get() == 42 and result.successful() and result.exception is None
    failed = handler.async_result()
    failed.set_exception(ke.NoNodeError())
    with pytest.raises(ke.NoNodeError):
        failed.get()
    assert not failed.successful() and isinstance(failed.exception, ke.NoNodeError)


def test_async_result_callbacks_run_on_the_completion_worker() -> None:
    handler = SequentialThreadingHandler()
    handler.start()
    try:
        result = handler.async_result()
        where = []
        done = threading.Event()
        result.rawlink(lambda r: (where.append(threading.current_thread().name), done.set()))
        result.set(1)
        assert done.wait(10)
        assert where == ["zkfast.kazoo-completion"]
    finally:
        handler.stop()


def test_capture_and_wrap() -> None:
    handler = SequentialThreadingHandler()
    result = handler.async_result()

    @wrap(result)
    def compute(x: int) -> int:
        return x * 2
    compute(21)
    assert result.get() == 42
    failing = handler.async_result()

    @capture_exceptions(failing)
    def broken() -> None:
        raise ke.NoAuthError()
    broken()
    with pytest.raises(ke.NoAuthError):
        failing.get()


def test_other_handlers_are_refused_clearly() -> None:
    for name in ("gevent", "eventlet"):
        with pytest.raises(ImportError, match="threading handler"):
            __import__(f"zkfast.kazoo.handlers.{name}")


# ---------------------------------------------------------------- kazoo's watch semantics, unit level


class _Native:
    """Stands in for the zkfast client: records what the table takes out of its registry."""

    def __init__(self) -> None:
        self.removed: List[Any] = []

    def remove_watches(self, path: str, kind: int, watcher: Any, local: bool = False) -> bool:
        assert local
        self.removed.append(watcher)
        return True


def _zk_event(etype: Any, path: str = "/p") -> Any:
    from zkfast.events import State, WatchedEvent as ZkWatchedEvent
    return ZkWatchedEvent(etype, State.CONNECTED, path)


def test_one_notification_reaching_two_wrappers_calls_the_function_once() -> None:
    from zkfast.events import EventType as ZkEvent
    from zkfast.kazoo._watches import DATA, WatchTable
    calls: List[Any] = []
    table = WatchTable(lambda: KeeperState.CONNECTED)
    native = _Native()
    first, second = table.watcher(DATA, "/p", calls.append), table.watcher(DATA, "/p", calls.append)
    table.registered(first, native)   # the second request's reply is not handled yet
    event = _zk_event(ZkEvent.NODE_DATA_CHANGED)
    first(event)
    second(event)                     # the same notification reached both
    assert [e.type for e in calls] == [EventType.CHANGED]
    table.registered(second, native)  # it fired already: nothing is live
    assert len(table) == 0


def test_a_newer_watch_of_the_same_function_retires_the_older() -> None:
    from zkfast.kazoo._watches import CHILD, DATA, WatchTable
    table = WatchTable(lambda: KeeperState.CONNECTED)
    native = _Native()
    fn = print
    a, b = table.watcher(DATA, "/p", fn), table.watcher(DATA, "/p", fn)
    c = table.watcher(CHILD, "/p", fn)  # another kind: its own watch
    for w in (a, b, c):
        table.registered(w, native)
    assert native.removed == [a] and len(table) == 2


def test_a_disconnect_fires_none_once_and_forgets() -> None:
    from zkfast.events import EventType as ZkEvent
    from zkfast.kazoo._watches import DATA, WatchTable
    calls: List[Any] = []
    table = WatchTable(lambda: KeeperState.CONNECTING)
    native = _Native()
    w = table.watcher(DATA, "/p", calls.append)
    table.registered(w, native)
    table.drop_all(native, KeeperState.CONNECTING)
    assert calls == [(EventType.NONE, KeeperState.CONNECTING, None)] and native.removed == [w]
    w(_zk_event(ZkEvent.NODE_DATA_CHANGED))  # a late event for the dropped watch
    assert len(calls) == 1


def test_every_zkfast_state_has_a_kazoo_session_state() -> None:
    """A native state without a mapping would raise in the client's state callback
    (State.LOST, added with client-side loss, once did)."""
    from zkfast import State
    from zkfast.kazoo.client import _KEEPER

    assert set(_KEEPER) == set(State)
