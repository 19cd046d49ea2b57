"""kazoo's interfaces, as documentation: what a handler and an async result offer.

As in kazoo these are plain classes, not checked anywhere: zkfast.kazoo's
:class:`~zkfast.kazoo.handlers.threading.SequentialThreadingHandler` and the
results of the ``*_async`` methods have these methods.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

__all__ = ["IHandler", "IAsyncResult"]


class IHandler:
    """Runs completion and watch callbacks and makes the synchronisation
    objects that go with them.

    ``name`` (a label), ``timeout_exception`` (what a timed-out wait raises) and
    ``sleep_func`` (a sleep taking seconds) are attributes.
    """

    name: str
    timeout_exception: type
    sleep_func: Callable[[float], Any]

    def start(self) -> None:
        """Start the callback workers."""

    def stop(self) -> None:
        """Stop the callback workers; returns once they stopped."""

    def select(self) -> Any:
        """``select.select``'s arguments and result."""

    def socket(self) -> Any:
        """A new TCP socket."""

    def create_connection(self) -> Any:
        """A connected TCP socket (``socket.create_connection``'s arguments)."""

    def event_object(self) -> Any:
        """A ``threading.Event``-like object."""

    def lock_object(self) -> Any:
        """A ``threading.Lock``-like object."""

    def rlock_object(self) -> Any:
        """A ``threading.RLock``-like object."""

    def async_result(self) -> Any:
        """A new, unset :class:`IAsyncResult`."""

    def spawn(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``func(*args, **kwargs)`` concurrently (a thread)."""

    def dispatch_callback(self, callback: Any) -> None:
        """Run ``callback.func(*callback.args)`` on the watch callback worker."""


class IAsyncResult:
    """The outcome of an asynchronous call: a value or an exception, once set.

    ``value`` is the value once set (None before, or on failure); ``exception``
    the exception once set with one (None otherwise).
    """

    value: Any
    exception: Optional[BaseException]

    def ready(self) -> bool:
        """Whether a value or an exception is set."""
        raise NotImplementedError

    def successful(self) -> bool:
        """Whether a value (not an exception) is set."""
        raise NotImplementedError

    def set(self, value: Any = None) -> None:
        """Set the value and wake the waiters and callbacks."""
        raise NotImplementedError

    def set_exception(self, exception: BaseException) -> None:
        """Set the exception and wake the waiters and callbacks."""
        raise NotImplementedError

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        """The value, or raise the exception; waits up to ``timeout`` (None:
        forever) when ``block``, then raises the handler's timeout exception."""
        raise NotImplementedError

    def get_nowait(self) -> Any:
        """``get(block=False)``."""
        raise NotImplementedError

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait until ready (at most ``timeout``); whether it is."""
        raise NotImplementedError

    def rawlink(self, callback: Callable[[Any], Any]) -> None:
        """Call ``callback(result)`` once it is ready (at once if it is)."""
        raise NotImplementedError

    def unlink(self, callback: Callable[[Any], Any]) -> None:
        """Forget a callback given to :meth:`rawlink` (if it has not run)."""
        raise NotImplementedError
