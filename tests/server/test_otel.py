"""zkfast.otel reports exactly what the clients did, through the OpenTelemetry
SDK's in-memory reader and exporter, on both clients."""

from __future__ import annotations

import asyncio
import gc
from typing import Any, Dict, List, Tuple

import pytest

pytest.importorskip("opentelemetry.sdk", reason="needs the test extra (opentelemetry-sdk)")

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

from zkfast import AsyncClient, Client, ClosedError, NoNodeError, QueueFullError, State  # noqa: E402
from zkfast.otel import ClientTelemetry  # noqa: E402
from zkfast.testing import TcpProxy, ZooKeeperServer  # noqa: E402

from helpers import States, wait_until  # noqa: E402


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def telemetry(reader: InMemoryMetricReader) -> ClientTelemetry:
    return ClientTelemetry(meter_provider=MeterProvider(metric_readers=[reader]))


def points(reader: InMemoryMetricReader) -> Dict[str, List[Any]]:
    """metric name -> its data points, from one collection."""
    out: Dict[str, List[Any]] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            assert sm.scope.name == "zkfast"
            for m in sm.metrics:
                out.setdefault(m.name, []).extend(m.data.data_points)
    return out


def by_attrs(pts: List[Any], *keys: str) -> Dict[Tuple[Any, ...], Any]:
    return {tuple(p.attributes.get(k) for k in keys): p for p in pts}


def _user(key: Tuple[Any, ...]) -> bool:
    return key[0] not in ("close_session", "multi_read")


def test_counts_and_latencies_equal_the_requests_issued(zk_server: ZooKeeperServer, base: str,
                                                        reader: InMemoryMetricReader,
                                                        telemetry: ClientTelemetry) -> None:
    with Client(zk_server.hosts + base, name="orders", observer=telemetry.observer("orders")) as zk:
        telemetry.track(zk)
        zk.create("/n", b"v")
        futs = [zk.get_async("/n") for _ in range(2000)] + [zk.get_async("/none") for _ in range(5)]
        for f in futs:
            f.exception(30)
        for _ in range(3):
            zk.set("/n", b"w")
        with pytest.raises(NoNodeError):
            zk.delete("/none")
        stats = zk.stats()
        pts = points(reader)

    hist = by_attrs(pts["zookeeper.client.operation.duration"], "zookeeper.operation", "error.type")
    counts = {k: p.count for k, p in hist.items() if _user(k)}
    assert counts == {("create", None): 1, ("get_data", None): 2000, ("get_data", "NoNodeError"): 5,
                      ("set_data", None): 3, ("delete", "NoNodeError"): 1}
    assert all(p.attributes["zookeeper.client.name"] == "orders" for p in hist.values())
    assert "zookeeper.client.operations.unsent" not in pts  # everything went out
    got = hist[("get_data", None)]
    assert 0 < got.min <= got.max and got.sum > 0
    assert list(got.explicit_bounds)[:2] == [0.0001, 0.00025]  # the advised buckets

    gauges = {name: pts[name] for name in ("zookeeper.client.requests.in_flight",
                                           "zookeeper.client.requests.queued",
                                           "zookeeper.client.connections")}
    assert [p.value for p in gauges["zookeeper.client.requests.in_flight"]] == [0]
    assert [p.value for p in gauges["zookeeper.client.requests.queued"]] == [0]
    assert [p.value for p in gauges["zookeeper.client.connections"]] == [1]
    io = by_attrs(pts["zookeeper.client.network.io"], "network.io.direction")
    assert io[("transmit",)].value >= stats["bytes_sent"] > 2000 * 20
    assert io[("receive",)].value >= stats["bytes_received"] > 2000 * 20
    state = by_attrs(pts["zookeeper.client.session.state"], "zookeeper.state")
    assert state[("CONNECTED",)].value == 1
    assert sum(p.value for p in state.values()) == 1 and ("LOST",) in state


def test_reconnects_and_refused_requests_are_counted(zk_proxy: TcpProxy, base: str,
                                                     reader: InMemoryMetricReader,
                                                     telemetry: ClientTelemetry) -> None:
    with Client(zk_proxy.hosts + base, max_queued=2, observer=telemetry.observer("q")) as zk:
        telemetry.track(zk)
        states = States(zk)
        zk.create("/n")
        zk_proxy.refuse(True)
        zk_proxy.drop_all()
        states.wait_for(State.SUSPENDED)
        queued = [zk.get_async("/n") for _ in range(2)]
        with pytest.raises(QueueFullError):
            zk.get_async("/n")
        pts = points(reader)
        assert [p.value for p in pts["zookeeper.client.requests.queued"]] == [2]
        state = by_attrs(pts["zookeeper.client.session.state"], "zookeeper.state")
        assert state[("SUSPENDED",)].value == 1
        zk_proxy.refuse(False)
        assert all(f.result(20)[0] == b"" for f in queued)
        pts = points(reader)
    ops = by_attrs(pts["zookeeper.client.operation.duration"], "zookeeper.operation", "error.type")
    # the refused call raised to its caller and was never a request: not counted
    assert ops[("get_data", None)].count == 2 and ("get_data", "QueueFullError") not in ops
    assert "zookeeper.client.operations.unsent" not in pts
    assert [p.value for p in pts["zookeeper.client.connections"]] == [2]


