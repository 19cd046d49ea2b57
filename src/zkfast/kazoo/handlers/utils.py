"""Helpers for async results: the settable :class:`AsyncResult` and the
decorators :func:`capture_exceptions` / :func:`wrap` that feed one from a
callback."""

from __future__ import annotations

import functools
from typing import Any, Callable, List, Optional, Type

__all__ = ["AsyncResult", "capture_exceptions", "wrap"]

_UNSET: Any = object()


class AsyncResult:
    """A value or an exception that is set once, by whoever computes it.

    Waiters block in :meth:`get` / :meth:`wait`; callbacks given to
    :meth:`rawlink` run once it is set -- on the handler's completion worker
    while the handler runs, else at once in the setting thread.
    """

    def __init__(self, handler: Any, condition_factory: Callable[[], Any],
                 timeout_factory: Type[BaseException]) -> None:
        self._handler = handler
        self._exception: Any = _UNSET
        self._condition = condition_factory()
        self._callbacks: List[Callable[[Any], Any]] = []
        self._timeout_factory = timeout_factory
        #: the value, once set (None until then)
        self.value: Any = None

    def ready(self) -> bool:
        return self._exception is not _UNSET

    def successful(self) -> bool:
        return self._exception is None

    @property
    def exception(self) -> Optional[BaseException]:
        exc = self._exception
        return None if exc is _UNSET else exc

    def set(self, value: Any = None) -> None:
        with self._condition:
            self.value = value
            self._exception = None
            self._run_callbacks()
            self._condition.notify_all()

    def set_exception(self, exception: BaseException) -> None:
        with self._condition:
            self._exception = exception
            self._run_callbacks()
            self._condition.notify_all()

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        with self._condition:
            if self._exception is _UNSET and block:
                self._condition.wait(timeout)
            exc = self._exception
            if exc is None:
                return self.value
            if exc is not _UNSET:
                raise exc
        raise self._timeout_factory()

    def get_nowait(self) -> Any:
        return self.get(block=False)

    def wait(self, timeout: Optional[float] = None) -> bool:
        with self._condition:
            if self._exception is _UNSET:
                self._condition.wait(timeout)
            return self._exception is not _UNSET

    def rawlink(self, callback: Callable[[Any], Any]) -> None:
        with self._condition:
            if callback not in self._callbacks:
                self._callbacks.append(callback)
            if self._exception is not _UNSET:
                self._run_callbacks()

    def unlink(self, callback: Callable[[Any], Any]) -> None:
        with self._condition:
            if self._exception is _UNSET and callback in self._callbacks:
                self._callbacks.remove(callback)

    def _run_callbacks(self) -> None:
        # Each callback is handed over once: a later rawlink runs only its own.
        callbacks, self._callbacks = self._callbacks, []
        handler = self._handler
        for callback in callbacks:
            if handler is not None and handler.running:
                handler.completion_queue.put(functools.partial(callback, self))
            else:
                callback(self)


def capture_exceptions(async_result: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: an exception raised by the function is set on ``async_result``
    instead of propagating."""
    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def captured(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - handed to the result
                async_result.set_exception(exc)
                return None
        return captured
    return decorate


def wrap(async_result: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: the function's return value, unless None, is set on
    ``async_result``; an exception it raises is set as the exception."""
    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @capture_exceptions(async_result)
        @functools.wraps(function)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            value = function(*args, **kwargs)
            if value is not None:
                async_result.set(value)
            return value
        return wrapped
    return decorate
