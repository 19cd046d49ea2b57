"""The ``zkfast`` command line: look at and fix a ZooKeeper tree from a shell.

::

    zkfast --hosts zk1:2181,zk2:2181/app ls -R /
    zkfast get /config | jq .
    zkfast watch -r /workers --count 1 --timeout 30
    zkfast dump / --out backup.json && zkfast load backup.json /restored
    zkfast lock /locks/nightly -- ./nightly-job.sh

Every command connects with the global options (``--hosts`` or ``$ZKFAST_HOSTS``,
``--auth``, TLS flags, ``--timeout``), prints plain text for people or one JSON
document with ``--json`` for scripts, and ends with an exit code scripts can
trust (see :data:`EXIT_CODES`). Errors are one line on stderr; ``-v`` adds
logging and tracebacks.

Tables and progress bars use ``rich`` or ``tqdm`` when one of them is
installed and the output is a terminal; otherwise plain text. zkfast itself
depends on neither.

Bulk commands (``ls -R``, ``tree``, ``du``, ``dump``, ``rm -r``) use
:mod:`zkfast.recipe.bulk`: hundreds of operations per ``multi_read``/``multi``
request, several requests in flight; ``load`` pipelines single creates. At
most ``--window`` operations are in flight, so a tree of 100,000 nodes takes
seconds, not minutes.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import itertools
import json
import logging
import os
import queue
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import IO, Any, Callable, NamedTuple

from . import flw
from .acl import ACL, Id, Perm, make_digest_id
from .client import Client, Future
from .errors import (
    AuthFailedError,
    BadArgumentsError,
    BadVersionError,
    ClosedError,
    ConnectionLossError,
    InvalidACLError,
    InvalidArgumentError,
    InvalidPathError,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
    NoServerError,
    NotEmptyError,
    OperationTimeoutError,
    RequestTimeoutError,
    SessionClosedRequireSaslAuthError,
    SessionExpiredError,
    SessionMovedError,
    TransactionFailedError,
    WaitTimeoutError,
    ZooKeeperError,
)
from .events import EventType, State, WatchedEvent
from .hosts import format_address, parse_connect_string
from .paths import parent, validate_path
from .recipe import bulk
from .records import Stat

__all__ = ["EXIT_CODES", "CLIError", "build_parser", "format_acl", "main", "parse_acl_spec"]

log = logging.getLogger("zkfast.cli")

# ---------------------------------------------------------------- exit codes

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NO_NODE = 3
EXIT_NODE_EXISTS = 4
EXIT_BAD_VERSION = 5
EXIT_CONNECTION = 6
EXIT_AUTH = 7
EXIT_NOT_EMPTY = 8
EXIT_UNHEALTHY = 9
EXIT_COMMAND_NOT_FOUND = 127
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_FAILURE: "any other failure",
    EXIT_USAGE: "usage error: bad option, argument, path or ACL spec",
    EXIT_NO_NODE: "the node does not exist",
    EXIT_NODE_EXISTS: "the node already exists",
    EXIT_BAD_VERSION: "version conflict (--version did not match)",
    EXIT_CONNECTION: "could not connect, connection lost, session expired or timed out",
    EXIT_AUTH: "not authenticated / not allowed by the ACL / authentication failed / invalid ACL",
    EXIT_NOT_EMPTY: "the node has children (use rm -r)",
    EXIT_UNHEALTHY: "health: at least one server is not serving",
    EXIT_COMMAND_NOT_FOUND: "lock: the command could not be started",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); watch ends with 0",
    EXIT_BROKEN_PIPE: "stdout was closed early (e.g. piped into head)",
}
"""Exit codes and what they mean; ``lock`` exits with its command's code."""

DEFAULT_HOSTS = "127.0.0.1:2181"
DEFAULT_WINDOW = bulk.OPS_PER_REQUEST * bulk.MAX_REQUESTS  # 256 ops x 16 requests
DIR_DATA_FILE = ".zkdata"
"""In a directory dump, the file inside a node's directory holding its value."""
DUMP_FORMAT = 1


