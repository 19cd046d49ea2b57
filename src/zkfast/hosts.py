"""Connect strings and host providers.

A ZooKeeper connect string is a comma separated list of servers, optionally
followed by a chroot path::

    >>> parse_connect_string("zk1:2181,zk2,[::1]:2182/app/prod")
    ([('zk1', 2181), ('zk2', 2181), ('::1', 2182)], '/app/prod')

A *host provider* hands the client the next address to try.  It walks a
shuffled list round robin and tells the caller, through ``retry_start``, when a
whole round has failed so the caller can back off (see :func:`reconnect_delay`)
before starting the next one.  ``connected()`` marks the address just returned
as good; the next round then starts after it.

Two providers are included:

* :class:`DNSHostProvider` (the default) resolves every name to all of its
  addresses, shuffles them, and resolves again at the start of each new round,
  so DNS changes are picked up without restarting the client.
* :class:`StaticHostProvider` uses the addresses exactly as given, shuffled.

A typical reconnect loop::

    provider = DNSHostProvider()
    provider.init(servers)
    attempt = 0
    while True:
        address, retry_start = provider.next()
        if retry_start:
            time.sleep(reconnect_delay(attempt))
            attempt += 1
        if try_connect(address):
            provider.connected()
            attempt = 0
            break
"""

from __future__ import annotations

import ipaddress
import random
import re
import socket
import threading
import time
from typing import Any, Callable, Iterable, Protocol, Sequence, Union, runtime_checkable

from .errors import InvalidArgumentError

__all__ = [
    "DEFAULT_PORT",
    "Address",
    "parse_connect_string",
    "parse_host",
    "format_address",
    "format_servers",
    "HostProvider",
    "StaticHostProvider",
    "DNSHostProvider",
    "reconnect_delay",
    "backoff",
    "rebalance",
    "PreferredHostProvider",
    "MOVE_RETRY_SECONDS",
]

DEFAULT_PORT = 2181
"""The port used when a server has none (ZooKeeper's standard client port)."""

MOVE_RETRY_SECONDS = 1.0
"""For how long after a rebalancing move the servers of the target's kind are
retried before the others (see :meth:`StaticHostProvider.update_server_list`;
a provider's ``move_retry=`` changes it). Short by default, so that servers
that cannot be reached (each attempt taking a whole connection timeout) cost
one pass only; the client is disconnected meanwhile."""

Address = tuple[str, int]
"""``(host, port)``; ``host`` is a name or an IP literal without brackets."""

Resolver = Callable[[str, int], list[Address]]

_monotonic = time.monotonic  # (tests replace it)

# A host name or IPv4 literal: letters, digits, '.', '-', '_' (the last is not
# legal DNS, but appears in container and /etc/hosts names).
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_.])?$")


# ---------------------------------------------------------------------------
# Parsing and formatting
# ---------------------------------------------------------------------------


