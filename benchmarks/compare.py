#!/usr/bin/env python
"""zkfast against kazoo, aiozk and a raw-socket ceiling, in one run on one server.

    python benchmarks/compare.py [--quick] [--json out.json] [--only workload,...]
                                 [--clients client,...] [--rounds N] [--text out.txt]

It starts its own ZooKeeper (``zkfast.testing.ZooKeeperServer``), builds the shared
test tree once with a raw pipelined socket, then runs every client in its own
subprocess (the zkfast codec backend is fixed per process, and a fresh process keeps
one client's garbage and threads from slowing the next). Clients are interleaved
round by round -- round 1 runs every client, then round 2 runs every client again --
so a noisy neighbour spreads over all clients instead of landing on one. The table
shows the BEST sample of each cell (max ops/s, min ms/MiB/s); the JSON also keeps every
sample and the median.

Clients (columns):
  zk-sync-cy / zk-sync-py   zkfast.Client with the Cython / pure-Python codec
  zk-aio-cy / zk-aio-py     zkfast.AsyncClient with the Cython / pure-Python codec
  kazoo                     kazoo.client.KazooClient (sync calls; ``*_async`` to pipeline)
  aiozk                     aiozk.ZKClient (asyncio; ``asyncio.gather`` to pipeline)
  raw                       pre-encoded jute frames on a plain socket; replies are only
                            split by their length prefix (and their err field checked):
                            the ceiling any Python client can reach here

Ratios are speedups: peer cost / zkfast cost, so > 1 always means zkfast is better
(faster, or less memory). Timings are never pass/fail here; see
tests/server/test_benchmarks_smoke.py for the CI smoke run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import json
import logging
import os
import platform
import resource
import select
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
_SRC = REPO / "src"
if (_SRC / "zkfast").is_dir() and str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))

_perf = time.perf_counter

# --------------------------------------------------------------------------- catalogue

CLIENTS: List[str] = ["zk-sync-cy", "zk-sync-py", "zk-aio-cy", "zk-aio-py", "kazoo", "aiozk", "raw"]
CLIENT_HELP = {
    "zk-sync-cy": "zkfast.Client, Cython codec",
    "zk-sync-py": "zkfast.Client, pure-Python codec (ZKFAST_NO_EXTENSIONS=1)",
    "zk-aio-cy": "zkfast.AsyncClient, Cython codec",
    "zk-aio-py": "zkfast.AsyncClient, pure-Python codec (ZKFAST_NO_EXTENSIONS=1)",
    "kazoo": "kazoo KazooClient: sync calls, *_async to pipeline",
    "aiozk": "aiozk ZKClient: asyncio.gather to pipeline",
    "raw": "raw socket: pre-encoded frames, replies split by length prefix only",
}

# name, unit, higher_is_better, label template (filled from the plan)
WORKLOADS: List[Tuple[str, str, bool, str]] = [
    ("get_sync", "ops/s", True, "get {data_size} B, synchronous, one at a time"),
    ("get_pipelined", "ops/s", True, "get {data_size} B, pipelined, {pipeline_n} in flight"),
    ("create_pipelined", "ops/s", True, "create {data_size} B, pipelined, {write_n} nodes"),
    ("set_pipelined", "ops/s", True, "set {data_size} B, pipelined, {write_n} nodes"),
    ("delete_pipelined", "ops/s", True, "delete, pipelined, {write_n} nodes"),
    ("get_children", "ms", False, "get_children of a node with {children} children (one call)"),
    ("scan_children", "ops/s", True, "get every one of {children} children, window {scan_window}"),
    ("get_900k", "ms", False, "get of a {big_kib} KiB node (one call)"),
    ("mixed_threads", "ops/s", True, "{mixed_threads} threads share one client, 80% get / 20% set"),
    ("rss_children", "MiB", False, "peak RSS growth during one get_children({children}) (VmHWM)"),
    ("pymem_children", "MiB", False, "tracemalloc peak of one get_children({children})"),
    ("treecache_load", "s", False, "TreeCache initial load of {children}+1 nodes"),
]
WORKLOAD_NAMES = [w[0] for w in WORKLOADS]
WORKLOAD_INFO = {w[0]: w for w in WORKLOADS}

# Cells that cannot exist, with the reason shown in the table / JSON.
NOT_APPLICABLE: Dict[Tuple[str, str], str] = {}
for _c in ("zk-aio-cy", "zk-aio-py", "aiozk", "raw"):
    NOT_APPLICABLE[("mixed_threads", _c)] = "threads sharing one client: sync clients only"
NOT_APPLICABLE[("treecache_load", "raw")] = "no cache in a raw socket"
NOT_APPLICABLE[("treecache_load", "aiozk")] = (
    "aiozk's TreeCache awaits one node at a time (~2 round trips a node); not measured")

# Ratio columns: (label, zkfast client, peer).
RATIOS: List[Tuple[str, str, str]] = [
    ("sync-cy/kazoo", "zk-sync-cy", "kazoo"),
    ("sync-py/kazoo", "zk-sync-py", "kazoo"),
    ("aio-cy/aiozk", "zk-aio-cy", "aiozk"),
    ("aio-py/aiozk", "zk-aio-py", "aiozk"),
    ("aio-py/kazoo", "zk-aio-py", "kazoo"),
    ("sync-cy/raw", "zk-sync-cy", "raw"),
    ("aio-cy/raw", "zk-aio-cy", "raw"),
    # not zkfast: the ceiling, i.e. the most any client can be ahead of kazoo here
    ("raw/kazoo", "raw", "kazoo"),
]

FULL_PLAN: Dict[str, Any] = {
    "rounds": 3,
    "data_size": 100,
    "sync_n": 20000,  # 1-2 s a sample: short runs swing with scheduling
    "pipeline_n": 50000,
    "write_n": 50000,
    "children": 100000,
    "children_calls": 5,
    "scan_window": 1000,
    "big_size": 900 * 1024,
    "big_calls": 20,
    "mixed_threads": 8,
    "mixed_ops": 1500,
    "treecache_rounds": 1,
    "warmup": 2000,
    "worker_timeout": 1200.0,
}
QUICK_PLAN: Dict[str, Any] = {
    "rounds": 1,
    "data_size": 100,
    "sync_n": 300,
    "pipeline_n": 3000,
    "write_n": 2000,
    "children": 3000,
    "children_calls": 2,
    "scan_window": 500,
    "big_size": 900 * 1024,
    "big_calls": 3,
    "mixed_threads": 8,
    "mixed_ops": 50,
    "treecache_rounds": 1,
    "warmup": 200,
    "worker_timeout": 120.0,
}

ROOT = "/zkfast-bench"
D100 = ROOT + "/d100"
BIG = ROOT + "/big"
KIDS = ROOT + "/kids"
WRITES = ROOT + "/w"
MIXED = ROOT + "/m"
MAX_BUFFER = 16 * 1024 * 1024


def kid_paths(n: int) -> List[str]:
    return [f"{KIDS}/{i:x}" for i in range(n)]  # short names: <= 5 hex digits for 100k


# --------------------------------------------------------------------------- raw jute

_I = struct.Struct(">i")
_REQ_HEAD = struct.Struct(">iii")  # frame length, xid, opcode
_LEN_ERR = struct.Struct(">i12xi")  # frame length, (xid, zxid skipped), err
_OPEN_ACL = None  # filled lazily


def _jstr(s: str) -> bytes:
    b = s.encode()
    return _I.pack(len(b)) + b


def _jbuf(b: Optional[bytes]) -> bytes:
    return _I.pack(-1) if b is None else _I.pack(len(b)) + b


def _jframe(xid: int, op: int, body: bytes) -> bytes:
    return _REQ_HEAD.pack(8 + len(body), xid, op) + body


def raw_get_data(xid: int, path: str) -> bytes:
    return _jframe(xid, 4, _jstr(path) + b"\0")


def raw_get_children(xid: int, path: str) -> bytes:
    return _jframe(xid, 8, _jstr(path) + b"\0")


def raw_create(xid: int, path: str, data: bytes) -> bytes:
    # one ACL: perms ALL (31), Id("world", "anyone"); flags 0 = persistent
    acl = _I.pack(1) + _I.pack(31) + _jstr("world") + _jstr("anyone")
    return _jframe(xid, 1, _jstr(path) + _jbuf(data) + acl + _I.pack(0))


def raw_set_data(xid: int, path: str, data: bytes) -> bytes:
    return _jframe(xid, 5, _jstr(path) + _jbuf(data) + _I.pack(-1))


def raw_delete(xid: int, path: str) -> bytes:
    return _jframe(xid, 2, _jstr(path) + _I.pack(-1))


class RawConn:
    """A session on a plain socket: pre-encoded frames out, length-prefix splitting in."""

    def __init__(self, hosts: str, timeout_ms: int = 40000) -> None:
        from zkfast.testing import parse_hosts, raw_connect  # hand-written ConnectRequest

        host, port = parse_hosts(hosts)[0]
        self.sock, resp = raw_connect(host, port, timeout_ms=timeout_ms, socket_timeout=60.0)
        if resp.timeout <= 0:
            raise RuntimeError("raw session refused")
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(None)
        self.buf = bytearray()
        # recv_into one reused buffer: a fresh 256 KiB bytes per recv() would cost an
        # mmap/munmap pair per reply, more than the rest of a small round trip.
        self.rbuf = bytearray(262144)
        self.rview = memoryview(self.rbuf)
        self.xid = 0

    def next_xid(self) -> int:
        self.xid += 1
        return self.xid

    def close(self) -> None:
        try:
            self.sock.sendall(_jframe(self.next_xid(), -11, b""))
        except OSError:
            pass
        self.sock.close()

    def roundtrip(self, frame: bytes) -> int:
        """Send one frame, return the size of its reply (raises on a non-zero err)."""
        sock = self.sock
        sock.sendall(frame)
        buf = self.buf
        recv_into = sock.recv_into
        rbuf, rview = self.rbuf, self.rview
        while True:
            if len(buf) >= 20:
                n, err = _LEN_ERR.unpack_from(buf, 0)
                if len(buf) >= n + 4:
                    del buf[:n + 4]
                    if err:
                        raise RuntimeError(f"raw request failed with err {err}")
                    return n
            got = recv_into(rbuf)
            if not got:
                raise ConnectionError("server closed the connection")
            buf += rview[:got]

    def pipeline(self, frames: Sequence[bytes], window: Optional[int] = None,
                 batch: int = 512) -> int:
        """Send ``frames`` with at most ``window`` unanswered; returns how many failed.

        One non-blocking loop: joins up to ``batch`` frames per send, splits every
        recv() by the 4-byte length prefix and counts non-zero err fields.
        """
        sock = self.sock
        sock.setblocking(False)
        poller = select.poll()
        fd = sock.fileno()
        poller.register(fd, select.POLLIN)
        total = len(frames)
        sent = received = errors = 0
        out: memoryview = memoryview(b"")
        buf = self.buf
        recv_into = sock.recv_into
        rbuf, rview = self.rbuf, self.rview
        send = sock.send
        unpack = _LEN_ERR.unpack_from
        want_out = False
        try:
            while received < total:
                if not out and sent < total:
                    k = min(batch, total - sent)
                    if window is not None:
                        k = min(k, window - (sent - received))
                    if k > 0:
                        out = memoryview(b"".join(frames[sent:sent + k]))
                        sent += k
                if out:
                    try:
                        m = send(out)
                        out = out[m:]
                    except BlockingIOError:
                        pass
                if bool(out) != want_out:
                    want_out = bool(out)
                    poller.modify(fd, select.POLLIN | (select.POLLOUT if want_out else 0))
                try:
                    got = recv_into(rbuf)
                except BlockingIOError:
                    poller.poll()
                    continue
                if not got:
                    raise ConnectionError("server closed the connection")
                buf += rview[:got]
                pos = 0
                end = len(buf)
                while end - pos >= 20:
                    n, err = unpack(buf, pos)
                    nxt = pos + 4 + n
                    if nxt > end:
                        break
                    if err:
                        errors += 1
                    received += 1
                    pos = nxt
                if pos:
                    del buf[:pos]
        finally:
            sock.setblocking(True)
        return errors


# --------------------------------------------------------------------------- setup

def build_tree(hosts: str, plan: Dict[str, Any], log: Callable[[str], None]) -> None:
    """The shared tree: d100, a big node, and the many-children node (raw pipelined)."""
    raw = RawConn(hosts)
    try:
        data = b"x" * plan["data_size"]
        x = raw.next_xid
        for path, value in ((ROOT, b""), (WRITES, b""), (MIXED, b""), (D100, data),
                            (BIG, b"b" * plan["big_size"]), (KIDS, b"")):
            raw.roundtrip(raw_create(x(), path, value))
        t0 = _perf()
        frames = [raw_create(x(), p, data) for p in kid_paths(plan["children"])]
        errs = raw.pipeline(frames, window=5000)
        if errs:
            raise RuntimeError(f"{errs} creates of the children failed")
        log(f"built {plan['children']} children in {_perf() - t0:.1f}s")
        warm_server(raw, plan, log)
    finally:
        raw.close()


def warm_server(raw: RawConn, plan: Dict[str, Any], log: Callable[[str], None]) -> None:
    """Run every request type through the server before round 1, so its JIT has
    compiled them and round 1's samples are not the slowest of every client's."""
    t0 = _perf()
    x = raw.next_xid
    n = max(200, plan["warmup"])
    data = b"x" * plan["data_size"]
    base = WRITES + "/warm"
    raw.roundtrip(raw_create(x(), base, b""))
    paths = [f"{base}/{i}" for i in range(n)]
    for frames in ([raw_get_data(x(), D100) for _ in range(25 * n)],
                   [raw_create(x(), p, data) for p in paths],
                   [raw_set_data(x(), p, data) for p in paths],
                   [raw_delete(x(), p) for p in paths]):
        if raw.pipeline(frames, window=5000):
            raise RuntimeError("server warm-up requests failed")
    for _ in range(2 * n):
        raw.roundtrip(raw_get_data(x(), D100))
    for _ in range(3):
        raw.roundtrip(raw_get_children(x(), KIDS))
        raw.roundtrip(raw_get_data(x(), BIG))
    raw.roundtrip(raw_delete(x(), base))
    log(f"server warmed up in {_perf() - t0:.1f}s")


# --------------------------------------------------------------------------- adapters

def _ms_each(call: Callable[[], Any], calls: int) -> List[float]:
    """Milliseconds of each of ``calls`` blocking calls; a result (a 100k-name list)
    is freed after its clock stops, so freeing it is not timed."""
    out = []
    for _ in range(calls):
        t0 = _perf()
        result = call()
        out.append((_perf() - t0) * 1000)
        del result
    return out


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


class Adapter:
    """One client under test. Each method returns a list of samples in the workload unit."""

    name = ""

    def __init__(self, hosts: str, plan: Dict[str, Any]) -> None:
        self.hosts = hosts
        self.plan = plan
        self.data = b"x" * plan["data_size"]

    def close(self) -> None: ...

    def warmup(self) -> None: ...

    def get_sync(self, n: int) -> List[float]: raise NotImplementedError

    def get_pipelined(self, n: int) -> List[float]: raise NotImplementedError

    def writes(self, base: str, n: int) -> Dict[str, List[float]]:
        """create, set, delete ``n`` nodes under ``base`` (pipelined); ops/s each."""
        raise NotImplementedError

    def get_children(self, calls: int) -> List[float]: raise NotImplementedError

    def scan(self, paths: List[str], window: int) -> List[float]: raise NotImplementedError

    def get_big(self, calls: int) -> List[float]: raise NotImplementedError

    def mixed(self, base: str, threads: int, ops: int) -> List[float]:
        raise NotImplementedError

    def treecache(self, expected: int) -> List[float]: raise NotImplementedError

    def children_once(self) -> int:
        """One get_children(KIDS) for the memory probe; returns the count, keeps nothing."""
        raise NotImplementedError


def _check_children(n: int, expected: int) -> None:
    if n != expected:
        raise AssertionError(f"get_children returned {n} names, expected {expected}")


class ThreadClientAdapter(Adapter):
    """The workloads of a client with blocking calls and ``*_async`` futures that
    have ``.get()``: zkfast.Client and kazoo share them (``self.zk`` is the client)."""

    zk: Any

    def warmup(self) -> None:
        zk = self.zk
        for _ in range(200):
            zk.get(D100)
        fs = [zk.get_async(D100) for _ in range(self.plan["warmup"])]
        for f in fs:
            f.get()

    def get_sync(self, n: int) -> List[float]:
        get = self.zk.get
        t0 = _perf()
        for _ in range(n):
            get(D100)
        t = _perf() - t0
        assert len(get(D100)[0]) == self.plan["data_size"]
        return [_rate(n, t)]

    def get_pipelined(self, n: int) -> List[float]:
        ga = self.zk.get_async
        t0 = _perf()
        fs = [ga(D100) for _ in range(n)]
        for f in fs:
            f.get()
        t = _perf() - t0
        assert len(fs[-1].get()[0]) == self.plan["data_size"]
        return [_rate(n, t)]

    def writes(self, base: str, n: int) -> Dict[str, List[float]]:
        zk = self.zk
        zk.create(base)
        paths = [f"{base}/{i}" for i in range(n)]
        data = self.data
        out: Dict[str, List[float]] = {}
        for name, call in (("create_pipelined", lambda p: zk.create_async(p, data)),
                           ("set_pipelined", lambda p: zk.set_async(p, data)),
                           ("delete_pipelined", zk.delete_async)):
            gc.collect()
            t0 = _perf()
            fs = [call(p) for p in paths]
            for f in fs:
                f.get()
            out[name] = [_rate(n, _perf() - t0)]
        zk.delete(base)
        return out

    def get_children(self, calls: int) -> List[float]:
        gc_ = self.zk.get_children
        _check_children(len(gc_(KIDS)), self.plan["children"])  # warm-up
        return _ms_each(lambda: gc_(KIDS), calls)

    def children_once(self) -> int:
        return len(self.zk.get_children(KIDS))

    def scan(self, paths: List[str], window: int) -> List[float]:
        ga = self.zk.get_async
        dq: deque = deque()
        pop, push = dq.popleft, dq.append
        t0 = _perf()
        for p in paths:
            if len(dq) >= window:
                pop().get()
            push(ga(p))
        while dq:
            pop().get()
        return [_rate(len(paths), _perf() - t0)]

    def get_big(self, calls: int) -> List[float]:
        get = self.zk.get
        assert len(get(BIG)[0]) == self.plan["big_size"]
        return _ms_each(lambda: get(BIG), calls)

    def mixed(self, base: str, threads: int, ops: int) -> List[float]:
        zk = self.zk
        paths = [f"{base}-{t}" for t in range(threads)]
        for p in paths:
            zk.create(p, self.data)
        data = self.data
        return [_run_threads(threads, ops, lambda t: (zk.get, zk.set, paths[t], data))]


class ZkSyncAdapter(ThreadClientAdapter):
    def __init__(self, hosts: str, plan: Dict[str, Any]) -> None:
        super().__init__(hosts, plan)
        import zkfast

        self.zk = zkfast.Client(hosts, max_buffer_size=MAX_BUFFER)
        self.zk.start()

    def close(self) -> None:
        self.zk.close()

    def treecache(self, expected: int) -> List[float]:
        return [_zkfast_treecache(self.zk, expected)]


def _run_threads(threads: int, ops: int, setup: Callable[[int], Tuple[Any, Any, str, bytes]]) -> float:
    """``threads`` threads, each ``ops`` calls: every 5th a set of its own node, else a get."""
    start = threading.Barrier(threads + 1)
    errors: List[BaseException] = []

    def body(t: int) -> None:
        get, set_, own, data = setup(t)
        start.wait()
        try:
            for i in range(ops):
                if i % 5 == 4:
                    set_(own, data)
                else:
                    get(D100)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=body, args=(t,)) for t in range(threads)]
    for th in ts:
        th.start()
    start.wait()
    t0 = _perf()
    for th in ts:
        th.join()
    t = _perf() - t0
    if errors:
        raise errors[0]
    return _rate(threads * ops, t)


def _zkfast_recipe(name: str) -> Any:
    try:
        import zkfast.recipe as recipe
    except ImportError:
        raise NotApplicable("TODO: zkfast.recipe does not exist yet (issue 5)")
    cls = getattr(recipe, name, None)
    if cls is None:
        raise NotApplicable(f"TODO: zkfast.recipe has no {name} yet (issue 5)")
    return cls


def _zkfast_treecache(zk: Any, expected: int) -> float:
    """Initial load of zkfast's TreeCache: start() until wait_initialized() returns."""
    tree_cache = _zkfast_recipe("TreeCache")
    t0 = _perf()
    tc = tree_cache(zk, KIDS).start()
    try:
        if not tc.wait_initialized(900):
            raise TimeoutError("zkfast TreeCache did not initialise in 900 s")
        t = _perf() - t0
        _check_children(len(tc.get_children(KIDS) or ()), expected)
    finally:
        tc.close()
    return t


