"""The jute codec, on whichever backend ``zkfast.codec`` picked.

CI runs this module twice: once on the compiled codec, once with
``ZKFAST_NO_EXTENSIONS=1`` on the pure twin. Expected request bytes are worked
out by hand from the jute rules (see the comments); reply frames come from
``jute_builders``, which is independent of both backends.
"""

from __future__ import annotations

import array
import enum
import mmap
import random

import jute_builders as jb
import pytest

from zkfast import codec as C
from zkfast.errors import CODE_RESPONSE_TOO_LARGE, CodecError
from zkfast.records import (
    ACL,
    ClientInfo,
    ConnectResponse,
    Id,
    ResponseTooLarge,
    Stat,
    WatcherEvent,
)

OPEN = [(31, ("world", "anyone"))]
ST = jb.sample_stat()


def h(s: str) -> bytes:
    """Hex with spaces between fields, for readable expectations."""
    return bytes.fromhex(s.replace(" ", ""))


# =========================================================== encoders: exact bytes

# Each expectation is length | xid | opcode | fields. The length counts
# everything after itself.

@pytest.mark.parametrize("call, expected", [
    # 4 xid + 4 op + (4 + 2) path + 1 watch = 15
    (lambda: C.encode_get_data(7, "/a", True), "0000000f 00000007 00000004 00000002 2f61 01"),
    (lambda: C.encode_get_data(7, "/a", False), "0000000f 00000007 00000004 00000002 2f61 00"),
    (lambda: C.encode_exists(7, "/a", False), "0000000f 00000007 00000003 00000002 2f61 00"),
    (lambda: C.encode_get_children(7, "/a", True), "0000000f 00000007 00000008 00000002 2f61 01"),
    (lambda: C.encode_get_children2(7, "/a", 0), "0000000f 00000007 0000000c 00000002 2f61 00"),
    # path + int: 4 + 4 + 6 + 4 = 18
    (lambda: C.encode_delete(9, "/a", -1), "00000012 00000009 00000002 00000002 2f61 ffffffff"),
    (lambda: C.encode_check(9, "/a", 5), "00000012 00000009 0000000d 00000002 2f61 00000005"),
    (lambda: C.encode_add_watch(10, "/a", 1), "00000012 0000000a 0000006a 00000002 2f61 00000001"),
    (lambda: C.encode_remove_watches(11, "/a", 3), "00000012 0000000b 00000012 00000002 2f61 00000003"),
    (lambda: C.encode_check_watches(12, "/a", 2), "00000012 0000000c 00000011 00000002 2f61 00000002"),
    # path only: 4 + 4 + 6 = 14
    (lambda: C.encode_get_acl(5, "/a"), "0000000e 00000005 00000006 00000002 2f61"),
    (lambda: C.encode_sync(5, "/a"), "0000000e 00000005 00000009 00000002 2f61"),
    (lambda: C.encode_get_all_children_number(5, "/a"), "0000000e 00000005 00000068 00000002 2f61"),
    (lambda: C.encode_get_ephemerals(5, "/"), "0000000d 00000005 00000067 00000001 2f"),
    # header only
    (lambda: C.encode_close(3), "00000008 00000003 fffffff5"),
    (lambda: C.encode_who_am_i(3), "00000008 00000003 0000006b"),
    (lambda: C.encode_ping(), "00000008 fffffffe 0000000b"),
    # UTF-8 path: "/é" is 2f c3a9
    (lambda: C.encode_get_data(1, "/\u00e9", False), "00000010 00000001 00000004 00000003 2fc3a9 00"),
    # the extreme xids
    (lambda: C.encode_sync(2**31 - 1, "/"), "0000000d 7fffffff 00000009 00000001 2f"),
    (lambda: C.encode_sync(-2**31, "/"), "0000000d 80000000 00000009 00000001 2f"),
])
def test_simple_requests(call, expected):
    assert call() == h(expected)


def test_connect_request_new_session():
    # protocolVersion 0 | lastZxid | timeOut | sessionId | passwd (16 zero bytes) | readOnly
    # = 4 + 8 + 4 + 8 + (4 + 16) + 1 = 45
    assert C.encode_connect(0, 10000, 0, None, False) == h(
        "0000002d 00000000 0000000000000000 00002710 0000000000000000 00000010"
        + "00" * 16 + "00")


def test_connect_request_reconnect_read_only():
    assert C.encode_connect(0x1234, 30000, 0x1000ABCDEF0001, b"\x5a" * 16, True) == h(
        "0000002d 00000000 0000000000001234 00007530 001000abcdef0001 00000010"
        + "5a" * 16 + "01")


CREATE_FIELDS = (
    "00000002 2f61"            # path "/a"
    " 00000002 6869"           # data "hi"
    " 00000001"                # one ACL
    " 0000001f"                # perms ALL
    " 00000005 776f726c64"     # "world"
    " 00000006 616e796f6e65"   # "anyone"
)


def test_create_family():
    # 4 + 4 + 6 + 6 + 4 + 4 + 9 + 10 + flags 4 = 51
    assert C.encode_create(1, "/a", b"hi", OPEN, 0) == h(
        "00000033 00000001 00000001 " + CREATE_FIELDS + " 00000000")
    assert C.encode_create2(1, "/a", b"hi", OPEN, 3) == h(
        "00000033 00000001 0000000f " + CREATE_FIELDS + " 00000003")
    # createContainer always sends the container mode, 4
    assert C.encode_create_container(1, "/a", b"hi", OPEN) == h(
        "00000033 00000001 00000013 " + CREATE_FIELDS + " 00000004")
    # createTTL adds the ttl long: 59
    assert C.encode_create_ttl(1, "/a", b"hi", OPEN, 5, 10000) == h(
        "0000003b 00000001 00000015 " + CREATE_FIELDS + " 00000005 0000000000002710")


