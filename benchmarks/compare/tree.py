"""The shared test tree every client reads, and a server warm-up before round 1."""

from __future__ import annotations

from time import perf_counter as _perf
from typing import Any, Callable, Dict

from .catalogue import BIG, D100, KIDS, MIXED, ROOT, WRITES, kid_paths
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