class NotApplicable(Exception):
    pass


class AsyncClientAdapter(Adapter):
    """The workloads of an asyncio client (``self.zk``, run on ``self.loop``):
    zkfast.AsyncClient and aiozk share them; the hooks cover where their calls differ."""

    zk: Any
    loop: asyncio.AbstractEventLoop

    def set_call(self, path: str, data: bytes) -> Any:
        return self.zk.set(path, data)

    def delete_call(self, path: str) -> Any:
        return self.zk.delete(path)

    def start_call(self, aw: Any) -> Any:
        """Start a request without awaiting it (zkfast's calls already run when made)."""
        return aw

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.zk.close())
        self.loop.close()

    def warmup(self) -> None:
        async def go() -> None:
            zk = self.zk
            for _ in range(200):
                await zk.get(D100)
            await asyncio.gather(*[zk.get(D100) for _ in range(self.plan["warmup"])])
        self.run(go())

    def get_sync(self, n: int) -> List[float]:
        async def go() -> float:
            get = self.zk.get
            t0 = _perf()
            for _ in range(n):
                await get(D100)
            t = _perf() - t0
            assert len((await get(D100))[0]) == self.plan["data_size"]
            return _rate(n, t)
        return [self.run(go())]

    def get_pipelined(self, n: int) -> List[float]:
        async def go() -> float:
            get = self.zk.get
            t0 = _perf()
            res = await asyncio.gather(*[get(D100) for _ in range(n)])
            t = _perf() - t0
            assert len(res[-1][0]) == self.plan["data_size"]
            return _rate(n, t)
        return [self.run(go())]

    def writes(self, base: str, n: int) -> Dict[str, List[float]]:
        zk = self.zk
        data = self.data
        paths = [f"{base}/{i}" for i in range(n)]

        async def go() -> Dict[str, List[float]]:
            await zk.create(base)
            out = {}
            for name, call in (("create_pipelined", lambda p: zk.create(p, data)),
                               ("set_pipelined", lambda p: self.set_call(p, data)),
                               ("delete_pipelined", self.delete_call)):
                gc.collect()
                t0 = _perf()
                await asyncio.gather(*[call(p) for p in paths])
                out[name] = [_rate(n, _perf() - t0)]
            await self.delete_call(base)
            return out
        return self.run(go())

    def get_children(self, calls: int) -> List[float]:
        async def go() -> List[float]:
            gc_ = self.zk.get_children
            _check_children(len(await gc_(KIDS)), self.plan["children"])
            out = []
            for _ in range(calls):
                t0 = _perf()
                kids = await gc_(KIDS)
                out.append((_perf() - t0) * 1000)
                del kids
            return out
        return self.run(go())

    def children_once(self) -> int:
        async def go() -> int:
            return len(await self.zk.get_children(KIDS))
        return self.run(go())

    def scan(self, paths: List[str], window: int) -> List[float]:
        async def go() -> float:
            get = self.zk.get
            start = self.start_call
            dq: deque = deque()
            pop, push = dq.popleft, dq.append
            t0 = _perf()
            for p in paths:
                if len(dq) >= window:
                    await pop()
                push(start(get(p)))
            while dq:
                await pop()
            return _rate(len(paths), _perf() - t0)
        return [self.run(go())]

    def get_big(self, calls: int) -> List[float]:
        async def go() -> List[float]:
            get = self.zk.get
            assert len((await get(BIG))[0]) == self.plan["big_size"]
            out = []
            for _ in range(calls):
                t0 = _perf()
                await get(BIG)
                out.append((_perf() - t0) * 1000)
            return out
        return self.run(go())


