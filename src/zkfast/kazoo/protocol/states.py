"""kazoo's states, event types and records: :class:`KazooState` (what listeners
hear), :class:`KeeperState` (the session state), :class:`EventType`,
:class:`WatchedEvent`, :class:`ZnodeStat`.

The state and event values are plain strings, as in kazoo: ``KazooState.LOST ==
"LOST"``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

__all__ = ["KazooState", "KeeperState", "EventType", "EVENT_TYPE_MAP", "WatchedEvent",
           "Callback", "ZnodeStat"]


class KazooState:
    """What state listeners hear.

    ``SUSPENDED``: the connection is lost but the session may still live;
    treat locks as in doubt until ``CONNECTED`` again. ``LOST``: the session is
    gone (expired, closed or refused): its ephemeral nodes, and so its locks,
    are gone. ``CONNECTED``: connected (read-only servers included).
    """

    SUSPENDED = "SUSPENDED"
    CONNECTED = "CONNECTED"
    LOST = "LOST"


class KeeperState:
    """The session state (``client.client_state``) and the ``state`` of watch events."""

    AUTH_FAILED = "AUTH_FAILED"
    CONNECTED = "CONNECTED"
    CONNECTED_RO = "CONNECTED_RO"
    CONNECTING = "CONNECTING"
    CLOSED = "CLOSED"
    EXPIRED_SESSION = "EXPIRED_SESSION"


class EventType:
    """What a watch event reports. ``NONE``: not a node change -- the watch
    ended because the connection dropped or the session ended."""

    CREATED = "CREATED"
    DELETED = "DELETED"
    CHANGED = "CHANGED"
    CHILD = "CHILD"
    NONE = "NONE"


#: ZooKeeper's event type codes to :class:`EventType` values.
EVENT_TYPE_MAP: Dict[int, str] = {
    -1: EventType.NONE,
    1: EventType.CREATED,
    2: EventType.DELETED,
    3: EventType.CHANGED,
    4: EventType.CHILD,
}


class WatchedEvent(NamedTuple):
    """What a watch function receives: ``type`` (:class:`EventType`), ``state``
    (:class:`KeeperState` when it fired) and ``path`` (chroot stripped; None for
    ``NONE`` events)."""

    type: str
    state: str
    path: Optional[str]


class Callback(NamedTuple):
    """A call a handler dispatches: ``func(*args)``; ``type`` says what it is (``"watch"``)."""

    type: str
    func: Callable[..., Any]
    args: Tuple[Any, ...]


class ZnodeStat(NamedTuple):
    """A node's metadata with kazoo's field names (times in milliseconds since
    the epoch; ``created``/``last_modified`` in seconds).

    The snake_case properties are the ones kazoo offers, plus zkfast's names
    (``ephemeral_owner``, ``num_children``) for code moving to :class:`zkfast.Stat`.
    """

    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeralOwner: int
    dataLength: int
    numChildren: int
    pzxid: int

    @property
    def acl_version(self) -> int:
        return self.aversion

    @property
    def children_version(self) -> int:
        return self.cversion

    @property
    def created(self) -> float:
        return self.ctime / 1000.0

    @property
    def last_modified(self) -> float:
        return self.mtime / 1000.0

    @property
    def owner_session_id(self) -> Optional[int]:
        return self.ephemeralOwner or None

    @property
    def creation_transaction_id(self) -> int:
        return self.czxid

    @property
    def last_modified_transaction_id(self) -> int:
        return self.mzxid

    @property
    def data_length(self) -> int:
        return self.dataLength

    @property
    def children_count(self) -> int:
        return self.numChildren

    @property
    def ephemeral_owner(self) -> int:
        return self.ephemeralOwner

    @property
    def num_children(self) -> int:
        return self.numChildren
