"""zkfast.retry: the schedule, the bounds, the three ways of use (sync and async)."""

from __future__ import annotations

import asyncio
from typing import Any, List

import pytest

import zkfast.retry as retry_module
from zkfast import ConnectionLossError, NoNodeError, OperationTimeoutError, SessionExpiredError
from zkfast.retry import Retry


class FakeClock:
    """Stands in for the ``time`` module inside zkfast.retry: sleeping advances it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: List[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(retry_module, "time", fake)

    async def fake_async_sleep(seconds: float) -> None:
        fake.sleep(seconds)
    monkeypatch.setattr(retry_module.asyncio, "sleep", fake_async_sleep)
    return fake


class Flaky:
    """Fails with the given errors in turn, then returns ``result``."""

    def __init__(self, *errors: BaseException, result: Any = "ok") -> None:
        self.errors = list(errors)
        self.calls = 0
        self.result = result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        self.args = (args, kwargs)
        if self.errors:
            raise self.errors.pop(0)
        return self.result


def test_run_retries_retryable_errors_then_returns(clock: FakeClock) -> None:
    fn = Flaky(ConnectionLossError(), OperationTimeoutError())
    assert Retry(max_tries=3, delay=0.1, jitter=0).run(fn, 1, k=2) == "ok"
    assert fn.calls == 3 and fn.args == ((1,), {"k": 2})
    assert clock.slept == [0.1, 0.2]  # exponential


def test_gives_up_after_max_tries_with_the_last_error(clock: FakeClock) -> None:
    errors = [ConnectionLossError("first"), ConnectionLossError("second")]
    fn = Flaky(*errors)
    with pytest.raises(ConnectionLossError) as info:
        Retry(max_tries=2, jitter=0).run(fn)
    assert info.value is errors[1] and fn.calls == 2


def test_other_errors_are_not_retried(clock: FakeClock) -> None:
    fn = Flaky(NoNodeError(), result=None)
    with pytest.raises(NoNodeError):
        Retry(max_tries=5).run(fn)
    assert fn.calls == 1 and clock.slept == []
    fn = Flaky(SessionExpiredError())
    with pytest.raises(SessionExpiredError):
        Retry(max_tries=5).run(fn)  # not retried unless asked for
    fn = Flaky(SessionExpiredError())
    assert Retry(max_tries=5, retry_on=(SessionExpiredError,)).run(fn) == "ok"


def test_max_time_bounds_attempts_and_the_last_sleep(clock: FakeClock) -> None:
    fn = Flaky(*[ConnectionLossError() for _ in range(100)])
    with pytest.raises(ConnectionLossError):
        Retry(max_tries=None, max_time=1.0, delay=0.3, backoff=1.0, jitter=0).run(fn)
    assert clock.slept == [0.3, 0.3, 0.3, pytest.approx(0.1)]  # truncated at the deadline
    assert fn.calls == 5


def test_backoff_is_capped_and_jitter_only_shortens(clock: FakeClock) -> None:
    policy = Retry(max_tries=20, delay=1.0, backoff=10.0, max_delay=3.0, jitter=0.5)
    for n in range(2, 8):
        base = min(3.0, 1.0 * 10.0 ** (n - 2))
        for _ in range(50):
            assert base * 0.5 <= policy.delay_before(n) <= base


def test_attempts_context(clock: FakeClock) -> None:
    fn = Flaky(ConnectionLossError(), ConnectionLossError())
    seen = []
    for attempt in Retry(max_tries=5, jitter=0, delay=0.01).attempts():
        with attempt:
            seen.append(attempt.number)
            fn()
    assert seen == [1, 2, 3] and fn.calls == 3
    with pytest.raises(ConnectionLossError):
        for attempt in Retry(max_tries=2).attempts():
            with attempt:
                raise ConnectionLossError()
    with pytest.raises(KeyError):
        for attempt in Retry(max_tries=2).attempts():
            with attempt:
                raise KeyError("not retried")


def test_decorator_sync_and_async(clock: FakeClock) -> None:
    policy = Retry(max_tries=3, jitter=0)
    fn = Flaky(ConnectionLossError())

    @policy
    def wrapped(x: int) -> Any:
        """doc"""
        return (fn(), x)

    assert wrapped(5) == ("ok", 5) and wrapped.__doc__ == "doc" and fn.calls == 2

    afn = Flaky(ConnectionLossError(), OperationTimeoutError())

    @policy
    async def awrapped() -> Any:
        await asyncio.sleep(0)
        return afn()

    assert asyncio.iscoroutinefunction(awrapped)
    assert asyncio.run(awrapped()) == "ok" and afn.calls == 3


def test_async_run_and_attempts(clock: FakeClock) -> None:
    async def main() -> List[int]:
        fn = Flaky(ConnectionLossError())

        async def coro() -> Any:
            return fn()
        assert await Retry(max_tries=2).run_async(coro) == "ok"
        numbers = []
        fn2 = Flaky(ConnectionLossError(), ConnectionLossError())
        async for attempt in Retry(max_tries=3).attempts_async():
            with attempt:
                numbers.append(attempt.number)
                fn2()
        return numbers
    assert asyncio.run(main()) == [1, 2, 3]


@pytest.mark.parametrize("kwargs, error", [
    ({"max_tries": None}, ValueError),
    ({"max_tries": 0}, ValueError),
    ({"max_tries": True}, ValueError),
    ({"max_time": -1}, ValueError),
    ({"delay": float("nan")}, ValueError),
    ({"backoff": 0.5}, ValueError),
    ({"jitter": 2}, ValueError),
    ({"retry_on": ()}, TypeError),
    ({"retry_on": (int,)}, TypeError),
    ({"retry_on": ConnectionLossError}, TypeError),
])
def test_bad_arguments_are_refused(kwargs: Any, error: type) -> None:
    with pytest.raises(error):
        Retry(**kwargs)
    with pytest.raises(TypeError):
        Retry()(42)  # type: ignore[type-var]
