"""The argparse parser of ``zkfast``: global options (accepted before or after the
command name), the commands and their options, and ``lock``'s ``-- COMMAND``."""

from __future__ import annotations

import argparse
import math
from typing import Any

from .commands.nodes import CONFIRM_ABOVE
from .context import DEFAULT_HOSTS, DEFAULT_WINDOW
from .exitcodes import EXIT_CODES


def _number(kind: type, minimum: float, *, inclusive: bool, unit: str = "") -> Any:
    """An argparse ``type`` for a number with a lower bound; a bad one is a usage error
    that names the option (argparse adds "argument --timeout: ...")."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value) or value < minimum or (value == minimum and not inclusive):
            bound = f"at least {minimum:g}" if inclusive else f"more than {minimum:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}{unit}, not {text}")
        return value
    return parse


_SIZE_SUFFIXES = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def _byte_size(text: str) -> int:
    """``"4194304"``, ``"4M"``, ``"512k"`` -> bytes (binary units); more than 0."""
    t = text.strip().lower().removesuffix("b").removesuffix("i")  # 4M, 4MB and 4MiB alike
    scale = _SIZE_SUFFIXES.get(t[-1:], 1)
    digits = t[:-1] if scale != 1 else t
    try:
        value = int(digits) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size in bytes: {text!r} "
                                         "(e.g. 4194304 or 4M)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 bytes, not {text}")
    return value


POSITIVE_SECONDS = _number(float, 0, inclusive=False, unit=" seconds")
SECONDS = _number(float, 0, inclusive=True, unit=" seconds")
POSITIVE_INT = _number(int, 1, inclusive=True)
COUNT = _number(int, 0, inclusive=True)

# (flags, keyword arguments) of the global options; they may appear before or
# after the command name (unless the command has an option of the same name).
_GLOBALS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--hosts",), {"metavar": "HOSTS", "help": "connect string 'h1:2181,h2:2181[/chroot]' "
                        f"(default: $ZKFAST_HOSTS or {DEFAULT_HOSTS})"}),
    (("--auth",), {"metavar": "SCHEME:CREDENTIAL", "action": "append",
                       "help": "add an identity, e.g. digest:user:password (repeatable)"}),
    (("--sasl",), {"metavar": "USER:PASSWORD", "help": "SASL DIGEST-MD5 login (needs pure-sasl)"}),
    (("--tls",), {"action": "store_true", "help": "connect with TLS (to the secureClientPort)"}),
    (("--cafile",), {"metavar": "FILE", "help": "CA certificates to verify the server (implies --tls)"}),
    (("--certfile",), {"metavar": "FILE", "help": "client certificate (PEM) for mutual TLS"}),
    (("--keyfile",), {"metavar": "FILE", "help": "client private key (PEM), if not in --certfile"}),
    (("--no-verify",), {"action": "store_true",
                            "help": "TLS without verifying the server certificate (insecure)"}),
    (("--read-only",), {"action": "store_true",
                            "help": "accept a read-only server (a partition without quorum)"}),
    (("--timeout",), {"type": POSITIVE_SECONDS, "metavar": "SECONDS",
                          "help": "connect timeout; bulk commands also wait at most this "
                                  "long for each reply (default 10)"}),
    (("--session-timeout",), {"type": POSITIVE_SECONDS, "metavar": "SECONDS",
                                  "help": "session timeout (default 10)"}),
    (("--max-buffer-size",), {"type": _byte_size, "metavar": "BYTES",
                                  "help": "largest reply accepted, e.g. 8M (default: 1 MiB "
                                          "+ 1 KiB, as the server's jute.maxbuffer)"}),
    (("--window",), {"type": POSITIVE_INT, "metavar": "N",
                         "help": "bulk commands: operations in flight at once "
                                 f"(default {DEFAULT_WINDOW})"}),
    (("--json",), {"action": "store_true", "help": "print JSON for scripts"}),
    (("-q", "--quiet"), {"action": "store_true", "help": "no progress bars or notes on stderr"}),
    (("-v", "--verbose"), {"action": "count",
                               "help": "log to stderr (-vv: debug) and show tracebacks"}),
]
_GLOBAL_DEFAULTS: dict[str, Any] = {
    "hosts": None, "auth": None, "sasl": None, "tls": False, "cafile": None, "certfile": None,
    "keyfile": None, "no_verify": False, "read_only": False, "timeout": 10.0,
    "session_timeout": 10.0, "max_buffer_size": None, "window": DEFAULT_WINDOW, "json": False, "quiet": False,
    "verbose": 0,
}
_GLOBAL_VALUE_OPTS = {flags[0] for flags, kw in _GLOBALS
                      if kw.get("action") not in ("store_true", "count")}

EPILOG = "exit codes:\n" + "\n".join(f"  {code:>3}  {text}" for code, text in EXIT_CODES.items()) \
    + "\n  lock exits with its command's exit code."


def _add_globals(parser: argparse.ArgumentParser, on_subcommand: bool) -> None:
    group = parser.add_argument_group("global options" if not on_subcommand else
                                      "global options (also accepted before the command)")
    for flags, kw in _GLOBALS:
        if on_subcommand and any(f in parser._option_string_actions for f in flags):
            continue  # the command's own option of that name wins here
        kw = dict(kw)
        dest = flags[-1].lstrip("-").replace("-", "_")
        if on_subcommand:
            kw["dest"] = "sub_" + dest
            kw["default"] = argparse.SUPPRESS
            kw["help"] = argparse.SUPPRESS
        else:
            kw["dest"] = dest
            kw["default"] = _GLOBAL_DEFAULTS[dest]
        group.add_argument(*flags, **kw)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the ``zkfast`` command."""
    from .. import __version__
    p = argparse.ArgumentParser(
        prog="zkfast", description="A fast ZooKeeper command line.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"zkfast {__version__}")
    _add_globals(p, on_subcommand=False)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help)

    s = add("ls", "list the children of a node")
    s.add_argument("-R", "--recursive", action="store_true", help="every descendant, full paths")
    s.add_argument("path", metavar="PATH")

    s = add("get", "print a node's value (raw bytes; --json: text or base64 plus stat)")
    s.add_argument("path", metavar="PATH")

    s = add("stat", "print a node's metadata")
    s.add_argument("path", metavar="PATH")

    s = add("set", "replace a node's value")
    s.add_argument("path", metavar="PATH")
    s.add_argument("value", metavar="VALUE", help="the new value, or - to read stdin")
    s.add_argument("--version", type=int, default=-1, help="only if the node is at this version")

    s = add("create", "create a node and print its path")
    s.add_argument("-e", "--ephemeral", action="store_true",
                   help="ephemeral (gone when this command ends: mostly for tests)")
    s.add_argument("-s", "--sequence", action="store_true", help="append a sequence number")
    s.add_argument("--ttl", type=float, metavar="SECONDS",
                   help="a TTL node (server needs extendedTypesEnabled)")
    s.add_argument("--container", action="store_true",
                   help="a container node (removed by the server once its last child goes)")
    s.add_argument("-p", "--parents", action="store_true", help="create missing parents")
    s.add_argument("--acl", action="append", metavar="ACLSPEC",
                   help="e.g. world:anyone:r,digest:bob:HASH:cdrwa (default: open)")
    s.add_argument("path", metavar="PATH")
    s.add_argument("value", metavar="VALUE", nargs="?", help="the value, or - to read stdin")

    s = add("rm", "delete a node")
    s.add_argument("-r", "--recursive", action="store_true", help="with its whole subtree")
    s.add_argument("-y", "--yes", action="store_true",
                   help=f"-r on a terminal: do not ask before deleting a whole tree or more "
                        f"than {CONFIRM_ABOVE} nodes")
    s.add_argument("--version", type=int, default=-1, help="only if the node is at this version")
    s.add_argument("path", metavar="PATH")

    s = add("tree", "draw a subtree like the tree command")
    s.add_argument("-L", "--level", type=COUNT, metavar="N", help="descend at most N levels")
    s.add_argument("path", metavar="PATH", nargs="?", default="/")

    s = add("watch", "stream change events under a node (persistent watch)")
    s.add_argument("-r", "--recursive", action="store_true", help="every node below too")
    s.add_argument("--count", type=POSITIVE_INT, metavar="N", help="stop after N events")
    s.add_argument("--timeout", type=SECONDS, metavar="SECONDS", dest="watch_timeout",
                   help="stop after SECONDS (exit 6 if --count events did not come)")
    s.add_argument("path", metavar="PATH")

    s = add("acl", "get or set a node's ACL")
    acl_sub = s.add_subparsers(dest="acl_command", metavar="get|set")
    acl_sub.required = True
    g = acl_sub.add_parser("get", help="print the ACL, one scheme:id:perms a line")
    g.add_argument("path", metavar="PATH")
    g = acl_sub.add_parser("set", help="replace the ACL")
    g.add_argument("--version", type=int, default=-1, help="only if the ACL is at this version")
    g.add_argument("path", metavar="PATH")
    g.add_argument("spec", metavar="ACLSPEC", nargs="+",
                   help="scheme:id:perms[,...], e.g. world:anyone:cdrwa, auth::cdrwa, "
                        "digest:user:HASH:rw, ip:10.0.0.0/8:r")

    s = add("dump", "save a subtree as JSON (stdout or FILE.json) or a directory tree")
    s.add_argument("--out", "-o", metavar="FILE.json|DIR", help="where to write (default: stdout)")
    s.add_argument("--acl", action="store_true", help="include each node's ACL (JSON only)")
    s.add_argument("path", metavar="PATH", nargs="?", default="/")

    s = add("load", "restore a dump (FILE.json, - for stdin, or DIR) under PATH")
    s.add_argument("--no-overwrite", action="store_true",
                   help="leave existing nodes' values alone (default: overwrite)")
    s.add_argument("source", metavar="FILE.json|DIR")
    s.add_argument("path", metavar="PATH")

    s = add("du", "node counts and data bytes per subtree, largest first")
    s.add_argument("-d", "--depth", type=COUNT, default=1, metavar="N",
                   help="report subtrees down to depth N (default 1)")
    s.add_argument("--by", choices=("bytes", "nodes"), default="bytes", help="sort key")
    s.add_argument("-H", "--human", action="store_true", help="sizes as 1.2K, 3.4M")
    s.add_argument("path", metavar="PATH", nargs="?", default="/")

    s = add("health", "ruok/srvr/mntr of every server in --hosts, as a table")
    s.add_argument("--client", action="store_true",
                   help="also connect as a client and report that connection: server, "
                        "session, connect time, round trip of a few probes")
    s.add_argument("--probes", type=POSITIVE_INT, default=5, metavar="N",
                   help="with --client: probe requests to time (default 5)")

    s = add("lock", "hold a lock while running a command; exit with its exit code")
    s.add_argument("--timeout", type=SECONDS, metavar="SECONDS", dest="lock_timeout",
                   help="give up (exit 6) if the lock is not acquired in time")
    s.add_argument("--identifier", metavar="TEXT", help="stored in the lock node")
    s.add_argument("path", metavar="PATH")
    s.add_argument("command_argv", metavar="COMMAND", nargs="*",
                   help="the command and its arguments, after --")

    s = add("digest", "print the digest ACL id of USER:PASSWORD (for acl set)")
    s.add_argument("credential", metavar="USER:PASSWORD")

    for name, subparser in sub.choices.items():
        _add_globals(subparser, on_subcommand=True)
        if name == "acl":
            for acl_parser in acl_sub.choices.values():
                _add_globals(acl_parser, on_subcommand=True)
    return p


def _split_command(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """For ``lock``: split ``argv`` at the first ``--`` after the command name."""
    i = 0
    command = None
    while i < len(argv):
        tok = argv[i]
        if tok == "--":
            break
        if tok.startswith("-"):
            if tok in _GLOBAL_VALUE_OPTS and "=" not in tok:
                i += 1
        else:
            command = tok
            break
        i += 1
    if command != "lock" or "--" not in argv[i:]:
        return argv, None
    j = argv.index("--", i)
    return argv[:j], argv[j + 1:]



def parse(argv: list[str]) -> argparse.Namespace:
    head, tail = _split_command(argv)
    args = build_parser().parse_args(head)
    for dest in _GLOBAL_DEFAULTS:
        sub = "sub_" + dest
        if hasattr(args, sub):
            v = getattr(args, sub)
            delattr(args, sub)
            if isinstance(v, list):
                setattr(args, dest, (getattr(args, dest) or []) + v)
            elif dest == "verbose":
                setattr(args, dest, (getattr(args, dest) or 0) + v)
            else:
                setattr(args, dest, v)
    if tail is not None:
        args.command_argv = list(args.command_argv or []) + tail
    return args
