"""Commands that read a subtree: ``ls``, ``tree`` and ``du``."""

from __future__ import annotations

from typing import Any

from ...errors import NoNodeError
from ...recipe import bulk
from ..context import Context, bulk_window, depth_below, read_tree, subtree_size
from ..exitcodes import EXIT_OK
from ..output import Progress
from ..values import child_path, human_size


def cmd_ls(ctx: Context) -> int:
    a = ctx.args
    out = ctx.output
    if not a.recursive:
        names = sorted(ctx.zk.get_children(a.path))
    else:
        if ctx.zk.exists(a.path) is None:
            raise NoNodeError(path=a.path)
        with Progress(out, f"listing {a.path}", total=subtree_size(ctx.zk, a.path)) as progress:
            names = []
            for path, _children in bulk.walk(ctx.zk, a.path, **bulk_window(ctx)):
                progress.update()
                if path != a.path:
                    names.append(path)
        names.sort()
    if out.json:
        out.emit_json(names)
    else:
        for n in names:
            out.line(n)
    return EXIT_OK



def _tree_chars(stream: Any) -> tuple[str, str, str, str]:
    enc = getattr(stream, "encoding", None) or "utf-8"
    try:
        "├└│─".encode(enc)
    except (UnicodeEncodeError, LookupError):
        return ("|-- ", "`-- ", "|   ", "    ")
    return ("├── ", "└── ", "│   ", "    ")


def cmd_tree(ctx: Context) -> int:
    a = ctx.args
    out = ctx.output
    root = a.path
    if ctx.zk.exists(root) is None:
        raise NoNodeError(path=root)
    kids: dict[str, list[str]] = {}
    total = subtree_size(ctx.zk, root) if a.level is None else None  # -L: fewer, unknown
    with Progress(out, f"listing {root}", total=total) as progress:
        for path, children in bulk.walk(ctx.zk, root, **bulk_window(ctx)):
            depth = depth_below(root, path)
            if a.level is not None and depth >= a.level:
                if depth > a.level:
                    break  # breadth first: everything shallower has been seen
                continue
            kids[path] = sorted(children)
            progress.update()
    if out.json:
        def build(path: str, name: str) -> dict[str, Any]:
            entry: dict[str, Any] = {"name": name, "path": path}
            if path in kids:
                entry["children"] = [build(child_path(path, c), c) for c in kids[path]]
            return entry
        out.emit_json(build(root, root))
        return EXIT_OK
    tee, last, pipe, blank = _tree_chars(out.out)
    out.line(root)
    shown = 0

    def draw(path: str, prefix: str) -> None:
        nonlocal shown
        names = kids.get(path, [])
        for i, name in enumerate(names):
            is_last = i == len(names) - 1
            out.line(prefix + (last if is_last else tee) + name)
            shown += 1
            draw(child_path(path, name), prefix + (blank if is_last else pipe))

    draw(root, "")
    out.line("")
    out.line(f"{shown} node{'s' if shown != 1 else ''}")
    return EXIT_OK



def cmd_du(ctx: Context) -> int:
    a = ctx.args
    out = ctx.output
    root = a.path
    totals: dict[str, list[int]] = {}
    for path, node in read_tree(ctx, root, f"reading {root}").items():
        rel = path[len(root):] if root != "/" else path
        segs = [s for s in rel.split("/") if s]
        for k in range(min(len(segs), a.depth) + 1):
            key = root if k == 0 else (root if root != "/" else "") + "/" + "/".join(segs[:k])
            t = totals.setdefault(key, [0, 0])
            t[0] += 1
            t[1] += node.stat.data_length
    order = 1 if a.by == "nodes" else 0
    rows = sorted(totals.items(), key=lambda kv: (-kv[1][order], -kv[1][1 - order], kv[0]))
    if out.json:
        out.emit_json([{"path": p, "nodes": t[0], "bytes": t[1]} for p, t in rows])
    else:
        out.table(["NODES", "BYTES", "PATH"],
                  [[t[0], human_size(t[1]) if a.human else t[1], p] for p, t in rows],
                  right=[True, True, False])
    return EXIT_OK
