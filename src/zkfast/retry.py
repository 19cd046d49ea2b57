"""An explicit retry policy for idempotent operations.

zkfast never retries a call by itself: a write whose reply was lost may or
may not have been applied, and only the caller knows whether doing it again
is harmless. When it is (a read, ``set`` of a fixed value, ``ensure_path``,
``delete`` that tolerates :class:`~zkfast.NoNodeError`), a :class:`Retry`
repeats it after the errors that say "try again"
(:class:`~zkfast.ConnectionLossError`, :class:`~zkfast.OperationTimeoutError`
by default), waiting longer each time (exponential backoff with jitter), and
gives up after ``max_tries`` attempts or ``max_time`` seconds, whichever
comes first, by raising the last error.

Three ways to use one policy, each for sync and async code:

>>> retry = Retry(max_tries=5, max_time=30)
>>> value, stat = retry.run(zk.get, "/app/config")           # doctest: +SKIP
>>> @retry                                                   # doctest: +SKIP
... def read_config():                                       # (or: async def)
...     return zk.get("/app/config")[0]
>>> for attempt in retry.attempts():                         # doctest: +SKIP
...     with attempt:
...         zk.set("/app/config", b"v2")

``await retry.run_async(azk.get, "/app/config")`` and
``async for attempt in retry.attempts_async(): with attempt: ...`` are the
asyncio forms; a decorated ``async def`` retries with ``asyncio.sleep``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import random
import time
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Optional,
    Tuple,
    Type,
    TypeVar,
    cast,
)

from .errors import ConnectionLossError, OperationTimeoutError

__all__ = ["Retry", "Attempt", "DEFAULT_RETRY_ON"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

#: The errors a :class:`Retry` repeats unless told otherwise: the request may
#: not have reached the server, or its answer was lost; asking again is safe
#: for an idempotent operation. (SessionExpiredError is not among them: an
#: operation that relied on the old session's ephemeral nodes must not simply
#: go on in a new one. Add it with ``retry_on=`` where that is fine.)
DEFAULT_RETRY_ON: Tuple[Type[BaseException], ...] = (ConnectionLossError, OperationTimeoutError)


class Retry:
    """A retry policy: which errors, how many attempts, how long, how to wait.

    ``max_tries`` counts every attempt including the first (None: no limit);
    ``max_time`` is seconds from the first attempt after which no new one
    starts (None: no limit). At least one bound is required, so a policy
    always ends. Before attempt ``n`` (from 1) it sleeps
    ``min(max_delay, delay * backoff ** (n - 1))`` less a random part of up
    to ``jitter`` of it (0: none, 1: anywhere from 0), never past
    ``max_time``. ``retry_on`` is the tuple of exception classes to retry.

    >>> Retry(max_tries=3, delay=0.05).run(zk.exists, "/x")   # doctest: +SKIP
    """

    def __init__(self, max_tries: Optional[int] = 5, max_time: Optional[float] = None, *,
                 delay: float = 0.1, backoff: float = 2.0, max_delay: float = 5.0,
                 jitter: float = 0.5,
                 retry_on: Tuple[Type[BaseException], ...] = DEFAULT_RETRY_ON) -> None:
        if max_tries is None and max_time is None:
            raise ValueError("a Retry needs max_tries or max_time (or both): it must end")
        if max_tries is not None and (isinstance(max_tries, bool) or not isinstance(max_tries, int)
                                      or max_tries < 1):
            raise ValueError(f"max_tries must be an int >= 1, not {max_tries!r}")
        for name, value in (("max_time", max_time), ("delay", delay), ("max_delay", max_delay)):
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)
                                      or value < 0 or value != value):
                raise ValueError(f"{name} must be a number >= 0, not {value!r}")
        if not isinstance(backoff, (int, float)) or backoff < 1:
            raise ValueError(f"backoff must be a number >= 1, not {backoff!r}")
        if not isinstance(jitter, (int, float)) or not 0 <= jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, not {jitter!r}")
        if not isinstance(retry_on, tuple) or not retry_on or not all(
                isinstance(c, type) and issubclass(c, BaseException) for c in retry_on):
            raise TypeError("retry_on must be a non-empty tuple of exception classes")
        self.max_tries = max_tries
        self.max_time = max_time
        self.delay = float(delay)
        self.backoff = float(backoff)
        self.max_delay = float(max_delay)
        self.jitter = float(jitter)
        self.retry_on = retry_on

    def __repr__(self) -> str:
        return (f"Retry(max_tries={self.max_tries}, max_time={self.max_time}, delay={self.delay}, "
                f"backoff={self.backoff}, max_delay={self.max_delay}, jitter={self.jitter})")

    # ------------------------------------------------------------ the schedule

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (2, 3, ...), jitter included."""
        base = min(self.max_delay, self.delay * self.backoff ** max(0, attempt - 2))
        return base * (1.0 - self.jitter * random.random())

    def _start(self) -> _Tries:
        return _Tries(self)

    # ------------------------------------------------------------ sync

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``, repeated after a retryable error; the
        last error once the policy gives up."""
        tries = self._start()
        while True:
            try:
                return fn(*args, **kwargs)
            except self.retry_on:
                wait = tries.next_wait()
                if wait is None:
                    raise
            time.sleep(wait)

    def attempts(self) -> Iterator[Attempt]:
        """Attempts to run a block under ``with attempt:``; the loop ends after
        the first attempt whose block did not raise a retryable error."""
        tries = self._start()
        while True:
            attempt = Attempt(tries)
            yield attempt
            if attempt.error is None:
                return
            time.sleep(attempt.wait)

    # ------------------------------------------------------------ async

    async def run_async(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """``await fn(*args, **kwargs)`` with retries (waiting with ``asyncio.sleep``)."""
        tries = self._start()
        while True:
            try:
                return await fn(*args, **kwargs)
            except self.retry_on:
                wait = tries.next_wait()
                if wait is None:
                    raise
            await asyncio.sleep(wait)

    async def attempts_async(self) -> AsyncIterator[Attempt]:
        """:meth:`attempts` for ``async for``; waits with ``asyncio.sleep``."""
        tries = self._start()
        while True:
            attempt = Attempt(tries)
            yield attempt
            if attempt.error is None:
                return
            await asyncio.sleep(attempt.wait)

    # ------------------------------------------------------------ decorator

    def __call__(self, fn: F) -> F:
        """Decorate a function (or ``async def``) so that each call retries."""
        if not callable(fn):
            raise TypeError(f"Retry decorates a function, not {type(fn).__name__}")
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await self.run_async(fn, *args, **kwargs)
            return cast(F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return self.run(fn, *args, **kwargs)
        return cast(F, wrapper)


class _Tries:
    """The state of one retried operation: attempts made, its deadline."""

    __slots__ = ("policy", "count", "deadline")

    def __init__(self, policy: Retry) -> None:
        self.policy = policy
        self.count = 1
        self.deadline = None if policy.max_time is None else time.monotonic() + policy.max_time

    def next_wait(self) -> Optional[float]:
        """After a retryable failure: the wait before the next attempt, or
        None when the policy is spent (the caller re-raises the error)."""
        p = self.policy
        if p.max_tries is not None and self.count >= p.max_tries:
            return None
        wait = p.delay_before(self.count + 1)
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                return None
            wait = min(wait, left)
        self.count += 1
        return wait


class Attempt:
    """One attempt of :meth:`Retry.attempts`: use it as ``with attempt:``.

    A retryable error raised in the block is swallowed while the policy allows
    another attempt (the loop goes on after the backoff); any other error, or
    the last one, propagates. ``number`` counts from 1.
    """

    __slots__ = ("_tries", "number", "error", "wait")

    def __init__(self, tries: _Tries) -> None:
        self._tries = tries
        self.number = tries.count
        #: the retryable error this attempt swallowed, if any
        self.error: Optional[BaseException] = None
        self.wait = 0.0

    def __enter__(self) -> Attempt:
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Any) -> bool:
        if exc is None or not isinstance(exc, self._tries.policy.retry_on):
            return False
        wait = self._tries.next_wait()
        if wait is None:
            return False  # spent: the error propagates
        self.wait = wait
        self.error = exc
        return True
