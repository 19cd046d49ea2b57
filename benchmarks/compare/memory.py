"""Memory workloads, in a fresh process: peak RSS growth and tracemalloc peak of one get_children."""

from __future__ import annotations

import argparse
import gc
import resource
import traceback
from typing import Any, Callable, Dict

from .adapters import ADAPTERS
from .adapters.base import check_children
from .catalogue import split_client


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


def memory_probe(client: str, plan: Dict[str, Any], args: argparse.Namespace,
                  results: Dict[str, Any], meta: Dict[str, Any], save: Callable[[], None]) -> int:
    """In a fresh process: RSS growth and tracemalloc peak of one big get_children."""
    todo = [w for w in ("rss_children", "pymem_children") if w in plan["workloads"]]
    if not todo:
        save()
        return 0
    adapter = ADAPTERS[split_client(client)[0]](args.hosts, plan)
    try:
        adapter.get_sync(20)  # light warm-up only: ru_maxrss shows growth past the old peak
        gc.collect()
        with PeakRSS() as rss:
            n = adapter.children_once()
        check_children(n, plan["children"])
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
