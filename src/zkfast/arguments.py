"""Checks of call arguments other than paths, shared by the engine's request
builders and :mod:`zkfast.transaction`: each raises
:class:`~zkfast.errors.InvalidArgumentError` before anything is sent.

(Path rules are in :mod:`zkfast.paths`.)
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from .acl import OPEN_ACL_UNSAFE
from .errors import InvalidArgumentError
from .events import WatchedEvent

__all__ = ["check_bytes", "check_version", "check_acl", "check_watcher", "ttl_ms", "create_mode",
           "Watcher", "XID_MAX",
           "MODE_PERSISTENT", "MODE_EPHEMERAL", "MODE_PERSISTENT_SEQUENTIAL",
           "MODE_EPHEMERAL_SEQUENTIAL", "MODE_CONTAINER", "MODE_PERSISTENT_WITH_TTL",
           "MODE_PERSISTENT_SEQUENTIAL_WITH_TTL"]

Watcher = Callable[[WatchedEvent], Any]

#: The largest positive jute int: versions and xids stay at or below it.
XID_MAX = (1 << 31) - 1

# Create flags (ZooKeeper's CreateMode codes)
MODE_PERSISTENT = 0
MODE_EPHEMERAL = 1
MODE_PERSISTENT_SEQUENTIAL = 2
MODE_EPHEMERAL_SEQUENTIAL = 3
MODE_CONTAINER = 4
MODE_PERSISTENT_WITH_TTL = 5
MODE_PERSISTENT_SEQUENTIAL_WITH_TTL = 6


def check_bytes(value: Any, name: str = "value") -> Any:
    """``value`` if it is bytes-like or None."""
    if value is None or isinstance(value, (bytes, bytearray, memoryview)):
        return value
    raise InvalidArgumentError(f"{name} must be bytes, not {type(value).__name__}")


def check_version(version: Any) -> int:
    """A node version: an int from -1 (any version) up."""
    if type(version) is not int or not -1 <= version <= XID_MAX:
        raise InvalidArgumentError(f"version must be an int >= -1, not {version!r}")
    return version


def check_acl(acl: Any) -> Sequence[Any]:
    """A non-empty list of ``ACL(perms, Id(scheme, id))``; None means open."""
    if acl is None:
        return OPEN_ACL_UNSAFE
    if isinstance(acl, tuple) and len(acl) == 2 and isinstance(acl[0], int):
        acl = [acl]  # a single ACL entry
    try:
        items = list(acl)
    except TypeError:
        raise InvalidArgumentError(f"acl must be a list of ACL entries, not {type(acl).__name__}") from None
    if not items:
        raise InvalidArgumentError("acl must not be empty (the server refuses it)")
    for a in items:
        try:
            perms, (scheme, ident) = a
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"bad ACL entry {a!r}: want ACL(perms, Id(scheme, id))") from None
        if not isinstance(perms, int) or not 0 <= int(perms) <= 31:
            raise InvalidArgumentError(f"bad ACL perms {perms!r}: want 0..31")
        if not isinstance(scheme, str) or not isinstance(ident, str):
            raise InvalidArgumentError(f"bad ACL id {(scheme, ident)!r}: want two strings")
    return items


def check_watcher(watch: object) -> Optional[Watcher]:
    """A watch callback (taking a :class:`~zkfast.WatchedEvent`) or None."""
    if watch is None or callable(watch):
        return watch
    raise InvalidArgumentError(f"watch must be a callable taking a WatchedEvent, not {type(watch).__name__}")


def ttl_ms(ttl: Any) -> int:
    """A TTL in seconds as the server's milliseconds."""
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0:
        raise InvalidArgumentError(f"ttl must be a positive number of seconds, not {ttl!r}")
    ms = int(ttl * 1000)
    if ms < 1 or ms > 0xFFFFFFFFFF:  # the server's TTL field limit (EphemeralType)
        raise InvalidArgumentError(f"ttl {ttl!r}s is out of range")
    return ms


def create_mode(*, ephemeral: bool = False, sequence: bool = False, container: bool = False,
                ttl: Optional[float] = None) -> int:
    """The CreateMode code for a combination of create flags."""
    if container:
        if ephemeral or sequence or ttl is not None:
            raise InvalidArgumentError("a container node cannot be ephemeral, sequential or have a TTL")
        return MODE_CONTAINER
    if ttl is not None:
        if ephemeral:
            raise InvalidArgumentError("a TTL node cannot be ephemeral")
        return MODE_PERSISTENT_SEQUENTIAL_WITH_TTL if sequence else MODE_PERSISTENT_WITH_TTL
    return (MODE_EPHEMERAL if ephemeral else 0) | (MODE_PERSISTENT_SEQUENTIAL if sequence else 0)
