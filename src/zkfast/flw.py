"""ZooKeeper four-letter words (``ruok``, ``srvr``, ``cons``, ``mntr``, ...).

A four-letter word is a 4-byte command sent on a fresh TCP connection to a
server's client port; the server writes a text reply and closes the
connection.  :func:`command` sends one word to one server and returns the whole
reply.  The helpers query many servers in parallel and parse the replies::

    >>> stats = srvr(["127.0.0.1:2181", "127.0.0.1:2182"])   # doctest: +SKIP
    >>> stats["127.0.0.1:2181"].mode                          # doctest: +SKIP
    <Mode.LEADER: 'leader'>

A server that cannot be queried does not spoil the others: its entry carries
the exception (``ServerStats.error``, ``ServerClients.error``; for the
dict-returning helpers the entry *is* the :class:`FLWError`).

Servers must allow the word: ``4lw.commands.whitelist`` in zoo.cfg (ZooKeeper
3.5+ allows only ``srvr`` by default).  A refused word raises
:class:`FLWNotAllowedError`.

Facts about ZooKeeper 3.8's replies that the parsers rely on (checked against a
real server):

* ``srvr``/``stat`` print ``Key: value`` lines; a leader adds
  ``Proposal sizes last/min/max: a/b/c``; ``stat`` adds a ``Clients:`` block.
* While a server has no quorum (electing), every word except ``ruok``/``isro``
  answers ``This ZooKeeper instance is not currently serving requests``
  (:class:`FLWNotServingError`).
* ``cons`` lines for a connection without a session yet carry only
  ``queued``, ``recved`` and ``sent``; ``lcxid`` is absent after ``crst``;
  ``lzxid`` is ``0xffffffffffffffff`` (-1) when unknown; ``avglat`` is an
  integer; ``est`` is wall-clock milliseconds but ``lresp`` is the server's
  *monotonic* clock in milliseconds, not a timestamp.
* An unknown word gets an empty reply (the server just closes).
"""

from __future__ import annotations

import enum
import re
import socket
import time
from collections.abc import Iterable as _IterableABC
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Callable, Iterable, TypeVar, Union

from .hosts import DEFAULT_PORT, format_address, parse_connect_string, parse_host

__all__ = [
    "FLWError",
    "FLWConnectionError",
    "FLWTimeoutError",
    "FLWNotAllowedError",
    "FLWNotServingError",
    "FLWParseError",
    "Mode",
    "ServerStats",
    "ServerClient",
    "ServerClients",
    "command",
    "server_list",
    "Servers",
    "ruok",
    "srvr",
    "stat",
    "cons",
    "mntr",
    "envi",
    "conf",
    "parse_srvr",
    "parse_cons",
    "parse_mntr",
    "parse_properties",
]

MAX_REPLY_SIZE = 64 * 1024 * 1024
"""Replies larger than this are refused (protects against a runaway peer)."""

MAX_WORKERS = 16
"""Upper bound on threads used to query servers in parallel."""

MntrValue = Union[int, float, str]
Servers = Union[str, Iterable[str]]
"""What the helpers query: a connect string (``"h1:2181,h2:2182/chroot"``, the chroot
ignored) or an iterable of ``host[:port]`` strings."""
T = TypeVar("T")


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class FLWError(Exception):
    """A four-letter word failed.  ``server`` and ``word`` say where."""

    def __init__(self, message: str, *, server: str = "", word: str = "") -> None:
        super().__init__(message)
        self.server = server
        self.word = word


class FLWConnectionError(FLWError):
    """Could not connect to the server, or the connection broke."""


class FLWTimeoutError(FLWConnectionError):
    """The server did not answer (connect or read) within the timeout."""


class FLWNotAllowedError(FLWError):
    """The word is not in the server's ``4lw.commands.whitelist``."""


class FLWNotServingError(FLWError):
    """The server is up but not serving (e.g. electing a leader, no quorum)."""


class FLWParseError(FLWError):
    """The reply did not have the expected shape."""


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


