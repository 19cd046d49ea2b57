"""ZooKeeper path rules (PathUtils.validatePath) and chroot handling."""

from __future__ import annotations

import re
from typing import Optional

from .errors import InvalidPathError

__all__ = ["validate_path", "join_chroot", "strip_chroot", "normalize_chroot", "parent", "basename",
           "join"]

# Characters a 3.8 server refuses, checked against a real one: 0x00-0x1f,
# 0x7f-0x9f, 0xd800-0xf8ff and 0xfff0-0xffff, ends included (PathUtils' source
# reads as if the ends were allowed, but they come back as BadArguments). Also
# every character outside the Basic Multilingual Plane: the server checks Java
# chars, and Java spells those characters as surrogate pairs (0xd800-0xdfff).
# Also empty segments, "." and ".." segments.
_BAD = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\uf8ff\ufff0-\uffff\U00010000-\U0010ffff]"
    "|//|/\\.\\.?(?:/|$)")


def validate_path(path: object, sequential: bool = False) -> str:
    """Return ``path`` if ZooKeeper accepts it, else raise :class:`InvalidPathError`.

    A sequential create may end with ``/`` (the server appends the counter).
    """
    if type(path) is not str:
        raise InvalidPathError(f"path must be a str, not {type(path).__name__}")
    if not path or path[0] != "/":
        raise InvalidPathError("path must start with '/'", path=path)
    if len(path) == 1:
        return path
    check = path + "1" if sequential else path
    if check[-1] == "/":
        raise InvalidPathError("path must not end with '/'", path=path)
    m = _BAD.search(check)
    if m is not None:
        token = m.group()
        if token.startswith("/"):
            if token == "//":
                raise InvalidPathError("empty node name", path=path)
            raise InvalidPathError("relative path segment ('.' or '..')", path=path)
        raise InvalidPathError(f"invalid character {token!r}", path=path)
    return path


def normalize_chroot(chroot: Optional[str]) -> str:
    """'' for no chroot, else the validated chroot without a trailing '/'."""
    if not chroot or chroot == "/":
        return ""
    chroot = chroot.rstrip("/")
    validate_path(chroot)
    return chroot


def join_chroot(chroot: str, path: str) -> str:
    if not chroot:
        return path
    if path == "/":
        return chroot
    return chroot + path


def strip_chroot(chroot: str, server_path: Optional[str]) -> Optional[str]:
    """The client's view of a server path; paths outside the chroot pass unchanged."""
    if not chroot or server_path is None:
        return server_path
    if server_path.startswith(chroot):
        rest = server_path[len(chroot):]
        if not rest:
            return "/"
        if rest[0] == "/":
            return rest
    return server_path


def parent(path: str) -> str:
    i = path.rfind("/")
    return path[:i] if i > 0 else "/"


def basename(path: str) -> str:
    return path[path.rfind("/") + 1:]


def join(parent: str, name: str) -> str:
    """``parent + "/" + name`` without doubling the root slash."""
    return f"/{name}" if parent == "/" else f"{parent}/{name}"
