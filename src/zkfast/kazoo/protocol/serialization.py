"""kazoo's request records, as data: what ``TransactionRequest.operations`` holds.

zkfast's codec encodes and decodes the wire (:mod:`zkfast.codec`); these named
tuples keep kazoo's names and fields (and ``type``, the opcode) for code that
builds or inspects them. :func:`write_string`, :func:`write_buffer` and the
``*_struct`` packers are jute's big-endian encodings.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple, Optional, Sequence

__all__ = ["int_struct", "int_int_struct", "int_int_long_struct", "long_struct", "bool_struct",
           "write_string", "write_buffer", "Connect", "Create", "Delete", "SetData",
           "CheckVersion"]

int_struct = struct.Struct("!i")
int_int_struct = struct.Struct("!ii")
int_int_long_struct = struct.Struct("!iiq")
long_struct = struct.Struct("!q")
bool_struct = struct.Struct("B")


def write_string(value: Optional[str]) -> bytes:
    """A jute string: length (-1 for None) then UTF-8 bytes."""
    if value is None:
        return int_struct.pack(-1)
    data = value.encode("utf-8")
    return int_struct.pack(len(data)) + data


def write_buffer(value: Optional[bytes]) -> bytes:
    """A jute buffer: length (-1 for None) then the bytes."""
    if value is None:
        return int_struct.pack(-1)
    return int_struct.pack(len(value)) + bytes(value)


class Connect(NamedTuple):
    """The session handshake's request (its reply has the same fields, less ``last_zxid_seen``)."""

    protocol_version: int
    last_zxid_seen: int
    time_out: int
    session_id: int
    passwd: bytes
    read_only: Optional[bool]


class _CreateFields(NamedTuple):
    path: str
    data: Optional[bytes]
    acl: Sequence[Any]
    flags: int


class Create(_CreateFields):
    """A create: ``flags`` 1 = ephemeral, 2 = sequential."""

    type = 1


class _DeleteFields(NamedTuple):
    path: str
    version: int


class Delete(_DeleteFields):
    type = 2


class _SetDataFields(NamedTuple):
    path: str
    data: Optional[bytes]
    version: int


class SetData(_SetDataFields):
    type = 5


class _CheckVersionFields(NamedTuple):
    path: str
    version: int


class CheckVersion(_CheckVersionFields):
    type = 13
