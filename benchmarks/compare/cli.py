"""Command-line options of the comparison (the worker's hidden ones included)."""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from .catalogue import BIG_CHILDREN_DEFAULT, CLIENTS, OPT_IN_WORKLOADS, WORKLOAD_NAMES, valid_client
from .report import rerender
from .runner import parent_main
from .worker import worker_main

_DESCRIPTION = "zkfast against kazoo, aiozk and a raw-socket ceiling, in one run on one server."


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=_DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small N: a smoke run (< 60 s)")
    p.add_argument("--json", help="write the full report (machine info, samples) here")
    p.add_argument("--text", help="also write the table here")
    p.add_argument("--only", help=f"comma-separated workloads: {','.join(WORKLOAD_NAMES)} "
                                  f"(opt-in, not run by default: {','.join(OPT_IN_WORKLOADS)})")
    p.add_argument("--clients", help=f"comma-separated clients: {','.join(CLIENTS)}; a zkfast "
                                     "one may end in @base or @nc (see below)")
    p.add_argument("--baseline", metavar="SRC",
                   help="the src/ directory of another zkfast checkout: every zkfast column "
                        "also runs from there as <client>@base (same worker code, PYTHONPATH=SRC), "
                        "with ratio columns <client>/@base")
    p.add_argument("--no-coalesce-column", action="store_true",
                   help="every zkfast column also runs with coalesce_reads=False as <client>@nc "
                        "(ratio columns <client>/@nc)")
    p.add_argument("--big", action="store_true",
                   help=f"also build a node with children_big (default {BIG_CHILDREN_DEFAULT:,}) "
                        "children and run get_children_big (minutes, and a 2 GiB server heap)")
    p.add_argument("--rounds", type=int, help="rounds (each client once per round)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a plan size, e.g. --set write_n=10000")
    p.add_argument("--header", help="free text put at the top of the table (\\n for new lines)")
    p.add_argument("--server-flag", action="append", metavar="FLAG",
                   help="extra JVM flag for the benchmark's ZooKeeper (after zkfast.testing's "
                        "defaults, so it wins), e.g. -Dzookeeper.preAllocSize=65536")
    p.add_argument("--strict", action="store_true", help="exit 1 if any cell failed")
    p.add_argument("--render", metavar="REPORT_JSON",
                   help="run nothing: print (and --text/--json) the tables of a saved report")
    # internal: one client in a subprocess
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--hosts", help=argparse.SUPPRESS)
    p.add_argument("--plan", help=argparse.SUPPRESS)
    p.add_argument("--round", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--probe", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker and not valid_client(args.worker):
        p.error(f"--worker: unknown client {args.worker!r}")
    if args.worker:
        return worker_main(args)
    if args.render:
        return rerender(args.render, args)
    return parent_main(args)

