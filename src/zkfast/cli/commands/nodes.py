"""Commands on single nodes: ``get``, ``stat``, ``set``, ``create``, ``rm``, ``acl``,
and ``digest`` (which needs no server)."""

from __future__ import annotations

from ...acl import make_digest_id
from ...errors import NoNodeError
from ...recipe import bulk
from ..acl import acl_json, format_acl, parse_acl_spec
from ..context import Context, bulk_window, subtree_size
from ..exitcodes import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CLIError
from ..output import Progress, isatty
from ..values import encode_value, ms_to_iso, stat_json


def cmd_get(ctx: Context) -> int:
    value, stat = ctx.zk.get(ctx.args.path)
    out = ctx.output
    if out.json:
        out.emit_json({"path": ctx.args.path, **encode_value(value), "stat": stat_json(stat)})
        return EXIT_OK
    data = value or b""
    if isatty(out.out) and data and not data.endswith(b"\n"):
        data += b"\n"
    out.write_bytes(data)
    return EXIT_OK


_STAT_LINES = (
    ("cZxid", "czxid", "hex"), ("ctime", "ctime", "time"), ("mZxid", "mzxid", "hex"),
    ("mtime", "mtime", "time"), ("pZxid", "pzxid", "hex"), ("cversion", "cversion", ""),
    ("dataVersion", "version", ""), ("aclVersion", "aversion", ""),
    ("ephemeralOwner", "ephemeral_owner", "hex"), ("dataLength", "data_length", ""),
    ("numChildren", "num_children", ""),
)


def cmd_stat(ctx: Context) -> int:
    stat = ctx.zk.exists(ctx.args.path)
    if stat is None:
        raise NoNodeError(path=ctx.args.path)
    out = ctx.output
    if out.json:
        out.emit_json({"path": ctx.args.path, **stat_json(stat)})
        return EXIT_OK
    for label, field, kind in _STAT_LINES:
        v = getattr(stat, field)
        text = f"0x{v & 0xFFFFFFFFFFFFFFFF:x}" if kind == "hex" else (
            ms_to_iso(v) if kind == "time" else str(v))
        out.line(f"{label} = {text}")
    return EXIT_OK


def cmd_set(ctx: Context) -> int:
    a = ctx.args
    stat = ctx.zk.set(a.path, ctx.read_value(a.value), version=a.version)
    if ctx.output.json:
        ctx.output.emit_json({"path": a.path, "stat": stat_json(stat)})
    return EXIT_OK


def cmd_create(ctx: Context) -> int:
    a = ctx.args
    acl = parse_acl_spec(",".join(a.acl)) if a.acl else None
    if a.container and (a.ephemeral or a.sequence or a.ttl is not None):
        raise CLIError("--container cannot be combined with -e, -s or --ttl", EXIT_USAGE)
    if a.ttl is not None and a.ephemeral:
        raise CLIError("--ttl cannot be combined with -e (TTL nodes are persistent)", EXIT_USAGE)
    created = ctx.zk.create(a.path, ctx.read_value(a.value), acl, ephemeral=a.ephemeral,
                            sequence=a.sequence, makepath=a.parents, container=a.container,
                            ttl=a.ttl)
    if ctx.output.json:
        ctx.output.emit_json({"path": created})
    else:
        ctx.output.line(created)
    if a.ephemeral:
        ctx.output.info("note: the ephemeral node goes away when this command's session ends")
    return EXIT_OK


CONFIRM_ABOVE = 100
"""``rm -r`` on a terminal asks before deleting more nodes than this (or a whole tree)."""


def cmd_rm(ctx: Context) -> int:
    a = ctx.args
    zk = ctx.zk
    out = ctx.output
    if not a.recursive:
        zk.delete(a.path, version=a.version)
        if out.json:
            out.emit_json({"path": a.path, "deleted": 1})
        return EXIT_OK
    if a.version != -1:
        raise CLIError("--version cannot be used with -r", EXIT_USAGE)
    if zk.exists(a.path) is None:
        raise NoNodeError(path=a.path)
    total = subtree_size(zk, a.path)
    if total is not None and a.path == "/":
        total -= 1  # the root itself stays
    if not a.yes and isatty(ctx.stdin):
        _confirm_rm(ctx, a.path, total)
    with Progress(out, f"deleting {a.path}", total=total) as progress:
        count = bulk.delete_tree(zk, a.path, progress=progress.update, **bulk_window(ctx))
    if out.json:
        out.emit_json({"path": a.path, "deleted": count})
    else:
        out.line(f"deleted {count} node{'s' if count != 1 else ''}: {a.path}")
    return EXIT_OK


def _confirm_rm(ctx: Context, path: str, total: int | None) -> None:
    """Ask on the terminal before deleting a whole tree or many nodes."""
    if path != "/" and (total is None or total <= CONFIRM_ABOVE):
        return
    what = (f"every node under {path}" if path == "/" else f"{path} and everything below it")
    size = f" ({total} nodes)" if total is not None else ""
    ctx.output.err.write(f"zkfast: delete {what}{size}? [y/N] ")
    ctx.output.err.flush()
    answer = ctx.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise CLIError(f"not deleted: {path} (answer y, or pass --yes)", EXIT_FAILURE)


def cmd_acl(ctx: Context) -> int:
    a = ctx.args
    out = ctx.output
    if a.acl_command == "get":
        acls, stat = ctx.zk.get_acls(a.path)
        if out.json:
            out.emit_json([acl_json(x) for x in acls])
        else:
            for x in acls:
                out.line(format_acl(x))
        return EXIT_OK
    acls = parse_acl_spec(",".join(a.spec))
    stat = ctx.zk.set_acls(a.path, acls, version=a.version)
    if out.json:
        out.emit_json({"path": a.path, "acl": [acl_json(x) for x in acls],
                       "stat": stat_json(stat)})
    return EXIT_OK


def cmd_digest(ctx: Context) -> int:
    user, sep, password = ctx.args.credential.partition(":")
    if not sep or not user:
        raise CLIError("expected USER:PASSWORD", EXIT_USAGE)
    ident = make_digest_id(user, password)
    if ctx.output.json:
        ctx.output.emit_json({"id": ident, "acl": f"digest:{ident}:cdrwa"})
    else:
        ctx.output.line(ident)
    return EXIT_OK
