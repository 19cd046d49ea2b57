"""A client's configuration: the constructor arguments both clients share,
checked once and kept in one object.

The defaults live in one place, the signature of
:class:`zkfast.Client` / :class:`zkfast.AsyncClient` (both inherit it from
:class:`zkfast._api.ClientAPI`); :meth:`ClientConfig.build` checks the
arguments and derives what follows from them. Every field is documented
where it is defined, below.
"""

from __future__ import annotations

import itertools
import logging
import ssl
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from .errors import InvalidArgumentError
from .events import WatchedEvent
from .hosts import Address, DNSHostProvider, HostProvider, parse_connect_string

__all__ = ["ClientConfig", "SocketFactory", "DEFAULT_MAX_REQUEST_SIZE", "DEFAULT_MAX_BUFFER_SIZE"]

#: The server's jute.maxbuffer default: a larger request is refused by closing the connection.
DEFAULT_MAX_REQUEST_SIZE = 0xFFFFF

#: The largest reply accepted by default: 64 MiB. It admits a getChildren of
#: over three million short names (a 1,000,000-child listing is ~18 MB) while
#: still bounding what a broken or hostile server can make the client hold; the
#: reader grows its buffer as bytes arrive, never to a claimed length up front.
DEFAULT_MAX_BUFFER_SIZE = 64 * 1024 * 1024

SocketFactory = Callable[[Address, float], Any]
"""``connect(address, timeout) -> socket.socket``: opens a connected socket."""

_names = itertools.count(1)
_names_lock = threading.Lock()


def _next_name() -> str:
    with _names_lock:
        return f"#{next(_names)}"


