"""The commands of ``zkfast``: each takes a :class:`~zkfast.cli.context.Context` and
returns an exit code."""

from __future__ import annotations

from typing import Callable

from ..context import Context
from .health import cmd_health
from .listing import cmd_du, cmd_ls, cmd_tree
from .lock import cmd_lock
from .nodes import cmd_acl, cmd_create, cmd_digest, cmd_get, cmd_rm, cmd_set, cmd_stat
from .transfer import cmd_dump, cmd_load
from .watch import cmd_watch

__all__ = ["COMMANDS"]

COMMANDS: dict[str, Callable[[Context], int]] = {
    "ls": cmd_ls, "get": cmd_get, "stat": cmd_stat, "set": cmd_set, "create": cmd_create,
    "rm": cmd_rm, "tree": cmd_tree, "watch": cmd_watch, "acl": cmd_acl, "dump": cmd_dump,
    "load": cmd_load, "du": cmd_du, "health": cmd_health, "lock": cmd_lock,
    "digest": cmd_digest,
}