def test_create_null_data_and_acls():
    # 4 + 4 + 6 + null buffer 4 + null vector 4 + flags 4 = 26
    assert C.encode_create(1, "/a", None, None, 1) == h(
        "0000001a 00000001 00000001 00000002 2f61 ffffffff ffffffff 00000001")
    # an empty buffer and an empty vector are not null
    assert C.encode_create(1, "/a", b"", [], 1) == h(
        "0000001a 00000001 00000001 00000002 2f61 00000000 00000000 00000001")


def test_create_accepts_acl_records_and_buffers():
    ref = C.encode_create(1, "/a", b"hi", OPEN, 0)
    acl = [ACL(31, Id("world", "anyone"))]
    assert C.encode_create(1, "/a", b"hi", acl, 0) == ref
    assert C.encode_create(1, "/a", bytearray(b"hi"), acl, 0) == ref
    assert C.encode_create(1, "/a", memoryview(b"xhi")[1:], acl, 0) == ref
    # a strided view is sent as its bytes in order
    assert C.encode_create(1, "/a", memoryview(b"h-i")[::2], acl, 0) == ref
    # wider items and several dimensions: the raw bytes
    wide = array.array("H", [0x6869])
    assert C.encode_set_data(1, "/a", memoryview(wide), 0) == C.encode_set_data(
        1, "/a", wide.tobytes(), 0)
    square = memoryview(b"abcd").cast("B", (2, 2))
    assert C.encode_set_data(1, "/a", square, 0) == C.encode_set_data(1, "/a", b"abcd", 0)


def test_set_data_and_set_acl():
    # 4 + 4 + 6 + (4 + 3) + 4 = 25
    assert C.encode_set_data(2, "/a", b"xyz", 7) == h(
        "00000019 00000002 00000005 00000002 2f61 00000003 78797a 00000007")
    # 4 + 4 + 6 + 4 + 4 + (4 + 6) + (4 + 5) + 4 = 45
    assert C.encode_set_acl(2, "/a", [(1, ("digest", "bob:x"))], -1) == h(
        "0000002d 00000002 00000007 00000002 2f61 00000001"
        " 00000001 00000006 646967657374 00000005 626f623a78 ffffffff")


def test_reconfig_sasl_auth():
    # three null strings and fromConfig -1: 4 + 4 + 12 + 8 = 28
    assert C.encode_reconfig(3, None, None, None, -1) == h(
        "0000001c 00000003 00000010 ffffffff ffffffff ffffffff ffffffffffffffff")
    # 4 + 4 + (4 + 1) + 4 + (4 + 2) + 8 = 31
    assert C.encode_reconfig(3, "a", None, "bc", 0x10) == h(
        "0000001f 00000003 00000010 00000001 61 ffffffff 00000002 6263 0000000000000010")
    assert C.encode_sasl(4, b"tok") == h("0000000f 00000004 00000066 00000003 746f6b")
    assert C.encode_sasl(4, None) == h("0000000c 00000004 00000066 ffffffff")
    assert C.encode_sasl(4, b"") == h("0000000c 00000004 00000066 00000000")
    # AuthPacket: xid -4, op 100, type 0, scheme, auth: 4 + 4 + 4 + 10 + 10 = 32
    assert C.encode_auth("digest", b"bob:pw") == h(
        "00000020 fffffffc 00000064 00000000 00000006 646967657374 00000006 626f623a7077")


def test_set_watches():
    # xid -8, op 101, relativeZxid, then three vector<ustring>: 4+4+8 + 10 + 4 + 16 = 46
    assert C.encode_set_watches(0x10, ["/a"], [], ["/b", "/c"]) == h(
        "0000002e fffffff8 00000065 0000000000000010"
        " 00000001 00000002 2f61"
        " 00000000"
        " 00000002 00000002 2f62 00000002 2f63")
    # any iterable of str
    assert C.encode_set_watches(0x10, iter(["/a"]), (), {"/b": 1, "/c": 2}) == \
        C.encode_set_watches(0x10, ["/a"], [], ["/b", "/c"])
    # op 105 adds persistent and persistentRecursive: 4+4+8 + 12 + 10 + 10 = 48
    assert C.encode_set_watches2(0x10, [], [], [], ["/p"], ["/r"]) == h(
        "00000030 fffffff8 00000069 0000000000000010 00000000 00000000 00000000"
        " 00000001 00000002 2f70 00000001 00000002 2f72")


def test_multi_request():
    got = C.encode_multi(5, [
        (C.OP_CREATE, "/a", b"", None, 0),
        (C.OP_DELETE, "/b", 3),
        (C.OP_SET_DATA, "/c", b"d", -1),
        (C.OP_CHECK, "/d", 0),
    ])
    # each op: MultiHeader{type, done=false, err=-1} then its record
    expected = h(
        "0000006a 00000005 0000000e"
        " 00000001 00 ffffffff 00000002 2f61 00000000 ffffffff 00000000"  # create: 27
        " 00000002 00 ffffffff 00000002 2f62 00000003"                    # delete: 19
        " 00000005 00 ffffffff 00000002 2f63 00000001 64 ffffffff"        # setData: 24
        " 0000000d 00 ffffffff 00000002 2f64 00000000"                    # check: 19
        " ffffffff 01 ffffffff")                                          # end: 9
    assert len(expected) == 4 + 8 + 27 + 19 + 24 + 19 + 9
    assert got == expected


