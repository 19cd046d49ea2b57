"""Node names the recipes make and read: joining paths, sequence suffixes,
protected (``_c_<guid>-``) prefixes."""

from __future__ import annotations

import uuid
from typing import Union

from ..paths import join
from ..steps import PROTECTED_PREFIX

__all__ = ["join", "seq_of", "strip_protected", "to_bytes", "new_guid", "PROTECTED_PREFIX"]


def seq_of(name: str) -> int:
    """The 10-digit sequence suffix of a sequential node's name (-1 if none)."""
    tail = name[-10:]
    return int(tail) if len(tail) == 10 and tail.isdigit() else -1


def strip_protected(name: str) -> str:
    """``_c_<guid>-lock-0000000003`` -> ``lock-0000000003`` (other names unchanged)."""
    if name.startswith(PROTECTED_PREFIX):
        i = name.find("-", len(PROTECTED_PREFIX))
        if i > 0:
            return name[i + 1:]
    return name


def to_bytes(value: Union[None, str, bytes, bytearray, memoryview]) -> bytes:
    """Identifiers may be given as str (UTF-8) or bytes; None is empty."""
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def new_guid() -> str:
    return uuid.uuid4().hex