class CLIError(Exception):
    """A failure the command line reports as one line and an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an exception raised while running a command."""
    if isinstance(exc, CLIError):
        return exc.code
    if isinstance(exc, TransactionFailedError) and exc.failure is not None:
        return exit_code_for(exc.failure)
    if isinstance(exc, NoNodeError):
        return EXIT_NO_NODE
    if isinstance(exc, NodeExistsError):
        return EXIT_NODE_EXISTS
    if isinstance(exc, BadVersionError):
        return EXIT_BAD_VERSION
    if isinstance(exc, NotEmptyError):
        return EXIT_NOT_EMPTY
    if isinstance(exc, (NoAuthError, AuthFailedError, InvalidACLError,
                        SessionClosedRequireSaslAuthError)):
        return EXIT_AUTH
    if isinstance(exc, (InvalidPathError, InvalidArgumentError, BadArgumentsError)):
        return EXIT_USAGE
    if isinstance(exc, (ConnectionLossError, SessionExpiredError, WaitTimeoutError,
                        NoServerError, ClosedError, OperationTimeoutError, RequestTimeoutError,
                        SessionMovedError, flw.FLWConnectionError, TimeoutError,
                        ConnectionError)):
        return EXIT_CONNECTION
    return EXIT_FAILURE


# ---------------------------------------------------------------- ACL specs

_PERM_LETTERS = (("c", Perm.CREATE), ("d", Perm.DELETE), ("r", Perm.READ),
                 ("w", Perm.WRITE), ("a", Perm.ADMIN))


def format_perms(perms: int) -> str:
    """``31`` -> ``"cdrwa"`` (zkCli's letters and order)."""
    return "".join(ch for ch, flag in _PERM_LETTERS if perms & flag)


def parse_perms(text: str) -> int:
    """``"rw"`` -> ``Perm.READ | Perm.WRITE``; ``"cdrwa"`` or ``"all"`` -> ``Perm.ALL``."""
    if text.lower() == "all":
        return int(Perm.ALL)
    perms = 0
    letters = dict(_PERM_LETTERS)
    for ch in text.lower():
        if ch not in letters:
            raise CLIError(f"invalid permission {ch!r} in {text!r} (use letters of 'cdrwa')",
                           EXIT_USAGE)
        perms |= letters[ch]
    if not perms:
        raise CLIError("an ACL needs at least one permission (letters of 'cdrwa')", EXIT_USAGE)
    return perms


def parse_acl_spec(spec: str) -> list[ACL]:
    """``"world:anyone:cdrwa,digest:bob:HASH=:rw"`` -> a list of :class:`ACL`.

    Each entry is ``scheme:id:perms``; the id may itself contain colons
    (``digest:user:hash``, IPv6 addresses); ``auth::cdrwa`` has an empty id.
    """
    acls: list[ACL] = []
    for entry in spec.split(","):
        entry = entry.strip()
        if not entry:
            continue
        scheme, sep, rest = entry.partition(":")
        ident, sep2, perms = rest.rpartition(":")
        if not sep or not sep2 or not scheme:
            raise CLIError(f"invalid ACL {entry!r}: expected scheme:id:perms, "
                           "e.g. world:anyone:cdrwa", EXIT_USAGE)
        acls.append(ACL(parse_perms(perms), Id(scheme, ident)))
    if not acls:
        raise CLIError(f"empty ACL spec {spec!r}", EXIT_USAGE)
    return acls


def format_acl(acl: ACL) -> str:
    """``ACL(31, Id("world", "anyone"))`` -> ``"world:anyone:cdrwa"``."""
    return f"{acl.id.scheme}:{acl.id.id}:{format_perms(acl.perms)}"


def _acl_json(acl: ACL) -> dict[str, Any]:
    return {"scheme": acl.id.scheme, "id": acl.id.id, "perms": format_perms(acl.perms)}


# ---------------------------------------------------------------- output helpers


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _encode_value(value: bytes | None) -> dict[str, Any]:
    """A node value for JSON: text when it is UTF-8, else base64."""
    if value is None:
        return {"value": None}
    try:
        return {"value": value.decode("utf-8")}
    except UnicodeDecodeError:
        return {"value": base64.b64encode(value).decode("ascii"), "encoding": "base64"}


def _decode_value(entry: dict[str, Any], where: str) -> bytes:
    value = entry.get("value")
    if value is None:
        return b""
    if not isinstance(value, str):
        raise CLIError(f"{where}: 'value' must be a string or null", EXIT_USAGE)
    enc = entry.get("encoding", "utf-8")
    if enc == "base64":
        try:
            return base64.b64decode(value.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError):
            raise CLIError(f"{where}: invalid base64 value", EXIT_USAGE) from None
    if enc not in ("utf-8", "utf8"):
        raise CLIError(f"{where}: unknown encoding {enc!r} (utf-8 or base64)", EXIT_USAGE)
    return value.encode("utf-8")


