"""What the user's own process does to a client: interrupts (Ctrl-C) and
signal handlers landing inside a call, fork(), event loops that end, clients
that are never closed.

Interrupts are injected two ways: deterministically, with ``sys.settrace``
raising at a chosen line of the call path (the places a signal handler can
run between two bytecodes), and as a bounded storm of real signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import os
import random
import signal
import sys
import threading
import time
import warnings
from typing import Any, Callable, Iterator, List

import pytest

from zkfast import (
    AsyncClient,
    ClientForkedError,
    ClosedError,
    Client,
    ConnectionLossError,
    State,
    WrongEventLoopError,
)
from zkfast.client import ThreadSession
from zkfast.protocol import SessionEngine
from zkfast.testing import ZooKeeperServer

from helpers import wait_until


class Interrupt(BaseException):
    """Stands for KeyboardInterrupt (which pytest would take as 'stop the run')."""


@pytest.fixture
def zk(zk_server: ZooKeeperServer, zk_chroot: str) -> Iterator[Client]:
    with Client(zk_server.hosts) as admin:
        admin.ensure_path(zk_chroot)
    c = Client(zk_server.hosts + zk_chroot, session_timeout=10.0).start()
    c.create("/n", b"value")
    yield c
    c.close()
    with Client(zk_server.hosts) as admin:
        admin.delete(zk_chroot, recursive=True)


def _line_of(func: Callable[..., Any], marker: str) -> int:
    """The number of the first line of ``func`` that contains ``marker`` (the
    last, for a marker ending in " @last"): an interrupt there lands after
    everything before that line ran."""
    last = marker.endswith(" @last")
    marker = marker.removesuffix(" @last")
    lines, start = inspect.getsourcelines(func)
    found = [start + i for i, text in enumerate(lines) if marker in text]
    if not found:
        raise AssertionError(f"{marker!r} not in {func.__qualname__}")
    return found[-1] if last else found[0]


class _Injector:
    """Runs ``action`` once when this thread reaches ``line`` of ``func``
    (an int), or right after ``func`` calls the C function named ``line``
    (a str: the instant a signal handler runs after a C call returns)."""

    def __init__(self, func: Callable[..., Any], line: Any, action: Callable[[], Any]) -> None:
        self.code = func.__code__
        self.line = line
        self.action = action
        self.fired = False

    def __enter__(self) -> _Injector:
        if isinstance(self.line, str):
            sys.setprofile(self._profile)
        else:
            sys.settrace(self._global)
        return self

    def __exit__(self, *exc: Any) -> None:
        sys.settrace(None)
        sys.setprofile(None)

    def _profile(self, frame: Any, event: str, arg: Any) -> None:
        if (event == "c_return" and not self.fired and frame.f_code is self.code
                and getattr(arg, "__name__", None) == self.line):
            self.fired = True
            sys.setprofile(None)
            self.action()

    def _global(self, frame: Any, event: str, arg: Any) -> Any:
        if event == "call" and frame.f_code is self.code and not self.fired:
            return self._local
        return None

    def _local(self, frame: Any, event: str, arg: Any) -> Any:
        if event == "line" and frame.f_lineno == self.line and not self.fired:
            self.fired = True
            self.action()
        return self._local


def _raise() -> None:
    raise Interrupt()


# Points on a synchronous call's path where a signal handler can run:
# (function, the line at whose start it lands).
_POINTS = [
    (ThreadSession._lead, "sock = self._sock"),                    # the read token just taken
    (ThreadSession._lead, "if not req.done_flag and self._sock is sock:"),  # muted, sent
    (ThreadSession._send, "sock = self._sock"),                    # framed and pending, not sent
    (ThreadSession._write_locked, "self._last_send = _monotonic()"),  # sent
    (ThreadSession._lead_loop, "if self._sock is not sock:"),      # data waiting
    (ThreadSession._read_some, "if not n:"),                       # bytes taken, not decoded
    (SessionEngine._handle, "del pending[xid] @last"),             # completed, still pending
    (ThreadSession._complete, "w = req.waiter"),                   # done, waiter not yet woken
    (ThreadSession.call, "if req.exception_value is not None:"),   # the reply just came
    # right after a C call returns (where a real signal handler runs)
    (ThreadSession._lead, "C:acquire"),                            # the read token just taken
    (ThreadSession._read_some, "C:recv_into"),                     # bytes taken, not decoded
    (ThreadSession._write_locked, "C:sendall"),                    # sent
    (ThreadSession._complete, "C:release"),                        # waiter woken, callbacks not run
]


def _where(func: Callable[..., Any], marker: str) -> Any:
    """A line number, or for ``C:name`` the C function's name."""
    if marker.startswith("C:"):
        return marker[2:]
    return _line_of(func, marker)


