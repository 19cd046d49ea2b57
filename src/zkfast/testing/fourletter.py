"""Four-letter words (``ruok``, ``srvr``, ...) over a raw socket, for readiness probes."""

from __future__ import annotations

import re
import socket
import ssl
import time

__all__ = ["four_letter", "srvr_mode"]


def four_letter(
    host: str, port: int, cmd: str, timeout: float = 5.0, ssl_context: ssl.SSLContext | None = None
) -> str:
    """Send a four-letter word and return the whole reply (the server closes after it)."""
    if len(cmd) != 4:
        raise ValueError(f"four-letter words have four letters, got {cmd!r}")
    deadline = time.monotonic() + timeout
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(sock, server_hostname=host)
        sock.sendall(cmd.encode("ascii"))
        chunks = []
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = sock.recv(65536)
            except ssl.SSLZeroReturnError:
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks).decode("utf-8", "replace")
    finally:
        sock.close()


def srvr_mode(text: str) -> str | None:
    m = re.search(r"^Mode: (\S+)", text, re.MULTILINE)
    return m.group(1) if m else None
