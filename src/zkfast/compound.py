"""Calls that take several round trips, written once as step generators.

The API (``ensure_path``, ``create(makepath=True)``, versioned recursive
delete, protected creates) and the recipes both run these; a client drives
them with ``run_steps`` (see :mod:`zkfast.steps`). Each takes the client as
the :class:`~zkfast.interface.SessionClient` it is, and nothing more.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any, Callable, Generator, Optional, Sequence

from .errors import (
    ClosedError,
    ConnectionLossError,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RequestTimeoutError,
)
from .events import State
from .paths import join, parent
from .requests import PendingRequest
from .steps import PROTECTED_PREFIX, Timed, WaitConnected

if TYPE_CHECKING:
    from .interface import SessionClient

__all__ = ["ensure_path", "create_makepath", "delete_recursive", "create_protected",
           "ensure_connected", "with_watch", "new_guid", "timed", "TIMED_FLOOR"]

_monotonic = time.monotonic

#: The least time a timed request gets, even past its call's deadline: a live
#: server answers in far less, and a dead connection has failed it by then.
TIMED_FLOOR = 1.0


def timed(req: PendingRequest, deadline: Optional[float]) -> Any:
    """``req`` as a step that keeps ``deadline`` (None: the plain request): it
    fails with RequestTimeoutError after the time left, at least TIMED_FLOOR
    seconds, instead of waiting for a reconnect however long that takes (or
    for the read timeout to find a silently dead connection)."""
    if deadline is None:
        return req
    return Timed(req, max(TIMED_FLOOR, deadline - _monotonic()))
Gen = Generator[Any, Any, Any]


def new_guid() -> str:
    """A protected node's guid: 32 hex digits (go-zookeeper's form)."""
    return uuid.uuid4().hex


def _acl(client: SessionClient, acl: Optional[Sequence[Any]]) -> Optional[Sequence[Any]]:
    return acl if acl is not None else client.default_acl


def ensure_path(client: SessionClient, path: str, acl: Optional[Sequence[Any]] = None) -> Gen:
    """Create ``path`` and any missing parents; existing nodes are fine."""
    if path == "/":
        return True
    try:
        yield client.requests.op_create(path, b"", _acl(client, acl))
        return True
    except NodeExistsError:
        return True
    except NoNodeError:
        pass
    yield from ensure_path(client, parent(path), acl)
    try:
        yield client.requests.op_create(path, b"", _acl(client, acl))
    except NodeExistsError:
        pass
    return True


def create_makepath(client: SessionClient, build: Callable[[], PendingRequest], path: str,
                    acl: Optional[Sequence[Any]]) -> Gen:
    """Create with ``build()``; on NoNodeError make the parents and create again."""
    try:
        return (yield build())
    except NoNodeError:
        pass
    yield from ensure_path(client, parent(path), acl)
    return (yield build())


def delete_recursive(client: SessionClient, path: str, version: int = -1) -> Gen:
    """Delete ``path`` (at ``version``) after its subtree, depth first; each
    level's children are deleted as one pipelined batch. (Unversioned deletes
    use the faster :func:`zkfast.tree.delete_tree`.)"""
    requests = client.requests
    while True:
        try:
            children = yield requests.op_get_children(path)
        except NoNodeError:
            return True
        except NoAuthError:
            children = []  # unreadable, but deletable if it has no children
        for name in children:
            yield from delete_recursive(client, join(path, name))
        if path == "/":
            return True
        try:
            yield requests.op_delete(path, version)
            return True
        except NoNodeError:
            return True
        except NotEmptyError:
            continue  # a child appeared meanwhile: go again


def ensure_connected(client: SessionClient, deadline: Optional[float]) -> Gen:
    """True at once if connected; else wait for it until ``deadline`` (False
    when it passes). Raises :class:`~zkfast.ClosedError` if the client is
    closed (or can never connect: auth failed)."""
    if client.connected:
        return True
    if deadline is not None and _monotonic() >= deadline:
        return False
    if (yield WaitConnected(None if deadline is None else max(0.0, deadline - _monotonic()))):
        return True
    if deadline is None or client.state in (State.CLOSED, State.AUTH_FAILED):
        raise ClosedError()
    return False


def create_protected(client: SessionClient, path: str, value: bytes = b"",
                     acl: Optional[Sequence[Any]] = None, *, guid: Optional[str] = None,
                     ephemeral: bool = True, makepath: bool = False,
                     deadline: Optional[float] = None, wait: bool = False) -> Gen:
    """A protected sequential create: ``parent/_c_<guid>-<name><seq>``.

    If the reply is lost (ConnectionLossError) the create may or may not have
    happened, so before trying again it looks for a child carrying our guid:
    one call never leaves two nodes behind. ``makepath`` creates missing
    parents. With ``wait``, it first waits (up to ``deadline``) until the
    client is connected and returns None when the deadline passes then: a node
    of ours may exist, and the caller cleans up ``_c_<guid>-*``; its requests
    keep the deadline too (see :func:`timed`). Without ``wait`` requests simply
    queue until the reconnect.
    """
    guid = guid or new_guid()
    par = parent(path)
    prefix = f"{PROTECTED_PREFIX}{guid}-"
    full = join(par, prefix + path[path.rfind("/") + 1:])
    maybe_applied = False
    while True:
        if wait and not (yield from ensure_connected(client, deadline)):
            return None
        step_deadline = deadline if wait else None
        if maybe_applied:
            try:
                children = yield timed(client.requests.op_get_children(par), step_deadline)
            except ConnectionLossError:
                continue
            except RequestTimeoutError:
                if deadline is not None and _monotonic() >= deadline:
                    return None
                continue
            except NoNodeError:
                children = []
            for name in children:
                if name.startswith(prefix):
                    return join(par, name)
        try:
            return (yield timed(client.requests.op_create(full, value, _acl(client, acl),
                                                          ephemeral=ephemeral, sequence=True),
                                step_deadline))
        except ConnectionLossError:
            maybe_applied = True
        except RequestTimeoutError:
            maybe_applied = True  # the server may have applied it
            if deadline is not None and _monotonic() >= deadline:
                return None
        except NoNodeError:
            if not makepath:
                raise
            yield from ensure_path(client, par, None)


def with_watch(req: PendingRequest, watch: Any) -> Gen:
    """The result of ``req`` with ``watch`` appended (go's GetW/ChildrenW/ExistsW)."""
    result = yield req
    return (*result, watch) if isinstance(result, tuple) else (result, watch)
