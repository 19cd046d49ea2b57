"""Smoke run of benchmarks/compare.py so the peer comparison cannot rot.

It runs the whole comparison in --quick mode with even smaller sizes against a real
ZooKeeper and checks the *shape* of the output: every client and every workload is
present, measured cells are positive numbers, cells that cannot exist say why. Timings
are never asserted: these machines are shared and noisy.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[2]
COMPARE = REPO / "benchmarks" / "compare.py"

# Workloads every client must measure (no n/a allowed) when its library is present.
CORE = ["get_sync", "get_pipelined", "get_pipelined_cpu", "create_pipelined", "set_pipelined",
        "delete_pipelined", "get_children", "scan_children", "get_900k", "pymem_children"]
# ru_maxrss only grows past the process's earlier peak: with a small child list the
# growth can be 0 pages, so this one is only required to be >= 0.
NON_NEGATIVE = ["rss_children"]


def _load_compare():
    spec = importlib.util.spec_from_file_location("zkfast_bench_compare", COMPARE)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _cython_built() -> bool:
    env = {k: v for k, v in os.environ.items() if k != "ZKFAST_NO_EXTENSIONS"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", "import zkfast; print(zkfast.codec_backend)"],
                         env=env, capture_output=True, text=True, timeout=60)
    return out.stdout.strip() == "cython"


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def test_compare_quick_produces_table_and_json(tmp_path: Path) -> None:
    compare = _load_compare()
    out_json = tmp_path / "bench.json"
    out_txt = tmp_path / "bench.txt"
    cmd = [sys.executable, str(COMPARE), "--quick", "--json", str(out_json), "--text", str(out_txt),
           "--set", "sync_n=50", "--set", "pipeline_n=500", "--set", "write_n=300",
           "--set", "children=500", "--set", "scan_window=100", "--set", "big_calls=2",
           "--set", "mixed_ops=20", "--set", "warmup=50"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr[-4000:]

    # The table: a header naming every client, a row per workload, the ratio block.
    table = proc.stdout
    assert out_txt.read_text() == table
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("workload") and "unit" in line)
    for client in compare.CLIENTS:
        assert client in header.split(), header
    for w in compare.DEFAULT_WORKLOADS:
        assert any(line.split()[:1] == [w] for line in lines), f"no table row for {w}"
    assert "ratios" in table and "sync-cy/kazoo" in table
    assert "BEST" in table  # the statistic is stated
    assert "ERROR" not in table, table

    # The JSON: machine info, every client x workload cell, positive numbers.
    report = json.loads(out_json.read_text())
    m = report["machine"]
    for key in ("nproc", "python", "date", "zkfast_backend_default", "git_commit"):
        assert key in m, key
    assert report["statistic"] in ("best", "median")
    assert set(report["clients"]) == set(compare.CLIENTS)
    assert set(report["table"]) == set(compare.DEFAULT_WORKLOADS)

    cython = _cython_built()
    missing = {c: f"{c} not installed" for c in ("kazoo", "aiozk") if not _installed(c)}

    for w in compare.DEFAULT_WORKLOADS:
        cells = report["table"][w]
        assert set(cells) == set(compare.CLIENTS), (w, sorted(cells))
        for c, cell in cells.items():
            assert "error" not in cell, (w, c, cell)
            na = cell.get("na", "")
            if c in missing:
                assert "not installed" in na, (w, c, cell)
                continue
            if (w, c) in compare.NOT_APPLICABLE:
                assert na, (w, c, cell)  # says why
                continue
            if c.endswith("-cy") and not cython:
                assert "backend" in na, (w, c, cell)
                continue
            if w == "treecache_load" and c.startswith("zk-") and na:
                # zkfast's TreeCache may not exist yet; then the cell must say so.
                assert "TreeCache" in na, cell
                continue
            assert "best" in cell and "median" in cell and cell["samples"], (w, c, cell)
            if w in NON_NEGATIVE:
                assert cell["best"] >= 0 and all(v >= 0 for v in cell["samples"]), (w, c, cell)
            else:
                assert cell["best"] > 0 and all(v > 0 for v in cell["samples"]), (w, c, cell)
        # A ratio row for every workload (a value is None where one side is n/a).
        assert {r[0] for r in compare.RATIOS} <= set(report["ratios"][w])

    # --render prints the same tables from the saved JSON without running anything.
    again = subprocess.run([sys.executable, str(COMPARE), "--render", str(out_json)],
                           capture_output=True, text=True, timeout=60, cwd=str(REPO))
    assert again.returncode == 0, again.stderr[-4000:]
    assert again.stdout == table

    # Cells that must always be measured, whatever is installed.
    for w in CORE:
        for c in ("zk-sync-py", "zk-aio-py", "raw"):
            assert report["table"][w][c].get("best", 0) > 0, (w, c)


def test_compare_baseline_no_coalesce_and_big_columns(tmp_path: Path) -> None:
    """--baseline SRC adds <client>@base columns run from SRC, --no-coalesce-column adds
    <client>@nc, --big the get_children_big row; issue 15's ceiling ratios and targets
    are computed (never asserted: only their shape)."""
    compare = _load_compare()
    assert "get_children_big" in compare.OPT_IN_WORKLOADS  # not in a default run: --big
    # A copy of this tree's src/ as the "baseline": proves the @base workers import it.
    base_src = tmp_path / "base-src"
    shutil.copytree(REPO / "src" / "zkfast", base_src / "zkfast",
                    ignore=shutil.ignore_patterns("__pycache__", "*.c"))
    out_json = tmp_path / "bench.json"
    workloads = ["get_sync", "get_pipelined", "get_pipelined_cpu", "get_threads"]
    cmd = [sys.executable, str(COMPARE), "--quick", "--json", str(out_json),
           "--clients", "zk-sync-py,zk-aio-py,raw", "--only", ",".join(workloads),
           "--baseline", str(base_src), "--no-coalesce-column", "--big",
           "--set", "children_big=300", "--set", "sync_n=30", "--set", "pipeline_n=300",
           "--set", "get_threads=4", "--set", "get_threads_ops=10", "--set", "warmup=20"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(out_json.read_text())
    clients = ["zk-sync-py", "zk-sync-py@base", "zk-sync-py@nc",
               "zk-aio-py", "zk-aio-py@base", "zk-aio-py@nc", "raw"]
    assert report["clients"] == clients
    assert set(report["table"]) == set(workloads) | {"get_children_big"}
    assert report["machine"]["baseline"]["src"] == str(base_src.resolve())
    for w, cells in report["table"].items():
        for c in clients:
            cell = cells[c]
            assert "error" not in cell, (w, c, cell)
            if w == "get_threads" and c.startswith(("zk-aio", "raw")):
                assert "sync clients only" in cell["na"], (w, c, cell)
                continue
            assert cell["best"] > 0, (w, c, cell)
        assert {"zk-sync-py/@base", "zk-sync-py/@nc", "zk-aio-py/@base",
                "zk-aio-py/@nc"} <= set(report["ratios"][w])
    # Each @base worker ran the baseline's zkfast, every other zkfast worker this tree's.
    for wk in report["workers"]:
        if wk["client"].startswith("zk-"):
            from_base = wk["zkfast_file"].startswith(str(base_src.resolve()))
            assert from_base == wk["client"].endswith("@base"), wk
    # coalesce_reads=False sends one frame a read; the counters are recorded.
    counters = {wk["client"]: wk["get_pipelined_counters"] for wk in report["workers"]
                if "get_pipelined_counters" in wk}
    assert counters["zk-sync-py@nc"]["batches_sent"] == 0, counters
    assert counters["zk-aio-py@nc"]["batches_sent"] == 0, counters
    # Issue 15: a speedup over raw's ceiling for every ceiling row, and the targets' shape.
    assert set(report["ceiling"]) == {"get_pipelined", "get_threads", "get_pipelined_cpu",
                                      "get_children_big"}
    assert report["ceiling"]["get_pipelined"]["raw"] == 1.0
    assert report["ceiling"]["get_pipelined"]["zk-sync-py"] > 0
    assert report["machine"]["big_tree"]["children"] == 300
    assert isinstance(report["targets"], list)
    assert "issue 15" in proc.stdout
