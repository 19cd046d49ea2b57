# cython: language_level=3, boundscheck=True, wraparound=True, cdivision=True
# cython: auto_pickle=False, autotestdict=False
#
# boundscheck/wraparound only guard indexing of Python objects here (the byte
# work is all on C pointers, which are never checked): multi ops are caller
# tuples, so ``op[4]`` must raise IndexError, never read past the tuple.
"""Compiled jute codec: the twin of ``_codec_py``.

Same functions, constants, ``FrameReader`` and exceptions as the pure module,
byte-identical frames and equal decoded values (a differential test holds them
together). Import it through :mod:`zkfast.codec`, which picks the backend.

Where the speed comes from:

* An encoder allocates its result ``bytes`` once, sized from its arguments,
  writes the fields straight into it and trims it at the end: no bytearray, no
  struct calls, no final copy.
* ``FrameReader.feed`` decodes every complete frame of one ``recv()`` in one
  call, reading the caller's buffer in place. Only the bytes of a frame that
  is still incomplete are copied into the reader's own buffer, and a frame
  split across two feeds is finished with just the bytes it lacks.
* Strings are made straight from the frame bytes: an ASCII name (checked
  eight bytes at a time) is copied into a fresh str, anything else goes
  through ``PyUnicode_DecodeUTF8``. A children vector is a ``PyList_New``
  filled by stealing references: about 50 ns a name, less than Python's own
  ``list(map(bytes.decode, names))``.
* Records (``Stat`` and friends) are ``NamedTuple`` s allocated as their class
  and filled at C level (what ``tuple.__new__`` does), skipping the
  generated Python ``__new__``; a Stat costs little more than its 11 ints.
"""

from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t, INT32_MAX, INT32_MIN
from libc.string cimport memcpy, memmove
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF, Py_DECREF, Py_XDECREF
from cpython.mem cimport PyMem_Realloc, PyMem_Free
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from cpython.bytes cimport PyBytes_CheckExact, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.bytearray cimport PyByteArray_CheckExact, PyByteArray_GET_SIZE
from cpython.unicode cimport PyUnicode_Check, PyUnicode_AsUTF8AndSize
from cpython.long cimport PyLong_Check, PyLong_CheckExact, PyLong_AsLongLongAndOverflow
from cpython.bool cimport PyBool_Check
from cpython.dict cimport PyDict_CheckExact, PyDict_GetItemWithError
from cpython.list cimport PyList_New
from cpython.exc cimport PyErr_ExceptionMatches, PyErr_Clear

cdef extern from "Python.h":
    # Declared with raw pointers so that the hot paths manage references
    # themselves: a new str or bytes goes straight into its list or record.
    PyObject* _bytes_new_raw "PyBytes_FromStringAndSize" (const char* s, Py_ssize_t size)
    char* _bytes_data_raw "PyBytes_AS_STRING" (PyObject* b)
    void _list_set_raw "PyList_SET_ITEM" (object lst, Py_ssize_t i, PyObject* item)
    int _PyBytes_Resize(PyObject** b, Py_ssize_t size)
    bint PyUnicode_IS_ASCII(object s)
    Py_ssize_t PyUnicode_GET_LENGTH(object s)
    PyObject* Py_None

from typing import Any, Tuple

from .errors import CODE_RESPONSE_TOO_LARGE, CodecError
from .records import ACL, ClientInfo, ConnectResponse, Id, ResponseTooLarge, Stat, WatcherEvent

# One decoded reply: (xid, zxid, err, body).
Reply = Tuple[int, int, int, Any]

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

# The same numbers for C-level switches (the Python names above are the API).
cdef enum:
    K_NONE = 0
    K_STAT = 1
    K_DATA_STAT = 2
    K_STRING = 3
    K_STRING_STAT = 4
    K_CHILDREN = 5
    K_CHILDREN_STAT = 6
    K_ACL_STAT = 7
    K_INT = 8
    K_MULTI = 9
    K_CLIENT_INFO = 10
    K_BUFFER = 11
    K_WATCHER_EVENT = 12
    K_RAW = 13
    K_UNKNOWN = -1

cdef enum:
    C_OP_CREATE = 1
    C_OP_DELETE = 2
    C_OP_GET_DATA = 4
    C_OP_SET_DATA = 5
    C_OP_GET_CHILDREN = 8
    C_OP_CHECK = 13
    C_OP_CREATE2 = 15
    C_OP_CREATE_CONTAINER = 19
    C_OP_CREATE_TTL = 21
    C_OP_ERROR = -1

cdef enum:
    REPLY_HEADER = 16       # xid int, zxid long, err int
    STAT_SIZE = 68          # 4 longs, 3 ints, long, 2 ints, long
    # Above this reset() and errors free the buffer (a new connection starts small).
    KEEP_CAPACITY = 65536

# The reader's buffer is never needed past the largest frame length jute can
# express, so a larger limit is compared as this one.
cdef int64_t _MAX_FRAME = INT32_MAX

cdef object _Stat = Stat
cdef object _Id = Id
cdef object _ACL = ACL
cdef object _ClientInfo = ClientInfo
cdef object _WatcherEvent = WatcherEvent
cdef object _ConnectResponse = ConnectResponse
cdef object _ResponseTooLarge = ResponseTooLarge
cdef object _CODE_TOO_LARGE = CODE_RESPONSE_TOO_LARGE
cdef object _KIND_RAW_OBJ = KIND_RAW
cdef bytes _PING = b"\x00\x00\x00\x08\xff\xff\xff\xfe\x00\x00\x00\x0b"

# =============================================================== records

