"""The ensemble's dynamic configuration (ZooKeeper 3.5+), as ``/zookeeper/config``
holds it.

>>> cfg = EnsembleConfig.parse(b"server.1=10.0.0.1:2888:3888:participant;0.0.0.0:2181\\n"
...                            b"server.2=10.0.0.2:2888:3888:observer;2181\\nversion=100000003")
>>> cfg.version, [m.role for m in cfg.members]
(4294967299, ['participant', 'observer'])
>>> cfg.client_addresses()
[('10.0.0.1', 2181), ('10.0.0.2', 2181)]

A line reads ``server.<id>=<host>:<quorum port>:<election port>[:<role>][;[<client
host>:]<client port>]``. A client host of ``0.0.0.0`` (or none) means the server's
own host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

from .errors import InvalidArgumentError
from .hosts import Address, format_address, parse_host

__all__ = ["EnsembleConfig", "Member"]

_WILDCARDS = ("0.0.0.0", "::", "0:0:0:0:0:0:0:0")


@dataclass(frozen=True)
class Member:
    """One server of the ensemble."""

    id: int
    host: str
    quorum_port: int
    election_port: int
    #: ``"participant"`` (votes) or ``"observer"`` (serves, does not vote)
    role: str
    client_host: Optional[str]
    client_port: Optional[int]

    @property
    def client_address(self) -> Optional[Address]:
        """Where clients connect, or None if the line names no client port."""
        if self.client_port is None:
            return None
        host = self.client_host if self.client_host and self.client_host not in _WILDCARDS else self.host
        return (host, self.client_port)

    def line(self) -> str:
        """The member as a config line (for ``reconfig(joining=...)``)."""
        text = (f"server.{self.id}={format_address((self.host, self.quorum_port))}:"
                f"{self.election_port}:{self.role}")
        if self.client_port is not None:
            text += f";{format_address((self.client_host or '0.0.0.0', self.client_port))}"
        return text


@dataclass(frozen=True)
class EnsembleConfig:
    """The members of the ensemble and the config's version (a zxid)."""

    version: int
    members: Tuple[Member, ...]

    @property
    def participants(self) -> Tuple[Member, ...]:
        return tuple(m for m in self.members if m.role == "participant")

    @property
    def observers(self) -> Tuple[Member, ...]:
        return tuple(m for m in self.members if m.role == "observer")

    def client_addresses(self) -> List[Address]:
        """Every member's client address, in id order."""
        return [a for m in self.members for a in [m.client_address] if a is not None]

    def connect_string(self) -> str:
        return ",".join(format_address(a) for a in self.client_addresses())

    @classmethod
    def parse(cls, data: bytes) -> EnsembleConfig:
        """Parse the bytes of ``/zookeeper/config`` (InvalidArgumentError if malformed)."""
        version = -1
        members: List[Member] = []
        for raw in data.decode("utf-8", "replace").splitlines():
            line = raw.strip()
            if not line:
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise InvalidArgumentError(f"bad config line {line!r}")
            if key == "version":
                try:
                    version = int(value, 16)
                except ValueError:
                    raise InvalidArgumentError(f"bad config version {value!r}") from None
            elif key.startswith("server."):
                members.append(_parse_member(key, value))
        members.sort(key=lambda m: m.id)
        return cls(version, tuple(members))


def _parse_member(key: str, value: str) -> Member:
    try:
        sid = int(key[len("server."):])
        server_part, _, client_part = value.partition(";")
        # host:quorum:election[:role], host possibly a bracketed IPv6 literal
        if server_part.startswith("["):
            close = server_part.index("]")
            host, rest = server_part[1:close], server_part[close + 2:]
        else:
            host, _, rest = server_part.partition(":")
        fields = rest.split(":")
        quorum, election = int(fields[0]), int(fields[1])
        role = fields[2] if len(fields) > 2 and fields[2] else "participant"
        client_host: Optional[str] = None
        client_port: Optional[int] = None
        client_part = client_part.strip()
        if client_part:
            if client_part.isdigit():
                client_port = int(client_part)
            else:
                client_host, client_port = parse_host(client_part)
    except (ValueError, IndexError) as e:
        raise InvalidArgumentError(f"bad config line {key}={value!r}: {e}") from None
    if role not in ("participant", "observer"):
        raise InvalidArgumentError(f"bad role {role!r} in config line {key}={value!r}")
    return Member(sid, host, quorum, election, role, client_host, client_port)
