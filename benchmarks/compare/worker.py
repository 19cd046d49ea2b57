"""The worker subprocess: one client, one round (or the memory probe), results as JSON."""

from __future__ import annotations

import argparse
import gc
import json
import os
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from .adapters import ADAPTERS, NotApplicable
from .catalogue import MIXED, NOT_APPLICABLE, WRITES, kid_paths
from .memory import memory_probe


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
        return memory_probe(client, plan, args, results, meta, save)

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
