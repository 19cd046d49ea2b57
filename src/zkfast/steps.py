"""Steps: what a multi-round-trip call yields to the client that drives it.

Calls that need several round trips (``ensure_path``, recursive delete,
protected creates, every recipe) are written once, as generators. Each value
such a generator yields is a *step*:

* a :class:`~zkfast.requests.PendingRequest` (built by the engine's ``op_*``
  methods): the driver sends it and sends back its result, or throws its
  error into the generator;
* a :class:`Batch` of requests, sent together (pipelined): the driver sends
  back a list with one result or exception instance per request;
* :class:`Wait`: block until an event is set or a timeout passes (the driver
  sends back whether the event was set);
* :class:`WaitConnected`: block until the client is connected, at most a
  timeout (the driver sends back whether it is);
* :class:`Timed`: a request with a deadline of its own (the driver throws
  :class:`~zkfast.RequestTimeoutError` into the generator when it passes).

Three drivers run such generators, one per way of waiting: the sync client
blocks (``Client.run_steps``), the async client awaits
(``AsyncClient.run_steps``), and :class:`CallbackDriver` runs one in the
background, resumed by reply callbacks. They all advance a generator with
:func:`advance`. This module sits below the API and the recipes; both use it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Generator, List, Optional, Tuple, Union

from .errors import ZooKeeperError
from .requests import PendingRequest

__all__ = ["Batch", "Wait", "WaitConnected", "Timed", "Step", "StepGen", "PROTECTED_PREFIX", "DONE",
           "advance", "CallbackDriver", "Done"]

log = logging.getLogger("zkfast.steps")

#: The name prefix of a protected node: ``_c_<guid>-<name>`` (Curator's layout).
PROTECTED_PREFIX = "_c_"


class Batch(list):  # type: ignore[type-arg]  # a plain list at run time (a List[...] base adds Generic)
    """Requests a composite call pipelines; the driver sends back a list of
    results, each an exception instance where that request failed."""


class Wait:
    """A step: wait for ``event`` (set by a watch or listener) or ``timeout``
    seconds (None: forever). The driver sends back whether the event was set.
    ``event`` is a ``threading.Event`` on the sync client, an ``asyncio.Event``
    on the async one."""

    __slots__ = ("event", "timeout")

    def __init__(self, event: Any, timeout: Optional[float] = None) -> None:
        self.event = event
        self.timeout = timeout


class WaitConnected:
    """A step: wait until the client is connected, at most ``timeout`` seconds;
    the driver sends back whether it is. Calls with a deadline use it so that
    a disconnected client cannot hold them past it (a request issued while
    disconnected waits for the reconnect)."""

    __slots__ = ("timeout",)

    def __init__(self, timeout: Optional[float] = None) -> None:
        self.timeout = timeout


class Timed:
    """A step: send ``req`` and wait for its reply at most ``timeout`` seconds
    (None: the client's ``request_timeout``), else RequestTimeoutError. Calls
    with a deadline use it for requests that could be issued just as the
    connection drops: such a request waits for the reconnect, which may come
    long after the deadline. (A background driver sends ``req`` untimed.)"""

    __slots__ = ("req", "timeout")

    def __init__(self, req: PendingRequest, timeout: Optional[float]) -> None:
        self.req = req
        self.timeout = timeout


Step = Union[PendingRequest, Batch, Wait, WaitConnected, Timed]
StepGen = Generator[Any, Any, Any]

#: What :func:`advance` returns as the step when the generator has finished.
DONE: Any = object()

#: ``done(result, error)``: told how a background run ended.
Done = Callable[[Any, Optional[BaseException]], Any]


def advance(gen: StepGen, value: Any, error: Optional[BaseException]) -> Tuple[Any, Any]:
    """Resume ``gen`` with ``value`` (or throw ``error`` into it).

    Returns ``(step, None)`` for the next step, or ``(DONE, result)`` when the
    generator returned ``result``. Exceptions from the generator propagate.
    """
    try:
        step = gen.throw(error) if error is not None else gen.send(value)
    except StopIteration as stop:
        return DONE, stop.value
    return step, None


class CallbackDriver:
    """Runs a step generator without blocking anyone: each request is
    submitted, and its reply's done-callback resumes the generator (on the
    sync client's dispatcher thread). ``done(result, error)`` hears the end.

    ``submit(req)`` must return a future with ``add_done_callback``,
    ``exception()`` and ``result()`` (the sync client's :class:`~zkfast.Future`).
    The generator must not yield :class:`Wait` or :class:`WaitConnected`:
    nothing here may block.
    """

    __slots__ = ("submit", "gen", "done", "_left", "_futs", "_lock")

    def __init__(self, submit: Callable[[PendingRequest], Any], gen: StepGen,
                 done: Optional[Done]) -> None:
        self.submit = submit
        self.gen = gen
        self.done = done
        self._lock = threading.Lock()
        self._left = 0
        self._futs: List[Any] = []

    def start(self) -> None:
        self._resume(None, None)

    def _resume(self, value: Any, error: Optional[BaseException]) -> None:
        while True:
            try:
                step, result = advance(self.gen, value, error)
            except BaseException as e:  # noqa: BLE001 - reported to done()
                self._finish(None, e)
                return
            if step is DONE:
                self._finish(result, None)
                return
            value = error = None
            if isinstance(step, Batch):
                futs: List[Any] = []
                for req in step:
                    try:
                        futs.append(self.submit(req))
                    except ZooKeeperError as e:
                        futs.append(e)
                live = [f for f in futs if not isinstance(f, BaseException)]
                if not live:
                    value = futs
                    continue
                self._futs = futs
                self._left = len(live)
                for f in live:
                    f.add_done_callback(self._one_done)
                return
            if isinstance(step, (Wait, WaitConnected)):
                error = TypeError("a background step generator cannot wait")
                continue
            if isinstance(step, Timed):
                step = step.req  # nothing waits here, so there is no deadline to keep
            try:
                fut = self.submit(step)
            except ZooKeeperError as e:
                error = e
                continue
            fut.add_done_callback(self._step_done)
            return

    def _step_done(self, fut: Any) -> None:
        exc = fut.exception()
        if exc is not None:
            self._resume(None, exc)
        else:
            self._resume(fut.result(), None)

    def _one_done(self, _fut: Any) -> None:
        with self._lock:
            self._left -= 1
            last = self._left == 0
        if not last:
            return
        out = []
        for f in self._futs:
            if isinstance(f, BaseException):
                out.append(f)
            else:
                e = f.exception()
                out.append(e if e is not None else f.result())
        self._futs = []
        self._resume(out, None)

    def _finish(self, result: Any, error: Optional[BaseException]) -> None:
        if self.done is not None:
            try:
                self.done(result, error)
            except Exception:  # noqa: BLE001 - a completion callback must not kill the dispatcher
                log.exception("background step completion callback failed")
        elif error is not None and not isinstance(error, ZooKeeperError):
            log.error("background step generator failed", exc_info=error)