def _assert_usable(zk: Client) -> None:
    """The client serves the main thread and others, and nothing it owes hangs."""
    token = zk._session._read_token
    got: List[bool] = []
    t = threading.Thread(target=lambda: got.append(token.acquire(timeout=10) and (token.release() or True)))
    t.start()
    t.join(15)
    assert got == [True], "the read token was left taken"
    results: List[Any] = []

    def other_thread() -> None:
        for _ in range(3):
            try:
                results.append(zk.get("/n")[0])
                return
            except ConnectionLossError:  # the interrupt ended the connection: it comes back
                zk.wait_connected(15)

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join(15)
    assert results == [b"value"], "another thread's call did not complete"
    for _ in range(3):
        try:
            assert zk.get("/n")[0] == b"value"
            break
        except ConnectionLossError:  # the interrupt ended the connection: it comes back
            assert zk.wait_connected(15)
    futs = [zk.get_async("/n") for _ in range(200)]
    for f in futs:
        exc = f.exception(timeout=15)
        assert exc is None or isinstance(exc, ConnectionLossError), exc
    wait_until(lambda: not zk._engine.pending, timeout=15)


@pytest.mark.parametrize("func,marker", _POINTS,
                         ids=[f"{f.__qualname__}:{m.split('(')[0][:24]}" for f, m in _POINTS])
def test_an_interrupt_inside_a_call_leaves_the_client_usable(zk: Client, func: Any, marker: str) -> None:
    assert threading.current_thread() is threading.main_thread()
    # Another thread's request in flight while the main thread reads for it.
    zk.get("/n")  # warm: the I/O thread serves, the main thread can lead
    with _Injector(func, _where(func, marker), _raise) as inj:
        with pytest.raises((Interrupt, ConnectionLossError)):
            for _ in range(50):  # until the point is reached
                zk.get("/n")
    assert inj.fired, f"{func.__qualname__} never reached the point"
    _assert_usable(zk)
    assert zk.state.is_connected


@contextlib.contextmanager
def _other_callers(zk: Client, count: int) -> Iterator[List[Any]]:
    """``count`` threads calling ``get_async("/n").result()`` in a loop until the
    block ends; yields their outcomes. On the way out: none hangs, and each got
    the value or ConnectionLossError (an interrupt may have ended the connection)."""
    stop = threading.Event()
    outcomes: List[Any] = []

    def worker() -> None:
        while not stop.is_set():
            try:
                outcomes.append(zk.get_async("/n").result(15)[0])
            except ConnectionLossError as e:
                outcomes.append(e)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for t in threads:
        t.start()
    try:
        yield outcomes
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not any(t.is_alive() for t in threads), "another caller hangs on its request"
    assert all(o == b"value" or isinstance(o, ConnectionLossError) for o in outcomes)


def test_an_interrupt_while_reading_for_other_threads_loses_none_of_their_replies(zk: Client) -> None:
    """The main thread leads and completes replies for others when the
    interrupt lands mid-hand-out: every other caller still gets an answer."""
    with _other_callers(zk, 3):
        for _ in range(20):
            with _Injector(SessionEngine._handle, _line_of(SessionEngine._handle,
                                                           "del pending[xid] @last"), _raise):
                try:
                    for _ in range(200):
                        zk.get("/n")
                except (Interrupt, ConnectionLossError):
                    pass
            zk.wait_connected(15)
    _assert_usable(zk)


# Points in the reader's send of held-back frames, which runs outside the send lock
# while the callers it woke frame their next requests (see ThreadSession._flush_out).
_SENDER_POINTS = [
    "sock = self._sock",                      # the send lock taken, nothing claimed yet
    "data = self._take_out()",                # the sender role claimed, nothing taken
    "if data is None:",                       # frames taken, not sent
    "C:sendall",                              # sent
    "unsent = False",                         # sent, about to look for more
    "more = self._take_out()",                # the lock held again, the role still ours
]


