"""The parent process: start ZooKeeper, build the tree, run every worker round by round."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from time import perf_counter as _perf
from typing import Any, Callable, Dict, List, Optional, Tuple

from .catalogue import (
    BASE,
    BIG_CHILDREN_DEFAULT,
    BIG_SERVER_FLAGS,
    CLIENTS,
    DEFAULT_WORKLOADS,
    FULL_PLAN,
    NO_COALESCE,
    QUICK_PLAN,
    WORKLOAD_INFO,
    WORKLOAD_NAMES,
    client_help,
    is_zkfast,
    not_applicable,
    split_client,
    valid_client,
)
from .report import aggregate, ceiling_ratios, ratios, targets, write_report
from .repo import PACKAGE, REPO, SRC
from .tree import build_big_children, build_tree


def _git(*args: str, repo: Optional[Path] = None) -> Optional[str]:
    try:
        return subprocess.run(["git", "-C", str(repo or REPO), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    except Exception:  # noqa: BLE001
        return None


def machine_info(server: Any) -> Dict[str, Any]:
    import zkfast

    info: Dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "nproc_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": sys.version.split()[0],
        "python_impl": platform.python_implementation(),
        "platform": platform.platform(),
        "zkfast_version": zkfast.__version__,
        "zkfast_backend_default": zkfast.codec_backend,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "loadavg_start": list(os.getloadavg()),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["mem_total_mib"] = int(line.split()[1]) // 1024
                break
    except OSError:
        pass
    for mod in ("kazoo", "aiozk"):
        try:
            from importlib.metadata import version
            info[f"{mod}_version"] = version(mod)
        except Exception:  # noqa: BLE001
            info[f"{mod}_version"] = None
    try:
        srvr = server.four_letter("srvr")
        info["zookeeper"] = srvr.splitlines()[0].split(":", 1)[1].strip()
    except Exception:  # noqa: BLE001
        info["zookeeper"] = None
    return info


# The worker's zkfast: this checkout's src/, or the --baseline one for an @base column.
BASELINE: Dict[str, Optional[str]] = {"src": None}


def _worker_env(client: str) -> Dict[str, str]:
    env = dict(os.environ)
    env.pop("ZKFAST_NO_EXTENSIONS", None)
    env.pop("ZKFAST_BENCH_COALESCE", None)
    base, variant = split_client(client)
    if base.endswith("-py"):
        env["ZKFAST_NO_EXTENSIONS"] = "1"
    if variant == NO_COALESCE:
        env["ZKFAST_BENCH_COALESCE"] = "0"
    src = BASELINE["src"] if variant == BASE else None
    pp = [src or str(SRC)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(pp)
    return env


def choose_clients(args: argparse.Namespace) -> List[str]:
    """The columns: --clients (or all), each zkfast one followed by its variants."""
    asked = [c.strip() for c in args.clients.split(",")] if args.clients else list(CLIENTS)
    bad = [c for c in asked if not valid_client(c)]
    if bad:
        raise SystemExit(f"unknown client(s) {bad}; choose from {CLIENTS} "
                         f"(a zkfast one may end in {BASE} or {NO_COALESCE})")
    out: List[str] = []
    for c in asked:
        if c not in out:
            out.append(c)
        if is_zkfast(c) and not split_client(c)[1]:
            for flag, variant in ((getattr(args, "baseline", None), BASE),
                                  (getattr(args, "no_coalesce_column", False), NO_COALESCE)):
                if flag and c + variant not in out and c + variant not in asked:
                    out.append(c + variant)
    if any(split_client(c)[1] == BASE for c in out) and not getattr(args, "baseline", None):
        raise SystemExit(f"a {BASE} column needs --baseline SRC")
    return out


def baseline_info(src: str) -> Dict[str, Any]:
    """Where the @base columns come from, and whether its Cython codec is built."""
    env = _worker_env("zk-sync-cy" + BASE)
    out = subprocess.run([sys.executable, "-c", "import zkfast; print(zkfast.__version__, "
                          "zkfast.codec_backend, zkfast.__file__)"],
                         env=env, capture_output=True, text=True, timeout=60)
    words = out.stdout.split()
    repo = Path(src).resolve().parent
    return {"src": str(Path(src).resolve()), "git_commit": _git("rev-parse", "HEAD", repo=repo),
            "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no", repo=repo)),
            "zkfast_version": words[0] if words else None,
            "backend_default": words[1] if len(words) > 1 else None,
            "imported_from": words[2] if len(words) > 2 else out.stderr.strip()[-300:]}


SNAPSHOT_DIR = "snapshot"


def snapshot_package(tmp: str) -> None:
    """Copy this package to ``tmp/snapshot/`` for the workers to import."""
    shutil.copytree(PACKAGE, os.path.join(tmp, SNAPSHOT_DIR, PACKAGE.name),
                    ignore=shutil.ignore_patterns("__pycache__"))


def run_worker(client: str, hosts: str, plan_path: str, plan: Dict[str, Any], rnd: int,
               probe: Optional[str], tmp: str, log: Callable[[str], None]) -> Dict[str, Any]:
    out = os.path.join(tmp, f"{client}-{rnd}-{probe or 'main'}.json")
    # Workers run a copy of this package taken at start (see snapshot_package), so
    # editing it during a long run cannot change the measurement half-way through;
    # `python -m` imports it from the working directory.
    snapshot = os.path.join(tmp, SNAPSHOT_DIR)
    cmd = [sys.executable, "-m", PACKAGE.name, "--worker", client, "--hosts", hosts,
           "--plan", plan_path, "--round", str(rnd), "--out", out]
    if probe:
        cmd += ["--probe", probe]
    t0 = _perf()
    try:
        proc = subprocess.run(cmd, env=_worker_env(client), cwd=snapshot, capture_output=True, text=True,
                              timeout=plan["worker_timeout"])
        rc, err = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired as e:
        rc, err = None, f"worker timed out after {plan['worker_timeout']} s; {e.stderr!r}"[-2000:]
    data: Dict[str, Any] = {"results": {}, "meta": {}}
    if os.path.exists(out):
        data = json.loads(Path(out).read_text())
    if rc != 0:
        msg = f"worker exit {rc}: {(err or '').strip()[-800:]}"
        for w in plan["workloads"]:
            data["results"].setdefault(w, {"error": msg})
    data["meta"]["seconds"] = round(_perf() - t0, 2)
    log(f"  {client:<11} round {rnd + 1}{' (' + probe + ')' if probe else ''}: "
        f"{data['meta']['seconds']:.1f}s")
    return data


def parent_main(args: argparse.Namespace) -> int:
    from zkfast.testing import ZooKeeperServer

    plan = dict(QUICK_PLAN if args.quick else FULL_PLAN)
    if args.rounds:
        plan["rounds"] = args.rounds
    for kv in args.set or []:
        k, _, v = kv.partition("=")
        if k not in plan:
            raise SystemExit(f"--set: unknown plan key {k!r} (have {sorted(plan)})")
        plan[k] = type(plan[k])(v)
    only = [w.strip() for w in args.only.split(",")] if args.only else list(DEFAULT_WORKLOADS)
    bad = [w for w in only if w not in WORKLOAD_NAMES]
    if bad:
        raise SystemExit(f"unknown workload(s) {bad}; choose from {WORKLOAD_NAMES}")
    big = bool(getattr(args, "big", False) or plan["children_big"] or "get_children_big" in only)
    if big:
        if not plan["children_big"]:
            plan["children_big"] = BIG_CHILDREN_DEFAULT
        if "get_children_big" not in only:
            only.append("get_children_big")
    only = [w for w in WORKLOAD_NAMES if w in only]  # table order
    plan["workloads"] = only
    if getattr(args, "baseline", None):
        if not (Path(args.baseline) / "zkfast" / "__init__.py").is_file():
            raise SystemExit(f"--baseline {args.baseline}: no zkfast package there (give a src/ dir)")
        BASELINE["src"] = str(Path(args.baseline).resolve())
    clients = choose_clients(args)
    jvm_flags = [*(BIG_SERVER_FLAGS if big else ["-Xmx1g"]), *(args.server_flag or [])]

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t_start = _perf()
    samples: Dict[Tuple[str, str], List[Any]] = {(w, c): [] for w in only for c in clients}
    workers: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="zkfast-bench-") as tmp, \
            ZooKeeperServer(jvm_flags=jvm_flags) as server:
        hosts = server.hosts
        log(f"ZooKeeper on {hosts}")
        machine = machine_info(server)
        machine["server_jvm_flags"] = jvm_flags
        if BASELINE["src"]:
            machine["baseline"] = baseline_info(BASELINE["src"])
            log(f"baseline: {machine['baseline']}")
        build_tree(hosts, plan, log)
        if big:
            machine["big_tree"] = build_big_children(hosts, plan["children_big"], log, server)
        snapshot_package(tmp)
        plan_path = os.path.join(tmp, "plan.json")
        Path(plan_path).write_text(json.dumps(plan))
        main_w = [w for w in only if w not in ("rss_children", "pymem_children")]
        mem_w = [w for w in only if w in ("rss_children", "pymem_children")]
        for rnd in range(plan["rounds"]):
            log(f"round {rnd + 1}/{plan['rounds']}")
            for c in clients:
                for probe, ws in ((None, main_w), ("memory", mem_w)):
                    if not ws:
                        continue
                    data = run_worker(c, hosts, plan_path, plan, rnd, probe, tmp, log)
                    workers.append({"client": c, "round": rnd, "probe": probe, **data["meta"]})
                    for w in ws:
                        if w in data["results"]:
                            samples[(w, c)].append(data["results"][w])
                        elif not_applicable(w, c):
                            samples[(w, c)].append({"na": not_applicable(w, c)})
        machine["loadavg_end"] = list(os.getloadavg())
    table = aggregate(samples)
    report = {
        "quick": args.quick,
        "statistic": "best",
        "statistic_note": "best = max ops/s or min ms/MiB/s over all samples; median also given",
        "machine": machine,
        "plan": plan,
        "clients": clients,
        "client_help": {c: client_help(c) for c in clients},
        "workloads": {w: {"unit": WORKLOAD_INFO[w][1], "higher_is_better": WORKLOAD_INFO[w][2],
                          "label": WORKLOAD_INFO[w][3].format(big_kib=plan["big_size"] // 1024, **plan)}
                      for w in only},
        "table": table,
        "ratios": ratios(table, clients=clients),
        "ratios_median": ratios(table, "median", clients=clients),
        "ceiling": ceiling_ratios(table, clients),
        "targets": targets(table, clients),
        "ratio_note": "peer cost / zkfast cost: > 1 means zkfast is faster or smaller",
        "workers": workers,
        "seconds": round(_perf() - t_start, 1),
    }
    return write_report(report, args)
