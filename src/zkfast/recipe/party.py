"""Group membership: :class:`Party` (identifiers stored in each member's
node) and :class:`ShallowParty` (identifiers in the node names: listing the
members is one round trip).

A member is an ephemeral node with a unique name, so a ``join`` whose reply
is lost is retried safely (NodeExists means our own create applied). When
the member's session expires the server removes it; a joined party re-joins
by itself in the client's new session.

>>> party = Party(zk, "/workers", "host-7")   # doctest: +SKIP
>>> party.join()                              # doctest: +SKIP
>>> sorted(party)                             # doctest: +SKIP
['host-7', 'host-9']
"""

from __future__ import annotations

import logging
from typing import Any, Generator, Iterator, List, Optional, Sequence

from ..errors import NoNodeError, ZooKeeperError
from ..events import State
from ..paths import validate_path
from ..steps import Batch
from ._drivers import ASYNC, SYNC, Flavor, drive, run_async, run_sync
from ._names import join, new_guid, to_bytes
from ._nodes import create_unique, delete_quietly

__all__ = ["Party", "ShallowParty", "AsyncParty", "AsyncShallowParty"]

log = logging.getLogger("zkfast.recipe.party")


class _PartyCore:
    _flavor: Flavor = SYNC
    shallow = False
    _marker = "__party__"

    def __init__(self, client: Any, path: str, identifier: Any = None, *,
                 acl: Optional[Sequence[Any]] = None) -> None:
        self._flavor.check(client, type(self).__name__)
        validate_path(path)
        self.client = client
        self.path = path
        self.identifier = identifier
        self.data = to_bytes(identifier)
        self.acl = acl
        if self.shallow:
            ident = "" if identifier is None else str(identifier)
            if "/" in ident:
                raise ValueError("a ShallowParty identifier cannot contain '/'")
            self.name = f"{new_guid()}-{ident}"
        else:
            self.name = new_guid() + self._marker
        self.node = join(path, self.name)
        self.participating = False
        self._sid = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r} joined={self.participating}>"

    def _join_gen(self) -> Generator[Any, Any, None]:
        value = b"" if self.shallow else self.data
        yield from create_unique(self.client, self.node, value, self.acl, ephemeral=True)
        self._sid = self.client.session_id
        if not self.participating:
            self.participating = True
            self.client.add_listener(self._on_state)

    def _leave_gen(self) -> Generator[Any, Any, bool]:
        if not self.participating:
            return False
        self.participating = False
        self.client.remove_listener(self._on_state)
        yield from delete_quietly(self.client, self.node)
        return True

    def _on_state(self, state: State) -> None:
        if state.is_connected and self.participating and self.client.session_id != self._sid:
            # the old session (and our node) is gone: join again in the new one
            def rejoined(_res: Any, err: Optional[BaseException]) -> None:
                if err is not None and not isinstance(err, ZooKeeperError):
                    log.error("re-joining %s failed", self.path, exc_info=err)
            self._sid = self.client.session_id
            drive(self.client, self._rejoin_gen(), rejoined)

    def _rejoin_gen(self) -> Generator[Any, Any, None]:
        if self.participating:
            value = b"" if self.shallow else self.data
            yield from create_unique(self.client, self.node, value, self.acl, ephemeral=True)

    def _members_gen(self) -> Generator[Any, Any, List[str]]:
        engine = self.client.requests
        try:
            children = yield engine.op_get_children(self.path)
        except NoNodeError:
            return []
        if self.shallow:
            return [c[c.find("-") + 1:] for c in children if "-" in c]
        names = [c for c in children if c.endswith(self._marker)]
        results = yield Batch([engine.op_get(join(self.path, c)) for c in names])
        return [r[0].decode("utf-8", "replace") for r in results
                if not isinstance(r, BaseException)]


class Party(_PartyCore):
    """Members of ``path``, each with an identifier kept in its node's data.

    ``join()``, ``leave()``, ``len(party)``, ``list(party)`` (identifiers).
    """

    def join(self) -> None:
        run_sync(self.client, self._join_gen())

    def leave(self) -> bool:
        return run_sync(self.client, self._leave_gen())

    def members(self) -> List[str]:
        return run_sync(self.client, self._members_gen())

    def __iter__(self) -> Iterator[str]:
        return iter(self.members())

    def __len__(self) -> int:
        return len(self.members())


class ShallowParty(Party):
    """A :class:`Party` whose identifiers live in the node names: listing
    the members costs one request, however many there are."""

    shallow = True


class AsyncParty(_PartyCore):
    """:class:`Party` for :class:`~zkfast.AsyncClient` (``await party.members()``)."""

    _flavor = ASYNC

    async def join(self) -> None:
        await run_async(self.client, self._join_gen())

    async def leave(self) -> bool:
        return await run_async(self.client, self._leave_gen())

    async def members(self) -> List[str]:
        return await run_async(self.client, self._members_gen())


class AsyncShallowParty(AsyncParty):
    """:class:`ShallowParty` for :class:`~zkfast.AsyncClient`."""

    shallow = True
