"""Requests: the record of one call in flight, and every request builder.

:class:`RequestBuilder` turns a call's arguments into an unsent
:class:`PendingRequest`: it validates them (path rules, bytes, versions,
ACLs), joins the chroot, and says how the reply decodes (``kind``) and how
the decoded body becomes the caller's result (``finish``, e.g. stripping the
chroot from a created path). Nothing here knows about sessions or sockets;
:class:`~zkfast.protocol.SessionEngine` is a RequestBuilder that also keeps
the session.

To add a request type: an ``encode_*`` function and a reply ``KIND_*`` in both
codec backends, then an ``op_*`` builder here.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import codec
from .arguments import (
    Watcher,
    check_acl,
    check_bytes,
    check_version,
    check_watcher,
    create_mode,
    ttl_ms,
)
from .errors import (
    InvalidArgumentError,
    RolledBackError,
    RuntimeInconsistencyError,
    TransactionFailedError,
    ZooKeeperError,
    error_for_code,
)
from .events import WatcherType
from .paths import join_chroot, normalize_chroot, strip_chroot, validate_path
from .records import Stat
from .watches import WATCH_CHILD, WATCH_DATA, WATCH_EXIST, WATCH_PERSISTENT, WATCH_RECURSIVE

__all__ = ["PendingRequest", "RequestBuilder", "CONFIG_NODE"]

_PATH_CACHE_SIZE = 4096  # validated paths remembered (cleared whole when full)

#: Where the servers publish their dynamic configuration; outside every chroot.
CONFIG_NODE = "/zookeeper/config"


class PendingRequest:
    """One request from the moment a call builds it until its reply is handled.

    Clients attach their own waiting mechanism in ``waiter`` (a lock for the
    sync client, an asyncio future for the async one).
    """

    __slots__ = ("op", "kind", "path", "encode", "args", "finish", "xid",
                 "watch_kind", "watcher", "waiter", "callbacks", "result_value",
                 "exception_value", "done_flag", "cookie", "members", "sent_at", "frame_bytes")

    def __init__(self, op: int, kind: int, path: Optional[str], encode: Callable[..., bytes],
                 args: Tuple[Any, ...], finish: Optional[Callable[[Any], Any]] = None,
                 watch_kind: int = 0, watcher: Optional[Watcher] = None) -> None:
        self.op = op
        self.kind = kind
        self.path = path
        self.encode = encode
        self.args = args
        self.finish = finish
        self.xid = 0
        self.watch_kind = watch_kind
        self.watcher = watcher
        self.waiter: Any = None
        self.callbacks: Optional[List[Callable[..., Any]]] = None
        self.result_value: Any = None
        self.exception_value: Optional[BaseException] = None
        self.done_flag = False
        self.cookie: Any = None
        #: For a batch of coalesced reads (one multiRead frame): the reads it carries.
        self.members: Optional[List[PendingRequest]] = None
        # when it was framed and how big (set only while someone observes requests)
        self.sent_at = 0.0
        self.frame_bytes = 0

    def __repr__(self) -> str:
        return f"<PendingRequest op={self.op} xid={self.xid} path={self.path!r}>"


def _result_to_exception(err: int, path: Optional[str]) -> ZooKeeperError:
    if err == 0:
        return RolledBackError(path=path)
    if err == -2:
        return RuntimeInconsistencyError(path=path)
    return error_for_code(err, path)


def _none(_: Any) -> None:
    return None


class RequestBuilder:
    """Builds validated, unsent requests for one client view (its chroot)."""

    def __init__(self, chroot: Optional[str] = None) -> None:
        self.chroot = normalize_chroot(chroot)
        self._path_cache: Dict[str, str] = {}

    # ------------------------------------------------------------ result shaping

    def _strip(self, server_path: Any) -> Any:
        return strip_chroot(self.chroot, server_path)

    def _strip_with_stat(self, body: Tuple[str, Stat]) -> Tuple[Any, Stat]:
        return (strip_chroot(self.chroot, body[0]), body[1])

    def _strip_list(self, paths: List[str]) -> List[Any]:
        if not self.chroot:
            return paths
        return [strip_chroot(self.chroot, p) for p in paths]

    def _multi_results(self, req: PendingRequest, body: List[Tuple[int, int, Any]]) -> List[Any]:
        ops = req.cookie or []
        results: List[Any] = []
        for i, (op, err, value) in enumerate(body):
            path = ops[i][1] if i < len(ops) else None
            if op == codec.OP_ERROR:
                results.append(_result_to_exception(err, path))
            elif op == codec.OP_CREATE:
                results.append(self._strip(value))
            elif op == codec.OP_CREATE2:
                results.append(self._strip_with_stat(value))
            elif op == codec.OP_SET_DATA:
                results.append(value)
            elif op == codec.OP_GET_DATA or op == codec.OP_GET_CHILDREN:
                results.append(value)
            else:  # delete, check
                results.append(True)
        return results

    def _finish_multi(self, req: PendingRequest) -> Callable[[Any], Any]:
        def finish(body: Any) -> Any:
            results = self._multi_results(req, body)
            # A failed multi has err 0 in its header; the failure is in the ops.
            if req.op == codec.OP_MULTI and any(isinstance(r, ZooKeeperError) for r in results):
                raise TransactionFailedError(results)
            return results
        return finish

    # ------------------------------------------------------------ op builders

    def server_path(self, path: Any, sequential: bool = False) -> str:
        """The server path for a client path, validated (the check is cached:
        hot paths are asked for over and over)."""
        cache = self._path_cache
        if not sequential and type(path) is str:
            spath = cache.get(path)
            if spath is not None:
                return spath
        validate_path(path, sequential)
        spath = join_chroot(self.chroot, path)
        if not sequential:
            if len(cache) >= _PATH_CACHE_SIZE:
                cache.clear()
            cache[path] = spath
        return spath

    def op_create(self, path: str, value: Any = b"", acl: Any = None, *, ephemeral: bool = False,
                  sequence: bool = False, container: bool = False, ttl: Optional[float] = None,
                  include_data: bool = False) -> PendingRequest:
        spath = self.server_path(path, sequence)
        check_bytes(value)
        acls = check_acl(acl)
        flags = self.create_flags(ephemeral=ephemeral, sequence=sequence, container=container,
                                  ttl=ttl)
        if ttl is not None:
            ms = ttl_ms(ttl)
            return PendingRequest(codec.OP_CREATE_TTL, codec.KIND_STRING_STAT, path,
                                  codec.encode_create_ttl, (spath, value, acls, flags, ms),
                                  self._strip_with_stat if include_data else self._strip_first)
        if container:
            return PendingRequest(codec.OP_CREATE_CONTAINER, codec.KIND_STRING_STAT, path,
                                  codec.encode_create_container, (spath, value, acls),
                                  self._strip_with_stat if include_data else self._strip_first)
        if include_data:
            return PendingRequest(codec.OP_CREATE2, codec.KIND_STRING_STAT, path,
                                  codec.encode_create2, (spath, value, acls, flags),
                                  self._strip_with_stat)
        return PendingRequest(codec.OP_CREATE, codec.KIND_STRING, path, codec.encode_create,
                              (spath, value, acls, flags), self._strip if self.chroot else None)

    def _strip_first(self, body: Tuple[str, Stat]) -> Any:
        return strip_chroot(self.chroot, body[0])

    @staticmethod
    def create_flags(*, ephemeral: bool = False, sequence: bool = False, container: bool = False,
                     ttl: Optional[float] = None) -> int:
        """The CreateMode code for these flags (see :func:`zkfast.arguments.create_mode`)."""
        return create_mode(ephemeral=ephemeral, sequence=sequence, container=container, ttl=ttl)

    def op_delete(self, path: str, version: int = -1) -> PendingRequest:
        spath = self.server_path(path)
        return PendingRequest(codec.OP_DELETE, codec.KIND_NONE, path, codec.encode_delete,
                              (spath, check_version(version)))

    def op_exists(self, path: str, watch: Any = None) -> PendingRequest:
        spath = self.server_path(path)
        w = check_watcher(watch)
        return PendingRequest(codec.OP_EXISTS, codec.KIND_STAT, path, codec.encode_exists,
                              (spath, w is not None), None, WATCH_EXIST if w else 0, w)

    def op_get(self, path: str, watch: Any = None) -> PendingRequest:
        spath = self.server_path(path)
        if watch is None:
            return PendingRequest(codec.OP_GET_DATA, codec.KIND_DATA_STAT, path,
                                  codec.encode_get_data, (spath, False))
        w = check_watcher(watch)
        return PendingRequest(codec.OP_GET_DATA, codec.KIND_DATA_STAT, path,
                              codec.encode_get_data, (spath, True), None, WATCH_DATA, w)

    def op_set(self, path: str, value: Any, version: int = -1) -> PendingRequest:
        spath = self.server_path(path)
        check_bytes(value)
        return PendingRequest(codec.OP_SET_DATA, codec.KIND_STAT, path, codec.encode_set_data,
                              (spath, value, check_version(version)))

    def op_get_children(self, path: str, watch: Any = None, include_data: bool = False) -> PendingRequest:
        spath = self.server_path(path)
        w = check_watcher(watch)
        if include_data:
            return PendingRequest(codec.OP_GET_CHILDREN2, codec.KIND_CHILDREN_STAT, path,
                                  codec.encode_get_children2, (spath, w is not None), None,
                                  WATCH_CHILD if w else 0, w)
        return PendingRequest(codec.OP_GET_CHILDREN, codec.KIND_CHILDREN, path,
                              codec.encode_get_children, (spath, w is not None), None,
                              WATCH_CHILD if w else 0, w)

    def op_get_config(self, watch: Any = None) -> PendingRequest:
        """getData of ``/zookeeper/config`` whatever the chroot (the ensemble's
        dynamic configuration, ZooKeeper 3.5+)."""
        w = check_watcher(watch)
        return PendingRequest(codec.OP_GET_DATA, codec.KIND_DATA_STAT, CONFIG_NODE,
                              codec.encode_get_data, (CONFIG_NODE, w is not None), None,
                              WATCH_DATA if w else 0, w)

    def op_sync(self, path: str) -> PendingRequest:
        spath = self.server_path(path)
        return PendingRequest(codec.OP_SYNC, codec.KIND_STRING, path, codec.encode_sync,
                              (spath,), self._strip)

    def op_get_acls(self, path: str) -> PendingRequest:
        spath = self.server_path(path)
        return PendingRequest(codec.OP_GET_ACL, codec.KIND_ACL_STAT, path, codec.encode_get_acl,
                              (spath,))

    def op_set_acls(self, path: str, acls: Any, version: int = -1) -> PendingRequest:
        spath = self.server_path(path)
        if acls is None:
            raise InvalidArgumentError("acls must be given")
        return PendingRequest(codec.OP_SET_ACL, codec.KIND_STAT, path, codec.encode_set_acl,
                              (spath, check_acl(acls), check_version(version)))

    def op_get_ephemerals(self, prefix: str = "/") -> PendingRequest:
        spath = self.server_path(prefix)
        return PendingRequest(codec.OP_GET_EPHEMERALS, codec.KIND_CHILDREN, prefix,
                              codec.encode_get_ephemerals, (spath,), self._strip_list)

    def op_count_children(self, path: str) -> PendingRequest:
        spath = self.server_path(path)
        return PendingRequest(codec.OP_GET_ALL_CHILDREN_NUMBER, codec.KIND_INT, path,
                              codec.encode_get_all_children_number, (spath,))

    def op_whoami(self) -> PendingRequest:
        return PendingRequest(codec.OP_WHO_AM_I, codec.KIND_CLIENT_INFO, None,
                              codec.encode_who_am_i, ())

    def op_add_watch(self, path: str, watch: Any, recursive: bool = False) -> PendingRequest:
        spath = self.server_path(path)
        w = check_watcher(watch)
        if w is None:
            raise InvalidArgumentError("add_watch needs a callback")
        mode = 1 if recursive else 0
        return PendingRequest(codec.OP_ADD_WATCH, codec.KIND_INT, path, codec.encode_add_watch,
                              (spath, mode), _none, WATCH_RECURSIVE if recursive else WATCH_PERSISTENT, w)

    def op_remove_watches(self, path: str, watcher_type: int) -> PendingRequest:
        spath = self.server_path(path)
        wt = int(WatcherType(watcher_type))
        return PendingRequest(codec.OP_REMOVE_WATCHES, codec.KIND_NONE, path,
                              codec.encode_remove_watches, (spath, wt))

    def op_check_watches(self, path: str, watcher_type: int) -> PendingRequest:
        spath = self.server_path(path)
        wt = int(WatcherType(watcher_type))
        return PendingRequest(codec.OP_CHECK_WATCHES, codec.KIND_NONE, path,
                              codec.encode_check_watches, (spath, wt))

    def op_reconfig(self, joining: Optional[str], leaving: Optional[str],
                    new_members: Optional[str], from_config: int = -1) -> PendingRequest:
        return PendingRequest(codec.OP_RECONFIG, codec.KIND_DATA_STAT, None, codec.encode_reconfig,
                              (joining, leaving, new_members, int(from_config)))

    def op_sasl(self, token: Optional[bytes]) -> PendingRequest:
        return PendingRequest(codec.OP_SASL, codec.KIND_BUFFER, None, codec.encode_sasl, (token,))

    def op_auth(self, scheme: str, credential: Any) -> PendingRequest:
        if not isinstance(scheme, str) or not scheme:
            raise InvalidArgumentError("auth scheme must be a non-empty str")
        cred = credential.encode("utf-8") if isinstance(credential, str) else credential
        check_bytes(cred, "credential")
        req = PendingRequest(codec.OP_AUTH, codec.KIND_NONE, None, codec.encode_auth,
                             (scheme, bytes(cred)))
        req.cookie = (scheme, bytes(cred))
        return req

    def op_close(self) -> PendingRequest:
        return PendingRequest(codec.OP_CLOSE_SESSION, codec.KIND_NONE, None, codec.encode_close, ())

    def op_multi(self, ops: Sequence[Any]) -> PendingRequest:
        """``ops`` are :mod:`zkfast.transaction` op records (Create, Delete, SetData, Check)."""
        wire = _to_wire(self, ops, "multi")
        req = PendingRequest(codec.OP_MULTI, codec.KIND_MULTI, None, codec.encode_multi,
                             (wire,))
        req.cookie = [(o[0], getattr(op, "path", None)) for o, op in zip(wire, ops)]
        req.finish = self._finish_multi(req)
        return req

    def op_multi_read(self, ops: Sequence[Any]) -> PendingRequest:
        wire = _to_wire(self, ops, "multi_read")
        req = PendingRequest(codec.OP_MULTI_READ, codec.KIND_MULTI, None, codec.encode_multi_read,
                             (wire,))
        req.cookie = [(o[0], getattr(op, "path", None)) for o, op in zip(wire, ops)]
        req.finish = self._finish_multi(req)
        return req


def _to_wire(builder: RequestBuilder, ops: Sequence[Any], call: str) -> List[Tuple[Any, ...]]:
    wire = []
    for op in ops:
        to_wire = getattr(op, "to_wire", None)
        if to_wire is None:
            raise InvalidArgumentError(
                f"{call}() takes zkfast.transaction op records (Create, Delete, SetData, Check, "
                f"GetData, GetChildren), not {type(op).__name__} {op!r}")
        wire.append(to_wire(builder))
    return wire
