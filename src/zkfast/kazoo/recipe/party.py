"""kazoo's party (group membership): members hold ephemeral nodes under ``path``.

* :class:`Party`: ``<path>/<32 hex>__party__``, the identifier as data.
* :class:`ShallowParty`: ``<path>/<32 hex>-<identifier>`` (the identifier in
  the name: one call lists everyone; it must be a valid node name).

>>> party = zk.Party("/workers", "host-1")   # doctest: +SKIP
>>> party.join(); len(party), list(party)
(1, ['host-1'])
"""

from __future__ import annotations

import uuid
from typing import Any, Iterator, List, Optional

from ..exceptions import NodeExistsError, NoNodeError

__all__ = ["Party", "ShallowParty"]


class BaseParty:
    """What both parties share: ``join()``, ``leave()``, ``len()``, ``participating``."""

    create_path: str

    def __init__(self, client: Any, path: str, identifier: Optional[str] = None) -> None:
        self.client = client
        self.path = path
        self.data = str(identifier or "").encode("utf-8")
        self.ensured_path = False
        self.participating = False

    def _ensure_parent(self) -> None:
        if not self.ensured_path:
            self.client.ensure_path(self.path)
            self.ensured_path = True

    def join(self) -> None:
        """Join the party (again after a lost session, too)."""
        self.client.retry(self._inner_join)

    def _inner_join(self) -> None:
        self._ensure_parent()
        try:
            self.client.create(self.create_path, self.data, ephemeral=True)
        except NodeExistsError:
            pass  # ours from before a lost reply, or a reconnect
        self.participating = True

    def leave(self) -> bool:
        """Leave the party; False if we were not in it."""
        self.participating = False
        return bool(self.client.retry(self._inner_leave))

    def _inner_leave(self) -> bool:
        try:
            self.client.delete(self.create_path)
        except NoNodeError:
            return False
        return True

    def __len__(self) -> int:
        self._ensure_parent()
        return len(self._get_children())

    def _get_children(self) -> List[str]:
        return list(self.client.retry(self.client.get_children, self.path))


class Party(BaseParty):
    """Members' identifiers are the data of their nodes."""

    _NODE_NAME = "__party__"

    def __init__(self, client: Any, path: str, identifier: Optional[str] = None) -> None:
        super().__init__(client, path, identifier)
        self.node = uuid.uuid4().hex + self._NODE_NAME
        self.create_path = self.path + "/" + self.node

    def __iter__(self) -> Iterator[str]:
        """The members' identifiers."""
        self._ensure_parent()
        for child in self._get_children():
            try:
                data, _stat = self.client.retry(self.client.get, self.path + "/" + child)
            except NoNodeError:
                continue
            yield (data or b"").decode("utf-8")

    def _get_children(self) -> List[str]:
        return [c for c in super()._get_children() if self._NODE_NAME in c]


class ShallowParty(BaseParty):
    """Members' identifiers are in their node names (one call lists them)."""

    def __init__(self, client: Any, path: str, identifier: Optional[str] = None) -> None:
        super().__init__(client, path, identifier)
        self.node = "-".join([uuid.uuid4().hex, self.data.decode("utf-8")])
        self.create_path = self.path + "/" + self.node

    def __iter__(self) -> Iterator[str]:
        """The members' identifiers."""
        self._ensure_parent()
        for child in self._get_children():
            yield child[child.find("-") + 1:]
