"""kazoo's transaction builder (``KazooClient.transaction()``), sent as one zkfast multi."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional, Sequence

from ..errors import TransactionFailedError, ZooKeeperError
from ..transaction import Check as _Check
from ..transaction import Create as _Create
from ..transaction import Delete as _Delete
from ..transaction import SetData as _SetData
from ._errors import kazoo_error
from ._results import RequestResult, adopt, failed_result
from .protocol.paths import normpath
from .protocol.serialization import CheckVersion, Create, Delete, SetData
from .protocol.states import ZnodeStat
from .security import OPEN_ACL_UNSAFE

if TYPE_CHECKING:
    from .client import KazooClient

__all__ = ["TransactionRequest"]

_znode = tuple.__new__


def _kazoo_results(results: List[Any]) -> List[Any]:
    """zkfast's per-op results as kazoo's (paths, ZnodeStat, True; kazoo exceptions)."""
    out: List[Any] = []
    for r in results:
        if isinstance(r, BaseException):
            out.append(kazoo_error(r))
        elif isinstance(r, tuple) and len(r) == 11:  # a Stat
            out.append(_znode(ZnodeStat, r))
        else:
            out.append(r)
    return out


class TransactionResult(RequestResult):
    """``commit_async``'s: kazoo's per-op results. A failed transaction is not
    raised: its per-op results are the value."""

    __slots__ = ()

    def _convert(self, value: Any) -> Any:
        return _kazoo_results(value)

    def _failed(self, error: ZooKeeperError) -> Any:
        if isinstance(error, TransactionFailedError):
            return _kazoo_results(error.results)
        return super()._failed(error)


class TransactionRequest:
    """kazoo's transaction builder: ops accumulate in ``operations`` (kazoo's
    records, with server paths) until ``commit()`` sends them as one multi.
    ``commit()`` returns one result per op; when the transaction failed, each
    is an exception instance (the failing op's real error, the others
    :class:`~zkfast.kazoo.exceptions.RolledBackError` or
    :class:`~zkfast.kazoo.exceptions.RuntimeInconsistency`). Not thread-safe.

    >>> with zk.transaction() as t:              # doctest: +SKIP
    ...     t.check("/cfg", 3)
    ...     t.set_data("/cfg", b"v4")
    """

    def __init__(self, client: KazooClient) -> None:
        self.client = client
        self.operations: List[Any] = []
        self.committed = False

    def _server_path(self, path: str, trailing: bool = False) -> str:
        chroot = self.client.chroot or ""
        return normpath(chroot + "/" + path.lstrip("/"), trailing=trailing)

    def create(self, path: str, value: bytes = b"", acl: Optional[Sequence[Any]] = None,
               ephemeral: bool = False, sequence: bool = False) -> None:
        if acl is None and self.client.default_acl:
            acl = self.client.default_acl
        if not isinstance(path, str):
            raise TypeError("Invalid type for 'path' (string expected)")
        if acl and not isinstance(acl, (tuple, list)):
            raise TypeError("Invalid type for 'acl' (acl must be a tuple/list of ACL's")
        if not isinstance(value, bytes):
            raise TypeError("Invalid type for 'value' (must be a byte string)")
        if not isinstance(ephemeral, bool):
            raise TypeError("Invalid type for 'ephemeral' (bool expected)")
        if not isinstance(sequence, bool):
            raise TypeError("Invalid type for 'sequence' (bool expected)")
        flags = (1 if ephemeral else 0) | (2 if sequence else 0)
        self._add(Create(self._server_path(path, sequence), value, acl or OPEN_ACL_UNSAFE, flags))

    def delete(self, path: str, version: int = -1) -> None:
        if not isinstance(path, str):
            raise TypeError("Invalid type for 'path' (string expected)")
        if not isinstance(version, int):
            raise TypeError("Invalid type for 'version' (int expected)")
        self._add(Delete(self._server_path(path), version))

    def set_data(self, path: str, value: bytes, version: int = -1) -> None:
        if not isinstance(path, str):
            raise TypeError("Invalid type for 'path' (string expected)")
        if not isinstance(value, bytes):
            raise TypeError("Invalid type for 'value' (must be a byte string)")
        if not isinstance(version, int):
            raise TypeError("Invalid type for 'version' (int expected)")
        self._add(SetData(self._server_path(path), value, version))

    def check(self, path: str, version: int) -> None:
        if not isinstance(path, str):
            raise TypeError("Invalid type for 'path' (string expected)")
        if not isinstance(version, int):
            raise TypeError("Invalid type for 'version' (int expected)")
        self._add(CheckVersion(self._server_path(path), version))

    def commit_async(self) -> Any:
        """Send the transaction; an async result of the per-op results."""
        self._check_tx_state()
        self.committed = True
        client = self.client
        try:
            fut = client._native.multi_async(*[self._native_op(op) for op in self.operations])
        except ZooKeeperError as e:
            return failed_result(client.handler, kazoo_error(e))
        return adopt(fut, client._results.bind(TransactionResult))

    def commit(self) -> List[Any]:
        """Send the transaction; one result per op (see the class docstring)."""
        return self.commit_async().get()  # type: ignore[no-any-return]

    def _native_op(self, op: Any) -> Any:
        path = self.client.unchroot(op.path)
        if isinstance(op, Create):
            data = op.data if op.data is not None else b""
            return _Create(path, data, op.acl, ephemeral=bool(op.flags & 1),
                           sequence=bool(op.flags & 2))
        if isinstance(op, Delete):
            return _Delete(path, op.version)
        if isinstance(op, SetData):
            return _SetData(path, op.data or b"", op.version)
        return _Check(path, op.version)

    def __enter__(self) -> TransactionRequest:
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, exc_tb: Any) -> None:
        if not exc_type:
            self.commit()

    def _check_tx_state(self) -> None:
        if self.committed:
            raise ValueError("Transaction already committed")

    def _add(self, request: Any) -> None:
        self._check_tx_state()
        self.operations.append(request)
