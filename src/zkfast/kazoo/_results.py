"""kazoo's async-result interface on a :class:`zkfast.Future`.

A ``*_async`` method returns the request's own zkfast future, re-classed in
place to one of the result kinds below (a subclass of :class:`zkfast.Future`
that adds no fields). A pipelined burst of gets therefore makes no object
per request beyond what zkfast makes: a wrapper per request measured about
a fifth more CPU per pipelined get, most of it in the cyclic GC walking the
extra objects in flight.

Each kind says how the reply becomes kazoo's value (a ``Stat`` becomes a
``ZnodeStat``, ...); the conversion and the error translation run in
:meth:`~RequestResult.get`, on the caller's thread. ``rawlink`` callbacks run
on the handler's completion worker, as in kazoo: each client uses the kinds
bound to its handler (:class:`ResultKinds`).

A result made by ``handler.async_result()`` (:class:`zkfast.kazoo.handlers.utils.AsyncResult`)
is the settable kind; these complete with their request.
"""

from __future__ import annotations

import functools
import threading
import weakref
from typing import Any, Callable, Dict, List, Optional, Type, TypeVar

from .. import Future
from ..errors import ZooKeeperError
from ._errors import kazoo_error
from .handlers.threading import KazooTimeoutError
from .protocol.states import ZnodeStat
from .security import ACL, Id

__all__ = ["AclsResult", "ChildrenResult", "DataResult", "PathResult", "RequestResult",
           "ResultKinds", "StatResult", "TrueResult", "adopt", "failed_result"]

_znode = tuple.__new__  # a zkfast Stat as kazoo's ZnodeStat, field for field
_result = Future.result

Callback = Callable[[Any], Any]

# rawlink callbacks not yet run, by id(result). An entry lives from the first
# rawlink until the request completes, and the completion callback holds the
# result alive meanwhile, so an id cannot be reused while its entry exists.
_links: Dict[int, List[Callback]] = {}
_links_lock = threading.Lock()

# The kazoo exception for each zkfast error a result failed with: ``exception``
# hands back, and ``get()`` raises, the same object each time, as in kazoo.
_translated: weakref.WeakKeyDictionary[BaseException, BaseException] = weakref.WeakKeyDictionary()


def _kazoo_error(error: BaseException) -> BaseException:
    found = _translated.get(error)
    if found is None:
        found = _translated.setdefault(error, kazoo_error(error))
    return found


class RequestResult(Future):
    """The result of one request (kazoo's ``IAsyncResult``): ``get(block=True,
    timeout=None)``, ``get_nowait()``, ``wait(timeout)``, ``ready()``,
    ``successful()``, ``value``, ``exception``, ``rawlink(cb)``, ``unlink(cb)``.
    This kind hands back the reply as zkfast gives it.
    """

    __slots__ = ()
    _handler: Any = None  # set on the kinds bound to a client's handler

    def _convert(self, value: Any) -> Any:
        return value

    def _failed(self, error: ZooKeeperError) -> Any:
        raise _kazoo_error(error) from error

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:  # type: ignore[override]
        if not block and not self.done():
            raise KazooTimeoutError("no result yet")
        try:
            value = _result(self, timeout)
        except ZooKeeperError as e:
            return self._failed(e)
        return self._convert(value)

    def get_nowait(self) -> Any:
        return self.get(block=False)

    def wait(self, timeout: Optional[float] = None) -> bool:
        if not self.done():
            try:
                _result(self, timeout)
            except ZooKeeperError:
                pass
        return self.done()

    def ready(self) -> bool:
        return self.done()

    def successful(self) -> bool:
        return self.done() and self.exception is None

    @property
    def value(self) -> Any:
        """The value once successful, else None."""
        if not self.done():
            return None
        try:
            return self.get(block=False)
        except Exception:  # noqa: BLE001 - value is None for a failed call
            return None

    @property
    def exception(self) -> Optional[BaseException]:  # type: ignore[override]
        """The (kazoo) exception once failed, else None (the same object each time)."""
        if not self.done():
            return None
        try:
            self.get(block=False)
        except Exception as e:  # noqa: BLE001 - handed back, not raised
            return e
        return None

    def set(self, value: Any = None) -> None:
        raise TypeError("this result completes with its request; use handler.async_result() "
                        "for a result you set yourself")

    def set_exception(self, exception: BaseException) -> None:
        self.set(exception)

    def rawlink(self, callback: Callback) -> None:
        """Call ``callback(self)`` once the request completed (on the handler's
        completion worker while the handler runs)."""
        key = id(self)
        with _links_lock:
            links = _links.get(key)
            first = links is None
            if links is None:
                links = _links[key] = []
            elif callback in links:
                return
            links.append(callback)
        if first:
            Future.add_done_callback(self, functools.partial(_fire, self))

    def unlink(self, callback: Callback) -> None:
        with _links_lock:
            links = _links.get(id(self))
            if links is not None:
                try:
                    links.remove(callback)
                except ValueError:
                    pass

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {'ready' if self.done() else 'pending'}>"


