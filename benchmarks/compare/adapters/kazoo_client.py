"""kazoo's API columns: kazoo itself (``kazoo``) and zkfast.kazoo, kazoo's API on
zkfast (``zk-kazoo-*``): KazooClient, ``*_async`` to pipeline, and its TreeCache.
The two run the same code; only the package they import differs."""

from __future__ import annotations

import importlib
import logging
import threading
from time import perf_counter as _perf
from typing import Any, Dict, List

from ..catalogue import KIDS
from .base import check_children
from .sync_client import ThreadClientAdapter


class KazooAdapter(ThreadClientAdapter):
    package = "kazoo"  # the kazoo API's top package: "kazoo" or "zkfast.kazoo"

    def __init__(self, hosts: str, plan: Dict[str, Any]) -> None:
        super().__init__(hosts, plan)
        client = importlib.import_module(f"{self.package}.client")

        logging.getLogger("kazoo").setLevel(logging.ERROR)
        self.zk = client.KazooClient(hosts=hosts, timeout=15.0)
        self.zk.start(timeout=30)

    def close(self) -> None:
        self.zk.stop()
        self.zk.close()

    def treecache(self, expected: int) -> List[float]:
        cache: Any = importlib.import_module(f"{self.package}.recipe.cache")

        done = threading.Event()
        errors: List[BaseException] = []
        t0 = _perf()
        tc = cache.TreeCache(self.zk, KIDS)
        tc.listen(lambda ev: ev.event_type == cache.TreeEvent.INITIALIZED and done.set())
        tc.listen_fault(lambda e: (errors.append(e), done.set()))
        tc.start()
        if not done.wait(900):
            raise TimeoutError(f"{self.package} TreeCache did not initialise in 900 s")
        t = _perf() - t0
        try:
            if errors:
                raise errors[0]
            check_children(len(tc.get_children(KIDS)), expected)
        finally:
            tc.close()
        return [t]


class ZkKazooAdapter(KazooAdapter):
    """zkfast.kazoo (the codec backend is fixed per process)."""

    package = "zkfast.kazoo"
