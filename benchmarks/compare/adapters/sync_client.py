"""Workloads of a client with blocking calls and ``*_async`` futures (zkfast.Client, kazoo)."""

from __future__ import annotations

import gc
from collections import deque
from time import perf_counter as _perf
from typing import Any, Dict, List

from ..catalogue import BIG, D100, KIDS
from .base import Adapter, check_children, ms_each, ops_per_second, run_gets, run_threads


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
        return [ops_per_second(n, t)]

    def get_pipelined(self, n: int) -> List[float]:
        ga = self.zk.get_async
        t0 = _perf()
        fs = [ga(D100) for _ in range(n)]
        for f in fs:
            f.get()
        t = _perf() - t0
        assert len(fs[-1].get()[0]) == self.plan["data_size"]
        return [ops_per_second(n, t)]

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
            out[name] = [ops_per_second(n, _perf() - t0)]
        zk.delete(base)
        return out

    def get_children(self, calls: int) -> List[float]:
        gc_ = self.zk.get_children
        check_children(len(gc_(KIDS)), self.plan["children"])  # warm-up
        return ms_each(lambda: gc_(KIDS), calls)

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
        return [ops_per_second(len(paths), _perf() - t0)]

    def get_big(self, calls: int) -> List[float]:
        get = self.zk.get
        assert len(get(BIG)[0]) == self.plan["big_size"]
        return ms_each(lambda: get(BIG), calls)

    def mixed(self, base: str, threads: int, ops: int) -> List[float]:
        zk = self.zk
        paths = [f"{base}-{t}" for t in range(threads)]
        for p in paths:
            zk.create(p, self.data)
        data = self.data
        return [run_threads(threads, ops, lambda t: (zk.get, zk.set, paths[t], data))]

    def get_threads(self, threads: int, ops: int) -> List[float]:
        return [run_gets(threads, ops, self.zk.get)]

    def get_children_at(self, path: str, expected: int, calls: int) -> List[float]:
        gc_ = self.zk.get_children
        check_children(len(gc_(path)), expected)  # warm-up
        return ms_each(lambda: gc_(path), calls)
