"""Node helpers the recipes share, as step generators: unique and protected
creates, quiet deletes, cleanup of our protected nodes; deadlines."""

from __future__ import annotations

import time
from typing import Any, Generator, Optional, Sequence

from ..compound import TIMED_FLOOR, ensure_connected, ensure_path, timed
from ..compound import create_protected as _create_protected
from ..errors import (
    ClosedError,
    ConnectionLossError,
    NodeExistsError,
    NoNodeError,
    RequestTimeoutError,
    SessionExpiredError,
)
from ..interface import SessionClient
from ..paths import validate_path
from ..session import presumed_lost_in as _presumed_lost_in
from ..steps import Batch
from ._drivers import drive
from ._names import join

__all__ = ["create_protected", "ensure_connected", "create_unique", "delete_quietly",
           "discard_prefixed", "deadline_of", "remaining", "timed", "TIMED_FLOOR", "check_path",
           "acl_or_default", "session_timeout_of", "presumed_lost_in", "ensure_path"]

_monotonic = time.monotonic
Step = Any


def acl_or_default(client: SessionClient, acl: Optional[Sequence[Any]]) -> Optional[Sequence[Any]]:
    """``acl``, or the client's default ACL when it is None."""
    return acl if acl is not None else client.default_acl


def session_timeout_of(client: SessionClient) -> float:
    """The negotiated session timeout in seconds (what the server will wait)."""
    return client.negotiated_session_timeout


def presumed_lost_in(client: SessionClient) -> float:
    """Seconds until the session must be presumed lost if no server is heard
    meanwhile (:func:`zkfast.session.presumed_lost_in`: the same rule as the
    client's LOST state; recipes keep their own timer so that a slow listener
    on the dispatcher cannot delay a lock's loss)."""
    return _presumed_lost_in(client.last_heard, client.negotiated_session_timeout)


def create_protected(client: SessionClient, path: str, value: bytes, acl: Optional[Sequence[Any]],
                     guid: str, ephemeral: bool = True, makepath: bool = True,
                     deadline: Optional[float] = None, block: bool = True
                     ) -> Generator[Step, Any, Optional[str]]:
    """A protected sequential create (``parent/_c_<guid>-<name><seq>``), the
    parents made on demand (see :func:`zkfast.compound.create_protected`).
    Returns None if ``deadline`` passes while disconnected (a node of ours may
    exist then: the caller discards ``_c_<guid>-*``). ``block=False`` (for
    :func:`drive`, which cannot wait): requests simply queue until the
    reconnect."""
    created: Optional[str] = yield from _create_protected(
        client, path, value, acl, guid=guid, ephemeral=ephemeral, makepath=makepath,
        deadline=deadline, wait=block)
    return created


def create_unique(client: SessionClient, path: str, value: bytes, acl: Optional[Sequence[Any]],
                  ephemeral: bool = True, makepath: bool = True) -> Generator[Step, Any, str]:
    """Create a node whose name is unique to us: a NodeExistsError after a
    lost reply (ConnectionLossError) means our own earlier attempt applied."""
    retried = False
    while True:
        try:
            created: str = yield client.requests.op_create(path, value, acl_or_default(client, acl),
                                                          ephemeral=ephemeral)
            return created
        except ConnectionLossError:
            retried = True
        except NodeExistsError:
            if retried:
                return path
            raise
        except NoNodeError:
            if not makepath:
                raise
            parent = path[:path.rfind("/")] or "/"
            yield from ensure_path(client, parent, None)


def delete_quietly(client: SessionClient, path: str) -> Generator[Step, Any, bool]:
    """Delete ``path``; missing is fine; a lost reply is retried. False when
    the session ended (the node went with it, if ephemeral)."""
    while True:
        try:
            yield client.requests.op_delete(path)
            return True
        except NoNodeError:
            return True
        except ConnectionLossError:
            continue
        except (SessionExpiredError, ClosedError):
            return False


def discard_prefixed(client: SessionClient, parent: str, prefix: str, inline: bool = True
                     ) -> Generator[Step, Any, int]:
    """Delete every child of ``parent`` whose name starts with ``prefix`` (our
    protected guid): the cleanup that leaves no contender behind.

    With ``inline`` the caller waits only while connected: if the connection
    is down (or drops meanwhile) the rest continues in the background after
    the reconnect, so a timed-out acquire returns on time.
    """
    while True:
        if inline and not client.connected:
            drive(client, discard_prefixed(client, parent, prefix, inline=False))
            return 0
        listing = client.requests.op_get_children(parent)
        try:
            # inline: a connection that died unnoticed must not hold the caller
            children = yield (timed(listing, _monotonic()) if inline else listing)
        except NoNodeError:
            return 0
        except ConnectionLossError:
            continue
        except RequestTimeoutError:
            drive(client, discard_prefixed(client, parent, prefix, inline=False))
            return 0
        except (SessionExpiredError, ClosedError):
            return 0
        mine = [join(parent, c) for c in children if c.startswith(prefix)]
        if not mine:
            return 0
        results = yield Batch([client.requests.op_delete(p) for p in mine])
        if any(isinstance(r, ConnectionLossError) for r in results):
            continue
        return len(mine)


def deadline_of(timeout: Optional[float]) -> Optional[float]:
    return None if timeout is None else _monotonic() + max(0.0, timeout)


def remaining(deadline: Optional[float]) -> Optional[float]:
    return None if deadline is None else max(0.0, deadline - _monotonic())


def check_path(path: str) -> str:
    validate_path(path)
    return path
