"""Read coalescing: getData/getChildren calls made while others are in flight
go out as multiRead frames, with the same results, errors, order and watches
as single requests."""

from __future__ import annotations

import asyncio
import random
import struct
import threading
from typing import Any, Callable, Dict, List, Tuple

import pytest

from zkfast import (
    AsyncClient,
    Client,
    ConnectionLossError,
    EventType,
    NoNodeError,
    State,
)
from zkfast import codec
from zkfast.protocol import SessionEngine
from zkfast.requests import PendingRequest
from zkfast.testing import TcpProxy, ZooKeeperServer

from helpers import EventLog, States, wait_until

MiB = 1 << 20


# ---------------------------------------------------------------- the order model


NODES = ["/a", "/b", "/c", "/d"]
BIG = 150 * 1024  # 8 of these make a batch reply over 1 MiB


def _program(seed: int, n: int) -> List[Tuple[Any, ...]]:
    """A random interleaving of reads and writes on a few nodes."""
    rng = random.Random(seed)
    ops: List[Tuple[Any, ...]] = []
    for i in range(n):
        r = rng.random()
        node = rng.choice(NODES)
        if r < 0.70:
            ops.append(("get", node))
        elif r < 0.78:
            ops.append(("children", "/"))
        elif r < 0.95:
            big = rng.random() < 0.15
            value = (b"%d:" % i) + (b"x" * BIG if big else b"")
            ops.append(("set", node, value))
        elif r < 0.975:
            ops.append(("create", f"/t{i}"))
        else:
            ops.append(("get", "/missing"))
    return ops


def _expected(ops: List[Tuple[Any, ...]], initial: Dict[str, bytes]) -> List[Any]:
    """What each op returns when applied in program order."""
    data = dict(initial)
    out: List[Any] = []
    for op in ops:
        if op[0] == "get":
            out.append(data[op[1]] if op[1] in data else NoNodeError)
        elif op[0] == "children":
            out.append(sorted(p[1:] for p in data))
        elif op[0] == "set":
            data[op[1]] = op[2]
            out.append(None)
        elif op[0] == "create":
            data[op[1]] = b""
            out.append(None)
    return out


def _check(ops: List[Tuple[Any, ...]], got: List[Any], want: List[Any]) -> None:
    wrong = []
    for i, (op, g, w) in enumerate(zip(ops, got, want)):
        if op[0] in ("set", "create"):
            if isinstance(g, BaseException):
                wrong.append((i, op[:2], repr(g)))
            continue
        if w is NoNodeError:
            if not isinstance(g, NoNodeError):
                wrong.append((i, op, repr(g)[:60]))
            continue
        if op[0] == "get":
            g = g[0] if not isinstance(g, BaseException) else g
        else:
            g = sorted(g) if not isinstance(g, BaseException) else g
        if g != w:
            wrong.append((i, op, (repr(g)[:40], repr(w)[:40])))
    assert not wrong, f"{len(wrong)} results differ from program order, first: {wrong[:3]}"


def _initial(zk: Client) -> Dict[str, bytes]:
    initial = {}
    for node in NODES:
        zk.create(node, b"init" + node.encode())
        initial[node] = b"init" + node.encode()
    return initial


@pytest.mark.parametrize("seed", [1, 2])
def test_pipelined_reads_and_writes_keep_program_order(zk_server: ZooKeeperServer, base: str,
                                                       seed: int) -> None:
    with Client(zk_server.hosts + base, max_buffer_size=MiB) as zk:
        initial = _initial(zk)
        ops = _program(seed, 3000)
        futs = []
        for op in ops:
            if op[0] == "get":
                futs.append(zk.get_async(op[1]))
            elif op[0] == "children":
                futs.append(zk.get_children_async(op[1]))
            elif op[0] == "set":
                futs.append(zk.set_async(op[1], op[2]))
            else:
                futs.append(zk.create_async(op[1]))
        got = [f.exception(60) or f.result() for f in futs]
        _check(ops, got, _expected(ops, initial))
        assert zk._engine.batches_sent > 10, "nothing was coalesced: the test would prove nothing"


def test_program_order_on_the_async_client(zk_server: ZooKeeperServer, base: str) -> None:
    async def main() -> None:
        async with AsyncClient(zk_server.hosts + base, max_buffer_size=MiB) as zk:
            initial = {}
            for node in NODES:
                await zk.create(node, b"init" + node.encode())
                initial[node] = b"init" + node.encode()
            ops = _program(3, 3000)
            calls = []
            for op in ops:
                if op[0] == "get":
                    calls.append(zk.get(op[1]))
                elif op[0] == "children":
                    calls.append(zk.get_children(op[1]))
                elif op[0] == "set":
                    calls.append(zk.set(op[1], op[2]))
                else:
                    calls.append(zk.create(op[1]))
            got = await asyncio.gather(*calls, return_exceptions=True)
            _check(ops, list(got), _expected(ops, initial))
            assert zk._engine.batches_sent > 10
    asyncio.run(main())


def test_many_threads_with_blocking_calls_keep_their_own_order(zk_server: ZooKeeperServer,
                                                               base: str) -> None:
    """Each thread's reads see its own earlier writes and never its later ones."""
    with Client(zk_server.hosts + base) as zk:
        problems: List[str] = []

        def worker(i: int) -> None:
            path = f"/w{i}"
            zk.create(path, b"0")
            for j in range(1, 300):
                zk.set(path, b"%d" % j)
                got = zk.get(path)[0]
                if got != b"%d" % j:
                    problems.append(f"{path}: wrote {j}, read {got!r}")
                    return

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not problems, problems[:3]
        assert zk._engine.batches_sent > 0


