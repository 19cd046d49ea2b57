"""``python -m zkfast.cli``: the same as ``python -m zkfast``."""

import sys

from .run import main

if __name__ == "__main__":
    sys.exit(main())
