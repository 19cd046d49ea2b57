"""Where this checkout is, so a run measures its own src/ even when zkfast is not installed."""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent.parent
SRC = REPO / "src"
if (SRC / "zkfast").is_dir() and str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))