class ZkAioAdapter(AsyncClientAdapter):
    def __init__(self, hosts: str, plan: Dict[str, Any]) -> None:
        super().__init__(hosts, plan)
        import zkfast

        self.loop = asyncio.new_event_loop()
        self.zk = zkfast.AsyncClient(hosts, max_buffer_size=MAX_BUFFER)
        self.run(self.zk.start())

    def treecache(self, expected: int) -> List[float]:
        tree_cache = _zkfast_recipe("AsyncTreeCache")

        async def go() -> float:
            t0 = _perf()
            tc = await tree_cache(self.zk, KIDS).start()
            try:
                if not await tc.wait_initialized(900):
                    raise TimeoutError("zkfast AsyncTreeCache did not initialise in 900 s")
                t = _perf() - t0
                _check_children(len(tc.get_children(KIDS) or ()), expected)
            finally:
                await tc.close()
            return t
        return [self.run(go())]


class KazooAdapter(ThreadClientAdapter):
    def __init__(self, hosts: str, plan: Dict[str, Any]) -> None:
        super().__init__(hosts, plan)
        from kazoo.client import KazooClient

        logging.getLogger("kazoo").setLevel(logging.ERROR)
        self.zk = KazooClient(hosts=hosts, timeout=15.0)
        self.zk.start(timeout=30)

    def close(self) -> None:
        self.zk.stop()
        self.zk.close()

    def treecache(self, expected: int) -> List[float]:
        from kazoo.recipe.cache import TreeCache, TreeEvent

        done = threading.Event()
        errors: List[BaseException] = []
        t0 = _perf()
        tc = TreeCache(self.zk, KIDS)
        tc.listen(lambda ev: ev.event_type == TreeEvent.INITIALIZED and done.set())
        tc.listen_fault(lambda e: (errors.append(e), done.set()))
        tc.start()
        if not done.wait(900):
            raise TimeoutError("kazoo TreeCache did not initialise in 900 s")
        t = _perf() - t0
        try:
            if errors:
                raise errors[0]
            _check_children(len(tc.get_children(KIDS)), expected)
        finally:
            tc.close()
        return [t]


