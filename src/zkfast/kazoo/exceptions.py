"""kazoo's exceptions: the same classes, hierarchy, error codes and aliases.

Every server error is a :class:`ZookeeperError` (itself a :class:`KazooException`)
with its code in ``code``; :data:`EXCEPTIONS` maps a code to its class and
raises ``RuntimeError`` for a code it does not know. As in kazoo,
:class:`ConnectionClosedError` (calls on a stopped client) is a
:class:`SessionExpiredError`, so ``except SessionExpiredError`` covers both.

zkfast.kazoo raises these, never zkfast's own (:mod:`zkfast.errors`), from the
kazoo API. The instances carry a message and, where a request named one, the
``path``.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional, Type, TypeVar

__all__ = [
    "KazooException", "ZookeeperError", "CancelledError", "ConfigurationError",
    "ZookeeperStoppedError", "ConnectionDropped", "LockTimeout", "WriterNotClosedException",
    "SASLException", "EXCEPTIONS", "RolledBackError", "SystemZookeeperError",
    "RuntimeInconsistency", "DataInconsistency", "ConnectionLoss", "MarshallingError",
    "UnimplementedError", "OperationTimeoutError", "BadArgumentsError", "UnknownSessionError",
    "NewConfigNoQuorumError", "ReconfigInProcessError", "APIError", "NoNodeError",
    "NoAuthError", "BadVersionError", "NoChildrenForEphemeralsError", "NodeExistsError",
    "NotEmptyError", "SessionExpiredError", "InvalidCallbackError", "InvalidACLError",
    "AuthFailedError", "SessionMovedError", "NotReadOnlyCallError",
    "EphemeralOnLocalSessionError", "NoWatcherError", "RequestTimeoutError",
    "ReconfigDisabledError", "SessionClosedRequireSaslError", "QuotaExceededError",
    "ThrottledOpError", "ConnectionClosedError",
    "ConnectionLossException", "MarshallingErrorException", "SystemErrorException",
    "RuntimeInconsistencyException", "DataInconsistencyException", "UnimplementedException",
    "OperationTimeoutException", "BadArgumentsException", "ApiErrorException",
    "NoNodeException", "NoAuthException", "BadVersionException",
    "NoChildrenForEphemeralsException", "NodeExistsException", "InvalidACLException",
    "AuthFailedException", "NotEmptyException", "SessionExpiredException",
    "InvalidCallbackException",
]


class KazooException(Exception):
    """The base of every exception this package raises on purpose."""

    #: The znode path of the failing request, when there was one.
    path: Optional[str] = None


class ZookeeperError(KazooException):
    """An error the ZooKeeper server reported (``code`` is its error code)."""

    code: int


class CancelledError(KazooException):
    """A pending call (a lock acquire, ...) was cancelled from another thread."""


class ConfigurationError(KazooException):
    """An argument to a constructor or a client setting is invalid."""


class ZookeeperStoppedError(KazooException):
    """The client is stopped (not connected)."""


class ConnectionDropped(KazooException):
    """The connection dropped (kazoo's internal signal; kept for code that names it)."""


class LockTimeout(KazooException):
    """A lock or semaphore was not acquired within its timeout."""


class WriterNotClosedException(KazooException):
    """The previous connection did not stop when asked (kazoo's writer thread)."""


class SASLException(KazooException):
    """The SASL library failed locally (before the server answered)."""


class _ErrorsByCode(Dict[int, Type[ZookeeperError]]):
    """``EXCEPTIONS[code]``: the class of a server error code; an unknown code is
    a RuntimeError, as in kazoo."""

    def __missing__(self, code: int) -> Type[ZookeeperError]:
        raise RuntimeError(f"Invalid error code {code!r}")


EXCEPTIONS: Dict[int, Type[ZookeeperError]] = _ErrorsByCode()

_E = TypeVar("_E", bound=Type[ZookeeperError])


def _code(code: int) -> Callable[[_E], _E]:
    def register(cls: _E) -> _E:
        cls.code = code
        EXCEPTIONS[code] = cls
        return cls
    return register


# One class per server error code (KeeperException.Code), all directly under
# ZookeeperError as in kazoo.

@_code(0)
class RolledBackError(ZookeeperError):
    """An op of a failed transaction that would have succeeded (rolled back)."""


@_code(-1)
class SystemZookeeperError(ZookeeperError):
    """The range marker of system errors (the server never sends it itself)."""


@_code(-2)
class RuntimeInconsistency(ZookeeperError):
    """A runtime inconsistency (ops after the failing one in a transaction)."""


@_code(-3)
class DataInconsistency(ZookeeperError):
    """A data inconsistency was found."""


@_code(-4)
class ConnectionLoss(ZookeeperError):
    """The connection dropped before the reply came: the request may or may not
    have been applied."""


@_code(-5)
class MarshallingError(ZookeeperError):
    """A request or reply could not be (de)serialized."""


@_code(-6)
class UnimplementedError(ZookeeperError):
    """The server does not implement the operation."""


@_code(-7)
class OperationTimeoutError(ZookeeperError):
    """The operation timed out on the server."""


@_code(-8)
class BadArgumentsError(ZookeeperError):
    """The server refused the arguments (an invalid path, ...)."""


@_code(-12)
class UnknownSessionError(ZookeeperError):
    """Unknown session (internal to the server)."""


@_code(-13)
class NewConfigNoQuorumError(ZookeeperError):
    """A reconfig's new configuration has no quorum connected and in sync."""


@_code(-14)
class ReconfigInProcessError(ZookeeperError):
    """Another reconfiguration is in progress."""


@_code(-100)
class APIError(ZookeeperError):
    """The range marker of API errors (the server never sends it itself)."""


@_code(-101)
class NoNodeError(ZookeeperError):
    """The node does not exist."""


@_code(-102)
class NoAuthError(ZookeeperError):
    """The session lacks the permission the node's ACL asks for."""


@_code(-103)
class BadVersionError(ZookeeperError):
    """The node's version is not the one the request named."""


@_code(-108)
class NoChildrenForEphemeralsError(ZookeeperError):
    """Ephemeral nodes may not have children."""


@_code(-110)
class NodeExistsError(ZookeeperError):
    """The node already exists."""


@_code(-111)
class NotEmptyError(ZookeeperError):
    """The node has children."""


@_code(-112)
class SessionExpiredError(ZookeeperError):
    """The server expired the session (its ephemeral nodes are gone)."""


@_code(-113)
class InvalidCallbackError(ZookeeperError):
    """Invalid callback."""


@_code(-114)
class InvalidACLError(ZookeeperError):
    """The ACL is invalid (an empty list, an unknown scheme, ...)."""


@_code(-115)
class AuthFailedError(ZookeeperError):
    """The server refused the client's credentials."""


@_code(-118)
class SessionMovedError(ZookeeperError):
    """The session moved to another server; the request was ignored."""


@_code(-119)
class NotReadOnlyCallError(ZookeeperError):
    """A write was sent to a read-only server."""


@_code(-120)
class EphemeralOnLocalSessionError(ZookeeperError):
    """An ephemeral node was created on a local session."""


@_code(-121)
class NoWatcherError(ZookeeperError):
    """The watcher to remove does not exist."""


@_code(-122)
class RequestTimeoutError(ZookeeperError):
    """The request did not complete within the server's limit."""


@_code(-123)
class ReconfigDisabledError(ZookeeperError):
    """The server has dynamic reconfiguration disabled."""


@_code(-124)
class SessionClosedRequireSaslError(ZookeeperError):
    """The server closed the session: it requires SASL authentication."""


@_code(-125)
class QuotaExceededError(ZookeeperError):
    """A quota of the path was exceeded."""


@_code(-127)
class ThrottledOpError(ZookeeperError):
    """The server throttled the operation (retry with backoff)."""


class ConnectionClosedError(SessionExpiredError):
    """The client is stopped or closed: no request can be made on it."""


# kazoo's names for the C library's exceptions
ConnectionLossException = ConnectionLoss
MarshallingErrorException = MarshallingError
SystemErrorException = SystemZookeeperError
RuntimeInconsistencyException = RuntimeInconsistency
DataInconsistencyException = DataInconsistency
UnimplementedException = UnimplementedError
OperationTimeoutException = OperationTimeoutError
BadArgumentsException = BadArgumentsError
ApiErrorException = APIError
NoNodeException = NoNodeError
NoAuthException = NoAuthError
BadVersionException = BadVersionError
NoChildrenForEphemeralsException = NoChildrenForEphemeralsError
NodeExistsException = NodeExistsError
InvalidACLException = InvalidACLError
AuthFailedException = AuthFailedError
NotEmptyException = NotEmptyError
SessionExpiredException = SessionExpiredError
InvalidCallbackException = InvalidCallbackError