@dataclass(frozen=True)
class ClientConfig:
    """Everything a client was configured with (``client.config``)."""

    #: The connect string as given (``"h1:2181,h2:2181/chroot"``; a list of
    #: ``host:port`` strings is joined with commas).
    hosts: str
    #: The servers parsed from it, in the given order (the host provider shuffles).
    servers: List[Address]
    #: The chroot: '' for none, else a path every call's path is relative to.
    chroot: str
    #: The session timeout the client asks for, in seconds. The server clamps
    #: it to [2, 20] ticks by default; ``client.negotiated_session_timeout``
    #: says what it granted.
    session_timeout: float
    #: Seconds to wait for a TCP connect and the ConnectResponse from one
    #: server before trying the next. Default: the session timeout divided by
    #: the number of servers, and never more than half of it (a server may
    #: accept and never answer, ZOOKEEPER-5051; waiting the whole timeout
    #: there would leave no time to resume the session elsewhere).
    connection_timeout: float
    #: ``[(scheme, credential), ...]`` added to every connection (``add_auth``),
    #: before the connection is reported connected.
    auth_data: List[Tuple[str, bytes]]
    #: The ACL ``create`` uses when none is given (None: open to everyone).
    default_acl: Optional[Sequence[Any]]
    #: Accept read-only servers (a minority partition with readonlymode.enabled).
    read_only: bool
    #: TLS: an ``ssl.SSLContext``; the certificate is checked against the host
    #: name as written in the connect string.
    ssl_context: Optional[ssl.SSLContext]
    #: Chooses the next server to try (:mod:`zkfast.hosts`); default
    #: :class:`~zkfast.hosts.DNSHostProvider`.
    host_provider: HostProvider
    #: Opens the TCP connection instead of ``socket.create_connection`` (a proxy,
    #: a Unix socket, a test harness); TLS, if set, wraps what it returns.
    connect: Optional[SocketFactory]
    #: The largest reply frame the client accepts, in bytes (default 64 MiB,
    #: DEFAULT_MAX_BUFFER_SIZE). A larger reply fails only the request it
    #: answers (:class:`~zkfast.ResponseTooLargeError`); a batch of coalesced
    #: reads may take up to this much per read.
    max_buffer_size: int
    #: The largest request frame the client sends (the server's jute.maxbuffer).
    max_request_size: int
    #: ``(session id, password)`` of a session to resume.
    client_id: Optional[Tuple[int, bytes]]
    #: SASL login on every connection (needs ``pip install 'zkfast[sasl]'``):
    #: ``mechanism`` (DIGEST-MD5 or GSSAPI), ``username``, ``password``,
    #: ``service`` ("zookeeper"), ``host`` (the server's SASL name).
    sasl_options: Optional[Dict[str, Any]]
    #: Where the client logs (default: the ``zkfast.client`` logger).
    logger: logging.Logger
    #: Called with a ``WatchedEvent(EventType.NONE, state, None)`` at every
    #: state change (the Java client's default watcher), besides listeners.
    event_callback: Optional[Callable[[WatchedEvent], Any]]
    #: Tells this client's threads and tasks apart (``zkfast-io[name]``);
    #: default ``#1``, ``#2``, ... in creation order.
    name: str
    #: Send getData/getChildren calls made while other requests are in flight
    #: as one multiRead request (ZooKeeper 3.6+; detected per connection):
    #: same results, same order, fewer server round trips. See
    #: docs/architecture.md, "Read coalescing".
    coalesce_reads: bool
    #: Requests awaiting a reply at most (reads in a coalesced batch count one
    #: by one). Past it a new call waits for room: a blocking call (and a
    #: ``*_async`` one on Client) blocks, an AsyncClient call's future is sent
    #: in its turn. None: no bound.
    max_in_flight: Optional[int]
    #: Requests made while disconnected kept for the next connection at most;
    #: past it a call fails at once with :class:`~zkfast.QueueFullError`.
    max_queued: int
    #: Seconds a call waits for its reply unless it says otherwise
    #: (``timeout=``); then :class:`~zkfast.RequestTimeoutError` (the request
    #: may still be applied). None: wait as long as the session lives.
    request_timeout: Optional[float]
    #: Follow the ensemble's dynamic configuration (``/zookeeper/config``, 3.5+):
    #: take each new server list as :meth:`~zkfast.Client.update_server_list`
    #: does. Off by default: the addresses in that config are the servers' own
    #: view of themselves, which clients behind NAT, in containers or across a
    #: proxy often cannot reach; a client whose connect string is a stable
    #: name (DNS, a load balancer) needs nothing more. See docs/operating.md.
    track_ensemble: bool
    #: Called with a :class:`~zkfast.metrics.RequestRecord` as each request
    #: finishes (operation, path, latency, error type, sizes), on the thread or
    #: loop that completed it: keep it quick. None: nothing is measured.
    observer: Optional[Callable[[Any], Any]]
    #: Keep per-operation counts, errors and latency percentiles for ``stats()``.
    request_stats: bool

    @classmethod
    def build(cls, hosts: Union[str, Sequence[str]], session_timeout: float, *,
              connection_timeout: Optional[float], auth_data: Optional[Sequence[Tuple[str, Any]]],
              default_acl: Optional[Sequence[Any]], read_only: bool,
              ssl_context: Optional[ssl.SSLContext], host_provider: Optional[HostProvider],
              connect: Optional[SocketFactory], max_buffer_size: Optional[int],
              max_request_size: int, client_id: Optional[Tuple[int, bytes]],
              sasl_options: Optional[Dict[str, Any]], logger: Optional[logging.Logger],
              event_callback: Optional[Callable[[WatchedEvent], Any]],
              name: Optional[str], coalesce_reads: bool, max_in_flight: Optional[int],
              max_queued: int, request_timeout: Optional[float],
              track_ensemble: bool, observer: Optional[Callable[[Any], Any]],
              request_stats: bool) -> ClientConfig:
        """Check the constructor's arguments and derive the rest."""
        servers, chroot = parse_connect_string(hosts)
        if isinstance(session_timeout, bool) or not isinstance(session_timeout, (int, float)) \
                or not session_timeout > 0:
            raise InvalidArgumentError(f"session_timeout must be a positive number of seconds, "
                                       f"not {session_timeout!r}")
        if connection_timeout is not None and not connection_timeout > 0:
            raise InvalidArgumentError(f"connection_timeout must be positive, not {connection_timeout!r}")
        if sasl_options is not None:
            try:
                import puresasl.client  # noqa: F401  # checked now, not at the first connect
            except ImportError:
                raise InvalidArgumentError(
                    "SASL needs the pure-sasl package: pip install 'zkfast[sasl]'") from None
        if max_buffer_size is None:
            max_buffer_size = DEFAULT_MAX_BUFFER_SIZE
        for label, size in (("max_buffer_size", max_buffer_size), ("max_request_size", max_request_size)):
            if isinstance(size, bool) or not isinstance(size, int) or size < 1024:
                raise InvalidArgumentError(f"{label} must be an int of at least 1024 bytes, not {size!r}")
        for label, bound in (("max_in_flight", max_in_flight), ("max_queued", max_queued)):
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int) or bound < 1):
                raise InvalidArgumentError(f"{label} must be a positive int, not {bound!r}")
        if request_timeout is not None and not request_timeout > 0:
            raise InvalidArgumentError(f"request_timeout must be positive, not {request_timeout!r}")
        auth: List[Tuple[str, bytes]] = []
        for scheme, cred in auth_data or ():
            if not isinstance(scheme, str) or not scheme:
                raise InvalidArgumentError(f"auth scheme must be a non-empty str, not {scheme!r}")
            auth.append((scheme, cred.encode("utf-8") if isinstance(cred, str) else bytes(cred)))
        if host_provider is None:  # not "or": a provider with no servers yet is falsy
            host_provider = DNSHostProvider()
        host_provider.init(servers)
        timeout = float(session_timeout)
        if connection_timeout is None:
            connection_timeout = max(1.0, timeout / max(2, len(servers)))
        return cls(
            hosts=hosts if isinstance(hosts, str) else ",".join(hosts),
            servers=servers, chroot=chroot or "", session_timeout=timeout,
            connection_timeout=float(connection_timeout), auth_data=auth, default_acl=default_acl,
            read_only=bool(read_only), ssl_context=ssl_context, host_provider=host_provider,
            connect=connect, max_buffer_size=max_buffer_size, max_request_size=max_request_size,
            client_id=client_id, sasl_options=sasl_options,
            logger=logger or logging.getLogger("zkfast.client"), event_callback=event_callback,
            name=name or _next_name(), coalesce_reads=bool(coalesce_reads),
            max_in_flight=max_in_flight, max_queued=max_queued,
            request_timeout=None if request_timeout is None else float(request_timeout),
            track_ensemble=bool(track_ensemble), observer=observer,
            request_stats=bool(request_stats))
