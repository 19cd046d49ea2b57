"""``health``: the four-letter words ``ruok``, ``srvr`` and ``mntr`` of every server."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ... import flw
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
    if out.json:
        out.emit_json(report)
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
    return EXIT_UNHEALTHY if unhealthy else EXIT_OK
