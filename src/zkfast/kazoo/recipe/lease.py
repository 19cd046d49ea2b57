"""kazoo's non-blocking leases: a time-limited claim that a holder renews by
taking it again with the same identifier.

Layout: ``<path>/lease_holder`` holds JSON ``{"version": 1, "holder": <id>,
"end": "<UTC, %Y-%m-%dT%H:%M:%S>"}``; taking or renewing happens under a kazoo
:class:`~zkfast.kazoo.recipe.lock.Lock` on ``<path>``. The end time comes from
the taker's clock, so clients' clocks must roughly agree.

>>> lease = zk.NonBlockingLease("/cron/cleanup", timedelta(minutes=70), identifier="host-1")  # doctest: +SKIP
>>> if lease:                  # obtained (or renewed)
...     run_cleanup()
"""

from __future__ import annotations

import datetime
import json
import socket
from typing import Any, Callable, Optional

from ..exceptions import CancelledError

__all__ = ["NonBlockingLease", "MultiNonBlockingLease"]


def _utcnow() -> datetime.datetime:
    """The current UTC time as a naive datetime (what kazoo stores)."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


class NonBlockingLease:
    """Try once to obtain (or renew) the lease at ``path`` for ``duration`` (a
    ``timedelta``); the object is truthy if it was obtained (``obtained``).
    ``identifier`` defaults to the host name; ``utcnow`` is the clock."""

    #: the stored format's version; a lease written by a newer one is not taken over
    _version = 1
    _date_format = "%Y-%m-%dT%H:%M:%S"
    _byte_encoding = "utf-8"

    def __init__(self, client: Any, path: str, duration: datetime.timedelta,
                 identifier: Optional[str] = None,
                 utcnow: Callable[[], datetime.datetime] = _utcnow) -> None:
        self.obtained = False
        self._attempt_obtaining(client, path, duration, identifier or socket.gethostname(), utcnow)

    def _attempt_obtaining(self, client: Any, path: str, duration: datetime.timedelta,
                           ident: str, utcnow: Callable[[], datetime.datetime]) -> None:
        client.ensure_path(path)
        holder_path = path + "/lease_holder"
        try:
            with client.Lock(path, ident):
                now = utcnow()
                if client.exists(holder_path):
                    raw, _stat = client.get(holder_path)
                    current = self._decode(raw)
                    if current["version"] != self._version:
                        return  # a newer format: leave the lease to clients that know it
                    end = datetime.datetime.strptime(current["end"], self._date_format)
                    if current["holder"] != ident and now < end:
                        return  # someone else holds it
                    client.delete(holder_path)
                lease = {"version": self._version, "holder": ident,
                         "end": (now + duration).strftime(self._date_format)}
                client.create(holder_path, self._encode(lease))
                self.obtained = True
        except CancelledError:
            pass

    def _encode(self, data: Any) -> bytes:
        return json.dumps(data).encode(self._byte_encoding)

    def _decode(self, raw: bytes) -> Any:
        return json.loads(raw.decode(self._byte_encoding))

    def __bool__(self) -> bool:
        return self.obtained


class MultiNonBlockingLease:
    """One of ``count`` leases at ``<path>/0`` ... ``<path>/<count-1>``, tried in
    order (up to ``count`` hosts run the task); truthy if one was obtained."""

    def __init__(self, client: Any, count: int, path: str, duration: datetime.timedelta,
                 identifier: Optional[str] = None,
                 utcnow: Callable[[], datetime.datetime] = _utcnow) -> None:
        self.obtained = False
        for num in range(count):
            if NonBlockingLease(client, f"{path}/{num}", duration, identifier=identifier,
                                utcnow=utcnow):
                self.obtained = True
                break

    def __bool__(self) -> bool:
        return self.obtained
