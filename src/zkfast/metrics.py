"""What a client did, for people who run it: one record per request for an
observer of your own (``observer=``), and per-operation counts, errors and
latency percentiles (``request_stats=True``), shown by ``client.stats()``.

>>> from zkfast import Client
>>> seen = []
>>> zk = Client("127.0.0.1:2181", observer=seen.append)            # doctest: +SKIP
>>> zk.get("/app/config"); seen[-1].op, seen[-1].error            # doctest: +SKIP
('get_data', None)

Nothing here is on the hot path unless asked for: with neither option set a
request costs one ``is None`` check more.
"""

from __future__ import annotations

import bisect
import threading
from typing import Any, Dict, List, NamedTuple, Optional

from . import codec

__all__ = ["RequestRecord", "RequestStats", "op_name"]

_OP_NAMES = {
    codec.OP_CREATE: "create", codec.OP_DELETE: "delete", codec.OP_EXISTS: "exists",
    codec.OP_GET_DATA: "get_data", codec.OP_SET_DATA: "set_data", codec.OP_GET_ACL: "get_acl",
    codec.OP_SET_ACL: "set_acl", codec.OP_GET_CHILDREN: "get_children", codec.OP_SYNC: "sync",
    codec.OP_GET_CHILDREN2: "get_children2", codec.OP_CHECK: "check", codec.OP_MULTI: "multi",
    codec.OP_CREATE2: "create2", codec.OP_RECONFIG: "reconfig",
    codec.OP_CHECK_WATCHES: "check_watches", codec.OP_REMOVE_WATCHES: "remove_watches",
    codec.OP_CREATE_CONTAINER: "create_container", codec.OP_CREATE_TTL: "create_ttl",
    codec.OP_MULTI_READ: "multi_read", codec.OP_AUTH: "auth", codec.OP_SASL: "sasl",
    codec.OP_GET_EPHEMERALS: "get_ephemerals",
    codec.OP_GET_ALL_CHILDREN_NUMBER: "count_children", codec.OP_ADD_WATCH: "add_watch",
    codec.OP_WHO_AM_I: "whoami", codec.OP_CLOSE_SESSION: "close_session",
}


def op_name(op: int) -> str:
    """The name of an opcode as records and stats show it (``get_data``, ...)."""
    return _OP_NAMES.get(op, f"op{op}")


class RequestRecord(NamedTuple):
    """One request, when its reply (or failure) came."""

    #: the operation (:func:`op_name`): ``get_data``, ``create``, ``multi``, ...
    op: str
    #: the path as the caller gave it (None for calls without one)
    path: Optional[str]
    #: seconds from framing to the reply (None if it never went out)
    latency: Optional[float]
    #: the exception's class name, or None on success
    error: Optional[str]
    #: bytes of the request frame (None if it never went out)
    request_bytes: Optional[int]
    #: bytes of data in the reply where cheap to know (getData), else None
    reply_bytes: Optional[int]
    #: True if it travelled in a batch of coalesced reads
    batched: bool


# Latency histogram buckets (upper bounds, seconds): 10 us ... ~100 s, x1.5 apart.
_BUCKETS: List[float] = []
_b = 10e-6
while _b < 100.0:
    _BUCKETS.append(_b)
    _b *= 1.5
_BUCKETS.append(float("inf"))


class _OpStats:
    __slots__ = ("count", "errors", "counts", "total", "max")

    def __init__(self) -> None:
        self.count = 0
        self.errors: Dict[str, int] = {}
        self.counts = [0] * len(_BUCKETS)
        self.total = 0.0
        self.max = 0.0

    def percentile(self, q: float) -> Optional[float]:
        n = sum(self.counts)
        if not n:
            return None
        rank = q * n
        seen = 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= rank:
                return min(_BUCKETS[i], self.max)
        return self.max


class RequestStats:
    """Per-operation counts, errors by type and latency percentiles (from a
    histogram of 1.5x-wide buckets: a percentile is the upper end of its
    bucket, so within 50 % above the true value, and never above the max)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ops: Dict[str, _OpStats] = {}

    def __call__(self, record: RequestRecord) -> None:
        with self._lock:
            st = self._ops.get(record.op)
            if st is None:
                st = self._ops[record.op] = _OpStats()
            st.count += 1
            if record.error is not None:
                st.errors[record.error] = st.errors.get(record.error, 0) + 1
            lat = record.latency
            if lat is not None:
                st.counts[bisect.bisect_left(_BUCKETS, lat)] += 1
                st.total += lat
                if lat > st.max:
                    st.max = lat

    def snapshot(self) -> Dict[str, Dict[str, Any]]:
        """``{op: {"count", "errors": {type: n}, "p50", "p90", "p99", "max", "mean"}}``
        (latencies in seconds)."""
        with self._lock:
            out: Dict[str, Dict[str, Any]] = {}
            for op, st in self._ops.items():
                timed = sum(st.counts)
                out[op] = {"count": st.count, "errors": dict(st.errors),
                           "p50": st.percentile(0.5), "p90": st.percentile(0.9),
                           "p99": st.percentile(0.99), "max": st.max if timed else None,
                           "mean": st.total / timed if timed else None}
            return out
