"""``zkfast health --client``: the command line's own connection, next to the
servers' four-letter words."""

from __future__ import annotations

import io
import json
import re

from zkfast.cli import main
from zkfast.testing import ZooKeeperServer


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err, stdin=io.StringIO())
    return code, out.getvalue(), err.getvalue()


def test_health_client_reports_the_connection(zk_server: ZooKeeperServer) -> None:
    code, out, err = run(["--hosts", zk_server.hosts, "health", "--client", "--probes", "3"])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["SERVER", "STATUS", "MODE"]
    assert lines[1].split()[:3] == [zk_server.hosts, "ok", "standalone"]
    assert lines[2] == ""
    assert lines[3].split()[:3] == ["CLIENT", "STATE", "SESSION"]
    row = lines[4].split()
    assert row[0] == zk_server.hosts and row[1] == "CONNECTED" and re.fullmatch(r"0x[0-9a-f]+", row[2])
    assert re.fullmatch(r"[\d.]+/[\d.]+/[\d.]+", row[5])  # min/median/max round trip


def test_health_client_json(zk_server: ZooKeeperServer) -> None:
    code, out, err = run(["--hosts", zk_server.hosts, "health", "--client", "--json"])
    assert code == 0, err
    doc = json.loads(out)
    assert [s["status"] for s in doc["servers"]] == ["ok"]
    client = doc["client"]
    assert client["server"] == zk_server.hosts and client["state"] == "CONNECTED"
    assert client["probes"] == 5 and client["connects"] == 1 and client["error"] is None
    assert 0 < client["rtt_ms_min"] <= client["rtt_ms_median"] <= client["rtt_ms_max"]
    assert client["connect_ms"] > 0 and client["session_timeout"] > 0


def test_health_without_client_keeps_its_shape(zk_server: ZooKeeperServer) -> None:
    code, out, _ = run(["--hosts", zk_server.hosts, "health", "--json"])
    assert code == 0 and isinstance(json.loads(out), list)


def test_health_client_that_cannot_connect_is_unhealthy() -> None:
    code, out, err = run(["--hosts", "127.0.0.1:1", "--timeout", "1", "health", "--client", "--json"])
    assert code == 9, err
    doc = json.loads(out)
    assert doc["servers"][0]["status"] == "down"
    assert doc["client"]["state"] is None and "WaitTimeoutError" in doc["client"]["error"]
