"""Pure-Python jute codec: the twin of ``_codec.pyx``.

Both modules expose the same functions, constants and ``FrameReader`` class and
raise the same exceptions; a differential test holds them byte for byte
together. Import them through :mod:`zkfast.codec`, which picks the backend.

Encoders return complete frames (4-byte big-endian length prefix included),
ready for one ``send``. Jute is big-endian: int 4 bytes, long 8, bool 1,
buffer/string = int length (-1 for null) + bytes, vector = int count + items.
"""

from __future__ import annotations

import builtins
import struct
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from .errors import CODE_RESPONSE_TOO_LARGE, CodecError
from .records import ACL, ClientInfo, ConnectResponse, Id, ResponseTooLarge, Stat, WatcherEvent

# jute.maxbuffer's default plus room for the reply header and Stat.
DEFAULT_MAX_BUFFER_SIZE = 0xFFFFF + 1024

# --- opcodes (ZooDefs.OpCode) ----------------------------------------------
OP_NOTIFICATION = 0
OP_CREATE = 1
OP_DELETE = 2
OP_EXISTS = 3
OP_GET_DATA = 4
OP_SET_DATA = 5
OP_GET_ACL = 6
OP_SET_ACL = 7
OP_GET_CHILDREN = 8
OP_SYNC = 9
OP_PING = 11
OP_GET_CHILDREN2 = 12
OP_CHECK = 13
OP_MULTI = 14
OP_CREATE2 = 15
OP_RECONFIG = 16
OP_CHECK_WATCHES = 17
OP_REMOVE_WATCHES = 18
OP_CREATE_CONTAINER = 19
OP_CREATE_TTL = 21
OP_MULTI_READ = 22
OP_AUTH = 100
OP_SET_WATCHES = 101
OP_SASL = 102
OP_GET_EPHEMERALS = 103
OP_GET_ALL_CHILDREN_NUMBER = 104
OP_SET_WATCHES2 = 105
OP_ADD_WATCH = 106
OP_WHO_AM_I = 107
OP_CLOSE_SESSION = -11
OP_ERROR = -1

# --- special xids ------------------------------------------------------------
XID_NOTIFICATION = -1
XID_PING = -2
XID_AUTH = -4
XID_SET_WATCHES = -8

# --- reply body kinds: what the frame splitter decodes a body as -------------
KIND_NONE = 0            # no body (delete, check, auth, ping, setWatches, close, removeWatches)
KIND_STAT = 1            # exists, setData, setACL
KIND_DATA_STAT = 2       # getData, reconfig: (bytes|None, Stat)
KIND_STRING = 3          # create, sync: str
KIND_STRING_STAT = 4     # create2 / createTTL / createContainer: (str, Stat)
KIND_CHILDREN = 5        # getChildren, getEphemerals: list[str]
KIND_CHILDREN_STAT = 6   # getChildren2: (list[str], Stat)
KIND_ACL_STAT = 7        # getACL: (list[ACL], Stat)
KIND_INT = 8             # getAllChildrenNumber, addWatch's ErrorResponse: int
KIND_MULTI = 9           # multi, multiRead: list[(type, err, value)]
KIND_CLIENT_INFO = 10    # whoAmI: list[ClientInfo]
KIND_BUFFER = 11         # sasl: bytes|None
KIND_WATCHER_EVENT = 12  # xid -1: WatcherEvent
KIND_RAW = 13            # the body bytes as they came (unknown xid)

_HEADER = struct.Struct(">iqi")      # reply header: xid, zxid, err
_REQ = struct.Struct(">iii")         # frame length, xid, type
_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")
_STAT = struct.Struct(">qqqqiiiqiiq")
_MULTI_HEADER = struct.Struct(">i?i")
_INT_MIN = -(1 << 31)
_INT_MAX = (1 << 31) - 1
_LONG_MIN = -(1 << 63)
_LONG_MAX = (1 << 63) - 1


