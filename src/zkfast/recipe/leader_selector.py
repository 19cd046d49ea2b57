"""LeaderSelector: leadership as a function that runs while this contender leads.

Curator's LeaderSelector, with its node layout: contenders queue on a
:class:`~zkfast.recipe.Lock` at ``path`` (``_c_<guid>-lock-<seq>``, data:
the identifier), which is what Curator's LeaderSelector does with its
InterProcessMutex, so Java and Python contenders share one line.

``start()`` queues; when this contender is first in line, ``func(selector)``
runs (on the selector's own thread for :class:`LeaderSelector`; as a task
for :class:`AsyncLeaderSelector`). Leadership lasts until ``func`` returns;
then the node is deleted and the next contender leads. With
``auto_requeue=True`` the selector queues again by itself after each turn
(and after a failed attempt, with a backoff); else ``requeue()`` does.

**Interruption.** Leading on a connection that is gone is the classic way to
get two leaders, so the selector interrupts the leader:

* ``interrupt_on="suspended"`` (default; Curator's
  StandardConnectionStateErrorPolicy): as soon as the connection is lost;
* ``interrupt_on="lost"`` (SessionConnectionStateErrorPolicy): only when the
  session is lost (expired, closed, or no server for a whole session timeout).

Interrupted, ``has_leadership`` turns False at once and ``interrupted`` (an
event) is set. An ``async`` func is cancelled; a sync func cannot be stopped
from outside in Python, so it must look at ``selector.interrupted`` (or wait
on it) between steps and return promptly. Writes that must not happen after
leadership is lost should be fenced (:class:`~zkfast.recipe.Fence`).

>>> def lead(selector):
...     while not selector.interrupted.wait(1.0):
...         do_one_step_as_leader()
>>> selector = LeaderSelector(zk, "/app/leader", lead, "host-1", auto_requeue=True)   # doctest: +SKIP
>>> selector.start()                                                                # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from typing import Any, Callable, List, Optional, Sequence

from ..errors import CancelledError, ClosedError, NotLockedError, ZooKeeperError
from ..events import State
from ..paths import validate_path
from ._drivers import ASYNC, SYNC, Flavor
from .lock import AsyncLock, Lock

__all__ = ["LeaderSelector", "AsyncLeaderSelector", "INTERRUPT_ON_SUSPENDED", "INTERRUPT_ON_LOST"]

log = logging.getLogger("zkfast.recipe.leader_selector")

INTERRUPT_ON_SUSPENDED = "suspended"
INTERRUPT_ON_LOST = "lost"
_BACKOFF_FIRST, _BACKOFF_MAX = 0.1, 5.0


class _SelectorLock(Lock):
    """The selector's lock: a closed selector aborts a pending acquire."""

    selector: Any = None

    def _should_abort(self) -> bool:
        return bool(self.selector is not None and self.selector._closed)


class _AsyncSelectorLock(AsyncLock):
    selector: Any = None

    def _should_abort(self) -> bool:
        return bool(self.selector is not None and self.selector._closed)