def test_multi_request_create_variants():
    got = C.encode_multi(6, [
        (C.OP_CREATE2, "/a", b"hi", OPEN, 2),
        (C.OP_CREATE_CONTAINER, "/a", b"hi", OPEN),
        (C.OP_CREATE_TTL, "/a", b"hi", OPEN, 5, 100),
    ])
    body = (jb.i32(6) + jb.i32(14)
            + jb.multi_header(15, False, -1) + h(CREATE_FIELDS) + jb.i32(2)
            + jb.multi_header(19, False, -1) + h(CREATE_FIELDS) + jb.i32(4)
            + jb.multi_header(21, False, -1) + h(CREATE_FIELDS) + jb.i32(5) + jb.i64(100)
            + jb.multi_done())
    assert got == jb.frame(body)
    assert C.encode_multi(7, []) == h("00000011 00000007 0000000e ffffffff 01 ffffffff")


def test_multi_read_request():
    # the watch flag of each read op is always false
    assert C.encode_multi_read(6, [(C.OP_GET_DATA, "/a"), (C.OP_GET_CHILDREN, "/b")]) == h(
        "00000031 00000006 00000016"
        " 00000004 00 ffffffff 00000002 2f61 00"
        " 00000008 00 ffffffff 00000002 2f62 00"
        " ffffffff 01 ffffffff")


def test_int_subclasses_are_ints():
    class Mode(enum.IntEnum):
        RECURSIVE = 1
    assert C.encode_add_watch(Mode.RECURSIVE, "/a", Mode.RECURSIVE) == C.encode_add_watch(1, "/a", 1)


# =========================================================== encoders: bad arguments

BAD_INTS = [
    ("x", TypeError), (1.0, TypeError), (None, TypeError), (True, TypeError),
    (2**31, OverflowError), (-2**31 - 1, OverflowError), (2**80, OverflowError),
]


@pytest.mark.parametrize("value, exc", BAD_INTS)
def test_bad_int_arguments(value, exc):
    with pytest.raises(exc):
        C.encode_get_data(value, "/a", False)
    with pytest.raises(exc):
        C.encode_delete(1, "/a", value)
    with pytest.raises(exc):
        C.encode_create(1, "/a", b"", OPEN, value)
    with pytest.raises(exc):
        C.encode_create(1, "/a", b"", [(value, ("world", "anyone"))], 0)
    with pytest.raises(exc):
        C.encode_connect(0, value, 0, None, False)
    with pytest.raises(exc):
        C.encode_multi(1, [(C.OP_CHECK, "/a", value)])


@pytest.mark.parametrize("value, exc", [
    ("x", TypeError), (None, TypeError), (False, TypeError),
    (2**63, OverflowError), (-2**63 - 1, OverflowError),
])
def test_bad_long_arguments(value, exc):
    with pytest.raises(exc):
        C.encode_connect(value, 1000, 0, None, False)
    with pytest.raises(exc):
        C.encode_connect(0, 1000, value, None, False)
    with pytest.raises(exc):
        C.encode_create_ttl(1, "/a", b"", OPEN, 5, value)
    with pytest.raises(exc):
        C.encode_set_watches(value, [], [], [])
    with pytest.raises(exc):
        C.encode_reconfig(1, None, None, None, value)


def test_long_limits_accepted():
    assert C.encode_connect(2**63 - 1, 0, -2**63, None, False)[8:16] == h("7fffffffffffffff")


def test_bad_strings_and_buffers():
    with pytest.raises(TypeError):
        C.encode_get_data(1, b"/a", False)
    with pytest.raises(TypeError):
        C.encode_get_data(1, 5, False)
    with pytest.raises(UnicodeEncodeError):   # a lone surrogate has no UTF-8
        C.encode_get_data(1, "/\ud800", False)
    with pytest.raises(TypeError):
        C.encode_set_data(1, "/a", "text", 0)
    with pytest.raises(TypeError):
        C.encode_set_data(1, "/a", [1, 2], 0)
    with pytest.raises(TypeError):
        C.encode_set_data(1, "/a", array.array("B", b"x"), 0)   # only bytes-likes named in the API
    with pytest.raises(TypeError):
        C.encode_auth(5, b"")
    released = memoryview(b"abc")
    released.release()
    with pytest.raises(ValueError):
        C.encode_set_data(1, "/a", released, 0)


def test_buffer_over_2gib_is_refused_before_copying():
    # an untouched anonymous mapping: 2 GiB of address space, no memory
    mm = mmap.mmap(-1, 2**31)
    try:
        with memoryview(mm) as mv:
            with pytest.raises(OverflowError):
                C.encode_set_data(1, "/a", mv, 0)
    finally:
        mm.close()


def test_bad_acls():
    with pytest.raises(TypeError):
        C.encode_set_acl(1, "/a", 5, 0)                       # not a sequence
    with pytest.raises(ValueError):
        C.encode_set_acl(1, "/a", [(31,)], 0)                 # too short to unpack
    with pytest.raises(ValueError):
        C.encode_set_acl(1, "/a", [(31, ("world",))], 0)
    with pytest.raises(TypeError):
        C.encode_set_acl(1, "/a", [(31, ("world", 7))], 0)
    with pytest.raises(TypeError):
        C.encode_set_acl(1, "/a", [31], 0)