def test_a_request_that_never_went_out_is_counted_without_a_latency(
        zk_proxy: TcpProxy, base: str, reader: InMemoryMetricReader,
        telemetry: ClientTelemetry) -> None:
    zk = Client(zk_proxy.hosts + base, observer=telemetry.observer("c"))
    zk.start()
    states = States(zk)
    zk_proxy.refuse(True)
    zk_proxy.drop_all()
    states.wait_for(State.SUSPENDED)
    queued = zk.get_async("/n")
    zk.close()  # fails what is queued with ClosedError
    assert isinstance(queued.exception(10), ClosedError)
    pts = points(reader)
    ops = by_attrs(pts["zookeeper.client.operations.unsent"], "zookeeper.operation", "error.type")
    assert ops[("get_data", "ClosedError")].value == 1
    hist = by_attrs(pts.get("zookeeper.client.operation.duration", []), "zookeeper.operation", "error.type")
    assert ("get_data", "ClosedError") not in hist


def test_spans_per_request_when_asked(zk_server: ZooKeeperServer, base: str) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    telemetry = ClientTelemetry(meter_provider=MeterProvider(metric_readers=[reader]),
                                tracer_provider=tracer_provider, spans=True,
                                attributes={"service.instance": "a"})
    with Client(zk_server.hosts + base, observer=telemetry.observer()) as zk:
        zk.create("/s", b"x")
        zk.get("/s")
        with pytest.raises(NoNodeError):
            zk.get("/missing")
    spans = [s for s in exporter.get_finished_spans() if s.name != "close_session"]
    assert [s.name for s in spans] == ["create", "get_data", "get_data"]
    assert all(s.kind == SpanKind.CLIENT and s.parent is None for s in spans)
    assert [s.attributes["zookeeper.path"] for s in spans] == ["/s", "/s", "/missing"]
    assert spans[2].status.status_code == StatusCode.ERROR
    assert spans[2].attributes["error.type"] == "NoNodeError"
    assert spans[0].status.status_code == StatusCode.UNSET
    assert all(s.end_time >= s.start_time and s.attributes["service.instance"] == "a" for s in spans)
    assert "zookeeper.client.name" not in spans[0].attributes  # observer() without a name


def test_the_async_client_and_untracking(zk_server: ZooKeeperServer, base: str,
                                         reader: InMemoryMetricReader,
                                         telemetry: ClientTelemetry) -> None:
    async def main() -> None:
        async with AsyncClient(zk_server.hosts + base, name="a1",
                               observer=telemetry.observer("a1")) as zk:
            telemetry.track(zk)
            await zk.create("/n", b"v")
            await asyncio.gather(*(zk.get("/n") for _ in range(1000)))
            pts = points(reader)
            ops = by_attrs(pts["zookeeper.client.operation.duration"], "zookeeper.operation")
            assert ops[("get_data",)].count == 1000 and ops[("create",)].count == 1
            names = {p.attributes["zookeeper.client.name"] for p in pts["zookeeper.client.connections"]}
            assert names == {"a1"}
            telemetry.untrack(zk)
            assert "a1" not in _tracked_names(reader)
    asyncio.run(main())


def test_a_tracked_client_that_is_dropped_stops_being_reported(zk_server: ZooKeeperServer,
                                                               reader: InMemoryMetricReader,
                                                               telemetry: ClientTelemetry) -> None:
    zk = Client(zk_server.hosts, name="gone")
    zk.start()
    telemetry.track(zk)
    assert _tracked_names(reader) == {"gone"}
    zk.close()
    del zk
    gc.collect()
    wait_until(lambda: "gone" not in _tracked_names(reader), timeout=10)


def _tracked_names(reader: InMemoryMetricReader) -> set:
    """The clients the stats gauges report on, in one collection."""
    return {p.attributes["zookeeper.client.name"]
            for p in points(reader).get("zookeeper.client.requests.in_flight", [])}


def test_request_stats_of_a_tracked_client_without_an_observer(zk_server: ZooKeeperServer, base: str,
                                                               reader: InMemoryMetricReader,
                                                               telemetry: ClientTelemetry) -> None:
    """The cheap way: no observer, per-operation numbers from stats() at export."""
    with Client(zk_server.hosts + base, name="cheap", request_stats=True) as zk:
        telemetry.track(zk)
        zk.create("/n", b"v")
        for f in [zk.get_async("/n") for _ in range(500)] + [zk.get_async("/none") for _ in range(4)]:
            f.exception(30)
        pts = points(reader)
    assert "zookeeper.client.operation.duration" not in pts  # nothing per request
    ops = by_attrs(pts["zookeeper.client.operations"], "zookeeper.operation", "error.type")
    assert {k: p.value for k, p in ops.items() if _user(k)} == {
        ("create", None): 1, ("get_data", None): 500, ("get_data", "NoNodeError"): 4}
    lat = by_attrs(pts["zookeeper.client.operation.latency"], "zookeeper.operation", "quantile")
    p50, p99, top = (lat[("get_data", q)].value for q in (0.5, 0.99, 1.0))
    assert 0 < p50 <= p99 <= top
