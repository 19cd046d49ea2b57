"""PersistentTtlNode: a node that lives while its owner does, *without* a session.

An ephemeral node dies with its session; a TTL node (ZooKeeper 3.5.3+, with
``extendedTypesEnabled=true`` on the server) is deleted by the server once it
has had no children and no change for ``ttl`` seconds. Curator's
PersistentTtlNode combines the two ideas: a :class:`PersistentNode` keeps a
TTL node at ``path``, and a child ``<path>/touch`` (also a TTL node) is
written every ``ttl / touch_factor`` seconds. While the process runs the
child is fresh, so the parent has a child and stays; once the process stops
(or closes the recipe), the child expires after ``ttl``, then the parent.
A session expiry changes nothing: the node is persistent.

The server looks for expired TTL nodes every ``znode.container.checkIntervalMs``
(a server JVM property, 60 s by default), so "gone" means "gone within a
check interval after ``ttl``".

>>> node = PersistentTtlNode(zk, "/alive/host-1", ttl=30, data=b"up").start()   # doctest: +SKIP
>>> node.close()     # stop touching: the server removes it ~30 s later         # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Generator, Optional, Sequence

from ..arguments import ttl_ms
from ..errors import NodeExistsError, NoNodeError, ZooKeeperError
from ._drivers import ASYNC, SYNC, Flavor, drive
from ._names import join
from ._nodes import acl_or_default
from .persistent import AsyncPersistentNode, PersistentNode

__all__ = ["PersistentTtlNode", "AsyncPersistentTtlNode"]

log = logging.getLogger("zkfast.recipe.ttl_node")

#: Curator's name for the child that keeps a TTL node alive.
TOUCH_NODE = "touch"


class _KeptTtlNode(PersistentNode):
    delete_on_close = False  # left for the server to remove after its TTL


class _AsyncKeptTtlNode(AsyncPersistentNode):
    delete_on_close = False


class _TtlNodeCore:
    _flavor: Flavor = SYNC
    _node_cls: Any = _KeptTtlNode

    def __init__(self, client: Any, path: str, ttl: float, data: Any = b"", *,
                 touch_name: str = TOUCH_NODE, touch_factor: int = 2,
                 acl: Optional[Sequence[Any]] = None, makepath: bool = True,
                 listener: Optional[Callable[[str], Any]] = None) -> None:
        self._flavor.check(client, type(self).__name__)
        ttl_ms(ttl)  # a typed error for a bad TTL, before anything starts
        if not isinstance(touch_factor, int) or isinstance(touch_factor, bool) or touch_factor < 2:
            raise ValueError("touch_factor must be an int >= 2 (touches per TTL)")
        if not touch_name or "/" in touch_name:
            raise ValueError("touch_name must be one node name")
        self.client = client
        self.ttl = float(ttl)
        self.touch_interval = self.ttl / touch_factor
        self.node = self._node_cls(client, path, data, ephemeral=False, ttl=ttl, acl=acl,
                                   makepath=makepath, listener=listener)
        self.touch_path = join(path, touch_name)
        self.acl = acl
        self._timer: Any = None
        self._closed = False
        #: how many touches were written (for tests and metrics)
        self.touches = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.node.base_path!r} ttl={self.ttl}>"

    @property
    def path(self) -> Optional[str]:
        return None if self.node.path is None else str(self.node.path)

    @property
    def data(self) -> bytes:
        return bytes(self.node.data)

    def _begin_touching(self) -> None:
        self._timer = self._flavor.call_later(self.client, self.touch_interval, self._tick)

    def _tick(self) -> None:
        if self._closed:
            return
        drive(self.client, self._touch_gen(), self._touched)

    def _touched(self, _result: Any, error: Optional[BaseException]) -> None:
        if error is not None and not isinstance(error, ZooKeeperError):
            log.error("%r: touch failed", self, exc_info=error)
        if not self._closed:
            self._begin_touching()

    def _touch_gen(self) -> Generator[Any, Any, None]:
        """Write the touch child (a TTL node too), creating it if needed; a
        missing parent is the PersistentNode's to make again."""
        engine = self.client.requests
        try:
            yield engine.op_set(self.touch_path, b"")
        except NoNodeError:
            try:
                yield engine.op_create(self.touch_path, b"", acl_or_default(self.client, self.acl),
                                       ttl=self.ttl)
            except (NoNodeError, NodeExistsError):
                return
        self.touches += 1

    def _stop_touching(self) -> None:
        self._closed = True
        t, self._timer = self._timer, None
        if t is not None:
            t.cancel()


class PersistentTtlNode(_TtlNodeCore):
    """A TTL node at ``path`` kept alive by touching ``<path>/touch`` every
    ``ttl / touch_factor`` seconds; :meth:`close` stops touching and leaves
    the node to the server's TTL (see the module docs)."""

    def start(self) -> PersistentTtlNode:
        self.node.start()
        self._begin_touching()
        return self

    def wait_for_initial_create(self, timeout: Optional[float] = None) -> bool:
        return bool(self.node.wait_for_initial_create(timeout))

    def set_data(self, data: Any) -> bool:
        return bool(self.node.set_data(data))

    def close(self) -> None:
        self._stop_touching()
        self.node.close()

    def __enter__(self) -> PersistentTtlNode:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncPersistentTtlNode(_TtlNodeCore):
    """:class:`PersistentTtlNode` for :class:`~zkfast.AsyncClient`."""

    _flavor = ASYNC
    _node_cls = _AsyncKeptTtlNode

    async def start(self) -> AsyncPersistentTtlNode:
        await self.node.start()
        self._begin_touching()
        return self

    async def wait_for_initial_create(self, timeout: Optional[float] = None) -> bool:
        return bool(await self.node.wait_for_initial_create(timeout))

    async def set_data(self, data: Any) -> bool:
        return bool(await self.node.set_data(data))

    async def close(self) -> None:
        self._stop_touching()
        await self.node.close()

    async def __aenter__(self) -> AsyncPersistentTtlNode:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
