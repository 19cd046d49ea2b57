"""What is compared: the clients (columns), the workloads (rows), the sizes, the tree."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

CLIENTS: List[str] = ["zk-sync-cy", "zk-sync-py", "zk-aio-cy", "zk-aio-py", "zk-kazoo-cy",
                       "zk-kazoo-py", "kazoo", "aiozk", "raw"]
CLIENT_HELP = {
    "zk-sync-cy": "zkfast.Client, Cython codec",
    "zk-sync-py": "zkfast.Client, pure-Python codec (ZKFAST_NO_EXTENSIONS=1)",
    "zk-aio-cy": "zkfast.AsyncClient, Cython codec",
    "zk-aio-py": "zkfast.AsyncClient, pure-Python codec (ZKFAST_NO_EXTENSIONS=1)",
    "zk-kazoo-cy": "zkfast.kazoo KazooClient (kazoo's API on zkfast), Cython codec",
    "zk-kazoo-py": "zkfast.kazoo KazooClient, pure-Python codec (ZKFAST_NO_EXTENSIONS=1)",
    "kazoo": "kazoo KazooClient: sync calls, *_async to pipeline",
    "aiozk": "aiozk ZKClient: asyncio.gather to pipeline",
    "raw": "raw socket: pre-encoded frames, replies split by length prefix only",
}

# name, unit, higher_is_better, label template (filled from the plan)
WORKLOADS: List[Tuple[str, str, bool, str]] = [
    ("get_sync", "ops/s", True, "get {data_size} B, synchronous, one at a time"),
    ("get_pipelined", "ops/s", True, "get {data_size} B, pipelined, {pipeline_n} in flight"),
    ("get_pipelined_cpu", "us/op", False,
     "client CPU (process user+sys, all threads) per get of get_pipelined"),
    ("create_pipelined", "ops/s", True, "create {data_size} B, pipelined, {write_n} nodes"),
    ("set_pipelined", "ops/s", True, "set {data_size} B, pipelined, {write_n} nodes"),
    ("delete_pipelined", "ops/s", True, "delete, pipelined, {write_n} nodes"),
    ("get_children", "ms", False, "get_children of a node with {children} children (one call)"),
    ("get_children_big", "ms", False,
     "get_children of a node with {children_big} children (one call; opt-in: --big)"),
    ("scan_children", "ops/s", True, "get every one of {children} children, window {scan_window}"),
    ("get_900k", "ms", False, "get of a {big_kib} KiB node (one call)"),
    ("mixed_threads", "ops/s", True, "{mixed_threads} threads share one client, 80% get / 20% set"),
    ("get_threads", "ops/s", True,
     "{get_threads} threads share one client, each a blocking get {data_size} B in a loop"),
    ("rss_children", "MiB", False, "peak RSS growth during one get_children({children}) (VmHWM)"),
    ("pymem_children", "MiB", False, "tracemalloc peak of one get_children({children})"),
    ("treecache_load", "s", False, "TreeCache initial load of {children}+1 nodes"),
]
WORKLOAD_NAMES = [w[0] for w in WORKLOADS]
WORKLOAD_INFO = {w[0]: w for w in WORKLOADS}
# Workloads run only when asked for (--big, or named in --only): building their tree
# costs minutes and server memory.
OPT_IN_WORKLOADS = ["get_children_big"]
DEFAULT_WORKLOADS = [w for w in WORKLOAD_NAMES if w not in OPT_IN_WORKLOADS]

# Cells that cannot exist, with the reason shown in the table / JSON.
NOT_APPLICABLE: Dict[Tuple[str, str], str] = {}
for _c in ("zk-aio-cy", "zk-aio-py", "aiozk", "raw"):
    NOT_APPLICABLE[("mixed_threads", _c)] = "threads sharing one client: sync clients only"
    NOT_APPLICABLE[("get_threads", _c)] = "threads sharing one client: sync clients only"
NOT_APPLICABLE[("treecache_load", "raw")] = "no cache in a raw socket"
NOT_APPLICABLE[("treecache_load", "aiozk")] = (
    "aiozk's TreeCache awaits one node at a time (~2 round trips a node); not measured")

# Ratio columns: (label, zkfast client, peer).
RATIOS: List[Tuple[str, str, str]] = [
    ("sync-cy/kazoo", "zk-sync-cy", "kazoo"),
    ("sync-py/kazoo", "zk-sync-py", "kazoo"),
    ("aio-cy/aiozk", "zk-aio-cy", "aiozk"),
    ("aio-py/aiozk", "zk-aio-py", "aiozk"),
    ("aio-py/kazoo", "zk-aio-py", "kazoo"),
    ("sync-cy/raw", "zk-sync-cy", "raw"),
    # zkfast.kazoo: its cost over zkfast.Client (>= 0.85 wanted), and its lead over kazoo
    ("zkkazoo-cy/sync-cy", "zk-kazoo-cy", "zk-sync-cy"),
    ("zkkazoo-cy/kazoo", "zk-kazoo-cy", "kazoo"),
    ("zkkazoo-py/kazoo", "zk-kazoo-py", "kazoo"),
    ("aio-cy/raw", "zk-aio-cy", "raw"),
    # not zkfast: the ceiling, i.e. the most any client can be ahead of kazoo here
    ("raw/kazoo", "raw", "kazoo"),
]

FULL_PLAN: Dict[str, Any] = {
    "rounds": 3,
    "data_size": 100,
    "sync_n": 20000,  # 1-2 s a sample: short runs swing with scheduling
    "pipeline_n": 50000,
    "write_n": 50000,
    "children": 100000,
    "children_calls": 5,
    "scan_window": 1000,
    "big_size": 900 * 1024,
    "big_calls": 20,
    "mixed_threads": 8,
    "mixed_ops": 1500,
    "treecache_rounds": 1,
    "warmup": 2000,
    "worker_timeout": 1200.0,
    "get_threads": 16,
    "get_threads_ops": 3000,  # per thread: 48k gets a sample
    "children_big": 0,  # --big: 1,000,000 (BIG_CHILDREN_DEFAULT)
    "children_big_calls": 3,
}
QUICK_PLAN: Dict[str, Any] = {
    "rounds": 1,
    "data_size": 100,
    "sync_n": 300,
    "pipeline_n": 3000,
    "write_n": 2000,
    "children": 3000,
    "children_calls": 2,
    "scan_window": 500,
    "big_size": 900 * 1024,
    "big_calls": 3,
    "mixed_threads": 8,
    "mixed_ops": 50,
    "treecache_rounds": 1,
    "warmup": 200,
    "worker_timeout": 120.0,
    "get_threads": 16,
    "get_threads_ops": 30,
    "children_big": 0,
    "children_big_calls": 2,
}

ROOT = "/zkfast-bench"
D100 = ROOT + "/d100"
BIG = ROOT + "/big"
KIDS = ROOT + "/kids"
WRITES = ROOT + "/w"
MIXED = ROOT + "/m"
MAX_BUFFER = 16 * 1024 * 1024


def kid_paths(n: int, parent: str = KIDS) -> List[str]:
    return [f"{parent}/{i:x}" for i in range(n)]  # short names: <= 5 hex digits for 1M


# --big: a node with children_big children, built once per run with the raw socket under
# its own root (the shared tree stays as it is), empty data to spare the server's heap.
BIG_ROOT = "/zkfast-bench-big"
BIG_KIDS = BIG_ROOT + "/kids"
BIG_CHILDREN_DEFAULT = 1_000_000
# The server's heap for --big (zkfast.testing's default is -Xmx256m, compare.py's -Xmx1g):
# 1.1M znodes take ~0.5 GiB, a getChildren reply of 1M names another ~0.1 GiB while
# it is built; snapshots off during the build (it is throw-away data).
BIG_SERVER_FLAGS = ["-Xmx2g", "-Dzookeeper.snapCount=100000000"]

# Column variants of a zkfast client: the same adapter and worker code, another setup.
#   <client>@base  runs from another checkout's src/ (--baseline SRC): before/after columns
#   <client>@nc    this tree with coalesce_reads=False (--no-coalesce-column)
BASE = "@base"
NO_COALESCE = "@nc"
VARIANT_HELP = {
    BASE: "run from the --baseline tree",
    NO_COALESCE: "coalesce_reads=False (env ZKFAST_BENCH_COALESCE=0)",
}


def split_client(name: str) -> Tuple[str, str]:
    """``"zk-sync-cy@base"`` -> ``("zk-sync-cy", "@base")``; no variant -> ``(name, "")``."""
    for v in VARIANT_HELP:
        if name.endswith(v):
            return name[: -len(v)], v
    return name, ""


def is_zkfast(name: str) -> bool:
    return split_client(name)[0].startswith("zk-")


def valid_client(name: str) -> bool:
    base, variant = split_client(name)
    return base in CLIENTS and (not variant or base.startswith("zk-"))


def client_help(name: str) -> str:
    base, variant = split_client(name)
    return CLIENT_HELP.get(base, base) + (f"; {VARIANT_HELP[variant]}" if variant else "")


def not_applicable(workload: str, client: str) -> Optional[str]:
    """Why (workload, client) cannot exist, or None; a variant shares its client's cells."""
    return NOT_APPLICABLE.get((workload, split_client(client)[0]))


