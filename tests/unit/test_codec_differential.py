"""The compiled codec and its pure twin, held together.

Same encoder calls -> byte-identical frames or the same exception type; same
input bytes (valid, truncated, mutated, random, absurd lengths), fed in the
same chunks -> equal replies (same record classes), equal ``buffered``, the
same exception types with the same ``replies``. Neither may hang or hold more
than ``max_buffer_size`` of an incomplete frame.

This module imports both backends directly. If ``zkfast._codec`` is missing it
FAILS, unless ``ZKFAST_NO_EXTENSIONS`` is set: then only the pure side runs
(its invariants are still checked).
"""

from __future__ import annotations

import inspect
import os
import random
import tracemalloc
from typing import Any, Callable, List, Sequence, Tuple

import jute_builders as jb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zkfast import _codec_py as P
from zkfast.errors import CodecError
from zkfast.records import ACL, ClientInfo, Id, Stat

PURE_ONLY = os.environ.get("ZKFAST_NO_EXTENSIONS", "") not in ("", "0")

try:
    from zkfast import _codec as CY
except ImportError as exc:   # pragma: no cover - depends on the build
    if not PURE_ONLY:
        raise ImportError(
            "zkfast._codec (the Cython codec) is not built; build it with "
            "`python setup.py build_ext --inplace`, or set ZKFAST_NO_EXTENSIONS=1 "
            "to test the pure codec alone") from exc
    CY = None

BACKENDS = [P] if CY is None else [P, CY]

