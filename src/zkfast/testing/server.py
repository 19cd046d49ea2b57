"""One real ZooKeeper server process on 127.0.0.1 (standalone, TLS, SASL, or an ensemble member).

Each server gets fresh free ports and a fresh temporary directory (config, data, TLS
material, log) that :meth:`ZooKeeperServer.close` removes. Set ``ZKFAST_KEEP_ZK_DIRS=1``
to keep the directories for post-mortems.
"""

from __future__ import annotations

import datetime
import os
import re
import ssl
import subprocess
import tempfile
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from .errors import PortInUseError, ZooKeeperStartError
from .fourletter import four_letter, srvr_mode
from .java import DEFAULT_JVM_FLAGS, MAIN_CLASS, find_classpath, find_java
from .ports import HOST, free_ports, port_is_free, reserve_ports
from .process import (
    OWNER_FILE,
    ProcState,
    death_signal_preexec,
    file_tail,
    finalize,
    sweep_stale_dirs,
)
from .tls import TlsFiles, generate_tls_files

__all__ = ["PeerSpec", "ZooKeeperServer"]


def _cfg_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


_SASL_USER = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass
class PeerSpec:
    """Ensemble membership of one server."""

    myid: int
    server_lines: list[str]  # every "server.N=..." line this server starts with
    read_only: bool = False
    quorum_ports: tuple[int, int] = (0, 0)
    observer: bool = False
    # Dynamic reconfiguration: the server lines go to a dynamicConfigFile and
    # reconfigEnabled=true. Reconfig needs a superuser (this "super:<digest>") or skipACL.
    dynamic: bool = False
    super_digest: str | None = None


