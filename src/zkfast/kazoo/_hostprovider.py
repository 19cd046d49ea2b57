"""The host provider behind ``KazooClient``: kazoo's server rotation on zkfast.

Like kazoo, every round of connection attempts resolves each host name again
and walks all the addresses, shuffled unless ``randomize_hosts`` is False
(the backoff between rounds is zkfast's);
:meth:`KazooHostProvider.set_hosts` (``KazooClient.set_hosts``) swaps the list
in for the next round without touching the live connection.
It implements :class:`zkfast.hosts.HostProvider`.
"""

from __future__ import annotations

import random
import socket
import threading
from typing import Dict, List, Sequence, Tuple

__all__ = ["KazooHostProvider"]

Address = Tuple[str, int]


def _resolve(host: str, port: int) -> List[Address]:
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    out: List[Address] = []
    for family, _t, _p, _c, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            addr = (str(sockaddr[0]), int(sockaddr[1]))
            if addr not in out:
                out.append(addr)
    return out


class KazooHostProvider:
    """kazoo's rotation: re-resolved and (optionally) shuffled each round."""

    def __init__(self, randomize: bool = True) -> None:
        self.randomize = randomize
        self._lock = threading.Lock()
        self._servers: List[Address] = []
        self._round: List[Address] = []
        self._origins: Dict[Address, str] = {}
        self._index = 0
        self._fresh = True  # the next round starts afresh (a new list): no backoff
        self._last: Address = ("", 0)

    # -- zkfast.hosts.HostProvider

    def init(self, servers: List[Address]) -> None:
        self.set_hosts(servers)

    def __len__(self) -> int:
        with self._lock:
            return max(1, len(self._servers))

    def next(self) -> Tuple[Address, bool]:
        """The next address; ``retry_start`` when a round begins after a whole
        round failed (the session backs off then)."""
        with self._lock:
            retry_start = False
            if self._index >= len(self._round):
                retry_start = not self._fresh
                self._new_round()
            self._fresh = False
            addr = self._round[self._index]
            self._index += 1
            self._last = addr
            return addr, retry_start

    def connected(self) -> None:
        """The address returned last worked. After a drop the other servers of
        this round come first; coming back to this one starts a new round
        (with the session's backoff), as zkfast's providers do."""
        with self._lock:
            self._round = [a for a in self._round if a != self._last]
            self._index = 0
            self._fresh = False

    # -- what the session asks for when it has it

    @property
    def addresses(self) -> List[Address]:
        with self._lock:
            return list(self._round)

    def origin(self, address: Address) -> str:
        """The host name (as given) that ``address`` was resolved from."""
        with self._lock:
            return self._origins.get(address, address[0])

    # -- kazoo

    def set_hosts(self, servers: Sequence[Address]) -> None:
        """Use ``servers`` from the next connection attempt on."""
        servers = [(str(h), int(p)) for h, p in servers]
        if not servers:
            raise ValueError("no hosts given")
        with self._lock:
            self._servers = servers
            self._index = len(self._round)  # the next attempt starts a round of the new list
            self._fresh = True

    def _new_round(self) -> None:
        addrs: List[Address] = []
        origins: Dict[Address, str] = {}
        for host, port in self._servers:
            for addr in _resolve(host, port) or [(host, port)]:
                if addr not in origins:
                    origins[addr] = host
                    addrs.append(addr)
        if self.randomize:
            random.shuffle(addrs)
        self._round = addrs
        self._origins = origins
        self._index = 0
