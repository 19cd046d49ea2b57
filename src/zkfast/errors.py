"""The exception hierarchy: one class per ZooKeeper error code, plus client-side ones.

Everything zkfast raises on purpose derives from :class:`ZooKeeperError`, which
carries the server ``code`` (``None`` for client-side errors) and the ``path``
the failing request named, when there was one::

    try:
        zk.get("/missing")
    except NoNodeError as e:
        print(e.code, e.path)   # -101 /missing
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Type

__all__ = [
    "ZooKeeperError",
    "CodecError",
    "ResponseTooLargeError",
    "RequestTooLargeError",
    "InvalidPathError",
    "InvalidArgumentError",
    "NoServerError",
    "ClosedError",
    "ClientForkedError",
    "QueueFullError",
    "WrongEventLoopError",
    "WaitTimeoutError",
    "ProtocolError",
    "SystemZooKeeperError",
    "RuntimeInconsistencyError",
    "RolledBackError",
    "DataInconsistencyError",
    "ConnectionLossError",
    "MarshallingError",
    "UnimplementedError",
    "OperationTimeoutError",
    "BadArgumentsError",
    "NewConfigNoQuorumError",
    "ReconfigInProgressError",
    "APIError",
    "NoNodeError",
    "NoAuthError",
    "BadVersionError",
    "NoChildrenForEphemeralsError",
    "NodeExistsError",
    "NotEmptyError",
    "SessionExpiredError",
    "InvalidCallbackError",
    "InvalidACLError",
    "AuthFailedError",
    "SessionMovedError",
    "NotReadOnlyError",
    "EphemeralOnLocalSessionError",
    "NoWatcherError",
    "RequestTimeoutError",
    "ReconfigDisabledError",
    "SessionClosedRequireSaslAuthError",
    "QuotaExceededError",
    "ThrottledError",
    "UnknownServerError",
    "TransactionFailedError",
    "LockDeadlockError",
    "NotLockedError",
    "HoldLostError",
    "CancelledError",
    "error_for_code",
    "CODE_RESPONSE_TOO_LARGE",
]

# Client-side pseudo code the frame splitter puts in a reply's err field when
# the frame was larger than max_buffer_size. Not a server code.
CODE_RESPONSE_TOO_LARGE = -1001


class ZooKeeperError(Exception):
    """Base of every zkfast error.

    ``code`` is the server's error code (``None`` when the error was decided
    on the client); ``path`` the znode path of the failing request, if any.
    """

    code: Optional[int] = None
    default_message = "ZooKeeper error"

    def __init__(self, message: Optional[str] = None, *, path: Optional[str] = None,
                 code: Optional[int] = None) -> None:
        if code is not None:
            self.code = code
        self.path = path
        if message is None:
            message = self.default_message
        if path is not None:
            message = f"{message}: {path}"
        super().__init__(message)


# ---------------------------------------------------------------- client side


class CodecError(ZooKeeperError):
    """Bytes that do not decode as the jute record they should be.

    Raised by the frame splitter for a corrupt stream; ``replies`` holds the
    replies decoded from the same input before the corruption, so none is lost.
    """

    default_message = "corrupt ZooKeeper frame"

    def __init__(self, message: Optional[str] = None, *, replies: Optional[List[Any]] = None) -> None:
        super().__init__(message)
        self.replies = replies if replies is not None else []


class ProtocolError(ZooKeeperError):
    """The server broke the protocol (a reply for a request never sent, ...)."""

    default_message = "ZooKeeper protocol violation"


class ResponseTooLargeError(ZooKeeperError):
    """A reply was larger than the client's ``max_buffer_size``; only its request failed."""

    default_message = "reply larger than max_buffer_size"

    def __init__(self, size: int, limit: int, *, path: Optional[str] = None) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"reply of {size} bytes exceeds max_buffer_size={limit} "
            "(raise max_buffer_size to accept it)", path=path)