cdef extern from *:
    """
    /* Records are NamedTuples, i.e. tuple subclasses. CPython's own
       tuple.__new__(cls, items) allocates the subclass with tp_alloc and copies
       the items in (tuple_subtype_new). Before 3.14 that is all it does, so we
       do the same minus the intermediate tuple. 3.14 caches a tuple's hash in
       the object and only its own constructors initialise the cache: there we
       go through tuple.__new__ itself. */
    static PyObject *zkf_record(PyTypeObject *tp, Py_ssize_t n, PyObject **items) {
        Py_ssize_t i;
        PyObject *r = NULL;
        for (i = 0; i < n; i++) {
            if (items[i] == NULL) goto fail;        /* an item failed to build */
        }
    #if PY_VERSION_HEX < 0x030E0000 && !defined(PYPY_VERSION) && !defined(Py_GIL_DISABLED)
        r = tp->tp_alloc(tp, n);
        if (r == NULL) goto fail;
        for (i = 0; i < n; i++) PyTuple_SET_ITEM(r, i, items[i]);   /* steals */
        return r;
    #else
        {
            PyObject *t = PyTuple_New(n), *args;
            if (t == NULL) goto fail;
            for (i = 0; i < n; i++) PyTuple_SET_ITEM(t, i, items[i]);
            args = PyTuple_Pack(1, t);
            Py_DECREF(t);
            if (args == NULL) return NULL;
            r = PyTuple_Type.tp_new(tp, args, NULL);
            Py_DECREF(args);
            return r;
        }
    #endif
    fail:
        for (i = 0; i < n; i++) Py_XDECREF(items[i]);
        return NULL;
    }

    static PyObject *zkf_record_from(PyTypeObject *tp, PyObject *t) {
        Py_ssize_t i, n = PyTuple_GET_SIZE(t);
        PyObject *items[16];
        if (n > 16) return PyErr_Format(PyExc_SystemError, "record too long");
        for (i = 0; i < n; i++) { items[i] = PyTuple_GET_ITEM(t, i); Py_INCREF(items[i]); }
        return zkf_record(tp, n, items);
    }

    /* A str from bytes that should be UTF-8. Most znode names are ASCII: check
       that eight bytes at a time and copy them into a fresh compact ASCII str,
       which is what the UTF-8 decoder ends up doing, minus its set-up. Anything
       else (and the 0/1-byte strings CPython keeps as singletons) goes to the
       decoder. */
    static PyObject *zkf_str(const unsigned char *s, Py_ssize_t n) {
        if (n > 1) {
            Py_ssize_t i = 0;
            unsigned long long acc = 0, w;
            for (; i + 8 <= n; i += 8) { memcpy(&w, s + i, 8); acc |= w; }
            for (; i < n; i++) acc |= s[i];
            if (!(acc & 0x8080808080808080ULL)) {
                PyObject *u = PyUnicode_New(n, 127);
                if (u != NULL) memcpy(PyUnicode_1BYTE_DATA(u), s, n);
                return u;
            }
        }
        return PyUnicode_DecodeUTF8((const char *)s, n, NULL);
    }

    static inline long long zkf_i64(const unsigned char *p) {
        return (long long)(((unsigned long long)p[0] << 56) | ((unsigned long long)p[1] << 48)
                         | ((unsigned long long)p[2] << 40) | ((unsigned long long)p[3] << 32)
                         | ((unsigned long long)p[4] << 24) | ((unsigned long long)p[5] << 16)
                         | ((unsigned long long)p[6] << 8) | (unsigned long long)p[7]);
    }
    static inline long zkf_i32(const unsigned char *p) {
        return (long)(int)(((unsigned)p[0] << 24) | ((unsigned)p[1] << 16)
                         | ((unsigned)p[2] << 8) | (unsigned)p[3]);
    }

    /* Stat: czxid mzxid ctime mtime (longs), version cversion aversion (ints),
       ephemeralOwner (long), dataLength numChildren (ints), pzxid (long). */
    static PyObject *zkf_stat(PyTypeObject *tp, const unsigned char *p) {
        PyObject *v[11];
        v[0] = PyLong_FromLongLong(zkf_i64(p));
        v[1] = PyLong_FromLongLong(zkf_i64(p + 8));
        v[2] = PyLong_FromLongLong(zkf_i64(p + 16));
        v[3] = PyLong_FromLongLong(zkf_i64(p + 24));
        v[4] = PyLong_FromLong(zkf_i32(p + 32));
        v[5] = PyLong_FromLong(zkf_i32(p + 36));
        v[6] = PyLong_FromLong(zkf_i32(p + 40));
        v[7] = PyLong_FromLongLong(zkf_i64(p + 44));
        v[8] = PyLong_FromLong(zkf_i32(p + 52));
        v[9] = PyLong_FromLong(zkf_i32(p + 56));
        v[10] = PyLong_FromLongLong(zkf_i64(p + 60));
        return zkf_record(tp, 11, v);
    }
    """
    object zkf_record_from(PyTypeObject* tp, object items)
    object zkf_stat(PyTypeObject* tp, const unsigned char* p)
    PyObject* zkf_str(const unsigned char* s, Py_ssize_t n)


cdef inline object _record(object cls, tuple items):
    """``tuple.__new__(cls, items)`` without calling the NamedTuple's
    generated Python ``__new__``: same class, same fields, a fraction of the cost."""
    return zkf_record_from(<PyTypeObject*>cls, items)


# =============================================================== writing

cdef inline void _put_i32(char* p, int32_t v) noexcept nogil:
    cdef uint32_t u = <uint32_t>v
    p[0] = <char>(u >> 24)
    p[1] = <char>(u >> 16)
    p[2] = <char>(u >> 8)
    p[3] = <char>u


cdef inline void _put_i64(char* p, int64_t v) noexcept nogil:
    cdef uint64_t u = <uint64_t>v
    _put_i32(p, <int32_t>(u >> 32))
    _put_i32(p + 4, <int32_t>(u & 0xFFFFFFFFu))


cdef int32_t _as_int(object v, str name) except? -1:
    """The twin's ``_check_int``: an int (not a bool) that fits 32 bits."""
    cdef int overflow = 0
    cdef long long x
    if not PyLong_CheckExact(v):
        if PyBool_Check(v) or not PyLong_Check(v):
            raise TypeError(f"{name} must be an int, not {type(v).__name__}")
    x = PyLong_AsLongLongAndOverflow(v, &overflow)
    if overflow or x < INT32_MIN or x > INT32_MAX:
        raise OverflowError(f"{name}={v} does not fit a 32-bit int")
    return <int32_t>x


cdef int64_t _as_long(object v, str name) except? -1:
    """The twin's ``_check_long``: an int (not a bool) that fits 64 bits."""
    cdef int overflow = 0
    cdef long long x
    if PyBool_Check(v) or not PyLong_Check(v):
        raise TypeError(f"{name} must be an int, not {type(v).__name__}")
    x = PyLong_AsLongLongAndOverflow(v, &overflow)
    if overflow:
        raise OverflowError(f"{name}={v} does not fit a 64-bit long")
    return <int64_t>x


