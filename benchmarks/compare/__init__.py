"""zkfast against kazoo, aiozk and a raw-socket ceiling, in one run on one server.

    python benchmarks/compare.py [--quick] [--json out.json] [--only workload,...]
                                 [--clients client,...] [--rounds N] [--text out.txt]

It starts its own ZooKeeper (``zkfast.testing.ZooKeeperServer``), builds the shared
test tree once with a raw pipelined socket, then runs every client in its own
subprocess (the zkfast codec backend is fixed per process, and a fresh process keeps
one client's garbage and threads from slowing the next). Clients are interleaved
round by round -- round 1 runs every client, then round 2 runs every client again --
so a noisy neighbour spreads over all clients instead of landing on one. The table
shows the BEST sample of each cell (max ops/s, min ms/MiB/s); the JSON also keeps every
sample and the median.

Clients (columns):
  zk-sync-cy / zk-sync-py   zkfast.Client with the Cython / pure-Python codec
  zk-aio-cy / zk-aio-py     zkfast.AsyncClient with the Cython / pure-Python codec
  kazoo                     kazoo.client.KazooClient (sync calls; ``*_async`` to pipeline)
  aiozk                     aiozk.ZKClient (asyncio; ``asyncio.gather`` to pipeline)
  raw                       pre-encoded jute frames on a plain socket; replies are only
                            split by their length prefix (and their err field checked):
                            the ceiling any Python client can reach here

Ratios are speedups: peer cost / zkfast cost, so > 1 always means zkfast is better
(faster, or less memory). Timings are never pass/fail here; see
tests/server/test_benchmarks_smoke.py for the CI smoke run.

Layout: ``catalogue`` (clients, workloads, sizes), ``rawjute`` (pre-encoded frames),
``tree`` (the shared tree), ``adapters/`` (one module per client column), ``worker`` and
``memory`` (what a worker subprocess measures), ``runner`` (the parent process),
``report`` (statistics and tables), ``cli`` (options). ``benchmarks/compare.py`` runs it.
"""

from . import repo  # noqa: F401  (first: puts the checkout's src/ on sys.path)
from .catalogue import CLIENTS, NOT_APPLICABLE, RATIOS, WORKLOAD_NAMES, WORKLOADS
from .catalogue import DEFAULT_WORKLOADS, OPT_IN_WORKLOADS, TARGETS
from .cli import main

__all__ = ["CLIENTS", "NOT_APPLICABLE", "RATIOS", "WORKLOADS", "WORKLOAD_NAMES", "main",
           "DEFAULT_WORKLOADS", "OPT_IN_WORKLOADS", "TARGETS"]
