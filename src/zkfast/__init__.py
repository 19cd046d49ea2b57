"""zkfast: a fast ZooKeeper client for Python.

>>> from zkfast import Client
>>> with Client("127.0.0.1:2181") as zk:          # doctest: +SKIP
...     zk.ensure_path("/app")
...     zk.create("/app/node", b"value")
...     zk.get("/app/node")[0]
b'value'
"""

import logging as _logging
from typing import Any

from . import codec as _codec_module
from .acl import (
    ACL,
    ANYONE_ID_UNSAFE,
    AUTH_IDS,
    CREATOR_ALL_ACL,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    Id,
    Perm,
    auth_acl,
    digest_acl,
    ip_acl,
    make_acl,
    make_digest_id,
    world_acl,
)
from .client import Client, Future
from .config import ClientConfig
from .errors import *  # noqa: F401,F403 - the error hierarchy is public API
from .errors import __all__ as _errors_all
from .events import AddWatchMode, EventType, State, WatchedEvent, WatcherType
from .hosts import DNSHostProvider, HostProvider, StaticHostProvider, format_servers
from .records import ClientInfo, Stat
from .transaction import Check, Create, Delete, GetChildren, GetData, SetData, Transaction

# zkfast never prints by itself: without logging configured by the
# application, its records go nowhere (not to Python's last-resort handler).
_logging.getLogger("zkfast").addHandler(_logging.NullHandler())

codec_backend: str = _codec_module.backend
"""``"cython"`` or ``"python"``: the codec backend in use."""

__version__ = "0.1.0"

__all__ = [
    "Client", "AsyncClient", "Future", "ClientConfig", "codec_backend", "Stat", "ClientInfo",  # noqa: F405
    "ACL", "Id", "Perm", "OPEN_ACL_UNSAFE", "CREATOR_ALL_ACL", "READ_ACL_UNSAFE",
    "ANYONE_ID_UNSAFE", "AUTH_IDS", "world_acl", "auth_acl", "digest_acl", "ip_acl",
    "make_acl", "make_digest_id", "State", "EventType", "WatcherType", "AddWatchMode",
    "WatchedEvent", "HostProvider", "DNSHostProvider", "StaticHostProvider",
    "format_servers", "Create", "Delete", "SetData", "Check", "GetData", "GetChildren",
    "Transaction", *_errors_all,
]


def __getattr__(name: str) -> Any:  # lazy: asyncio is only imported by those who use it
    if name == "AsyncClient":
        from .aio import AsyncClient
        return AsyncClient
    raise AttributeError(f"module 'zkfast' has no attribute {name!r}")
