"""Cached views of a service: ServiceCache (the instances) and ServiceProvider
(one instance per call, by a strategy), as in curator-x-discovery.

A :class:`ServiceCache` is a :class:`~zkfast.recipe.TreeCache` of
``<base>/<name>`` limited to its children, so reading the instances costs no
round trip and changes arrive through one watch. A :class:`ServiceProvider`
picks from the cached instances that are enabled, pass its ``filters`` and
are not marked down: ``note_error(instance)`` counts errors against an
instance, and after ``error_threshold`` of them it is left out for
``timeout`` seconds (Curator's DownInstancePolicy: 2 errors, 30 s).

Strategies (``strategy=``): ``"round_robin"`` (Curator's default),
``"random"``, ``"sticky"`` (the same instance while it stays available;
then another, chosen round-robin), or any object with
``get_instance(instances) -> ServiceInstance | None``.

>>> provider = discovery.service_provider("web", "sticky").start()   # doctest: +SKIP
>>> provider.wait_initialized(10)                                   # doctest: +SKIP
True
>>> provider.get_instance().build_uri()                             # doctest: +SKIP
'http://10.0.0.7:8080'
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .._names import join
from ..cache import AsyncTreeCache, TreeCache, TreeEvent, TreeEventType
from .instance import InvalidInstanceError, ServiceInstance

__all__ = ["ServiceCache", "AsyncServiceCache", "ServiceProvider", "AsyncServiceProvider",
           "RoundRobinStrategy", "RandomStrategy", "StickyStrategy", "DownInstancePolicy"]

log = logging.getLogger("zkfast.recipe.discovery")


# ---------------------------------------------------------------- strategies


class RoundRobinStrategy:
    """Each call the next instance, in turn."""

    def __init__(self) -> None:
        self._next = itertools.count()

    def get_instance(self, instances: Sequence[ServiceInstance]) -> Optional[ServiceInstance]:
        if not instances:
            return None
        return instances[next(self._next) % len(instances)]


class RandomStrategy:
    """Each call an instance at random."""

    def get_instance(self, instances: Sequence[ServiceInstance]) -> Optional[ServiceInstance]:
        return random.choice(instances) if instances else None


class StickyStrategy:
    """The same instance while it is available; then one from ``master``."""

    def __init__(self, master: Optional[Any] = None) -> None:
        self.master = master if master is not None else RoundRobinStrategy()
        self._ours: Optional[ServiceInstance] = None
        self._lock = threading.Lock()
        #: how many times it had to pick a new instance
        self.instance_number = -1

    def get_instance(self, instances: Sequence[ServiceInstance]) -> Optional[ServiceInstance]:
        with self._lock:
            ours = self._ours
            if ours is not None and any(i.key == ours.key for i in instances):
                return next(i for i in instances if i.key == ours.key)
            self._ours = self.master.get_instance(instances)
            if self._ours is not None:
                self.instance_number += 1
            return self._ours


_STRATEGIES: Dict[str, Callable[[], Any]] = {
    "round_robin": RoundRobinStrategy, "random": RandomStrategy, "sticky": StickyStrategy,
}


def strategy_for(strategy: Any) -> Any:
    if isinstance(strategy, str):
        try:
            return _STRATEGIES[strategy]()
        except KeyError:
            raise ValueError(f"unknown strategy {strategy!r}; one of {sorted(_STRATEGIES)}") from None
    if not callable(getattr(strategy, "get_instance", None)):
        raise TypeError("a strategy is 'round_robin', 'random', 'sticky' or has get_instance()")
    return strategy


class DownInstancePolicy:
    """After ``error_threshold`` noted errors an instance is down for ``timeout`` s."""

    def __init__(self, timeout: float = 30.0, error_threshold: int = 2) -> None:
        if not isinstance(timeout, (int, float)) or timeout < 0:
            raise ValueError("timeout must be a number of seconds >= 0")
        if isinstance(error_threshold, bool) or not isinstance(error_threshold, int) \
                or error_threshold < 1:
            raise ValueError("error_threshold must be an int >= 1")
        self.timeout = float(timeout)
        self.error_threshold = error_threshold


class _DownInstances:
    def __init__(self, policy: DownInstancePolicy) -> None:
        self.policy = policy
        self._errors: Dict[Tuple[str, str], Tuple[float, int]] = {}  # key -> (first error, count)
        self._lock = threading.Lock()

    def note(self, instance: ServiceInstance) -> None:
        with self._lock:
            self._purge()
            since, n = self._errors.get(instance.key, (time.monotonic(), 0))
            self._errors[instance.key] = (since, n + 1)

    def is_up(self, instance: ServiceInstance) -> bool:
        with self._lock:
            self._purge()
            entry = self._errors.get(instance.key)
            return entry is None or entry[1] < self.policy.error_threshold

    def _purge(self) -> None:
        now = time.monotonic()
        for key in [k for k, (since, _) in self._errors.items() if now - since >= self.policy.timeout]:
            del self._errors[key]


# ---------------------------------------------------------------- the cache


class _ServiceCacheCore:
    _cache_cls: Any = TreeCache

    def __init__(self, discovery: Any, name: str) -> None:
        self.discovery = discovery
        self.name = name
        self.path = discovery.path_for_name(name)
        self.cache = self._cache_cls(discovery.client, self.path, max_depth=1)
        self._decoded: Dict[str, Tuple[int, Optional[ServiceInstance]]] = {}  # path -> (mzxid, ..)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r}>"

    def instances(self) -> List[ServiceInstance]:
        """The cached instances (sorted by id); nodes that are none are left out."""
        out = []
        for child in sorted(self.cache.get_children(self.path) or ()):
            p = join(self.path, child)
            nd = self.cache.get_data(p)
            if nd is None:
                continue
            with self._lock:
                memo = self._decoded.get(p)
            if memo is None or memo[0] != nd.stat.mzxid:
                try:
                    inst: Optional[ServiceInstance] = ServiceInstance.from_json(nd.data)
                except InvalidInstanceError as e:
                    log.warning("%s is no service instance, skipped: %s", p, e)
                    inst = None
                memo = (nd.stat.mzxid, inst)
                with self._lock:
                    self._decoded[p] = memo
            if memo[1] is not None:
                out.append(memo[1])
        return out

    def add_listener(self, fn: Callable[[TreeEvent], Any]) -> None:
        """``fn(event)`` when an instance is added, changed or removed (and on
        the cache's INITIALIZED / connection events)."""
        def relay(event: TreeEvent) -> Any:
            if event.path == self.path:
                return None  # the service's own node
            if event.type == TreeEventType.NODE_REMOVED and event.path is not None:
                with self._lock:
                    self._decoded.pop(event.path, None)
            return fn(event)
        self.cache.add_listener(relay)


class ServiceCache(_ServiceCacheCore):
    """A live list of service ``name``'s instances (module docs)."""

    def start(self) -> ServiceCache:
        self.cache.start()
        return self

    def wait_initialized(self, timeout: Optional[float] = None) -> bool:
        return bool(self.cache.wait_initialized(timeout))

    def close(self) -> None:
        self.cache.close()

    def __enter__(self) -> ServiceCache:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncServiceCache(_ServiceCacheCore):
    """:class:`ServiceCache` for :class:`~zkfast.AsyncClient`."""

    _cache_cls = AsyncTreeCache

    async def start(self) -> AsyncServiceCache:
        await self.cache.start()
        return self

    async def wait_initialized(self, timeout: Optional[float] = None) -> bool:
        return bool(await self.cache.wait_initialized(timeout))

    async def close(self) -> None:
        await self.cache.close()

    async def __aenter__(self) -> AsyncServiceCache:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


# ---------------------------------------------------------------- the provider


class _ProviderCore:
    _cache_cls: Any = ServiceCache

    def __init__(self, discovery: Any, name: str, strategy: Any = "round_robin", *,
                 down_instance_policy: Optional[DownInstancePolicy] = None,
                 filters: Sequence[Callable[[ServiceInstance], bool]] = ()) -> None:
        self.strategy = strategy_for(strategy)
        if not all(callable(f) for f in filters):
            raise TypeError("filters are callables taking a ServiceInstance")
        self.filters = list(filters)
        self.service_cache = self._cache_cls(discovery, name)
        self._down = _DownInstances(down_instance_policy or DownInstancePolicy())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.service_cache.path!r}>"

    def get_all_instances(self) -> List[ServiceInstance]:
        """The instances to choose from: enabled, passing the filters, not down."""
        return [i for i in self.service_cache.instances()
                if i.enabled and self._down.is_up(i) and all(f(i) for f in self.filters)]

    def get_instance(self) -> Optional[ServiceInstance]:
        """One instance by the strategy, or None when there is none."""
        return self.strategy.get_instance(self.get_all_instances())  # type: ignore[no-any-return]

    def note_error(self, instance: ServiceInstance) -> None:
        """Count an error against ``instance`` (see DownInstancePolicy)."""
        self._down.note(instance)


class ServiceProvider(_ProviderCore):
    """Instances of service ``name``, one at a time by ``strategy`` (module docs)."""

    def start(self) -> ServiceProvider:
        self.service_cache.start()
        return self

    def wait_initialized(self, timeout: Optional[float] = None) -> bool:
        return bool(self.service_cache.wait_initialized(timeout))

    def close(self) -> None:
        self.service_cache.close()

    def __enter__(self) -> ServiceProvider:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncServiceProvider(_ProviderCore):
    """:class:`ServiceProvider` for :class:`~zkfast.AsyncClient`."""

    _cache_cls = AsyncServiceCache

    async def start(self) -> AsyncServiceProvider:
        await self.service_cache.start()
        return self

    async def wait_initialized(self, timeout: Optional[float] = None) -> bool:
        return bool(await self.service_cache.wait_initialized(timeout))

    async def close(self) -> None:
        await self.service_cache.close()

    async def __aenter__(self) -> AsyncServiceProvider:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
