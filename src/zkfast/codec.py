"""Chooses the codec backend: the compiled ``_codec`` unless it is missing or
``ZKFAST_NO_EXTENSIONS`` is set (to anything but ``0``), else ``_codec_py``.

Everything else in zkfast imports the codec from here, never a backend directly.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

_force_pure = os.environ.get("ZKFAST_NO_EXTENSIONS", "") not in ("", "0")

if _force_pure:
    from . import _codec_py as _impl
    backend = "python"
else:
    try:
        # the backend is picked at import time: _impl is one module or the other
        from . import _codec as _impl  # type: ignore[no-redef]
        backend = "cython"
    except ImportError:  # no compiler at install time: the pure twin serves
        from . import _codec_py as _impl
        backend = "python"

if TYPE_CHECKING:  # both backends have the same names; type-check against the twin
    from ._codec_py import *  # noqa: F401,F403
    from ._codec_py import FrameReader
else:
    _names = [n for n in dir(_impl)
              if not n.startswith("_") and (n.isupper() or n.startswith(("encode_", "decode_")))]
    globals().update({n: getattr(_impl, n) for n in _names})
    FrameReader = _impl.FrameReader