class Mode(enum.Enum):
    """A server's role, as printed in the ``Mode:`` line of ``srvr``/``stat``."""

    UNKNOWN = "unknown"
    LEADER = "leader"
    FOLLOWER = "follower"
    STANDALONE = "standalone"
    OBSERVER = "observer"
    READ_ONLY = "read-only"

    @classmethod
    def from_text(cls, text: str) -> Mode:
        """``"leader"`` -> ``Mode.LEADER``; anything unrecognised -> ``UNKNOWN``."""
        t = text.strip().lower().replace("_", "-")
        if t == "readonly":
            t = "read-only"
        try:
            return cls(t)
        except ValueError:
            return cls.UNKNOWN

    def __str__(self) -> str:
        return self.value


@dataclass
class ServerClient:
    """One connection from ``cons`` (or the ``Clients:`` block of ``stat``).

    Fields the server did not print are ``None``: a connection that has not
    finished its handshake shows only ``queued``/``received``/``sent``, and
    ``stat`` shows only those three for every connection.

    ``last_response`` is the server's monotonic clock in milliseconds
    (``lresp``), only meaningful relative to another sample from the same
    server; ``established`` is a real (UTC) time.
    """

    addr: str = ""
    interest_ops: int | None = None
    queued: int | None = None
    received: int | None = None
    sent: int | None = None
    session_id: int | None = None
    last_operation: str | None = None
    established: datetime | None = None
    timeout: int | None = None
    last_cxid: int | None = None
    last_zxid: int | None = None
    last_response: int | None = None
    last_latency: int | None = None
    min_latency: int | None = None
    avg_latency: float | None = None
    max_latency: int | None = None
    error: Exception | None = None
    extra: dict[str, str] = field(default_factory=dict)
    """``key=value`` pairs this parser does not know (newer servers)."""


@dataclass
class ServerClients:
    """``cons`` result for one server."""

    server: str
    clients: list[ServerClient] = field(default_factory=list)
    error: Exception | None = None


@dataclass
class ServerStats:
    """``srvr`` (or ``stat``) result for one server.

    ``zxid`` is split as ZooKeeper does: ``epoch = zxid >> 32`` and
    ``counter = zxid & 0xffffffff``.  On error only ``server`` and ``error``
    are meaningful.
    """

    server: str
    sent: int = 0
    received: int = 0
    node_count: int = 0
    min_latency: int = 0
    avg_latency: float = 0.0
    max_latency: int = 0
    connections: int = 0
    outstanding: int = 0
    zxid: int = 0
    epoch: int = 0
    counter: int = 0
    build_time: datetime | None = None
    mode: Mode = Mode.UNKNOWN
    version: str = ""
    proposal_sizes: tuple[int, int, int] | None = None
    """Leader only: last/min/max proposal size in bytes (-1 when none yet)."""
    clients: list[ServerClient] | None = None
    """Only from :func:`stat`: the connections it lists (queued/received/sent)."""
    error: Exception | None = None


# ---------------------------------------------------------------------------
# Talking to a server
# ---------------------------------------------------------------------------

_NOT_ALLOWED_RE = re.compile(r"^(\S+) is not executed because it is not in the whitelist\.?\s*$")
_NOT_SERVING = "This ZooKeeper instance is not currently serving requests"


def _address(server: str) -> tuple[str, int]:
    try:
        return parse_host(server, DEFAULT_PORT)
    except ValueError as exc:
        raise FLWError(f"invalid server {server!r}: {exc}", server=server) from exc


