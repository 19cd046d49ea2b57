"""An ensemble: n ZooKeeper servers on 127.0.0.1 forming one quorum."""

from __future__ import annotations

import os
import ssl
import time
from typing import Iterable, Iterator, Mapping, Sequence

from .errors import PortInUseError, ZooKeeperStartError
from .ports import HOST, free_ports
from .server import PeerSpec, ZooKeeperServer

__all__ = ["Ensemble"]


class Ensemble:
    """n ZooKeeper servers on 127.0.0.1 forming one quorum.

    ``servers[i]`` are :class:`ZooKeeperServer` objects (myid i+1); kill/stop/restart them
    directly or through the index-taking methods here. ``read_only=True`` enables
    read-only mode (JVM flag plus local sessions) so a partitioned member keeps serving reads.

    ``port=P`` gives the members client ports P, P+1, ... (default: free ports);
    ``data_dir`` keeps member i's data in ``data_dir/server<i+1>``. ``tls=True`` gives each
    member a secure client port, all with certificates from one test CA (``ca_file``,
    ``ssl_context()``, ``secure_hosts``).
    """

    def __init__(
        self,
        n: int = 3,
        *,
        port: int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        tls: bool = False,
        tls_client_auth: str = "none",
        read_only: bool = False,
        tick_time: int = 2000,
        min_session_timeout: int | None = None,
        max_session_timeout: int | None = None,
        extra_config: Mapping[str, object] | None = None,
        jvm_flags: Sequence[str] | None = None,
    ) -> None:
        if n < 1:
            raise ValueError("an ensemble needs at least one server")
        if port is not None and not (isinstance(port, int) and 0 < port and port + n - 1 < 65536):
            raise ValueError(f"port must leave room for {n} consecutive TCP ports, got {port!r}")
        self.n = n
        self.read_only = read_only
        self.first_port = port
        self.data_dir = None if data_dir is None else os.path.abspath(data_dir)
        self._member_args = dict(
            tls=tls,
            tls_client_auth=tls_client_auth,
            tick_time=tick_time,
            min_session_timeout=min_session_timeout,
            max_session_timeout=max_session_timeout,
            extra_config=extra_config,
            jvm_flags=jvm_flags,
        )
        self.servers: list[ZooKeeperServer] = []
        self._build()

    def _build(self) -> None:
        for s in self.servers:
            s.close()
        n = self.n
        if self.first_port is None:
            ports = free_ports(3 * n)
            client, quorum, election = ports[:n], ports[n: 2 * n], ports[2 * n:]
        else:
            client = [self.first_port + i for i in range(n)]
            ports = free_ports(2 * n)
            quorum, election = ports[:n], ports[n:]
        lines = [f"server.{i + 1}={HOST}:{quorum[i]}:{election[i]}" for i in range(n)]
        servers: list[ZooKeeperServer] = []
        try:
            for i in range(n):
                spec = PeerSpec(i + 1, lines, self.read_only, (quorum[i], election[i]))
                data_dir = None if self.data_dir is None else os.path.join(self.data_dir, f"server{i + 1}")
                tls_files = servers[0].tls_files if servers else None
                # (_member_args: ZooKeeperServer keyword arguments, typed loosely as a dict of objects)
                servers.append(ZooKeeperServer(
                    _peer=spec, port=client[i], data_dir=data_dir, _tls_files=tls_files,
                    **self._member_args))  # type: ignore[arg-type]
        except BaseException:
            for s in servers:
                s.close()
            raise
        self.servers = servers

    @property
    def hosts(self) -> str:
        """Connect string naming every member."""
        return ",".join(s.hosts for s in self.servers)

    @property
    def secure_hosts(self) -> str:
        """Connect string naming every member's TLS port (tls=True only)."""
        return ",".join(s.secure_hosts for s in self.servers)

    @property
    def ca_file(self) -> str:
        """PEM CA certificate that verifies every member (tls=True only)."""
        return self.servers[0].ca_file

    def ssl_context(self, client_cert: bool | None = None) -> ssl.SSLContext:
        """A client SSLContext trusting every member (see :meth:`ZooKeeperServer.ssl_context`)."""
        return self.servers[0].ssl_context(client_cert)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[ZooKeeperServer]:
        return iter(self.servers)

    def __getitem__(self, i: int) -> ZooKeeperServer:
        return self.servers[i]

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, i: int | None = None, *, timeout: float = 60.0, wait: bool = True) -> Ensemble:
        """Start member ``i`` (waiting until it serves), or with no index start every member
        and wait until all serve and exactly one is leader. A fresh ensemble whose ports got
        taken meanwhile is rebuilt on new ports (up to 3 tries)."""
        if i is not None:
            self.servers[i].start(timeout, wait=wait)
            return self
        fresh = all(s._starts == 0 for s in self.servers)
        attempts = 3 if fresh and self.first_port is None else 1
        for attempt in range(attempts):
            try:
                for s in self.servers:
                    if not s.running:
                        s.start(wait=False)
                if not wait:
                    return self
                self.wait_for_quorum(timeout, need_all=True)
                return self
            except ZooKeeperStartError as e:
                taken = isinstance(e, PortInUseError) or any(s._bind_failed() for s in self.servers)
                if attempt + 1 < attempts and taken:
                    self._build()
                    continue
                raise
        raise AssertionError("unreachable")

    def wait_for_quorum(self, timeout: float = 60.0, *, need_all: bool = False) -> int:
        """Wait until a leader exists and every running member (``need_all``: every member)
        is leader or follower. Returns the leader's index."""
        deadline = time.monotonic() + timeout
        while True:
            for idx, s in enumerate(self.servers):
                if s._starts and not s.running and need_all:
                    raise ZooKeeperStartError(
                        f"ensemble member {idx} ({s.hosts}) exited; log {s.log_path}:\n{s.log_tail()}"
                    )
            modes = [s.mode(1.0) if s.running else None for s in self.servers]
            members = [m for s, m in zip(self.servers, modes) if s.running or need_all]
            if (
                modes.count("leader") == 1
                and members
                and all(m in ("leader", "follower", "observer") for m in members)
            ):
                return modes.index("leader")
            if time.monotonic() >= deadline:
                details = "\n".join(
                    f"--- member {idx} {s.hosts} running={s.running} mode={m} log {s.log_path}:\n"
                    f"{s.log_tail(25)}"
                    for idx, (s, m) in enumerate(zip(self.servers, modes))
                )
                raise ZooKeeperStartError(
                    f"ensemble has no quorum after {timeout:.0f}s (modes {modes})\n{details}")
            time.sleep(0.1)

    def stop(self, i: int | None = None) -> None:
        """SIGTERM member ``i``, or every member (in parallel)."""
        members = list(self._select(i))
        for s in members:
            if s.running and s._state.proc is not None:
                s._state.proc.terminate()  # signal all first: shutdowns overlap
        for s in members:
            s.stop()

    def kill(self, i: int) -> None:
        """SIGKILL member ``i``."""
        self.servers[i].kill()

    def restart(self, i: int | None = None, *, timeout: float = 60.0, kill: bool = False) -> Ensemble:
        """Restart member ``i`` (waiting until it serves), or the whole ensemble."""
        if kill:
            for s in self._select(i):
                s.kill()
        else:
            self.stop(i)
        return self.start(i, timeout=timeout)

    def leader(self, timeout: float = 10.0) -> int:
        """Index of the member that reports ``Mode: leader`` (waits up to ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            for idx, s in enumerate(self.servers):
                if s.running and s.mode(1.0) == "leader":
                    return idx
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no leader among {self.hosts} after {timeout}s")
            time.sleep(0.1)

    def kill_leader(self) -> int:
        """SIGKILL the current leader; returns its index."""
        idx = self.leader()
        self.kill(idx)
        return idx

    def kill_majority(self, keep: int | None = None) -> list[int]:
        """SIGKILL n//2 + 1 members (never ``keep``; the leader first) so no quorum is left.
        Returns the killed indices."""
        count = self.n // 2 + 1
        order = list(range(self.n))
        try:
            lead = self.leader(timeout=2.0)
            order.remove(lead)
            order.insert(0, lead)
        except TimeoutError:
            pass
        if keep is not None:
            order.remove(keep)
        victims = order[:count]
        for idx in victims:
            self.kill(idx)
        return victims

    def ensure_running(self, timeout: float = 60.0) -> None:
        """Start every member that is down and wait for a full quorum (used between tests)."""
        if all(s.running for s in self.servers) and self._quick_ok():
            return
        for s in self.servers:
            if not s.running:
                s.start(wait=False)
        self.wait_for_quorum(timeout, need_all=True)

    def _quick_ok(self) -> bool:
        modes = [s.mode(1.0) for s in self.servers]
        return modes.count("leader") == 1 and all(m in ("leader", "follower", "observer") for m in modes)

    def _select(self, i: int | None) -> Iterable[ZooKeeperServer]:
        return self.servers if i is None else [self.servers[i]]

    def close(self) -> None:
        """Kill every member and remove their directories. Idempotent."""
        for s in self.servers:
            s.close()

    def __enter__(self) -> Ensemble:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Ensemble {self.hosts} running={[s.running for s in self.servers]}>"
