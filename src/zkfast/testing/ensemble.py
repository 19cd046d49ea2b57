"""An ensemble: n ZooKeeper servers on 127.0.0.1 forming one quorum, optionally with
observers and dynamic reconfiguration (servers joining and leaving)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import ssl
import time
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Sequence

from .errors import PortInUseError, ZooKeeperStartError
from .ports import HOST, free_ports
from .server import PeerSpec, ZooKeeperServer

__all__ = ["Ensemble", "parse_dynamic_config"]

SUPERUSER = "super"


@dataclass(frozen=True)
class _Address:
    """Where one server listens: client, quorum and election ports."""

    myid: int
    client: int
    quorum: int
    election: int
    observer: bool

    def static_line(self) -> str:
        role = ":observer" if self.observer else ""
        return f"server.{self.myid}={HOST}:{self.quorum}:{self.election}{role}"

    def dynamic_line(self) -> str:
        role = "observer" if self.observer else "participant"
        return f"server.{self.myid}={HOST}:{self.quorum}:{self.election}:{role};{HOST}:{self.client}"


_SERVER_LINE = re.compile(r"^server\.(\d+)=(.+)$")


def parse_dynamic_config(text: str | bytes) -> tuple[dict[int, str], int | None]:
    """``({myid: spec}, version)`` of ZooKeeper's dynamic config, as held by
    ``/zookeeper/config`` (and printed by the ``conf`` four-letter word)::

        >>> parse_dynamic_config("server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\\nversion=1a")
        ({1: '127.0.0.1:2888:3888:participant;127.0.0.1:2181'}, 26)
    """
    if isinstance(text, bytes):
        text = text.decode()
    members: dict[int, str] = {}
    version = None
    for line in text.splitlines():
        line = line.strip()
        m = _SERVER_LINE.match(line)
        if m:
            members[int(m.group(1))] = m.group(2)
        elif line.startswith("version="):
            version = int(line.partition("=")[2], 16)
    return members, version


class Ensemble:
    """n ZooKeeper servers on 127.0.0.1 forming one quorum.

    ``servers[i]`` are :class:`ZooKeeperServer` objects (myid i+1); kill/stop/restart them
    directly or through the index-taking methods here. ``read_only=True`` enables
    read-only mode (JVM flag plus local sessions) so a partitioned member keeps serving reads.

    ``port=P`` gives the members client ports P, P+1, ... (default: free ports);
    ``data_dir`` keeps member i's data in ``data_dir/server<i+1>``. ``tls=True`` gives each
    member a secure client port, all with certificates from one test CA (``ca_file``,
    ``ssl_context()``, ``secure_hosts``). ``observers=k`` adds k observers after the n
    voting members (myids n+1...).

    ``reconfig=True`` enables dynamic reconfiguration (``reconfigEnabled=true``, the
    membership in a ``dynamicConfigFile``). Any client may then call ``reconfig``
    (``skipACL``), or only one authenticated as ``digest`` ``super:<superuser_password>``
    when that is given. :meth:`add_server` starts a server that is not a member yet;
    :meth:`config_line` is what ``reconfig(joining=...)`` needs to make it one::

        with Ensemble(3, reconfig=True) as ens, Client(ens.hosts) as zk:
            new = ens.add_server()                       # syncs, but has no vote yet
            zk.reconfig(joining=ens.config_line(new))    # now a voting member
            zk.reconfig(leaving=str(ens.myid(new)))      # and out again
            ens.remove_server(new)
    """

    def __init__(
        self,
        n: int = 3,
        *,
        port: int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        tls: bool = False,
        tls_client_auth: str = "none",
        observers: int = 0,
        reconfig: bool = False,
        superuser_password: str | None = None,
        read_only: bool = False,
        tick_time: int = 2000,
        min_session_timeout: int | None = None,
        max_session_timeout: int | None = None,
        extra_config: Mapping[str, object] | None = None,
        jvm_flags: Sequence[str] | None = None,
    ) -> None:
        if n < 1:
            raise ValueError("an ensemble needs at least one server")
        if observers < 0:
            raise ValueError("observers must be >= 0")
        if superuser_password is not None and not reconfig:
            raise ValueError("superuser_password is for reconfig=True")
        total = n + observers
        if port is not None and not (isinstance(port, int) and 0 < port and port + total - 1 < 65536):
            raise ValueError(f"port must leave room for {total} consecutive TCP ports, got {port!r}")
        self.n = n
        self.observers = observers
        self.reconfig = reconfig
        self.superuser_password = superuser_password
        self._super_digest = None
        if superuser_password is not None:
            # ZooKeeper's DigestAuthenticationProvider: base64(sha1("user:password")).
            sha1 = hashlib.sha1(f"{SUPERUSER}:{superuser_password}".encode()).digest()
            self._super_digest = f"{SUPERUSER}:{base64.b64encode(sha1).decode()}"
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
        self.servers = []
        self._addresses: list[_Address] = []
        total = self.n + self.observers
        if self.first_port is None:
            ports = free_ports(3 * total)
            client, ports = ports[:total], ports[total:]
        else:
            client = [self.first_port + i for i in range(total)]
            ports = free_ports(2 * total)
        addresses = [_Address(i + 1, client[i], ports[2 * i], ports[2 * i + 1], observer=i >= self.n)
                     for i in range(total)]
        lines = [a.dynamic_line() if self.reconfig else a.static_line() for a in addresses]
        try:
            for a in addresses:
                self._add_member(a, lines)
        except BaseException:
            self.close()
            raise

    def _add_member(self, address: _Address, lines: list[str]) -> ZooKeeperServer:
        spec = PeerSpec(address.myid, lines, self.read_only, (address.quorum, address.election),
                        observer=address.observer, dynamic=self.reconfig, super_digest=self._super_digest)
        data_dir = None if self.data_dir is None else os.path.join(self.data_dir, f"server{address.myid}")
        tls_files = self.servers[0].tls_files if self.servers else None
        # (_member_args: ZooKeeperServer keyword arguments, typed loosely as a dict of objects)
        server = ZooKeeperServer(
            _peer=spec, port=address.client, data_dir=data_dir, _tls_files=tls_files,
            **self._member_args)  # type: ignore[arg-type]
        self.servers.append(server)
        self._addresses.append(address)
        return server

    # -- dynamic reconfiguration ---------------------------------------------------------

    def myid(self, i: int) -> int:
        """ZooKeeper's server id (``server.N``) of ``servers[i]``."""
        return self._addresses[i].myid

    def config_line(self, i: int) -> str:
        """``servers[i]``'s dynamic config line, e.g.
        ``server.4=127.0.0.1:q:e:participant;127.0.0.1:c``: what ``reconfig(joining=...)`` takes."""
        return self._addresses[i].dynamic_line()

    def current_config(self, timeout: float = 10.0) -> tuple[dict[int, str], int | None]:
        """The committed membership and version as a serving member reports it
        (the ``conf`` four-letter word): see :func:`parse_dynamic_config`."""
        deadline = time.monotonic() + timeout
        while True:
            for s in self.servers:
                if s.running:
                    try:
                        members, version = parse_dynamic_config(s.four_letter("conf", 2.0))
                    except OSError:
                        continue
                    if members:
                        return members, version
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no member of {self.hosts} reported its configuration")
            time.sleep(0.1)

    def add_server(self, *, observer: bool = False, start: bool = True, timeout: float = 60.0) -> int:
        """Create (and start) a server that is not a member yet; returns its index.

        It starts with the current membership plus its own line, so it finds the leader
        and syncs as a non-voting learner; ``reconfig(joining=ens.config_line(i))`` then
        makes it a participant (or an observer, with ``observer=True``). Needs reconfig=True.
        """
        if not self.reconfig:
            raise ValueError("add_server needs an Ensemble created with reconfig=True")
        members, _version = self.current_config(timeout)
        myid = max([*members, *(a.myid for a in self._addresses)]) + 1
        client, quorum, election = free_ports(3)
        address = _Address(myid, client, quorum, election, observer)
        lines = [f"server.{m}={spec}" for m, spec in sorted(members.items())] + [address.dynamic_line()]
        server = self._add_member(address, lines)
        if start:
            try:
                server.start(timeout)
            except BaseException:
                self.remove_server(len(self.servers) - 1)
                raise
        return len(self.servers) - 1

    def remove_server(self, i: int) -> None:
        """Kill ``servers[i]``, delete its directory and drop it from :attr:`servers` (later
        indices shift down). For a server a reconfig took out of the ensemble."""
        self.servers.pop(i).close()
        self._addresses.pop(i)

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
        return len(self.servers)

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
        """SIGKILL a majority of the voting members (never ``keep``; the leader first) so
        no quorum is left; observers are left alone. Returns the killed indices."""
        voters = [i for i, a in enumerate(self._addresses) if not a.observer]
        count = len(voters) // 2 + 1
        order = voters
        try:
            lead = self.leader(timeout=2.0)
            order.remove(lead)
            order.insert(0, lead)
        except TimeoutError:
            pass
        if keep in order:
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