def command(
    server: str,
    word: str,
    timeout: float = 5.0,
    *,
    max_size: int = MAX_REPLY_SIZE,
) -> str:
    """Send four-letter ``word`` to ``server`` (``host[:port]``) and return the reply.

    The reply is read until the server closes the connection, however long it
    is.  ``timeout`` bounds the whole exchange (connect + send + read).

    >>> command("127.0.0.1:2181", "ruok")   # doctest: +SKIP
    'imok'

    Raises :class:`FLWNotAllowedError` if the server's whitelist excludes the
    word, :class:`FLWNotServingError` if it is not serving requests,
    :class:`FLWConnectionError` / :class:`FLWTimeoutError` on network failure.
    An unknown word yields ``""``.
    """
    if len(word) != 4 or not word.isascii() or not word.isalpha():
        raise ValueError(f"a four-letter word must be 4 ASCII letters, not {word!r}")
    host, port = _address(server)
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    size = 0
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(word.encode("ascii"))
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("timed out")
                sock.settimeout(remaining)
                data = sock.recv(65536)
                if not data:
                    break
                size += len(data)
                if size > max_size:
                    raise FLWError(
                        f"{word} reply from {server} exceeds {max_size} bytes",
                        server=server,
                        word=word,
                    )
                chunks.append(data)
    except TimeoutError as exc:
        raise FLWTimeoutError(
            f"{word} to {server}: timed out after {timeout:g}s", server=server, word=word
        ) from exc
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        target = format_address((host, port))
        where = server if target == server else f"{server} ({target})"
        raise FLWConnectionError(
            f"{word} to {where} failed: {reason}", server=server, word=word
        ) from exc
    text = b"".join(chunks).decode("utf-8", errors="replace")
    first = text.strip()
    if _NOT_ALLOWED_RE.match(first):
        raise FLWNotAllowedError(
            f"{server} refused {word!r}: {first} (see 4lw.commands.whitelist)",
            server=server,
            word=word,
        )
    if first == _NOT_SERVING:
        raise FLWNotServingError(f"{server}: {first}", server=server, word=word)
    return text


def server_list(servers: Servers) -> list[str]:
    """The servers named by ``servers``: a connect string or an iterable of servers.

    >>> server_list("zk1:2181,zk2/app")
    ['zk1:2181', 'zk2:2181']
    >>> server_list(["zk1:2181", "zk2"])
    ['zk1:2181', 'zk2']

    A malformed connect string raises :class:`ValueError`; anything but a string or
    an iterable of strings (bytes included) raises :class:`TypeError`.
    """
    if isinstance(servers, str):
        addresses, _chroot = parse_connect_string(servers)
        return [format_address(a) for a in addresses]
    if isinstance(servers, (bytes, bytearray)) or not isinstance(servers, _IterableABC):
        raise TypeError("servers must be a connect string ('h1:2181,h2:2181') or an "
                        f"iterable of 'host:port' strings, not {type(servers).__name__}")
    out = list(servers)
    for s in out:
        if not isinstance(s, str):
            raise TypeError("servers must be a connect string ('h1:2181,h2:2181') or an "
                            f"iterable of 'host:port' strings; got a {type(s).__name__} in it")
    return out


def _fan_out(
    servers: Servers,
    fn: Callable[[str], T],
    on_error: Callable[[str, FLWError], T],
) -> dict[str, T]:
    """Run ``fn(server)`` for each distinct server in parallel, order kept."""
    keys = list(dict.fromkeys(server_list(servers)))
    if not keys:
        return {}

    def one(server: str) -> T:
        try:
            return fn(server)
        except FLWError as exc:
            return on_error(server, exc)

    if len(keys) == 1:
        return {keys[0]: one(keys[0])}
    with ThreadPoolExecutor(max_workers=min(len(keys), MAX_WORKERS)) as pool:
        results = list(pool.map(one, keys))
    return dict(zip(keys, results))


def _error_entry(server: str, exc: FLWError) -> FLWError:
    return exc


# ---------------------------------------------------------------------------
# Parsers (pure functions on reply text)
# ---------------------------------------------------------------------------

_BUILD_FORMATS = ("%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M", "%Y-%m-%d %H:%M:%S", "%m/%d/%Y %H:%M:%S")


def _parse_build_time(text: str) -> datetime | None:
    """``"2022-02-25 08:49 UTC"`` or ``"03/06/2019 16:18 GMT"`` -> datetime."""
    text = text.strip()
    zone = None
    head, _, tail = text.rpartition(" ")
    if head and tail.isalpha():
        text, zone = head, tail.upper()
    for fmt in _BUILD_FORMATS:
        try:
            dt = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if zone in ("UTC", "GMT", "Z"):
            dt = dt.replace(tzinfo=UTC)
        return dt
    return None


def _parse_int(text: str) -> int:
    text = text.strip()
    if text[:2].lower() == "0x":
        return int(text, 16)
    return int(text)


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= (1 << 63) else value


