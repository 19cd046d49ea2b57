"""kazoo's connect-string parser: hosts as a string or a list, an optional chroot.

>>> collect_hosts("zk1:2181, zk2, [::1]:2182/app")
([('zk1', 2181), ('zk2', 2181), ('::1', 2182)], '/app')
>>> collect_hosts(["zk1:2181", "zk2:2181", "/app"])
([('zk1', 2181), ('zk2', 2181)], '/app')
"""

from __future__ import annotations

import urllib.parse
from typing import List, Optional, Sequence, Tuple, Union

__all__ = ["collect_hosts"]


def collect_hosts(hosts: Union[str, Sequence[str]]) -> Tuple[List[Tuple[str, int]], Optional[str]]:
    """``([(host, port), ...], chroot or None)``; a missing port is 2181.

    In a list, a last entry starting with ``/`` is the chroot. A host that does
    not parse is a ValueError.
    """
    if isinstance(hosts, str):
        servers, slash, rest = hosts.partition("/")
        entries = servers.split(",")
        chroot: Optional[str] = "/" + rest if slash and rest else None
    elif isinstance(hosts, (list, tuple)) and hosts and all(isinstance(h, str) for h in hosts):
        entries = list(hosts)
        chroot = None
        if entries[-1].strip().startswith("/"):
            chroot = entries.pop().strip()
    else:
        raise TypeError(f"hosts must be a str or a list of str, not {hosts!r}")
    result = []
    for entry in entries:
        # urlsplit understands host:port, [v6]:port and bare names alike
        parts = urllib.parse.urlsplit("zk://" + entry.strip())
        host = parts.hostname
        if not host:
            raise ValueError(f"bad hostname in {entry!r}")
        result.append((host.strip(), parts.port or 2181))
    return result, chroot
