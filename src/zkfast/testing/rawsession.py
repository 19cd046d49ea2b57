"""Hand-written ZooKeeper sessions: connect (or resume) with raw jute, and forced expiry.

Independent of zkfast's codec on purpose, so the harness can test it.
"""

from __future__ import annotations

import socket
import ssl
import struct
import time
from dataclasses import dataclass

__all__ = ["ConnectResponse", "expire_session", "parse_hosts", "raw_connect", "recv_frame"]


@dataclass(frozen=True)
class ConnectResponse:
    """A decoded ConnectResponse. ``timeout <= 0`` means the session is expired/invalid."""

    protocol_version: int
    timeout: int
    session_id: int
    password: bytes
    read_only: bool | None  # None when the server omitted the flag


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def recv_frame(sock: socket.socket) -> bytes:
    (length,) = struct.unpack(">i", _recv_exact(sock, 4))
    if length < 0 or length > 0x7FFFFFF:
        raise ConnectionError(f"bad frame length {length}")
    return _recv_exact(sock, length)


def _connect_request(session_id: int, password: bytes, timeout_ms: int, read_only: bool,
                     last_zxid: int) -> bytes:
    # ConnectRequest: protocolVersion int, lastZxidSeen long, timeOut int, sessionId long,
    # passwd buffer, readOnly bool; framed by a 4-byte length.
    body = (
        struct.pack(">iqiqi", 0, last_zxid, timeout_ms, session_id, len(password))
        + password
        + struct.pack(">?", read_only)
    )
    return struct.pack(">i", len(body)) + body


def _parse_connect_response(body: bytes) -> ConnectResponse:
    version, timeout, session_id, plen = struct.unpack_from(">iiqi", body, 0)
    pos = 20
    password = body[pos:pos + max(plen, 0)]
    pos += max(plen, 0)
    read_only = bool(body[pos]) if len(body) > pos else None
    return ConnectResponse(version, timeout, session_id, password, read_only)


def raw_connect(
    host: str,
    port: int,
    *,
    session_id: int = 0,
    password: bytes = b"\0" * 16,
    timeout_ms: int = 30000,
    read_only: bool = False,
    last_zxid: int = 0,
    socket_timeout: float = 10.0,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[socket.socket, ConnectResponse]:
    """Open a session (or resume one) with a hand-written ConnectRequest.

    A test tool, independent of the zkfast codec. Returns the connected socket (blocking,
    ``socket_timeout`` set) and the decoded response; the caller closes the socket.
    """
    sock = socket.create_connection((host, port), timeout=socket_timeout)
    try:
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(sock, server_hostname=host)
        sock.sendall(_connect_request(session_id, password, timeout_ms, read_only, last_zxid))
        return sock, _parse_connect_response(recv_frame(sock))
    except BaseException:
        sock.close()
        raise


def parse_hosts(hosts: str) -> list[tuple[str, int]]:
    """``"h1:p1,h2:p2/chroot"`` -> [(h1, p1), (h2, p2)] (default port 2181, IPv6 in brackets)."""
    hosts = hosts.split("/", 1)[0]
    out = []
    for item in hosts.split(","):
        item = item.strip()
        if not item:
            continue
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else 2181
        elif item.count(":") == 1:
            host, p = item.split(":")
            port = int(p)
        else:
            host, port = item, 2181
        out.append((host, port))
    if not out:
        raise ValueError(f"no hosts in {hosts!r}")
    return out


def _session_valid(host: str, port: int, session_id: int, password: bytes, timeout: float) -> bool:
    sock, resp = raw_connect(host, port, session_id=session_id, password=password, socket_timeout=timeout)
    sock.close()
    return resp.timeout > 0


def expire_session(hosts: str, session_id: int, password: bytes, timeout: float = 10.0) -> bool:
    """Expire a live session the way ZooKeeper would: attach to it from a second
    connection (same id + password) and close it there with closeSession (opcode -11).

    The server drops the owner's connection, deletes its ephemerals and fires its watches;
    the owner's next reconnect gets a ConnectResponse with timeOut 0. Returns True once a
    fresh connect confirms the session is gone, False when the server already reported it
    invalid (expired, or wrong password). Raises ConnectionError if no host manages it.
    """
    deadline = time.monotonic() + timeout
    errors = []
    for host, port in parse_hosts(hosts):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            sock, resp = raw_connect(host, port, session_id=session_id, password=password,
                                     timeout_ms=max(int(timeout * 1000), 4000), socket_timeout=remaining)
        except OSError as e:
            errors.append(f"{host}:{port}: {e}")
            continue
        err = None
        with sock:
            if resp.timeout <= 0:
                return False
            try:
                sock.settimeout(max(0.1, deadline - time.monotonic()))
                sock.sendall(struct.pack(">iii", 8, 1, -11))  # header only: xid 1, closeSession
                while err is None:  # skip anything that isn't our reply (e.g. a notification)
                    xid, _zxid, code = struct.unpack_from(">iqi", recv_frame(sock))
                    if xid == 1:
                        err = code
                # The server closes the connection once the close is committed.
                while sock.recv(4096):
                    pass
            except OSError:
                pass  # EOF/reset/timeout: whether the close applied is checked below
        if err not in (None, 0):
            raise RuntimeError(f"closeSession for 0x{session_id:x} failed with error {err}")
        # Verify with a fresh connect. That probe can meet a spurious close when the
        # session's owner reconnects at the same moment: try it a few times.
        for attempt in range(5):
            try:
                if not _session_valid(host, port, session_id, password,
                                      max(0.5, deadline - time.monotonic())):
                    return True
                errors.append(f"{host}:{port}: session still valid after closeSession")
                break
            except OSError as e:
                if attempt == 4 or time.monotonic() > deadline:
                    errors.append(f"{host}:{port}: verifying: {e}")
                    break
                time.sleep(0.05)
    raise ConnectionError(f"could not expire session 0x{session_id:x} via {hosts!r}: {'; '.join(errors)}")