@pytest.mark.parametrize("marker", _SENDER_POINTS, ids=[m[:24] for m in _SENDER_POINTS])
def test_an_interrupt_while_sending_for_other_threads_loses_none_of_their_requests(
        zk: Client, marker: str) -> None:
    """The main thread reads, and sends the frames other threads framed meanwhile;
    the interrupt lands there. The sender role is given up, and every other
    caller still gets an answer (or ConnectionLossError if the interrupt had to
    end the connection): no request is left unsent."""
    session = zk._session
    fired = 0
    with _other_callers(zk, 4):
        for _ in range(10):
            with _Injector(ThreadSession._flush_out,
                           _where(ThreadSession._flush_out, marker), _raise) as inj:
                try:
                    for _ in range(300):  # until the main thread sends for the others
                        zk.get("/n")
                except (Interrupt, ConnectionLossError):
                    pass
            fired += inj.fired
            assert session._sender != threading.get_ident(), "the sender role was kept"
            zk.wait_connected(15)
    assert fired, "the main thread never sent for the others"
    _assert_usable(zk)


def test_a_storm_of_real_signals_leaves_the_client_usable(zk: Client) -> None:
    """SIGUSR1 every 0.5-3 ms for a few seconds (ZKFAST_STORM_SECONDS) while
    the main thread and four workers call; the handler raises, as Ctrl-C does."""
    seconds = float(os.environ.get("ZKFAST_STORM_SECONDS", "3"))
    interrupted = [0]
    armed = [False]  # raise only inside the call under test (not in pytest's own code)

    def handler(signum: int, frame: Any) -> None:
        if armed[0]:
            armed[0] = False  # once per arming: never inside the except clause below
            interrupted[0] += 1
            raise Interrupt()

    old = signal.signal(signal.SIGUSR1, handler)
    stop = threading.Event()
    problems: List[BaseException] = []

    def worker() -> None:
        while not stop.is_set():
            try:
                assert zk.get_async("/n").result(20)[0] == b"value"
            except ConnectionLossError:
                pass
            except BaseException as e:  # noqa: BLE001 - a hang (WaitTimeoutError) or worse
                problems.append(e)
                return

    main_ident = threading.get_ident()

    def storm() -> None:
        rng = random.Random(7)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            signal.pthread_kill(main_ident, signal.SIGUSR1)
            time.sleep(rng.uniform(0.0005, 0.003))
        stop.set()

    workers = [threading.Thread(target=worker) for _ in range(4)]
    stormer = threading.Thread(target=storm)
    try:
        for t in workers:
            t.start()
        stormer.start()
        while not stop.is_set():
            try:
                armed[0] = True
                zk.get("/n")
                armed[0] = False
            except (Interrupt, ConnectionLossError):
                armed[0] = False
    finally:
        armed[0] = False
        stormer.join(seconds + 10)
        for t in workers:
            t.join(30)
        signal.signal(signal.SIGUSR1, old)
    assert interrupted[0] > 50
    assert not problems, problems[:3]
    assert not any(t.is_alive() for t in workers)
    zk.wait_connected(15)
    _assert_usable(zk)
    closer = threading.Thread(target=zk.close)
    closer.start()
    closer.join(15)
    assert not closer.is_alive() and zk.state == State.CLOSED


# ---------------------------------------------------------------- close() from a signal handler


@pytest.mark.parametrize("func,marker", [
    (ThreadSession._write_locked, "out = self._outbuf"),     # holding the send lock
    (ThreadSession._lead_loop, "if self._sock is not sock:"),  # holding the read token
    (ThreadSession._send, "sock = self._sock"),
], ids=["sending", "reading", "framed"])
def test_close_from_a_handler_inside_a_call_returns_and_ends_the_session(
        zk_server: ZooKeeperServer, zk_chroot: str, func: Any, marker: str) -> None:
    with Client(zk_server.hosts) as admin:
        admin.ensure_path(zk_chroot)
        zk = Client(zk_server.hosts + zk_chroot, session_timeout=30.0).start()
        zk.create("/mine", ephemeral=True)
        returned: List[float] = []

        def handler_closes() -> None:  # what a SIGTERM handler calling close() does
            t0 = time.monotonic()
            zk.close()
            returned.append(time.monotonic() - t0)

        with _Injector(func, _line_of(func, marker), handler_closes) as inj:
            try:
                zk.get("/mine")
            except ClosedError:
                pass
        assert inj.fired and returned, "close() from the handler did not return"
        # closeSession goes out once the interrupted call unwinds: the ephemeral
        # node goes now, long before the 30 s session timeout
        wait_until(lambda: zk.state == State.CLOSED, timeout=15)
        wait_until(lambda: admin.exists(zk_chroot + "/mine") is None, timeout=15)
        with pytest.raises(ClosedError):
            zk.get("/mine")
        wait_until(lambda: not [t for t in threading.enumerate()
                                if t.name.endswith(f"[{zk.config.name}]")], timeout=15)
        admin.delete(zk_chroot, recursive=True)


