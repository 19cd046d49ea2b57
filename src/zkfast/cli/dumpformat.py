"""The dump formats: one JSON document, or a directory tree of files; reading and
writing them (the commands ``dump`` and ``load`` are in :mod:`.commands.transfer`)."""

from __future__ import annotations

import json
import os
from typing import IO, NamedTuple

from ..acl import ACL
from ..errors import InvalidPathError
from ..paths import validate_path
from .acl import parse_acl_spec
from .exitcodes import EXIT_FAILURE, EXIT_USAGE, CLIError
from .values import decode_value

DIR_DATA_FILE = ".zkdata"
"""In a directory dump, the file inside a node's directory holding its value."""
DUMP_FORMAT = 1


def dump_target(out: str | None) -> str:
    if out is None or out == "-":
        return "stdout"
    if out.endswith(".json") or (os.path.exists(out) and not os.path.isdir(out)):
        return "json"
    return "dir"


def by_segments(path: str) -> list[str]:
    """Sort key that puts parents before children and siblings in name order."""
    return [] if path == "/" else path.split("/")


def write_dir(directory: str, nodes: list[tuple[str, bytes | None, bool]]) -> None:
    """``(relative path, value, has children)`` in parent-first order: a node with
    children is a directory (its value in ``.zkdata``), a leaf is a file."""
    for path, _value, _parent in nodes:
        if path != "/" and path.rsplit("/", 1)[1] == DIR_DATA_FILE:
            raise CLIError(f"node name {DIR_DATA_FILE!r} cannot be stored in a directory dump "
                           "(use a .json file)", EXIT_FAILURE)
    os.makedirs(directory, exist_ok=True)
    for path, value, is_parent in nodes:
        local = directory if path == "/" else os.path.join(directory, *path.strip("/").split("/"))
        if path == "/" or is_parent:
            os.makedirs(local, exist_ok=True)
            if value:
                with open(os.path.join(local, DIR_DATA_FILE), "wb") as f:
                    f.write(value)
        else:
            with open(local, "wb") as f:
                f.write(value or b"")


class LoadItem(NamedTuple):
    path: str
    value: bytes
    acl: list[ACL] | None


def read_json_dump(source: str, stdin: IO[str]) -> list[tuple[str, bytes, list[ACL] | None]]:
    try:
        if source == "-":
            doc = json.load(stdin)
        else:
            with open(source, encoding="utf-8") as f:
                doc = json.load(f)
    except json.JSONDecodeError as e:
        raise CLIError(f"{source}: not valid JSON: {e}", EXIT_USAGE) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), dict):
        raise CLIError(f"{source}: not a zkfast dump (no 'nodes' object)", EXIT_USAGE)
    out = []
    for rel, entry in doc["nodes"].items():
        if not isinstance(entry, dict):
            raise CLIError(f"{source}: node {rel!r} must be an object", EXIT_USAGE)
        if rel not in ("", "/"):
            try:
                validate_path(rel)
            except InvalidPathError as e:
                raise CLIError(f"{source}: bad node path {rel!r}: {e}", EXIT_USAGE) from None
        acl = None
        if entry.get("acl"):
            acl = parse_acl_spec(",".join(entry["acl"]))
        out.append((rel if rel else "/", decode_value(entry, f"{source}: node {rel!r}"), acl))
    return out


def read_dir(directory: str) -> list[tuple[str, bytes, list[ACL] | None]]:
    out: list[tuple[str, bytes, list[ACL] | None]] = []

    def value_of(dirpath: str) -> bytes:
        p = os.path.join(dirpath, DIR_DATA_FILE)
        if os.path.isfile(p):
            with open(p, "rb") as f:
                return f.read()
        return b""

    out.append(("/", value_of(directory), None))
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, directory)
        base = "" if rel_dir == "." else "/" + rel_dir.replace(os.sep, "/")
        if base:
            out.append((base, value_of(dirpath), None))
        for name in sorted(filenames):
            if name == DIR_DATA_FILE:
                continue
            with open(os.path.join(dirpath, name), "rb") as f:
                out.append((f"{base}/{name}", f.read(), None))
    return out