def _ms_to_iso(ms: int) -> str:
    if not ms:
        return "0"
    dt = datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _stat_json(stat: Stat) -> dict[str, Any]:
    return dict(stat._asdict())


def _human(n: float) -> str:
    for unit in ("B", "K", "M", "G", "T"):
        if abs(n) < 1024 or unit == "T":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024.0
    return f"{n:.1f}T"  # pragma: no cover


def _child(path: str, name: str) -> str:
    return f"/{name}" if path == "/" else f"{path}/{name}"


class Output:
    """Where a command writes: text to ``out``, diagnostics to ``err``."""

    def __init__(self, out: IO[str], err: IO[str], json_mode: bool, quiet: bool) -> None:
        self.out = out
        self.err = err
        self.json = json_mode
        self.quiet = quiet

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def info(self, text: str) -> None:
        """An informational line on stderr (suppressed by ``-q``)."""
        if not self.quiet:
            self.err.write(f"zkfast: {text}\n")
            self.err.flush()

    def warn(self, text: str) -> None:
        self.err.write(f"zkfast: warning: {text}\n")
        self.err.flush()

    def emit_json(self, obj: Any) -> None:
        pretty = _isatty(self.out)
        self.out.write(json.dumps(obj, indent=2 if pretty else None, ensure_ascii=False,
                                  default=str) + "\n")

    def write_bytes(self, data: bytes) -> None:
        self.out.flush()
        buf = getattr(self.out, "buffer", None)
        if buf is not None:
            buf.write(data)
            buf.flush()
        else:
            self.out.write(data.decode("utf-8", errors="replace"))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]],
              right: Sequence[bool] = ()) -> None:
        """Columns; numbers right-aligned. Uses rich on a terminal if installed."""
        cells = [["" if c is None else str(c) for c in row] for row in rows]
        if _isatty(self.out):
            try:
                rich_console = importlib.import_module("rich.console")
                rich_table = importlib.import_module("rich.table")
            except ImportError:
                pass
            else:
                table = rich_table.Table(show_edge=False, box=None, pad_edge=False)
                for i, h in enumerate(headers):
                    table.add_column(h, justify="right" if i < len(right) and right[i] else "left")
                for row in cells:
                    table.add_row(*row)
                rich_console.Console(file=self.out).print(table)
                return
        widths = [len(h) for h in headers]
        for row in cells:
            for i, c in enumerate(row):
                widths[i] = max(widths[i], len(c))

        def fmt(row: Sequence[str]) -> str:
            parts = []
            for i, c in enumerate(row):
                if i < len(right) and right[i]:
                    parts.append(c.rjust(widths[i]))
                elif i == len(row) - 1:
                    parts.append(c)
                else:
                    parts.append(c.ljust(widths[i]))
            return "  ".join(parts).rstrip()

        self.line(fmt(list(headers)))
        for row in cells:
            self.line(fmt(row))


class Progress:
    """A progress bar on stderr for long work: tqdm or rich if installed, else a
    plain one-line counter. Shown only on a terminal, only after half a second,
    never with ``-q``/``--json`` piped output."""

    DELAY = 0.5

    def __init__(self, output: Output, desc: str, total: int | None = None,
                 enabled: bool | None = None) -> None:
        self.output = output
        self.desc = desc
        self.total = total
        self.n = 0
        self.enabled = (not output.quiet and _isatty(output.err)) if enabled is None else enabled
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False
        self._bar: Any = None
        self._rich: Any = None
        if not self.enabled:
            return
        try:
            tqdm = importlib.import_module("tqdm")
        except ImportError:
            pass
        else:
            self._bar = tqdm.tqdm(total=total, desc=desc, unit="node", file=output.err,
                             leave=False, mininterval=0.1, delay=self.DELAY)
            return
        try:
            rich_console = importlib.import_module("rich.console")
            rich_progress = importlib.import_module("rich.progress")
        except ImportError:
            pass
        else:
            self._rich = rich_progress.Progress(console=rich_console.Console(file=output.err),
                                                transient=True)
            self._rich.start()
            self._task = self._rich.add_task(desc, total=total)

    def set_total(self, total: int) -> None:
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()
        elif self._rich is not None:
            self._rich.update(self._task, total=total)

    def update(self, n: int = 1) -> None:
        self.n += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        if self._rich is not None:
            self._rich.update(self._task, advance=n)
            return
        now = time.monotonic()
        if now - self._start < self.DELAY or now - self._last_draw < 0.1:
            return
        self._last_draw = now
        if self.total:
            pct = min(100.0, 100.0 * self.n / self.total)
            text = f"\r{self.desc}: {self.n}/{self.total} nodes ({pct:.0f}%)"
        else:
            text = f"\r{self.desc}: {self.n} nodes"
        self.output.err.write(text)
        self.output.err.flush()
        self._drawn = True

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._rich is not None:
            self._rich.stop()
            self._rich = None
        elif self._drawn:
            self.output.err.write("\r\x1b[K")
            self.output.err.flush()
            self._drawn = False

    def __enter__(self) -> Progress:  # noqa: PYI034 - typing.Self needs 3.11
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_SPINNER = "|/-\\"