def test_vector_of_str_refuses_a_str():
    # a str would otherwise be sent as one path per character
    with pytest.raises(TypeError):
        C.encode_set_watches(0, "/a", [], [])
    with pytest.raises(TypeError):
        C.encode_set_watches2(0, [], [], [], b"/a", [])
    with pytest.raises(TypeError):
        C.encode_set_watches(0, [b"/a"], [], [])
    with pytest.raises(TypeError):
        C.encode_set_watches(0, 5, [], [])


def test_bad_multi_ops():
    with pytest.raises(ValueError):
        C.encode_multi(1, [(C.OP_SYNC, "/a")])
    with pytest.raises(TypeError):
        C.encode_multi(1, [("create", "/a", b"", OPEN, 0)])
    with pytest.raises(IndexError):
        C.encode_multi(1, [(C.OP_CREATE, "/a", b"")])
    with pytest.raises(IndexError):
        C.encode_multi(1, [()])
    with pytest.raises(TypeError):
        C.encode_multi(1, 5)
    with pytest.raises(ValueError):
        C.encode_multi_read(1, [(C.OP_CREATE, "/a", b"", OPEN, 0)])
    with pytest.raises(ValueError):
        C.encode_multi_read(1, [(C.OP_DELETE, "/a", 0)])


# =========================================================== decoding every reply kind

def feed_all(frames: bytes, kinds, reader=None):
    reader = reader or C.FrameReader()
    out = reader.feed(frames, kinds)
    assert reader.buffered == 0
    return out


KIND_CASES = [
    (C.KIND_NONE, b"", None),
    (C.KIND_STAT, jb.stat(ST), ST),
    (C.KIND_DATA_STAT, jb.buffer(b"hello") + jb.stat(ST), (b"hello", ST)),
    (C.KIND_DATA_STAT, jb.buffer(None) + jb.stat(ST), (None, ST)),
    (C.KIND_DATA_STAT, jb.buffer(b"") + jb.stat(ST), (b"", ST)),
    (C.KIND_STRING, jb.string("/a/b0000000001"), "/a/b0000000001"),
    (C.KIND_STRING_STAT, jb.string("/x") + jb.stat(ST), ("/x", ST)),
    (C.KIND_CHILDREN, jb.strings(["b", "a", "\u00e9t\u00e9", ""]), ["b", "a", "\u00e9t\u00e9", ""]),
    (C.KIND_CHILDREN, jb.strings([]), []),
    (C.KIND_CHILDREN, jb.strings(None), []),          # a null vector reads as empty
    (C.KIND_CHILDREN, jb.strings(["a", None]), ["a", None]),
    (C.KIND_CHILDREN_STAT, jb.strings(["c"]) + jb.stat(ST), (["c"], ST)),
    (C.KIND_ACL_STAT, jb.acls([(31, ("world", "anyone")), (1, ("digest", "u:h"))]) + jb.stat(ST),
     ([ACL(31, Id("world", "anyone")), ACL(1, Id("digest", "u:h"))], ST)),
    (C.KIND_ACL_STAT, jb.acls(None) + jb.stat(ST), ([], ST)),
    (C.KIND_INT, jb.i32(123456), 123456),
    (C.KIND_INT, jb.i32(-1), -1),
    (C.KIND_CLIENT_INFO, jb.client_infos([ClientInfo("ip", "127.0.0.1"), ClientInfo("digest", "bob")]),
     [ClientInfo("ip", "127.0.0.1"), ClientInfo("digest", "bob")]),
    (C.KIND_CLIENT_INFO, jb.client_infos(None), []),
    (C.KIND_BUFFER, jb.buffer(b"token"), b"token"),
    (C.KIND_BUFFER, jb.buffer(None), None),
    (C.KIND_RAW, b"\x01\x02\x03", b"\x01\x02\x03"),
    (C.KIND_WATCHER_EVENT, jb.watcher_event(3, 3, "/a"), WatcherEvent(3, 3, "/a")),
    (C.KIND_WATCHER_EVENT, jb.watcher_event(-1, 3, None), WatcherEvent(-1, 3, None)),
]


@pytest.mark.parametrize("kind, body, value", KIND_CASES)
def test_every_kind_decodes(kind, body, value):
    assert feed_all(jb.reply(42, 0x77, 0, body), {42: kind}) == [(42, 0x77, 0, value)]
    assert C.decode_body(kind, body) == value
    assert C.decode_body(kind, bytearray(body)) == value
    assert C.decode_body(kind, memoryview(body)) == value


def test_records_are_the_shared_classes():
    [(_, _, _, (_data, st))] = feed_all(jb.reply(1, 0, 0, jb.buffer(b"x") + jb.stat(ST)),
                                        {1: C.KIND_DATA_STAT})
    assert type(st) is Stat and st.version == 3 and st.owner_session_id == 0x1000ABCDEF0001
    assert hash(st) == hash(tuple(ST))
    [(_, _, _, (acls, _))] = feed_all(jb.reply(1, 0, 0, jb.acls(OPEN) + jb.stat(ST)),
                                      {1: C.KIND_ACL_STAT})
    assert type(acls[0]) is ACL and type(acls[0].id) is Id
    [(_, _, _, ev)] = feed_all(jb.reply(-1, -1, 0, jb.watcher_event(1, 3, "/n")), {})
    assert type(ev) is WatcherEvent and ev.path == "/n"