def test_close_from_a_real_signal_handler(zk_server: ZooKeeperServer, zk_chroot: str) -> None:
    """SIGUSR2's handler closes the client while the main thread is busy with it."""
    with Client(zk_server.hosts) as admin:
        admin.ensure_path(zk_chroot)
        for round_ in range(10):
            zk = Client(zk_server.hosts + zk_chroot, session_timeout=30.0).start()
            zk.create(f"/e{round_}", ephemeral=True)
            old = signal.signal(signal.SIGUSR2, lambda s, f: zk.close())
            main_ident = threading.get_ident()
            threading.Timer(random.uniform(0.005, 0.05),
                            lambda: signal.pthread_kill(main_ident, signal.SIGUSR2)).start()
            try:
                while True:
                    zk.set(f"/e{round_}", b"x" * random.randint(1, 50_000))
            except ClosedError:
                pass
            finally:
                signal.signal(signal.SIGUSR2, old)
            wait_until(lambda: zk.state == State.CLOSED, timeout=15)
            wait_until(lambda: admin.exists(f"{zk_chroot}/e{round_}") is None, timeout=15)
        admin.delete(zk_chroot, recursive=True)


# ---------------------------------------------------------------- fork


def _in_child(body: Callable[[], int]) -> int:
    """Run ``body`` in a forked child; its exit status (the child never
    returns into pytest)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 99
        try:
            code = body()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")
def test_a_forked_child_cannot_use_the_parents_client(zk_server: ZooKeeperServer,
                                                      zk_chroot: str) -> None:
    with Client(zk_server.hosts) as admin:
        admin.ensure_path(zk_chroot)
        zk = Client(zk_server.hosts + zk_chroot).start()
        zk.create("/small", b"s")
        zk.create("/big", b"B" * 900_000)
        zk.create("/eph", ephemeral=True)
        session = zk.session_id

        def child() -> int:
            for call in (lambda: zk.get("/big"), lambda: zk.get_async("/big"),
                         lambda: zk.create("/x"), lambda: zk.exists("/small")):
                try:
                    call()
                    return 1  # served: it touched the parent's connection
                except ClientForkedError:
                    pass
            zk.close()  # must not end the parent's session
            return 0

        for _ in range(4):
            pid_results: List[int] = []
            t = threading.Thread(target=lambda: pid_results.append(_in_child(child)))
            t.start()
            # the parent reads small values meanwhile: it must get its own replies
            for _ in range(200):
                assert zk.get("/small")[0] == b"s"
            t.join(30)
            assert pid_results == [0]
        assert zk.state.is_connected and zk.session_id == session
        assert admin.exists(zk_chroot + "/eph") is not None, "the child ended the parent's session"
        assert zk.get("/big")[0] == b"B" * 900_000
        zk.close()
        admin.delete(zk_chroot, recursive=True)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")
def test_a_forked_child_cannot_use_the_parents_async_client(zk_server: ZooKeeperServer,
                                                            zk_chroot: str) -> None:
    with Client(zk_server.hosts) as admin:
        admin.ensure_path(zk_chroot)

        async def parent() -> None:
            async with AsyncClient(zk_server.hosts + zk_chroot) as zk:
                await zk.create("/eph", b"p", ephemeral=True)

                def child() -> int:
                    async def use() -> int:
                        try:
                            await zk.get("/eph")
                            return 1
                        except ClientForkedError:
                            pass
                        await zk.close()
                        return 0
                    return asyncio.run(use())

                status = await asyncio.get_running_loop().run_in_executor(None, _in_child, child)
                assert status == 0
                assert (await zk.get("/eph"))[0] == b"p"
                assert admin.exists(zk_chroot + "/eph") is not None

        asyncio.run(parent())
        admin.delete(zk_chroot, recursive=True)


# ---------------------------------------------------------------- event loops


def test_an_async_client_belongs_to_its_loop(zk_server: ZooKeeperServer) -> None:
    holder: List[AsyncClient] = []

    async def first() -> None:
        zk = AsyncClient(zk_server.hosts)
        await zk.start()
        holder.append(zk)
        await zk.exists("/")

    asyncio.run(first())
    zk = holder[0]
    # the loop is gone: the client cannot pretend to be connected
    assert zk.state == State.CLOSED

    async def second() -> None:
        with pytest.raises((WrongEventLoopError, ClosedError)):
            await zk.exists("/")

    asyncio.run(second())
    assert not zk._engine.pending and zk._session._flush_scheduled is False

    async def third() -> None:
        await zk.close()

    asyncio.run(third())
    assert zk.state == State.CLOSED


def test_an_async_client_refuses_calls_from_another_running_loop(zk_server: ZooKeeperServer) -> None:
    ready = threading.Event()
    done = threading.Event()
    holder: List[Any] = []

    def own_loop() -> None:
        async def main() -> None:
            zk = AsyncClient(zk_server.hosts)
            await zk.start()
            holder.append((zk, asyncio.get_running_loop()))
            ready.set()
            while not done.is_set():
                await asyncio.sleep(0.01)
            await zk.close()
        asyncio.run(main())

    t = threading.Thread(target=own_loop)
    t.start()
    assert ready.wait(20)
    zk, loop = holder[0]
    pending_before = len(zk._engine.pending)

    async def other() -> None:
        with pytest.raises(WrongEventLoopError):
            zk.exists("/")
        with pytest.raises(WrongEventLoopError):
            await zk.get("/")
    asyncio.run(other())
    assert len(zk._engine.pending) == pending_before
    # close() from another loop closes it on its own loop
    asyncio.run(zk.close())
    assert zk.state == State.CLOSED
    done.set()
    t.join(20)


def test_close_inside_a_coroutine_callback_does_not_wait_for_itself(zk_server: ZooKeeperServer,
                                                                     zk_chroot: str) -> None:
    async def main() -> None:
        zk = AsyncClient(zk_server.hosts)
        await zk.start()
        await zk.ensure_path(zk_chroot)
        closed = asyncio.Event()

        async def on_change(event: Any) -> None:
            await zk.close()
            closed.set()

        await zk.exists(zk_chroot + "/w", watch=on_change)
        async with AsyncClient(zk_server.hosts) as other:
            await other.create(zk_chroot + "/w")
            # a hang check (the dispatcher used to wait ~7 s for itself)
            await asyncio.wait_for(closed.wait(), 5)
            assert zk.state == State.CLOSED
            await other.delete(zk_chroot, recursive=True)

    asyncio.run(main())


# ---------------------------------------------------------------- clients never closed


def _zkfast_threads(name: str) -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.endswith(f"[{name}]")]


def test_a_dropped_client_warns_and_closes(zk_server: ZooKeeperServer, zk_chroot: str) -> None:
    with Client(zk_server.hosts) as admin:
        admin.ensure_path(zk_chroot)
        names = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            for i in range(5):
                c = Client(zk_server.hosts + zk_chroot).start()
                c.create(f"/d{i}", ephemeral=True)
                names.append(c.config.name)
                del c
            gc.collect()
        assert len([w for w in caught if issubclass(w.category, ResourceWarning)]) == 5
        for name in names:
            wait_until(lambda: not _zkfast_threads(name), timeout=15)
        # each dropped client ended its session (closeSession), not left it to expire
        wait_until(lambda: admin.get_children(zk_chroot) == [], timeout=15)
        admin.delete(zk_chroot, recursive=True)


def test_a_dropped_async_client_warns_and_closes(zk_server: ZooKeeperServer) -> None:
    async def main() -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            zk = AsyncClient(zk_server.hosts)
            await zk.start()
            session = zk._session
            del zk
            gc.collect()
        assert any(issubclass(w.category, ResourceWarning) for w in caught)
        for _ in range(500):
            if session._closed:
                break
            await asyncio.sleep(0.01)
        assert session._closed

    asyncio.run(main())
