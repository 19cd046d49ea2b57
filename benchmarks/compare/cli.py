"""Command-line options of the comparison (the worker's hidden ones included)."""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from .catalogue import CLIENTS, WORKLOAD_NAMES
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
    p.add_argument("--only", help=f"comma-separated workloads: {','.join(WORKLOAD_NAMES)}")
    p.add_argument("--clients", help=f"comma-separated clients: {','.join(CLIENTS)}")
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
    p.add_argument("--worker", choices=CLIENTS, help=argparse.SUPPRESS)
    p.add_argument("--hosts", help=argparse.SUPPRESS)
    p.add_argument("--plan", help=argparse.SUPPRESS)
    p.add_argument("--round", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--probe", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker_main(args)
    if args.render:
        return rerender(args.render, args)
    return parent_main(args)

