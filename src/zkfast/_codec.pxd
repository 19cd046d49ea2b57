# The compiled codec's C-level contract (the Python-level API is in _codec.pyi).
#
# Read this first: it is the whole shape of the reader's state. The .pyx holds
# the implementation; the pure twin (_codec_py.py) is the specification.

from libc.stdint cimport int32_t, int64_t
from cpython.object cimport PyObject


# A request being encoded: a bytes object filled in place and trimmed at the end,
# so an encoder allocates its result once and never copies it.
cdef struct _Writer:
    PyObject* obj       # the bytes object being filled (owned; NULL once handed out)
    char* p             # its data
    Py_ssize_t n        # bytes written so far, the length prefix included
    Py_ssize_t cap      # its current size


# A bounds-checked cursor over one record's bytes.
cdef struct _Cursor:
    const unsigned char* b
    Py_ssize_t pos
    Py_ssize_t end


cdef class FrameReader:
    # Bytes of an incomplete frame, kept between feeds (malloc'd, grown on demand).
    cdef unsigned char* _buf
    cdef Py_ssize_t _len
    cdef Py_ssize_t _cap
    # The limit as the caller gave it (returned by the property) and as compared.
    cdef object _limit_obj
    cdef int64_t _limit
    # Bytes of an oversized frame still to drop as they arrive.
    cdef int64_t _skip
    # xid -> the largest frame body accepted for that xid when it is larger
    # than the limit (a batch of several reads may need the sum of theirs).
    cdef public dict allowances
    cdef bint _broken
    # Set while a feed runs: a re-entrant call (say from a finalizer run by the
    # garbage collector during decoding) must not move the buffer under it.
    cdef bint _busy

    cdef int _reserve(self, Py_ssize_t extra, Py_ssize_t hint) except -1
    cdef int _append(self, const unsigned char* p, Py_ssize_t n, Py_ssize_t hint) except -1
    cdef void _release_memory(self)
    cdef Py_ssize_t _decode_frames(self, const unsigned char* b, Py_ssize_t size,
                                   object kinds, list out) except -1
    cdef bint _allowed(self, int32_t xid, int32_t n)
    cdef list _feed(self, const unsigned char* p, Py_ssize_t n, object kinds)
    cdef object _feed_connect(self, const unsigned char* p, Py_ssize_t n)
