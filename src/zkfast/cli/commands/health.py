"""``health``: the four-letter words ``ruok``, ``srvr`` and ``mntr`` of every server;
with ``--client``, also the command line's own connection as a client sees it."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ... import flw
from ...errors import ZooKeeperError
from ...hosts import format_address
from ..context import Context
from ..exitcodes import EXIT_OK, EXIT_UNHEALTHY, EXIT_USAGE, CLIError


def _short_version(v: str) -> str:
    return v.split(",")[0].split("-")[0].strip()


def cmd_health(ctx: Context) -> int:
    out = ctx.output
    try:
        names = flw.server_list(ctx.args.hosts)
    except ValueError as e:
        raise CLIError(f"invalid --hosts {ctx.args.hosts!r}: {e}", EXIT_USAGE) from None
    t = ctx.timeout
    with ThreadPoolExecutor(max_workers=3) as pool:
        f_ruok = pool.submit(flw.ruok, names, t)
        f_srvr = pool.submit(flw.srvr, names, t)
        f_mntr = pool.submit(flw.mntr, names, t)
        ruok, srvr, mntr = f_ruok.result(), f_srvr.result(), f_mntr.result()
    report = []
    unhealthy = 0
    for name in names:
        st = srvr[name]
        m = mntr.get(name)
        metrics: dict[str, Any] = m if isinstance(m, dict) else {}
        ok = bool(ruok.get(name)) and st.error is None
        if not ruok.get(name):
            status = "down"
        elif st.error is not None:
            status = "not serving" if isinstance(st.error, flw.FLWNotServingError) else "error"
        else:
            status = "ok"
        if not ok:
            unhealthy += 1
        report.append({
            "server": name, "status": status, "ruok": bool(ruok.get(name)),
            "mode": str(st.mode) if st.error is None else None,
            "version": st.version or None,
            "znodes": st.node_count if st.error is None else None,
            "connections": st.connections if st.error is None else None,
            "outstanding": st.outstanding if st.error is None else None,
            "latency_min": st.min_latency if st.error is None else None,
            "latency_avg": st.avg_latency if st.error is None else None,
            "latency_max": st.max_latency if st.error is None else None,
            "zxid": f"0x{st.zxid:x}" if st.error is None else None,
            "watches": metrics.get("zk_watch_count"),
            "ephemerals": metrics.get("zk_ephemerals_count"),
            "data_bytes": metrics.get("zk_approximate_data_size"),
            "followers": metrics.get("zk_synced_followers"),
            "error": str(st.error) if st.error is not None else (
                None if isinstance(m, dict) or m is None else f"mntr: {m}"),
        })
    client = _client_report(ctx) if ctx.args.client else None
    if client is not None and client["error"] is not None:
        unhealthy += 1
    if out.json:
        out.emit_json(report if client is None else {"servers": report, "client": client})
    else:
        rows = []
        for r in report:
            lat = (f"{r['latency_min']}/{r['latency_avg']:g}/{r['latency_max']}"
                   if r["latency_min"] is not None else "")
            rows.append([r["server"], r["status"], r["mode"] or "", r["znodes"],
                         r["connections"], r["outstanding"], lat, r["watches"], r["zxid"],
                         _short_version(str(r["version"] or "")), r["error"] or ""])
        out.table(["SERVER", "STATUS", "MODE", "ZNODES", "CONNS", "OUTSTANDING",
                   "LATENCY ms", "WATCHES", "ZXID", "VERSION", "ERROR"], rows,
                  right=[False, False, False, True, True, True, True, True, False, False, False])
        if client is not None:
            out.line()
            rtt = (f"{client['rtt_ms_min']:.2f}/{client['rtt_ms_median']:.2f}/"
                   f"{client['rtt_ms_max']:.2f}" if client["rtt_ms_min"] is not None else "")
            out.table(["CLIENT", "STATE", "SESSION", "TIMEOUT s", "CONNECT ms",
                       "RTT ms min/med/max", "ERROR"],
                      [[client["server"] or "", client["state"] or "", client["session"] or "",
                        client["session_timeout"], _ms(client["connect_ms"]), rtt,
                        client["error"] or ""]],
                      right=[False, False, False, True, True, True, False])
    return EXIT_UNHEALTHY if unhealthy else EXIT_OK


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _client_report(ctx: Context) -> dict[str, Any]:
    """Connect as a client (the global options: auth, TLS, ...) and time it and
    ``--probes`` round trips (``exists`` of the root, which any server answers
    from memory)."""
    report: dict[str, Any] = {"server": None, "state": None, "session": None,
                              "session_timeout": None, "connect_ms": None, "probes": 0,
                              "rtt_ms_min": None, "rtt_ms_median": None, "rtt_ms_max": None,
                              "connects": None, "error": None}
    started = time.perf_counter()
    try:
        zk = ctx.zk
        report["connect_ms"] = (time.perf_counter() - started) * 1000
        rtts = []
        for _ in range(ctx.args.probes):
            t = time.perf_counter()
            zk.exists("/", timeout=ctx.timeout)
            rtts.append((time.perf_counter() - t) * 1000)
    except ZooKeeperError as e:
        report["error"] = f"{type(e).__name__}: {e}"
        return report
    server = zk.server
    report.update({
        "server": format_address(server) if server else None, "state": zk.state.value,
        "session": f"0x{zk.session_id:x}", "session_timeout": zk.negotiated_session_timeout,
        "probes": len(rtts), "rtt_ms_min": min(rtts), "rtt_ms_median": statistics.median(rtts),
        "rtt_ms_max": max(rtts), "connects": zk.stats()["connects"],
    })
    return report
