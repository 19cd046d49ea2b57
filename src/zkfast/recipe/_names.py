"""Node names the recipes make and read: joining paths, sequence suffixes,
protected (``_c_<guid>-``) prefixes, and the order of a line of contenders.

Other clients share our paths, so their names must parse too. The protected
forms in use (checked against each client's source):

* Curator: ``_c_`` + a dashed 36-character UUID + ``-`` + name
  (``ProtectedUtils``: ``_c_d2d7323f-10b9-4ff1-b1c4-9ebb1f0639d0-lock-0000000000``);
* go-zookeeper and zkfast: ``_c_`` + 32 hex digits + ``-`` + name
  (``_c_a104ee50faea4775a6101f8a6d6a950f-lock-0000000001``).

A guid may contain ``-`` and so may the name after it, so the prefix is
matched as a whole, never cut at the first dash. Who is ahead of whom never
depends on parsing a name at all: :func:`queue_order` ranks every sequential
child by its sequence suffix, as Curator and go-zookeeper do, so a contender
whose name we cannot read still holds its place in line.
"""

from __future__ import annotations

import re
import uuid
from typing import Iterable, List, Optional, Union

from ..paths import join
from ..steps import PROTECTED_PREFIX

__all__ = ["join", "seq_of", "queue_order", "protected_guid", "strip_protected", "to_bytes",
           "new_guid", "PROTECTED_PREFIX"]

_HEX = "[0-9a-fA-F]"
# One alternative per guid form a peer writes; the trailing "-" belongs to the prefix.
_PROTECTED = re.compile(
    re.escape(PROTECTED_PREFIX)
    + rf"(?P<guid>{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"  # Curator
    + rf"|{_HEX}{{32}})-"                                                       # go, zkfast
)


def seq_of(name: str) -> int:
    """The 10-digit sequence suffix of a sequential node's name (-1 if none)."""
    tail = name[-10:]
    return int(tail) if len(tail) == 10 and tail.isdigit() else -1


def queue_order(children: Iterable[str]) -> List[str]:
    """Every child with a sequence suffix, lowest sequence first: the line of
    contenders of a lock, latch or lease path as Curator and go-zookeeper see
    it (they rank all children by sequence, whatever the name or guid form).
    Children without a sequence suffix are no contenders of anyone's."""
    return sorted((c for c in children if seq_of(c) >= 0), key=seq_of)


def protected_guid(name: str) -> Optional[str]:
    """The guid of a protected name in one of the known forms, else None."""
    m = _PROTECTED.match(name)
    # Like Curator's ProtectedUtils, a prefix with nothing after it is no protected name.
    return m.group("guid") if m is not None and len(name) > m.end() else None


def strip_protected(name: str) -> str:
    """The name without its protected prefix:
    ``_c_d2d7323f-10b9-4ff1-b1c4-9ebb1f0639d0-__READ__0000000003`` and
    ``_c_<32 hex>-__READ__0000000003`` -> ``__READ__0000000003``.
    Unprotected names and guids of an unknown form come back unchanged, so a
    test like ``startswith("__READ__")`` is False for them: callers must
    treat such a node as the kind that blocks (a writer), never skip it."""
    m = _PROTECTED.match(name)
    if m is not None and len(name) > m.end():
        return name[m.end():]
    return name


def to_bytes(value: Union[None, str, bytes, bytearray, memoryview]) -> bytes:
    """Identifiers may be given as str (UTF-8) or bytes; None is empty."""
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def new_guid() -> str:
    """A guid for our protected names: 32 lowercase hex digits (go-zookeeper's form)."""
    return uuid.uuid4().hex
