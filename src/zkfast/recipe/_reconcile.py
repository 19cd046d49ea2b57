"""Background re-reads that coalesce bursts of triggers (watchers, caches)."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Callable, Generator, Optional

from ..errors import ZooKeeperError
from ..interface import SessionClient
from ._drivers import drive, spawn

__all__ = ["Reconciler"]

log = logging.getLogger("zkfast.recipe")

StepGen = Generator[Any, Any, Any]


class Reconciler:
    """Runs ``make_gen()`` in the background, one run at a time.

    ``trigger()`` while a run is in flight schedules exactly one more run
    after it, so bursts of watch events coalesce. ``on_result(value)`` gets
    each run's result; a run failing with a connection/session error is
    dropped (a state listener triggers again on reconnect). With the async
    flavor ``on_result`` may return an awaitable; it is awaited before the
    next run.
    """

    def __init__(self, client: SessionClient, make_gen: Callable[[], StepGen],
                 on_result: Optional[Callable[[Any], Any]] = None,
                 on_error: Optional[Callable[[BaseException], Any]] = None) -> None:
        self.client = client
        self.make_gen = make_gen
        self.on_result = on_result
        self.on_error = on_error
        self._lock = threading.Lock()
        self._running = False
        self._again = False
        self.stopped = False
        self._async = client.is_async

    def trigger(self) -> None:
        with self._lock:
            if self.stopped:
                return
            if self._running:
                self._again = True
                return
            self._running = True
        self._start()

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            self._again = False

    def run_blocking(self) -> Any:
        """Sync flavor: one run in the calling thread (triggers meanwhile
        queue a background run after it)."""
        with self._lock:
            self._running = True
        try:
            result = self.client.run_steps(self.make_gen())
            err: Optional[BaseException] = None
        except Exception as e:  # noqa: BLE001 - handed to _done, re-raised below
            result, err = None, e
        self._done(result, err)
        if err is not None:
            raise err
        return result

    def _start(self) -> None:
        if self._async:
            spawn(self._run_async())
        else:
            drive(self.client, self.make_gen(), self._done)

    async def _run_async(self) -> None:
        try:
            result = await self.client.run_steps(self.make_gen())
            err: Optional[BaseException] = None
        except Exception as e:  # noqa: BLE001
            result, err = None, e
        if err is None and self.on_result is not None and not self.stopped:
            try:
                r = self.on_result(result)
                if asyncio.iscoroutine(r) or isinstance(r, asyncio.Future):
                    await r
            except Exception:  # noqa: BLE001
                log.exception("recipe callback failed")
        self._after(err)

    def _done(self, result: Any, err: Optional[BaseException]) -> None:
        if err is None and self.on_result is not None and not self.stopped:
            try:
                self.on_result(result)
            except Exception:  # noqa: BLE001
                log.exception("recipe callback failed")
        self._after(err)

    def _after(self, err: Optional[BaseException]) -> None:
        if err is not None:
            if self.on_error is not None:
                try:
                    self.on_error(err)
                except Exception:  # noqa: BLE001
                    log.exception("recipe error handler failed")
            elif not isinstance(err, ZooKeeperError):
                log.error("background recipe run failed", exc_info=err)
        with self._lock:
            again = self._again and not self.stopped
            self._again = False
            if not again:
                self._running = False
        if again:
            self._start()
