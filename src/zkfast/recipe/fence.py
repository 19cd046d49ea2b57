"""Fenced writes: create, set and delete that apply only while a hold is held.

A lock holder (or leader) that loses its session can go on writing for a
while before it learns the news -- a long GC pause, a stalled thread, a
partition -- and by then another holder may be writing too. A fence closes
that window: each write goes to the server as a ``multi`` whose first op is
a ``check`` of the holder's own node (any version). The server applies the
whole multi atomically, so the write happens only if the node still exists,
that is, only if the session that owns it (ephemeral) is alive and the hold
is still ours (the node's name carries a guid no one else uses).

Otherwise nothing is applied and :class:`~zkfast.HoldLostError` is raised
(also at once, without a round trip, when the recipe already knows it lost
the hold). A write whose reply is lost raises
:class:`~zkfast.ConnectionLossError` as usual: it may or may not have been
applied, and is not retried.

A Fence works with anything that holds through a node of its own:
:class:`~zkfast.recipe.Lock` (and the read/write locks),
:class:`~zkfast.recipe.Semaphore`, :class:`~zkfast.recipe.LeaderLatch`,
:class:`~zkfast.recipe.LeaderSelector` -- on either client; on an
AsyncClient every call returns an awaitable.

>>> with Lock(zk, "/locks/accounts") as lock:                    # doctest: +SKIP
...     fence = Fence(lock)
...     fence.set("/accounts/42", b"balance=17")
...     fence.multi(SetData("/a", b"x"), Delete("/b"))
"""

from __future__ import annotations

from typing import Any, Generator, List, Optional, Sequence

from ..errors import HoldLostError, NoNodeError, TransactionFailedError
from ..transaction import Check, Create, Delete, SetData

__all__ = ["Fence"]


class Fence:
    """Writes fenced on ``holder``'s hold (see the module docs)."""

    def __init__(self, holder: Any) -> None:
        if not hasattr(holder, "node") or not (hasattr(holder, "is_acquired")
                                               or hasattr(holder, "has_leadership")):
            raise TypeError(f"a Fence needs a lock, semaphore, latch or selector, "
                            f"not {type(holder).__name__}")
        self.holder = holder
        self.client = holder.client

    def __repr__(self) -> str:
        return f"<Fence on {self.holder!r}>"

    def held_node(self) -> str:
        """The holder's node, if the holder believes it holds; else
        :class:`~zkfast.HoldLostError` (no round trip)."""
        h = self.holder
        held = h.is_acquired if hasattr(h, "is_acquired") else h.has_leadership
        lost = getattr(h, "lost", None)
        node: Optional[str] = h.node
        if not held or node is None or (lost is not None and lost.is_set()):
            raise HoldLostError(path=node or getattr(h, "path", None))
        return node

    def ops(self, *ops: Any) -> List[Any]:
        """``[Check(node), *ops]``: the ops fenced, for a multi of your own
        (raises :class:`~zkfast.HoldLostError` if the hold is known lost)."""
        return [Check(self.held_node(), -1), *ops]

    def _commit(self, ops: Sequence[Any], single: bool) -> Generator[Any, Any, Any]:
        fenced = self.ops(*ops)
        node = fenced[0].path
        try:
            results = yield self.client.requests.op_multi(fenced)
        except TransactionFailedError as e:
            if isinstance(e.results[0], NoNodeError):
                raise HoldLostError(path=node) from e
            if single:
                raise e.results[1] from e
            raise
        return results[1:]

    def _one(self, op: Any) -> Generator[Any, Any, Any]:
        results = yield from self._commit([op], True)
        return results[0]

    def multi(self, *ops: Any) -> Any:
        """Apply ``ops`` (:mod:`zkfast.transaction` ops) atomically, fenced: one
        result per op; :class:`~zkfast.TransactionFailedError` if one of them
        fails, :class:`~zkfast.HoldLostError` if the hold is lost."""
        return self.client.run_steps(self._commit(ops, False))

    def create(self, path: str, value: bytes = b"", acl: Optional[Sequence[Any]] = None, *,
               ephemeral: bool = False, sequence: bool = False,
               ttl: Optional[float] = None) -> Any:
        """``create``, fenced: the created path."""
        acl = acl if acl is not None else self.client.default_acl
        return self.client.run_steps(self._one(Create(path, value, acl, ephemeral, sequence,
                                                      False, ttl)))

    def set(self, path: str, value: bytes, version: int = -1) -> Any:
        """``set``, fenced: the node's new Stat."""
        return self.client.run_steps(self._one(SetData(path, value, version)))

    def delete(self, path: str, version: int = -1) -> Any:
        """``delete``, fenced."""
        return self.client.run_steps(self._one(Delete(path, version)))
