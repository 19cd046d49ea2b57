"""The report: per-cell statistics, ratios, and the text tables (also for a saved --json)."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .catalogue import (
    CEILING,
    RATIOS,
    TARGETS,
    WORKLOAD_INFO,
    WORKLOAD_NAMES,
    client_help,
    not_applicable,
    split_client,
)


def aggregate(samples: Dict[Tuple[str, str], List[Any]]) -> Dict[str, Dict[str, Any]]:
    """Per (workload, client) cell: best, median, all samples -- or na/error."""
    table: Dict[str, Dict[str, Any]] = {}
    for (w, c), cells in samples.items():
        _, unit, higher, _ = WORKLOAD_INFO[w]
        vals: List[float] = []
        errors = [x["error"] for x in cells if "error" in x]
        na = [x["na"] for x in cells if "na" in x]
        for x in cells:
            vals += x.get("samples", [])
        if vals:
            best = max(vals) if higher else min(vals)
            cell: Dict[str, Any] = {"best": best, "median": statistics.median(vals),
                                    "samples": vals, "unit": unit}
            if errors:
                cell["errors"] = errors
        elif errors:
            cell = {"error": errors[0], "unit": unit}
        elif na:
            cell = {"na": na[0], "unit": unit}
        else:
            cell = {"na": "not measured", "unit": unit}
        table.setdefault(w, {})[c] = cell
    return table


def ratio_defs(clients: Optional[List[str]] = None) -> List[Tuple[str, str, str]]:
    """The fixed ratio columns, then ``<client>/@base`` and ``<client>/@nc`` (the
    client against its variant: > 1 means the client is faster than the variant)."""
    defs = list(RATIOS)
    for c in clients or []:
        base, variant = split_client(c)
        if variant and base in clients:  # type: ignore[operator]
            defs.append((f"{base}/{variant}", base, c))
    return defs


def speedup(a: Optional[float], b: Optional[float], higher: bool) -> Optional[float]:
    """How much better ``a`` is than ``b`` (ops/s: a / b; a cost: b / a)."""
    if not a or not b:
        return None
    return a / b if higher else b / a


def ratios(table: Dict[str, Dict[str, Any]], stat: str = "best",
           clients: Optional[List[str]] = None) -> Dict[str, Dict[str, Optional[float]]]:
    out: Dict[str, Dict[str, Optional[float]]] = {}
    for w, cells in table.items():
        higher = WORKLOAD_INFO[w][2]
        row: Dict[str, Optional[float]] = {}
        for label, zk, peer in ratio_defs(clients):
            a, b = cells.get(zk, {}).get(stat), cells.get(peer, {}).get(stat)
            if a and b:
                row[label] = a / b if higher else b / a
            else:
                row[label] = None
        out[w] = row
    return out


def ceiling_ratios(table: Dict[str, Dict[str, Any]], clients: List[str],
                   stat: str = "best") -> Dict[str, Dict[str, Optional[float]]]:
    """Issue 15: each client's speedup over the raw socket's cell in CEILING (for
    get_pipelined / get_threads, raw's one-frame-per-request pipelined get)."""
    out: Dict[str, Dict[str, Optional[float]]] = {}
    for w, ref in CEILING.items():
        if w not in table:
            continue
        raw = table.get(ref, {}).get("raw", {}).get(stat)
        out[w] = {c: speedup(table[w].get(c, {}).get(stat), raw, WORKLOAD_INFO[w][2])
                  for c in clients}
    return out


def targets(table: Dict[str, Dict[str, Any]], clients: List[str],
            stat: str = "best") -> List[Dict[str, Any]]:
    """Issue 15's targets, for each column of the target's client (its variants too)."""
    out = []
    for w, target_client, (peer, peer_w), need, text in TARGETS:
        if w not in table:
            continue
        for c in clients:
            if split_client(c)[0] != target_client:
                continue
            got = speedup(table[w].get(c, {}).get(stat),
                          table.get(peer_w, {}).get(peer, {}).get(stat), WORKLOAD_INFO[w][2])
            out.append({"workload": w, "client": c, "versus": f"{peer} {peer_w}", "need": need,
                        "speedup": got, "met": None if got is None else got >= need,
                        "target": text})
    return out


def _fmt(v: Optional[float]) -> str:
    if v is None:
        return "-"
    if v >= 10000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _tables(report: Dict[str, Any], wl: List[str], clients: List[str], width: int,
            stat: str) -> List[str]:
    """The value table and the ratio table of one statistic."""
    lines = [f"== {stat.upper()} of all samples "
             f"({'max ops/s, min ms/MiB/s' if stat == 'best' else 'median'}) ==", ""]
    colw = max(11, *(len(c) + 1 for c in clients))
    head = f"{'workload':<{width}}{'unit':<7}" + "".join(f"{c:>{colw}}" for c in clients)
    lines += [head, "-" * len(head)]
    for w in wl:
        row = f"{w:<{width}}{WORKLOAD_INFO[w][1]:<7}"
        for c in clients:
            cell = report["table"][w].get(c, {})
            if stat in cell:
                txt = _fmt(cell[stat])
            elif "error" in cell:
                txt = "ERROR"
            else:
                txt = "n/a"
            row += f"{txt:>{colw}}"
        lines.append(row)
    lines += ["", f"ratios of the {stat} (speedup = peer cost / zkfast cost; "
                  "> 1 means zkfast is better):"]
    rl = [r[0] for r in ratio_defs(clients) if r[1] in clients and r[2] in clients]
    rw = max([len(x) for x in rl] + [8]) + 2
    head = f"{'workload':<{width}}" + "".join(f"{x:>{rw}}" for x in rl)
    lines += [head, "-" * len(head)]
    rat = ratios(report["table"], stat, clients)
    for w in wl:
        row = f"{w:<{width}}"
        for x in rl:
            v = rat[w].get(x)
            row += f"{(f'{v:.2f}x' if v is not None else '-'):>{rw}}"
        lines.append(row)
    return lines + [""] + _ceiling_lines(report, clients, width, stat)


def _ceiling_lines(report: Dict[str, Any], clients: List[str], width: int, stat: str) -> List[str]:
    """Issue 15: speedups over the raw ceiling, then the targets (best statistic only)."""
    table = report["table"]
    ceil = ceiling_ratios(table, clients, stat)
    if not ceil or stat != "best" or "raw" not in clients:
        return []
    colw = max(11, *(len(c) + 1 for c in clients))
    lines = [f"issue 15: speedup over raw's cell of the {stat} (get_pipelined, get_threads: "
             "raw get_pipelined, its one-frame-per-request pipelined ceiling; "
             "cost rows: raw cost / client cost):"]
    head = f"{'workload':<{width}}{'vs raw':<18}" + "".join(f"{c:>{colw}}" for c in clients)
    lines += [head, "-" * len(head)]
    for w, row in ceil.items():
        line = f"{w:<{width}}{CEILING[w]:<18}"
        for c in clients:
            v = row.get(c)
            line += f"{(f'{v:.2f}x' if v is not None else '-'):>{colw}}"
        lines.append(line)
    tg = targets(table, clients, stat)
    if tg:
        lines += ["", "issue 15 targets (speedup over the named cell; MET when >= the need):"]
        for t in tg:
            got = "-" if t["speedup"] is None else f"{t['speedup']:.2f}x"
            verdict = {None: "n/a", True: "MET", False: "MISSED"}[t["met"]]
            lines.append(f"  {t['workload']:<18}{t['client']:<18}{got:>8}  need >= {t['need']:.2f}x "
                         f"vs {t['versus']:<24}{verdict:<7} {t['target']}")
    counters = [(x["client"], x["round"], x["get_pipelined_counters"])
                for x in report.get("workers", []) if x.get("get_pipelined_counters")]
    if counters:
        lines += ["", "zkfast engine counters during get_pipelined (frames sent, of them "
                      "multiRead batches, reads they carried):"]
        for c, rnd, k in counters:
            lines.append(f"  {c:<20} round {rnd + 1}: frames {k.get('frames_sent')}, batches "
                         f"{k.get('batches_sent')}, batched reads {k.get('batched_reads')}")
    return lines + [""]


def render(report: Dict[str, Any], stat: str = "best") -> str:
    m = report["machine"]
    plan = report["plan"]
    clients = report["clients"]
    lines = [
        f"zkfast peer comparison -- {m['date']}",
        f"machine: {m.get('cpu', '?')}, nproc={m['nproc']} (usable {m.get('nproc_usable')}), "
        f"{m.get('mem_total_mib', '?')} MiB, {m['platform']}",
        f"python {m['python']}; zkfast {m['zkfast_version']} (default backend "
        f"{m['zkfast_backend_default']}); git {str(m['git_commit'])[:12]}"
        f"{' +uncommitted changes' if m['git_dirty'] else ''}; kazoo {m.get('kazoo_version')}; "
        f"aiozk {m.get('aiozk_version')}; {m.get('zookeeper')}",
        f"load average at start {m['loadavg_start']}, at end {m.get('loadavg_end')}",
        f"server JVM flags added to zkfast.testing's defaults: {' '.join(m.get('server_jvm_flags', []))}",
        *([f"@base columns: zkfast {m['baseline'].get('zkfast_version')} from {m['baseline']['src']} "
           f"(git {str(m['baseline'].get('git_commit'))[:12]}"
           f"{' +uncommitted changes' if m['baseline'].get('git_dirty') else ''}; default backend "
           f"{m['baseline'].get('backend_default')})"] if m.get("baseline") else []),
        *([f"--big tree: {m['big_tree'].get('children')} children built in "
           f"{m['big_tree'].get('build_seconds')} s; getChildren reply {m['big_tree'].get('reply_bytes')} B; "
           f"server heap after a full GC {m['big_tree'].get('server_heap_used_mib')} MiB used, "
           f"RSS {m['big_tree'].get('server_rss_mib')} MiB"] if m.get("big_tree") else []),
        f"mode: {'QUICK (small N, smoke only)' if report['quick'] else 'full'}; "
        f"{plan['rounds']} round(s), clients interleaved per round. Headline: the "
        f"{stat.upper()} sample of each cell (max ops/s, min ms/MiB/s); the median follows. "
        "JSON keeps all samples.",
        "",
    ]
    wl = [w for w in WORKLOAD_NAMES if w in report["table"]]
    labels = {w: WORKLOAD_INFO[w][3].format(big_kib=plan["big_size"] // 1024, **plan) for w in wl}
    width = max(len(w) for w in wl) + 2
    for st in (stat, "median") if stat != "median" else (stat,):
        lines += _tables(report, wl, clients, width, st)
    lines += ["", "workloads:"]
    lines += [f"  {w:<{width}}{labels[w]}" for w in wl]
    lines += ["", "clients:"]
    lines += [f"  {c:<20}{client_help(c)}" for c in clients]
    notes = []
    for w in wl:
        for c in clients:
            cell = report["table"][w].get(c, {})
            if "error" in cell:
                notes.append(f"  ERROR {w} / {c}: {cell['error'][:300]}")
            elif "na" in cell and not not_applicable(w, c):
                notes.append(f"  n/a   {w} / {c}: {cell['na']}")
            if "errors" in cell:
                notes.append(f"  (some rounds failed) {w} / {c}: {cell['errors'][0][:200]}")
    if notes:
        lines += ["", "notes:"] + notes
    lines += ["", f"total wall time {report['seconds']:.0f} s"]
    return "\n".join(lines) + "\n"


def write_report(report: Dict[str, Any], args: argparse.Namespace) -> int:
    """Print the tables of ``report``; write them (--text) and the report (--json)."""
    text = render(report)
    if args.header:
        text = "".join(f"# {line}\n" for line in args.header.split("\\n")) + "\n" + text
    sys.stdout.write(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    if args.text:
        Path(args.text).parent.mkdir(parents=True, exist_ok=True)
        Path(args.text).write_text(text)
    table = report["table"]
    failed = [(w, c) for w in table for c, cell in table[w].items() if "error" in cell]
    return 1 if (failed and args.strict) else 0


def rerender(path: str, args: argparse.Namespace) -> int:
    """The tables of a saved --json report again, with this file's ratio columns."""
    report = json.loads(Path(path).read_text())
    clients = report["clients"]
    report["ratios"] = ratios(report["table"], clients=clients)
    report["ratios_median"] = ratios(report["table"], "median", clients)
    report["ceiling"] = ceiling_ratios(report["table"], clients)
    report["targets"] = targets(report["table"], clients)
    return write_report(report, args)
