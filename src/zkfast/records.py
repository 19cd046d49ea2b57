"""Plain records that both codec backends build and the clients hand to users.

They live in one pure-Python module so that the Cython codec and its pure
twin return *the same classes*: a ``Stat`` decoded by either backend compares
equal and passes the same ``isinstance`` checks.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

__all__ = [
    "Stat",
    "Id",
    "ACL",
    "WatcherEvent",
    "ClientInfo",
    "ConnectResponse",
    "ResponseTooLarge",
]


class Stat(NamedTuple):
    """A znode's metadata, field for field as the server sends it.

    Times are milliseconds since the epoch; ``created``/``last_modified``
    give them in seconds.
    """

    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeral_owner: int
    data_length: int
    num_children: int
    pzxid: int

    @property
    def created(self) -> float:
        return self.ctime / 1000.0

    @property
    def last_modified(self) -> float:
        return self.mtime / 1000.0

    @property
    def children_count(self) -> int:
        return self.num_children

    @property
    def children_version(self) -> int:
        return self.cversion

    @property
    def acl_version(self) -> int:
        return self.aversion

    @property
    def owner_session_id(self) -> Optional[int]:
        return self.ephemeral_owner or None


class Id(NamedTuple):
    """An ACL identity: ``Id("world", "anyone")``, ``Id("digest", "bob:hash")``."""

    scheme: str
    id: str


class ACL(NamedTuple):
    """One access control entry: a permission bit set for an identity."""

    perms: int
    id: Id


class WatcherEvent(NamedTuple):
    """A watch notification exactly as the server sends it (xid -1)."""

    type: int
    state: int
    path: Optional[str]


class ClientInfo(NamedTuple):
    """One identity of the session, as ``whoAmI`` reports it."""

    auth_scheme: str
    user: str


class ConnectResponse(NamedTuple):
    """The server's answer to a ConnectRequest (no reply header on the wire)."""

    protocol_version: int
    timeout: int
    session_id: int
    passwd: bytes
    read_only: bool


class ResponseTooLarge(NamedTuple):
    """Body placeholder for a reply whose frame exceeded ``max_buffer_size``.

    The frame splitter skips such a frame's bytes and reports this in place of
    the body, so only the request it answers fails and the stream stays in sync.
    """

    size: int
    limit: int
