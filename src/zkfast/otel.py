"""OpenTelemetry metrics (and, if wanted, spans) for zkfast clients.

Needs the OpenTelemetry API: ``pip install 'zkfast[otel]'``; the SDK (or
another implementation) and an exporter are the application's choice, as
usual with OpenTelemetry. Without a configured provider every instrument is a
no-op.

>>> from zkfast import Client
>>> from zkfast.otel import ClientTelemetry
>>> telemetry = ClientTelemetry()                           # the global providers
>>> zk = Client("127.0.0.1:2181", name="orders",
...             observer=telemetry.observer("orders"))     # doctest: +SKIP
>>> telemetry.track(zk)                                     # doctest: +SKIP

What is recorded (attributes in brackets):

- ``zookeeper.client.operation.duration`` (histogram, seconds)
  [``zookeeper.operation``, ``error.type`` on failure, ``zookeeper.client.name``]:
  the latency of each request that went out, from the observer; its count is
  the number of such requests, by operation and outcome.
- ``zookeeper.client.operations.unsent`` (counter) [same]: requests that failed
  before going out (queued while disconnected, then failed with
  ``ConnectionLossError`` or ``ClosedError``). A call refused at once
  (``QueueFullError``, a bad argument) raises to its caller and is not a request.

- with ``request_stats=True`` on a tracked client, from its ``stats()``:
  ``zookeeper.client.operations`` (counter) [``zookeeper.operation``,
  ``error.type`` on failure] and ``zookeeper.client.operation.latency`` (gauge,
  seconds) [``zookeeper.operation``, ``quantile`` 0.5, 0.9, 0.99 and 1 for the
  maximum].

Two ways, then, to get per-operation numbers. The observer gives a true
histogram, at one SDK measurement per request: the SDK hashes the attributes
each time, some 15 us with the Python SDK, which is of the order of a
pipelined request's own client-side cost. ``request_stats=True`` with
:meth:`ClientTelemetry.track` costs zkfast's own counting (under 1 us a
request) and the SDK reads it only when it exports.
- from ``client.stats()`` of each tracked client, when a reader collects:
  ``zookeeper.client.requests.in_flight`` and ``zookeeper.client.requests.queued``
  (up-down counters), ``zookeeper.client.connections`` and
  ``zookeeper.client.session.state_changes`` (counters),
  ``zookeeper.client.network.io`` (counter, bytes) [``network.io.direction``],
  and ``zookeeper.client.session.state`` (gauge: 1 for the current state, 0 for
  the others) [``zookeeper.state``].

Spans (``spans=True``): one CLIENT span per request, named after the
operation, with its path (``zookeeper.path``) and error. The observer runs
where the reply was read, which is not the caller's context, so each span is
the root of a trace of its own rather than a child of the caller's span.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional

try:
    from opentelemetry import metrics, trace
    from opentelemetry.context import Context
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "zkfast.otel needs the OpenTelemetry API: pip install 'zkfast[otel]'") from e

from . import __version__
from .events import State
from .metrics import RequestRecord

__all__ = ["ClientTelemetry", "DURATION_BUCKETS"]

#: Histogram bucket bounds (seconds) suggested to the SDK: 100 us to 10 s.
DURATION_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_STATES = list(State)  # (iterating skips the alias DISCONNECTED)
_ROOT = Context()  # an empty context: spans without a parent


class ClientTelemetry:
    """OpenTelemetry instruments for zkfast clients: one object serves any
    number of clients (told apart by ``zookeeper.client.name``).

    ``meter_provider`` / ``tracer_provider``: default the global ones.
    ``spans``: make a span per request (off by default: a busy client makes
    tens of thousands a second). ``attributes``: added to every measurement.
    """

    def __init__(self, *, meter_provider: Optional[metrics.MeterProvider] = None,
                 tracer_provider: Optional[trace.TracerProvider] = None, spans: bool = False,
                 attributes: Optional[Mapping[str, str]] = None) -> None:
        meter = metrics.get_meter("zkfast", __version__, meter_provider=meter_provider)
        self._attributes: Dict[str, Any] = dict(attributes or {})
        self._tracer = trace.get_tracer("zkfast", __version__, tracer_provider=tracer_provider) \
            if spans else None
        self._duration = meter.create_histogram(
            "zookeeper.client.operation.duration", unit="s",
            description="Time from sending a ZooKeeper request to its reply",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS))
        self._unsent = meter.create_counter(
            "zookeeper.client.operations.unsent", unit="{operation}",
            description="ZooKeeper requests that failed before going out")
        self._clients: Dict[int, Any] = {}  # id -> weakref of a tracked client
        self._lock = threading.Lock()
        meter.create_observable_up_down_counter(
            "zookeeper.client.requests.in_flight", [self._gauge("in_flight")],
            unit="{request}", description="Requests sent and awaiting their reply")
        meter.create_observable_up_down_counter(
            "zookeeper.client.requests.queued", [self._gauge("queued")],
            unit="{request}", description="Requests made while disconnected, not sent yet")
        meter.create_observable_counter(
            "zookeeper.client.connections", [self._gauge("connects")],
            unit="{connection}", description="Connections (sessions established or resumed)")
        meter.create_observable_counter(
            "zookeeper.client.session.state_changes", [self._gauge("state_changes")],
            unit="{change}", description="Session state changes")
        meter.create_observable_counter(
            "zookeeper.client.network.io", [self._network_io], unit="By",
            description="Bytes sent to and received from servers")
        meter.create_observable_gauge(
            "zookeeper.client.session.state", [self._state],
            description="1 for the client's current session state, 0 for the others")
        meter.create_observable_counter(
            "zookeeper.client.operations", [self._operations], unit="{operation}",
            description="Requests finished, by operation and error type (request_stats=True)")
        meter.create_observable_gauge(
            "zookeeper.client.operation.latency", [self._latency], unit="s",
            description="Latency percentiles by operation since the client started "
                        "(request_stats=True; quantile 1 is the maximum)")

    # ------------------------------------------------------------ per request

    def observer(self, name: Optional[str] = None) -> Callable[[RequestRecord], None]:
        """The ``observer=`` for a client; ``name`` (its ``name=``) is the
        ``zookeeper.client.name`` attribute."""
        base = dict(self._attributes)
        if name is not None:
            base["zookeeper.client.name"] = name
        duration, unsent, tracer = self._duration, self._unsent, self._tracer
        cache: Dict[Any, Dict[str, Any]] = {}  # (op, error) -> attributes, built once

        def observe(record: RequestRecord) -> None:
            key = (record.op, record.error)
            attrs = cache.get(key)
            if attrs is None:
                attrs = dict(base, **{"zookeeper.operation": record.op})
                if record.error is not None:
                    attrs["error.type"] = record.error
                cache[key] = attrs
            if record.latency is not None:
                duration.record(record.latency, attrs)
            else:
                unsent.add(1, attrs)
            if tracer is not None:
                _span(tracer, record, attrs)

        return observe

    # ------------------------------------------------------------ from stats()

    def track(self, client: Any) -> Any:
        """Report ``client.stats()`` (either kind of client) when a reader
        collects, until the client is collected or :meth:`untrack`. Returns the
        client."""
        key = id(client)
        ref = weakref.ref(client, lambda _r: self._forget(key))
        with self._lock:
            self._clients[key] = ref
        return client

    def untrack(self, client: Any) -> None:
        self._forget(id(client))

    def _forget(self, key: int) -> None:
        with self._lock:
            self._clients.pop(key, None)

    def _snapshots(self) -> List[tuple[Dict[str, Any], Dict[str, Any]]]:
        """(attributes, stats) of each live tracked client."""
        with self._lock:
            refs = list(self._clients.values())
        out = []
        for ref in refs:
            client = ref()
            if client is None:
                continue
            attrs = dict(self._attributes)
            attrs["zookeeper.client.name"] = client.config.name
            out.append((attrs, client.stats()))
        return out

    def _gauge(self, key: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(stats[key], attrs) for attrs, stats in self._snapshots()]
        return observe

    def _network_io(self, _options: CallbackOptions) -> Iterable[Observation]:
        out = []
        for attrs, stats in self._snapshots():
            for key, direction in (("bytes_sent", "transmit"), ("bytes_received", "receive")):
                out.append(Observation(stats[key], dict(attrs, **{"network.io.direction": direction})))
        return out

    def _state(self, _options: CallbackOptions) -> Iterable[Observation]:
        out = []
        for attrs, stats in self._snapshots():
            for state in _STATES:
                out.append(Observation(1 if stats["state"] == state.value else 0,
                                       dict(attrs, **{"zookeeper.state": state.value})))
        return out


    def _operations(self, _options: CallbackOptions) -> Iterable[Observation]:
        out = []
        for attrs, stats in self._snapshots():
            for op, st in stats.get("requests", {}).items():
                base = dict(attrs, **{"zookeeper.operation": op})
                errors = st["errors"]
                out.append(Observation(st["count"] - sum(errors.values()), base))
                for error, n in errors.items():
                    out.append(Observation(n, dict(base, **{"error.type": error})))
        return out

    def _latency(self, _options: CallbackOptions) -> Iterable[Observation]:
        out = []
        for attrs, stats in self._snapshots():
            for op, st in stats.get("requests", {}).items():
                for quantile, key in _QUANTILES:
                    value = st[key]
                    if value is not None:
                        out.append(Observation(value, dict(attrs, **{"zookeeper.operation": op,
                                                                    "quantile": quantile})))
        return out


_QUANTILES = ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (1.0, "max"))


def _span(tracer: trace.Tracer, record: RequestRecord, attrs: Dict[str, Any]) -> None:
    end = time.time_ns()
    start = end - int((record.latency or 0.0) * 1e9)
    span_attrs = dict(attrs)
    if record.path is not None:
        span_attrs["zookeeper.path"] = record.path
    if record.batched:
        span_attrs["zookeeper.batched"] = True
    span = tracer.start_span(record.op, context=_ROOT, kind=SpanKind.CLIENT,
                             attributes=span_attrs, start_time=start)
    if record.error is not None:
        span.set_status(Status(StatusCode.ERROR, record.error))
    span.end(end_time=end)