# =============================================================== writing


def _check_int(v: Any, name: str) -> int:
    if type(v) is not int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must be an int, not {type(v).__name__}")
    if not _INT_MIN <= v <= _INT_MAX:
        raise OverflowError(f"{name}={v} does not fit a 32-bit int")
    return int(v)


def _check_long(v: Any, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{name} must be an int, not {type(v).__name__}")
    if not _LONG_MIN <= v <= _LONG_MAX:
        raise OverflowError(f"{name}={v} does not fit a 64-bit long")
    return int(v)


def _w_string(out: bytearray, s: Optional[str]) -> None:
    if s is None:
        out += b"\xff\xff\xff\xff"
        return
    if not isinstance(s, str):
        raise TypeError(f"expected str, not {type(s).__name__}")
    b = s.encode("utf-8")
    if len(b) > _INT_MAX:
        raise OverflowError("string longer than 2 GiB")
    out += _INT.pack(len(b))
    out += b


def _w_buffer(out: bytearray, b: Any) -> None:
    if b is None:
        out += b"\xff\xff\xff\xff"
        return
    if not isinstance(b, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, not {type(b).__name__}")
    mv = memoryview(b)
    if not mv.c_contiguous:
        mv = memoryview(mv.tobytes())   # its bytes in C order, as the Cython twin sends them
    elif mv.ndim != 1 or mv.itemsize != 1:
        mv = mv.cast("B")
    if mv.nbytes > _INT_MAX:
        raise OverflowError("buffer longer than 2 GiB")
    out += _INT.pack(mv.nbytes)
    out += mv


def _w_acls(out: bytearray, acls: Optional[Sequence[Any]]) -> None:
    if acls is None:
        out += b"\xff\xff\xff\xff"
        return
    out += _INT.pack(len(acls))
    for acl in acls:
        perms, ident = acl
        scheme, id_ = ident
        out += _INT.pack(_check_int(perms, "perms"))
        _w_string(out, scheme)
        _w_string(out, id_)


def _w_strings(out: bytearray, items: Iterable[str]) -> None:
    if isinstance(items, (str, bytes, bytearray)):
        # iterating one would send its characters as separate paths
        raise TypeError(f"expected a sequence of str, not {type(items).__name__}")
    items = list(items)
    out += _INT.pack(len(items))
    for s in items:
        _w_string(out, s)


def _frame(out: bytearray) -> bytes:
    """Fill in the length prefix reserved at the start of ``out``."""
    out[0:4] = _INT.pack(len(out) - 4)
    return bytes(out)


def _start(xid: int, op: int) -> bytearray:
    return bytearray(_REQ.pack(0, _check_int(xid, "xid"), op))


def _path_request(xid: int, op: int, path: str) -> bytes:
    out = _start(xid, op)
    _w_string(out, path)
    return _frame(out)


def _path_watch_request(xid: int, op: int, path: str, watch: bool) -> bytes:
    out = _start(xid, op)
    _w_string(out, path)
    out += b"\x01" if watch else b"\x00"
    return _frame(out)


def _path_int_request(xid: int, op: int, path: str, value: int, name: str) -> bytes:
    out = _start(xid, op)
    _w_string(out, path)
    out += _INT.pack(_check_int(value, name))
    return _frame(out)


def encode_connect(last_zxid: int, timeout_ms: int, session_id: int,
                   passwd: Optional[bytes], read_only: bool) -> bytes:
    """ConnectRequest; ``passwd`` None means a new session (16 zero bytes)."""
    out = bytearray(b"\x00\x00\x00\x00\x00\x00\x00\x00")  # length, protocolVersion 0
    out += _LONG.pack(_check_long(last_zxid, "last_zxid"))
    out += _INT.pack(_check_int(timeout_ms, "timeout_ms"))
    out += _LONG.pack(_check_long(session_id, "session_id"))
    _w_buffer(out, b"\x00" * 16 if passwd is None else passwd)
    out += b"\x01" if read_only else b"\x00"
    return _frame(out)


def encode_ping() -> bytes:
    return _REQ.pack(8, XID_PING, OP_PING)


def encode_close(xid: int) -> bytes:
    return _frame(_start(xid, OP_CLOSE_SESSION))


def encode_who_am_i(xid: int) -> bytes:
    return _frame(_start(xid, OP_WHO_AM_I))


def _create_body(out: bytearray, path: str, data: Any, acls: Optional[Sequence[Any]], flags: int) -> None:
    _w_string(out, path)
    _w_buffer(out, data)
    _w_acls(out, acls)
    out += _INT.pack(_check_int(flags, "flags"))


def encode_create(xid: int, path: str, data: Any, acls: Optional[Sequence[Any]], flags: int) -> bytes:
    out = _start(xid, OP_CREATE)
    _create_body(out, path, data, acls, flags)
    return _frame(out)


def encode_create2(xid: int, path: str, data: Any, acls: Optional[Sequence[Any]], flags: int) -> bytes:
    out = _start(xid, OP_CREATE2)
    _create_body(out, path, data, acls, flags)
    return _frame(out)


def encode_create_container(xid: int, path: str, data: Any, acls: Optional[Sequence[Any]]) -> bytes:
    out = _start(xid, OP_CREATE_CONTAINER)
    _create_body(out, path, data, acls, 4)
    return _frame(out)


def encode_create_ttl(xid: int, path: str, data: Any, acls: Optional[Sequence[Any]],
                      flags: int, ttl: int) -> bytes:
    out = _start(xid, OP_CREATE_TTL)
    _create_body(out, path, data, acls, flags)
    out += _LONG.pack(_check_long(ttl, "ttl"))
    return _frame(out)


def encode_delete(xid: int, path: str, version: int) -> bytes:
    return _path_int_request(xid, OP_DELETE, path, version, "version")


def encode_exists(xid: int, path: str, watch: bool) -> bytes:
    return _path_watch_request(xid, OP_EXISTS, path, watch)


def encode_get_data(xid: int, path: str, watch: bool) -> bytes:
    return _path_watch_request(xid, OP_GET_DATA, path, watch)


def encode_set_data(xid: int, path: str, data: Any, version: int) -> bytes:
    out = _start(xid, OP_SET_DATA)
    _w_string(out, path)
    _w_buffer(out, data)
    out += _INT.pack(_check_int(version, "version"))
    return _frame(out)


def encode_get_acl(xid: int, path: str) -> bytes:
    return _path_request(xid, OP_GET_ACL, path)


def encode_set_acl(xid: int, path: str, acls: Optional[Sequence[Any]], version: int) -> bytes:
    out = _start(xid, OP_SET_ACL)
    _w_string(out, path)
    _w_acls(out, acls)
    out += _INT.pack(_check_int(version, "version"))
    return _frame(out)


def encode_get_children(xid: int, path: str, watch: bool) -> bytes:
    return _path_watch_request(xid, OP_GET_CHILDREN, path, watch)


def encode_get_children2(xid: int, path: str, watch: bool) -> bytes:
    return _path_watch_request(xid, OP_GET_CHILDREN2, path, watch)


def encode_sync(xid: int, path: str) -> bytes:
    return _path_request(xid, OP_SYNC, path)


def encode_check(xid: int, path: str, version: int) -> bytes:
    return _path_int_request(xid, OP_CHECK, path, version, "version")


def encode_get_ephemerals(xid: int, prefix: str) -> bytes:
    return _path_request(xid, OP_GET_EPHEMERALS, prefix)


def encode_get_all_children_number(xid: int, path: str) -> bytes:
    return _path_request(xid, OP_GET_ALL_CHILDREN_NUMBER, path)


def encode_add_watch(xid: int, path: str, mode: int) -> bytes:
    return _path_int_request(xid, OP_ADD_WATCH, path, mode, "mode")


def encode_remove_watches(xid: int, path: str, watcher_type: int) -> bytes:
    return _path_int_request(xid, OP_REMOVE_WATCHES, path, watcher_type, "watcher_type")


def encode_check_watches(xid: int, path: str, watcher_type: int) -> bytes:
    return _path_int_request(xid, OP_CHECK_WATCHES, path, watcher_type, "watcher_type")


def encode_reconfig(xid: int, joining: Optional[str], leaving: Optional[str],
                    new_members: Optional[str], from_config: int) -> bytes:
    out = _start(xid, OP_RECONFIG)
    _w_string(out, joining)
    _w_string(out, leaving)
    _w_string(out, new_members)
    out += _LONG.pack(_check_long(from_config, "from_config"))
    return _frame(out)


def encode_sasl(xid: int, token: Optional[bytes]) -> bytes:
    out = _start(xid, OP_SASL)
    _w_buffer(out, token)
    return _frame(out)


def encode_auth(scheme: str, auth: bytes) -> bytes:
    """AuthPacket{type 0, scheme, auth}; always xid -4."""
    out = _start(XID_AUTH, OP_AUTH)
    out += b"\x00\x00\x00\x00"
    _w_string(out, scheme)
    _w_buffer(out, auth)
    return _frame(out)


def encode_set_watches(relative_zxid: int, data: Sequence[str], exist: Sequence[str],
                       child: Sequence[str]) -> bytes:
    out = _start(XID_SET_WATCHES, OP_SET_WATCHES)
    out += _LONG.pack(_check_long(relative_zxid, "relative_zxid"))
    _w_strings(out, data)
    _w_strings(out, exist)
    _w_strings(out, child)
    return _frame(out)


def encode_set_watches2(relative_zxid: int, data: Sequence[str], exist: Sequence[str],
                        child: Sequence[str], persistent: Sequence[str],
                        persistent_recursive: Sequence[str]) -> bytes:
    out = _start(XID_SET_WATCHES, OP_SET_WATCHES2)
    out += _LONG.pack(_check_long(relative_zxid, "relative_zxid"))
    _w_strings(out, data)
    _w_strings(out, exist)
    _w_strings(out, child)
    _w_strings(out, persistent)
    _w_strings(out, persistent_recursive)
    return _frame(out)


def _multi_op(out: bytearray, op: Sequence[Any]) -> None:
    kind = op[0]
    out += _MULTI_HEADER.pack(_check_int(kind, "op type"), False, -1)
    if kind == OP_CREATE or kind == OP_CREATE2:
        _create_body(out, op[1], op[2], op[3], op[4])
    elif kind == OP_CREATE_CONTAINER:
        _create_body(out, op[1], op[2], op[3], 4)
    elif kind == OP_CREATE_TTL:
        _create_body(out, op[1], op[2], op[3], op[4])
        out += _LONG.pack(_check_long(op[5], "ttl"))
    elif kind == OP_DELETE or kind == OP_CHECK:
        _w_string(out, op[1])
        out += _INT.pack(_check_int(op[2], "version"))
    elif kind == OP_SET_DATA:
        _w_string(out, op[1])
        _w_buffer(out, op[2])
        out += _INT.pack(_check_int(op[3], "version"))
    elif kind == OP_GET_DATA or kind == OP_GET_CHILDREN:
        _w_string(out, op[1])
        out += b"\x00"   # watch flag is not allowed in multiRead ops
    else:
        raise ValueError(f"op type {kind} cannot be part of a multi")


def encode_multi(xid: int, ops: Sequence[Sequence[Any]]) -> bytes:
    """MultiRequest. Each op is a tuple starting with its opcode:
    ``(OP_CREATE|OP_CREATE2, path, data, acls, flags)``, ``(OP_CREATE_TTL, path, data, acls, flags, ttl)``,
    ``(OP_CREATE_CONTAINER, path, data, acls)``, ``(OP_DELETE, path, version)``,
    ``(OP_SET_DATA, path, data, version)``, ``(OP_CHECK, path, version)``."""
    out = _start(xid, OP_MULTI)
    for op in ops:
        _multi_op(out, op)
    out += _MULTI_HEADER.pack(-1, True, -1)
    return _frame(out)


def encode_multi_read(xid: int, ops: Sequence[Sequence[Any]]) -> bytes:
    """MultiReadRequest: ops are ``(OP_GET_DATA, path)`` or ``(OP_GET_CHILDREN, path)``."""
    out = _start(xid, OP_MULTI_READ)
    for op in ops:
        if op[0] != OP_GET_DATA and op[0] != OP_GET_CHILDREN:
            raise ValueError(f"op type {op[0]} cannot be part of a multiRead")
        _multi_op(out, op)
    out += _MULTI_HEADER.pack(-1, True, -1)
    return _frame(out)


# =============================================================== reading


def _byte_view(data: Any) -> memoryview:
    """``data`` (any contiguous buffer) as a flat view of its bytes.

    Non-buffers raise TypeError and non-contiguous views BufferError, as
    ``PyObject_GetBuffer(PyBUF_SIMPLE)`` does for the Cython twin.
    """
    mv = memoryview(data)
    if not mv.c_contiguous:
        raise BufferError("memoryview: underlying buffer is not C-contiguous")
    if mv.ndim != 1 or mv.itemsize != 1:
        mv = mv.cast("B")
    return mv


def _as_bytes(data: Any) -> bytes:
    return data if type(data) is bytes else _byte_view(data).tobytes()


def _check_limit(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"max_buffer_size must be an int, not {type(v).__name__}")
    if v < 16:
        raise ValueError("max_buffer_size must be at least 16")
    return int(v)


class _Reader:
    """Cursor over one record's bytes; every read checks the bounds."""

    __slots__ = ("b", "pos", "end")

    def __init__(self, b: bytes, pos: int, end: int) -> None:
        self.b = b
        self.pos = pos
        self.end = end

    def _need(self, n: int) -> int:
        p = self.pos
        if n > self.end - p:
            raise CodecError(f"truncated record: need {n} bytes at offset {p}, have {self.end - p}")
        self.pos = p + n
        return p

    def int(self) -> int:
        v: builtins.int = _INT.unpack_from(self.b, self._need(4))[0]  # (unpack's items are Any)
        return v

    # (builtins.int: inside this class "int" names the method above)
    def long(self) -> builtins.int:
        v: builtins.int = _LONG.unpack_from(self.b, self._need(8))[0]
        return v

    def bool(self) -> bool:
        return self.b[self._need(1)] != 0

    def _len(self) -> builtins.int:
        n = self.int()
        if n < -1:
            raise CodecError(f"negative length {n} in record")
        return n

    def buffer(self) -> Optional[bytes]:
        n = self._len()
        if n == -1:
            return None
        p = self._need(n)
        return bytes(self.b[p:p + n])

    def string(self) -> Optional[str]:
        n = self._len()
        if n == -1:
            return None
        p = self._need(n)
        try:
            return str(self.b[p:p + n], "utf-8")
        except UnicodeDecodeError as e:
            raise CodecError(f"string is not UTF-8: {e}") from None

    def strings(self, to_end: builtins.bool = False) -> List[str]:
        n = self._len()
        if n == -1:
            return []
        # each item needs at least its 4-byte length: refuse counts the bytes can't hold
        if n > (self.end - self.pos) // 4:
            raise CodecError(f"vector of {n} items does not fit in {self.end - self.pos} bytes")
        if to_end and n:
            fast = self._short_strings_to_end(n)
            if fast is not None:
                return fast
        # self.string() inlined: this loop is a big getChildren's whole cost
        b, pos, end = self.b, self.pos, self.end
        unpack = _INT.unpack_from
        out: List[str] = []
        append = out.append
        try:
            for _ in range(n):
                if end - pos < 4:
                    self.pos = pos
                    self._need(4)
                m = unpack(b, pos)[0]
                pos += 4
                if m < 0:
                    if m != -1:
                        raise CodecError(f"negative length {m} in record")
                    append(None)  # type: ignore[arg-type]  # null (-1) entry: None, as the Cython twin
                    continue
                if m > end - pos:
                    self.pos = pos
                    self._need(m)
                append(str(b[pos:pos + m], "utf-8"))
                pos += m
        except UnicodeDecodeError as e:
            raise CodecError(f"string is not UTF-8: {e}") from None
        self.pos = pos
        return out

    def _short_strings_to_end(self, n: builtins.int) -> Optional[List[str]]:
        """A vector of n names under 256 bytes each that fills the rest of the
        record (a getChildren reply) splits on the three zero bytes that start
        every length prefix, in C, instead of a Python step per name.

        If every piece is one length byte plus exactly that many bytes, the
        pieces are the same boundaries the item-by-item parse would find (by
        induction from the first prefix), so the result is identical; anything
        else (long or null names, trailing bytes) returns None for the slow path.
        """
        parts = self.b[self.pos:self.end].split(b"\x00\x00\x00")
        if len(parts) != n + 1 or parts[0]:
            return None
        del parts[0]
        for p in parts:
            if not p or p[0] != len(p) - 1:
                return None
        try:
            # in place: each piece is freed as its str is made (half the peak memory)
            for i, p in enumerate(parts):
                parts[i] = str(p[1:], "utf-8")  # type: ignore[call-overload]  # bytes -> str
        except UnicodeDecodeError as e:
            raise CodecError(f"string is not UTF-8: {e}") from None
        self.pos = self.end
        return parts  # type: ignore[return-value]  # now all str

    def stat(self) -> Stat:
        return Stat._make(_STAT.unpack_from(self.b, self._need(68)))

    def acls(self) -> List[ACL]:
        n = self._len()
        if n == -1:
            return []
        if n > (self.end - self.pos) // 12:
            raise CodecError(f"vector of {n} ACLs does not fit in {self.end - self.pos} bytes")
        out = []
        for _ in range(n):
            perms = self.int()
            scheme = self.string()
            id_ = self.string()
            # a null (-1) scheme or id decodes to None, as in the Cython twin
            out.append(ACL(perms, Id(scheme, id_)))  # type: ignore[arg-type]
        return out


def _decode_multi(r: _Reader) -> List[Tuple[int, int, Any]]:
    results: List[Tuple[int, int, Any]] = []
    while True:
        op = r.int()
        done = r.bool()
        err = r.int()
        if done:
            return results
        if op == OP_CREATE:
            results.append((op, err, r.string()))
        elif op == OP_CREATE2:
            path = r.string()
            results.append((op, err, (path, r.stat())))
        elif op == OP_SET_DATA:
            results.append((op, err, r.stat()))
        elif op == OP_DELETE or op == OP_CHECK:
            results.append((op, err, None))
        elif op == OP_GET_DATA:
            data = r.buffer()
            results.append((op, err, (data, r.stat())))
        elif op == OP_GET_CHILDREN:
            results.append((op, err, r.strings()))
        elif op == OP_ERROR:
            results.append((op, r.int(), None))
        else:
            raise CodecError(f"unknown op type {op} in multi reply")


def _decode_body(kind: int, b: bytes, pos: int, end: int) -> Any:
    r = _Reader(b, pos, end)
    if kind == KIND_NONE:
        return None
    if kind == KIND_STAT:
        return r.stat()
    if kind == KIND_DATA_STAT:
        data = r.buffer()
        return (data, r.stat())
    if kind == KIND_STRING:
        return r.string()
    if kind == KIND_STRING_STAT:
        s = r.string()
        return (s, r.stat())
    if kind == KIND_CHILDREN:
        return r.strings(to_end=True)
    if kind == KIND_CHILDREN_STAT:
        c = r.strings()
        return (c, r.stat())
    if kind == KIND_ACL_STAT:
        a = r.acls()
        return (a, r.stat())
    if kind == KIND_INT:
        return r.int()
    if kind == KIND_MULTI:
        return _decode_multi(r)
    if kind == KIND_CLIENT_INFO:
        n = r._len()
        if n == -1:
            return []
        if n > (r.end - r.pos) // 8:
            raise CodecError(f"vector of {n} items does not fit in {r.end - r.pos} bytes")
        out = []
        for _ in range(n):
            scheme = r.string()
            user = r.string()
            out.append(ClientInfo(scheme, user))  # type: ignore[arg-type]  # None for a null (-1) string
        return out
    if kind == KIND_BUFFER:
        return r.buffer()
    if kind == KIND_WATCHER_EVENT:
        event_type = r.int()
        state = r.int()
        return WatcherEvent(event_type, state, r.string())
    if kind == KIND_RAW:
        return bytes(b[pos:end])
    raise ValueError(f"unknown reply kind {kind}")


def decode_body(kind: int, body: bytes) -> Any:
    """Decode one reply body (the bytes after the 16-byte reply header) as ``kind``."""
    b = _as_bytes(body)
    return _decode_body(kind, b, 0, len(b))


def decode_connect_response(body: bytes) -> ConnectResponse:
    """ConnectResponse body (no length prefix); readOnly may be absent (old servers)."""
    b = _as_bytes(body)
    r = _Reader(b, 0, len(b))
    pv = r.int()
    timeout = r.int()
    sid = r.long()
    passwd = r.buffer()
    ro = r.bool() if r.pos < r.end else False
    return ConnectResponse(pv, timeout, sid, passwd if passwd is not None else b"", ro)


Reply = Tuple[int, int, int, Any]


class FrameReader:
    """Splits the byte stream into frames and decodes every complete one.

    ``feed_connect(data)`` is for the first frame of a connection (the
    ConnectResponse, which has no reply header). ``feed(data, kinds)`` then
    returns a list of ``(xid, zxid, err, body)`` for all complete frames, where
    ``kinds`` maps each expected xid to the KIND_* its body decodes as (xid -1,
    watch notifications, is always KIND_WATCHER_EVENT; unknown xids give
    KIND_RAW). When ``err`` is non-zero the body is ``None`` unless it is a
    multi reply. A frame longer than ``max_buffer_size`` is never buffered: its
    reply carries ``err == CODE_RESPONSE_TOO_LARGE`` and a ``ResponseTooLarge``
    body, and its bytes are skipped as they arrive -- unless ``allowances``
    (a dict, xid -> bytes) allows its xid more. A corrupt stream raises
    ``CodecError`` whose ``replies`` holds what was decoded before it; the
    reader is then unusable until ``reset()``. So is it after any other
    exception from decoding, such as the ``ValueError`` for a body whose kind
    is not a KIND_* (a caller bug).
    """

    __slots__ = ("_limit", "_buf", "_skip", "_broken", "allowances")

    def __init__(self, max_buffer_size: int = DEFAULT_MAX_BUFFER_SIZE) -> None:
        self._limit = _check_limit(max_buffer_size)
        self._buf = bytearray()
        self._skip = 0
        self._broken = False
        #: xid -> the largest frame body accepted for that xid when it is larger
        #: than the limit (a batch of several reads may need the sum of theirs).
        self.allowances: Optional[Dict[int, int]] = {}

    def _allowed(self, b: Any, pos: int, n: int) -> bool:
        """Is a frame of ``n`` body bytes at ``b[pos:]``, over the limit, allowed
        for its xid? (Needs the xid: 8 bytes at ``pos``.)"""
        allowances = self.allowances
        if not allowances or len(b) - pos < 8:
            return False
        allowance = allowances.get(_INT.unpack_from(b, pos + 4)[0])
        return allowance is not None and n <= allowance

    @property
    def max_buffer_size(self) -> int:
        """The largest frame body (bytes after the length) this reader accepts."""
        return self._limit

    @max_buffer_size.setter
    def max_buffer_size(self, value: int) -> None:
        self._limit = _check_limit(value)

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete frame."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget everything buffered (a new connection)."""
        self._buf = bytearray()
        self._skip = 0
        self._broken = False

    def _append(self, data: Any) -> None:
        if self._broken:
            raise CodecError("frame reader is broken by an earlier corrupt frame; reset() it")
        if type(data) is not bytes:
            data = _byte_view(data)
        if self._skip:
            n = min(self._skip, len(data))
            self._skip -= n
            data = memoryview(data)[n:]
        if len(data):
            self._buf += data

    def feed_connect(self, data: Any) -> Optional[ConnectResponse]:
        """Buffer ``data``; return the ConnectResponse once it is complete."""
        self._append(data)
        buf = self._buf
        if len(buf) < 4:
            return None
        n = _INT.unpack_from(buf, 0)[0]
        try:
            if n < 0 or n > self._limit:
                raise CodecError(f"bad ConnectResponse frame length {n}")
            if len(buf) < 4 + n:
                return None
            resp = decode_connect_response(bytes(buf[4:4 + n]))
        except BaseException:
            self._broken = True
            del buf[:]
            raise
        del buf[:4 + n]   # what follows the ConnectResponse belongs to feed()
        return resp

    def feed(self, data: Any, kinds: Dict[int, int]) -> List[Reply]:
        """Buffer ``data`` and decode every complete reply frame."""
        self._append(data)
        buf = self._buf
        size = len(buf)
        if size < 4:
            return []
        first = _INT.unpack_from(buf, 0)[0]
        if 16 <= first and size - 4 < first and (first <= self._limit or self._allowed(buf, 0, first)):
            return []  # first frame still incomplete: don't copy the buffer yet
        b = bytes(buf)
        # Empty the reassembly buffer now, not after decoding: with a big reply
        # (100k child names) the frame is otherwise held twice while the names
        # are made. What is left undecoded goes back at the end.
        buf.clear()
        pos = 0
        limit = self._limit
        out: List[Reply] = []
        try:
            while size - pos >= 4:
                n = _INT.unpack_from(b, pos)[0]
                if n < 16:
                    raise CodecError(f"bad frame length {n}: a reply is at least 16 bytes")
                if n > limit and not self._allowed(b, pos, n):
                    if size - pos < 20:
                        break  # wait for the header so the right request fails
                    xid, zxid, err = _HEADER.unpack_from(b, pos + 4)
                    out.append((xid, zxid, CODE_RESPONSE_TOO_LARGE, ResponseTooLarge(n, limit)))
                    have = size - pos - 4
                    if have >= n:
                        pos += 4 + n
                        continue
                    self._skip = n - have
                    pos = size
                    break
                if size - pos - 4 < n:
                    break
                xid, zxid, err = _HEADER.unpack_from(b, pos + 4)
                start = pos + 20
                end = pos + 4 + n
                if xid == XID_NOTIFICATION:
                    kind = KIND_WATCHER_EVENT
                else:
                    kind = kinds.get(xid, KIND_RAW)
                if err != 0 and kind != KIND_MULTI and kind != KIND_RAW:
                    body = None
                elif kind == KIND_MULTI and start == end:
                    body = None
                else:
                    body = _decode_body(kind, b, start, end)
                out.append((xid, zxid, err, body))
                pos = end
        except BaseException as e:
            # A corrupt frame, or anything else that stops decoding half way
            # (an unknown kind, MemoryError): the position in the stream is
            # lost, so the reader is unusable until reset().
            self._broken = True
            if isinstance(e, CodecError):
                e.replies = out
            raise
        if pos < size:
            buf += memoryview(b)[pos:]
        return out