# Bounded so the module runs in well under a minute: encoders are many and
# cheap, the stream tests fewer and richer. ZKFAST_FUZZ_EXAMPLES=5000 (say)
# turns it into a long fuzzing session.
EXAMPLES = int(os.environ.get("ZKFAST_FUZZ_EXAMPLES", "300"))
FAST = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PER_ENCODER = settings(FAST, max_examples=max(20, EXAMPLES * 2 // 5))


def test_backend_selection():
    from zkfast import codec
    assert codec.backend == ("python" if PURE_ONLY else "cython")
    assert codec.FrameReader is (P.FrameReader if PURE_ONLY else CY.FrameReader)


def _public(m) -> List[str]:
    return sorted(n for n in dir(m)
                  if not n.startswith("_") and (n.isupper() or n.startswith(("encode_", "decode_"))))


@pytest.mark.skipif(CY is None, reason="ZKFAST_NO_EXTENSIONS: no compiled codec to compare")
def test_same_public_api():
    assert _public(P) == _public(CY)
    for name in _public(P):
        a, b = getattr(P, name), getattr(CY, name)
        if callable(a):
            assert list(inspect.signature(a).parameters) == list(inspect.signature(b).parameters), name
        else:
            assert a == b, name
    for attr in ("feed", "feed_connect", "reset", "buffered", "max_buffer_size"):
        assert hasattr(CY.FrameReader, attr)
    for meth in ("feed", "feed_connect", "reset"):
        assert (list(inspect.signature(getattr(P.FrameReader, meth)).parameters)
                == list(inspect.signature(getattr(CY.FrameReader, meth)).parameters))
    assert P.CodecError is CY.CodecError and P.Stat is CY.Stat


# =================================================================== helpers

def typed(x: Any) -> Any:
    """``x`` with every container tagged by its class, so that a Stat and a
    plain tuple with the same fields do not compare equal."""
    if isinstance(x, (tuple, list)):
        return (type(x).__name__, [typed(i) for i in x])
    return (type(x).__name__, x)


def outcome(fn: Callable[..., Any], *args: Any) -> Tuple[str, Any]:
    try:
        return ("ok", typed(fn(*args)))
    except Exception as e:   # noqa: BLE001 - the type is what we compare
        return ("raise", type(e))


# =================================================================== encoders

# Each argument kind has a valid and an invalid strategy. An example draws
# all arguments valid, or exactly one invalid, or each at random: so whole
# frames, single errors and competing errors all get compared. (Hypothesis
# does not pick one_of branches evenly, hence the explicit modes.)
INT32 = st.integers(-2**31, 2**31 - 1)
INT64 = st.integers(-2**63, 2**63 - 1)
ODD_NUMBERS = st.sampled_from([True, False, None, 1.0, "1", b"1", 2**31, -2**31 - 1, 2**63,
                               -2**63 - 1, 2**100])


class Arg:
    def __init__(self, valid: Any, invalid: Any) -> None:
        self.valid = valid
        self.invalid = invalid


class BadBool:
    def __bool__(self) -> bool:
        raise ValueError("no truth value")


def _noncontiguous(b: bytes) -> memoryview:
    return memoryview(b + b)[::2]


PATH_TEXT = st.text(max_size=40)
INT = Arg(INT32, ODD_NUMBERS)
LONG = Arg(INT64, ODD_NUMBERS)
PATH = Arg(st.one_of(PATH_TEXT, st.none()),
           st.one_of(st.just("/\ud800"), st.binary(max_size=4), st.integers()))
WATCH = Arg(st.one_of(st.booleans(), st.integers(-1, 2), st.none(), st.just([])),
            st.builds(BadBool))
DATA = Arg(
    st.one_of(
        st.binary(max_size=80),
        st.none(),
        st.binary(max_size=40).map(bytearray),
        st.binary(max_size=40).map(memoryview),
        st.binary(max_size=20).map(_noncontiguous),
        st.binary(min_size=4, max_size=4).map(lambda b: memoryview(b).cast("B", (2, 2))),
    ),
    st.one_of(st.text(max_size=5), st.integers(), st.lists(st.integers(0, 255), max_size=2)))
SCHEME = Arg(st.one_of(st.sampled_from(["world", "digest", "ip", "auth", "x509"]),
                       st.text(max_size=8), st.none()),
             st.one_of(st.integers(), st.binary(max_size=2)))
_VALID_ACL = st.one_of(st.tuples(INT32, st.tuples(SCHEME.valid, SCHEME.valid)),
                       st.builds(lambda p, s, i: ACL(p, Id(s, i)), INT32, SCHEME.valid, SCHEME.valid))
_INVALID_ACL = st.one_of(
    st.tuples(ODD_NUMBERS, st.tuples(SCHEME.valid, SCHEME.valid)),   # bad perms
    st.tuples(INT32, st.tuples(SCHEME.invalid, SCHEME.valid)),        # bad scheme
    st.tuples(INT32),                                                 # too short
    st.tuples(INT32, st.tuples(SCHEME.valid)),                        # Id too short
    st.integers(),                                                    # not a pair at all
)
ACLS = Arg(st.one_of(st.none(), st.lists(_VALID_ACL, max_size=4),
                     st.lists(_VALID_ACL, max_size=3).map(tuple)),
           st.one_of(st.integers(),
                     st.tuples(st.lists(_VALID_ACL, max_size=2), _INVALID_ACL).map(
                         lambda t: t[0] + [t[1]])))
STRINGS = Arg(st.one_of(st.lists(st.one_of(PATH_TEXT, st.none()), max_size=5),
                        st.lists(PATH_TEXT, max_size=3).map(tuple),
                        st.lists(PATH_TEXT, max_size=3).map(iter)),
              st.one_of(st.text(max_size=3), st.binary(max_size=3),
                        st.lists(st.binary(max_size=3), min_size=1, max_size=2), st.integers()))


def _op(code: int, args: Tuple[Arg, ...], bad: bool) -> Any:
    """Strategy for one multi op; with ``bad``, one of its fields is invalid."""
    if not bad:
        return st.tuples(st.just(code), *(a.valid for a in args))
    return st.integers(0, len(args) - 1).flatmap(lambda i: st.tuples(
        st.just(code), *(a.invalid if j == i else a.valid for j, a in enumerate(args))))


_OP_SHAPES = [([1, 15], (PATH, DATA, ACLS, INT)), ([19], (PATH, DATA, ACLS)),
              ([21], (PATH, DATA, ACLS, INT, LONG)), ([2, 13], (PATH, INT)),
              ([5], (PATH, DATA, INT)), ([4, 8], (PATH,))]


def _ops(bad: bool) -> Any:
    return st.one_of(*(st.sampled_from(codes).flatmap(lambda c, args=args: _op(c, args, bad))
                       for codes, args in _OP_SHAPES))


VALID_OP = _ops(False)
INVALID_OP = st.one_of(
    _ops(True),
    st.tuples(st.sampled_from([3, 9, 99, -1, 0]), PATH.valid),        # not allowed in a multi
    st.tuples(ODD_NUMBERS, PATH.valid),
    st.lists(st.one_of(st.integers(0, 22), PATH.valid), max_size=6).map(tuple),   # any shape
    st.just(()),
)
OPS = Arg(st.lists(VALID_OP, max_size=5),
          st.one_of(st.integers(),
                    st.tuples(st.lists(VALID_OP, max_size=3), INVALID_OP).map(
                        lambda t: t[0] + [t[1]])))
READ_OPS = Arg(st.lists(st.tuples(st.sampled_from([4, 8]), PATH.valid), max_size=5),
               OPS.invalid)

ENCODERS = {
    "encode_connect": (LONG, INT, LONG, DATA, WATCH),
    "encode_ping": (),
    "encode_close": (INT,),
    "encode_who_am_i": (INT,),
    "encode_create": (INT, PATH, DATA, ACLS, INT),
    "encode_create2": (INT, PATH, DATA, ACLS, INT),
    "encode_create_container": (INT, PATH, DATA, ACLS),
    "encode_create_ttl": (INT, PATH, DATA, ACLS, INT, LONG),
    "encode_delete": (INT, PATH, INT),
    "encode_exists": (INT, PATH, WATCH),
    "encode_get_data": (INT, PATH, WATCH),
    "encode_set_data": (INT, PATH, DATA, INT),
    "encode_get_acl": (INT, PATH),
    "encode_set_acl": (INT, PATH, ACLS, INT),
    "encode_get_children": (INT, PATH, WATCH),
    "encode_get_children2": (INT, PATH, WATCH),
    "encode_sync": (INT, PATH),
    "encode_check": (INT, PATH, INT),
    "encode_get_ephemerals": (INT, PATH),
    "encode_get_all_children_number": (INT, PATH),
    "encode_add_watch": (INT, PATH, INT),
    "encode_remove_watches": (INT, PATH, INT),
    "encode_check_watches": (INT, PATH, INT),
    "encode_reconfig": (INT, PATH, PATH, PATH, LONG),
    "encode_sasl": (INT, DATA),
    "encode_auth": (PATH, DATA),
    "encode_set_watches": (LONG, STRINGS, STRINGS, STRINGS),
    "encode_set_watches2": (LONG, STRINGS, STRINGS, STRINGS, STRINGS, STRINGS),
    "encode_multi": (INT, OPS),
    "encode_multi_read": (INT, READ_OPS),
}


def test_every_encoder_is_covered():
    assert sorted(ENCODERS) == sorted(n for n in _public(P) if n.startswith("encode_"))


@pytest.mark.parametrize("name", sorted(ENCODERS))
@PER_ENCODER
@given(data=st.data())
def test_encoders_agree(name, data):
    kinds = ENCODERS[name]
    mode = data.draw(st.sampled_from(["valid", "valid", "one-bad", "any"]), label="mode")
    bad = data.draw(st.integers(0, len(kinds) - 1), label="bad") if kinds else -1
    args = []
    for i, a in enumerate(kinds):
        if mode == "valid" or (mode == "one-bad" and i != bad):
            strat = a.valid
        elif mode == "one-bad":
            strat = a.invalid
        else:
            strat = st.one_of(a.valid, a.invalid)
        args.append(data.draw(strat, label=f"arg{i}"))
    # an iterator argument is used up by the first backend: give each its own
    iterators = {i: list(a) for i, a in enumerate(args) if type(a).__name__.endswith("iterator")}
    results = []
    for m in BACKENDS:
        own = [iter(iterators[i]) if i in iterators else a for i, a in enumerate(args)]
        results.append(outcome(getattr(m, name), *own))
    assert all(r == results[0] for r in results), (name, args, results)
    kind, value = results[0]
    if mode == "valid":
        assert kind == "ok", (args, value)
    if kind == "ok":
        frame = value[1]          # typed(frame) == ("bytes", frame)
        # a complete frame: the prefix counts the rest
        assert int.from_bytes(frame[:4], "big", signed=True) == len(frame) - 4
    else:
        # only the documented kinds of failure
        assert issubclass(value, (TypeError, ValueError, OverflowError, IndexError)), value


# =================================================================== decoders

TEXTS = st.text(max_size=12)
STATS = st.builds(Stat, INT64, INT64, INT64, INT64, INT32, INT32, INT32, INT64, INT32, INT32, INT64)


def _body(kind: int, draw) -> bytes:
    """A valid body of ``kind`` built from random values."""
    if kind == P.KIND_NONE:
        return b""
    if kind == P.KIND_STAT:
        return jb.stat(draw(STATS))
    if kind == P.KIND_DATA_STAT:
        return jb.buffer(draw(st.one_of(st.none(), st.binary(max_size=40)))) + jb.stat(draw(STATS))
    if kind == P.KIND_STRING:
        return jb.string(draw(st.one_of(st.none(), TEXTS)))
    if kind == P.KIND_STRING_STAT:
        return jb.string(draw(TEXTS)) + jb.stat(draw(STATS))
    if kind == P.KIND_CHILDREN:
        return jb.strings(draw(st.one_of(st.none(), st.lists(st.one_of(TEXTS, st.none()), max_size=8))))
    if kind == P.KIND_CHILDREN_STAT:
        return jb.strings(draw(st.lists(TEXTS, max_size=8))) + jb.stat(draw(STATS))
    if kind == P.KIND_ACL_STAT:
        entries = draw(st.lists(st.tuples(INT32, st.tuples(TEXTS, TEXTS)), max_size=3))
        return jb.acls(entries) + jb.stat(draw(STATS))
    if kind == P.KIND_INT:
        return jb.i32(draw(INT32))
    if kind == P.KIND_MULTI:
        result = st.one_of(
            st.tuples(st.just(1), st.just(0), TEXTS),
            st.tuples(st.just(15), st.just(0), st.tuples(TEXTS, STATS)),
            st.tuples(st.just(5), st.just(0), STATS),
            st.tuples(st.sampled_from([2, 13]), st.just(0), st.none()),
            st.tuples(st.just(4), st.just(0), st.tuples(st.one_of(st.none(), st.binary(max_size=9)), STATS)),
            st.tuples(st.just(8), st.just(0), st.lists(TEXTS, max_size=4)),
            st.tuples(st.just(-1), st.sampled_from([0, -2, -101, -103, -110]), st.none()),
        )
        return jb.multi_results(draw(st.lists(result, max_size=5)))
    if kind == P.KIND_CLIENT_INFO:
        return jb.client_infos(draw(st.lists(st.builds(ClientInfo, TEXTS, TEXTS), max_size=3)))
    if kind == P.KIND_BUFFER:
        return jb.buffer(draw(st.one_of(st.none(), st.binary(max_size=30))))
    if kind == P.KIND_WATCHER_EVENT:
        return jb.watcher_event(draw(INT32), draw(INT32), draw(st.one_of(st.none(), TEXTS)))
    return draw(st.binary(max_size=30))   # KIND_RAW


@st.composite
def streams(draw) -> Tuple[bytes, dict]:
    """A stream of valid reply frames and the kinds that decode them."""
    kinds: dict = {}
    frames = []
    for xid in range(draw(st.integers(0, 8))):
        kind = draw(st.integers(0, 13))
        err = draw(st.sampled_from([0, 0, 0, -101, -4]))
        real_xid = draw(st.sampled_from([xid + 1, xid + 1, -1, -2, -4, -8]))
        if real_xid == -1:
            kind = P.KIND_WATCHER_EVENT
        kinds.setdefault(real_xid, kind)
        kind = kinds[real_xid] if real_xid != -1 else kind
        body = _body(kind, draw) if (err == 0 or kind in (P.KIND_MULTI, P.KIND_RAW)) else b""
        frames.append(jb.reply(real_xid, draw(INT64), err, body))
    if draw(st.booleans()):
        kinds[draw(st.integers(1, 9))] = draw(st.sampled_from([0, 1, 2, 5, 9, 13, 99, None]))
    return b"".join(frames), kinds


def mutate(data: bytes, rnd: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(6)
        if op == 0 and b:                       # flip a byte
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        elif op == 1 and b:                     # cut the stream short
            del b[rnd.randrange(len(b)):]
        elif op == 2:                           # insert junk
            i = rnd.randrange(len(b) + 1)
            b[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 6)))
        elif op == 3 and len(b) > 4:            # an absurd int where a length may be
            i = rnd.randrange(len(b) - 3)
            b[i:i + 4] = rnd.choice([-1, -2, -2**31, 2**31 - 1, 2**30, 0x7fff, 15, 16]).to_bytes(
                4, "big", signed=True)
        elif op == 4 and b:                     # drop a byte
            del b[rnd.randrange(len(b))]
        elif op == 5 and len(b) > 8:            # duplicate a slice
            i = rnd.randrange(len(b) - 4)
            b[i:i] = b[i:i + rnd.randint(1, 8)]
    return bytes(b)


def chunked(data: bytes, rnd: random.Random) -> List[Any]:
    out, pos = [], 0
    while pos < len(data):
        n = rnd.choice([1, 2, 3, 4, 7, 16, 19, 20, 21, 64, 300, len(data)])
        piece = data[pos:pos + n]
        out.append(rnd.choice([bytes, bytes, bytearray, memoryview])(piece))
        pos += n
    if rnd.random() < 0.3:
        out.insert(rnd.randrange(len(out) + 1), b"")
    return out


def run_reader(module, chunks: Sequence[Any], kinds: dict, limit: int,
               connect: bool = False) -> List[Any]:
    """Feed ``chunks`` one by one; a transcript of what each call did."""
    r = module.FrameReader(limit)
    log: List[Any] = []
    connected = not connect
    for chunk in chunks:
        via_feed = connected
        try:
            if via_feed:
                got = r.feed(chunk, kinds)
            else:
                got = r.feed_connect(chunk)
                connected = got is not None
            log.append(("ok", typed(got), r.buffered))
        except CodecError as e:
            log.append(("codec", typed(e.replies), r.buffered))
        except Exception as e:   # noqa: BLE001
            log.append(("raise", type(e), r.buffered))
        if via_feed:
            # after feed() the reader holds at most one incomplete frame of at
            # most max_buffer_size bytes (or an oversized frame's header)
            assert r.buffered <= limit + 3, (r.buffered, limit)
    return log


def compare_readers(chunks, kinds, limit, connect=False):
    logs = [run_reader(m, chunks, kinds, limit, connect) for m in BACKENDS]
    for log in logs[1:]:
        assert log == logs[0]
    for entry in logs[0]:
        if entry[0] == "raise":
            # a caller's unknown kind is the only non-codec failure for bytes input
            assert entry[1] is ValueError, entry
    return logs[0]


LIMITS = st.sampled_from([16, 17, 20, 40, 100, 300, P.DEFAULT_MAX_BUFFER_SIZE])


@FAST
@given(stream=streams(), seed=st.integers(0, 2**32), limit=LIMITS)
def test_valid_streams_decode_alike(stream, seed, limit):
    data, kinds = stream
    rnd = random.Random(seed)
    log = compare_readers(chunked(data, rnd), kinds, limit)
    # decoding in pieces gives what decoding at once gives
    whole = run_reader(P, [data], kinds, limit)
    if limit == P.DEFAULT_MAX_BUFFER_SIZE and all(e[0] == "ok" for e in whole + log):
        pieces = [r for e in log for r in e[1][1]]
        assert pieces == whole[0][1][1]


@FAST
@given(stream=streams(), seed=st.integers(0, 2**32), limit=LIMITS)
def test_mutated_streams_fail_alike(stream, seed, limit):
    data, kinds = stream
    rnd = random.Random(seed)
    compare_readers(chunked(mutate(data, rnd), rnd), kinds, limit)


@FAST
@given(data=st.binary(max_size=400), seed=st.integers(0, 2**32), limit=LIMITS,
       kinds=st.dictionaries(st.integers(-10, 10), st.integers(0, 13), max_size=6))
def test_random_bytes_fail_alike(data, seed, limit, kinds):
    compare_readers(chunked(data, random.Random(seed)), kinds, limit)


@FAST
@given(stream=streams(), seed=st.integers(0, 2**32), limit=LIMITS,
       ro=st.sampled_from([None, False, True]), mutated=st.booleans())
def test_connect_then_stream_alike(stream, seed, limit, ro, mutated):
    data, kinds = stream
    rnd = random.Random(seed)
    full = jb.connect_response(read_only=ro) + data
    if mutated:
        full = mutate(full, rnd)
    compare_readers(chunked(full, rnd), kinds, limit, connect=True)


@FAST
@given(kind=st.one_of(st.integers(0, 13), st.integers(0, 13), st.sampled_from([14, -1, None, 1.0, True])),
       body=st.binary(max_size=120), seed=st.integers(0, 2**32))
def test_decode_body_alike(kind, body, seed):
    rnd = random.Random(seed)
    if rnd.random() < 0.5 and isinstance(kind, int) and 0 <= kind <= 13:
        # mostly-valid bodies, then damaged
        body = mutate(_body_for(kind, rnd), rnd) if rnd.random() < 0.7 else _body_for(kind, rnd)
    results = [outcome(m.decode_body, kind, body) for m in BACKENDS]
    assert all(r == results[0] for r in results), results
    assert results[0][0] == "ok" or issubclass(results[0][1], (CodecError, ValueError))


def _body_for(kind: int, rnd: random.Random) -> bytes:
    """A quick valid body without hypothesis (for mutation inside one example)."""
    st_ = jb.stat(jb.sample_stat(version=rnd.randint(0, 5)))
    return {
        0: b"", 1: st_, 2: jb.buffer(b"d" * rnd.randint(0, 9)) + st_, 3: jb.string("/p"),
        4: jb.string("/p") + st_, 5: jb.strings(["a", "bb", "\u00e9"]),
        6: jb.strings(["c"]) + st_, 7: jb.acls([(31, ("world", "anyone"))]) + st_,
        8: jb.i32(rnd.randint(-5, 5)), 9: jb.multi_results([(1, 0, "/a"), (-1, -101, None)]),
        10: jb.client_infos([ClientInfo("ip", "127.0.0.1")]), 11: jb.buffer(b"tok"),
        12: jb.watcher_event(1, 3, "/w"), 13: b"raw",
    }[kind]


@FAST
@given(body=st.binary(max_size=60))
def test_decode_connect_response_alike(body):
    results = [outcome(m.decode_connect_response, body) for m in BACKENDS]
    assert all(r == results[0] for r in results), results


# =================================================================== absurd lengths, memory and time

@pytest.mark.parametrize("module", BACKENDS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("length", [2**31 - 1, 2**30, 0xFFFFF + 1025])
def test_claimed_length_is_not_allocated(module, length):
    """A header claiming a huge frame makes the reader skip it, holding nothing."""
    limit = 0xFFFFF + 1024
    r = module.FrameReader(limit)
    head = jb.i32(length) + jb.reply_header(5, 6, 0)[:16]
    tracemalloc.start()
    try:
        out = r.feed(head, {5: P.KIND_RAW})
        for _ in range(min(50, (length - 16) // 65536)):
            r.feed(b"\x00" * 65536, {})          # the body streams past
            assert r.buffered == 0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out[0][2] == P.CODE_RESPONSE_TOO_LARGE
    assert peak < 1_000_000      # chunks of 64 KiB and bookkeeping; never the claimed size


@pytest.mark.parametrize("module", BACKENDS, ids=lambda m: m.__name__)
def test_incomplete_frame_is_not_preallocated(module):
    """A frame of 1 MiB announced but not sent costs only the bytes received."""
    r = module.FrameReader()
    tracemalloc.start()
    try:
        r.feed(jb.i32(0xFFFFF) + jb.reply_header(1, 0, 0) + b"x" * 100, {1: P.KIND_RAW})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.buffered == 120
    assert peak < 64 * 1024


@pytest.mark.parametrize("module", BACKENDS, ids=lambda m: m.__name__)
def test_huge_counts_fail_fast(module):
    """Vector counts far beyond the frame are refused at once, not looped over."""
    for kind, body in [
        (P.KIND_CHILDREN, jb.i32(2**31 - 1)),
        (P.KIND_CHILDREN_STAT, jb.i32(2**31 - 1) + b"\x00" * 100),
        (P.KIND_ACL_STAT, jb.i32(2**31 - 1) + b"\x00" * 100),
        (P.KIND_CLIENT_INFO, jb.i32(2**31 - 1) + b"\x00" * 100),
        (P.KIND_MULTI, jb.multi_header(8, False, 0) + jb.i32(2**31 - 1)),
    ]:
        r = module.FrameReader()
        with pytest.raises(CodecError):
            r.feed(jb.reply(1, 0, 0, body), {1: kind})


@pytest.mark.parametrize("module", BACKENDS, ids=lambda m: m.__name__)
def test_big_valid_replies(module):
    """Large, legal replies in pieces: 100k children and 1 MiB of data."""
    names = [f"n{i:07d}" for i in range(100_000)]
    kids = jb.reply(1, 0, 0, jb.strings(names))
    data = jb.reply(2, 0, 0, jb.buffer(os.urandom(0xFFFFF)) + jb.stat(jb.sample_stat()))
    r = module.FrameReader(2 * 1024 * 1024)
    got = []
    stream = kids + data
    for i in range(0, len(stream), 65536):
        got += r.feed(stream[i:i + 65536], {1: P.KIND_CHILDREN, 2: P.KIND_DATA_STAT})
    assert got[0][3] == names
    assert len(got[1][3][0]) == 0xFFFFF and r.buffered == 0


@pytest.mark.skipif(CY is None, reason="ZKFAST_NO_EXTENSIONS: no compiled codec to compare")
def test_reentrant_use_while_decoding_is_refused():
    """Python code can run inside feed() (a custom kinds mapping, a finalizer);
    if it touches the same reader the compiled codec refuses instead of
    freeing the buffer it is reading."""
    reader = CY.FrameReader()
    seen = []

    class Kinds:
        def get(self, xid, default):
            for call in (reader.reset, lambda: reader.feed(b"", {}),
                         lambda: reader.feed_connect(b"")):
                try:
                    call()
                except RuntimeError:
                    seen.append(xid)
            return P.KIND_INT

    out = reader.feed(jb.reply(1, 0, 0, jb.i32(4)) * 2, Kinds())
    assert out == [(1, 0, 0, 4), (1, 0, 0, 4)]
    assert seen == [1, 1, 1, 1, 1, 1]