class Busy:
    """An elapsed-time indicator on stderr around one long call that cannot report
    progress (the bulk reads and deletes of ``zkfast.recipe.bulk``). Like
    :class:`Progress`: only on a terminal, only after half a second, not with ``-q``."""

    def __init__(self, output: Output, desc: str, enabled: bool | None = None) -> None:
        self.output = output
        self.desc = desc
        self.enabled = (not output.quiet and _isatty(output.err)) if enabled is None else enabled
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drawn = False
        self._start = 0.0

    def __enter__(self) -> Busy:  # noqa: PYI034 - typing.Self needs 3.11
        if self.enabled:
            self._start = time.monotonic()
            self._thread = threading.Thread(target=self._run, name="zkfast-cli-busy", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        if self._stop.wait(Progress.DELAY):
            return
        err = self.output.err
        for i in itertools.count():
            spin = _SPINNER[i % len(_SPINNER)]
            err.write(f"\r{self.desc} {spin} {time.monotonic() - self._start:.0f}s")
            err.flush()
            self._drawn = True
            if self._stop.wait(0.2):
                return

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            if self._drawn:
                self.output.err.write("\r\x1b[K")
                self.output.err.flush()


# ---------------------------------------------------------------- context


class Context:
    """Everything a command needs: parsed args, output, and a lazily connected client."""

    def __init__(self, args: argparse.Namespace, output: Output, stdin: IO[str]) -> None:
        self.args = args
        self.output = output
        self.stdin = stdin
        self.timeout: float = args.timeout
        self.window: int = args.window
        self._client: Client | None = None

    @property
    def zk(self) -> Client:
        if self._client is None:
            self._client = connect(self.args)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            client.close()

    def read_value(self, value: str | None) -> bytes:
        """A VALUE argument: literal text, or ``-`` to read bytes from stdin."""
        if value is None:
            return b""
        if value == "-":
            buf = getattr(self.stdin, "buffer", None)
            if buf is not None:
                return bytes(buf.read())
            return self.stdin.read().encode("utf-8")
        return value.encode("utf-8")

    def result(self, fut: Future) -> Any:
        return fut.result(self.timeout)


def ssl_context_from_args(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The TLS context the flags ask for, or None for plain TCP."""
    if not (args.tls or args.cafile or args.certfile or args.keyfile or args.no_verify):
        return None
    try:
        ctx = ssl.create_default_context(cafile=args.cafile)
        if args.certfile:
            ctx.load_cert_chain(args.certfile, args.keyfile)
        elif args.keyfile:
            raise CLIError("--keyfile needs --certfile", EXIT_USAGE)
    except (OSError, ssl.SSLError) as e:
        raise CLIError(f"TLS setup failed: {e}", EXIT_USAGE) from None
    if args.no_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _auth_pairs(specs: Sequence[str]) -> list[tuple[str, str]]:
    pairs = []
    for spec in specs:
        scheme, sep, cred = spec.partition(":")
        if not sep or not scheme:
            raise CLIError(f"invalid --auth {spec!r}: expected scheme:credential, "
                           "e.g. digest:user:password", EXIT_USAGE)
        pairs.append((scheme, cred))
    return pairs


def connect(args: argparse.Namespace) -> Client:
    """A started :class:`~zkfast.Client` for the global options."""
    sasl: dict[str, Any] | None = None
    if args.sasl:
        user, sep, password = args.sasl.partition(":")
        if not sep or not user:
            raise CLIError("invalid --sasl: expected USER:PASSWORD", EXIT_USAGE)
        sasl = {"mechanism": "DIGEST-MD5", "username": user, "password": password}
    try:
        client = Client(args.hosts, session_timeout=args.session_timeout,
                        auth_data=_auth_pairs(args.auth or []),
                        ssl_context=ssl_context_from_args(args), read_only=args.read_only,
                        sasl_options=sasl)
    except ValueError as e:  # a bad connect string
        raise CLIError(f"invalid --hosts {args.hosts!r}: {e}", EXIT_USAGE) from None
    client.start(timeout=args.timeout)
    return client


# ---------------------------------------------------------------- bulk helpers


def bulk_window(ctx: Context) -> dict[str, int]:
    """``--window`` (operations in flight) as ``zkfast.recipe.bulk`` arguments."""
    per = max(1, min(bulk.OPS_PER_REQUEST, ctx.window))
    return {"ops_per_request": per, "max_requests": max(1, ctx.window // per)}


def depth_below(root: str, path: str) -> int:
    """0 for ``root`` itself, 1 for its children, ..."""
    rel = path[len(root):] if root != "/" else path
    return rel.count("/")


def is_system(zk: Client, path: str) -> bool:
    """The server's own ``/zookeeper`` subtree (only visible without a chroot)."""
    return not zk.chroot and (path == "/zookeeper" or path.startswith("/zookeeper/"))


def pipeline(ctx: Context, items: Iterator[Any], submit: Callable[[Any], Future],
             done: Callable[[Any, Any, BaseException | None], None]) -> None:
    """``submit(item)`` for every item with at most ``ctx.window`` in flight;
    ``done(item, result, error)`` for each, in submission order."""
    inflight: deque[tuple[Any, Future]] = deque()
    window = max(1, ctx.window)

    def finish() -> None:
        item, fut = inflight.popleft()
        try:
            res = ctx.result(fut)
        except WaitTimeoutError:
            raise
        except ZooKeeperError as e:
            done(item, None, e)
        else:
            done(item, res, None)

    for item in items:
        inflight.append((item, submit(item)))
        if len(inflight) >= window:
            finish()
    while inflight:
        finish()


# ---------------------------------------------------------------- commands


def cmd_ls(ctx: Context) -> int:
    a = ctx.args
    out = ctx.output
    if not a.recursive:
        names = sorted(ctx.zk.get_children(a.path))
    else:
        if ctx.zk.exists(a.path) is None:
            raise NoNodeError(path=a.path)
        with Progress(out, f"listing {a.path}") as progress:
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


def cmd_get(ctx: Context) -> int:
    value, stat = ctx.zk.get(ctx.args.path)
    out = ctx.output
    if out.json:
        out.emit_json({"path": ctx.args.path, **_encode_value(value), "stat": _stat_json(stat)})
        return EXIT_OK
    data = value or b""
    if _isatty(out.out) and data and not data.endswith(b"\n"):
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
        out.emit_json({"path": ctx.args.path, **_stat_json(stat)})
        return EXIT_OK
    for label, field, kind in _STAT_LINES:
        v = getattr(stat, field)
        text = f"0x{v & 0xFFFFFFFFFFFFFFFF:x}" if kind == "hex" else (
            _ms_to_iso(v) if kind == "time" else str(v))
        out.line(f"{label} = {text}")
    return EXIT_OK


def cmd_set(ctx: Context) -> int:
    a = ctx.args
    stat = ctx.zk.set(a.path, ctx.read_value(a.value), version=a.version)
    if ctx.output.json:
        ctx.output.emit_json({"path": a.path, "stat": _stat_json(stat)})
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


def cmd_rm(ctx: Context) -> int:
    a = ctx.args
    zk = ctx.zk
    if not a.recursive:
        zk.delete(a.path, version=a.version)
        return EXIT_OK
    if a.version != -1:
        raise CLIError("--version cannot be used with -r", EXIT_USAGE)
    if zk.exists(a.path) is None:
        raise NoNodeError(path=a.path)
    with Busy(ctx.output, f"deleting {a.path}"):
        count = bulk.delete_tree(zk, a.path, **bulk_window(ctx))
    if ctx.output.json:
        ctx.output.emit_json({"path": a.path, "deleted": count})
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
    with Progress(out, f"listing {root}") as progress:
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
                entry["children"] = [build(_child(path, c), c) for c in kids[path]]
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
            draw(_child(path, name), prefix + (blank if is_last else pipe))

    draw(root, "")
    out.line("")
    out.line(f"{shown} node{'s' if shown != 1 else ''}")
    return EXIT_OK


def cmd_watch(ctx: Context) -> int:
    a = ctx.args
    out = ctx.output
    zk = ctx.zk
    events: queue.Queue[WatchedEvent] = queue.Queue()
    states: queue.Queue[State] = queue.Queue()
    zk.add_listener(states.put)
    zk.add_watch(a.path, events.put, recursive=a.recursive)
    out.info(f"watching {a.path}{' recursively' if a.recursive else ''} "
             "(Ctrl-C to stop)")
    deadline = None if a.watch_timeout is None else time.monotonic() + a.watch_timeout
    seen = 0
    try:
        while a.count is None or seen < a.count:
            while not states.empty():
                st = states.get_nowait()
                if st in (State.SUSPENDED, State.CONNECTED):
                    out.info(f"connection state: {st.value}")
            wait = 0.2
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    if a.count is not None:
                        out.err.write(f"zkfast: timed out after {a.watch_timeout:g}s with {seen} of "
                                      f"{a.count} events\n")
                        return EXIT_CONNECTION
                    return EXIT_OK
                wait = min(wait, left)
            try:
                ev = events.get(timeout=wait)
            except queue.Empty:
                continue
            if ev.type == EventType.NOT_WATCHING:
                raise CLIError(f"the watch ended: {ev.error or 'session closed'}", EXIT_CONNECTION)
            seen += 1
            if out.json:
                out.emit_json({"type": ev.type.name, "path": ev.path, "state": ev.state.value})
            else:
                out.line(f"{ev.type.name} {ev.path}")
            out.out.flush()
    except KeyboardInterrupt:
        return EXIT_OK  # Ctrl-C is the normal way to stop watching
    return EXIT_OK


def cmd_acl(ctx: Context) -> int:
    a = ctx.args
    out = ctx.output
    if a.acl_command == "get":
        acls, stat = ctx.zk.get_acls(a.path)
        if out.json:
            out.emit_json([_acl_json(x) for x in acls])
        else:
            for x in acls:
                out.line(format_acl(x))
        return EXIT_OK
    acls = parse_acl_spec(",".join(a.spec))
    stat = ctx.zk.set_acls(a.path, acls, version=a.version)
    if out.json:
        out.emit_json({"path": a.path, "acl": [_acl_json(x) for x in acls],
                       "stat": _stat_json(stat)})
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


# ---- dump / load


def _dump_target(out: str | None) -> str:
    if out is None or out == "-":
        return "stdout"
    if out.endswith(".json") or (os.path.exists(out) and not os.path.isdir(out)):
        return "json"
    return "dir"


def read_tree(ctx: Context, root: str, desc: str, *, system: bool = True) -> dict[str, Any]:
    """``{path: NodeData(data, stat)}`` of the subtree (``zkfast.recipe.bulk.get_tree``);
    without ``system`` the server's ``/zookeeper`` nodes are left out."""
    zk = ctx.zk
    if zk.exists(root) is None:
        raise NoNodeError(path=root)
    with Busy(ctx.output, desc):
        tree: dict[str, Any] = bulk.get_tree(zk, root, **bulk_window(ctx))
    if not system:
        tree = {p: d for p, d in tree.items() if not is_system(zk, p)}
    return tree


def _by_segments(path: str) -> list[str]:
    """Sort key that puts parents before children and siblings in name order."""
    return [] if path == "/" else path.split("/")


def cmd_dump(ctx: Context) -> int:
    a = ctx.args
    output = ctx.output
    zk = ctx.zk
    root = a.path
    target = _dump_target(a.out)
    if target == "dir" and os.path.isdir(a.out) and os.listdir(a.out):
        raise CLIError(f"{a.out} exists and is not empty", EXIT_FAILURE)
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

    ordered = sorted(kept, key=_by_segments)
    size = sum(len(kept[p].data or b"") for p in ordered)
    if target == "dir":
        parents = {parent(p) for p in ordered if p != root}
        _write_dir(a.out, [(rel(p), kept[p].data, p in parents) for p in ordered])
    else:
        nodes: dict[str, dict[str, Any]] = {}
        for p in ordered:
            entry = _encode_value(kept[p].data)
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


def _write_dir(directory: str, nodes: list[tuple[str, bytes | None, bool]]) -> None:
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


def _read_json_dump(ctx: Context, source: str) -> list[tuple[str, bytes, list[ACL] | None]]:
    try:
        if source == "-":
            doc = json.load(ctx.stdin)
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
        out.append((rel if rel else "/", _decode_value(entry, f"{source}: node {rel!r}"), acl))
    return out


def _read_dir(directory: str) -> list[tuple[str, bytes, list[ACL] | None]]:
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


def cmd_load(ctx: Context) -> int:
    a = ctx.args
    zk = ctx.zk
    output = ctx.output
    src = a.source
    if src != "-" and not os.path.exists(src):
        raise CLIError(f"{src}: no such file or directory", EXIT_USAGE)
    entries = _read_dir(src) if os.path.isdir(src) else _read_json_dump(ctx, src)
    root = a.path
    validate_path(root)
    entries.sort(key=lambda e: _by_segments(e[0]))  # parents before children
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


# ---- du


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
                  [[t[0], _human(t[1]) if a.human else t[1], p] for p, t in rows],
                  right=[True, True, False])
    return EXIT_OK


# ---- health


def _short_version(v: str) -> str:
    return v.split(",")[0].split("-")[0].strip()


def cmd_health(ctx: Context) -> int:
    out = ctx.output
    try:
        servers, _chroot = parse_connect_string(ctx.args.hosts)
    except ValueError as e:
        raise CLIError(f"invalid --hosts {ctx.args.hosts!r}: {e}", EXIT_USAGE) from None
    names = [format_address(s) for s in servers]
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


# ---- lock


def cmd_lock(ctx: Context) -> int:
    a = ctx.args
    out = ctx.output
    if not a.command_argv:
        raise CLIError("lock needs a command: zkfast lock PATH -- COMMAND [ARGS...]", EXIT_USAGE)
    validate_path(a.path)
    zk = ctx.zk
    from .recipe import Lock  # only this command needs the recipes

    identifier = a.identifier or f"{socket.gethostname()}:{os.getpid()}"
    lock = Lock(zk, a.path, identifier)
    if not lock.acquire(timeout=a.lock_timeout):
        raise CLIError(f"could not acquire the lock {a.path} within {a.lock_timeout:g}s",
                       EXIT_CONNECTION)
    lost = threading.Event()
    proc: subprocess.Popen[bytes] | None = None

    def on_state(state: State) -> None:
        if state == State.SUSPENDED:
            out.warn("connection lost; the lock is held until the session expires")
        elif state in (State.EXPIRED, State.CLOSED) and not done.is_set():
            lost.set()
            out.warn("session expired: the lock is lost; stopping the command")
            if proc is not None and proc.poll() is None:
                proc.terminate()

    done = threading.Event()
    zk.add_listener(on_state)
    out.info(f"holding lock {a.path}")
    env = dict(os.environ, ZKFAST_LOCK_PATH=a.path)
    old_term = None
    try:
        try:
            proc = subprocess.Popen(a.command_argv, env=env)
        except OSError as e:
            raise CLIError(f"cannot run {a.command_argv[0]!r}: {e.strerror or e}",
                           EXIT_COMMAND_NOT_FOUND) from None
        if threading.current_thread() is threading.main_thread():
            def forward(signum: int, _frame: Any) -> None:
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signum)
            old_term = signal.signal(signal.SIGTERM, forward)
        while True:
            try:
                rc = proc.wait()
                break
            except KeyboardInterrupt:
                continue  # the child got the same Ctrl-C; wait for it to finish
    finally:
        done.set()
        zk.remove_listener(on_state)
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        if not lost.is_set():
            try:
                lock.release()
            except ZooKeeperError as e:
                out.warn(f"releasing the lock failed: {e}")
    if lost.is_set():
        raise CLIError(f"lost the lock {a.path} while the command ran", EXIT_CONNECTION)
    return rc if rc >= 0 else 128 - rc


