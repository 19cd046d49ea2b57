"""Exit codes of the ``zkfast`` command, the :class:`CLIError` that carries one, and
how any exception a command raises becomes an exit code and a one-line message."""

from __future__ import annotations

from .. import flw
from ..errors import (
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
    ResponseTooLargeError,
    SessionClosedRequireSaslAuthError,
    SessionExpiredError,
    SessionMovedError,
    TransactionFailedError,
    WaitTimeoutError,
    ZooKeeperError,
)

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
    EXIT_UNHEALTHY: "health: at least one server is not serving (or --client could not connect)",
    EXIT_COMMAND_NOT_FOUND: "lock: the command could not be started",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); watch ends with 0",
    EXIT_BROKEN_PIPE: "stdout was closed early (e.g. piped into head)",
}
"""Exit codes and what they mean; ``lock`` exits with its command's code."""


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


def describe(e: BaseException) -> str:
    """The one-line message for a failure (the exception's own text where it has one)."""
    if isinstance(e, ResponseTooLargeError):
        where = f" ({e.path})" if e.path else ""
        mib = max(1, -(-e.size // (1 << 20)))  # whole MiB, rounded up
        return (f"a reply of {e.size} bytes{where} is larger than the limit of {e.limit} "
                f"bytes: raise it with --max-buffer-size (e.g. --max-buffer-size {mib + 1}M)")
    if isinstance(e, (ZooKeeperError, CLIError, flw.FLWError)):
        return str(e)
    if isinstance(e, OSError) and e.strerror:
        where = f": {e.filename}" if e.filename else ""
        return f"{e.strerror}{where}"
    return f"{type(e).__name__}: {e}"