class AiozkAdapter(AsyncClientAdapter):
    def __init__(self, hosts: str, plan: Dict[str, Any]) -> None:
        super().__init__(hosts, plan)
        import aiozk

        logging.getLogger("aiozk").setLevel(logging.CRITICAL)
        self.loop = asyncio.new_event_loop()
        self.zk = aiozk.ZKClient(hosts, session_timeout=30, read_timeout=30)
        self.run(self.zk.start())

    def set_call(self, path: str, data: bytes) -> Any:
        return self.zk.set(path, data, -1)

    def delete_call(self, path: str) -> Any:
        return self.zk.delete(path, force=True)

    def start_call(self, aw: Any) -> Any:
        return asyncio.ensure_future(aw)  # aiozk's calls are coroutines: schedule them


class RawAdapter(Adapter):
    def __init__(self, hosts: str, plan: Dict[str, Any]) -> None:
        super().__init__(hosts, plan)
        self.raw = RawConn(hosts)
        self.get_frame = raw_get_data(self.raw.next_xid(), D100)

    def close(self) -> None:
        self.raw.close()

    def warmup(self) -> None:
        for _ in range(200):
            self.raw.roundtrip(self.get_frame)
        self.raw.pipeline([self.get_frame] * self.plan["warmup"])

    def get_sync(self, n: int) -> List[float]:
        rt = self.raw.roundtrip
        f = self.get_frame
        t0 = _perf()
        for _ in range(n):
            rt(f)
        return [_rate(n, _perf() - t0)]

    def get_pipelined(self, n: int) -> List[float]:
        frames = [self.get_frame] * n
        t0 = _perf()
        errs = self.raw.pipeline(frames)
        t = _perf() - t0
        if errs:
            raise RuntimeError(f"{errs} gets failed")
        return [_rate(n, t)]

    def writes(self, base: str, n: int) -> Dict[str, List[float]]:
        raw = self.raw
        x = raw.next_xid
        raw.roundtrip(raw_create(x(), base, b""))
        paths = [f"{base}/{i}" for i in range(n)]
        out: Dict[str, List[float]] = {}
        for name, enc in (("create_pipelined", lambda p: raw_create(x(), p, self.data)),
                          ("set_pipelined", lambda p: raw_set_data(x(), p, self.data)),
                          ("delete_pipelined", lambda p: raw_delete(x(), p))):
            frames = [enc(p) for p in paths]  # pre-encoded: not timed
            t0 = _perf()
            errs = raw.pipeline(frames)
            out[name] = [_rate(n, _perf() - t0)]
            if errs:
                raise RuntimeError(f"{name}: {errs} requests failed")
        raw.roundtrip(raw_delete(x(), base))
        return out

    def get_children(self, calls: int) -> List[float]:
        f = raw_get_children(self.raw.next_xid(), KIDS)
        rt = self.raw.roundtrip
        rt(f)
        return _ms_each(lambda: rt(f), calls)

    def children_once(self) -> int:
        # the raw client keeps only the reply bytes; count the names to prove it is all there
        sock = self.raw.sock
        sock.sendall(raw_get_children(self.raw.next_xid(), KIDS))
        buf = bytearray()
        while len(buf) < 4 or len(buf) < 4 + _I.unpack_from(buf, 0)[0]:
            buf += sock.recv(262144)
        return _I.unpack_from(buf, 20)[0]

    def scan(self, paths: List[str], window: int) -> List[float]:
        x = self.raw.next_xid
        frames = [raw_get_data(x(), p) for p in paths]
        t0 = _perf()
        errs = self.raw.pipeline(frames, window=window, batch=min(512, window))
        t = _perf() - t0
        if errs:
            raise RuntimeError(f"{errs} gets failed")
        return [_rate(len(paths), t)]

    def get_big(self, calls: int) -> List[float]:
        f = raw_get_data(self.raw.next_xid(), BIG)
        rt = self.raw.roundtrip
        rt(f)
        return _ms_each(lambda: rt(f), calls)


