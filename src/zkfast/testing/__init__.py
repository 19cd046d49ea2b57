"""Real ZooKeeper for tests: servers, ensembles, session expiry and a fault-injecting proxy.

Nothing here assumes a server is already running: each :class:`ZooKeeperServer` or
:class:`Ensemble` launches its own JVM(s) on 127.0.0.1 with fresh ports and data.
pytest users can enable the fixtures with
``pytest_plugins = ["zkfast.testing.pytest_plugin"]``. ``python -m zkfast.testing``
runs a local server for development (see :mod:`zkfast.testing.devserver`).
"""

from .ensemble import Ensemble, parse_dynamic_config
from .errors import PortInUseError, ZooKeeperNotAvailable, ZooKeeperStartError
from .fourletter import four_letter
from .java import DEFAULT_JVM_FLAGS, INSTALL_HINT, find_classpath, find_java
from .proxy import FramePredicate, TcpProxy, reply_frame, reply_header, request_frame
from .rawsession import ConnectResponse, expire_session, parse_hosts, raw_connect
from .server import ZooKeeperServer
from .tls import TlsFiles, generate_tls_files

__all__ = [
    "DEFAULT_JVM_FLAGS",
    "INSTALL_HINT",
    "ConnectResponse",
    "Ensemble",
    "FramePredicate",
    "PortInUseError",
    "TcpProxy",
    "TlsFiles",
    "ZooKeeperNotAvailable",
    "ZooKeeperServer",
    "ZooKeeperStartError",
    "expire_session",
    "find_classpath",
    "find_java",
    "four_letter",
    "generate_tls_files",
    "parse_dynamic_config",
    "parse_hosts",
    "raw_connect",
    "reply_frame",
    "reply_header",
    "request_frame",
]
