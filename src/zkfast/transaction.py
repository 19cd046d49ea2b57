"""Operations for ``multi`` (atomic writes) and ``multi_read`` (batched reads).

>>> from zkfast.transaction import Create, SetData, Check
>>> ops = [Check("/cfg", version=3), SetData("/cfg", b"v4"), Create("/cfg/log-", b"", sequence=True)]

``client.multi(*ops)`` applies all or none; ``client.transaction()`` builds
the same list fluently (kazoo style).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, List, Optional, Sequence, Tuple, TypeVar

from . import codec

if TYPE_CHECKING:
    from .protocol import SessionEngine

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

    def to_wire(self, engine: SessionEngine) -> Tuple[Any, ...]:
        from .protocol import _check_acl, _check_bytes
        spath = engine._path(self.path, self.sequence)
        _check_bytes(self.value)
        acls = _check_acl(self.acl)
        flags = engine.create_flags(ephemeral=self.ephemeral, sequence=self.sequence,
                                    container=self.container, ttl=self.ttl)
        if self.ttl is not None:
            return (codec.OP_CREATE_TTL, spath, self.value, acls, flags, engine._ttl_ms(self.ttl))
        if self.container:
            return (codec.OP_CREATE_CONTAINER, spath, self.value, acls)
        op = codec.OP_CREATE2 if self.include_data else codec.OP_CREATE
        return (op, spath, self.value, acls, flags)


@dataclass(frozen=True)
class Delete:
    path: str
    version: int = -1

    def to_wire(self, engine: SessionEngine) -> Tuple[Any, ...]:
        from .protocol import _check_version
        return (codec.OP_DELETE, engine._path(self.path), _check_version(self.version))


@dataclass(frozen=True)
class SetData:
    path: str
    value: bytes
    version: int = -1

    def to_wire(self, engine: SessionEngine) -> Tuple[Any, ...]:
        from .protocol import _check_bytes, _check_version
        _check_bytes(self.value)
        return (codec.OP_SET_DATA, engine._path(self.path), self.value, _check_version(self.version))


@dataclass(frozen=True)
class Check:
    path: str
    version: int

    def to_wire(self, engine: SessionEngine) -> Tuple[Any, ...]:
        from .protocol import _check_version
        return (codec.OP_CHECK, engine._path(self.path), _check_version(self.version))


@dataclass(frozen=True)
class GetData:
    """A read for ``multi_read``."""

    path: str

    def to_wire(self, engine: SessionEngine) -> Tuple[Any, ...]:
        return (codec.OP_GET_DATA, engine._path(self.path))


@dataclass(frozen=True)
class GetChildren:
    """A read for ``multi_read``."""

    path: str

    def to_wire(self, engine: SessionEngine) -> Tuple[Any, ...]:
        return (codec.OP_GET_CHILDREN, engine._path(self.path))


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

    client: Any
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
        return self.client._commit(self.ops)  # type: ignore[no-any-return]  # R: what the client's _commit gives

    def commit_async(self) -> Any:
        return self.client._submit(self.client._engine.op_multi(self.ops))
