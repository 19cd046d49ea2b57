"""What is compared: the clients (columns), the workloads (rows), the sizes, the tree."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

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
    ("create_pipelined", "ops/s", True, "create {data_size} B, pipelined, {write_n} nodes"),
    ("set_pipelined", "ops/s", True, "set {data_size} B, pipelined, {write_n} nodes"),
    ("delete_pipelined", "ops/s", True, "delete, pipelined, {write_n} nodes"),
    ("get_children", "ms", False, "get_children of a node with {children} children (one call)"),
    ("scan_children", "ops/s", True, "get every one of {children} children, window {scan_window}"),
    ("get_900k", "ms", False, "get of a {big_kib} KiB node (one call)"),
    ("mixed_threads", "ops/s", True, "{mixed_threads} threads share one client, 80% get / 20% set"),
    ("rss_children", "MiB", False, "peak RSS growth during one get_children({children}) (VmHWM)"),
    ("pymem_children", "MiB", False, "tracemalloc peak of one get_children({children})"),
    ("treecache_load", "s", False, "TreeCache initial load of {children}+1 nodes"),
]
WORKLOAD_NAMES = [w[0] for w in WORKLOADS]
WORKLOAD_INFO = {w[0]: w for w in WORKLOADS}

# Cells that cannot exist, with the reason shown in the table / JSON.
NOT_APPLICABLE: Dict[Tuple[str, str], str] = {}
for _c in ("zk-aio-cy", "zk-aio-py", "aiozk", "raw"):
    NOT_APPLICABLE[("mixed_threads", _c)] = "threads sharing one client: sync clients only"
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
}

ROOT = "/zkfast-bench"
D100 = ROOT + "/d100"
BIG = ROOT + "/big"
KIDS = ROOT + "/kids"
WRITES = ROOT + "/w"
MIXED = ROOT + "/m"
MAX_BUFFER = 16 * 1024 * 1024


def kid_paths(n: int) -> List[str]:
    return [f"{KIDS}/{i:x}" for i in range(n)]  # short names: <= 5 hex digits for 100k