class _SelectorCore:
    _flavor: Flavor = SYNC
    _lock_cls: Any = _SelectorLock

    def __init__(self, client: Any, path: str, func: Callable[..., Any], identifier: Any = None, *,
                 auto_requeue: bool = False, interrupt_on: str = INTERRUPT_ON_SUSPENDED,
                 acl: Optional[Sequence[Any]] = None) -> None:
        self._flavor.check(client, type(self).__name__)
        validate_path(path)
        if not callable(func):
            raise TypeError(f"func must be callable, not {type(func).__name__}")
        if interrupt_on not in (INTERRUPT_ON_SUSPENDED, INTERRUPT_ON_LOST):
            raise ValueError(f"interrupt_on must be {INTERRUPT_ON_SUSPENDED!r} or "
                             f"{INTERRUPT_ON_LOST!r}, not {interrupt_on!r}")
        self.client = client
        self.path = path
        self.func = func
        self.identifier = identifier
        self.auto_requeue = auto_requeue
        self.interrupt_on = interrupt_on
        self.lock = self._lock_cls(client, path, identifier, acl=acl, listener=self._on_hold_state)
        self.lock.selector = self
        #: True while ``func`` runs as leader and leadership is not in doubt
        self.has_leadership = False
        #: set when the current leadership must end (connection, session, close, interrupt)
        self.interrupted = self._flavor.event()
        #: how many times this selector has led
        self.leaderships = 0
        self._started = False
        self._closed = False
        self._queued = False
        self._turn_running = False
        self._mutex = threading.Lock()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r} leader={self.has_leadership}>"

    @property
    def node(self) -> Optional[str]:
        """Our node in line while queued or leading (to fence writes on)."""
        return self.lock.node  # type: ignore[no-any-return]

    @property
    def is_acquired(self) -> bool:
        """The same as ``has_leadership`` (for :class:`~zkfast.recipe.Fence`)."""
        return self.has_leadership

    def _on_hold_state(self, state: State) -> None:
        """The lock's listener: the held node's session is in doubt or gone."""
        if state == State.SUSPENDED and self.interrupt_on == INTERRUPT_ON_SUSPENDED:
            self._interrupt()
        elif state == State.EXPIRED:
            self._interrupt()

    def _interrupt(self) -> None:
        self.has_leadership = False
        self.interrupted.set()

    def interrupt_leadership(self) -> None:
        """End the current leadership (as a lost connection would)."""
        if self.has_leadership:
            self._interrupt()

    def _queue(self) -> bool:
        with self._mutex:
            if self._closed or not self._started:
                raise RuntimeError(f"{type(self).__name__} is not started (or closed)")
            if self._queued or self._turn_running:
                return False
            self._queued = True
        return True

    def _begin_leading(self) -> bool:
        """After the lock is taken: lead, unless the hold is already in doubt
        or the selector closing (``interrupted`` was cleared before the acquire,
        so an interruption since then is seen here)."""
        self.has_leadership = True
        # the lock's listener may have fired between the acquire and here
        if self._closed or self.lock.lost.is_set() or (
                self.lock.suspended and self.interrupt_on == INTERRUPT_ON_SUSPENDED):
            self._interrupt()
        if self.interrupted.is_set():
            self.has_leadership = False
            return False
        self.leaderships += 1
        return True