# Issue 15: the raw socket's one-frame-per-request pipelined get is the ceiling.
# workload -> the raw cell it is compared with (same unit as the workload).
CEILING = {
    "get_pipelined": "get_pipelined",
    "get_threads": "get_pipelined",
    "get_pipelined_cpu": "get_pipelined_cpu",
    "get_children_big": "get_children_big",
}
# Targets: (workload, client, compared with (client, workload), minimum speedup, text).
# A speedup is >= 1 when the client is at least as good (ops/s: client / other;
# us or ms: other / client).
TARGETS: List[Tuple[str, str, Tuple[str, str], float, str]] = [
    ("get_pipelined", "zk-sync-cy", ("raw", "get_pipelined"), 3.0,
     ">= 3x raw pipelined: 50k get_async on one node"),
    ("get_threads", "zk-sync-cy", ("raw", "get_pipelined"), 1.0,
     ">= 1x raw pipelined: 16 threads, blocking get, one Client"),
    ("get_pipelined", "zk-aio-cy", ("raw", "get_pipelined"), 1.5,
     ">= 1.5x raw pipelined: AsyncClient, gather of 50k get"),
    ("get_pipelined_cpu", "zk-sync-cy", ("raw", "get_pipelined_cpu"), 1.0,
     "client CPU per pipelined get <= raw's"),
    ("get_pipelined_cpu", "zk-aio-cy", ("raw", "get_pipelined_cpu"), 1.0,
     "client CPU per pipelined get <= raw's"),
    ("get_children_big", "zk-sync-cy", ("raw", "get_children_big"), 1 / 1.3,
     "<= 1.3x raw's time"),
    ("get_children_big", "zk-aio-cy", ("raw", "get_children_big"), 1 / 1.3,
     "<= 1.3x raw's time"),
    ("get_children_big", "zk-sync-cy", ("kazoo", "get_children_big"), 2.5,
     ">= 2.5x faster than kazoo"),
    ("get_children_big", "zk-aio-cy", ("kazoo", "get_children_big"), 2.5,
     ">= 2.5x faster than kazoo"),
]
