"""ServiceDiscovery: register, update, unregister and query service instances.

The layout is curator-x-discovery's: ``<base>/<service name>/<instance id>``,
each node holding the instance's JSON (:mod:`.instance`). An instance is kept
registered by a :class:`~zkfast.recipe.PersistentNode`:

* ``DYNAMIC`` (default): an ephemeral node. It goes with its session and is
  registered again in the next one by itself; also when someone deletes it.
* ``DYNAMIC_SEQUENTIAL``: an ephemeral sequential node ``<id><seq>``.
* ``STATIC`` / ``PERMANENT``: a persistent node (deleted by ``unregister`` or
  ``close``).

(Curator re-registers each instance on every reconnect by deleting and
creating its node again; zkfast keeps the node instead, so watchers do not
see an instance flap on a mere reconnect. Java and Python see the same
instances either way.)

>>> discovery = ServiceDiscovery(zk, "/services")                             # doctest: +SKIP
>>> web = ServiceInstance("web", address="10.0.0.7", port=8080, uri_spec="{scheme}://{address}:{port}")
>>> discovery.register(web)                                                  # doctest: +SKIP
>>> [i.build_uri() for i in discovery.query_for_instances("web")]            # doctest: +SKIP
['http://10.0.0.7:8080']
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Dict, Generator, List, Optional, Sequence, Tuple, Union

from ...errors import NoNodeError, WaitTimeoutError
from ...paths import validate_path
from ...steps import Batch
from .._drivers import ASYNC, SYNC, Flavor, run_async, run_sync
from .._names import join
from ..persistent import AsyncPersistentNode, PersistentNode
from .instance import InvalidInstanceError, ServiceInstance, ServiceType

__all__ = ["ServiceDiscovery", "AsyncServiceDiscovery"]

log = logging.getLogger("zkfast.recipe.discovery")

InstanceOrId = Union[ServiceInstance, str]


class _DiscoveryCore:
    _flavor: Flavor = SYNC
    _node_cls: Any = PersistentNode

    def __init__(self, client: Any, base_path: str, *, acl: Optional[Sequence[Any]] = None) -> None:
        self._flavor.check(client, type(self).__name__)
        validate_path(base_path)
        self.client = client
        self.base_path = base_path
        self.acl = acl
        self._registered: Dict[str, Tuple[ServiceInstance, Any]] = {}  # by id
        self._mutex = threading.Lock()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_path!r} registered={len(self._registered)}>"

    def path_for_name(self, name: str) -> str:
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"a service name is one node name, not {name!r}")
        return join(self.base_path, name)

    def path_for_instance(self, name: str, instance_id: str) -> str:
        if not isinstance(instance_id, str) or not instance_id or "/" in instance_id:
            raise ValueError(f"an instance id is one node name, not {instance_id!r}")
        return join(self.path_for_name(name), instance_id)

    @property
    def registered(self) -> List[ServiceInstance]:
        """The instances this discovery keeps registered."""
        with self._mutex:
            return [inst for inst, _ in self._registered.values()]

    def _make_node(self, instance: ServiceInstance) -> Any:
        if not isinstance(instance, ServiceInstance):
            raise TypeError(f"register takes a ServiceInstance, not {type(instance).__name__}")
        path = self.path_for_instance(instance.name, instance.id)
        data = instance.to_json()
        kind = instance.service_type
        if kind == ServiceType.DYNAMIC:
            return self._node_cls(self.client, path, data, ephemeral=True, acl=self.acl)
        if kind == ServiceType.DYNAMIC_SEQUENTIAL:  # the id is unique: it finds a lost create
            return self._node_cls(self.client, path, data, ephemeral=True, sequence=True,
                                  protected=False, acl=self.acl)
        return self._node_cls(self.client, path, data, ephemeral=False, acl=self.acl)

    def _take(self, instance: InstanceOrId) -> Optional[Any]:
        key = instance.id if isinstance(instance, ServiceInstance) else instance
        with self._mutex:
            entry = self._registered.pop(key, None)
        return None if entry is None else entry[1]

    def _entry_for_update(self, instance: ServiceInstance) -> Any:
        with self._mutex:
            entry = self._registered.get(instance.id)
            if entry is None:
                raise ValueError(f"instance {instance.id!r} is not registered here")
            old, node = entry
            if (old.name, old.service_type) != (instance.name, instance.service_type):
                raise ValueError("update keeps an instance's name and service type; "
                                 "unregister and register to change them")
            self._registered[instance.id] = (instance, node)
        return node

    # ------------------------------------------------------------ queries

    def _names_gen(self) -> Generator[Any, Any, List[str]]:
        try:
            names = yield self.client.requests.op_get_children(self.base_path)
        except NoNodeError:
            return []
        return sorted(names)

    def _instances_gen(self, name: str) -> Generator[Any, Any, List[ServiceInstance]]:
        engine = self.client.requests
        path = self.path_for_name(name)
        try:
            ids = yield engine.op_get_children(path)
        except NoNodeError:
            return []
        ids = sorted(ids)
        results = yield Batch([engine.op_get(join(path, i)) for i in ids])
        out = []
        for i, r in zip(ids, results):
            if isinstance(r, NoNodeError):
                continue  # unregistered meanwhile
            if isinstance(r, BaseException):
                raise r
            try:
                out.append(ServiceInstance.from_json(r[0]))
            except InvalidInstanceError as e:
                log.warning("%s/%s is no service instance, skipped: %s", path, i, e)
        return out

    def _instance_gen(self, name: str, instance_id: str) -> Generator[Any, Any, Optional[ServiceInstance]]:
        try:
            data, _ = yield self.client.requests.op_get(self.path_for_instance(name, instance_id))
        except NoNodeError:
            return None
        return ServiceInstance.from_json(data)


class ServiceDiscovery(_DiscoveryCore):
    """Service discovery at ``base_path`` (curator-x-discovery's layout and JSON)."""

    def register(self, instance: ServiceInstance, timeout: Optional[float] = 30.0) -> None:
        """Register ``instance`` and keep it registered until unregistered.
        Returns once its node exists; :class:`~zkfast.WaitTimeoutError` if that
        takes longer than ``timeout`` (it stays registered in the background:
        a node of another session may be in the way until that session ends).
        Registering an id again updates it."""
        with self._mutex:
            known = instance.id in self._registered if isinstance(instance, ServiceInstance) else False
        if known:
            self.update(instance)
            return
        node = self._make_node(instance)
        with self._mutex:
            self._registered[instance.id] = (instance, node)
        node.start()
        if not node.wait_for_initial_create(timeout):
            raise WaitTimeoutError(f"instance {instance.id} not registered within {timeout}s",
                                   path=node.base_path)

    def update(self, instance: ServiceInstance) -> None:
        """Write a registered instance's new data (same id, name and type)."""
        self._entry_for_update(instance).set_data(instance.to_json())

    def unregister(self, instance: InstanceOrId) -> bool:
        """Stop keeping ``instance`` (or its id) and delete its node; False if unknown."""
        node = self._take(instance)
        if node is None:
            return False
        node.close()
        return True

    def query_for_names(self) -> List[str]:
        """Names of every service under the base path."""
        return run_sync(self.client, self._names_gen())

    def query_for_instances(self, name: str) -> List[ServiceInstance]:
        """Every instance of service ``name`` (nodes that are no instance are skipped, logged)."""
        return run_sync(self.client, self._instances_gen(name))

    def query_for_instance(self, name: str, instance_id: str) -> Optional[ServiceInstance]:
        """One instance, or None (:class:`InvalidInstanceError` if its node holds none)."""
        return run_sync(self.client, self._instance_gen(name, instance_id))

    def service_cache(self, name: str) -> Any:
        """A :class:`ServiceCache` of service ``name`` (not started)."""
        from .provider import ServiceCache
        return ServiceCache(self, name)

    def service_provider(self, name: str, strategy: Any = "round_robin", **kwargs: Any) -> Any:
        """A :class:`ServiceProvider` of service ``name`` (not started)."""
        from .provider import ServiceProvider
        return ServiceProvider(self, name, strategy, **kwargs)

    def close(self) -> None:
        """Unregister every instance registered here."""
        with self._mutex:
            ids = list(self._registered)
        for i in ids:
            self.unregister(i)

    def __enter__(self) -> ServiceDiscovery:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncServiceDiscovery(_DiscoveryCore):
    """:class:`ServiceDiscovery` for :class:`~zkfast.AsyncClient`."""

    _flavor = ASYNC
    _node_cls = AsyncPersistentNode

    async def register(self, instance: ServiceInstance, timeout: Optional[float] = 30.0) -> None:
        with self._mutex:
            known = instance.id in self._registered if isinstance(instance, ServiceInstance) else False
        if known:
            await self.update(instance)
            return
        node = self._make_node(instance)
        with self._mutex:
            self._registered[instance.id] = (instance, node)
        await node.start()
        if not await node.wait_for_initial_create(timeout):
            raise WaitTimeoutError(f"instance {instance.id} not registered within {timeout}s",
                                   path=node.base_path)

    async def update(self, instance: ServiceInstance) -> None:
        await self._entry_for_update(instance).set_data(instance.to_json())

    async def unregister(self, instance: InstanceOrId) -> bool:
        node = self._take(instance)
        if node is None:
            return False
        await node.close()
        return True

    async def query_for_names(self) -> List[str]:
        return await run_async(self.client, self._names_gen())

    async def query_for_instances(self, name: str) -> List[ServiceInstance]:
        return await run_async(self.client, self._instances_gen(name))

    async def query_for_instance(self, name: str, instance_id: str) -> Optional[ServiceInstance]:
        return await run_async(self.client, self._instance_gen(name, instance_id))

    def service_cache(self, name: str) -> Any:
        from .provider import AsyncServiceCache
        return AsyncServiceCache(self, name)

    def service_provider(self, name: str, strategy: Any = "round_robin", **kwargs: Any) -> Any:
        from .provider import AsyncServiceProvider
        return AsyncServiceProvider(self, name, strategy, **kwargs)

    async def close(self) -> None:
        with self._mutex:
            ids = list(self._registered)
        for i in ids:
            await self.unregister(i)

    async def __aenter__(self) -> AsyncServiceDiscovery:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