class ZooKeeperServer:
    """One ZooKeeper server process on 127.0.0.1 (standalone unless made by :class:`Ensemble`).

    >>> with ZooKeeperServer() as zk:
    ...     client = Client(zk.hosts)

    ``port`` is the client port (default: a free one); a port that is taken raises
    :class:`PortInUseError` when the server starts. ``data_dir`` keeps the data in a
    directory of yours (created if missing, never removed) instead of the temporary one.
    ``tls=True`` adds a Netty secure client port (``secure_port``/``secure_hosts``; a free
    one unless given) next to the plain one, with a fresh test CA (``ca_file``) and a client
    cert/key for mutual TLS (``client_cert_file``/``client_key_file``); ``tls_client_auth``
    is ZooKeeper's ``ssl.clientAuth``: "none", "want" or "need". ``sasl_users``
    ({user: password}) enables SASL DIGEST-MD5 with a JAAS ``Server`` section.
    ``extra_config`` entries override the generated zoo.cfg lines; ``jvm_flags`` are
    appended after :data:`DEFAULT_JVM_FLAGS`.
    """

    host: str = HOST

    def __init__(
        self,
        *,
        port: int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        tls: bool = False,
        secure_port: int | None = None,
        tls_client_auth: str = "none",
        sasl_users: Mapping[str, str] | None = None,
        read_only: bool = False,
        tick_time: int = 2000,
        min_session_timeout: int | None = None,
        max_session_timeout: int | None = None,
        extra_config: Mapping[str, object] | None = None,
        jvm_flags: Sequence[str] | None = None,
        _peer: PeerSpec | None = None,
        _tls_files: TlsFiles | None = None,
    ) -> None:
        if tls_client_auth not in ("none", "want", "need"):
            raise ValueError("tls_client_auth must be 'none', 'want' or 'need'")
        if secure_port is not None and not tls:
            raise ValueError("secure_port needs tls=True")
        for name, value in (("port", port), ("secure_port", secure_port)):
            if value is not None and not (isinstance(value, int) and 0 < value < 65536):
                raise ValueError(f"{name} must be a TCP port number (1-65535), got {value!r}")
        if port is not None and port == secure_port:
            raise ValueError("port and secure_port must differ")
        for user, pw in (sasl_users or {}).items():
            if not _SASL_USER.match(user):
                raise ValueError(f"SASL user names must match {_SASL_USER.pattern}: {user!r}")
            if any(c in pw for c in '"\\\n\r'):
                raise ValueError("SASL passwords must not contain quotes, backslashes or newlines")
        # Fail early and clearly when ZooKeeper isn't installed.
        self.java = find_java()
        self.classpath = find_classpath()

        self.tls = tls
        self.tls_client_auth = tls_client_auth
        self.sasl_users = dict(sasl_users or {})
        self.read_only = read_only or bool(_peer and _peer.read_only)
        self.tick_time = int(tick_time)
        self.min_session_timeout = min_session_timeout
        self.max_session_timeout = max_session_timeout
        self.extra_config = dict(extra_config or {})
        self.jvm_flags = list(jvm_flags or ())
        self._peer = _peer

        sweep_stale_dirs()
        self.workdir = tempfile.mkdtemp(prefix="zkfast-zk-")
        Path(self.workdir, OWNER_FILE).write_text(str(os.getpid()))
        self._state = ProcState(self.workdir)
        self._finalizer = weakref.finalize(self, finalize, self._state)
        self.data_dir = os.path.join(self.workdir, "data") if data_dir is None else os.path.abspath(data_dir)
        self.config_path = os.path.join(self.workdir, "zoo.cfg")
        self.dynamic_config_path = os.path.join(self.workdir, "zoo.cfg.dynamic")
        self.log_path = os.path.join(self.workdir, "zookeeper.log")
        self.jaas_path: str | None = None
        self.tls_files: TlsFiles | None = None
        os.makedirs(self.data_dir, exist_ok=True)

        chosen = [p for p in (port, secure_port) if p is not None]
        reserve_ports(chosen)
        picked = free_ports((2 if tls else 1) - len(chosen))
        self.port: int = port if port is not None else picked.pop(0)
        self.secure_port: int | None = None
        if tls:
            self.secure_port = secure_port if secure_port is not None else picked.pop(0)
        # Chosen ports (and ensemble members' ports, which are in the peers' configs) are
        # never swapped for free ones; a fresh server's picked ports may be, once.
        self._ports_locked = bool(chosen)
        self.startup_seconds: float | None = None  # wall time of the last successful start()
        self._starts = 0

        if tls:
            # Ensemble members share one test PKI, so one CA file verifies every member.
            self.tls_files = _tls_files or generate_tls_files(os.path.join(self.workdir, "tls"))
        if self.sasl_users:
            self.jaas_path = os.path.join(self.workdir, "jaas.conf")
            users = "".join(f'\n    user_{u}="{p}"' for u, p in self.sasl_users.items())
            Path(self.jaas_path).write_text(
                f"Server {{\n    org.apache.zookeeper.server.auth.DigestLoginModule required{users};\n}};\n"
            )
        if _peer is not None:
            Path(self.data_dir, "myid").write_text(f"{_peer.myid}\n")
        self._write_config()

    # -- addresses -----------------------------------------------------------------------

    @property
    def hosts(self) -> str:
        """Connect string of the plain client port."""
        return f"{HOST}:{self.port}"

    @property
    def secure_hosts(self) -> str:
        if self.secure_port is None:
            raise AttributeError("secure_hosts: server was not created with tls=True")
        return f"{HOST}:{self.secure_port}"

    @property
    def ca_file(self) -> str:
        """PEM CA certificate that verifies the server's certificate (tls=True only)."""
        return self._tls().ca_file

    @property
    def client_cert_file(self) -> str:
        return self._tls().client_cert_file

    @property
    def client_key_file(self) -> str:
        return self._tls().client_key_file

    def _tls(self) -> TlsFiles:
        if self.tls_files is None:
            raise AttributeError("server was not created with tls=True")
        return self.tls_files

    def ssl_context(self, client_cert: bool | None = None) -> ssl.SSLContext:
        """A client SSLContext trusting this server; presents the client cert when
        ``client_cert`` is true (default: when tls_client_auth is not "none")."""
        files = self._tls()
        ctx = ssl.create_default_context(cafile=files.ca_file)
        if client_cert is None:
            client_cert = self.tls_client_auth != "none"
        if client_cert:
            ctx.load_cert_chain(files.client_cert_file, files.client_key_file)
        return ctx

    @property
    def pid(self) -> int | None:
        return self._state.proc.pid if self.running and self._state.proc else None

    @property
    def running(self) -> bool:
        """True while the server process is alive (serving or not)."""
        return self._state.proc is not None and self._state.proc.poll() is None

    # -- config --------------------------------------------------------------------------

    def _config(self) -> dict[str, str]:
        cfg: dict[str, object] = {
            "tickTime": self.tick_time,
            "dataDir": self.data_dir,
            "clientPort": self.port,
            "clientPortAddress": HOST,
            "4lw.commands.whitelist": "*",
            "extendedTypesEnabled": True,
            "admin.enableServer": False,
            "maxClientCnxns": 0,
        }
        if self.min_session_timeout is not None:
            cfg["minSessionTimeout"] = int(self.min_session_timeout)
        if self.max_session_timeout is not None:
            cfg["maxSessionTimeout"] = int(self.max_session_timeout)
        if self.tls:
            files = self._tls()
            cfg.update({
                "serverCnxnFactory": "org.apache.zookeeper.server.NettyServerCnxnFactory",
                "secureClientPort": self.secure_port,
                "secureClientPortAddress": HOST,
                # PEM stores (ZooKeeper >= 3.5.5) avoid keytool round trips.
                "ssl.keyStore.location": files.server_keystore,
                "ssl.keyStore.type": "PEM",
                "ssl.trustStore.location": files.ca_file,
                "ssl.trustStore.type": "PEM",
                "ssl.clientAuth": self.tls_client_auth,
            })
        if self.sasl_users:
            cfg["authProvider.1"] = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
        peer = self._peer
        if peer is not None:
            # standaloneEnabled=false: a single voter (with observers, or to be grown by
            # reconfig) still runs as an ensemble, not as a standalone server.
            cfg.update({"initLimit": 10, "syncLimit": 5, "standaloneEnabled": False})
            if peer.read_only:
                # Without localSessionsEnabled a read-only survivor answers a bare -119 header.
                cfg.update({"localSessionsEnabled": True, "localSessionsUpgradingEnabled": True})
            if peer.observer:
                cfg["peerType"] = "observer"
            if peer.dynamic:
                # The client address is in this server's dynamic line (";127.0.0.1:port");
                # a clientPort here as well would have to agree with it after every reconfig.
                del cfg["clientPort"], cfg["clientPortAddress"]
                cfg.update({"reconfigEnabled": True, "dynamicConfigFile": self.dynamic_config_path})
        cfg.update(self.extra_config)
        lines = [f"{k}={_cfg_value(v)}" for k, v in cfg.items()]
        if peer is not None and not peer.dynamic:
            lines += peer.server_lines
        return dict(line.split("=", 1) for line in lines)

    def _write_config(self) -> None:
        """Write zoo.cfg (and the dynamic config file). Only at creation for reconfigurable
        members: after a reconfig ZooKeeper rewrites both, and a restart must keep that."""
        Path(self.config_path).write_text("".join(f"{k}={v}\n" for k, v in self._config().items()))
        if self._peer is not None and self._peer.dynamic:
            lines = self._peer.server_lines
            Path(self.dynamic_config_path).write_text("".join(f"{line}\n" for line in lines))

    def _command(self) -> list[str]:
        flags = list(DEFAULT_JVM_FLAGS)
        if self.read_only:
            flags.append("-Dreadonlymode.enabled=true")  # a system property, not a zoo.cfg line
        if self.jaas_path:
            flags.append(f"-Djava.security.auth.login.config={self.jaas_path}")
        if self._peer is not None and self._peer.dynamic:
            # System properties, read before zoo.cfg's unknown keys would be copied into them.
            if self._peer.super_digest:
                flags.append(f"-Dzookeeper.DigestAuthenticationProvider.superDigest={self._peer.super_digest}")
            else:
                flags.append("-Dzookeeper.skipACL=yes")
        flags += self.jvm_flags
        return [self.java, *flags, "-cp", self.classpath, MAIN_CLASS, self.config_path]

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, timeout: float = 30.0, *, wait: bool = True) -> ZooKeeperServer:
        """Launch the JVM and (with ``wait``) block until the server serves clients.

        Ready means ``ruok`` answers ``imok`` *and* ``srvr`` reports a Mode (``imok`` comes
        ~0.1 s before the server accepts sessions), plus ``ruok`` over TLS on the secure port
        when tls=True (it binds after the plain one). A first start whose ports were taken
        meanwhile retries on new ports.
        """
        if self._state.closed:
            raise RuntimeError("server is closed")
        if self.running:
            if wait:
                self.wait_serving(timeout)
            return self
        attempts = 1 if self._ports_locked else 3
        for attempt in range(attempts):
            t0 = time.monotonic()
            if self._ports_locked:
                self._check_ports_free()
            self._launch()
            if not wait:
                return self
            try:
                self.wait_serving(timeout)
            except ZooKeeperStartError as e:
                if not self._bind_failed():
                    raise
                if attempt + 1 < attempts:
                    self.kill()
                    ports = free_ports(2 if self.tls else 1)
                    self.port, self.secure_port = ports[0], (ports[-1] if self.tls else None)
                    self._write_config()
                    continue
                self.kill()
                for port in self._own_ports():
                    if not port_is_free(port):
                        log = f"; log {self.log_path}:\n{file_tail(self.log_path, 20)}"
                        raise PortInUseError(port, log) from e
                raise
            self.startup_seconds = time.monotonic() - t0
            self._ports_locked = True  # restarts must keep the ports clients know
            return self
        raise AssertionError("unreachable")

    def _own_ports(self) -> list[int]:
        """Every port this server listens on: client, secure client, quorum and election."""
        ports = [self.port] + ([self.secure_port] if self.secure_port is not None else [])
        if self._peer is not None:
            ports += [p for p in self._peer.quorum_ports if p]
        return ports

    def _check_ports_free(self) -> None:
        """Fail fast and clearly, not after a start timeout, when a port we must keep is taken."""
        for port in self._own_ports():
            if not port_is_free(port):
                raise PortInUseError(port)

    def _launch(self) -> None:
        self._starts += 1
        with open(self.log_path, "ab") as log:
            stamp = datetime.datetime.now().strftime("%H:%M:%S.%f")[:-3]
            log.write(f"==== zkfast: start #{self._starts} at {stamp}: "
                      f"{' '.join(self._command())}\n".encode())
            log.flush()
            self._state.proc = subprocess.Popen(
                self._command(),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C goes to pytest, which then closes us cleanly
                preexec_fn=death_signal_preexec(),
            )

    def _bind_failed(self) -> bool:
        return bool(re.search(r"BindException|Address already in use", file_tail(self.log_path, 200)))

    def is_serving(self, accept_read_only: bool | None = None, probe_timeout: float = 2.0) -> bool:
        """One readiness probe (see :meth:`start`). Read-only mode counts as serving when
        ``accept_read_only`` (default: when the server has read-only mode enabled)."""
        if accept_read_only is None:
            accept_read_only = self.read_only
        try:
            if self.four_letter("ruok", probe_timeout) != "imok":
                return False
            mode = srvr_mode(self.four_letter("srvr", probe_timeout))
            if mode is None or (mode == "read-only" and not accept_read_only):
                return False
            if self.tls:
                return self.four_letter("ruok", probe_timeout, secure=True) == "imok"
            return True
        except (OSError, ssl.SSLError):
            return False

    def wait_serving(self, timeout: float = 30.0, accept_read_only: bool | None = None) -> None:
        """Block until :meth:`is_serving`; raise ZooKeeperStartError (with log tail) if the
        process dies or the deadline passes."""
        deadline = time.monotonic() + timeout
        while True:
            proc = self._state.proc
            if proc is None or proc.poll() is not None:
                rc = None if proc is None else proc.returncode
                raise ZooKeeperStartError(
                    f"ZooKeeper on {self.hosts} is not running (exit code {rc}); log {self.log_path}:\n"
                    f"{file_tail(self.log_path)}"
                )
            # A short probe timeout: a connection that lands in the instant between
            # the server binding its port and loading its database is never answered
            # nor closed (ZOOKEEPER-5051); the next probe gets through.
            if self.is_serving(accept_read_only, probe_timeout=1.0):
                return
            if time.monotonic() >= deadline:
                raise ZooKeeperStartError(
                    f"ZooKeeper on {self.hosts} not serving after {timeout:.0f}s; log {self.log_path}:\n"
                    f"{file_tail(self.log_path)}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM and wait (SIGKILL if it lingers). Keeps ports and data for :meth:`start`."""
        proc = self._state.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._state.proc = None

    def kill(self) -> None:
        """SIGKILL: a crash. No session close, no clean shutdown."""
        proc = self._state.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        self._state.proc = None

    def restart(self, timeout: float = 30.0, *, kill: bool = False, wait: bool = True) -> ZooKeeperServer:
        """Stop (or kill) and start again with the same ports and data directory."""
        self.kill() if kill else self.stop()
        return self.start(timeout, wait=wait)

    def close(self) -> None:
        """Kill the server and remove its temporary directory. Idempotent.

        SIGKILL rather than SIGTERM: the data is deleted anyway, and a clean JVM shutdown
        costs ~0.35 s per server at the end of every test session.
        """
        self.kill()
        self._finalizer()

    def __enter__(self) -> ZooKeeperServer:
        if not self.running:
            try:
                self.start()
            except BaseException:
                self.close()
                raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else ("closed" if self._state.closed else "stopped")
        return f"<ZooKeeperServer {self.hosts} {state}>"

    # -- introspection -------------------------------------------------------------------

    def four_letter(self, cmd: str, timeout: float = 5.0, *, secure: bool = False) -> str:
        """Run a four-letter word (on the TLS port when ``secure``) and return its reply."""
        if secure:
            if self.secure_port is None:
                raise ValueError("secure=True needs a server created with tls=True")
            return four_letter(HOST, self.secure_port, cmd, timeout, self.ssl_context(client_cert=True))
        return four_letter(HOST, self.port, cmd, timeout)

    def mode(self, timeout: float = 2.0) -> str | None:
        """``srvr``'s Mode ("standalone", "leader", "follower", "read-only"...) or None when
        the server is down or not serving."""
        try:
            return srvr_mode(self.four_letter("srvr", timeout))
        except OSError:
            return None

    def log_tail(self, lines: int = 60) -> str:
        return file_tail(self.log_path, lines)