def test_stat_extremes():
    st = Stat(-2**63, 2**63 - 1, 0, -1, -2**31, 2**31 - 1, 0, -1, 0, 7, 2**40)
    assert C.decode_body(C.KIND_STAT, jb.stat(st)) == st


def test_multi_replies():
    results = [
        (1, 0, "/a"),
        (15, 0, ("/b", ST)),
        (5, 0, ST),
        (2, 0, None),
        (13, 0, None),
    ]
    assert C.decode_body(C.KIND_MULTI, jb.multi_results(results)) == results
    reads = [(4, 0, (b"d", ST)), (4, 0, (None, ST)), (8, 0, ["x", "y"]), (-1, -101, None)]
    assert C.decode_body(C.KIND_MULTI, jb.multi_results(reads)) == reads


def test_failed_multi_surfaces_each_ops_error():
    # ops before the failing one carry 0, after it -2; the body keeps the real code
    body = jb.multi_results([(-1, 0, None), (-1, -103, None), (-1, -2, None)])
    out = feed_all(jb.reply(9, 5, -103, body), {9: C.KIND_MULTI})
    assert out == [(9, 5, -103, [(-1, 0, None), (-1, -103, None), (-1, -2, None)])]
    # an ErrorResult's own body wins over its header's err
    odd = jb.multi_header(-1, False, -1) + jb.i32(-110) + jb.multi_done()
    assert C.decode_body(C.KIND_MULTI, odd) == [(-1, -110, None)]
    # a multi error reply without a body
    assert feed_all(jb.reply(9, 5, -4), {9: C.KIND_MULTI}) == [(9, 5, -4, None)]
    assert feed_all(jb.reply(9, 5, 0), {9: C.KIND_MULTI}) == [(9, 5, 0, None)]


def test_error_replies_have_no_body():
    # the server sends only the header; whatever follows is not decoded
    assert feed_all(jb.reply(3, 9, -101), {3: C.KIND_DATA_STAT}) == [(3, 9, -101, None)]
    assert feed_all(jb.reply(3, 9, -101, b"junk"), {3: C.KIND_STAT}) == [(3, 9, -101, None)]
    # raw bodies come as they are, error or not
    assert feed_all(jb.reply(3, 9, -101, b"junk"), {3: C.KIND_RAW}) == [(3, 9, -101, b"junk")]


def test_notifications_and_unknown_xids():
    frames = (jb.reply(-1, -1, 0, jb.watcher_event(4, 3, "/p"))
              + jb.reply(77, 1, 0, b"\x00\x01"))
    # xid -1 is a watch event whatever kinds says; an xid not in kinds is raw
    assert feed_all(frames, {-1: C.KIND_STAT}) == [
        (-1, -1, 0, WatcherEvent(4, 3, "/p")),
        (77, 1, 0, b"\x00\x01"),
    ]


def test_trailing_bytes_in_a_body_are_ignored():
    assert feed_all(jb.reply(1, 0, 0, jb.i32(5) + b"extra"), {1: C.KIND_INT}) == [(1, 0, 0, 5)]


def test_kinds_may_be_any_mapping_and_int_like():
    class Kind(enum.IntEnum):
        INT = C.KIND_INT

    class Kinds:
        def get(self, xid, default):
            return {1: Kind.INT}.get(xid, default)

    frames = jb.reply(1, 0, 0, jb.i32(5)) + jb.reply(2, 0, 0, b"zz")
    assert feed_all(frames, Kinds()) == [(1, 0, 0, 5), (2, 0, 0, b"zz")]


# =========================================================== frame splitting

def mixed_frames():
    frames = [
        jb.reply(1, 10, 0, jb.buffer(b"v" * 300) + jb.stat(ST)),
        jb.reply(-1, -1, 0, jb.watcher_event(3, 3, "/w")),
        jb.reply(2, 11, 0, jb.strings([f"c{i}" for i in range(50)])),
        jb.reply(3, 12, -101),
        jb.reply(-2, 12, 0),
        jb.reply(4, 13, 0, jb.multi_results([(1, 0, "/m"), (5, 0, ST)])),
    ]
    kinds = {1: C.KIND_DATA_STAT, 2: C.KIND_CHILDREN, 3: C.KIND_STAT, -2: C.KIND_NONE,
             4: C.KIND_MULTI}
    return frames, kinds


def test_several_frames_in_one_feed():
    frames, kinds = mixed_frames()
    out = feed_all(b"".join(frames), kinds)
    assert [r[0] for r in out] == [1, -1, 2, 3, -2, 4]
    assert out[0][3] == (b"v" * 300, ST)
    assert out[2][3] == [f"c{i}" for i in range(50)]


def test_one_byte_at_a_time():
    frames, kinds = mixed_frames()
    stream = b"".join(frames)
    expected = C.FrameReader().feed(stream, kinds)
    r = C.FrameReader()
    got = []
    for i in range(len(stream)):
        got += r.feed(stream[i:i + 1], kinds)
        assert r.buffered < 4 + max(len(f) for f in frames)
    assert got == expected
    assert r.buffered == 0


@pytest.mark.parametrize("seed", range(20))
def test_random_chunk_boundaries(seed):
    rnd = random.Random(seed)
    frames, kinds = mixed_frames()
    stream = b"".join(frames) * 3
    expected = C.FrameReader().feed(stream, kinds)
    r = C.FrameReader()
    got, pos = [], 0
    while pos < len(stream):
        n = rnd.choice([1, 2, 3, 5, 17, 19, 20, 21, 100, 400, 1000])
        chunk = stream[pos:pos + n]
        data = rnd.choice([bytes, bytearray, memoryview])(chunk)
        got += r.feed(data, kinds)
        pos += n
    assert got == expected and r.buffered == 0