cdef inline Py_ssize_t _est_str(object s) noexcept:
    """A size guess for a string field; exact for ASCII, never raises."""
    if s is not None and PyUnicode_Check(s):
        if PyUnicode_IS_ASCII(s):
            return 4 + PyUnicode_GET_LENGTH(s)
        return 4 + 2 * PyUnicode_GET_LENGTH(s)
    return 4


cdef inline Py_ssize_t _est_buf(object b) noexcept:
    """A size guess for a buffer field; exact for bytes/bytearray, never raises."""
    if b is not None:
        if PyBytes_CheckExact(b):
            return 4 + PyBytes_GET_SIZE(b)
        if PyByteArray_CheckExact(b):
            return 4 + PyByteArray_GET_SIZE(b)
    return 4


cdef int _w_init(_Writer* w, int32_t xid, int32_t op, Py_ssize_t size) except -1:
    """Start a request frame: length (filled by _w_finish), xid, opcode."""
    if size < 12:
        size = 12
    w.obj = _bytes_new_raw(NULL, size)
    if w.obj == NULL:
        w.cap = 0
        return -1
    w.p = _bytes_data_raw(w.obj)
    w.cap = size
    _put_i32(w.p + 4, xid)
    _put_i32(w.p + 8, op)
    w.n = 12
    return 0


cdef int _w_grow(_Writer* w, Py_ssize_t extra) except -1:
    cdef Py_ssize_t need = w.n + extra
    cdef Py_ssize_t cap = w.cap * 2
    if cap < need:
        cap = need
    # Only the encoder holds this bytes object, so it may be resized in place.
    if _PyBytes_Resize(&w.obj, cap) < 0:
        return -1  # w.obj is NULL now and MemoryError is set
    w.p = _bytes_data_raw(w.obj)
    w.cap = cap
    return 0


cdef inline int _w_reserve(_Writer* w, Py_ssize_t extra) except -1:
    if w.n + extra > w.cap:
        return _w_grow(w, extra)
    return 0


cdef bytes _w_finish(_Writer* w):
    """Trim to the bytes written, fill in the length prefix, hand the frame out."""
    if w.n != w.cap:
        if _PyBytes_Resize(&w.obj, w.n) < 0:
            raise MemoryError()  # pragma: no cover - shrinking does not fail in practice
        w.p = _bytes_data_raw(w.obj)
        w.cap = w.n
    _put_i32(w.p, <int32_t>(w.n - 4))
    cdef bytes r = <bytes>w.obj
    Py_DECREF(r)   # the cast took a new reference; the writer's own moves to r
    w.obj = NULL
    return r


cdef inline void _w_free(_Writer* w) noexcept:
    Py_XDECREF(w.obj)
    w.obj = NULL


cdef inline int _w_int(_Writer* w, int32_t v) except -1:
    if w.n + 4 > w.cap:
        _w_grow(w, 4)
    _put_i32(w.p + w.n, v)
    w.n += 4
    return 0


cdef inline int _w_long(_Writer* w, int64_t v) except -1:
    if w.n + 8 > w.cap:
        _w_grow(w, 8)
    _put_i64(w.p + w.n, v)
    w.n += 8
    return 0


cdef inline int _w_byte(_Writer* w, char v) except -1:
    if w.n + 1 > w.cap:
        _w_grow(w, 1)
    w.p[w.n] = v
    w.n += 1
    return 0


cdef int _w_string(_Writer* w, object s) except -1:
    cdef Py_ssize_t n
    cdef const char* u
    if s is None:
        return _w_int(w, -1)
    if not PyUnicode_Check(s):
        raise TypeError(f"expected str, not {type(s).__name__}")
    # UTF-8 of an ASCII str is its own data; for others CPython caches it on
    # the str. Lone surrogates raise UnicodeEncodeError, as str.encode does.
    u = PyUnicode_AsUTF8AndSize(s, &n)
    if n > INT32_MAX:
        raise OverflowError("string longer than 2 GiB")
    _w_reserve(w, 4 + n)
    _put_i32(w.p + w.n, <int32_t>n)
    memcpy(w.p + w.n + 4, u, n)
    w.n += 4 + n
    return 0


cdef int _w_bytes(_Writer* w, const char* src, Py_ssize_t n) except -1:
    if n > INT32_MAX:
        raise OverflowError("buffer longer than 2 GiB")
    _w_reserve(w, 4 + n)
    _put_i32(w.p + w.n, <int32_t>n)
    memcpy(w.p + w.n + 4, src, n)
    w.n += 4 + n
    return 0


