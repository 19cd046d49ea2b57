"""zkfast.kazoo's columns: kazoo's API (KazooClient, *_async to pipeline, its TreeCache)
on zkfast (the codec backend is fixed per process)."""

from __future__ import annotations

import threading
from time import perf_counter as _perf
from typing import Any, Dict, List

from ..catalogue import KIDS
from .base import check_children
from .sync_client import ThreadClientAdapter


class ZkKazooAdapter(ThreadClientAdapter):
    def __init__(self, hosts: str, plan: Dict[str, Any]) -> None:
        super().__init__(hosts, plan)
        from zkfast.kazoo.client import KazooClient

        self.zk = KazooClient(hosts=hosts, timeout=15.0)
        self.zk.start(timeout=30)

    def close(self) -> None:
        self.zk.stop()
        self.zk.close()

    def treecache(self, expected: int) -> List[float]:
        from zkfast.kazoo.recipe.cache import TreeCache, TreeEvent

        done = threading.Event()
        errors: List[BaseException] = []
        t0 = _perf()
        tc = TreeCache(self.zk, KIDS)
        tc.listen(lambda ev: ev.event_type == TreeEvent.INITIALIZED and done.set())
        tc.listen_fault(lambda e: (errors.append(e), done.set()))
        tc.start()
        if not done.wait(900):
            raise TimeoutError("zkfast.kazoo TreeCache did not initialise in 900 s")
        t = _perf() - t0
        try:
            if errors:
                raise errors[0]
            check_children(len(tc.get_children(KIDS)), expected)
        finally:
            tc.close()
        return [t]
