"""kazoo's retry helper: call a function again while it fails with a retryable error.

>>> retry = KazooRetry(max_tries=5, delay=0.1, backoff=2)
>>> retry(zk.get, "/config")                # doctest: +SKIP

Retried: :class:`~zkfast.kazoo.exceptions.ConnectionLoss`,
:class:`~zkfast.kazoo.exceptions.OperationTimeoutError`, :class:`ForceRetryError`
and, unless ``ignore_expire=False``, :class:`~zkfast.kazoo.exceptions.SessionExpiredError`
(never :class:`~zkfast.kazoo.exceptions.ConnectionClosedError`: the client is
stopped). The delay grows by ``backoff`` up to ``max_delay``, each one
jittered by up to ``max_jitter`` of itself. ``max_tries`` (None or -1: no limit)
and ``deadline`` (seconds for the whole call) end it with
:class:`RetryFailedError`; ``interrupt()`` returning True, checked every 0.1 s
of a wait, with :class:`InterruptedError`.

Only idempotent calls are safe to retry blindly: a create whose reply was lost
may have been applied.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any, Callable, Optional, Tuple, Type

from .exceptions import (
    ConnectionClosedError,
    ConnectionLoss,
    KazooException,
    OperationTimeoutError,
    SessionExpiredError,
)

__all__ = ["ForceRetryError", "RetryFailedError", "InterruptedError", "KazooRetry"]

log = logging.getLogger(__name__)


class ForceRetryError(Exception):
    """Raised by a retried function (a recipe's step) to ask for another try."""


class RetryFailedError(KazooException):
    """The retries ran out (``max_tries`` or ``deadline``)."""


class InterruptedError(RetryFailedError):  # noqa: A001 - kazoo's name
    """``interrupt()`` asked the retry to stop."""


class KazooRetry:
    """Retries a call on retryable errors with jittered exponential backoff
    (see the module docstring). One instance serves one call at a time;
    :meth:`copy` makes an independent one with the same settings."""

    RETRY_EXCEPTIONS: Tuple[Type[BaseException], ...] = (
        ConnectionLoss, OperationTimeoutError, ForceRetryError)
    EXPIRED_EXCEPTIONS: Tuple[Type[BaseException], ...] = (SessionExpiredError,)

    def __init__(self, max_tries: Optional[int] = 1, delay: float = 0.1, backoff: float = 2,
                 max_jitter: float = 0.4, max_delay: float = 60.0, ignore_expire: bool = True,
                 sleep_func: Callable[[float], Any] = time.sleep, deadline: Optional[float] = None,
                 interrupt: Optional[Callable[[], bool]] = None) -> None:
        self.max_tries = max_tries
        self.delay = delay
        self.backoff = backoff
        self.max_jitter = max(min(max_jitter, 1.0), 0.0)
        self.max_delay = float(max_delay)
        self.deadline = deadline
        self.sleep_func = sleep_func
        self.interrupt = interrupt
        self.retry_exceptions = self.RETRY_EXCEPTIONS
        if ignore_expire:
            self.retry_exceptions += self.EXPIRED_EXCEPTIONS
        self._attempts = 0          # failed calls since reset()
        self._cur_delay = delay     # the next wait, before jitter
        self._cur_stoptime: Optional[float] = None

    def reset(self) -> None:
        """Forget earlier attempts: the next call starts afresh."""
        self._attempts = 0
        self._cur_delay = self.delay
        self._cur_stoptime = None

    def copy(self) -> KazooRetry:
        """A new retry with the same settings and no attempts."""
        twin = KazooRetry(max_tries=self.max_tries, delay=self.delay, backoff=self.backoff,
                          max_jitter=self.max_jitter, max_delay=self.max_delay,
                          sleep_func=self.sleep_func, deadline=self.deadline,
                          interrupt=self.interrupt)
        twin.retry_exceptions = self.retry_exceptions
        return twin

    def __call__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``func(*args, **kwargs)``, retried as configured."""
        self.reset()
        while True:
            if self.deadline is not None and self._cur_stoptime is None:
                self._cur_stoptime = time.monotonic() + self.deadline
            try:
                return func(*args, **kwargs)
            except ConnectionClosedError:
                raise
            except self.retry_exceptions as e:
                self._attempts += 1
                if self._attempts == self.max_tries:  # None / -1: never
                    raise RetryFailedError("Too many retry attempts") from e
                wait = self._cur_delay * random.uniform(1.0 - self.max_jitter, 1.0 + self.max_jitter)
                if self._cur_stoptime is not None and time.monotonic() + wait >= self._cur_stoptime:
                    raise RetryFailedError("Exceeded retry deadline") from e
                log.debug("retrying %r in %.2fs after %r", func, wait, e)
                self._sleep(wait)
                self._cur_delay = min(wait * self.backoff, self.max_delay)

    def _sleep(self, seconds: float) -> None:
        if self.interrupt is None:
            self.sleep_func(seconds)
            return
        left = seconds
        while left > 0:
            self.sleep_func(min(0.1, left))
            left -= 0.1
            if self.interrupt():
                raise InterruptedError("retry interrupted")
