"""kazoo's ACL records and helpers: ``ACL``, ``Id``, ``Permissions``, ``make_acl``,
``make_digest_acl``, ``make_digest_acl_credential`` and the usual ACL lists.

``ACL`` and ``Id`` are named tuples, so they compare equal to zkfast's
(:class:`zkfast.ACL`, :class:`zkfast.Id`) with the same values, and either kind
may be passed to either API.

>>> make_digest_acl("bob", "secret", read=True)
ACL(perms=1, acl_list=['READ'], id=Id(scheme='digest', id='bob:...'))
"""

from __future__ import annotations

from typing import Any, List, NamedTuple

from ..acl import make_digest_id

__all__ = ["Id", "ACL", "Permissions", "ANYONE_ID_UNSAFE", "AUTH_IDS", "OPEN_ACL_UNSAFE",
           "CREATOR_ALL_ACL", "READ_ACL_UNSAFE", "make_digest_acl_credential", "make_acl",
           "make_digest_acl"]


class Id(NamedTuple):
    """An identity: ``Id("world", "anyone")``, ``Id("digest", "user:hash")``."""

    scheme: str
    id: str


class Permissions:
    """The permission bits of an ACL entry."""

    READ = 1
    WRITE = 2
    CREATE = 4
    DELETE = 8
    ADMIN = 16
    ALL = 31


_NAMED = (("READ", Permissions.READ), ("WRITE", Permissions.WRITE),
          ("CREATE", Permissions.CREATE), ("DELETE", Permissions.DELETE),
          ("ADMIN", Permissions.ADMIN))


class ACL(NamedTuple):
    """One ACL entry: ``perms`` (:class:`Permissions` bits) for the identity ``id``."""

    perms: int
    id: Any

    @property
    def acl_list(self) -> List[str]:
        """The permission names: ``["ALL"]`` when every bit is set."""
        if self.perms & Permissions.ALL == Permissions.ALL:
            return ["ALL"]
        return [name for name, bit in _NAMED if self.perms & bit == bit]

    def __repr__(self) -> str:
        return f"ACL(perms={self.perms!r}, acl_list={self.acl_list}, id={self.id!r})"


ANYONE_ID_UNSAFE = Id("world", "anyone")
AUTH_IDS = Id("auth", "")

OPEN_ACL_UNSAFE: List[ACL] = [ACL(Permissions.ALL, ANYONE_ID_UNSAFE)]
CREATOR_ALL_ACL: List[ACL] = [ACL(Permissions.ALL, AUTH_IDS)]
READ_ACL_UNSAFE: List[ACL] = [ACL(Permissions.READ, ANYONE_ID_UNSAFE)]


def make_digest_acl_credential(username: str, password: str) -> str:
    """``username:base64(sha1(username:password))``: the id of a digest ACL
    (UTF-8 encoded; start the server's JVM with ``-Dfile.encoding=UTF-8`` for
    non-ASCII names)."""
    return make_digest_id(username, password)


def make_acl(scheme: str, credential: str, read: bool = False, write: bool = False,
             create: bool = False, delete: bool = False, admin: bool = False,
             all: bool = False) -> ACL:
    """An :class:`ACL` for ``Id(scheme, credential)`` with the permissions asked for.

    >>> make_acl("world", "anyone", all=True)
    ACL(perms=31, acl_list=['ALL'], id=Id(scheme='world', id='anyone'))
    """
    if all:
        perms = Permissions.ALL
    else:
        perms = 0
        for on, bit in ((read, Permissions.READ), (write, Permissions.WRITE),
                        (create, Permissions.CREATE), (delete, Permissions.DELETE),
                        (admin, Permissions.ADMIN)):
            if on:
                perms |= bit
    return ACL(perms, Id(scheme, credential))


def make_digest_acl(username: str, password: str, read: bool = False, write: bool = False,
                    create: bool = False, delete: bool = False, admin: bool = False,
                    all: bool = False) -> ACL:
    """A digest :class:`ACL` for ``username``/``password`` (the plain password;
    it is hashed here)."""
    return make_acl("digest", make_digest_acl_credential(username, password), read=read,
                    write=write, create=create, delete=delete, admin=admin, all=all)