# ---------------------------------------------------------------- parser

_COMMANDS: dict[str, Callable[[Context], int]] = {
    "ls": cmd_ls, "get": cmd_get, "stat": cmd_stat, "set": cmd_set, "create": cmd_create,
    "rm": cmd_rm, "tree": cmd_tree, "watch": cmd_watch, "acl": cmd_acl, "dump": cmd_dump,
    "load": cmd_load, "du": cmd_du, "health": cmd_health, "lock": cmd_lock,
    "digest": cmd_digest,
}

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
    (("--timeout",), {"type": float, "metavar": "SECONDS",
                          "help": "connect timeout; bulk commands also wait at most this "
                                  "long for each reply (default 10)"}),
    (("--session-timeout",), {"type": float, "metavar": "SECONDS",
                                  "help": "session timeout (default 10)"}),
    (("--window",), {"type": int, "metavar": "N",
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
    "session_timeout": 10.0, "window": DEFAULT_WINDOW, "json": False, "quiet": False,
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
    from . import __version__
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
    s.add_argument("--version", type=int, default=-1, help="only if the node is at this version")
    s.add_argument("path", metavar="PATH")

    s = add("tree", "draw a subtree like the tree command")
    s.add_argument("-L", "--level", type=int, metavar="N", help="descend at most N levels")
    s.add_argument("path", metavar="PATH", nargs="?", default="/")

    s = add("watch", "stream change events under a node (persistent watch)")
    s.add_argument("-r", "--recursive", action="store_true", help="every node below too")
    s.add_argument("--count", type=int, metavar="N", help="stop after N events")
    s.add_argument("--timeout", type=float, metavar="SECONDS", dest="watch_timeout",
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
    s.add_argument("-d", "--depth", type=int, default=1, metavar="N",
                   help="report subtrees down to depth N (default 1)")
    s.add_argument("--by", choices=("bytes", "nodes"), default="bytes", help="sort key")
    s.add_argument("-H", "--human", action="store_true", help="sizes as 1.2K, 3.4M")
    s.add_argument("path", metavar="PATH", nargs="?", default="/")

    add("health", "ruok/srvr/mntr of every server in --hosts, as a table")

    s = add("lock", "hold a lock while running a command; exit with its exit code")
    s.add_argument("--timeout", type=float, metavar="SECONDS", dest="lock_timeout",
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


def main(argv: Sequence[str] | None = None, *, stdout: IO[str] | None = None,
         stderr: IO[str] | None = None, stdin: IO[str] | None = None) -> int:
    """Run the ``zkfast`` command line; returns the exit code (the console script
    passes it to ``sys.exit``). ``stdout``/``stderr``/``stdin`` default to sys's."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    inp = stdin if stdin is not None else sys.stdin
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err  # argparse prints usage/help to sys's streams
        try:
            args = _parse(argv)
        finally:
            sys.stdout, sys.stderr = old_out, old_err
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (EXIT_OK if e.code is None else EXIT_USAGE)
    except CLIError as e:
        err.write(f"zkfast: error: {e}\n")
        return e.code
    if args.hosts is None:
        args.hosts = os.environ.get("ZKFAST_HOSTS") or DEFAULT_HOSTS
    logging_state = _setup_logging(args.verbose, err)
    output = Output(out, err, args.json, args.quiet)
    ctx = Context(args, output, inp)
    try:
        return _COMMANDS[args.command](ctx)
    except BrokenPipeError:
        _silence_stdout(out)
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        err.write("zkfast: interrupted\n")
        return EXIT_INTERRUPTED
    except Exception as e:  # noqa: BLE001 - every failure becomes one line and an exit code
        code = exit_code_for(e)
        if args.verbose:
            traceback.print_exception(type(e), e, e.__traceback__, file=err)
        err.write(f"zkfast: error: {_describe(e)}\n")
        err.flush()
        return code
    finally:
        try:
            out.flush()
        except (BrokenPipeError, ValueError):
            pass
        try:
            ctx.close()
        except Exception:  # closing must not mask the command's result
            log.debug("closing the client failed", exc_info=True)
        _restore_logging(logging_state)


def _parse(argv: list[str]) -> argparse.Namespace:
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
    if args.window is not None and args.window < 1:
        raise CLIError("--window must be at least 1", EXIT_USAGE)
    return args


def _describe(e: BaseException) -> str:
    if isinstance(e, (ZooKeeperError, CLIError, flw.FLWError)):
        return str(e)
    if isinstance(e, OSError) and e.strerror:
        where = f": {e.filename}" if e.filename else ""
        return f"{e.strerror}{where}"
    return f"{type(e).__name__}: {e}"


def _setup_logging(verbose: int, err: IO[str]) -> tuple[logging.Handler, int]:
    """Log ``zkfast.*`` to stderr with ``-v``; without it, keep the client's own
    warnings (logging's last-resort handler) off stderr, where only the command's
    one-line error belongs. Returns what :func:`_restore_logging` undoes."""
    logger = logging.getLogger("zkfast")
    if not verbose:
        quiet = logging.NullHandler()
        logger.addHandler(quiet)
        return quiet, logger.level
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    return handler, old_level


def _restore_logging(saved: tuple[logging.Handler, int]) -> None:
    # main() may run many times in one process (tests, embedding)
    logger = logging.getLogger("zkfast")
    logger.removeHandler(saved[0])
    logger.setLevel(saved[1])


def _silence_stdout(out: IO[str]) -> None:
    if out is sys.stdout:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
