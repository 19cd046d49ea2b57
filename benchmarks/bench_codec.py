"""Codec micro-benchmarks: the Cython codec vs its pure twin vs kazoo's serializer.

Three operations, each the way a client really does it:

* ``encode_get_data``  -- one complete getData request frame (length prefix
  included). kazoo: build the ``GetData`` request and frame it as
  ``ConnectionHandler._submit`` does.
* ``decode_children_100k`` -- a getChildren reply of 100,000 names, from the
  frame's bytes to the list of ``str``. zkfast: ``FrameReader.feed``
  (length, header and body); kazoo: length, ``ReplyHeader.deserialize`` and
  ``GetChildren.deserialize`` as its reader thread does.
* ``decode_get_data_1mib`` -- a getData reply carrying 1 MiB of data + Stat.

and a floor: building the same 100,000 ``str`` objects from ``bytes`` in
Python, which is what any pure decoder must at least pay.

Run under pytest-benchmark::

    pytest benchmarks/bench_codec.py --benchmark-group-by=group --benchmark-timer=time.process_time

or as a script for a compact table of ns per operation and ratios::

    python benchmarks/bench_codec.py
"""

from __future__ import annotations

import os
import struct
import sys
import time
from typing import Any, Callable, Dict, List, Optional

try:
    import zkfast  # noqa: F401
except ImportError:   # a source checkout that is not installed
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from zkfast import _codec_py as pure_codec

try:
    from zkfast import _codec as cython_codec
except ImportError:   # not built: its rows are skipped
    cython_codec = None

try:
    from kazoo.protocol import serialization as kz
except ImportError:   # kazoo is only a benchmark peer
    kz = None

# ----------------------------------------------------------------- inputs

XID = 12345
PATH = "/zkfast/bench/some-service/node-0000001234"
N_CHILDREN = 100_000
CHILD_NAMES = [b"node-%010d" % i for i in range(N_CHILDREN)]   # 15 bytes, like sequential nodes
DATA_SIZE = 1 << 20
STAT = struct.pack(">qqqqiiiqiiq", 0x100000002, 0x100000007, 1700000000123, 1700000004567,
                   3, 2, 1, 0, DATA_SIZE, 0, 0x100000009)


def _reply(xid: int, body: bytes) -> bytes:
    payload = struct.pack(">iqi", xid, 0x100000010, 0) + body
    return struct.pack(">i", len(payload)) + payload


CHILDREN_FRAME = _reply(7, struct.pack(">i", N_CHILDREN)
                        + b"".join(struct.pack(">i", len(n)) + n for n in CHILD_NAMES))
DATA_FRAME = _reply(8, struct.pack(">i", DATA_SIZE) + os.urandom(DATA_SIZE) + STAT)
BIG = 4 * 1024 * 1024     # max_buffer_size that lets both replies through

# ----------------------------------------------------------------- the operations


def zk_encode(codec: Any) -> Callable[[], bytes]:
    encode = codec.encode_get_data
    return lambda: encode(XID, PATH, True)


def zk_decode(codec: Any, frame: bytes, xid: int, kind: int) -> Callable[[], Any]:
    reader = codec.FrameReader(BIG)
    kinds = {xid: kind}
    feed = reader.feed

    def run() -> Any:
        return feed(frame, kinds)[0][3]
    return run


def kazoo_encode() -> Callable[[], bytes]:
    GetData, int_struct = kz.GetData, kz.int_struct

    def run() -> bytes:
        # client.get() builds the request; ConnectionHandler._submit frames it
        request = GetData(PATH, True)
        b = bytearray()
        b.extend(int_struct.pack(XID))
        b.extend(int_struct.pack(request.type))
        b += request.serialize()
        return int_struct.pack(len(b)) + b
    return run


def kazoo_decode(frame: bytes, request: Any) -> Callable[[], Any]:
    int_struct, ReplyHeader = kz.int_struct, kz.ReplyHeader

    def run() -> Any:
        # ConnectionHandler._read_header: the length, then the body as one bytes
        length = int_struct.unpack(frame[:4])[0]
        body = frame[4:4 + length]
        _header, offset = ReplyHeader.deserialize(body, 0)
        return request.deserialize(body, offset)
    return run


def floor_listcomp() -> List[str]:
    return [b.decode() for b in CHILD_NAMES]


def floor_map() -> List[str]:
    return list(map(bytes.decode, CHILD_NAMES))


def cases() -> Dict[str, Dict[str, Optional[Callable[[], Any]]]]:
    """operation -> backend -> callable (None when that backend is missing)."""
    out: Dict[str, Dict[str, Optional[Callable[[], Any]]]] = {}
    codecs = {"cython": cython_codec, "pure": pure_codec}
    out["encode_get_data"] = {name: zk_encode(c) if c else None for name, c in codecs.items()}
    out["encode_get_data"]["kazoo"] = kazoo_encode() if kz else None
    out["decode_children_100k"] = {
        name: zk_decode(c, CHILDREN_FRAME, 7, c.KIND_CHILDREN) if c else None
        for name, c in codecs.items()}
    out["decode_children_100k"]["kazoo"] = (
        kazoo_decode(CHILDREN_FRAME, kz.GetChildren("/x", None)) if kz else None)
    out["decode_get_data_1mib"] = {
        name: zk_decode(c, DATA_FRAME, 8, c.KIND_DATA_STAT) if c else None
        for name, c in codecs.items()}
    out["decode_get_data_1mib"]["kazoo"] = (
        kazoo_decode(DATA_FRAME, kz.GetData("/x", None)) if kz else None)
    return out


