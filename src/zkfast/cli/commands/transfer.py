"""``dump`` a subtree to JSON or a directory, and ``load`` one back."""

from __future__ import annotations

import json
import os
from typing import Any

from ...acl import ACL
from ...errors import NodeExistsError, NoNodeError
from ...paths import parent, validate_path
from ..acl import format_acl
from ..context import Context, is_system, pipeline, read_tree
from ..dumpformat import (
    DUMP_FORMAT,
    LoadItem,
    by_segments,
    dump_target,
    read_dir,
    read_json_dump,
    write_dir,
)
from ..exitcodes import EXIT_OK, EXIT_USAGE, CLIError
from ..output import Progress
from ..values import encode_value


def cmd_dump(ctx: Context) -> int:
    a = ctx.args
    output = ctx.output
    zk = ctx.zk
    root = a.path
    target = dump_target(a.out)
    if target == "dir" and os.path.isdir(a.out) and os.listdir(a.out):
        raise CLIError(f"--out {a.out}: the directory exists and is not empty", EXIT_USAGE)
    tree = read_tree(ctx, root, f"reading {root}", system=False)
    # ephemerals belong to a session: restoring them as persistent nodes makes no sense
    kept = {p: d for p, d in tree.items() if p == root or not d.stat.ephemeral_owner}
    skipped = len(tree) - len(kept)
    acls: dict[str, list[ACL]] = {}
    if a.acl:
        with Progress(output, "reading ACLs", total=len(kept)) as progress:
            def done(path: str, res: Any, err: BaseException | None) -> None:
                progress.update()
                if err is None:
                    acls[path] = res[0]
                elif not isinstance(err, NoNodeError):
                    raise err
            pipeline(ctx, iter(list(kept)), zk.get_acls_async, done)

    def rel(path: str) -> str:
        if path == root:
            return "/"
        return path[len(root):] if root != "/" else path

    ordered = sorted(kept, key=by_segments)
    size = sum(len(kept[p].data or b"") for p in ordered)
    if target == "dir":
        parents = {parent(p) for p in ordered if p != root}
        write_dir(a.out, [(rel(p), kept[p].data, p in parents) for p in ordered])
    else:
        nodes: dict[str, dict[str, Any]] = {}
        for p in ordered:
            entry = encode_value(kept[p].data)
            if p in acls:
                entry["acl"] = [format_acl(x) for x in acls[p]]
            nodes[rel(p)] = entry
        doc = {"zkfast_dump": DUMP_FORMAT, "root": root, "nodes": nodes}
        if target == "stdout":
            output.emit_json(doc)
        else:
            tmp = f"{a.out}.tmp{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1, ensure_ascii=False)
                f.write("\n")
            os.replace(tmp, a.out)
    if skipped:
        output.info(f"skipped {skipped} ephemeral node{'s' if skipped != 1 else ''}")
    if target != "stdout":
        if output.json:
            output.emit_json({"root": root, "out": a.out, "nodes": len(ordered), "bytes": size,
                              "skipped_ephemeral": skipped})
        else:
            output.line(f"dumped {len(ordered)} nodes ({size} bytes) from {root} to {a.out}")
    return EXIT_OK


def cmd_load(ctx: Context) -> int:
    a = ctx.args
    zk = ctx.zk
    output = ctx.output
    src = a.source
    if src != "-" and not os.path.exists(src):
        raise CLIError(f"{src}: no such file or directory", EXIT_USAGE)
    entries = read_dir(src) if os.path.isdir(src) else read_json_dump(src, ctx.stdin)
    root = a.path
    validate_path(root)
    entries.sort(key=lambda e: by_segments(e[0]))  # parents before children
    items = []
    for rel, value, acl in entries:
        full = root if rel == "/" else (rel if root == "/" else root + rel)
        if is_system(zk, full):
            continue  # the server's own nodes
        items.append(LoadItem(full, value, acl))
    if root != "/":
        zk.ensure_path(parent(root))
    created = updated = unchanged = 0
    existing: list[LoadItem] = []
    with Progress(output, f"loading into {root}", total=len(items)) as progress:
        def done_create(item: LoadItem, _res: Any, err: BaseException | None) -> None:
            nonlocal created
            progress.update()
            if err is None:
                created += 1
            elif isinstance(err, NodeExistsError):
                existing.append(item)
            else:
                raise err
        pipeline(ctx, iter(items),
                 lambda it: zk.create_async(it.path, it.value, it.acl), done_create)
        if a.no_overwrite:
            unchanged = len(existing)
        else:
            def done_set(item: LoadItem, _res: Any, err: BaseException | None) -> None:
                nonlocal updated
                if err is not None:
                    raise err
                updated += 1
            pipeline(ctx, iter(existing), lambda it: zk.set_async(it.path, it.value), done_set)
    if output.json:
        output.emit_json({"root": root, "created": created, "updated": updated,
                          "unchanged": unchanged})
    else:
        msg = f"loaded {len(items)} nodes into {root}: {created} created, {updated} updated"
        if unchanged:
            msg += f", {unchanged} left unchanged"
        output.line(msg)
    return EXIT_OK