def test_incomplete_frame_waits():
    whole = jb.reply(1, 0, 0, jb.i32(7))
    r = C.FrameReader()
    assert r.feed(whole[:3], {1: C.KIND_INT}) == []
    assert r.buffered == 3
    assert r.feed(whole[3:-1], {1: C.KIND_INT}) == []
    assert r.buffered == len(whole) - 1
    assert r.feed(whole[-1:] + whole[:5], {1: C.KIND_INT}) == [(1, 0, 0, 7)]
    assert r.buffered == 5
    assert r.feed(b"", {1: C.KIND_INT}) == []
    r.reset()
    assert r.buffered == 0
    assert r.feed(whole, {1: C.KIND_INT}) == [(1, 0, 0, 7)]


def test_feed_does_not_keep_the_callers_buffer():
    whole = jb.reply(1, 0, 0, jb.string("abc"))
    data = bytearray(whole[:10])
    r = C.FrameReader()
    r.feed(data, {1: C.KIND_STRING})
    data[:] = b"\xff" * 10         # the caller reuses its receive buffer
    assert r.feed(whole[10:], {1: C.KIND_STRING}) == [(1, 0, 0, "abc")]


# =========================================================== limits and corrupt input

def test_oversize_frame_fails_only_its_request():
    limit = 1024
    big = jb.reply(2, 50, 0, jb.buffer(b"x" * 10000) + jb.stat(ST))
    frames = jb.reply(1, 49, 0, jb.i32(1)) + big + jb.reply(3, 51, 0, jb.i32(3))
    kinds = {1: C.KIND_INT, 2: C.KIND_DATA_STAT, 3: C.KIND_INT}
    expected = [
        (1, 49, 0, 1),
        (2, 50, CODE_RESPONSE_TOO_LARGE, ResponseTooLarge(len(big) - 4, limit)),
        (3, 51, 0, 3),
    ]
    assert feed_all(frames, kinds, C.FrameReader(limit)) == expected
    for step in (1, 7, 19, 20, 21, 100, 999):
        r = C.FrameReader(limit)
        got = []
        for i in range(0, len(frames), step):
            got += r.feed(frames[i:i + step], kinds)
            # the oversized frame is never held (at most its 20-byte header):
            # only part of a 24-byte small frame may wait here
            assert r.buffered < 24
        assert got == expected, step
        assert r.buffered == 0


def test_oversize_frame_reports_once_its_header_is_whole():
    limit = 100
    big = jb.reply(8, 9, 0, b"z" * 500)
    r = C.FrameReader(limit)
    assert r.feed(big[:19], {8: C.KIND_RAW}) == []   # xid and zxid not all here yet
    assert r.buffered == 19
    out = r.feed(big[19:30], {8: C.KIND_RAW})
    assert out == [(8, 9, CODE_RESPONSE_TOO_LARGE, ResponseTooLarge(516, 100))]
    assert r.buffered == 0
    assert r.feed(big[30:] + jb.reply(9, 10, 0), {9: C.KIND_NONE}) == [(9, 10, 0, None)]


def test_max_buffer_size_boundary():
    frame = jb.reply(1, 0, 0, b"a" * 84)         # body of exactly 100 bytes
    assert feed_all(frame, {1: C.KIND_RAW}, C.FrameReader(100)) == [(1, 0, 0, b"a" * 84)]
    out = feed_all(frame, {1: C.KIND_RAW}, C.FrameReader(99))
    assert out == [(1, 0, CODE_RESPONSE_TOO_LARGE, ResponseTooLarge(100, 99))]


def test_max_buffer_size_validation():
    assert C.FrameReader().max_buffer_size == C.DEFAULT_MAX_BUFFER_SIZE == 0xFFFFF + 1024
    with pytest.raises(ValueError):
        C.FrameReader(15)
    with pytest.raises(TypeError):
        C.FrameReader(100.0)
    with pytest.raises(TypeError):
        C.FrameReader("100")
    r = C.FrameReader(16)
    r.max_buffer_size = 2**40        # larger than any frame: no limit
    assert r.max_buffer_size == 2**40
    with pytest.raises(ValueError):
        r.max_buffer_size = 0
    assert r.max_buffer_size == 2**40


@pytest.mark.parametrize("length", [-1, -2**31, 0, 15])
def test_bad_frame_length_is_corrupt(length):
    r = C.FrameReader()
    good = jb.reply(1, 0, 0, jb.i32(1))
    with pytest.raises(CodecError) as info:
        r.feed(good + jb.i32(length) + b"\x00" * 20, {1: C.KIND_INT})
    assert info.value.replies == [(1, 0, 0, 1)]    # nothing decoded is lost
    assert r.buffered == 0


def test_bad_frame_length_detected_from_four_bytes():
    r = C.FrameReader()
    with pytest.raises(CodecError):
        r.feed(jb.i32(-5), {})