def _check_results() -> None:
    """Every backend must produce the same thing, or the timings mean nothing."""
    c = cases()
    names = [n.decode() for n in CHILD_NAMES]
    for backend, fn in c["decode_children_100k"].items():
        if fn is not None:
            assert fn() == names, backend
    for backend, fn in c["decode_get_data_1mib"].items():
        if fn is not None:
            data, stat = fn()
            assert data == DATA_FRAME[24:24 + DATA_SIZE] and tuple(stat)[8] == DATA_SIZE, backend
    frames = {b: fn() for b, fn in c["encode_get_data"].items() if fn is not None}
    assert len(set(map(bytes, frames.values()))) == 1, frames


# ----------------------------------------------------------------- pytest-benchmark

try:
    import pytest
except ImportError:   # script mode needs no pytest
    pytest = None

if pytest is not None:
    BACKENDS = ["cython", "pure", "kazoo"]

    def _get(op: str, backend: str) -> Callable[[], Any]:
        fn = cases()[op][backend]
        if fn is None:
            pytest.skip(f"{backend} is not available")
        return fn

    def test_results_agree() -> None:
        _check_results()

    @pytest.mark.parametrize("backend", BACKENDS)
    def test_encode_get_data(benchmark, backend):
        benchmark.group = "encode getData"
        benchmark(_get("encode_get_data", backend))

    @pytest.mark.parametrize("backend", BACKENDS)
    def test_decode_children_100k(benchmark, backend):
        benchmark.group = "decode getChildren, 100k names"
        result = benchmark(_get("decode_children_100k", backend))
        assert len(result) == N_CHILDREN

    @pytest.mark.parametrize("backend", BACKENDS)
    def test_decode_get_data_1mib(benchmark, backend):
        benchmark.group = "decode getData, 1 MiB"
        data, _ = benchmark(_get("decode_get_data_1mib", backend))
        assert len(data) == DATA_SIZE

    @pytest.mark.parametrize("how", ["listcomp", "map"])
    def test_floor_100k_str(benchmark, how):
        """Python's own cost of making the 100k str objects from bytes."""
        benchmark.group = "decode getChildren, 100k names"
        result = benchmark(floor_listcomp if how == "listcomp" else floor_map)
        assert len(result) == N_CHILDREN


# ----------------------------------------------------------------- script mode

# CPU time of this process, not wall time: the machines these run on are
# shared (a ZooKeeper, other test runs), and time spent descheduled is not
# the codec's. (Under pytest-benchmark: --benchmark-timer=time.process_time.)
_clock = time.process_time


def measure(fn: Callable[[], Any], min_time: float = 0.2, repeat: int = 7) -> float:
    """Best per-call CPU time in seconds over ``repeat`` runs of at least ``min_time``."""
    number = 1
    while True:
        t0 = _clock()
        for _ in range(number):
            fn()
        if _clock() - t0 >= min_time or number >= 1 << 22:
            break
        number *= 2
    best = float("inf")
    for _ in range(repeat):
        t0 = _clock()
        for _ in range(number):
            fn()
        best = min(best, (_clock() - t0) / number)
    return best


def _fmt_ns(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    ns = seconds * 1e9
    return f"{ns:,.0f}" if ns >= 100 else f"{ns:.1f}"


def _ratio(a: Optional[float], b: Optional[float]) -> str:
    return f"{a / b:.1f}x" if a and b else "-"


def main() -> None:
    _check_results()
    results: Dict[str, Dict[str, Optional[float]]] = {}
    for op, backends in cases().items():
        results[op] = {b: (measure(fn) if fn is not None else None) for b, fn in backends.items()}

    print(f"Python {sys.version.split()[0]}, "
          f"kazoo {getattr(sys.modules.get('kazoo'), '__version__', 'missing')}; "
          "CPU ns per operation, best of 7")
    head = f"{'operation':<24}{'cython':>14}{'pure':>14}{'kazoo':>14}{'pure/cy':>10}{'kazoo/cy':>10}"
    print(head)
    print("-" * len(head))
    for op, r in results.items():
        print(f"{op:<24}{_fmt_ns(r['cython']):>14}{_fmt_ns(r['pure']):>14}{_fmt_ns(r['kazoo']):>14}"
              f"{_ratio(r['pure'], r['cython']):>10}{_ratio(r['kazoo'], r['cython']):>10}")

    print()
    print(f"per child of the {N_CHILDREN:,}-name getChildren reply:")
    for b in ("cython", "pure", "kazoo"):
        t = results["decode_children_100k"][b]
        if t is not None:
            print(f"  {b:<28}{t / N_CHILDREN * 1e9:8.1f} ns")
    for label, fn in (("floor: [b.decode() for ...]", floor_listcomp),
                      ("floor: list(map(bytes.decode))", floor_map)):
        print(f"  {label:<28}{measure(fn) / N_CHILDREN * 1e9:8.1f} ns")
    data_t = results["decode_get_data_1mib"]["cython"]
    if data_t:
        print(f"\n1 MiB getData decoded at {DATA_SIZE / data_t / 1e9:.1f} GB/s (Cython)")


if __name__ == "__main__":
    main()
