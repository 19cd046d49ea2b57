"""The ZooKeeper cluster behind the kazoo test harness: a :class:`zkfast.testing.Ensemble`
shaped like kazoo's test cluster.

Like kazoo's, it is configured by environment variables, read when the harness
first needs it and again when they change (then the cluster is rebuilt):

* ``ZOOKEEPER_CLUSTER_SIZE`` (3) servers, ``ZOOKEEPER_OBSERVER_START_ID``
  (the first observer's id; -1: none);
* ``ZOOKEEPER_JAAS_AUTH=digest``: SASL DIGEST-MD5 with the users
  ``super``/``super_secret`` and ``jaasuser``/``jaas_password``;
* ``ZOOKEEPER_LOCAL_SESSION_RO=true``: local sessions, which a read-only
  server needs to accept clients.

Every member has a TLS port (``secure_address``), read-only mode enabled,
dynamic reconfiguration with the superuser ``super``/``test``, and all
four-letter words. Servers run on free loopback ports (the ``ZOOKEEPER_*``
install variables kazoo needs are not: :mod:`zkfast.testing` finds ZooKeeper).
"""

from __future__ import annotations

import atexit
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from ...testing import Ensemble, ZooKeeperServer

__all__ = ["ZookeeperCluster", "ManagedZooKeeper", "get_global_cluster", "SUPERUSER_PASSWORD"]

SUPERUSER_PASSWORD = "test"
_JAAS_DIGEST = """Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_super="super_secret"
    user_jaasuser="jaas_password";
};
"""
_ENV = ("ZOOKEEPER_CLUSTER_SIZE", "ZOOKEEPER_OBSERVER_START_ID", "ZOOKEEPER_JAAS_AUTH",
        "ZOOKEEPER_LOCAL_SESSION_RO")


class ManagedZooKeeper:
    """One member, with kazoo's names: ``address``, ``secure_address``,
    ``running``, ``run()``, ``stop()``."""

    def __init__(self, server: ZooKeeperServer) -> None:
        self.server = server

    @property
    def address(self) -> str:
        return self.server.hosts

    @property
    def secure_address(self) -> str:
        return self.server.secure_hosts

    @property
    def running(self) -> bool:
        return self.server.running

    def run(self) -> None:
        """Start it (again) and wait until it serves."""
        if not self.server.running:
            self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def get_logs(self, num_lines: int = 100) -> List[str]:
        return self.server.log_tail(num_lines).splitlines()


class ZookeeperCluster:
    """The test ensemble (see the module docstring): index it, iterate it,
    ``start()``, ``stop()``, ``terminate()``, ``get_logs()``,
    ``get_ssl_client_configuration()``."""

    def __init__(self, install_path: Optional[str] = None, classpath: Optional[str] = None,
                 size: int = 3, port_offset: int = 20000, observer_start_id: int = -1,
                 configuration_entries: Sequence[str] = (),
                 java_system_properties: Sequence[str] = (),
                 jaas_config: Optional[str] = None) -> None:
        """kazoo's parameters. ``install_path`` / ``classpath`` name the ZooKeeper
        to run (else :mod:`zkfast.testing` finds it); ``port_offset`` is not used
        (free ports are picked); ``configuration_entries`` are extra ``key=value``
        zoo.cfg lines, ``java_system_properties`` extra JVM flags, ``jaas_config``
        the text of the JAAS file (and turns on SASL authentication)."""
        if classpath:
            os.environ["ZKFAST_ZK_CLASSPATH"] = classpath
        elif install_path:
            os.environ["ZKFAST_ZK_HOME"] = install_path
        voters = size if observer_start_id < 1 else min(size, observer_start_id - 1)
        self._workdir = tempfile.mkdtemp(prefix="zkfast-kazoo-cluster-")
        flags = ["-Dreadonlymode.enabled=true", "-Dfile.encoding=UTF-8", *java_system_properties]
        extra: Dict[str, object] = {}
        for line in configuration_entries:
            key, _, value = line.partition("=")
            extra[key.strip()] = value.strip()
        if jaas_config:
            jaas_file = Path(self._workdir, "jaas.conf")
            jaas_file.write_text(jaas_config)
            flags.append(f"-Djava.security.auth.login.config={jaas_file}")
            extra["authProvider.1"] = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
        self._ensemble_args: Dict[str, Any] = dict(
            n=voters, observers=size - voters, tls=True, reconfig=True,
            superuser_password=SUPERUSER_PASSWORD, extra_config=extra, jvm_flags=flags)
        self.ensemble = Ensemble(**self._ensemble_args)
        self._servers = [ManagedZooKeeper(s) for s in self.ensemble.servers]

    def __getitem__(self, i: int) -> ManagedZooKeeper:
        return self._servers[i]

    def __iter__(self) -> Iterator[ManagedZooKeeper]:
        return iter(self._servers)

    def __len__(self) -> int:
        return len(self._servers)

    def start(self) -> None:
        """Start every member that is not running; wait for a quorum."""
        self.ensemble.start()

    def stop(self) -> None:
        for s in self._servers:
            s.stop()

    def terminate(self) -> None:
        """Stop every member and delete its data."""
        self.ensemble.close()

    def reset(self) -> None:
        """Stop every member and start over with empty data (``start()`` runs it)."""
        self.ensemble.close()
        self.ensemble = Ensemble(**self._ensemble_args)
        self._servers = [ManagedZooKeeper(s) for s in self.ensemble.servers]

    def get_logs(self) -> List[str]:
        return [line for s in self._servers for line in s.get_logs()]

    def perform_ssl_certs_generation(self) -> None:
        """Nothing to do: the test CA and certificates were made with the ensemble."""

    def get_ssl_client_configuration(self) -> Dict[str, bytes]:
        """PEM ``client_key``, ``client_cert`` and ``ca_cert`` for TLS clients."""
        files = self.ensemble.servers[0].tls_files
        assert files is not None
        return {"client_key": Path(files.client_key_file).read_bytes(),
                "client_cert": Path(files.client_cert_file).read_bytes(),
                "ca_cert": Path(files.ca_file).read_bytes()}


_cluster: Optional[ZookeeperCluster] = None
_config: Optional[Tuple[Optional[str], ...]] = None


def get_global_cluster() -> ZookeeperCluster:
    """The process's test cluster, made (or rebuilt after a configuration
    change) on demand and terminated at exit."""
    global _cluster, _config
    config = tuple(os.environ.get(k) for k in _ENV)
    if _cluster is not None and config == _config:
        return _cluster
    if _cluster is not None:
        _cluster.terminate()
        _cluster = None
    size, observer_start, jaas, local_ro = config
    local = "true" if (local_ro or "").lower() == "true" else "false"
    # local sessions: a read-only server accepts clients only with them
    entries = [f"localSessionsEnabled={local}", f"localSessionsUpgradingEnabled={local}"]
    cluster = ZookeeperCluster(size=int(size or 3), observer_start_id=int(observer_start or -1),
                               configuration_entries=entries,
                               jaas_config=_JAAS_DIGEST if jaas == "digest" else None)
    _cluster, _config = cluster, config
    return cluster


@atexit.register
def _terminate() -> None:
    if _cluster is not None:
        _cluster.terminate()