@pytest.mark.parametrize("kind, body", [
    (C.KIND_STAT, jb.stat(ST)[:60]),                                    # short Stat
    (C.KIND_DATA_STAT, jb.i32(100) + b"short"),                         # buffer past the end
    (C.KIND_DATA_STAT, jb.buffer(b"ok") + jb.stat(ST)[:67]),
    (C.KIND_STRING, jb.i32(-2)),                                        # length below -1
    (C.KIND_STRING, jb.i32(2**31 - 1) + b"abc"),
    (C.KIND_STRING, b"\x00\x00"),                                       # the length itself cut
    (C.KIND_CHILDREN, jb.i32(3) + jb.string("a") + jb.string("b")),     # one item missing
    (C.KIND_CHILDREN, jb.i32(1) + jb.i32(-7)),
    (C.KIND_CHILDREN, jb.i32(1) + jb.i32(9) + b"abc"),
    (C.KIND_CHILDREN, jb.i32(2**31 - 1) + b"\x00" * 40),                # count the bytes can't hold
    (C.KIND_CHILDREN, jb.i32(-3)),
    (C.KIND_ACL_STAT, jb.i32(2**31 - 1) + b"\x00" * 80),
    (C.KIND_CLIENT_INFO, jb.i32(1000) + b"\x00" * 16),
    (C.KIND_MULTI, jb.multi_header(1, False, 0) + jb.string("/a")),     # no end marker
    (C.KIND_MULTI, jb.multi_header(99, False, 0) + jb.multi_done()),   # unknown op type
    (C.KIND_MULTI, jb.multi_header(8, False, 0) + jb.i32(2**30) + jb.multi_done()),
    (C.KIND_WATCHER_EVENT, jb.i32(1) + jb.i32(3) + jb.i32(5) + b"/a"),
    (C.KIND_INT, b"\x00\x00\x01"),
    (C.KIND_STRING, jb.buffer(b"\xff\xfe")),                            # not UTF-8
    (C.KIND_STRING, jb.buffer(b"/\xed\xa0\x80")),                       # an encoded surrogate
    (C.KIND_CHILDREN, jb.i32(2) + jb.string("ok") + jb.buffer(b"\xc3")),
])
def test_corrupt_records(kind, body):
    with pytest.raises(CodecError):
        C.decode_body(kind, body)
    r = C.FrameReader()
    before = jb.reply(1, 0, 0, jb.i32(11)) + jb.reply(-2, 0, 0)
    with pytest.raises(CodecError) as info:
        r.feed(before + jb.reply(2, 0, 0, body) + jb.reply(3, 0, 0, jb.i32(3)),
               {1: C.KIND_INT, -2: C.KIND_NONE, 2: kind, 3: C.KIND_INT})
    assert info.value.replies == [(1, 0, 0, 11), (-2, 0, 0, None)]
    assert r.buffered == 0


def test_huge_vector_count_fails_fast():
    # 2**31-1 children claimed in a 60-byte frame: refused before any allocation
    r = C.FrameReader()
    with pytest.raises(CodecError):
        r.feed(jb.reply(1, 0, 0, jb.i32(2**31 - 1) + jb.string("a") * 8), {1: C.KIND_CHILDREN})


def test_broken_reader_until_reset():
    r = C.FrameReader()
    with pytest.raises(CodecError):
        r.feed(jb.i32(-1), {})
    good = jb.reply(1, 0, 0, jb.i32(1))
    for _ in range(2):
        with pytest.raises(CodecError) as info:
            r.feed(good, {1: C.KIND_INT})
        assert info.value.replies == []
        with pytest.raises(CodecError):
            r.feed_connect(jb.connect_response())
    r.reset()
    assert r.feed(good, {1: C.KIND_INT}) == [(1, 0, 0, 1)]


def test_unknown_kind_is_a_caller_error_and_breaks_the_reader():
    r = C.FrameReader()
    with pytest.raises(ValueError):
        r.feed(jb.reply(1, 0, 0, b"abcd"), {1: 99})
    assert r.buffered == 0
    with pytest.raises(CodecError):
        r.feed(jb.reply(1, 0, 0, b"abcd"), {1: C.KIND_RAW})
    r.reset()
    # an error reply has no body to decode, so its kind is never looked at
    assert r.feed(jb.reply(1, 0, -101), {1: 99}) == [(1, 0, -101, None)]
    with pytest.raises(ValueError):
        C.decode_body(99, b"")
    with pytest.raises(ValueError):
        C.decode_body(None, b"")


def test_feed_input_types():
    r = C.FrameReader()
    with pytest.raises(TypeError):
        r.feed("text", {})
    with pytest.raises(TypeError):
        r.feed(None, {})
    with pytest.raises(BufferError):
        r.feed(memoryview(b"abcdefgh")[::2], {})
    with pytest.raises(TypeError):
        C.decode_body(C.KIND_RAW, 5)
    with pytest.raises(TypeError):
        C.decode_connect_response([0] * 20)
    # any contiguous buffer: an array of wider items counts bytes, not items
    frame = jb.reply(1, 0, 0, jb.i32(1))
    arr = array.array("I")
    arr.frombytes(frame)
    assert C.FrameReader().feed(arr, {1: C.KIND_INT}) == [(1, 0, 0, 1)]
    assert C.FrameReader().feed(memoryview(frame).cast("B", (4, 6)), {1: C.KIND_INT}) == [(1, 0, 0, 1)]


# =========================================================== ConnectResponse

def test_connect_response():
    r = C.FrameReader()
    resp = r.feed_connect(jb.connect_response(0, 4000, 0x1234, b"\x01" * 16, True))
    assert resp == ConnectResponse(0, 4000, 0x1234, b"\x01" * 16, True)
    assert type(resp) is ConnectResponse and r.buffered == 0


def test_connect_response_without_read_only_byte():
    r = C.FrameReader()
    resp = r.feed_connect(jb.connect_response(0, 4000, 7, b"p" * 16, None))
    assert resp == ConnectResponse(0, 4000, 7, b"p" * 16, False)


