"""Build server-side jute frames by hand, to feed the codec in tests.

Plain ``struct`` code written from the jute rules (big-endian; int 4 bytes,
long 8, bool 1; buffer/string = int length, -1 for null, then the bytes;
vector = int count, -1 for null, then the items), independent of both codec
backends so that it can check them. Every function returns ``bytes``.

``reply(xid, zxid, err, body)`` makes a whole frame (length prefix + reply
header + body); the other functions make bodies or pieces of bodies.
"""

from __future__ import annotations

import struct
from typing import Iterable, Optional, Sequence, Tuple

from zkfast.records import ACL, ClientInfo, Id, Stat

__all__ = [
    "acl_records",
    "acls",
    "boolean",
    "buffer",
    "client_infos",
    "connect_response",
    "frame",
    "i32",
    "i64",
    "multi_done",
    "multi_header",
    "multi_results",
    "reply",
    "reply_header",
    "request",
    "sample_stat",
    "stat",
    "string",
    "strings",
    "vector_header",
    "watcher_event",
]


def i32(v: int) -> bytes:
    return struct.pack(">i", v)


def i64(v: int) -> bytes:
    return struct.pack(">q", v)


def boolean(v: bool) -> bytes:
    return b"\x01" if v else b"\x00"


def buffer(b: Optional[bytes]) -> bytes:
    if b is None:
        return i32(-1)
    return i32(len(b)) + bytes(b)


def string(s: Optional[str]) -> bytes:
    if s is None:
        return i32(-1)
    return buffer(s.encode("utf-8"))


def vector_header(count: int) -> bytes:
    """The count of a vector; -1 is a null vector."""
    return i32(count)


def strings(items: Optional[Iterable[Optional[str]]]) -> bytes:
    """vector<ustring>; ``None`` is the null vector, a ``None`` item a null string."""
    if items is None:
        return i32(-1)
    items = list(items)
    return i32(len(items)) + b"".join(string(s) for s in items)


def sample_stat(**fields: int) -> Stat:
    """A Stat with distinct, realistic values; override any field by name."""
    base = {"czxid": 0x100000002, "mzxid": 0x100000007, "ctime": 1700000000123,
                "mtime": 1700000004567, "version": 3, "cversion": 2, "aversion": 1,
                "ephemeral_owner": 0x1000ABCDEF0001, "data_length": 5, "num_children": 2,
                "pzxid": 0x100000009}
    base.update(fields)
    return Stat(**base)


def stat(st: Sequence[int]) -> bytes:
    """The 68-byte Stat record: longs czxid mzxid ctime mtime, ints version
    cversion aversion, long ephemeralOwner, ints dataLength numChildren, long pzxid."""
    return struct.pack(">qqqqiiiqiiq", *st)


def acls(entries: Optional[Iterable[Tuple[int, Tuple[Optional[str], Optional[str]]]]]) -> bytes:
    """vector<ACL>: each perms int + Id{scheme ustring, id ustring}."""
    if entries is None:
        return i32(-1)
    entries = list(entries)
    out = [i32(len(entries))]
    for perms, (scheme, ident) in entries:
        out.append(i32(perms) + string(scheme) + string(ident))
    return b"".join(out)


def frame(body: bytes) -> bytes:
    """Length-prefix any body."""
    return i32(len(body)) + body


def reply_header(xid: int, zxid: int, err: int) -> bytes:
    return struct.pack(">iqi", xid, zxid, err)


def reply(xid: int, zxid: int = 0, err: int = 0, body: bytes = b"") -> bytes:
    """One complete reply frame."""
    return frame(reply_header(xid, zxid, err) + body)


def watcher_event(type_: int, state: int, path: Optional[str]) -> bytes:
    return i32(type_) + i32(state) + string(path)


def multi_header(op: int, done: bool, err: int) -> bytes:
    return i32(op) + boolean(done) + i32(err)


def multi_done() -> bytes:
    """The MultiHeader that ends every multi request and reply."""
    return multi_header(-1, True, -1)


def multi_results(results: Iterable[tuple]) -> bytes:
    """A MultiResponse from ``(op, err, value)`` in the shape the codec decodes to:

    create 1 -> path; create2 15 -> (path, Stat); setData 5 -> Stat;
    delete 2 / check 13 -> None; getData 4 -> (data, Stat); getChildren 8 -> [names];
    error -1 -> None, with ``err`` written both in the header and as the
    ErrorResult body (as the server does).
    """
    out = []
    for op, err, value in results:
        out.append(multi_header(op, False, err))
        if op == 1:
            out.append(string(value))
        elif op == 15:
            out.append(string(value[0]) + stat(value[1]))
        elif op == 5:
            out.append(stat(value))
        elif op in (2, 13):
            pass
        elif op == 4:
            out.append(buffer(value[0]) + stat(value[1]))
        elif op == 8:
            out.append(strings(value))
        elif op == -1:
            out.append(i32(err))
        else:
            raise ValueError(f"no builder for multi op {op}")
    out.append(multi_done())
    return b"".join(out)


def client_infos(infos: Optional[Iterable[ClientInfo]]) -> bytes:
    """whoAmI's vector<ClientInfo{authScheme ustring, user ustring}>."""
    if infos is None:
        return i32(-1)
    infos = list(infos)
    return i32(len(infos)) + b"".join(string(a) + string(u) for a, u in infos)


def connect_response(protocol_version: int = 0, timeout: int = 10000,
                     session_id: int = 0x1000ABCDEF0001,
                     passwd: Optional[bytes] = b"\x5a" * 16,
                     read_only: Optional[bool] = False) -> bytes:
    """A whole ConnectResponse frame (it has no reply header); ``read_only=None``
    leaves the trailing bool out, as servers older than 3.4 do."""
    body = i32(protocol_version) + i32(timeout) + i64(session_id) + buffer(passwd)
    if read_only is not None:
        body += boolean(read_only)
    return frame(body)


def request(xid: int, op: int, body: bytes = b"") -> bytes:
    """A client request frame (length, xid, type, body), to check encoders against."""
    return frame(i32(xid) + i32(op) + body)


def acl_records(entries: Iterable[Tuple[int, Tuple[str, str]]]) -> list:
    """The decoded form of ``acls(entries)``."""
    return [ACL(p, Id(s, i)) for p, (s, i) in entries]