def _fire(result: RequestResult, _fut: Any) -> None:
    with _links_lock:
        links = _links.pop(id(result), None)
    if not links:
        return
    handler = result._handler
    for callback in links:
        if handler is not None and handler.running:
            handler.completion_queue.put(functools.partial(callback, result))
        else:
            callback(result)


class DataResult(RequestResult):
    """``get_async``'s: ``(value, ZnodeStat)`` (the conversion inlined: the
    hottest pipelined call saves a function call per get)."""

    __slots__ = ()

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:  # type: ignore[override]
        if not block and not self.done():
            raise KazooTimeoutError("no result yet")
        try:
            data, stat = _result(self, timeout)
        except ZooKeeperError as e:
            raise _kazoo_error(e) from e
        return data, _znode(ZnodeStat, stat)


class StatResult(RequestResult):
    """``exists_async``'s and ``set_async``'s: a ``ZnodeStat`` (or None)."""

    __slots__ = ()

    def _convert(self, value: Any) -> Any:
        return None if value is None else _znode(ZnodeStat, value)


class ChildrenResult(RequestResult):
    """``get_children_async``'s: names, or ``(names, ZnodeStat)`` with ``include_data``."""

    __slots__ = ()

    def _convert(self, value: Any) -> Any:
        if type(value) is tuple:
            return value[0], _znode(ZnodeStat, value[1])
        return value


class PathResult(ChildrenResult):
    """``create_async``'s: the path, or ``(path, ZnodeStat)`` with ``include_data``."""

    __slots__ = ()


class AclsResult(RequestResult):
    """``get_acls_async``'s: ``([ACL, ...], ZnodeStat)`` in kazoo's ACL type."""

    __slots__ = ()

    def _convert(self, value: Any) -> Any:
        acls, stat = value
        return [ACL(a.perms, Id(a.id.scheme, a.id.id)) for a in acls], _znode(ZnodeStat, stat)


class TrueResult(RequestResult):
    """``delete_async``'s: True."""

    __slots__ = ()

    def _convert(self, value: Any) -> Any:
        return True


K = TypeVar("K", bound=RequestResult)


class ResultKinds:
    """One client's result kinds, bound to its handler (for ``rawlink``)."""

    def __init__(self, handler: Any) -> None:
        self._handler = handler
        self._bound: Dict[type, type] = {}
        self.plain = self.bind(RequestResult)
        self.data = self.bind(DataResult)
        self.stat = self.bind(StatResult)
        self.children = self.bind(ChildrenResult)
        self.path = self.bind(PathResult)
        self.acls = self.bind(AclsResult)
        self.true = self.bind(TrueResult)

    def bind(self, kind: Type[K]) -> Type[K]:
        """``kind`` bound to this client's handler (made once per kind)."""
        bound = self._bound.get(kind)
        if bound is None:
            bound = self._bound[kind] = type(kind.__name__, (kind,), {
                "__slots__": (), "_handler": self._handler,
                "__module__": kind.__module__, "__qualname__": kind.__qualname__})
        return bound


def adopt(fut: Any, kind: Type[K]) -> K:
    """The zkfast future ``fut`` as a result of ``kind`` (the same object)."""
    fut.__class__ = kind
    return fut  # type: ignore[no-any-return]


def failed_result(handler: Any, error: BaseException) -> Any:
    """A result that is already set with ``error`` (a call refused before it was sent)."""
    result = handler.async_result()
    result.set_exception(error)
    return result