class RequestTooLargeError(ZooKeeperError, ValueError):
    """A request would exceed the configured ``max_request_size`` (jute.maxbuffer)."""

    default_message = "request too large"

    def __init__(self, size: int, limit: int, *, path: Optional[str] = None) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"request of {size} bytes exceeds max_request_size={limit} "
            "(the server's jute.maxbuffer refuses it)", path=path)


class InvalidPathError(ZooKeeperError, ValueError):
    """A path that ZooKeeper's path rules refuse; nothing was sent."""

    default_message = "invalid path"


class InvalidArgumentError(ZooKeeperError, ValueError):
    """A caller argument of the wrong type or value; nothing was sent."""

    default_message = "invalid argument"


class NoServerError(ZooKeeperError):
    """No server in the connect string could be reached in time."""

    default_message = "could not connect to any ZooKeeper server"


class ClosedError(ZooKeeperError):
    """The client was closed; no more requests can be made on it."""

    default_message = "client is closed"


class ClientForkedError(ClosedError):
    """The client was made in a parent process and this is a child of
    ``os.fork()``: it shares the parent's connection and session, so it may
    not be used here. Make a new client in the child."""

    default_message = ("this client was inherited through os.fork(); it cannot be used in the "
                       "child process: make a new client there")


class WrongEventLoopError(ZooKeeperError, RuntimeError):
    """An :class:`~zkfast.AsyncClient` was used from an event loop other than
    the one it was started on (nothing was sent)."""

    default_message = "AsyncClient used from an event loop other than its own"


class WaitTimeoutError(ZooKeeperError, TimeoutError):
    """The caller's timeout ran out before the reply or the state it waited for."""

    default_message = "timed out waiting"


class CancelledError(ZooKeeperError):
    """A wait was cancelled (a recipe's cancel(), a watch removed)."""

    default_message = "cancelled"


class TransactionFailedError(ZooKeeperError):
    """A multi/transaction failed as a whole; ``results`` holds each op's outcome.

    The op that failed carries its real error; ops before it are
    :class:`RolledBackError`, ops after it :class:`RuntimeInconsistencyError`.
    """

    default_message = "transaction failed"

    def __init__(self, results: List[Any], *, code: Optional[int] = None) -> None:
        self.results = results
        failing = next((r for r in results
                        if isinstance(r, ZooKeeperError)
                        and not isinstance(r, (RolledBackError, RuntimeInconsistencyError))), None)
        self.failure = failing
        msg = "transaction failed"
        if failing is not None:
            msg = f"transaction failed at op {results.index(failing)}: {failing}"
        super().__init__(msg, code=code)


class LockDeadlockError(ZooKeeperError):
    """A lock instance was acquired again without being released first."""

    default_message = "lock already acquired by this instance"


class NotLockedError(ZooKeeperError):
    """A lock was released that this instance does not hold."""

    default_message = "lock is not held"


class HoldLostError(ZooKeeperError):
    """A fenced write was refused because the lock, lease or leadership it was
    fenced on is no longer held (its node is gone); ``path`` is that node.
    Nothing of the write was applied."""

    default_message = "the hold this write was fenced on is lost"


# ---------------------------------------------------------------- server codes


class SystemZooKeeperError(ZooKeeperError):
    code = -1
    default_message = "system error"


class RuntimeInconsistencyError(SystemZooKeeperError):
    code = -2
    default_message = "runtime inconsistency"


class RolledBackError(RuntimeInconsistencyError):
    """A multi op that succeeded but was rolled back because another op failed."""

    code = 0
    default_message = "rolled back (another op in the transaction failed)"


class DataInconsistencyError(SystemZooKeeperError):
    code = -3
    default_message = "data inconsistency"


class ConnectionLossError(SystemZooKeeperError):
    """The connection dropped before the reply came; the request may or may not have been applied."""

    code = -4
    default_message = "connection lost"


class MarshallingError(SystemZooKeeperError):
    code = -5
    default_message = "marshalling error"


