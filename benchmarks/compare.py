#!/usr/bin/env python
"""zkfast against kazoo, aiozk and a raw-socket ceiling: runs the package benchmarks/compare/.

    python benchmarks/compare.py [--quick] [--json out.json] [--only workload,...]
                                 [--clients client,...] [--rounds N] [--text out.txt]
                                 [--render report.json] [--server-flag FLAG] ...

``python benchmarks/compare.py --help`` lists every option; the package docstring
(benchmarks/compare/__init__.py) explains the method. Loading this file as a module
gives the package's catalogue (``CLIENTS``, ``WORKLOAD_NAMES``, ...), as the smoke test does.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The package sits next to this file; a directory package wins over this module in
# imports, so `import compare` below is the package even when run from benchmarks/.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from compare import CLIENTS, NOT_APPLICABLE, RATIOS, WORKLOAD_NAMES, WORKLOADS, main  # noqa: E402
from compare import DEFAULT_WORKLOADS, OPT_IN_WORKLOADS, TARGETS  # noqa: E402

__all__ = ["CLIENTS", "NOT_APPLICABLE", "RATIOS", "WORKLOADS", "WORKLOAD_NAMES", "main",
           "DEFAULT_WORKLOADS", "OPT_IN_WORKLOADS", "TARGETS"]

if __name__ == "__main__":
    sys.exit(main())