def _key_values(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key and not key.startswith(" "):
            out.setdefault(key.strip(), value.strip())
    return out


def parse_srvr(text: str, server: str = "") -> ServerStats:
    """Parse the reply of ``srvr`` (or ``stat``) into :class:`ServerStats`.

    Unknown lines are ignored.  Raises :class:`FLWParseError` when a line the
    stats need is missing or malformed.
    """
    kv = _key_values(text)
    stats = ServerStats(server=server)
    try:
        version_line = kv["Zookeeper version"]
        version, sep, built = version_line.partition(", built on ")
        stats.version = version.strip()
        stats.build_time = _parse_build_time(built) if sep else None

        lo, avg, hi = kv["Latency min/avg/max"].split("/")
        stats.min_latency, stats.avg_latency, stats.max_latency = int(lo), float(avg), int(hi)
        stats.received = int(kv["Received"])
        stats.sent = int(kv["Sent"])
        stats.connections = int(kv["Connections"])
        stats.outstanding = int(kv["Outstanding"])
        stats.zxid = _parse_int(kv["Zxid"])
        stats.epoch = stats.zxid >> 32
        stats.counter = stats.zxid & 0xFFFFFFFF
        stats.mode = Mode.from_text(kv["Mode"])
        stats.node_count = int(kv["Node count"])
        if "Proposal sizes last/min/max" in kv:
            last, pmin, pmax = kv["Proposal sizes last/min/max"].split("/")
            stats.proposal_sizes = (int(last), int(pmin), int(pmax))
    except KeyError as exc:
        raise FLWParseError(
            f"srvr reply from {server or 'server'} has no {exc.args[0]!r} line: {text[:200]!r}",
            server=server,
            word="srvr",
        ) from None
    except ValueError as exc:
        raise FLWParseError(
            f"malformed srvr reply from {server or 'server'}: {exc}", server=server, word="srvr"
        ) from exc
    if "Clients:" in text.splitlines():
        lines = text.splitlines()
        start = lines.index("Clients:") + 1
        block: list[str] = []
        for line in lines[start:]:
            if not line.strip():
                break
            block.append(line)
        stats.clients = parse_cons("\n".join(block))
    return stats


_CONS_LINE_RE = re.compile(r"^\s*(?P<addr>.*?)\[(?P<ops>-?\d+)\]\((?P<fields>.*)\)\s*$")

# cons key -> (attribute, converter)
_CONS_FIELDS: dict[str, tuple[str, Callable[[str], object]]] = {
    "queued": ("queued", int),
    "recved": ("received", int),
    "sent": ("sent", int),
    "sid": ("session_id", lambda v: _signed64(_parse_int(v))),
    "lop": ("last_operation", str),
    "est": ("established", lambda v: datetime.fromtimestamp(int(v) / 1000.0, tz=UTC)),
    "to": ("timeout", int),
    "lcxid": ("last_cxid", lambda v: _signed64(_parse_int(v))),
    "lzxid": ("last_zxid", lambda v: _signed64(_parse_int(v))),
    "lresp": ("last_response", int),
    "llat": ("last_latency", int),
    "minlat": ("min_latency", int),
    "avglat": ("avg_latency", float),
    "maxlat": ("max_latency", int),
}


def _parse_cons_line(line: str) -> ServerClient | None:
    m = _CONS_LINE_RE.match(line)
    if not m:
        return None
    addr = m.group("addr").strip()
    # Java prints "/1.2.3.4:5" or "hostname/1.2.3.4:5": keep the address.
    addr = addr.rsplit("/", 1)[-1]
    client = ServerClient(addr=addr, interest_ops=int(m.group("ops")))
    for item in m.group("fields").split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            continue
        spec = _CONS_FIELDS.get(key)
        if spec is None:
            client.extra[key] = value
            continue
        attr, conv = spec
        try:
            setattr(client, attr, conv(value.strip()))
        except (ValueError, OverflowError, OSError) as exc:
            client.error = FLWParseError(f"bad {key}={value!r} in cons line {line.strip()!r}: {exc}")
    return client


def parse_cons(text: str) -> list[ServerClient]:
    """Parse the reply of ``cons`` into one :class:`ServerClient` per connection.

    Lines that are not connection lines (blank lines) are skipped.  A field
    that fails to convert leaves that attribute ``None`` and sets ``error``.
    """
    clients = []
    for line in text.splitlines():
        if not line.strip():
            continue
        client = _parse_cons_line(line)
        if client is not None:
            clients.append(client)
    return clients


def _typed(value: str) -> MntrValue:
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def parse_mntr(text: str) -> dict[str, MntrValue]:
    """Parse ``mntr``'s ``key<TAB>value`` lines; numbers become int or float.

    >>> parse_mntr("zk_server_state\\tleader\\nzk_avg_latency\\t0.5\\nzk_znode_count\\t5\\n")
    {'zk_server_state': 'leader', 'zk_avg_latency': 0.5, 'zk_znode_count': 5}
    """
    out: dict[str, MntrValue] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("\t")
        if not sep or not key:
            continue
        out[key.strip()] = _typed(value.strip())
    return out


def parse_properties(text: str) -> dict[str, str]:
    """Parse ``key=value`` lines (``conf``, ``envi``); other lines are skipped.

    The first ``=`` splits, so values may contain ``=``.
    """
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            out[key.strip()] = value
    return out


# ---------------------------------------------------------------------------
# Multi-server helpers
# ---------------------------------------------------------------------------


def ruok(servers: Servers, timeout: float = 5.0) -> dict[str, bool]:
    """``{server: True}`` for each server that answers ``imok``, else False.

    ``servers`` (here and in every helper below) is a connect string
    (``"h1:2181,h2:2181/chroot"``; the chroot is ignored) or an iterable of
    ``host[:port]`` strings; see :func:`server_list`.

    >>> ruok(["127.0.0.1:2181", "127.0.0.1:1"])   # doctest: +SKIP
    {'127.0.0.1:2181': True, '127.0.0.1:1': False}
    """
    return _fan_out(
        servers,
        lambda s: command(s, "ruok", timeout).strip() == "imok",
        lambda s, exc: False,
    )


def srvr(servers: Servers, timeout: float = 5.0) -> dict[str, ServerStats]:
    """``srvr`` on each server, parsed; a failed server's entry has ``.error`` set."""
    return _fan_out(
        servers,
        lambda s: parse_srvr(command(s, "srvr", timeout), s),
        lambda s, exc: ServerStats(server=s, error=exc),
    )


def stat(servers: Servers, timeout: float = 5.0) -> dict[str, ServerStats]:
    """Like :func:`srvr` via ``stat``; also fills ``ServerStats.clients``."""
    return _fan_out(
        servers,
        lambda s: parse_srvr(command(s, "stat", timeout), s),
        lambda s, exc: ServerStats(server=s, error=exc),
    )


def cons(servers: Servers, timeout: float = 5.0) -> dict[str, ServerClients]:
    """``cons`` on each server: every connection with its session details."""
    return _fan_out(
        servers,
        lambda s: ServerClients(server=s, clients=parse_cons(command(s, "cons", timeout))),
        lambda s, exc: ServerClients(server=s, error=exc),
    )


def mntr(servers: Servers, timeout: float = 5.0) -> dict[str, dict[str, MntrValue] | FLWError]:
    """``mntr`` on each server as ``{key: int|float|str}``.

    A server that failed maps to its :class:`FLWError` instead of a dict.
    """
    return _fan_out(servers, lambda s: parse_mntr(command(s, "mntr", timeout)), _error_entry)


def envi(servers: Servers, timeout: float = 5.0) -> dict[str, dict[str, str] | FLWError]:
    """``envi`` (the server's JVM/host environment) as ``{key: value}``."""
    return _fan_out(servers, lambda s: parse_properties(command(s, "envi", timeout)), _error_entry)


def conf(servers: Servers, timeout: float = 5.0) -> dict[str, dict[str, str] | FLWError]:
    """``conf`` (the server's effective configuration) as ``{key: value}``.

    In an ensemble the membership lines appear as ``server.N`` keys and the
    config ``version``.
    """
    return _fan_out(servers, lambda s: parse_properties(command(s, "conf", timeout)), _error_entry)