ADAPTERS = {
    "zk-sync-cy": ZkSyncAdapter,
    "zk-sync-py": ZkSyncAdapter,
    "zk-aio-cy": ZkAioAdapter,
    "zk-aio-py": ZkAioAdapter,
    "kazoo": KazooAdapter,
    "aiozk": AiozkAdapter,
    "raw": RawAdapter,
}


# --------------------------------------------------------------------------- worker

def _want_backend(client: str) -> Optional[str]:
    if client.startswith("zk-"):
        return "cython" if client.endswith("-cy") else "python"
    return None


def worker_main(args: argparse.Namespace) -> int:
    """One client, one round (or the memory probe); writes {workload: cell} JSON."""
    plan = json.loads(Path(args.plan).read_text())
    client = args.worker
    results: Dict[str, Any] = {}
    meta: Dict[str, Any] = {"pid": os.getpid()}

    def save() -> None:
        Path(args.out).write_text(json.dumps({"results": results, "meta": meta}))

    want = _want_backend(client)
    if want is not None:
        import zkfast

        meta["backend"] = zkfast.codec_backend
        if zkfast.codec_backend != want:
            reason = (f"codec backend is {zkfast.codec_backend!r}, wanted {want!r}"
                      + (" (build it: python setup.py build_ext --inplace)" if want == "cython" else ""))
            for w in plan["workloads"]:
                results[w] = {"na": reason}
            save()
            return 0

    peer_module = {"kazoo": "kazoo", "aiozk": "aiozk"}.get(client)
    if peer_module is not None:
        try:
            __import__(peer_module)
        except ImportError as e:
            for w in plan["workloads"]:
                results[w] = {"na": f"{peer_module} not installed (pip install 'zkfast[bench]'): {e}"}
            save()
            return 0

    if args.probe == "memory":
        return _memory_probe(client, plan, args, results, meta, save)

    adapter = ADAPTERS[client](args.hosts, plan)
    try:
        adapter.warmup()
        todo = plan["workloads"]

        def measure(w: str, fn: Callable[[], List[float]]) -> None:
            if w not in todo:
                return
            if (w, client) in NOT_APPLICABLE:
                results[w] = {"na": NOT_APPLICABLE[(w, client)]}
                return
            gc.collect()
            try:
                results[w] = {"samples": fn()}
            except NotApplicable as e:
                results[w] = {"na": str(e)}
            except Exception as e:  # noqa: BLE001 - a failing cell must not hide the others
                results[w] = {"error": f"{type(e).__name__}: {e}",
                              "traceback": traceback.format_exc(limit=6)}
            save()

        measure("get_sync", lambda: adapter.get_sync(plan["sync_n"]))
        measure("get_pipelined", lambda: adapter.get_pipelined(plan["pipeline_n"]))
        wnames = ["create_pipelined", "set_pipelined", "delete_pipelined"]
        if any(w in todo for w in wnames):
            gc.collect()
            try:
                res = adapter.writes(f"{WRITES}/{client}-r{args.round}", plan["write_n"])
                for w in wnames:
                    if w in todo:
                        results[w] = {"samples": res[w]}
            except Exception as e:  # noqa: BLE001
                for w in wnames:
                    if w in todo:
                        results[w] = {"error": f"{type(e).__name__}: {e}",
                                      "traceback": traceback.format_exc(limit=6)}
            save()
        measure("get_children", lambda: adapter.get_children(plan["children_calls"]))
        measure("scan_children", lambda: adapter.scan(kid_paths(plan["children"]), plan["scan_window"]))
        measure("get_900k", lambda: adapter.get_big(plan["big_calls"]))
        measure("mixed_threads", lambda: adapter.mixed(f"{MIXED}/{client}-r{args.round}",
                                                         plan["mixed_threads"], plan["mixed_ops"]))
        if args.round < plan["treecache_rounds"]:
            measure("treecache_load", lambda: adapter.treecache(plan["children"]))
    finally:
        try:
            adapter.close()
        except Exception:  # noqa: BLE001
            pass
    save()
    return 0


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _proc_status_mib(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0  # kB
    raise OSError(f"no {key} in /proc/self/status")


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class PeakRSS:
    """Peak RSS growth across a block, in MiB.

    ru_maxrss alone is useless in a subprocess: Linux carries the parent's peak across
    fork+exec, so a child smaller than its parent never moves it. VmHWM can be reset
    through /proc/self/clear_refs; ru_maxrss is only the fallback.
    """

    def __enter__(self) -> "PeakRSS":
        self.method = "VmHWM" if _reset_peak_rss() else "ru_maxrss"
        self.before = _proc_status_mib("VmRSS") if self.method == "VmHWM" else _maxrss_mib()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.after = _proc_status_mib("VmHWM") if self.method == "VmHWM" else _maxrss_mib()
        self.growth = max(0.0, self.after - self.before)


def _memory_probe(client: str, plan: Dict[str, Any], args: argparse.Namespace,
                  results: Dict[str, Any], meta: Dict[str, Any], save: Callable[[], None]) -> int:
    """In a fresh process: RSS growth and tracemalloc peak of one big get_children."""
    todo = [w for w in ("rss_children", "pymem_children") if w in plan["workloads"]]
    if not todo:
        save()
        return 0
    adapter = ADAPTERS[client](args.hosts, plan)
    try:
        adapter.get_sync(20)  # light warm-up only: ru_maxrss shows growth past the old peak
        gc.collect()
        with PeakRSS() as rss:
            n = adapter.children_once()
        _check_children(n, plan["children"])
        meta.update(rss_method=rss.method, rss_before_mib=rss.before, rss_peak_mib=rss.after)
        results["rss_children"] = {"samples": [rss.growth]}
        if "pymem_children" in todo:
            import tracemalloc

            gc.collect()
            tracemalloc.start()
            n = adapter.children_once()
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            results["pymem_children"] = {"samples": [peak / 2**20]}
    except Exception as e:  # noqa: BLE001
        for w in todo:
            results.setdefault(w, {"error": f"{type(e).__name__}: {e}",
                                   "traceback": traceback.format_exc(limit=6)})
    finally:
        try:
            adapter.close()
        except Exception:  # noqa: BLE001
            pass
    save()
    return 0


# --------------------------------------------------------------------------- parent

def _git(*args: str) -> Optional[str]:
    try:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    except Exception:  # noqa: BLE001
        return None


def machine_info(server: Any) -> Dict[str, Any]:
    import zkfast

    info: Dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "nproc_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": sys.version.split()[0],
        "python_impl": platform.python_implementation(),
        "platform": platform.platform(),
        "zkfast_version": zkfast.__version__,
        "zkfast_backend_default": zkfast.codec_backend,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "loadavg_start": list(os.getloadavg()),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["mem_total_mib"] = int(line.split()[1]) // 1024
                break
    except OSError:
        pass
    for mod in ("kazoo", "aiozk"):
        try:
            from importlib.metadata import version
            info[f"{mod}_version"] = version(mod)
        except Exception:  # noqa: BLE001
            info[f"{mod}_version"] = None
    try:
        srvr = server.four_letter("srvr")
        info["zookeeper"] = srvr.splitlines()[0].split(":", 1)[1].strip()
    except Exception:  # noqa: BLE001
        info["zookeeper"] = None
    return info


def _worker_env(client: str) -> Dict[str, str]:
    env = dict(os.environ)
    env.pop("ZKFAST_NO_EXTENSIONS", None)
    if client.endswith("-py"):
        env["ZKFAST_NO_EXTENSIONS"] = "1"
    pp = [str(_SRC)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(pp)
    return env


def run_worker(client: str, hosts: str, plan_path: str, plan: Dict[str, Any], rnd: int,
               probe: Optional[str], tmp: str, log: Callable[[str], None]) -> Dict[str, Any]:
    out = os.path.join(tmp, f"{client}-{rnd}-{probe or 'main'}.json")
    # Workers run a copy of this script taken at start, so editing compare.py during a
    # long run cannot change the measurement half-way through.
    script = os.path.join(tmp, "compare_snapshot.py")
    cmd = [sys.executable, script, "--worker", client, "--hosts", hosts,
           "--plan", plan_path, "--round", str(rnd), "--out", out]
    if probe:
        cmd += ["--probe", probe]
    t0 = _perf()
    try:
        proc = subprocess.run(cmd, env=_worker_env(client), capture_output=True, text=True,
                              timeout=plan["worker_timeout"])
        rc, err = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired as e:
        rc, err = None, f"worker timed out after {plan['worker_timeout']} s; {e.stderr!r}"[-2000:]
    data: Dict[str, Any] = {"results": {}, "meta": {}}
    if os.path.exists(out):
        data = json.loads(Path(out).read_text())
    if rc != 0:
        msg = f"worker exit {rc}: {(err or '').strip()[-800:]}"
        for w in plan["workloads"]:
            data["results"].setdefault(w, {"error": msg})
    data["meta"]["seconds"] = round(_perf() - t0, 2)
    log(f"  {client:<11} round {rnd + 1}{' (' + probe + ')' if probe else ''}: "
        f"{data['meta']['seconds']:.1f}s")
    return data


def aggregate(samples: Dict[Tuple[str, str], List[Any]]) -> Dict[str, Dict[str, Any]]:
    """Per (workload, client) cell: best, median, all samples -- or na/error."""
    table: Dict[str, Dict[str, Any]] = {}
    for (w, c), cells in samples.items():
        _, unit, higher, _ = WORKLOAD_INFO[w]
        vals: List[float] = []
        errors = [x["error"] for x in cells if "error" in x]
        na = [x["na"] for x in cells if "na" in x]
        for x in cells:
            vals += x.get("samples", [])
        if vals:
            best = max(vals) if higher else min(vals)
            cell: Dict[str, Any] = {"best": best, "median": statistics.median(vals),
                                    "samples": vals, "unit": unit}
            if errors:
                cell["errors"] = errors
        elif errors:
            cell = {"error": errors[0], "unit": unit}
        elif na:
            cell = {"na": na[0], "unit": unit}
        else:
            cell = {"na": "not measured", "unit": unit}
        table.setdefault(w, {})[c] = cell
    return table


def ratios(table: Dict[str, Dict[str, Any]], stat: str = "best") -> Dict[str, Dict[str, Optional[float]]]:
    out: Dict[str, Dict[str, Optional[float]]] = {}
    for w, cells in table.items():
        higher = WORKLOAD_INFO[w][2]
        row: Dict[str, Optional[float]] = {}
        for label, zk, peer in RATIOS:
            a, b = cells.get(zk, {}).get(stat), cells.get(peer, {}).get(stat)
            if a and b:
                row[label] = a / b if higher else b / a
            else:
                row[label] = None
        out[w] = row
    return out


def _fmt(v: Optional[float]) -> str:
    if v is None:
        return "-"
    if v >= 10000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _tables(report: Dict[str, Any], wl: List[str], clients: List[str], width: int,
            stat: str) -> List[str]:
    """The value table and the ratio table of one statistic."""
    lines = [f"== {stat.upper()} of all samples "
             f"({'max ops/s, min ms/MiB/s' if stat == 'best' else 'median'}) ==", ""]
    colw = max(11, *(len(c) + 1 for c in clients))
    head = f"{'workload':<{width}}{'unit':<7}" + "".join(f"{c:>{colw}}" for c in clients)
    lines += [head, "-" * len(head)]
    for w in wl:
        row = f"{w:<{width}}{WORKLOAD_INFO[w][1]:<7}"
        for c in clients:
            cell = report["table"][w].get(c, {})
            if stat in cell:
                txt = _fmt(cell[stat])
            elif "error" in cell:
                txt = "ERROR"
            else:
                txt = "n/a"
            row += f"{txt:>{colw}}"
        lines.append(row)
    lines += ["", f"ratios of the {stat} (speedup = peer cost / zkfast cost; "
                  "> 1 means zkfast is better):"]
    rl = [r[0] for r in RATIOS]
    rw = max(len(x) for x in rl) + 2
    head = f"{'workload':<{width}}" + "".join(f"{x:>{rw}}" for x in rl)
    lines += [head, "-" * len(head)]
    rat = ratios(report["table"], stat)
    for w in wl:
        row = f"{w:<{width}}"
        for x in rl:
            v = rat[w].get(x)
            row += f"{(f'{v:.2f}x' if v is not None else '-'):>{rw}}"
        lines.append(row)
    return lines + [""]


def render(report: Dict[str, Any], stat: str = "best") -> str:
    m = report["machine"]
    plan = report["plan"]
    clients = report["clients"]
    lines = [
        f"zkfast peer comparison -- {m['date']}",
        f"machine: {m.get('cpu', '?')}, nproc={m['nproc']} (usable {m.get('nproc_usable')}), "
        f"{m.get('mem_total_mib', '?')} MiB, {m['platform']}",
        f"python {m['python']}; zkfast {m['zkfast_version']} (default backend "
        f"{m['zkfast_backend_default']}); git {str(m['git_commit'])[:12]}"
        f"{' +uncommitted changes' if m['git_dirty'] else ''}; kazoo {m.get('kazoo_version')}; "
        f"aiozk {m.get('aiozk_version')}; {m.get('zookeeper')}",
        f"load average at start {m['loadavg_start']}, at end {m.get('loadavg_end')}",
        f"server JVM flags added to zkfast.testing's defaults: {' '.join(m.get('server_jvm_flags', []))}",
        f"mode: {'QUICK (small N, smoke only)' if report['quick'] else 'full'}; "
        f"{plan['rounds']} round(s), clients interleaved per round. Headline: the "
        f"{stat.upper()} sample of each cell (max ops/s, min ms/MiB/s); the median follows. "
        "JSON keeps all samples.",
        "",
    ]
    wl = [w for w in WORKLOAD_NAMES if w in report["table"]]
    labels = {w: WORKLOAD_INFO[w][3].format(big_kib=plan["big_size"] // 1024, **plan) for w in wl}
    width = max(len(w) for w in wl) + 2
    for st in (stat, "median") if stat != "median" else (stat,):
        lines += _tables(report, wl, clients, width, st)
    lines += ["", "workloads:"]
    lines += [f"  {w:<{width}}{labels[w]}" for w in wl]
    lines += ["", "clients:"]
    lines += [f"  {c:<12}{CLIENT_HELP[c]}" for c in clients]
    notes = []
    for w in wl:
        for c in clients:
            cell = report["table"][w].get(c, {})
            if "error" in cell:
                notes.append(f"  ERROR {w} / {c}: {cell['error'][:300]}")
            elif "na" in cell and (w, c) not in NOT_APPLICABLE:
                notes.append(f"  n/a   {w} / {c}: {cell['na']}")
            if "errors" in cell:
                notes.append(f"  (some rounds failed) {w} / {c}: {cell['errors'][0][:200]}")
    seen = set()
    for (w, c), why in NOT_APPLICABLE.items():
        if w in wl and c in clients and (w, why) not in seen:
            seen.add((w, why))
    if notes:
        lines += ["", "notes:"] + notes
    lines += ["", f"total wall time {report['seconds']:.0f} s"]
    return "\n".join(lines) + "\n"


def parent_main(args: argparse.Namespace) -> int:
    from zkfast.testing import ZooKeeperServer

    plan = dict(QUICK_PLAN if args.quick else FULL_PLAN)
    if args.rounds:
        plan["rounds"] = args.rounds
    for kv in args.set or []:
        k, _, v = kv.partition("=")
        if k not in plan:
            raise SystemExit(f"--set: unknown plan key {k!r} (have {sorted(plan)})")
        plan[k] = type(plan[k])(v)
    only = [w.strip() for w in args.only.split(",")] if args.only else list(WORKLOAD_NAMES)
    bad = [w for w in only if w not in WORKLOAD_NAMES]
    if bad:
        raise SystemExit(f"unknown workload(s) {bad}; choose from {WORKLOAD_NAMES}")
    plan["workloads"] = only
    clients = [c.strip() for c in args.clients.split(",")] if args.clients else list(CLIENTS)
    bad = [c for c in clients if c not in CLIENTS]
    if bad:
        raise SystemExit(f"unknown client(s) {bad}; choose from {CLIENTS}")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t_start = _perf()
    samples: Dict[Tuple[str, str], List[Any]] = {(w, c): [] for w in only for c in clients}
    workers: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="zkfast-bench-") as tmp, \
            ZooKeeperServer(jvm_flags=["-Xmx1g", *(args.server_flag or [])]) as server:
        hosts = server.hosts
        log(f"ZooKeeper on {hosts}")
        machine = machine_info(server)
        machine["server_jvm_flags"] = ["-Xmx1g", *(args.server_flag or [])]
        build_tree(hosts, plan, log)
        shutil.copyfile(Path(__file__).resolve(), os.path.join(tmp, "compare_snapshot.py"))
        plan_path = os.path.join(tmp, "plan.json")
        Path(plan_path).write_text(json.dumps(plan))
        main_w = [w for w in only if w not in ("rss_children", "pymem_children")]
        mem_w = [w for w in only if w in ("rss_children", "pymem_children")]
        for rnd in range(plan["rounds"]):
            log(f"round {rnd + 1}/{plan['rounds']}")
            for c in clients:
                for probe, ws in ((None, main_w), ("memory", mem_w)):
                    if not ws:
                        continue
                    data = run_worker(c, hosts, plan_path, plan, rnd, probe, tmp, log)
                    workers.append({"client": c, "round": rnd, "probe": probe, **data["meta"]})
                    for w in ws:
                        if w in data["results"]:
                            samples[(w, c)].append(data["results"][w])
                        elif (w, c) in NOT_APPLICABLE:
                            samples[(w, c)].append({"na": NOT_APPLICABLE[(w, c)]})
        machine["loadavg_end"] = list(os.getloadavg())
    table = aggregate(samples)
    report = {
        "quick": args.quick,
        "statistic": "best",
        "statistic_note": "best = max ops/s or min ms/MiB/s over all samples; median also given",
        "machine": machine,
        "plan": plan,
        "clients": clients,
        "client_help": {c: CLIENT_HELP[c] for c in clients},
        "workloads": {w: {"unit": WORKLOAD_INFO[w][1], "higher_is_better": WORKLOAD_INFO[w][2],
                          "label": WORKLOAD_INFO[w][3].format(big_kib=plan["big_size"] // 1024, **plan)}
                      for w in only},
        "table": table,
        "ratios": ratios(table),
        "ratios_median": ratios(table, "median"),
        "ratio_note": "peer cost / zkfast cost: > 1 means zkfast is faster or smaller",
        "workers": workers,
        "seconds": round(_perf() - t_start, 1),
    }
    return write_report(report, args)


def write_report(report: Dict[str, Any], args: argparse.Namespace) -> int:
    """Print the tables of ``report``; write them (--text) and the report (--json)."""
    text = render(report)
    if args.header:
        text = "".join(f"# {line}\n" for line in args.header.split("\\n")) + "\n" + text
    sys.stdout.write(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    if args.text:
        Path(args.text).parent.mkdir(parents=True, exist_ok=True)
        Path(args.text).write_text(text)
    table = report["table"]
    failed = [(w, c) for w in table for c, cell in table[w].items() if "error" in cell]
    return 1 if (failed and args.strict) else 0


def rerender(path: str, args: argparse.Namespace) -> int:
    """The tables of a saved --json report again, with this file's ratio columns."""
    report = json.loads(Path(path).read_text())
    report["ratios"] = ratios(report["table"])
    report["ratios_median"] = ratios(report["table"], "median")
    return write_report(report, args)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small N: a smoke run (< 60 s)")
    p.add_argument("--json", help="write the full report (machine info, samples) here")
    p.add_argument("--text", help="also write the table here")
    p.add_argument("--only", help=f"comma-separated workloads: {','.join(WORKLOAD_NAMES)}")
    p.add_argument("--clients", help=f"comma-separated clients: {','.join(CLIENTS)}")
    p.add_argument("--rounds", type=int, help="rounds (each client once per round)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a plan size, e.g. --set write_n=10000")
    p.add_argument("--header", help="free text put at the top of the table (\\n for new lines)")
    p.add_argument("--server-flag", action="append", metavar="FLAG",
                   help="extra JVM flag for the benchmark's ZooKeeper (after zkfast.testing's "
                        "defaults, so it wins), e.g. -Dzookeeper.preAllocSize=65536")
    p.add_argument("--strict", action="store_true", help="exit 1 if any cell failed")
    p.add_argument("--render", metavar="REPORT_JSON",
                   help="run nothing: print (and --text/--json) the tables of a saved report")
    # internal: one client in a subprocess
    p.add_argument("--worker", choices=CLIENTS, help=argparse.SUPPRESS)
    p.add_argument("--hosts", help=argparse.SUPPRESS)
    p.add_argument("--plan", help=argparse.SUPPRESS)
    p.add_argument("--round", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--probe", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker_main(args)
    if args.render:
        return rerender(args.render, args)
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
