"""docs/operating.md's metrics examples run against a real server and report
what they did: the Prometheus example (with the official prometheus_client)
and the OpenTelemetry one (zkfast.otel with the SDK)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict

import pytest

from zkfast import Client
from zkfast.testing import ZooKeeperServer

OPERATING = Path(__file__).resolve().parents[2] / "docs" / "operating.md"
_BLOCK = re.compile(r"<!--\s*(?P<mark>[\w-]+)\s*-->\s*\n```python\n(?P<code>.*?)```", re.DOTALL)


def _example(mark: str) -> str:
    blocks = [m.group("code") for m in _BLOCK.finditer(OPERATING.read_text(encoding="utf-8"))
              if m.group("mark") == mark]
    assert len(blocks) == 1, f"operating.md has {len(blocks)} blocks marked {mark!r}"
    return blocks[0]


def _run(code: str, hosts: str, name: str) -> Dict[str, Any]:
    ns: Dict[str, Any] = {"__name__": name}
    exec(compile(code.replace("127.0.0.1:2181", hosts), f"operating.md {name}", "exec"), ns)  # noqa: S102
    return ns


@pytest.fixture
def hosts(zk_server: ZooKeeperServer, zk_chroot: str) -> Any:
    with Client(zk_server.hosts) as admin:
        admin.ensure_path(zk_chroot + "/myapp")
        yield zk_server.hosts + zk_chroot
        admin.delete(zk_chroot, recursive=True)


def test_the_prometheus_example(hosts: str, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("prometheus_client", reason="needs the test extra (prometheus-client)")
    ns = _run(_example("prometheus"), hosts, "prometheus")
    registry = ns["registry"]

    def sample(name: str, **labels: str) -> Any:
        return registry.get_sample_value(name, labels)

    # exactly what the example did: one ensure_path (an exists, a create or
    # two) and 100 exists calls
    assert sample("zookeeper_client_operation_duration_seconds_count",
                  operation="exists", outcome="ok") >= 100
    assert sample("zookeeper_client_connections_total", client="orders") == 1
    assert sample("zookeeper_client_requests_in_flight", client="orders") == 0
    assert sample("zookeeper_client_network_bytes_total", client="orders", direction="sent") > 100 * 20
    # collected after close(): the collector reads the closed client's stats
    assert sample("zookeeper_client_session_state", client="orders", state="CLOSED") == 1
    out = capsys.readouterr().out
    assert 'zookeeper_client_session_state{client="orders",state="CONNECTED"} 1.0' in out
    assert 'zookeeper_client_operation_duration_seconds_count{operation="exists",outcome="ok"}' in out


def test_the_exists_count_is_exact(hosts: str) -> None:
    """The histogram counts each call once (ensure_path's own calls aside)."""
    pytest.importorskip("prometheus_client", reason="needs the test extra (prometheus-client)")
    code = _example("prometheus").replace('zk.ensure_path("/jobs")\n', "")
    code = code.replace("print(generate_latest(registry).decode())", "pass")
    with Client(hosts) as zk:
        zk.ensure_path("/myapp/jobs")
    ns = _run(code, hosts, "prometheus_exact")
    assert ns["registry"].get_sample_value("zookeeper_client_operation_duration_seconds_count",
                                           {"operation": "exists", "outcome": "ok"}) == 100


def test_the_opentelemetry_example(hosts: str, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("opentelemetry.sdk", reason="needs the test extra (opentelemetry-sdk)")
    code = _example("otel")
    # the exporter's default stream is the sys.stdout of when the SDK was
    # imported (maybe by another test): point it at this test's
    assert "ConsoleMetricExporter()" in code
    code = code.replace("ConsoleMetricExporter()", "ConsoleMetricExporter(out=__import__('sys').stdout)")
    _run(code, hosts, "otel")
    out = capsys.readouterr().out  # the console exporter's JSON, at shutdown
    assert '"name": "zookeeper.client.operation.duration"' in out
    assert '"zookeeper.operation": "get_children"' in out
    assert '"zookeeper.client.name": "orders"' in out
