"""ACL specs on the command line: ``scheme:id:perms[,...]`` to :class:`~zkfast.ACL`
and back (zkCli's permission letters ``cdrwa``)."""

from __future__ import annotations

from typing import Any

from ..acl import ACL, Id, Perm
from .exitcodes import EXIT_USAGE, CLIError

_PERM_LETTERS = (("c", Perm.CREATE), ("d", Perm.DELETE), ("r", Perm.READ),
                 ("w", Perm.WRITE), ("a", Perm.ADMIN))


def format_perms(perms: int) -> str:
    """``31`` -> ``"cdrwa"`` (zkCli's letters and order)."""
    return "".join(ch for ch, flag in _PERM_LETTERS if perms & flag)


def parse_perms(text: str) -> int:
    """``"rw"`` -> ``Perm.READ | Perm.WRITE``; ``"cdrwa"`` or ``"all"`` -> ``Perm.ALL``."""
    if text.lower() == "all":
        return int(Perm.ALL)
    perms = 0
    letters = dict(_PERM_LETTERS)
    for ch in text.lower():
        if ch not in letters:
            raise CLIError(f"invalid permission {ch!r} in {text!r} (use letters of 'cdrwa')",
                           EXIT_USAGE)
        perms |= letters[ch]
    if not perms:
        raise CLIError("an ACL needs at least one permission (letters of 'cdrwa')", EXIT_USAGE)
    return perms


def parse_acl_spec(spec: str) -> list[ACL]:
    """``"world:anyone:cdrwa,digest:bob:HASH=:rw"`` -> a list of :class:`ACL`.

    Each entry is ``scheme:id:perms``; the id may itself contain colons
    (``digest:user:hash``, IPv6 addresses); ``auth::cdrwa`` has an empty id.
    """
    acls: list[ACL] = []
    for entry in spec.split(","):
        entry = entry.strip()
        if not entry:
            continue
        scheme, sep, rest = entry.partition(":")
        ident, sep2, perms = rest.rpartition(":")
        if not sep or not sep2 or not scheme:
            raise CLIError(f"invalid ACL {entry!r}: expected scheme:id:perms, "
                           "e.g. world:anyone:cdrwa", EXIT_USAGE)
        acls.append(ACL(parse_perms(perms), Id(scheme, ident)))
    if not acls:
        raise CLIError(f"empty ACL spec {spec!r}", EXIT_USAGE)
    return acls


def format_acl(acl: ACL) -> str:
    """``ACL(31, Id("world", "anyone"))`` -> ``"world:anyone:cdrwa"``."""
    return f"{acl.id.scheme}:{acl.id.id}:{format_perms(acl.perms)}"


def acl_json(acl: ACL) -> dict[str, Any]:
    return {"scheme": acl.id.scheme, "id": acl.id.id, "perms": format_perms(acl.perms)}
