"""Pre-encoded jute frames and a raw socket session: the ceiling column, and tree setup."""

from __future__ import annotations

import select
import socket
import struct
from typing import Optional, Sequence

INT = struct.Struct(">i")
_REQ_HEAD = struct.Struct(">iii")  # frame length, xid, opcode
_LEN_ERR = struct.Struct(">i12xi")  # frame length, (xid, zxid skipped), err


def _jstr(s: str) -> bytes:
    b = s.encode()
    return INT.pack(len(b)) + b


def _jbuf(b: Optional[bytes]) -> bytes:
    return INT.pack(-1) if b is None else INT.pack(len(b)) + b


def _jframe(xid: int, op: int, body: bytes) -> bytes:
    return _REQ_HEAD.pack(8 + len(body), xid, op) + body


def raw_get_data(xid: int, path: str) -> bytes:
    return _jframe(xid, 4, _jstr(path) + b"\0")


def raw_get_children(xid: int, path: str) -> bytes:
    return _jframe(xid, 8, _jstr(path) + b"\0")


def raw_create(xid: int, path: str, data: bytes) -> bytes:
    # one ACL: perms ALL (31), Id("world", "anyone"); flags 0 = persistent
    acl = INT.pack(1) + INT.pack(31) + _jstr("world") + _jstr("anyone")
    return _jframe(xid, 1, _jstr(path) + _jbuf(data) + acl + INT.pack(0))


def raw_set_data(xid: int, path: str, data: bytes) -> bytes:
    return _jframe(xid, 5, _jstr(path) + _jbuf(data) + INT.pack(-1))


def raw_delete(xid: int, path: str) -> bytes:
    return _jframe(xid, 2, _jstr(path) + INT.pack(-1))


class RawConn:
    """A session on a plain socket: pre-encoded frames out, length-prefix splitting in."""

    def __init__(self, hosts: str, timeout_ms: int = 40000) -> None:
        from zkfast.testing import parse_hosts, raw_connect  # hand-written ConnectRequest

        host, port = parse_hosts(hosts)[0]
        self.sock, resp = raw_connect(host, port, timeout_ms=timeout_ms, socket_timeout=60.0)
        if resp.timeout <= 0:
            raise RuntimeError("raw session refused")
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(None)
        self.buf = bytearray()
        # recv_into one reused buffer: a fresh 256 KiB bytes per recv() would cost an
        # mmap/munmap pair per reply, more than the rest of a small round trip.
        self.rbuf = bytearray(262144)
        self.rview = memoryview(self.rbuf)
        self.xid = 0

    def next_xid(self) -> int:
        self.xid += 1
        return self.xid

    def close(self) -> None:
        try:
            self.sock.sendall(_jframe(self.next_xid(), -11, b""))
        except OSError:
            pass
        self.sock.close()

    def roundtrip(self, frame: bytes) -> int:
        """Send one frame, return the size of its reply (raises on a non-zero err)."""
        sock = self.sock
        sock.sendall(frame)
        buf = self.buf
        recv_into = sock.recv_into
        rbuf, rview = self.rbuf, self.rview
        while True:
            if len(buf) >= 20:
                n, err = _LEN_ERR.unpack_from(buf, 0)
                if len(buf) >= n + 4:
                    del buf[:n + 4]
                    if err:
                        raise RuntimeError(f"raw request failed with err {err}")
                    return n
                if n + 4 - len(buf) > len(rbuf):
                    self._read_rest(n + 4)
                    if err:
                        raise RuntimeError(f"raw request failed with err {err}")
                    return n
            got = recv_into(rbuf)
            if not got:
                raise ConnectionError("server closed the connection")
            buf += rview[:got]

    def _read_rest(self, size: int) -> bytearray:
        """A reply bigger than the receive buffer (get_children of 100k+ names, a
        900 KiB node): read its rest straight into one buffer of its size, as a client
        that knows the length would, instead of growing ``self.buf`` 256 KiB at a time.
        Reads stop at the frame's end, so ``self.buf`` is left empty."""
        frame = bytearray(size)
        have = len(self.buf)
        frame[:have] = self.buf
        self.buf.clear()
        view = memoryview(frame)
        recv_into = self.sock.recv_into
        while have < size:
            got = recv_into(view[have:])
            if not got:
                raise ConnectionError("server closed the connection")
            have += got
        return frame  # the whole reply, as a client would decode it

    def pipeline(self, frames: Sequence[bytes], window: Optional[int] = None,
                 batch: int = 512) -> int:
        """Send ``frames`` with at most ``window`` unanswered; returns how many failed.

        One non-blocking loop: joins up to ``batch`` frames per send, splits every
        recv() by the 4-byte length prefix and counts non-zero err fields.
        """
        sock = self.sock
        sock.setblocking(False)
        poller = select.poll()
        fd = sock.fileno()
        poller.register(fd, select.POLLIN)
        total = len(frames)
        sent = received = errors = 0
        out: memoryview = memoryview(b"")
        buf = self.buf
        recv_into = sock.recv_into
        rbuf, rview = self.rbuf, self.rview
        send = sock.send
        unpack = _LEN_ERR.unpack_from
        want_out = False
        try:
            while received < total:
                if not out and sent < total:
                    k = min(batch, total - sent)
                    if window is not None:
                        k = min(k, window - (sent - received))
                    if k > 0:
                        out = memoryview(b"".join(frames[sent:sent + k]))
                        sent += k
                if out:
                    try:
                        m = send(out)
                        out = out[m:]
                    except BlockingIOError:
                        pass
                if bool(out) != want_out:
                    want_out = bool(out)
                    poller.modify(fd, select.POLLIN | (select.POLLOUT if want_out else 0))
                try:
                    got = recv_into(rbuf)
                except BlockingIOError:
                    poller.poll()
                    continue
                if not got:
                    raise ConnectionError("server closed the connection")
                buf += rview[:got]
                pos = 0
                end = len(buf)
                while end - pos >= 20:
                    n, err = unpack(buf, pos)
                    nxt = pos + 4 + n
                    if nxt > end:
                        break
                    if err:
                        errors += 1
                    received += 1
                    pos = nxt
                if pos:
                    del buf[:pos]
        finally:
            sock.setblocking(True)
        return errors
