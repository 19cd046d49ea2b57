"""The raw column: pre-encoded frames on a plain socket, the ceiling for any client."""

from __future__ import annotations

from time import perf_counter as _perf
from typing import Any, Dict, List

from ..catalogue import BIG, D100, KIDS
from ..rawjute import INT, RawConn, raw_create, raw_delete, raw_get_children, raw_get_data, raw_set_data
from .base import Adapter, ms_each, ops_per_second


class RawAdapter(Adapter):
    def __init__(self, hosts: str, plan: Dict[str, Any]) -> None:
        super().__init__(hosts, plan)
        self.raw = RawConn(hosts)
        self.get_frame = raw_get_data(self.raw.next_xid(), D100)

    def close(self) -> None:
        self.raw.close()

    def warmup(self) -> None:
        for _ in range(200):
            self.raw.roundtrip(self.get_frame)
        self.raw.pipeline([self.get_frame] * self.plan["warmup"])

    def get_sync(self, n: int) -> List[float]:
        rt = self.raw.roundtrip
        f = self.get_frame
        t0 = _perf()
        for _ in range(n):
            rt(f)
        return [ops_per_second(n, _perf() - t0)]

    def get_pipelined(self, n: int) -> List[float]:
        frames = [self.get_frame] * n
        t0 = _perf()
        errs = self.raw.pipeline(frames)
        t = _perf() - t0
        if errs:
            raise RuntimeError(f"{errs} gets failed")
        return [ops_per_second(n, t)]

    def writes(self, base: str, n: int) -> Dict[str, List[float]]:
        raw = self.raw
        x = raw.next_xid
        raw.roundtrip(raw_create(x(), base, b""))
        paths = [f"{base}/{i}" for i in range(n)]
        out: Dict[str, List[float]] = {}
        for name, enc in (("create_pipelined", lambda p: raw_create(x(), p, self.data)),
                          ("set_pipelined", lambda p: raw_set_data(x(), p, self.data)),
                          ("delete_pipelined", lambda p: raw_delete(x(), p))):
            frames = [enc(p) for p in paths]  # pre-encoded: not timed
            t0 = _perf()
            errs = raw.pipeline(frames)
            out[name] = [ops_per_second(n, _perf() - t0)]
            if errs:
                raise RuntimeError(f"{name}: {errs} requests failed")
        raw.roundtrip(raw_delete(x(), base))
        return out

    def get_children(self, calls: int) -> List[float]:
        f = raw_get_children(self.raw.next_xid(), KIDS)
        rt = self.raw.roundtrip
        rt(f)
        return ms_each(lambda: rt(f), calls)

    def children_once(self) -> int:
        # the raw client keeps only the reply bytes; count the names to prove it is all there
        sock = self.raw.sock
        sock.sendall(raw_get_children(self.raw.next_xid(), KIDS))
        buf = bytearray()
        while len(buf) < 4 or len(buf) < 4 + INT.unpack_from(buf, 0)[0]:
            buf += sock.recv(262144)
        return INT.unpack_from(buf, 20)[0]

    def scan(self, paths: List[str], window: int) -> List[float]:
        x = self.raw.next_xid
        frames = [raw_get_data(x(), p) for p in paths]
        t0 = _perf()
        errs = self.raw.pipeline(frames, window=window, batch=min(512, window))
        t = _perf() - t0
        if errs:
            raise RuntimeError(f"{errs} gets failed")
        return [ops_per_second(len(paths), t)]

    def get_big(self, calls: int) -> List[float]:
        f = raw_get_data(self.raw.next_xid(), BIG)
        rt = self.raw.roundtrip
        rt(f)
        return ms_each(lambda: rt(f), calls)

    def get_children_at(self, path: str, expected: int, calls: int) -> List[float]:
        f = raw_get_children(self.raw.next_xid(), path)
        rt = self.raw.roundtrip
        rt(f)
        return ms_each(lambda: rt(f), calls)
