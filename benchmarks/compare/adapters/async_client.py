"""Workloads of an asyncio client (zkfast.AsyncClient, aiozk)."""

from __future__ import annotations

import asyncio
import gc
from collections import deque
from time import perf_counter as _perf
from typing import Any, Dict, List

from ..catalogue import BIG, D100, KIDS
from .base import Adapter, check_children, ops_per_second


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
            return ops_per_second(n, t)
        return [self.run(go())]

    def get_pipelined(self, n: int) -> List[float]:
        async def go() -> float:
            get = self.zk.get
            t0 = _perf()
            res = await asyncio.gather(*[get(D100) for _ in range(n)])
            t = _perf() - t0
            assert len(res[-1][0]) == self.plan["data_size"]
            return ops_per_second(n, t)
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
                out[name] = [ops_per_second(n, _perf() - t0)]
            await self.delete_call(base)
            return out
        return self.run(go())

    def get_children(self, calls: int) -> List[float]:
        async def go() -> List[float]:
            gc_ = self.zk.get_children
            check_children(len(await gc_(KIDS)), self.plan["children"])
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
            return ops_per_second(len(paths), _perf() - t0)
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

    def get_children_at(self, path: str, expected: int, calls: int) -> List[float]:
        async def go() -> List[float]:
            gc_ = self.zk.get_children
            check_children(len(await gc_(path)), expected)
            out = []
            for _ in range(calls):
                t0 = _perf()
                kids = await gc_(path)
                out.append((_perf() - t0) * 1000)
                del kids
            return out
        return self.run(go())
