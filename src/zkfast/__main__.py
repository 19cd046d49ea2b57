"""``python -m zkfast``: the zkfast command line (see :mod:`zkfast.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
