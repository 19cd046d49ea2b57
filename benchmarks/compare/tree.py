"""The shared test tree every client reads, and a server warm-up before round 1."""

from __future__ import annotations

import re
import shutil
import subprocess
from time import perf_counter as _perf
from typing import Any, Callable, Dict, Optional

from .catalogue import BIG, BIG_KIDS, BIG_ROOT, D100, KIDS, MIXED, ROOT, WRITES, kid_paths
from .rawjute import RawConn, raw_create, raw_delete, raw_get_children, raw_get_data, raw_set_data


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


def build_big_children(hosts: str, n: int, log: Callable[[str], None],
                       server: Any = None) -> Dict[str, Any]:
    """--big: BIG_KIDS with ``n`` empty children (raw pipelined, in slices so the frames
    of 1M creates are never all in memory at once); returns what it cost, and the
    server's heap after a full GC (jcmd) to show its -Xmx suffices."""
    raw = RawConn(hosts)
    t0 = _perf()
    try:
        x = raw.next_xid
        for path in (BIG_ROOT, BIG_KIDS):
            raw.roundtrip(raw_create(x(), path, b""))
        step = 100_000
        for lo in range(0, n, step):
            frames = [raw_create(x(), f"{BIG_KIDS}/{i:x}", b"") for i in range(lo, min(n, lo + step))]
            errs = raw.pipeline(frames, window=5000)
            if errs:
                raise RuntimeError(f"{errs} creates of the big children failed")
        for _ in range(2):  # the server's first getChildren of 1M names is its slowest
            size = raw.roundtrip(raw_get_children(x(), BIG_KIDS))
    finally:
        raw.close()
    info: Dict[str, Any] = {"children": n, "build_seconds": round(_perf() - t0, 1),
                            "reply_bytes": size + 4}
    pid = getattr(server, "pid", None)
    if pid:
        info.update(jvm_memory(pid))
    log(f"built {n} big children in {info['build_seconds']}s: {info}")
    return info


def jvm_memory(pid: int) -> Dict[str, Any]:
    """The server's heap in use after a full GC and its capacity (MiB), and its RSS."""
    out: Dict[str, Any] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    out["server_rss_mib"] = int(line.split()[1]) // 1024
    except OSError:
        pass
    jcmd: Optional[str] = shutil.which("jcmd")
    if jcmd:
        try:
            subprocess.run([jcmd, str(pid), "GC.run"], capture_output=True, timeout=60)
            txt = subprocess.run([jcmd, str(pid), "GC.heap_info"], capture_output=True,
                                 text=True, timeout=60).stdout
            total = re.search(r"total (\d+)K, used (\d+)K", txt)
            gens = re.findall(r"(\w+ generation) +total (\d+)K, used (\d+)K", txt)
            if gens:
                out["server_heap_used_mib"] = sum(int(g[2]) for g in gens) // 1024
                out["server_heap_committed_mib"] = sum(int(g[1]) for g in gens) // 1024
            elif total:
                out["server_heap_used_mib"] = int(total.group(2)) // 1024
            out["server_heap_info"] = txt.strip()[-600:]
        except (OSError, subprocess.SubprocessError) as e:
            out["server_heap_info"] = f"jcmd failed: {e}"
    return out
