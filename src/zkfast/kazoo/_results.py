"""kazoo's async-result interface over a :class:`zkfast.Future`.

The ``*_async`` methods return a :class:`RequestResult`: the request's zkfast
future, plus how its value becomes kazoo's (a ``Stat`` -> ``ZnodeStat``, ...).
The conversion and the error translation run in :meth:`~RequestResult.get`,
on the caller's thread, so a pipelined burst pays for nothing else.
``rawlink`` callbacks run on the handler's completion worker, as in kazoo.

A result made by ``handler.async_result()`` (:class:`zkfast.kazoo.handlers.utils.AsyncResult`)
is the settable kind; this one completes with its request.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, List, Optional

from ..errors import ZooKeeperError
from ._errors import kazoo_error
from .handlers.threading import KazooTimeoutError

__all__ = ["RequestResult", "failed_result"]

Convert = Callable[[Any], Any]


class RequestResult:
    """The result of one request (kazoo's ``IAsyncResult``): ``get(block=True,
    timeout=None)``, ``get_nowait()``, ``wait(timeout)``, ``ready()``,
    ``successful()``, ``value``, ``exception``, ``rawlink(cb)``, ``unlink(cb)``.

    ``rescue(error)``, if given, may turn a zkfast error into a value (a failed
    transaction's per-op results) or raise.
    """

    __slots__ = ("_fut", "_conv", "_handler", "_rescue", "_links", "_exc")

    def __init__(self, fut: Any, conv: Optional[Convert], handler: Any,
                 rescue: Optional[Callable[[BaseException], Any]] = None) -> None:
        self._fut = fut
        self._conv = conv
        self._handler = handler
        self._rescue = rescue
        self._links: Optional[List[Callable[[Any], Any]]] = None
        self._exc: Optional[BaseException] = None

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        fut = self._fut
        if not block and not fut.done():
            raise KazooTimeoutError("no result yet")
        try:
            value = fut.result(timeout)
        except ZooKeeperError as e:
            rescue = self._rescue
            if rescue is not None:
                return rescue(e)
            raise kazoo_error(e) from e
        conv = self._conv
        return value if conv is None else conv(value)

    def get_nowait(self) -> Any:
        return self.get(block=False)

    def wait(self, timeout: Optional[float] = None) -> bool:
        fut = self._fut
        if not fut.done():
            try:
                fut.result(timeout)
            except ZooKeeperError:
                pass
        return bool(fut.done())

    def ready(self) -> bool:
        return bool(self._fut.done())

    def successful(self) -> bool:
        return self.ready() and self.exception is None

    @property
    def value(self) -> Any:
        """The value once successful, else None."""
        if not self.ready():
            return None
        try:
            return self.get(block=False)
        except Exception:  # noqa: BLE001 - value is None for a failed call
            return None

    @property
    def exception(self) -> Optional[BaseException]:
        """The (kazoo) exception once failed, else None (the same object each time)."""
        if self._exc is not None or not self.ready():
            return self._exc
        try:
            self.get(block=False)
        except Exception as e:  # noqa: BLE001 - handed back, not raised
            self._exc = e
        return self._exc

    def set(self, value: Any = None) -> None:
        raise TypeError("this result completes with its request; use handler.async_result() "
                        "for a result you set yourself")

    def set_exception(self, exception: BaseException) -> None:
        self.set(exception)

    def rawlink(self, callback: Callable[[Any], Any]) -> None:
        """Call ``callback(self)`` once the request completed (on the handler's
        completion worker while the handler runs)."""
        links = self._links
        if links is None:
            links = self._links = []
        if callback in links:
            return
        links.append(callback)
        self._fut.add_done_callback(functools.partial(self._fire, callback))

    def unlink(self, callback: Callable[[Any], Any]) -> None:
        links = self._links
        if links is not None and not self.ready():
            try:
                links.remove(callback)
            except ValueError:
                pass

    def _fire(self, callback: Callable[[Any], Any], _fut: Any) -> None:
        links = self._links
        try:
            if links is not None:
                links.remove(callback)
        except ValueError:
            return  # unlinked meanwhile
        handler = self._handler
        if handler is not None and handler.running:
            handler.completion_queue.put(functools.partial(callback, self))
        else:
            callback(self)

    def __repr__(self) -> str:
        return f"<RequestResult {'ready' if self.ready() else 'pending'}>"


def failed_result(handler: Any, error: BaseException) -> Any:
    """A result that is already set with ``error`` (a call refused before it was sent)."""
    result = handler.async_result()
    result.set_exception(error)
    return result
