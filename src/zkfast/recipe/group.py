"""GroupMember: membership with data, and a live view of the members.

Curator's GroupMember layout: each member is the ephemeral node
``<path>/<member id>`` holding the member's data. This member's node is a
:class:`~zkfast.recipe.PersistentNode` (so it stays through lost replies,
disconnects, deletion by others and session expiry, until ``close()``), and
the members are read from a :class:`~zkfast.recipe.TreeCache` of ``path``
limited to depth 1 (no round trip per call; listeners hear every join,
change and leave).

``members()`` always lists this member itself, with its current data, even
before its node is visible (as Curator does): a member that is starting or
reconnecting still counts itself.

>>> member = GroupMember(zk, "/workers", "host-7", b"capacity=4").start()   # doctest: +SKIP
>>> sorted(member.members())                                                # doctest: +SKIP
['host-3', 'host-7']
>>> member.close()                                                          # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence

from ..paths import validate_path
from ._drivers import ASYNC, SYNC, Flavor
from ._names import join
from .cache import AsyncTreeCache, TreeCache, TreeEvent
from .persistent import AsyncPersistentNode, PersistentNode

__all__ = ["GroupMember", "AsyncGroupMember"]


class _GroupMemberCore:
    _flavor: Flavor = SYNC
    _node_cls: Any = PersistentNode
    _cache_cls: Any = TreeCache

    def __init__(self, client: Any, path: str, member_id: str, data: Any = b"", *,
                 acl: Optional[Sequence[Any]] = None) -> None:
        self._flavor.check(client, type(self).__name__)
        validate_path(path)
        if not isinstance(member_id, str) or not member_id or "/" in member_id:
            raise ValueError(f"a member id is one node name (no '/'), not {member_id!r}")
        validate_path(join(path, member_id))
        self.client = client
        self.path = path
        self.member_id = member_id
        self.node = self._node_cls(client, join(path, member_id), data, ephemeral=True, acl=acl)
        self.cache = self._cache_cls(client, path, max_depth=1)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r} id={self.member_id!r}>"

    def members(self) -> Dict[str, bytes]:
        """``{member id: data}`` of every member, from the cache; this member
        is always included, with the data it keeps."""
        out: Dict[str, bytes] = {}
        for name in sorted(self.cache.get_children(self.path) or ()):
            nd = self.cache.get_data(join(self.path, name))
            if nd is not None:
                out[name] = nd.data
        out[self.member_id] = bytes(self.node.data)
        return out

    def add_listener(self, fn: Callable[[TreeEvent], Any]) -> None:
        """The cache's events: a member's node added, updated or removed (``TreeEvent``)."""
        self.cache.add_listener(fn)

    def remove_listener(self, fn: Callable[[TreeEvent], Any]) -> None:
        self.cache.remove_listener(fn)


class GroupMember(_GroupMemberCore):
    """Be ``member_id`` in the group at ``path`` with ``data``; see the module docs."""

    def start(self) -> GroupMember:
        self.node.start()
        self.cache.start()
        return self

    def wait_ready(self, timeout: Optional[float] = None) -> bool:
        """True once this member's node exists and the view of the group is loaded."""
        return bool(self.node.wait_for_initial_create(timeout)
                    and self.cache.wait_initialized(timeout))

    def set_data(self, data: Any) -> bool:
        """Change this member's data (see :meth:`PersistentNode.set_data`)."""
        return bool(self.node.set_data(data))

    def close(self) -> None:
        """Leave the group: the view stops, this member's node is deleted."""
        self.cache.close()
        self.node.close()

    def __enter__(self) -> GroupMember:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncGroupMember(_GroupMemberCore):
    """:class:`GroupMember` for :class:`~zkfast.AsyncClient`."""

    _flavor = ASYNC
    _node_cls = AsyncPersistentNode
    _cache_cls = AsyncTreeCache

    async def start(self) -> AsyncGroupMember:
        await self.node.start()
        await self.cache.start()
        return self

    async def wait_ready(self, timeout: Optional[float] = None) -> bool:
        return bool(await self.node.wait_for_initial_create(timeout)
                    and await self.cache.wait_initialized(timeout))

    async def set_data(self, data: Any) -> bool:
        return bool(await self.node.set_data(data))

    async def close(self) -> None:
        await self.cache.close()
        await self.node.close()

    async def __aenter__(self) -> AsyncGroupMember:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
