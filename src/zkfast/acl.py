"""ACL helpers: permission flags, the usual ACL lists, digest identities.

>>> from zkfast.acl import Perm, digest_acl
>>> acl = digest_acl(Perm.READ | Perm.WRITE, "bob", "secret")
>>> acl.id.scheme
'digest'
"""

from __future__ import annotations

import base64
import enum
import hashlib
from typing import List

from .records import ACL, Id

__all__ = [
    "Perm", "ACL", "Id", "OPEN_ACL_UNSAFE", "CREATOR_ALL_ACL", "READ_ACL_UNSAFE",
    "ANYONE_ID_UNSAFE", "AUTH_IDS", "world_acl", "auth_acl", "digest_acl", "ip_acl",
    "make_digest_id", "make_acl",
]


class Perm(enum.IntFlag):
    READ = 1
    WRITE = 2
    CREATE = 4
    DELETE = 8
    ADMIN = 16
    ALL = 31


ANYONE_ID_UNSAFE = Id("world", "anyone")
AUTH_IDS = Id("auth", "")

OPEN_ACL_UNSAFE: List[ACL] = [ACL(int(Perm.ALL), ANYONE_ID_UNSAFE)]
CREATOR_ALL_ACL: List[ACL] = [ACL(int(Perm.ALL), AUTH_IDS)]
READ_ACL_UNSAFE: List[ACL] = [ACL(int(Perm.READ), ANYONE_ID_UNSAFE)]


def world_acl(perms: int = Perm.ALL) -> List[ACL]:
    """An ACL list granting ``perms`` to everyone (go's WorldACL)."""
    return [ACL(int(perms), ANYONE_ID_UNSAFE)]


def auth_acl(perms: int = Perm.ALL) -> List[ACL]:
    """An ACL list granting ``perms`` to whoever created the node (go's AuthACL)."""
    return [ACL(int(perms), AUTH_IDS)]


def make_digest_id(user: str, password: str) -> str:
    """``user:base64(sha1(user:password))``, exactly as DigestAuthenticationProvider computes it."""
    digest = hashlib.sha1(f"{user}:{password}".encode()).digest()
    return f"{user}:{base64.b64encode(digest).decode('ascii')}"


def digest_acl(perms: int, user: str, password: str) -> ACL:
    """One ACL entry for the digest identity of ``user``/``password`` (go's DigestACL)."""
    return ACL(int(perms), Id("digest", make_digest_id(user, password)))


def ip_acl(perms: int, address: str) -> ACL:
    """One ACL entry for clients from ``address`` (an IP or CIDR)."""
    return ACL(int(perms), Id("ip", address))


def make_acl(scheme: str, credential: str, read: bool = False, write: bool = False,
             create: bool = False, delete: bool = False, admin: bool = False,
             all: bool = False) -> ACL:
    """kazoo-style constructor: ``make_acl("world", "anyone", all=True)``."""
    perms = Perm(0)
    if all:
        perms = Perm.ALL
    else:
        for flag, on in ((Perm.READ, read), (Perm.WRITE, write), (Perm.CREATE, create),
                         (Perm.DELETE, delete), (Perm.ADMIN, admin)):
            if on:
                perms |= flag
    return ACL(int(perms), Id(scheme, credential))
