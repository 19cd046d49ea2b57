"""``python -m compare`` (from benchmarks/): the peer comparison; see the package docstring."""

import sys

from .cli import main

sys.exit(main())