class UnimplementedError(SystemZooKeeperError):
    code = -6
    default_message = "operation not implemented by the server"


class OperationTimeoutError(SystemZooKeeperError):
    code = -7
    default_message = "operation timeout"


class BadArgumentsError(SystemZooKeeperError):
    code = -8
    default_message = "bad arguments"


class NewConfigNoQuorumError(SystemZooKeeperError):
    code = -13
    default_message = "new config has no quorum"


class ReconfigInProgressError(SystemZooKeeperError):
    code = -14
    default_message = "reconfig in progress"


class APIError(ZooKeeperError):
    code = -100
    default_message = "API error"


class NoNodeError(APIError):
    code = -101
    default_message = "node does not exist"


class NoAuthError(APIError):
    code = -102
    default_message = "not authenticated"


class BadVersionError(APIError):
    code = -103
    default_message = "version conflict"


class NoChildrenForEphemeralsError(APIError):
    code = -108
    default_message = "ephemeral nodes may not have children"


class NodeExistsError(APIError):
    code = -110
    default_message = "node already exists"


class NotEmptyError(APIError):
    code = -111
    default_message = "node has children"


class SessionExpiredError(APIError):
    code = -112
    default_message = "session expired"


class InvalidCallbackError(APIError):
    code = -113
    default_message = "invalid callback"


class InvalidACLError(APIError):
    code = -114
    default_message = "invalid ACL"


class AuthFailedError(APIError):
    code = -115
    default_message = "authentication failed"


class SessionMovedError(APIError):
    code = -118
    default_message = "session moved to another server"


class NotReadOnlyError(APIError):
    code = -119
    default_message = "server is read-only"


class EphemeralOnLocalSessionError(APIError):
    code = -120
    default_message = "ephemeral node on a local session"


class NoWatcherError(APIError):
    code = -121
    default_message = "no such watcher"


class RequestTimeoutError(APIError):
    """No reply in time: the server's -122, or the client's own deadline
    (``timeout=`` of a call, ``request_timeout`` of the client). The request
    may still be applied by the server."""

    code = -122
    default_message = "request timeout"


class QueueFullError(ZooKeeperError):
    """Too many requests are waiting for a connection (``max_queued``); this
    one was refused and not sent."""

    default_message = "too many requests queued while disconnected"


class ReconfigDisabledError(APIError):
    code = -123
    default_message = "reconfig is disabled"


class SessionClosedRequireSaslAuthError(APIError):
    code = -124
    default_message = "session closed: SASL authentication required"


class QuotaExceededError(APIError):
    code = -125
    default_message = "quota exceeded"


class ThrottledError(APIError):
    code = -127
    default_message = "request throttled"


class UnknownServerError(ZooKeeperError):
    """A server error code this client does not know; ``code`` tells which."""

    default_message = "unknown server error"


_BY_CODE: Dict[int, Type[ZooKeeperError]] = {
    cls.code: cls
    for cls in (
        SystemZooKeeperError, RuntimeInconsistencyError, DataInconsistencyError,
        ConnectionLossError, MarshallingError, UnimplementedError, OperationTimeoutError,
        BadArgumentsError, NewConfigNoQuorumError, ReconfigInProgressError, APIError,
        NoNodeError, NoAuthError, BadVersionError, NoChildrenForEphemeralsError,
        NodeExistsError, NotEmptyError, SessionExpiredError, InvalidCallbackError,
        InvalidACLError, AuthFailedError, SessionMovedError, NotReadOnlyError,
        EphemeralOnLocalSessionError, NoWatcherError, RequestTimeoutError,
        ReconfigDisabledError, SessionClosedRequireSaslAuthError, QuotaExceededError,
        ThrottledError,
    )
    if cls.code is not None
}


def error_for_code(code: int, path: Optional[str] = None) -> ZooKeeperError:
    """The exception instance for a server error code (unknown codes still get a type)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return UnknownServerError(f"unknown server error code {code}", path=path, code=code)
    return cls(path=path)
