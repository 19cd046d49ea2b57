"""kazoo's path helpers: kazoo accepts relative and unnormalised paths
(``"a//b/"``) and makes them absolute; ``.`` and ``..`` segments are refused.

>>> normpath("//a////b///c/")
'/a/b/c'
>>> join("/a", "b", "c")
'/a/b/c'
"""

from __future__ import annotations

__all__ = ["normpath", "join", "isabs", "basename"]


def normpath(path: str, trailing: bool = False) -> str:
    """``path`` without empty segments; a ``.`` or ``..`` segment is a ValueError.

    A leading ``/`` stays; with ``trailing`` a trailing ``/`` does too (a
    sequential create's "name is just the counter").
    """
    segments = [s for s in path.split("/") if s]
    for s in segments:
        if s == "." or s == "..":
            raise ValueError(f"relative paths not allowed: {path!r}")
    out = "/".join(segments)
    if trailing and path.endswith("/") and out:
        out += "/"
    return "/" + out if path.startswith("/") else out


def join(a: str, *p: str) -> str:
    """Join path components with ``/``; an absolute component restarts the path."""
    path = a
    for b in p:
        if b.startswith("/"):
            path = b
        elif not path or path.endswith("/"):
            path += b
        else:
            path += "/" + b
    return path


def isabs(s: str) -> bool:
    """Whether ``s`` is absolute (starts with ``/``)."""
    return s.startswith("/")


def basename(p: str) -> str:
    """The last component (``""`` for a path ending with ``/``)."""
    return p[p.rfind("/") + 1:]


def _norm_root(root: str) -> str:
    """A chroot as an absolute normalised path (``""`` -> ``"/"``)."""
    return normpath(join("/", root))


def _prefix_root(root: str, path: str, trailing: bool = False) -> str:
    """``path`` below the chroot ``root``, normalised (kazoo's server path)."""
    return normpath(join(_norm_root(root), path.lstrip("/")), trailing=trailing)