def test_connect_response_expired_and_null_passwd():
    # a timeout of 0 is how the server says the session expired; a null passwd reads as b""
    resp = C.decode_connect_response(jb.connect_response(0, 0, 0, None, False)[4:])
    assert resp == ConnectResponse(0, 0, 0, b"", False)


def test_connect_response_in_pieces_then_replies():
    stream = jb.connect_response(0, 4000, 9) + jb.reply(-1, -1, 0, jb.watcher_event(1, 3, "/x"))
    r = C.FrameReader()
    resp = None
    for i in range(len(stream)):
        resp = r.feed_connect(stream[i:i + 1])
        if resp is not None:
            break
    assert resp == ConnectResponse(0, 4000, 9, b"\x5a" * 16, False)
    # what came after the ConnectResponse stays for feed()
    assert r.feed(stream[i + 1:], {}) == [(-1, -1, 0, WatcherEvent(1, 3, "/x"))]


def test_connect_response_followed_in_the_same_chunk():
    stream = jb.connect_response() + jb.reply(5, 1, 0, jb.i32(2))
    r = C.FrameReader()
    assert r.feed_connect(stream).session_id == 0x1000ABCDEF0001
    assert r.buffered == len(jb.reply(5, 1, 0, jb.i32(2)))
    assert r.feed(b"", {5: C.KIND_INT}) == [(5, 1, 0, 2)]


def test_connect_response_followed_by_many_frames_and_a_partial_one():
    frames, kinds = mixed_frames()
    stream = jb.connect_response() + b"".join(frames) * 2
    expected = C.FrameReader().feed(b"".join(frames) * 2, kinds)
    cut = len(jb.connect_response()) + len(frames[0]) + len(frames[1]) + 7
    r = C.FrameReader()
    assert r.feed_connect(stream[:cut]) is not None
    assert r.buffered == len(frames[0]) + len(frames[1]) + 7
    got = r.feed(stream[cut:cut + 3], kinds)
    got += r.feed(stream[cut + 3:], kinds)
    assert got == expected and r.buffered == 0


@pytest.mark.parametrize("data", [
    jb.i32(-1) + b"\x00" * 30,                   # negative length
    jb.i32(2**30) + b"\x00" * 30,                # more than max_buffer_size
    jb.frame(b"\x00" * 10),                      # too short for the record
    jb.frame(jb.i32(0) + jb.i32(1) + jb.i64(1) + jb.i32(-5)),   # bad passwd length
])
def test_corrupt_connect_response(data):
    r = C.FrameReader()
    with pytest.raises(CodecError):
        r.feed_connect(data)
    assert r.buffered == 0
    with pytest.raises(CodecError):
        r.feed_connect(jb.connect_response())
    r.reset()
    assert r.feed_connect(jb.connect_response()) is not None


# =========================================================== the API itself

def test_constants():
    assert (C.OP_CREATE, C.OP_DELETE, C.OP_EXISTS, C.OP_GET_DATA, C.OP_SET_DATA) == (1, 2, 3, 4, 5)
    assert (C.OP_GET_ACL, C.OP_SET_ACL, C.OP_GET_CHILDREN, C.OP_SYNC, C.OP_PING) == (6, 7, 8, 9, 11)
    assert (C.OP_GET_CHILDREN2, C.OP_CHECK, C.OP_MULTI, C.OP_CREATE2, C.OP_RECONFIG) == (12, 13, 14, 15, 16)
    assert (C.OP_CHECK_WATCHES, C.OP_REMOVE_WATCHES, C.OP_CREATE_CONTAINER) == (17, 18, 19)
    assert ((C.OP_CREATE_TTL, C.OP_MULTI_READ, C.OP_AUTH, C.OP_SET_WATCHES, C.OP_SASL)
            == (21, 22, 100, 101, 102))
    assert (C.OP_GET_EPHEMERALS, C.OP_GET_ALL_CHILDREN_NUMBER, C.OP_SET_WATCHES2) == (103, 104, 105)
    assert (C.OP_ADD_WATCH, C.OP_WHO_AM_I, C.OP_CLOSE_SESSION, C.OP_ERROR) == (106, 107, -11, -1)
    assert (C.XID_NOTIFICATION, C.XID_PING, C.XID_AUTH, C.XID_SET_WATCHES) == (-1, -2, -4, -8)
    kinds = [C.KIND_NONE, C.KIND_STAT, C.KIND_DATA_STAT, C.KIND_STRING, C.KIND_STRING_STAT,
             C.KIND_CHILDREN, C.KIND_CHILDREN_STAT, C.KIND_ACL_STAT, C.KIND_INT, C.KIND_MULTI,
             C.KIND_CLIENT_INFO, C.KIND_BUFFER, C.KIND_WATCHER_EVENT, C.KIND_RAW]
    assert kinds == list(range(14))


def test_keyword_arguments():
    assert C.encode_get_data(xid=1, path="/a", watch=True) == C.encode_get_data(1, "/a", True)
    assert C.encode_create_ttl(xid=1, path="/a", data=b"", acls=OPEN, flags=5, ttl=9) == \
        C.encode_create_ttl(1, "/a", b"", OPEN, 5, 9)
    assert C.FrameReader(max_buffer_size=64).max_buffer_size == 64
    assert C.FrameReader().feed(data=jb.reply(1, 0, 0), kinds={1: 0}) == [(1, 0, 0, None)]
