"""Session states, watch event types and the event records handed to callbacks."""

from __future__ import annotations

import enum
from typing import NamedTuple, Optional

__all__ = ["State", "EventType", "WatcherType", "AddWatchMode", "WatchedEvent"]


class State(str, enum.Enum):
    """The client's connection/session state.

    - ``CONNECTING``: no session yet (the first connect, or after EXPIRED).
    - ``CONNECTED`` / ``CONNECTED_READ_ONLY``: a server serves the session.
    - ``SUSPENDED`` (alias ``DISCONNECTED``): the connection is gone, the session
      may well be alive (an ephemeral lock node may still be ours); the client
      is reconnecting with the same session.
    - ``LOST``: no server has been heard for a whole session timeout (counted
      from the last reply, less a tenth for its travel, at most 1 s): the server
      has expired the session or may at any moment, so nothing ephemeral may be
      assumed held. The client goes on reconnecting with the same session: if
      a server still knows it, ``CONNECTED`` follows (it survived after all);
      otherwise ``EXPIRED``. (Curator's LOST, the Java 3.9 client's client-side
      expiry.)
    - ``EXPIRED``: the server said the session is gone; every watch has ended,
      and the client starts a new session (``CONNECTING``).
    - ``AUTH_FAILED``, ``CLOSED``: terminal.
    """

    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    CONNECTED_READ_ONLY = "CONNECTED_READ_ONLY"
    SUSPENDED = "SUSPENDED"
    LOST = "LOST"
    EXPIRED = "EXPIRED"
    AUTH_FAILED = "AUTH_FAILED"
    CLOSED = "CLOSED"
    DISCONNECTED = "SUSPENDED"

    @property
    def is_connected(self) -> bool:
        return self in (State.CONNECTED, State.CONNECTED_READ_ONLY)


class EventType(enum.IntEnum):
    """Watch event types (ZooKeeper's Watcher.Event.EventType codes).

    ``NOT_WATCHING`` is client-made: the watch ended without firing because
    the session expired or the client closed (go-zookeeper's EventNotWatching).
    """

    NONE = -1
    NOT_WATCHING = -2
    NODE_CREATED = 1
    NODE_DELETED = 2
    NODE_DATA_CHANGED = 3
    NODE_CHILDREN_CHANGED = 4
    DATA_WATCH_REMOVED = 5
    CHILD_WATCH_REMOVED = 6
    PERSISTENT_WATCH_REMOVED = 7


class WatcherType(enum.IntEnum):
    """Which watches ``remove_watches`` removes (the server's WatcherType codes)."""

    CHILDREN = 1
    DATA = 2
    ANY = 3
    PERSISTENT = 4
    PERSISTENT_RECURSIVE = 5


class AddWatchMode(enum.IntEnum):
    PERSISTENT = 0
    PERSISTENT_RECURSIVE = 1


class WatchedEvent(NamedTuple):
    """What a watch callback receives.

    ``path`` is relative to the client's chroot. ``error`` is set on
    ``NOT_WATCHING`` events (why the watch ended).
    """

    type: EventType
    state: State
    path: Optional[str]
    error: Optional[BaseException] = None
