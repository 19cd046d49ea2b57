"""zkfast's own columns: Client and AsyncClient (the codec backend is fixed per process)."""

from __future__ import annotations

import asyncio
import inspect
import os
from time import perf_counter as _perf
from typing import Any, Dict, List

from ..catalogue import KIDS, MAX_BUFFER
from .async_client import AsyncClientAdapter
from .base import NotApplicable, check_children
from .sync_client import ThreadClientAdapter


# The runner sets ZKFAST_BENCH_COALESCE=0 for an ``@nc`` column (coalesce_reads=False).
COALESCE_ENV = "ZKFAST_BENCH_COALESCE"


def client_options(cls: Any) -> Dict[str, Any]:
    """Constructor options of a zkfast column; an older zkfast (a ``@base`` column) gets
    only what it has."""
    opts: Dict[str, Any] = {"max_buffer_size": MAX_BUFFER}
    if os.environ.get(COALESCE_ENV, "1") == "0":
        if "coalesce_reads" not in inspect.signature(cls).parameters:
            raise NotApplicable("this zkfast has no coalesce_reads option (it never coalesces)")
        opts["coalesce_reads"] = False
    return opts


def engine_counters(zk: Any) -> Dict[str, int]:
    """The engine's frame/batch counters (issue 15), where this zkfast has them."""
    session = getattr(zk, "_session", None)
    engine = getattr(session, "engine", None) or getattr(zk, "_engine", None)
    return {k: getattr(engine, k) for k in ("frames_sent", "batches_sent", "batched_reads")
            if isinstance(getattr(engine, k, None), int)}


class ZkSyncAdapter(ThreadClientAdapter):
    def __init__(self, hosts: str, plan: Dict[str, Any]) -> None:
        super().__init__(hosts, plan)
        import zkfast

        self.zk = zkfast.Client(hosts, **client_options(zkfast.Client))
        self.zk.start()

    def close(self) -> None:
        self.zk.close()

    def counters(self) -> Dict[str, int]:
        return engine_counters(self.zk)

    def treecache(self, expected: int) -> List[float]:
        return [zkfast_treecache(self.zk, expected)]


def zkfast_recipe(name: str) -> Any:
    try:
        import zkfast.recipe as recipe
    except ImportError:
        raise NotApplicable("TODO: zkfast.recipe does not exist yet (issue 5)")
    cls = getattr(recipe, name, None)
    if cls is None:
        raise NotApplicable(f"TODO: zkfast.recipe has no {name} yet (issue 5)")
    return cls


def zkfast_treecache(zk: Any, expected: int) -> float:
    """Initial load of zkfast's TreeCache: start() until wait_initialized() returns."""
    tree_cache = zkfast_recipe("TreeCache")
    t0 = _perf()
    tc = tree_cache(zk, KIDS).start()
    try:
        if not tc.wait_initialized(900):
            raise TimeoutError("zkfast TreeCache did not initialise in 900 s")
        t = _perf() - t0
        check_children(len(tc.get_children(KIDS) or ()), expected)
    finally:
        tc.close()
    return t


class ZkAioAdapter(AsyncClientAdapter):
    def __init__(self, hosts: str, plan: Dict[str, Any]) -> None:
        super().__init__(hosts, plan)
        import zkfast

        self.loop = asyncio.new_event_loop()
        self.zk = zkfast.AsyncClient(hosts, **client_options(zkfast.AsyncClient))
        self.run(self.zk.start())

    def counters(self) -> Dict[str, int]:
        return engine_counters(self.zk)

    def treecache(self, expected: int) -> List[float]:
        tree_cache = zkfast_recipe("AsyncTreeCache")

        async def go() -> float:
            t0 = _perf()
            tc = await tree_cache(self.zk, KIDS).start()
            try:
                if not await tc.wait_initialized(900):
                    raise TimeoutError("zkfast AsyncTreeCache did not initialise in 900 s")
                t = _perf() - t0
                check_children(len(tc.get_children(KIDS) or ()), expected)
            finally:
                await tc.close()
            return t
        return [self.run(go())]