# ---------------------------------------------------------------- errors, watches, drops


def test_errors_inside_a_batch_are_each_callers_own(zk_server: ZooKeeperServer, base: str) -> None:
    with Client(zk_server.hosts + base) as zk:
        for i in range(0, 200, 2):
            zk.create(f"/n{i}", b"%d" % i)
        before = zk._engine.batches_sent
        futs = {i: zk.get_async(f"/n{i}") for i in range(200)}
        kids = zk.get_children_async("/nope")
        for i, f in futs.items():
            if i % 2:
                exc = f.exception(30)
                assert isinstance(exc, NoNodeError) and exc.path == f"/n{i}"
            else:
                assert f.result(30)[0] == b"%d" % i
        assert isinstance(kids.exception(30), NoNodeError)
        assert zk._engine.batches_sent > before


def test_watches_amid_coalesced_reads_fire_once_on_the_next_change(zk_server: ZooKeeperServer,
                                                                   base: str) -> None:
    with Client(zk_server.hosts + base) as zk, Client(zk_server.hosts + base) as other:
        zk.create("/w", b"0")
        log = EventLog()
        futs = []
        for i in range(300):
            futs.append(zk.get_async("/w", watch=log if i == 150 else None))
        assert all(f.result(30)[0] == b"0" for f in futs)
        assert zk._engine.batches_sent > 0
        other.set("/w", b"1")
        other.set("/w", b"2")
        events = log.wait(1)
        wait_until(lambda: zk.get("/w")[0] == b"2")
        assert len(log.events) == 1 and events[0].type == EventType.NODE_DATA_CHANGED


def test_a_drop_with_batches_in_flight_answers_every_caller_once(zk_proxy: TcpProxy,
                                                                 base: str) -> None:
    with Client(zk_proxy.hosts + base, session_timeout=6.0) as zk:
        zk.create("/n", b"v" * 1000)
        answers: Dict[int, List[Any]] = {}
        lock = threading.Lock()

        def done(i: int) -> Callable[[Any], None]:
            def cb(f: Any) -> None:
                with lock:
                    answers.setdefault(i, []).append(f.exception(0) or f.result(0))
            return cb

        futs = []
        for i in range(5000):
            f = zk.get_async("/n")
            f.add_done_callback(done(i))
            futs.append(f)
            if i == 2500:
                zk_proxy.drop_all()
        for f in futs:
            exc = f.exception(30)
            assert exc is None or isinstance(exc, ConnectionLossError), exc
        wait_until(lambda: len(answers) == 5000, timeout=30)
        assert all(len(a) == 1 for a in answers.values()), "a caller was answered twice"
        assert any(isinstance(a[0], ConnectionLossError) for a in answers.values())
        zk.wait_connected(15)
        assert zk.get("/n")[0] == b"v" * 1000


def test_coalescing_can_be_turned_off(zk_server: ZooKeeperServer, base: str) -> None:
    with Client(zk_server.hosts + base, coalesce_reads=False) as zk:
        zk.create("/n", b"v")
        futs = [zk.get_async("/n") for _ in range(2000)]
        assert all(f.result(30)[0] == b"v" for f in futs)
        assert zk._engine.batches_sent == 0 and not zk._engine.multi_read_ok


def test_a_batch_reply_over_max_buffer_size_fails_no_read(zk_server: ZooKeeperServer, base: str) -> None:
    """Eight 150 KiB values come back in one reply of 1.2 MiB: over the 1 MiB
    limit, within the batch's allowance (each read alone would have fit)."""
    with Client(zk_server.hosts + base, max_buffer_size=MiB) as zk:
        for i in range(8):
            zk.create(f"/big{i}", bytes([65 + i]) * BIG)
        zk.create("/small", b"s")
        before = zk._engine.batches_sent
        futs = [zk.get_async("/small")] + [zk.get_async(f"/big{i}") for i in range(8)] * 3
        for f in futs[1:]:
            value = f.result(30)[0]
            assert len(value) == BIG
        assert zk._engine.batches_sent > before


# ---------------------------------------------------------------- servers without multiRead


def test_a_server_without_multiread_gets_single_reads(zk_server: ZooKeeperServer, base: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Faked: the capability question goes out with an opcode this server does
    not know, and a 3.8 server then does what a 3.5 one does with multiRead:
    answers UNIMPLEMENTED and closes the connection. The client reconnects
    without asking again, and no request of the caller's is lost."""
    def probe_frames(self: SessionEngine) -> List[bytes]:
        if not self.coalesce_reads:
            return []
        probe = PendingRequest(9999, codec.KIND_MULTI, None,
                               lambda xid: struct.pack(">iii", 8, xid, 9999), ())
        probe.members = []
        self._probe = probe
        return [self.frame_for(probe)]

    monkeypatch.setattr(SessionEngine, "probe_frames", probe_frames)
    zk = Client(zk_server.hosts + base)
    states = States(zk)
    queued: List[Any] = []
    # calls made while the first connection is being made: they wait for it
    zk.add_listener(lambda s: None)
    starter = threading.Thread(target=zk.start, args=(15,))
    starter.start()
    wait_until(lambda: zk._session.started)
    queued = [zk.get_async("/") for _ in range(50)]
    starter.join(20)
    try:
        assert all(isinstance(f.result(15), tuple) for f in queued)
        zk.create("/n", b"v")
        futs = [zk.get_async("/n") for _ in range(2000)]
        assert all(f.result(30)[0] == b"v" for f in futs)
        assert zk._engine.batches_sent == 0 and not zk._engine.multi_read_ok
        assert states.count(State.SUSPENDED) == 0  # the retry happened inside connecting
    finally:
        zk.close()