def _parse_port(text: str, entry: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise InvalidArgumentError(f"invalid port {text!r} in server {entry!r}")
    port = int(text)
    if not 0 < port < 65536:
        raise InvalidArgumentError(f"port {port} out of range 1-65535 in server {entry!r}")
    return port


def _check_ipv6(text: str, entry: str) -> str:
    # Zone ids ("fe80::1%eth0") are allowed by ipaddress on 3.9+.
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        raise InvalidArgumentError(f"invalid IPv6 address {text!r} in server {entry!r}") from None
    return text


def parse_host(entry: str, default_port: int = DEFAULT_PORT) -> Address:
    """Parse one server entry (``host``, ``host:port``, ``[v6]``, ``[v6]:port``).

    A bare IPv6 literal without brackets (``::1``) is accepted and gets the
    default port; an IPv6 address *with* a port must use brackets.

    >>> parse_host("zk1")
    ('zk1', 2181)
    >>> parse_host("[::1]:2182")
    ('::1', 2182)

    Raises :class:`~zkfast.errors.InvalidArgumentError` (a :class:`ValueError`) on anything else.
    """
    entry = entry.strip()
    if not entry:
        raise InvalidArgumentError("empty server address")
    if entry.startswith("["):
        close = entry.find("]")
        if close < 0:
            raise InvalidArgumentError(f"missing ']' in server {entry!r}")
        host = _check_ipv6(entry[1:close], entry)
        rest = entry[close + 1 :]
        if not rest:
            return host, default_port
        if not rest.startswith(":"):
            raise InvalidArgumentError(f"unexpected {rest!r} after ']' in server {entry!r}")
        return host, _parse_port(rest[1:], entry)
    colons = entry.count(":")
    if colons > 1:
        # Unbracketed IPv6 literal: no room for a port.
        try:
            return _check_ipv6(entry, entry), default_port
        except ValueError:
            raise InvalidArgumentError(
                f"invalid server {entry!r}: an IPv6 address with a port must be "
                f"written in brackets, e.g. [::1]:2181"
            ) from None
    if colons == 1:
        host, _, port_text = entry.partition(":")
        port = _parse_port(port_text, entry)
    else:
        host, port = entry, default_port
    if not host:
        raise InvalidArgumentError(f"missing host name in server {entry!r}")
    if not _HOSTNAME_RE.match(host):
        raise InvalidArgumentError(f"invalid host name {host!r} in server {entry!r}")
    return host, port


def _normalise_chroot(chroot: str, connect_string: str) -> str | None:
    if len(chroot) > 1 and chroot.endswith("/"):
        chroot = chroot[:-1]
    if chroot == "/":
        return None
    for ch in chroot:
        # The characters ZooKeeper's PathUtils refuses.
        code = ord(ch)
        if code < 0x20 or 0x7F <= code <= 0x9F:
            raise InvalidArgumentError(
                f"invalid chroot in {connect_string!r}: control character {ch!r}"
            )
        if 0xD800 <= code <= 0xF8FF or 0xFFF0 <= code <= 0xFFFF:
            raise InvalidArgumentError(
                f"invalid chroot in {connect_string!r}: character U+{code:04X} not allowed"
            )
    for segment in chroot[1:].split("/"):
        if segment == "":
            raise InvalidArgumentError(
                f"invalid chroot {chroot!r} in {connect_string!r}: empty path segment"
            )
        if segment in (".", ".."):
            raise InvalidArgumentError(
                f"invalid chroot {chroot!r} in {connect_string!r}: "
                f"relative segment {segment!r}"
            )
    return chroot


def parse_connect_string(hosts: Union[str, Sequence[str]]) -> tuple[list[Address], str | None]:
    """Split a connect string into ``[(host, port), ...]`` and a chroot.

    The chroot is everything from the first ``/``; a trailing slash is dropped
    and a chroot of just ``/`` means none.  Empty entries between commas are
    ignored (``"a,,b"``), like ZooKeeper's own parser.

    >>> parse_connect_string("h1:2181,h2,[::1]:2182/chroot/path/")
    ([('h1', 2181), ('h2', 2181), ('::1', 2182)], '/chroot/path')
    >>> parse_connect_string("127.0.0.1:2181/")
    ([('127.0.0.1', 2181)], None)

    A list of server strings is joined with commas first (kazoo accepts one),
    so the last entry may carry the chroot.

    Raises :class:`~zkfast.errors.InvalidArgumentError` (a :class:`ValueError`)
    for an empty string, no servers, a bad host or port, or a chroot with
    empty, ``.``/``..`` segments or control characters.
    """
    if not isinstance(hosts, str):
        if isinstance(hosts, (list, tuple)) and all(isinstance(h, str) for h in hosts):
            hosts = ",".join(hosts)
        else:
            raise TypeError(f"connect string must be a str or a list of str, not {type(hosts).__name__}")
    text = hosts.strip()
    if not text:
        raise InvalidArgumentError("empty connect string")
    slash = text.find("/")
    chroot: str | None = None
    if slash >= 0:
        chroot = _normalise_chroot(text[slash:], hosts)
        text = text[:slash]
    servers = [parse_host(item) for item in text.split(",") if item.strip()]
    if not servers:
        raise InvalidArgumentError(f"no servers in connect string {hosts!r}")
    return servers, chroot


def format_address(address: Address) -> str:
    """``("::1", 2181)`` -> ``"[::1]:2181"``; ``("zk1", 2181)`` -> ``"zk1:2181"``."""
    host, port = address
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def format_servers(servers: Iterable[str]) -> list[str]:
    """Normalise server strings to ``host:port``, adding ``:2181`` when missing.

    Like go-zookeeper's ``FormatServers``.  IPv6 literals come back bracketed.

    >>> format_servers(["zk1", "zk2:2182", "::1", "[::1]:3000"])
    ['zk1:2181', 'zk2:2182', '[::1]:2181', '[::1]:3000']
    """
    return [format_address(parse_host(s)) for s in servers]


# ---------------------------------------------------------------------------
# Backoff
# ---------------------------------------------------------------------------


def reconnect_delay(
    attempt: int,
    *,
    base: float = 0.05,
    cap: float = 1.0,
    jitter: float = 0.5,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before reconnect round number ``attempt`` (0-based).

    Capped exponential backoff with jitter: the ceiling is ``base * 2**attempt``
    limited to ``cap`` and the result is drawn uniformly from
    ``[ceiling * (1 - jitter), ceiling]``, so clients that lost the same server
    do not all come back in lock step.

    >>> 0.025 <= reconnect_delay(0) <= 0.05
    True
    >>> 0.5 <= reconnect_delay(10) <= 1.0
    True
    """
    if attempt < 0:
        attempt = 0
    ceiling = min(cap, base * (2.0 ** min(attempt, 60)))
    if jitter <= 0:
        return ceiling
    r = (rng or random).random()
    return ceiling * (1.0 - min(jitter, 1.0) * r)


backoff = reconnect_delay
"""Alias of :func:`reconnect_delay`."""


# ---------------------------------------------------------------------------
# Host providers
# ---------------------------------------------------------------------------


@runtime_checkable
class HostProvider(Protocol):
    """What the client needs from a host provider (go-zookeeper's ``HostProvider``).

    * ``init(servers)`` is called once with the parsed connect string.
    * ``next()`` returns ``(address, retry_start)``; ``retry_start`` is True when
      every address was tried since the last ``connected()`` (or since init)
      and this call starts a new round: the caller should back off first.
    * ``connected()`` reports that the address returned last worked.
    """

    def init(self, servers: list[Address]) -> None: ...

    def __len__(self) -> int: ...

    def next(self) -> tuple[Address, bool]: ...

    def connected(self) -> None: ...


class StaticHostProvider:
    """Shuffled round robin over the addresses exactly as given (no DNS).

    >>> p = StaticHostProvider(shuffle=False)
    >>> p.init([("a", 1), ("b", 2)])
    >>> [p.next() for _ in range(3)]
    [(('a', 1), False), (('b', 2), False), (('a', 1), True)]

    Thread safe: ``next``/``connected`` may be called from different threads.
    """

    def __init__(self, *, shuffle: bool = True, rng: random.Random | None = None,
                 move_retry: float = MOVE_RETRY_SECONDS) -> None:
        self._shuffle = shuffle
        self._move_retry = move_retry
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._addresses: list[Address] = []
        # Index of the address returned last (-1: none yet).
        self._current = -1
        # Index at which the current round started (-1: no round yet).
        self._round_start = -1
        # After a move (update_server_list): the servers of the target's kind,
        # retried before the others until _focus_until (time.monotonic()).
        self._focus: list[Address] = []
        self._focus_until = 0.0

    # -- hooks for subclasses -------------------------------------------
    def _build(self, servers: list[Address]) -> list[Address]:
        """Turn the configured servers into the address list for one round."""
        return list(dict.fromkeys(servers))

    def _mix(self, addresses: list[Address]) -> list[Address]:
        if self._shuffle:
            self._rng.shuffle(addresses)
        return addresses

    def _new_round(self) -> bool:
        """Called under the lock when a full round has failed.

        Return True if the address list was rebuilt (then the new round starts
        at index 0).
        """
        return False

    # -- HostProvider -----------------------------------------------------
    def init(self, servers: list[Address]) -> None:
        """Set the servers (``[(host, port), ...]``) and reset the rotation."""
        servers = [(str(h), int(p)) for h, p in servers]
        if not servers:
            raise ValueError("host provider needs at least one server")
        with self._lock:
            self._servers = servers
            self._addresses = self._mix(self._build(servers))
            self._current = -1
            self._round_start = -1
            self._focus = []

    def __len__(self) -> int:
        with self._lock:
            return len(self._addresses)

    def next(self) -> tuple[Address, bool]:
        """Return ``(address, retry_start)``; see :class:`HostProvider`."""
        with self._lock:
            if not self._addresses:
                raise RuntimeError("host provider used before init()")
            if self._focus:
                focused = self._next_focused()
                if focused is not None:
                    return focused
            nxt = (self._current + 1) % len(self._addresses)
            retry_start = nxt == self._round_start
            if retry_start and self._new_round():
                nxt = 0
            if self._round_start < 0 or retry_start:
                self._round_start = nxt
            self._current = nxt
            return self._addresses[nxt], retry_start

    def _next_focused(self) -> tuple[Address, bool] | None:
        """The next server of a move's target kind while the move is fresh
        (each pass over them that failed is a round: the caller backs off);
        None once it is not (the whole rotation goes on from the target)."""
        kind, addresses = self._focus, self._addresses
        here = addresses[self._current] if 0 <= self._current < len(addresses) else None
        i = kind.index(here) + 1 if here in kind else 0
        retry_start = i >= len(kind)
        if retry_start and _monotonic() >= self._focus_until:
            self._focus = []
            self._round_start = addresses.index(kind[0])  # the round began with the target
            return None
        addr = kind[i % len(kind)]
        self._current = addresses.index(addr)
        return addr, retry_start

    def connected(self) -> None:
        """The address returned by the last ``next()`` worked: a new round starts."""
        with self._lock:
            self._focus = []
            if self._current >= 0:
                # The next round ends (retry_start) when we come back here.
                self._round_start = self._current

    @property
    def addresses(self) -> list[Address]:
        """The current rotation (a copy), in the order it is walked."""
        with self._lock:
            return list(self._addresses)

    def update_server_list(self, servers: list[Address],
                           current: Address | None) -> Address | None:
        """The ensemble changed: take the new servers, and say whether the
        client, connected to ``current``, should move (and where) so that the
        load ends up even: :func:`rebalance`. None: stay.

        After a move the rotation goes on, should the target refuse the
        client, with the other servers of the target's kind (added or kept,
        as :func:`rebalance` chose) before the rest (the reference client's
        reconfigMode), and for ``move_retry`` seconds (the constructor's;
        default :data:`MOVE_RETRY_SECONDS`) those are tried
        again after each failed pass (the caller backs off between passes)
        before the others: a server that was just added may refuse clients
        for a moment (an observer restarts in its new role when the reconfig
        commits), and falling back to an old server then would leave the load
        where it was."""
        servers = [(str(h), int(p)) for h, p in servers]
        if not servers:
            raise ValueError("host provider needs at least one server")
        with self._lock:
            old = list(self._addresses)
            old_groups = self._groups(old)
            new = self._mix(self._build(servers))
            self._servers = servers
            self._round_start = -1
            new_groups = self._groups(new)
            target = _rebalance_groups(old_groups, new_groups, current, self._rng)
            self._focus = []
            if target is not None:
                was_old = target in old
                kind = next((g for g in new_groups if target in g), new)
                first = [target] + [a for a in kind if a != target and (a in old) == was_old]
                new = first + [a for a in new if a not in first]
                self._round_start = 0  # the round began with the target
                self._focus = first
                self._focus_until = _monotonic() + self._move_retry
            self._addresses = new
            here = target if target is not None else current
            self._current = new.index(here) if here in new else -1
            return target

    def _groups(self, addresses: list[Address]) -> list[list[Address]]:
        """``addresses`` split into groups, most wanted first, for rebalancing
        (called under the lock): here one group, everything."""
        return [list(addresses)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.addresses!r})"


def rebalance(old: Iterable[Address], new: Iterable[Address], current: Address | None,
              rng: random.Random | None = None) -> Address | None:
    """Where a client connected to ``current`` moves when the server list
    changes from ``old`` to ``new`` (None: it stays), so that clients spread
    evenly over the new list while as few as possible move (the reference
    client's rule, ZOOKEEPER-1355).

    With O old servers, N new ones, S of them kept, A added and R removed, each
    server carrying 1/O of the clients before and 1/N after:

    - the list grows (N > O): a client of a kept server moves with probability
      1 - O/N, to an added server (each kept one sheds 1/O - 1/N); a client of a
      removed server moves to an added server;
    - it does not grow (N <= O): a client of a kept server stays; a client of a
      removed server moves to an added server with probability A*O / (N*R),
      else to a kept one (each kept server needs 1/N - 1/O more);

    in each case to a uniformly chosen server of that group.
    """
    rng = rng or random.Random()
    old_set, new_list = set(old), list(dict.fromkeys(new))
    if current is None or not old_set or not new_list:
        return None
    kept = [a for a in new_list if a in old_set]
    added = [a for a in new_list if a not in old_set]
    n_old, n_new = len(old_set), len(new_list)
    if current in new_list:
        if n_new > n_old and added and rng.random() < 1 - n_old / n_new:
            return rng.choice(added)
        return None
    removed = len(old_set - set(new_list))
    if n_new > n_old:
        return rng.choice(added or new_list)
    p_added = len(added) * n_old / (n_new * removed) if removed else 0.0
    if added and rng.random() < p_added:
        return rng.choice(added)
    return rng.choice(kept or new_list)


def _rebalance_groups(old: list[list[Address]], new: list[list[Address]],
                      current: Address | None, rng: random.Random) -> Address | None:
    """:func:`rebalance` for servers in groups of preference (``old[i]`` and
    ``new[i]``: group i before and after the change, the most wanted first).
    The client rebalances within its own group; it leaves the group only for a
    better one: for a server added to a better group, or when its own group
    is gone. With one group this is :func:`rebalance` itself."""
    if current is None:
        return None
    added = [[a for a in group if not any(a in g for g in old)] for group in new]
    for i, group in enumerate(new):
        if current in group:  # kept, in group i
            better = next((g for g in added[:i] if g), None)
            if better is not None:
                return rng.choice(better)
            return rebalance(old[i], group, current, rng)
    # its server was removed: its own group's rule, unless a better group has servers
    mine = next((i for i, group in enumerate(old) if current in group), len(new) - 1)
    for i, group in enumerate(new):
        if group:  # the first group with servers: its own, a better one, or the next
            return rebalance(old[i], group, current, rng) if i == mine else rng.choice(group)
    return None


def _getaddrinfo_resolver(host: str, port: int) -> list[Address]:
    """Every TCP address of ``host`` (IPv4 and IPv6), in resolver order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    out: list[Address] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        addr = (str(sockaddr[0]), int(sockaddr[1]))
        if addr not in out:
            out.append(addr)
    return out


class DNSHostProvider(StaticHostProvider):
    """Resolve each server to all of its addresses, shuffle, re-resolve each round.

    Names are resolved with ``socket.getaddrinfo`` (TCP) in ``init()`` and again
    whenever a full round of addresses has failed (the ``next()`` call that
    returns ``retry_start=True``), so a replaced server's new address is found.
    A name that does not resolve is skipped while others do; if *nothing*
    resolves, the unresolved ``(name, port)`` pairs are used as they are, so the
    connect attempt fails with the real resolver error.

    ``next()`` returns IP addresses; :meth:`origin` maps one back to the name
    from the connect string (useful for TLS host name checks).

    >>> p = DNSHostProvider()
    >>> p.init([("localhost", 2181)])
    >>> p.next()[0] in {("127.0.0.1", 2181), ("::1", 2181)}
    True
    """

    def __init__(
        self,
        *,
        shuffle: bool = True,
        rng: random.Random | None = None,
        resolver: Resolver | None = None,
        move_retry: float = MOVE_RETRY_SECONDS,
    ) -> None:
        super().__init__(shuffle=shuffle, rng=rng, move_retry=move_retry)
        self._resolver: Resolver = resolver or _getaddrinfo_resolver
        self._origins: dict[Address, str] = {}
        self.resolve_errors: dict[Address, Exception] = {}
        """Servers that failed to resolve at the last resolution, with the error."""

    def _build(self, servers: list[Address]) -> list[Address]:
        resolved: list[Address] = []
        origins: dict[Address, str] = {}
        errors: dict[Address, Exception] = {}
        for server in dict.fromkeys(servers):
            host, port = server
            try:
                addrs = self._resolver(host, port)
            except (OSError, UnicodeError) as exc:
                errors[server] = exc
                continue
            if not addrs:
                errors[server] = OSError(f"{host!r} resolved to no addresses")
            for addr in addrs:
                if addr not in origins:
                    origins[addr] = host
                    resolved.append(addr)
        if not resolved:
            resolved = list(dict.fromkeys(servers))
            origins = {s: s[0] for s in resolved}
        self._origins = origins
        self.resolve_errors = errors
        return resolved

    def _new_round(self) -> bool:
        self._addresses = self._mix(self._build(self._servers))
        return True

    def origin(self, address: Address) -> str:
        """The connect-string host name that ``address`` was resolved from."""
        with self._lock:
            return self._origins.get(address, address[0])


class PreferredHostProvider(DNSHostProvider):
    """Tries the ``preferred`` servers first (the local zone, the observers)
    and falls back to the others only when a whole round of the preferred
    ones failed; after connecting elsewhere, a reconnect tries them first again.
    When the server list changes (:meth:`update_server_list`), a client
    rebalances among the servers of its own kind: one on a preferred server
    never moves to another kind, and one on a fallback server moves to a
    preferred server that was added.

    >>> p = PreferredHostProvider(["zk-local:2181"], resolver=lambda h, port: [(h, port)],
    ...                           shuffle=False)
    >>> p.init([("zk-far", 2181), ("zk-local", 2181)])
    >>> [p.next()[0][0] for _ in range(3)]
    ['zk-local', 'zk-far', 'zk-local']
    """

    def __init__(self, preferred: Iterable[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._preferred = {parse_host(h) for h in preferred}
        self._preferred_addrs: set[Address] = set()

    def _build(self, servers: list[Address]) -> list[Address]:
        built = super()._build(servers)
        # remember which resolved addresses came from a preferred server
        origins = self._origins
        self._preferred_addrs = {a for a in built if (origins.get(a, a[0]), a[1]) in self._preferred}
        return built

    def connected(self) -> None:
        """Connected: if not to a preferred server, the next reconnect starts
        with the preferred ones again."""
        with self._lock:
            self._focus = []
            cur = self._current
            if cur >= 0:
                self._round_start = cur
                if self._addresses[cur] not in self._preferred_addrs:
                    self._current = -1

    def _mix(self, addresses: list[Address]) -> list[Address]:
        mixed = super()._mix(addresses)
        preferred: set[Address] = getattr(self, "_preferred_addrs", set())
        return [a for a in mixed if a in preferred] + [a for a in mixed if a not in preferred]

    def _groups(self, addresses: list[Address]) -> list[list[Address]]:
        # Rebalancing keeps a client among the preferred servers: without this,
        # an ensemble that grows by servers it does not prefer would move a
        # share of the clients off their local zone.
        preferred = self._preferred_addrs
        return [[a for a in addresses if a in preferred], [a for a in addresses if a not in preferred]]