cdef int _w_buffer(_Writer* w, object b) except -1:
    cdef Py_buffer view
    if b is None:
        return _w_int(w, -1)
    if PyBytes_CheckExact(b):
        return _w_bytes(w, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))
    if not isinstance(b, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, not {type(b).__name__}")
    if isinstance(b, memoryview) and not b.c_contiguous:
        b = b.tobytes()   # the twin does the same: the bytes in C order
    PyObject_GetBuffer(b, &view, PyBUF_SIMPLE)
    try:
        _w_bytes(w, <const char*>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)
    return 0


cdef int _w_acls(_Writer* w, object acls) except -1:
    cdef Py_ssize_t n
    if acls is None:
        return _w_int(w, -1)
    n = len(acls)
    _w_int(w, <int32_t>n)
    for acl in acls:
        perms, ident = acl
        scheme, id_ = ident
        _w_int(w, _as_int(perms, "perms"))
        _w_string(w, scheme)
        _w_string(w, id_)
    return 0


cdef int _w_strings(_Writer* w, object items) except -1:
    if isinstance(items, (str, bytes, bytearray)):
        # iterating one would send its characters as separate paths
        raise TypeError(f"expected a sequence of str, not {type(items).__name__}")
    if type(items) is not list and type(items) is not tuple:
        items = list(items)
    _w_int(w, <int32_t>len(items))
    for s in items:
        _w_string(w, s)
    return 0


cdef int _w_create_body(_Writer* w, object path, object data, object acls, object flags) except -1:
    _w_string(w, path)
    _w_buffer(w, data)
    _w_acls(w, acls)
    _w_int(w, _as_int(flags, "flags"))
    return 0


cdef bytes _path_request(object xid, int32_t op, object path):
    cdef int32_t x = _as_int(xid, "xid")
    cdef _Writer w
    _w_init(&w, x, op, 12 + _est_str(path))
    try:
        _w_string(&w, path)
        return _w_finish(&w)
    finally:
        _w_free(&w)


cdef bytes _path_watch_request(object xid, int32_t op, object path, object watch):
    cdef int32_t x = _as_int(xid, "xid")
    cdef _Writer w
    _w_init(&w, x, op, 13 + _est_str(path))
    try:
        _w_string(&w, path)
        _w_byte(&w, 1 if watch else 0)
        return _w_finish(&w)
    finally:
        _w_free(&w)


cdef bytes _path_int_request(object xid, int32_t op, object path, object value, str name):
    cdef int32_t x = _as_int(xid, "xid")
    cdef _Writer w
    _w_init(&w, x, op, 16 + _est_str(path))
    try:
        _w_string(&w, path)
        _w_int(&w, _as_int(value, name))
        return _w_finish(&w)
    finally:
        _w_free(&w)


cdef bytes _create_request(object xid, int32_t op, object path, object data, object acls,
                           object flags, bint with_ttl, object ttl):
    cdef int32_t x = _as_int(xid, "xid")
    cdef _Writer w
    # ACL entries are small: world:anyone is 4+4+5+4+6 bytes.
    _w_init(&w, x, op, 12 + _est_str(path) + _est_buf(data) + 4 + 32 * _est_len(acls) + 4 + 8)
    try:
        _w_create_body(&w, path, data, acls, flags)
        if with_ttl:
            _w_long(&w, _as_long(ttl, "ttl"))
        return _w_finish(&w)
    finally:
        _w_free(&w)


cdef inline Py_ssize_t _est_len(object seq) noexcept:
    if type(seq) is list or type(seq) is tuple:
        return len(seq)
    return 1


def encode_connect(last_zxid, timeout_ms, session_id, passwd, read_only):
    """ConnectRequest; ``passwd`` None means a new session (16 zero bytes)."""
    cdef int64_t lz = _as_long(last_zxid, "last_zxid")
    cdef int32_t to = _as_int(timeout_ms, "timeout_ms")
    cdef int64_t sid = _as_long(session_id, "session_id")
    cdef _Writer w
    # No request header here: the frame is length, protocolVersion 0, then the fields.
    _w_init(&w, 0, 0, 4 + 4 + 8 + 4 + 8 + 4 + 16 + 1)
    w.n = 8
    try:
        _w_long(&w, lz)
        _w_int(&w, to)
        _w_long(&w, sid)
        if passwd is None:
            _w_bytes(&w, b"\x00" * 16, 16)
        else:
            _w_buffer(&w, passwd)
        _w_byte(&w, 1 if read_only else 0)
        return _w_finish(&w)
    finally:
        _w_free(&w)


def encode_ping():
    return _PING


def encode_close(xid):
    return _header_only(xid, -11)


def encode_who_am_i(xid):
    return _header_only(xid, 107)


cdef bytes _header_only(object xid, int32_t op):
    cdef int32_t x = _as_int(xid, "xid")
    cdef _Writer w
    _w_init(&w, x, op, 12)
    try:
        return _w_finish(&w)
    finally:
        _w_free(&w)


def encode_create(xid, path, data, acls, flags):
    return _create_request(xid, 1, path, data, acls, flags, False, None)


def encode_create2(xid, path, data, acls, flags):
    return _create_request(xid, 15, path, data, acls, flags, False, None)


def encode_create_container(xid, path, data, acls):
    return _create_request(xid, 19, path, data, acls, 4, False, None)


def encode_create_ttl(xid, path, data, acls, flags, ttl):
    return _create_request(xid, 21, path, data, acls, flags, True, ttl)


def encode_delete(xid, path, version):
    return _path_int_request(xid, 2, path, version, "version")


def encode_exists(xid, path, watch):
    return _path_watch_request(xid, 3, path, watch)


def encode_get_data(xid, path, watch):
    return _path_watch_request(xid, 4, path, watch)


def encode_set_data(xid, path, data, version):
    cdef int32_t x = _as_int(xid, "xid")
    cdef _Writer w
    _w_init(&w, x, 5, 12 + _est_str(path) + _est_buf(data) + 4)
    try:
        _w_string(&w, path)
        _w_buffer(&w, data)
        _w_int(&w, _as_int(version, "version"))
        return _w_finish(&w)
    finally:
        _w_free(&w)


def encode_get_acl(xid, path):
    return _path_request(xid, 6, path)


def encode_set_acl(xid, path, acls, version):
    cdef int32_t x = _as_int(xid, "xid")
    cdef _Writer w
    _w_init(&w, x, 7, 12 + _est_str(path) + 4 + 32 * _est_len(acls) + 4)
    try:
        _w_string(&w, path)
        _w_acls(&w, acls)
        _w_int(&w, _as_int(version, "version"))
        return _w_finish(&w)
    finally:
        _w_free(&w)


def encode_get_children(xid, path, watch):
    return _path_watch_request(xid, 8, path, watch)


def encode_get_children2(xid, path, watch):
    return _path_watch_request(xid, 12, path, watch)


def encode_sync(xid, path):
    return _path_request(xid, 9, path)


def encode_check(xid, path, version):
    return _path_int_request(xid, 13, path, version, "version")


def encode_get_ephemerals(xid, prefix):
    return _path_request(xid, 103, prefix)


def encode_get_all_children_number(xid, path):
    return _path_request(xid, 104, path)


def encode_add_watch(xid, path, mode):
    return _path_int_request(xid, 106, path, mode, "mode")


def encode_remove_watches(xid, path, watcher_type):
    return _path_int_request(xid, 18, path, watcher_type, "watcher_type")


def encode_check_watches(xid, path, watcher_type):
    return _path_int_request(xid, 17, path, watcher_type, "watcher_type")


def encode_reconfig(xid, joining, leaving, new_members, from_config):
    cdef int32_t x = _as_int(xid, "xid")
    cdef _Writer w
    _w_init(&w, x, 16, 12 + _est_str(joining) + _est_str(leaving) + _est_str(new_members) + 8)
    try:
        _w_string(&w, joining)
        _w_string(&w, leaving)
        _w_string(&w, new_members)
        _w_long(&w, _as_long(from_config, "from_config"))
        return _w_finish(&w)
    finally:
        _w_free(&w)


def encode_sasl(xid, token):
    cdef int32_t x = _as_int(xid, "xid")
    cdef _Writer w
    _w_init(&w, x, 102, 12 + _est_buf(token))
    try:
        _w_buffer(&w, token)
        return _w_finish(&w)
    finally:
        _w_free(&w)


def encode_auth(scheme, auth):
    """AuthPacket{type 0, scheme, auth}; always xid -4."""
    cdef _Writer w
    _w_init(&w, -4, 100, 12 + 4 + _est_str(scheme) + _est_buf(auth))
    try:
        _w_int(&w, 0)
        _w_string(&w, scheme)
        _w_buffer(&w, auth)
        return _w_finish(&w)
    finally:
        _w_free(&w)


def encode_set_watches(relative_zxid, data, exist, child):
    cdef _Writer w
    _w_init(&w, -8, 101, 256)
    try:
        _w_long(&w, _as_long(relative_zxid, "relative_zxid"))
        _w_strings(&w, data)
        _w_strings(&w, exist)
        _w_strings(&w, child)
        return _w_finish(&w)
    finally:
        _w_free(&w)


def encode_set_watches2(relative_zxid, data, exist, child, persistent, persistent_recursive):
    cdef _Writer w
    _w_init(&w, -8, 105, 256)
    try:
        _w_long(&w, _as_long(relative_zxid, "relative_zxid"))
        _w_strings(&w, data)
        _w_strings(&w, exist)
        _w_strings(&w, child)
        _w_strings(&w, persistent)
        _w_strings(&w, persistent_recursive)
        return _w_finish(&w)
    finally:
        _w_free(&w)


cdef int _w_multi_header(_Writer* w, int32_t op, char done, int32_t err) except -1:
    _w_reserve(w, 9)
    _put_i32(w.p + w.n, op)
    w.p[w.n + 4] = done
    _put_i32(w.p + w.n + 5, err)
    w.n += 9
    return 0


cdef int _w_multi_op(_Writer* w, object op) except -1:
    # Same order of argument access and checks as the twin, so a bad op
    # raises the same exception type from both backends.
    cdef int32_t kind = _as_int(op[0], "op type")
    _w_multi_header(w, kind, 0, -1)
    if kind == C_OP_CREATE or kind == C_OP_CREATE2:
        path, data, acls, flags = op[1], op[2], op[3], op[4]
        _w_create_body(w, path, data, acls, flags)
    elif kind == C_OP_CREATE_CONTAINER:
        path, data, acls = op[1], op[2], op[3]
        _w_create_body(w, path, data, acls, 4)
    elif kind == C_OP_CREATE_TTL:
        path, data, acls, flags = op[1], op[2], op[3], op[4]
        _w_create_body(w, path, data, acls, flags)
        _w_long(w, _as_long(op[5], "ttl"))
    elif kind == C_OP_DELETE or kind == C_OP_CHECK:
        _w_string(w, op[1])
        _w_int(w, _as_int(op[2], "version"))
    elif kind == C_OP_SET_DATA:
        _w_string(w, op[1])
        _w_buffer(w, op[2])
        _w_int(w, _as_int(op[3], "version"))
    elif kind == C_OP_GET_DATA or kind == C_OP_GET_CHILDREN:
        _w_string(w, op[1])
        _w_byte(w, 0)   # watch flag is not allowed in multiRead ops
    else:
        raise ValueError(f"op type {kind} cannot be part of a multi")
    return 0


def encode_multi(xid, ops):
    """MultiRequest. Each op is a tuple starting with its opcode:
    ``(OP_CREATE|OP_CREATE2, path, data, acls, flags)``, ``(OP_CREATE_TTL, path, data, acls, flags, ttl)``,
    ``(OP_CREATE_CONTAINER, path, data, acls)``, ``(OP_DELETE, path, version)``,
    ``(OP_SET_DATA, path, data, version)``, ``(OP_CHECK, path, version)``."""
    cdef int32_t x = _as_int(xid, "xid")
    cdef _Writer w
    _w_init(&w, x, 14, 12 + 64 * _est_len(ops) + 9)
    try:
        for op in ops:
            _w_multi_op(&w, op)
        _w_multi_header(&w, -1, 1, -1)
        return _w_finish(&w)
    finally:
        _w_free(&w)


def encode_multi_read(xid, ops):
    """MultiReadRequest: ops are ``(OP_GET_DATA, path)`` or ``(OP_GET_CHILDREN, path)``."""
    cdef int32_t x = _as_int(xid, "xid")
    cdef _Writer w
    _w_init(&w, x, 22, 12 + 32 * _est_len(ops) + 9)
    try:
        for op in ops:
            if op[0] != OP_GET_DATA and op[0] != OP_GET_CHILDREN:
                raise ValueError(f"op type {op[0]} cannot be part of a multiRead")
            _w_multi_op(&w, op)
        _w_multi_header(&w, -1, 1, -1)
        return _w_finish(&w)
    finally:
        _w_free(&w)


# =============================================================== reading

cdef inline int32_t _get_i32(const unsigned char* p) noexcept nogil:
    # Compilers turn this into one load and a byte swap.
    return <int32_t>((<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16)
                     | (<uint32_t>p[2] << 8) | <uint32_t>p[3])


cdef inline int64_t _get_i64(const unsigned char* p) noexcept nogil:
    return <int64_t>((<uint64_t><uint32_t>_get_i32(p) << 32) | <uint64_t><uint32_t>_get_i32(p + 4))


cdef int _truncated(_Cursor* c, Py_ssize_t n) except -1:
    raise CodecError(f"truncated record: need {n} bytes at offset {c.pos}, have {c.end - c.pos}")


cdef inline int _need(_Cursor* c, Py_ssize_t n) except -1:
    if n > c.end - c.pos:
        return _truncated(c, n)
    return 0


cdef inline int32_t _r_int(_Cursor* c) except? -1:
    if c.end - c.pos < 4:
        _truncated(c, 4)
    cdef int32_t v = _get_i32(c.b + c.pos)
    c.pos += 4
    return v


cdef inline int64_t _r_long(_Cursor* c) except? -1:
    if c.end - c.pos < 8:
        _truncated(c, 8)
    cdef int64_t v = _get_i64(c.b + c.pos)
    c.pos += 8
    return v


cdef inline int _r_bool(_Cursor* c) except -1:
    if c.end - c.pos < 1:
        _truncated(c, 1)
    cdef int v = c.b[c.pos] != 0
    c.pos += 1
    return v


cdef int _negative_length(int32_t n) except -1:
    raise CodecError(f"negative length {n} in record")


cdef inline int32_t _r_len(_Cursor* c) except? -2:
    """A buffer/string/vector length: -1 (null) or more."""
    cdef int32_t n = _r_int(c)
    if n < -1:
        _negative_length(n)
    return n


cdef object _r_buffer(_Cursor* c):
    cdef int32_t n = _r_len(c)
    if n == -1:
        return None
    _need(c, n)
    cdef PyObject* o = _bytes_new_raw(<const char*>(c.b + c.pos), n)
    if o == NULL:
        raise MemoryError()
    c.pos += n
    r = <object>o
    Py_DECREF(r)
    return r


cdef object _utf8_or_codec_error(const unsigned char* s, Py_ssize_t n):
    """Decode again in Python terms so a bad string raises the twin's CodecError."""
    try:
        return (<bytes>s[:n]).decode("utf-8")
    except UnicodeDecodeError as e:
        raise CodecError(f"string is not UTF-8: {e}") from None


cdef inline PyObject* _decode_str(const unsigned char* s, Py_ssize_t n) except NULL:
    """A new reference to the str of s[:n]; CodecError if it is not UTF-8."""
    cdef PyObject* o = zkf_str(s, n)
    if o == NULL:
        if PyErr_ExceptionMatches(UnicodeDecodeError):
            PyErr_Clear()
            _utf8_or_codec_error(s, n)
        return NULL
    return o


cdef object _r_string(_Cursor* c):
    cdef int32_t n = _r_len(c)
    if n == -1:
        return None
    _need(c, n)
    cdef PyObject* o = _decode_str(c.b + c.pos, n)
    c.pos += n
    r = <object>o
    Py_DECREF(r)
    return r


cdef int _vector_too_long(int32_t n, Py_ssize_t have, str what) except -1:
    raise CodecError(f"vector of {n} {what} does not fit in {have} bytes")


cdef list _r_strings(_Cursor* c):
    """A vector<ustring> (children, ephemerals); the hot loop of a big getChildren."""
    cdef int32_t n = _r_len(c)
    cdef Py_ssize_t i, pos, end
    cdef int32_t m
    cdef const unsigned char* b
    cdef PyObject* item
    if n == -1:
        return []
    # Each item needs at least its 4-byte length: refuse counts the bytes can't
    # hold before allocating the list for them.
    if n > (c.end - c.pos) // 4:
        _vector_too_long(n, c.end - c.pos, "items")
    cdef list out = PyList_New(n)   # NULL slots: safe to free half filled
    b = c.b
    pos = c.pos
    end = c.end
    for i in range(n):
        if end - pos < 4:
            c.pos = pos
            _truncated(c, 4)
        m = _get_i32(b + pos)
        pos += 4
        if m < 0:
            if m != -1:
                _negative_length(m)
            item = Py_None
            Py_INCREF(None)
        else:
            if m > end - pos:
                c.pos = pos
                _truncated(c, m)
            item = _decode_str(b + pos, m)
            pos += m
        _list_set_raw(out, i, item)   # steals the reference
    c.pos = pos
    return out


cdef object _r_stat(_Cursor* c):
    _need(c, STAT_SIZE)
    cdef const unsigned char* p = c.b + c.pos
    c.pos += STAT_SIZE
    return zkf_stat(<PyTypeObject*>_Stat, p)


cdef list _r_acls(_Cursor* c):
    cdef int32_t n = _r_len(c)
    cdef int32_t i, perms
    if n == -1:
        return []
    if n > (c.end - c.pos) // 12:
        _vector_too_long(n, c.end - c.pos, "ACLs")
    cdef list out = []
    for i in range(n):
        perms = _r_int(c)
        scheme = _r_string(c)
        id_ = _r_string(c)
        out.append(_record(_ACL, (perms, _record(_Id, (scheme, id_)))))
    return out


cdef list _r_client_info(_Cursor* c):
    cdef int32_t n = _r_len(c)
    cdef int32_t i
    if n == -1:
        return []
    if n > (c.end - c.pos) // 8:
        _vector_too_long(n, c.end - c.pos, "items")
    cdef list out = []
    for i in range(n):
        scheme = _r_string(c)
        user = _r_string(c)
        out.append(_record(_ClientInfo, (scheme, user)))
    return out


cdef list _r_multi(_Cursor* c):
    cdef list results = []
    cdef int32_t op, err
    cdef int done
    while True:
        op = _r_int(c)
        done = _r_bool(c)
        err = _r_int(c)
        if done:
            return results
        if op == C_OP_CREATE:
            results.append((op, err, _r_string(c)))
        elif op == C_OP_CREATE2:
            path = _r_string(c)
            results.append((op, err, (path, _r_stat(c))))
        elif op == C_OP_SET_DATA:
            results.append((op, err, _r_stat(c)))
        elif op == C_OP_DELETE or op == C_OP_CHECK:
            results.append((op, err, None))
        elif op == C_OP_GET_DATA:
            data = _r_buffer(c)
            results.append((op, err, (data, _r_stat(c))))
        elif op == C_OP_GET_CHILDREN:
            results.append((op, err, _r_strings(c)))
        elif op == C_OP_ERROR:
            # the real error is the ErrorResult body, not the header's err
            results.append((op, _r_int(c), None))
        else:
            raise CodecError(f"unknown op type {op} in multi reply")


cdef int _kind_code(object kind) except -2:
    """The KIND_* number a caller's kind object stands for, K_UNKNOWN if none.

    The twin compares the object with ``==``, so anything equal to a kind
    number (an IntEnum, a bool, 2.0) selects that kind here too.
    """
    cdef int overflow = 0
    cdef long long v
    cdef int i
    if PyLong_CheckExact(kind):
        v = PyLong_AsLongLongAndOverflow(kind, &overflow)
        if overflow == 0 and 0 <= v <= K_RAW:
            return <int>v
        return K_UNKNOWN
    for i in range(K_RAW + 1):
        if kind == i:
            return i
    return K_UNKNOWN


cdef object _decode_body(int kind, object kind_obj, _Cursor* c):
    if kind == K_NONE:
        return None
    if kind == K_STAT:
        return _r_stat(c)
    if kind == K_DATA_STAT:
        data = _r_buffer(c)
        return (data, _r_stat(c))
    if kind == K_STRING:
        return _r_string(c)
    if kind == K_STRING_STAT:
        s = _r_string(c)
        return (s, _r_stat(c))
    if kind == K_CHILDREN:
        return _r_strings(c)
    if kind == K_CHILDREN_STAT:
        children = _r_strings(c)
        return (children, _r_stat(c))
    if kind == K_ACL_STAT:
        acls = _r_acls(c)
        return (acls, _r_stat(c))
    if kind == K_INT:
        return _r_int(c)
    if kind == K_MULTI:
        return _r_multi(c)
    if kind == K_CLIENT_INFO:
        return _r_client_info(c)
    if kind == K_BUFFER:
        return _r_buffer(c)
    if kind == K_WATCHER_EVENT:
        t = _r_int(c)
        s = _r_int(c)
        return _record(_WatcherEvent, (t, s, _r_string(c)))
    if kind == K_RAW:
        return (<const char*>(c.b + c.pos))[:c.end - c.pos]
    raise ValueError(f"unknown reply kind {kind_obj}")


cdef object _connect_response(const unsigned char* b, Py_ssize_t n):
    cdef _Cursor c
    c.b = b
    c.pos = 0
    c.end = n
    cdef int32_t pv = _r_int(&c)
    cdef int32_t timeout = _r_int(&c)
    cdef int64_t sid = _r_long(&c)
    passwd = _r_buffer(&c)
    # readOnly arrived with ZooKeeper 3.4; older servers end the record here.
    ro = bool(_r_bool(&c)) if c.pos < c.end else False
    return _record(_ConnectResponse, (pv, timeout, sid, passwd if passwd is not None else b"", ro))


def decode_body(kind, body):
    """Decode one reply body (the bytes after the 16-byte reply header) as ``kind``."""
    cdef Py_buffer view
    cdef _Cursor c
    PyObject_GetBuffer(body, &view, PyBUF_SIMPLE)
    try:
        c.b = <const unsigned char*>view.buf
        c.pos = 0
        c.end = view.len
        return _decode_body(_kind_code(kind), kind, &c)
    finally:
        PyBuffer_Release(&view)


def decode_connect_response(body):
    """ConnectResponse body (no length prefix); readOnly may be absent (old servers)."""
    cdef Py_buffer view
    PyObject_GetBuffer(body, &view, PyBUF_SIMPLE)
    try:
        return _connect_response(<const unsigned char*>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)


cdef object _check_limit(object v):
    if PyBool_Check(v) or not PyLong_Check(v):
        raise TypeError(f"max_buffer_size must be an int, not {type(v).__name__}")
    if v < 16:
        raise ValueError("max_buffer_size must be at least 16")
    return int(v)


cdef class FrameReader:
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

    (Compiled codec only: calling the reader again from Python code that runs
    while it decodes -- a custom ``kinds`` mapping, a finalizer -- raises
    RuntimeError instead of pulling the buffer from under the decoder.)
    """

    def __cinit__(self):
        self._buf = NULL
        self._len = 0
        self._cap = 0
        self._skip = 0
        self._broken = False
        self._busy = False
        self._limit_obj = DEFAULT_MAX_BUFFER_SIZE
        self._limit = DEFAULT_MAX_BUFFER_SIZE
        self.allowances = {}

    def __init__(self, max_buffer_size=DEFAULT_MAX_BUFFER_SIZE):
        if self._busy:
            raise RuntimeError("FrameReader used again while it is decoding")
        self.max_buffer_size = max_buffer_size
        self._len = 0
        self._skip = 0
        self._broken = False

    def __dealloc__(self):
        PyMem_Free(self._buf)
        self._buf = NULL

    @property
    def max_buffer_size(self):
        """The largest frame body (bytes after the length) this reader accepts."""
        return self._limit_obj

    @max_buffer_size.setter
    def max_buffer_size(self, value):
        value = _check_limit(value)
        self._limit_obj = value
        self._limit = _MAX_FRAME if value > _MAX_FRAME else <int64_t>value

    @property
    def buffered(self):
        """Bytes held for an incomplete frame."""
        return self._len

    def reset(self):
        """Forget everything buffered (a new connection)."""
        if self._busy:
            raise RuntimeError("FrameReader used again while it is decoding")
        self._len = 0
        self._skip = 0
        self._broken = False
        self._release_memory()

    cdef void _release_memory(self):
        if self._len == 0 and self._cap > KEEP_CAPACITY:
            PyMem_Free(self._buf)
            self._buf = NULL
            self._cap = 0

    cdef int _reserve(self, Py_ssize_t extra, Py_ssize_t hint) except -1:
        """Room for ``extra`` more bytes; ``hint`` caps the growth at the frame's size.

        The buffer grows geometrically (to at most twice what it holds) but
        never past the frame being completed, so what it allocates stays
        proportional to the bytes actually received.
        """
        cdef Py_ssize_t need = self._len + extra
        cdef Py_ssize_t cap
        cdef unsigned char* p
        if need <= self._cap:
            return 0
        cap = self._cap * 2 if self._cap else 256
        if hint > 0 and cap > hint:
            cap = hint
        if cap < need:
            cap = need
        p = <unsigned char*>PyMem_Realloc(self._buf, cap)
        if p == NULL:
            raise MemoryError()
        self._buf = p
        self._cap = cap
        return 0

    cdef int _append(self, const unsigned char* p, Py_ssize_t n, Py_ssize_t hint) except -1:
        if n > 0:
            self._reserve(n, hint)
            memcpy(self._buf + self._len, p, n)
            self._len += n
        return 0

    def feed_connect(self, data):
        """Buffer ``data``; return the ConnectResponse once it is complete."""
        cdef Py_buffer view
        if self._busy:
            raise RuntimeError("FrameReader used again while it is decoding")
        if self._broken:
            raise CodecError("frame reader is broken by an earlier corrupt frame; reset() it")
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        self._busy = True
        try:
            return self._feed_connect(<const unsigned char*>view.buf, view.len)
        finally:
            self._busy = False
            PyBuffer_Release(&view)

    cdef object _feed_connect(self, const unsigned char* p, Py_ssize_t n):
        cdef Py_ssize_t k
        cdef int32_t flen
        if self._skip:
            k = n if n < self._skip else <Py_ssize_t>self._skip
            self._skip -= k
            p += k
            n -= k
        try:
            # Once per connection: simplest to buffer everything.
            self._append(p, n, 0)
            if self._len < 4:
                return None
            flen = _get_i32(self._buf)
            if flen < 0 or flen > self._limit:
                raise CodecError(f"bad ConnectResponse frame length {flen}")
            if self._len < 4 + <Py_ssize_t>flen:
                return None
            resp = _connect_response(self._buf + 4, flen)
        except BaseException:
            self._broken = True
            self._len = 0
            self._release_memory()
            raise
        # What follows the ConnectResponse belongs to feed().
        self._len -= 4 + <Py_ssize_t>flen
        memmove(self._buf, self._buf + 4 + <Py_ssize_t>flen, self._len)
        return resp

    def feed(self, data, kinds):
        """Buffer ``data`` and decode every complete reply frame."""
        cdef Py_buffer view
        cdef bint have_view = False
        cdef const unsigned char* p
        cdef Py_ssize_t n
        if self._busy:
            raise RuntimeError("FrameReader used again while it is decoding")
        if self._broken:
            raise CodecError("frame reader is broken by an earlier corrupt frame; reset() it")
        if PyBytes_CheckExact(data):
            p = <const unsigned char*>PyBytes_AS_STRING(data)
            n = PyBytes_GET_SIZE(data)
        else:
            # bytearray, memoryview, any contiguous buffer; held (so a bytearray
            # can't be resized under us) until decoding is done.
            PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
            have_view = True
            p = <const unsigned char*>view.buf
            n = view.len
        self._busy = True
        try:
            return self._feed(p, n, kinds)
        finally:
            self._busy = False
            if have_view:
                PyBuffer_Release(&view)

    cdef list _feed(self, const unsigned char* p, Py_ssize_t n, object kinds):
        cdef list out = []
        cdef Py_ssize_t k, target, used
        cdef int32_t flen
        try:
            if self._skip:
                k = n if n < self._skip else <Py_ssize_t>self._skip
                self._skip -= k
                p += k
                n -= k
            while self._len:
                # Bytes are waiting in the buffer (normally one incomplete frame;
                # after feed_connect, whatever followed the ConnectResponse).
                # Move over only the bytes its first frame still lacks, decode
                # there, then go on in the caller's bytes.
                if self._len < 4:
                    target = 4
                else:
                    flen = _get_i32(self._buf)
                    if flen < REPLY_HEADER:
                        target = self._len       # corrupt: the decoder reports it
                    elif flen > self._limit and not (
                            self._len >= 8 and self._allowed(_get_i32(self._buf + 4), flen)):
                        target = 4 + REPLY_HEADER   # just the header, to name the request
                    else:
                        target = 4 + <Py_ssize_t>flen
                if self._len < target:
                    k = target - self._len
                    if k > n:
                        k = n
                    self._append(p, k, target)
                    p += k
                    n -= k
                    if self._len < target:
                        return out               # the input is used up
                    continue                     # the length is known now: look again
                used = self._decode_frames(self._buf, self._len, kinds, out)
                self._len -= used
                if self._len:
                    memmove(self._buf, self._buf + used, self._len)
                if self._skip:
                    k = n if n < self._skip else <Py_ssize_t>self._skip
                    self._skip -= k
                    p += k
                    n -= k
            if n:
                used = self._decode_frames(p, n, kinds, out)
                if used < n:
                    target = 0
                    if n - used >= 4:
                        flen = _get_i32(p + used)
                        if flen <= self._limit or (
                                n - used >= 8 and self._allowed(_get_i32(p + used + 4), flen)):
                            target = 4 + <Py_ssize_t>flen
                        else:
                            target = 20
                    self._append(p + used, n - used, target)
        except BaseException as e:
            self._broken = True
            self._len = 0
            self._release_memory()
            if isinstance(e, CodecError):
                (<object>e).replies = out
            raise
        # The buffer keeps its capacity (bounded by one frame of max_buffer_size)
        # between frames: freeing it after each large reply made the next one
        # map and fault in fresh pages, which cost more than decoding it.
        return out

    cdef Py_ssize_t _decode_frames(self, const unsigned char* b, Py_ssize_t size,
                                   object kinds, list out) except -1:
        """Decode the complete frames at the start of b[:size] into ``out``.

        Returns how many bytes were consumed; what is left is an incomplete
        frame (or the first bytes of an oversized one, kept until its header
        is whole so the right request fails).
        """
        cdef Py_ssize_t pos = 0, have
        cdef int32_t n, xid, err
        cdef int64_t zxid
        cdef int64_t limit = self._limit
        cdef int kind
        cdef _Cursor c
        c.b = b
        while size - pos >= 4:
            n = _get_i32(b + pos)
            if n < REPLY_HEADER:
                raise CodecError(f"bad frame length {n}: a reply is at least 16 bytes")
            if n > limit and not (size - pos >= 8 and self._allowed(_get_i32(b + pos + 4), n)):
                if size - pos < 4 + REPLY_HEADER:
                    break
                xid = _get_i32(b + pos + 4)
                zxid = _get_i64(b + pos + 8)
                out.append((xid, zxid, _CODE_TOO_LARGE,
                            _record(_ResponseTooLarge, (n, self._limit_obj))))
                have = size - pos - 4
                if have >= n:
                    pos += 4 + <Py_ssize_t>n
                    continue
                self._skip = n - have
                pos = size
                break
            if size - pos - 4 < n:
                break
            xid = _get_i32(b + pos + 4)
            zxid = _get_i64(b + pos + 8)
            err = _get_i32(b + pos + 16)
            c.pos = pos + 4 + REPLY_HEADER
            c.end = pos + 4 + <Py_ssize_t>n
            kind_obj = None
            xid_obj = xid     # one int object for both the lookup and the reply
            if xid == -1:
                kind = K_WATCHER_EVENT
            else:
                kind_obj = _kind_for(kinds, xid_obj)
                kind = _kind_code(kind_obj)
            if err != 0 and kind != K_MULTI and kind != K_RAW:
                body = None
            elif kind == K_MULTI and c.pos == c.end:
                body = None
            else:
                body = _decode_body(kind, kind_obj, &c)
            out.append((xid_obj, zxid, err, body))
            pos += 4 + <Py_ssize_t>n
        return pos

    cdef bint _allowed(self, int32_t xid, int32_t n):
        """Is a frame body of ``n`` bytes (over the limit) allowed for ``xid``?"""
        allowances = self.allowances
        if not allowances:
            return False
        allowance = allowances.get(xid)
        return allowance is not None and n <= allowance


cdef inline object _kind_for(object kinds, object key):
    cdef PyObject* v
    if PyDict_CheckExact(kinds):
        v = PyDict_GetItemWithError(kinds, key)
        if v == NULL:
            return _KIND_RAW_OBJ
        return <object>v
    return kinds.get(key, _KIND_RAW_OBJ)
