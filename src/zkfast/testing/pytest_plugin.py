"""pytest fixtures backed by real ZooKeeper servers.

Enable in a root ``conftest.py`` with ``pytest_plugins = ["zkfast.testing.pytest_plugin"]``
(or ``-p zkfast.testing.pytest_plugin``). Servers start lazily, the first time a test asks
for them, and live for the whole session:

- ``zk_server``      standalone server (``.hosts``)
- ``zk_ensemble``    3-node :class:`~zkfast.testing.Ensemble`
- ``zk_tls_server``  server with a TLS port (``ssl.clientAuth=want``: client cert optional)
- ``zk_sasl_server`` server with SASL DIGEST-MD5 users :data:`SASL_USERS`
- ``zk_proxy``       per-test :class:`~zkfast.testing.TcpProxy` in front of ``zk_server``
- ``zk_chroot``      a unique path per test, e.g. ``/t-test_lock-1f2e3d4c`` (not created)

A test may stop or kill a shared server or ensemble member; it is restarted before the
next test that uses it. Tests using these fixtures get the ``zookeeper`` marker. When Java
or ZooKeeper is missing the fixtures *fail* (not skip) with installation instructions.
"""

from __future__ import annotations

import re
import secrets
from typing import Callable, Iterator, TypeVar

import pytest

from .ensemble import Ensemble
from .errors import ZooKeeperNotAvailable
from .proxy import TcpProxy
from .server import ZooKeeperServer

__all__ = ["SASL_USERS", "ZK_FIXTURES"]

SASL_USERS: dict[str, str] = {"bob": "bobsecret", "alice": "alicesecret"}
ZK_FIXTURES = ("zk_server", "zk_ensemble", "zk_tls_server", "zk_sasl_server", "zk_proxy")

T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "zookeeper: the test runs against a real ZooKeeper (zkfast.testing)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in ZK_FIXTURES):
            item.add_marker(pytest.mark.zookeeper)


def _create(factory: Callable[[], T]) -> T:
    """Build a harness object, turning 'not installed' into a test failure, not a skip."""
    try:
        return factory()
    except ZooKeeperNotAvailable as e:
        pytest.fail(f"ZooKeeper is not available: {e}", pytrace=False)
        raise  # unreachable: pytest.fail raises


def _server(**kwargs: object) -> Iterator[ZooKeeperServer]:
    server = _create(lambda: ZooKeeperServer(**kwargs))  # type: ignore[arg-type]  # ZooKeeperServer's own kwargs
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def zk_server() -> Iterator[ZooKeeperServer]:
    """One standalone ZooKeeper for the whole session; isolate tests with ``zk_chroot``."""
    yield from _server()


@pytest.fixture(scope="session")
def zk_tls_server() -> Iterator[ZooKeeperServer]:
    """A server with both a plain and a TLS port; ``.ssl_context()``, ``.ca_file``,
    ``.client_cert_file``/``.client_key_file`` for clients."""
    yield from _server(tls=True, tls_client_auth="want")


@pytest.fixture(scope="session")
def zk_sasl_server() -> Iterator[ZooKeeperServer]:
    """A server accepting SASL DIGEST-MD5 logins for :data:`SASL_USERS`."""
    yield from _server(sasl_users=SASL_USERS)


@pytest.fixture(scope="session")
def zk_ensemble() -> Iterator[Ensemble]:
    """A 3-node ensemble, started the first time a test asks for it."""
    ensemble = _create(lambda: Ensemble(3))
    try:
        ensemble.start()
        yield ensemble
    finally:
        ensemble.close()


@pytest.fixture
def zk_proxy(zk_server: ZooKeeperServer) -> Iterator[TcpProxy]:
    """A fresh fault-injecting proxy in front of ``zk_server``; connect to ``zk_proxy.hosts``."""
    with TcpProxy(zk_server.host, zk_server.port) as proxy:
        yield proxy


@pytest.fixture
def zk_chroot(request: pytest.FixtureRequest) -> str:
    """A path unique to this test (the test creates it), e.g. ``/t-test_get-3fa94c1d``."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", request.node.name).strip("_")[:60] or "test"
    return f"/t-{name}-{secrets.token_hex(4)}"


@pytest.fixture(autouse=True)
def _zk_heal_shared_servers(request: pytest.FixtureRequest) -> None:
    """Restart shared servers/members an earlier test stopped, before this test uses them."""
    names = request.fixturenames
    for name in ("zk_server", "zk_tls_server", "zk_sasl_server"):
        if name in names:
            request.getfixturevalue(name).start()  # no-op beyond a readiness probe if running
    if "zk_ensemble" in names:
        request.getfixturevalue("zk_ensemble").ensure_running()
