"""What kazoo's test harness and tests import from kazoo's connection module.

zkfast's session core (:mod:`zkfast.session`) is the connection here. The two
sentinels are kazoo's test hooks: ``client._call(_CONNECTION_DROP, None)``
drops the client's connection (it reconnects, same session) and
``client._call(_SESSION_EXPIRED, None)`` has the server expire its session.
"""

from __future__ import annotations

from typing import Any

__all__ = ["_CONNECTION_DROP", "_SESSION_EXPIRED"]

_SESSION_EXPIRED: Any = object()
_CONNECTION_DROP: Any = object()
