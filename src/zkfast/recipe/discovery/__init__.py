"""Service discovery compatible with Apache Curator's curator-x-discovery.

* :class:`ServiceInstance` / :class:`ServiceType` / :class:`UriSpec`: an instance
  and its JSON (``instance.py``);
* :class:`ServiceDiscovery`: register (kept registered through session loss),
  update, unregister, query (``registry.py``);
* :class:`ServiceCache` / :class:`ServiceProvider`: a live view of one service and
  an instance per call by strategy (``provider.py``).

Layout: ``<base>/<service name>/<instance id>`` holding the instance's JSON, as
Curator's ``ServiceDiscoveryImpl`` and ``JsonInstanceSerializer`` write it, so Java
services registered with Curator and Python services registered with zkfast find
each other.

>>> from zkfast.recipe.discovery import ServiceDiscovery, ServiceInstance
>>> discovery = ServiceDiscovery(zk, "/services")                           # doctest: +SKIP
>>> discovery.register(ServiceInstance("web", address="10.0.0.7", port=80))  # doctest: +SKIP
"""

from .instance import InvalidInstanceError, ServiceInstance, ServiceType, UriSpec
from .provider import (
    AsyncServiceCache,
    AsyncServiceProvider,
    DownInstancePolicy,
    RandomStrategy,
    RoundRobinStrategy,
    ServiceCache,
    ServiceProvider,
    StickyStrategy,
)
from .registry import AsyncServiceDiscovery, ServiceDiscovery

__all__ = [
    "ServiceInstance", "ServiceType", "UriSpec", "InvalidInstanceError",
    "ServiceDiscovery", "AsyncServiceDiscovery", "ServiceCache", "AsyncServiceCache",
    "ServiceProvider", "AsyncServiceProvider", "RoundRobinStrategy", "RandomStrategy",
    "StickyStrategy", "DownInstancePolicy",
]
