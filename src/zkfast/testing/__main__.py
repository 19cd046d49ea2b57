"""``python -m zkfast.testing``: a local ZooKeeper for development (see devserver.py)."""

import sys

from .devserver import main

sys.exit(main())
