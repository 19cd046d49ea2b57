"""What every command shares: the parsed options, the output, a client connected
lazily from the global options, and the helpers of the bulk commands."""

from __future__ import annotations

import argparse
import importlib
import ssl
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from typing import IO, Any, Callable

from ..client import Client, Future
from ..errors import AuthFailedError, NoNodeError, WaitTimeoutError, ZooKeeperError
from ..events import State
from ..recipe import bulk
from .exitcodes import EXIT_AUTH, EXIT_USAGE, CLIError
from .output import Output, Progress

DEFAULT_HOSTS = "127.0.0.1:2181"
DEFAULT_WINDOW = bulk.OPS_PER_REQUEST * bulk.MAX_REQUESTS  # 256 ops x 16 requests
AUTH_FAILURE_SETTLE = 0.5
"""Seconds a failed command waits for the client to report a rejected identity."""


class Context:
    """Everything a command needs: parsed args, output, and a lazily connected client."""

    def __init__(self, args: argparse.Namespace, output: Output, stdin: IO[str]) -> None:
        self.args = args
        self.output = output
        self.stdin = stdin
        self.timeout: float = args.timeout
        self.window: int = args.window
        self._client: Client | None = None
        self._auth_failed = threading.Event()

    @property
    def zk(self) -> Client:
        if self._client is None:
            self._client = connect(self.args, self._on_state)
        return self._client

    def _on_state(self, state: State) -> None:
        if state == State.AUTH_FAILED:
            self._auth_failed.set()

    def auth_failed(self) -> bool:
        """Whether the server rejected this command's identity (``--auth``/``--sasl``).

        The server refuses an identity and then closes the connection, so a command
        may see the connection loss before the client's state says why: with
        identities given, wait a moment for the state before answering."""
        client = self._client
        if client is None:
            return False
        if client.state == State.AUTH_FAILED or self._auth_failed.is_set():
            return True
        if self.args.auth or self.args.sasl:
            return self._auth_failed.wait(AUTH_FAILURE_SETTLE)
        return False

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
    """The TLS context the flags ask for, or None for plain TCP. A file that cannot be
    read or used is a usage error naming the option and the file."""
    if not (args.tls or args.cafile or args.certfile or args.keyfile or args.no_verify):
        return None
    if args.keyfile and not args.certfile:
        raise CLIError("--keyfile needs --certfile", EXIT_USAGE)
    for flag, path in (("--cafile", args.cafile), ("--certfile", args.certfile),
                       ("--keyfile", args.keyfile)):
        if path:
            try:
                with open(path, "rb"):
                    pass
            except OSError as e:
                raise CLIError(f"{flag} {path}: {e.strerror or e}", EXIT_USAGE) from None
    try:
        ctx = ssl.create_default_context(cafile=args.cafile)
    except (OSError, ssl.SSLError) as e:
        raise CLIError(f"--cafile {args.cafile}: not usable as CA certificates: {e}",
                       EXIT_USAGE) from None
    if args.certfile:
        try:
            ctx.load_cert_chain(args.certfile, args.keyfile)
        except (OSError, ssl.SSLError) as e:
            files = args.certfile + (f" / --keyfile {args.keyfile}" if args.keyfile else "")
            raise CLIError(f"--certfile {files}: not a usable certificate and key: {e}",
                           EXIT_USAGE) from None
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


def auth_failure_message(args: argparse.Namespace) -> str:
    """What to say when the server rejected our identity (never the credentials)."""
    given = [f"--auth {spec.partition(':')[0]}:..." for spec in (args.auth or [])]
    if args.sasl:
        given.append("--sasl")
    return "authentication failed" + (f": the server rejected {', '.join(given)}" if given else "")


def connect(args: argparse.Namespace, on_state: Callable[[State], Any] | None = None) -> Client:
    """A started :class:`~zkfast.Client` for the global options; ``on_state`` hears its
    state changes from the start."""
    sasl: dict[str, Any] | None = None
    if args.sasl:
        user, sep, password = args.sasl.partition(":")
        if not sep or not user:
            raise CLIError("invalid --sasl: expected USER:PASSWORD", EXIT_USAGE)
        try:
            importlib.import_module("puresasl.client")
        except ImportError:
            raise CLIError("--sasl needs pure-sasl: pip install 'zkfast[sasl]'",
                           EXIT_USAGE) from None
        sasl = {"mechanism": "DIGEST-MD5", "username": user, "password": password}
    limits: dict[str, Any] = {}
    if args.max_buffer_size is not None:
        limits["max_buffer_size"] = args.max_buffer_size
    try:
        client = Client(args.hosts, session_timeout=args.session_timeout,
                        auth_data=_auth_pairs(args.auth or []),
                        ssl_context=ssl_context_from_args(args), read_only=args.read_only,
                        sasl_options=sasl, **limits)
    except ValueError as e:  # a bad connect string
        raise CLIError(f"invalid --hosts {args.hosts!r}: {e}", EXIT_USAGE) from None
    if on_state is not None:
        client.add_listener(on_state)
    try:
        client.start(timeout=args.timeout)
    except ZooKeeperError as e:
        rejected = client.state == State.AUTH_FAILED
        client.close()
        if rejected or isinstance(e, AuthFailedError):
            raise CLIError(auth_failure_message(args), EXIT_AUTH) from e
        raise
    return client


# ---------------------------------------------------------------- bulk helpers


def bulk_window(ctx: Context) -> dict[str, int]:
    """``--window`` (operations in flight) as ``zkfast.recipe.bulk`` arguments."""
    per = max(1, min(bulk.OPS_PER_REQUEST, ctx.window))
    return {"ops_per_request": per, "max_requests": max(1, ctx.window // per)}


def depth_below(root: str, path: str) -> int:
    """0 for ``root`` itself, 1 for its children, ..."""
    if path == root:
        return 0
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


def subtree_size(zk: Client, path: str) -> int | None:
    """How many nodes the subtree at ``path`` holds, itself included (one request;
    None when the server cannot count: ZooKeeper before 3.6)."""
    try:
        return int(zk.count_children(path)) + 1
    except NoNodeError:
        raise
    except ZooKeeperError:
        return None


def read_tree(ctx: Context, root: str, desc: str, *, system: bool = True) -> dict[str, Any]:
    """``{path: NodeData(data, stat)}`` of the subtree (``zkfast.recipe.bulk.get_tree``);
    without ``system`` the server's ``/zookeeper`` nodes are left out."""
    zk = ctx.zk
    if zk.exists(root) is None:
        raise NoNodeError(path=root)
    with Progress(ctx.output, desc, total=subtree_size(zk, root)) as progress:
        tree: dict[str, Any] = bulk.get_tree(zk, root, progress=progress.update,
                                             **bulk_window(ctx))
    if not system:
        tree = {p: d for p, d in tree.items() if not is_system(zk, p)}
    return tree
