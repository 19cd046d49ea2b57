"""kazoo's test harness (``KazooTestHarness``, ``KazooTestCase``) on zkfast.testing.

Each test gets a client chrooted to a fresh ``/kazootests<hex>`` on a shared
3-server cluster (:mod:`zkfast.kazoo.testing.common`), ``self.client``;
``self._get_client()`` makes more. Two faults:

* ``lose_connection(event_factory)``: the client's connection is cut; it
  reports SUSPENDED, reconnects in the same session and reports CONNECTED.
* ``expire_session(event_factory)``: the server expires the client's session
  (:func:`zkfast.testing.expire_session`: closed from a second connection,
  ephemerals deleted, watches fired); the client reports LOST, gets a new
  session and reports CONNECTED -- without the SUSPENDED in between, as with
  kazoo's harness, whose hook skips the disconnect.

Both return once the client is connected again. Unlike kazoo's, the cluster
is not restarted after each test class: it runs until the process exits.

>>> class MyTest(KazooTestCase):                   # doctest: +SKIP
...     def test_it(self):
...         self.client.create("/x", b"1")
...         self.expire_session(threading.Event)
"""

from __future__ import annotations

import logging
import unittest
import uuid
from typing import Any, Callable, List, Optional

from ..client import KazooClient
from ..exceptions import KazooException
from ..protocol.states import KazooState
from .common import ZookeeperCluster, get_global_cluster

__all__ = ["KazooTestHarness", "KazooTestCase"]

log = logging.getLogger(__name__)

MAX_INIT_TRIES = 5


class KazooTestHarness(unittest.TestCase):
    """A TestCase (or mixin) with a ZooKeeper cluster, chrooted clients and faults."""

    DEFAULT_CLIENT_TIMEOUT = 15

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.client: Optional[KazooClient] = None
        self._clients: List[KazooClient] = []
        self.hosts = ""

    @property
    def cluster(self) -> ZookeeperCluster:
        return get_global_cluster()

    def log(self, level: int, msg: str, *args: Any, **kwargs: Any) -> None:
        log.log(level, msg, *args, **kwargs)

    @property
    def servers(self) -> str:
        return ",".join(s.address for s in self.cluster)

    @property
    def secure_servers(self) -> str:
        return ",".join(s.secure_address for s in self.cluster)

    def _get_nonchroot_client(self) -> KazooClient:
        c = KazooClient(self.servers)
        self._clients.append(c)
        return c

    def _get_client(self, **client_options: Any) -> KazooClient:
        client_options.setdefault("timeout", self.DEFAULT_CLIENT_TIMEOUT)
        c = KazooClient(self.hosts, **client_options)
        self._clients.append(c)
        return c

    def lose_connection(self, event_factory: Callable[[], Any]) -> None:
        """Cut ``self.client``'s connection; returns once it reconnected."""
        assert self.client is not None
        client = self.client
        self._break_connection(client._drop_connection, KazooState.SUSPENDED, event_factory)

    def expire_session(self, event_factory: Callable[[], Any]) -> None:
        """Have the server expire ``self.client``'s session; returns once it is
        connected in a new one."""
        assert self.client is not None
        client = self.client
        self._break_connection(lambda: client._expire_session(self.servers), KazooState.LOST,
                               event_factory)

    def setup_zookeeper(self, **client_options: Any) -> None:
        """Start the cluster if needed and make ``self.client`` (started),
        chrooted to a fresh path."""
        if any(not s.running for s in self.cluster):
            self.cluster.start()
        namespace = "/kazootests" + uuid.uuid4().hex
        self.hosts = self.servers + namespace
        for tries in range(1, MAX_INIT_TRIES + 1):
            try:
                probe = self._get_client()
                probe.start()
                probe.ensure_path("/")
                probe.stop()
                break
            except Exception:
                if tries == MAX_INIT_TRIES:
                    raise
                if tries % 2 == 0:
                    self.log(logging.WARNING, "cluster does not answer: restarting it")
                    self.cluster.stop()
                    self.cluster.start()
        if client_options.get("use_ssl"):
            self.hosts = self.secure_servers + namespace
        self.client = self._get_client(**client_options)
        self.client.start()
        self.client.ensure_path("/")

    def teardown_zookeeper(self) -> None:
        """Stop and close every client this test made."""
        while self._clients:
            c = self._clients.pop()
            try:
                c.stop()
            except KazooException:
                log.exception("Failed stopping client %s", c)
            finally:
                c.close()
        self.client = None

    def _break_connection(self, trigger: Callable[[], Any], expected_state: str,
                          event_factory: Callable[[], Any]) -> None:
        assert self.client is not None
        client = self.client
        lost = event_factory()
        safe = event_factory()

        def watch_loss(state: str) -> Optional[bool]:
            if state == expected_state:
                lost.set()
            elif lost.is_set() and state == KazooState.CONNECTED:
                safe.set()
                return True
            return None

        client.add_listener(watch_loss)
        trigger()
        lost.wait(5)
        if not lost.is_set():
            raise Exception("Failed to get notified of broken connection.")
        safe.wait(15)
        if not safe.is_set():
            raise Exception("Failed to see client reconnect.")
        client.retry(client.get_async, "/")


class KazooTestCase(KazooTestHarness):
    """:class:`KazooTestHarness` with ``setup_zookeeper()`` / ``teardown_zookeeper()``
    as ``setUp`` / ``tearDown``."""

    def setUp(self) -> None:
        self.setup_zookeeper()

    def tearDown(self) -> None:
        self.teardown_zookeeper()
