"""One adapter class per client column; ``ADAPTERS`` maps a client name to its class."""

from .aiozk_client import AiozkAdapter
from .base import Adapter, NotApplicable
from .kazoo_client import KazooAdapter, ZkKazooAdapter
from .raw_socket import RawAdapter
from .zkfast_clients import ZkAioAdapter, ZkSyncAdapter

__all__ = ["ADAPTERS", "Adapter", "NotApplicable"]

ADAPTERS = {
    "zk-sync-cy": ZkSyncAdapter,
    "zk-sync-py": ZkSyncAdapter,
    "zk-aio-cy": ZkAioAdapter,
    "zk-aio-py": ZkAioAdapter,
    "zk-kazoo-cy": ZkKazooAdapter,
    "zk-kazoo-py": ZkKazooAdapter,
    "kazoo": KazooAdapter,
    "aiozk": AiozkAdapter,
    "raw": RawAdapter,
}
