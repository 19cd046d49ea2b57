"""kazoo's TLS arguments as an ``ssl.SSLContext``, and plain or TLS sockets
for the four-letter words (``KazooClient.command``)."""

from __future__ import annotations

import socket
import ssl
from typing import Any, Optional, Tuple

__all__ = ["ssl_context", "open_connection"]


def ssl_context(ca: Optional[str] = None, certfile: Optional[str] = None,
                keyfile: Optional[str] = None, keyfile_password: Optional[str] = None,
                verify_certs: bool = True, check_hostname: bool = False) -> ssl.SSLContext:
    """The context kazoo builds from its arguments: TLS 1.0 or later, the
    system's CAs plus ``ca``, the server certificate verified unless
    ``verify_certs`` is False, its host name checked only with ``check_hostname``,
    and a client certificate when ``certfile`` and ``keyfile`` are given."""
    if check_hostname and not verify_certs:
        raise ValueError("verify_certs must be True when check_hostname is True")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    ctx.check_hostname = check_hostname  # before verify_mode: CERT_NONE needs it off
    ctx.verify_mode = ssl.CERT_REQUIRED if verify_certs else ssl.CERT_NONE
    if ca:
        ctx.load_verify_locations(ca)
    if certfile and keyfile:
        ctx.load_cert_chain(certfile=certfile, keyfile=keyfile, password=keyfile_password)
    return ctx


def open_connection(address: Tuple[str, int], timeout: Optional[float] = None, *,
                    hostname: Optional[str] = None, use_ssl: bool = False,
                    ca: Optional[str] = None, certfile: Optional[str] = None,
                    keyfile: Optional[str] = None, keyfile_password: Optional[str] = None,
                    verify_certs: bool = True, check_hostname: bool = False,
                    **_ignored: Any) -> socket.socket:
    """A connected socket to ``address`` (TCP_NODELAY set), wrapped in TLS with
    ``use_ssl`` (see :func:`ssl_context`)."""
    sock = socket.create_connection(address, timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if use_ssl:
            ctx = ssl_context(ca, certfile, keyfile, keyfile_password, verify_certs, check_hostname)
            sock = ctx.wrap_socket(sock, server_hostname=hostname or address[0])
    except BaseException:
        sock.close()
        raise
    return sock
