"""Operations for ``multi`` (atomic writes) and ``multi_read`` (batched reads).

>>> from zkfast.transaction import Create, SetData, Check
>>> ops = [Check("/cfg", version=3), SetData("/cfg", b"v4"), Create("/cfg/log-", b"", sequence=True)]

``client.multi(*ops)`` applies all or none; ``client.transaction()`` builds
the same list fluently (kazoo style).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generator, Generic, List, Optional, Sequence, Tuple, TypeVar

from . import codec
from .arguments import check_acl, check_bytes, check_version, create_mode, ttl_ms
from .errors import TransactionFailedError

if TYPE_CHECKING:
    from .interface import RequestFactory, SessionClient

__all__ = ["Create", "Delete", "SetData", "Check", "GetData", "GetChildren", "Transaction", "Op"]


@dataclass(frozen=True)
class Create:
    path: str
    value: bytes = b""
    acl: Optional[Sequence[Any]] = None
    ephemeral: bool = False
    sequence: bool = False
    container: bool = False
    ttl: Optional[float] = None
    include_data: bool = False

    def to_wire(self, engine: RequestFactory) -> Tuple[Any, ...]:
        spath = engine.server_path(self.path, self.sequence)
        check_bytes(self.value)
        acls = check_acl(self.acl)
        flags = create_mode(ephemeral=self.ephemeral, sequence=self.sequence,
                            container=self.container, ttl=self.ttl)
        if self.ttl is not None:
            return (codec.OP_CREATE_TTL, spath, self.value, acls, flags, ttl_ms(self.ttl))
        if self.container:
            return (codec.OP_CREATE_CONTAINER, spath, self.value, acls)
        op = codec.OP_CREATE2 if self.include_data else codec.OP_CREATE
        return (op, spath, self.value, acls, flags)


@dataclass(frozen=True)
class Delete:
    path: str
    version: int = -1

    def to_wire(self, engine: RequestFactory) -> Tuple[Any, ...]:
        return (codec.OP_DELETE, engine.server_path(self.path), check_version(self.version))


@dataclass(frozen=True)
class SetData:
    path: str
    value: bytes
    version: int = -1

    def to_wire(self, engine: RequestFactory) -> Tuple[Any, ...]:
        check_bytes(self.value)
        return (codec.OP_SET_DATA, engine.server_path(self.path), self.value, check_version(self.version))


@dataclass(frozen=True)
class Check:
    path: str
    version: int

    def to_wire(self, engine: RequestFactory) -> Tuple[Any, ...]:
        return (codec.OP_CHECK, engine.server_path(self.path), check_version(self.version))


@dataclass(frozen=True)
class GetData:
    """A read for ``multi_read``."""

    path: str

    def to_wire(self, engine: RequestFactory) -> Tuple[Any, ...]:
        return (codec.OP_GET_DATA, engine.server_path(self.path))


@dataclass(frozen=True)
class GetChildren:
    """A read for ``multi_read``."""

    path: str

    def to_wire(self, engine: RequestFactory) -> Tuple[Any, ...]:
        return (codec.OP_GET_CHILDREN, engine.server_path(self.path))


Op = Any
R = TypeVar("R")


@dataclass
class Transaction(Generic[R]):
    """Collects ops, then ``commit()`` sends them as one multi.

    ``commit()`` returns one result per op: the created path, a ``Stat`` for
    set_data, ``True`` for delete/check, or, when the transaction failed, an
    exception instance per op (the failing op's real error, the others
    ``RolledBackError``/``RuntimeInconsistencyError``).
    """

    client: SessionClient
    ops: List[Op] = field(default_factory=list)

    def create(self, path: str, value: bytes = b"", acl: Optional[Sequence[Any]] = None,
               ephemeral: bool = False, sequence: bool = False, container: bool = False,
               ttl: Optional[float] = None) -> Transaction[R]:
        self.ops.append(Create(path, value, acl, ephemeral, sequence, container, ttl))
        return self

    def delete(self, path: str, version: int = -1) -> Transaction[R]:
        self.ops.append(Delete(path, version))
        return self

    def set_data(self, path: str, value: bytes, version: int = -1) -> Transaction[R]:
        self.ops.append(SetData(path, value, version))
        return self

    set = set_data

    def check(self, path: str, version: int) -> Transaction[R]:
        self.ops.append(Check(path, version))
        return self

    def commit(self) -> R:
        """Send the ops as one multi: the results (awaitable on an AsyncClient)."""
        return self.client.run_steps(commit_steps(self.client, self.ops))  # type: ignore[no-any-return]

    def commit_async(self) -> Any:
        """Send the ops as one multi: a future of the results (raises on failure)."""
        return self.client.submit(self.client.requests.op_multi(self.ops))


def commit_steps(client: SessionClient, ops: Sequence[Any]) -> Generator[Any, Any, Any]:
    """A multi whose per-op results come back even when it fails (no raise)."""
    try:
        return (yield client.requests.op_multi(ops))
    except TransactionFailedError as e:
        return e.results
