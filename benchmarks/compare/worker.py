"""The worker subprocess: one client, one round (or the memory probe), results as JSON."""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from .adapters import ADAPTERS, NotApplicable
from .catalogue import BIG_KIDS, MIXED, WRITES, kid_paths, not_applicable, split_client
from .memory import memory_probe


def _want_backend(client: str) -> Optional[str]:
    client = split_client(client)[0]
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
        meta["zkfast_file"] = zkfast.__file__  # which tree (an @base column: --baseline)
        if zkfast.codec_backend != want:
            reason = (f"codec backend is {zkfast.codec_backend!r}, wanted {want!r}"
                      + (" (build it: python setup.py build_ext --inplace)" if want == "cython" else ""))
            for w in plan["workloads"]:
                results[w] = {"na": reason}
            save()
            return 0

    peer_module = {"kazoo": "kazoo", "aiozk": "aiozk"}.get(split_client(client)[0])
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

    try:
        adapter = ADAPTERS[split_client(client)[0]](args.hosts, plan)
    except NotApplicable as e:  # e.g. an @nc column of a zkfast without coalesce_reads
        for w in plan["workloads"]:
            results[w] = {"na": str(e)}
        save()
        return 0
    try:
        adapter.warmup()
        todo = plan["workloads"]

        def measure(w: str, fn: Callable[[], List[float]]) -> None:
            if w not in todo:
                return
            na = not_applicable(w, client)
            if na:
                results[w] = {"na": na}
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
        if "get_pipelined" in todo or "get_pipelined_cpu" in todo:
            pipelined_with_cpu(adapter, plan["pipeline_n"], results, meta, todo)
            save()
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
        measure("get_children_big", lambda: adapter.get_children_at(
            BIG_KIDS, plan["children_big"], plan["children_big_calls"]))
        measure("scan_children", lambda: adapter.scan(kid_paths(plan["children"]), plan["scan_window"]))
        measure("get_900k", lambda: adapter.get_big(plan["big_calls"]))
        measure("mixed_threads", lambda: adapter.mixed(f"{MIXED}/{client}-r{args.round}",
                                                         plan["mixed_threads"], plan["mixed_ops"]))
        measure("get_threads", lambda: adapter.get_threads(plan["get_threads"], plan["get_threads_ops"]))
        if args.round < plan["treecache_rounds"]:
            measure("treecache_load", lambda: adapter.treecache(plan["children"]))
    finally:
        try:
            adapter.close()
        except Exception:  # noqa: BLE001
            pass
    save()
    return 0


def pipelined_with_cpu(adapter: Any, n: int, results: Dict[str, Any], meta: Dict[str, Any],
                       todo: List[str]) -> None:
    """get_pipelined (ops/s) and, from the same run, this process's CPU time per get
    (user + sys of all its threads, us/op); the client's counters go to the meta."""
    gc.collect()
    before = adapter.counters()
    try:
        c0 = time.process_time()
        samples = adapter.get_pipelined(n)
        cpu = time.process_time() - c0
    except Exception as e:  # noqa: BLE001
        err = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=6)}
        for w in ("get_pipelined", "get_pipelined_cpu"):
            if w in todo:
                results[w] = err
        return
    after = adapter.counters()
    if after:
        meta["get_pipelined_counters"] = {k: after[k] - before.get(k, 0) for k in after}
    if "get_pipelined" in todo:
        results["get_pipelined"] = {"samples": samples}
    if "get_pipelined_cpu" in todo:
        results["get_pipelined_cpu"] = {"samples": [cpu / (n * len(samples)) * 1e6]}