class LeaderSelector(_SelectorCore):
    """Run ``func(selector)`` whenever this contender leads at ``path`` (module docs).

    ``start()``, ``requeue() -> bool``, ``interrupt_leadership()``,
    ``participants()``, ``close(timeout)``; ``has_leadership``,
    ``interrupted`` (a ``threading.Event``), ``leaderships``.
    """

    def __init__(self, client: Any, path: str, func: Callable[..., Any], identifier: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(client, path, func, identifier, **kwargs)
        self._cv = threading.Condition(self._mutex)
        self._thread: Optional[threading.Thread] = None

    def start(self) -> LeaderSelector:
        with self._mutex:
            if self._started:
                raise RuntimeError("a LeaderSelector can be started once")
            self._started = True
        self.requeue()
        return self

    def requeue(self) -> bool:
        """Queue for one more turn; False if one is queued or running already."""
        if not self._queue():
            return False
        with self._cv:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name=f"zkfast-leader[{self.path}]")
                self._thread.start()
            self._cv.notify_all()
        return True

    def participants(self) -> List[str]:
        """Identifiers of every contender, the leader first."""
        return list(self.lock.contenders())

    def close(self, timeout: Optional[float] = 10.0) -> bool:
        """Leave: stop queueing, interrupt the leader, give the node up. True
        once the selector's thread has finished (within ``timeout``); a sync
        ``func`` that ignores ``interrupted`` keeps it (and the node) longer."""
        with self._cv:
            if self._closed:
                return self._thread is None or not self._thread.is_alive()
            self._closed = True
            self._queued = False
            self._cv.notify_all()
        self._interrupt()
        self.lock.cancel()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return thread is None
        thread.join(timeout)
        return not thread.is_alive()

    def _run(self) -> None:
        backoff = _BACKOFF_FIRST
        while True:
            with self._cv:
                while not (self._queued or self._closed):
                    self._cv.wait()
                if self._closed:
                    return
                self._queued = False
                self._turn_running = True
            try:
                ok = self._turn()
            except BaseException:  # noqa: BLE001 - the thread must not die silently
                log.exception("%r: turn failed", self)
                ok = False
            with self._cv:
                self._turn_running = False
                if self._closed:
                    return
                if ok:
                    backoff = _BACKOFF_FIRST
                else:
                    self._cv.wait(backoff)  # close() wakes it
                    backoff = min(backoff * 2, _BACKOFF_MAX)
                if self.auto_requeue and not self._closed:
                    self._queued = True

    def _turn(self) -> bool:
        """One turn: queue, lead, give up. False when it failed (back off)."""
        self.interrupted.clear()
        try:
            self.lock.acquire()
        except CancelledError:
            return True
        except ClosedError:
            with self._cv:
                self._closed = True
            return True
        except ZooKeeperError as e:
            log.warning("%r: could not queue: %s", self, e)
            return False
        try:
            if self._begin_leading():
                try:
                    self.func(self)
                except Exception:  # noqa: BLE001
                    log.exception("%r: the leader's function raised", self)
        finally:
            self.has_leadership = False
            try:
                self.lock.release()
            except NotLockedError:
                pass
            except ZooKeeperError as e:  # the node goes with the session anyway
                log.debug("%r: release failed: %s", self, e)
        return True

    def __enter__(self) -> LeaderSelector:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncLeaderSelector(_SelectorCore):
    """:class:`LeaderSelector` for :class:`~zkfast.AsyncClient`: ``func`` is a
    coroutine function (a plain function's awaitable result is awaited too),
    run as a task that interruption cancels.

    >>> async def lead(selector):
    ...     while True:
    ...         await do_one_step_as_leader()
    >>> selector = await AsyncLeaderSelector(zk, "/app/leader", lead).start()   # doctest: +SKIP
    """

    _flavor = ASYNC
    _lock_cls = _AsyncSelectorLock

    def __init__(self, client: Any, path: str, func: Callable[..., Any], identifier: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(client, path, func, identifier, **kwargs)
        self._wake = asyncio.Event()
        self._worker: Optional[asyncio.Task[None]] = None
        self._func_task: Optional[asyncio.Task[Any]] = None

    async def start(self) -> AsyncLeaderSelector:
        if self._started:
            raise RuntimeError("an AsyncLeaderSelector can be started once")
        self._started = True
        self.requeue()
        return self

    def requeue(self) -> bool:
        if not self._queue():
            return False
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run())
        self._wake.set()
        return True

    def _interrupt(self) -> None:
        super()._interrupt()
        task = self._func_task
        if task is not None and not task.done():
            task.cancel()

    async def participants(self) -> List[str]:
        return list(await self.lock.contenders())

    async def close(self, timeout: Optional[float] = 10.0) -> bool:
        if self._closed:
            return self._worker is None or self._worker.done()
        self._closed = True
        self._queued = False
        self._interrupt()
        self.lock.cancel()
        self._wake.set()
        worker = self._worker
        if worker is None:
            return True
        if worker is asyncio.current_task():
            return False
        done, _ = await asyncio.wait({worker}, timeout=timeout)
        if not done:
            worker.cancel()  # a func that swallowed its cancellation
            await asyncio.wait({worker}, timeout=timeout)
        return worker.done()

    async def _run(self) -> None:
        backoff = _BACKOFF_FIRST
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._closed:
                return
            if not self._queued:
                continue
            self._queued = False
            self._turn_running = True
            try:
                ok = await self._turn()
            except Exception:  # noqa: BLE001
                log.exception("%r: turn failed", self)
                ok = False
            finally:
                self._turn_running = False
            if self._closed:
                return
            if ok:
                backoff = _BACKOFF_FIRST
            else:
                try:
                    await asyncio.wait_for(self._wake.wait(), backoff)
                except TimeoutError:
                    pass
                backoff = min(backoff * 2, _BACKOFF_MAX)
            if self.auto_requeue and not self._closed:
                self._queued = True
                self._wake.set()

    async def _call(self) -> Any:
        r = self.func(self)
        if inspect.isawaitable(r):
            r = await r
        return r

    async def _turn(self) -> bool:
        self.interrupted.clear()
        try:
            await self.lock.acquire()
        except CancelledError:
            return True
        except ClosedError:
            self._closed = True
            return True
        except ZooKeeperError as e:
            log.warning("%r: could not queue: %s", self, e)
            return False
        try:
            if self._begin_leading():
                task = asyncio.get_running_loop().create_task(self._call())
                self._func_task = task
                try:
                    # wait() does not cancel the func's task if we are cancelled...
                    await asyncio.wait({task})
                finally:
                    if not task.done():  # ...so do it here
                        task.cancel()
                        await asyncio.wait({task})
                if not task.cancelled() and task.exception() is not None:
                    log.error("%r: the leader's function raised", self, exc_info=task.exception())
        finally:
            self._func_task = None
            self.has_leadership = False
            try:
                await self.lock.release()
            except NotLockedError:
                pass
            except ZooKeeperError as e:
                log.debug("%r: release failed: %s", self, e)
        return True

    async def __aenter__(self) -> AsyncLeaderSelector:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
