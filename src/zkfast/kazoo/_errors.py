"""zkfast's errors as kazoo's: what the kazoo API raises for each.

Only the error path pays for this: the kazoo methods catch
:class:`zkfast.ZooKeeperError` and raise ``kazoo_error(e)`` from it.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Type

from .. import errors as zk
from . import exceptions as kz
from .handlers.threading import KazooTimeoutError

__all__ = ["kazoo_error", "make"]

# Client-side zkfast errors, by class (subclasses are found through the MRO).
_CLIENT_SIDE: Dict[Type[BaseException], Type[BaseException]] = {
    zk.ClosedError: kz.ConnectionClosedError,
    zk.WaitTimeoutError: KazooTimeoutError,
    zk.CancelledError: kz.CancelledError,
    # kazoo would send a request over jute.maxbuffer; the server would drop the
    # connection, failing it with ConnectionLoss. zkfast refuses it up front.
    zk.RequestTooLargeError: kz.ConnectionLoss,
    # kazoo's own checks (TypeError/ValueError) come first; what zkfast still
    # refuses is what the server would answer with BadArguments.
    zk.InvalidPathError: kz.BadArgumentsError,
    zk.InvalidArgumentError: kz.BadArgumentsError,
}


def make(cls: Type[BaseException], message: Optional[str] = None, path: Optional[str] = None) -> Any:
    """An instance of a kazoo exception with a message and the request's ``path``."""
    exc = cls(message) if message else cls()
    if path is not None:
        exc.path = path  # type: ignore[attr-defined]
    return exc


def kazoo_error(e: BaseException) -> BaseException:
    """The kazoo exception for a zkfast error (anything else comes back as is)."""
    if not isinstance(e, zk.ZooKeeperError):
        return e
    path = e.path
    message = str(e)
    if isinstance(e, zk.TransactionFailedError) and e.failure is not None:
        return kazoo_error(e.failure)
    code = type(e).code
    if code is not None and code in kz.EXCEPTIONS:
        cls: Type[BaseException] = kz.EXCEPTIONS[code]
    elif isinstance(e, zk.UnknownServerError):
        cls = kz.ZookeeperError
    else:
        for klass in type(e).__mro__:
            found = _CLIENT_SIDE.get(klass)
            if found is not None:
                cls = found
                break
        else:
            cls = kz.ZookeeperError
    if cls is kz.ConnectionClosedError:
        message = "Connection has been closed"
    exc = make(cls, message, path)
    exc.__cause__ = e
    return exc  # type: ignore[no-any-return]
