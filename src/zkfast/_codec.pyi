"""Types of the jute codec's public API.

Both backends -- the compiled ``zkfast._codec`` and the pure ``zkfast._codec_py``
-- expose exactly these names with these signatures; ``zkfast.codec`` re-exports
whichever is active.
"""

from typing import Any, Dict, Final, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from typing_extensions import TypeAlias

from .errors import CODE_RESPONSE_TOO_LARGE as CODE_RESPONSE_TOO_LARGE
from .errors import CodecError as CodecError
from .records import ACL as ACL
from .records import ClientInfo as ClientInfo
from .records import ConnectResponse as ConnectResponse
from .records import Id as Id
from .records import ResponseTooLarge as ResponseTooLarge
from .records import Stat as Stat
from .records import WatcherEvent as WatcherEvent

# Anything with the buffer protocol the codec accepts as bytes.
_Bytes: TypeAlias = Union[bytes, bytearray, memoryview]
# An ACL entry as the encoders take it: ACL(perms, Id(scheme, id)) or a plain
# (perms, (scheme, id)) pair.
_ACLLike: TypeAlias = Union[ACL, Tuple[int, Tuple[Optional[str], Optional[str]]]]
# One op of a multi: a tuple starting with its OP_* code (see encode_multi).
_MultiOp: TypeAlias = Sequence[Any]
# One decoded reply: (xid, zxid, err, body).
Reply: TypeAlias = Tuple[int, int, int, Any]

DEFAULT_MAX_BUFFER_SIZE: Final[int]

OP_NOTIFICATION: Final[int]
OP_CREATE: Final[int]
OP_DELETE: Final[int]
OP_EXISTS: Final[int]
OP_GET_DATA: Final[int]
OP_SET_DATA: Final[int]
OP_GET_ACL: Final[int]
OP_SET_ACL: Final[int]
OP_GET_CHILDREN: Final[int]
OP_SYNC: Final[int]
OP_PING: Final[int]
OP_GET_CHILDREN2: Final[int]
OP_CHECK: Final[int]
OP_MULTI: Final[int]
OP_CREATE2: Final[int]
OP_RECONFIG: Final[int]
OP_CHECK_WATCHES: Final[int]
OP_REMOVE_WATCHES: Final[int]
OP_CREATE_CONTAINER: Final[int]
OP_CREATE_TTL: Final[int]
OP_MULTI_READ: Final[int]
OP_AUTH: Final[int]
OP_SET_WATCHES: Final[int]
OP_SASL: Final[int]
OP_GET_EPHEMERALS: Final[int]
OP_GET_ALL_CHILDREN_NUMBER: Final[int]
OP_SET_WATCHES2: Final[int]
OP_ADD_WATCH: Final[int]
OP_WHO_AM_I: Final[int]
OP_CLOSE_SESSION: Final[int]
OP_ERROR: Final[int]

XID_NOTIFICATION: Final[int]
XID_PING: Final[int]
XID_AUTH: Final[int]
XID_SET_WATCHES: Final[int]

KIND_NONE: Final[int]
KIND_STAT: Final[int]
KIND_DATA_STAT: Final[int]
KIND_STRING: Final[int]
KIND_STRING_STAT: Final[int]
KIND_CHILDREN: Final[int]
KIND_CHILDREN_STAT: Final[int]
KIND_ACL_STAT: Final[int]
KIND_INT: Final[int]
KIND_MULTI: Final[int]
KIND_CLIENT_INFO: Final[int]
KIND_BUFFER: Final[int]
KIND_WATCHER_EVENT: Final[int]
KIND_RAW: Final[int]

# --- encoders: each returns one complete frame (length prefix included) -------
# Ints are checked: TypeError for a non-int (or a bool), OverflowError when it
# does not fit the jute field; str fields take str or None (null), buffer
# fields bytes/bytearray/memoryview or None.

def encode_connect(last_zxid: int, timeout_ms: int, session_id: int,
                   passwd: Optional[_Bytes], read_only: bool) -> bytes: ...
def encode_ping() -> bytes: ...
def encode_close(xid: int) -> bytes: ...
def encode_who_am_i(xid: int) -> bytes: ...
def encode_create(xid: int, path: str, data: Optional[_Bytes],
                  acls: Optional[Sequence[_ACLLike]], flags: int) -> bytes: ...
def encode_create2(xid: int, path: str, data: Optional[_Bytes],
                   acls: Optional[Sequence[_ACLLike]], flags: int) -> bytes: ...
def encode_create_container(xid: int, path: str, data: Optional[_Bytes],
                            acls: Optional[Sequence[_ACLLike]]) -> bytes: ...
def encode_create_ttl(xid: int, path: str, data: Optional[_Bytes],
                      acls: Optional[Sequence[_ACLLike]], flags: int, ttl: int) -> bytes: ...
def encode_delete(xid: int, path: str, version: int) -> bytes: ...
def encode_exists(xid: int, path: str, watch: bool) -> bytes: ...
def encode_get_data(xid: int, path: str, watch: bool) -> bytes: ...
def encode_set_data(xid: int, path: str, data: Optional[_Bytes], version: int) -> bytes: ...
def encode_get_acl(xid: int, path: str) -> bytes: ...
def encode_set_acl(xid: int, path: str, acls: Optional[Sequence[_ACLLike]], version: int) -> bytes: ...
def encode_get_children(xid: int, path: str, watch: bool) -> bytes: ...
def encode_get_children2(xid: int, path: str, watch: bool) -> bytes: ...
def encode_sync(xid: int, path: str) -> bytes: ...
def encode_check(xid: int, path: str, version: int) -> bytes: ...
def encode_get_ephemerals(xid: int, prefix: str) -> bytes: ...
def encode_get_all_children_number(xid: int, path: str) -> bytes: ...
def encode_add_watch(xid: int, path: str, mode: int) -> bytes: ...
def encode_remove_watches(xid: int, path: str, watcher_type: int) -> bytes: ...
def encode_check_watches(xid: int, path: str, watcher_type: int) -> bytes: ...
def encode_reconfig(xid: int, joining: Optional[str], leaving: Optional[str],
                    new_members: Optional[str], from_config: int) -> bytes: ...
def encode_sasl(xid: int, token: Optional[_Bytes]) -> bytes: ...
def encode_auth(scheme: str, auth: Optional[_Bytes]) -> bytes: ...
def encode_set_watches(relative_zxid: int, data: Iterable[str], exist: Iterable[str],
                       child: Iterable[str]) -> bytes: ...
def encode_set_watches2(relative_zxid: int, data: Iterable[str], exist: Iterable[str],
                        child: Iterable[str], persistent: Iterable[str],
                        persistent_recursive: Iterable[str]) -> bytes: ...
def encode_multi(xid: int, ops: Iterable[_MultiOp]) -> bytes: ...
def encode_multi_read(xid: int, ops: Iterable[_MultiOp]) -> bytes: ...

# --- decoders -------------------------------------------------------------------

def decode_body(kind: int, body: _Bytes) -> Any: ...
def decode_connect_response(body: _Bytes) -> ConnectResponse: ...

class FrameReader:
    allowances: Optional[Dict[int, int]]
    def __init__(self, max_buffer_size: int = ...) -> None: ...
    @property
    def max_buffer_size(self) -> int: ...
    @max_buffer_size.setter
    def max_buffer_size(self, value: int) -> None: ...
    @property
    def buffered(self) -> int: ...
    def reset(self) -> None: ...
    def feed_connect(self, data: _Bytes) -> Optional[ConnectResponse]: ...
    def feed(self, data: _Bytes, kinds: Mapping[int, int]) -> List[Reply]: ...
